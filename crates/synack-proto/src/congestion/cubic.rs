//! CUBIC window growth and reduction (RFC 9438), in bytes and integer arithmetic.
//!
//! The core is `no_std` without a float library, so the cubic curve is evaluated in fixed point:
//! time in microseconds, windows in bytes, cube roots by bisection on integers. The controller
//! only answers "what is cwnd now"; the caller keeps cwnd and ssthresh, decides between slow
//! start (plain or HyStart++) and congestion avoidance, and calls [`Cubic::on_ack`] only in
//! congestion avoidance (cwnd ≥ ssthresh) and only when the flow was not application-limited
//! (RFC 9438 §5.8).

use core::time::Duration;

use crate::time::Instant;

/// C = 0.4 segments / s³ (RFC 9438 §4.1.1), as a fraction.
const C_NUM: u128 = 4;
const C_DEN: u128 = 10;
/// β_cubic = 0.7 (§4.1.1).
const BETA_NUM: u64 = 7;
const BETA_DEN: u64 = 10;
/// α_cubic = 3(1 − β)/(1 + β) = 0.9/1.7 = 9/17 (§4.3): with it, AIMD(α, β) has Reno's average
/// window.
const ALPHA_NUM: u64 = 9;
const ALPHA_DEN: u64 = 17;
/// One second cubed, in µs³.
const MICROS3_PER_SEC3: u128 = 1_000_000_000_000_000_000;
/// |t − K| is clamped here (about 19 hours) so the cube times the MSS fits in an i128; the target
/// is clamped to 1.5·cwnd long before that matters.
const MAX_OFFSET_US: i128 = 1 << 36;

/// What a congestion event changed, kept so a spurious one can be undone (RFC 9438 §4.9).
#[derive(Clone, Copy, Debug)]
struct Prior {
    cwnd: u32,
    ssthresh: u32,
    w_max: Option<u64>,
    cwnd_prior: u64,
    epoch: Option<Epoch>,
    after_timeout: bool,
}

/// One congestion-avoidance stage: t = 0 at its first ACK (§4.2).
#[derive(Clone, Copy, Debug)]
struct Epoch {
    start: Instant,
    /// K in microseconds; negative when the stage began above W_max (the curve is then already
    /// convex at t = 0, and W_cubic(0) = cwnd_epoch still holds).
    k_us: i64,
    /// W_max for this stage, bytes.
    w_max: u64,
    /// The Reno-friendly estimate W_est in bytes (§4.3) and the remainder of its last division.
    w_est: u64,
    w_est_rem: u64,
}

/// CUBIC's state between ACKs (RFC 9438 §4.1.2).
#[derive(Clone, Debug)]
pub(crate) struct Cubic {
    /// Fast convergence (§4.7); on by default as the RFC recommends.
    fast_convergence: bool,
    /// W_max in bytes: the window just before the last reduction, after fast convergence. None
    /// before the first congestion event.
    w_max: Option<u64>,
    /// cwnd_prior in bytes: cwnd when ssthresh was last set; W_est switches α to 1 there (§4.3).
    cwnd_prior: u64,
    epoch: Option<Epoch>,
    /// The last reduction was a retransmission timeout: the next stage starts with K = 0 and
    /// W_max = its cwnd (§4.8).
    after_timeout: bool,
    /// Sub-byte remainder of the per-ACK increase (target − cwnd)·acked / cwnd.
    inc_rem: u64,
    prior: Option<Prior>,
}

impl Default for Cubic {
    fn default() -> Self {
        Cubic::new()
    }
}

impl Cubic {
    pub(crate) fn new() -> Cubic {
        Cubic {
            fast_convergence: true,
            w_max: None,
            cwnd_prior: 0,
            epoch: None,
            after_timeout: false,
            inc_rem: 0,
            prior: None,
        }
    }

    pub(crate) fn set_fast_convergence(&mut self, on: bool) {
        self.fast_convergence = on;
    }

