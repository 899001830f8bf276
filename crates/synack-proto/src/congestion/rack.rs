//! RACK-TLP (RFC 8985): time-based loss detection over the scoreboard, and tail loss probes.
//!
//! RACK deems a segment lost when a segment sent sufficiently later has been delivered: later
//! by more than the reordering window, measured in time rather than in duplicate ACKs. TLP sends
//! one probe about two round trips after the last transmission so a lost tail draws SACK
//! feedback instead of waiting for the retransmission timer.
//!
//! Per-segment transmit times and lost marks live in the [`Scoreboard`]; this file keeps the
//! RACK and TLP variables and runs their steps.

use core::time::Duration;

use super::scoreboard::{DUP_THRESH, Delivered, Scoreboard, Verdict};
use crate::seq::SeqNum;
use crate::time::Instant;

/// How many recoveries without D-SACK the reordering window stays inflated (RFC 8985 §6.2
/// step 4).
pub(crate) const REO_WND_PERSIST: u32 = 16;
/// WCDelAckT of RFC 8985 §7.2: the worst-case delayed-ACK timer assumed when one segment is in
/// flight and the peer did not tell us better.
pub(crate) const WORST_CASE_DELAYED_ACK: Duration = Duration::from_millis(200);
/// PTO floor: below this the probe would race ordinary ACK jitter (Linux uses the same).
pub(crate) const MIN_PTO: Duration = Duration::from_millis(10);
/// PTO before any RTT sample (§7.2).
pub(crate) const PTO_WITHOUT_SRTT: Duration = Duration::from_secs(1);

/// RACK_sent_after (§6.2): sent later in time, ties broken by sequence.
fn sent_after(t1: Instant, seq1: SeqNum, t2: Instant, seq2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && seq1.gt(seq2))
}

/// The RACK variables of RFC 8985 §6.1.
#[derive(Clone, Debug)]
pub(crate) struct Rack {
    /// RACK.xmit_ts / RACK.end_seq: the most recently sent segment known delivered.
    xmit_ts: Option<Instant>,
    end_seq: SeqNum,
    /// RACK.rtt: the RTT measured when xmit_ts last moved.
    rtt: Duration,
    /// RACK.min_RTT: the smallest RTT seen (a plain minimum; a windowed filter can replace it
    /// when paths change under a connection).
    min_rtt: Option<Duration>,
    /// RACK.fack: the highest sequence delivered, cumulatively or selectively.
    fack: Option<SeqNum>,
    reordering_seen: bool,
    /// RACK.dsack_round: SND.NXT when the window last grew for a D-SACK; one growth per round.
    dsack_round: Option<SeqNum>,
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
}

impl Default for Rack {
    fn default() -> Self {
        Rack::new()
    }
}

impl Rack {
    pub(crate) fn new() -> Rack {
        Rack {
            xmit_ts: None,
            end_seq: SeqNum(0),
            rtt: Duration::ZERO,
            min_rtt: None,
            fack: None,
            reordering_seen: false,
            dsack_round: None,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
        }
    }

