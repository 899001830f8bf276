//! Congestion window validation: cwnd grows only while the sender uses it.
//!
//! A sender limited by its application (or by the peer's window) that kept growing cwnd on
//! every ACK would end with a window no round trip ever tested, and could later send it in
//! one burst into a path that cannot take it. RFC 9438 §5.8 has CUBIC not increase cwnd
//! while application-limited; Linux does the same for every controller (`tcp_is_cwnd_limited`).
//! That is the scope here, for CUBIC and NewReno alike, rather than all of RFC 7661: RFC
//! 7661 (Experimental) would also keep an unused cwnd for up to five minutes in place of RFC
//! 5681 §4.1's restart after idle, which synack keeps (as Linux's `tcp_slow_start_after_idle`
//! does), and change the reduction on loss to follow pipeACK. What is taken from RFC 7661 is
//! its test of a validated window in slow start: the flight reached half of cwnd (§4.3's
//! pipeACK ≥ ½·cwnd).
//!
//! The flight is measured where an ACK finds it (what was outstanding before the ACK), and
//! its peak is kept for this round trip and the last, so a window filled once a round, as an
//! ACK-clocked sender does, counts as used.

use crate::seq::SeqNum;

/// The largest flight of the current round trip and of the one before.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct WindowUse {
    peak: u32,
    last_peak: u32,
    /// The round ends when SND.UNA reaches this (SND.MAX when it began).
    round_end: Option<SeqNum>,
}

impl WindowUse {
    /// An ACK found `outstanding` bytes in flight; `una` and `max` are SND.UNA and SND.MAX
    /// after it.
    pub(super) fn on_ack(&mut self, outstanding: u32, una: SeqNum, max: SeqNum) {
        if self.round_end.is_none_or(|end| una.ge(end)) {
            self.last_peak = self.peak;
            self.peak = 0;
            self.round_end = Some(max);
        }
        self.peak = self.peak.max(outstanding);
    }

    /// Whether an ACK finding nothing outstanding, with SND.UNA = SND.MAX = `max`, leaves this
    /// as it is: no peak is left to age out and the round already ends at `max`.
    pub(super) fn at_rest(&self, max: SeqNum) -> bool {
        self.peak == 0 && self.last_peak == 0 && self.round_end == Some(max)
    }

    /// Whether cwnd may grow: in slow start once the flight reached half of it (RFC 7661
    /// §4.3), in congestion avoidance once it filled it to within a segment (RFC 9438 §5.8:
    /// the flow is not application-limited).
    pub(super) fn allows_growth(&self, cwnd: u32, mss: u32, slow_start: bool) -> bool {
        let used = self.peak.max(self.last_peak);
        if slow_start {
            u64::from(used) * 2 >= u64::from(cwnd)
        } else {
            u64::from(used) + u64::from(mss) > u64::from(cwnd)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    #[test]
    fn slow_start_grows_once_half_the_window_was_used() {
        let mut w = WindowUse::default();
        w.on_ack(4 * MSS, SeqNum(1000), SeqNum(4000));
        assert!(!w.allows_growth(10 * MSS, MSS, true));
        w.on_ack(5 * MSS, SeqNum(2000), SeqNum(6000));
        assert!(w.allows_growth(10 * MSS, MSS, true));
    }

    #[test]
    fn avoidance_grows_only_when_the_window_was_filled() {
        let mut w = WindowUse::default();
        w.on_ack(9 * MSS, SeqNum(1000), SeqNum(10_000));
        assert!(!w.allows_growth(10 * MSS, MSS, false));
        w.on_ack(9 * MSS + 1, SeqNum(2000), SeqNum(11_000));
        assert!(w.allows_growth(10 * MSS, MSS, false));
    }

    #[test]
    fn the_peak_of_the_last_round_counts_and_then_ages_out() {
        let mut w = WindowUse::default();
        // Round 1 (to 10 000): the window is filled.
        w.on_ack(10 * MSS, SeqNum(1000), SeqNum(10_000));
        // Round 2 (to 12 000): a small flight, but round 1's peak still counts.
        w.on_ack(2 * MSS, SeqNum(10_000), SeqNum(12_000));
        assert!(w.allows_growth(10 * MSS, MSS, false));
        // Round 3: two rounds without a full window.
        w.on_ack(2 * MSS, SeqNum(12_000), SeqNum(14_000));
        assert!(!w.allows_growth(10 * MSS, MSS, false));
        assert!(!w.allows_growth(10 * MSS, MSS, true));
    }
}
