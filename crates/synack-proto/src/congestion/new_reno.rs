//! Reno's window growth (RFC 5681 §3.1) with NewReno's fast recovery (RFC 6582 §3.2).
//!
//! Slow start adds at most one segment per acknowledgment while cwnd < ssthresh; congestion
//! avoidance adds about one segment per round trip (SMSS·SMSS/cwnd per acknowledgment). The
//! third duplicate acknowledgment halves the window, retransmits the first unacknowledged
//! segment and enters fast recovery until everything sent before it is acknowledged; each
//! partial acknowledgment on the way resends the next hole.

use super::{AckSummary, Flight};
use crate::seq::SeqNum;

#[derive(Clone, Debug)]
pub(crate) struct NewReno {
    /// Congestion window and slow-start threshold in bytes (RFC 5681 §3.1).
    cwnd: u32,
    ssthresh: u32,
    /// Duplicate acknowledgments seen in a row (RFC 5681 §3.2).
    dup_acks: u32,
    /// The highest sequence number sent when fast recovery began: RFC 6582's `recover`.
    /// `Some` while in fast recovery.
    recover: Option<SeqNum>,
    /// Resend the segment at SND.UNA at the next opportunity.
    retransmit_head: bool,
}

impl NewReno {
    pub fn new(initial_window: u32, mss: u32) -> NewReno {
        NewReno {
            cwnd: initial_window_bytes(initial_window, mss),
            ssthresh: u32::MAX,
            dup_acks: 0,
            recover: None,
            retransmit_head: false,
        }
    }

    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    pub fn retransmit_pending(&self) -> bool {
        self.retransmit_head
    }

    pub fn cancel_retransmit(&mut self) {
        self.retransmit_head = false;
    }

    /// The window starts again from the initial window in segments of `mss` bytes.
    pub fn restart_window(&mut self, initial_window: u32, mss: u32) {
        self.cwnd = initial_window_bytes(initial_window, mss);
    }

    /// RFC 5681 §4.1 would restart from min(IW, cwnd) here; Reno as built keeps the window it
    /// has (restart after idle is to come with the loss-recovery work, issue #14).
    pub fn on_idle_restart(&mut self) {}

    /// Window growth on an acknowledgment of new data: slow start and congestion avoidance
    /// (RFC 5681 §3.1), and NewReno's partial and full acknowledgments during fast recovery
    /// (RFC 6582 §3.2).
    pub fn on_ack(&mut self, ack: &AckSummary) {
        let Flight {
            una,
            in_flight,
            mss,
            ..
        } = ack.flight;
        match self.recover {
            Some(recover) if una.ge(recover) => {
                // Full acknowledgment: leave fast recovery with cwnd deflated to ssthresh
                // (RFC 6582 §3.2 step 3, option 1).
                self.cwnd = self.ssthresh.min(in_flight.max(mss) + mss).max(mss);
                self.recover = None;
                self.dup_acks = 0;
            }
            Some(_) => {
                // Partial acknowledgment: the next hole is lost too; resend it and deflate by
                // what was acknowledged.
                self.retransmit_head = true;
                self.cwnd = self.cwnd.saturating_sub(ack.acked).saturating_add(mss);
            }
            None => {
                self.dup_acks = 0;
                if self.cwnd < self.ssthresh {
                    self.cwnd = self.cwnd.saturating_add(ack.acked.min(mss));
                } else {
                    let inc =
                        (u64::from(mss) * u64::from(mss) / u64::from(self.cwnd.max(1))).max(1);
                    self.cwnd = self.cwnd.saturating_add(inc as u32);
                }
            }
        }
    }

    /// RFC 5681 §3.2: the third duplicate acknowledgment triggers fast retransmit and
    /// recovery; later ones inflate the window by one segment each. Returns whether fast
    /// recovery began.
    pub fn on_duplicate_ack(&mut self, flight: &Flight) -> bool {
        self.dup_acks += 1;
        if self.recover.is_some() {
            self.cwnd = self.cwnd.saturating_add(flight.mss);
            false
        } else if self.dup_acks == 3 {
            self.ssthresh = (flight.in_flight / 2).max(2 * flight.mss);
            self.recover = Some(flight.max);
            self.cwnd = self.ssthresh + 3 * flight.mss;
            self.retransmit_head = true;
            true
        } else {
            false
        }
    }