    pub(crate) fn rtt(&self) -> Duration {
        self.rtt
    }
    pub(crate) fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }
    /// Whether an ACK without a D-SACK, outside recovery and with no RTT sample, leaves
    /// this as it is: no D-SACK round is open and the minimum RTT needs no stand-in from
    /// `srtt` (see `detect_loss_on_ack`).
    pub(crate) fn at_rest(&self, srtt: Option<Duration>) -> bool {
        self.dsack_round.is_none() && (self.min_rtt.is_some() || srtt.is_none())
    }
    pub(crate) fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }
    pub(crate) fn reo_wnd_mult(&self) -> u32 {
        self.reo_wnd_mult
    }

    /// Step 1: an RTT measurement (RFC 6298 sample or timestamps) lowers RACK.min_RTT.
    pub(crate) fn on_rtt_sample(&mut self, rtt: Duration) {
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
    }

    /// Steps 2 and 3 for one newly delivered segment (call in the order the scoreboard reports
    /// them). `echo_sent_at` is when the segment whose timestamp the ACK echoes was sent, if
    /// timestamps are on. Returns whether this segment shows reordering.
    pub(crate) fn on_delivered(
        &mut self,
        now: Instant,
        seg: &Delivered,
        echo_sent_at: Option<Instant>,
    ) -> bool {
        // Step 3: a segment delivered below the highest delivered one, and not a retransmission
        // filling a hole, was reordered by the network.
        let mut reordered = false;
        match self.fack {
            Some(f) if seg.end.lt(f) => {
                if !seg.ever_retransmitted {
                    self.reordering_seen = true;
                    reordered = true;
                }
            }
            _ => self.fack = Some(seg.end),
        }

        // Step 2: for a retransmitted segment, an ACK for the original can look like a
        // too-short RTT for the retransmission; skip those that are provably ambiguous.
        let rtt = now.saturating_duration_since(seg.xmit_ts);
        if seg.ever_retransmitted {
            if echo_sent_at.is_some_and(|e| e < seg.xmit_ts) {
                return reordered;
            }
            if self.min_rtt.is_some_and(|m| rtt < m) {
                return reordered;
            }
        }
        let newer = self
            .xmit_ts
            .is_none_or(|t| sent_after(seg.xmit_ts, seg.end, t, self.end_seq));
        if newer {
            self.xmit_ts = Some(seg.xmit_ts);
            self.end_seq = seg.end;
            self.rtt = rtt;
        }
        reordered
    }

    /// Step 4, the D-SACK part: widen the window once per round trip that brings a D-SACK, and
    /// shrink it back after REO_WND_PERSIST recoveries without one.
    pub(crate) fn on_ack_dsack(
        &mut self,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        dsack: bool,
        exiting_recovery: bool,
    ) {
        if self.dsack_round.is_some_and(|r| snd_una.ge(r)) {
            self.dsack_round = None;
        }
        if self.dsack_round.is_none() && dsack {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
            self.reo_wnd_persist = REO_WND_PERSIST;
        } else if exiting_recovery {
            self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// Step 4: RACK.reo_wnd. Zero while no reordering was seen and either recovery is under way
    /// or DupThresh segments are SACKed (then RACK acts as fast as DupThresh would); otherwise
    /// min(reo_wnd_mult · min_RTT / 4, SRTT).
    pub(crate) fn reo_wnd(&self, in_recovery: bool, segs_sacked: u32, srtt: Duration) -> Duration {
        if !self.reordering_seen && (in_recovery || segs_sacked >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let min_rtt = self.min_rtt.unwrap_or(srtt);
        (min_rtt / 4).saturating_mul(self.reo_wnd_mult).min(srtt)
    }

    /// Step 5: mark lost every unacknowledged segment sent before the most recently delivered
    /// one by more than RACK.rtt + reo_wnd. Returns how many were marked and, if some segments
    /// sent earlier are not yet overdue, when the reordering timer should next run (§6.3).
    pub(crate) fn detect_loss(
        &self,
        now: Instant,
        reo_wnd: Duration,
        board: &mut Scoreboard,
    ) -> (u32, Option<Duration>) {
        let Some(rack_ts) = self.xmit_ts else {
            return (0, None);
        };
        let mut timeout: Option<Duration> = None;
        let marked = board.mark_lost_where(|s| {
            if !sent_after(rack_ts, self.end_seq, s.xmit_ts, s.end) {
                return Verdict::SentLater;
            }
            let deadline = s.xmit_ts + self.rtt + reo_wnd;
            if deadline <= now {
                Verdict::Lost
            } else {
                let remaining = deadline - now;
                timeout = Some(timeout.map_or(remaining, |t| t.max(remaining)));
                Verdict::NotYet
            }
        });
        (marked, timeout)
    }
}

/// The probe timeout of RFC 8985 §7.2: 2·SRTT, plus the peer's worst-case delayed ACK when only
/// one segment is in flight (its ACK may be held), at least MIN_PTO, and never later than the
/// retransmission timer would fire.
pub(crate) fn pto(
    srtt: Option<Duration>,
    one_segment_in_flight: bool,
    max_ack_delay: Duration,
    rto: Duration,
) -> Duration {
    let Some(srtt) = srtt else {
        return PTO_WITHOUT_SRTT.min(rto);
    };
    let mut pto = srtt.saturating_mul(2);
    if one_segment_in_flight {
        pto = pto.saturating_add(max_ack_delay);
    }
    pto.max(MIN_PTO).min(rto)
}

/// What a tail loss probe sends (§7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// One segment of unsent data.
    NewData,
    /// The last segment sent, again.
    Retransmit { seq: SeqNum, len: u32 },
}

/// What an ACK said about an outstanding probe (§7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeOutcome {
    /// No probe outstanding, or the ACK does not reach it yet.
    Pending,
    /// The probe was new data, now delivered; nothing to infer.
    Delivered,
    /// Original and probe both arrived: nothing was lost, no window reduction.
    NoLoss,
    /// The probe repaired a lost tail segment: react as to a loss (§7.4.2), once.
    RepairedLoss,
}

