//! The compact TIME-WAIT table, with exact packets: a server closes first, the hand-driven
//! client finishes the close, and the server's TIME-WAIT, once nobody holds the connection,
//! lives on as a small entry that still answers like RFC 9293 §3.10.7.4 and Linux.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use synack_proto::host::{ConnId, Host, HostConfig, HostEvent, ListenerId};
use synack_proto::{Cause, Instant, StateName};
use synack_wire::{TcpFlags, TcpOptions, Timestamps};

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;
const RST: TcpFlags = TcpFlags::RST;
const FIN: TcpFlags = TcpFlags::FIN;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Pkt {
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    window: u16,
    options: TcpOptions,
}

fn server_addr() -> SocketAddr {
    addr("10.0.0.1:80")
}

fn client_addr() -> SocketAddr {
    addr("10.0.0.2:40000")
}

fn bytes(flags: TcpFlags, seq: u32, ack: u32, ts: Option<Timestamps>) -> Vec<u8> {
    let (src, dst) = (client_addr(), server_addr());
    common::host::Pkt::new(&src.to_string(), &dst.to_string(), flags, seq, ack)
        .ts(ts)
        .bytes()
}

fn drain(host: &mut Host, now: Instant) -> Vec<Pkt> {
    common::host::drain(host, now)
        .into_iter()
        .map(|p| {
            assert_eq!(
                (p.src.ip(), p.dst.ip()),
                (server_addr().ip(), client_addr().ip())
            );
            Pkt {
                flags: p.flags,
                seq: p.seq,
                ack: p.ack,
                window: p.window,
                options: p.options,
            }
        })
        .collect()
}

/// A server whose accepted connection went through an orderly close, server first, and sits
/// in TIME-WAIT. Returns the host, the listener, the server's SND.NXT (after its FIN) and
/// RCV.NXT (after the client's FIN), and the connection (still held by the user unless
/// `release`).
struct Setup {
    host: Host,
    listener: ListenerId,
    conn: ConnId,
    snd_nxt: u32,
    rcv_nxt: u32,
    now: Instant,
}

const CLIENT_ISN: u32 = 1_000;

fn time_wait(config: HostConfig, timestamps: bool, release: bool) -> Setup {
    let mut host = Host::new(config);
    let listener = host.listen(server_addr(), 8).unwrap();
    let mut now = Instant::ZERO;
    let ts = |v: u32, e: u32| timestamps.then_some(Timestamps { tsval: v, tsecr: e });
    host.handle_packet(now, &bytes(SYN, CLIENT_ISN, 0, ts(100, 0)));
    let synack = drain(&mut host, now);
    assert_eq!(synack.len(), 1);
    let iss = synack[0].seq;
    let their_ts = synack[0].options.timestamps.map_or(0, |t| t.tsval);
    now += Duration::from_millis(10);
    host.handle_packet(now, &bytes(ACK, CLIENT_ISN + 1, iss + 1, ts(110, their_ts)));
    let conn = host.accept(listener).unwrap();
    if release {
        host.close(now, conn).unwrap();
    } else {
        host.shutdown(conn).unwrap();
    }
    let fin = drain(&mut host, now);
    assert_eq!(fin.len(), 1);
    assert!(fin[0].flags.fin());
    now += Duration::from_millis(10);
    let their_ts = fin[0].options.timestamps.map_or(0, |t| t.tsval);
    host.handle_packet(
        now,
        &bytes(FIN | ACK, CLIENT_ISN + 1, iss + 2, ts(120, their_ts)),
    );
    let last = drain(&mut host, now);
    assert_eq!(last.len(), 1, "the ACK of the client's FIN");
    assert_eq!((last[0].seq, last[0].ack), (iss + 2, CLIENT_ISN + 2));
    Setup {
        host,
        listener,
        conn,
        snd_nxt: iss + 2,
        rcv_nxt: CLIENT_ISN + 2,
        now,
    }
}

/// The state changes reported since the last call (events for the user are not expected for
/// a connection the user closed).
fn moves(host: &mut Host) -> Vec<(ConnId, StateName, StateName, Cause)> {
    std::iter::from_fn(|| host.poll_event())
        .map(|e| match e {
            HostEvent::StateChanged {
                conn,
                from,
                to,
                cause,
            } => (conn, from, to, cause),
            other => panic!("only state changes after close, got {other:?}"),
        })
        .collect()
}

