//! Loss detection over the SACK scoreboard, as the owner drives it: RACK's time-based marking
//! with its reordering timer and tail loss probes (RFC 8985), and F-RTO's test of whether a
//! retransmission timeout was spurious (RFC 5682 §3, the SACK-enhanced algorithm; the basic
//! algorithm for a sender without SACK is in `frto.rs`).
//!
//! The state lives in one boxed [`LossDetection`] beside the scoreboard: a connection without
//! SACK, or before the handshake, pays one pointer for it. The connection reads the two
//! deadlines this file keeps (`Timer::Reorder`, `Timer::Probe`) and calls back when they pass.

use core::time::Duration;

use super::rack::{self, ProbeOutcome, Rack, Tlp, WORST_CASE_DELAYED_ACK};
use super::scoreboard::{AckOutcome, Delivered, Scoreboard};
use super::{AckSummary, Congestion, Flight, Recovery, Transmit};
use crate::seq::SeqNum;
use crate::time::Instant;

/// F-RTO's progress through one timeout (RFC 5682 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Frto {
    /// Not testing a timeout.
    Idle,
    /// Step 1 done: the first unacknowledged segment was resent; `recover` is SND.MAX then.
    FirstAck { recover: SeqNum },
    /// Step 2.b: the first ACK after the timeout advanced SND.UNA below `recover`; new data
    /// goes out instead of further retransmissions, and the next ACK decides.
    SecondAck { recover: SeqNum },
    /// Without SACK (RFC 5682 §2.1 steps 2.a and 3.a): the test found the loss real, and the
    /// sender goes back to SND.UNA at its next transmission for conventional RTO recovery.
    GoBack,
}

/// RACK-TLP and F-RTO state of one SACK connection.
#[derive(Clone, Debug)]
pub(super) struct LossDetection {
    /// RACK and TLP run (`CongestionSettings::rack_tlp`, Linux's `tcp_early_retrans`).
    pub rack_on: bool,
    /// F-RTO runs on timeouts (`CongestionSettings::frto`, Linux's `tcp_frto`).
    pub frto_on: bool,
    pub rack: Rack,
    pub tlp: Tlp,
    /// When the reordering timer fires (RFC 8985 §6.3).
    pub reorder_at: Option<Instant>,
    /// When the PTO was last started (RFC 8985 §7.2). Its length follows from SRTT when the
    /// deadline is read, so a newer RTT estimate counts.
    pub probe_from: Option<Instant>,
    /// One segment was in flight when the PTO started: its ACK may be a delayed one.
    pub probe_one_segment: bool,
    /// The PTO fired: the next transmission is the probe (§7.3).
    pub probe_due: bool,
    pub frto: Frto,
    /// This ACK delivered a segment sent before the timeout and never resent (F-RTO step 3).
    pub original_delivered: bool,
    /// Without SACK: the end of the segment step 1 resent, which the first ACK must cover.
    pub frto_head_end: SeqNum,
    /// Without SACK: bytes of new data step 2.b sent (at most two segments).
    pub frto_new_sent: u32,
}

impl LossDetection {
    pub(super) fn new(rack_on: bool, frto_on: bool) -> LossDetection {
        LossDetection {
            rack_on,
            frto_on,
            rack: Rack::new(),
            tlp: Tlp::new(),
            reorder_at: None,
            probe_from: None,
            probe_one_segment: false,
            probe_due: false,
            frto: Frto::Idle,
            original_delivered: false,
            frto_head_end: SeqNum(0),
            frto_new_sent: 0,
        }
    }

    /// One segment this ACK delivered for the first time (RACK §6.2 steps 2–3; F-RTO step 3).
    /// Returns whether RACK found it reordered.
    // Inlined into the scoreboard's walk: called for every segment an ACK delivers.
    #[inline]
    pub(super) fn on_delivered(
        &mut self,
        now: Instant,
        d: &Delivered,
        echo: Option<Instant>,
    ) -> bool {
        let reordered = self.rack_on && self.rack.on_delivered(now, d, echo);
        if let Frto::SecondAck { recover } = self.frto {
            if !d.ever_retransmitted && d.end.le(recover) {
                self.original_delivered = true;
            }
        }
        reordered
    }

    /// Whether an ACK that advances nothing and reports nothing leaves this as it is: no
    /// F-RTO test waits for its answer, no TLP episode for its end, and RACK has neither a
    /// D-SACK round nor a reordering timer that the ACK would settle.
    pub(super) fn at_rest(&self, srtt: Option<Duration>) -> bool {
        matches!(self.frto, Frto::Idle | Frto::GoBack)
            && !self.original_delivered
            && self.tlp.end_seq().is_none()
            && self.reorder_at.is_none()
            && self.rack.at_rest(srtt)
    }

