//! The host with exact packets in and out: resets for what matches nothing, handles, ports,
//! listeners, SYN cookies, limits, counters. Two hosts talk through a tiny in-test loop with no
//! delay; single packets are built by hand with `synack_wire::ip::emit_tcp`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::host::*;
use synack_proto::host::{Host, HostConfig, HostError, HostEvent};
use synack_proto::{CallError, Cause, Config, ConnError, Instant, IpHeaderOptions, StateName};
use synack_wire::{TcpFlags, TcpOptions, Timestamps};

fn config() -> HostConfig {
    HostConfig {
        secret: 0x5eed_0f5e_c2e7,
        ..HostConfig::default()
    }
}

// ------------------------------------------------------------------ segments for no one

#[test]
fn syn_to_closed_port_gets_rst_ack_with_the_right_numbers() {
    let mut h = Host::new(config());
    let now = Instant::ZERO;
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:5555", "10.0.0.1:80", SYN, 100, 0).bytes(),
    );
    // RFC 9293 §3.10.7.1: no ACK on the offender, so <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    assert_eq!(
        drain(&mut h, now),
        vec![Pkt {
            window: 0,
            ..Pkt::new("10.0.0.1:80", "192.0.2.1:5555", RST | ACK, 0, 101)
        }]
    );
    // With data and FIN the SEG.LEN counts both.
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:5555", "10.0.0.1:80", SYN | TcpFlags::FIN, 100, 0)
            .data(b"abc")
            .bytes(),
    );
    assert_eq!(drain(&mut h, now)[0].ack, 105);
    // An ACK gets <SEQ=SEG.ACK><CTL=RST>, no ACK flag.
    h.handle_packet(
        now,
        &Pkt::new("[2001:db8::1]:5555", "[2001:db8::2]:80", ACK, 7, 4242).bytes(),
    );
    assert_eq!(
        drain(&mut h, now),
        vec![Pkt {
            window: 0,
            ..Pkt::new("[2001:db8::2]:80", "[2001:db8::1]:5555", RST, 4242, 0)
        }]
    );
    let c = h.counters();
    assert_eq!((c.in_segs, c.out_segs, c.out_rsts, c.in_errs), (3, 3, 3, 0));
}

#[test]
fn a_reset_never_triggers_a_reset() {
    let mut h = Host::new(config());
    h.listen(addr("10.0.0.1:80"), 8).unwrap();
    let now = Instant::ZERO;
    for dst in ["10.0.0.1:81", "10.0.0.1:80"] {
        for flags in [RST, RST | ACK, RST | SYN] {
            h.handle_packet(now, &Pkt::new("192.0.2.1:5555", dst, flags, 1, 2).bytes());
        }
    }
    assert_eq!(drain(&mut h, now), vec![]);
    assert_eq!(h.counters().out_rsts, 0);
    assert_eq!(h.connection_count(), 0);
}

#[test]
fn packets_that_do_not_parse_are_counted_and_dropped() {
    let mut h = Host::new(config());
    h.listen(addr("10.0.0.1:80"), 8).unwrap();
    let now = Instant::ZERO;
    let good = Pkt::new("192.0.2.1:5555", "10.0.0.1:80", SYN, 100, 0).bytes();
    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x40; // the TCP checksum no longer matches
    h.handle_packet(now, &corrupt);
    h.handle_packet(now, &good[..good.len() - 3]);
    h.handle_packet(now, &[]);
    h.handle_packet(now, &[0x45; 7]);
    assert_eq!(drain(&mut h, now), vec![]);
    assert_eq!(h.counters().in_errs, 4);
    assert_eq!(h.connection_count(), 0);
    // Source port 0 and a multicast destination are refused too.
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:0", "10.0.0.1:80", SYN, 1, 0).bytes(),
    );
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:9", "224.0.0.1:80", SYN, 1, 0).bytes(),
    );
    assert_eq!(drain(&mut h, now), vec![]);
    assert_eq!(h.counters().in_errs, 6);
}

// ------------------------------------------------------------------ ports and handles

#[test]
fn ephemeral_ports_run_out_with_a_typed_error() {
    let mut h = Host::new(HostConfig {
        ephemeral_ports: 40000..=40002,
        ..config()
    });
    let now = Instant::ZERO;
    let server = addr("10.0.0.9:80");
    // A listener on 0.0.0.0:40001 takes that port away from the ephemeral range.
    h.listen(addr("0.0.0.0:40001"), 1).unwrap();
    let mut ports: Vec<u16> = (0..2)
        .map(|_| {
            let c = h
                .connect(now, SocketAddr::new(ip("10.0.0.1"), 0), server)
                .unwrap();
            h.local_addr(c).unwrap().port()
        })
        .collect();
    ports.sort();
    assert_eq!(ports, [40000, 40002]);
    assert_eq!(
        h.connect(now, SocketAddr::new(ip("10.0.0.1"), 0), server),
        Err(HostError::AddrNotAvailable)
    );
    // Another destination is another 4-tuple: the same ports are free for it.
    assert!(
        h.connect(now, SocketAddr::new(ip("10.0.0.1"), 0), addr("10.0.0.9:81"))
            .is_ok()
    );
    assert!(
        h.connect(now, SocketAddr::new(ip("10.0.0.2"), 0), server)
            .is_ok()
    );
    assert_eq!(h.counters().active_opens, 4);
}

