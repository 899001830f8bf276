//! Congestion control and loss recovery for the send side of one connection.
//!
//! The connection reports what happened — an acknowledgment of new data, a duplicate
//! acknowledgment, a retransmission timeout, new data after an idle spell, a rewind of SND.NXT —
//! and asks two things: how much may be outstanding ([`Congestion::window`]) and what to send
//! next ([`Congestion::next_transmit`]: a retransmission, or whatever lies at SND.NXT). Nothing
//! outside this module writes the congestion window, the slow-start threshold or the recovery
//! state.
//!
//! An acknowledgment arrives as an [`AckSummary`] (bytes newly acknowledged, the flight after
//! it, the RTT it measured, the time) rather than as loose numbers, so a controller that needs
//! more of it (CUBIC's time since the last reduction, HyStart++'s RTT rounds, a SACK scoreboard)
//! needs no new parameter at every call site.
//!
//! The controllers form an enum rather than trait objects: the core is `no_std` and keeps each
//! connection in one allocation-free value. Today there is one, [`NewReno`].

mod new_reno;

// The algorithms of issue #14 below are complete and unit-tested but not yet driven by the
// connection; until that wiring lands, `allow(dead_code)` keeps clippy quiet about items only
// their tests use. Remove each attribute (and the `unused_imports` ones) as its module is wired.
#[cfg_attr(not(test), allow(dead_code))]
mod cubic;
#[cfg_attr(not(test), allow(dead_code))]
mod hystart;
#[cfg_attr(not(test), allow(dead_code))]
mod prr;
#[cfg_attr(not(test), allow(dead_code))]
mod rack;
#[cfg_attr(not(test), allow(dead_code))]
mod scoreboard;
#[cfg(test)]
mod tests_recovery;

#[allow(unused_imports)]
pub(crate) use cubic::Cubic;
#[allow(unused_imports)]
pub(crate) use hystart::{HyStart, Phase as SlowStartPhase, Step as SlowStartStep};
#[allow(unused_imports)]
pub(crate) use prr::{Prr, ReductionBound};
#[allow(unused_imports)]
pub(crate) use rack::{Probe, ProbeOutcome, Rack, Tlp, pto};
#[allow(unused_imports)]
pub(crate) use scoreboard::{AckOutcome, Delivered, Dsack, NextSeg, Scoreboard, Segment};

use core::time::Duration;

use self::new_reno::NewReno;
use crate::config::Config;
use crate::seq::SeqNum;
use crate::time::Instant;

/// The send sequence space as a controller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flight {
    /// SND.UNA: the oldest unacknowledged sequence number.
    pub una: SeqNum,
    /// One past the highest sequence number ever sent (SND.NXT before any rewind).
    pub max: SeqNum,
    /// RFC 5681's FlightSize: sequence space sent and not yet acknowledged.
    pub in_flight: u32,
    /// SMSS: the most payload one segment carries now (it drops with the path MTU).
    pub mss: u32,
}

/// An acknowledgment that moved SND.UNA forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AckSummary {
    pub now: Instant,
    /// Bytes of data newly acknowledged (our SYN and FIN not counted).
    pub acked: u32,
    /// The flight once SND.UNA has moved.
    pub flight: Flight,
    /// The round-trip time this acknowledgment measured, if it measured one.
    pub rtt: Option<Duration>,
}

/// What the sender sends next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transmit {
    /// Resend the segment that starts here at once, whatever the window (RFC 5681 §3.2
    /// step 4; RFC 6582 §3.2 step 5 after a partial acknowledgment).
    Retransmit(SeqNum),
    /// Send again, within the window, what lies at SND.NXT below the highest sequence number
    /// sent: SND.NXT went back to SND.UNA after a timeout (RFC 6298 §5.4) or a path MTU drop.
    Resend(SeqNum),
    /// Send what lies at SND.NXT and was never sent, within the window.
    New(SeqNum),
}

impl Transmit {
    pub fn seq(self) -> SeqNum {
        match self {
            Transmit::Retransmit(seq) | Transmit::Resend(seq) | Transmit::New(seq) => seq,
        }
    }
}

/// The congestion controllers a connection can run.
#[derive(Clone, Debug)]
enum Controller {
    /// Reno's window growth (RFC 5681) with NewReno's fast recovery (RFC 6582).
    NewReno(NewReno),
}

