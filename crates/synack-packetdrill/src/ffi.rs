//! The C entry points: `packetdrill_interface_init` and every hook it installs.
//!
//! Each hook checks its pointers and lengths, converts them to Rust values, calls
//! [`Instance`], and converts back. The hooks that move data live in `ffi/io.rs` (one shared
//! body for every read, one for every write), those that wait for readiness (`poll`,
//! `epoll_*`) in `ffi/wait.rs`, pointer checks in `ffi/args.rs`. No panic crosses the
//! boundary: every hook runs inside `catch_unwind`, and a panic becomes `-1` with
//! `errno = EIO`. Errors follow the C convention (`-1` and `errno`), with Linux's errno
//! values.
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
    c_char, c_int, c_longlong, c_uint, c_ulong, c_void, size_t, sockaddr, socklen_t, timeval,
    useconds_t,
};
use synack_script::{OptText, OptValue};

use crate::abi::PacketdrillInterface;
use crate::flags;
use crate::instance::Instance;
use crate::sockaddr as caddr;
use crate::sockopt;

mod args;
mod io;
mod wait;
use args::in_buf;
use io::*;
use wait::*;

/// `ioctl` requests understood (Linux's numbers).
const FIONREAD: c_ulong = 0x541B; // also SIOCINQ
const SIOCOUTQ: c_ulong = 0x5411; // also TIOCOUTQ
const SIOCATMARK: c_ulong = 0x8905;
const FIONBIO: c_ulong = 0x5421;

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

/// Runs a hook's body on the instance `ud` points to, as [`guard`] runs it.
///
/// # Safety
/// `ud` is null or came from `packetdrill_interface_init` and was not yet freed.
unsafe fn hook<T>(ud: *mut c_void, fail: T, f: impl FnOnce(&Instance) -> Result<T, c_int>) -> T {
    // SAFETY: per the contract above.
    guard(fail, || f(unsafe { inst(ud) }?))
}

/// The instance `userdata` points to.
///
/// # Safety
/// `ud` is null or came from `packetdrill_interface_init` and was not yet freed.
unsafe fn inst<'a>(ud: *mut c_void) -> Result<&'a Instance, c_int> {
    // SAFETY: per the contract above.
    unsafe { ud.cast::<Instance>().as_ref() }.ok_or(libc::EFAULT)
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
    // SAFETY: `ud` as the hooks' contract gives it.
    unsafe { hook(ud, -1, |i| i.socket(domain, ty, proto)) }
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
    // SAFETY: `ud` as the hooks' contract gives it.
    unsafe { hook(ud, -1, |i| i.listen(fd, backlog).map(|()| 0)) }
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

/// Variadic in C; the fixed third argument is explained in [`crate::abi`].
///
/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_fcntl(ud: *mut c_void, fd: c_int, cmd: c_int, arg: c_int) -> c_int {
    // SAFETY: `ud` as the hooks' contract gives it.
    unsafe { hook(ud, -1, |i| i.fcntl(fd, cmd, arg)) }
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
            SIOCATMARK => {
                if out.is_null() {
                    return Err(libc::EFAULT);
                }
                let at = i.at_urgent_mark(fd)?;
                // SAFETY: `out` is non-null (checked); SIOCATMARK takes a pointer to a writable
                // int.
                unsafe { ptr::write_unaligned(out, c_int::from(at)) };
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
    // SAFETY: `ud` as the hooks' contract gives it.
    unsafe { hook(ud, -1, |i| i.close(fd).map(|()| 0)) }
}

/// # Safety
/// The hooks' contract (module documentation).
unsafe extern "C" fn pd_shutdown(ud: *mut c_void, fd: c_int, how: c_int) -> c_int {
    // SAFETY: `ud` as the hooks' contract gives it.
    unsafe { hook(ud, -1, |i| i.shutdown(fd, how).map(|()| 0)) }
}

fn is_linger(level: c_int, name: c_int) -> bool {
    level == libc::SOL_SOCKET && name == libc::SO_LINGER
}

/// Refuses an option synack does not take before its buffer is looked at, so the errno says
/// why (see [`sockopt`]).
fn option_kind(i: &Instance, level: c_int, name: c_int) -> Result<sockopt::Kind, c_int> {
    match sockopt::kind(level, name) {
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
        k => Ok(k),
    }
}

/// An option's value as the bytes `getsockopt` copies out: an int, a `struct linger`, a
/// controller's name NUL-padded to 16 bytes (Linux's `TCP_CONGESTION` copies min(room, 16)).
fn option_bytes(v: OptValue) -> Vec<u8> {
    match v {
        // An unsigned option above INT_MAX (`TCP_NOTSENT_LOWAT`'s UINT_MAX) keeps its 32 bits,
        // as Linux copies them.
        OptValue::Int(x) => u32::try_from(x)
            .map(|u| u as c_int)
            .unwrap_or_else(|_| c_int::try_from(x).unwrap_or(c_int::MAX))
            .to_ne_bytes()
            .to_vec(),
        OptValue::Linger { onoff, linger } => [onoff.to_ne_bytes(), linger.to_ne_bytes()].concat(),
        OptValue::Text(t) => {
            let mut b = vec![0u8; OptText::MAX];
            b[..t.as_bytes().len()].copy_from_slice(t.as_bytes());
            b
        }
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
    // SAFETY: `ud`, `val` and `len` as the hooks' contract gives them: `len` is null or a
    // readable and writable socklen_t, `val` null or writable for `*len` bytes.
    unsafe {
        hook(ud, -1, |i| {
            if len.is_null() {
                return Err(libc::EFAULT);
            }
            let room = ptr::read_unaligned(len) as c_int;
            if room < 0 {
                return Err(libc::EINVAL);
            }
            i.check_fd(fd)?;
            let bytes = match option_kind(i, level, name)? {
                // Linux copies as much of the struct as the caller has room for.
                sockopt::Kind::Info => i.tcp_info(fd)?.to_vec(),
                _ => {
                    // Linux would copy a truncated int; a buffer too short for the value
                    // is refused here rather than half-filled.
                    if (room as usize) < sockopt::value_len(level, name) {
                        return Err(libc::EINVAL);
                    }
                    option_bytes(i.getsockopt(fd, level, name)?)
                }
            };
            let n = bytes.len().min(room as usize);
            if n > 0 && val.is_null() {
                return Err(libc::EFAULT);
            }
            ptr::copy_nonoverlapping(bytes.as_ptr(), val.cast::<u8>(), n);
            ptr::write_unaligned(len, n as socklen_t);
            Ok(0)
        })
    }
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
        if option_kind(i, level, name)? == sockopt::Kind::Info {
            // Read-only: Linux's do_tcp_setsockopt has no case for it.
            return Err(libc::ENOPROTOOPT);
        }
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
    // SAFETY: `ud` as the hooks' contract gives it.
    unsafe { hook(ud, -1, |i| i.sleep(u64::from(us)).map(|()| 0)) }
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
