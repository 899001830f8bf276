//! The C entry points: `packetdrill_interface_init` and every hook it installs.
//!
//! Each hook checks its pointers and lengths, converts them to Rust values, calls
//! [`Instance`], and converts back. No panic crosses the boundary: every hook runs inside
//! `catch_unwind`, and a panic becomes `-1` with `errno = EIO`. Errors follow the C
//! convention (`-1` and `errno`), with Linux's errno values.
//!
//! # Safety
//!
//! Every hook is an `unsafe extern "C" fn` under one contract, the one packetdrill keeps
//! when it calls the table: `ud` is null or the `userdata` that [`packetdrill_interface_init`]
//! made and `free` has not yet freed; every pointer argument is null or valid for what its C
//! call gives it (a buffer for its length, an `iovec` array for its count, one `socklen_t`,
//! `msghdr`, `pollfd` array, `timeval` or `int`). Nulls, counts and lengths are checked
//! here, so a wrong one is an errno; only a non-null pointer to memory that is not there
//! can still do harm.

use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use libc::{
    c_char, c_int, c_longlong, c_uint, c_ulong, c_void, iovec, msghdr, nfds_t, pollfd, size_t,
    sockaddr, socklen_t, ssize_t, timeval, useconds_t,
};
use synack_script::{OptText, OptValue};

use crate::abi::PacketdrillInterface;
use crate::calls::PollFd;
use crate::flags;
use crate::instance::Instance;
use crate::sockaddr as caddr;
use crate::sockopt;

mod args;
use args::{gather, in_buf, iovecs, scatter};

/// The most descriptors one `poll` may name (Linux's default `RLIMIT_NOFILE`).
const POLL_MAX: nfds_t = 1024;
/// Bytes one read may ask for at once; more would only allocate memory the receive buffer
/// can never fill.
const READ_MAX: usize = 16 << 20;

/// `ioctl` requests understood (Linux's numbers).
const FIONREAD: c_ulong = 0x541B; // also SIOCINQ
const SIOCOUTQ: c_ulong = 0x5411; // also TIOCOUTQ
const FIONBIO: c_ulong = 0x5421;

/// `send`/`recv` flags that change nothing here: synack never raises `SIGPIPE`.
const MSG_NOSIGNAL: c_int = 0x4000;
const MSG_DONTWAIT: c_int = 0x40;
const MSG_MORE: c_int = 0x8000;

fn set_errno(e: c_int) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: the C library's per-thread errno slot, always valid for the calling thread.
    unsafe {
        *libc::__errno_location() = e;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    // SAFETY: the C library's per-thread errno slot, always valid for the calling thread.
    unsafe {
        *libc::__error() = e;
    }
}

/// Runs a hook: `Ok(v)` returns `v`; `Err(e)` and panics return `fail` with `errno` set.
fn guard<T>(fail: T, f: impl FnOnce() -> Result<T, c_int>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_errno(e);
            fail
        }
        Err(_) => {
            set_errno(libc::EIO);
            fail
        }
    }
}

/// The instance `userdata` points to.
///
/// # Safety
/// `ud` is null or came from `packetdrill_interface_init` and was not yet freed.
unsafe fn inst<'a>(ud: *mut c_void) -> Result<&'a Instance, c_int> {
    // SAFETY: per the contract above.
    unsafe { ud.cast::<Instance>().as_ref() }.ok_or(libc::EFAULT)
}

/// Splits `send` flags into "don't wait" and `MSG_MORE` (hold a short tail, as `TCP_CORK`
/// does), refusing any other flag that would change the result (`MSG_OOB`, ...).
fn send_flags(inst: &Instance, flags: c_int, call: &str) -> Result<(bool, bool), c_int> {
    let dw = dontwait(inst, flags & !MSG_MORE, call)?;
    Ok((dw, flags & MSG_MORE != 0))
}

