//! The TCB's hot-first layout: what every segment touches leads each struct, so with many
//! connections open a segment waits for few cache lines (see `Connection`).

use core::mem::{offset_of, size_of};

use super::Connection;
use super::recv::Receiver;
use super::send::Sender;
use super::state::{SynSent, Synced};

#[test]
fn the_connections_own_hot_fields_come_before_its_state_and_the_rare_ones_after() {
    // The clock, liveness, timers, events, settings and flags: under three cache lines.
    assert_eq!(offset_of!(Connection, clock), 0);
    assert!(offset_of!(Connection, state) <= 160);
    for rare in [
        offset_of!(Connection, challenge_window),
        offset_of!(Connection, dropped_segments),
        offset_of!(Connection, last_info),
        offset_of!(Connection, last_oow_ack),
    ] {
        assert!(rare > offset_of!(Connection, state));
    }
}

#[test]
fn every_state_with_a_sender_holds_it_first_and_its_receiver_right_after() {
    assert_eq!(offset_of!(Synced, snd), 0);
    assert_eq!(offset_of!(SynSent, snd), 0);
    // The phase's one time between them, where it shares the receiver's first line.
    assert_eq!(offset_of!(Synced, phase_time), size_of::<Sender>());
    assert_eq!(
        offset_of!(Synced, rcv),
        size_of::<Sender>() + size_of::<Option<crate::time::Instant>>()
    );
}

#[test]
fn the_sequence_variables_lead_the_sender_and_receiver() {
    // The send sequence space in the sender's first line, then the buffer, the host's
    // retransmission count and the congestion controller, whose hot first line ends within
    // the sender's first three; the RTT estimate behind it, counters last.
    assert_eq!(offset_of!(Sender, una), 0);
    assert!(offset_of!(Sender, fin_seq) < 64);
    assert!(offset_of!(Sender, wscale) < 64);
    // What only a handshake or a write that was cut short sets, behind the counters.
    assert!(offset_of!(Sender, syn_retransmitted) > offset_of!(Sender, rto_expirations));
    assert!(offset_of!(Sender, segs_retransmitted) < offset_of!(Sender, cc));
    assert!(offset_of!(Sender, cc) + 64 <= 192);
    assert!(offset_of!(Sender, cc) < offset_of!(Sender, rtt));
    assert!(offset_of!(Sender, rtt) < offset_of!(Sender, bytes_acked));
    assert_eq!(offset_of!(Receiver, nxt), 0);
    assert!(offset_of!(Receiver, wscale) < 64);
    assert!(offset_of!(Receiver, ts_recent) > offset_of!(Receiver, wscale));
    // The out-of-order store's pointer, then the buffer (its length first): what an
    // in-order segment reads of the receiver ends 40 bytes in.
    let (ooo, buf) = super::recv::ooo_and_buf_offsets();
    assert!(ooo < buf);
    assert!(buf <= 32);
}
