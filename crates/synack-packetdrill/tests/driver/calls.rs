//! Socket calls: evaluated, made through the library's hooks and checked as
//! run_system_call.c does; calls with `...` on a second thread.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant as RealInstant};

use libc::{c_int, c_void, socklen_t};
use synack_script::ast::{Expr, Syscall};
use synack_script::socket::consts as k;
use synack_script::symbols::{eval_int, opt_value};
use synack_script::{Errno, OptText, OptValue};

use super::*;

/// The script's descriptor numbers → the library's, as packetdrill's `to_live_fd` maps them
/// at the moment of a call (a number the script does not hold maps to -1, which the library
/// answers with `EBADF`).
pub(super) type FdMap = HashMap<i32, i32>;

/// Where a run's calls go: its address family and the two addresses packetdrill fills in
/// for `...`.
#[derive(Clone, Copy)]
pub(super) struct Target {
    pub v6: bool,
    pub bind_to: SocketAddr,
    pub connect_to: SocketAddr,
}

/// What a call returned besides its result, for the checks that follow.
pub(super) enum Out {
    Nothing,
    /// `accept`'s peer port.
    Peer(u16),
    /// `getsockopt`'s value bytes.
    Opt(Vec<u8>),
    Poll(Vec<libc::pollfd>),
    Events(Vec<libc::epoll_event>),
    /// `ioctl`'s int.
    Int(c_int),
}

/// One call made: the result, `errno` right after it, and what it filled in.
pub(super) struct Made {
    pub result: i64,
    pub errno: c_int,
    pub out: Out,
}

fn arg(c: &Syscall, k: usize) -> Result<&Expr, String> {
    c.args
        .get(k)
        .ok_or_else(|| format!("{}: too few arguments", c.name))
}

fn int(c: &Syscall, k: usize) -> Result<i64, String> {
    eval_int(arg(c, k)?)
}

fn fd_of(fds: &FdMap, e: &Expr) -> Result<i32, String> {
    Ok(fds.get(&(eval_int(e)? as i32)).copied().unwrap_or(-1))
}

/// The lengths of an iovec list `[{..., 5}, {..., 15}]`.
fn iov_lens(e: &Expr) -> Result<Vec<usize>, String> {
    let Expr::List(items) = e else {
        return Err(format!("expected an iovec list, found {e}"));
    };
    items
        .iter()
        .map(|it| match it {
            Expr::Struct(f) => f
                .last()
                .map(|(_, v)| eval_int(v).map(|n| n as usize))
                .unwrap_or(Ok(0)),
            other => Err(format!("expected {{..., LEN}}, found {other}")),
        })
        .collect()
}

/// The iovec list of a msghdr `{msg_name(...)=..., msg_iov(N)=[...], msg_flags=0}`.
fn msg_iov(e: &Expr) -> Result<Vec<usize>, String> {
    let Expr::Struct(fields) = e else {
        return Err(format!("expected a msghdr, found {e}"));
    };
    let (_, iov) = fields
        .iter()
        .find(|(n, _)| n.starts_with("msg_iov"))
        .ok_or("a msghdr without msg_iov")?;
    iov_lens(iov)
}

/// Buffers for an iovec list, and the iovecs pointing into them.
fn iovecs(lens: &[usize]) -> (Vec<Vec<u8>>, Vec<libc::iovec>) {
    let mut bufs: Vec<Vec<u8>> = lens.iter().map(|n| vec![0u8; *n]).collect();
    let iov = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    (bufs, iov)
}

/// `(events, data)` of `{events=EPOLLIN, fd=3}` (or `u32=`, `u64=`); `fd=` names a script
/// descriptor, mapped to the live one as packetdrill maps it.
fn epoll_event(fds: &FdMap, e: &Expr) -> Result<(u32, u64), String> {
    let Expr::Struct(fields) = e else {
        return Err(format!("expected {{events=..., fd=...}}, found {e}"));
    };
    let (mut events, mut data) = (0u32, 0u64);
    for (name, v) in fields {
        match name.as_str() {
            "events" => events = eval_int(v)? as u32,
            "fd" => data = fd_of(fds, v)? as u32 as u64,
            "u32" | "u64" | "ptr" => data = eval_int(v)? as u64,
            other => return Err(format!("unknown epoll_event field {other}")),
        }
    }
    Ok((events, data))
}

