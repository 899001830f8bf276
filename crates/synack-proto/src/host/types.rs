//! The host's public types: its settings, handles, errors and events.

use core::net::{IpAddr, SocketAddr};
use core::ops::RangeInclusive;

use alloc::vec::Vec;

use super::slot::SlabId;
use crate::config::Config;
use crate::conn::{Cause, StateName};
use crate::error::{CallError, ConnError};

/// Host-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// Key material for every keyed hash (demux table, ISNs, ports, cookies). The runtime fills
    /// it from the OS's random source; tests pick one so runs repeat exactly.
    pub secret: u128,
    /// Settings for connections opened without their own (`Host::listen`, `Host::connect`;
    /// see `listen_with` and `connect_with`).
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
    /// The device cuts large TCP segments into MSS-sized ones (TSO, or a TUN interface with
    /// the virtio-net header): `poll_transmit` may then join consecutive full-sized segments
    /// of a connection into one super-segment of up to 64 KiB, as big as the caller's buffer
    /// allows, with [`Transmit::segment_size`] saying where to cut. Each piece is decided by
    /// the per-MSS rules (congestion and peer windows, Nagle, SWS avoidance, the SACK
    /// scoreboard, RACK's send times), so the pieces are exactly the segments sent without
    /// it. A super-segment leaves its TCP checksum to the device (the pseudo-header sum, as
    /// with `checksum_offload`). Off by default: where nothing cuts them, super-segments
    /// would be dropped by a link with an MTU.
    pub segmentation_offload: bool,
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
            segmentation_offload: false,
        }
    }
}

/// A connection on a host. Holds a generation, so a handle to a connection that has gone
/// never reaches whatever later took its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(super) SlabId);

/// A listener on a host, with the same stale-handle protection as [`ConnId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub(super) SlabId);

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
    Call(#[from] CallError),
}

/// Something that happened on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// A connection completed its handshake on `listener` and waits in its accept queue.
    /// While it lives, [`Host::local_addr`](super::Host::local_addr) gives the address the
    /// peer connected to (for a wildcard listener, the original destination) and
    /// [`Host::peer_addr`](super::Host::peer_addr) the peer; one reset before it is accepted
    /// may already be gone when this event is read. Not carried here: two socket addresses
    /// would make every event four times the size, and events are queued and moved on every
    /// touch of a connection.
    Accepted { listener: ListenerId, conn: ConnId },
    /// New data, or the peer's end of stream, can be read.
    Readable(ConnId),
    /// Send buffer space was freed.
    Writable(ConnId),
    /// The connection reached CLOSED; the error says why when it was not orderly.
    Closed(ConnId, Option<ConnError>),
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

/// A datagram `Host::poll_transmit` wrote to the front of the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Its length in bytes, IP header included.
    pub len: usize,
    /// Our end: the source address and TCP port.
    pub src: SocketAddr,
    /// The destination address and TCP port.
    pub dst: SocketAddr,
    /// Set for a super-segment (`HostConfig::segmentation_offload`): the device cuts it into
    /// segments of this many payload bytes (the last may be shorter), each with its header
    /// and the sequence number advanced, PSH and FIN on the last only; its TCP checksum
    /// field holds the pseudo-header sum. The virtio-net header's `gso_size`.
    pub segment_size: Option<u16>,
}
