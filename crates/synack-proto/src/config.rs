//! Per-connection knobs, with Linux-like defaults (see DESIGN.md "Defaults").

use alloc::sync::Arc;
use core::ops::{Deref, DerefMut};
use core::time::Duration;

pub use crate::congestion::{CongestionControl, CongestionSettings};

/// Settings a connection is created with. Every field is public and has a default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Initial retransmission timeout before any RTT sample (RFC 6298 §2.1).
    pub rto_initial: Duration,
    /// Lower bound of the RTO. RFC 6298 §2.4 says 1 s; Linux and we use 200 ms.
    pub rto_min: Duration,
    /// Upper bound of the RTO (RFC 6298 §2.5 allows any maximum of at least 60 s).
    pub rto_max: Duration,
    /// SYN retransmissions before an active open gives up (Linux `tcp_syn_retries`).
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before a passive open gives up (Linux `tcp_synack_retries`).
    pub synack_retries: u32,
    /// Retransmissions of data or FIN before the connection fails (Linux `tcp_retries2`).
    pub data_retries: u32,
    /// Maximum segment lifetime; TIME-WAIT lasts twice this (RFC 9293 §3.4.2).
    pub msl: Duration,
    /// How long an orphaned connection may sit in FIN-WAIT-2 (Linux `tcp_fin_timeout`).
    pub fin_wait2_timeout: Duration,
    /// The link MTU: the largest IP packet the interface carries. The MSS we announce (the
    /// largest segment we can receive, RFC 9293 §3.7.1) is what it leaves once the IP and TCP
    /// headers are counted, which differs by address family: see [`Config::mss_for`].
    pub mtu: u16,
    /// The most the MSS we announce may be, whatever the MTU allows (`TCP_MAXSEG` before the
    /// connection opens). `u16::MAX` leaves it to the MTU.
    pub mss: u16,
    /// Initial receive buffer size in bytes; the advertised window never exceeds the buffer.
    /// 0 counts as 1, so the window can always open.
    pub recv_buffer: usize,
    /// Largest the receive buffer may grow to by auto-tuning (Linux `tcp_rmem[2]`); the
    /// window-scale shift is chosen so this much can be advertised. At or below `recv_buffer`,
    /// the buffer keeps its initial size.
    pub recv_buffer_max: usize,
    /// Initial send buffer size in bytes; `send` accepts no more than the buffer holds
    /// unacknowledged. 0 counts as 1, so a write always gets in once all is acknowledged.
    pub send_buffer: usize,
    /// Largest the send buffer may grow to as the congestion window grows (Linux
    /// `tcp_wmem[2]`). At or below `send_buffer`, the buffer keeps its initial size.
    pub send_buffer_max: usize,
    /// Most bytes written but not yet sent that the send buffer takes (Linux
    /// `TCP_NOTSENT_LOWAT`); `None` lets unsent data fill the whole buffer. Data in flight is
    /// not counted, so a large buffer still keeps a large window busy, but the application
    /// cannot run far ahead of the wire: writing a megabyte ahead only adds latency and
    /// pushes the buffer out of the CPU caches (see the `bulk` benchmark). `Some(0)` counts
    /// as `Some(1)`: with nothing unsent, a write always gets in.
    pub notsent_lowat: Option<usize>,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer SACK-permitted (RFC 2018).
    pub sack: bool,
    /// Offer timestamps (RFC 7323 §3).
    pub timestamps: bool,
    /// Put options on our SYN or SYN-ACK. Off (FreeBSD's `TCP_NOOPT`), the handshake carries
    /// no MSS, window scale, SACK-permitted or timestamps, so none of the last three is in
    /// force and the peer assumes the default MSS (RFC 9293 §3.7.1); the peer's MSS is still
    /// honoured, since it only bounds what we send.
    pub syn_options: bool,
    /// Give up on a handshake that has not completed this long after it began (FreeBSD's
    /// `TCP_KEEPINIT`): the active side fails with a timeout, a half-open passive one is
    /// dropped. `None` leaves it to `syn_retries` and `synack_retries`.
    pub connect_timeout: Option<Duration>,
    /// Challenge ACKs a connection may send per second (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// The congestion controller and the loss-recovery features it runs.
    pub congestion: CongestionSettings,
    /// Longest an ACK may be delayed (Linux uses 40 ms); `None` acknowledges every segment at
    /// once. RFC 1122 §4.2.3.2 requires the delay to stay under 0.5 s: a longer setting is
    /// held to 499 ms.
    pub delayed_ack: Option<Duration>,
    /// Data segments acknowledged at once at the start of a connection (Linux quick-ACK).
    pub quickack_segments: u32,
    /// Request/response mode (Linux's "pingpong"): once we send data within `delayed_ack` of
    /// data arriving, quick-ACK is skipped and ACKs wait to ride on the reply, until a
    /// delayed-ACK timer fires. Off, the first `quickack_segments` are always acknowledged at
    /// once. On by default, as in Linux.
    pub interactive_acks: bool,
    /// Keepalive probing of an idle connection (RFC 1122 §4.2.3.6); off by default.
    pub keepalive: Option<Keepalive>,
    /// The IP header fields the connection's datagrams carry (`IP_TOS`, `IP_TTL`,
    /// `IPV6_TCLASS`, `IPV6_UNICAST_HOPS`); unset fields are the host's.
    pub ip: IpHeaderOptions,
    /// Give up when sent data stays unacknowledged this long (`TCP_USER_TIMEOUT`, the local
    /// half of RFC 5482; RFC 9293 §3.8.3's USER TIMEOUT); `None` leaves it to `data_retries`.
    pub user_timeout: Option<Duration>,
    /// Turn Nagle's algorithm off (`TCP_NODELAY`): a short tail of data goes out at once even
    /// while earlier data is unacknowledged.
    pub nodelay: bool,
    /// Which form of Nagle's rule holds back a short tail while `nodelay` is off.
    pub nagle: Nagle,
    /// Read the last urgent byte in the stream (`SO_OOBINLINE`) rather than hold it apart as
    /// the out-of-band byte; off by default, as on BSD and Linux.
    pub urgent_inline: bool,
}

