//! Proportional Rate Reduction (RFC 6937): how much to send on each ACK during fast recovery,
//! so the flight shrinks smoothly from RecoverFS to ssthresh instead of stalling for half a
//! round trip (Reno's halving) or bursting at the end.
//!
//! Quantities are bytes (a caller counting segments can pass MSS = 1). The caller sends whole
//! segments: when `sndcnt` is less than one, it waits; what it did not send stays as credit,
//! because only what it reports through [`Prr::on_transmit`] counts as sent.

/// The two bounds RFC 6937 §3 offers for when pipe has fallen to ssthresh or below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReductionBound {
    /// PRR-CRB: never send more than was delivered during recovery (strict packet
    /// conservation).
    Conservative,
    /// PRR-SSRB: may also send one MSS more per ACK, like slow start, to rebuild pipe after
    /// heavy losses. The RFC's recommended default.
    SlowStart,
}

/// PRR state for one recovery episode (RFC 6937 §3).
#[derive(Clone, Debug)]
pub(crate) struct Prr {
    ssthresh: u64,
    /// FlightSize when recovery began (snd.nxt − snd.una).
    recover_fs: u64,
    /// Bytes the receiver reported delivered during recovery.
    prr_delivered: u64,
    /// Bytes sent during recovery.
    prr_out: u64,
    mss: u64,
    bound: ReductionBound,
}

impl Prr {
    /// Recovery begins: `ssthresh` as the congestion controller just set it, `recover_fs` the
    /// flight size right before.
    pub(crate) fn enter(ssthresh: u32, recover_fs: u32, mss: u32, bound: ReductionBound) -> Prr {
        Prr {
            ssthresh: u64::from(ssthresh),
            recover_fs: u64::from(recover_fs),
            prr_delivered: 0,
            prr_out: 0,
            mss: u64::from(mss.max(1)),
            bound,
        }
    }

    /// An ACK during recovery reported `delivered` bytes (the advance of SND.UNA plus newly
    /// SACKed bytes), leaving `pipe` bytes in flight (RFC 6675 §4 SetPipe). Returns sndcnt, the
    /// bytes that may be sent now (§3).
    pub(crate) fn on_ack(&mut self, delivered: u32, pipe: u32) -> u32 {
        let delivered = u64::from(delivered);
        let pipe = u64::from(pipe);
        self.prr_delivered = self.prr_delivered.saturating_add(delivered);
        let sndcnt = if pipe > self.ssthresh {
            // Proportional part: deliveries scaled by ssthresh/RecoverFS, rounded up, less what
            // was already sent.
            let due = u128::from(self.prr_delivered) * u128::from(self.ssthresh);
            let fs = u128::from(self.recover_fs.max(1));
            let due = u64::try_from(due.div_ceil(fs)).unwrap_or(u64::MAX);
            due.saturating_sub(self.prr_out)
        } else {
            // Pipe is at or below ssthresh: catch up toward it, within the reduction bound.
            let owed = self.prr_delivered.saturating_sub(self.prr_out);
            let limit = match self.bound {
                ReductionBound::Conservative => owed,
                ReductionBound::SlowStart => owed.max(delivered) + self.mss,
            };
            (self.ssthresh.saturating_sub(pipe)).min(limit)
        };
        // The fast retransmit that opens recovery goes out whatever the arithmetic says (RFC
        // 5681 §3.2 and RFC 6675 §5 step (4) send it on entering recovery).
        let sndcnt = if self.prr_out == 0 && delivered > 0 {
            sndcnt.max(self.mss)
        } else {
            sndcnt
        };
        u32::try_from(sndcnt).unwrap_or(u32::MAX)
    }

    /// `bytes` were sent (new data or a retransmission) during recovery.
    pub(crate) fn on_transmit(&mut self, bytes: u32) {
        self.prr_out = self.prr_out.saturating_add(u64::from(bytes));
    }

    /// cwnd when recovery ends (§3: the window settles at ssthresh).
    pub(crate) fn exit_cwnd(&self) -> u32 {
        u32::try_from(self.ssthresh).unwrap_or(u32::MAX)
    }

    pub(crate) fn prr_delivered(&self) -> u64 {
        self.prr_delivered
    }

