//! `setsockopt`/`getsockopt`: Linux's levels, names and integer values turned into the socket
//! table's typed options (with Linux's bounds and errno values), and read back; FreeBSD's
//! `TCP_NOOPT` and `TCP_KEEPINIT` too, with FreeBSD's meaning (see `consts::FREEBSD_ONLY`).

use std::time::Duration;

use synack_socket::SockOpt;

use super::consts::*;
use super::{OptText, OptValue, SockError, SockResult, Stack, errno_of, id_of, unsupported};
use crate::errno::Errno;
use synack_proto::CongestionControl;

/// `(level, name)` of the options this layer knows, by their C names.
pub fn option_by_name(name: &str) -> Option<(i32, i32)> {
    Some(match name {
        "SO_REUSEADDR" => (SOL_SOCKET, SO_REUSEADDR),
        "SO_ERROR" => (SOL_SOCKET, SO_ERROR),
        "SO_SNDBUF" => (SOL_SOCKET, SO_SNDBUF),
        "SO_RCVBUF" => (SOL_SOCKET, SO_RCVBUF),
        "SO_KEEPALIVE" => (SOL_SOCKET, SO_KEEPALIVE),
        "SO_LINGER" => (SOL_SOCKET, SO_LINGER),
        "SO_OOBINLINE" => (SOL_SOCKET, SO_OOBINLINE),
        "TCP_NODELAY" => (IPPROTO_TCP, TCP_NODELAY),
        "TCP_MAXSEG" => (IPPROTO_TCP, TCP_MAXSEG),
        "TCP_KEEPIDLE" => (IPPROTO_TCP, TCP_KEEPIDLE),
        "TCP_KEEPINTVL" => (IPPROTO_TCP, TCP_KEEPINTVL),
        "TCP_KEEPCNT" => (IPPROTO_TCP, TCP_KEEPCNT),
        "TCP_USER_TIMEOUT" => (IPPROTO_TCP, TCP_USER_TIMEOUT),
        "TCP_NOTSENT_LOWAT" => (IPPROTO_TCP, TCP_NOTSENT_LOWAT),
        "TCP_CORK" => (IPPROTO_TCP, TCP_CORK),
        "TCP_CONGESTION" => (IPPROTO_TCP, TCP_CONGESTION),
        "TCP_NOOPT" => (IPPROTO_TCP, TCP_NOOPT),
        "TCP_KEEPINIT" => (IPPROTO_TCP, TCP_KEEPINIT),
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
            _ => Err(SockError::Errno(Errno::EINVAL)),
        };
        let id = id_of(fd)?;
        let ipv6 = self.table.is_ipv6(id)?;
        let secs = |v: i64| Duration::from_secs(v as u64);
        let opt = match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => SockOpt::ReuseAddr(int(value)? != 0),
            (SOL_SOCKET, SO_RCVBUF | SO_SNDBUF) => {
                let v = int(value)?;
                if v <= 0 {
                    return Err(Errno::EINVAL.into());
                }
                let v = usize::try_from(v).map_err(|_| SockError::Errno(Errno::EINVAL))?;
                if name == SO_RCVBUF {
                    SockOpt::RecvBuffer(v)
                } else {
                    SockOpt::SendBuffer(v)
                }
            }
            (SOL_SOCKET, SO_KEEPALIVE) => SockOpt::KeepAlive(int(value)? != 0),
            (SOL_SOCKET, SO_OOBINLINE) => SockOpt::OobInline(int(value)? != 0),
            (SOL_SOCKET, SO_LINGER) => match value {
                OptValue::Linger { onoff: 0, .. } => SockOpt::Linger(None),
                OptValue::Linger { linger: 0, .. } => SockOpt::Linger(Some(Duration::ZERO)),
                OptValue::Linger { .. } => {
                    return unsupported("SO_LINGER with a timeout (a close that waits)");
                }
                _ => return Err(Errno::EINVAL.into()),
            },
            (IPPROTO_TCP, TCP_NODELAY) => SockOpt::NoDelay(int(value)? != 0),
            (IPPROTO_TCP, TCP_CORK) => SockOpt::Cork(int(value)? != 0),
            (IPPROTO_TCP, TCP_CONGESTION) => {
                let OptValue::Text(name) = value else {
                    return Err(Errno::EINVAL.into());
                };
                // Linux answers a controller it does not have with ENOENT.
                let cc = CongestionControl::from_name(name.as_str())
                    .ok_or(SockError::Errno(Errno::ENOENT))?;
                SockOpt::Congestion(cc)
            }
            (IPPROTO_TCP, TCP_MAXSEG) => {
                let v = int(value)?;
                if self.table.conn_of(id).is_some() {
                    return unsupported("TCP_MAXSEG on an open connection");
                }
                // Linux's bounds (TCP_MIN_MSS 88, MAX_TCP_WINDOW).
                if !(88..=32767).contains(&v) {
                    return Err(Errno::EINVAL.into());
                }
                SockOpt::MaxSegment(v as u16)
            }
            (IPPROTO_TCP, TCP_KEEPIDLE | TCP_KEEPINTVL | TCP_KEEPCNT) => {
                let v = int(value)?;
                if !(1..=32767).contains(&v) {
                    return Err(Errno::EINVAL.into());
                }
                match name {
                    TCP_KEEPIDLE => SockOpt::KeepIdle(secs(v)),
                    TCP_KEEPINTVL => SockOpt::KeepInterval(secs(v)),
                    _ => SockOpt::KeepCount(v as u32),
                }
            }
            (IPPROTO_TCP, TCP_NOOPT) => SockOpt::NoOptions(int(value)? != 0),
            (IPPROTO_TCP, TCP_KEEPINIT) => {
                // FreeBSD: seconds, an unsigned int; 0 puts back the default.
                let v = int(value)?;
                if !(0..=i64::from(i32::MAX)).contains(&v) {
                    return Err(Errno::EINVAL.into());
                }
                SockOpt::ConnectTimeout((v > 0).then(|| secs(v)))
            }
            (IPPROTO_TCP, TCP_USER_TIMEOUT) => {
                let v = int(value)?;
                if v < 0 {
                    return Err(Errno::EINVAL.into());
                }
                SockOpt::UserTimeout((v > 0).then(|| Duration::from_millis(v as u64)))
            }
            (IPPROTO_TCP, TCP_NOTSENT_LOWAT) => {
                // An unsigned int; its largest value, Linux's default, is no bound.
                let v = int(value)? as u32;
                SockOpt::NotsentLowat((v != u32::MAX).then_some(v as usize))
            }
            (IPPROTO_IP, IP_TOS) => SockOpt::Tos(int(value)? as u8),
            (IPPROTO_IP, IP_TTL) => SockOpt::Ttl(hop_limit(int(value)?, false)?),
            (IPPROTO_IPV6, _) if !ipv6 => return Err(Errno::ENOPROTOOPT.into()),
            (IPPROTO_IPV6, IPV6_TCLASS) => {
                // RFC 3542 §6.5: -1 is the default class, 0.
                let v = int(value)?;
                if !(-1..=255).contains(&v) {
                    return Err(Errno::EINVAL.into());
                }
                SockOpt::TrafficClass(v.max(0) as u8)
            }
            (IPPROTO_IPV6, IPV6_UNICAST_HOPS) => {
                SockOpt::UnicastHops(hop_limit(int(value)?, true)?)
            }
            (IPPROTO_IPV6, IPV6_V6ONLY) => SockOpt::V6Only(int(value)? != 0),
            (SOL_SOCKET, SO_ERROR) => return Err(Errno::ENOPROTOOPT.into()),
            _ => return unsupported(format!("socket option level {level} name {name}")),
        };
        Ok(self.table.set_option(id, opt)?)
    }

    pub fn getsockopt(&mut self, fd: i32, level: i32, name: i32) -> SockResult<OptValue> {
        let id = id_of(fd)?;
        if (level, name) == (SOL_SOCKET, SO_ERROR) {
            let e = self.table.take_error(id)?;
            return Ok(OptValue::Int(
                e.map_or(0, |e| i64::from(errno_of(e).code())),
            ));
        }
        let ipv6 = self.table.is_ipv6(id)?;
        let mss = self.table.max_segment(id)?;
        let s = self.table.options(id)?;
        let b = |x: bool| OptValue::Int(i64::from(x));
        let default_ttl = self.table.host().config().hop_limit;
        Ok(match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => b(s.reuseaddr),
            (SOL_SOCKET, SO_RCVBUF) => OptValue::Int(s.config.recv_buffer as i64),
            (SOL_SOCKET, SO_SNDBUF) => OptValue::Int(s.config.send_buffer as i64),
            (SOL_SOCKET, SO_KEEPALIVE) => b(s.keepalive_on),
            (SOL_SOCKET, SO_OOBINLINE) => b(s.config.urgent_inline),
            (SOL_SOCKET, SO_LINGER) => match s.linger {
                Some(d) => OptValue::Linger {
                    onoff: 1,
                    linger: i32::try_from(d.as_secs()).unwrap_or(i32::MAX),
                },
                None => OptValue::Linger {
                    onoff: 0,
                    linger: 0,
                },
            },
            (IPPROTO_TCP, TCP_NODELAY) => b(s.config.nodelay),
            (IPPROTO_TCP, TCP_CORK) => b(s.cork),
            (IPPROTO_TCP, TCP_CONGESTION) => {
                // Every controller's name fits the 16 bytes Linux allows.
                let name = s.config.congestion.controller.name().as_bytes();
                OptText::new(name).map_or(OptValue::Int(0), OptValue::Text)
            }
            (IPPROTO_TCP, TCP_MAXSEG) => OptValue::Int(i64::from(mss)),
            (IPPROTO_TCP, TCP_KEEPIDLE) => OptValue::Int(s.keepalive.idle.as_secs() as i64),
            (IPPROTO_TCP, TCP_KEEPINTVL) => OptValue::Int(s.keepalive.interval.as_secs() as i64),
            (IPPROTO_TCP, TCP_KEEPCNT) => OptValue::Int(i64::from(s.keepalive.count)),
            (IPPROTO_TCP, TCP_NOOPT) => b(!s.config.syn_options),
            (IPPROTO_TCP, TCP_KEEPINIT) => {
                OptValue::Int(s.config.connect_timeout.map_or(0, |d| d.as_secs() as i64))
            }
            (IPPROTO_TCP, TCP_USER_TIMEOUT) => {
                OptValue::Int(s.config.user_timeout.map_or(0, |d| d.as_millis() as i64))
            }
            (IPPROTO_TCP, TCP_NOTSENT_LOWAT) => OptValue::Int(
                s.config
                    .notsent_lowat
                    .map_or(i64::from(u32::MAX), |l| l.min(u32::MAX as usize) as i64),
            ),
            (IPPROTO_IP, IP_TOS) => OptValue::Int(i64::from(s.ip.tos.unwrap_or(0))),
            (IPPROTO_IP, IP_TTL) => OptValue::Int(i64::from(s.ip.ttl.unwrap_or(default_ttl))),
            (IPPROTO_IPV6, _) if !ipv6 => return Err(Errno::ENOPROTOOPT.into()),
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