/// The least MSS a connection announces or takes (Linux's `TCP_MIN_MSS`): a smaller one
/// would spend most of each packet on headers.
pub const MIN_MSS: u16 = 88;

/// The two forms of Nagle's algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Nagle {
    /// Minshall's variant (draft-minshall-nagle, as Linux does): a short segment waits only
    /// while an earlier *short* segment is unacknowledged. A response of a full segment and a
    /// short tail leaves at once, so it does not sit out the peer's delayed ACK.
    #[default]
    Minshall,
    /// RFC 896 as RFC 1122 §4.2.3.4 words it: a short segment waits while anything sent is
    /// unacknowledged.
    Classic,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            syn_retries: 6,
            synack_retries: 5,
            data_retries: 15,
            msl: Duration::from_secs(30),
            fin_wait2_timeout: Duration::from_secs(60),
            mtu: 1500,
            mss: u16::MAX,
            recv_buffer: 256 * 1024,
            recv_buffer_max: 4 * 1024 * 1024,
            send_buffer: 256 * 1024,
            send_buffer_max: 4 * 1024 * 1024,
            notsent_lowat: Some(128 * 1024),
            window_scaling: true,
            sack: true,
            timestamps: true,
            syn_options: true,
            connect_timeout: None,
            challenge_ack_limit: 10,
            congestion: CongestionSettings::default(),
            delayed_ack: Some(Duration::from_millis(40)),
            quickack_segments: 16,
            interactive_acks: true,
            nodelay: false,
            nagle: Nagle::Minshall,
            urgent_inline: false,
            keepalive: None,
            user_timeout: None,
            ip: IpHeaderOptions::default(),
        }
    }
}

/// The IP header fields an application sets for its connection's datagrams, per family;
/// `None` leaves the host's value (TOS 0, the host's hop limit). RFC 1122 §4.2.4.2 lets the
/// application choose the TOS of its segments. The two ECN bits are not the application's
/// (RFC 3168 §5): they are dropped from what is set here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpHeaderOptions {
    /// `IP_TOS`: the DS field of IPv4 datagrams.
    pub tos: Option<u8>,
    /// `IP_TTL`.
    pub ttl: Option<u8>,
    /// `IPV6_TCLASS`: the DS field of IPv6 datagrams.
    pub tclass: Option<u8>,
    /// `IPV6_UNICAST_HOPS`.
    pub hops: Option<u8>,
}

impl IpHeaderOptions {
    /// (DS field, hop limit) for a datagram of one family.
    pub fn for_family(&self, ipv6: bool) -> (Option<u8>, Option<u8>) {
        if ipv6 {
            (self.tclass, self.hops)
        } else {
            (self.tos, self.ttl)
        }
    }
}