/// Makes one call through the library's hooks, as packetdrill's `syscall_*` handlers do:
/// `...` buffers of the script's lengths (zeros), `...` addresses the run's own.
pub(super) fn make(ifc: Ifc, c: &Syscall, fds: &FdMap, at: Target) -> Result<Made, String> {
    let ud = ifc.ud();
    let t = ifc.0;
    let fd = |k: usize| fd_of(fds, arg(c, k)?);
    let mut out = Out::Nothing;
    // SAFETY: every call below is the library's own hook on its own userdata, and every
    // pointer passed is to a live local of the length passed with it (all-zero bytes are a
    // valid sockaddr_storage and msghdr).
    let result: i64 = unsafe {
        match c.name.as_str() {
            "socket" => {
                let domain = if at.v6 { libc::AF_INET6 } else { libc::AF_INET };
                let r = (t.socket.unwrap())(ud, domain, int(c, 1)? as c_int, int(c, 2)? as c_int);
                i64::from(r)
            }
            "bind" => {
                let (a, l) = sockaddr(at.bind_to);
                i64::from((t.bind.unwrap())(ud, fd(0)?, (&raw const a).cast(), l))
            }
            "listen" => i64::from((t.listen.unwrap())(ud, fd(0)?, int(c, 1)? as c_int)),
            "accept" => {
                let mut a: libc::sockaddr_storage = std::mem::zeroed();
                let mut l = size_of::<libc::sockaddr_storage>() as socklen_t;
                let r = (t.accept.unwrap())(ud, fd(0)?, (&raw mut a).cast(), &mut l);
                // sin_port and sin6_port sit at the same offset.
                let sin = &*(&raw const a).cast::<libc::sockaddr_in>();
                out = Out::Peer(u16::from_be(sin.sin_port));
                i64::from(r)
            }
            "connect" => {
                let (a, l) = sockaddr(at.connect_to);
                i64::from((t.connect.unwrap())(ud, fd(0)?, (&raw const a).cast(), l))
            }
            "read" | "recv" | "recvfrom" => {
                let n = int(c, 2)? as usize;
                let mut buf = vec![0u8; n];
                let p = buf.as_mut_ptr().cast::<c_void>();
                match c.name.as_str() {
                    "read" => (t.read.unwrap())(ud, fd(0)?, p, n) as i64,
                    "recv" => (t.recv.unwrap())(ud, fd(0)?, p, n, int(c, 3)? as c_int) as i64,
                    _ => {
                        let mut a: libc::sockaddr_storage = std::mem::zeroed();
                        let mut l = size_of::<libc::sockaddr_storage>() as socklen_t;
                        let flags = int(c, 3)? as c_int;
                        let a = (&raw mut a).cast();
                        (t.recvfrom.unwrap())(ud, fd(0)?, p, n, flags, a, &mut l) as i64
                    }
                }
            }
            "readv" => {
                let (_bufs, iov) = iovecs(&iov_lens(arg(c, 1)?)?);
                (t.readv.unwrap())(ud, fd(0)?, iov.as_ptr(), int(c, 2)? as c_int) as i64
            }
            "recvmsg" | "sendmsg" => {
                let (_bufs, mut iov) = iovecs(&msg_iov(arg(c, 1)?)?);
                let mut m: libc::msghdr = std::mem::zeroed();
                m.msg_iov = iov.as_mut_ptr();
                m.msg_iovlen = iov.len() as _;
                let flags = int(c, 2)? as c_int;
                if c.name == "recvmsg" {
                    (t.recvmsg.unwrap())(ud, fd(0)?, &mut m, flags) as i64
                } else {
                    (t.sendmsg.unwrap())(ud, fd(0)?, &m, flags) as i64
                }
            }
            "write" | "send" | "sendto" => {
                let n = int(c, 2)? as usize;
                let buf = vec![0u8; n];
                let p = buf.as_ptr().cast::<c_void>();
                match c.name.as_str() {
                    "write" => (t.write.unwrap())(ud, fd(0)?, p, n) as i64,
                    "send" => (t.send.unwrap())(ud, fd(0)?, p, n, int(c, 3)? as c_int) as i64,
                    _ => {
                        let flags = int(c, 3)? as c_int;
                        let (a, l) = sockaddr(at.connect_to);
                        let a = (&raw const a).cast();
                        (t.sendto.unwrap())(ud, fd(0)?, p, n, flags, a, l) as i64
                    }
                }
            }
            "writev" => {
                let (_bufs, iov) = iovecs(&iov_lens(arg(c, 1)?)?);
                (t.writev.unwrap())(ud, fd(0)?, iov.as_ptr(), int(c, 2)? as c_int) as i64
            }
            "close" => i64::from((t.close.unwrap())(ud, fd(0)?)),
            "shutdown" => i64::from((t.shutdown.unwrap())(ud, fd(0)?, int(c, 1)? as c_int)),
            "fcntl" => {
                let a = c.args.get(2).map(eval_int).transpose()?.unwrap_or(0) as c_int;
                i64::from((t.fcntl.unwrap())(ud, fd(0)?, int(c, 1)? as c_int, a))
            }
            "setsockopt" => {
                let len = int(c, 4)? as socklen_t;
                // 16 bytes: an int, a linger, or a controller's name.
                let mut v = [0u8; 16];
                match opt_value(arg(c, 3)?)? {
                    OptValue::Int(x) => v[..4].copy_from_slice(&(x as c_int).to_ne_bytes()),
                    OptValue::Linger { onoff, linger } => {
                        v[..4].copy_from_slice(&onoff.to_ne_bytes());
                        v[4..8].copy_from_slice(&linger.to_ne_bytes());
                    }
                    OptValue::Text(t) => v[..t.as_bytes().len()].copy_from_slice(t.as_bytes()),
                }
                if len as usize > v.len() {
                    return Err("setsockopt: the driver passes at most 16 bytes".into());
                }
                let (level, name) = (int(c, 1)? as c_int, int(c, 2)? as c_int);
                let r = (t.setsockopt.unwrap())(ud, fd(0)?, level, name, v.as_ptr().cast(), len);
                i64::from(r)
            }
            "getsockopt" => {
                // Room for what scripts ask for (`struct tcp_info` is 104 bytes and more).
                let mut v = vec![0u8; 256];
                let mut len = int(c, 4)? as socklen_t;
                if len as usize > v.len() {
                    return Err("getsockopt: the driver takes at most 256 bytes".into());
                }
                let (level, name) = (int(c, 1)? as c_int, int(c, 2)? as c_int);
                let p = v.as_mut_ptr().cast();
                let r = (t.getsockopt.unwrap())(ud, fd(0)?, level, name, p, &mut len);
                v.truncate(len as usize);
                out = Out::Opt(v);
                i64::from(r)
            }
            "poll" => {
                let Expr::List(items) = arg(c, 0)? else {
                    return Err("poll: expected a list of pollfds".into());
                };
                let mut v = Vec::new();
                for it in items {
                    let Expr::Struct(fields) = it else {
                        return Err("poll: expected {fd=..., events=...}".into());
                    };
                    let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v);
                    v.push(libc::pollfd {
                        fd: fd_of(fds, get("fd").ok_or("poll: no fd")?)?,
                        events: get("events").map(eval_int).transpose()?.unwrap_or(0) as i16,
                        revents: 0,
                    });
                }
                let timeout = int(c, 2)? as c_int;
                let r = (t.poll.unwrap())(ud, v.as_mut_ptr(), v.len() as _, timeout);
                out = Out::Poll(v);
                i64::from(r)
            }
            "ioctl" => {
                let mut v: c_int = 0;
                let req = int(c, 1)? as libc::c_ulong;
                let r = (t.ioctl.unwrap())(ud, fd(0)?, req, (&raw mut v).cast());
                out = Out::Int(v);
                i64::from(r)
            }
            "epoll_create" => i64::from((t.epoll_create.unwrap())(ud, int(c, 0)? as c_int)),
            "epoll_ctl" => {
                let ev = match arg(c, 3)? {
                    Expr::Ellipsis => None,
                    e => Some(epoll_event(fds, e)?),
                };
                let mut e = ev.map(|(events, u64)| libc::epoll_event { events, u64 });
                let p = e.as_mut().map_or(std::ptr::null_mut(), |e| {
                    (e as *mut libc::epoll_event).cast()
                });
                let op = int(c, 1)? as c_int;
                i64::from((t.epoll_ctl.unwrap())(ud, fd(0)?, op, fd(2)?, p))
            }
            "epoll_wait" => {
                let max = int(c, 2)? as c_int;
                let mut v =
                    vec![libc::epoll_event { events: 0, u64: 0 }; max.clamp(0, 64) as usize];
                let timeout = int(c, 3)? as c_int;
                let r = (t.epoll_wait.unwrap())(ud, fd(0)?, v.as_mut_ptr().cast(), max, timeout);
                v.truncate(r.max(0) as usize);
                out = Out::Events(v);
                i64::from(r)
            }
            other => return Err(format!("{other}: not driven here")),
        }
    };
    Ok(Made {
        result,
        errno: errno(),
        out,
    })
}

