//! Socket calls: each runs against the stack at its script time, and its result (value and
//! errno) is compared with the script's.

use std::net::SocketAddr;

use crate::ast::*;
use crate::errno::Errno;
use crate::socket::{SockError, consts::*};
use crate::symbols::eval_int;

use super::Runner;
use super::args::is_null;
use super::config::IpVersion;
use super::show::{fmt_stime, fmt_time};
use super::wait::{CallResult, Pending, Step, UNSUPPORTED_CALL, Wait};

impl Runner {
    pub(super) fn syscall(&mut self, pos: Pos, call: &Syscall, end: Option<i64>) {
        if let Some(p) = &self.pending {
            return self.fail(
                pos,
                format!(
                    "{}(...) called while {}(...) from line {} is still blocked",
                    call.name, p.call.name, p.pos.line
                ),
            );
        }
        match self.start_call(call) {
            Ok(Step::Done(r)) => self.finish(pos, call, end, r),
            Ok(Step::Block(wait)) => {
                self.pending = Some(Pending {
                    pos,
                    call: call.clone(),
                    end,
                    wait,
                });
            }
            Err(m) => self.call_error(pos, &call.name, m),
        }
    }

    /// Compares a finished call with the script.
    pub(super) fn finish(&mut self, pos: Pos, call: &Syscall, end: Option<i64>, r: CallResult) {
        let tol = self.cfg.tolerance_usecs as i64;
        if let Some(end) = end {
            if (self.now as i64 - end).abs() > tol {
                return self.fail(
                    pos,
                    format!(
                        "{}(...) returned at {}, expected at {} (±{}us)",
                        call.name,
                        fmt_time(self.now),
                        fmt_stime(end),
                        tol
                    ),
                );
            }
        }
        let expected = match &call.ret {
            Expr::Ellipsis => None,
            e => match eval_int(e) {
                Ok(v) => Some(v),
                Err(m) => return self.fail(pos, format!("{}: result: {m}", call.name)),
            },
        };
        let want_errno = call.errno.as_deref();
        let shown_expected = match (expected, want_errno) {
            (Some(v), Some(e)) => format!("{v} {e}"),
            (Some(v), None) => v.to_string(),
            (None, _) => "...".into(),
        };
        // packetdrill's file descriptors are the script's own: `socket(...) = 4` names the new
        // socket 4 in the script, whatever number the stack gave it.
        let mut r = r;
        if let (Ok(live), Some(v)) = (&r, expected) {
            if matches!(call.name.as_str(), "socket" | "accept" | "accept4") && v >= 0 {
                if let (Ok(script_fd), Ok(live_fd)) = (i32::try_from(v), i32::try_from(*live)) {
                    self.fds.insert(script_fd, live_fd);
                    r = Ok(v);
                }
            }
        }
        match r {
            Err(SockError::Unsupported(m)) => {
                self.unsupported(pos, format!("{}(...): {m}", call.name))
            }
            Ok(v) => {
                if expected.is_some_and(|x| x != v) {
                    self.fail(
                        pos,
                        format!("{}(...) returned {v}, expected {shown_expected}", call.name),
                    );
                }
            }
            Err(SockError::Errno(e)) => {
                let ok = expected.is_none_or(|x| x == -1)
                    && want_errno.is_none_or(|w| Errno::from_name(w) == Some(e));
                if !ok {
                    self.fail(
                        pos,
                        format!(
                            "{}(...) returned -1 {}, expected {shown_expected}",
                            call.name, e
                        ),
                    );
                }
            }
        }
    }

    pub(super) fn retry_pending(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        match self.step(&p.wait) {
            Ok(Step::Done(r)) => self.finish(p.pos, &p.call, p.end, r),
            Ok(Step::Block(wait)) => self.pending = Some(Pending { wait, ..p }),
            Err(m) => self.call_error(p.pos, &p.call.name, m),
        }
    }