/// TLP state (§7.1): at most one probe outstanding.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tlp {
    /// TLP.end_seq: SND.NXT when the probe went out.
    end_seq: Option<SeqNum>,
    /// TLP.is_retrans: the probe was a retransmission.
    is_retrans: bool,
}

impl Tlp {
    pub(crate) fn new() -> Tlp {
        Tlp::default()
    }

    /// TLP.end_seq: SND.NXT when the outstanding probe went out.
    pub(crate) fn end_seq(&self) -> Option<SeqNum> {
        self.end_seq
    }

    pub(crate) fn outstanding(&self) -> bool {
        self.end_seq.is_some()
    }

    /// The PTO fired: what to send, or None when a probe is already out or nothing is in
    /// flight. New data if the caller has some and the peer's window admits it, else the
    /// last segment sent, up to one MSS from its end.
    pub(crate) fn probe(&self, new_data: bool, board: &Scoreboard, mss: u32) -> Option<Probe> {
        if self.outstanding() {
            return None;
        }
        if new_data {
            return Some(Probe::NewData);
        }
        let last = board.last_segment()?;
        let len = last.len().min(mss.max(1));
        Some(Probe::Retransmit {
            seq: last.end - len,
            len,
        })
    }

    /// The probe went out; `snd_nxt` is SND.NXT after it.
    pub(crate) fn on_probe_sent(&mut self, snd_nxt: SeqNum, is_retrans: bool) {
        self.end_seq = Some(snd_nxt);
        self.is_retrans = is_retrans;
    }

    /// §7.4: an ACK arrived. `dsack_covers_probe` says a D-SACK reported the probe's range;
    /// `dupack_without_sack` says the ACK neither advanced SND.UNA nor carried SACK blocks.
    pub(crate) fn on_ack(
        &mut self,
        snd_una: SeqNum,
        dsack_covers_probe: bool,
        dupack_without_sack: bool,
    ) -> ProbeOutcome {
        let Some(end) = self.end_seq else {
            return ProbeOutcome::Pending;
        };
        if snd_una.lt(end) {
            return ProbeOutcome::Pending;
        }
        let outcome = if !self.is_retrans {
            ProbeOutcome::Delivered
        } else if dsack_covers_probe {
            ProbeOutcome::NoLoss
        } else if snd_una.gt(end) {
            // Data sent after the probe is acknowledged and no D-SACK said the probe was a
            // duplicate: the probe filled the hole.
            ProbeOutcome::RepairedLoss
        } else if dupack_without_sack {
            // A peer without D-SACK cannot tell us whether the original arrived; assume it did.
            ProbeOutcome::NoLoss
        } else {
            // The ACK reaches the probe's end exactly: either copy may have brought it. Wait for
            // the next ACK to tell (a D-SACK or a duplicate means both arrived).
            return ProbeOutcome::Pending;
        };
        self.end_seq = None;
        outcome
    }

    /// A retransmission timeout or a new recovery ends the TLP episode.
    pub(crate) fn reset(&mut self) {
        self.end_seq = None;
        self.is_retrans = false;
    }
}

#[cfg(test)]
#[path = "tests_rack.rs"]
mod tests;
