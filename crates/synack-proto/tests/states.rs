//! Exact-segment tests: for each state, the segments that matter there, asserting the exact
//! segment sent back and the resulting state (RFC 9293 §3.10, RFC 5961). The last test replays
//! them all and proves every row of the transition table was exercised.

mod common;

use std::time::Duration;

use common::*;
use synack_proto::{
    CallError, Cause, Config, ConnError, Connection, Event, Nagle, StateName, TRANSITIONS,
};

use StateName::*;

// ---------------------------------------------------------------- CLOSED and LISTEN

fn closed_answers_with_reset() {
    // RFC 9293 §3.10.7.1: a closed connection answers anything but RST with RST.
    let mut d = Driver::established();
    d.c.abort();
    assert_eq!(d.out(), vec![seg_out("R", ISS + 1, 0).win(0)]);
    assert_eq!(d.state(), Closed);
    d.input(seg(".", PEER_ISS + 1, ISS + 1).data(b"x"));
    assert_eq!(d.out(), vec![seg_out("R", ISS + 1, 0).win(0)]);
    d.input(seg("S", 77, 0));
    assert_eq!(d.out(), vec![seg_out("R.", 0, 78).win(0)]);
    d.input(seg("R", 77, 0));
    assert_eq!(d.out(), vec![], "a reset is never answered");
}

fn listen_ignores_rst_and_resets_ack() {
    let config = plain_config();
    let mut d = Driver::new(Connection::listen(&config, LOCAL_PORT, ISS));
    assert_eq!(d.state(), Listen);
    d.input(seg("R", 1, 0));
    assert_eq!(d.out(), vec![]);
    d.input(seg(".", 1, 4242));
    assert_eq!(d.out(), vec![seg_out("R", 4242, 0).win(0)]);
    d.input(seg("F.", 1, 4242).data(b"junk"));
    assert_eq!(d.out(), vec![seg_out("R", 4242, 0).win(0)]);
    d.input(seg("", 1, 0));
    assert_eq!(d.out(), vec![], "no SYN, no ACK: dropped");
    assert_eq!(d.state(), Listen);
}

fn listen_syn_gets_syn_ack() {
    let d = Driver::syn_received();
    let info = d.c.info();
    assert_eq!(info.rcv_nxt, PEER_ISS + 1);
    assert_eq!(info.snd_nxt, ISS + 1);
}

fn listen_close_and_abort() {
    let config = plain_config();
    let mut d = Driver::new(Connection::listen(&config, LOCAL_PORT, ISS));
    d.c.close(d.now).unwrap();
    assert_eq!(d.state(), Closed);
    let mut d = Driver::new(Connection::listen(&config, LOCAL_PORT, ISS));
    d.c.abort();
    assert_eq!(d.state(), Closed);
    assert_eq!(d.out(), vec![], "abort in LISTEN sends nothing");
}

fn cookie_ack_establishes_straight_from_listen() {
    // RFC 4987 §3.6, through a host (which alone may build a connection from a cookie; the
    // connection-level test is in the crate, `host/tests.rs`): a listener whose SYN queue is
    // full answers a SYN with a cookie and keeps nothing; the ACK returning the cookie brings
    // the connection straight from LISTEN to ESTABLISHED, with the request bytes it carries
    // taken in and acknowledged.
    use common::host::{ACK, Pkt, SYN, addr, drain, events};
    use synack_proto::host::{Host, HostConfig, HostEvent};
    let mut h = Host::new(HostConfig {
        tcp: plain_config(),
        ..HostConfig::default()
    });
    let l = h.listen(addr("10.0.0.1:80"), 1).unwrap();
    let now = synack_proto::Instant::ZERO;
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.1:1000", "10.0.0.1:80", SYN, 100, 0).bytes(),
    );
    assert_eq!(drain(&mut h, now).len(), 1, "the SYN queue's one SYN-ACK");
    h.handle_packet(
        now,
        &Pkt::new("192.0.2.2:2000", "10.0.0.1:80", SYN, PEER_ISS, 0)
            .mss(1300)
            .bytes(),
    );
    let answer = drain(&mut h, now);
    assert_eq!(answer.len(), 1);
    assert_eq!(h.counters().syncookies_sent, 1);
    let cookie = answer[0].seq;
    h.handle_packet(
        now,
        &Pkt::new(
            "192.0.2.2:2000",
            "10.0.0.1:80",
            ACK,
            PEER_ISS + 1,
            cookie + 1,
        )
        .data(b"GET")
        .bytes(),
    );
    let evs = events(&mut h);
    let conn = evs
        .iter()
        .find_map(|e| match *e {
            HostEvent::StateChanged {
                conn,
                from: Listen,
                to: Established,
                cause: Cause::RecvCookieAck,
            } => Some(conn),
            _ => None,
        })
        .unwrap_or_else(|| panic!("LISTEN -> ESTABLISHED on the cookie ACK: {evs:?}"));
    assert_eq!(h.accept(l), Some(conn));
    assert_eq!(h.info(conn).unwrap().snd_mss, 1300);
    let out = drain(&mut h, now);
    assert_eq!((out.len(), out[0].flags), (1, ACK));
    assert_eq!((out[0].seq, out[0].ack), (cookie + 1, PEER_ISS + 4));
    let mut buf = [0u8; 8];
    assert_eq!(h.recv(conn, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"GET");
}

// ---------------------------------------------------------------- SYN-SENT

fn syn_sent_sends_syn_with_all_options() {
    let config = synack_proto::Config::default();
    let mut d = Driver::new(Connection::connect(&config, LOCAL_PORT, REMOTE_PORT, ISS));
    let out = d.out();
    assert_eq!(out.len(), 1);
    let syn = &out[0];
    assert_eq!(syn.flags, flags("S"));
    assert_eq!(syn.seq, ISS);
    assert_eq!(syn.options.mss, Some(1460));
    // The buffer may auto-tune up to 4 MiB, which needs a shift of 7 to fit 16 bits.
    assert_eq!(syn.options.window_scale, Some(7));
    assert!(syn.options.sack_permitted);
    assert_eq!(syn.options.timestamps.map(|t| t.tsecr), Some(0));
    assert_eq!(syn.win, 65535);
}

