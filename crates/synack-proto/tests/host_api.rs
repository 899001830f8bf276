//! The host's API as a runtime uses it: settings per listener and per active open, the
//! borrowed per-connection view for socket options, `take_error`, addresses, and what
//! `poll_transmit` says about each datagram.

mod common;

use std::time::Duration;

use common::host::*;
use synack_proto::host::{ConnId, Host, HostConfig, HostError, HostEvent};
use synack_proto::{Config, ConnError, Instant, Keepalive, StateName};

fn config() -> HostConfig {
    HostConfig {
        secret: 0xa91,
        ..HostConfig::default()
    }
}

fn with_mss(mss: u16) -> Config {
    Config {
        mss,
        ..Config::default()
    }
}

/// Two default hosts with a connection open between them: the client's id on `a`, then the
/// server's, accepted on `b`.
fn opened() -> (Net, ConnId, ConnId) {
    let mut net = Net::new(config(), config());
    let l = net.b.listen(addr("10.0.0.1:80"), 4).unwrap();
    let c = net
        .a
        .connect(net.now, addr("10.0.0.2:0"), addr("10.0.0.1:80"))
        .unwrap();
    net.settle();
    let s = net.b.accept(l).unwrap();
    (net, c, s)
}

/// The MSS option of the SYN-ACK a listener at `dst` answers a SYN from `src` with.
fn syn_ack_mss(h: &mut Host, src: &str, dst: &str) -> Option<u16> {
    let now = Instant::ZERO;
    h.handle_packet(now, &Pkt::new(src, dst, SYN, 100, 0).mss(1460).bytes());
    let out = drain(h, now);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags, syn_ack());
    out[0].options.mss
}

#[test]
fn each_listener_gives_its_connections_its_own_settings() {
    let mut h = Host::new(config());
    let small = h
        .listen_with(addr("10.0.0.1:80"), 1, with_mss(1000))
        .unwrap();
    h.listen(addr("10.0.0.1:81"), 1).unwrap();
    assert_eq!(
        syn_ack_mss(&mut h, "192.0.2.1:1000", "10.0.0.1:80"),
        Some(1000)
    );
    assert_eq!(
        syn_ack_mss(&mut h, "192.0.2.1:1000", "10.0.0.1:81"),
        Some(1460)
    );
    // The SYN queue (backlog 1) is full now: the cookie SYN-ACK offers the listener's MSS too.
    assert_eq!(
        syn_ack_mss(&mut h, "192.0.2.2:2000", "10.0.0.1:80"),
        Some(1000)
    );
    assert_eq!(h.counters().syncookies_sent, 1);
    // New settings count for connections opened from then on.
    h.set_listener_config(small, with_mss(900)).unwrap();
    h.close_listener(small).unwrap();
    drain(&mut h, Instant::ZERO);
    assert_eq!(
        h.set_listener_config(small, with_mss(900)),
        Err(HostError::InvalidListener)
    );
    let l = h
        .listen_with(addr("10.0.0.1:80"), 4, with_mss(1000))
        .unwrap();
    h.set_listener_config(l, with_mss(900)).unwrap();
    assert_eq!(
        syn_ack_mss(&mut h, "192.0.2.3:3000", "10.0.0.1:80"),
        Some(900)
    );
    assert_eq!(h.listener_addr(l), Ok(addr("10.0.0.1:80")));
    assert_eq!(h.listener_addr(small), Err(HostError::InvalidListener));
}

#[test]
fn connect_with_opens_with_its_own_settings_and_port_0_picks_one() {
    let mut h = Host::new(config());
    let now = Instant::ZERO;
    let c = h
        .connect_with(now, addr("10.0.0.2:0"), addr("10.0.0.1:80"), with_mss(1200))
        .unwrap();
    let d = h
        .connect(now, addr("10.0.0.2:5000"), addr("10.0.0.1:80"))
        .unwrap();
    let out = drain(&mut h, now);
    let local = h.local_addr(c).unwrap();
    assert_ne!(local.port(), 0);
    assert_eq!(h.peer_addr(c), Ok(addr("10.0.0.1:80")));
    assert_eq!(h.local_addr(d), Ok(addr("10.0.0.2:5000")));
    let mss_to = |from| {
        out.iter()
            .find(|p| p.src == from)
            .and_then(|p| p.options.mss)
    };
    assert_eq!(mss_to(local), Some(1200));
    assert_eq!(mss_to(addr("10.0.0.2:5000")), Some(1460));
    assert_eq!(h.conn_config(c).map(|c| c.mss), Ok(1200));
}

