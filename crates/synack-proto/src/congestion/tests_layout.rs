//! The controller's hot-first layout (see `Congestion`).

use core::mem::offset_of;

use super::Congestion;

#[test]
fn what_every_acknowledgment_and_transmission_reads_fits_one_cache_line() {
    for hot in [
        offset_of!(Congestion, recovery),
        offset_of!(Congestion, window_use),
        offset_of!(Congestion, board),
        offset_of!(Congestion, loss),
        offset_of!(Congestion, mss),
        offset_of!(Congestion, cwnd),
        offset_of!(Congestion, dup_acks),
        offset_of!(Congestion, retransmit_head),
    ] {
        assert!(hot < 64, "{hot}");
    }
    assert!(offset_of!(Congestion, counters) >= 64);
    assert!(offset_of!(Congestion, undo) >= 64);
}
