//! How the core's errors read to a `std::io` user: the `ErrorKind`s std::net code matches on.

use std::io::{self, ErrorKind};

use synack_proto::host::HostError;
use synack_proto::{CallError, ConnError};

/// Why a connection ended, as the kind std::net reports for the same errno on Linux.
pub fn conn_error(e: ConnError) -> io::Error {
    let kind = match e {
        ConnError::ConnectionRefused => ErrorKind::ConnectionRefused,
        ConnError::ConnectionReset => ErrorKind::ConnectionReset,
        ConnError::TimedOut => ErrorKind::TimedOut,
        ConnError::ConnectionAborted => ErrorKind::ConnectionAborted,
        ConnError::HostUnreachable => ErrorKind::HostUnreachable,
        ConnError::NetworkUnreachable => ErrorKind::NetworkUnreachable,
        _ => ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// A refused call on a connection, likewise.
pub fn call_error(e: CallError) -> io::Error {
    let kind = match e {
        CallError::Ended(e) => return conn_error(e),
        CallError::NotConnected => ErrorKind::NotConnected,
        CallError::Closing => ErrorKind::BrokenPipe,
        CallError::WouldBlock => ErrorKind::WouldBlock,
        _ => ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// A refused host call.
pub fn host_error(e: HostError) -> io::Error {
    let kind = match e {
        HostError::Call(e) => return call_error(e),
        HostError::InvalidHandle | HostError::InvalidListener => ErrorKind::NotConnected,
        HostError::AddrInUse => ErrorKind::AddrInUse,
        HostError::AddrNotAvailable => ErrorKind::AddrNotAvailable,
        HostError::AddressFamilyMismatch | HostError::InvalidAddress => ErrorKind::InvalidInput,
        HostError::ConnectionLimit => ErrorKind::OutOfMemory,
        _ => ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

pub fn would_block() -> io::Error {
    io::Error::from(ErrorKind::WouldBlock)
}

pub fn stopped() -> io::Error {
    io::Error::new(ErrorKind::NotConnected, "the synack stack has stopped")
}