#[test]
fn bind_conflicts_and_bad_addresses_are_typed_errors() {
    let mut h = Host::new(config());
    let now = Instant::ZERO;
    h.listen(addr("10.0.0.1:80"), 4).unwrap();
    assert_eq!(h.listen(addr("10.0.0.1:80"), 4), Err(HostError::AddrInUse));
    // A wildcard and a specific listener on one port may coexist; the specific one wins.
    h.listen(addr("0.0.0.0:80"), 4).unwrap();
    let (local, remote) = (addr("10.0.0.1:5000"), addr("10.0.0.9:443"));
    h.connect(now, local, remote).unwrap();
    assert_eq!(h.connect(now, local, remote), Err(HostError::AddrInUse));
    assert_eq!(
        h.connect(
            now,
            SocketAddr::new(ip("10.0.0.1"), 0),
            addr("[2001:db8::1]:80")
        ),
        Err(HostError::AddressFamilyMismatch)
    );
    assert_eq!(
        h.connect(now, SocketAddr::new(ip("10.0.0.1"), 0), addr("10.0.0.9:0")),
        Err(HostError::InvalidAddress)
    );
    assert_eq!(
        h.connect(now, SocketAddr::new(ip("0.0.0.0"), 0), addr("10.0.0.9:80")),
        Err(HostError::AddrNotAvailable)
    );
}

#[test]
fn with_local_addresses_set_only_they_are_ours() {
    let mut h = Host::new(HostConfig {
        local_addrs: vec![ip("10.0.0.1"), ip("2001:db8::1")],
        ..config()
    });
    let now = Instant::ZERO;
    assert_eq!(
        h.listen(addr("10.0.0.2:80"), 4),
        Err(HostError::AddrNotAvailable)
    );
    assert!(h.listen(addr("0.0.0.0:80"), 4).is_ok());
    assert_eq!(
        h.connect(now, SocketAddr::new(ip("10.0.0.2"), 0), addr("10.0.0.9:80")),
        Err(HostError::AddrNotAvailable)
    );
    assert!(
        h.connect(
            now,
            SocketAddr::new(ip("2001:db8::1"), 0),
            addr("[2001:db8::9]:80")
        )
        .is_ok()
    );
    drain(&mut h, now);
    // A SYN for someone else is neither answered nor accepted, even by the wildcard listener.
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:1000", "10.0.0.2:80", SYN, 1, 0).bytes(),
    );
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:1000", "10.0.0.2:81", SYN, 1, 0).bytes(),
    );
    assert_eq!(drain(&mut h, now), vec![]);
    assert_eq!(h.counters().in_addr_errors, 2);
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:1000", "10.0.0.1:80", SYN, 1, 0).bytes(),
    );
    assert_eq!(drain(&mut h, now)[0].flags, syn_ack());
}

#[test]
fn connection_limit_refuses_cleanly() {
    let mut h = Host::new(HostConfig {
        max_connections: 2,
        ..config()
    });
    let now = Instant::ZERO;
    let l = h.listen(addr("10.0.0.1:80"), 8).unwrap();
    h.connect(now, SocketAddr::new(ip("10.0.0.1"), 0), addr("10.0.0.9:1"))
        .unwrap();
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:1000", "10.0.0.1:80", SYN, 1, 0).bytes(),
    );
    assert_eq!(h.connection_count(), 2);
    assert_eq!(
        h.connect(now, SocketAddr::new(ip("10.0.0.1"), 0), addr("10.0.0.9:2")),
        Err(HostError::ConnectionLimit)
    );
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.2:1000", "10.0.0.1:80", SYN, 1, 0).bytes(),
    );
    assert_eq!(h.connection_count(), 2);
    assert_eq!(h.listener_queues(l), Some((1, 0)));
    assert_eq!(h.counters().conn_limit_drops, 1);
    assert_eq!(h.counters().listen_drops, 1);
}

