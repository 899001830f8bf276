//! BSD sockets emulated over a [`Host`]: a file-descriptor table and the socket calls with
//! Linux's results and errno values, on the caller's (virtual) time.
//!
//! The layer never waits. A call that would block returns `EAGAIN` (or `EINPROGRESS` for
//! `connect`); whoever drives time decides what blocking means: the script runner keeps the
//! call pending and retries it as virtual time moves, a C shim could loop on its clock hook.
//! [`Stack::is_nonblocking`] tells which behaviour the socket asked for.
//!
//! Socket options map onto synack's knobs ([`synack_proto::Config`]). An option synack has
//! no knob for answers [`SockError::Unsupported`], so a caller never believes it took effect.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use synack_proto::host::{ConnId, Host, HostConfig, HostError, HostEvent, ListenerId};
use synack_proto::{CallError, Config, ConnError, Info, Instant, Keepalive, StateName};

use crate::errno::Errno;

/// Linux's numbers for the constants the calls take, so a C-ABI shim passes them through.
pub mod consts;
mod cork;
mod ip_header;
mod options;

use consts::*;
pub use options::option_by_name;

/// Why a socket call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockError {
    /// What Linux would return as `-1` with this errno.
    Errno(Errno),
    /// The call or option is meaningful on Linux but synack has no knob for it; the text says
    /// which. Nothing was changed.
    Unsupported(String),
}

impl From<Errno> for SockError {
    fn from(e: Errno) -> SockError {
        SockError::Errno(e)
    }
}

impl fmt::Display for SockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockError::Errno(e) => write!(f, "{e}"),
            SockError::Unsupported(what) => write!(f, "unsupported by synack: {what}"),
        }
    }
}

pub type SockResult<T> = Result<T, SockError>;

fn unsupported<T>(what: impl Into<String>) -> SockResult<T> {
    Err(SockError::Unsupported(what.into()))
}

/// A socket option's value: an integer for most, `struct linger` for `SO_LINGER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptValue {
    Int(i64),
    Linger { onoff: i32, linger: i32 },
}

/// Maps why a connection ended to the errno a Linux socket reports for it.
pub fn errno_of(e: ConnError) -> Errno {
    match e {
        ConnError::ConnectionRefused => Errno::ECONNREFUSED,
        ConnError::ConnectionReset => Errno::ECONNRESET,
        ConnError::TimedOut => Errno::ETIMEDOUT,
        ConnError::ConnectionAborted => Errno::ECONNABORTED,
        _ => Errno::EIO,
    }
}

/// Maps a refused call to the errno a Linux socket reports for it.
pub fn call_errno(e: CallError) -> Errno {
    match e {
        CallError::NotConnected => Errno::ENOTCONN,
        CallError::Closing => Errno::EPIPE,
        CallError::WouldBlock => Errno::EAGAIN,
        CallError::Ended(e) => errno_of(e),
        _ => Errno::EIO,
    }
}