/// Splits `recv`/`send` flags into "don't wait", refusing any flag that would change the
/// result (`MSG_PEEK`, `MSG_WAITALL`, `MSG_OOB`, `MSG_MORE`, ...).
fn dontwait(inst: &Instance, flags: c_int, call: &str) -> Result<bool, c_int> {
    let rest = flags & !(MSG_DONTWAIT | MSG_NOSIGNAL);
    if rest != 0 {
        if !inst.quiet() {
            eprintln!("synack-packetdrill: unsupported by synack: {call} flags {rest:#x}");
        }
        return Err(libc::EOPNOTSUPP);
    }
    Ok(flags & MSG_DONTWAIT != 0)
}

fn to_ssize(n: usize) -> ssize_t {
    ssize_t::try_from(n).unwrap_or(ssize_t::MAX)
}

/// Reads into a caller's buffer: the shared body of `read`, `recv` and `recvfrom`.
///
/// # Safety
/// `buf`, when not null, must point to `count` writable bytes.
unsafe fn read_into(
    i: &Instance,
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    dontwait: bool,
) -> Result<ssize_t, c_int> {
    if count == 0 {
        // Linux returns 0 for an empty read without waiting; the call still checks the fd.
        return match i.read(fd, 0, true) {
            Ok(_) | Err(libc::EAGAIN) => Ok(0),
            Err(e) => Err(e),
        };
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    let data = i.read(fd, count.min(READ_MAX), dontwait)?;
    // SAFETY: data.len() <= count and buf holds count bytes.
    unsafe { ptr::copy_nonoverlapping(data.as_ptr(), buf.cast::<u8>(), data.len()) };
    Ok(to_ssize(data.len()))
}

// ---------------------------------------------------------------------- the hooks

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_free(ud: *mut c_void) {
    guard((), || {
        if !ud.is_null() {
            // SAFETY: ud came from Box::into_raw in init and packetdrill frees it once.
            drop(unsafe { Box::from_raw(ud.cast::<Instance>()) });
        }
        Ok(())
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_socket(ud: *mut c_void, domain: c_int, ty: c_int, proto: c_int) -> c_int {
    // SAFETY: `ud` is null or the live instance (the hooks' contract).
    guard(-1, || unsafe { inst(ud) }?.socket(domain, ty, proto))
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_bind(
    ud: *mut c_void,
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        // SAFETY: `addr` is null or points to `len` readable bytes (the hooks' contract).
        let a = unsafe { caddr::read(addr, len) }?;
        i.bind(fd, a).map(|()| 0)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_listen(ud: *mut c_void, fd: c_int, backlog: c_int) -> c_int {
    // SAFETY: `ud` is null or the live instance (the hooks' contract).
    guard(-1, || unsafe { inst(ud) }?.listen(fd, backlog).map(|()| 0))
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_accept(
    ud: *mut c_void,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        if !addr.is_null() && len.is_null() {
            return Err(libc::EFAULT);
        }
        let (nfd, peer) = i.accept(fd)?;
        // The connection is accepted either way, as on Linux; a bad address buffer is
        // reported after the fact.
        // SAFETY: `addr` is null or holds `*len` writable bytes, and `len` is valid whenever
        // `addr` is not null (checked above).
        unsafe { caddr::write(peer, addr, len) }?;
        Ok(nfd)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_connect(
    ud: *mut c_void,
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        // SAFETY: `addr` is null or points to `len` readable bytes (the hooks' contract).
        let a = unsafe { caddr::read(addr, len) }?;
        i.connect(fd, a).map(|()| 0)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_read(ud: *mut c_void, fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    // SAFETY: `ud` is null or the live instance and `buf` is null or holds `n` writable bytes
    // (the hooks' contract).
    guard(-1, || unsafe { read_into(inst(ud)?, fd, buf, n, false) })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_readv(
    ud: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    cnt: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        // SAFETY: the iovec pointer is null or points to `cnt` readable iovecs (the hooks'
        // contract).
        let (iov, total) = unsafe { iovecs(iov, cnt) }?;
        if total == 0 {
            // SAFETY: a zero-length read touches no buffer.
            return unsafe { read_into(i, fd, ptr::null_mut(), 0, false) };
        }
        let data = i.read(fd, total.min(READ_MAX), false)?;
        // SAFETY: `iov` passed `iovecs`; each base holds its length of writable bytes (the hooks'
        // contract).
        unsafe { scatter(iov, &data) };
        Ok(to_ssize(data.len()))
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_recv(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        let dw = dontwait(i, flags, "recv")?;
        // SAFETY: `buf` is null or holds `n` writable bytes (the hooks' contract).
        unsafe { read_into(i, fd, buf, n, dw) }
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_recvfrom(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        let dw = dontwait(i, flags, "recvfrom")?;
        if !addr.is_null() && len.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: `buf` is null or holds `n` writable bytes (the hooks' contract).
        let r = unsafe { read_into(i, fd, buf, n, dw) }?;
        // TCP reports no source address: Linux sets the length to 0.
        if !len.is_null() {
            // SAFETY: `len` is non-null (checked) and points to a writable socklen_t (the hooks'
            // contract).
            unsafe { ptr::write_unaligned(len, 0) };
        }
        Ok(r)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_recvmsg(
    ud: *mut c_void,
    fd: c_int,
    msg: *mut msghdr,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        let dw = dontwait(i, flags, "recvmsg")?;
        // SAFETY: checked non-null below; packetdrill passes a live msghdr.
        let m = unsafe { msg.as_mut() }.ok_or(libc::EFAULT)?;
        let cnt = c_int::try_from(m.msg_iovlen).map_err(|_| libc::EINVAL)?;
        // SAFETY: the iovec pointer is null or points to `cnt` readable iovecs (the hooks'
        // contract).
        let (iov, total) = unsafe { iovecs(m.msg_iov, cnt) }?;
        let data = if total == 0 {
            // SAFETY: a zero-length read touches no buffer.
            unsafe { read_into(i, fd, ptr::null_mut(), 0, dw) }?;
            Vec::new()
        } else {
            i.read(fd, total.min(READ_MAX), dw)?
        };
        // SAFETY: `iov` passed `iovecs`; each base holds its length of writable bytes (the hooks'
        // contract).
        unsafe { scatter(iov, &data) };
        // TCP: no source address, no ancillary data, no flags.
        m.msg_namelen = 0;
        m.msg_controllen = 0;
        m.msg_flags = 0;
        Ok(to_ssize(data.len()))
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_write(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        // SAFETY: `buf` is null or holds `n` readable bytes (the hooks' contract).
        let data = unsafe { in_buf(buf, n) }?;
        i.write(fd, data, false, false).map(to_ssize)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_writev(
    ud: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    cnt: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        // SAFETY: the iovec pointer is null or points to `cnt` readable iovecs (the hooks'
        // contract).
        let (iov, total) = unsafe { iovecs(iov, cnt) }?;
        // SAFETY: `iov` passed `iovecs`; each base holds its length of readable bytes (the hooks'
        // contract).
        let data = unsafe { gather(iov, total) };
        i.write(fd, &data, false, false).map(to_ssize)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_send(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        let (dw, more) = send_flags(i, flags, "send")?;
        // SAFETY: `buf` is null or holds `n` readable bytes (the hooks' contract).
        let data = unsafe { in_buf(buf, n) }?;
        i.write(fd, data, dw, more).map(to_ssize)
    })
}

/// On a TCP socket Linux ignores `sendto`'s address (short of `MSG_FASTOPEN`, which is
/// refused here): it is `send`.
///
/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_sendto(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    _addr: *const sockaddr,
    _len: socklen_t,
) -> ssize_t {
    // SAFETY: the same arguments under the same contract.
    unsafe { pd_send(ud, fd, buf, n, flags) }
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_sendmsg(
    ud: *mut c_void,
    fd: c_int,
    msg: *const msghdr,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        let (dw, more) = send_flags(i, flags, "sendmsg")?;
        // SAFETY: checked non-null; packetdrill passes a live msghdr.
        let m = unsafe { msg.as_ref() }.ok_or(libc::EFAULT)?;
        if m.msg_controllen != 0 {
            if !i.quiet() {
                eprintln!("synack-packetdrill: unsupported by synack: sendmsg ancillary data");
            }
            return Err(libc::EOPNOTSUPP);
        }
        let cnt = c_int::try_from(m.msg_iovlen).map_err(|_| libc::EINVAL)?;
        // SAFETY: the iovec pointer is null or points to `cnt` readable iovecs (the hooks'
        // contract).
        let (iov, total) = unsafe { iovecs(m.msg_iov, cnt) }?;
        // SAFETY: `iov` passed `iovecs`; each base holds its length of readable bytes (the hooks'
        // contract).
        let data = unsafe { gather(iov, total) };
        i.write(fd, &data, dw, more).map(to_ssize)
    })
}

/// Variadic in C; the fixed third argument is explained in [`crate::abi`].
///
/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_fcntl(ud: *mut c_void, fd: c_int, cmd: c_int, arg: c_int) -> c_int {
    // SAFETY: `ud` is null or the live instance (the hooks' contract).
    guard(-1, || unsafe { inst(ud) }?.fcntl(fd, cmd, arg))
}

/// Variadic in C; the fixed third argument is explained in [`crate::abi`].
///
/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_ioctl(
    ud: *mut c_void,
    fd: c_int,
    req: c_ulong,
    argp: *mut c_void,
) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        let out = argp.cast::<c_int>();
        match req {
            FIONREAD | SIOCOUTQ => {
                if out.is_null() {
                    return Err(libc::EFAULT);
                }
                let (inq, outq) = i.queues(fd)?;
                let v = if req == FIONREAD { inq } else { outq };
                let v = c_int::try_from(v).unwrap_or(c_int::MAX);
                // SAFETY: `out` is non-null (checked); these requests take a pointer to a writable
                // int.
                unsafe { ptr::write_unaligned(out, v) };
                Ok(0)
            }
            FIONBIO => {
                if out.is_null() {
                    return Err(libc::EFAULT);
                }
                // SAFETY: `out` is non-null (checked); FIONBIO takes a pointer to a readable int.
                let on = unsafe { ptr::read_unaligned(out) } != 0;
                i.set_nonblocking(fd, on).map(|()| 0)
            }
            _ => {
                if !i.quiet() {
                    eprintln!("synack-packetdrill: unsupported by synack: ioctl request {req:#x}");
                }
                Err(libc::EOPNOTSUPP)
            }
        }
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_close(ud: *mut c_void, fd: c_int) -> c_int {
    // SAFETY: `ud` is null or the live instance (the hooks' contract).
    guard(-1, || unsafe { inst(ud) }?.close(fd).map(|()| 0))
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_shutdown(ud: *mut c_void, fd: c_int, how: c_int) -> c_int {
    // SAFETY: `ud` is null or the live instance (the hooks' contract).
    guard(-1, || unsafe { inst(ud) }?.shutdown(fd, how).map(|()| 0))
}

fn is_linger(level: c_int, name: c_int) -> bool {
    level == libc::SOL_SOCKET && name == libc::SO_LINGER
}

/// Refuses an option synack does not take before its buffer is looked at, so the errno says
/// why (see [`sockopt`]).
fn option_kind(i: &Instance, level: c_int, name: c_int) -> Result<(), c_int> {
    match sockopt::kind(level, name) {
        sockopt::Kind::Handled => Ok(()),
        sockopt::Kind::Unsupported => {
            if !i.quiet() {
                eprintln!(
                    "synack-packetdrill: unsupported by synack: socket option level {level} \
                     name {name}"
                );
            }
            Err(libc::EOPNOTSUPP)
        }
        sockopt::Kind::Unknown => Err(libc::ENOPROTOOPT),
    }
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_getsockopt(
    ud: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        if len.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: `len` is non-null (checked) and readable (the hooks' contract).
        let room = unsafe { ptr::read_unaligned(len) } as c_int;
        if room < 0 {
            return Err(libc::EINVAL);
        }
        i.check_fd(fd)?;
        option_kind(i, level, name)?;
        // Linux would copy a truncated int; a buffer too short for the value is refused
        // here rather than half-filled.
        if (room as usize) < sockopt::value_len(level, name) {
            return Err(libc::EINVAL);
        }
        if val.is_null() {
            return Err(libc::EFAULT);
        }
        let v = i.getsockopt(fd, level, name)?;
        let out = val.cast::<c_int>();
        match v {
            // SAFETY: `val` is non-null with room for an int and `len` is non-null (both checked
            // above).
            OptValue::Int(x) => unsafe {
                ptr::write_unaligned(out, c_int::try_from(x).unwrap_or(c_int::MAX));
                ptr::write_unaligned(len, 4);
            },
            // SAFETY: SO_LINGER, the only option with this value, was checked for 8 bytes of
            // room; `len` is non-null (checked above).
            OptValue::Linger { onoff, linger } => unsafe {
                ptr::write_unaligned(out, onoff);
                ptr::write_unaligned(out.add(1), linger);
                ptr::write_unaligned(len, 8);
            },
            // As Linux's TCP_CONGESTION: min(room, 16) bytes, the name NUL-padded.
            OptValue::Text(t) => {
                let n = (room as usize).min(OptText::MAX);
                let mut bytes = [0u8; OptText::MAX];
                bytes[..t.as_bytes().len()].copy_from_slice(t.as_bytes());
                // SAFETY: `val` is non-null with room for `n` bytes (n <= room) and `len` is
                // non-null (both checked above).
                unsafe {
                    ptr::copy_nonoverlapping(bytes.as_ptr(), val.cast::<u8>(), n);
                    ptr::write_unaligned(len, n as socklen_t);
                }
            }
        }
        Ok(0)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_setsockopt(
    ud: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        i.check_fd(fd)?;
        option_kind(i, level, name)?;
        if (len as usize) < sockopt::value_len(level, name) {
            return Err(libc::EINVAL);
        }
        if val.is_null() {
            return Err(libc::EFAULT);
        }
        let p = val.cast::<c_int>();
        let v = if sockopt::is_text(level, name) {
            // Linux reads at most 15 bytes of a controller's name, up to a NUL.
            let n = (len as usize).min(OptText::MAX - 1);
            // SAFETY: `val` is non-null and readable for `len` >= n bytes (the caller's
            // buffer, as setsockopt's contract).
            let bytes = unsafe { std::slice::from_raw_parts(val.cast::<u8>(), n) };
            OptValue::Text(OptText::new(bytes).ok_or(libc::EINVAL)?)
        } else if is_linger(level, name) {
            let (onoff, linger) =
                // SAFETY: `val` is non-null and SO_LINGER's `len` was checked to cover two ints.
                unsafe { (ptr::read_unaligned(p), ptr::read_unaligned(p.add(1))) };
            OptValue::Linger { onoff, linger }
        } else {
            // SAFETY: `val` is non-null and `len` was checked to cover an int.
            OptValue::Int(i64::from(unsafe { ptr::read_unaligned(p) }))
        };
        i.setsockopt(fd, level, name, v).map(|()| 0)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_poll(
    ud: *mut c_void,
    fds: *mut pollfd,
    n: nfds_t,
    timeout: c_int,
) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        if n > POLL_MAX {
            return Err(libc::EINVAL);
        }
        if n > 0 && fds.is_null() {
            return Err(libc::EFAULT);
        }
        let raw: &mut [pollfd] = if n == 0 {
            &mut []
        } else {
            // SAFETY: non-null, bounded count; packetdrill passes n live pollfds.
            unsafe { std::slice::from_raw_parts_mut(fds, n as usize) }
        };
        let mut v: Vec<PollFd> = raw
            .iter()
            .map(|p| PollFd {
                fd: p.fd,
                events: p.events,
                revents: 0,
            })
            .collect();
        let r = i.poll(&mut v, timeout)?;
        for (p, q) in raw.iter_mut().zip(&v) {
            p.revents = q.revents;
        }
        Ok(r)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_netdev_send(ud: *mut c_void, buf: *const c_void, n: size_t) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        if n == 0 {
            return Err(libc::EINVAL);
        }
        // SAFETY: `buf` is null or holds `n` readable bytes (the hooks' contract).
        let p = unsafe { in_buf(buf, n) }?;
        i.inject(p).map(|()| 0)
    })
}

/// Returns 0 with the packet and its send time; 0 with `*count = 0` when nothing can ever
/// be sent (see [`Instance::next_outbound`]); -1 for "nothing yet, ask again", which
/// packetdrill's receive loop does.
///
/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_netdev_receive(
    ud: *mut c_void,
    buf: *mut c_void,
    count: *mut size_t,
    time_us: *mut c_longlong,
) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        if count.is_null() || time_us.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: `count` is non-null (checked) and points to a size_t (the hooks' contract).
        let cap = unsafe { ptr::read_unaligned(count) };
        if i.broken.is_some() {
            // A run that cannot work must not leave packetdrill asking for ever.
            // SAFETY: `count` is non-null (checked) and writable (the hooks' contract).
            unsafe { ptr::write_unaligned(count, 0) };
            return Ok(0);
        }
        if cap > 0 && buf.is_null() {
            return Err(libc::EFAULT);
        }
        match i.next_outbound(cap)? {
            // SAFETY: the packet is at most `cap` bytes, which `buf` holds (non-null whenever `cap`
            // >
            // 0, checked); `count` and `time_us` are non-null (checked) and writable.
            Some(p) => unsafe {
                ptr::copy_nonoverlapping(p.bytes.as_ptr(), buf.cast::<u8>(), p.bytes.len());
                ptr::write_unaligned(count, p.bytes.len());
                ptr::write_unaligned(time_us, p.at_us as c_longlong);
            },
            // SAFETY: `count` and `time_us` are non-null (checked) and writable (the hooks'
            // contract).
            None => unsafe {
                ptr::write_unaligned(count, 0);
                ptr::write_unaligned(time_us, i.peek()?.1 as c_longlong);
            },
        }
        Ok(0)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_usleep(ud: *mut c_void, us: useconds_t) -> c_int {
    // SAFETY: `ud` is null or the live instance (the hooks' contract).
    guard(-1, || unsafe { inst(ud) }?.sleep(u64::from(us)).map(|()| 0))
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_gettimeofday(ud: *mut c_void, tv: *mut timeval, _tz: *mut c_void) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is null or the live instance (the hooks' contract).
        let i = unsafe { inst(ud) }?;
        if tv.is_null() {
            return Err(libc::EFAULT);
        }
        let now = i.now_ticking()?;
        let t = timeval {
            tv_sec: (now / 1_000_000) as libc::time_t,
            tv_usec: (now % 1_000_000) as libc::suseconds_t,
        };
        // SAFETY: `tv` is non-null (checked) and writable (the hooks' contract).
        unsafe { ptr::write_unaligned(tv, t) };
        Ok(0)
    })
}

fn unsupported(ud: *mut c_void, what: &str) -> c_int {
    guard(-1, || {
        // SAFETY: ud is null or the live instance, as for every hook.
        let quiet = unsafe { inst(ud) }.map(Instance::quiet).unwrap_or(false);
        if !quiet {
            eprintln!("synack-packetdrill: unsupported by synack: {what}");
        }
        Err(libc::EOPNOTSUPP)
    })
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_epoll_create(ud: *mut c_void, _size: c_int) -> c_int {
    unsupported(ud, "epoll_create")
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_epoll_ctl(
    ud: *mut c_void,
    _ep: c_int,
    _op: c_int,
    _fd: c_int,
    _ev: *mut c_void,
) -> c_int {
    unsupported(ud, "epoll_ctl")
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_epoll_wait(
    ud: *mut c_void,
    _ep: c_int,
    _ev: *mut c_void,
    _max: c_int,
    _timeout: c_int,
) -> c_int {
    unsupported(ud, "epoll_wait")
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_pipe(ud: *mut c_void, _fds: *mut c_int) -> c_int {
    unsupported(ud, "pipe")
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_splice(
    ud: *mut c_void,
    _fd_in: c_int,
    _off_in: *mut i64,
    _fd_out: c_int,
    _off_out: *mut i64,
    _len: size_t,
    _flags: c_uint,
) -> c_int {
    unsupported(ud, "splice")
}

/// packetdrill's entry point: parses `--so_flags`, creates the run and fills every slot of
/// `ifc`. A bad flag is printed to stderr and leaves a run whose every call fails with
/// `EINVAL` (packetdrill gives the init function no way to fail).
///
/// # Safety
/// `flags` is null or a NUL-terminated string; `ifc` is null or points to writable memory
/// for a `struct packetdrill_interface`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn packetdrill_interface_init(
    flags: *const c_char,
    ifc: *mut PacketdrillInterface,
) {
    let made = catch_unwind(|| {
        if ifc.is_null() {
            eprintln!("synack-packetdrill: packetdrill_interface_init: null interface");
            return;
        }
        let text = if flags.is_null() {
            Ok(String::new())
        } else {
            // SAFETY: a NUL-terminated string, per the contract.
            unsafe { CStr::from_ptr(flags) }
                .to_str()
                .map(str::to_owned)
                .map_err(|_| "so_flags: not UTF-8".to_owned())
        };
        let instance = match text.and_then(|t| flags::parse(&t)) {
            Ok(settings) => Instance::new(settings),
            Err(why) => {
                eprintln!("synack-packetdrill: {why}; every call will fail with EINVAL");
                Instance::broken(why)
            }
        };
        let table = PacketdrillInterface {
            userdata: Box::into_raw(Box::new(instance)).cast::<c_void>(),
            free: Some(pd_free),
            socket: Some(pd_socket),
            bind: Some(pd_bind),
            listen: Some(pd_listen),
            accept: Some(pd_accept),
            connect: Some(pd_connect),
            read: Some(pd_read),
            readv: Some(pd_readv),
            recv: Some(pd_recv),
            recvfrom: Some(pd_recvfrom),
            recvmsg: Some(pd_recvmsg),
            write: Some(pd_write),
            writev: Some(pd_writev),
            send: Some(pd_send),
            sendto: Some(pd_sendto),
            sendmsg: Some(pd_sendmsg),
            fcntl: Some(pd_fcntl),
            ioctl: Some(pd_ioctl),
            close: Some(pd_close),
            shutdown: Some(pd_shutdown),
            getsockopt: Some(pd_getsockopt),
            setsockopt: Some(pd_setsockopt),
            poll: Some(pd_poll),
            netdev_send: Some(pd_netdev_send),
            netdev_receive: Some(pd_netdev_receive),
            usleep: Some(pd_usleep),
            gettimeofday: Some(pd_gettimeofday),
            epoll_create: Some(pd_epoll_create),
            epoll_ctl: Some(pd_epoll_ctl),
            epoll_wait: Some(pd_epoll_wait),
            pipe: Some(pd_pipe),
            splice: Some(pd_splice),
        };
        // SAFETY: non-null and writable per the contract; the memory may be uninitialised,
        // so write without reading or dropping what was there.
        unsafe { ptr::write(ifc, table) };
    });
    if made.is_err() {
        eprintln!("synack-packetdrill: packetdrill_interface_init panicked");
    }
}

#[cfg(test)]
mod tests;
