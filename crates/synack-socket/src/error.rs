//! Why a socket call failed, in neutral terms: the BSD veneer turns each into an errno, the
//! runtime into an `io::ErrorKind`.

use alloc::string::String;

use synack_proto::host::HostError;
use synack_proto::{CallError, ConnError};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// No socket has this id (a closed or never-opened one).
    #[error("no such socket")]
    BadSocket,
    /// The socket's connection handle went stale under it.
    #[error("the connection is gone")]
    StaleHandle,
    /// The call does not fit the socket's state or an argument is out of range.
    #[error("invalid argument")]
    InvalidInput,
    /// The address family is not one the socket or the host speaks.
    #[error("address family not supported")]
    FamilyNotSupported,
    /// The option belongs to another protocol level than the socket's (an IPv6 option on an
    /// IPv4 socket).
    #[error("protocol option not available")]
    NoSuchOption,
    /// Local and remote addresses are of different IP versions.
    #[error("local and remote address families differ")]
    FamilyMismatch,
    /// The remote address is unspecified, multicast or has port 0.
    #[error("invalid address")]
    InvalidAddress,
    #[error("address in use")]
    AddrInUse,
    #[error("address not available")]
    AddrNotAvailable,
    /// The host holds as many connections as it may.
    #[error("connection limit reached")]
    ConnectionLimit,
    /// Nothing to read yet, no room to write yet, or the handshake still runs.
    #[error("operation would block")]
    WouldBlock,
    /// `connect` sent the SYN; the outcome comes later.
    #[error("operation in progress")]
    InProgress,
    /// `connect` again while the first one runs.
    #[error("connection already in progress")]
    AlreadyConnecting,
    /// `connect` again on a connected socket.
    #[error("already connected")]
    IsConnected,
    #[error("not connected")]
    NotConnected,
    /// Writing after the send side was shut down or the connection ended.
    #[error("broken pipe")]
    BrokenPipe,
    /// The connection ended for this reason (reported once).
    #[error(transparent)]
    Ended(ConnError),
    /// Something the host refused that has no better name.
    #[error("input/output error")]
    Other,
    /// Meaningful on Linux but not something synack does; the text says which. Nothing was
    /// changed.
    #[error("unsupported by synack: {0}")]
    Unsupported(String),
}

pub type SocketResult<T> = Result<T, SocketError>;

pub(crate) fn unsupported<T>(what: impl Into<String>) -> SocketResult<T> {
    Err(SocketError::Unsupported(what.into()))
}

impl From<CallError> for SocketError {
    fn from(e: CallError) -> SocketError {
        match e {
            CallError::NotConnected => SocketError::NotConnected,
            CallError::Closing => SocketError::BrokenPipe,
            CallError::WouldBlock => SocketError::WouldBlock,
            CallError::Ended(e) => SocketError::Ended(e),
            _ => SocketError::Other,
        }
    }
}

impl From<HostError> for SocketError {
    fn from(e: HostError) -> SocketError {
        match e {
            HostError::InvalidHandle | HostError::InvalidListener => SocketError::StaleHandle,
            HostError::AddrInUse => SocketError::AddrInUse,
            HostError::AddrNotAvailable => SocketError::AddrNotAvailable,
            HostError::AddressFamilyMismatch => SocketError::FamilyMismatch,
            HostError::InvalidAddress => SocketError::InvalidAddress,
            HostError::ConnectionLimit => SocketError::ConnectionLimit,
            HostError::Call(e) => e.into(),
            _ => SocketError::Other,
        }
    }
}
