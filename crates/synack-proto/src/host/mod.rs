//! The host: many connections and listeners behind one IP interface, in the same sans-IO shape
//! as a connection.
//!
//! ```text
//! host.handle_packet(now, &ip_bytes);                        // one IPv4 or IPv6 datagram in
//! while let Some(t) = host.poll_transmit(now, &mut buf) { device.send(&buf[..t.len]); }
//! host.poll_timeout() / host.handle_timeout(now)
//! host.poll_event()                                          // Readable(id), Closed(id, why), …
//! ```
//!
//! What it adds to a [`Connection`]: demultiplexing by 4-tuple (a keyed hash table, since the
//! tuple is attacker-chosen), handles that cannot be confused after a slot is reused (index
//! plus generation), listeners with a SYN queue and an accept queue and SYN cookies once the
//! SYN queue is full (RFC 4987), RFC 6528 ISNs, RFC 6056 ephemeral ports, resets for segments
//! that match nothing (RFC 9293 §3.10.7.1), one timer schedule for everything, and Linux-style
//! counters.

mod audit;
mod batch;
mod bookkeeping;
mod cookie;
mod counters;
mod demux;
mod handle;
mod icmp;
mod isn;
mod keys;
mod listen;
mod memory;
mod packet;
mod ports;
mod slot;
mod tag_table;
#[cfg(test)]
mod tests;
mod time_wait;
mod timers;
mod tuple;
mod types;
mod user;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hashbrown::HashMap;
use synack_wire::TcpRepr;

use self::cookie::CookieJar;
pub use self::counters::Counters;
use self::demux::Demux;
pub use self::handle::ConnMut;
use self::keys::{FoldKey, Key, ListenKey};
use self::listen::Listener;
use self::ports::PortAllocator;
use self::slot::{CacheLine, Slab, SlabId};
use self::time_wait::TimeWaitEntry;
use self::timers::Timers;
use self::tuple::Tuple;
pub use self::types::{ConnId, HostConfig, HostError, HostEvent, ListenerId, Transmit};
use crate::config::{Config, SharedConfig};
use crate::congestion::SpareParts;
use crate::conn::{Connection, StateName};
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// In a listener's SYN queue.
    HalfOpen(ListenerId),
    /// In a listener's accept queue.
    Queued(ListenerId),
    /// Handed to the user (by `connect` or `accept`).
    User,
}

/// A connection on the host. `repr(C)` in this order on purpose: a lookup compares the tuple,
/// and the host's bookkeeping after every segment reads the flags, the memory count and the
/// deadline, so all of them share the slot's first cache lines (after its generation, see
/// `slot::Slot`) rather than landing wherever the compiler would put them behind the ~800
/// bytes of the connection. At a million connections each line is a cache miss.
#[repr(C)]
struct Entry {
    /// Our address and the peer's.
    tuple: Tuple,
    /// Nobody holds the handle any more (closed or aborted by the user, or a passive open
    /// that died before it was accepted): the slot is freed once the connection is CLOSED and
    /// its last segments are out.
    released: bool,
    /// Still reachable by 4-tuple.
    in_demux: bool,
    /// In the queue of connections that may have something to send.
    ready: bool,
    /// A `send` was refused for lack of host memory: report `Writable` when there is room.
    memory_wait: bool,
    /// `take_error` has reported the error that ended the connection.
    error_taken: bool,
    role: Role,
    /// Bytes of this connection counted in `Host::buffer_memory`.
    memory: usize,
    /// The live entry this connection has on the timer heap, if any: never later than its
    /// deadline (`Connection::poll_timeout`). Deadlines mostly move later or vanish between
    /// touches (the retransmission timer restarted by each ACK, a delayed ACK sent with a
    /// reply), so a touch pushes only when its deadline comes before this one; when this entry
    /// comes due the real deadline is looked at then, and put back on the heap if it is later
    /// (lazy re-arming).
    armed: Option<Instant>,
    conn: Connection,
}

/// What a 4-tuple in the demux table, or an entry on the timer heap, stands for. Connections
/// order before TIME-WAIT entries, so timers due at the same instant fire connections first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// A connection with its full TCB.
    Conn(ConnId),
    /// A compact TIME-WAIT entry.
    TimeWait(SlabId),
}

/// A segment the host itself sends: a reset for a segment that matched nothing, or a cookie
/// SYN-ACK.
struct Control {
    src: IpAddr,
    dst: IpAddr,
    seg: TcpRepr<'static>,
    /// The DS field and hop limit of the listener a cookie SYN-ACK answers for, if its user
    /// set them (see `IpHeaderOptions`); the host's otherwise.
    ip: (Option<u8>, Option<u8>),
}

