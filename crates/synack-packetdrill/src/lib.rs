//! packetdrill's shared-object test interface over synack.
//!
//! `packetdrill --so_filename=libsynack_packetdrill.so script.pkt` dlopens this library, calls
//! [`packetdrill_interface_init`] and from then on makes every socket call, injects every
//! inbound packet (`netdev_send`), sniffs every outbound one (`netdev_receive`) and reads and
//! moves the clock (`gettimeofday`, `usleep`) through the function table it gets back. Behind
//! the table is one [`synack_script::Stack`] (the socket layer the script runner uses) on a
//! virtual clock: `usleep` runs synack's timers up to the new time instead of sleeping, and a
//! `netdev_receive` with nothing queued jumps to the next timer, so long waits cost nothing.
//!
//! packetdrill runs blocking calls on a second thread while its main thread injects packets;
//! the stack sits behind a mutex and a blocked call waits on a condition variable that every
//! packet and every clock move signals.
//!
//! Errors come back as `-1` with `errno` set, as from the kernel. A call or option synack has
//! no knob for fails with `EOPNOTSUPP` (`ENOPROTOOPT` for socket options) and says why on
//! standard error, so a script never passes on something synack did not do.

use std::collections::VecDeque;
use std::ffi::{CStr, c_char, c_int, c_long, c_uint, c_void};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Condvar, Mutex, MutexGuard};

use synack_proto::Instant;
use synack_proto::host::HostConfig;
use synack_script::socket::consts::{F_SETFL, POLLERR, POLLHUP, POLLNVAL};
use synack_script::{Errno, OptValue, SockError, SockResult, Stack};

/// The virtual clock's reading at start, in microseconds since the Unix epoch: a plausible
/// date, so `gettimeofday` looks like a clock to whoever prints it.
const EPOCH_USECS: u64 = 1_700_000_000_000_000;

/// The address packetdrill uses for the stack under test by default.
const DEFAULT_LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);

struct State {
    stack: Stack,
    /// Virtual microseconds since `init`.
    now: u64,
    /// Packets the stack sent, with the time they left.
    out: VecDeque<(u64, Vec<u8>)>,
}

impl State {
    fn instant(&self) -> Instant {
        Instant::from_micros(self.now)
    }

    fn flush(&mut self) {
        let mut buf = vec![0u8; 65536];
        let now = self.instant();
        while let Some(n) = self.stack.poll_transmit(now, &mut buf) {
            self.out.push_back((self.now, buf[..n].to_vec()));
        }
    }

    /// Runs every timer due up to `to`, each at its own time, then sets the clock to `to`.
    fn advance(&mut self, to: u64) {
        while let Some(due) = self.stack.poll_timeout() {
            let due = due.as_micros();
            if due > to {
                break;
            }
            self.now = self.now.max(due);
            self.stack.handle_timeout(self.instant());
            self.flush();
        }
        self.now = self.now.max(to);
    }
}

