//! The eleven states of RFC 9293 §3.3.2, each holding only what a connection in that state has.

use core::fmt;

use super::recv::Receiver;
use super::send::Sender;
use crate::congestion::CongestionParts;
use crate::error::ConnError;
use crate::time::Instant;

/// The names of the states, for events, diagrams and `info()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateName {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl StateName {
    pub const ALL: [StateName; 11] = [
        StateName::Closed,
        StateName::Listen,
        StateName::SynSent,
        StateName::SynReceived,
        StateName::Established,
        StateName::FinWait1,
        StateName::FinWait2,
        StateName::CloseWait,
        StateName::Closing,
        StateName::LastAck,
        StateName::TimeWait,
    ];

    /// The name as RFC 9293 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Closed => "CLOSED",
            StateName::Listen => "LISTEN",
            StateName::SynSent => "SYN-SENT",
            StateName::SynReceived => "SYN-RECEIVED",
            StateName::Established => "ESTABLISHED",
            StateName::FinWait1 => "FIN-WAIT-1",
            StateName::FinWait2 => "FIN-WAIT-2",
            StateName::CloseWait => "CLOSE-WAIT",
            StateName::Closing => "CLOSING",
            StateName::LastAck => "LAST-ACK",
            StateName::TimeWait => "TIME-WAIT",
        }
    }

    /// States in which both sides have exchanged SYNs (RFC 9293 §3.10.7.4).
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            StateName::Closed | StateName::Listen | StateName::SynSent
        )
    }
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection's state and the data that state owns.
///
/// The states that have a sender hold it first (`repr(C)`), with the receiver right after it
/// where they have both, so `sender()` and `receiver()` find them at one offset in nearly
/// every state rather than branching on each.
///
/// `Sender` and `Receiver` exist only once there is something to send or receive: a listening
/// connection has neither, SYN-SENT has no receiver (nothing is known of the peer yet), and
/// TIME-WAIT keeps only the receiver (for data the user has not read yet) and the one sequence
/// number it needs to acknowledge a retransmitted FIN.
///
/// The seven synchronized states that keep both sides (SYN-RECEIVED through LAST-ACK) hold
/// the same data, so they are one variant told apart by a [`Phase`]: moving between them (the
/// ACK of our SYN, a close, a FIN, the ACK of our FIN) rewrites the phase in place rather than
/// moving the ~600 bytes of the sender and receiver into another variant. The phase is a bare
/// tag, so the variant's payload starts where every other state's does and `sender()` reads
/// one offset whatever the state.
///
/// `repr(u8)`: the tag is a byte of its own ahead of the payload. Left to the compiler, it may
/// be folded into spare values of another field, which `name()` and `sender()`, asked on
/// every segment, then decode rather than read (`synack bench crr` under callgrind: 1.4%
/// more instructions without it).
///
/// SYN-SENT is smaller than the rest (no receiver yet): it is not boxed to even them out, as a
/// box would cost every connection an allocation and a pointer chase per segment.
#[derive(Debug)]
#[repr(u8)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum State {
    Closed(Closed),
    Listen(Listen),
    SynSent(SynSent),
    Synced(Phase, Synced),
    TimeWait(TimeWait),
}

/// Which of the synchronized states with a sender a [`State::Synced`] connection is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Our SYN-ACK (or, in a simultaneous open, our SYN) waits for its ACK. How it began
    /// and whether a FIN waits for its end are the connection's (`passive_open`,
    /// `fin_after_handshake`): with them here the phase would be no bare tag.
    SynReceived,
    Established,
    /// Our FIN is queued or in flight.
    FinWait1,
    /// Our FIN is acknowledged; the peer may still send (see `Synced::phase_time`).
    FinWait2,
    /// The peer's FIN arrived; we may still send.
    CloseWait,
    /// Both FINs sent, ours not yet acknowledged.
    Closing,
    /// The peer's FIN arrived, ours is in flight.
    LastAck,
}