fn syn_sent_rst_with_good_ack_is_refused() {
    let mut d = Driver::syn_sent(plain_config());
    d.input(seg("R.", 0, ISS + 1));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::ConnectionRefused));
    assert!(d.events.contains(&Event::Closed {
        error: Some(ConnError::ConnectionRefused)
    }));
    assert_eq!(d.out(), vec![]);
}

fn syn_sent_rst_without_ack_is_ignored() {
    let mut d = Driver::syn_sent(plain_config());
    d.input(seg("R", 0, 0));
    assert_eq!(d.state(), SynSent);
    d.input(seg("R.", 0, ISS + 7));
    assert_eq!(
        d.state(),
        SynSent,
        "RST with an unacceptable ACK is dropped"
    );
    assert_eq!(d.out(), vec![]);
}

fn syn_sent_bad_ack_gets_reset() {
    let mut d = Driver::syn_sent(plain_config());
    d.input(seg("S.", PEER_ISS, ISS + 50));
    assert_eq!(d.out(), vec![seg_out("R", ISS + 50, 0).win(0)]);
    d.input(seg(".", PEER_ISS, ISS));
    assert_eq!(d.out(), vec![seg_out("R", ISS, 0).win(0)]);
    assert_eq!(d.state(), SynSent);
    // A plain ACK of our SYN without SYN is dropped silently.
    d.input(seg(".", PEER_ISS, ISS + 1));
    assert_eq!(d.out(), vec![]);
    assert_eq!(d.state(), SynSent);
}

fn syn_sent_syn_ack_establishes() {
    let d = Driver::established();
    assert!(d.events.iter().any(|e| matches!(
        e,
        Event::StateChanged {
            to: Established,
            cause: Cause::RecvSynAck,
            ..
        }
    )));
}

fn syn_ack_carrying_data_and_fin() {
    let mut d = Driver::syn_sent(plain_config());
    let mut s = seg("SF.", PEER_ISS, ISS + 1).mss(1460).data(b"hello");
    s.flags |= synack_wire::TcpFlags::PSH;
    d.input(s);
    assert_eq!(d.state(), CloseWait);
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 1, PEER_ISS + 7).win(65529)]
    );
    assert_eq!(d.read_all(), b"hello");
    assert_eq!(
        d.c.recv(&mut [0u8; 8]),
        Ok(0),
        "end of stream after the FIN"
    );
}

fn syn_sent_shutdown_sends_data_and_fin_after_handshake() {
    let mut d = Driver::syn_sent(plain_config());
    d.c.send(b"early").unwrap();
    d.c.shutdown_write().unwrap();
    assert_eq!(d.state(), SynSent);
    d.input(seg("S.", PEER_ISS, ISS + 1).mss(1460));
    assert_eq!(d.state(), FinWait1);
    let mut expected = seg_out("FP.", ISS + 1, PEER_ISS + 1).data(b"early");
    expected.win = 65535;
    assert_eq!(d.out(), vec![expected]);
}

fn syn_sent_close_and_abort() {
    let mut d = Driver::syn_sent(plain_config());
    d.c.close(d.now).unwrap();
    assert_eq!(d.state(), Closed);
    assert_eq!(d.out(), vec![]);
    let mut d = Driver::syn_sent(plain_config());
    d.c.abort();
    assert_eq!(d.state(), Closed);
    assert_eq!(d.out(), vec![], "abort in SYN-SENT sends no reset");
}

fn syn_retransmits_at_1_3_7_15_31_63_and_fails_at_127() {
    let mut d = Driver::syn_sent(plain_config());
    let sent = d.advance(secs(200));
    let times: Vec<u64> = sent.iter().map(|(t, _)| t.as_millis()).collect();
    assert_eq!(times, vec![1000, 3000, 7000, 15000, 31000, 63000]);
    assert!(
        sent.iter()
            .all(|(_, s)| s.flags == flags("S") && s.seq == ISS)
    );
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::TimedOut));
    let closed_at = d.events.iter().position(|e| {
        matches!(
            e,
            Event::StateChanged {
                cause: Cause::RetransmitTimeout,
                ..
            }
        )
    });
    assert!(closed_at.is_some());
}

// ---------------------------------------------------------------- SYN-RECEIVED

fn syn_received_ack_establishes() {
    let mut d = Driver::syn_received();
    d.input(seg(".", PEER_ISS + 1, ISS + 1));
    assert_eq!(d.state(), Established);
    assert_eq!(d.out(), vec![]);
}

fn syn_received_bad_ack_gets_reset() {
    let mut d = Driver::syn_received();
    d.input(seg(".", PEER_ISS + 1, ISS + 9));
    assert_eq!(d.out(), vec![seg_out("R", ISS + 9, 0).win(0)]);
    assert_eq!(d.state(), SynReceived);
}

fn syn_received_rst_returns_to_listen() {
    let mut d = Driver::syn_received();
    d.input(seg("R", PEER_ISS + 1, 0));
    assert_eq!(d.state(), Listen);
    // ... and the listener still works.
    d.input(seg("S", 9000, 0));
    assert_eq!(d.state(), SynReceived);
    let out = d.out();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags, out[0].ack), (flags("S."), 9001));
}

fn syn_received_new_syn_returns_to_listen() {
    // RFC 9293 §3.10.7.4 fourth check, passive open: a SYN in the window sends us back to
    // LISTEN.
    let mut d = Driver::syn_received();
    d.input(seg("S", PEER_ISS + 100, 0));
    assert_eq!(d.state(), Listen);
    assert_eq!(d.out(), vec![]);
}

fn syn_received_repeated_syn_gets_syn_ack_again() {
    let mut d = Driver::syn_received();
    d.input(seg("S", PEER_ISS, 0));
    let out = d.out();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].flags, out[0].seq, out[0].ack),
        (flags("S."), ISS, PEER_ISS + 1)
    );
    assert_eq!(d.state(), SynReceived);
    assert_eq!(d.c.info().segs_retransmitted, 1);
}

fn syn_ack_retransmits_then_listen_again() {
    let mut d = Driver::syn_received();
    let sent = d.advance(secs(100));
    let times: Vec<u64> = sent.iter().map(|(t, _)| t.as_millis()).collect();
    assert_eq!(times, vec![1000, 3000, 7000, 15000, 31000]);
    assert!(sent.iter().all(|(_, s)| s.flags == flags("S.")));
    assert_eq!(
        d.state(),
        Listen,
        "a passive open that times out listens again"
    );
}