/// Linux's `tcpi_state` names, which a `{tcpi_state=...}` value may use.
fn tcp_state(name: &str) -> Option<i64> {
    Some(match name {
        "TCP_ESTABLISHED" => k::TCP_ESTABLISHED,
        "TCP_SYN_SENT" => k::TCP_SYN_SENT,
        "TCP_SYN_RECV" => k::TCP_SYN_RECV,
        "TCP_FIN_WAIT1" => k::TCP_FIN_WAIT1,
        "TCP_FIN_WAIT2" => k::TCP_FIN_WAIT2,
        "TCP_TIME_WAIT" => k::TCP_TIME_WAIT,
        "TCP_CLOSE" => k::TCP_CLOSE,
        "TCP_CLOSE_WAIT" => k::TCP_CLOSE_WAIT,
        "TCP_LAST_ACK" => k::TCP_LAST_ACK,
        "TCP_LISTEN" => k::TCP_LISTEN,
        "TCP_CLOSING" => k::TCP_CLOSING,
        _ => return None,
    })
}

/// A field of `struct tcp_info` as the libc crate lays it out (not the library's table).
fn tcpi(ti: &libc::tcp_info, name: &str) -> Option<i64> {
    Some(match name {
        "tcpi_state" => ti.tcpi_state.into(),
        "tcpi_ca_state" => ti.tcpi_ca_state.into(),
        "tcpi_retransmits" => ti.tcpi_retransmits.into(),
        "tcpi_backoff" => ti.tcpi_backoff.into(),
        "tcpi_options" => ti.tcpi_options.into(),
        "tcpi_snd_wscale" => (ti.tcpi_snd_rcv_wscale & 0xf).into(),
        "tcpi_rcv_wscale" => (ti.tcpi_snd_rcv_wscale >> 4).into(),
        "tcpi_rto" => ti.tcpi_rto.into(),
        "tcpi_snd_mss" => ti.tcpi_snd_mss.into(),
        "tcpi_unacked" => ti.tcpi_unacked.into(),
        "tcpi_sacked" => ti.tcpi_sacked.into(),
        "tcpi_lost" => ti.tcpi_lost.into(),
        "tcpi_rtt" => ti.tcpi_rtt.into(),
        "tcpi_rttvar" => ti.tcpi_rttvar.into(),
        "tcpi_snd_ssthresh" => ti.tcpi_snd_ssthresh.into(),
        "tcpi_snd_cwnd" => ti.tcpi_snd_cwnd.into(),
        "tcpi_total_retrans" => ti.tcpi_total_retrans.into(),
        "tcpi_bytes_acked" => ti.tcpi_bytes_acked as i64,
        "tcpi_bytes_received" => ti.tcpi_bytes_received as i64,
        "tcpi_dsack_dups" => ti.tcpi_dsack_dups.into(),
        "tcpi_reord_seen" => ti.tcpi_reord_seen.into(),
        "tcpi_snd_wnd" => ti.tcpi_snd_wnd.into(),
        "tcpi_rcv_wnd" => ti.tcpi_rcv_wnd.into(),
        _ => return None,
    })
}

