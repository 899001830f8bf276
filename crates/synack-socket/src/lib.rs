//! Socket semantics over a synack [`Host`]: a table of sockets and the calls on them, with
//! Linux's answers, on the caller's time. The packetdrill-language runner (through its BSD
//! veneer of descriptors and errno values) and the runtime (std::net- and tokio-shaped
//! sockets) both use this one implementation.
//!
//! What lives here is what a socket is beyond its connection: the options it holds before it
//! opens (and hands to the connection when it does), its address, an error reported once
//! (Linux's `sk_err`) and then end of stream and broken pipe, `shutdown` flags, `SO_LINGER`,
//! `TCP_CORK`, the IP header fields it sets, and readiness.
//!
//! The table never waits. A call that would block answers [`SocketError::WouldBlock`] (or
//! [`SocketError::InProgress`] for `connect`); whoever owns time decides what blocking means:
//! the script runner retries as virtual time moves, the runtime sleeps on a condition variable
//! or leaves a waker, and wakes on the [`SocketEvent`]s the table hands out.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

pub use synack_proto::IpHeaderOptions;
use synack_proto::host::{ConnId, Host, HostConfig, HostEvent, ListenerId, Transmit};
use synack_proto::{Config, ConnError, Info, Instant, Keepalive, StateName};

mod cork;
mod error;
mod options;
mod urgent;
mod wakeup;

use error::unsupported;
pub use error::{SocketError, SocketResult};
pub use options::{SockOpt, SocketOptions};
pub use wakeup::Wakeups;

/// A socket in a [`SocketTable`]. The lowest free id is handed out first, as file
/// descriptors are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(u32);

impl SocketId {
    pub fn from_raw(raw: u32) -> SocketId {
        SocketId(raw)
    }
    pub fn raw(self) -> u32 {
        self.0
    }
}

/// What changed for a socket; the runtime wakes whoever waits on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketEvent {
    /// A listening socket has a connection to accept.
    Acceptable(SocketId),
    /// Data, or the peer's end of stream, can be read.
    Readable(SocketId),
    /// Send buffer space was freed.
    Writable(SocketId),
    /// The connection reached CLOSED; its error, if any, waits for the next call.
    Closed(SocketId),
    /// A connection moved between states; `socket` is `None` for one no socket holds (still
    /// in a listener's queue, or already closed by its user).
    StateChanged {
        socket: Option<SocketId>,
        conn: ConnId,
        from: StateName,
        to: StateName,
    },
}

/// What `poll` would report for a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Never listened nor connected.
    Unopened,
    /// Its connection is gone from the host.
    Gone { error: bool },
    /// A listener or a connection.
    Open {
        readable: bool,
        writable: bool,
        error: bool,
        /// Both directions are done (or the connection is closed).
        hangup: bool,
        /// The peer sent its FIN.
        peer_closed: bool,
        /// An out-of-band byte waits (`POLLPRI`).
        urgent: bool,
    },
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
    opts: SocketOptions,
    /// An error not yet reported to the user (`sk_err` on Linux): the next read, write,
    /// connect or `SO_ERROR` takes it.
    error: Option<ConnError>,
    /// The connection died with an error that was already reported: reads see end of stream,
    /// writes a broken pipe.
    dead: bool,
    shut_rd: bool,
    shut_wr: bool,
    /// Bytes written while corked (or with `MSG_MORE`) that do not fill a segment yet.
    held: Vec<u8>,
    /// Since when the held bytes have waited with nothing in flight (the cork timer's start).
    held_since: Option<Instant>,
    /// What renewed its readiness since the last look (edge-triggered readiness).
    wakeups: Wakeups,
    /// A write or a poll found no room: freed space is news (Linux's `SOCK_NOSPACE`).
    no_space: bool,
}

/// The sockets over one host. Every call takes the time it happens at when time matters.
pub struct SocketTable {
    host: Host,
    sockets: BTreeMap<SocketId, Socket>,
    conns: BTreeMap<ConnId, SocketId>,
    listeners: BTreeMap<ListenerId, SocketId>,
    /// Ids below `next_id` not in use.
    free_ids: BTreeSet<u32>,
    next_id: u32,
    /// Defaults of sockets made from now on (sysctls change them).
    defaults: Config,
    keepalive_defaults: Keepalive,
    /// Whether the caller wants [`SocketEvent`]s (the runtime); else none are kept.
    keep_events: bool,
    events: VecDeque<SocketEvent>,
    /// Where the next search for an ephemeral port to bind starts.
    bind_cursor: u16,
    /// Sockets holding corked bytes (whose cork timer may run).
    corked: BTreeSet<SocketId>,
}