/// Many connections and listeners behind one interface.
pub struct Host {
    config: HostConfig,
    /// `config.tcp` made for IPv4 and for IPv6 (`Config::for_family`), shared by the
    /// connections opened with the host's defaults.
    tcp: SharedConfig,
    tcp_v6: SharedConfig,
    conns: Slab<Entry, CacheLine>,
    demux: Demux,
    time_wait: Slab<TimeWaitEntry>,
    /// Bytes all connections hold in their buffers, and those waiting for some of it.
    buffer_memory: usize,
    memory_waiters: Vec<ConnId>,
    listeners: Slab<Listener>,
    listen_map: HashMap<ListenKey, ListenerId, Key>,
    /// Keys RFC 6528's F() and the TSval offset of a 4-tuple (`isn::TupleSecrets`).
    tuple_key: Key,
    cookies: CookieJar,
    ports: PortAllocator,
    timers: Timers,
    ready: VecDeque<ConnId>,
    control: VecDeque<Control>,
    events: VecDeque<HostEvent>,
    /// Scoreboards and loss detectors of connections gone, for the next handshakes.
    spares: SpareParts,
    counters: Counters,
    /// The most payload and options one segment may carry: see `max_payload`.
    max_payload: usize,
    /// The timers `handle_timeout` is running, kept for its next call.
    due: Vec<(Instant, Target)>,
}

/// Room for one segment's payload of a connection with settings `tcp`: a 1500-byte MTU's
/// worth, or the link MTU if larger (jumbo frames), plus room for options.
fn max_payload(tcp: &Config) -> usize {
    usize::from(tcp.mtu).max(1500) + 64
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
        let demux_key = FoldKey::derive(secret, b"synack demux");
        let ports = PortAllocator::new(
            Key::derive(secret, b"synack ports"),
            config.ephemeral_ports.clone(),
        );
        let payload = max_payload(&config.tcp);
        Host {
            conns: Slab::default(),
            demux: Demux::new(demux_key),
            time_wait: Slab::default(),
            buffer_memory: 0,
            memory_waiters: Vec::new(),
            listeners: Slab::default(),
            listen_map: HashMap::with_hasher(Key::derive(secret, b"synack listeners")),
            tuple_key: Key::derive(secret, b"synack isn and tsval"),
            cookies: CookieJar::new(secret),
            ports,
            timers: Timers::default(),
            ready: VecDeque::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            spares: SpareParts::default(),
            counters: Counters::default(),
            max_payload: payload,
            due: Vec::new(),
            tcp: SharedConfig::new(config.tcp.for_family(false)),
            tcp_v6: SharedConfig::new(config.tcp.for_family(true)),
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
        self.conns.len()
    }

    /// 4-tuples in the compact TIME-WAIT table (connections the user let go of).
    pub fn time_wait_count(&self) -> usize {
        self.time_wait.len()
    }

    /// The state of whatever holds the 4-tuple `local`–`remote`, handle or not — what `ss` or
    /// `netstat` would list: TIME-WAIT for a compact entry, else the connection's state.
    pub fn tuple_state(&self, local: SocketAddr, remote: SocketAddr) -> Option<StateName> {
        match self.demux_get(&Tuple::new(local, remote))? {
            Target::TimeWait(_) => Some(StateName::TimeWait),
            Target::Conn(id) => Some(self.conns.get(id.0)?.conn.state()),
        }
    }

    /// Whether `local`–`remote` is in the compact TIME-WAIT table.
    pub fn in_time_wait(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        matches!(
            self.demux_get(&Tuple::new(local, remote)),
            Some(Target::TimeWait(_))
        )
    }

    /// Our TSval offset for a 4-tuple: the same for every incarnation (see
    /// `Connection::set_ts_offset`), unguessable without the secret.
    fn ts_offset(&self, tuple: &Tuple) -> u32 {
        self.tuple_secrets(tuple).ts_offset
    }

    /// The ISN offset and TSval offset of a 4-tuple, from one keyed hash.
    fn tuple_secrets(&self, tuple: &Tuple) -> isn::TupleSecrets {
        isn::TupleSecrets::of(&self.tuple_key, tuple)
    }

    /// A connection opening with settings of its own may send larger segments than the
    /// host's defaults allow.
    fn fit_max_payload(&mut self, tcp: &Config) {
        self.max_payload = self.max_payload.max(max_payload(tcp));
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        self.config.local_addrs.is_empty() || self.config.local_addrs.contains(&ip)
    }

    fn entry(&self, id: ConnId) -> Option<&Entry> {
        self.conns.get(id.0)
    }

    fn entry_mut(&mut self, id: ConnId) -> Option<&mut Entry> {
        self.conns.get_mut(id.0)
    }

    /// A connection the user still holds.
    fn user_entry(&mut self, id: ConnId) -> Result<&mut Entry, HostError> {
        self.entry_mut(id)
            .filter(|e| !e.released)
            .ok_or(HostError::InvalidHandle)
    }

    fn user_entry_ref(&self, id: ConnId) -> Result<&Entry, HostError> {
        self.entry(id)
            .filter(|e| !e.released)
            .ok_or(HostError::InvalidHandle)
    }
}
