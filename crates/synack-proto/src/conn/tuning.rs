//! Buffer auto-tuning. The receive buffer grows with what the application consumes per round
//! trip (dynamic right-sizing, the idea behind Linux's `tcp_rcv_space_adjust`); the send buffer
//! grows with what the congestion and peer windows let us keep in flight. Both only ever grow,
//! and never past their configured maximum, so a connection's memory stays bounded.

use core::time::Duration;

use crate::seq::SeqNum;
use crate::time::Instant;

/// A round trip as the receiver sees it, for pacing the receive-buffer measurements.
///
/// A pure receiver takes no RTT samples of its own data, so it needs its own estimate: from the
/// TSecr of arriving data (the peer echoes the TSval of our latest ACK, RFC 7323 §4), or without
/// timestamps from how long one advertised window takes to arrive, which is at least one round
/// trip when the sender is window-limited and longer otherwise. A long estimate is not the safe
/// side: each tuning measurement then spans more reading, so a slow reader looks fast and the
/// buffer grows. So a window-timed sample only ever lowers the estimate (as Linux's
/// `tcp_rcv_rtt_measure` does): a window delayed by a stall or a retransmission timeout, or
/// held back by a peer on purpose, is no longer taken for the round trip.
#[derive(Clone, Debug, Default)]
pub(crate) struct RcvRtt {
    /// The estimate in nanoseconds, 0 for none yet (a sample is never below a millisecond).
    /// Kept as an integer because a timestamped sample arrives with every data segment: the
    /// average in `Duration`s, which keeps seconds and nanoseconds apart, costs several times
    /// the instructions of the same average in one integer.
    estimate_ns: u64,
    /// Without timestamps: the edge advertised when the current window measurement began.
    window_mark: Option<(SeqNum, Instant)>,
}

/// Nanoseconds of the shortest sample: a millisecond, TSval's tick.
const MIN_SAMPLE_NS: u64 = 1_000_000;

impl RcvRtt {
    pub fn estimate(&self) -> Option<Duration> {
        (self.estimate_ns != 0).then(|| Duration::from_nanos(self.estimate_ns))
    }

    fn sample_ns(&mut self, r: u64) {
        let r = r.max(MIN_SAMPLE_NS);
        let e = self.estimate_ns;
        // A shorter round trip is believed at once (a queue has drained); a longer one only
        // gradually, so one late echo does not stall the tuning. No estimate yet (0) is
        // shorter than any sample.
        self.estimate_ns = if e != 0 && r >= e { (e * 7 + r) / 8 } else { r };
    }

    /// In-order data arrived carrying `tsecr`, an echo of our TSval clock that reads `now_ts`.
    pub fn on_echo(&mut self, now_ts: u32, tsecr: u32) {
        let ms = now_ts.wrapping_sub(tsecr);
        // Zero echoes nothing; a value from the future or from long ago is no measurement.
        if tsecr != 0 && ms < 1 << 30 {
            self.sample_ns(u64::from(ms) * 1_000_000);
        }
    }

    /// In-order data arrived without timestamps: RCV.NXT is now `nxt`, and `edge` is the right
    /// edge we have advertised.
    pub fn on_data(&mut self, now: Instant, nxt: SeqNum, edge: SeqNum) {
        match self.window_mark {
            Some((mark, since)) if nxt.ge(mark) => {
                let micros = now.as_micros().saturating_sub(since.as_micros());
                let r = micros.saturating_mul(1_000).max(MIN_SAMPLE_NS);
                if self.estimate_ns == 0 || r < self.estimate_ns {
                    self.estimate_ns = r;
                }
                self.window_mark = Some((edge, now));
            }
            Some(_) => {}
            None => self.window_mark = Some((edge, now)),
        }
    }
}

/// Receive-buffer sizing from the application's measured consumption rate.
#[derive(Clone, Debug)]
pub(crate) struct RecvTuner {
    /// The buffer never grows past this.
    max: usize,
    /// Bytes consumed in the busiest round trip measured so far.
    space: usize,
    /// Start of the current measurement: when, and how many bytes had been read by then.
    since: Option<(Instant, u64)>,
}

/// Segments of slack added to the wanted buffer, so a slow start that outgrows the last
/// measurement still finds room (and a small flow is not held to a few segments).
const SLACK_SEGMENTS: usize = 16;

impl RecvTuner {
    /// `initial` and `max` are the buffer's sizes; `mss` is the largest segment the peer sends.
    pub fn new(initial: usize, max: usize, mss: usize) -> RecvTuner {
        RecvTuner {
            max: max.max(initial),
            // Before any measurement, assume the peer's initial window (RFC 6928) is being read
            // each round trip, so only a faster reader makes the buffer grow.
            space: (10 * mss).min(initial).max(1),
            since: None,
        }
    }

    /// The user fixed the buffer's size: it never grows past it.
    pub fn lock(&mut self, size: usize) {
        self.max = size;
    }