impl SocketTable {
    pub fn new(config: HostConfig) -> SocketTable {
        let defaults = config.tcp.clone();
        let keepalive_defaults = defaults.keepalive.unwrap_or_default();
        let bind_cursor = *config.ephemeral_ports.start();
        SocketTable {
            host: Host::new(config),
            sockets: BTreeMap::new(),
            conns: BTreeMap::new(),
            listeners: BTreeMap::new(),
            free_ids: BTreeSet::new(),
            next_id: 0,
            defaults,
            keepalive_defaults,
            keep_events: false,
            events: VecDeque::new(),
            bind_cursor,
            corked: BTreeSet::new(),
        }
    }

    /// Keep [`SocketEvent`]s for [`SocketTable::poll_event`] from now on.
    pub fn keep_events(&mut self) {
        self.keep_events = true;
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
    pub fn rebuild(&mut self, config: HostConfig) -> SocketResult<()> {
        if !self.is_idle() {
            return unsupported("changing host-wide settings while sockets exist");
        }
        self.defaults = config.tcp.clone();
        self.bind_cursor = *config.ephemeral_ports.start();
        self.host = Host::new(config);
        Ok(())
    }

    // ------------------------------------------------------------------ packets and time

    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.host.handle_packet(now, packet);
        self.pump();
        self.tend_corks(now);
    }

