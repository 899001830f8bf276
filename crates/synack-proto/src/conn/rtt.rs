//! The retransmission timer's clock: SRTT, RTTVAR and RTO per RFC 6298.

use core::time::Duration;

use crate::config::Config;

/// RFC 6298 §2 estimator with exponential backoff (§5.5). `repr(C)`: SRTT first, the one
/// figure every acknowledgment reads (see `Sender`).
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    /// RTO before backoff.
    base_rto: Duration,
    min: Duration,
    max: Duration,
    /// How many times the timer has expired since the last fresh sample (§5.5).
    backoff: u32,
}

/// Clock granularity G of RFC 6298 §2: our timestamps are microseconds, but we keep a 1 ms
/// floor under the variance term so a perfectly steady RTT still leaves a margin.
const GRANULARITY: Duration = Duration::from_millis(1);

impl RttEstimator {
    pub fn new(config: &Config) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            base_rto: config.rto_initial,
            backoff: 0,
            min: config.rto_min,
            max: config.rto_max,
        }
    }

    /// Feeds one RTT measurement R (RFC 6298 §2.2 for the first, §2.3 after).
    pub fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        self.base_rto = (srtt + (self.rttvar * 4).max(GRANULARITY)).clamp(self.min, self.max);
        // A fresh sample means the path answers again: drop the backoff (RFC 6298 §5.7 note).
        self.backoff = 0;
    }

    /// The current RTO including backoff, capped at the maximum (§5.5).
    pub fn rto(&self) -> Duration {
        let factor = 1u32.checked_shl(self.backoff.min(31)).unwrap_or(u32::MAX);
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
            self.base_rto = self.base_rto.max(Duration::from_secs(3)).min(self.max);
            self.backoff = 0;
        }
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }
    pub fn rttvar(&self) -> Duration {
        self.rttvar
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
}