/// Keepalive settings, with Linux's defaults in `Keepalive::default()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Silence from the peer before the first probe (`TCP_KEEPIDLE`, RFC 1122: at least 2 h).
    pub idle: Duration,
    /// Between unanswered probes (`TCP_KEEPINTVL`).
    pub interval: Duration,
    /// Unanswered probes before the connection is declared dead (`TCP_KEEPCNT`).
    pub count: u32,
}

impl Default for Keepalive {
    fn default() -> Keepalive {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            count: 9,
        }
    }
}

/// The longest delay of an ACK in force whatever `Config::delayed_ack` says: RFC 1122
/// §4.2.3.2 requires less than 0.5 s.
const ACK_DELAY_LIMIT: Duration = Duration::from_millis(499);

impl Config {
    /// The delayed-ACK timeout in force: `delayed_ack` held under RFC 1122 §4.2.3.2's limit.
    pub(crate) fn ack_delay(&self) -> Option<Duration> {
        self.delayed_ack.map(|d| d.min(ACK_DELAY_LIMIT))
    }

    /// The most the receive buffer can ever hold: its auto-tuning limit, or its initial size
    /// when that is larger.
    pub fn recv_buffer_limit(&self) -> usize {
        self.recv_buffer.max(self.recv_buffer_max)
    }

    /// The most the send buffer can ever hold.
    pub fn send_buffer_limit(&self) -> usize {
        self.send_buffer.max(self.send_buffer_max)
    }

    /// The MSS to announce on a connection over IPv6 (`ipv6`) or IPv4: the link MTU less a
    /// fixed IP header (20 bytes for IPv4, 40 for IPv6, RFC 8200 §3) and a TCP header without
    /// options (20), as RFC 9293 §3.7.1 says, and no more than `mss`. At a 1500-byte MTU that
    /// is 1460 for IPv4 and 1440 for IPv6. A link too small for the headers still leaves
    /// `MIN_MSS` (Linux's `TCP_MIN_MSS`); a smaller `mss` asked for is kept.
    pub fn mss_for(&self, ipv6: bool) -> u16 {
        let headers = if ipv6 { 40 + 20 } else { 20 + 20 };
        self.mtu
            .saturating_sub(headers)
            .max(MIN_MSS)
            .min(self.mss)
            .max(1)
    }

    /// These settings for one connection over IPv6 (`ipv6`) or IPv4, with `mss` lowered to
    /// [`Config::mss_for`] that family. A connection keeps its settings in this form, so its
    /// `mss` is the MSS it announces; one made without saying (`Connection::connect` and
    /// `listen` on a bare `Config`) is taken to be IPv4's.
    pub fn for_family(&self, ipv6: bool) -> Config {
        Config {
            mss: self.mss_for(ipv6),
            ..self.clone()
        }
    }

    /// Whether our SYN or SYN-ACK offers window scaling, SACK-permitted and timestamps: each
    /// as set, and none without options on the handshake at all.
    pub fn offers(&self) -> (bool, bool, bool) {
        let on = self.syn_options;
        (
            on && self.window_scaling,
            on && self.sack,
            on && self.timestamps,
        )
    }

    /// The window-scale shift we offer. It is fixed on the SYN, so it must fit the largest
    /// buffer auto-tuning may reach, not the initial one: the smallest shift that lets
    /// `recv_buffer_limit()` be advertised in 16 bits, at most 14 (RFC 7323 §2.3).
    pub fn rcv_wscale(&self) -> u8 {
        let limit = self.recv_buffer_limit();
        let mut shift = 0u8;
        while shift < 14 && (usize::from(u16::MAX) << shift) < limit {
            shift += 1;
        }
        shift
    }
}

/// A connection's settings as it holds them: one allocation shared by every connection opened
/// with the same settings (the host's defaults, a listener's), so a million connections do not
/// keep a million copies. Changing one connection's settings (a socket option) gives that
/// connection a copy of its own first, so the others never see it.
#[derive(Clone, Debug)]
pub(crate) struct SharedConfig(Arc<Config>);

impl SharedConfig {
    pub fn new(config: Config) -> SharedConfig {
        SharedConfig(Arc::new(config))
    }
}

impl Deref for SharedConfig {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.0
    }
}

/// Copy on write: see the type's description.
impl DerefMut for SharedConfig {
    fn deref_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.0)
    }
}