fn config() -> HostConfig {
    let mut c = HostConfig {
        secret: 0x7717,
        ..HostConfig::default()
    };
    c.tcp.timestamps = false;
    c
}

fn ts_config() -> HostConfig {
    HostConfig {
        secret: 0x7717,
        ..HostConfig::default()
    }
}

#[test]
fn a_released_time_wait_connection_becomes_a_compact_entry() {
    let s = time_wait(config(), false, true);
    assert_eq!(s.host.connection_count(), 0, "the TCB is gone");
    assert_eq!(s.host.time_wait_count(), 1);
    assert!(s.host.in_time_wait(server_addr(), client_addr()));
    assert_eq!(
        s.host.tuple_state(server_addr(), client_addr()),
        Some(StateName::TimeWait)
    );
    // The handle was given up with `close`, so it is stale, as for any closed connection.
    assert!(s.host.state(s.conn).is_err());
}

#[test]
fn a_retransmitted_fin_is_acked_and_restarts_2msl() {
    let mut s = time_wait(config(), false, true);
    let start = s.now;
    // 50 s in (2MSL = 60 s), the client's FIN comes again: its ACK was lost.
    let t = start + Duration::from_secs(50);
    s.host.handle_timeout(t);
    s.host
        .handle_packet(t, &bytes(FIN | ACK, CLIENT_ISN + 1, s.snd_nxt, None));
    let out = drain(&mut s.host, t);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, ACK);
    assert_eq!((out[0].seq, out[0].ack), (s.snd_nxt, s.rcv_nxt));
    assert_eq!(out[0].options, TcpOptions::default());
    // The wait now ends at 50 + 60 s, not at 60 s.
    let old_end = start + Duration::from_secs(61);
    let _ = std::iter::from_fn(|| s.host.poll_event()).count();
    s.host.handle_timeout(old_end);
    assert_eq!(s.host.time_wait_count(), 1, "2MSL restarted");
    assert_eq!(moves(&mut s.host), []);
    assert!(
        s.host
            .poll_timeout()
            .is_some_and(|t| t <= start + Duration::from_secs(110))
    );
    s.host.handle_timeout(start + Duration::from_secs(110));
    assert_eq!(s.host.time_wait_count(), 0);
    assert_eq!(s.host.counters().time_wait_expired, 1);
    assert_eq!(s.host.poll_timeout(), None, "no timer left behind");
    // Tools tracing the connection see it end, under the handle it had.
    assert_eq!(
        moves(&mut s.host),
        [(
            s.conn,
            StateName::TimeWait,
            StateName::Closed,
            Cause::TimeWaitExpired
        )]
    );
}

#[test]
fn a_reset_in_sequence_ends_time_wait_other_resets_are_ignored() {
    let mut s = time_wait(config(), false, true);
    let t = s.now + Duration::from_secs(1);
    // Not at RCV.NXT: ignored, and never answered.
    s.host.handle_packet(t, &bytes(RST, s.rcv_nxt + 1, 0, None));
    s.host.handle_packet(t, &bytes(RST, s.rcv_nxt - 1, 0, None));
    assert!(drain(&mut s.host, t).is_empty());
    assert_eq!(s.host.time_wait_count(), 1);
    // At RCV.NXT: TIME-WAIT ends (RFC 1337's hazard, accepted as Linux does by default).
    let _ = std::iter::from_fn(|| s.host.poll_event()).count();
    s.host.handle_packet(t, &bytes(RST, s.rcv_nxt, 0, None));
    assert_eq!(
        moves(&mut s.host),
        [(
            s.conn,
            StateName::TimeWait,
            StateName::Closed,
            Cause::RecvRst
        )]
    );
    assert!(drain(&mut s.host, t).is_empty());
    assert_eq!(s.host.time_wait_count(), 0);
    assert_eq!(s.host.counters().time_wait_killed, 1);
    assert_eq!(s.host.tuple_state(server_addr(), client_addr()), None);
    // The 4-tuple is free: an ACK now finds nothing and is reset (RFC 9293 §3.10.7.1).
    s.host
        .handle_packet(t, &bytes(ACK, s.rcv_nxt, s.snd_nxt, None));
    let out = drain(&mut s.host, t);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags, out[0].seq), (RST, s.snd_nxt));
}

