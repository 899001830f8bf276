//! The hooks that move data: `read`, `readv`, `recv`, `recvfrom`, `recvmsg` and their
//! `write` counterparts. Each only unpacks its C arguments; the two shared bodies,
//! [`recv_into`] and [`send_from`], check flags, buffers and lengths in Linux's order and
//! call [`Instance`].

use std::ptr;

use libc::{c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use super::args::{gather, in_buf, iovecs, scatter};
use super::hook;
use crate::calls::{Received, RecvFlags};
use crate::instance::Instance;

/// Bytes one read may ask for at once; more would only allocate memory the receive buffer
/// can never fill.
const READ_MAX: usize = 16 << 20;

/// `send`/`recv` flags (Linux's numbers).
const MSG_OOB: c_int = 0x1;
const MSG_PEEK: c_int = 0x2;
const MSG_TRUNC: c_int = 0x20;
const MSG_DONTWAIT: c_int = 0x40;
const MSG_WAITALL: c_int = 0x100;
/// Changes nothing here: synack never raises `SIGPIPE`.
const MSG_NOSIGNAL: c_int = 0x4000;
const MSG_MORE: c_int = 0x8000;

/// Where a call's bytes are: one buffer, or an `iovec` array not yet checked.
#[derive(Clone, Copy)]
enum Bufs<P> {
    One(P, size_t),
    Vec(*const iovec, c_int),
}

fn to_ssize(n: usize) -> ssize_t {
    ssize_t::try_from(n).unwrap_or(ssize_t::MAX)
}

/// Refuses any flag outside `known` that would change the result (`MSG_ERRQUEUE`, ...),
/// saying which.
fn only(i: &Instance, flags: c_int, known: c_int, call: &str) -> Result<(), c_int> {
    let rest = flags & !known;
    if rest != 0 {
        if !i.quiet() {
            eprintln!("synack-packetdrill: unsupported by synack: {call} flags {rest:#x}");
        }
        return Err(libc::EOPNOTSUPP);
    }
    Ok(())
}

/// The shared body of every read: flags, then the buffers, then the read.
///
/// # Safety
/// A `One` pointer, when not null, holds its length of writable bytes; a `Vec` pointer is
/// null or points to its count of `iovec`s, each base holding its length of writable bytes.
unsafe fn recv_into(
    i: &Instance,
    fd: c_int,
    bufs: Bufs<*mut c_void>,
    flags: c_int,
    call: &str,
) -> Result<ssize_t, c_int> {
    only(
        i,
        flags,
        MSG_DONTWAIT | MSG_NOSIGNAL | MSG_PEEK | MSG_WAITALL | MSG_TRUNC | MSG_OOB,
        call,
    )?;
    let how = RecvFlags {
        dontwait: flags & MSG_DONTWAIT != 0,
        peek: flags & MSG_PEEK != 0,
        waitall: flags & MSG_WAITALL != 0,
        trunc: flags & MSG_TRUNC != 0,
        oob: flags & MSG_OOB != 0,
    };
    let (iov, len) = match bufs {
        Bufs::One(_, n) => (None, n),
        Bufs::Vec(v, cnt) => {
            // SAFETY: `v` is null or points to `cnt` iovecs (this function's contract).
            let (iov, total) = unsafe { iovecs(v, cnt) }?;
            (Some(iov), total)
        }
    };
    // A zero-length MSG_OOB read still takes the byte, as Linux's `tcp_recv_urg` does.
    if len == 0 && !how.oob {
        // Linux returns 0 for an empty read without waiting; the call still checks the fd.
        let probe = RecvFlags {
            dontwait: true,
            ..how
        };
        return match i.recv(fd, 0, probe) {
            Ok(_) | Err(libc::EAGAIN) => Ok(0),
            Err(e) => Err(e),
        };
    }
    if matches!(bufs, Bufs::One(p, _) if p.is_null()) {
        return Err(libc::EFAULT);
    }
    let data = match i.recv(fd, len.min(READ_MAX), how)? {
        Received::Count(n) => return Ok(to_ssize(n)),
        Received::Data(d) => d,
    };
    match (bufs, iov) {
        // SAFETY: data.len() <= len, the buffer's length, and the pointer is not null.
        (Bufs::One(p, _), _) => unsafe {
            ptr::copy_nonoverlapping(data.as_ptr(), p.cast::<u8>(), data.len())
        },
        // SAFETY: `iov` passed `iovecs`; each base holds its length of writable bytes.
        (_, Some(iov)) => unsafe { scatter(iov, &data) },
        (Bufs::Vec(..), None) => {}
    }
    Ok(to_ssize(data.len()))
}

/// The shared body of every write: flags, then the buffers, then the write. `MSG_MORE`
/// holds a short tail back, as `TCP_CORK` does.
///
/// # Safety
/// A `One` pointer, when not null, holds its length of readable bytes; a `Vec` pointer is
/// null or points to its count of `iovec`s, each base holding its length of readable bytes.
unsafe fn send_from(
    i: &Instance,
    fd: c_int,
    bufs: Bufs<*const c_void>,
    flags: c_int,
    call: &str,
) -> Result<ssize_t, c_int> {
    only(
        i,
        flags,
        MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE | MSG_OOB,
        call,
    )?;
    let (dontwait, more) = (flags & MSG_DONTWAIT != 0, flags & MSG_MORE != 0);
    let write = |data: &[u8]| {
        if flags & MSG_OOB != 0 {
            i.write_urgent(fd, data, dontwait)
        } else {
            i.write(fd, data, dontwait, more)
        }
    };
    match bufs {
        Bufs::One(p, n) => {
            // SAFETY: `p` is null or holds `n` readable bytes (this function's contract).
            let data = unsafe { in_buf(p, n) }?;
            write(data).map(to_ssize)
        }
        Bufs::Vec(v, cnt) => {
            // SAFETY: `v` is null or points to `cnt` iovecs (this function's contract).
            let (iov, total) = unsafe { iovecs(v, cnt) }?;
            // SAFETY: `iov` passed `iovecs`; each base holds its length of readable bytes.
            let data = unsafe { gather(iov, total) };
            write(&data).map(to_ssize)
        }
    }
}

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_read(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
) -> ssize_t {
    // SAFETY: `ud` and `buf` as the hooks' contract gives them.
    unsafe { hook(ud, -1, |i| recv_into(i, fd, Bufs::One(buf, n), 0, "read")) }
}

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_readv(
    ud: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    cnt: c_int,
) -> ssize_t {
    // SAFETY: `ud` and `iov` as the hooks' contract gives them.
    unsafe {
        hook(ud, -1, |i| {
            recv_into(i, fd, Bufs::Vec(iov, cnt), 0, "readv")
        })
    }
}

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_recv(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: `ud` and `buf` as the hooks' contract gives them.
    unsafe {
        hook(ud, -1, |i| {
            recv_into(i, fd, Bufs::One(buf, n), flags, "recv")
        })
    }
}

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_recvfrom(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    // SAFETY: `ud`, `buf` and `len` as the hooks' contract gives them.
    unsafe {
        hook(ud, -1, |i| {
            if !addr.is_null() && len.is_null() {
                return Err(libc::EFAULT);
            }
            let r = recv_into(i, fd, Bufs::One(buf, n), flags, "recvfrom")?;
            // TCP reports no source address: Linux sets the length to 0.
            if !len.is_null() {
                ptr::write_unaligned(len, 0);
            }
            Ok(r)
        })
    }
}

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_recvmsg(
    ud: *mut c_void,
    fd: c_int,
    msg: *mut msghdr,
    flags: c_int,
) -> ssize_t {
    // SAFETY: `ud` and `msg` as the hooks' contract gives them: `msg` is null or a live
    // msghdr whose iovecs hold their lengths of writable bytes.
    unsafe {
        hook(ud, -1, |i| {
            let m = msg.as_mut().ok_or(libc::EFAULT)?;
            let cnt = c_int::try_from(m.msg_iovlen).map_err(|_| libc::EINVAL)?;
            let r = recv_into(i, fd, Bufs::Vec(m.msg_iov, cnt), flags, "recvmsg")?;
            // TCP: no source address, no ancillary data, no flags.
            m.msg_namelen = 0;
            m.msg_controllen = 0;
            m.msg_flags = 0;
            Ok(r)
        })
    }
}

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_write(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
) -> ssize_t {
    // SAFETY: `ud` and `buf` as the hooks' contract gives them.
    unsafe { hook(ud, -1, |i| send_from(i, fd, Bufs::One(buf, n), 0, "write")) }
}

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_writev(
    ud: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    cnt: c_int,
) -> ssize_t {
    // SAFETY: `ud` and `iov` as the hooks' contract gives them.
    unsafe {
        hook(ud, -1, |i| {
            send_from(i, fd, Bufs::Vec(iov, cnt), 0, "writev")
        })
    }
}

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_send(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: `ud` and `buf` as the hooks' contract gives them.
    unsafe {
        hook(ud, -1, |i| {
            send_from(i, fd, Bufs::One(buf, n), flags, "send")
        })
    }
}

/// On a TCP socket Linux ignores `sendto`'s address (short of `MSG_FASTOPEN`, which is
/// refused here): it is `send`.
///
/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_sendto(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    _addr: *const sockaddr,
    _len: socklen_t,
) -> ssize_t {
    // SAFETY: `ud` and `buf` as the hooks' contract gives them.
    unsafe {
        hook(ud, -1, |i| {
            send_from(i, fd, Bufs::One(buf, n), flags, "sendto")
        })
    }
}

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_sendmsg(
    ud: *mut c_void,
    fd: c_int,
    msg: *const msghdr,
    flags: c_int,
) -> ssize_t {
    // SAFETY: `ud` and `msg` as the hooks' contract gives them: `msg` is null or a live
    // msghdr whose iovecs hold their lengths of readable bytes.
    unsafe {
        hook(ud, -1, |i| {
            let m = msg.as_ref().ok_or(libc::EFAULT)?;
            if m.msg_controllen != 0 {
                if !i.quiet() {
                    eprintln!("synack-packetdrill: unsupported by synack: sendmsg ancillary data");
                }
                return Err(libc::EOPNOTSUPP);
            }
            let cnt = c_int::try_from(m.msg_iovlen).map_err(|_| libc::EINVAL)?;
            send_from(i, fd, Bufs::Vec(m.msg_iov, cnt), flags, "sendmsg")
        })
    }
}
