//! ESTABLISHED: what is acceptable (RFC 9293 §3.10.7.4), RST and SYN checks with challenge
//! ACKs (RFC 5961), Nagle, keepalive (RFC 1122 §4.2.3.6), the user timeout, zero-window
//! probes and retransmission up to the connection's end.

use std::time::Duration;

use synack_proto::{CallError, Cause, Config, ConnError, Event, Nagle, StateName};

use super::close::close_wait;
use crate::common::*;

use StateName::*;

pub fn established_data_is_acked_and_readable() {
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

pub fn established_old_duplicate_is_reacked_not_redelivered() {
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

pub fn established_future_data_gets_duplicate_ack() {
    let mut d = Driver::established();
    d.input(seg("P.", PEER_ISS + 101, ISS + 1).data(b"late"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
    assert_eq!(d.read_all(), b"");
}

pub fn established_out_of_window_gets_ack() {
    let mut d = Driver::established();
    d.input(seg("P.", PEER_ISS + 1 + 70_000, ISS + 1).data(b"far"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
    d.input(seg(".", PEER_ISS.wrapping_sub(5000), ISS + 1));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
}

pub fn established_rst_exact_resets() {
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

pub fn established_rst_in_window_gets_challenge_ack() {
    // RFC 5961 §3.2.
    let mut d = Driver::established();
    d.input(seg("R", PEER_ISS + 100, 0));
    assert_eq!(d.state(), Established);
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
}

pub fn established_rst_out_of_window_is_dropped() {
    let mut d = Driver::established();
    d.input(seg("R", PEER_ISS + 1 + 100_000, 0));
    d.input(seg("R", PEER_ISS, 0));
    assert_eq!(d.state(), Established);
    assert_eq!(d.out(), vec![]);
}

pub fn established_syn_gets_challenge_ack() {
    // RFC 5961 §4.2: a SYN in any synchronized state draws a challenge ACK, not a reset.
    let mut d = Driver::established();
    d.input(seg("S", PEER_ISS + 10, 0));
    assert_eq!(d.state(), Established);
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
    d.input(seg("S", PEER_ISS, 0));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
}

pub fn challenge_acks_are_rate_limited() {
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

pub fn established_ack_of_unsent_data_is_dropped_with_ack() {
    let mut d = Driver::established();
    d.input(seg("P.", PEER_ISS + 1, ISS + 500).data(b"evil"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
    assert_eq!(
        d.read_all(),
        b"",
        "the data of a segment that ACKs the future is dropped"
    );
}

pub fn established_ack_too_old_gets_challenge_ack() {
    let mut d = Driver::established();
    // The peer's window was 65535; an ACK more than that far behind SND.UNA is suspicious.
    d.input(seg("P.", PEER_ISS + 1, (ISS + 1).wrapping_sub(70_000)).data(b"evil"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
    assert_eq!(d.read_all(), b"");
}

pub fn established_segment_without_ack_is_dropped() {
    let mut d = Driver::established();
    d.input(seg("P", PEER_ISS + 1, 0).data(b"noack"));
    assert_eq!(d.out(), vec![]);
    assert_eq!(d.read_all(), b"");
}

pub fn established_send_respects_peer_window() {
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

pub fn nagle_classic_and_minshall() {
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

pub fn nodelay_sends_the_tail_at_once() {
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

pub fn a_blocked_writers_tail_waits_behind_two_full_segments() {
    // A buffer of two full segments and 540 bytes, and a writer with more than that to say.
    let small = |send_buffer| {
        Driver::established_with(Config {
            send_buffer,
            send_buffer_max: send_buffer,
            ..plain_config()
        })
    };
    let lens = |d: &mut Driver| -> Vec<usize> { d.out().iter().map(|s| s.payload.len()).collect() };
    let mut d = small(3460);
    assert_eq!(d.c.send(&[7u8; 5000]), Ok(3460));
    // The tail is not the end of what the writer has: it waits, and the ACK the two full
    // segments draw makes the room that completes it.
    assert_eq!(lens(&mut d), vec![1460, 1460]);
    d.input(seg(".", PEER_ISS + 1, ISS + 2921));
    assert_eq!(d.c.send(&[7u8; 5000]), Ok(2920));
    assert_eq!(lens(&mut d), vec![1460, 1460]);
    d.input(seg(".", PEER_ISS + 1, ISS + 5841));
    // A writer that has said all it had is not waited for: its tail goes (Minshall).
    assert_eq!(d.c.send(&[7u8; 2000]), Ok(2000));
    assert_eq!(lens(&mut d), vec![1460, 1080]);
    // The same with room in the buffer but a limit on unsent data: sending the full segments
    // tells the writer there is room again, and the tail still waits for what it will write.
    let mut d = Driver::established_with(Config {
        notsent_lowat: Some(3460),
        ..plain_config()
    });
    assert_eq!(d.c.send(&[7u8; 5000]), Ok(3460));
    assert_eq!(lens(&mut d), vec![1460, 1460]);
    // Behind one full segment the tail goes too: that one's ACK may be delayed.
    let mut d = small(2000);
    assert_eq!(d.c.send(&[7u8; 5000]), Ok(2000));
    assert_eq!(lens(&mut d), vec![1460, 540]);
    // Unless that segment leaves the peer's window no room for another full one: then the
    // window update that reopens it is the ACK, and the tail waits for it.
    let mut d = small(2000);
    d.input(seg(".", PEER_ISS + 1, ISS + 1).win(2000));
    assert_eq!(d.c.send(&[7u8; 5000]), Ok(2000));
    assert_eq!(lens(&mut d), vec![1460]);
    d.input(seg(".", PEER_ISS + 1, ISS + 1461).win(2000));
    assert_eq!(d.c.send(&[7u8; 5000]), Ok(1460));
    assert_eq!(lens(&mut d), vec![1460]);
}

pub fn out_of_window_bare_acks_are_answered_at_most_every_500ms() {
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

pub fn bare_acks_carry_the_highest_sequence_sent_after_a_timeout() {
    // Interactive ACKs off: the data sent right after the handshake would otherwise make the
    // arrival's ACK wait for a reply, and this is about the bare ACK.
    let mut d = Driver::established_with(Config {
        interactive_acks: false,
        ..plain_config()
    });
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

pub fn keepalive_probes_an_idle_connection_and_a_reply_keeps_it() {
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

pub fn keepalive_gives_up_on_a_silent_peer() {
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

pub fn keepalive_is_off_by_default() {
    let mut d = Driver::established();
    assert!(d.advance(secs(100_000)).is_empty());
    assert_eq!(d.state(), Established);
}

pub fn user_timeout_gives_up_on_unacknowledged_data() {
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

pub fn zero_window_is_probed_and_survives() {
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

pub fn unanswered_zero_window_probes_give_up() {
    let mut d = Driver::established();
    d.input(seg(".", PEER_ISS + 1, ISS + 1).win(0));
    d.c.send(b"hello").unwrap();
    d.out();
    d.advance(secs(5000));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), Some(ConnError::TimedOut));
}

pub fn established_fin_goes_to_close_wait() {
    let mut d = Driver::established();
    d.input(seg("F.", PEER_ISS + 1, ISS + 1));
    assert_eq!(d.state(), CloseWait);
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 1, PEER_ISS + 2).win(65534)]
    );
    assert_eq!(d.c.recv(&mut [0u8; 4]), Ok(0));
}

pub fn established_out_of_order_fin_waits() {
    let mut d = Driver::established();
    d.input(seg("F.", PEER_ISS + 5, ISS + 1));
    assert_eq!(d.state(), Established, "a FIN after a gap is not processed");
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, PEER_ISS + 1)]);
}

pub fn established_abort_sends_reset() {
    let mut d = Driver::established();
    d.c.abort();
    assert_eq!(d.out(), vec![seg_out("R", ISS + 1, 0).win(0)]);
    assert_eq!(
        d.c.send(b"x"),
        Err(CallError::Ended(ConnError::ConnectionAborted))
    );
}

pub fn data_retransmits_with_backoff_then_times_out() {
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

pub fn close_with_unread_data_sends_reset() {
    let mut d = Driver::established();
    d.input(seg("P.", PEER_ISS + 1, ISS + 1).data(b"unread"));
    d.out();
    d.c.close(d.now).unwrap();
    assert_eq!(d.out(), vec![seg_out("R", ISS + 1, 0).win(0)]);
    assert_eq!(d.state(), Closed);
}

pub fn send_after_shutdown_is_an_error() {
    let mut d = Driver::established();
    d.c.shutdown_write().unwrap();
    assert_eq!(d.c.send(b"x"), Err(CallError::Closing));
    assert_eq!(
        d.c.shutdown_write(),
        Ok(()),
        "shutting down twice is harmless"
    );
}