fn syn_received_abort_sends_reset() {
    let mut d = Driver::syn_received();
    d.c.abort();
    assert_eq!(d.out(), vec![seg_out("R", ISS + 1, 0).win(0)]);
    assert_eq!(d.state(), Closed);
}

fn syn_received_close_sends_fin_once_established() {
    let mut d = Driver::syn_received();
    d.c.close(d.now).unwrap();
    assert_eq!(d.state(), SynReceived);
    assert_eq!(d.out(), vec![]);
    d.input(seg(".", PEER_ISS + 1, ISS + 1));
    assert_eq!(d.state(), FinWait1);
    assert_eq!(d.out(), vec![seg_out("F.", ISS + 1, PEER_ISS + 1)]);
}

// ---------------------------------------------------------------- simultaneous open

fn simultaneous_open() {
    // RFC 9293 §3.5 Figure 8: both send SYN, both go SYN-SENT → SYN-RECEIVED → ESTABLISHED.
    let config = plain_config();
    let a = Connection::connect(&config, 1111, 2222, 100);
    let b = Connection::connect(&config, 2222, 1111, 300);
    let mut p = Pair::new(a, b, ms(10));
    p.run_for(secs(5));
    for side in [Side::A, Side::B] {
        assert_eq!(
            p.states(side),
            vec![Closed, SynSent, SynReceived, Established],
            "{side:?}"
        );
    }
    let syn_acks: Vec<_> = p
        .log
        .iter()
        .filter(|s| s.seg.flags == flags("S."))
        .collect();
    assert_eq!(syn_acks.len(), 2);
    let from_a = syn_acks.iter().find(|s| s.from == Side::A).unwrap();
    assert_eq!((from_a.seg.seq, from_a.seg.ack), (100, 301));
    assert_eq!(p.a.info().snd_una, 101);
    assert_eq!(p.b.info().snd_una, 301);
}

fn simultaneous_open_reset_is_refused() {
    let mut d = Driver::syn_sent(plain_config());
    d.input(seg("S", PEER_ISS, 0));
    assert_eq!(d.state(), SynReceived);
    let out = d.out();
    assert_eq!(
        (out[0].flags, out[0].seq, out[0].ack),
        (flags("S."), ISS, PEER_ISS + 1)
    );
    d.input(seg("R", PEER_ISS + 1, 0));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::ConnectionRefused));
}

fn simultaneous_open_peer_vanishes() {
    let mut d = Driver::syn_sent(plain_config());
    d.input(seg("S", PEER_ISS, 0));
    d.out();
    d.advance(secs(200));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::TimedOut));
}

// ---------------------------------------------------------------- ESTABLISHED

fn established_data_is_acked_and_readable() {
    let mut d = Driver::established();
    d.input(seg("P.", PEER_ISS + 1, ISS + 1).data(b"abcd"));
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 1, PEER_ISS + 5).win(65531)]
    );
    assert!(d.events.contains(&Event::Readable));
    assert_eq!(d.read_all(), b"abcd");
    assert_eq!(d.c.recv(&mut [0u8; 4]), Err(CallError::WouldBlock));
}

fn established_old_duplicate_is_reacked_not_redelivered() {
    let mut d = Driver::established();
    d.input(seg("P.", PEER_ISS + 1, ISS + 1).data(b"abcd"));
    d.out();
    d.input(seg("P.", PEER_ISS + 1, ISS + 1).data(b"abcd"));
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 1, PEER_ISS + 5).win(65531)]
    );
    // A partly new segment delivers only the new part.
    d.input(seg("P.", PEER_ISS + 3, ISS + 1).data(b"cdef"));
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 1, PEER_ISS + 7).win(65529)]
    );
    assert_eq!(d.read_all(), b"abcdef");
}

