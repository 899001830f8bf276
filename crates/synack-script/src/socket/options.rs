//! Socket options: what `setsockopt` changes on a socket (and on its open connection) and
//! what `getsockopt` reads back, mapped onto synack's knobs.

use std::time::Duration;

use super::consts::*;
use super::{OptValue, Role, SockError, SockResult, Stack, host_errno, unsupported};
use crate::errno::Errno;

/// `(level, name)` of the options this layer knows, by their C names.
pub fn option_by_name(name: &str) -> Option<(i32, i32)> {
    Some(match name {
        "SO_REUSEADDR" => (SOL_SOCKET, SO_REUSEADDR),
        "SO_ERROR" => (SOL_SOCKET, SO_ERROR),
        "SO_SNDBUF" => (SOL_SOCKET, SO_SNDBUF),
        "SO_RCVBUF" => (SOL_SOCKET, SO_RCVBUF),
        "SO_KEEPALIVE" => (SOL_SOCKET, SO_KEEPALIVE),
        "SO_LINGER" => (SOL_SOCKET, SO_LINGER),
        "TCP_NODELAY" => (IPPROTO_TCP, TCP_NODELAY),
        "TCP_MAXSEG" => (IPPROTO_TCP, TCP_MAXSEG),
        "TCP_KEEPIDLE" => (IPPROTO_TCP, TCP_KEEPIDLE),
        "TCP_KEEPINTVL" => (IPPROTO_TCP, TCP_KEEPINTVL),
        "TCP_KEEPCNT" => (IPPROTO_TCP, TCP_KEEPCNT),
        "TCP_USER_TIMEOUT" => (IPPROTO_TCP, TCP_USER_TIMEOUT),
        "TCP_CORK" => (IPPROTO_TCP, TCP_CORK),
        "IP_TOS" => (IPPROTO_IP, IP_TOS),
        "IP_TTL" => (IPPROTO_IP, IP_TTL),
        "IPV6_TCLASS" => (IPPROTO_IPV6, IPV6_TCLASS),
        "IPV6_UNICAST_HOPS" => (IPPROTO_IPV6, IPV6_UNICAST_HOPS),
        "IPV6_V6ONLY" => (IPPROTO_IPV6, IPV6_V6ONLY),
        _ => return None,
    })
}

