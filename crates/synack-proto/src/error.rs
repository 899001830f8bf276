//! Errors a user of a connection can see. The runtime maps them onto `std::io::ErrorKind`.

/// Why a connection ended or why a call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer answered our SYN with a reset (RFC 9293 §3.10.7.3).
    #[error("connection refused")]
    ConnectionRefused,
    /// The peer reset a synchronized connection (RFC 9293 §3.10.7.4, second check).
    #[error("connection reset by peer")]
    ConnectionReset,
    /// Retransmissions ran out, or the FIN-WAIT-2 or user timeout fired (RFC 9293 §3.8.3).
    #[error("connection timed out")]
    TimedOut,
    /// The local user aborted the connection.
    #[error("connection aborted")]
    ConnectionAborted,
    /// The call needs an established connection (e.g. `send` before `connect`).
    #[error("not connected")]
    NotConnected,
    /// Sending after `shutdown(Write)` or `close` (RFC 9293 §3.10.2: "connection closing").
    #[error("connection closing: the send side is shut down")]
    Closing,
    /// Nothing to read yet, or no room to write yet; try again after the next event.
    #[error("operation would block")]
    WouldBlock,
    /// ICMP said the peer's host cannot be reached, and retransmissions ran out
    /// (RFC 1122 §4.2.3.9 soft error).
    #[error("host unreachable")]
    HostUnreachable,
    /// ICMP said the peer's network cannot be reached, and retransmissions ran out.
    #[error("network unreachable")]
    NetworkUnreachable,
    /// The call makes no sense in the connection's current state.
    #[error("invalid operation in state {0}")]
    InvalidState(crate::conn::StateName),
}
