//! The legal state transitions, declared once as data (RFC 9293 §3.3.2, Figure 5, plus the
//! timeouts, aborts and resets that the figure leaves out). The connection refuses to move along
//! any edge not listed here, tools draw the diagram from this table, and the test suite proves
//! every row is exercised.

use core::fmt;

use super::StateName::{self, *};

/// What moved a connection from one state to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    /// The user called connect (active OPEN).
    UserConnect,
    /// The user called listen (passive OPEN).
    UserListen,
    /// The user called close or shutdown(Write) (CLOSE).
    UserClose,
    /// The user aborted the connection (ABORT).
    UserAbort,
    /// A SYN arrived.
    RecvSyn,
    /// A SYN-ACK acknowledging our SYN arrived.
    RecvSynAck,
    /// An ACK arrived that acknowledged our SYN or our FIN.
    RecvAck,
    /// A FIN arrived (in sequence).
    RecvFin,
    /// An acceptable RST arrived.
    RecvRst,
    /// Retransmissions of SYN, SYN-ACK, data or FIN ran out (RFC 9293 §3.8.3).
    RetransmitTimeout,
    /// Keepalive probes went unanswered (RFC 1122 §4.2.3.6).
    KeepaliveTimeout,
    /// The 2MSL wait ended (RFC 9293 §3.4.2).
    TimeWaitExpired,
    /// An orphaned connection waited too long in FIN-WAIT-2 for the peer's FIN.
    FinWait2Timeout,
    /// Data arrived after the user closed (not just shut down) the connection: RFC 1122
    /// §4.2.2.13 says to answer with RST, as Linux does.
    DataAfterClose,
    /// An ACK carrying a valid SYN cookie reached a listener (RFC 4987 §3.6): the connection
    /// is created straight in ESTABLISHED, since no SYN-RECEIVED state was kept.
    RecvCookieAck,
}

