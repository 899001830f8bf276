//! HyStart++ (RFC 9406): leave slow start when the round-trip time starts to climb, before the
//! bottleneck queue overflows, through a slower "conservative slow start" that can go back to
//! slow start if the rise was jitter.
//!
//! The caller owns cwnd and ssthresh. While cwnd < ssthresh it asks [`HyStart::on_ack`] how much
//! to grow cwnd per ACK; when the answer says so it sets ssthresh = cwnd and continues in
//! congestion avoidance. RFC 9406 §4.3 recommends HyStart++ only for the first slow start: after a
//! loss or a timeout ([`HyStart::on_congestion`]) it answers with plain RFC 5681 growth.

use core::time::Duration;

use crate::seq::SeqNum;

/// §4.3 constants.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u32 = 8;
pub(crate) const N_RTT_SAMPLE: u32 = 8;
pub(crate) const CSS_GROWTH_DIVISOR: u32 = 4;
pub(crate) const CSS_ROUNDS: u32 = 5;
/// L: the most a single ACK may grow cwnd by, in segments, for a sender that does not pace
/// (§4.2, after RFC 3465's limit).
pub(crate) const L_NON_PACED: u32 = 8;

/// Where the first slow start stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Standard slow start with the delay-increase check armed.
    SlowStart,
    /// Conservative Slow Start after an RTT rise (§4.2).
    Css,
    /// HyStart++ is finished (left for congestion avoidance, or a loss happened); later slow
    /// starts are plain RFC 5681.
    Done,
}

/// What one ACK in slow start does to cwnd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// Bytes to add to cwnd.
    pub increase: u32,
    /// Set ssthresh = cwnd (after adding `increase`) and go to congestion avoidance: CSS ran for
    /// CSS_ROUNDS rounds without the RTT falling back (§4.2).
    pub enter_congestion_avoidance: bool,
}

/// The HyStart++ state of RFC 9406 §4.2.
#[derive(Clone, Debug)]
pub(crate) struct HyStart {
    phase: Phase,
    /// The end of the current round: SND.NXT when it began. A round ends when it is
    /// acknowledged.
    window_end: Option<SeqNum>,
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_sample_count: u32,
    css_baseline_min_rtt: Option<Duration>,
    css_rounds: u32,
}

impl Default for HyStart {
    fn default() -> Self {
        HyStart::new()
    }
}