/// Congestion control and loss recovery of one connection: the one owner of the congestion
/// window, the slow-start threshold and the recovery state.
#[derive(Clone, Debug)]
pub(crate) struct Congestion {
    controller: Controller,
    /// Fast retransmissions started, for `info()`.
    fast_retransmits: u64,
    /// When a segment that occupies sequence space last left (RFC 5681 §4.1's idle test).
    last_sent: Option<Instant>,
}

impl Congestion {
    /// A controller for a sender whose segments carry at most `mss` bytes, starting from the
    /// configured initial window.
    pub fn new(config: &Config, mss: u32) -> Congestion {
        Congestion {
            controller: Controller::NewReno(NewReno::new(config.initial_window, mss)),
            fast_retransmits: 0,
            last_sent: None,
        }
    }

    /// The handshake settled the segment size: the initial window counts segments of that size
    /// (RFC 5681 §3.1, RFC 6928).
    pub fn on_handshake(&mut self, initial_window: u32, mss: u32) {
        match &mut self.controller {
            Controller::NewReno(c) => c.restart_window(initial_window, mss),
        }
    }

    /// An acknowledgment of new data (SND.UNA moved forward).
    pub fn on_ack(&mut self, ack: &AckSummary) {
        match &mut self.controller {
            Controller::NewReno(c) => c.on_ack(ack),
        }
    }

    /// A duplicate acknowledgment as RFC 5681 §2 defines it.
    pub fn on_duplicate_ack(&mut self, flight: &Flight) {
        let entered_recovery = match &mut self.controller {
            Controller::NewReno(c) => c.on_duplicate_ack(flight),
        };
        if entered_recovery {
            self.fast_retransmits += 1;
        }
    }

    /// The retransmission timer expired (RFC 5681 §3.1, RFC 6298 §5.5): the connection goes
    /// back to SND.UNA and resends from there.
    pub fn on_retransmit_timeout(&mut self, flight: &Flight) {
        match &mut self.controller {
            Controller::NewReno(c) => c.on_retransmit_timeout(flight),
        }
    }

    /// SND.NXT went back to SND.UNA for another reason than a timeout (the path MTU dropped):
    /// everything in flight is resent in order from there, which covers a pending
    /// retransmission of the first segment.
    pub fn on_rewind(&mut self) {
        match &mut self.controller {
            Controller::NewReno(c) => c.cancel_retransmit(),
        }
    }

    /// New data is about to leave with nothing in flight. When nothing was sent for longer than
    /// `rto`, RFC 5681 §4.1 lets the controller restart from a smaller window, since what it
    /// learnt of the path may be stale.
    pub fn restart_if_idle(&mut self, now: Instant, rto: Duration) {
        let idle = self
            .last_sent
            .is_some_and(|t| now.saturating_duration_since(t) > rto);
        if idle {
            match &mut self.controller {
                Controller::NewReno(c) => c.on_idle_restart(),
            }
        }
    }

    /// The segment `next_transmit` chose left at `now`, occupying sequence space.
    pub fn on_transmitted(&mut self, now: Instant, what: Transmit) {
        self.last_sent = Some(now);
        if let Transmit::Retransmit(_) = what {
            match &mut self.controller {
                Controller::NewReno(c) => c.cancel_retransmit(),
            }
        }
    }

    /// The one place that decides between resending and sending new data, for a sender at
    /// SND.UNA `una` and SND.NXT `nxt` that has sent up to `max`.
    pub fn next_transmit(&self, una: SeqNum, nxt: SeqNum, max: SeqNum) -> Transmit {
        let retransmit = match &self.controller {
            Controller::NewReno(c) => c.retransmit_pending(),
        };
        if retransmit {
            Transmit::Retransmit(una)
        } else if nxt.lt(max) {
            Transmit::Resend(nxt)
        } else {
            Transmit::New(nxt)
        }
    }

    /// The congestion window in bytes: how much may be outstanding (RFC 5681 §3.1's cwnd).
    pub fn window(&self) -> u32 {
        match &self.controller {
            Controller::NewReno(c) => c.cwnd(),
        }
    }

    /// The slow-start threshold in bytes (`u32::MAX` until the first loss).
    pub fn ssthresh(&self) -> u32 {
        match &self.controller {
            Controller::NewReno(c) => c.ssthresh(),
        }
    }

    pub fn fast_retransmits(&self) -> u64 {
        self.fast_retransmits
    }
}
