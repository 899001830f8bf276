//! How the core's errors read to a `std::io` user: the `ErrorKind`s std::net code matches on.

use std::io::{self, ErrorKind};

use synack_proto::Error;
use synack_proto::host::HostError;

/// A connection's error as the kind std::net reports for the same errno on Linux.
pub fn conn_error(e: Error) -> io::Error {
    let kind = match e {
        Error::ConnectionRefused => ErrorKind::ConnectionRefused,
        Error::ConnectionReset => ErrorKind::ConnectionReset,
        Error::TimedOut => ErrorKind::TimedOut,
        Error::ConnectionAborted => ErrorKind::ConnectionAborted,
        Error::NotConnected => ErrorKind::NotConnected,
        Error::Closing => ErrorKind::BrokenPipe,
        Error::WouldBlock => ErrorKind::WouldBlock,
        Error::HostUnreachable => ErrorKind::HostUnreachable,
        Error::NetworkUnreachable => ErrorKind::NetworkUnreachable,
        Error::InvalidState(_) => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// A refused host call.
pub fn host_error(e: HostError) -> io::Error {
    let kind = match e {
        HostError::Conn(e) => return conn_error(e),
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