#[test]
fn take_error_says_why_a_connection_ended_once() {
    let mut net = Net::new(config(), config());
    let c = net
        .a
        .connect(net.now, addr("10.0.0.2:0"), addr("10.0.0.1:80"))
        .unwrap();
    assert_eq!(net.a.take_error(c), Ok(None), "still opening");
    net.settle();
    // Nobody listens on b: the SYN is answered with a reset.
    assert_eq!(net.a.state(c), Ok(StateName::Closed));
    assert_eq!(net.a.take_error(c), Ok(Some(ConnError::ConnectionRefused)));
    assert_eq!(net.a.take_error(c), Ok(None), "reported once");
    assert!(events(&mut net.a).contains(&HostEvent::Closed(c, Some(ConnError::ConnectionRefused))));
    net.a.abort(c).unwrap();
    assert_eq!(net.a.take_error(c), Err(HostError::InvalidHandle));
}

#[test]
fn options_set_through_conn_mut_take_effect_at_once() {
    let (mut net, c, _) = opened();
    let idle = Duration::from_secs(10);
    {
        let mut conn = net.a.conn_mut(c).unwrap();
        assert_eq!(conn.id(), c);
        conn.set_keepalive(Some(Keepalive {
            idle,
            interval: Duration::from_secs(1),
            count: 2,
        }));
        conn.set_nodelay(true);
        conn.set_user_timeout(Some(Duration::from_secs(30)));
    }
    // The view re-armed the timer: the first probe is due after the idle time, not 2 h.
    assert!(net.a.poll_timeout().is_some_and(|t| t <= net.now + idle));
    net.a.audit().unwrap();
    let config = net.a.conn_config(c).unwrap();
    assert!(config.nodelay);
    assert_eq!(config.user_timeout, Some(Duration::from_secs(30)));
    net.advance(idle + Duration::from_millis(1));
    assert_eq!(
        net.a.state(c),
        Ok(StateName::Established),
        "the peer answers probes"
    );
    net.a.abort(c).unwrap();
    assert!(matches!(net.a.conn_mut(c), Err(HostError::InvalidHandle)));
}

#[test]
fn a_listener_on_a_jumbo_link_sends_jumbo_segments_on_a_default_host() {
    let jumbo = Config {
        mtu: 9040,
        ..Config::default()
    };
    let mut net = Net::new(
        HostConfig {
            tcp: jumbo.clone(),
            ..config()
        },
        config(),
    );
    let l = net.b.listen_with(addr("10.0.0.1:80"), 4, jumbo).unwrap();
    net.a
        .connect(net.now, addr("10.0.0.2:0"), addr("10.0.0.1:80"))
        .unwrap();
    net.settle();
    let s = net.b.accept(l).unwrap();
    // 9000 less the 12 bytes timestamps take in every segment.
    assert_eq!(net.b.info(s).unwrap().snd_mss, 8988);
    assert_eq!(net.b.send(s, &[7u8; 8000]), Ok(8000));
    let mut buf = vec![0u8; 16 * 1024];
    let sent = net.b.poll_transmit(net.now, &mut buf).expect("the data");
    let p = Pkt::parse(&buf[..sent.len]);
    assert_eq!(
        p.payload.len(),
        8000,
        "one segment, not cut to a 1500-byte MTU"
    );
}

/// A device hands `poll_transmit` a buffer of exactly its MTU. Each datagram must then carry a
/// full segment (the MSS, 1460 over IPv4 and 1440 over IPv6, less 12 bytes of timestamps):
/// a buffer that kept room for the largest headers would cut every segment short, and Nagle
/// would then hold every second one until its ACK (RFC 896).
#[test]
fn an_mtu_sized_buffer_carries_full_segments() {
    for (client, server) in [
        ("10.0.0.2:0", "10.0.0.1:80"),
        ("[fd00::2]:0", "[fd00::1]:80"),
    ] {
        let mut net = Net::new(config(), config());
        let server = addr(server);
        let mtu = 1500;
        let l = net.b.listen(server, 4).unwrap();
        let c = net.a.connect(net.now, addr(client), server).unwrap();
        net.settle();
        let s = net.b.accept(l).unwrap();
        assert_eq!(net.a.send(c, &[7u8; 10_000]), Ok(10_000));
        let mut buf = vec![0u8; mtu];
        let mut lens = Vec::new();
        while let Some(t) = net.a.poll_transmit(net.now, &mut buf) {
            assert!(t.len <= mtu);
            lens.push(Pkt::parse(&buf[..t.len]).payload.len());
            net.b.handle_packet(net.now, &buf[..t.len]);
        }
        // Ten segments of initial window hold it all: full ones and the tail.
        let full = if server.is_ipv4() { 1448 } else { 1428 };
        let mut want = vec![full; 10_000 / full];
        want.push(10_000 % full);
        assert_eq!(lens, want, "{server}");
        let mut got = vec![0u8; 20_000];
        assert_eq!(net.b.recv(s, &mut got), Ok(10_000));
    }
}