impl Phase {
    pub fn name(self) -> StateName {
        match self {
            Phase::SynReceived => StateName::SynReceived,
            Phase::Established => StateName::Established,
            Phase::FinWait1 => StateName::FinWait1,
            Phase::FinWait2 => StateName::FinWait2,
            Phase::CloseWait => StateName::CloseWait,
            Phase::Closing => StateName::Closing,
            Phase::LastAck => StateName::LastAck,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Closed {
    /// Why the connection ended, when it did not end in an orderly way.
    pub error: Option<ConnError>,
    /// Data received before the connection ended, still readable by the user.
    pub rcv: Option<Receiver>,
    /// The congestion parts the connection had, kept for its host (`CongestionParts`).
    pub spare: CongestionParts,
}

#[derive(Debug)]
pub(crate) struct Listen {
    /// The ISS to use for the next SYN-ACK (supplied by the caller; see `Connection::listen`).
    pub iss: u32,
    /// Parts its host gave for the handshake a SYN starts (`CongestionParts`).
    pub spare: CongestionParts,
}

#[derive(Debug)]
#[repr(C)]
pub(crate) struct SynSent {
    pub snd: Sender,
    /// When our first SYN left: the handshake's start, for `Config::connect_timeout`.
    pub since: Option<Instant>,
    /// The user shut down the send side before the handshake finished: the FIN follows the
    /// queued data once established.
    pub close_requested: bool,
    /// Parts its host gave for the handshake (`CongestionParts`).
    pub spare: CongestionParts,
}

/// `repr(C)`, the sender first: its hot fields (`Sender`) then directly follow the
/// connection's own and the state's tag (`Connection`).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Synced {
    pub snd: Sender,
    /// The one time a phase keeps, so the two that need one share its room:
    /// - SYN-RECEIVED: when the handshake began (the peer's SYN arrived, or our own SYN left
    ///   in a simultaneous open), which the handshake's limit counts from;
    /// - FIN-WAIT-2: when a connection the user has closed stops waiting for the peer's FIN
    ///   (RFC 9293 leaves FIN-WAIT-2 unbounded; RFC 1122 §4.2.2.13 and Linux's
    ///   `tcp_fin_timeout` bound it once nobody can read what arrives), `None` while the
    ///   user may still read.
    ///
    /// `None` in the other phases.
    ///
    /// Between the sender and the receiver: every segment's deadline check reads it, and
    /// here it shares a line with the receiver's hot fields instead of taking one of its own
    /// behind the receiver's cold ones.
    pub phase_time: Option<Instant>,
    pub rcv: Receiver,
}

impl Synced {
    pub fn new(snd: Sender, rcv: Receiver) -> Synced {
        Synced {
            snd,
            rcv,
            phase_time: None,
        }
    }
}

#[derive(Debug)]
#[repr(C)]
pub(crate) struct TimeWait {
    /// The receive side, for data still unread and to re-ACK a retransmitted FIN.
    pub rcv: Receiver,
    /// SND.NXT: the sequence number of our ACKs.
    pub snd_nxt: crate::seq::SeqNum,
    /// When the 2MSL wait ends (restarted by a retransmitted FIN, RFC 9293 §3.10.7.4).
    pub expires: Instant,
    /// When a stray segment was last answered (see `TimeWaitRecord`), in milliseconds.
    pub last_stray_ack: Option<u32>,
    /// The congestion parts the connection had, kept for its host (`CongestionParts`).
    pub spare: CongestionParts,
}

impl State {
    /// The congestion parts held, for the host to reuse once the connection is gone.
    pub fn take_parts(&mut self) -> CongestionParts {
        match self {
            State::Closed(Closed { spare, .. })
            | State::Listen(Listen { spare, .. })
            | State::SynSent(SynSent { spare, .. })
            | State::TimeWait(TimeWait { spare, .. }) => core::mem::take(spare),
            State::Synced(_, s) => s.snd.cc.take_parts(),
        }
    }

    /// Parts for a handshake not yet made; a state past it has its own and drops these.
    pub fn give_parts(&mut self, parts: CongestionParts) {
        if let State::Listen(Listen { spare, .. }) | State::SynSent(SynSent { spare, .. }) = self {
            *spare = parts;
        }
    }

    pub fn name(&self) -> StateName {
        match self {
            State::Closed(_) => StateName::Closed,
            State::Listen(_) => StateName::Listen,
            State::SynSent(_) => StateName::SynSent,
            State::Synced(phase, _) => phase.name(),
            State::TimeWait(_) => StateName::TimeWait,
        }
    }

    pub fn sender(&self) -> Option<&Sender> {
        match self {
            State::SynSent(s) => Some(&s.snd),
            State::Synced(_, s) => Some(&s.snd),
            _ => None,
        }
    }

    pub fn sender_mut(&mut self) -> Option<&mut Sender> {
        match self {
            State::SynSent(s) => Some(&mut s.snd),
            State::Synced(_, s) => Some(&mut s.snd),
            _ => None,
        }
    }

    pub fn receiver(&self) -> Option<&Receiver> {
        match self {
            State::Synced(_, s) => Some(&s.rcv),
            State::TimeWait(s) => Some(&s.rcv),
            State::Closed(c) => c.rcv.as_ref(),
            _ => None,
        }
    }

    pub fn receiver_mut(&mut self) -> Option<&mut Receiver> {
        match self {
            State::Synced(_, s) => Some(&mut s.rcv),
            State::TimeWait(s) => Some(&mut s.rcv),
            State::Closed(c) => c.rcv.as_mut(),
            _ => None,
        }
    }
}