impl Cause {
    /// A short label for diagrams and logs.
    pub fn label(self) -> &'static str {
        match self {
            Cause::UserConnect => "connect",
            Cause::UserListen => "listen",
            Cause::UserClose => "close",
            Cause::UserAbort => "abort",
            Cause::RecvSyn => "rcv SYN",
            Cause::RecvSynAck => "rcv SYN+ACK",
            Cause::RecvAck => "rcv ACK",
            Cause::RecvFin => "rcv FIN",
            Cause::RecvRst => "rcv RST",
            Cause::RetransmitTimeout => "retransmit timeout",
            Cause::KeepaliveTimeout => "keepalive timeout",
            Cause::TimeWaitExpired => "2MSL timeout",
            Cause::FinWait2Timeout => "FIN-WAIT-2 timeout",
            Cause::DataAfterClose => "data after close",
            Cause::RecvCookieAck => "rcv cookie ACK",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One legal edge of the state diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Transition {
    pub from: StateName,
    pub to: StateName,
    pub cause: Cause,
}

const fn t(from: StateName, to: StateName, cause: Cause) -> Transition {
    Transition { from, to, cause }
}

use Cause::*;

/// Every transition a connection may make.
pub const TRANSITIONS: &[Transition] = &[
    // Opening (RFC 9293 §3.5). A close in SYN-RECEIVED waits for ESTABLISHED before its FIN
    // (RFC 9293 §3.10.4), so it shows as ESTABLISHED → FIN-WAIT-1.
    t(Closed, SynSent, UserConnect),
    t(Closed, Listen, UserListen),
    t(Listen, SynReceived, RecvSyn),
    t(Listen, Closed, UserClose),
    t(Listen, Closed, UserAbort),
    t(Listen, Established, RecvCookieAck), // SYN cookie (RFC 4987), built by the host
    t(SynSent, Established, RecvSynAck),
    t(SynSent, SynReceived, RecvSyn), // simultaneous open
    t(SynSent, Closed, RecvRst),
    t(SynSent, Closed, UserClose),
    t(SynSent, Closed, UserAbort),
    t(SynSent, Closed, RetransmitTimeout),
    t(SynReceived, Established, RecvAck),
    t(SynReceived, Listen, RecvRst), // passive open goes back to listening
    t(SynReceived, Listen, RecvSyn), // RFC 9293 §3.10.7.4 fourth check, passive open
    t(SynReceived, Listen, RetransmitTimeout),
    t(SynReceived, Closed, RecvRst), // active (simultaneous) open is refused
    t(SynReceived, Closed, RetransmitTimeout),
    t(SynReceived, Closed, UserAbort),
    // Data transfer and the start of closing (RFC 9293 §3.6).
    t(Established, FinWait1, UserClose),
    t(Established, CloseWait, RecvFin),
    t(Established, Closed, RecvRst),
    t(Established, Closed, RetransmitTimeout),
    t(Established, Closed, UserAbort),
    t(Established, Closed, KeepaliveTimeout),
    // Active close.
    t(FinWait1, FinWait2, RecvAck),
    t(FinWait1, Closing, RecvFin), // simultaneous close
    t(FinWait1, Closed, RecvRst),
    t(FinWait1, Closed, RetransmitTimeout),
    t(FinWait1, Closed, UserAbort),
    t(FinWait1, Closed, DataAfterClose),
    t(FinWait2, TimeWait, RecvFin),
    t(FinWait2, Closed, RecvRst),
    t(FinWait2, Closed, FinWait2Timeout),
    t(FinWait2, Closed, UserAbort),
    t(FinWait2, Closed, DataAfterClose),
    t(Closing, TimeWait, RecvAck),
    t(Closing, Closed, RecvRst),
    t(Closing, Closed, RetransmitTimeout),
    t(Closing, Closed, UserAbort),
    t(TimeWait, Closed, TimeWaitExpired),
    t(TimeWait, Closed, RecvRst),
    t(TimeWait, Closed, UserAbort),
    // Passive close.
    t(CloseWait, LastAck, UserClose),
    t(CloseWait, Closed, RecvRst),
    t(CloseWait, Closed, RetransmitTimeout),
    t(CloseWait, Closed, UserAbort),
    t(CloseWait, Closed, KeepaliveTimeout),
    t(LastAck, Closed, RecvAck),
    t(LastAck, Closed, RecvRst),
    t(LastAck, Closed, RetransmitTimeout),
    t(LastAck, Closed, UserAbort),
];

/// Whether the table has this edge.
pub fn is_legal(from: StateName, to: StateName, cause: Cause) -> bool {
    TRANSITIONS
        .iter()
        .any(|r| r.from == from && r.to == to && r.cause == cause)
}

/// Per state, a bit per cause: set when some edge from that state on that cause leads to
/// CLOSED, LISTEN or TIME-WAIT, the states without a send side.
const ENDS_SEND_SIDE: [u32; StateName::ALL.len()] = {
    let mut bits = [0u32; StateName::ALL.len()];
    let mut i = 0;
    while i < TRANSITIONS.len() {
        let r = TRANSITIONS[i];
        if matches!(r.to, Closed | Listen | TimeWait) {
            bits[r.from as usize] |= 1 << r.cause as u32;
        }
        i += 1;
    }
    bits
};

/// Whether leaving `from` because of `cause` may end the send side (lead to CLOSED, LISTEN or
/// TIME-WAIT): a table look-up, cheap enough for every state change.
pub(crate) fn may_end_send_side(from: StateName, cause: Cause) -> bool {
    ENDS_SEND_SIDE[from as usize] & (1 << cause as u32) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_side_ends_only_on_edges_into_closed_listen_or_time_wait() {
        // Every cause that labels some edge; a cause on no edge cannot end anything, and the
        // bit table has no bit for it either.
        for from in StateName::ALL {
            for cause in TRANSITIONS.iter().map(|r| r.cause) {
                let by_scan = TRANSITIONS.iter().any(|r| {
                    r.from == from && r.cause == cause && matches!(r.to, Closed | Listen | TimeWait)
                });
                assert_eq!(may_end_send_side(from, cause), by_scan, "{from} on {cause}");
            }
        }
        assert!(may_end_send_side(FinWait2, RecvFin));
        assert!(may_end_send_side(LastAck, RecvAck));
        assert!(!may_end_send_side(FinWait1, RecvAck));
        assert!(!may_end_send_side(SynSent, RecvSynAck));
    }

    #[test]
    fn table_has_no_duplicate_rows_and_reaches_every_state() {
        for (i, a) in TRANSITIONS.iter().enumerate() {
            assert!(!TRANSITIONS[i + 1..].contains(a), "duplicate row {a:?}");
            assert_ne!(a.from, a.to, "self-loops are not transitions: {a:?}");
        }
        for s in StateName::ALL {
            assert!(TRANSITIONS.iter().any(|r| r.to == s), "{s} unreachable");
        }
    }
}