fn host_errno(e: HostError) -> Errno {
    match e {
        HostError::InvalidHandle | HostError::InvalidListener => Errno::EBADF,
        HostError::AddrInUse => Errno::EADDRINUSE,
        HostError::AddrNotAvailable => Errno::EADDRNOTAVAIL,
        HostError::AddressFamilyMismatch => Errno::EAFNOSUPPORT,
        HostError::InvalidAddress => Errno::EINVAL,
        HostError::ConnectionLimit => Errno::EAGAIN,
        HostError::Call(e) => call_errno(e),
        _ => Errno::EIO,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// From `socket()` until `listen` or `connect`.
    Fresh,
    Listener(ListenerId),
    Conn(ConnId),
}

#[derive(Clone, Debug)]
struct Socket {
    role: Role,
    ipv6: bool,
    bound: Option<SocketAddr>,
    nonblocking: bool,
    /// This socket's settings; copied into the host when it opens (connect, listen).
    config: Config,
    keepalive_on: bool,
    keepalive: Keepalive,
    reuseaddr: bool,
    /// `SO_LINGER` with a zero timeout: `close` resets instead of a FIN.
    linger_zero: Option<bool>,
    /// An error not yet reported to the user (`sk_err` on Linux): the next read, write,
    /// connect or `SO_ERROR` takes it.
    error: Option<Errno>,
    /// The connection died with an error that was already reported: reads see end of stream,
    /// writes `EPIPE`.
    dead: bool,
    shut_rd: bool,
    shut_wr: bool,
    /// `IP_TOS`/`IPV6_TCLASS` and `IP_TTL`/`IPV6_UNICAST_HOPS`.
    ip: ip_header::IpHeaderOptions,
    /// `TCP_CORK`.
    cork: bool,
    /// Bytes written while corked (or with `MSG_MORE`) that do not fill a segment yet.
    held: Vec<u8>,
}

/// The socket table over one host. Every call takes the time it happens at when time
/// matters to it.
pub struct Stack {
    host: Host,
    sockets: BTreeMap<i32, Socket>,
    /// Defaults of sockets made from now on (sysctls change them).
    defaults: Config,
    keepalive_defaults: Keepalive,
}

/// First descriptor handed out; 0-2 stand for stdio as in a process.
const FIRST_FD: i32 = 3;

impl Stack {
    pub fn new(config: HostConfig) -> Stack {
        let defaults = config.tcp.clone();
        Stack {
            host: Host::new(config),
            sockets: BTreeMap::new(),
            defaults,
            keepalive_defaults: Keepalive::default(),
        }
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The host, for what sockets do not cover (counters, listener queues).
    pub fn host_mut(&mut self) -> &mut Host {
        &mut self.host
    }

    /// Settings new sockets start with (what sysctls change).
    pub fn defaults_mut(&mut self) -> &mut Config {
        &mut self.defaults
    }

    /// Keepalive timings new sockets start with (`tcp_keepalive_time` and friends).
    pub fn keepalive_defaults_mut(&mut self) -> &mut Keepalive {
        &mut self.keepalive_defaults
    }

    /// Whether no socket exists: host-wide settings can still be replaced.
    pub fn is_idle(&self) -> bool {
        self.sockets.is_empty() && self.host.connection_count() == 0
    }

    /// Replaces the host (a host-wide setting such as SYN cookies changed before any socket
    /// existed).
    pub fn rebuild(&mut self, config: HostConfig) -> SockResult<()> {
        if !self.is_idle() {
            return unsupported("changing host-wide settings while sockets exist");
        }
        self.defaults = config.tcp.clone();
        self.host = Host::new(config);
        Ok(())
    }

    // ------------------------------------------------------------------ packets and time

    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.host.handle_packet(now, packet);
        self.pump();
    }

    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let n = self.host.poll_transmit(now, buf).map(|t| t.len);
        if let Some(n) = n {
            self.mark_ip_header(&mut buf[..n]);
        }
        self.pump();
        n
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.host.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.host.handle_timeout(now);
        self.pump();
    }

    /// Turns host events into socket state: a connection that died leaves its error for the
    /// socket's next call.
    fn pump(&mut self) {
        while let Some(ev) = self.host.poll_event() {
            if let HostEvent::Closed(id, Some(e)) = ev {
                if let Some(s) = self.sockets.values_mut().find(|s| s.role == Role::Conn(id)) {
                    if !s.dead && s.error.is_none() {
                        s.error = Some(errno_of(e));
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ the calls

    fn sock(&self, fd: i32) -> SockResult<&Socket> {
        self.sockets.get(&fd).ok_or(SockError::Errno(Errno::EBADF))
    }

    fn sock_mut(&mut self, fd: i32) -> SockResult<&mut Socket> {
        self.sockets
            .get_mut(&fd)
            .ok_or(SockError::Errno(Errno::EBADF))
    }

    fn new_fd(&self) -> i32 {
        let mut fd = FIRST_FD;
        while self.sockets.contains_key(&fd) {
            fd += 1;
        }
        fd
    }

    pub fn socket(&mut self, domain: i32, ty: i32, protocol: i32) -> SockResult<i32> {
        let ipv6 = match domain {
            AF_INET => false,
            AF_INET6 => true,
            _ => return Err(Errno::EAFNOSUPPORT.into()),
        };
        if ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != SOCK_STREAM {
            return unsupported("socket types other than SOCK_STREAM");
        }
        if protocol != 0 && protocol != IPPROTO_TCP {
            return Err(Errno::EPROTONOSUPPORT.into());
        }
        let fd = self.new_fd();
        self.sockets.insert(
            fd,
            Socket {
                role: Role::Fresh,
                ipv6,
                bound: None,
                nonblocking: ty & SOCK_NONBLOCK != 0,
                config: self.defaults.clone(),
                keepalive_on: false,
                keepalive: self.keepalive_defaults,
                reuseaddr: false,
                linger_zero: None,
                error: None,
                dead: false,
                shut_rd: false,
                shut_wr: false,
                ip: Default::default(),
                cork: false,
                held: Vec::new(),
            },
        );
        Ok(fd)
    }

    pub fn is_nonblocking(&self, fd: i32) -> SockResult<bool> {
        Ok(self.sock(fd)?.nonblocking)
    }

    pub fn bind(&mut self, fd: i32, addr: SocketAddr) -> SockResult<()> {
        let s = self.sock(fd)?;
        if s.role != Role::Fresh || s.bound.is_some() {
            return Err(Errno::EINVAL.into());
        }
        if addr.is_ipv6() != s.ipv6 {
            return Err(Errno::EAFNOSUPPORT.into());
        }
        let locals = &self.host.config().local_addrs;
        if !addr.ip().is_unspecified() && !locals.is_empty() && !locals.contains(&addr.ip()) {
            return Err(Errno::EADDRNOTAVAIL.into());
        }
        if addr.port() == 0 {
            return unsupported("bind to port 0 (an ephemeral port before connect or listen)");
        }
        let clash = self.sockets.iter().any(|(&other, o)| {
            other != fd
                && o.bound.is_some_and(|b| {
                    b.port() == addr.port()
                        && (b.ip() == addr.ip()
                            || b.ip().is_unspecified()
                            || addr.ip().is_unspecified())
                })
                && !matches!(o.role, Role::Conn(_))
        });
        if clash {
            return Err(Errno::EADDRINUSE.into());
        }
        self.sock_mut(fd)?.bound = Some(addr);
        Ok(())
    }

    /// The connection settings a socket opens with: its own config plus keepalive.
    fn open_config(s: &Socket) -> Config {
        let mut c = s.config.clone();
        c.keepalive = s.keepalive_on.then_some(s.keepalive);
        c
    }

    pub fn listen(&mut self, fd: i32, backlog: i32) -> SockResult<()> {
        let s = self.sock(fd)?;
        match s.role {
            Role::Fresh => {}
            Role::Listener(_) => {
                return unsupported("changing the backlog of a listening socket");
            }
            Role::Conn(_) => return Err(Errno::EINVAL.into()),
        }
        let Some(addr) = s.bound else {
            return unsupported("listen without bind (an ephemeral listening port)");
        };
        let config = Stack::open_config(s);
        let backlog = usize::try_from(backlog.max(0)).unwrap_or(0);
        // The host bounds both queues by the backlog (Linux lets one more in; RFC 9293 leaves
        // it to the implementation).
        let id = self
            .host
            .listen_with(addr, backlog, config)
            .map_err(|e| SockError::Errno(host_errno(e)))?;
        self.sock_mut(fd)?.role = Role::Listener(id);
        Ok(())
    }

    pub fn accept(&mut self, fd: i32) -> SockResult<(i32, SocketAddr)> {
        let s = self.sock(fd)?;
        let Role::Listener(lid) = s.role else {
            return Err(Errno::EINVAL.into());
        };
        let mut child = s.clone();
        let Some(id) = self.host.accept(lid) else {
            return Err(Errno::EAGAIN.into());
        };
        let remote = self
            .host
            .peer_addr(id)
            .map_err(|e| SockError::Errno(host_errno(e)))?;
        // Linux's accepted socket inherits options but not O_NONBLOCK.
        child.role = Role::Conn(id);
        child.nonblocking = false;
        child.error = None;
        let nfd = self.new_fd();
        self.sockets.insert(nfd, child);
        self.pump();
        Ok((nfd, remote))
    }

    /// Starts an active open. Returns `EINPROGRESS` when the SYN is on its way, blocking
    /// socket or not: a blocking caller then waits on [`Stack::connect_result`].
    pub fn connect(&mut self, now: Instant, fd: i32, remote: SocketAddr) -> SockResult<()> {
        let s = self.sock(fd)?;
        match s.role {
            Role::Listener(_) => return Err(Errno::EINVAL.into()),
            Role::Conn(_) => {
                return match self.connect_result(fd)? {
                    None => Err(Errno::EALREADY.into()),
                    Some(Ok(())) => Err(Errno::EISCONN.into()),
                    Some(Err(e)) => Err(e.into()),
                };
            }
            Role::Fresh => {}
        }
        if remote.is_ipv6() != s.ipv6 {
            return Err(Errno::EAFNOSUPPORT.into());
        }
        let local = match s.bound {
            Some(b) if !b.ip().is_unspecified() => b,
            other => {
                let port = other.map_or(0, |b| b.port());
                let ip = self
                    .host
                    .config()
                    .local_addrs
                    .iter()
                    .copied()
                    .find(|a| a.is_ipv6() == remote.is_ipv6())
                    .ok_or(SockError::Errno(Errno::EADDRNOTAVAIL))?;
                SocketAddr::new(ip, port)
            }
        };
        let config = Stack::open_config(s);
        let id = self
            .host
            .connect_with(now, local, remote, config)
            .map_err(|e| SockError::Errno(host_errno(e)))?;
        let local = self.host.local_addr(id).ok();
        let s = self.sock_mut(fd)?;
        s.role = Role::Conn(id);
        s.bound = s.bound.or(local);
        Err(Errno::EINPROGRESS.into())
    }

    /// How an active open stands: `None` while the handshake runs, then its outcome (an
    /// error is reported once, as Linux's `sk_err`).
    pub fn connect_result(&mut self, fd: i32) -> SockResult<Option<Result<(), Errno>>> {
        let s = self.sock(fd)?;
        let Role::Conn(id) = s.role else {
            return Err(Errno::ENOTCONN.into());
        };
        let state = self.host.state(id).unwrap_or(StateName::Closed);
        Ok(match state {
            StateName::SynSent | StateName::SynReceived => None,
            StateName::Closed => {
                let s = self.sock_mut(fd)?;
                match s.error.take() {
                    Some(e) => {
                        s.dead = true;
                        Some(Err(e))
                    }
                    None => Some(Err(Errno::ECONNABORTED)),
                }
            }
            _ => Some(Ok(())),
        })
    }

    fn take_error(&mut self, fd: i32) -> Option<Errno> {
        let s = self.sockets.get_mut(&fd)?;
        let e = s.error.take();
        if e.is_some() {
            s.dead = true;
        }
        e
    }

    /// Reads up to `len` bytes; an empty result is end of stream.
    pub fn read(&mut self, fd: i32, len: usize) -> SockResult<Vec<u8>> {
        let s = self.sock(fd)?;
        let Role::Conn(id) = s.role else {
            return Err(Errno::ENOTCONN.into());
        };
        if s.shut_rd {
            return Ok(Vec::new());
        }
        // Never more than the receive buffer can hold, whatever the caller asks for.
        let mut buf = vec![0u8; len.min(s.config.recv_buffer.max(1))];
        match self.host.recv(id, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                Ok(buf)
            }
            Err(HostError::Call(CallError::WouldBlock)) => match self.take_error(fd) {
                Some(e) => Err(e.into()),
                None => Err(Errno::EAGAIN.into()),
            },
            Err(e) => match self.take_error(fd) {
                Some(e) => Err(e.into()),
                None if self.sock(fd)?.dead => Ok(Vec::new()),
                None => Err(host_errno(e).into()),
            },
        }
    }

    /// `MSG_PEEK`: how many of `len` bytes a read would return now, leaving them queued; as
    /// [`Stack::read`] when nothing is queued (end of stream, an error, or `EAGAIN`).
    pub fn peek(&mut self, fd: i32, len: usize) -> SockResult<usize> {
        let s = self.sock(fd)?;
        let Role::Conn(id) = s.role else {
            return Err(Errno::ENOTCONN.into());
        };
        if s.shut_rd {
            return Ok(0);
        }
        let queued = self.host.info(id).map_or(0, |i| i.recv_buffered);
        if queued > 0 {
            return Ok(len.min(queued));
        }
        // Nothing in order to copy: a read takes nothing either, and says why.
        self.read(fd, len).map(|d| d.len())
    }

    /// Writes what fits of `data`; `EAGAIN` when nothing does, and while the handshake is
    /// still running (Linux's `sk_stream_wait_connect`).
    pub fn write(&mut self, fd: i32, data: &[u8]) -> SockResult<usize> {
        self.write_more(fd, data, false)
    }

    /// The connection a write goes to, or why there is none to write to.
    fn writable(&mut self, fd: i32) -> SockResult<ConnId> {
        let s = self.sock(fd)?;
        let Role::Conn(id) = s.role else {
            return Err(Errno::EPIPE.into());
        };
        if let Some(e) = self.take_error(fd) {
            return Err(e.into());
        }
        let s = self.sock(fd)?;
        if s.shut_wr || s.dead {
            return Err(Errno::EPIPE.into());
        }
        match self.host.state(id) {
            Ok(StateName::SynSent | StateName::SynReceived) => Err(Errno::EAGAIN.into()),
            Ok(_) => Ok(id),
            Err(e) => Err(host_errno(e).into()),
        }
    }

    /// Hands bytes to the connection: how many it took.
    fn send_to_host(&mut self, id: ConnId, data: &[u8]) -> SockResult<usize> {
        match self.host.send(id, data) {
            Ok(n) => Ok(n),
            Err(HostError::Call(CallError::Closing)) => Err(Errno::EPIPE.into()),
            Err(e) => Err(host_errno(e).into()),
        }
    }

    pub fn shutdown(&mut self, fd: i32, how: i32) -> SockResult<()> {
        let s = self.sock(fd)?;
        let Role::Conn(id) = s.role else {
            return Err(Errno::ENOTCONN.into());
        };
        if !matches!(how, SHUT_RD | SHUT_WR | SHUT_RDWR) {
            return Err(Errno::EINVAL.into());
        }
        if matches!(self.host.state(id), Ok(StateName::SynSent) | Err(_)) {
            return Err(Errno::ENOTCONN.into());
        }
        if how != SHUT_RD {
            self.flush_held(fd)?;
            self.host
                .shutdown(id)
                .map_err(|e| SockError::Errno(host_errno(e)))?;
        }
        let s = self.sock_mut(fd)?;
        s.shut_rd |= how != SHUT_WR;
        s.shut_wr |= how != SHUT_RD;
        Ok(())
    }

    /// Closes the descriptor: a connection finishes on its own (FIN, or RST with unread data
    /// or `SO_LINGER` 0), a listener resets what waits in its queues.
    pub fn close(&mut self, now: Instant, fd: i32) -> SockResult<()> {
        // What a cork held still goes, before the FIN.
        let _ = self.flush_held(fd);
        let s = self
            .sockets
            .remove(&fd)
            .ok_or(SockError::Errno(Errno::EBADF))?;
        match s.role {
            Role::Fresh => {}
            Role::Listener(id) => {
                let _ = self.host.close_listener(id);
            }
            Role::Conn(id) => {
                // The handle may already be gone (a listener closed before accept).
                let _ = if s.linger_zero == Some(true) {
                    self.host.abort(id)
                } else {
                    self.host.close(now, id)
                };
            }
        }
        self.pump();
        Ok(())
    }

    pub fn fcntl(&mut self, fd: i32, cmd: i32, arg: i32) -> SockResult<i32> {
        let s = self.sock_mut(fd)?;
        match cmd {
            F_GETFL => Ok(O_RDWR | if s.nonblocking { O_NONBLOCK } else { 0 }),
            F_SETFL => {
                if arg & !(O_NONBLOCK | O_RDWR | O_WRONLY) != 0 {
                    return unsupported(format!("fcntl F_SETFL flags {arg:#o}"));
                }
                s.nonblocking = arg & O_NONBLOCK != 0;
                Ok(0)
            }
            _ => unsupported(format!("fcntl command {cmd}")),
        }
    }

    /// The events `poll` reports for a descriptor now.
    pub fn poll_events(&self, fd: i32) -> i16 {
        let Some(s) = self.sockets.get(&fd) else {
            return POLLNVAL;
        };
        let err = if s.error.is_some() { POLLERR } else { 0 };
        match s.role {
            Role::Fresh => POLLOUT | POLLHUP,
            Role::Listener(id) => match self.host.listener_queues(id) {
                Some((_, queued)) if queued > 0 => POLLIN | POLLRDNORM,
                _ => 0,
            },
            Role::Conn(id) => {
                let Ok(info) = self.host.info(id) else {
                    return POLLIN | POLLOUT | POLLHUP | err;
                };
                let mut ev = err;
                let peer_closed = matches!(
                    info.state,
                    StateName::CloseWait
                        | StateName::LastAck
                        | StateName::Closing
                        | StateName::TimeWait
                        | StateName::Closed
                );
                if info.recv_buffered > 0 || peer_closed || s.shut_rd || s.error.is_some() {
                    ev |= POLLIN | POLLRDNORM;
                }
                if peer_closed {
                    ev |= POLLRDHUP;
                }
                let sending = matches!(info.state, StateName::Established | StateName::CloseWait);
                if (sending && info.send_buffered < s.config.send_buffer)
                    || s.shut_wr
                    || info.state == StateName::Closed
                {
                    ev |= POLLOUT | POLLWRNORM;
                }
                if info.state == StateName::Closed || (s.shut_wr && peer_closed) {
                    ev |= POLLHUP;
                }
                ev
            }
        }
    }

    /// The connection's STATUS (RFC 9293 §3.10.6), for `TCP_INFO`.
    pub fn tcp_info(&self, fd: i32) -> SockResult<Info> {
        match self.sock(fd)?.role {
            Role::Conn(id) => self
                .host
                .info(id)
                .map_err(|e| SockError::Errno(host_errno(e))),
            Role::Listener(_) => unsupported("TCP_INFO of a listening socket"),
            Role::Fresh => unsupported("TCP_INFO of a socket that never opened"),
        }
    }

    /// The connection state of a descriptor (`LISTEN` for a listener, `CLOSED` before open).
    pub fn state(&self, fd: i32) -> SockResult<StateName> {
        Ok(match self.sock(fd)?.role {
            Role::Fresh => StateName::Closed,
            Role::Listener(_) => StateName::Listen,
            Role::Conn(id) => self.host.state(id).unwrap_or(StateName::Closed),
        })
    }

    /// (local, remote) of a connected descriptor.
    pub fn addrs(&self, fd: i32) -> SockResult<(SocketAddr, SocketAddr)> {
        match self.sock(fd)?.role {
            Role::Conn(id) => (|| Ok((self.host.local_addr(id)?, self.host.peer_addr(id)?)))()
                .map_err(|e| SockError::Errno(host_errno(e))),
            _ => Err(Errno::ENOTCONN.into()),
        }
    }

    /// The address a descriptor is bound to (by `bind`, or by `connect` choosing one).
    pub fn local_addr(&self, fd: i32) -> SockResult<Option<SocketAddr>> {
        Ok(self.sock(fd)?.bound)
    }

    /// Descriptors in use, lowest first.
    pub fn fds(&self) -> Vec<i32> {
        self.sockets.keys().copied().collect()
    }
}
