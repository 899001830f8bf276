//! Closing: FIN-WAIT-1 and -2, CLOSE-WAIT and LAST-ACK, CLOSING and TIME-WAIT (RFC 9293
//! §3.6, §3.10.7.4), each with its RST, timeout and abort.

use synack_proto::{ConnError, StateName};

use crate::common::*;

use StateName::*;

fn fin_wait_1() -> Driver {
    let mut d = Driver::established();
    d.c.shutdown_write().unwrap();
    assert_eq!(d.state(), FinWait1);
    assert_eq!(d.out(), vec![seg_out("F.", ISS + 1, PEER_ISS + 1)]);
    d
}

/// FIN-WAIT-2 after a shutdown of the sending side: our FIN is acknowledged.
fn fin_wait_2() -> Driver {
    let mut d = fin_wait_1();
    d.input(seg(".", PEER_ISS + 1, ISS + 2));
    assert_eq!(d.state(), FinWait2);
    d
}

/// FIN-WAIT-2 after the user's close (not just a shutdown): the stack finishes it alone.
fn closed_in_fin_wait_2() -> Driver {
    let mut d = Driver::established();
    d.c.close(d.now).unwrap();
    d.out();
    d.input(seg(".", PEER_ISS + 1, ISS + 2));
    assert_eq!(d.state(), FinWait2);
    d
}

/// An acceptable RST at `seq` ends the connection, which then reports `error`.
fn assert_reset_closes(mut d: Driver, seq: u32, error: Option<ConnError>) {
    d.input(seg("R", seq, 0));
    assert_eq!((d.state(), d.c.error()), (Closed, error));
}

/// Nothing acknowledged for 3000 s: the retransmissions run out (RFC 9293 §3.8.3).
fn assert_times_out(mut d: Driver) {
    d.advance(secs(3000));
    assert_eq!(
        (d.state(), d.c.error()),
        (Closed, Some(ConnError::TimedOut))
    );
}

/// ABORT (RFC 9293 §3.10.5) closes at once, sending `sent`.
fn assert_abort_sends(mut d: Driver, sent: Vec<Seg>) {
    d.c.abort();
    assert_eq!(d.out(), sent);
    assert_eq!(d.state(), Closed);
}

pub fn fin_wait_1_ack_of_fin_goes_to_fin_wait_2() {
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

pub fn fin_wait_1_fin_goes_to_closing_then_time_wait() {
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

pub fn fin_wait_1_fin_ack_goes_through_fin_wait_2_to_time_wait() {
    let mut d = fin_wait_1();
    d.input(seg("F.", PEER_ISS + 1, ISS + 2));
    assert_eq!(d.state(), TimeWait);
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 2, PEER_ISS + 2).win(65534)]
    );
}

pub fn fin_wait_2_receives_data_after_half_close() {
    let mut d = fin_wait_2();
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

pub fn fin_retransmits_then_times_out() {
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

pub fn fin_wait_1_rst_and_abort() {
    let reset = Some(ConnError::ConnectionReset);
    assert_reset_closes(fin_wait_1(), PEER_ISS + 1, reset);
    assert_abort_sends(fin_wait_1(), vec![seg_out("R", ISS + 2, 0).win(0)]);
}

pub fn data_after_close_gets_reset() {
    // RFC 1122 §4.2.2.13: after close() (not shutdown), new data is answered with RST.
    let mut d = Driver::established();
    d.c.close(d.now).unwrap();
    assert_eq!(d.out(), vec![seg_out("F.", ISS + 1, PEER_ISS + 1)]);
    d.input(seg("P.", PEER_ISS + 1, ISS + 1).data(b"too late"));
    assert_eq!(d.out(), vec![seg_out("R.", ISS + 2, PEER_ISS + 1).win(0)]);
    assert_eq!(d.state(), Closed);
    // The same in FIN-WAIT-2.
    let mut d = closed_in_fin_wait_2();
    d.input(seg("P.", PEER_ISS + 1, ISS + 2).data(b"too late"));
    assert_eq!(d.out(), vec![seg_out("R.", ISS + 2, PEER_ISS + 1).win(0)]);
    assert_eq!(d.state(), Closed);
}

pub fn fin_wait_2_times_out_after_close() {
    let mut d = closed_in_fin_wait_2();
    d.advance(secs(59));
    assert_eq!(d.state(), FinWait2);
    d.advance(secs(1));
    assert_eq!(d.state(), Closed);
    // A half-closed connection (shutdown only) waits in FIN-WAIT-2 as long as it takes.
    let mut d = fin_wait_2();
    d.advance(secs(3600));
    assert_eq!(d.state(), FinWait2);
}

pub fn fin_wait_2_rst_and_abort() {
    let reset = Some(ConnError::ConnectionReset);
    assert_reset_closes(fin_wait_2(), PEER_ISS + 1, reset);
    assert_abort_sends(fin_wait_2(), vec![seg_out("R", ISS + 2, 0).win(0)]);
}

pub fn close_wait() -> Driver {
    let mut d = Driver::established();
    d.input(seg("F.", PEER_ISS + 1, ISS + 1));
    d.out();
    assert_eq!(d.state(), CloseWait);
    d
}

pub fn close_wait_can_still_send_then_last_ack() {
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

pub fn close_wait_rst_timeout_abort() {
    let reset = Some(ConnError::ConnectionReset);
    assert_reset_closes(close_wait(), PEER_ISS + 2, reset);
    let mut d = close_wait();
    d.c.send(b"x").unwrap();
    d.out();
    assert_times_out(d);
    assert_abort_sends(close_wait(), vec![seg_out("R", ISS + 1, 0).win(0)]);
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

pub fn last_ack_rst_timeout_abort() {
    assert_reset_closes(last_ack(), PEER_ISS + 2, None);
    assert_times_out(last_ack());
    // RFC 9293 §3.10.5: no reset from LAST-ACK.
    assert_abort_sends(last_ack(), vec![]);
}

fn closing() -> Driver {
    let mut d = fin_wait_1();
    d.input(seg("F.", PEER_ISS + 1, ISS + 1));
    d.out();
    assert_eq!(d.state(), Closing);
    d
}

pub fn closing_rst_timeout_abort() {
    assert_reset_closes(closing(), PEER_ISS + 2, None);
    assert_times_out(closing());
    assert_abort_sends(closing(), vec![]);
}

fn time_wait() -> Driver {
    let mut d = fin_wait_1();
    d.input(seg("F.", PEER_ISS + 1, ISS + 2));
    d.out();
    assert_eq!(d.state(), TimeWait);
    d
}

pub fn time_wait_lasts_2msl() {
    let mut d = time_wait();
    d.advance(secs(59));
    assert_eq!(d.state(), TimeWait);
    d.advance(secs(1));
    assert_eq!(d.state(), Closed);
    assert_eq!(d.c.error(), None);
}

pub fn time_wait_reacks_retransmitted_fin_and_restarts() {
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

pub fn time_wait_other_segments() {
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