#[test]
fn stale_handles_are_rejected_after_the_slot_is_reused() {
    let mut h = Host::new(config());
    let now = Instant::ZERO;
    let old = h
        .connect(now, SocketAddr::new(ip("10.0.0.1"), 0), addr("10.0.0.9:80"))
        .unwrap();
    drain(&mut h, now);
    h.abort(old).unwrap();
    assert_eq!(h.send(old, b"x"), Err(HostError::InvalidHandle));
    drain(&mut h, now); // the slot is freed once the connection has nothing left to send
    assert_eq!(h.connection_count(), 0);
    let new = h
        .connect(now, SocketAddr::new(ip("10.0.0.1"), 0), addr("10.0.0.9:80"))
        .unwrap();
    assert_ne!(old, new);
    assert_eq!(h.state(new), Ok(StateName::SynSent));
    for r in [
        h.state(old).map(|_| ()),
        h.info(old).map(|_| ()),
        h.recv(old, &mut [0; 4]).map(|_| ()),
        h.shutdown(old),
        h.close(now, old),
        h.abort(old),
    ] {
        assert_eq!(r, Err(HostError::InvalidHandle));
    }
    let l = h.listen(addr("10.0.0.1:80"), 1).unwrap();
    h.close_listener(l).unwrap();
    assert_eq!(h.accept(l), None);
    assert_eq!(h.listener_queues(l), None);
    assert_eq!(h.close_listener(l), Err(HostError::InvalidListener));
}

#[test]
fn a_gone_4_tuple_is_reset_even_after_its_slot_serves_another() {
    // The demux remembers the slot its last packet reached; once that connection is gone and
    // the slot holds another, the old 4-tuple must reach nothing (RFC 9293 §3.10.7.1).
    let mut h = Host::new(config());
    let l = h.listen(addr("10.0.0.1:80"), 8).unwrap();
    let now = Instant::ZERO;
    let (first, second) = ("192.0.2.1:1000", "192.0.2.2:2000");
    h.handle_packet(now, &Pkt::new(first, "10.0.0.1:80", SYN, 100, 0).bytes());
    let iss = drain(&mut h, now)[0].seq;
    let ack = iss.wrapping_add(1);
    h.handle_packet(now, &Pkt::new(first, "10.0.0.1:80", ACK, 101, ack).bytes());
    h.handle_packet(now, &Pkt::new(first, "10.0.0.1:80", RST, 101, 0).bytes());
    assert_eq!(drain(&mut h, now), vec![]);
    assert_eq!(h.accept(l), None, "reset before it was accepted");
    assert_eq!(h.connection_count(), 0);
    h.handle_packet(now, &Pkt::new(second, "10.0.0.1:80", SYN, 500, 0).bytes());
    let iss2 = drain(&mut h, now)[0].seq;
    assert_eq!(h.connection_count(), 1);
    h.handle_packet(now, &Pkt::new(first, "10.0.0.1:80", ACK, 101, ack).bytes());
    assert_eq!(
        drain(&mut h, now),
        vec![Pkt {
            window: 0,
            ..Pkt::new("10.0.0.1:80", first, RST, ack, 0)
        }]
    );
    h.audit().unwrap();
    // The new connection never saw the stray: its handshake completes as usual.
    let ack2 = iss2.wrapping_add(1);
    h.handle_packet(
        now,
        &Pkt::new(second, "10.0.0.1:80", ACK, 501, ack2).bytes(),
    );
    let c = h.accept(l).expect("the second handshake completes");
    assert_eq!(h.state(c), Ok(StateName::Established));
    h.audit().unwrap();
}

#[test]
fn isns_follow_rfc_6528_clock_plus_keyed_hash() {
    let mut h = Host::new(config());
    let (local, remote) = (addr("10.0.0.1:5000"), addr("10.0.0.9:80"));
    let first = h.connect(Instant::ZERO, local, remote).unwrap();
    let isn0 = h.info(first).unwrap().snd_una;
    h.abort(first).unwrap();
    drain(&mut h, Instant::ZERO);
    // Same 4-tuple 4 ms later: M has moved 1000 ticks of 4 µs, F is unchanged.
    let again = h.connect(Instant::from_millis(4), local, remote).unwrap();
    assert_eq!(h.info(again).unwrap().snd_una, isn0.wrapping_add(1000));
    // Another tuple at the same instant gets an unrelated number; another secret too.
    let other = h
        .connect(Instant::from_millis(4), addr("10.0.0.1:5001"), remote)
        .unwrap();
    assert_ne!(h.info(other).unwrap().snd_una, isn0.wrapping_add(1000));
    let mut h2 = Host::new(HostConfig {
        secret: 1,
        ..config()
    });
    let c = h2.connect(Instant::ZERO, local, remote).unwrap();
    assert_ne!(h2.info(c).unwrap().snd_una, isn0);
}

// ------------------------------------------------------------------ end to end

