//! The descriptor numbers the library hands out.
//!
//! packetdrill runs the library inside its own process, which has descriptors of its own
//! open before the script starts (a listening socket that reserves ephemeral ports, at
//! least), and treats every number `socket()` or `accept()` returns as a real descriptor: at
//! the end of a script it calls the real `close()` on each one the script left open, and
//! for a `%{ }%` line it calls the real `getsockopt(TCP_INFO)` on it. So each synack socket
//! is backed by a descriptor the library opens itself — an `eventfd`, which is no socket —
//! and its number is the one returned: it can never collide with packetdrill's, and a real
//! `close()` or `getsockopt()` on it is harmless (`ENOTSOCK`, clearly not TCP).
//!
//! The library closes the descriptor when the script closes the socket through it. One the
//! caller still holds at the end belongs to the caller, as a kernel socket would:
//! packetdrill closes it, so the library must not close that number again (it may already
//! name something else).

use libc::c_int;

/// Opens a descriptor to stand for one synack socket.
pub fn open() -> Result<c_int, c_int> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: eventfd takes no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    // SAFETY: a NUL-terminated path literal.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EMFILE))
    } else {
        Ok(fd)
    }
}

/// Closes a descriptor [`open`] returned, when the script closes its socket.
pub fn close(fd: c_int) {
    // SAFETY: the library opened `fd` and no longer hands it out.
    unsafe { libc::close(fd) };
}