    /// Runs a call once: its result, or what it waits for.
    pub(super) fn start_call(&mut self, call: &Syscall) -> Result<Step, String> {
        match call.name.as_str() {
            "socket" => self.call_socket(call),
            "bind" => self.call_bind(call),
            "listen" => self.call_listen(call),
            "accept" | "accept4" => {
                let fd = self.fd_arg(call, 0)?;
                self.step(&Wait::Accept(fd))
            }
            "connect" => self.call_connect(call),
            "read" | "recv" | "recvfrom" | "write" | "send" | "sendto"
                if is_null(call.args.get(1)) =>
            {
                // The kernel cannot copy to or from address 0 (EFAULT) whatever the socket;
                // synack's calls take slices, so the script runner answers for it.
                self.fd_arg(call, 0)?;
                done(Err(SockError::Errno(Errno::EFAULT)))
            }
            "read" | "recv" | "recvfrom" | "recvmsg" | "readv" => self.call_read(call),
            "write" | "send" | "sendto" | "sendmsg" | "writev" => self.call_write(call),
            "shutdown" => {
                let fd = self.fd_arg(call, 0)?;
                let how = Self::int_arg(call, 1)? as i32;
                done(self.stack.shutdown(fd, how).map(|_| 0))
            }
            "close" => {
                // Whatever the descriptor, it leaves every epoll interest list it was on.
                if self.epolls.close(Self::int_arg(call, 0)? as i32) {
                    return done(Ok(0));
                }
                let fd = self.fd_arg(call, 0)?;
                if self.under_test == Some(fd) {
                    self.under_test = None;
                }
                let now = self.instant();
                done(self.stack.close(now, fd).map(|_| 0))
            }
            "fcntl" => {
                let fd = self.fd_arg(call, 0)?;
                let cmd = Self::int_arg(call, 1)? as i32;
                let arg = Self::int_arg(call, 2).unwrap_or(0) as i32;
                done(self.stack.fcntl(fd, cmd, arg).map(i64::from))
            }
            "setsockopt" => self.call_setsockopt(call),
            "getsockopt" => self.call_getsockopt(call),
            "ioctl" => self.call_ioctl(call),
            "poll" => self.call_poll(call),
            "epoll_create" | "epoll_create1" => self.call_epoll_create(call),
            "epoll_ctl" => self.call_epoll_ctl(call),
            "epoll_wait" | "epoll_pwait" => self.call_epoll_wait(call),
            other => Err(format!("{UNSUPPORTED_CALL} the system call {other}")),
        }
    }

    pub(super) fn call_socket(&mut self, call: &Syscall) -> Result<Step, String> {
        // `...` is the script's family, as packetdrill fills it in.
        let domain = match call.args.first() {
            None | Some(Expr::Ellipsis) if self.cfg.ip_version == IpVersion::V6 => AF_INET6,
            None | Some(Expr::Ellipsis) => AF_INET,
            Some(e) => eval_int(e)? as i32,
        };
        // Under ipv4-mapped-ipv6 the wire is IPv4 and so is the stack's socket.
        let domain = if domain == AF_INET6 && self.cfg.ip_version == IpVersion::V4MappedV6 {
            AF_INET
        } else {
            domain
        };
        let ty = Self::int_arg(call, 1)? as i32;
        let proto = match call.args.get(2) {
            None | Some(Expr::Ellipsis) => 0,
            Some(e) => eval_int(e)? as i32,
        };
        done(self.stack.socket(domain, ty, proto).map(i64::from))
    }

    pub(super) fn call_bind(&mut self, call: &Syscall) -> Result<Step, String> {
        let fd = self.fd_arg(call, 0)?;
        let default = SocketAddr::new(self.cfg.local_addr(), self.cfg.bind_port);
        let addr = self.addr_arg(call, 1, default)?;
        done(self.stack.bind(fd, addr).map(|_| 0))
    }

    pub(super) fn call_listen(&mut self, call: &Syscall) -> Result<Step, String> {
        let fd = self.fd_arg(call, 0)?;
        let backlog = Self::int_arg(call, 1)? as i32;
        let r = self.stack.listen(fd, backlog);
        if r.is_ok() {
            // Flows towards the listener go to its address.
            self.listen_addr = self.stack_bound(fd);
        }
        done(r.map(|_| 0))
    }

    pub(super) fn call_connect(&mut self, call: &Syscall) -> Result<Step, String> {
        let fd = self.fd_arg(call, 0)?;
        let default = SocketAddr::new(self.cfg.remote_addr(), self.cfg.connect_port);
        let addr = self.addr_arg(call, 1, default)?;
        self.under_test = Some(fd);
        let now = self.instant();
        match self.stack.connect(now, fd, addr) {
            Err(SockError::Errno(Errno::EINPROGRESS)) => {
                if let Ok((local, remote)) = self.stack.addrs(fd) {
                    self.current = Some(self.flow_of(local, remote));
                }
                if self.stack.is_nonblocking(fd).unwrap_or(false) {
                    done(Err(SockError::Errno(Errno::EINPROGRESS)))
                } else {
                    Ok(Step::Block(Wait::Connect(fd)))
                }
            }
            r => done(r.map(|_| 0)),
        }
    }
}

/// A call that finished at once.
pub(super) fn done(r: CallResult) -> Result<Step, String> {
    Ok(Step::Done(r))
}