fn exchange(client_ip: &str, server: &str) {
    let mut net = Net::new(
        config(),
        HostConfig {
            secret: 2,
            ..config()
        },
    );
    let l = net.b.listen(addr(server), 16).unwrap();
    let c = net
        .a
        .connect(net.now, SocketAddr::new(ip(client_ip), 0), addr(server))
        .unwrap();
    net.settle();
    assert_eq!(net.a.state(c), Ok(StateName::Established));
    let server_events = events(&mut net.b);
    let states: Vec<_> = server_events
        .iter()
        .filter_map(|e| match *e {
            HostEvent::StateChanged {
                from, to, cause, ..
            } => Some((from, to, cause)),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            (StateName::Listen, StateName::SynReceived, Cause::RecvSyn),
            (
                StateName::SynReceived,
                StateName::Established,
                Cause::RecvAck
            ),
        ]
    );
    let accepted: Vec<_> = server_events
        .into_iter()
        .filter_map(|e| match e {
            HostEvent::Accepted { listener, conn } => Some((listener, conn)),
            _ => None,
        })
        .collect();
    let client_local = net.a.local_addr(c).unwrap();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].0, l);
    // The connection named, before it is accepted, has the addresses of the handshake.
    let named = accepted[0].1;
    assert_eq!(
        (net.b.local_addr(named), net.b.peer_addr(named)),
        (Ok(addr(server)), Ok(client_local))
    );
    let s = net.b.accept(l).unwrap();
    assert_eq!(s, accepted[0].1);
    assert_eq!(net.b.accept(l), None);
    net.a.send(c, b"ping").unwrap();
    net.settle();
    let mut buf = [0u8; 16];
    assert_eq!(net.b.recv(s, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"ping");
    net.b.send(s, b"pong!").unwrap();
    events(&mut net.b);
    net.b.close(net.now, s).unwrap();
    net.settle();
    assert_eq!(net.a.recv(c, &mut buf), Ok(5));
    assert_eq!(net.a.recv(c, &mut buf), Ok(0), "end of stream");
    net.a.close(net.now, c).unwrap();
    net.settle();
    // The server closed first, so it sits in TIME-WAIT for 2 MSL, as a compact entry since
    // nobody holds it; the client is gone.
    assert_eq!(net.a.connection_count(), 0);
    assert_eq!(net.a.time_wait_count(), 0);
    assert_eq!(net.b.connection_count(), 0);
    assert_eq!(net.b.time_wait_count(), 1);
    net.advance(Duration::from_secs(59));
    assert_eq!(net.b.time_wait_count(), 1, "2 MSL is 60 s");
    net.advance(Duration::from_secs(2));
    assert_eq!(net.b.time_wait_count(), 0);
    assert_eq!(net.b.counters().time_wait_expired, 1);
    // After close the handle is released, yet every state the connection went through is
    // still traced, and nothing else is reported for it.
    let after_close = events(&mut net.b);
    let moves: Vec<_> = after_close
        .iter()
        .map(|e| match *e {
            HostEvent::StateChanged { conn, from, to, .. } if conn == s => (from, to),
            ref other => panic!("only state changes after close, got {other:?}"),
        })
        .collect();
    use StateName::*;
    assert_eq!(
        moves,
        [
            (Established, FinWait1),
            (FinWait1, FinWait2),
            (FinWait2, TimeWait),
            (TimeWait, Closed)
        ]
    );
    assert_eq!(net.b.state(s), Err(HostError::InvalidHandle));
    let (ca, cb) = (*net.a.counters(), *net.b.counters());
    assert_eq!(
        (ca.active_opens, ca.passive_opens, ca.curr_estab),
        (1, 0, 0)
    );
    assert_eq!(
        (cb.active_opens, cb.passive_opens, cb.curr_estab),
        (0, 1, 0)
    );
    assert_eq!(
        (ca.estab_resets, cb.estab_resets, ca.attempt_fails),
        (0, 0, 0)
    );
    assert_eq!(ca.out_segs, cb.in_segs);
    assert_eq!(cb.out_segs, ca.in_segs);
}

#[test]
fn two_hosts_exchange_data_over_ipv4_and_ipv6() {
    exchange("10.0.0.2", "10.0.0.1:80");
    exchange("2001:db8::2", "[2001:db8::1]:80");
}

#[test]
fn a_new_syn_beyond_the_old_sequence_space_reopens_a_time_wait_tuple() {
    let mut net = Net::new(
        config(),
        HostConfig {
            secret: 5,
            ..config()
        },
    );
    let l = net.b.listen(addr("10.0.0.1:80"), 4).unwrap();
    let (local, remote) = (addr("10.0.0.2:5000"), addr("10.0.0.1:80"));
    let c = net.a.connect(net.now, local, remote).unwrap();
    net.settle();
    let s = net.b.accept(l).unwrap();
    // The server closes first and keeps the tuple in TIME-WAIT.
    net.b.close(net.now, s).unwrap();
    net.settle();
    net.a.close(net.now, c).unwrap();
    net.settle();
    assert_eq!(net.b.connection_count(), 0);
    assert!(net.b.in_time_wait(remote, local));
    // 10 ms later the same client port comes back: its RFC 6528 ISN has moved 2500 ahead.
    net.advance(Duration::from_millis(10));
    let again = net.a.connect(net.now, local, remote).unwrap();
    net.settle();
    assert_eq!(
        net.a.state(again),
        Ok(StateName::Established),
        "no 1 s SYN retry needed"
    );
    assert!(net.b.accept(l).is_some());
    assert_eq!(net.b.connection_count(), 1);
    assert_eq!(net.b.time_wait_count(), 0);
    assert_eq!(net.b.counters().time_wait_reopened, 1);
}