fn established_future_data_gets_duplicate_ack() {
    let mut d = Driver::established();
    d.input(seg("P.", PEER_ISS + 101, ISS + 1).data(b"late"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
    assert_eq!(d.read_all(), b"");
}

fn established_out_of_window_gets_ack() {
    let mut d = Driver::established();
    d.input(seg("P.", PEER_ISS + 1 + 70_000, ISS + 1).data(b"far"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
    d.input(seg(".", PEER_ISS.wrapping_sub(5000), ISS + 1));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
}

fn established_rst_exact_resets() {
    let mut d = Driver::established();
    d.input(seg("R", PEER_ISS + 1, 0));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::ConnectionReset));
    assert_eq!(
        d.c.send(b"x"),
        Err(CallError::Ended(ConnError::ConnectionReset))
    );
    assert_eq!(
        d.c.recv(&mut [0u8; 1]),
        Err(CallError::Ended(ConnError::ConnectionReset))
    );
}

fn established_rst_in_window_gets_challenge_ack() {
    // RFC 5961 §3.2.
    let mut d = Driver::established();
    d.input(seg("R", PEER_ISS + 100, 0));
    assert_eq!(d.state(), Established);
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
}

fn established_rst_out_of_window_is_dropped() {
    let mut d = Driver::established();
    d.input(seg("R", PEER_ISS + 1 + 100_000, 0));
    d.input(seg("R", PEER_ISS, 0));
    assert_eq!(d.state(), Established);
    assert_eq!(d.out(), vec![]);
}

fn established_syn_gets_challenge_ack() {
    // RFC 5961 §4.2: a SYN in any synchronized state draws a challenge ACK, not a reset.
    let mut d = Driver::established();
    d.input(seg("S", PEER_ISS + 10, 0));
    assert_eq!(d.state(), Established);
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
    d.input(seg("S", PEER_ISS, 0));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
}

fn challenge_acks_are_rate_limited() {
    let mut d = Driver::established();
    let mut answered = 0;
    for i in 0..50 {
        d.input(seg("R", PEER_ISS + 10 + i, 0));
        answered += d.out().len();
    }
    assert_eq!(answered, 10, "RFC 5961 §7: at most 10 per second");
    d.advance(secs(1));
    d.input(seg("R", PEER_ISS + 10, 0));
    assert_eq!(d.out().len(), 1, "the budget refills");
}

fn established_ack_of_unsent_data_is_dropped_with_ack() {
    let mut d = Driver::established();
    d.input(seg("P.", PEER_ISS + 1, ISS + 500).data(b"evil"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
    assert_eq!(
        d.read_all(),
        b"",
        "the data of a segment that ACKs the future is dropped"
    );
}

fn established_ack_too_old_gets_challenge_ack() {
    let mut d = Driver::established();
    // The peer's window was 65535; an ACK more than that far behind SND.UNA is suspicious.
    d.input(seg("P.", PEER_ISS + 1, (ISS + 1).wrapping_sub(70_000)).data(b"evil"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
    assert_eq!(d.read_all(), b"");
}

fn established_segment_without_ack_is_dropped() {
    let mut d = Driver::established();
    d.input(seg("P", PEER_ISS + 1, 0).data(b"noack"));
    assert_eq!(d.out(), vec![]);
    assert_eq!(d.read_all(), b"");
}

fn established_send_respects_peer_window() {
    let mut d = Driver::established();
    d.input(seg(".", PEER_ISS + 1, ISS + 1).win(1000));
    assert_eq!(d.c.send(&[7u8; 3000]), Ok(3000));
    let out = d.out();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].seq, out[0].payload.len()), (ISS + 1, 1000));
    d.input(seg(".", PEER_ISS + 1, ISS + 1001).win(3000));
    let out = d.out();
    let lens: Vec<_> = out.iter().map(|s| (s.seq, s.payload.len())).collect();
    // The window now holds the rest: a full segment and the 540-byte tail (Minshall's Nagle
    // lets a short tail follow full segments).
    assert_eq!(lens, vec![(ISS + 1001, 1460), (ISS + 2461, 540)]);
    assert!(out[1].flags.psh(), "PSH on the last segment of the buffer");
}

fn nagle_classic_and_minshall() {
    // Classic (RFC 896, RFC 1122 §4.2.3.4): the tail waits while anything is unacknowledged.
    let mut d = Driver::established_with(Config {
        nagle: Nagle::Classic,
        ..plain_config()
    });
    d.c.send(&[7u8; 2000]).unwrap();
    let lens: Vec<_> = d.out().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, vec![1460]);
    d.input(seg(".", PEER_ISS + 1, ISS + 1461));
    let lens: Vec<_> = d.out().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, vec![540]);
    // Minshall's variant (the default): the tail follows the full segment at once; a short
    // write behind that unacknowledged short tail waits for its ACK, and only for that.
    let mut d = Driver::established();
    d.c.send(&[7u8; 2000]).unwrap();
    let lens: Vec<_> = d.out().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, vec![1460, 540]);
    d.c.send(b"more").unwrap();
    assert_eq!(d.out(), vec![]);
    d.input(seg(".", PEER_ISS + 1, ISS + 1461));
    assert_eq!(d.out(), vec![], "the short tail is still unacknowledged");
    d.input(seg(".", PEER_ISS + 1, ISS + 2001));
    assert_eq!(d.out()[0].payload, b"more");
}

fn nodelay_sends_the_tail_at_once() {
    let mut d = Driver::established();
    d.c.set_nodelay(true);
    d.c.send(&[7u8; 2000]).unwrap();
    let lens: Vec<_> = d.out().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, vec![1460, 540]);
    // Without it, a short write behind unacknowledged data waits (Nagle).
    let mut d = Driver::established();
    d.c.send(b"first").unwrap();
    assert_eq!(d.out().len(), 1);
    d.c.send(b"second").unwrap();
    assert_eq!(d.out(), vec![]);
    d.input(seg(".", PEER_ISS + 1, ISS + 6));
    assert_eq!(d.out()[0].payload, b"second");
}

fn out_of_window_bare_acks_are_answered_at_most_every_500ms() {
    let mut d = Driver::established();
    let stale = || seg(".", PEER_ISS.wrapping_sub(9000), ISS + 1);
    d.input(stale());
    assert_eq!(d.out().len(), 1);
    d.input(stale());
    assert_eq!(d.out(), vec![], "an ACK loop is cut");
    d.input(seg("P.", PEER_ISS.wrapping_sub(9000), ISS + 1).data(b"old"));
    assert_eq!(d.out().len(), 1, "a retransmission is always answered");
    d.advance(Duration::from_millis(500));
    d.input(stale());
    assert_eq!(d.out().len(), 1);
}

fn bare_acks_carry_the_highest_sequence_sent_after_a_timeout() {
    let mut d = Driver::established();
    d.c.send(&[1u8; 3000]).unwrap();
    assert_eq!(d.out().len(), 3);
    d.advance(Duration::from_millis(200));
    // The timeout moved the send point back to SND.UNA, but an ACK we owe says SND.MAX.
    d.input(seg("P.", PEER_ISS + 1, ISS + 1).data(b"hi"));
    let out = d.out();
    let bare: Vec<_> = out.iter().filter(|s| s.payload.is_empty()).collect();
    assert!(
        !bare.is_empty() && bare.iter().all(|s| s.seq == ISS + 3001),
        "{out:?}"
    );
}

fn keepalive() -> synack_proto::Keepalive {
    synack_proto::Keepalive {
        idle: secs(7200),
        interval: secs(75),
        count: 9,
    }
}

fn keepalive_probes_an_idle_connection_and_a_reply_keeps_it() {
    let mut d = Driver::established();
    d.c.set_keepalive(Some(keepalive()));
    assert!(d.advance(secs(7199)).is_empty());
    let sent = d.advance(secs(1));
    assert_eq!(sent.len(), 1);
    // RFC 1122 §4.2.3.6: SEQ = SND.UNA - 1, no data, so the peer must answer.
    assert_eq!(sent[0].1, seg_out(".", ISS, PEER_ISS + 1));
    d.input(seg(".", PEER_ISS + 1, ISS + 1));
    assert!(
        d.advance(secs(7199)).is_empty(),
        "an answer restarts the idle wait"
    );
    assert_eq!(d.advance(secs(1)).len(), 1);
    assert_eq!(d.state(), Established);
}

