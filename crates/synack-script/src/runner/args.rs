//! A call's arguments: the script's file descriptors, integers, socket addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::ast::*;
use crate::symbols::eval_int;

use super::Runner;
use super::config::IpVersion;
use super::wait::UNSUPPORTED_CALL;

impl Runner {
    pub(super) fn fd_arg(&mut self, call: &Syscall, k: usize) -> Result<i32, String> {
        let e = call
            .args
            .get(k)
            .ok_or_else(|| format!("missing argument {}", k + 1))?;
        let fd = self.live_fd(eval_int(e)? as i32);
        if matches!(self.stack.state(fd), Ok(s) if s != synack_proto::StateName::Listen) {
            self.under_test = Some(fd);
        }
        Ok(fd)
    }

    /// The stack's descriptor for the script's.
    pub(super) fn live_fd(&self, script_fd: i32) -> i32 {
        self.fds.get(&script_fd).copied().unwrap_or(script_fd)
    }

    pub(super) fn int_arg(call: &Syscall, k: usize) -> Result<i64, String> {
        eval_int(
            call.args
                .get(k)
                .ok_or_else(|| format!("missing argument {}", k + 1))?,
        )
    }

    pub(super) fn addr_arg(
        &self,
        call: &Syscall,
        k: usize,
        default: SocketAddr,
    ) -> Result<SocketAddr, String> {
        match call.args.get(k) {
            None | Some(Expr::Ellipsis) => Ok(default),
            Some(Expr::Struct(fields)) => {
                let mut addr = default;
                for (name, v) in fields {
                    match name.as_str() {
                        "sa_family" | "sin_family" | "sin6_family" => {}
                        "sin_port" | "sin6_port" => addr.set_port(eval_int(v)? as u16),
                        "sin_addr" | "sin6_addr" => addr.set_ip(self.ip_arg(v)?),
                        other => return Err(format!("unsupported sockaddr field {other}")),
                    }
                }
                Ok(addr)
            }
            Some(other) => Err(format!("{UNSUPPORTED_CALL} the address argument {other}")),
        }
    }
}

impl Runner {
    /// An address: `inet_addr("a.b.c.d")`, `inet6_addr("...")`, `INADDR_ANY`,
    /// `in6addr_any`. Under `ipv4-mapped-ipv6` a mapped address is the IPv4 one it maps, as
    /// the stack's socket is AF_INET there.
    fn ip_arg(&self, v: &Expr) -> Result<IpAddr, String> {
        let ip = match v {
            Expr::Call(f, a) if f == "inet_addr" || f == "inet6_addr" => match a.first() {
                Some(Expr::Str(s)) => s
                    .parse::<IpAddr>()
                    .map_err(|_| format!("bad address {s:?}"))?,
                _ => return Err(format!("{f} needs a string")),
            },
            Expr::Word(w) if w == "INADDR_ANY" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Expr::Word(w) if w == "in6addr_any" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            other => return Err(format!("unsupported address {other}")),
        };
        Ok(match ip {
            IpAddr::V6(a) if self.cfg.ip_version == IpVersion::V4MappedV6 => {
                match a.to_ipv4_mapped() {
                    Some(v4) => IpAddr::V4(v4),
                    None if a.is_unspecified() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    None => IpAddr::V6(a),
                }
            }
            ip => ip,
        })
    }
}

/// A buffer argument written as a null pointer.
pub(super) fn is_null(e: Option<&Expr>) -> bool {
    matches!(e, Some(Expr::Word(w)) if w == "NULL")
}
