//! A call's arguments: the script's file descriptors, integers, socket addresses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::ast::*;
use crate::symbols::eval_int;

use super::Runner;
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
                        "sa_family" | "sin_family" => {}
                        "sin_port" => addr.set_port(eval_int(v)? as u16),
                        "sin_addr" => {
                            let ip = match v {
                                Expr::Call(f, a) if f == "inet_addr" => match a.first() {
                                    Some(Expr::Str(s)) => s
                                        .parse::<Ipv4Addr>()
                                        .map_err(|_| format!("bad address {s:?}"))?,
                                    _ => return Err("inet_addr needs a string".into()),
                                },
                                Expr::Word(w) if w == "INADDR_ANY" => Ipv4Addr::UNSPECIFIED,
                                other => return Err(format!("unsupported address {other}")),
                            };
                            addr.set_ip(IpAddr::V4(ip));
                        }
                        other => return Err(format!("unsupported sockaddr field {other}")),
                    }
                }
                Ok(addr)
            }
            Some(other) => Err(format!("{UNSUPPORTED_CALL} the address argument {other}")),
        }
    }
}

/// A buffer argument written as a null pointer.
pub(super) fn is_null(e: Option<&Expr>) -> bool {
    matches!(e, Some(Expr::Word(w)) if w == "NULL")
}