fn keepalive_gives_up_on_a_silent_peer() {
    let mut d = Driver::established();
    d.c.set_keepalive(Some(keepalive()));
    let sent = d.advance(secs(7200 + 9 * 75 + 1));
    let times: Vec<u64> = sent.iter().map(|(t, _)| t.as_millis() / 1000).collect();
    let expected: Vec<u64> = (0..9).map(|i| 7200 + 75 * i).collect();
    assert_eq!(times, expected);
    assert_eq!(
        (d.state(), d.c.error()),
        (Closed, Some(ConnError::TimedOut))
    );
    assert!(d.events.iter().any(|e| matches!(
        e,
        Event::StateChanged {
            cause: Cause::KeepaliveTimeout,
            ..
        }
    )));
    // The same in CLOSE-WAIT, where we may still be sending.
    let mut d = close_wait();
    d.c.set_keepalive(Some(keepalive()));
    d.advance(secs(8000));
    assert_eq!(
        (d.state(), d.c.error()),
        (Closed, Some(ConnError::TimedOut))
    );
}

fn keepalive_is_off_by_default() {
    let mut d = Driver::established();
    assert!(d.advance(secs(100_000)).is_empty());
    assert_eq!(d.state(), Established);
}

fn user_timeout_gives_up_on_unacknowledged_data() {
    let mut d = Driver::established();
    d.c.set_user_timeout(Some(secs(5)));
    d.c.send(b"stuck").unwrap();
    d.out();
    d.advance(Duration::from_millis(4999));
    assert_eq!(d.state(), Established);
    d.advance(Duration::from_millis(1));
    assert_eq!(
        (d.state(), d.c.error()),
        (Closed, Some(ConnError::TimedOut))
    );
    // Progress restarts the clock: ACKs every 4 s keep a slow transfer alive.
    let mut d = Driver::established();
    d.c.set_user_timeout(Some(secs(5)));
    d.c.send(&[1u8; 4000]).unwrap();
    for _ in 0..2 {
        d.out();
        d.advance(secs(4));
        let una = d.c.info().snd_una;
        d.input(seg(".", PEER_ISS + 1, una + 1000));
    }
    assert_eq!(d.state(), Established);
}

fn zero_window_is_probed_and_survives() {
    let mut d = Driver::established();
    d.input(seg(".", PEER_ISS + 1, ISS + 1).win(0));
    d.c.send(b"hello").unwrap();
    assert_eq!(d.out(), vec![], "nothing goes into a zero window");
    // Persist timer: one-byte probes with backoff, for minutes, without giving up, as long as
    // the peer answers each probe (with a zero window still).
    let mut sent = Vec::new();
    for _ in 0..600 {
        let probes = d.advance(secs(1));
        if !probes.is_empty() {
            d.input(seg(".", PEER_ISS + 1, ISS + 1).win(0));
        }
        sent.extend(probes);
    }
    assert!(sent.len() >= 5, "{sent:?}");
    assert!(
        sent.iter()
            .all(|(_, s)| s.payload == b"h" && s.seq == ISS + 1),
        "{sent:?}"
    );
    assert_eq!(d.state(), Established);
    let gaps: Vec<u64> = sent
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_millis() as u64)
        .collect();
    assert!(
        gaps.windows(2).all(|g| g[1] >= g[0]),
        "probes back off: {gaps:?}"
    );
    assert_eq!(
        d.c.info().rto_expirations,
        0,
        "probes are not retransmission timeouts"
    );
    // The window opens: the rest goes out.
    d.input(seg(".", PEER_ISS + 1, ISS + 2).win(1000));
    let out = d.out();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].seq, &out[0].payload[..]), (ISS + 2, &b"ello"[..]));
}

fn unanswered_zero_window_probes_give_up() {
    let mut d = Driver::established();
    d.input(seg(".", PEER_ISS + 1, ISS + 1).win(0));
    d.c.send(b"hello").unwrap();
    d.out();
    d.advance(secs(5000));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::TimedOut));
}

fn established_fin_goes_to_close_wait() {
    let mut d = Driver::established();
    d.input(seg("F.", PEER_ISS + 1, ISS + 1));
    assert_eq!(d.state(), CloseWait);
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 1, PEER_ISS + 2).win(65534)]
    );
    assert_eq!(d.c.recv(&mut [0u8; 4]), Ok(0));
}

fn established_out_of_order_fin_waits() {
    let mut d = Driver::established();
    d.input(seg("F.", PEER_ISS + 5, ISS + 1));
    assert_eq!(d.state(), Established, "a FIN after a gap is not processed");
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
}

fn established_abort_sends_reset() {
    let mut d = Driver::established();
    d.c.abort();
    assert_eq!(d.out(), vec![seg_out("R", ISS + 1, 0).win(0)]);
    assert_eq!(
        d.c.send(b"x"),
        Err(CallError::Ended(ConnError::ConnectionAborted))
    );
}

fn data_retransmits_with_backoff_then_times_out() {
    let mut d = Driver::established();
    d.c.send(b"lost").unwrap();
    assert_eq!(d.out().len(), 1);
    let sent = d.advance(secs(3000));
    let times: Vec<u64> = sent.iter().map(|(t, _)| t.as_millis()).collect();
    // The handshake measured an RTT of zero, so the RTO sits at its 200 ms floor. It doubles
    // on each expiry up to the 120 s cap (RFC 6298 §5.5): 15 retransmissions, then failure.
    let mut expected = Vec::new();
    let (mut at, mut rto) = (0u64, 200u64);
    for _ in 0..15 {
        at += rto;
        expected.push(at);
        rto = (rto * 2).min(120_000);
    }
    assert_eq!(times, expected);
    assert_eq!(&times[..5], &[200, 600, 1400, 3000, 6200]);
    assert!(
        sent.iter()
            .all(|(_, s)| s.payload == b"lost" && s.seq == ISS + 1)
    );
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::TimedOut));
}

fn close_with_unread_data_sends_reset() {
    let mut d = Driver::established();
    d.input(seg("P.", PEER_ISS + 1, ISS + 1).data(b"unread"));
    d.out();
    d.c.close(d.now).unwrap();
    assert_eq!(d.out(), vec![seg_out("R", ISS + 1, 0).win(0)]);
    assert_eq!(d.state(), Closed);
}