    /// W_max in bytes, if a congestion event has set it.
    pub(crate) fn w_max(&self) -> Option<u64> {
        self.w_max
    }

    /// K of the current congestion-avoidance stage, if one has begun.
    pub(crate) fn k(&self) -> Option<i64> {
        self.epoch.map(|e| e.k_us)
    }

    /// W_est of the current stage in bytes, if one has begun.
    pub(crate) fn w_est(&self) -> Option<u64> {
        self.epoch.map(|e| e.w_est)
    }

    /// An ACK for `acked` bytes arrived in congestion avoidance; returns the new cwnd (never
    /// smaller than `cwnd`). `rtt` is the smoothed RTT, used to aim at W_cubic one round trip
    /// ahead (§4.2).
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        acked: u32,
        cwnd: u32,
        mss: u32,
        rtt: Duration,
    ) -> u32 {
        let mss64 = u64::from(mss.max(1));
        let cwnd64 = u64::from(cwnd.max(1));
        let mut epoch = match self.epoch {
            Some(e) => e,
            None => self.start_epoch(now, cwnd64, mss64),
        };

        // §4.3: W_est grows by α·(segments acked)/cwnd segments; α becomes 1 once W_est has
        // reached the window at which ssthresh was last set.
        // Both α values over the same denominator, so the carried remainder keeps its unit.
        let a_num = if epoch.w_est >= self.cwnd_prior {
            ALPHA_DEN
        } else {
            ALPHA_NUM
        };
        let num =
            u128::from(a_num) * u128::from(acked) * u128::from(mss64) + u128::from(epoch.w_est_rem);
        let den = u128::from(ALPHA_DEN * cwnd64);
        epoch.w_est = epoch
            .w_est
            .saturating_add(u64::try_from(num / den).unwrap_or(u64::MAX));
        // The remainder is below den, which fits in a u64.
        epoch.w_est_rem = (num % den) as u64;
        self.epoch = Some(epoch);

        let t = now.saturating_duration_since(epoch.start);
        let w_now = w_cubic(epoch.k_us, epoch.w_max, mss64, duration_us(t));
        let new = if w_now < epoch.w_est {
            // Reno-friendly region (§4.3): at least what Reno would have by now.
            self.inc_rem = 0;
            epoch.w_est
        } else {
            // Concave (§4.4) or convex (§4.5) region: close a 1/cwnd share of the gap to the
            // target per acked segment, the target being W_cubic one RTT ahead clamped to
            // [cwnd, 1.5·cwnd] (§4.2).
            let ahead = duration_us(t).saturating_add(duration_us(rtt));
            let target =
                w_cubic(epoch.k_us, epoch.w_max, mss64, ahead).clamp(cwnd64, cwnd64 * 3 / 2);
            let num = u128::from(target - cwnd64) * u128::from(acked) + u128::from(self.inc_rem);
            let inc = num / u128::from(cwnd64);
            self.inc_rem = (num % u128::from(cwnd64)) as u64;
            cwnd64.saturating_add(u64::try_from(inc).unwrap_or(u64::MAX))
        };
        u32::try_from(new.max(cwnd64)).unwrap_or(u32::MAX)
    }

    fn start_epoch(&mut self, now: Instant, cwnd: u64, mss: u64) -> Epoch {
        // After a timeout (§4.8), or with no congestion event yet, the stage starts on the
        // plateau: W_max = cwnd_epoch and K = 0.
        let w_max = match self.w_max {
            Some(w) if !self.after_timeout => w,
            _ => {
                self.w_max = Some(cwnd);
                cwnd
            }
        };
        self.after_timeout = false;
        self.inc_rem = 0;
        Epoch {
            start: now,
            k_us: k_micros(w_max, cwnd, mss),
            w_max,
            // §4.3: W_est starts at cwnd_epoch.
            w_est: cwnd,
            w_est_rem: 0,
        }
    }

    /// A congestion event (loss detected by duplicate ACKs, SACK or RACK) at `cwnd` with
    /// `flight_size` bytes outstanding and the current `ssthresh`: returns the new (cwnd,
    /// ssthresh) of §4.6, both at least 2·MSS.
    pub(crate) fn on_congestion_event(
        &mut self,
        cwnd: u32,
        ssthresh: u32,
        flight_size: u32,
        mss: u32,
    ) -> (u32, u32) {
        self.save_prior(cwnd, ssthresh);
        let cwnd64 = u64::from(cwnd);
        // §4.7 fast convergence: a flow whose window shrank since the last event releases
        // bandwidth by aiming lower.
        self.w_max = Some(match self.w_max {
            Some(w) if self.fast_convergence && cwnd64 < w => {
                cwnd64 * (BETA_DEN + BETA_NUM) / (2 * BETA_DEN)
            }
            _ => cwnd64,
        });
        self.cwnd_prior = cwnd64;
        self.epoch = None;
        self.after_timeout = false;
        let ssthresh = reduced(flight_size, mss);
        (ssthresh, ssthresh)
    }

    /// The retransmission timer expired (§4.8): ssthresh as for a congestion event, cwnd one
    /// segment (RFC 5681 §3.1's loss window), and the next stage starts with K = 0.
    pub(crate) fn on_rto(
        &mut self,
        cwnd: u32,
        ssthresh: u32,
        flight_size: u32,
        mss: u32,
    ) -> (u32, u32) {
        self.save_prior(cwnd, ssthresh);
        self.cwnd_prior = u64::from(cwnd);
        self.epoch = None;
        self.after_timeout = true;
        (mss, reduced(flight_size, mss))
    }

    fn save_prior(&mut self, cwnd: u32, ssthresh: u32) {
        self.prior = Some(Prior {
            cwnd,
            ssthresh,
            w_max: self.w_max,
            cwnd_prior: self.cwnd_prior,
            epoch: self.epoch,
            after_timeout: self.after_timeout,
        });
    }

    /// The last congestion event or timeout proved spurious (D-SACK, timestamps, F-RTO). If
    /// cwnd is still below the window before that event, put back the state saved then and
    /// return the (cwnd, ssthresh) to restore (§4.9). If cwnd has already grown past it, the
    /// current values stand (§4.9 again) and this returns None, as it does with nothing to
    /// undo (no event yet, or already undone).
    pub(crate) fn undo(&mut self, cwnd: u32) -> Option<(u32, u32)> {
        let p = self.prior.take()?;
        if cwnd >= p.cwnd {
            return None;
        }
        self.w_max = p.w_max;
        self.cwnd_prior = p.cwnd_prior;
        self.epoch = p.epoch;
        self.after_timeout = p.after_timeout;
        self.inc_rem = 0;
        Some((p.cwnd, p.ssthresh))
    }

    /// Forget the current congestion-avoidance stage (e.g. after idle, RFC 5681 §4.1, when cwnd
    /// was reset): the next ACK starts a new one from the cwnd it is given.
    pub(crate) fn reset_epoch(&mut self) {
        self.epoch = None;
    }
}

