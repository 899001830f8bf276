//! Socket options: what a socket holds before it opens (and hands to its connection when it
//! does), and what setting one changes on a connection already open.

use core::time::Duration;

use synack_proto::{Config, CongestionControl, Keepalive};

use crate::IpHeaderOptions;
use crate::error::unsupported;
use crate::{Role, SocketError, SocketId, SocketResult, SocketTable};

/// A socket's settings, as `getsockopt` reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    /// The connection settings it opens with (buffers, MSS, Nagle, user timeout, ...).
    pub config: Config,
    /// `SO_KEEPALIVE`, and the timings probing uses when it is on.
    pub keepalive_on: bool,
    pub keepalive: Keepalive,
    pub reuseaddr: bool,
    /// `SO_LINGER`: `Some(ZERO)` resets on close; `Some(d)` lets a blocking close wait up to
    /// `d` for the data and FIN to be acknowledged; `None` closes gracefully without waiting.
    pub linger: Option<Duration>,
    /// `TCP_CORK`.
    pub cork: bool,
    /// `IP_TOS`/`IPV6_TCLASS` and `IP_TTL`/`IPV6_UNICAST_HOPS`.
    pub ip: IpHeaderOptions,
}

/// One socket option with its value, typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SockOpt {
    /// `SO_REUSEADDR`.
    ReuseAddr(bool),
    /// `SO_RCVBUF`, in bytes.
    RecvBuffer(usize),
    /// `SO_SNDBUF`, in bytes.
    SendBuffer(usize),
    /// `SO_KEEPALIVE`.
    KeepAlive(bool),
    /// `SO_LINGER` (see [`SocketOptions::linger`]).
    Linger(Option<Duration>),
    /// `TCP_NODELAY`.
    NoDelay(bool),
    /// `TCP_CORK`.
    Cork(bool),
    /// `TCP_MAXSEG`: an upper bound on the MSS, before the connection opens.
    MaxSegment(u16),
    /// `TCP_KEEPIDLE`.
    KeepIdle(Duration),
    /// `TCP_KEEPINTVL`.
    KeepInterval(Duration),
    /// `TCP_KEEPCNT`.
    KeepCount(u32),
    /// `TCP_USER_TIMEOUT` (RFC 5482); `None` for the retransmission limit alone.
    UserTimeout(Option<Duration>),
    /// `TCP_NOTSENT_LOWAT`: the most bytes written but not yet sent; `None` for no bound but
    /// the send buffer's.
    NotsentLowat(Option<usize>),
    /// `IP_TOS`: the DSCP bits (the ECN bits are the transport's).
    Tos(u8),
    /// `IP_TTL`; `None` for the host's default.
    Ttl(Option<u8>),
    /// `IPV6_TCLASS`.
    TrafficClass(u8),
    /// `IPV6_UNICAST_HOPS`; `None` for the host's default.
    UnicastHops(Option<u8>),
    /// `IPV6_V6ONLY`.
    V6Only(bool),
    /// `TCP_CONGESTION`: the controller, before or after the connection opens.
    Congestion(CongestionControl),
    /// FreeBSD's `TCP_NOOPT`: the SYN or SYN-ACK carries no options (see
    /// `Config::syn_options`); it matters for a connection not yet opened.
    NoOptions(bool),
    /// FreeBSD's `TCP_KEEPINIT`: the most a handshake may take (see
    /// `Config::connect_timeout`); `None` for the retry limits alone.
    ConnectTimeout(Option<Duration>),
    /// `SO_OOBINLINE`: the last urgent byte is read in the stream rather than held apart for
    /// `recv(MSG_OOB)`.
    OobInline(bool),
}

impl SockOpt {
    fn is_ipv6_only(&self) -> bool {
        matches!(
            self,
            SockOpt::TrafficClass(_) | SockOpt::UnicastHops(_) | SockOpt::V6Only(_)
        )
    }
}

impl SocketTable {
    /// The socket's settings.
    pub fn options(&self, id: SocketId) -> SocketResult<&SocketOptions> {
        Ok(&self.sock(id)?.opts)
    }

    /// The MSS the socket sends with: the connection's once it has one, else the bound
    /// `TCP_MAXSEG` gives.
    pub fn max_segment(&self, id: SocketId) -> SocketResult<u32> {
        let s = self.sock(id)?;
        let configured = u32::from(s.opts.config.mss_for(s.ipv6));
        Ok(match s.role {
            Role::Conn(conn) => self
                .host
                .info(conn)
                .ok()
                .filter(|i| i.snd_mss > 0)
                .map_or(configured, |i| i.snd_mss),
            _ => configured,
        })
    }