/// What `userdata` points to.
pub struct Shim {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shim {
    fn new(flags: &str) -> Result<Shim, String> {
        let mut host = HostConfig {
            secret: 0x5eed,
            local_addrs: vec![IpAddr::V4(DEFAULT_LOCAL)],
            ..HostConfig::default()
        };
        for kv in flags.split([',', ' ']).filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "local_ip" => {
                    let ip: IpAddr = v.parse().map_err(|_| format!("bad local_ip {v:?}"))?;
                    host.local_addrs = vec![ip];
                }
                "secret" => host.secret = v.parse().map_err(|_| format!("bad secret {v:?}"))?,
                _ => return Err(format!("unknown flag {k:?} (known: local_ip, secret)")),
            }
        }
        Ok(Shim {
            state: Mutex::new(State {
                stack: Stack::new(host),
                now: 0,
                out: VecDeque::new(),
            }),
            wake: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on another thread leaves the state as it was between calls: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f`; while it would block on a blocking socket, waits for the stack to change.
    fn call<T>(&self, fd: c_int, mut f: impl FnMut(&mut State) -> SockResult<T>) -> SockResult<T> {
        let mut st = self.lock();
        loop {
            let r = f(&mut st);
            let blocking = !st.stack.is_nonblocking(fd).unwrap_or(true);
            match r {
                Err(SockError::Errno(Errno::EAGAIN)) if blocking => {
                    st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                r => {
                    st.flush();
                    self.wake.notify_all();
                    return r;
                }
            }
        }
    }
}

fn set_errno(e: Errno) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e.code() };
}

/// `-1` and errno for an error, `ok(value)` otherwise.
fn ret<T, R: From<i8>>(r: SockResult<T>, ok: impl FnOnce(T) -> R, unsupported: Errno) -> R {
    match r {
        Ok(v) => ok(v),
        Err(SockError::Errno(e)) => {
            set_errno(e);
            R::from(-1)
        }
        Err(SockError::Unsupported(why)) => {
            eprintln!("synack: unsupported: {why}");
            set_errno(unsupported);
            R::from(-1)
        }
    }
}

/// # Safety
/// `userdata` must be what `packetdrill_interface_init` stored.
unsafe fn shim<'a>(userdata: *mut c_void) -> &'a Shim {
    // SAFETY: the caller passes back the pointer we handed out, alive until `free`.
    unsafe { &*(userdata as *const Shim) }
}

/// # Safety
/// `addr` must point to `len` readable bytes.
unsafe fn read_sockaddr(
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> SockResult<SocketAddr> {
    if addr.is_null() {
        return Err(Errno::EFAULT.into());
    }
    // SAFETY: the caller vouches for `len` bytes at `addr`; each cast is checked against it.
    unsafe {
        match c_int::from((*addr).sa_family) {
            libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
                let a = &*(addr as *const libc::sockaddr_in);
                Ok(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr))),
                    u16::from_be(a.sin_port),
                ))
            }
            libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
                let a = &*(addr as *const libc::sockaddr_in6);
                Ok(SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr)),
                    u16::from_be(a.sin6_port),
                ))
            }
            libc::AF_INET | libc::AF_INET6 => Err(Errno::EINVAL.into()),
            _ => Err(Errno::EAFNOSUPPORT.into()),
        }
    }
}

/// # Safety
/// `addr`/`len` as for `accept(2)`: either null, or `*len` writable bytes at `addr`.
unsafe fn write_sockaddr(sa: SocketAddr, addr: *mut libc::sockaddr, len: *mut libc::socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    // SAFETY: storage is a plain C struct; we copy at most `*len` bytes of it out.
    unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let n = match sa {
            SocketAddr::V4(v4) => {
                let a = &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in);
                a.sin_family = libc::AF_INET as libc::sa_family_t;
                a.sin_port = v4.port().to_be();
                a.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(v6) => {
                let a = &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6);
                a.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                a.sin6_port = v6.port().to_be();
                a.sin6_addr.s6_addr = v6.ip().octets();
                size_of::<libc::sockaddr_in6>()
            }
        };
        let copy = n.min(*len as usize);
        std::ptr::copy_nonoverlapping(&storage as *const _ as *const u8, addr as *mut u8, copy);
        *len = n as libc::socklen_t;
    }
}

// ---------------------------------------------------------------------- the function table

type Ud = *mut c_void;

/// packetdrill's `struct packetdrill_interface`, field for field in its order. `fcntl` and
/// `ioctl` are variadic in C; we take the one optional argument as a third integer, which is
/// how the System V x86-64 and AArch64 Linux calling conventions pass it.
#[repr(C)]
pub struct PacketdrillInterface {
    pub userdata: Ud,
    pub free: Option<unsafe extern "C" fn(Ud)>,
    pub socket: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int) -> c_int>,
    pub bind:
        Option<unsafe extern "C" fn(Ud, c_int, *const libc::sockaddr, libc::socklen_t) -> c_int>,
    pub listen: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    pub accept:
        Option<unsafe extern "C" fn(Ud, c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> c_int>,
    pub connect:
        Option<unsafe extern "C" fn(Ud, c_int, *const libc::sockaddr, libc::socklen_t) -> c_int>,
    pub read: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, usize) -> isize>,
    pub readv: Option<unsafe extern "C" fn(Ud, c_int, *const libc::iovec, c_int) -> isize>,
    pub recv: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, usize, c_int) -> isize>,
    pub recvfrom: Option<
        unsafe extern "C" fn(
            Ud,
            c_int,
            *mut c_void,
            usize,
            c_int,
            *mut libc::sockaddr,
            *mut libc::socklen_t,
        ) -> isize,
    >,
    pub recvmsg: Option<unsafe extern "C" fn(Ud, c_int, *mut libc::msghdr, c_int) -> isize>,
    pub write: Option<unsafe extern "C" fn(Ud, c_int, *const c_void, usize) -> isize>,
    pub writev: Option<unsafe extern "C" fn(Ud, c_int, *const libc::iovec, c_int) -> isize>,
    pub send: Option<unsafe extern "C" fn(Ud, c_int, *const c_void, usize, c_int) -> isize>,
    pub sendto: Option<
        unsafe extern "C" fn(
            Ud,
            c_int,
            *const c_void,
            usize,
            c_int,
            *const libc::sockaddr,
            libc::socklen_t,
        ) -> isize,
    >,
    pub sendmsg: Option<unsafe extern "C" fn(Ud, c_int, *const libc::msghdr, c_int) -> isize>,
    pub fcntl: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_long) -> c_int>,
    pub ioctl: Option<unsafe extern "C" fn(Ud, c_int, libc::c_ulong, c_long) -> c_int>,
    pub close: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    pub shutdown: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    pub getsockopt: Option<
        unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut c_void, *mut libc::socklen_t) -> c_int,
    >,
    pub setsockopt: Option<
        unsafe extern "C" fn(Ud, c_int, c_int, c_int, *const c_void, libc::socklen_t) -> c_int,
    >,
    pub poll: Option<unsafe extern "C" fn(Ud, *mut libc::pollfd, libc::nfds_t, c_int) -> c_int>,
    pub netdev_send: Option<unsafe extern "C" fn(Ud, *const c_void, usize) -> c_int>,
    pub netdev_receive:
        Option<unsafe extern "C" fn(Ud, *mut c_void, *mut usize, *mut libc::c_longlong) -> c_int>,
    pub usleep: Option<unsafe extern "C" fn(Ud, libc::useconds_t) -> c_int>,
    pub gettimeofday: Option<unsafe extern "C" fn(Ud, *mut libc::timeval, *mut c_void) -> c_int>,
    pub epoll_create: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    pub epoll_ctl: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut c_void) -> c_int>,
    pub epoll_wait: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, c_int, c_int) -> c_int>,
    pub pipe: Option<unsafe extern "C" fn(Ud, *mut c_int) -> c_int>,
    pub splice:
        Option<unsafe extern "C" fn(Ud, c_int, *mut i64, c_int, *mut i64, usize, c_uint) -> c_int>,
}

/// The entry point packetdrill looks up. `flags` is `--so_flags`: comma-separated
/// `local_ip=ADDR` (default 192.168.0.1) and `secret=N` (keys ISNs and ports).
///
/// # Safety
/// `ifc` must point to a writable `struct packetdrill_interface`; `flags` is null or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn packetdrill_interface_init(
    flags: *const c_char,
    ifc: *mut PacketdrillInterface,
) {
    if ifc.is_null() {
        return;
    }
    let flags = if flags.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null flags is a C string (packetdrill's --so_flags).
        unsafe { CStr::from_ptr(flags) }
            .to_string_lossy()
            .into_owned()
    };
    let shim = match Shim::new(&flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("synack: --so_flags: {e}");
            std::process::abort();
        }
    };
    let table = PacketdrillInterface {
        userdata: Box::into_raw(Box::new(shim)) as Ud,
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
    // SAFETY: checked non-null; packetdrill hands us its struct to fill.
    unsafe { ifc.write(table) };
}

unsafe extern "C" fn pd_free(ud: Ud) {
    if !ud.is_null() {
        // SAFETY: the pointer came from Box::into_raw in init and is freed once.
        drop(unsafe { Box::from_raw(ud as *mut Shim) });
    }
}

unsafe extern "C" fn pd_socket(ud: Ud, domain: c_int, ty: c_int, proto: c_int) -> c_int {
    let s = unsafe { shim(ud) };
    let r = s.lock().stack.socket(domain, ty, proto);
    ret(r, |fd| fd, Errno::EOPNOTSUPP)
}

unsafe extern "C" fn pd_bind(
    ud: Ud,
    fd: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> c_int {
    let s = unsafe { shim(ud) };
    let r = unsafe { read_sockaddr(addr, len) }.and_then(|a| s.lock().stack.bind(fd, a));
    ret(r, |_| 0, Errno::EOPNOTSUPP)
}

unsafe extern "C" fn pd_listen(ud: Ud, fd: c_int, backlog: c_int) -> c_int {
    let s = unsafe { shim(ud) };
    let r = s.lock().stack.listen(fd, backlog);
    ret(r, |_| 0, Errno::EOPNOTSUPP)
}

unsafe extern "C" fn pd_accept(
    ud: Ud,
    fd: c_int,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> c_int {
    let s = unsafe { shim(ud) };
    let r = s.call(fd, |st| st.stack.accept(fd));
    ret(
        r,
        |(nfd, peer)| {
            unsafe { write_sockaddr(peer, addr, len) };
            nfd
        },
        Errno::EOPNOTSUPP,
    )
}

unsafe extern "C" fn pd_connect(
    ud: Ud,
    fd: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> c_int {
    let s = unsafe { shim(ud) };
    let remote = match unsafe { read_sockaddr(addr, len) } {
        Ok(a) => a,
        Err(e) => return ret::<(), c_int>(Err(e), |_| 0, Errno::EOPNOTSUPP),
    };
    let mut st = s.lock();
    let now = st.instant();
    let r = st.stack.connect(now, fd, remote);
    st.flush();
    s.wake.notify_all();
    let blocking = !st.stack.is_nonblocking(fd).unwrap_or(true);
    let r = match r {
        Err(SockError::Errno(Errno::EINPROGRESS)) if blocking => loop {
            match st.stack.connect_result(fd) {
                Ok(None) => st = s.wake.wait(st).unwrap_or_else(|e| e.into_inner()),
                Ok(Some(done)) => break done.map_err(SockError::from),
                Err(e) => break Err(e),
            }
        },
        r => r,
    };
    ret(r, |_| 0, Errno::EOPNOTSUPP)
}

fn read_into(s: &Shim, fd: c_int, buf: *mut c_void, count: usize) -> isize {
    if buf.is_null() && count > 0 {
        set_errno(Errno::EFAULT);
        return -1;
    }
    let r = s.call(fd, |st| st.stack.read(fd, count));
    ret(
        r,
        |data| {
            // SAFETY: the caller's buffer holds `count` bytes and data.len() <= count.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), buf as *mut u8, data.len()) };
            data.len() as isize
        },
        Errno::EOPNOTSUPP,
    )
}

fn write_from(s: &Shim, fd: c_int, buf: *const c_void, count: usize) -> isize {
    if buf.is_null() && count > 0 {
        set_errno(Errno::EFAULT);
        return -1;
    }
    // SAFETY: the caller's buffer holds `count` bytes.
    let data = unsafe { std::slice::from_raw_parts(buf as *const u8, count) };
    // A blocking write returns once everything is queued, as on Linux.
    let mut done = 0usize;
    let r = s.call(fd, |st| match st.stack.write(fd, &data[done..]) {
        Ok(n) => {
            done += n;
            let blocking = !st.stack.is_nonblocking(fd).unwrap_or(true);
            if done < data.len() && blocking {
                st.flush();
                Err(Errno::EAGAIN.into())
            } else {
                Ok(done)
            }
        }
        Err(_) if done > 0 => Ok(done),
        Err(e) => Err(e),
    });
    ret(r, |n| n as isize, Errno::EOPNOTSUPP)
}

unsafe extern "C" fn pd_read(ud: Ud, fd: c_int, buf: *mut c_void, count: usize) -> isize {
    read_into(unsafe { shim(ud) }, fd, buf, count)
}

unsafe extern "C" fn pd_recv(
    ud: Ud,
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
) -> isize {
    if flags != 0 {
        return ret::<(), isize>(
            Err(SockError::Unsupported(format!("recv flags {flags:#x}"))),
            |_| 0,
            Errno::EOPNOTSUPP,
        );
    }
    read_into(unsafe { shim(ud) }, fd, buf, len)
}

unsafe extern "C" fn pd_recvfrom(
    ud: Ud,
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    addr: *mut libc::sockaddr,
    alen: *mut libc::socklen_t,
) -> isize {
    let n = unsafe { pd_recv(ud, fd, buf, len, flags) };
    if n >= 0 {
        if let Ok((_, peer)) = unsafe { shim(ud) }.lock().stack.addrs(fd) {
            unsafe { write_sockaddr(peer, addr, alen) };
        }
    }
    n
}

unsafe extern "C" fn pd_readv(ud: Ud, fd: c_int, iov: *const libc::iovec, n: c_int) -> isize {
    if iov.is_null() || n < 0 {
        set_errno(Errno::EINVAL);
        return -1;
    }
    // SAFETY: the caller passes `n` iovecs.
    let iov = unsafe { std::slice::from_raw_parts(iov, n as usize) };
    let total: usize = iov.iter().map(|v| v.iov_len).sum();
    let mut tmp = vec![0u8; total];
    let got = read_into(
        unsafe { shim(ud) },
        fd,
        tmp.as_mut_ptr() as *mut c_void,
        total,
    );
    if got > 0 {
        let mut off = 0;
        for v in iov {
            let take = v.iov_len.min(got as usize - off);
            // SAFETY: each iovec is writable for iov_len bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(tmp[off..].as_ptr(), v.iov_base as *mut u8, take)
            };
            off += take;
        }
    }
    got
}

unsafe extern "C" fn pd_write(ud: Ud, fd: c_int, buf: *const c_void, count: usize) -> isize {
    write_from(unsafe { shim(ud) }, fd, buf, count)
}

unsafe extern "C" fn pd_send(
    ud: Ud,
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> isize {
    if flags != 0 {
        return ret::<(), isize>(
            Err(SockError::Unsupported(format!("send flags {flags:#x}"))),
            |_| 0,
            Errno::EOPNOTSUPP,
        );
    }
    write_from(unsafe { shim(ud) }, fd, buf, len)
}

unsafe extern "C" fn pd_sendto(
    ud: Ud,
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
    addr: *const libc::sockaddr,
    _alen: libc::socklen_t,
) -> isize {
    if !addr.is_null() {
        // TCP ignores the address on a connected socket (EISCONN on Linux for a mismatch).
        set_errno(Errno::EISCONN);
        return -1;
    }
    unsafe { pd_send(ud, fd, buf, len, flags) }
}

unsafe extern "C" fn pd_writev(ud: Ud, fd: c_int, iov: *const libc::iovec, n: c_int) -> isize {
    if iov.is_null() || n < 0 {
        set_errno(Errno::EINVAL);
        return -1;
    }
    // SAFETY: the caller passes `n` readable iovecs.
    let iov = unsafe { std::slice::from_raw_parts(iov, n as usize) };
    let mut data = Vec::new();
    for v in iov {
        // SAFETY: each iovec is readable for iov_len bytes.
        data.extend_from_slice(unsafe {
            std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
        });
    }
    write_from(
        unsafe { shim(ud) },
        fd,
        data.as_ptr() as *const c_void,
        data.len(),
    )
}

fn not_supported(what: &str) -> c_int {
    eprintln!("synack: unsupported: {what}");
    set_errno(Errno::EOPNOTSUPP);
    -1
}

unsafe extern "C" fn pd_recvmsg(_: Ud, _: c_int, _: *mut libc::msghdr, _: c_int) -> isize {
    not_supported("recvmsg") as isize
}

unsafe extern "C" fn pd_sendmsg(_: Ud, _: c_int, _: *const libc::msghdr, _: c_int) -> isize {
    not_supported("sendmsg") as isize
}

unsafe extern "C" fn pd_ioctl(_: Ud, _: c_int, request: libc::c_ulong, _: c_long) -> c_int {
    not_supported(&format!("ioctl {request:#x}"))
}

unsafe extern "C" fn pd_epoll_create(_: Ud, _: c_int) -> c_int {
    not_supported("epoll")
}

unsafe extern "C" fn pd_epoll_ctl(_: Ud, _: c_int, _: c_int, _: c_int, _: *mut c_void) -> c_int {
    not_supported("epoll")
}

unsafe extern "C" fn pd_epoll_wait(_: Ud, _: c_int, _: *mut c_void, _: c_int, _: c_int) -> c_int {
    not_supported("epoll")
}

unsafe extern "C" fn pd_pipe(_: Ud, _: *mut c_int) -> c_int {
    not_supported("pipe")
}

unsafe extern "C" fn pd_splice(
    _: Ud,
    _: c_int,
    _: *mut i64,
    _: c_int,
    _: *mut i64,
    _: usize,
    _: c_uint,
) -> c_int {
    not_supported("splice")
}

unsafe extern "C" fn pd_fcntl(ud: Ud, fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    let s = unsafe { shim(ud) };
    let arg = if cmd == F_SETFL { arg as c_int } else { 0 };
    let r = s.lock().stack.fcntl(fd, cmd, arg);
    ret(r, |v| v, Errno::EINVAL)
}

unsafe extern "C" fn pd_close(ud: Ud, fd: c_int) -> c_int {
    let s = unsafe { shim(ud) };
    let mut st = s.lock();
    let now = st.instant();
    let r = st.stack.close(now, fd);
    st.flush();
    s.wake.notify_all();
    ret(r, |_| 0, Errno::EOPNOTSUPP)
}

unsafe extern "C" fn pd_shutdown(ud: Ud, fd: c_int, how: c_int) -> c_int {
    let s = unsafe { shim(ud) };
    let r = s.call(fd, |st| st.stack.shutdown(fd, how));
    ret(r, |_| 0, Errno::EOPNOTSUPP)
}

unsafe extern "C" fn pd_setsockopt(
    ud: Ud,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: libc::socklen_t,
) -> c_int {
    let s = unsafe { shim(ud) };
    if val.is_null() {
        set_errno(Errno::EFAULT);
        return -1;
    }
    let value = if level == libc::SOL_SOCKET && name == libc::SO_LINGER {
        if (len as usize) < size_of::<libc::linger>() {
            set_errno(Errno::EINVAL);
            return -1;
        }
        // SAFETY: checked length; linger is two ints.
        let l = unsafe { std::ptr::read_unaligned(val as *const libc::linger) };
        OptValue::Linger {
            onoff: l.l_onoff,
            linger: l.l_linger,
        }
    } else {
        if (len as usize) < size_of::<c_int>() {
            set_errno(Errno::EINVAL);
            return -1;
        }
        // SAFETY: checked length.
        OptValue::Int(i64::from(unsafe {
            std::ptr::read_unaligned(val as *const c_int)
        }))
    };
    let r = s.call(fd, |st| st.stack.setsockopt(fd, level, name, value));
    ret(r, |_| 0, Errno::ENOPROTOOPT)
}

/// Fills the start of Linux's `struct tcp_info` from synack's connection info: the fields
/// up to `tcpi_total_retrans`, then `tcpi_bytes_acked` and `tcpi_bytes_received`. Fields
/// synack does not track (`ca_state`, `sacked`, `lost`, `rcv_rtt`, ...) read as zero.
fn tcp_info_bytes(st: &State, fd: c_int) -> SockResult<Vec<u8>> {
    let state = st.stack.state(fd)?;
    let info = st.stack.tcp_info(fd)?;
    let mut b = vec![0u8; 128];
    b[0] = synack_script::assert::tcpi_state(state) as u8;
    b[2] = info.backoff.min(255) as u8; // tcpi_retransmits
    b[4] = info.backoff.min(255) as u8; // tcpi_backoff
    b[5] = u8::from(info.timestamps) | u8::from(info.sack) << 1; // TCPI_OPT_TIMESTAMPS, _SACK
    b[6] = (info.snd_wscale & 0xf) | (info.rcv_wscale & 0xf) << 4;
    let put =
        |b: &mut Vec<u8>, off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    let us = |d: std::time::Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
    let mss = info.snd_mss.max(1);
    put(&mut b, 8, us(info.rto));
    put(&mut b, 16, info.snd_mss);
    put(&mut b, 68, info.srtt.map_or(0, us)); // tcpi_rtt
    put(&mut b, 72, us(info.rttvar));
    put(
        &mut b,
        76,
        if info.ssthresh == u32::MAX {
            0x7fff_ffff
        } else {
            info.ssthresh / mss
        },
    );
    put(&mut b, 80, info.cwnd / mss);
    put(
        &mut b,
        100,
        info.segs_retransmitted.min(u64::from(u32::MAX)) as u32,
    ); // total_retrans
    b.resize(136, 0);
    // tcpi_pacing_rate (104), tcpi_max_pacing_rate (112), then tcpi_bytes_acked (120),
    // tcpi_bytes_received (128).
    b[120..128].copy_from_slice(&info.bytes_acked.to_ne_bytes());
    b[128..136].copy_from_slice(&info.bytes_received.to_ne_bytes());
    Ok(b)
}

unsafe extern "C" fn pd_getsockopt(
    ud: Ud,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut libc::socklen_t,
) -> c_int {
    let s = unsafe { shim(ud) };
    if val.is_null() || len.is_null() {
        set_errno(Errno::EFAULT);
        return -1;
    }
    // SAFETY: non-null, the caller's length in/out.
    let room = unsafe { *len } as usize;
    let mut st = s.lock();
    let bytes = if level == libc::IPPROTO_TCP && name == libc::TCP_INFO {
        tcp_info_bytes(&st, fd)
    } else {
        st.stack.getsockopt(fd, level, name).map(|v| match v {
            OptValue::Int(i) => (i as c_int).to_ne_bytes().to_vec(),
            OptValue::Linger { onoff, linger } => {
                let mut b = onoff.to_ne_bytes().to_vec();
                b.extend_from_slice(&linger.to_ne_bytes());
                b
            }
        })
    };
    drop(st);
    ret(
        bytes,
        |b| {
            let n = b.len().min(room);
            // SAFETY: `val` holds `room` bytes and we copy at most that many.
            unsafe {
                std::ptr::copy_nonoverlapping(b.as_ptr(), val as *mut u8, n);
                *len = n as libc::socklen_t;
            }
            0
        },
        Errno::ENOPROTOOPT,
    )
}

unsafe extern "C" fn pd_poll(
    ud: Ud,
    fds: *mut libc::pollfd,
    n: libc::nfds_t,
    timeout: c_int,
) -> c_int {
    let s = unsafe { shim(ud) };
    if fds.is_null() && n > 0 {
        set_errno(Errno::EFAULT);
        return -1;
    }
    // SAFETY: the caller passes `n` pollfds.
    let fds = unsafe { std::slice::from_raw_parts_mut(fds, n as usize) };
    let mut st = s.lock();
    // The timeout runs on the virtual clock: it passes as packetdrill moves time.
    let deadline = (timeout >= 0).then(|| st.now + timeout as u64 * 1000);
    loop {
        let mut ready = 0;
        for p in fds.iter_mut() {
            let always = POLLERR | POLLHUP | POLLNVAL;
            p.revents = st.stack.poll_events(p.fd) & (p.events | always);
            if p.revents != 0 {
                ready += 1;
            }
        }
        if ready > 0 || deadline.is_some_and(|d| st.now >= d) {
            return ready;
        }
        st = s.wake.wait(st).unwrap_or_else(|e| e.into_inner());
    }
}

unsafe extern "C" fn pd_netdev_send(ud: Ud, buf: *const c_void, count: usize) -> c_int {
    let s = unsafe { shim(ud) };
    if buf.is_null() {
        set_errno(Errno::EFAULT);
        return -1;
    }
    // SAFETY: the caller's packet is `count` bytes.
    let pkt = unsafe { std::slice::from_raw_parts(buf as *const u8, count) };
    let mut st = s.lock();
    let now = st.instant();
    st.stack.handle_packet(now, pkt);
    st.flush();
    s.wake.notify_all();
    0
}

/// The next packet synack sent. With none queued the clock jumps to the next timer (a
/// retransmission, say) -- the packet packetdrill is waiting for can only come from there or
/// from a call on another thread, which this waits a moment for.
unsafe extern "C" fn pd_netdev_receive(
    ud: Ud,
    buf: *mut c_void,
    count: *mut usize,
    time_usecs: *mut libc::c_longlong,
) -> c_int {
    let s = unsafe { shim(ud) };
    if buf.is_null() || count.is_null() {
        set_errno(Errno::EFAULT);
        return -1;
    }
    let mut st = s.lock();
    if st.out.is_empty() {
        if let Some(due) = st.stack.poll_timeout() {
            let due = due.as_micros().max(st.now);
            st.advance(due);
            s.wake.notify_all();
        } else {
            // Nothing can happen on the clock; let a blocked call on another thread run.
            let (g, _) = s
                .wake
                .wait_timeout(st, std::time::Duration::from_millis(10))
                .unwrap_or_else(|e| e.into_inner());
            st = g;
        }
    }
    // SAFETY: non-null count, the caller's buffer size in and packet length out.
    let room = unsafe { *count };
    match st.out.pop_front() {
        Some((at, pkt)) => {
            let n = pkt.len().min(room);
            // SAFETY: `buf` holds `room` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(pkt.as_ptr(), buf as *mut u8, n);
                *count = n;
                if !time_usecs.is_null() {
                    *time_usecs = (EPOCH_USECS + at) as libc::c_longlong;
                }
            }
            0
        }
        None => {
            unsafe { *count = 0 };
            0
        }
    }
}

unsafe extern "C" fn pd_usleep(ud: Ud, usec: libc::useconds_t) -> c_int {
    let s = unsafe { shim(ud) };
    let mut st = s.lock();
    let to = st.now + u64::from(usec);
    st.advance(to);
    s.wake.notify_all();
    0
}

unsafe extern "C" fn pd_gettimeofday(ud: Ud, tv: *mut libc::timeval, _tz: *mut c_void) -> c_int {
    let s = unsafe { shim(ud) };
    if tv.is_null() {
        return 0;
    }
    let t = EPOCH_USECS + s.lock().now;
    // SAFETY: non-null timeval from the caller.
    unsafe {
        (*tv).tv_sec = (t / 1_000_000) as libc::time_t;
        (*tv).tv_usec = (t % 1_000_000) as libc::suseconds_t;
    }
    0
}