/// β·flight_size, at least 2·MSS (§4.6).
fn reduced(flight_size: u32, mss: u32) -> u32 {
    let s = u64::from(flight_size) * BETA_NUM / BETA_DEN;
    let floor = 2 * u64::from(mss);
    u32::try_from(s.max(floor)).unwrap_or(u32::MAX)
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// K = ∛((W_max − cwnd_epoch)/C) in microseconds, windows in bytes (§4.2, Figure 2). Negative
/// when cwnd_epoch is above W_max.
pub(crate) fn k_micros(w_max: u64, cwnd_epoch: u64, mss: u64) -> i64 {
    let (diff, negative) = if w_max >= cwnd_epoch {
        (w_max - cwnd_epoch, false)
    } else {
        (cwnd_epoch - w_max, true)
    };
    // K³ [µs³] = diff / (C·MSS) · 10¹⁸. diff < 2³³ and the rest < 2⁶⁴: no overflow.
    let k3 = u128::from(diff) * C_DEN * MICROS3_PER_SEC3 / (C_NUM * u128::from(mss.max(1)));
    let k = i64::try_from(cbrt_u128(k3)).unwrap_or(i64::MAX);
    if negative { -k } else { k }
}

/// W_cubic(t) = C·(t − K)³ + W_max in bytes, t and K in microseconds (§4.2, Figure 1).
/// Saturates at 0 and u64::MAX.
pub(crate) fn w_cubic(k_us: i64, w_max: u64, mss: u64, t_us: u64) -> u64 {
    let t = i128::from(t_us.min(i64::MAX as u64) as i64);
    let d = (t - i128::from(k_us)).clamp(-MAX_OFFSET_US, MAX_OFFSET_US);
    // |d|³ ≤ 2¹⁰⁸, times 4·MSS ≤ 2¹²⁶: fits.
    let delta = C_NUM as i128 * d * d * d * i128::from(mss) / (C_DEN * MICROS3_PER_SEC3) as i128;
    let w = i128::from(w_max) + delta;
    if w <= 0 {
        0
    } else {
        u64::try_from(w).unwrap_or(u64::MAX)
    }
}

/// ⌊∛n⌋ by bisection; n < 2¹²⁸ means the root is below 2⁴³.
pub(crate) fn cbrt_u128(n: u128) -> u128 {
    let (mut lo, mut hi) = (0u128, 1u128 << 43);
    // Invariant: lo³ ≤ n < hi³.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if mid
            .checked_mul(mid)
            .and_then(|sq| sq.checked_mul(mid))
            .is_some_and(|c| c <= n)
        {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const MSS: u32 = 1460;

    fn f_k(w_max: f64, cwnd_epoch: f64, mss: f64) -> f64 {
        ((w_max - cwnd_epoch) / mss / 0.4).cbrt()
    }

    fn f_w_cubic(k_s: f64, w_max: f64, mss: f64, t_s: f64) -> f64 {
        0.4 * (t_s - k_s).powi(3) * mss + w_max
    }

    #[test]
    fn integer_cube_root_is_the_floor() {
        let mut x: u128 = 0x9e37_79b9_7f4a_7c15;
        for n in (0u128..2000).chain([u128::from(u64::MAX), u128::MAX >> 1, u128::MAX]) {
            let r = cbrt_u128(n);
            assert!(r * r * r <= n, "{n}");
            assert!((r + 1).checked_pow(3).is_none_or(|c| c > n), "{n}");
        }
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = x >> (x % 64);
            let r = cbrt_u128(n);
            assert!(r * r * r <= n && (r + 1) * (r + 1) * (r + 1) > n, "{n}");
        }
    }

    #[test]
    fn k_matches_the_rfc_formula() {
        for (w_max_seg, epoch_seg) in [
            (100.0, 70.0),
            (10.0, 7.0),
            (1000.0, 700.0),
            (50.0, 49.0),
            (2.0, 2.0),
        ] {
            let mss = f64::from(MSS);
            let (w, e) = (w_max_seg * mss, epoch_seg * mss);
            let k = k_micros(w as u64, e as u64, u64::from(MSS));
            let want = f_k(w, e, mss) * 1e6;
            assert!((k as f64 - want).abs() <= 1.0, "K {k} µs vs {want}");
        }
        // 100 → 70 segments: K = ∛(30/0.4) = ∛75 ≈ 4.217 s.
        let k = k_micros(100 * 1460, 70 * 1460, 1460);
        assert_eq!(k / 1000, 4217);
        // Above W_max, K is negative and W_cubic(0) is still cwnd_epoch.
        let k = k_micros(70 * 1460, 100 * 1460, 1460);
        assert_eq!(k / 1000, -4217);
        let w0 = w_cubic(k, 70 * 1460, 1460, 0);
        assert!(w0.abs_diff(100 * 1460) <= 2, "{w0}");
    }

    #[test]
    fn w_cubic_matches_the_rfc_curve_at_many_times() {
        let mss = u64::from(MSS);
        for (w_max_seg, epoch_seg) in [(100u64, 70u64), (1000, 700), (12, 8), (80, 120)] {
            let (w, e) = (w_max_seg * mss, epoch_seg * mss);
            let k = k_micros(w, e, mss);
            let kf = f_k(w as f64, e as f64, mss as f64);
            for i in 0..400u64 {
                let t_us = i * 37_000;
                let got = w_cubic(k, w, mss, t_us) as f64;
                let want = f_w_cubic(kf, w as f64, mss as f64, t_us as f64 / 1e6).max(0.0);
                // K is floored to the microsecond: the curve is off by at most its slope·1 µs.
                let tol = 2.0 + want.abs() * 1e-9;
                assert!((got - want).abs() <= tol, "W({t_us}) = {got}, want {want}");
            }
            assert!(w_cubic(k, w, mss, 0).abs_diff(e) <= 2);
            if k >= 0 {
                let at_k = w_cubic(k, w, mss, k as u64);
                assert!(at_k.abs_diff(w) <= 1, "W(K) = {at_k}, W_max = {w}");
            }
        }
        // The far future neither overflows nor turns back down.
        let far = w_cubic(0, 0, mss, u64::MAX);
        assert!(far >= w_cubic(0, 0, mss, 1 << 30) && far > u64::from(u32::MAX));
        assert_eq!(w_cubic(i64::MAX, 1, mss, 0), 0);
    }

    #[test]
    fn congestion_event_multiplies_by_beta_with_a_floor() {
        let mut c = Cubic::new();
        let (cwnd, ssthresh) = c.on_congestion_event(100 * MSS, u32::MAX, 100 * MSS, MSS);
        assert_eq!((cwnd, ssthresh), (70 * MSS, 70 * MSS));
        assert_eq!(c.w_max(), Some(u64::from(100 * MSS)));
        let (cwnd, ssthresh) = c.on_congestion_event(2 * MSS, 2 * MSS, MSS, MSS);
        assert_eq!((cwnd, ssthresh), (2 * MSS, 2 * MSS));
    }

    #[test]
    fn fast_convergence_lowers_w_max_when_the_window_shrank() {
        let mut c = Cubic::new();
        c.on_congestion_event(100 * MSS, u32::MAX, 100 * MSS, MSS);
        // Second event below the first W_max: W_max = cwnd·(1 + β)/2 = 80·0.85 = 68 segments.
        c.on_congestion_event(80 * MSS, 70 * MSS, 80 * MSS, MSS);
        assert_eq!(c.w_max(), Some(u64::from(68 * MSS)));
        // Growing past W_max: W_max is the new cwnd.
        c.on_congestion_event(90 * MSS, 56 * MSS, 90 * MSS, MSS);
        assert_eq!(c.w_max(), Some(u64::from(90 * MSS)));

        let mut slow = Cubic::new();
        slow.set_fast_convergence(false);
        slow.on_congestion_event(100 * MSS, u32::MAX, 100 * MSS, MSS);
        slow.on_congestion_event(80 * MSS, 70 * MSS, 80 * MSS, MSS);
        assert_eq!(slow.w_max(), Some(u64::from(80 * MSS)));
    }

    /// Runs congestion avoidance for `rounds` round trips of `rtt`, one ACK per MSS spread over
    /// the round; returns cwnd at the end of each round.
    fn run(c: &mut Cubic, start: Instant, mut cwnd: u32, rtt: Duration, rounds: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let mut now = start;
        for _ in 0..rounds {
            let acks = (cwnd / MSS).max(1);
            let step = rtt / acks;
            for _ in 0..acks {
                now += step;
                cwnd = c.on_ack(now, MSS, cwnd, MSS, rtt);
            }
            out.push(cwnd);
        }
        out
    }

    #[test]
    fn window_follows_the_cubic_curve_concave_then_convex() {
        let mut c = Cubic::new();
        // A large window, so the Reno-friendly estimate stays far below the curve.
        let (cwnd, _) = c.on_congestion_event(1000 * MSS, u32::MAX, 1000 * MSS, MSS);
        let rtt = Duration::from_millis(100);
        let t0 = Instant::from_millis(10 * 1000);
        let rounds = run(&mut c, t0, cwnd, rtt, 140);
        let k = c.k().unwrap();
        let w_max = 1000.0 * 1460.0;
        let kf = f_k(w_max, 700.0 * 1460.0, 1460.0);
        assert!(c.w_est().unwrap() < 800 * 1460);
        for (i, &w) in rounds.iter().enumerate() {
            let t = (i as f64 + 1.0) * 0.1;
            // cwnd tracks the curve one RTT ahead to within a segment or two per round (it can
            // lag: it only closes the gap in 1/cwnd steps), and never runs ahead of it.
            let ahead = f_w_cubic(kf, w_max, 1460.0, t + 0.1);
            let now = f_w_cubic(kf, w_max, 1460.0, t - 0.1);
            assert!(f64::from(w) <= ahead + 2.0, "round {i}: {w} > {ahead}");
            assert!(f64::from(w) >= now - 2.0 * 1460.0, "round {i}: {w} < {now}");
        }
        // Concave before K (increments shrink), plateau near W_max, convex after (they grow).
        let k_round = (k / 100_000) as usize;
        let inc: Vec<i64> = rounds
            .windows(2)
            .map(|p| i64::from(p[1]) - i64::from(p[0]))
            .collect();
        assert!(inc[2] > inc[k_round / 2] && inc[k_round / 2] > inc[k_round - 2]);
        assert!(inc[k_round + 20] > inc[k_round + 5] && inc[k_round + 45] > inc[k_round + 20]);
        let at_k = rounds[k_round];
        assert!(
            at_k.abs_diff(1000 * MSS) <= 2 * MSS,
            "{at_k} near W_max at K"
        );
        // §4.2: never more than 1.5× per round trip.
        for p in rounds.windows(2) {
            assert!(u64::from(p[1]) * 2 <= u64::from(p[0]) * 3);
        }
    }

    #[test]
    fn reno_friendly_region_follows_w_est() {
        // Small window, short RTT: Reno's additive increase outruns the cubic curve (§4.3).
        let mut c = Cubic::new();
        let (mut cwnd, _) = c.on_congestion_event(10 * MSS, u32::MAX, 10 * MSS, MSS);
        let rtt = Duration::from_millis(2);
        let mut now = Instant::from_millis(1000);
        let mut w_est = f64::from(cwnd);
        let (cwnd_prior, mss) = (f64::from(10 * MSS), f64::from(MSS));
        for _ in 0..200 {
            now += Duration::from_micros(200);
            let before = f64::from(cwnd);
            cwnd = c.on_ack(now, MSS, cwnd, MSS, rtt);
            let alpha = if w_est >= cwnd_prior { 1.0 } else { 9.0 / 17.0 };
            w_est += alpha * mss * mss / before;
            let got = c.w_est().unwrap() as f64;
            assert!((got - w_est).abs() <= 2.0, "W_est {got} vs {w_est}");
            assert!(
                (f64::from(cwnd) - w_est).abs() <= 2.0,
                "cwnd {cwnd} vs W_est {w_est}"
            );
        }
        // α became 1 after W_est passed cwnd_prior: 200 acks brought well over 10 segments.
        assert!(f64::from(cwnd) > 12.0 * mss);
    }

    #[test]
    fn timeout_restarts_from_one_segment_and_a_flat_curve() {
        let mut c = Cubic::new();
        c.on_congestion_event(100 * MSS, u32::MAX, 100 * MSS, MSS);
        let (cwnd, ssthresh) = c.on_rto(70 * MSS, 70 * MSS, 60 * MSS, MSS);
        assert_eq!((cwnd, ssthresh), (MSS, 42 * MSS));
        // Slow start (the caller's) reaches ssthresh; the stage then starts with K = 0 and
        // W_max = cwnd_epoch (§4.8).
        let t = Instant::from_millis(3 * 1000);
        c.on_ack(t, MSS, 42 * MSS, MSS, Duration::from_millis(100));
        assert_eq!(c.k(), Some(0));
        assert_eq!(c.w_max(), Some(u64::from(42 * MSS)));
    }

    #[test]
    fn undo_restores_the_state_before_a_spurious_event() {
        let mut c = Cubic::new();
        c.on_congestion_event(100 * MSS, u32::MAX, 100 * MSS, MSS);
        let rtt = Duration::from_millis(50);
        let t0 = Instant::from_millis(1000);
        let cwnd = *run(&mut c, t0, 70 * MSS, rtt, 10).last().unwrap();
        let (k, w_est) = (c.k(), c.w_est());
        let (reduced, _) = c.on_congestion_event(cwnd, 70 * MSS, cwnd, MSS);
        assert!(reduced < cwnd);
        assert_ne!(c.w_max(), Some(u64::from(100 * MSS)));
        assert_eq!(c.undo(reduced), Some((cwnd, 70 * MSS)));
        assert_eq!(c.w_max(), Some(u64::from(100 * MSS)));
        assert_eq!((c.k(), c.w_est()), (k, w_est));
        // Only once.
        assert_eq!(c.undo(reduced), None);
        // A timeout is undone the same way (F-RTO).
        let (one, _) = c.on_rto(cwnd, 70 * MSS, cwnd, MSS);
        assert_eq!(one, MSS);
        assert_eq!(c.undo(one), Some((cwnd, 70 * MSS)));
        // Found out only after cwnd grew past the old window: nothing is restored.
        let w_max = c.w_max();
        c.on_congestion_event(cwnd, 70 * MSS, cwnd, MSS);
        assert_ne!(c.w_max(), w_max);
        assert_eq!(c.undo(cwnd + MSS), None);
        assert_ne!(c.w_max(), w_max);
    }

    #[test]
    fn reset_epoch_starts_a_new_stage_from_the_given_window() {
        let mut c = Cubic::new();
        c.on_congestion_event(100 * MSS, u32::MAX, 100 * MSS, MSS);
        let rtt = Duration::from_millis(50);
        c.on_ack(Instant::from_millis(1000), MSS, 70 * MSS, MSS, rtt);
        let k70 = c.k().unwrap();
        c.reset_epoch();
        assert_eq!(c.k(), None);
        c.on_ack(Instant::from_millis(9000), MSS, 90 * MSS, MSS, rtt);
        let k90 = c.k().unwrap();
        assert_eq!(k90, k_micros(100 * 1460, 90 * 1460, 1460));
        assert!(k90 < k70);
        assert_eq!(c.w_est().unwrap() / 1460, 90);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_calls_never_panic_and_acks_never_shrink_cwnd(
            ops in proptest::collection::vec(
                (0u8..4, proptest::prelude::any::<u32>(), proptest::prelude::any::<u32>(), 0u32..70_000, 0u64..10_000_000),
                1..60,
            ),
        ) {
            let mut c = Cubic::new();
            let mut now = Instant::ZERO;
            for (op, a, b, mss, step_us) in ops {
                now += Duration::from_micros(step_us);
                match op {
                    0 => {
                        let cwnd = c.on_ack(now, a, b, mss, Duration::from_micros(step_us));
                        proptest::prop_assert!(cwnd >= b);
                    }
                    1 => {
                        let (cwnd, ssthresh) = c.on_congestion_event(a, b, a, mss);
                        proptest::prop_assert_eq!(cwnd, ssthresh);
                        proptest::prop_assert!(u64::from(ssthresh) >= (2 * u64::from(mss)).min(u64::from(u32::MAX)));
                    }
                    2 => {
                        let (cwnd, _) = c.on_rto(a, b, a, mss);
                        proptest::prop_assert_eq!(cwnd, mss);
                    }
                    _ => {
                        if let Some((cwnd, _)) = c.undo(a) {
                            proptest::prop_assert!(cwnd > a);
                        }
                    }
                }
            }
        }
    }
}
