//! Loss recovery's steps for one connection's congestion state: entering a recovery and the
//! window reduction it makes (RFC 5681 §3.2, RFC 6582 NewReno, RFC 6675 with PRR of RFC
//! 6937), the ACKs that arrive during one, leaving it, and undoing a reduction that D-SACKs
//! (RFC 2883) show needless (RFC 3708). Kept apart from `on_ack`'s path without loss, which
//! every acknowledgment runs.

use alloc::boxed::Box;

use super::cubic::Cubic;
use super::prr::{Prr, ReductionBound};
use super::{AckSummary, Congestion, CongestionControl, Flight, Recovery, scoreboard};

impl Congestion {
    /// A D-SACK arrived (RFC 2883): counted, and if it shows every retransmission of the
    /// last recovery needless, the reduction is undone (RFC 3708).
    #[cold]
    #[inline(never)]
    pub(super) fn on_dsack(&mut self, in_recovery_range: bool) {
        self.counters.bump().dsacks += 1;
        if in_recovery_range
            && self
                .board
                .as_ref()
                .is_some_and(|b| b.retransmissions_all_dsacked())
        {
            self.undo_reduction();
        }
    }

    /// The part of `on_ack` that runs during a recovery: out of line, so an ACK on a path
    /// without loss runs through short code.
    #[inline(never)]
    pub(super) fn on_ack_in_recovery(&mut self, ack: &AckSummary, delivered: u32) {
        let mss = self.mss;
        let advanced = ack.advanced;
        match self.recovery {
            Recovery::Open => {}
            Recovery::NewReno { recover } => {
                if ack.flight.una.ge(recover) {
                    // Full acknowledgment: leave fast recovery with cwnd deflated to ssthresh
                    // (RFC 6582 §3.2 step 3, option 1).
                    self.cwnd = self
                        .ssthresh
                        .min(ack.flight.in_flight.max(mss) + mss)
                        .max(mss);
                    self.recovery = Recovery::Open;
                    self.dup_acks = 0;
                    self.retransmit_head = false;
                } else if advanced {
                    // Partial acknowledgment (RFC 6582 §3.2 step 5): the next hole is lost
                    // too; resend it and deflate by what was acknowledged.
                    self.retransmit_head = true;
                    self.cwnd = self.cwnd.saturating_sub(ack.acked).saturating_add(mss);
                } else if ack.duplicate {
                    // Each further duplicate inflates by one segment (RFC 5681 §3.2 step 4).
                    self.cwnd = self.cwnd.saturating_add(mss);
                }
            }
            Recovery::Sack { .. } => {
                let complete = self.board.as_ref().is_none_or(|b| b.recovery_complete());
                if complete {
                    // The window settles at ssthresh; growth resumes with the next ACK.
                    self.exit_sack_recovery();
                } else {
                    let pipe = self.pipe(ack.flight.in_flight);
                    if let Recovery::Sack { prr } = &mut self.recovery {
                        self.prr_credit = prr.on_ack(delivered, pipe);
                    }
                }
            }
            Recovery::Loss { recover } => {
                if ack.acked > 0 {
                    self.grow(ack);
                }
                if ack.flight.una.ge(recover) {
                    self.recovery = Recovery::Open;
                    self.dup_acks = 0;
                    if let Some(b) = &mut self.board {
                        b.exit_recovery();
                    }
                }
            }
        }
    }

    /// Loss as RACK sees it when it runs (RFC 8985 §6.2: a segment marked lost by time),
    /// otherwise as RFC 5681 §3.2 (the third duplicate ACK) or RFC 6675 §5 (IsLost(HighACK +
    /// 1) by the SACKs above it) does.
    pub(super) fn loss_detected(&self, ack: &AckSummary, rack_marked: u32) -> bool {
        if ack.flight.in_flight == 0 {
            return false;
        }
        if self.rack_runs() {
            return rack_marked > 0 || self.board.as_ref().is_some_and(|b| b.has_lost());
        }
        match &self.board {
            Some(b) => {
                (self.dup_acks >= scoreboard::DUP_THRESH || b.is_lost(ack.flight.una, self.mss))
                    && b.high_data().gt(b.high_ack())
            }
            None => ack.duplicate && self.dup_acks == scoreboard::DUP_THRESH,
        }
    }

    /// Whether RACK-TLP does loss detection (SACK agreed and `CongestionSettings::rack_tlp`).
    pub(super) fn rack_runs(&self) -> bool {
        self.loss.as_deref().is_some_and(|l| l.rack_on)
    }