    /// The application has read; `read_total` counts every byte it has read so far. Once a
    /// round trip `rtt` has passed since the last measurement, returns the buffer size wanted:
    /// enough for two round trips of what was consumed in the last (data arrives while the
    /// previous window is being read), doubled again while the rate is still climbing.
    pub fn on_read(
        &mut self,
        now: Instant,
        read_total: u64,
        rtt: Duration,
        capacity: usize,
        mss: usize,
    ) -> usize {
        let Some((start, read_then)) = self.since else {
            self.since = Some((now, read_total));
            return capacity;
        };
        if now.saturating_duration_since(start) < rtt {
            return capacity;
        }
        self.since = Some((now, read_total));
        let copied = usize::try_from(read_total - read_then).unwrap_or(usize::MAX);
        if copied <= self.space {
            return capacity;
        }
        // How much the rate grew since the best round trip before, in quarters, at most 2x:
        // slow start doubles the sender's window every round trip.
        let growth_quarters = (copied.saturating_mul(4) / self.space).min(8);
        self.space = copied;
        let wanted = copied.saturating_mul(2).saturating_mul(growth_quarters) / 4;
        let wanted = wanted.saturating_add(SLACK_SEGMENTS.saturating_mul(mss));
        capacity.max(wanted.min(self.max))
    }
}

/// The send buffer wanted for a congestion window of `cwnd` and a peer that has offered at most
/// `max_wnd`: twice what can be in flight, so the application can refill the buffer for the
/// next round trip while this one's data waits for its ACK (Linux sizes it the same way).
pub(crate) fn send_buffer_wanted(cwnd: u32, max_wnd: u32) -> usize {
    (cwnd.min(max_wnd) as usize).saturating_mul(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    #[test]
    fn a_reader_keeping_up_with_a_growing_rate_grows_the_buffer_up_to_the_max() {
        let mss = 1000;
        let mut t = RecvTuner::new(64_000, 1_000_000, mss);
        let rtt = ms(10);
        let mut read = 0u64;
        let mut cap = 64_000;
        assert_eq!(t.on_read(Instant::ZERO, read, rtt, cap, mss), cap);
        // Each round trip the reader takes twice what it took the round trip before.
        let mut per_rtt = 20_000u64;
        for i in 1..=8u64 {
            read += per_rtt;
            let next = t.on_read(Instant::from_millis(10 * i), read, rtt, cap, mss);
            assert!(next >= cap, "never shrinks");
            assert!(next <= 1_000_000, "never past the max");
            cap = next;
            per_rtt *= 2;
        }
        assert_eq!(cap, 1_000_000);
    }

    #[test]
    fn reads_within_one_round_trip_are_one_measurement() {
        let mss = 1000;
        let mut t = RecvTuner::new(64_000, 1_000_000, mss);
        t.on_read(Instant::ZERO, 0, ms(50), 64_000, mss);
        // 400 kB read, but the round trip is not over: no decision yet.
        assert_eq!(
            t.on_read(Instant::from_millis(49), 400_000, ms(50), 64_000, mss),
            64_000
        );
        let grown = t.on_read(Instant::from_millis(50), 400_000, ms(50), 64_000, mss);
        assert!(grown > 400_000, "{grown}");
    }

    #[test]
    fn a_slow_reader_leaves_the_buffer_alone() {
        let mss = 1000;
        let mut t = RecvTuner::new(64_000, 1_000_000, mss);
        let mut read = 0;
        for i in 0..100u64 {
            read += 2_000;
            assert_eq!(
                t.on_read(Instant::from_millis(10 * i), read, ms(10), 64_000, mss),
                64_000
            );
        }
    }

    #[test]
    fn receiver_rtt_takes_lower_samples_at_once_and_higher_ones_slowly() {
        let mut r = RcvRtt::default();
        r.on_echo(1_000, 900);
        assert_eq!(r.estimate(), Some(ms(100)));
        r.on_echo(2_000, 1_820);
        assert_eq!(r.estimate(), Some(ms(110)), "(7 * 100 + 180) / 8");
        r.on_echo(3_000, 2_990);
        assert_eq!(r.estimate(), Some(ms(10)));
        r.on_echo(3_000, 0);
        r.on_echo(3_000, 3_005);
        assert_eq!(
            r.estimate(),
            Some(ms(10)),
            "no echo, or one from the future"
        );
    }

    #[test]
    fn without_timestamps_one_window_takes_one_measured_round_trip() {
        let mut r = RcvRtt::default();
        let t = Instant::from_millis;
        r.on_data(t(0), SeqNum(100), SeqNum(1100));
        r.on_data(t(5), SeqNum(600), SeqNum(1600));
        assert_eq!(r.estimate(), None);
        r.on_data(t(30), SeqNum(1100), SeqNum(2100));
        assert_eq!(r.estimate(), Some(ms(30)));
    }

    #[test]
    fn a_stalled_window_does_not_stretch_the_round_trip_without_timestamps() {
        // A window that took two minutes to arrive (the sender stalled on a retransmission
        // timeout, or a peer paused on purpose) says nothing about the round trip; believing
        // it would make each tuning measurement span minutes of reading, and a slow reader
        // would look fast enough to grow the buffer.
        let mut r = RcvRtt::default();
        let t = Instant::from_millis;
        r.on_data(t(0), SeqNum(100), SeqNum(1100));
        r.on_data(t(30), SeqNum(1100), SeqNum(2100));
        assert_eq!(r.estimate(), Some(ms(30)));
        r.on_data(t(120_030), SeqNum(2100), SeqNum(3100));
        assert_eq!(r.estimate(), Some(ms(30)));
        r.on_data(t(120_050), SeqNum(3100), SeqNum(4100));
        assert_eq!(r.estimate(), Some(ms(20)), "a shorter window is believed");
    }

    #[test]
    fn send_buffer_follows_the_smaller_of_cwnd_and_the_peer_window() {
        assert_eq!(send_buffer_wanted(100_000, 1 << 20), 200_000);
        assert_eq!(send_buffer_wanted(10_000_000, 65_535), 131_070);
    }
}