#[test]
fn wildcard_listener_reports_the_original_destination() {
    let mut net = Net::new(
        config(),
        HostConfig {
            secret: 3,
            ..config()
        },
    );
    let v4 = net.b.listen(addr("0.0.0.0:0"), 16).unwrap();
    let v6 = net.b.listen(addr("[::]:0"), 16).unwrap();
    let targets = [
        ("10.0.0.2", "203.0.113.9:443"),
        ("10.0.0.2", "198.51.100.1:22"),
        ("2001:db8::2", "[2001:db8:ffff::7]:8080"),
    ];
    for (src, dst) in targets {
        net.a
            .connect(net.now, SocketAddr::new(ip(src), 0), addr(dst))
            .unwrap();
    }
    net.settle();
    let mut seen: Vec<_> = events(&mut net.b)
        .into_iter()
        .filter_map(|e| match e {
            HostEvent::Accepted { listener, conn } => {
                Some((listener, net.b.local_addr(conn).unwrap()))
            }
            _ => None,
        })
        .collect();
    seen.sort_by_key(|(_, a)| a.to_string());
    let mut want = vec![
        (v4, addr("203.0.113.9:443")),
        (v4, addr("198.51.100.1:22")),
        (v6, addr("[2001:db8:ffff::7]:8080")),
    ];
    want.sort_by_key(|(_, a)| a.to_string());
    assert_eq!(seen, want);
    let c = net.b.accept(v6).unwrap();
    assert_eq!(
        net.b.local_addr(c).unwrap(),
        addr("[2001:db8:ffff::7]:8080")
    );
}

// ------------------------------------------------------------------ backlog and SYN cookies

fn server(backlog: usize) -> (Host, synack_proto::host::ListenerId) {
    let mut h = Host::new(HostConfig {
        tcp: Config {
            mss: 1460,
            ..Config::default()
        },
        ..config()
    });
    let l = h.listen(addr("10.0.0.1:80"), backlog).unwrap();
    (h, l)
}

#[test]
fn full_syn_queue_answers_with_cookies_and_the_ack_establishes() {
    let (mut h, l) = server(1);
    let now = Instant::from_millis(1234);
    // The first SYN takes the only SYN-queue place: a normal SYN-ACK with options.
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:1000", "10.0.0.1:80", SYN, 100, 0)
            .mss(1460)
            .bytes(),
    );
    let out = drain(&mut h, now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, syn_ack());
    assert_eq!(h.listener_queues(l), Some((1, 0)));
    // The second gets a cookie SYN-ACK and leaves no state.
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.2:2000", "10.0.0.1:80", SYN, 500, 0)
            .mss(1400)
            .bytes(),
    );
    let out = drain(&mut h, now);
    assert_eq!(out.len(), 1);
    let cookie = &out[0];
    assert_eq!((cookie.flags, cookie.ack), (syn_ack(), 501));
    assert_eq!(
        (cookie.src, cookie.dst),
        (addr("10.0.0.1:80"), addr("192.0.2.2:2000"))
    );
    assert_eq!(cookie.options.mss, Some(1460));
    assert_eq!(
        cookie.options.window_scale, None,
        "nothing that needs state is offered"
    );
    assert_eq!(cookie.options.timestamps, None);
    assert!(!cookie.options.sack_permitted);
    assert_eq!(h.connection_count(), 1);
    assert_eq!(h.counters().syncookies_sent, 1);
    // Its ACK, carrying the first bytes, builds the connection straight in ESTABLISHED with
    // the MSS the cookie encoded: 1400 rounded down to the table's 1300.
    let later = now + Duration::from_secs(30);
    h.handle_packet(
        later,
        &Pkt::new(
            "192.0.2.2:2000",
            "10.0.0.1:80",
            ACK,
            501,
            cookie.seq.wrapping_add(1),
        )
        .data(b"hello")
        .bytes(),
    );
    let evs = events(&mut h);
    let conn = evs
        .iter()
        .find_map(|e| match *e {
            HostEvent::Accepted { conn, .. } => {
                assert_eq!(
                    (h.local_addr(conn), h.peer_addr(conn)),
                    (Ok(addr("10.0.0.1:80")), Ok(addr("192.0.2.2:2000")))
                );
                Some(conn)
            }
            _ => None,
        })
        .expect("accepted");
    assert_eq!(h.listener_queues(l), Some((1, 1)));
    assert_eq!(h.accept(l), Some(conn));
    let info = h.info(conn).unwrap();
    assert_eq!(info.state, StateName::Established);
    assert_eq!(info.snd_mss, 1300);
    assert_eq!(info.snd_una, cookie.seq.wrapping_add(1));
    assert_eq!(info.rcv_nxt, 506);
    let mut buf = [0u8; 8];
    assert_eq!(h.recv(conn, &mut buf), Ok(5));
    let out = drain(&mut h, later);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].flags, out[0].seq, out[0].ack),
        (ACK, cookie.seq.wrapping_add(1), 506)
    );
    let c = h.counters();
    assert_eq!(
        (
            c.syncookies_recv,
            c.syncookies_failed,
            c.passive_opens,
            c.curr_estab
        ),
        (1, 0, 2, 1)
    );
}