fn send_after_shutdown_is_an_error() {
    let mut d = Driver::established();
    d.c.shutdown_write().unwrap();
    assert_eq!(d.c.send(b"x"), Err(CallError::Closing));
    assert_eq!(
        d.c.shutdown_write(),
        Ok(()),
        "shutting down twice is harmless"
    );
}

// ---------------------------------------------------------------- FIN-WAIT-1 / FIN-WAIT-2

fn fin_wait_1() -> Driver {
    let mut d = Driver::established();
    d.c.shutdown_write().unwrap();
    assert_eq!(d.state(), FinWait1);
    assert_eq!(d.out(), vec![seg_out("F.", ISS + 1, PEER_ISS + 1)]);
    d
}

fn fin_wait_1_ack_of_fin_goes_to_fin_wait_2() {
    let mut d = fin_wait_1();
    d.input(seg(".", PEER_ISS + 1, ISS + 1));
    assert_eq!(
        d.state(),
        FinWait1,
        "an ACK that does not cover the FIN changes nothing"
    );
    d.input(seg(".", PEER_ISS + 1, ISS + 2));
    assert_eq!(d.state(), FinWait2);
    assert_eq!(d.out(), vec![]);
}

fn fin_wait_1_fin_goes_to_closing_then_time_wait() {
    // Simultaneous close (RFC 9293 §3.6, Figure 13).
    let mut d = fin_wait_1();
    d.input(seg("F.", PEER_ISS + 1, ISS + 1));
    assert_eq!(d.state(), Closing);
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 2, PEER_ISS + 2).win(65534)]
    );
    d.input(seg(".", PEER_ISS + 2, ISS + 1));
    assert_eq!(d.state(), Closing, "ACK not covering our FIN is ignored");
    d.input(seg(".", PEER_ISS + 2, ISS + 2));
    assert_eq!(d.state(), TimeWait);
}

fn fin_wait_1_fin_ack_goes_through_fin_wait_2_to_time_wait() {
    let mut d = fin_wait_1();
    d.input(seg("F.", PEER_ISS + 1, ISS + 2));
    assert_eq!(d.state(), TimeWait);
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 2, PEER_ISS + 2).win(65534)]
    );
}

fn fin_wait_2_receives_data_after_half_close() {
    let mut d = fin_wait_1();
    d.input(seg(".", PEER_ISS + 1, ISS + 2));
    d.input(seg("P.", PEER_ISS + 1, ISS + 2).data(b"still talking"));
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 2, PEER_ISS + 14).win(65522)]
    );
    assert_eq!(d.read_all(), b"still talking");
    d.input(seg("F.", PEER_ISS + 14, ISS + 2));
    assert_eq!(d.state(), TimeWait);
    assert_eq!(d.c.recv(&mut [0u8; 1]), Ok(0));
}

fn fin_retransmits_then_times_out() {
    let mut d = fin_wait_1();
    let sent = d.advance(secs(3000));
    assert_eq!(sent.len(), 15);
    assert!(
        sent.iter()
            .all(|(_, s)| s.flags == flags("F.") && s.seq == ISS + 1)
    );
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::TimedOut));
}

fn fin_wait_1_rst_and_abort() {
    let mut d = fin_wait_1();
    d.input(seg("R", PEER_ISS + 1, 0));
    assert_eq!(
        (d.state(), d.c.error()),
        (Closed, Some(ConnError::ConnectionReset))
    );
    let mut d = fin_wait_1();
    d.c.abort();
    assert_eq!(d.out(), vec![seg_out("R", ISS + 2, 0).win(0)]);
    assert_eq!(d.state(), Closed);
}

fn data_after_close_gets_reset() {
    // RFC 1122 §4.2.2.13: after close() (not shutdown), new data is answered with RST.
    let mut d = Driver::established();
    d.c.close(d.now).unwrap();
    assert_eq!(d.out(), vec![seg_out("F.", ISS + 1, PEER_ISS + 1)]);
    d.input(seg("P.", PEER_ISS + 1, ISS + 1).data(b"too late"));
    assert_eq!(d.out(), vec![seg_out("R.", ISS + 2, PEER_ISS + 1).win(0)]);
    assert_eq!(d.state(), Closed);
    // The same in FIN-WAIT-2.
    let mut d = Driver::established();
    d.c.close(d.now).unwrap();
    d.out();
    d.input(seg(".", PEER_ISS + 1, ISS + 2));
    assert_eq!(d.state(), FinWait2);
    d.input(seg("P.", PEER_ISS + 1, ISS + 2).data(b"too late"));
    assert_eq!(d.out(), vec![seg_out("R.", ISS + 2, PEER_ISS + 1).win(0)]);
    assert_eq!(d.state(), Closed);
}

fn fin_wait_2_times_out_after_close() {
    let mut d = Driver::established();
    d.c.close(d.now).unwrap();
    d.out();
    d.input(seg(".", PEER_ISS + 1, ISS + 2));
    assert_eq!(d.state(), FinWait2);
    d.advance(secs(59));
    assert_eq!(d.state(), FinWait2);
    d.advance(secs(1));
    assert_eq!(d.state(), Closed);
    // A half-closed connection (shutdown only) waits in FIN-WAIT-2 as long as it takes.
    let mut d = fin_wait_1();
    d.input(seg(".", PEER_ISS + 1, ISS + 2));
    d.advance(secs(3600));
    assert_eq!(d.state(), FinWait2);
}

fn fin_wait_2_rst_and_abort() {
    let mut d = fin_wait_1();
    d.input(seg(".", PEER_ISS + 1, ISS + 2));
    d.input(seg("R", PEER_ISS + 1, 0));
    assert_eq!(
        (d.state(), d.c.error()),
        (Closed, Some(ConnError::ConnectionReset))
    );
    let mut d = fin_wait_1();
    d.input(seg(".", PEER_ISS + 1, ISS + 2));
    d.c.abort();
    assert_eq!(d.out(), vec![seg_out("R", ISS + 2, 0).win(0)]);
}

// ---------------------------------------------------------------- CLOSE-WAIT / LAST-ACK

fn close_wait() -> Driver {
    let mut d = Driver::established();
    d.input(seg("F.", PEER_ISS + 1, ISS + 1));
    d.out();
    assert_eq!(d.state(), CloseWait);
    d
}