#[test]
fn an_old_syn_is_acked_at_most_twice_a_second_and_keeps_the_entry() {
    let mut s = time_wait(config(), false, true);
    let t = s.now + Duration::from_secs(1);
    // A SYN at or below RCV.NXT may be an old duplicate: answer with our ACK, open nothing.
    s.host.handle_packet(t, &bytes(SYN, s.rcv_nxt - 5, 0, None));
    let out = drain(&mut s.host, t);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].flags, out[0].seq, out[0].ack),
        (ACK, s.snd_nxt, s.rcv_nxt)
    );
    // A second stray segment 100 ms later goes unanswered (rate limit), one 600 ms later not.
    let t2 = t + Duration::from_millis(100);
    s.host
        .handle_packet(t2, &bytes(SYN, s.rcv_nxt - 5, 0, None));
    assert!(drain(&mut s.host, t2).is_empty());
    let t3 = t + Duration::from_millis(600);
    s.host
        .handle_packet(t3, &bytes(ACK, s.rcv_nxt + 100, s.snd_nxt, None));
    assert_eq!(drain(&mut s.host, t3).len(), 1);
    // An in-sequence bare ACK needs no answer.
    let t4 = t + Duration::from_secs(2);
    s.host
        .handle_packet(t4, &bytes(ACK, s.rcv_nxt, s.snd_nxt, None));
    assert!(drain(&mut s.host, t4).is_empty());
    assert_eq!(s.host.time_wait_count(), 1);
    assert_eq!(s.host.connection_count(), 0);
}

#[test]
fn a_syn_beyond_rcv_nxt_reopens_with_an_iss_beyond_the_old_snd_nxt() {
    let mut s = time_wait(config(), false, true);
    let t = s.now + Duration::from_secs(1);
    s.host
        .handle_packet(t, &bytes(SYN, s.rcv_nxt + 10_000, 0, None));
    let out = drain(&mut s.host, t);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, SYN | ACK);
    assert_eq!(out[0].ack, s.rcv_nxt + 10_001);
    assert_eq!(out[0].seq, s.snd_nxt.wrapping_add(65_537));
    assert_eq!(s.host.time_wait_count(), 0);
    assert_eq!(s.host.connection_count(), 1);
    assert_eq!(s.host.counters().time_wait_reopened, 1);
    assert_eq!(s.host.listener_queues(s.listener), Some((1, 0)));
}

#[test]
fn with_timestamps_a_newer_tsval_reopens_even_below_rcv_nxt_and_an_older_one_is_acked() {
    let mut s = time_wait(ts_config(), true, true);
    let t = s.now + Duration::from_secs(1);
    // TS.Recent is 120 (the client's FIN). A SYN with TSval 90 fails PAWS: ACK, nothing else.
    let old = Timestamps {
        tsval: 90,
        tsecr: 0,
    };
    s.host
        .handle_packet(t, &bytes(SYN, s.rcv_nxt + 50_000, 0, Some(old)));
    let out = drain(&mut s.host, t);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].flags, out[0].seq, out[0].ack),
        (ACK, s.snd_nxt, s.rcv_nxt)
    );
    assert_eq!(out[0].options.timestamps.map(|t| t.tsecr), Some(120));
    assert_eq!(s.host.time_wait_count(), 1);
    // TSval 5000 is newer: a new incarnation, though its sequence number lies below RCV.NXT
    // (RFC 6191 §2).
    let new = Timestamps {
        tsval: 5000,
        tsecr: 0,
    };
    s.host
        .handle_packet(t, &bytes(SYN, s.rcv_nxt - 500, 0, Some(new)));
    let out = drain(&mut s.host, t);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, SYN | ACK);
    assert_eq!(out[0].ack, s.rcv_nxt - 499);
    assert_eq!(out[0].options.timestamps.map(|t| t.tsecr), Some(5000));
    assert_eq!(s.host.time_wait_count(), 0);
}