#[test]
fn a_listeners_ip_header_fields_mark_its_syn_ack_from_the_queue_and_by_cookie() {
    let mut h = Host::new(HostConfig {
        tcp: Config {
            ip: IpHeaderOptions {
                tos: Some(0x28),
                ttl: Some(9),
                ..IpHeaderOptions::default()
            },
            ..Config::default()
        },
        ..config()
    });
    h.listen(addr("10.0.0.1:80"), 1).unwrap();
    let now = Instant::from_millis(1);
    for (peer, expect_cookie) in [("192.0.2.1:1000", false), ("192.0.2.2:2000", true)] {
        h.handle_packet(now, &Pkt::new(peer, "10.0.0.1:80", SYN, 100, 0).bytes());
        let out = drain_raw(&mut h, now);
        assert_eq!(out.len(), 1);
        let (p, raw) = &out[0];
        assert_eq!(p.flags, syn_ack());
        // IPv4: the TOS byte, then the TTL at byte 8 (RFC 791 §3.1).
        assert_eq!((raw[1], raw[8]), (0x28, 9), "cookie: {expect_cookie}");
    }
    assert_eq!(h.counters().syncookies_sent, 1);
}

#[test]
fn with_timestamps_the_cookie_brings_back_window_scale_and_sack() {
    let (mut h, l) = server(1);
    let now = Instant::from_millis(98_765);
    let ts = |tsval, tsecr| Some(Timestamps { tsval, tsecr });
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:1000", "10.0.0.1:80", SYN, 100, 0).bytes(),
    );
    drain(&mut h, now);
    let mut syn = Pkt::new("192.0.2.2:2000", "10.0.0.1:80", SYN, 500, 0).mss(1460);
    syn.options.window_scale = Some(7);
    syn.options.sack_permitted = true;
    syn.options.timestamps = ts(777, 0);
    h.handle_packet(now, &syn.bytes());
    let cookie = drain(&mut h, now).pop().unwrap();
    assert_eq!(h.counters().syncookies_sent, 1);
    // Default config: the buffer may auto-tune up to 4 MiB, which needs a shift of 7.
    assert_eq!(cookie.options.window_scale, Some(7));
    assert!(cookie.options.sack_permitted);
    let echo = cookie.options.timestamps.unwrap();
    assert_eq!(echo.tsecr, 777);
    let later = now + Duration::from_millis(40);
    let mut ack = Pkt::new("192.0.2.2:2000", "10.0.0.1:80", ACK, 501, cookie.seq + 1);
    ack.window = 1000;
    ack.options.timestamps = ts(800, echo.tsval);
    h.handle_packet(later, &ack.bytes());
    let conn = h.accept(l).expect("established from the cookie");
    let info = h.info(conn).unwrap();
    assert!(info.timestamps && info.sack);
    assert_eq!((info.snd_wscale, info.rcv_wscale), (7, 7));
    assert_eq!(info.snd_wnd, 1000 << 7);
    assert_eq!(
        info.snd_mss,
        1460 - 12,
        "timestamps take 12 bytes of every segment"
    );
    h.send(conn, b"hi").unwrap();
    let out = drain(&mut h, later);
    let stamp = out[0].options.timestamps.unwrap();
    // The connection's clock is the one the cookie TSval was cut from (only its low bits
    // carry options), so the peer's PAWS sees time move forward by the 40 ms that passed.
    let moved = stamp.tsval.wrapping_sub(echo.tsval);
    assert!((40..40 + 64).contains(&moved), "{moved}");
    assert!(stamp.tsval.wrapping_sub(echo.tsval) < 1 << 31);
    assert_eq!(stamp.tsecr, 800);
}