fn close_wait_can_still_send_then_last_ack() {
    let mut d = close_wait();
    d.c.send(b"reply").unwrap();
    d.c.close(d.now).unwrap();
    assert_eq!(d.state(), LastAck);
    let mut fin = seg_out("FP.", ISS + 1, PEER_ISS + 2).data(b"reply");
    fin.win = 65534;
    assert_eq!(d.out(), vec![fin], "data and FIN ride together");
    d.input(seg(".", PEER_ISS + 2, ISS + 3));
    assert_eq!(d.state(), LastAck, "a partial ACK does not finish LAST-ACK");
    d.input(seg(".", PEER_ISS + 2, ISS + 7));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), None);
}

fn close_wait_rst_timeout_abort() {
    let mut d = close_wait();
    d.input(seg("R", PEER_ISS + 2, 0));
    assert_eq!(
        (d.state(), d.c.error()),
        (Closed, Some(ConnError::ConnectionReset))
    );
    let mut d = close_wait();
    d.c.send(b"x").unwrap();
    d.out();
    d.advance(secs(3000));
    assert_eq!(
        (d.state(), d.c.error()),
        (Closed, Some(ConnError::TimedOut))
    );
    let mut d = close_wait();
    d.c.abort();
    assert_eq!(d.out(), vec![seg_out("R", ISS + 1, 0).win(0)]);
}

fn last_ack() -> Driver {
    let mut d = close_wait();
    d.c.close(d.now).unwrap();
    assert_eq!(
        d.out(),
        vec![seg_out("F.", ISS + 1, PEER_ISS + 2).win(65534)]
    );
    d
}

fn last_ack_rst_timeout_abort() {
    let mut d = last_ack();
    d.input(seg("R", PEER_ISS + 2, 0));
    assert_eq!((d.state(), d.c.error()), (Closed, None));
    let mut d = last_ack();
    d.advance(secs(3000));
    assert_eq!(
        (d.state(), d.c.error()),
        (Closed, Some(ConnError::TimedOut))
    );
    let mut d = last_ack();
    d.c.abort();
    assert_eq!(d.out(), vec![], "RFC 9293 §3.10.5: no reset from LAST-ACK");
    assert_eq!(d.state(), Closed);
}

// ---------------------------------------------------------------- CLOSING / TIME-WAIT

fn closing() -> Driver {
    let mut d = fin_wait_1();
    d.input(seg("F.", PEER_ISS + 1, ISS + 1));
    d.out();
    assert_eq!(d.state(), Closing);
    d
}

fn closing_rst_timeout_abort() {
    let mut d = closing();
    d.input(seg("R", PEER_ISS + 2, 0));
    assert_eq!((d.state(), d.c.error()), (Closed, None));
    let mut d = closing();
    d.advance(secs(3000));
    assert_eq!(
        (d.state(), d.c.error()),
        (Closed, Some(ConnError::TimedOut))
    );
    let mut d = closing();
    d.c.abort();
    assert_eq!(d.out(), vec![]);
    assert_eq!(d.state(), Closed);
}

fn time_wait() -> Driver {
    let mut d = fin_wait_1();
    d.input(seg("F.", PEER_ISS + 1, ISS + 2));
    d.out();
    assert_eq!(d.state(), TimeWait);
    d
}

fn time_wait_lasts_2msl() {
    let mut d = time_wait();
    d.advance(secs(59));
    assert_eq!(d.state(), TimeWait);
    d.advance(secs(1));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), None);
}

fn time_wait_reacks_retransmitted_fin_and_restarts() {
    let mut d = time_wait();
    d.advance(secs(50));
    d.input(seg("F.", PEER_ISS + 1, ISS + 2));
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 2, PEER_ISS + 2).win(65534)]
    );
    d.advance(secs(59));
    assert_eq!(d.state(), TimeWait, "the 2MSL wait restarted at 50 s");
    d.advance(secs(1));
    assert_eq!(d.state(), Closed);
}

fn time_wait_other_segments() {
    let mut d = time_wait();
    d.input(seg("P.", PEER_ISS + 2, ISS + 2).data(b"x"));
    assert_eq!(d.state(), TimeWait);
    d.input(seg("S", PEER_ISS + 10, 0));
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 2, PEER_ISS + 2).win(65534)],
        "challenge ACK"
    );
    d.input(seg("R", PEER_ISS + 2, 0));
    assert_eq!(d.state(), Closed);
    let mut d = time_wait();
    d.c.abort();
    assert_eq!(d.state(), Closed);
    assert_eq!(d.out(), vec![]);
}

// ---------------------------------------------------------------- options and PAWS

fn options_negotiated_only_when_both_offer() {
    let config = synack_proto::Config::default();
    // A peer that offers only MSS: the SYN-ACK must offer nothing else.
    let mut d = Driver::new(Connection::listen(&config, LOCAL_PORT, ISS));
    d.input(seg("S", PEER_ISS, 0).mss(1000));
    let out = d.out();
    assert_eq!(out[0].options.mss, Some(1460));
    assert_eq!(out[0].options.window_scale, None);
    assert!(!out[0].options.sack_permitted);
    assert_eq!(out[0].options.timestamps, None);
    d.input(seg(".", PEER_ISS + 1, ISS + 1));
    let info = d.c.info();
    assert_eq!(
        (info.snd_mss, info.snd_wscale, info.rcv_wscale),
        (1000, 0, 0)
    );
    assert!(!info.sack && !info.timestamps);
    // A peer that offers everything gets everything back.
    let mut d = Driver::new(Connection::listen(&config, LOCAL_PORT, ISS));
    d.input(seg("S", PEER_ISS, 0).mss(9000).ws(7).sack_ok().ts(777, 0));
    let out = d.out();
    assert_eq!(out[0].options.window_scale, Some(7));
    assert!(out[0].options.sack_permitted);
    assert_eq!(out[0].options.timestamps.map(|t| t.tsecr), Some(777));
    d.input(seg(".", PEER_ISS + 1, ISS + 1).ts(778, out[0].options.timestamps.unwrap().tsval));
    let info = d.c.info();
    // Our MSS caps the peer's; timestamps take 12 bytes of every segment.
    assert_eq!(
        (info.snd_mss, info.snd_wscale, info.rcv_wscale),
        (1448, 7, 7)
    );
    assert!(info.sack && info.timestamps);
    // No MSS option means 536 (RFC 9293 §3.7.1).
    let mut d = Driver::new(Connection::listen(&plain_config(), LOCAL_PORT, ISS));
    d.input(seg("S", PEER_ISS, 0));
    d.out();
    d.input(seg(".", PEER_ISS + 1, ISS + 1));
    assert_eq!(d.c.info().snd_mss, 536);
}