    /// RFC 5681 §3.1 equation (4), then a loss window of one segment; recovery ends, since
    /// everything from SND.UNA is sent again.
    pub fn on_retransmit_timeout(&mut self, flight: &Flight) {
        self.ssthresh = (flight.in_flight / 2).max(2 * flight.mss);
        self.cwnd = flight.mss;
        self.dup_acks = 0;
        self.recover = None;
        self.retransmit_head = false;
    }
}

/// The initial window in bytes (RFC 6928, RFC 5681 §3.1); a count whose bytes pass 2^32 is a
/// configuration mistake, held at the largest window, not a panic.
fn initial_window_bytes(segments: u32, mss: u32) -> u32 {
    segments.max(1).saturating_mul(mss)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;

    const MSS: u32 = 1000;

    fn flight(una: u32, max: u32) -> Flight {
        Flight {
            una: SeqNum(una),
            max: SeqNum(max),
            in_flight: max - una,
            mss: MSS,
        }
    }

    fn ack(acked: u32, una: u32, max: u32) -> AckSummary {
        AckSummary {
            now: Instant::ZERO,
            acked,
            flight: flight(una, max),
            rtt: None,
        }
    }

    #[test]
    fn slow_start_adds_a_segment_per_ack_and_avoidance_one_per_window() {
        let mut r = NewReno::new(2, MSS);
        assert_eq!(r.cwnd(), 2000);
        r.on_ack(&ack(1000, 1000, 2000));
        assert_eq!(r.cwnd(), 3000);
        // A stretch ACK still adds one segment at most (RFC 5681 §3.1, equation (2)).
        r.on_ack(&ack(3000, 4000, 4000));
        assert_eq!(r.cwnd(), 4000);
        r.on_retransmit_timeout(&flight(4000, 12000));
        assert_eq!((r.cwnd(), r.ssthresh()), (1000, 4000));
        for _ in 0..3 {
            r.on_ack(&ack(1000, 0, 0));
        }
        assert_eq!(r.cwnd(), 4000);
        // Congestion avoidance: SMSS*SMSS/cwnd per ACK.
        r.on_ack(&ack(1000, 0, 0));
        assert_eq!(r.cwnd(), 4250);
    }

    #[test]
    fn three_duplicates_halve_and_retransmit_partial_acks_resend_full_ack_deflates() {
        let mut r = NewReno::new(10, MSS);
        let f = flight(0, 10_000);
        assert!(!r.on_duplicate_ack(&f));
        assert!(!r.on_duplicate_ack(&f));
        assert!(!r.retransmit_pending());
        assert!(r.on_duplicate_ack(&f));
        // ssthresh = FlightSize/2, cwnd = ssthresh + 3*SMSS (RFC 5681 §3.2 steps 2–3).
        assert_eq!((r.ssthresh(), r.cwnd()), (5000, 8000));
        assert!(r.retransmit_pending());
        r.cancel_retransmit();
        // Each further duplicate inflates by one segment (step 4).
        assert!(!r.on_duplicate_ack(&f));
        assert_eq!(r.cwnd(), 9000);
        // Partial ACK (RFC 6582 §3.2 step 5): resend the next hole, deflate by what was acked
        // and add back one segment.
        r.on_ack(&ack(2000, 2000, 10_000));
        assert!(r.retransmit_pending());
        assert_eq!(r.cwnd(), 8000);
        r.cancel_retransmit();
        // Full ACK: cwnd = min(ssthresh, FlightSize + SMSS).
        r.on_ack(&ack(8000, 10_000, 10_000));
        assert_eq!(r.cwnd(), 2000);
        assert!(!r.retransmit_pending());
        // Recovery is over: three more duplicates start a new one.
        let f = flight(10_000, 20_000);
        r.on_duplicate_ack(&f);
        r.on_duplicate_ack(&f);
        assert!(r.on_duplicate_ack(&f));
    }
}
