//! Socket options, `TCP_INFO`, and `ioctl` queue sizes and the urgent mark as the script sets
//! and checks them.

use crate::assert;
use crate::ast::*;
use crate::errno::Errno;
use crate::socket::{OptValue, SockError, consts::*};
use crate::symbols::{eval_int, opt_value, show_opt};

use super::Runner;
use super::calls::done;
use super::config::IpVersion;
use super::wait::{Step, UNSUPPORTED_CALL};

/// Linux's ioctl requests for the bytes readable, the bytes not yet acknowledged, and
/// whether the next read is at the urgent mark.
const SIOCINQ: i64 = 0x541B;
const SIOCOUTQ: i64 = 0x5411;
const SIOCATMARK: i64 = 0x8905;

impl Runner {
    pub(super) fn call_setsockopt(&mut self, call: &Syscall) -> Result<Step, String> {
        let fd = self.fd_arg(call, 0)?;
        let level = Self::int_arg(call, 1)? as i32;
        let name = Self::int_arg(call, 2)? as i32;
        let value = opt_value(call.args.get(3).ok_or("missing option value")?)?;
        self.mapped_ipv6_level(level)?;
        done(self.stack.setsockopt(fd, level, name, value).map(|_| 0))
    }

    /// Under ipv4-mapped-ipv6 the stack's socket is an AF_INET one, which has no IPv6-level
    /// options: the script's AF_INET6 socket would.
    fn mapped_ipv6_level(&self, level: i32) -> Result<(), String> {
        if level == IPPROTO_IPV6 && self.cfg.ip_version == IpVersion::V4MappedV6 {
            return Err(format!(
                "{UNSUPPORTED_CALL} IPPROTO_IPV6 options on an IPv4-mapped socket (synack's \
                 sockets are of one family)"
            ));
        }
        Ok(())
    }

    pub(super) fn call_getsockopt(&mut self, call: &Syscall) -> Result<Step, String> {
        if let Some(Expr::Struct(fields)) = call.args.get(3) {
            return self.check_tcp_info(call, fields);
        }
        let fd = self.fd_arg(call, 0)?;
        let level = Self::int_arg(call, 1)? as i32;
        let name = Self::int_arg(call, 2)? as i32;
        self.mapped_ipv6_level(level)?;
        match self.stack.getsockopt(fd, level, name) {
            Ok(v) => {
                if let Some(e) = call.args.get(3).filter(|e| **e != Expr::Ellipsis) {
                    let want = opt_value(e)?;
                    if want != v {
                        return Err(format!(
                            "option value {}, expected {}",
                            show_opt(v),
                            show_opt(want)
                        ));
                    }
                }
                done(Ok(0))
            }
            Err(e) => done(Err(e)),
        }
    }

    /// `getsockopt(fd, SOL_TCP, TCP_INFO, {tcpi_state=..., tcpi_rto=...}, ...)`: each named
    /// field is checked against the connection's info, as an assert would check it.
    fn check_tcp_info(
        &mut self,
        call: &Syscall,
        fields: &[(String, Expr)],
    ) -> Result<Step, String> {
        let fd = self.fd_arg(call, 0)?;
        if Self::int_arg(call, 2)? != i64::from(TCP_INFO) {
            return Err("only TCP_INFO takes a struct value here".into());
        }
        let state = match self.stack.state(fd) {
            Ok(s) => s,
            Err(e) => return done(Err(e)),
        };
        let info = self.stack.tcp_info(fd).ok();
        let vars = assert::tcpi_fields(info.as_ref(), state);
        for (name, want) in fields {
            // `tcpi_state=TCP_ESTABLISHED`: the state names are the assert block's.
            let want = match want {
                Expr::Word(w) => match assert::constant(w) {
                    Some(v) => v,
                    None => eval_int(want)?,
                },
                other => eval_int(other)?,
            };
            let Some((_, got)) = vars.iter().find(|(n, _)| *n == name.as_str()) else {
                return Err(format!(
                    "{} {name} (a TCP_INFO field synack does not keep)",
                    crate::symbols::UNKNOWN_SYMBOL
                ));
            };
            if *got != want {
                return Err(format!("TCP_INFO {name}={got}, expected {want}"));
            }
        }
        done(Ok(0))
    }

    /// SIOCINQ/SIOCOUTQ, as the packetdrill shared library answers them: what the receive
    /// queue holds in order, and what the send buffer holds; SIOCATMARK, 1 when the next read
    /// starts at the urgent mark.
    pub(super) fn call_ioctl(&mut self, call: &Syscall) -> Result<Step, String> {
        let fd = self.fd_arg(call, 0)?;
        let req = Self::int_arg(call, 1)?;
        if req != SIOCINQ && req != SIOCOUTQ && req != SIOCATMARK {
            return Err(format!("{UNSUPPORTED_CALL} the ioctl request {req:#x}"));
        }
        if self.stack.state(fd) == Ok(synack_proto::StateName::Listen) {
            return done(Err(SockError::Errno(Errno::EINVAL)));
        }
        let got = if req == SIOCATMARK {
            match self.stack.at_urgent_mark(fd) {
                Ok(at) => i64::from(at),
                Err(e) => return done(Err(e)),
            }
        } else {
            let (inq, outq) = match self.stack.tcp_info(fd) {
                Ok(i) => (i.recv_buffered, i.send_buffered),
                Err(SockError::Errno(Errno::EBADF)) => {
                    return done(Err(SockError::Errno(Errno::EBADF)));
                }
                Err(_) => (0, 0),
            };
            (if req == SIOCINQ { inq } else { outq }) as i64
        };
        if let Some(e) = call.args.get(2).filter(|e| **e != Expr::Ellipsis) {
            let OptValue::Int(want) = opt_value(e)? else {
                return Err("the ioctl value is [N]".into());
            };
            if want != got {
                return Err(format!("ioctl value [{got}], expected [{want}]"));
            }
        }
        done(Ok(0))
    }
}
