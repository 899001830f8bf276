//! The retransmission timer's clock: SRTT, RTTVAR and RTO per RFC 6298.

use core::time::Duration;

use crate::config::Config;

/// RFC 6298 §2 estimator with exponential backoff (§5.5). `repr(C)`: SRTT first, the one
/// figure every acknowledgment reads (see `Sender`).
///
/// §2.3's arithmetic runs on whole nanoseconds in `u64`, not on `Duration`s, which normalise
/// seconds and nanoseconds at each step of it: every acknowledgment that carries a sample pays
/// for it. A `Duration` divided by an integer is the floor of its nanoseconds divided by it, so
/// the figures are exactly those `Duration` would give; `u64` nanoseconds reach past 500
/// years, so nothing a clock measures overflows them. SRTT is kept as a `Duration` too, as the
/// timers that read it on every segment take it.
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    /// SRTT in nanoseconds, 0 before the first sample.
    srtt_ns: u64,
    rttvar: u64,
    /// RTO before backoff.
    base_rto: u64,
    min: u64,
    max: u64,
    /// How many times the timer has expired since the last fresh sample (§5.5).
    backoff: u32,
}

/// Clock granularity G of RFC 6298 §2, in nanoseconds: our timestamps are microseconds, but
/// we keep a 1 ms floor under the variance term so a perfectly steady RTT still leaves a
/// margin.
const GRANULARITY: u64 = 1_000_000;

/// A duration in whole nanoseconds, saturating past `u64`'s 584 years.
fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

impl RttEstimator {
    pub fn new(config: &Config) -> RttEstimator {
        RttEstimator {
            srtt: None,
            srtt_ns: 0,
            rttvar: 0,
            base_rto: nanos(config.rto_initial),
            backoff: 0,
            min: nanos(config.rto_min),
            max: nanos(config.rto_max),
        }
    }

    /// Feeds one RTT measurement R (RFC 6298 §2.2 for the first, §2.3 after).
    pub fn sample(&mut self, r: Duration) {
        self.sample_nanos(nanos(r));
    }

    /// [`RttEstimator::sample`] of `r` nanoseconds: a timestamp echo measures whole
    /// milliseconds, with no `Duration` to take apart.
    pub fn sample_nanos(&mut self, r: u64) {
        let srtt = match self.srtt {
            None => {
                self.rttvar = r / 2;
                r
            }
            Some(_) => {
                let srtt = self.srtt_ns;
                let delta = srtt.abs_diff(r);
                self.rttvar = self.rttvar.saturating_mul(3).saturating_add(delta) / 4;
                srtt.saturating_mul(7).saturating_add(r) / 8
            }
        };
        self.srtt_ns = srtt;
        self.srtt = Some(Duration::from_nanos(srtt));
        self.base_rto = srtt
            .saturating_add(self.rttvar.saturating_mul(4).max(GRANULARITY))
            .clamp(self.min, self.max);
        // A fresh sample means the path answers again: drop the backoff (RFC 6298 §5.7 note).
        self.backoff = 0;
    }

    /// The current RTO including backoff, capped at the maximum (§5.5).
    pub fn rto(&self) -> Duration {
        Duration::from_nanos(self.rto_nanos())
    }

    /// [`RttEstimator::rto`] in nanoseconds, for the sender's per-segment checks.
    pub fn rto_nanos(&self) -> u64 {
        let factor = 1u64.checked_shl(self.backoff.min(31)).unwrap_or(u64::MAX);
        self.base_rto.saturating_mul(factor).min(self.max)
    }

    /// The timer expired: double the RTO (§5.5).
    pub fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// RFC 6298 §5.7: when the SYN had to be retransmitted and no sample was taken, use 3 s
    /// once data transfer begins.
    pub fn reset_after_syn_timeout(&mut self) {
        if self.srtt.is_none() {
            self.base_rto = self.base_rto.max(3_000_000_000).min(self.max);
            self.backoff = 0;
        }
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// SRTT in nanoseconds, as `srtt` has it.
    pub fn srtt_nanos(&self) -> Option<u64> {
        self.srtt.map(|_| self.srtt_ns)
    }
    pub fn rttvar(&self) -> Duration {
        Duration::from_nanos(self.rttvar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_rfc6298_formulas() {
        let mut r = RttEstimator::new(&Config::default());
        assert_eq!(r.rto(), Duration::from_secs(1));
        r.sample(Duration::from_millis(100));
        // First sample: SRTT = R, RTTVAR = R/2, RTO = R + 4 * R/2 = 300 ms.
        assert_eq!(r.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(r.rto(), Duration::from_millis(300));
        r.sample(Duration::from_millis(200));
        // RTTVAR = 3/4*50 + 1/4*100 = 62.5 ms; SRTT = 7/8*100 + 1/8*200 = 112.5 ms.
        assert_eq!(r.rttvar(), Duration::from_micros(62_500));
        assert_eq!(r.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(r.rto(), Duration::from_micros(362_500));
        r.back_off();
        r.back_off();
        assert_eq!(r.rto(), Duration::from_micros(1_450_000));
        for _ in 0..40 {
            r.back_off();
        }
        assert_eq!(r.rto(), Duration::from_secs(120));
    }

    #[test]
    fn rto_never_drops_below_the_minimum() {
        let mut r = RttEstimator::new(&Config::default());
        for _ in 0..50 {
            r.sample(Duration::from_micros(50));
        }
        assert_eq!(r.rto(), Duration::from_millis(200));
    }

    #[test]
    fn the_nanosecond_figures_are_those_of_rfc6298_on_durations() {
        // RFC 6298 §2.2–§2.3 and §5.5 written out on `Duration`, fed the same samples (sub-
        // microsecond parts, long RTTs and backoffs included): every figure must agree exactly.
        struct Reference {
            srtt: Option<Duration>,
            rttvar: Duration,
            base: Duration,
        }
        let config = Config::default();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for run in 0..50 {
            let mut ours = RttEstimator::new(&config);
            let mut reference = Reference {
                srtt: None,
                rttvar: Duration::ZERO,
                base: config.rto_initial,
            };
            for step in 0..200 {
                // From a few microseconds to minutes, in nanoseconds.
                let r = Duration::from_nanos(next() % (1u64 << (10 + (run + step) % 27)));
                ours.sample(r);
                let (srtt, rttvar) = match reference.srtt {
                    None => (r, r / 2),
                    Some(s) => ((s * 7 + r) / 8, (reference.rttvar * 3 + s.abs_diff(r)) / 4),
                };
                reference.srtt = Some(srtt);
                reference.rttvar = rttvar;
                reference.base = (srtt + (rttvar * 4).max(Duration::from_millis(1)))
                    .clamp(config.rto_min, config.rto_max);
                assert_eq!(ours.srtt(), reference.srtt, "run {run} step {step}");
                assert_eq!(ours.rttvar(), reference.rttvar, "run {run} step {step}");
                assert_eq!(ours.rto(), reference.base, "run {run} step {step}");
                if step % 50 == 49 {
                    for backoff in 1..8 {
                        ours.back_off();
                        let want = (reference.base * (1 << backoff)).min(config.rto_max);
                        assert_eq!(ours.rto(), want, "run {run} step {step} backoff {backoff}");
                    }
                }
            }
        }
    }
}