fn window_scale_applies_after_the_handshake() {
    let config = synack_proto::Config {
        window_scaling: true,
        ..plain_config()
    };
    let mut d = Driver::syn_sent(config);
    d.input(seg("S.", PEER_ISS, ISS + 1).ws(4).win(1000));
    assert_eq!(
        d.c.info().snd_wnd,
        1000,
        "the SYN-ACK's window is never scaled"
    );
    d.out();
    d.input(seg(".", PEER_ISS + 1, ISS + 1).win(1000));
    assert_eq!(d.c.info().snd_wnd, 16000);
}

fn paws_drops_old_timestamps() {
    let config = synack_proto::Config {
        timestamps: true,
        ..plain_config()
    };
    let mut d = Driver::syn_sent(config);
    d.input(seg("S.", PEER_ISS, ISS + 1).ts(1_000, 0));
    d.out();
    d.input(seg("P.", PEER_ISS + 1, ISS + 1).data(b"new").ts(2_000, 0));
    assert_eq!(d.out().len(), 1);
    d.input(seg("P.", PEER_ISS + 4, ISS + 1).data(b"old").ts(1_500, 0));
    let out = d.out();
    assert_eq!(out.len(), 1, "PAWS: ACK and drop");
    assert_eq!(out[0].ack, PEER_ISS + 4);
    assert_eq!(d.read_all(), b"new");
}

// ---------------------------------------------------------------- the registry

type Scenario = (&'static str, fn());

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        const ALL: &[Scenario] = &[$((stringify!($name), $name)),*];
        mod each {
            $( #[test] fn $name() { super::$name(); } )*
        }
    };
}

scenarios!(
    closed_answers_with_reset,
    listen_ignores_rst_and_resets_ack,
    listen_syn_gets_syn_ack,
    listen_close_and_abort,
    cookie_ack_establishes_straight_from_listen,
    syn_sent_sends_syn_with_all_options,
    syn_sent_rst_with_good_ack_is_refused,
    syn_sent_rst_without_ack_is_ignored,
    syn_sent_bad_ack_gets_reset,
    syn_sent_syn_ack_establishes,
    syn_ack_carrying_data_and_fin,
    syn_sent_shutdown_sends_data_and_fin_after_handshake,
    syn_sent_close_and_abort,
    syn_retransmits_at_1_3_7_15_31_63_and_fails_at_127,
    syn_received_ack_establishes,
    syn_received_bad_ack_gets_reset,
    syn_received_rst_returns_to_listen,
    syn_received_new_syn_returns_to_listen,
    syn_received_repeated_syn_gets_syn_ack_again,
    syn_ack_retransmits_then_listen_again,
    syn_received_abort_sends_reset,
    syn_received_close_sends_fin_once_established,
    simultaneous_open,
    simultaneous_open_reset_is_refused,
    simultaneous_open_peer_vanishes,
    established_data_is_acked_and_readable,
    established_old_duplicate_is_reacked_not_redelivered,
    established_future_data_gets_duplicate_ack,
    established_out_of_window_gets_ack,
    established_rst_exact_resets,
    established_rst_in_window_gets_challenge_ack,
    established_rst_out_of_window_is_dropped,
    established_syn_gets_challenge_ack,
    challenge_acks_are_rate_limited,
    established_ack_of_unsent_data_is_dropped_with_ack,
    established_ack_too_old_gets_challenge_ack,
    established_segment_without_ack_is_dropped,
    established_send_respects_peer_window,
    nodelay_sends_the_tail_at_once,
    nagle_classic_and_minshall,
    out_of_window_bare_acks_are_answered_at_most_every_500ms,
    bare_acks_carry_the_highest_sequence_sent_after_a_timeout,
    keepalive_probes_an_idle_connection_and_a_reply_keeps_it,
    keepalive_gives_up_on_a_silent_peer,
    keepalive_is_off_by_default,
    user_timeout_gives_up_on_unacknowledged_data,
    zero_window_is_probed_and_survives,
    unanswered_zero_window_probes_give_up,
    established_fin_goes_to_close_wait,
    established_out_of_order_fin_waits,
    established_abort_sends_reset,
    data_retransmits_with_backoff_then_times_out,
    close_with_unread_data_sends_reset,
    send_after_shutdown_is_an_error,
    fin_wait_1_ack_of_fin_goes_to_fin_wait_2,
    fin_wait_1_fin_goes_to_closing_then_time_wait,
    fin_wait_1_fin_ack_goes_through_fin_wait_2_to_time_wait,
    fin_wait_2_receives_data_after_half_close,
    fin_retransmits_then_times_out,
    fin_wait_1_rst_and_abort,
    data_after_close_gets_reset,
    fin_wait_2_times_out_after_close,
    fin_wait_2_rst_and_abort,
    close_wait_can_still_send_then_last_ack,
    close_wait_rst_timeout_abort,
    last_ack_rst_timeout_abort,
    closing_rst_timeout_abort,
    time_wait_lasts_2msl,
    time_wait_reacks_retransmitted_fin_and_restarts,
    time_wait_other_segments,
    options_negotiated_only_when_both_offer,
    window_scale_applies_after_the_handshake,
    paws_drops_old_timestamps,
);

/// Replays every scenario and checks that together they walk every edge of the table (and
/// none outside it).
#[test]
fn every_transition_row_is_exercised() {
    SEEN.with(|s| s.borrow_mut().clear());
    for (_, f) in ALL {
        f();
    }
    let seen = SEEN.with(|s| s.borrow().clone());
    let missing: Vec<_> = TRANSITIONS.iter().filter(|t| !seen.contains(t)).collect();
    let extra: Vec<_> = seen.iter().filter(|t| !TRANSITIONS.contains(t)).collect();
    assert!(missing.is_empty(), "rows never exercised: {missing:#?}");
    assert!(
        extra.is_empty(),
        "transitions outside the table: {extra:#?}"
    );
}