    /// Sets one option; on an open connection it takes effect at once where TCP allows.
    pub fn set_option(&mut self, id: SocketId, opt: SockOpt) -> SocketResult<()> {
        let s = self.sock(id)?;
        let role = s.role;
        let opened = matches!(role, Role::Conn(_));
        if opt.is_ipv6_only() && !s.ipv6 {
            return Err(SocketError::NoSuchOption);
        }
        let mut o = s.opts.clone();
        match opt {
            SockOpt::ReuseAddr(on) => {
                // synack never refuses a listen for connections in TIME-WAIT, which is what
                // SO_REUSEADDR asks; without it Linux would refuse, and synack cannot.
                if !on {
                    return unsupported("SO_REUSEADDR 0 (synack always reuses addresses)");
                }
                o.reuseaddr = true;
            }
            SockOpt::RecvBuffer(v) | SockOpt::SendBuffer(v) => {
                // A size the system call's int cannot say is a caller's mistake, not a wish
                // for all of memory.
                if v == 0 || v > i32::MAX as usize {
                    return Err(SocketError::InvalidInput);
                }
                // As on Linux, a size the user sets is a size the user wants: it also fixes the
                // maximum, so auto-tuning leaves it alone and, set before the SYN, the window
                // scale is chosen from it (SOCK_RCVBUF_LOCK / SOCK_SNDBUF_LOCK). On an open
                // connection the buffer is resized in place; the scale stays.
                if matches!(opt, SockOpt::RecvBuffer(_)) {
                    o.config.recv_buffer = v;
                    o.config.recv_buffer_max = v;
                } else {
                    o.config.send_buffer = v;
                    o.config.send_buffer_max = v;
                }
            }
            SockOpt::KeepAlive(on) => o.keepalive_on = on,
            SockOpt::Congestion(c) => o.config.congestion.controller = c,
            SockOpt::NoOptions(on) => o.config.syn_options = !on,
            SockOpt::ConnectTimeout(t) => o.config.connect_timeout = t,
            SockOpt::Linger(l) => o.linger = l,
            SockOpt::NoDelay(on) => o.config.nodelay = on,
            SockOpt::OobInline(on) => o.config.urgent_inline = on,
            SockOpt::Cork(on) => o.cork = on,
            SockOpt::MaxSegment(mss) => {
                if opened {
                    return unsupported("TCP_MAXSEG on an open connection");
                }
                // A cap: the MSS never rises above what the link MTU leaves (`mss_for`).
                o.config.mss = o.config.mss.min(mss);
            }
            SockOpt::KeepIdle(d) => o.keepalive.idle = d,
            SockOpt::KeepInterval(d) => o.keepalive.interval = d,
            SockOpt::KeepCount(n) => o.keepalive.count = n,
            SockOpt::UserTimeout(t) => o.config.user_timeout = t,
            SockOpt::NotsentLowat(l) => o.config.notsent_lowat = l,
            SockOpt::Tos(tos) => o.ip.tos = Some(tos & !3),
            SockOpt::Ttl(ttl) => o.ip.ttl = ttl,
            SockOpt::TrafficClass(c) => o.ip.tclass = Some(c & !3),
            SockOpt::UnicastHops(h) => o.ip.hops = h,
            // An IPv6 socket of synack's speaks IPv6 only (RFC 3493 §5.3); one that also takes
            // IPv4-mapped peers is a dual-stack socket synack does not have.
            SockOpt::V6Only(on) => {
                if !on {
                    return unsupported(
                        "IPV6_V6ONLY 0 (a dual-stack socket; synack's sockets are of one family)",
                    );
                }
            }
        }
        // The connection carries the IP header fields itself, so that what it sends after
        // the socket is closed (its FIN's retransmissions, the last ACK) is marked too.
        o.config.ip = o.ip;
        // Apply to what is already open.
        match role {
            Role::Conn(conn) => {
                let mut c = self.host.conn_mut(conn)?;
                c.set_keepalive(o.keepalive_on.then_some(o.keepalive));
                c.set_user_timeout(o.config.user_timeout);
                c.set_nodelay(o.config.nodelay);
                c.set_connect_timeout(o.config.connect_timeout);
                match opt {
                    SockOpt::RecvBuffer(v) => c.set_recv_buffer(v),
                    SockOpt::SendBuffer(v) => c.set_send_buffer(v),
                    SockOpt::Congestion(cc) => c.set_congestion(cc),
                    SockOpt::NotsentLowat(l) => c.set_notsent_lowat(l),
                    SockOpt::OobInline(on) => c.set_urgent_inline(on),
                    SockOpt::Tos(_)
                    | SockOpt::Ttl(_)
                    | SockOpt::TrafficClass(_)
                    | SockOpt::UnicastHops(_) => c.set_ip_header(o.ip),
                    _ => {}
                }
            }
            Role::Listener(lid) => {
                let mut config = o.config.clone();
                config.keepalive = o.keepalive_on.then_some(o.keepalive);
                self.host.set_listener_config(lid, config)?;
            }
            Role::Fresh => {}
        }
        let push =
            (!o.cork || o.config.nodelay) && matches!(opt, SockOpt::Cork(_) | SockOpt::NoDelay(_));
        self.sock_mut(id)?.opts = o;
        // Removing the cork, or setting TCP_NODELAY, sends what it held.
        if push {
            self.flush_held(id)?;
        }
        self.pump();
        Ok(())
    }
}
