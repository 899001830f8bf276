//! Errors a user of a connection can see, in two kinds: why a connection ended
//! ([`ConnError`], reported once by the `Closed` event and kept by the connection), and why
//! one call was refused ([`CallError`], which may be "try again" or carry the `ConnError` of a
//! connection that has ended). The runtime maps both onto `std::io::ErrorKind`.

/// Why a connection ended, when it did not end in order; also what an ICMP soft error said
/// about the path (RFC 1122 §4.2.3.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    /// The peer answered our SYN with a reset (RFC 9293 §3.10.7.3), or ICMP said its port is
    /// unreachable.
    #[error("connection refused")]
    ConnectionRefused,
    /// The peer reset a synchronized connection (RFC 9293 §3.10.7.4, second check).
    #[error("connection reset by peer")]
    ConnectionReset,
    /// Retransmissions ran out, or the FIN-WAIT-2, keepalive or user timeout fired (RFC 9293
    /// §3.8.3).
    #[error("connection timed out")]
    TimedOut,
    /// The local user aborted the connection.
    #[error("connection aborted")]
    ConnectionAborted,
    /// ICMP said the peer's host cannot be reached, and retransmissions ran out.
    #[error("host unreachable")]
    HostUnreachable,
    /// ICMP said the peer's network cannot be reached, and retransmissions ran out.
    #[error("network unreachable")]
    NetworkUnreachable,
}

/// Why a call on a connection (`send`, `recv`, `shutdown`, `close`) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// Nothing to read yet, or no room to write yet; try again after the next event.
    #[error("operation would block")]
    WouldBlock,
    /// The call needs a synchronized connection (e.g. `send` on a listener, or on a
    /// connection that ended in order).
    #[error("not connected")]
    NotConnected,
    /// Sending after `shutdown` or `close` (RFC 9293 §3.10.2: "connection closing").
    #[error("connection closing: the send side is shut down")]
    Closing,
    /// A borrowed send or receive (`send_with`, `recv_with`) said it wrote or took more bytes
    /// than the slice it was lent; nothing was appended or consumed.
    #[error("more bytes claimed than the slice lent held")]
    BeyondLent,
    /// The connection has ended, for this reason.
    #[error(transparent)]
    Ended(#[from] ConnError),
}