    /// Packets as a device hands them over, in order: `Host::handle_packets`, the same as
    /// `handle_packet` for each in turn.
    pub fn handle_packets<'p>(
        &mut self,
        now: Instant,
        packets: impl IntoIterator<Item = &'p [u8]>,
    ) {
        self.host.handle_packets(now, packets);
        self.pump();
    }

    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let t = self.host.poll_transmit(now, buf);
        self.pump();
        self.tend_corks(now);
        t
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let host = self.host.poll_timeout();
        match self.cork_timeout() {
            Some(cork) => Some(host.map_or(cork, |h| h.min(cork))),
            None => host,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.host.handle_timeout(now);
        self.pump();
        self.fire_corks(now);
    }

    /// The next thing that changed for a socket (only with [`SocketTable::keep_events`]).
    pub fn poll_event(&mut self) -> Option<SocketEvent> {
        self.events.pop_front()
    }

    /// Turns host events into socket state (a connection that died leaves its error for the
    /// socket's next call) and, for a caller that wants them, socket events.
    fn pump(&mut self) {
        while let Some(ev) = self.host.poll_event() {
            self.note_wakeup(&ev);
            let event = match ev {
                HostEvent::Closed(id, error) => {
                    let Some(&sid) = self.conns.get(&id) else {
                        continue;
                    };
                    if let (Some(e), Some(s)) = (error, self.sockets.get_mut(&sid)) {
                        if !s.dead && s.error.is_none() {
                            s.error = Some(e);
                        }
                    }
                    SocketEvent::Closed(sid)
                }
                _ if !self.keep_events => continue,
                HostEvent::Accepted { listener, .. } => match self.listeners.get(&listener) {
                    Some(&sid) => SocketEvent::Acceptable(sid),
                    None => continue,
                },
                HostEvent::Readable(id) => match self.conns.get(&id) {
                    Some(&sid) => SocketEvent::Readable(sid),
                    None => continue,
                },
                HostEvent::Writable(id) => match self.conns.get(&id) {
                    Some(&sid) => SocketEvent::Writable(sid),
                    None => continue,
                },
                HostEvent::StateChanged { conn, from, to, .. } => SocketEvent::StateChanged {
                    socket: self.conns.get(&conn).copied(),
                    conn,
                    from,
                    to,
                },
            };
            if self.keep_events {
                self.events.push_back(event);
            }
        }
    }

    /// Records what a host event renews of its socket's readiness.
    fn note_wakeup(&mut self, ev: &HostEvent) {
        match *ev {
            HostEvent::Closed(id, _) | HostEvent::StateChanged { conn: id, .. } => {
                if let Some(&sid) = self.conns.get(&id) {
                    self.wake_all(sid);
                }
            }
            HostEvent::Accepted { listener, .. } => {
                if let Some(&sid) = self.listeners.get(&listener) {
                    self.wake_readable(sid);
                }
            }
            HostEvent::Readable(id) => {
                if let Some(&sid) = self.conns.get(&id) {
                    self.wake_readable(sid);
                }
            }
            HostEvent::Writable(id) => {
                if let Some(&sid) = self.conns.get(&id) {
                    self.wake_writable(sid);
                }
            }
        }
    }

    // ------------------------------------------------------------------ the table

    fn sock(&self, id: SocketId) -> SocketResult<&Socket> {
        self.sockets.get(&id).ok_or(SocketError::BadSocket)
    }

    fn sock_mut(&mut self, id: SocketId) -> SocketResult<&mut Socket> {
        self.sockets.get_mut(&id).ok_or(SocketError::BadSocket)
    }

    fn conn_id(&self, id: SocketId) -> SocketResult<ConnId> {
        match self.sock(id)?.role {
            Role::Conn(c) => Ok(c),
            _ => Err(SocketError::NotConnected),
        }
    }

    /// The host's handle of a socket's connection, if it has one.
    pub fn conn_of(&self, id: SocketId) -> Option<ConnId> {
        match self.sockets.get(&id)?.role {
            Role::Conn(c) => Some(c),
            _ => None,
        }
    }

    /// Sockets in use, lowest first.
    pub fn ids(&self) -> impl Iterator<Item = SocketId> + '_ {
        self.sockets.keys().copied()
    }

    fn remove(&mut self, id: SocketId) -> SocketResult<Socket> {
        let s = self.sockets.remove(&id).ok_or(SocketError::BadSocket)?;
        self.corked.remove(&id);
        match s.role {
            Role::Conn(c) => {
                self.conns.remove(&c);
            }
            Role::Listener(l) => {
                self.listeners.remove(&l);
            }
            Role::Fresh => {}
        }
        if id.0 + 1 == self.next_id {
            self.next_id -= 1;
            while self.next_id > 0 && self.free_ids.remove(&(self.next_id - 1)) {
                self.next_id -= 1;
            }
        } else {
            self.free_ids.insert(id.0);
        }
        Ok(s)
    }

    fn insert(&mut self, s: Socket) -> SocketId {
        let raw = match self.free_ids.pop_first() {
            Some(raw) => raw,
            None => {
                self.next_id += 1;
                self.next_id - 1
            }
        };
        let id = SocketId(raw);
        match s.role {
            Role::Conn(c) => {
                self.conns.insert(c, id);
            }
            Role::Listener(l) => {
                self.listeners.insert(l, id);
            }
            Role::Fresh => {}
        }
        self.sockets.insert(id, s);
        id
    }

    // ------------------------------------------------------------------ the calls

    /// A new socket of one family (`ipv6` or IPv4), with the table's default settings.
    pub fn socket(&mut self, ipv6: bool) -> SocketId {
        let mut config = self.defaults.clone();
        let keepalive_on = config.keepalive.is_some();
        let keepalive = config.keepalive.take().unwrap_or(self.keepalive_defaults);
        self.insert(Socket {
            role: Role::Fresh,
            ipv6,
            bound: None,
            nonblocking: false,
            opts: SocketOptions {
                config,
                keepalive_on,
                keepalive,
                reuseaddr: false,
                linger: None,
                cork: false,
                ip: Default::default(),
            },
            error: None,
            dead: false,
            shut_rd: false,
            shut_wr: false,
            held: Vec::new(),
            held_since: None,
            wakeups: Wakeups::default(),
            no_space: false,
        })
    }

    pub fn is_nonblocking(&self, id: SocketId) -> SocketResult<bool> {
        Ok(self.sock(id)?.nonblocking)
    }

    pub fn set_nonblocking(&mut self, id: SocketId, nonblocking: bool) -> SocketResult<()> {
        self.sock_mut(id)?.nonblocking = nonblocking;
        Ok(())
    }

    pub fn is_ipv6(&self, id: SocketId) -> SocketResult<bool> {
        Ok(self.sock(id)?.ipv6)
    }

    /// Gives the socket its local address. Port 0 picks a free port from the host's
    /// ephemeral range (RFC 6056 §2.1), as Linux's `bind` does.
    pub fn bind(&mut self, id: SocketId, addr: SocketAddr) -> SocketResult<()> {
        let s = self.sock(id)?;
        if s.role != Role::Fresh || s.bound.is_some() {
            return Err(SocketError::InvalidInput);
        }
        if addr.is_ipv6() != s.ipv6 {
            return Err(SocketError::FamilyNotSupported);
        }
        let locals = &self.host.config().local_addrs;
        if !addr.ip().is_unspecified() && !locals.is_empty() && !locals.contains(&addr.ip()) {
            return Err(SocketError::AddrNotAvailable);
        }
        let addr = if addr.port() == 0 {
            self.ephemeral_bind(id, addr)?
        } else if self.bind_clash(id, addr) {
            return Err(SocketError::AddrInUse);
        } else {
            addr
        };
        self.sock_mut(id)?.bound = Some(addr);
        Ok(())
    }

    /// Whether another socket not yet connected holds `addr` (or a wildcard covering it).
    fn bind_clash(&self, id: SocketId, addr: SocketAddr) -> bool {
        self.sockets.iter().any(|(&other, o)| {
            other != id
                && o.bound.is_some_and(|b| {
                    b.port() == addr.port()
                        && (b.ip() == addr.ip()
                            || b.ip().is_unspecified()
                            || addr.ip().is_unspecified())
                })
                && !matches!(o.role, Role::Conn(_))
        })
    }

    fn ephemeral_bind(&mut self, id: SocketId, addr: SocketAddr) -> SocketResult<SocketAddr> {
        let range = self.host.config().ephemeral_ports.clone();
        let (lo, hi) = (*range.start(), *range.end());
        let span = u32::from(hi.saturating_sub(lo)) + 1;
        let start = self.bind_cursor.clamp(lo, hi);
        for i in 0..span {
            let port = lo + ((u32::from(start - lo) + i) % span) as u16;
            let candidate = SocketAddr::new(addr.ip(), port);
            if !self.bind_clash(id, candidate) {
                self.bind_cursor = if port == hi { lo } else { port + 1 };
                return Ok(candidate);
            }
        }
        Err(SocketError::AddrInUse)
    }

    /// Binds to every port of `ip` (every address of its family when unspecified): the
    /// listener it becomes terminates whatever connection the device brings.
    pub fn bind_every_port(&mut self, id: SocketId, ip: core::net::IpAddr) -> SocketResult<()> {
        let s = self.sock_mut(id)?;
        if s.role != Role::Fresh || s.bound.is_some() {
            return Err(SocketError::InvalidInput);
        }
        // Port 0 in a listener's address is what the host reads as every port.
        s.bound = Some(SocketAddr::new(ip, 0));
        Ok(())
    }

    /// The connection settings a socket opens with: its own config plus keepalive.
    fn open_config(s: &Socket) -> Config {
        let mut c = s.opts.config.clone();
        c.keepalive = s.opts.keepalive_on.then_some(s.opts.keepalive);
        c
    }

    pub fn listen(&mut self, id: SocketId, backlog: usize) -> SocketResult<()> {
        let s = self.sock(id)?;
        match s.role {
            Role::Fresh => {}
            Role::Listener(_) => {
                return unsupported("changing the backlog of a listening socket");
            }
            Role::Conn(_) => return Err(SocketError::InvalidInput),
        }
        let Some(addr) = s.bound else {
            return unsupported("listen without bind (an ephemeral listening port)");
        };
        let config = SocketTable::open_config(s);
        // The host bounds both queues by the backlog (Linux lets one more in; RFC 9293 leaves
        // it to the implementation).
        let lid = self.host.listen_with(addr, backlog, config)?;
        self.sock_mut(id)?.role = Role::Listener(lid);
        self.listeners.insert(lid, id);
        Ok(())
    }

    /// The next connection from a listener's queue, as a new socket that inherits the
    /// listener's options (but not its non-blocking flag, as on Linux), with its peer.
    pub fn accept(&mut self, id: SocketId) -> SocketResult<(SocketId, SocketAddr)> {
        let s = self.sock(id)?;
        let Role::Listener(lid) = s.role else {
            return Err(SocketError::InvalidInput);
        };
        let mut child = s.clone();
        let Some(conn) = self.host.accept(lid) else {
            return Err(SocketError::WouldBlock);
        };
        let remote = self.host.peer_addr(conn)?;
        child.role = Role::Conn(conn);
        child.nonblocking = false;
        child.error = None;
        let nid = self.insert(child);
        self.pump();
        Ok((nid, remote))
    }

    /// Starts an active open. Answers `InProgress` when the SYN is on its way: the outcome
    /// comes from [`SocketTable::connect_status`].
    pub fn connect(&mut self, now: Instant, id: SocketId, remote: SocketAddr) -> SocketResult<()> {
        let s = self.sock(id)?;
        match s.role {
            Role::Listener(_) => return Err(SocketError::InvalidInput),
            Role::Conn(_) => {
                return match self.connect_status(id) {
                    Err(SocketError::WouldBlock) => Err(SocketError::AlreadyConnecting),
                    Ok(()) => Err(SocketError::IsConnected),
                    Err(e) => Err(e),
                };
            }
            Role::Fresh => {}
        }
        if remote.is_ipv6() != s.ipv6 {
            return Err(SocketError::FamilyNotSupported);
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
                    .ok_or(SocketError::AddrNotAvailable)?;
                SocketAddr::new(ip, port)
            }
        };
        let config = SocketTable::open_config(s);
        let conn = self.host.connect_with(now, local, remote, config)?;
        let local = self.host.local_addr(conn).ok();
        let s = self.sock_mut(id)?;
        s.role = Role::Conn(conn);
        s.bound = s.bound.or(local);
        self.conns.insert(conn, id);
        self.pump();
        Err(SocketError::InProgress)
    }

    /// How an active open stands: `WouldBlock` while the handshake runs, then `Ok` or why it
    /// failed (an error is reported once, as Linux's `sk_err`).
    pub fn connect_status(&mut self, id: SocketId) -> SocketResult<()> {
        let conn = self.conn_id(id)?;
        match self.host.state(conn).unwrap_or(StateName::Closed) {
            StateName::SynSent | StateName::SynReceived => Err(SocketError::WouldBlock),
            StateName::Closed => {
                let e = self.take_error(id)?;
                Err(SocketError::Ended(
                    e.unwrap_or(ConnError::ConnectionAborted),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The socket's pending error, now reported (`SO_ERROR`): from then on reads see end of
    /// stream and writes a broken pipe.
    pub fn take_error(&mut self, id: SocketId) -> SocketResult<Option<ConnError>> {
        let s = self.sock_mut(id)?;
        let e = s.error.take();
        if e.is_some() {
            s.dead = true;
        }
        Ok(e)
    }

    /// RECEIVE: `Ok(0)` is end of stream (or an empty `buf`), `WouldBlock` nothing yet.
    pub fn read(&mut self, id: SocketId, buf: &mut [u8]) -> SocketResult<usize> {
        let conn = self.conn_id(id)?;
        if self.sock(id)?.shut_rd || buf.is_empty() {
            return Ok(0);
        }
        match self.host.recv(conn, buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                let e = SocketError::from(e);
                if let Some(pending) = self.take_error(id)? {
                    return Err(SocketError::Ended(pending));
                }
                if e == SocketError::WouldBlock {
                    return Err(e);
                }
                let s = self.sock_mut(id)?;
                if s.dead {
                    return Ok(0);
                }
                if matches!(e, SocketError::Ended(_)) {
                    // Reported now; the Closed event that follows brings nothing new.
                    s.dead = true;
                }
                Err(e)
            }
        }
    }

    /// `MSG_PEEK`: copies what a read would return now into `buf`, leaving it queued; as
    /// [`SocketTable::read`] when nothing is queued (end of stream, an error, or `WouldBlock`).
    pub fn peek(&mut self, id: SocketId, buf: &mut [u8]) -> SocketResult<usize> {
        let conn = self.conn_id(id)?;
        if self.sock(id)?.shut_rd {
            return Ok(0);
        }
        let n = self.host.peek(conn, buf).unwrap_or(0);
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        if self.urgent_byte_alone(id, conn)? {
            // A read would step over the held-apart urgent byte and find nothing after it
            // yet; a peek must leave the byte, and the mark, where they are.
            return Err(SocketError::WouldBlock);
        }
        // Nothing in order to copy: a read takes nothing either, and says why.
        let mut probe = [0u8; 1];
        self.read(id, &mut probe)
    }

    /// SEND: what fits of `data`; `WouldBlock` when nothing does, and while the handshake is
    /// still running (Linux's `sk_stream_wait_connect`).
    pub fn write(&mut self, id: SocketId, data: &[u8]) -> SocketResult<usize> {
        self.write_more(id, data, false)
    }

    /// Writes what fits of `data`; `more` is `MSG_MORE` (more data follows: a partial
    /// segment waits for it). A write that ran out of room makes freed space a wake-up.
    pub fn write_more(&mut self, id: SocketId, data: &[u8], more: bool) -> SocketResult<usize> {
        let r = self.write_or_hold(id, data, more);
        let short = match r {
            Ok(n) => n < data.len(),
            Err(SocketError::WouldBlock) => self.conn_id(id).is_ok_and(|c| {
                // A handshake still running is not a full buffer.
                !matches!(
                    self.host.state(c),
                    Ok(StateName::SynSent | StateName::SynReceived)
                )
            }),
            Err(_) => false,
        };
        if short {
            self.sock_mut(id)?.no_space = true;
        }
        r
    }

    /// The connection a write goes to, or why there is none to write to.
    fn writable(&mut self, id: SocketId) -> SocketResult<ConnId> {
        let Role::Conn(conn) = self.sock(id)?.role else {
            return Err(SocketError::BrokenPipe);
        };
        if let Some(e) = self.take_error(id)? {
            return Err(SocketError::Ended(e));
        }
        let s = self.sock(id)?;
        if s.shut_wr || s.dead {
            return Err(SocketError::BrokenPipe);
        }
        match self.host.state(conn)? {
            StateName::SynSent | StateName::SynReceived => Err(SocketError::WouldBlock),
            StateName::Closed => Err(SocketError::BrokenPipe),
            _ => Ok(conn),
        }
    }

    /// Hands bytes to the connection: how many it took.
    fn send_to_host(&mut self, conn: ConnId, data: &[u8]) -> SocketResult<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let r = self.host.send(conn, data);
        self.pump();
        match r {
            Ok(n) => Ok(n),
            Err(e) => Err(e.into()),
        }
    }

    /// `shutdown(2)`: `write` sends a FIN after the queued data (RFC 9293 §3.10.4); `read`
    /// makes further reads see end of stream.
    pub fn shutdown(&mut self, id: SocketId, read: bool, write: bool) -> SocketResult<()> {
        let conn = self.conn_id(id)?;
        match self.host.state(conn) {
            Ok(StateName::SynSent | StateName::Closed) | Err(_) => {
                return Err(SocketError::NotConnected);
            }
            Ok(_) => {}
        }
        if write {
            self.flush_held(id)?;
            let r = self.host.shutdown(conn);
            self.pump();
            r?;
        }
        let s = self.sock_mut(id)?;
        s.shut_rd |= read;
        s.shut_wr |= write;
        Ok(())
    }

    /// Closes the socket: a connection finishes on its own (a FIN after the queued data, or a
    /// reset with unread data or `SO_LINGER` 0, RFC 1122 §4.2.2.13), a listener resets what
    /// waits in its queues.
    pub fn close(&mut self, now: Instant, id: SocketId) -> SocketResult<()> {
        // What a cork held still goes, before the FIN.
        let _ = self.flush_held(id);
        let s = self.remove(id)?;
        match s.role {
            Role::Fresh => {}
            Role::Listener(lid) => {
                let _ = self.host.close_listener(lid);
            }
            Role::Conn(conn) => {
                // The handle may already be gone (a listener closed before accept).
                let _ = if s.opts.linger == Some(Duration::ZERO) {
                    self.host.abort(conn)
                } else {
                    self.host.close(now, conn)
                };
            }
        }
        self.pump();
        Ok(())
    }

    /// ABORT (RFC 9293 §3.10.5): the connection is reset, the socket gone.
    pub fn abort(&mut self, id: SocketId) -> SocketResult<()> {
        let s = self.remove(id)?;
        match s.role {
            Role::Fresh => {}
            Role::Listener(lid) => {
                let _ = self.host.close_listener(lid);
            }
            Role::Conn(conn) => {
                let _ = self.host.abort(conn);
            }
        }
        self.pump();
        Ok(())
    }

    /// Whether everything written has been acknowledged.
    pub fn all_acked(&self, id: SocketId) -> SocketResult<bool> {
        let info = self.host.info(self.conn_id(id)?)?;
        Ok(info.send_buffered == 0 && self.sock(id)?.held.is_empty())
    }

    /// Whether a lingering close is over: everything sent, our FIN included, has been
    /// acknowledged (FIN-WAIT-2, TIME-WAIT, or CLOSED after LAST-ACK).
    pub fn linger_done(&self, id: SocketId) -> SocketResult<bool> {
        let info = self.host.info(self.conn_id(id)?)?;
        Ok(info.send_buffered == 0
            && matches!(
                info.state,
                StateName::FinWait2 | StateName::TimeWait | StateName::Closed
            ))
    }

    /// What `poll` would report for the socket now.
    pub fn readiness(&self, id: SocketId) -> SocketResult<Readiness> {
        let s = self.sock(id)?;
        let error = s.error.is_some();
        Ok(match s.role {
            Role::Fresh => Readiness::Unopened,
            Role::Listener(lid) => Readiness::Open {
                readable: matches!(self.host.listener_queues(lid), Some((_, q)) if q > 0),
                writable: false,
                error: false,
                hangup: false,
                peer_closed: false,
                urgent: false,
            },
            Role::Conn(conn) => {
                let Ok(info) = self.host.info(conn) else {
                    return Ok(Readiness::Gone { error });
                };
                let peer_closed = matches!(
                    info.state,
                    StateName::CloseWait
                        | StateName::LastAck
                        | StateName::Closing
                        | StateName::TimeWait
                        | StateName::Closed
                );
                let sending = matches!(info.state, StateName::Established | StateName::CloseWait);
                // An urgent byte held apart at the head of the stream is no data for a read.
                let held_apart =
                    !s.opts.config.urgent_inline && self.host.at_urgent_mark(conn).unwrap_or(false);
                let readable = info.recv_buffered > usize::from(held_apart);
                Readiness::Open {
                    readable: readable || peer_closed || s.shut_rd || error,
                    writable: (sending && info.send_buffered < s.opts.config.send_buffer)
                        || s.shut_wr
                        || info.state == StateName::Closed,
                    error,
                    hangup: info.state == StateName::Closed || (s.shut_wr && peer_closed),
                    peer_closed,
                    urgent: self.urgent_ready(conn),
                }
            }
        })
    }

    /// The connection's STATUS (RFC 9293 §3.10.6), for `TCP_INFO`.
    pub fn info(&self, id: SocketId) -> SocketResult<Info> {
        match self.sock(id)?.role {
            Role::Conn(conn) => Ok(self.host.info(conn)?),
            Role::Listener(_) => unsupported("TCP_INFO of a listening socket"),
            Role::Fresh => unsupported("TCP_INFO of a socket that never opened"),
        }
    }

    /// The connection state of a socket (`LISTEN` for a listener, `CLOSED` before open).
    pub fn state(&self, id: SocketId) -> SocketResult<StateName> {
        Ok(match self.sock(id)?.role {
            Role::Fresh => StateName::Closed,
            Role::Listener(_) => StateName::Listen,
            Role::Conn(conn) => self.host.state(conn).unwrap_or(StateName::Closed),
        })
    }

    /// (local, remote) of a connected socket.
    pub fn addrs(&self, id: SocketId) -> SocketResult<(SocketAddr, SocketAddr)> {
        let conn = self.conn_id(id)?;
        Ok((self.host.local_addr(conn)?, self.host.peer_addr(conn)?))
    }

    /// The address a socket is bound to (by `bind`, or by `connect` choosing one).
    pub fn local_addr(&self, id: SocketId) -> SocketResult<Option<SocketAddr>> {
        Ok(self.sock(id)?.bound)
    }
}