/// The MSS announced follows from the link MTU and each connection's address family (RFC
/// 9293 §3.7.1): the MTU less 20 bytes of IPv4 header or 40 of IPv6 (RFC 8200 §3), and 20 of
/// TCP header. One host speaking both announces both, passively (SYN queue and cookie alike)
/// and actively, and a lower `mss` still caps it.
#[test]
fn the_mss_announced_is_the_mtu_less_each_familys_headers() {
    for (mtu, v4, v6) in [(1500, 1460, 1440), (9000, 8960, 8940)] {
        let mut h = Host::new(HostConfig {
            tcp: Config {
                mtu,
                ..Config::default()
            },
            ..config()
        });
        h.listen(addr("10.0.0.1:80"), 1).unwrap();
        h.listen(addr("[fd00::1]:80"), 1).unwrap();
        assert_eq!(
            syn_ack_mss(&mut h, "192.0.2.1:1000", "10.0.0.1:80"),
            Some(v4)
        );
        assert_eq!(
            syn_ack_mss(&mut h, "[2001:db8::1]:1000", "[fd00::1]:80"),
            Some(v6)
        );
        // Both SYN queues (backlog 1) are full now: the cookie SYN-ACKs say the same.
        assert_eq!(
            syn_ack_mss(&mut h, "192.0.2.2:2000", "10.0.0.1:80"),
            Some(v4)
        );
        assert_eq!(
            syn_ack_mss(&mut h, "[2001:db8::2]:2000", "[fd00::1]:80"),
            Some(v6)
        );
        assert_eq!(h.counters().syncookies_sent, 2);

        let now = Instant::ZERO;
        h.connect(now, addr("10.0.0.1:0"), addr("192.0.2.9:80"))
            .unwrap();
        h.connect(now, addr("[fd00::1]:0"), addr("[2001:db8::9]:80"))
            .unwrap();
        let syns = drain(&mut h, now);
        let mss_of = |v6: bool| {
            syns.iter()
                .find(|p| p.src.is_ipv6() == v6)
                .unwrap()
                .options
                .mss
        };
        assert_eq!((mss_of(false), mss_of(true)), (Some(v4), Some(v6)));
    }
    let c = Config {
        mss: 1000,
        ..Config::default()
    };
    assert_eq!((c.mss_for(false), c.mss_for(true)), (1000, 1000));
}

#[test]
fn a_deadline_moved_later_fires_when_due_not_where_it_was_first_scheduled() {
    // Keepalive (RFC 9293 §3.8.4): the first probe is due `idle` after the last segment
    // heard. Every exchange moves that deadline later (and arms and stops the retransmission
    // timer on the way), so the host's schedule is left with entries for deadlines that have
    // since moved: coming due, they must neither send anything nor lose the real deadline.
    let (mut net, c, s) = opened();
    let idle = Duration::from_secs(10);
    net.a.conn_mut(c).unwrap().set_keepalive(Some(Keepalive {
        idle,
        interval: Duration::from_secs(1),
        count: 3,
    }));
    let mut last_heard = net.now;
    let mut buf = [0u8; 64];
    for round in 0..4 {
        net.now += Duration::from_secs(4);
        net.a.handle_timeout(net.now);
        net.b.handle_timeout(net.now);
        assert_eq!(net.a.send(c, b"ping"), Ok(4));
        net.settle();
        assert_eq!(net.b.recv(s, &mut buf), Ok(4), "round {round}");
        last_heard = net.now;
        net.a.audit().unwrap();
    }
    // From here the peer has nothing to say: step from wakeup to wakeup, the stale ones
    // included, until `a` sends its probe.
    let probe_at = loop {
        let next = [net.a.poll_timeout(), net.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .expect("the keepalive timer is armed");
        assert!(next <= last_heard + idle, "a wakeup past the deadline");
        net.now = next;
        net.a.handle_timeout(net.now);
        net.b.handle_timeout(net.now);
        net.a.audit().unwrap();
        if !drain(&mut net.a, net.now).is_empty() {
            break net.now;
        }
        if forward(&mut net.b, &mut net.a, net.now) > 0 {
            last_heard = net.now;
        }
    };
    assert_eq!(
        probe_at,
        last_heard + idle,
        "the probe leaves exactly when due"
    );
}