#[test]
fn without_syn_options_the_cookie_syn_ack_carries_none_and_the_connection_uses_none() {
    // FreeBSD's TCP_NOOPT on the listener: a cookie SYN-ACK is as bare as the normal one.
    let mut h = Host::new(config());
    let tcp = Config {
        mss: 1460,
        syn_options: false,
        ..Config::default()
    };
    let l = h.listen_with(addr("10.0.0.1:80"), 1, tcp).unwrap();
    let now = Instant::from_millis(5_000);
    let ts = |tsval, tsecr| Some(Timestamps { tsval, tsecr });
    let offer_all = |from: &str, seq| {
        let mut syn = Pkt::new(from, "10.0.0.1:80", SYN, seq, 0).mss(1400);
        syn.options.window_scale = Some(7);
        syn.options.sack_permitted = true;
        syn.options.timestamps = ts(777, 0);
        syn
    };
    h.handle_packet(now, &offer_all("192.0.2.1:1000", 100).bytes());
    let normal = drain(&mut h, now).pop().unwrap();
    assert_eq!(normal.options, TcpOptions::default());
    h.handle_packet(now, &offer_all("192.0.2.2:2000", 500).bytes());
    let cookie = drain(&mut h, now).pop().unwrap();
    assert_eq!(h.counters().syncookies_sent, 1);
    assert_eq!(cookie.options, TcpOptions::default());
    let mut ack = Pkt::new("192.0.2.2:2000", "10.0.0.1:80", ACK, 501, cookie.seq + 1);
    ack.window = 1000;
    ack.options.timestamps = ts(800, 12345);
    h.handle_packet(now, &ack.bytes());
    let conn = h.accept(l).expect("established from the cookie");
    let info = h.info(conn).unwrap();
    assert!(!info.timestamps && !info.sack);
    assert_eq!(
        (info.snd_wscale, info.rcv_wscale, info.snd_wnd),
        (0, 0, 1000)
    );
    // The peer's MSS, as the cookie's table rounds it, still bounds what we send.
    assert_eq!(info.snd_mss, 1300);
}

#[test]
fn forged_or_stale_cookie_acks_get_a_reset_and_are_counted() {
    let (mut h, l) = server(1);
    let now = Instant::ZERO;
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:1000", "10.0.0.1:80", SYN, 100, 0).bytes(),
    );
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.2:2000", "10.0.0.1:80", SYN, 500, 0).bytes(),
    );
    let cookie = drain(&mut h, now)[1].seq;
    // A blind forger.
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.3:3000", "10.0.0.1:80", ACK, 901, 12345).bytes(),
    );
    assert_eq!(
        drain(&mut h, now),
        vec![Pkt {
            window: 0,
            ..Pkt::new("10.0.0.1:80", "192.0.2.3:3000", RST, 12345, 0)
        }]
    );
    // The right cookie from the wrong port.
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.2:2001", "10.0.0.1:80", ACK, 501, cookie + 1).bytes(),
    );
    assert_eq!(drain(&mut h, now).len(), 1);
    // The right cookie three minutes late (the listener is still sending cookies).
    let late = Instant::from_millis(180_000);
    h.handle_packet(
        late,
        &Pkt::new("192.0.2.4:4000", "10.0.0.1:80", SYN, 7, 0).bytes(),
    );
    drain(&mut h, late);
    h.handle_packet(
        late,
        &Pkt::new("192.0.2.2:2000", "10.0.0.1:80", ACK, 501, cookie + 1).bytes(),
    );
    assert_eq!(drain(&mut h, late)[0].flags, RST);
    assert_eq!(h.counters().syncookies_failed, 3);
    assert_eq!(h.counters().syncookies_recv, 0);
    assert_eq!(h.connection_count(), 1);
    assert_eq!(h.listener_queues(l), Some((1, 0)));
}