/// The checks after the result: what the call filled in against what the script expects.
pub(super) fn verify(c: &Syscall, made: &Made, fds: &FdMap) -> Result<(), String> {
    if made.result < 0 {
        return Ok(());
    }
    match (&made.out, c.name.as_str()) {
        (Out::Opt(v), _) => match arg(c, 3)? {
            Expr::Struct(fields) if fields.iter().all(|(n, _)| n.starts_with("tcpi_")) => {
                // SAFETY: all-zero bytes are a valid tcp_info (plain integers).
                let mut ti: libc::tcp_info = unsafe { std::mem::zeroed() };
                let n = v.len().min(size_of::<libc::tcp_info>());
                // SAFETY: `ti` has room for `n` bytes, and any bytes are a valid tcp_info.
                unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), (&raw mut ti).cast(), n) };
                for (name, want) in fields {
                    let want = match want {
                        Expr::Word(w) if tcp_state(w).is_some() => tcp_state(w).unwrap_or(-1),
                        e => eval_int(e)?,
                    };
                    let got = tcpi(&ti, name).ok_or(format!("TCP_INFO field {name}"))?;
                    if got != want {
                        return Err(format!("TCP_INFO {name}={got}, expected {want}"));
                    }
                }
                Ok(())
            }
            e => {
                let want = opt_value(e)?;
                let int = |at: usize| {
                    v.get(at..at + 4)
                        .map_or(-1, |b| c_int::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                };
                let got = match want {
                    // A value above INT_MAX is an unsigned option's: read the int as one.
                    OptValue::Int(w) if w > i64::from(c_int::MAX) => {
                        OptValue::Int(i64::from(int(0) as u32))
                    }
                    OptValue::Int(_) => OptValue::Int(i64::from(int(0))),
                    OptValue::Linger { .. } => OptValue::Linger {
                        onoff: int(0),
                        linger: int(4),
                    },
                    OptValue::Text(_) => OptText::new(&v[..v.len().min(OptText::MAX)])
                        .map_or(OptValue::Int(-1), OptValue::Text),
                };
                if got != want {
                    return Err(format!("getsockopt value: expected {want:?}, got {got:?}"));
                }
                Ok(())
            }
        },
        (Out::Poll(v), _) => {
            let Expr::List(items) = arg(c, 0)? else {
                return Ok(());
            };
            for (p, it) in v.iter().zip(items) {
                let Expr::Struct(fields) = it else { continue };
                if let Some((_, w)) = fields.iter().find(|(k, _)| k == "revents") {
                    let w = eval_int(w)? as i16;
                    if p.revents != w {
                        return Err(format!(
                            "poll revents: expected {w:#x}, got {:#x}",
                            p.revents
                        ));
                    }
                }
            }
            Ok(())
        }
        (Out::Int(v), "ioctl") => match c.args.get(2) {
            None | Some(Expr::Ellipsis) => Ok(()),
            Some(e) => {
                let want = eval_int(e)?;
                if i64::from(*v) != want {
                    return Err(format!("ioctl value: expected {want}, got {v}"));
                }
                Ok(())
            }
        },
        (Out::Events(got), _) => {
            let want = match arg(c, 1)? {
                Expr::Ellipsis => return Ok(()),
                Expr::List(items) => items
                    .iter()
                    .map(|e| epoll_event(fds, e))
                    .collect::<Result<Vec<_>, _>>()?,
                e => vec![epoll_event(fds, e)?],
            };
            let got: Vec<(u32, u64)> = got.iter().map(|e| (e.events, e.u64)).collect();
            if !got.is_empty() && got != want {
                return Err(format!("epoll_wait events {got:?}, expected {want:?}"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Run {
    pub(super) fn sock_by_script_fd(&self, fd: i32) -> Result<usize, String> {
        // Newest first, as packetdrill's list of descriptors.
        self.socks
            .iter()
            .rposition(|s| s.script_fd == fd && s.live_fd >= 0 && !s.closed)
            .ok_or_else(|| format!("no socket with script fd {fd}"))
    }

    /// The descriptors the script holds now.
    pub(super) fn fd_map(&self) -> FdMap {
        self.socks
            .iter()
            .filter(|s| s.script_fd >= 0 && s.live_fd >= 0 && !s.closed)
            .map(|s| (s.script_fd, s.live_fd))
            .collect()
    }

    pub(super) fn target(&self) -> Target {
        Target {
            v6: self.v6,
            bind_to: SocketAddr::new(self.local, BIND_PORT),
            connect_to: SocketAddr::new(self.remote, CONNECT_PORT),
        }
    }

    /// An active open starts with the first `connect` of a new socket.
    fn note_connect(&mut self, c: &Syscall) -> Result<(), String> {
        if let Ok(i) = self.sock_by_script_fd(int(c, 0)? as i32) {
            if self.socks[i].state == St::New {
                self.socks[i].state = St::ActiveConnecting;
                self.socks[i].live_remote = Some(self.target().connect_to);
            }
        }
        Ok(())
    }

    pub(super) fn call(&mut self, c: &Syscall) -> Result<(), String> {
        if c.name == "connect" {
            self.note_connect(c)?;
        }
        let fds = self.fd_map();
        let made = make(self.ifc, c, &fds, self.target())?;
        check_result(c, made.result, made.errno)?;
        verify(c, &made, &fds)?;
        let r = made.result;
        match c.name.as_str() {
            "socket" | "epoll_create" if r >= 0 => {
                let script_fd = eval_int(&c.ret)? as i32;
                self.socks.push(Sock::new(script_fd, r as i32, St::New));
                if c.name == "socket" {
                    self.sut = Some(self.socks.len() - 1);
                }
            }
            "listen" if r == 0 => {
                let i = self.sock_by_script_fd(int(c, 0)? as i32)?;
                self.socks[i].state = St::Listening;
            }
            "accept" if r >= 0 => {
                let Out::Peer(port) = made.out else {
                    return Ok(());
                };
                self.accepted(c, r as i32, port)?;
            }
            "close" if r == 0 => {
                let i = self.sock_by_script_fd(int(c, 0)? as i32)?;
                self.socks[i].closed = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// run_syscall_accept: the newest passive socket whose SYN-ACK went out.
    fn accepted(&mut self, c: &Syscall, live: i32, port: u16) -> Result<(), String> {
        let script_fd = eval_int(&c.ret)? as i32;
        let found = self
            .socks
            .iter_mut()
            .rev()
            .find(|s| matches!(s.state, St::PassiveSynackSent | St::PassiveSynackAcked));
        let s = found.ok_or("unable to find socket matching accept() call")?;
        if s.live_remote.map(|r| r.port()) != Some(port) {
            return Err(format!("accept() returned a connection from port {port}"));
        }
        s.script_fd = script_fd;
        s.live_fd = live;
        Ok(())
    }

    /// A call with `...`: on the syscall thread, checked when it returns.
    pub(super) fn blocking(&mut self, c: &Syscall, end: i64) -> Result<(), String> {
        self.await_idle()?;
        if matches!(
            c.name.as_str(),
            "socket" | "accept" | "close" | "epoll_create"
        ) {
            return Err(format!("{} with ...: not driven here", c.name));
        }
        if c.name == "connect" {
            self.note_connect(c)?;
        }
        let ifc = self.ifc;
        let c2 = c.clone();
        let fds = self.fd_map();
        let at = self.target();
        let live_start = self.live_start;
        let tol = self.tolerance;
        let (tx, rx) = mpsc::channel();
        let tid = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
        let tid2 = tid.clone();
        thread::spawn(move || {
            tid2.store(
                // SAFETY: gettid takes no arguments and cannot fail.
                unsafe { libc::gettid() },
                std::sync::atomic::Ordering::SeqCst,
            );
            let res = make(ifc, &c2, &fds, at).and_then(|made| {
                let now = ifc.now();
                let actual = now - live_start;
                check_result(&c2, made.result, made.errno)?;
                verify(&c2, &made, &fds)?;
                if (actual - end).abs() > tol {
                    return Err(format!(
                        "timing error: expected system call return at {:.6} but happened at {:.6}",
                        end as f64 / 1e6,
                        actual as f64 / 1e6
                    ));
                }
                Ok(())
            });
            let _ = tx.send(res);
        });
        // Go on once the thread sleeps in the call, or it returned.
        let give_up = RealInstant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = rx.try_recv() {
                return r;
            }
            let t = tid.load(std::sync::atomic::Ordering::SeqCst);
            if t != 0 && thread_sleeping(t) {
                break;
            }
            if RealInstant::now() > give_up {
                return Err("the syscall thread neither blocked nor returned".into());
            }
            thread::yield_now();
        }
        self.pending = Some(Pending { rx, tid });
        Ok(())
    }

    /// Waits (real time, bounded) for a blocking call to finish, and takes its verdict.
    pub(super) fn await_idle(&mut self) -> Result<(), String> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let _ = p.tid;
        p.rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| "a blocking system call is still in progress".to_string())?
    }
}

/// A `sockaddr_in` or `sockaddr_in6` for `a`, in storage big enough for either.
pub(super) fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, socklen_t) {
    // SAFETY: all-zero bytes are a valid sockaddr_storage (plain integers).
    let mut s: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a.ip() {
        IpAddr::V4(ip) => {
            // SAFETY: sockaddr_storage is larger than and aligned for any sockaddr.
            let sin = unsafe { &mut *(&raw mut s).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(ip).to_be();
            size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(ip) => {
            // SAFETY: sockaddr_storage is larger than and aligned for any sockaddr.
            let sin6 = unsafe { &mut *(&raw mut s).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = ip.octets();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (s, len as socklen_t)
}

pub(super) fn check_result(c: &Syscall, result: i64, errno: c_int) -> Result<(), String> {
    let want = match &c.ret {
        Expr::Ellipsis => return Ok(()),
        e => eval_int(e)?,
    };
    let fd_call = matches!(c.name.as_str(), "socket" | "accept" | "epoll_create");
    if fd_call && want >= 0 {
        if result < 0 {
            return Err(format!("{} returned -1, errno {errno}", c.name));
        }
        return Ok(());
    }
    if result != want {
        return Err(format!(
            "{}: expected result {want} but got {result}{}",
            c.name,
            if result < 0 {
                format!(" (errno {errno})")
            } else {
                String::new()
            }
        ));
    }
    if want == -1 {
        if let Some(name) = &c.errno {
            let code = Errno::from_name(name)
                .map(|e| e.code())
                .ok_or(format!("errno {name}"))?;
            if code != errno {
                return Err(format!(
                    "{}: expected errno {name} ({code}), got {errno}",
                    c.name
                ));
            }
        }
    }
    Ok(())
}

fn thread_sleeping(tid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    stat.rfind(')')
        .and_then(|k| stat.get(k + 2..k + 3))
        .is_some_and(|st| st == "S")
}