impl HyStart {
    pub(crate) fn new() -> HyStart {
        HyStart {
            phase: Phase::SlowStart,
            window_end: None,
            last_round_min_rtt: None,
            current_round_min_rtt: None,
            rtt_sample_count: 0,
            css_baseline_min_rtt: None,
            css_rounds: 0,
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// An ACK in slow start newly acknowledged `acked` bytes; `snd_una` and `snd_nxt` are the
    /// values after processing it; `rtt` is the sample it gave, if any.
    pub(crate) fn on_ack(
        &mut self,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        acked: u32,
        rtt: Option<Duration>,
        mss: u32,
    ) -> Step {
        // RFC 5681 §3.1 growth, capped at L segments per ACK (§4.2).
        let full = acked.min(L_NON_PACED.saturating_mul(mss));
        if self.phase == Phase::Done {
            return Step {
                increase: full,
                enter_congestion_avoidance: false,
            };
        }

        // A round ends when its last byte is acknowledged; the next one runs to today's SND.NXT.
        if self.window_end.is_none_or(|end| snd_una.ge(end)) {
            self.window_end = Some(snd_nxt);
            self.last_round_min_rtt = self.current_round_min_rtt.take();
            self.rtt_sample_count = 0;
            if self.phase == Phase::Css {
                self.css_rounds += 1;
                if self.css_rounds >= CSS_ROUNDS {
                    self.phase = Phase::Done;
                    return Step {
                        increase: full / CSS_GROWTH_DIVISOR,
                        enter_congestion_avoidance: true,
                    };
                }
            }
        }

        if let Some(sample) = rtt {
            self.current_round_min_rtt =
                Some(self.current_round_min_rtt.map_or(sample, |m| m.min(sample)));
            self.rtt_sample_count = self.rtt_sample_count.saturating_add(1);
        }

        let enough = self.rtt_sample_count >= N_RTT_SAMPLE;
        match self.phase {
            Phase::SlowStart => {
                if let (true, Some(current), Some(last)) =
                    (enough, self.current_round_min_rtt, self.last_round_min_rtt)
                {
                    if current >= last.saturating_add(rtt_thresh(last)) {
                        // The queue is building: slow down rather than stop (§4.2).
                        self.phase = Phase::Css;
                        self.css_baseline_min_rtt = Some(current);
                        self.css_rounds = 0;
                    }
                }
            }
            Phase::Css => {
                // The false-alarm test compares a round that began in CSS with the baseline
                // (§4.2: "for CSS rounds"), not the rest of the round CSS began in. There the
                // baseline is the minimum of that round's first samples, and a lower sample
                // later in the same flight says only that the queue came and went within it:
                // without pacing, another flow's slow-start burst ahead of ours raises our
                // first samples and leaves the queue empty for our last ones. Resuming slow
                // start on that doubled the window once more on top of a queue already full,
                // the overshoot two CUBIC flows starting together took.
                let began_in_css = self.css_rounds > 0;
                if let (true, Some(current), Some(baseline)) = (
                    enough && began_in_css,
                    self.current_round_min_rtt,
                    self.css_baseline_min_rtt,
                ) {
                    if current < baseline {
                        // The rise was a false alarm: back to slow start (§4.2).
                        self.phase = Phase::SlowStart;
                        self.css_baseline_min_rtt = None;
                        self.css_rounds = 0;
                    }
                }
            }
            Phase::Done => {}
        }

        let increase = if self.phase == Phase::Css {
            full / CSS_GROWTH_DIVISOR
        } else {
            full
        };
        Step {
            increase,
            enter_congestion_avoidance: false,
        }
    }

    /// A loss, ECN echo or timeout ended slow start (or CSS): the controller's own reduction
    /// applies and HyStart++ is not used again (§4.2, §4.3).
    pub(crate) fn on_congestion(&mut self) {
        self.phase = Phase::Done;
    }
}

/// RttThresh = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms) (§4.2).
pub(crate) fn rtt_thresh(last_round_min_rtt: Duration) -> Duration {
    (last_round_min_rtt / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const MSS: u32 = 1000;

    /// Drives rounds: each round's first ACK acknowledges the previous round's end, so it starts
    /// a new round whose end is what has been sent by then.
    struct Flow {
        end: SeqNum,
    }

    impl Flow {
        fn new() -> Flow {
            Flow { end: SeqNum(5000) }
        }
        fn round_with(&mut self, h: &mut HyStart, rtts: &[Option<u64>]) -> Vec<Step> {
            let start = self.end;
            let n = rtts.len() as u32;
            self.end = start + n * MSS;
            rtts.iter()
                .enumerate()
                .map(|(i, r)| {
                    let una = start + i as u32 * MSS;
                    h.on_ack(una, self.end, MSS, r.map(Duration::from_micros), MSS)
                })
                .collect()
        }
        fn round(&mut self, h: &mut HyStart, rtt_us: u64, samples: usize) -> Vec<Step> {
            let rtts: Vec<Option<u64>> = (0..samples).map(|_| Some(rtt_us)).collect();
            self.round_with(h, &rtts)
        }
    }

    #[test]
    fn thresholds_are_clamped_between_4_and_16_ms() {
        assert_eq!(
            rtt_thresh(Duration::from_millis(10)),
            Duration::from_millis(4)
        );
        assert_eq!(
            rtt_thresh(Duration::from_millis(80)),
            Duration::from_millis(10)
        );
        assert_eq!(
            rtt_thresh(Duration::from_millis(100)),
            Duration::from_micros(12_500)
        );
        assert_eq!(
            rtt_thresh(Duration::from_millis(400)),
            Duration::from_millis(16)
        );
    }

    #[test]
    fn slow_start_grows_by_acked_bytes_up_to_l_segments() {
        let mut h = HyStart::new();
        let s = h.on_ack(SeqNum(10), SeqNum(20), 3 * MSS, None, MSS);
        assert_eq!(s.increase, 3 * MSS);
        let s = h.on_ack(SeqNum(10), SeqNum(20), 20 * MSS, None, MSS);
        assert_eq!(s.increase, 8 * MSS);
        assert!(!s.enter_congestion_avoidance);
    }

    /// Two rounds of eight samples: the phase after the second.
    fn after_two_rounds(first_us: u64, second_us: u64) -> (Phase, Vec<Step>) {
        let mut h = HyStart::new();
        let mut f = Flow::new();
        f.round(&mut h, first_us, 8);
        let steps = f.round(&mut h, second_us, 8);
        (h.phase(), steps)
    }

    #[test]
    fn an_rtt_rise_of_rtt_thresh_enters_css_and_a_smaller_one_does_not() {
        // 100 ms: RttThresh = 12.5 ms.
        assert_eq!(after_two_rounds(100_000, 112_499).0, Phase::SlowStart);
        let (phase, steps) = after_two_rounds(100_000, 112_500);
        assert_eq!(phase, Phase::Css);
        // The eighth sample triggers CSS; that ACK already grows by a quarter.
        let inc: Vec<u32> = steps.iter().map(|s| s.increase).collect();
        assert_eq!(
            inc,
            [MSS, MSS, MSS, MSS, MSS, MSS, MSS, MSS / CSS_GROWTH_DIVISOR]
        );
        // 200 ms would give 25 ms; the clamp makes it 16 ms.
        assert_eq!(after_two_rounds(200_000, 215_999).0, Phase::SlowStart);
        assert_eq!(after_two_rounds(200_000, 216_000).0, Phase::Css);
        // 10 ms would give 1.25 ms; the clamp makes it 4 ms.
        assert_eq!(after_two_rounds(10_000, 13_999).0, Phase::SlowStart);
        assert_eq!(after_two_rounds(10_000, 14_000).0, Phase::Css);
        // The reference moves every round: a slow creep of less than RttThresh per round never
        // triggers.
        let mut h = HyStart::new();
        let mut f = Flow::new();
        let mut rtt = 100_000u64;
        for _ in 0..20 {
            f.round(&mut h, rtt, 8);
            rtt += (rtt / 8).min(16_000) - 1;
        }
        assert_eq!(h.phase(), Phase::SlowStart);
    }

    #[test]
    fn fewer_than_n_rtt_samples_never_leave_slow_start() {
        let mut h = HyStart::new();
        let mut f = Flow::new();
        f.round(&mut h, 10_000, 8);
        // Seven samples of a doubled RTT, plus ACKs without a sample.
        let mut rtts = std::vec![Some(20_000); 7];
        rtts.extend([None, None, None]);
        f.round_with(&mut h, &rtts);
        assert_eq!(h.phase(), Phase::SlowStart);
        // The eighth sample in a round is enough.
        f.round(&mut h, 10_000, 8);
        f.round(&mut h, 20_000, 8);
        assert_eq!(h.phase(), Phase::Css);
    }

    #[test]
    fn css_goes_back_to_slow_start_when_the_rtt_falls_below_the_baseline() {
        let mut h = HyStart::new();
        let mut f = Flow::new();
        f.round(&mut h, 50_000, 8);
        f.round(&mut h, 60_000, 8);
        assert_eq!(h.phase(), Phase::Css);
        // Baseline 60 ms. A round at exactly 60 ms stays in CSS, growing by a quarter.
        let steps = f.round(&mut h, 60_000, 8);
        assert_eq!(h.phase(), Phase::Css);
        assert!(steps.iter().all(|s| s.increase == MSS / 4));
        // Below the baseline after N_RTT_SAMPLE samples: slow start again.
        let steps = f.round(&mut h, 59_000, 8);
        assert_eq!(h.phase(), Phase::SlowStart);
        assert_eq!(steps[6].increase, MSS / 4);
        assert_eq!(steps[7].increase, MSS);
        // And slow start can detect the next rise.
        f.round(&mut h, 59_000, 8);
        f.round(&mut h, 70_000, 8);
        assert_eq!(h.phase(), Phase::Css);
    }

    #[test]
    fn a_lower_sample_late_in_the_round_css_began_in_is_no_false_alarm() {
        let mut h = HyStart::new();
        let mut f = Flow::new();
        f.round(&mut h, 40_000, 8);
        // Another flow's burst ahead of ours: the first eight samples of the round see its
        // queue (CSS begins with a 49 ms baseline), the last ones an empty queue again.
        let mut rtts = std::vec![Some(49_000); 8];
        rtts.extend([Some(40_000); 8]);
        let steps = f.round_with(&mut h, &rtts);
        assert_eq!(h.phase(), Phase::Css);
        assert!(steps[8..].iter().all(|s| s.increase == MSS / 4));
        // A whole round below the baseline is the false alarm §4.2 means.
        f.round(&mut h, 45_000, 8);
        assert_eq!(h.phase(), Phase::SlowStart);
    }

    #[test]
    fn css_rounds_end_in_congestion_avoidance() {
        let mut h = HyStart::new();
        let mut f = Flow::new();
        f.round(&mut h, 30_000, 8);
        f.round(&mut h, 40_000, 8);
        assert_eq!(h.phase(), Phase::Css);
        // The round CSS began in counts as the first; four more complete CSS_ROUNDS.
        for _ in 0..(CSS_ROUNDS - 1) {
            let steps = f.round(&mut h, 45_000, 8);
            assert!(steps.iter().all(|s| !s.enter_congestion_avoidance));
            assert_eq!(h.phase(), Phase::Css);
        }
        let steps = f.round(&mut h, 45_000, 8);
        assert!(steps[0].enter_congestion_avoidance);
        assert_eq!(h.phase(), Phase::Done);
        // Afterwards plain slow-start growth, if the caller is ever below ssthresh again.
        let steps = f.round(&mut h, 100_000, 8);
        assert!(
            steps
                .iter()
                .all(|s| s.increase == MSS && !s.enter_congestion_avoidance)
        );
    }

    #[test]
    fn a_loss_ends_hystart_for_the_connection() {
        let mut h = HyStart::new();
        let mut f = Flow::new();
        f.round(&mut h, 30_000, 8);
        h.on_congestion();
        f.round(&mut h, 300_000, 8);
        f.round(&mut h, 600_000, 8);
        assert_eq!(h.phase(), Phase::Done);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_acks_never_panic_and_growth_stays_bounded(
            acks in proptest::collection::vec(
                (proptest::prelude::any::<u32>(), proptest::prelude::any::<u32>(), proptest::prelude::any::<u32>(),
                 proptest::option::of(proptest::prelude::any::<u64>()), 1u32..70_000),
                1..200,
            ),
        ) {
            let mut h = HyStart::new();
            for (una, nxt, acked, rtt, mss) in acks {
                let step = h.on_ack(SeqNum(una), SeqNum(nxt), acked, rtt.map(Duration::from_nanos), mss);
                proptest::prop_assert!(step.increase <= acked.min(L_NON_PACED.saturating_mul(mss)));
                if step.enter_congestion_avoidance {
                    proptest::prop_assert_eq!(h.phase(), Phase::Done);
                }
            }
        }
    }

    #[test]
    fn the_largest_rtt_samples_do_not_overflow() {
        let mut h = HyStart::new();
        for round in 0..3u32 {
            for _ in 0..N_RTT_SAMPLE {
                let una = SeqNum(round * 100);
                h.on_ack(una, una + 100, MSS, Some(Duration::MAX), MSS);
            }
        }
        assert_eq!(h.phase(), Phase::Css);
    }
}