    /// The reduction on a congestion event: β·FlightSize (CUBIC, RFC 9438 §4.6) or
    /// FlightSize/2 (Reno, RFC 5681 §3.1 equation (4)).
    ///
    /// A loss among data sent during the previous SACK recovery reduces from cwnd when that is
    /// smaller: PRR paced that data to ssthresh, while SND.NXT − SND.UNA also counts what the
    /// peer SACKed while the holes stayed open. Reducing from that flight would raise ssthresh
    /// from one recovery to the next while the queue overflows.
    pub(super) fn reduce(&mut self, flight_size: u32) {
        let sent_in_recovery = self
            .board
            .as_ref()
            .is_some_and(|b| b.sent_in_last_recovery(b.high_ack()));
        let flight_size = if sent_in_recovery {
            flight_size.min(self.cwnd)
        } else {
            flight_size
        };
        let s = (flight_size / 2).max(2 * self.mss);
        let (cwnd, ssthresh) = self.congestion_event((s, s), |cubic, cwnd, ssthresh, mss| {
            cubic.on_congestion_event(cwnd, ssthresh, flight_size, mss)
        });
        self.cwnd = cwnd;
        self.ssthresh = ssthresh;
    }

    pub(super) fn enter_recovery(&mut self, flight: &Flight, delivered: u32) {
        self.counters.bump().fast_retransmits += 1;
        self.loss_detection_on_recovery();
        let flight_size = flight.in_flight;
        self.reduce(flight_size);
        let mss = self.mss;
        if self.board.is_some() {
            // RFC 6675 §5 with PRR (RFC 6937 §3) pacing what goes out from here.
            let ssthresh = self.ssthresh;
            if let Some(b) = &mut self.board {
                b.enter_recovery();
            }
            let mut prr = Prr::enter(ssthresh, flight_size, mss, ReductionBound::SlowStart);
            let pipe = self.pipe(flight_size);
            self.prr_credit = prr.on_ack(delivered.max(1), pipe);
            self.recovery = Recovery::Sack { prr: Box::new(prr) };
        } else {
            // RFC 5681 §3.2 steps 2–4: ssthresh as reduced, cwnd inflated by the three
            // segments that left the network, and the first unacknowledged one resent.
            self.cwnd = self.ssthresh.saturating_add(3 * mss);
            self.retransmit_head = true;
            self.recovery = Recovery::NewReno {
                recover: flight.max,
            };
        }
    }

    pub(super) fn exit_sack_recovery(&mut self) {
        if let Recovery::Sack { prr } = &self.recovery {
            // RFC 6937 §3: the window settles at ssthresh.
            self.cwnd = prr.exit_cwnd().max(self.mss);
        }
        self.recovery = Recovery::Open;
        self.dup_acks = 0;
        self.prr_credit = 0;
        if let Some(b) = &mut self.board {
            b.exit_recovery();
        }
    }

    /// Every retransmission of the episode was reported needless by a D-SACK (RFC 2883 §4,
    /// RFC 3708): the reduction was spurious, so cwnd and ssthresh go back (CUBIC's own state
    /// with them, RFC 9438 §4.9).
    pub(super) fn undo_reduction(&mut self) {
        let Some((cwnd, ssthresh)) = self.undo.take() else {
            return;
        };
        if self.algorithm == CongestionControl::Cubic {
            let cwnd = self.cwnd;
            self.cubic().undo(cwnd);
        }
        if self.cwnd < cwnd {
            self.cwnd = cwnd;
            self.ssthresh = ssthresh;
        }
        self.counters.bump().undos += 1;
        if let Recovery::Sack { .. } = self.recovery {
            self.recovery = Recovery::Open;
            self.prr_credit = 0;
            self.dup_acks = 0;
            if let Some(b) = &mut self.board {
                b.exit_recovery();
            }
        }
    }

    /// What every congestion event does first, a loss or a timeout: the window kept for an
    /// undo (RFC 3708), HyStart++ ended for good (RFC 9406 §4.2, §4.3), and
    /// the controller's new (cwnd, ssthresh): CUBIC's `cubic`, or NewReno's `reno`, worked
    /// out by the caller from RFC 5681 §3.1.
    pub(super) fn congestion_event(
        &mut self,
        reno: (u32, u32),
        cubic: impl FnOnce(&mut Cubic, u32, u32, u32) -> (u32, u32),
    ) -> (u32, u32) {
        self.undo = Some((self.cwnd, self.ssthresh));
        self.hystart().on_congestion();
        let (cwnd, ssthresh, mss) = (self.cwnd, self.ssthresh, self.mss);
        match self.algorithm {
            CongestionControl::Cubic => cubic(self.cubic(), cwnd, ssthresh, mss),
            CongestionControl::NewReno => reno,
        }
    }
}
