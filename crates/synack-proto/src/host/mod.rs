//! The host: many connections and listeners behind one IP interface, in the same sans-IO shape
//! as a connection.
//!
//! ```text
//! host.handle_packet(now, &ip_bytes);                        // one IPv4 or IPv6 datagram in
//! while let Some(n) = host.poll_transmit(now, &mut buf) { device.send(&buf[..n]); }
//! host.poll_timeout() / host.handle_timeout(now)
//! host.poll_event()
//! ```
//!
//! What it adds to a [`Connection`]: demultiplexing by 4-tuple (a keyed hash table, since the
//! tuple is attacker-chosen), handles that cannot be confused after a slot is reused (index
//! plus generation), listeners with a SYN queue and an accept queue and SYN cookies once the
//! SYN queue is full (RFC 4987), RFC 6528 ISNs, RFC 6056 ephemeral ports, resets for segments
//! that match nothing (RFC 9293 §3.10.7.1), one timer schedule for everything, and Linux-style
//! counters.

mod cookie;
mod counters;
mod icmp;
mod keys;
mod listener;
mod ports;
mod slot;
mod time_wait;
mod timers;
mod tuple;

mod isn;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::ops::RangeInclusive;
use core::time::Duration;

use hashbrown::HashMap;
use synack_wire::ip::{emit_tcp_with, parse_tcp};
use synack_wire::{ChecksumMode, TcpFlags, TcpOptions, TcpRepr, Timestamps};

use self::cookie::CookieJar;
pub use self::counters::Counters;
use self::keys::Key;
use self::listener::Listener;
use self::ports::PortAllocator;
use self::slot::Slot;
use self::time_wait::{TimeWaitEntry, Verdict};
use self::timers::Timers;
use self::tuple::Tuple;
use crate::config::Config;
use crate::conn::{
    Cause, Connection, CookieSyn, Event, Info, StateName, reset_for_unexpected, syn_ack_window,
    ts_clock_with,
};
use crate::error::Error;
use crate::time::Instant;

/// Host-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// Key material for every keyed hash (demux table, ISNs, ports, cookies). The runtime fills
    /// it from the OS's random source; tests pick one so runs repeat exactly.
    pub secret: u128,
    /// Settings for each connection.
    pub tcp: Config,
    /// Connections of any state the host holds at once, half-open ones included. At the limit
    /// new opens are refused and counted; nothing panics. Compact TIME-WAIT entries do not
    /// count here; they have their own limit.
    pub max_connections: usize,
    /// Bytes of user data all connections together may hold in their send and receive
    /// buffers (out-of-order data included), like Linux's `tcp_mem` hard limit. At the limit
    /// `send` takes no more (a short count, then `WouldBlock` until `Writable`), and arriving
    /// data is dropped unacknowledged for the peer to send again — out-of-order data first,
    /// from 7/8 of the limit on. Nothing already accepted is ever lost. As Linux grants every
    /// socket `tcp_rmem[0]`, a connection holding less than 4 KiB of unread data still takes
    /// the next in-order segment, so the total can pass the limit by that much per
    /// connection; otherwise memory full of unacknowledged data could never drain.
    pub max_buffer_memory: usize,
    /// Compact TIME-WAIT entries kept at once (Linux `tcp_max_tw_buckets`). Beyond it a
    /// connection finishing in TIME-WAIT is forgotten at once and counted.
    pub max_time_wait: usize,
    /// The ephemeral port range (RFC 6056 §2.1; Linux's default `ip_local_port_range`).
    pub ephemeral_ports: RangeInclusive<u16>,
    /// Answer with SYN cookies when a listener's SYN queue is full (Linux `tcp_syncookies=1`);
    /// off, such SYNs are dropped.
    pub syn_cookies: bool,
    /// The largest backlog `listen` accepts (Linux `somaxconn`).
    pub max_backlog: usize,
    /// Resets and cookie SYN-ACKs waiting for `poll_transmit`; more are dropped and counted.
    pub max_pending_control: usize,
    /// TTL / hop limit of the packets we send.
    pub hop_limit: u8,
    /// The addresses that are ours. Empty: every address is (a transparent proxy or
    /// tun2socks-style host that terminates whatever the interface hands it).
    pub local_addrs: Vec<IpAddr>,
    /// The device checksums TCP for us (a NIC's offload, TUN with a virtio-net header, an
    /// in-process link): arriving segments are not verified, and leaving ones carry only the
    /// pseudo-header sum for the device to complete (`synack_wire::TcpRepr::emit_with`).
    /// ICMP is always verified. Off by default: every checksum is computed.
    pub checksum_offload: bool,
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            secret: 0,
            tcp: Config::default(),
            max_connections: 65_536,
            max_time_wait: 262_144,
            max_buffer_memory: 1 << 30,
            ephemeral_ports: 32768..=60999,
            syn_cookies: true,
            max_backlog: 4096,
            max_pending_control: 1024,
            hop_limit: 64,
            local_addrs: Vec::new(),
            checksum_offload: false,
        }
    }
}

/// A connection on a host. Holds a generation, so a handle to a connection that has gone
/// never reaches whatever later took its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

/// A listener on a host, with the same stale-handle protection as [`ConnId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId {
    index: u32,
    generation: u32,
}

/// Why a host call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The handle names a connection that has been closed and released (or never existed).
    #[error("stale or unknown connection handle")]
    InvalidHandle,
    /// The handle names a listener that has been closed (or never existed).
    #[error("stale or unknown listener handle")]
    InvalidListener,
    /// Something already listens on that address, or the 4-tuple is taken.
    #[error("address in use")]
    AddrInUse,
    /// No local address or ephemeral port is available for this connection.
    #[error("address not available")]
    AddrNotAvailable,
    /// Local and remote addresses are of different IP versions.
    #[error("local and remote address families differ")]
    AddressFamilyMismatch,
    /// The remote address is unspecified, multicast or has port 0.
    #[error("invalid address")]
    InvalidAddress,
    /// The host holds `max_connections` already.
    #[error("connection limit reached")]
    ConnectionLimit,
    /// The connection refused the call.
    #[error(transparent)]
    Conn(#[from] Error),
}