#[test]
fn full_accept_queue_drops_the_final_ack_until_there_is_room() {
    let (mut h, l) = server(2);
    let now = Instant::ZERO;
    let syn = |src: &str, seq| Pkt::new(src, "10.0.0.1:80", SYN, seq, 0).bytes();
    h.handle_packet(now, &syn("192.0.2.1:1000", 100));
    h.handle_packet(now, &syn("192.0.2.2:2000", 200));
    let isn: Vec<u32> = drain(&mut h, now).iter().map(|p| p.seq).collect();
    let ack = |src: &str, seq, isn: u32| Pkt::new(src, "10.0.0.1:80", ACK, seq, isn + 1).bytes();
    h.handle_packet(now, &ack("192.0.2.1:1000", 101, isn[0]));
    assert_eq!(h.listener_queues(l), Some((1, 1)));
    h.handle_packet(now, &syn("192.0.2.3:3000", 300));
    let isn3 = drain(&mut h, now)[0].seq;
    h.handle_packet(now, &ack("192.0.2.2:2000", 201, isn[1]));
    assert_eq!(h.listener_queues(l), Some((1, 2)), "accept queue full");
    // Linux: the third handshake's ACK is dropped; the connection stays half-open.
    h.handle_packet(now, &ack("192.0.2.3:3000", 301, isn3));
    assert_eq!(h.listener_queues(l), Some((1, 2)));
    assert_eq!(h.counters().listen_overflows, 1);
    // So is a new SYN while the accept queue is full.
    h.handle_packet(now, &syn("192.0.2.4:4000", 400));
    assert_eq!(drain(&mut h, now), vec![]);
    assert_eq!(h.counters().listen_overflows, 2);
    assert_eq!(h.counters().listen_drops, 2);
    // Room again: the client's retransmitted ACK completes the handshake.
    assert!(h.accept(l).is_some());
    h.handle_packet(now, &ack("192.0.2.3:3000", 301, isn3));
    assert_eq!(h.listener_queues(l), Some((0, 2)));
}

#[test]
fn closing_a_connection_before_accepting_it_takes_it_off_the_accept_queue() {
    let (mut h, l) = server(4);
    let now = Instant::ZERO;
    for (src, seq) in [("192.0.2.1:1000", 100), ("192.0.2.2:2000", 200)] {
        h.handle_packet(now, &Pkt::new(src, "10.0.0.1:80", SYN, seq, 0).bytes());
        let isn = drain(&mut h, now)[0].seq;
        h.handle_packet(
            now,
            &Pkt::new(src, "10.0.0.1:80", ACK, seq + 1, isn + 1).bytes(),
        );
    }
    let ids: Vec<_> = events(&mut h)
        .into_iter()
        .filter_map(|e| match e {
            HostEvent::Accepted { conn, .. } => Some(conn),
            _ => None,
        })
        .collect();
    assert_eq!(h.listener_queues(l), Some((0, 2)));
    // close, unlike abort, leaves the connection alive a while (FIN-WAIT-1): it must still
    // leave the queue at once.
    h.close(now, ids[0]).unwrap();
    assert_eq!(h.listener_queues(l), Some((0, 1)));
    assert_eq!(h.accept(l), Some(ids[1]));
    assert_eq!(h.accept(l), None);
    let out = drain(&mut h, now);
    assert_eq!(
        (out[0].flags, out[0].dst),
        (TcpFlags::FIN | ACK, addr("192.0.2.1:1000"))
    );
    assert_eq!(h.connection_count(), 2);
}

#[test]
fn half_open_connections_time_out_of_the_syn_queue() {
    let mut cfg = config();
    cfg.tcp.synack_retries = 2;
    let mut h = Host::new(cfg);
    let l = h.listen(addr("10.0.0.1:80"), 4).unwrap();
    h.handle_packet(
        Instant::ZERO,
        &Pkt::new("192.0.2.1:1000", "10.0.0.1:80", SYN, 1, 0).bytes(),
    );
    let mut sent = drain(&mut h, Instant::ZERO).len();
    // One schedule for the host: the SYN-ACK goes again at 1 s and 3 s, the attempt fails at 7 s.
    let mut times = Vec::new();
    while let Some(t) = h.poll_timeout() {
        h.handle_timeout(t);
        let n = drain(&mut h, t).len();
        if n > 0 {
            times.push(t);
        }
        sent += n;
    }
    assert_eq!(
        times,
        [Instant::from_millis(1000), Instant::from_millis(3000)]
    );
    assert_eq!(sent, 3);
    assert_eq!(h.listener_queues(l), Some((0, 0)));
    assert_eq!(h.connection_count(), 0);
    assert_eq!(h.counters().attempt_fails, 1);
    assert_eq!(h.counters().retrans_segs, 2);
}

#[test]
fn closed_connection_keeps_its_error_until_released() {
    let mut net = Net::new(
        config(),
        HostConfig {
            secret: 9,
            ..config()
        },
    );
    let c = net
        .a
        .connect(
            net.now,
            SocketAddr::new(ip("10.0.0.2"), 0),
            addr("10.0.0.1:80"),
        )
        .unwrap();
    net.settle();
    // Nobody listens: refused.
    assert_eq!(net.a.state(c), Ok(StateName::Closed));
    assert_eq!(
        net.a.send(c, b"x"),
        Err(HostError::Call(CallError::Ended(
            ConnError::ConnectionRefused
        )))
    );
    assert!(events(&mut net.a).contains(&HostEvent::Closed(c, Some(ConnError::ConnectionRefused))));
    assert_eq!(net.a.counters().attempt_fails, 1);
    assert_eq!(net.a.connection_count(), 1);
    net.a.close(net.now, c).unwrap();
    net.settle();
    assert_eq!(net.a.connection_count(), 0);
}