    fn stop_probe(&mut self) {
        self.probe_from = None;
        self.probe_due = false;
    }
}

impl Congestion {
    /// RACK-TLP's and F-RTO's part of an acceptable ACK, after the scoreboard took it in.
    /// Returns how many segments RACK marked lost.
    pub(super) fn detect_loss_on_ack(&mut self, ack: &AckSummary, out: &AckOutcome) -> u32 {
        let (Some(l), Some(board)) = (self.loss.as_deref_mut(), self.board.as_mut()) else {
            return 0;
        };
        let mut marked = 0;
        if l.rack_on {
            // Step 1. The handshake's measurement reaches us only as SRTT; before any sample of
            // our own it stands in for the minimum, so an ACK of an original right after its
            // retransmission is not taken for a near-zero RTT.
            if let Some(rtt) = ack.rtt.or(ack.srtt.filter(|_| l.rack.min_rtt().is_none())) {
                l.rack.on_rtt_sample(rtt);
            }
            let exiting =
                matches!(self.recovery, Recovery::Sack { .. }) && board.recovery_complete();
            l.rack
                .on_ack_dsack(ack.flight.una, ack.flight.max, out.dsack.is_some(), exiting);

            // §7.4: the ACK may end a TLP episode.
            let probe_end = l.tlp.end_seq();
            let dsack_covers_probe = out
                .dsack
                .zip(probe_end)
                .is_some_and(|(d, end)| d.end == end);
            let dupack_without_sack = !ack.advanced && ack.sack.is_empty();
            let outcome = l
                .tlp
                .on_ack(ack.flight.una, dsack_covers_probe, dupack_without_sack);

            let in_recovery = !matches!(self.recovery, Recovery::Open);
            let srtt = ack.srtt.unwrap_or(Duration::MAX);
            marked = run_rack(l, ack.now, in_recovery, srtt, board);
            if marked > 0 {
                self.counters.bump().rack_losses += u64::from(marked);
            }

            // §7.2: an ACK of new data restarts the PTO, unless recovery is under way or the
            // peer holds SACKed data (then RACK's timer covers the tail).
            if ack.advanced {
                let one = board.len() == 1;
                arm_probe(l, ack.now, in_recovery, board, one);
            }
            if outcome == ProbeOutcome::RepairedLoss && !in_recovery {
                // §7.4.2: the probe repaired a lost segment, so the path dropped one: the
                // window is reduced once, as for a loss found by recovery.
                self.reduce(ack.flight.in_flight);
            }
        }
        marked
    }

    /// F-RTO steps 2 and 3 on an acceptable ACK during timeout recovery (RFC 5682 §3.1).
    /// Returns whether the timeout proved spurious and was undone.
    pub(super) fn frto_on_ack(&mut self, ack: &AckSummary, out: &AckOutcome) -> bool {
        let Some(l) = self.loss.as_deref_mut() else {
            return false;
        };
        let original = core::mem::take(&mut l.original_delivered);
        match l.frto {
            Frto::Idle | Frto::GoBack => false,
            Frto::FirstAck { recover } => {
                // Step 2.a: a duplicate ACK, or one that covers `recover`, says nothing about
                // the timeout: ordinary RTO recovery goes on. A window update or data from
                // the peer is not an ACK for the test and leaves it waiting.
                if ack.flight.una.ge(recover) || (!ack.advanced && out.newly_sacked > 0) {
                    l.frto = Frto::Idle;
                } else if ack.advanced {
                    // Step 2.b: new data instead of retransmissions (see `next_transmit`).
                    l.frto = Frto::SecondAck { recover };
                }
                false
            }
            Frto::SecondAck { .. } => {
                if !(ack.advanced || out.newly_sacked > 0 || ack.duplicate) {
                    return false;
                }
                l.frto = Frto::Idle;
                // Step 3.b: the ACK (or a SACK block) reports a segment sent before the
                // timeout and never resent: its original arrived, so the timeout was
                // spurious. Otherwise (3.a) the loss was real and RTO recovery goes on.
                if original {
                    self.undo_timeout();
                    true
                } else {
                    false
                }
            }
        }
    }

    /// F-RTO declared the timeout spurious: cwnd and ssthresh go back to what they were
    /// (RFC 5682 §4 leaves the response open; this is the undo of RFC 4015 / Linux), the
    /// segments the timeout marked lost are in flight again, and the sender is back in the
    /// open state.
    pub(super) fn undo_timeout(&mut self) {
        self.counters.bump().spurious_timeouts += 1;
        if let Some((cwnd, ssthresh)) = self.undo.take() {
            if self.algorithm == super::CongestionControl::Cubic {
                let cwnd = self.cwnd;
                self.cubic().undo(cwnd);
            }
            self.cwnd = self.cwnd.max(cwnd);
            self.ssthresh = ssthresh;
        }
        self.recovery = Recovery::Open;
        self.dup_acks = 0;
        if let Some(b) = &mut self.board {
            b.clear_lost();
            b.exit_recovery();
        }
    }