#[test]
fn with_timestamps_the_repeated_ack_echoes_ts_recent_on_the_connection_clock() {
    let mut s = time_wait(ts_config(), true, true);
    let t = s.now + Duration::from_secs(3);
    let fin_ts = Timestamps {
        tsval: 3120,
        tsecr: 0,
    };
    s.host.handle_packet(
        t,
        &bytes(FIN | ACK, CLIENT_ISN + 1, s.snd_nxt, Some(fin_ts)),
    );
    let out = drain(&mut s.host, t);
    assert_eq!(out.len(), 1);
    let ts = out[0].options.timestamps.expect("timestamps stay on");
    assert_eq!(ts.tsecr, 3120);
    // Our clock goes on as the connection's did: the SYN-ACK carried TSval at 0 ms.
    let mut probe = Host::new(ts_config());
    probe.listen(server_addr(), 8).unwrap();
    let syn_ts = Timestamps {
        tsval: 100,
        tsecr: 0,
    };
    probe.handle_packet(Instant::ZERO, &bytes(SYN, CLIENT_ISN, 0, Some(syn_ts)));
    let synack_tsval = drain(&mut probe, Instant::ZERO)[0]
        .options
        .timestamps
        .unwrap()
        .tsval;
    let elapsed = (t - Instant::ZERO).as_millis() as u32;
    assert_eq!(ts.tsval, synack_tsval.wrapping_add(elapsed));
}

#[test]
fn a_held_time_wait_connection_keeps_its_tcb_and_reports_its_end() {
    let mut s = time_wait(config(), false, false);
    assert_eq!(s.host.state(s.conn), Ok(StateName::TimeWait));
    assert_eq!(
        s.host.tuple_state(server_addr(), client_addr()),
        Some(StateName::TimeWait)
    );
    assert!(!s.host.in_time_wait(server_addr(), client_addr()));
    assert_eq!(s.host.connection_count(), 1);
    assert_eq!(s.host.time_wait_count(), 0);
    let _ = std::iter::from_fn(|| s.host.poll_event()).count();
    let end = s.now + Duration::from_secs(60);
    s.host.handle_timeout(end);
    let evs: Vec<_> = std::iter::from_fn(|| s.host.poll_event()).collect();
    assert_eq!(
        evs,
        [
            HostEvent::StateChanged {
                conn: s.conn,
                from: StateName::TimeWait,
                to: StateName::Closed,
                cause: Cause::TimeWaitExpired
            },
            HostEvent::Closed(s.conn, None)
        ]
    );
    assert_eq!(s.host.state(s.conn), Ok(StateName::Closed));
    s.host.close(end, s.conn).unwrap();
    assert!(drain(&mut s.host, end).is_empty());
    assert_eq!(
        (s.host.connection_count(), s.host.time_wait_count()),
        (0, 0)
    );
}

#[test]
fn closing_a_held_time_wait_connection_compacts_it() {
    let mut s = time_wait(config(), false, false);
    let t = s.now + Duration::from_secs(1);
    s.host.close(t, s.conn).unwrap();
    assert!(drain(&mut s.host, t).is_empty());
    assert_eq!(
        (s.host.connection_count(), s.host.time_wait_count()),
        (0, 1)
    );
    // The 2MSL wait still ends where it began, not 2MSL after the close.
    s.host.handle_timeout(s.now + Duration::from_secs(60));
    assert_eq!(s.host.time_wait_count(), 0);
}

#[test]
fn beyond_max_time_wait_the_connection_is_forgotten_and_counted() {
    let mut s = time_wait(
        HostConfig {
            max_time_wait: 0,
            ..config()
        },
        false,
        true,
    );
    assert_eq!(
        (s.host.connection_count(), s.host.time_wait_count()),
        (0, 0)
    );
    assert_eq!(s.host.counters().time_wait_overflow, 1);
    // The 4-tuple is free at once: a new SYN opens a connection with a fresh RFC 6528 ISN.
    s.host
        .handle_packet(s.now, &bytes(SYN, CLIENT_ISN, 0, None));
    assert_eq!(drain(&mut s.host, s.now)[0].flags, SYN | ACK);
}

#[test]
fn without_a_listener_a_new_syn_is_acked_and_time_wait_stays() {
    let mut s = time_wait(config(), false, true);
    s.host.close_listener(s.listener).unwrap();
    let t = s.now + Duration::from_secs(1);
    s.host
        .handle_packet(t, &bytes(SYN, s.rcv_nxt + 10_000, 0, None));
    let out = drain(&mut s.host, t);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].flags, out[0].seq, out[0].ack),
        (ACK, s.snd_nxt, s.rcv_nxt)
    );
    assert_eq!(s.host.time_wait_count(), 1);
    assert_eq!(s.host.counters().time_wait_reopened, 0);
}