impl Stack {
    pub fn setsockopt(
        &mut self,
        fd: i32,
        level: i32,
        name: i32,
        value: OptValue,
    ) -> SockResult<()> {
        let int = |v: OptValue| match v {
            OptValue::Int(i) => Ok(i),
            OptValue::Linger { .. } => Err(SockError::Errno(Errno::EINVAL)),
        };
        let s = self.sock(fd)?;
        let role = s.role;
        let opened = matches!(role, Role::Conn(_));
        let mut s = s.clone();
        match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => {
                // synack never refuses a listen for connections in TIME-WAIT, which is what
                // SO_REUSEADDR asks; without it Linux would refuse, and synack cannot.
                if int(value)? == 0 {
                    return unsupported("SO_REUSEADDR 0 (synack always reuses addresses)");
                }
                s.reuseaddr = true;
            }
            (SOL_SOCKET, SO_RCVBUF | SO_SNDBUF) => {
                let v = int(value)?;
                if v <= 0 {
                    return Err(Errno::EINVAL.into());
                }
                if opened {
                    return unsupported("resizing the buffers of an open connection");
                }
                let v = usize::try_from(v).map_err(|_| SockError::Errno(Errno::EINVAL))?;
                // As on Linux, a size the user sets is a size the user wants: it also fixes the
                // maximum, so auto-tuning leaves it alone and the window scale is chosen from
                // it (SOCK_RCVBUF_LOCK / SOCK_SNDBUF_LOCK).
                if name == SO_RCVBUF {
                    s.config.recv_buffer = v;
                    s.config.recv_buffer_max = v;
                } else {
                    s.config.send_buffer = v;
                    s.config.send_buffer_max = v;
                }
            }
            (SOL_SOCKET, SO_KEEPALIVE) => s.keepalive_on = int(value)? != 0,
            (SOL_SOCKET, SO_LINGER) => match value {
                OptValue::Linger { onoff: 0, .. } => s.linger_zero = Some(false),
                OptValue::Linger { linger: 0, .. } => s.linger_zero = Some(true),
                OptValue::Linger { .. } => {
                    return unsupported("SO_LINGER with a timeout (a close that waits)");
                }
                OptValue::Int(_) => return Err(Errno::EINVAL.into()),
            },
            (IPPROTO_TCP, TCP_NODELAY) => s.config.nodelay = int(value)? != 0,
            (IPPROTO_TCP, TCP_CORK) => s.cork = int(value)? != 0,
            (IPPROTO_TCP, TCP_MAXSEG) => {
                let v = int(value)?;
                if opened {
                    return unsupported("TCP_MAXSEG on an open connection");
                }
                // Linux's bounds (TCP_MIN_MSS 88, MAX_TCP_WINDOW); raising the MSS above
                // the interface's is not possible.
                if !(88..=32767).contains(&v) {
                    return Err(Errno::EINVAL.into());
                }
                s.config.mss = s.config.mss.min(v as u16);
            }
            (IPPROTO_TCP, TCP_KEEPIDLE | TCP_KEEPINTVL | TCP_KEEPCNT) => {
                let v = int(value)?;
                if !(1..=32767).contains(&v) {
                    return Err(Errno::EINVAL.into());
                }
                match name {
                    TCP_KEEPIDLE => s.keepalive.idle = Duration::from_secs(v as u64),
                    TCP_KEEPINTVL => s.keepalive.interval = Duration::from_secs(v as u64),
                    _ => s.keepalive.count = v as u32,
                }
            }
            (IPPROTO_TCP, TCP_USER_TIMEOUT) => {
                let v = int(value)?;
                if v < 0 {
                    return Err(Errno::EINVAL.into());
                }
                s.config.user_timeout = (v > 0).then(|| Duration::from_millis(v as u64));
            }
            (IPPROTO_IP, IP_TOS) => s.ip.tos = Some(int(value)? as u8 & !3),
            (IPPROTO_IP, IP_TTL) => s.ip.ttl = hop_limit(int(value)?, false)?,
            (IPPROTO_IPV6, _) if !s.ipv6 => return Err(Errno::ENOPROTOOPT.into()),
            (IPPROTO_IPV6, IPV6_TCLASS) => {
                // RFC 3542 §6.5: -1 is the default class, 0.
                let v = int(value)?;
                if !(-1..=255).contains(&v) {
                    return Err(Errno::EINVAL.into());
                }
                s.ip.tclass = Some(v.max(0) as u8 & !3);
            }
            (IPPROTO_IPV6, IPV6_UNICAST_HOPS) => s.ip.hops = hop_limit(int(value)?, true)?,
            // An AF_INET6 socket of synack's speaks IPv6 only (RFC 3493 §5.3); one that also
            // takes IPv4-mapped peers is a dual-stack socket synack does not have.
            (IPPROTO_IPV6, IPV6_V6ONLY) => {
                if int(value)? == 0 {
                    return unsupported(
                        "IPV6_V6ONLY 0 (a dual-stack socket; synack's sockets are of one family)",
                    );
                }
            }
            (SOL_SOCKET, SO_ERROR) => return Err(Errno::ENOPROTOOPT.into()),
            _ => return unsupported(format!("socket option level {level} name {name}")),
        }
        // Apply to what is already open.
        match role {
            Role::Conn(id) => {
                let (ka, ut, nd) = (
                    s.keepalive_on.then_some(s.keepalive),
                    s.config.user_timeout,
                    s.config.nodelay,
                );
                let mut conn = self
                    .host
                    .conn_mut(id)
                    .map_err(|e| SockError::Errno(host_errno(e)))?;
                conn.set_keepalive(ka);
                conn.set_user_timeout(ut);
                conn.set_nodelay(nd);
            }
            Role::Listener(id) => {
                self.host
                    .set_listener_config(id, Stack::open_config(&s))
                    .map_err(|e| SockError::Errno(host_errno(e)))?;
            }
            _ => {}
        }
        let push = !s.cork || s.config.nodelay;
        self.sockets.insert(fd, s);
        // Removing the cork, or setting TCP_NODELAY, sends what it held.
        if push && matches!((level, name), (IPPROTO_TCP, TCP_CORK | TCP_NODELAY)) {
            self.flush_held(fd)?;
        }
        Ok(())
    }

    pub fn getsockopt(&mut self, fd: i32, level: i32, name: i32) -> SockResult<OptValue> {
        let s = self.sock(fd)?;
        let b = |x: bool| OptValue::Int(i64::from(x));
        let default_ttl = self.host.config().hop_limit;
        Ok(match (level, name) {
            (SOL_SOCKET, SO_ERROR) => {
                OptValue::Int(self.take_error(fd).map_or(0, |e| i64::from(e.code())))
            }
            (SOL_SOCKET, SO_REUSEADDR) => b(s.reuseaddr),
            (SOL_SOCKET, SO_RCVBUF) => OptValue::Int(s.config.recv_buffer as i64),
            (SOL_SOCKET, SO_SNDBUF) => OptValue::Int(s.config.send_buffer as i64),
            (SOL_SOCKET, SO_KEEPALIVE) => b(s.keepalive_on),
            (SOL_SOCKET, SO_LINGER) => match s.linger_zero {
                Some(true) => OptValue::Linger {
                    onoff: 1,
                    linger: 0,
                },
                _ => OptValue::Linger {
                    onoff: 0,
                    linger: 0,
                },
            },
            (IPPROTO_TCP, TCP_NODELAY) => b(s.config.nodelay),
            (IPPROTO_TCP, TCP_CORK) => b(s.cork),
            (IPPROTO_TCP, TCP_MAXSEG) => {
                let mss = match s.role {
                    Role::Conn(id) => self
                        .host
                        .info(id)
                        .ok()
                        .filter(|i| i.snd_mss > 0)
                        .map_or(u32::from(s.config.mss_for(s.ipv6)), |i| i.snd_mss),
                    _ => u32::from(s.config.mss_for(s.ipv6)),
                };
                OptValue::Int(i64::from(mss))
            }
            (IPPROTO_TCP, TCP_KEEPIDLE) => OptValue::Int(s.keepalive.idle.as_secs() as i64),
            (IPPROTO_TCP, TCP_KEEPINTVL) => OptValue::Int(s.keepalive.interval.as_secs() as i64),
            (IPPROTO_TCP, TCP_KEEPCNT) => OptValue::Int(i64::from(s.keepalive.count)),
            (IPPROTO_TCP, TCP_USER_TIMEOUT) => {
                OptValue::Int(s.config.user_timeout.map_or(0, |d| d.as_millis() as i64))
            }
            (IPPROTO_IP, IP_TOS) => OptValue::Int(i64::from(s.ip.tos.unwrap_or(0))),
            (IPPROTO_IP, IP_TTL) => OptValue::Int(i64::from(s.ip.ttl.unwrap_or(default_ttl))),
            (IPPROTO_IPV6, _) if !s.ipv6 => return Err(Errno::ENOPROTOOPT.into()),
            (IPPROTO_IPV6, IPV6_TCLASS) => OptValue::Int(i64::from(s.ip.tclass.unwrap_or(0))),
            (IPPROTO_IPV6, IPV6_UNICAST_HOPS) => {
                OptValue::Int(i64::from(s.ip.hops.unwrap_or(default_ttl)))
            }
            (IPPROTO_IPV6, IPV6_V6ONLY) => OptValue::Int(1),
            _ => return unsupported(format!("socket option level {level} name {name}")),
        })
    }
}

/// An `IP_TTL` or `IPV6_UNICAST_HOPS` value: 1..=255, or -1 for the host's default (Linux
/// also takes 0 for the IPv6 one).
fn hop_limit(v: i64, v6: bool) -> SockResult<Option<u8>> {
    match v {
        -1 => Ok(None),
        0 if v6 => Ok(Some(0)),
        1..=255 => Ok(Some(v as u8)),
        _ => Err(Errno::EINVAL.into()),
    }
}