    /// The retransmission timer expired: RACK's timer and the probe stop, the TLP episode
    /// ends (§7.4), and F-RTO (step 1) starts its test if it may.
    pub(super) fn loss_detection_on_timeout(&mut self, flight: &Flight, was_open: bool) {
        let Some(l) = self.loss.as_deref_mut() else {
            return;
        };
        l.reorder_at = None;
        l.stop_probe();
        l.tlp.reset();
        // RFC 5682 §3.1 step 1: F-RTO is not used when the timeout falls in a recovery already
        // under way, except a repeated timeout of the same segment (§3.2).
        let repeated = matches!(l.frto, Frto::FirstAck { .. });
        l.frto = if l.frto_on && (was_open || repeated) && flight.in_flight > 0 {
            Frto::FirstAck {
                recover: flight.max,
            }
        } else {
            Frto::Idle
        };
    }

    /// Fast recovery begins: the probe stops and the TLP episode is over.
    pub(super) fn loss_detection_on_recovery(&mut self) {
        if let Some(l) = self.loss.as_deref_mut() {
            l.stop_probe();
            l.tlp.reset();
        }
    }

    /// Whether F-RTO holds back retransmissions for new data (step 2.b).
    pub(super) fn frto_sends_new_data(&self) -> bool {
        self.loss
            .as_deref()
            .is_some_and(|l| matches!(l.frto, Frto::SecondAck { .. }))
    }

    /// When RACK's reordering timer fires (`Timer::Reorder`).
    pub fn reorder_deadline(&self) -> Option<Instant> {
        self.loss.as_deref().and_then(|l| l.reorder_at)
    }

    /// When the tail loss probe fires (`Timer::Probe`) for a smoothed RTT of `srtt`: 2·SRTT
    /// after the last new data or ACK, plus the peer's worst-case delayed ACK when one segment
    /// is in flight (RFC 8985 §7.2). The connection holds it to the retransmission timer's
    /// deadline, so the probe replaces a timeout that would come first.
    /// `srtt` is asked for only when a probe is pending (see `Congestion::at_rest`).
    pub fn probe_deadline(&self, srtt: impl FnOnce() -> Option<Duration>) -> Option<Instant> {
        // (`probe_deadline_micros` is the same in integers; the two are checked against each
        // other by `Connection::poll_timeout` in debug builds.)
        let l = self.loss.as_deref()?;
        let from = l.probe_from?;
        Some(
            from + rack::pto(
                srtt(),
                l.probe_one_segment,
                WORST_CASE_DELAYED_ACK,
                Duration::MAX,
            ),
        )
    }

    /// [`Congestion::probe_deadline`] in whole microseconds, from SRTT in nanoseconds
    /// (`srtt_ns`): `poll_timeout`, which the host asks after every segment, reads it without
    /// building `Duration`s. floor((2·SRTT + WCDelAckT) / 1 µs) is worked out from SRTT's
    /// whole microseconds and its remainder, so nothing overflows; the result is the one
    /// `probe_deadline` gives.
    pub fn probe_deadline_micros(&self, srtt_ns: impl FnOnce() -> Option<u64>) -> Option<u64> {
        const DELAYED_ACK_US: u64 = WORST_CASE_DELAYED_ACK.as_micros() as u64;
        const MIN_PTO_US: u64 = rack::MIN_PTO.as_micros() as u64;
        const WITHOUT_SRTT_US: u64 = rack::PTO_WITHOUT_SRTT.as_micros() as u64;
        let l = self.loss.as_deref()?;
        let from = l.probe_from?;
        let pto = match srtt_ns() {
            None => WITHOUT_SRTT_US,
            Some(srtt) => {
                let twice = (srtt / 1000) * 2 + u64::from(srtt % 1000 >= 500);
                let pto = if l.probe_one_segment {
                    twice + DELAYED_ACK_US
                } else {
                    twice
                };
                pto.max(MIN_PTO_US)
            }
        };
        Some(from.as_micros().saturating_add(pto))
    }