#[test]
fn with_timestamps_a_reset_in_sequence_ends_time_wait_whatever_its_tsval() {
    // RFC 7323 §5.3 R1: PAWS does not apply to resets.
    let mut s = time_wait(ts_config(), true, true);
    let t = s.now + Duration::from_secs(1);
    let old = Timestamps { tsval: 1, tsecr: 0 };
    s.host
        .handle_packet(t, &bytes(RST, s.rcv_nxt, 0, Some(old)));
    assert!(drain(&mut s.host, t).is_empty());
    assert_eq!(s.host.time_wait_count(), 0);
    assert_eq!(s.host.counters().time_wait_killed, 1);
}

/// Moves everything both hosts send to the other, until neither sends.
fn exchange(a: &mut Host, b: &mut Host, now: Instant) -> Vec<(bool, Pkt)> {
    let mut seen = Vec::new();
    for _ in 0..8 {
        let before = seen.len();
        pass(a, b, now, true, &mut seen);
        pass(b, a, now, false, &mut seen);
        if seen.len() == before {
            break;
        }
    }
    seen
}

fn pass(src: &mut Host, dst: &mut Host, now: Instant, tag: bool, seen: &mut Vec<(bool, Pkt)>) {
    for (p, raw) in common::host::drain_raw(src, now) {
        seen.push((
            tag,
            Pkt {
                flags: p.flags,
                seq: p.seq,
                ack: p.ack,
                window: p.window,
                options: p.options,
            },
        ));
        dst.handle_packet(now, &raw);
    }
}

/// RFC 6191 §2 reopens TIME-WAIT for a SYN whose TSval is newer than the old incarnation's,
/// and PAWS turns away one whose TSval is older; both assume the client's timestamp clock
/// keeps growing from one incarnation of a 4-tuple to the next (RFC 7323 §5.4). A synack
/// client reconnecting from the same port to a synack server still in TIME-WAIT therefore gets
/// through at once, whenever it comes back: no ACK from the old incarnation, no reset, no
/// retransmitted SYN.
#[test]
fn a_client_coming_back_on_the_same_port_reopens_time_wait_at_once() {
    for trial in 0..32u64 {
        let mut client = Host::new(HostConfig {
            secret: 0x5eed + u128::from(trial),
            ..HostConfig::default()
        });
        let mut server = Host::new(ts_config());
        let listener = server.listen(server_addr(), 8).unwrap();
        let mut now = Instant::from_millis(1_000 + trial * 7_919);
        let c = client.connect(now, client_addr(), server_addr()).unwrap();
        exchange(&mut client, &mut server, now);
        let s = server.accept(listener).unwrap();
        // The server closes first, so TIME-WAIT is on its side.
        server.close(now, s).unwrap();
        exchange(&mut client, &mut server, now);
        client.close(now, c).unwrap();
        let old = exchange(&mut client, &mut server, now);
        assert!(server.in_time_wait(server_addr(), client_addr()));
        let last_tsval = old
            .iter()
            .filter(|(from_client, _)| *from_client)
            .filter_map(|(_, p)| p.options.timestamps)
            .next_back()
            .unwrap()
            .tsval;
        now += Duration::from_millis(2_000 + trial * 1_231);
        let c = client.connect(now, client_addr(), server_addr()).unwrap();
        let new = exchange(&mut client, &mut server, now);
        let syn_ts = new[0].1.options.timestamps.unwrap().tsval;
        assert!(
            (syn_ts.wrapping_sub(last_tsval) as i32) > 0,
            "trial {trial}: the new SYN's TSval {syn_ts} is not after {last_tsval}"
        );
        assert_eq!(
            client.state(c),
            Ok(StateName::Established),
            "trial {trial}: {new:?}"
        );
        assert!(
            new.iter().all(|(_, p)| !p.flags.rst()),
            "trial {trial}: no reset"
        );
        assert_eq!(server.counters().time_wait_reopened, 1);
    }
}
