//! Socket calls: evaluated, made through the library's hooks and checked as
//! run_system_call.c does; calls with `...` on a second thread.

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant as RealInstant};

use libc::{c_int, socklen_t};
use synack_script::ast::{Expr, Syscall};
use synack_script::symbols::{eval_int, opt_value};
use synack_script::{Errno, OptText, OptValue};

use super::*;

impl Run {
    pub(super) fn sock_by_script_fd(&self, fd: i32) -> Result<usize, String> {
        // Newest first, as packetdrill's list of descriptors.
        self.socks
            .iter()
            .rposition(|s| s.script_fd == fd && s.live_fd >= 0)
            .ok_or_else(|| format!("no socket with script fd {fd}"))
    }

    pub(super) fn live_fd(&self, e: &Expr) -> Result<(i32, usize), String> {
        let fd = eval_int(e)? as i32;
        let i = self.sock_by_script_fd(fd)?;
        Ok((self.socks[i].live_fd, i))
    }

    pub(super) fn call(&mut self, c: &Syscall) -> Result<(), String> {
        let ifc = self.ifc;
        let ud = ifc.ud();
        let t = ifc.0;
        let arg = |k: usize| {
            c.args
                .get(k)
                .ok_or_else(|| format!("{}: too few arguments", c.name))
        };
        let result: i64 = match c.name.as_str() {
            "socket" => {
                let ty = eval_int(arg(1)?)? as c_int;
                let proto = eval_int(arg(2)?)? as c_int;
                // SAFETY: the library's own hook on its own userdata; socket takes no pointers.
                let r = unsafe { (t.socket.unwrap())(ud, libc::AF_INET, ty, proto) };
                self.check(c, i64::from(r))?;
                if r >= 0 {
                    let script_fd = eval_int(&c.ret)? as i32;
                    self.socks.push(Sock::new(script_fd, r, St::New));
                    self.sut = Some(self.socks.len() - 1);
                }
                return Ok(());
            }
            "bind" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let (a, l) = sockaddr(SocketAddr::new(LOCAL.into(), BIND_PORT));
                // SAFETY: the library's own hook on its own userdata; `a` is a live sockaddr_in of
                // `l` bytes.
                i64::from(unsafe { (t.bind.unwrap())(ud, fd, (&raw const a).cast(), l) })
            }
            "listen" => {
                let (fd, i) = self.live_fd(arg(0)?)?;
                let backlog = eval_int(arg(1)?)? as c_int;
                // SAFETY: the library's own hook on its own userdata; listen takes no pointers.
                let r = unsafe { (t.listen.unwrap())(ud, fd, backlog) };
                self.check(c, i64::from(r))?;
                self.socks[i].state = St::Listening;
                return Ok(());
            }
            "accept" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                // SAFETY: all-zero bytes are a valid sockaddr_in (plain integers).
                let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                let mut l = std::mem::size_of::<libc::sockaddr_in>() as socklen_t;
                // SAFETY: the library's own hook on its own userdata; `a` has `l` writable bytes
                // and `l` is a live local.
                let r = unsafe { (t.accept.unwrap())(ud, fd, (&raw mut a).cast(), &mut l) };
                self.check(c, i64::from(r))?;
                if r >= 0 {
                    let port = u16::from_be(a.sin_port);
                    let script_fd = eval_int(&c.ret)? as i32;
                    // run_syscall_accept: the newest passive socket whose SYN-ACK went out.
                    let found = self.socks.iter_mut().rev().find(|s| {
                        matches!(s.state, St::PassiveSynackSent | St::PassiveSynackAcked)
                    });
                    let s = found.ok_or("unable to find socket matching accept() call")?;
                    if s.live_remote.map(|r| r.port()) != Some(port) {
                        return Err(format!("accept() returned a connection from port {port}"));
                    }
                    s.script_fd = script_fd;
                    s.live_fd = r;
                }
                return Ok(());
            }
            "connect" => {
                let (fd, i) = self.live_fd(arg(0)?)?;
                let remote = SocketAddr::new(REMOTE.into(), CONNECT_PORT);
                if self.socks[i].state == St::New {
                    let s = &mut self.socks[i];
                    s.state = St::ActiveConnecting;
                    s.live_remote = Some(remote);
                }
                let (a, l) = sockaddr(remote);
                // SAFETY: the library's own hook on its own userdata; `a` is a live sockaddr_in of
                // `l` bytes.
                i64::from(unsafe { (t.connect.unwrap())(ud, fd, (&raw const a).cast(), l) })
            }
            "read" | "recv" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let n = eval_int(arg(2)?)? as usize;
                let mut buf = vec![0u8; n];
                if c.name == "read" {
                    // SAFETY: the library's own hook on its own userdata; `buf` has `n` writable
                    // bytes.
                    unsafe { (t.read.unwrap())(ud, fd, buf.as_mut_ptr().cast(), n) as i64 }
                } else {
                    let flags = eval_int(arg(3)?)? as c_int;
                    // SAFETY: the library's own hook on its own userdata; `buf` has `n` writable
                    // bytes.
                    unsafe { (t.recv.unwrap())(ud, fd, buf.as_mut_ptr().cast(), n, flags) as i64 }
                }
            }
            "write" | "send" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let n = eval_int(arg(2)?)? as usize;
                let buf = vec![0u8; n];
                if c.name == "write" {
                    // SAFETY: the library's own hook on its own userdata; `buf` has `n` readable
                    // bytes.
                    unsafe { (t.write.unwrap())(ud, fd, buf.as_ptr().cast(), n) as i64 }
                } else {
                    let flags = eval_int(arg(3)?)? as c_int;
                    // SAFETY: the library's own hook on its own userdata; `buf` has `n` readable
                    // bytes.
                    unsafe { (t.send.unwrap())(ud, fd, buf.as_ptr().cast(), n, flags) as i64 }
                }
            }
            "close" => {
                let (fd, i) = self.live_fd(arg(0)?)?;
                // SAFETY: the library's own hook on its own userdata; close takes no pointers.
                let r = unsafe { (t.close.unwrap())(ud, fd) };
                self.check(c, i64::from(r))?;
                self.socks[i].closed = true;
                return Ok(());
            }
            "shutdown" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let how = eval_int(arg(1)?)? as c_int;
                // SAFETY: the library's own hook on its own userdata; shutdown takes no pointers.
                i64::from(unsafe { (t.shutdown.unwrap())(ud, fd, how) })
            }
            "fcntl" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let cmd = eval_int(arg(1)?)? as c_int;
                let a = c.args.get(2).map(eval_int).transpose()?.unwrap_or(0) as c_int;
                // SAFETY: the library's own hook on its own userdata; fcntl takes no pointers here.
                i64::from(unsafe { (t.fcntl.unwrap())(ud, fd, cmd, a) })
            }
            "setsockopt" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let level = eval_int(arg(1)?)? as c_int;
                let name = eval_int(arg(2)?)? as c_int;
                let len = eval_int(arg(4)?)? as socklen_t;
                // 16 bytes: an int, a linger, or a controller's name.
                let mut v = [0u8; 16];
                match opt_value(arg(3)?)? {
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
                // SAFETY: the library's own hook on its own userdata; `v` holds 16 readable
                // bytes, at least `len`.
                i64::from(unsafe {
                    (t.setsockopt.unwrap())(ud, fd, level, name, v.as_ptr().cast(), len)
                })
            }
            "getsockopt" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let level = eval_int(arg(1)?)? as c_int;
                let name = eval_int(arg(2)?)? as c_int;
                // Room for what scripts ask for (`struct tcp_info` is 104 bytes and more).
                let mut v = [0u8; 256];
                let mut len = eval_int(arg(4)?)? as socklen_t;
                if len as usize > v.len() {
                    return Err("getsockopt: the driver takes at most 256 bytes".into());
                }
                // SAFETY: the library's own hook on its own userdata; `v` holds 256 writable
                // bytes, at least `len`, and the hook writes no more than `len`; `len` is a
                // live local.
                let r = unsafe {
                    (t.getsockopt.unwrap())(ud, fd, level, name, v.as_mut_ptr().cast(), &mut len)
                };
                self.check(c, i64::from(r))?;
                if r == 0 {
                    let want = opt_value(arg(3)?)?;
                    let int =
                        |at: usize| c_int::from_ne_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]]);
                    let got = match want {
                        OptValue::Int(_) => OptValue::Int(i64::from(int(0))),
                        OptValue::Linger { .. } => OptValue::Linger {
                            onoff: int(0),
                            linger: int(4),
                        },
                        OptValue::Text(_) => OptText::new(&v[..(len as usize).min(OptText::MAX)])
                            .map_or(OptValue::Int(-1), OptValue::Text),
                    };
                    if got != want {
                        return Err(format!("getsockopt value: expected {want:?}, got {got:?}"));
                    }
                }
                return Ok(());
            }
            "poll" => {
                let Expr::List(items) = arg(0)? else {
                    return Err("poll: expected a list of pollfds".into());
                };
                let mut fds = Vec::new();
                let mut want = Vec::new();
                for it in items {
                    let Expr::Struct(fields) = it else {
                        return Err("poll: expected {fd=..., events=...}".into());
                    };
                    let get = |n: &str| {
                        fields
                            .iter()
                            .find(|(k, _)| k == n)
                            .map(|(_, v)| eval_int(v))
                            .transpose()
                    };
                    let fd = get("fd")?.ok_or("poll: no fd")? as i32;
                    let live = self.socks[self.sock_by_script_fd(fd)?].live_fd;
                    fds.push(libc::pollfd {
                        fd: live,
                        events: get("events")?.unwrap_or(0) as i16,
                        revents: 0,
                    });
                    want.push(get("revents")?.map(|v| v as i16));
                }
                let timeout = eval_int(arg(2)?)? as c_int;
                // SAFETY: the library's own hook on its own userdata; `fds` holds `fds.len()` live
                // pollfds.
                let r = unsafe { (t.poll.unwrap())(ud, fds.as_mut_ptr(), fds.len() as _, timeout) };
                self.check(c, i64::from(r))?;
                for (p, w) in fds.iter().zip(want) {
                    if let Some(w) = w {
                        if p.revents != w {
                            return Err(format!(
                                "poll revents: expected {w:#x}, got {:#x}",
                                p.revents
                            ));
                        }
                    }
                }
                return Ok(());
            }
            "ioctl" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let req = eval_int(arg(1)?)? as libc::c_ulong;
                let mut v: c_int = 0;
                // SAFETY: the library's own hook on its own userdata; `v` is a live int, all these
                // requests use.
                let r = unsafe { (t.ioctl.unwrap())(ud, fd, req, (&raw mut v).cast()) };
                self.check(c, i64::from(r))?;
                if r == 0 {
                    let want = eval_int(arg(2)?)?;
                    if i64::from(v) != want {
                        return Err(format!("ioctl value: expected {want}, got {v}"));
                    }
                }
                return Ok(());
            }
            other => return Err(format!("{other}: not driven here")),
        };
        self.check(c, result)
    }

    /// packetdrill's `end_syscall`: the result, and the errno when it is -1.
    pub(super) fn check(&self, c: &Syscall, result: i64) -> Result<(), String> {
        let e = errno();
        check_result(c, result, e)
    }

    /// A call with `...`: on the syscall thread, checked when it returns.
    pub(super) fn blocking(&mut self, c: &Syscall, end: i64) -> Result<(), String> {
        self.await_idle()?;
        let (fd, _) = self.live_fd(c.args.first().ok_or("no fd")?)?;
        let ifc = self.ifc;
        let c2 = c.clone();
        let live_start = self.live_start;
        let tol = self.tolerance;
        let (tx, rx) = mpsc::channel();
        let tid = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
        let tid2 = tid.clone();
        let connect_to = SocketAddr::new(REMOTE.into(), CONNECT_PORT);
        if c.name == "connect" {
            let i = self.sock_by_script_fd(eval_int(&c.args[0])? as i32)?;
            if self.socks[i].state == St::New {
                self.socks[i].state = St::ActiveConnecting;
                self.socks[i].live_remote = Some(connect_to);
            }
        }
        thread::spawn(move || {
            tid2.store(
                // SAFETY: gettid takes no arguments and cannot fail.
                unsafe { libc::gettid() },
                std::sync::atomic::Ordering::SeqCst,
            );
            let ud = ifc.ud();
            let r: i64 = match c2.name.as_str() {
                "connect" => {
                    let (a, l) = sockaddr(connect_to);
                    // SAFETY: the library's own hook on its own userdata; `a` is a live sockaddr_in
                    // of `l` bytes.
                    i64::from(unsafe { (ifc.0.connect.unwrap())(ud, fd, (&raw const a).cast(), l) })
                }
                "accept" => {
                    // SAFETY: all-zero bytes are a valid sockaddr_in (plain integers).
                    let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                    let mut l = std::mem::size_of::<libc::sockaddr_in>() as socklen_t;
                    // SAFETY: the library's own hook on its own userdata; `a` has `l` writable
                    // bytes and `l` is a live local.
                    i64::from(unsafe {
                        (ifc.0.accept.unwrap())(ud, fd, (&raw mut a).cast(), &mut l)
                    })
                }
                "read" => {
                    let n = c2
                        .args
                        .get(2)
                        .map(eval_int)
                        .transpose()
                        .ok()
                        .flatten()
                        .unwrap_or(0) as usize;
                    let mut buf = vec![0u8; n];
                    // SAFETY: the library's own hook on its own userdata; `buf` has `n` writable
                    // bytes.
                    unsafe { (ifc.0.read.unwrap())(ud, fd, buf.as_mut_ptr().cast(), n) as i64 }
                }
                other => {
                    let _ = tx.send(Err(format!("{other} with ...: not driven here")));
                    return;
                }
            };
            let e = errno();
            let now = ifc.now();
            let actual = now - live_start;
            let res = check_result(&c2, r, e).and_then(|()| {
                if (actual - end).abs() > tol {
                    Err(format!(
                        "timing error: expected system call return at {:.6} but happened at {:.6}",
                        end as f64 / 1e6,
                        actual as f64 / 1e6
                    ))
                } else {
                    Ok(())
                }
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

pub(super) fn sockaddr(a: SocketAddr) -> (libc::sockaddr_in, socklen_t) {
    // SAFETY: all-zero bytes are a valid sockaddr_in (plain integers).
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    if let IpAddr::V4(ip) = a.ip() {
        s.sin_addr.s_addr = u32::from(ip).to_be();
    }
    (s, std::mem::size_of::<libc::sockaddr_in>() as socklen_t)
}

pub(super) fn check_result(c: &Syscall, result: i64, errno: c_int) -> Result<(), String> {
    let want = match &c.ret {
        Expr::Ellipsis => return Ok(()),
        e => eval_int(e)?,
    };
    let fd_call = matches!(c.name.as_str(), "socket" | "accept");
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