/// Something that happened on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// A connection completed its handshake on `listener` and waits in its accept queue.
    /// `local` is the address the peer connected to (for a wildcard listener, the original
    /// destination), `remote` the peer.
    Accepted {
        listener: ListenerId,
        conn: ConnId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// New data, or the peer's end of stream, can be read.
    Readable(ConnId),
    /// Send buffer space was freed.
    Writable(ConnId),
    /// The connection reached CLOSED; the error says why when it was not orderly.
    Closed(ConnId, Option<Error>),
    /// A connection moved along an edge of [`crate::TRANSITIONS`]. Reported for half-open
    /// connections too (LISTEN → SYN-RECEIVED → ESTABLISHED), before `Accepted` names them,
    /// so tools can draw every handshake, and after the user closed the connection too (its
    /// FIN-WAIT and TIME-WAIT states), so they can draw every close. The handle named is then
    /// stale for every call: it only says which connection moved.
    StateChanged {
        conn: ConnId,
        from: StateName,
        to: StateName,
        cause: Cause,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// In a listener's SYN queue.
    HalfOpen(u32),
    /// In a listener's accept queue.
    Queued(u32),
    /// Handed to the user (by `connect` or `accept`).
    User,
}

struct Entry {
    conn: Connection,
    local: SocketAddr,
    remote: SocketAddr,
    role: Role,
    /// Nobody holds the handle any more (closed or aborted by the user, or a passive open
    /// that died before it was accepted): the slot is freed once the connection is CLOSED and
    /// its last segments are out.
    released: bool,
    /// Still reachable by 4-tuple.
    in_demux: bool,
    /// In the queue of connections that may have something to send.
    ready: bool,
    /// The deadline last put on the timer heap for this connection.
    deadline: Option<Instant>,
    /// Bytes of this connection counted in `Host::buffer_memory`.
    memory: usize,
    /// A `send` was refused for lack of host memory: report `Writable` when there is room.
    memory_wait: bool,
}

/// Demux values with this bit set name a compact TIME-WAIT entry rather than a connection slot.
const TW_BIT: u32 = 1 << 31;

struct ListenerSlot {
    generation: u32,
    listener: Option<Listener>,
}

/// A segment the host itself sends: a reset for a segment that matched nothing, or a cookie
/// SYN-ACK.
struct Control {
    src: IpAddr,
    dst: IpAddr,
    seg: TcpRepr<'static>,
}

/// Received, unread bytes a connection may always hold, host cap or not (Linux's default
/// `tcp_rmem[0]`); see `Host::over_memory`.
const MIN_RCV_ALLOWANCE: usize = 4096;

/// IP plus TCP headers at their largest, reserved in the caller's buffer before payload.
const MAX_HEADERS: usize = 60 + 60;

/// Many connections and listeners behind one interface.
pub struct Host {
    config: HostConfig,
    slots: Vec<Slot<Entry>>,
    free: Vec<u32>,
    live: usize,
    demux: HashMap<Tuple, u32, Key>,
    time_wait: Vec<Slot<TimeWaitEntry>>,
    time_wait_free: Vec<u32>,
    time_wait_live: usize,
    /// Bytes all connections hold in their buffers, and those waiting for some of it.
    buffer_memory: usize,
    memory_waiters: Vec<ConnId>,
    listeners: Vec<ListenerSlot>,
    listen_map: HashMap<(IpAddr, u16), u32, Key>,
    isn_key: Key,
    ts_key: Key,
    cookies: CookieJar,
    ports: PortAllocator,
    timers: Timers,
    ready: VecDeque<u32>,
    control: VecDeque<Control>,
    events: VecDeque<HostEvent>,
    counters: Counters,
    scratch: Vec<u8>,
}

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// Addresses no TCP segment may come from or go to (RFC 1122 §4.2.3.10: SYNs to broadcast or
/// multicast are ignored; RFC 9293 §3.9.2.1 has no unicast meaning for them).
fn bogus_source(ip: IpAddr) -> bool {
    ip.is_unspecified() || ip.is_multicast() || matches!(ip, IpAddr::V4(a) if a.is_broadcast())
}

fn bogus_destination(ip: IpAddr) -> bool {
    bogus_source(ip)
}

impl Host {
    pub fn new(config: HostConfig) -> Host {
        let secret = config.secret;
        let demux_key = Key::derive(secret, b"synack demux");
        let ports = PortAllocator::new(
            Key::derive(secret, b"synack ports"),
            config.ephemeral_ports.clone(),
        );
        let payload = usize::from(config.tcp.mss).max(1500) + 64;
        Host {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            demux: HashMap::with_hasher(demux_key),
            time_wait: Vec::new(),
            time_wait_free: Vec::new(),
            time_wait_live: 0,
            buffer_memory: 0,
            memory_waiters: Vec::new(),
            listeners: Vec::new(),
            listen_map: HashMap::with_hasher(Key::derive(secret, b"synack listeners")),
            isn_key: Key::derive(secret, b"synack isn"),
            ts_key: Key::derive(secret, b"synack tsval"),
            cookies: CookieJar::new(secret),
            ports,
            timers: Timers::default(),
            ready: VecDeque::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            scratch: vec![0; payload],
            config,
        }
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Connections the host holds with a full TCB, in any state (half-open ones included, and
    /// TIME-WAIT connections whose user still holds them).
    pub fn connection_count(&self) -> usize {
        self.live
    }

    /// 4-tuples in the compact TIME-WAIT table (connections the user let go of).
    pub fn time_wait_count(&self) -> usize {
        self.time_wait_live
    }

    /// The state of whatever holds the 4-tuple `local`–`remote`, handle or not — what `ss` or
    /// `netstat` would list: TIME-WAIT for a compact entry, else the connection's state.
    pub fn tuple_state(&self, local: SocketAddr, remote: SocketAddr) -> Option<StateName> {
        let index = *self.demux.get(&Tuple::new(local, remote))?;
        if index & TW_BIT != 0 {
            return Some(StateName::TimeWait);
        }
        let e = self.slots.get(index as usize)?.entry.as_ref()?;
        Some(e.conn.state())
    }

    /// Whether `local`–`remote` is in the compact TIME-WAIT table.
    pub fn in_time_wait(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.demux
            .get(&Tuple::new(local, remote))
            .is_some_and(|i| i & TW_BIT != 0)
    }

    /// Checks the host's bookkeeping against what it holds, between calls: the live and
    /// TIME-WAIT counts, `buffer_memory` as the sum over connections of what each buffers,
    /// the demux table naming exactly the connections and entries reachable by 4-tuple, and a
    /// timer on the heap for every deadline. O(connections × timers): for tests and debugging.
    pub fn audit(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let live = self.slots.iter().filter(|s| s.entry.is_some()).count();
        if live != self.live {
            return Err(format!(
                "live {} but {live} slots hold a connection",
                self.live
            ));
        }
        let tw = self.time_wait.iter().filter(|s| s.entry.is_some()).count();
        if tw != self.time_wait_live {
            return Err(format!(
                "time_wait_live {} but {tw} entries",
                self.time_wait_live
            ));
        }
        let mut memory = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(e) = slot.entry.as_ref() else {
                continue;
            };
            let index = i as u32;
            if e.memory != e.conn.buffered_bytes() {
                return Err(format!(
                    "slot {i}: counted {} bytes, holds {}",
                    e.memory,
                    e.conn.buffered_bytes()
                ));
            }
            memory += e.memory;
            if let (Role::HalfOpen(l) | Role::Queued(l), false) = (e.role, e.released) {
                let id = ConnId {
                    index,
                    generation: slot.generation,
                };
                let queued = self
                    .listeners
                    .get(l as usize)
                    .and_then(|s| s.listener.as_ref())
                    .is_some_and(|q| match e.role {
                        Role::HalfOpen(_) => q.syn_queue.contains(&id),
                        _ => q.accept_queue.contains(&id),
                    });
                if !queued {
                    return Err(format!("slot {i}: {:?} but not in that queue", e.role));
                }
            }
            let tuple = Tuple::new(e.local, e.remote);
            if e.in_demux && self.demux.get(&tuple) != Some(&index) {
                return Err(format!(
                    "slot {i} ({:?}) not reachable by its 4-tuple",
                    e.conn.state()
                ));
            }
            if let Some(t) = e.deadline {
                if !self.timers.contains(t, index, slot.generation) {
                    return Err(format!("slot {i}: deadline {t:?} not on the timer heap"));
                }
            }
            if e.deadline != e.conn.poll_timeout() {
                return Err(format!(
                    "slot {i}: deadline {:?}, connection wants {:?}",
                    e.deadline,
                    e.conn.poll_timeout()
                ));
            }
        }
        if memory != self.buffer_memory {
            return Err(format!(
                "buffer_memory {} but connections hold {memory}",
                self.buffer_memory
            ));
        }
        // Listener queues: live connections, each in the role its queue implies.
        for (l, slot) in self.listeners.iter().enumerate() {
            let Some(listener) = slot.listener.as_ref() else {
                continue;
            };
            let l = l as u32;
            let queues = [
                (&listener.syn_queue, Role::HalfOpen(l)),
                (&listener.accept_queue, Role::Queued(l)),
            ];
            for (queue, role) in queues {
                for id in queue {
                    let ok = self
                        .slots
                        .get(id.index as usize)
                        .filter(|s| s.generation == id.generation)
                        .and_then(|s| s.entry.as_ref())
                        .is_some_and(|e| e.role == role && !e.released);
                    if !ok {
                        return Err(format!("listener {l}: {id:?} is not {role:?}"));
                    }
                }
            }
        }
        // Refused senders: each a connection that exists and knows it waits, once.
        for (k, id) in self.memory_waiters.iter().enumerate() {
            let waiting = self
                .slots
                .get(id.index as usize)
                .filter(|s| s.generation == id.generation)
                .and_then(|s| s.entry.as_ref())
                .is_some_and(|e| e.memory_wait);
            if !waiting || self.memory_waiters[..k].contains(id) {
                return Err(format!("memory waiter {id:?} is gone or listed twice"));
            }
        }
        for (i, slot) in self.time_wait.iter().enumerate() {
            let Some(e) = slot.entry.as_ref() else {
                continue;
            };
            let index = i as u32 | TW_BIT;
            if self.demux.get(&e.tuple) != Some(&index) {
                return Err(format!("TIME-WAIT entry {i} not reachable by its 4-tuple"));
            }
            if !self.timers.contains(e.expires, index, slot.generation) {
                return Err(format!("TIME-WAIT entry {i}: expiry not on the timer heap"));
            }
        }
        for (tuple, &index) in self.demux.iter() {
            let found = if index & TW_BIT != 0 {
                self.time_wait
                    .get((index & !TW_BIT) as usize)
                    .and_then(|s| s.entry.as_ref())
                    .is_some_and(|e| e.tuple == *tuple)
            } else {
                self.slots
                    .get(index as usize)
                    .and_then(|s| s.entry.as_ref())
                    .is_some_and(|e| e.in_demux && Tuple::new(e.local, e.remote) == *tuple)
            };
            if !found {
                return Err(format!(
                    "demux names {index:#x}, which does not hold {tuple:?}"
                ));
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ user calls

    /// Passive OPEN on `local`. An unspecified address (0.0.0.0 or ::) listens on every address
    /// of that family, port 0 on every port; the most specific listener gets a SYN. `backlog`
    /// bounds both the SYN queue and the accept queue (at least 1, at most `max_backlog`).
    pub fn listen(&mut self, local: SocketAddr, backlog: usize) -> Result<ListenerId, HostError> {
        let key = (local.ip(), local.port());
        if self.listen_map.contains_key(&key) {
            return Err(HostError::AddrInUse);
        }
        if local.ip().is_multicast() {
            return Err(HostError::InvalidAddress);
        }
        if !local.ip().is_unspecified() && !self.is_local(local.ip()) {
            return Err(HostError::AddrNotAvailable);
        }
        let listener = Listener {
            local,
            backlog: backlog.clamp(1, self.config.max_backlog.max(1)),
            syn_queue: VecDeque::new(),
            accept_queue: VecDeque::new(),
            last_cookie: None,
        };
        let index = match self.listeners.iter().position(|l| l.listener.is_none()) {
            Some(i) => i,
            None => {
                self.listeners.push(ListenerSlot {
                    generation: 0,
                    listener: None,
                });
                self.listeners.len() - 1
            }
        };
        let slot = &mut self.listeners[index];
        slot.listener = Some(listener);
        self.listen_map.insert(key, index as u32);
        Ok(ListenerId {
            index: index as u32,
            generation: slot.generation,
        })
    }

    /// Stops listening. Connections still in the SYN queue or the accept queue are aborted
    /// (with a reset, as Linux does when a listening socket with a backlog is closed).
    pub fn close_listener(&mut self, id: ListenerId) -> Result<(), HostError> {
        let slot = self
            .listeners
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .ok_or(HostError::InvalidListener)?;
        let listener = slot.listener.take().ok_or(HostError::InvalidListener)?;
        slot.generation = slot.generation.wrapping_add(1);
        self.listen_map
            .remove(&(listener.local.ip(), listener.local.port()));
        for c in listener
            .syn_queue
            .iter()
            .chain(listener.accept_queue.iter())
        {
            if let Some(e) = self.entry_mut(*c) {
                e.role = Role::User;
                e.released = true;
                e.conn.abort();
                self.after(c.index);
            }
        }
        Ok(())
    }

    /// The next established connection from `listener`'s accept queue, now the caller's.
    pub fn accept(&mut self, listener: ListenerId) -> Option<ConnId> {
        let l = self.listener_mut(listener)?;
        let id = l.accept_queue.pop_front()?;
        if let Some(e) = self.entry_mut(id) {
            e.role = Role::User;
        }
        Some(id)
    }

    /// (half-open connections, connections waiting for `accept`) of a listener.
    pub fn listener_queues(&self, listener: ListenerId) -> Option<(usize, usize)> {
        let l = self
            .listeners
            .get(listener.index as usize)
            .filter(|s| s.generation == listener.generation)?
            .listener
            .as_ref()?;
        Some((l.syn_queue.len(), l.accept_queue.len()))
    }

    /// Active OPEN from `local_ip` to `remote`, on an ephemeral port chosen per RFC 6056 §3.3.3.
    pub fn connect(
        &mut self,
        now: Instant,
        local_ip: IpAddr,
        remote: SocketAddr,
    ) -> Result<ConnId, HostError> {
        self.check_connect(local_ip, remote)?;
        let demux = &self.demux;
        let listen_map = &self.listen_map;
        let unspec = unspecified(local_ip);
        let port = self
            .ports
            .pick(local_ip, remote, |p| {
                let local = SocketAddr::new(local_ip, p);
                !demux.contains_key(&Tuple::new(local, remote))
                    && !listen_map.contains_key(&(local_ip, p))
                    && !listen_map.contains_key(&(unspec, p))
            })
            .ok_or(HostError::AddrNotAvailable)?;
        Ok(self.open_active(now, SocketAddr::new(local_ip, port), remote))
    }

    /// Active OPEN from a chosen local port (a `bind` before `connect`). The 4-tuple must be
    /// free.
    pub fn connect_from(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnId, HostError> {
        if local.port() == 0 {
            return self.connect(now, local.ip(), remote);
        }
        self.check_connect(local.ip(), remote)?;
        if self.demux.contains_key(&Tuple::new(local, remote)) {
            return Err(HostError::AddrInUse);
        }
        Ok(self.open_active(now, local, remote))
    }

    fn check_connect(&self, local_ip: IpAddr, remote: SocketAddr) -> Result<(), HostError> {
        if local_ip.is_ipv4() != remote.is_ipv4() {
            return Err(HostError::AddressFamilyMismatch);
        }
        if remote.port() == 0 || bogus_destination(remote.ip()) {
            return Err(HostError::InvalidAddress);
        }
        if bogus_source(local_ip) || !self.is_local(local_ip) {
            return Err(HostError::AddrNotAvailable);
        }
        if self.live >= self.config.max_connections {
            return Err(HostError::ConnectionLimit);
        }
        Ok(())
    }

    fn open_active(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) -> ConnId {
        let iss = isn::isn(&self.isn_key, now, local, remote);
        let mut conn = Connection::connect(&self.config.tcp, local.port(), remote.port(), iss);
        conn.set_ts_offset(self.ts_offset(local, remote));
        let id = self.insert(conn, local, remote, Role::User);
        self.after(id.index);
        id
    }

    /// SEND. Takes what fits in the connection's buffer and under the host's memory cap; with
    /// no room at all, `WouldBlock` (a `Writable` event follows once there is).
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> Result<usize, HostError> {
        let room = self
            .config
            .max_buffer_memory
            .saturating_sub(self.buffer_memory);
        let e = self.user_entry(id)?;
        if room == 0 && !data.is_empty() {
            // The connection's own verdict (closing, not connected) comes first.
            e.conn.send(&[])?;
            let first = !e.memory_wait;
            e.memory_wait = true;
            if first {
                self.memory_waiters.push(id);
            }
            self.counters.send_memory_refusals += 1;
            return Err(Error::WouldBlock.into());
        }
        let r = e.conn.send(&data[..data.len().min(room)]);
        self.after(id.index);
        Ok(r?)
    }

    /// Bytes of user data the host's connections hold in their buffers, against
    /// `HostConfig::max_buffer_memory`.
    pub fn buffer_memory(&self) -> usize {
        self.buffer_memory
    }

    pub fn recv(&mut self, id: ConnId, buf: &mut [u8]) -> Result<usize, HostError> {
        let e = self.user_entry(id)?;
        let r = e.conn.recv(buf);
        self.after(id.index);
        Ok(r?)
    }

    /// Half-close: a FIN follows the data already written (RFC 9293 §3.10.4).
    pub fn shutdown(&mut self, id: ConnId) -> Result<(), HostError> {
        let e = self.user_entry(id)?;
        let r = e.conn.shutdown_write();
        self.after(id.index);
        Ok(r?)
    }

    /// Gives the connection up, like a socket's `close()`: it finishes on its own (FIN, or RST
    /// if unread data is left) and the handle is stale from now on.
    pub fn close(&mut self, now: Instant, id: ConnId) -> Result<(), HostError> {
        self.detach(id)?;
        let e = self.user_entry(id)?;
        let r = e.conn.close(now);
        e.released = true;
        self.after(id.index);
        Ok(r?)
    }

    /// ABORT (RFC 9293 §3.10.5): reset and forget. The handle is stale from now on.
    pub fn abort(&mut self, id: ConnId) -> Result<(), HostError> {
        self.detach(id)?;
        let e = self.user_entry(id)?;
        e.conn.abort();
        e.released = true;
        self.after(id.index);
        Ok(())
    }

    pub fn info(&self, id: ConnId) -> Result<Info, HostError> {
        Ok(self.user_entry_ref(id)?.conn.info())
    }

    /// The last ICMP soft error reported for a connection (RFC 1122 §4.2.3.9), kept until the
    /// peer acknowledges new data; a connection that times out before then fails with it.
    pub fn soft_error(&self, id: ConnId) -> Result<Option<Error>, HostError> {
        Ok(self.user_entry_ref(id)?.conn.soft_error())
    }

    pub fn state(&self, id: ConnId) -> Result<StateName, HostError> {
        Ok(self.user_entry_ref(id)?.conn.state())
    }

    /// (local, remote) addresses of a connection.
    pub fn addrs(&self, id: ConnId) -> Result<(SocketAddr, SocketAddr), HostError> {
        let e = self.user_entry_ref(id)?;
        Ok((e.local, e.remote))
    }

    /// Changes one of the user's connections in place (socket options set after the open:
    /// keepalive, user timeout, Nagle), then re-arms its timers so a new deadline counts.
    pub fn configure(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut Connection),
    ) -> Result<(), HostError> {
        let e = self.user_entry(id)?;
        f(&mut e.conn);
        self.after(id.index);
        Ok(())
    }

    /// Settings for connections opened from now on, actively or on a listener (socket
    /// options set before `connect` or `listen`). Connections already open keep theirs.
    pub fn tcp_config_mut(&mut self) -> &mut Config {
        &mut self.config.tcp
    }

    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    // ------------------------------------------------------------------ packets and time

    /// One IP datagram from the interface.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let parsed = parse_tcp(packet, self.checksum_mode());
        if parsed == Err(synack_wire::Error::NotTcp) {
            self.handle_icmp(packet);
            return;
        }
        self.counters.in_segs += 1;
        let Ok((ip, seg)) = parsed else {
            self.counters.in_errs += 1;
            return;
        };
        if bogus_source(ip.src)
            || bogus_destination(ip.dst)
            || seg.src_port == 0
            || seg.dst_port == 0
        {
            self.counters.in_errs += 1;
            return;
        }
        if !self.is_local(ip.dst) {
            // Not for us (RFC 1122 §3.2.1.3's address check, done here since we own the IP
            // layer's decision too).
            self.counters.in_addr_errors += 1;
            return;
        }
        let local = SocketAddr::new(ip.dst, seg.dst_port);
        let remote = SocketAddr::new(ip.src, seg.src_port);
        let mut reopen_iss = None;
        if let Some(&index) = self.demux.get(&Tuple::new(local, remote)) {
            if index & TW_BIT != 0 {
                // Without a listener to take a new SYN, TIME-WAIT answers it (Linux too).
                let listening = self.find_listener(local).is_some();
                reopen_iss = self.on_time_wait(now, index & !TW_BIT, &seg, listening);
                if reopen_iss.is_none() {
                    return;
                }
            } else {
                if self.find_listener(local).is_some() {
                    reopen_iss = self.reopens_time_wait(index, &seg);
                }
                if reopen_iss.is_none() {
                    self.deliver(now, index, &seg);
                    return;
                }
            }
        }
        match self.find_listener(local) {
            Some(l) => self.on_listener(now, l, local, remote, &seg, reopen_iss),
            None => self.reply_reset(local, remote, &seg),
        }
    }

    /// How checksums of TCP segments are handled: computed and verified, or left to the
    /// device (`HostConfig::checksum_offload`).
    fn checksum_mode(&self) -> ChecksumMode {
        if self.config.checksum_offload {
            ChecksumMode::Ignore
        } else {
            ChecksumMode::Verify
        }
    }

    /// The next datagram to send, written to the front of `buf`; returns its length. `buf`
    /// should hold an MTU; call until `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let mode = self.checksum_mode();
        while let Some(c) = self.control.pop_front() {
            if let Ok(n) = emit_tcp_with(buf, c.src, c.dst, self.config.hop_limit, &c.seg, mode) {
                self.counters.out_segs += 1;
                if c.seg.flags.rst() {
                    self.counters.out_rsts += 1;
                }
                return Some(n);
            }
        }
        while let Some(&index) = self.ready.front() {
            let Some(e) = self
                .slots
                .get_mut(index as usize)
                .and_then(|s| s.entry.as_mut())
            else {
                self.ready.pop_front();
                continue;
            };
            let room = buf
                .len()
                .saturating_sub(MAX_HEADERS)
                .min(self.scratch.len());
            let retransmitted = e.conn.segs_retransmitted();
            let sent = match e.conn.poll_transmit(now, &mut self.scratch[..room]) {
                Some(seg) => Some((
                    emit_tcp_with(
                        buf,
                        e.local.ip(),
                        e.remote.ip(),
                        self.config.hop_limit,
                        &seg,
                        mode,
                    ),
                    seg.flags.rst(),
                )),
                None => None,
            };
            match sent {
                Some((result, rst)) => {
                    if e.conn.segs_retransmitted() > retransmitted {
                        self.counters.retrans_segs += 1;
                    } else {
                        self.counters.out_segs += 1;
                    }
                    if rst {
                        self.counters.out_rsts += 1;
                    }
                    self.after_transmit(index);
                    // A segment too big for `buf` is lost as if on the wire; the
                    // retransmission timer recovers it.
                    if let Ok(n) = result {
                        return Some(n);
                    }
                }
                None => {
                    self.ready.pop_front();
                    e.ready = false;
                    if e.released && !e.in_demux {
                        self.release_slot(index);
                    } else if e.released && e.conn.state() == StateName::TimeWait {
                        // Nobody holds it and its last ACK is out: the TCB can go.
                        self.compact_time_wait(index);
                    } else {
                        // Having nothing to send can arm a timer (the persist timer of a zero
                        // window, RFC 9293 §3.8.6.1): put it on the heap.
                        self.after_transmit(index);
                    }
                }
            }
        }
        None
    }

    /// The earliest time `handle_timeout` has work (possibly a little early).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for (at, index, generation) in self.timers.pop_due(now) {
            if index & TW_BIT != 0 {
                self.expire_time_wait(at, index & !TW_BIT, generation);
                continue;
            }
            let Some(e) = self
                .slots
                .get_mut(index as usize)
                .filter(|s| s.generation == generation)
                .and_then(|s| s.entry.as_mut())
            else {
                continue;
            };
            if e.deadline != Some(at) {
                continue;
            }
            e.deadline = None;
            e.conn.handle_timeout(now);
            self.after(index);
        }
        if self.timers.len() > 2 * (self.live + self.time_wait_live) + 64 {
            let slots = &self.slots;
            let time_wait = &self.time_wait;
            self.timers.compact(|t, i, g| {
                if i & TW_BIT != 0 {
                    return time_wait
                        .get((i & !TW_BIT) as usize)
                        .filter(|s| s.generation == g)
                        .and_then(|s| s.entry.as_ref())
                        .is_some_and(|tw| tw.expires == t);
                }
                slots
                    .get(i as usize)
                    .filter(|s| s.generation == g)
                    .and_then(|s| s.entry.as_ref())
                    .is_some_and(|e| e.deadline == Some(t))
            });
        }
    }

    // ------------------------------------------------------------------ internals

    /// A connection the user gives up before accepting it (its id came with `Accepted`)
    /// leaves the accept queue, so `accept` never hands out a released handle.
    fn detach(&mut self, id: ConnId) -> Result<(), HostError> {
        let e = self.user_entry(id)?;
        if let Role::Queued(l) | Role::HalfOpen(l) = e.role {
            e.role = Role::User;
            if let Some(listener) = self.listeners[l as usize].listener.as_mut() {
                listener.remove(id);
            }
        }
        Ok(())
    }

    /// Our TSval offset for a 4-tuple: the same for every incarnation (see
    /// `Connection::set_ts_offset`), unguessable without the secret.
    fn ts_offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        self.ts_key.tuple(local, remote, 0) as u32
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        self.config.local_addrs.is_empty() || self.config.local_addrs.contains(&ip)
    }

    fn entry_mut(&mut self, id: ConnId) -> Option<&mut Entry> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)?
            .entry
            .as_mut()
    }

    fn user_entry(&mut self, id: ConnId) -> Result<&mut Entry, HostError> {
        self.entry_mut(id)
            .filter(|e| !e.released)
            .ok_or(HostError::InvalidHandle)
    }

    fn user_entry_ref(&self, id: ConnId) -> Result<&Entry, HostError> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.entry.as_ref())
            .filter(|e| !e.released)
            .ok_or(HostError::InvalidHandle)
    }

    fn listener_mut(&mut self, id: ListenerId) -> Option<&mut Listener> {
        self.listeners
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)?
            .listener
            .as_mut()
    }

    fn listener_id(&self, index: u32) -> ListenerId {
        ListenerId {
            index,
            generation: self
                .listeners
                .get(index as usize)
                .map_or(0, |s| s.generation),
        }
    }

    fn find_listener(&self, local: SocketAddr) -> Option<u32> {
        let (ip, port) = (local.ip(), local.port());
        let any = unspecified(ip);
        [(ip, port), (any, port), (ip, 0), (any, 0)]
            .iter()
            .find_map(|k| self.listen_map.get(k).copied())
    }

    fn insert(
        &mut self,
        conn: Connection,
        local: SocketAddr,
        remote: SocketAddr,
        role: Role,
    ) -> ConnId {
        let entry = Entry {
            conn,
            local,
            remote,
            role,
            released: false,
            in_demux: true,
            ready: false,
            deadline: None,
            memory: 0,
            memory_wait: false,
        };
        let index = slot::claim(&mut self.slots, &mut self.free, entry);
        let slot = &self.slots[index as usize];
        self.live += 1;
        self.demux.insert(Tuple::new(local, remote), index);
        ConnId {
            index,
            generation: slot.generation,
        }
    }

    fn release_slot(&mut self, index: u32) {
        if let Some(slot) = self.slots.get_mut(index as usize) {
            if let Some(e) = slot.entry.take() {
                if e.memory_wait {
                    // Refused once for memory, gone before any came free: not a waiter any
                    // more, or the list grows with every such connection while memory stays
                    // short.
                    let id = ConnId {
                        index,
                        generation: slot.generation,
                    };
                    self.memory_waiters.retain(|w| *w != id);
                }
                self.buffer_memory -= e.memory;
                slot.generation = slot.generation.wrapping_add(1);
                self.live -= 1;
                self.free.push(index);
                // A connection given up with data still unread (in CLOSED or TIME-WAIT) frees
                // its memory only here; senders refused for lack of it must hear so, or they
                // wait for a `Writable` that never comes.
                if e.memory > 0 && !self.memory_waiters.is_empty() {
                    self.wake_memory_waiters();
                }
            }
        }
    }

    /// A new SYN to a TIME-WAIT connection that the user let go of but whose TCB is still
    /// here (its last ACK not yet out): judged like a compact entry (see
    /// `TimeWaitEntry::reopen_iss`). On reopening, the old connection is ended and the ISS for
    /// the new one returned.
    fn reopens_time_wait(&mut self, index: u32, seg: &TcpRepr<'_>) -> Option<u32> {
        if !seg.flags.syn() {
            return None;
        }
        let e = self.slots[index as usize].entry.as_mut()?;
        // Only an orphan: a user still holding the connection may have data left to read.
        if !e.released {
            return None;
        }
        let snapshot = e.conn.time_wait_snapshot()?;
        let id = ConnId {
            index,
            generation: self.slots[index as usize].generation,
        };
        let e = self.slots[index as usize].entry.as_mut()?;
        let iss =
            TimeWaitEntry::new(id, Tuple::new(e.local, e.remote), snapshot).reopen_iss(seg)?;
        // No reset leaves: ABORT in TIME-WAIT sends nothing (RFC 9293 §3.10.5).
        e.conn.abort();
        self.after(index);
        self.counters.time_wait_reopened += 1;
        Some(iss)
    }

    /// A segment for a compact TIME-WAIT entry. Returns the ISS when it is a SYN that reopens
    /// the 4-tuple (the entry is gone then).
    fn on_time_wait(
        &mut self,
        now: Instant,
        tw: u32,
        seg: &TcpRepr<'_>,
        listening: bool,
    ) -> Option<u32> {
        let two_msl = self.config.tcp.msl * 2;
        let slot = self.time_wait.get_mut(tw as usize)?;
        let generation = slot.generation;
        let entry = slot.entry.as_mut()?;
        let before = entry.expires;
        match entry.on_segment(now, seg, two_msl, listening) {
            Verdict::Drop => {}
            Verdict::Ack => {
                let (src, dst, ack) = (
                    entry.tuple.local().ip(),
                    entry.tuple.remote().ip(),
                    entry.ack(now),
                );
                if entry.expires != before {
                    self.timers.push(entry.expires, tw | TW_BIT, generation);
                }
                self.queue_control(src, dst, ack);
            }
            Verdict::Kill => {
                self.counters.time_wait_killed += 1;
                self.remove_time_wait(tw, Cause::RecvRst);
            }
            Verdict::Reopen { iss } => {
                // Ended as ABORT ends a TIME-WAIT TCB (RFC 9293 §3.10.5: nothing is sent),
                // which is how the full-TCB case above reports it too.
                self.counters.time_wait_reopened += 1;
                self.remove_time_wait(tw, Cause::UserAbort);
                return Some(iss);
            }
        }
        None
    }

    /// Swaps a released TIME-WAIT connection's TCB for a compact entry.
    fn compact_time_wait(&mut self, index: u32) {
        let Some(e) = self.slots[index as usize].entry.as_mut() else {
            return;
        };
        let Some(snapshot) = e.conn.time_wait_snapshot() else {
            return;
        };
        let tuple = Tuple::new(e.local, e.remote);
        e.in_demux = false;
        let id = ConnId {
            index,
            generation: self.slots[index as usize].generation,
        };
        self.release_slot(index);
        if self.time_wait_live >= self.config.max_time_wait {
            // Forgotten at once, as Linux does past tcp_max_tw_buckets: a 2MSL wait cut to
            // nothing, which tools still see end.
            self.counters.time_wait_overflow += 1;
            self.demux.remove(&tuple);
            self.events.push_back(HostEvent::StateChanged {
                conn: id,
                from: StateName::TimeWait,
                to: StateName::Closed,
                cause: Cause::TimeWaitExpired,
            });
            return;
        }
        let entry = TimeWaitEntry::new(id, tuple, snapshot);
        let expires = entry.expires;
        let tw = slot::claim(&mut self.time_wait, &mut self.time_wait_free, entry);
        let slot = &self.time_wait[tw as usize];
        self.time_wait_live += 1;
        self.timers.push(expires, tw | TW_BIT, slot.generation);
        self.demux.insert(tuple, tw | TW_BIT);
    }

    fn expire_time_wait(&mut self, at: Instant, tw: u32, generation: u32) {
        let live = self
            .time_wait
            .get(tw as usize)
            .filter(|s| s.generation == generation)
            .and_then(|s| s.entry.as_ref())
            .is_some_and(|e| e.expires == at);
        if live {
            self.counters.time_wait_expired += 1;
            self.remove_time_wait(tw, Cause::TimeWaitExpired);
        }
    }

    /// Frees a TIME-WAIT entry and its 4-tuple, and reports the end of the connection it was
    /// (state changes are traced for the whole life of a connection, see `HostEvent`).
    fn remove_time_wait(&mut self, tw: u32, cause: Cause) {
        let Some(slot) = self.time_wait.get_mut(tw as usize) else {
            return;
        };
        let Some(entry) = slot.entry.take() else {
            return;
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.time_wait_live -= 1;
        self.time_wait_free.push(tw);
        let tuple = entry.tuple;
        if self.demux.get(&tuple) == Some(&(tw | TW_BIT)) {
            self.demux.remove(&tuple);
        }
        self.events.push_back(HostEvent::StateChanged {
            conn: entry.conn,
            from: StateName::TimeWait,
            to: StateName::Closed,
            cause,
        });
    }

    fn deliver(&mut self, now: Instant, index: u32, seg: &TcpRepr<'_>) {
        let Some(e) = self.slots[index as usize].entry.as_mut() else {
            return;
        };
        if let Role::HalfOpen(l) = e.role {
            // Linux's answer to a full accept queue: drop the handshake's final ACK (and what
            // follows) and let the client retransmit until there is room.
            let completes = seg.flags.ack() && !seg.flags.syn() && !seg.flags.rst();
            let full = self.listeners[l as usize]
                .listener
                .as_ref()
                .is_some_and(|l| l.accept_queue_full());
            if completes && full && e.conn.state() == StateName::SynReceived {
                self.counters.listen_overflows += 1;
                self.counters.listen_drops += 1;
                return;
            }
        }
        let stripped = self.over_memory(index, seg);
        let Some(e) = self.slots[index as usize].entry.as_mut() else {
            return;
        };
        e.conn.handle_segment(now, stripped.as_ref().unwrap_or(seg));
        self.after(index);
    }

    /// RFC 9293 §3.10.7.2 for a listener, with the SYN queue, cookies and limits in front.
    fn on_listener(
        &mut self,
        now: Instant,
        l: u32,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        reopen_iss: Option<u32>,
    ) {
        let flags = seg.flags;
        if flags.rst() {
            return;
        }
        let Some(listener) = self.listeners[l as usize].listener.as_ref() else {
            return;
        };
        if flags.ack() {
            let recent = listener
                .last_cookie
                .is_some_and(|t| now - t < Duration::from_micros(2 * cookie::TICK_MICROS));
            if !flags.syn() && recent {
                let cookie = seg.ack.wrapping_sub(1);
                let peer_isn = seg.seq.wrapping_sub(1);
                match self.cookies.check(now, local, remote, cookie, peer_isn) {
                    Some(mss) => {
                        self.counters.syncookies_recv += 1;
                        // With timestamps, the echoed TSval brings back window scale and
                        // SACK-permitted; without, only the MSS survived.
                        let echoed = seg
                            .options
                            .timestamps
                            .filter(|ts| ts.tsecr != 0 && self.config.tcp.timestamps);
                        let (window_scale, sack) =
                            echoed.map_or((None, false), |ts| cookie::ts_decode(ts.tsecr));
                        let syn = CookieSyn {
                            mss,
                            window_scale,
                            sack,
                            timestamps: echoed.is_some(),
                        };
                        self.open_from_cookie(now, l, local, remote, seg, syn);
                        return;
                    }
                    None => self.counters.syncookies_failed += 1,
                }
            }
            // An ACK in LISTEN: <SEQ=SEG.ACK><CTL=RST>.
            self.reply_reset(local, remote, seg);
            return;
        }
        if !flags.syn() {
            return;
        }
        if listener.accept_queue_full() {
            // Linux drops SYNs while the accept queue is full.
            self.counters.listen_overflows += 1;
            self.counters.listen_drops += 1;
            return;
        }
        if !listener.syn_queue_full() {
            if self.live >= self.config.max_connections {
                self.counters.conn_limit_drops += 1;
                self.counters.listen_drops += 1;
                return;
            }
            let iss = reopen_iss.unwrap_or_else(|| isn::isn(&self.isn_key, now, local, remote));
            let mut conn = Connection::listen(&self.config.tcp, local.port(), iss);
            conn.set_ts_offset(self.ts_offset(local, remote));
            conn.handle_segment(now, seg);
            let id = self.insert(conn, local, remote, Role::HalfOpen(l));
            if let Some(listener) = self.listeners[l as usize].listener.as_mut() {
                listener.syn_queue.push_back(id);
            }
            self.after(id.index);
            return;
        }
        if !self.config.syn_cookies {
            self.counters.listen_drops += 1;
            return;
        }
        // The SYN queue is full: answer with a cookie and keep nothing (RFC 4987 §3.6).
        let default_mss = if remote.is_ipv4() { 536 } else { 1220 };
        let peer_mss = seg.options.mss.unwrap_or(default_mss);
        let (cookie, _) = self.cookies.make(now, local, remote, seg.seq, peer_mss);
        let tcp = &self.config.tcp;
        let mut options = TcpOptions {
            mss: Some(tcp.mss),
            ..TcpOptions::default()
        };
        // Window scale and SACK-permitted need state the sequence number has no room for; with
        // timestamps they ride in TSval's low bits, as Linux does. Without, they are not offered.
        if let (true, Some(ts)) = (tcp.timestamps, seg.options.timestamps) {
            let peer_ws = seg.options.window_scale.filter(|_| tcp.window_scaling);
            let sack = tcp.sack && seg.options.sack_permitted;
            options.window_scale = peer_ws.map(|_| tcp.rcv_wscale());
            options.sack_permitted = sack;
            options.timestamps = Some(Timestamps {
                tsval: cookie::ts_encode(
                    ts_clock_with(self.ts_offset(local, remote), now),
                    peer_ws,
                    sack,
                ),
                tsecr: ts.tsval,
            });
        }
        let syn_ack = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: cookie,
            ack: seg.seq.wrapping_add(1),
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: syn_ack_window(&self.config.tcp),
            urgent_ptr: 0,
            options,
            payload: &[],
        };
        if self.queue_control(local.ip(), remote.ip(), syn_ack) {
            self.counters.syncookies_sent += 1;
            if let Some(listener) = self.listeners[l as usize].listener.as_mut() {
                listener.last_cookie = Some(now);
            }
        }
    }

    fn open_from_cookie(
        &mut self,
        now: Instant,
        l: u32,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        syn: CookieSyn,
    ) {
        let full = self.listeners[l as usize]
            .listener
            .as_ref()
            .is_none_or(|l| l.accept_queue_full());
        if full {
            self.counters.listen_overflows += 1;
            self.counters.listen_drops += 1;
            return;
        }
        if self.live >= self.config.max_connections {
            self.counters.conn_limit_drops += 1;
            self.counters.listen_drops += 1;
            return;
        }
        // Data riding on the cookie ACK is in order, and the new connection holds nothing:
        // within its allowance (see `over_memory`).
        let stripped = (seg.payload.len() > MIN_RCV_ALLOWANCE)
            .then(|| self.strip_over_memory(true, seg))
            .flatten();
        let seg = stripped.as_ref().unwrap_or(seg);
        // Built from the bare ACK, so the connection has the host's TSval offset before data
        // or a FIN riding on the ACK is taken in (and timed against it).
        let bare = TcpRepr {
            payload: &[],
            flags: seg.flags.without(TcpFlags::FIN),
            ..*seg
        };
        let mut conn = Connection::from_cookie_ack(&self.config.tcp, now, &bare, syn);
        conn.set_ts_offset(self.ts_offset(local, remote));
        if !seg.payload.is_empty() || seg.flags.fin() {
            conn.handle_segment(now, seg);
        }
        let id = self.insert(conn, local, remote, Role::Queued(l));
        self.after(id.index);
        if let Some(listener) = self.listeners[l as usize].listener.as_mut() {
            listener.accept_queue.push_back(id);
        }
        self.events.push_back(HostEvent::Accepted {
            listener: self.listener_id(l),
            conn: id,
            local,
            remote,
        });
    }

    /// RFC 9293 §3.10.7.1: answer a segment that reached nothing, unless it is a reset.
    fn reply_reset(&mut self, local: SocketAddr, remote: SocketAddr, seg: &TcpRepr<'_>) {
        let Some((seq, ack)) = reset_for_unexpected(seg) else {
            return;
        };
        let mut flags = TcpFlags::RST;
        if ack.is_some() {
            flags |= TcpFlags::ACK;
        }
        let rst = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq,
            ack: ack.unwrap_or(0),
            flags,
            window: 0,
            urgent_ptr: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        self.queue_control(local.ip(), remote.ip(), rst);
    }

    fn queue_control(&mut self, src: IpAddr, dst: IpAddr, seg: TcpRepr<'static>) -> bool {
        if self.control.len() >= self.config.max_pending_control {
            self.counters.control_drops += 1;
            return false;
        }
        self.control.push_back(Control { src, dst, seg });
        true
    }

    /// After anything touched a connection: take its events, reschedule its timer, queue it
    /// for transmission, and unlink it once it is dead.
    fn after(&mut self, index: u32) {
        self.after_transmit(index);
        let Some(e) = self.slots[index as usize].entry.as_mut() else {
            return;
        };
        if !e.ready {
            e.ready = true;
            self.ready.push_back(index);
        }
        let state = e.conn.state();
        if e.in_demux && matches!(state, StateName::Closed | StateName::Listen) {
            // CLOSED, or a passive open that failed and fell back to LISTEN: the 4-tuple is
            // free again. A connection nobody was handed yet goes with it.
            e.in_demux = false;
            let tuple = Tuple::new(e.local, e.remote);
            if let Role::HalfOpen(l) | Role::Queued(l) = e.role {
                e.released = true;
                let id = ConnId {
                    index,
                    generation: self.slots[index as usize].generation,
                };
                if let Some(listener) = self.listeners[l as usize].listener.as_mut() {
                    listener.remove(id);
                }
            }
            if self.demux.get(&tuple) == Some(&index) {
                self.demux.remove(&tuple);
            }
        }
    }

    /// Events and timer of a connection, after it sent something or was otherwise touched.
    fn after_transmit(&mut self, index: u32) {
        let generation = self.slots[index as usize].generation;
        let id = ConnId { index, generation };
        loop {
            let Some(e) = self.slots[index as usize].entry.as_mut() else {
                return;
            };
            let Some(ev) = e.conn.poll_event() else {
                break;
            };
            self.on_conn_event(id, ev);
        }
        let Some(e) = self.slots[index as usize].entry.as_mut() else {
            return;
        };
        let memory = e.conn.buffered_bytes();
        let freed = memory < e.memory;
        self.buffer_memory = self.buffer_memory - e.memory + memory;
        e.memory = memory;
        let t = e.conn.poll_timeout();
        if t != e.deadline {
            e.deadline = t;
            if let Some(t) = t {
                self.timers.push(t, index, generation);
            }
        }
        if freed && !self.memory_waiters.is_empty() {
            self.wake_memory_waiters();
        }
    }

    /// Tells connections refused for lack of memory that there is room again.
    fn wake_memory_waiters(&mut self) {
        if self.buffer_memory >= self.config.max_buffer_memory {
            return;
        }
        for id in core::mem::take(&mut self.memory_waiters) {
            if let Some(e) = self.entry_mut(id) {
                e.memory_wait = false;
                if !e.released {
                    self.events.push_back(HostEvent::Writable(id));
                }
            }
        }
    }

    /// The memory cap on the receive side: data that would take the host past it is dropped
    /// before the connection sees it, leaving the ACK and window to be processed. Out-of-order
    /// data goes first, from 7/8 of the cap, since it cannot be read yet anyway (Linux prunes
    /// its out-of-order queue first under pressure too). The peer, never having had these bytes
    /// acknowledged, sends them again.
    fn over_memory<'a>(&mut self, index: u32, seg: &TcpRepr<'a>) -> Option<TcpRepr<'a>> {
        if seg.payload.is_empty() {
            return None;
        }
        let e = self.slots[index as usize].entry.as_ref()?;
        // Data on a SYN follows it directly.
        let in_order = seg.flags.syn() || e.conn.rcv_nxt() == Some(seg.seq);
        if in_order && e.conn.recv_buffered() < MIN_RCV_ALLOWANCE {
            // Below its allowance a connection takes in-order data whatever the host total, as
            // Linux lets every socket have `tcp_rmem[0]` under memory pressure. Without it, two
            // hosts whose memory is all unacknowledged data for each other deadlock: neither
            // can take a byte, so neither's data is ever acknowledged and freed.
            return None;
        }
        self.strip_over_memory(in_order, seg)
    }

    /// `seg` without its data (and the FIN behind it) when its data does not fit under the
    /// memory cap; see `over_memory`.
    fn strip_over_memory<'a>(&mut self, in_order: bool, seg: &TcpRepr<'a>) -> Option<TcpRepr<'a>> {
        if seg.payload.is_empty() {
            return None;
        }
        let limit = self.config.max_buffer_memory;
        let cap = if in_order { limit } else { limit - limit / 8 };
        if self.buffer_memory + seg.payload.len() <= cap {
            return None;
        }
        self.counters.rcv_memory_drops += 1;
        Some(TcpRepr {
            payload: &[],
            flags: seg.flags.without(TcpFlags::FIN),
            ..*seg
        })
    }

    fn on_conn_event(&mut self, id: ConnId, ev: Event) {
        let Some(e) = self.slots[id.index as usize].entry.as_mut() else {
            return;
        };
        let host_ev = match ev {
            Event::StateChanged { from, to, cause } => {
                use StateName::*;
                if (from, to) == (Closed, Listen) {
                    // A half-open connection is built as a one-shot LISTEN fed the SYN; that
                    // first step is bookkeeping, not news.
                    return;
                }
                let c = &mut self.counters;
                match (from, to) {
                    (Closed, SynSent) => c.active_opens += 1,
                    (Listen, SynReceived | Established) => c.passive_opens += 1,
                    (SynSent | SynReceived, Closed) | (SynReceived, Listen) => c.attempt_fails += 1,
                    (Established | CloseWait, Closed) => c.estab_resets += 1,
                    _ => {}
                }
                let counted = |s: StateName| matches!(s, Established | CloseWait);
                if counted(to) && !counted(from) {
                    c.curr_estab += 1;
                } else if counted(from) && !counted(to) {
                    c.curr_estab = c.curr_estab.saturating_sub(1);
                }
                if let (SynReceived, Established, Role::HalfOpen(l)) = (from, to, e.role) {
                    // The handshake completed: from the SYN queue to the accept queue.
                    e.role = Role::Queued(l);
                    let (local, remote) = (e.local, e.remote);
                    if let Some(listener) = self.listeners[l as usize].listener.as_mut() {
                        listener.syn_queue.retain(|c| *c != id);
                        listener.accept_queue.push_back(id);
                    }
                    let listener = self.listener_id(l);
                    self.events.push_back(HostEvent::StateChanged {
                        conn: id,
                        from,
                        to,
                        cause,
                    });
                    self.events.push_back(HostEvent::Accepted {
                        listener,
                        conn: id,
                        local,
                        remote,
                    });
                    return;
                }
                HostEvent::StateChanged {
                    conn: id,
                    from,
                    to,
                    cause,
                }
            }
            Event::Readable => HostEvent::Readable(id),
            Event::Writable => HostEvent::Writable(id),
            Event::Closed { error } => HostEvent::Closed(id, error),
        };
        // State changes are a trace of the protocol (tools draw them, as Linux's
        // `tcp:tcp_set_state` tracepoint shows them), so they are reported for the whole life
        // of a connection, FIN-WAIT-1 to CLOSED after `close` included. The other events are
        // for a user who still holds the handle.
        let e_released = self.slots[id.index as usize]
            .entry
            .as_ref()
            .is_none_or(|e| e.released);
        if !e_released || matches!(host_ev, HostEvent::StateChanged { .. }) {
            self.events.push_back(host_ev);
        }
    }
}
