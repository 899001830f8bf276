//! Opening a connection: CLOSED and LISTEN, SYN-SENT, SYN-RECEIVED and the simultaneous
//! open (RFC 9293 §3.5, §3.10.7.1-3), SYN cookies (RFC 4987) and the SYN retransmissions.

use synack_proto::{Cause, ConnError, Connection, Event, StateName};

use crate::common::*;

use StateName::*;

pub fn closed_answers_with_reset() {
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

pub fn listen_ignores_rst_and_resets_ack() {
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

pub fn listen_syn_gets_syn_ack() {
    let d = Driver::syn_received();
    let info = d.c.info();
    assert_eq!(info.rcv_nxt, PEER_ISS + 1);
    assert_eq!(info.snd_nxt, ISS + 1);
}

pub fn listen_close_and_abort() {
    let config = plain_config();
    let mut d = Driver::new(Connection::listen(&config, LOCAL_PORT, ISS));
    d.c.close(d.now).unwrap();
    assert_eq!(d.state(), Closed);
    let mut d = Driver::new(Connection::listen(&config, LOCAL_PORT, ISS));
    d.c.abort();
    assert_eq!(d.state(), Closed);
    assert_eq!(d.out(), vec![], "abort in LISTEN sends nothing");
}

pub fn cookie_ack_establishes_straight_from_listen() {
    // RFC 4987 §3.6, through a host (which alone may build a connection from a cookie; the
    // connection-level test is in the crate, `host/tests.rs`): a listener whose SYN queue is
    // full answers a SYN with a cookie and keeps nothing; the ACK returning the cookie brings
    // the connection straight from LISTEN to ESTABLISHED, with the request bytes it carries
    // taken in and acknowledged.
    use crate::common::host::{ACK, Pkt, SYN, addr, drain, events};
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

pub fn syn_sent_sends_syn_with_all_options() {
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

pub fn syn_sent_rst_with_good_ack_is_refused() {
    let mut d = Driver::syn_sent(plain_config());
    d.input(seg("R.", 0, ISS + 1));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::ConnectionRefused));
    assert!(d.events.contains(&Event::Closed {
        error: Some(ConnError::ConnectionRefused)
    }));
    assert_eq!(d.out(), vec![]);
}

pub fn syn_sent_rst_without_ack_is_ignored() {
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

pub fn syn_sent_bad_ack_gets_reset() {
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

pub fn syn_sent_syn_ack_establishes() {
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

pub fn syn_ack_carrying_data_and_fin() {
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

pub fn syn_sent_shutdown_sends_data_and_fin_after_handshake() {
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

pub fn syn_sent_close_and_abort() {
    let mut d = Driver::syn_sent(plain_config());
    d.c.close(d.now).unwrap();
    assert_eq!(d.state(), Closed);
    assert_eq!(d.out(), vec![]);
    let mut d = Driver::syn_sent(plain_config());
    d.c.abort();
    assert_eq!(d.state(), Closed);
    assert_eq!(d.out(), vec![], "abort in SYN-SENT sends no reset");
}

pub fn syn_retransmits_at_1_3_7_15_31_63_and_fails_at_127() {
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

pub fn syn_received_ack_establishes() {
    let mut d = Driver::syn_received();
    d.input(seg(".", PEER_ISS + 1, ISS + 1));
    assert_eq!(d.state(), Established);
    assert_eq!(d.out(), vec![]);
}

pub fn syn_received_bad_ack_gets_reset() {
    let mut d = Driver::syn_received();
    d.input(seg(".", PEER_ISS + 1, ISS + 9));
    assert_eq!(d.out(), vec![seg_out("R", ISS + 9, 0).win(0)]);
    assert_eq!(d.state(), SynReceived);
}

pub fn syn_received_rst_returns_to_listen() {
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

pub fn syn_received_new_syn_returns_to_listen() {
    // RFC 9293 §3.10.7.4 fourth check, passive open: a SYN in the window sends us back to
    // LISTEN.
    let mut d = Driver::syn_received();
    d.input(seg("S", PEER_ISS + 100, 0));
    assert_eq!(d.state(), Listen);
    assert_eq!(d.out(), vec![]);
}

pub fn syn_received_repeated_syn_gets_syn_ack_again() {
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

pub fn syn_ack_retransmits_then_listen_again() {
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

pub fn syn_received_abort_sends_reset() {
    let mut d = Driver::syn_received();
    d.c.abort();
    assert_eq!(d.out(), vec![seg_out("R", ISS + 1, 0).win(0)]);
    assert_eq!(d.state(), Closed);
}

pub fn syn_received_close_sends_fin_once_established() {
    let mut d = Driver::syn_received();
    d.c.close(d.now).unwrap();
    assert_eq!(d.state(), SynReceived);
    assert_eq!(d.out(), vec![]);
    d.input(seg(".", PEER_ISS + 1, ISS + 1));
    assert_eq!(d.state(), FinWait1);
    assert_eq!(d.out(), vec![seg_out("F.", ISS + 1, PEER_ISS + 1)]);
}

pub fn simultaneous_open() {
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

pub fn simultaneous_open_reset_is_refused() {
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

pub fn simultaneous_open_peer_vanishes() {
    let mut d = Driver::syn_sent(plain_config());
    d.input(seg("S", PEER_ISS, 0));
    d.out();
    d.advance(secs(200));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::TimedOut));
}
