//! How the socket table's errors read to a `std::io` user: the `ErrorKind`s std::net code
//! matches on.

use std::io::{self, ErrorKind};

use synack_proto::ConnError;
use synack_socket::SocketError;

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

/// A refused socket call.
pub fn socket_error(e: SocketError) -> io::Error {
    let kind = match e {
        SocketError::Ended(e) => return conn_error(e),
        SocketError::BadSocket | SocketError::StaleHandle | SocketError::NotConnected => {
            ErrorKind::NotConnected
        }
        SocketError::InvalidInput
        | SocketError::FamilyNotSupported
        | SocketError::FamilyMismatch
        | SocketError::InvalidAddress
        | SocketError::NoSuchOption => ErrorKind::InvalidInput,
        SocketError::AddrInUse => ErrorKind::AddrInUse,
        SocketError::AddrNotAvailable => ErrorKind::AddrNotAvailable,
        SocketError::ConnectionLimit => ErrorKind::OutOfMemory,
        SocketError::WouldBlock | SocketError::InProgress => ErrorKind::WouldBlock,
        SocketError::IsConnected | SocketError::AlreadyConnecting => ErrorKind::AlreadyExists,
        SocketError::BrokenPipe => ErrorKind::BrokenPipe,
        SocketError::Unsupported(_) => ErrorKind::Unsupported,
        _ => ErrorKind::Other,
    };
    match e {
        SocketError::WouldBlock | SocketError::BrokenPipe | SocketError::NotConnected => {
            io::Error::from(kind)
        }
        e => io::Error::new(kind, e),
    }
}

pub fn would_block() -> io::Error {
    io::Error::from(ErrorKind::WouldBlock)
}

pub fn stopped() -> io::Error {
    io::Error::new(ErrorKind::NotConnected, "the synack stack has stopped")
}