    pub(crate) fn prr_out(&self) -> u64 {
        self.prr_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The single-loss situation of RFC 6937's examples (§3.1; RFC 9937 §8 in the revision),
    /// without limited transmit, counted in segments: 20 segments in flight,
    /// the first lost; each later segment's ACK delivers one. Recovery starts at the third
    /// duplicate ACK, when 3 segments are SACKed and 1 is deemed lost, so pipe = 16. Every ACK
    /// after that delivers one segment; the sender sends all that PRR allows, and pipe moves
    /// by what was delivered and sent. Returns sndcnt per ACK and pipe at the end.
    fn single_loss(ssthresh: u32, bound: ReductionBound) -> (Vec<u32>, u32) {
        let mut prr = Prr::enter(ssthresh, 20, 1, bound);
        let mut pipe = 16u32;
        let mut sent = Vec::new();
        for k in 0..17 {
            if k > 0 {
                pipe -= 1;
            }
            let sndcnt = prr.on_ack(1, pipe);
            prr.on_transmit(sndcnt);
            pipe += sndcnt;
            sent.push(sndcnt);
        }
        (sent, pipe)
    }

    #[test]
    fn reno_halving_sends_on_every_other_ack() {
        // ssthresh = 10: while pipe > 10, ceil(k·10/20) segments by the k-th ACK, then the
        // slow-start bound keeps pipe at ssthresh.
        let (sent, pipe) = single_loss(10, ReductionBound::SlowStart);
        assert_eq!(sent, [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1]);
        assert_eq!(sent.iter().sum::<u32>(), 10);
        assert_eq!(pipe, 10);
    }

    #[test]
    fn cubic_reduction_sends_seven_of_every_ten() {
        // ssthresh = 14 (β = 0.7): ceil(0.7·k) while pipe > 14, then one per ACK.
        let (sent, pipe) = single_loss(14, ReductionBound::SlowStart);
        assert_eq!(sent, [1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        assert_eq!(pipe, 14);
    }

    #[test]
    fn the_bounds_differ_after_heavy_loss() {
        // Half the flight lost at once: pipe falls below ssthresh at the first ACK.
        for (bound, second) in [
            (ReductionBound::Conservative, 1),
            (ReductionBound::SlowStart, 2),
        ] {
            let mut prr = Prr::enter(8, 10, 1, bound);
            // The fast retransmit goes out although pipe already equals ssthresh.
            let s = prr.on_ack(1, 8);
            assert_eq!(s, 1);
            prr.on_transmit(1);
            // pipe 5: CRB sends what was delivered and not yet matched (2 − 1); SSRB adds one.
            let s = prr.on_ack(1, 5);
            assert_eq!(s, second, "{bound:?}");
            prr.on_transmit(s);
            assert_eq!(prr.prr_delivered(), 2);
            assert_eq!(prr.prr_out(), 1 + u64::from(second));
        }
        // SSRB's bound uses DeliveredData when one ACK reports much at once.
        let mut prr = Prr::enter(10, 20, 1, ReductionBound::SlowStart);
        prr.on_ack(1, 16);
        prr.on_transmit(5);
        // prr_delivered − prr_out = 7 − 5 = 2, DeliveredData = 6: limit 7; ssthresh − pipe = 8.
        assert_eq!(prr.on_ack(6, 2), 7);
    }

    #[test]
    fn bytes_accumulate_as_credit_until_a_segment_fits() {
        // In bytes, PRR allows half a segment per ACK at ssthresh = RecoverFS / 2; a sender of
        // whole segments sends one every second ACK, the credit carried in prr_out.
        let mss = 1000;
        let mut prr = Prr::enter(10 * mss, 20 * mss, mss, ReductionBound::SlowStart);
        let mut pipe = 16 * mss;
        let mut sends = Vec::new();
        for k in 0..8 {
            if k > 0 {
                pipe -= mss;
            }
            let sndcnt = prr.on_ack(mss, pipe);
            let whole = sndcnt / mss * mss;
            prr.on_transmit(whole);
            pipe += whole;
            sends.push(whole / mss);
        }
        assert_eq!(sends, [1, 0, 0, 1, 0, 1, 0, 1]);
        assert_eq!(prr.exit_cwnd(), 10 * mss);
    }

    #[test]
    fn nothing_is_sent_without_deliveries_past_the_first() {
        let mut prr = Prr::enter(10, 20, 1, ReductionBound::SlowStart);
        assert_eq!(prr.on_ack(0, 19), 0);
        assert_eq!(prr.on_ack(1, 18), 1);
        prr.on_transmit(1);
        assert_eq!(prr.on_ack(0, 19), 0);
        // A hostile zero RecoverFS does not divide by zero.
        let mut prr = Prr::enter(10, 0, 1, ReductionBound::SlowStart);
        assert_eq!(prr.on_ack(1, 30), 10);
    }
}
