//! F-RTO for a sender without SACK (RFC 5682 §2, the basic algorithm).
//!
//! Without F-RTO a timeout sends such a sender back to SND.UNA: everything outstanding goes
//! again in slow start, although a timeout is often spurious (a delay spike, not a loss) and
//! the originals are about to be acknowledged. F-RTO resends only the first unacknowledged
//! segment and keeps SND.NXT where it is (step 1). If the first ACK after it advances SND.UNA
//! (step 2.b), two new segments go instead of retransmissions; if the ACK after those advances
//! SND.UNA again, it acknowledges segments sent before the timeout and never resent, so their
//! originals arrived and the timeout was spurious (step 3.b): cwnd and ssthresh go back. Any
//! other answer (a duplicate ACK, an ACK of everything, nothing new to send) hands over to
//! conventional RTO recovery: the connection goes back to SND.UNA at its next transmission.
//!
//! The state is the SACK algorithm's ([`Frto`] in `LossDetection`), made at the first timeout,
//! so a connection that never times out pays nothing for it.

use alloc::boxed::Box;

use super::loss::{Frto, LossDetection};
use super::{AckSummary, Congestion, Flight, Transmit};

/// New segments step 2.b sends (RFC 5682 §2.1: "up to two").
const NEW_SEGMENTS: u32 = 2;

impl Congestion {
    /// Step 1 on a timeout of a sender without a scoreboard. Returns whether the test runs:
    /// then SND.NXT stays and only the segment at SND.UNA is resent (as a `Retransmit`).
    /// Like the SACK algorithm, F-RTO does not start in a recovery already under way, except
    /// on a repeated timeout of the same segment (§2.1 step 1, §3.2).
    pub(super) fn basic_frto_on_timeout(
        &mut self,
        flight: &Flight,
        was_open: bool,
        synchronized: bool,
    ) -> bool {
        let repeated = self
            .loss
            .as_deref()
            .is_some_and(|l| matches!(l.frto, Frto::FirstAck { .. }));
        let runs = self.frto && synchronized && flight.in_flight > 0 && (was_open || repeated);
        if !runs {
            if let Some(l) = self.loss.as_deref_mut() {
                l.frto = Frto::Idle;
            }
            return false;
        }
        let l = self
            .loss
            .get_or_insert_with(|| Box::new(LossDetection::new(false, true)));
        l.frto = Frto::FirstAck {
            recover: flight.max,
        };
        l.frto_head_end = flight.una + flight.in_flight.min(flight.mss);
        l.frto_new_sent = 0;
        self.retransmit_head = true;
        true
    }

    /// Steps 2 and 3 on an acceptable ACK. Returns whether the timeout proved spurious and
    /// was undone.
    pub(super) fn basic_frto_on_ack(&mut self, ack: &AckSummary) -> bool {
        let Some(l) = self.loss.as_deref_mut() else {
            return false;
        };
        let una = ack.flight.una;
        match l.frto {
            Frto::FirstAck { recover } => {
                if ack.duplicate || una.ge(recover) || (ack.advanced && una.lt(l.frto_head_end)) {
                    // Step 2.a: a duplicate, an ACK of everything, or one short of the resent
                    // segment tells nothing about the timeout.
                    l.frto = Frto::GoBack;
                } else if ack.advanced {
                    // Step 2.b: new data instead of retransmissions (see `allowance`).
                    l.frto = Frto::SecondAck { recover };
                    l.frto_new_sent = 0;
                }
                // A window update or data from the peer is no answer: the test waits.
                false
            }
            Frto::SecondAck { .. } if ack.duplicate => {
                // Step 3.a: the new segments arrived and the old ones did not: the loss is
                // real. Slow start from no more than three segments, from SND.UNA.
                l.frto = Frto::GoBack;
                self.cwnd = self.cwnd.min(3 * self.mss);
                false
            }
            Frto::SecondAck { .. } if ack.advanced => {
                // Step 3.b: only originals sent before the timeout lay past the resent segment
                // the first ACK covered; one of them arrived.
                l.frto = Frto::Idle;
                self.retransmit_head = false;
                self.undo_timeout();
                true
            }
            _ => false,
        }
    }

    /// How much new data step 2.b lets out beyond the window: what is left of its two
    /// segments. `None` when the test is not at that step (or the sender has a scoreboard,
    /// whose pipe already makes the room).
    pub(super) fn basic_frto_new_data_room(&self) -> Option<u32> {
        let l = self.loss.as_deref()?;
        let at_step_2b = self.board.is_none() && matches!(l.frto, Frto::SecondAck { .. });
        at_step_2b.then(|| {
            (NEW_SEGMENTS * self.mss)
                .saturating_sub(l.frto_new_sent)
                .min(self.mss)
        })
    }

    /// Counts the new data step 2.b sent.
    pub(super) fn basic_frto_on_transmit(&mut self, what: Transmit, len: u32) {
        if self.board.is_some() {
            return;
        }
        if let (Some(l), Transmit::New(_)) = (self.loss.as_deref_mut(), what) {
            if matches!(l.frto, Frto::SecondAck { .. }) {
                l.frto_new_sent = l.frto_new_sent.saturating_add(len);
            }
        }
    }

    /// Asked before each transmission by a sender without SACK: whether F-RTO handed the
    /// timeout to conventional recovery, so SND.NXT must go back to SND.UNA now. That is the
    /// case after steps 2.a and 3.a, and at step 2.b when there is no new data to send
    /// (`unsent` false: none ready, or the peer's window admits none), for which §2.1 says
    /// to carry on with conventional recovery rather than wait.
    pub fn frto_goes_back(&mut self, unsent: bool) -> bool {
        if self.board.is_some() {
            return false;
        }
        let Some(l) = self.loss.as_deref_mut() else {
            return false;
        };
        let back = match l.frto {
            Frto::GoBack => true,
            Frto::SecondAck { .. } => l.frto_new_sent == 0 && !unsent,
            _ => false,
        };
        if back {
            l.frto = Frto::Idle;
        }
        back
    }

    /// SND.NXT went back to SND.UNA for another reason (a zero window, a path MTU drop): a
    /// test without SACK has nothing left to test.
    pub(super) fn basic_frto_cancel(&mut self) {
        if self.board.is_some() {
            return;
        }
        if let Some(l) = self.loss.as_deref_mut() {
            l.frto = Frto::Idle;
        }
    }
}