    /// The reordering timer expired (RFC 8985 §6.3): segments whose reordering window has
    /// passed are lost, and recovery starts if it is not under way.
    pub fn on_reorder_timeout(&mut self, now: Instant, flight: &Flight, srtt: Option<Duration>) {
        let in_recovery = !matches!(self.recovery, Recovery::Open);
        let (Some(l), Some(board)) = (self.loss.as_deref_mut(), self.board.as_mut()) else {
            return;
        };
        l.reorder_at = None;
        let marked = run_rack(l, now, in_recovery, srtt.unwrap_or(Duration::MAX), board);
        if marked > 0 {
            self.counters.bump().rack_losses += u64::from(marked);
        }
        if marked > 0 && !in_recovery && flight.in_flight > 0 {
            self.enter_recovery(flight, 0);
        }
    }

    /// The PTO expired (RFC 8985 §7.3): the next transmission is a probe, unless one is
    /// already outstanding or nothing is in flight.
    pub fn on_probe_timeout(&mut self) {
        let (Some(l), Some(board)) = (self.loss.as_deref_mut(), self.board.as_ref()) else {
            return;
        };
        l.probe_from = None;
        if !l.tlp.outstanding() && board.last_segment().is_some() {
            l.probe_due = true;
        }
    }

    /// The probe to send now, if the PTO fired: new data when some is ready and the peer's
    /// window admits it, else the last segment sent, up to one MSS from its end (§7.3).
    pub(super) fn probe_transmit(
        &self,
        nxt: SeqNum,
        max: SeqNum,
        unsent: bool,
    ) -> Option<Transmit> {
        let l = self.loss.as_deref()?;
        if !l.probe_due {
            return None;
        }
        let board = self.board.as_ref()?;
        match l.tlp.probe(unsent && nxt == max, board, self.mss)? {
            rack::Probe::NewData => Some(Transmit::New(nxt)),
            rack::Probe::Retransmit { seq, len } => Some(Transmit::Retransmit { seq, len }),
        }
    }

    /// Whether the next new data is a tail loss probe (RFC 8985 §7.3) or F-RTO's step 2.b
    /// (RFC 5682 §3.1): sent to draw an ACK, so Nagle must not hold it back.
    pub fn new_data_must_go(&self) -> bool {
        self.probe_is_due() || self.frto_sends_new_data()
    }

    pub(super) fn probe_is_due(&self) -> bool {
        self.loss.as_deref().is_some_and(|l| l.probe_due)
    }

    /// What left at `now` as `what`, `len` bytes of sequence space with SND.MAX `max` before
    /// it: a probe opens the TLP episode (§7.3); new data restarts the PTO (§7.2).
    // Inlined into both callers: out of line, every segment sent would pay for a call.
    #[inline(always)]
    pub(super) fn loss_detection_on_transmit(
        &mut self,
        now: Instant,
        what: Transmit,
        len: u32,
        max: SeqNum,
    ) {
        let in_recovery = !matches!(self.recovery, Recovery::Open);
        let (Some(l), Some(board)) = (self.loss.as_deref_mut(), self.board.as_ref()) else {
            return;
        };
        if !l.rack_on {
            return;
        }
        if l.probe_due {
            l.probe_due = false;
            let end = what.seq() + len;
            let snd_nxt = if end.gt(max) { end } else { max };
            l.tlp.on_probe_sent(snd_nxt, what.seq().lt(max));
            self.counters.bump().tail_loss_probes += 1;
            return;
        }
        if let Transmit::New(_) = what {
            let one = board.len() == 1;
            arm_probe(l, now, in_recovery, board, one);
        }
    }
}

/// RACK's loss scan (RFC 8985 §6.2 step 5) and the reordering timer it leaves (§6.3).
fn run_rack(
    l: &mut LossDetection,
    now: Instant,
    in_recovery: bool,
    srtt: Duration,
    board: &mut Scoreboard,
) -> u32 {
    if board.len() == 0 {
        // Everything sent is acknowledged (the usual ACK of a short exchange): no segment to
        // mark and none to wait for, what the scan would find, without pricing the window.
        l.reorder_at = None;
        return 0;
    }
    let reo_wnd = l.rack.reo_wnd(in_recovery, board.sacked_segments(), srtt);
    let (marked, timeout) = l.rack.detect_loss(now, reo_wnd, board);
    l.reorder_at = timeout.map(|t| now + t);
    marked
}

/// Starts (or restarts) the PTO at `now` if RFC 8985 §7.2 allows a probe: not in recovery,
/// nothing SACKed, no probe outstanding and something in flight.
fn arm_probe(
    l: &mut LossDetection,
    now: Instant,
    in_recovery: bool,
    board: &Scoreboard,
    one_segment: bool,
) {
    let allowed = !in_recovery
        && board.sacked_segments() == 0
        && !l.tlp.outstanding()
        && board.last_segment().is_some();
    if allowed {
        l.probe_from = Some(now);
        l.probe_one_segment = one_segment;
    } else {
        l.probe_from = None;
    }
}
