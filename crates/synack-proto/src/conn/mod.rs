//! One TCP connection (a TCB) as a sans-IO state machine.
//!
//! The caller feeds segments in with [`Connection::handle_segment`], takes segments out with
//! [`Connection::poll_transmit`], drives timers with [`Connection::poll_timeout`] and
//! [`Connection::handle_timeout`], and reads what happened from [`Connection::poll_event`].
//! Nothing here knows IP addresses: the host layer maps 4-tuples to connections.

mod ack_policy;
mod arrival;
mod borrowed;
mod events;
mod expiry;
mod handshake;
pub(crate) mod host_api;
mod negotiate;
mod output;
mod recv;
mod ring;
mod rtt;
mod send;
mod state;
#[cfg(test)]
mod tests_layout;
pub(crate) mod time_wait;
mod timer;
mod transitions;
mod tuning;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::mem;
use core::time::Duration;

pub(crate) use arrival::reset_for_unexpected;
pub use host_api::ts_clock;
pub(crate) use host_api::{TimeWaitSnapshot, syn_ack_window};
pub(crate) use negotiate::CookieSyn;
pub use recv::UrgentByte;
pub use state::StateName;
pub use transitions::{Cause, TRANSITIONS, Transition, is_legal};

use self::ack_policy::AckPolicy;
use self::events::EventQueue;
use self::recv::Receiver;
use self::send::Sender;
use self::state::{Closed, Listen, Phase, State, SynSent, Synced};
use self::timer::{Moment, Timer, TimerTable};
use crate::config::{Config, SharedConfig};
use crate::error::{CallError, ConnError};
use crate::seq::SeqNum;
use crate::time::Instant;

/// Something that happened on a connection, for the application and for tools that draw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The connection moved along an edge of [`TRANSITIONS`].
    StateChanged {
        from: StateName,
        to: StateName,
        cause: Cause,
    },
    /// New data, or the peer's end-of-stream, can be read.
    Readable,
    /// Send buffer space was freed.
    Writable,
    /// The connection reached CLOSED; `error` says why when it was not an orderly end.
    Closed { error: Option<ConnError> },
}

/// A snapshot of a connection's internals, in the spirit of Linux's `tcp_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    pub state: StateName,
    pub snd_una: u32,
    pub snd_nxt: u32,
    pub snd_wnd: u32,
    pub rcv_nxt: u32,
    pub rcv_wnd: u32,
    pub srtt: Option<Duration>,
    pub rttvar: Duration,
    pub rto: Duration,
    pub snd_mss: u32,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub sack: bool,
    pub timestamps: bool,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_retransmitted: u64,
    /// Congestion control and loss recovery: controller, phase, cwnd, ssthresh, counters.
    pub cc: crate::CongestionInfo,
    pub rto_expirations: u64,
    /// Consecutive retransmission timeouts without progress.
    pub backoff: u32,
    pub unacked: u32,
    pub send_buffered: usize,
    pub recv_buffered: usize,
    /// Bytes kept beyond a gap in the received sequence space.
    pub recv_out_of_order: usize,
    /// Current buffer sizes (auto-tuning grows them from the configured initial sizes).
    pub send_buffer: usize,
    pub recv_buffer: usize,
    /// The receiver's own round-trip estimate, which paces receive-buffer auto-tuning.
    pub rcv_rtt: Option<Duration>,
}

/// The per-connection offset added to our millisecond clock for TSval: RFC 7323 §5.4 asks for
/// one that outsiders cannot guess; ours is derived from the caller-chosen ISS, unless the
/// host sets one per 4-tuple (`Connection::set_ts_offset`).
pub(crate) fn ts_offset(iss: u32) -> u32 {
    iss.rotate_left(13)
}

/// TSval at `now` for a connection whose offset is `offset`.
pub(crate) fn ts_clock_with(offset: u32, now: Instant) -> u32 {
    (now.as_millis() as u32).wrapping_add(offset)
}

/// A reset to send that does not come from the connection's own sequence space, e.g.
/// `<SEQ=SEG.ACK><CTL=RST>` for an unacceptable ACK (RFC 9293 §3.10.7).
#[derive(Clone, Copy, Debug)]
struct Reset {
    seq: SeqNum,
    ack: Option<SeqNum>,
    /// Resets answer whoever sent the offending segment, which need not be our peer (a
    /// listening or closed connection has none).
    dst_port: u16,
}

/// At most this many resets wait for `poll_transmit`; more in one burst are dropped, since a
/// hostile peer should not make us buffer without bound.
const MAX_PENDING_RESETS: usize = 8;

/// One TCP connection.
///
/// `repr(C)`, hot fields first. With a million connections open, a segment's cost is the
/// cache lines of its TCB it waits for, not its instructions: here what every segment reads
/// or writes (the clock, liveness, the timers, the event queue, the settings pointer, the
/// negotiated options) leads, the state follows with its own hot fields first (`Sender`,
/// `Receiver`, `Congestion`), and what only rare events touch (challenge ACKs, out-of-window
/// ACKs, counters, `info()` after the end) comes last.
#[derive(Debug)]
#[repr(C)]
pub struct Connection {
    /// The latest time any call brought: `recv` takes none, and auto-tuning measures read
    /// rates against it.
    clock: Instant,
    /// When the peer was last heard from (RFC 1122 §4.2.3.6).
    last_heard: Instant,
    /// Deadlines of the retransmission, persist and delayed-ACK timers (the others live where
    /// `deadline` says).
    timers: TimerTable,
    /// Since when sent data has waited for an acknowledgment without progress (user timeout).
    /// The last `Option<Instant>` of the connection, so the host's slab marks an empty slot
    /// in its tag, on this hot line (see `Moment`).
    stalled_since: Option<Instant>,
    events: EventQueue,
    config: SharedConfig,
    /// Resets owed to whoever sent an unacceptable segment; made at the first (most
    /// connections never owe one). Boxed on purpose: a pointer here rather than an empty
    /// queue's 32 bytes in every connection.
    #[allow(clippy::box_collection)]
    resets: Option<Box<VecDeque<Reset>>>,
    /// Added to our millisecond clock to make TSval (RFC 7323 §5.4 recommends a per-connection
    /// random offset; ours comes from the caller-chosen ISS).
    ts_offset: u32,
    /// Keepalive probes sent since the peer was last heard from; one is owed when
    /// `keepalive_due`.
    keepalive_probes: u32,
    local_port: u16,
    remote_port: u16,
    /// An ACK must go out at the next `poll_transmit` (data, FIN, or an unacceptable segment
    /// arrived).
    ack_now: bool,
    keepalive_due: bool,
    /// Window scaling (RFC 7323 §2), timestamps (RFC 7323 §3) and SACK (RFC 2018) as
    /// negotiated on the handshake.
    window_scaling: bool,
    timestamps: bool,
    sack: bool,
    /// The user called `close` (not just `shutdown`): data arriving now is answered with RST
    /// and FIN-WAIT-2 is bounded by a timer.
    orphaned: bool,
    /// Nobody can ask for `info` any more (a host's connection whose handle is gone), so the
    /// send side's last figures are not kept when it ends.
    info_unwanted: bool,
    /// SYN-RECEIVED came from LISTEN (passive open) rather than SYN-SENT (simultaneous
    /// open): decides where a reset returns to (RFC 9293 §3.10.7.4, second check). Read
    /// only in SYN-RECEIVED.
    passive_open: bool,
    /// SYN-RECEIVED only: the user shut the send side down before the handshake finished,
    /// so the FIN follows once established (RFC 9293 §3.10.4).
    fin_after_handshake: bool,
    /// The last ICMP soft error (see `note_soft_error`).
    soft_error: Option<ConnError>,
    state: State,
    /// When the ACK of arriving data goes: quick-ACK, delayed, or interactive.
    acks: AckPolicy,
    /// RFC 5961 §7 rate limit: challenge ACKs sent in the current one-second window, and
    /// when that window started.
    challenge_count: u32,
    challenge_window: Instant,
    /// Counters of dropped input, for diagnostics.
    pub(crate) dropped_segments: u64,
    /// When we last answered an out-of-window bare ACK (see `on_synchronized`). Rare, so
    /// here at the end, as a `Moment`: an `Option<Instant>` here would be where the host's
    /// slab marks an empty slot, read by every lookup (see `Moment`).
    last_oow_ack: Moment,
    /// `info()` as it was when the send side was last alive, so RTT and retransmission
    /// counts outlive it (TIME-WAIT and CLOSED keep no sender). Boxed, and only kept once the
    /// sender is gone: a live connection does not carry it.
    last_info: Option<Box<Info>>,
}

impl Connection {
    /// A connection in `state` with `events` waiting and nothing else happened yet: no timer.
    fn new(
        config: SharedConfig,
        local_port: u16,
        remote_port: u16,
        iss: u32,
        state: impl FnOnce(&Config) -> State,
        events: EventQueue,
    ) -> Connection {
        Connection {
            acks: AckPolicy::new(config.quickack_segments),
            // Made here, in the connection's own place (a move copies the whole sender).
            state: state(&config),
            config,
            local_port,
            remote_port,
            events,
            resets: None,
            ack_now: false,
            orphaned: false,
            info_unwanted: false,
            passive_open: false,
            fin_after_handshake: false,
            window_scaling: false,
            timestamps: false,
            sack: false,
            ts_offset: ts_offset(iss),
            timers: TimerTable::default(),
            challenge_window: Instant::ZERO,
            challenge_count: 0,
            last_oow_ack: Moment::default(),
            last_heard: Instant::ZERO,
            keepalive_probes: 0,
            keepalive_due: false,
            stalled_since: None,
            clock: Instant::ZERO,
            dropped_segments: 0,
            last_info: None,
            soft_error: None,
        }
    }

    /// Active OPEN (RFC 9293 §3.10.1): CLOSED → SYN-SENT. The SYN leaves at the next
    /// `poll_transmit`. `iss` is the initial sequence number (the host derives it per RFC 6528).
    /// The MSS announced is IPv4's unless `config` was made for IPv6 ([`Config::for_family`]).
    pub fn connect(config: &Config, local_port: u16, remote_port: u16, iss: u32) -> Connection {
        Connection::connect_shared(
            SharedConfig::new(config.for_family(false)),
            local_port,
            remote_port,
            iss,
        )
    }

    /// `connect` with settings shared with other connections, made for its address family
    /// already (`Config::for_family`).
    pub(crate) fn connect_shared(
        config: SharedConfig,
        local_port: u16,
        remote_port: u16,
        iss: u32,
    ) -> Connection {
        Connection::opened(
            config,
            local_port,
            remote_port,
            iss,
            Cause::UserConnect,
            StateName::SynSent,
            |config| {
                State::SynSent(SynSent {
                    snd: Sender::new(iss, config),
                    since: None,
                    close_requested: false,
                    spare: Default::default(),
                })
            },
        )
    }

    /// Passive OPEN (RFC 9293 §3.10.1): CLOSED → LISTEN for one connection. The first
    /// acceptable SYN makes it SYN-RECEIVED with `iss` as its initial sequence number.
    /// The MSS announced is IPv4's unless `config` was made for IPv6 ([`Config::for_family`]).
    pub fn listen(config: &Config, local_port: u16, iss: u32) -> Connection {
        Connection::listen_shared(SharedConfig::new(config.for_family(false)), local_port, iss)
    }

    /// `listen` with settings shared with other connections, made for its address family
    /// already (`Config::for_family`).
    pub(crate) fn listen_shared(config: SharedConfig, local_port: u16, iss: u32) -> Connection {
        Connection::opened(
            config,
            local_port,
            0,
            iss,
            Cause::UserListen,
            StateName::Listen,
            |_| {
                State::Listen(Listen {
                    iss,
                    spare: Default::default(),
                })
            },
        )
    }

    /// A connection that left CLOSED for `state` on `cause` (an OPEN call): what `morph`
    /// makes of a new CLOSED one, with the state built in place rather than moved in (a move
    /// copies the whole sender).
    fn opened(
        config: SharedConfig,
        local_port: u16,
        remote_port: u16,
        iss: u32,
        cause: Cause,
        to: StateName,
        state: impl FnOnce(&Config) -> State,
    ) -> Connection {
        debug_assert!(
            is_legal(StateName::Closed, to, cause),
            "opening into {to} ({cause}) is not in the table"
        );
        // The event goes in before the connection is made, so the connection made is what
        // returns, written into the caller's place, rather than made here, then copied out.
        let mut events = EventQueue::default();
        events.push_back(Event::StateChanged {
            from: StateName::Closed,
            to,
            cause,
        });
        let conn = Connection::new(config, local_port, remote_port, iss, state, events);
        debug_assert_eq!(conn.state.name(), to, "{cause} opened into another state");
        conn
    }

    pub fn state(&self) -> StateName {
        self.state.name()
    }

    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// The peer's port; 0 while listening.
    pub fn remote_port(&self) -> u16 {
        self.remote_port
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Turns keepalive on (with these settings) or off (`SO_KEEPALIVE` and friends).
    pub fn set_keepalive(&mut self, keepalive: Option<crate::config::Keepalive>) {
        self.config.keepalive = keepalive;
    }

    /// Sets or clears the user timeout (`TCP_USER_TIMEOUT`).
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.config.user_timeout = timeout;
    }

    /// Sets or clears the limit on how long the handshake may take (`TCP_KEEPINIT`); it
    /// counts from when the handshake began, and does nothing once it is over.
    pub fn set_connect_timeout(&mut self, timeout: Option<Duration>) {
        self.config.connect_timeout = timeout;
    }

    /// Turns Nagle's algorithm off or on (`TCP_NODELAY`).
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.config.nodelay = nodelay;
    }

    /// The IP header fields of the connection's datagrams from now on (`IP_TOS`, `IP_TTL`
    /// and their IPv6 counterparts on an open connection).
    pub fn set_ip_header(&mut self, ip: crate::IpHeaderOptions) {
        if self.config.ip != ip {
            self.config.ip = ip;
        }
    }

    /// Resizes the receive buffer (`SO_RCVBUF` on an open connection, as Linux allows) and
    /// fixes it there: auto-tuning no longer grows it. The window offered follows the new
    /// free space, within what the window scale agreed on the SYN can express (RFC 7323
    /// §2.3: the shift never changes after it); a right edge already offered is never taken
    /// back (RFC 9293 §3.8.6.2.2).
    pub fn set_recv_buffer(&mut self, size: usize) {
        let size = size.max(1);
        self.config.recv_buffer = size;
        self.config.recv_buffer_max = size;
        if let Some(r) = self.state.receiver_mut() {
            r.resize(size);
        }
    }

    /// Resizes the send buffer (`SO_SNDBUF` on an open connection) and fixes it there. Data
    /// already queued beyond a smaller size stays and is sent; writes wait until the queue is
    /// below the new size.
    pub fn set_send_buffer(&mut self, size: usize) {
        let size = size.max(1);
        self.config.send_buffer = size;
        self.config.send_buffer_max = size;
        if let Some(s) = self.state.sender_mut() {
            s.resize(size);
        }
    }

    /// Bounds the bytes written but not yet sent (`TCP_NOTSENT_LOWAT`; `None` for no bound
    /// but the buffer's). Bytes already queued beyond a lower bound stay and are sent; writes
    /// wait until the unsent bytes are below it.
    pub fn set_notsent_lowat(&mut self, lowat: Option<usize>) {
        self.config.notsent_lowat = lowat;
        if let Some(s) = self.state.sender_mut() {
            s.set_notsent_limit(lowat);
        }
    }

    /// Switches the congestion controller (`TCP_CONGESTION`). An open connection keeps its
    /// cwnd and ssthresh: the new controller goes on from the window the path was found to
    /// take, as Linux does on a switch.
    pub fn set_congestion(&mut self, controller: crate::CongestionControl) {
        self.config.congestion.controller = controller;
        if let Some(s) = self.state.sender_mut() {
            s.cc.set_controller(controller);
        }
    }

    /// The receive buffer's current size in bytes: the most received data this connection will
    /// hold (in order and beyond gaps together), for a host accounting memory across
    /// connections. Auto-tuning may grow it up to `Config::recv_buffer_max`; it never shrinks.
    /// 0 when there is no receive side (yet, or any more).
    pub fn recv_buffer_size(&self) -> usize {
        self.state.receiver().map_or(0, |r| r.capacity())
    }

    /// The send buffer's current size in bytes: the most unacknowledged data this connection
    /// will hold. Auto-tuning may grow it up to `Config::send_buffer_max`; it never shrinks.
    /// 0 when there is no send side.
    pub fn send_buffer_size(&self) -> usize {
        self.state.sender().map_or(0, |s| s.capacity())
    }

    /// Bytes of user data this connection holds right now: unacknowledged or unsent data,
    /// received data not yet read, and data kept beyond a gap.
    pub fn buffered_bytes(&self) -> usize {
        let snd = self.state.sender().map_or(0, |s| s.buffered());
        let rcv = self
            .state
            .receiver()
            .map_or(0, |r| r.buffered() + r.out_of_order_bytes());
        snd + rcv
    }

    /// The error that ended the connection, if it ended abnormally.
    pub fn error(&self) -> Option<ConnError> {
        match &self.state {
            State::Closed(c) => c.error,
            _ => None,
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether an event waits for `poll_event`.
    pub(crate) fn has_event(&self) -> bool {
        !self.events.is_empty()
    }

    /// SEND (RFC 9293 §3.10.2): queues what fits of `data` and returns how many bytes were
    /// taken. Data written before the handshake completes leaves once it does.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, CallError> {
        self.send_marked(data, false)
    }

    /// SEND with the URGENT flag (RFC 9293 §3.10.2): as [`Connection::send`], and SND.UP
    /// moves to the end of the bytes taken, so that every segment from SND.UNA up to there
    /// carries the urgent pointer until the peer has acknowledged them all (`MSG_OOB`).
    pub fn send_urgent(&mut self, data: &[u8]) -> Result<usize, CallError> {
        self.send_marked(data, true)
    }

    fn send_marked(&mut self, data: &[u8], urgent: bool) -> Result<usize, CallError> {
        let snd = self.send_side()?;
        if data.is_empty() {
            return Ok(0);
        }
        match snd.write(data) {
            0 => Err(CallError::WouldBlock),
            n => {
                if urgent {
                    snd.mark_urgent();
                }
                Ok(n)
            }
        }
    }

    /// The send side a SEND may add to, or why it may not (RFC 9293 §3.10.2).
    fn send_side(&mut self) -> Result<&mut Sender, CallError> {
        match &mut self.state {
            State::SynSent(SynSent { snd, .. })
            | State::Synced(
                Phase::SynReceived | Phase::Established | Phase::CloseWait,
                Synced { snd, .. },
            ) => {
                if snd.fin_seq.is_some() {
                    return Err(CallError::Closing);
                }
                Ok(snd)
            }
            State::Closed(c) => Err(c.error.map_or(CallError::NotConnected, CallError::Ended)),
            State::Listen(_) => Err(CallError::NotConnected),
            _ => Err(CallError::Closing),
        }
    }

    /// RECEIVE (RFC 9293 §3.10.3): moves buffered in-order bytes into `buf`. `Ok(0)` with a
    /// non-empty `buf` means the peer has closed its side and everything has been read.
    /// Copies in-order received bytes without consuming them (a `MSG_PEEK` read); 0 when
    /// none are buffered, whatever the reason (RECEIVE says why).
    pub fn peek(&self, buf: &mut [u8]) -> usize {
        let inline = self.config.urgent_inline;
        self.state.receiver().map_or(0, |r| r.peek(buf, inline))
    }

    /// Whether the next byte a read returns (or steps over) is the last urgent byte the peer
    /// announced (`SIOCATMARK`). A read never crosses this mark: it stops before it.
    pub fn at_urgent_mark(&self) -> bool {
        self.state.receiver().is_some_and(|r| r.at_urgent_mark())
    }

    /// The out-of-band byte (the last urgent one), left in place. With
    /// `Config::urgent_inline` it is also read in the stream.
    pub fn urgent_byte(&self) -> UrgentByte {
        self.state
            .receiver()
            .map_or(UrgentByte::None, |r| r.urgent_byte())
    }

    /// The out-of-band byte, taken (`recv(MSG_OOB)`): it is reported `Taken` afterwards.
    pub fn take_urgent_byte(&mut self) -> UrgentByte {
        self.state
            .receiver_mut()
            .map_or(UrgentByte::None, |r| r.take_urgent_byte())
    }

    /// Reads urgent bytes in the stream (`SO_OOBINLINE`) or holds the last one apart.
    pub fn set_urgent_inline(&mut self, inline: bool) {
        self.config.urgent_inline = inline;
    }

    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, CallError> {
        let asked = !buf.is_empty();
        self.receive(|rcv, inline| match rcv.read(buf, inline) {
            0 if asked => None,
            n => Some(Ok(n)),
        })
    }

    /// RECEIVE through `read`, which returns `None` when it found nothing to read (then the
    /// answer says why: end of stream, an error, or try again), else its count or refusal.
    fn receive(
        &mut self,
        read: impl FnOnce(&mut Receiver, bool) -> Option<Result<usize, CallError>>,
    ) -> Result<usize, CallError> {
        let error = self.error();
        let name = self.state.name();
        let srtt = self.state.sender().and_then(|s| s.rtt.srtt());
        let now = self.clock;
        let inline = self.config.urgent_inline;
        let Some(rcv) = self.state.receiver_mut() else {
            return match name {
                StateName::SynSent => Err(CallError::WouldBlock),
                _ => Err(error.map_or(CallError::NotConnected, CallError::Ended)),
            };
        };
        match read(rcv, inline) {
            Some(Ok(n)) if n > 0 => {
                rcv.autotune(now, srtt);
                // Receiver-side SWS avoidance (RFC 9293 §3.8.6.2.2): announce the reopened
                // (or grown) window once it has opened by min(buffer/2, MSS) beyond what the
                // peer knows.
                if rcv.window_update_due() && name.is_synchronized() && !rcv.fin_received {
                    self.ack_now = true;
                }
                return Ok(n);
            }
            Some(answer) => return answer,
            None if rcv.fin_received => return Ok(0),
            None => {}
        }
        match error {
            Some(e) => Err(CallError::Ended(e)),
            None if name == StateName::Closed => Ok(0),
            None => Err(CallError::WouldBlock),
        }
    }

    /// Shuts down the sending side (half-close): queues a FIN after the data already written
    /// (RFC 9293 §3.10.4). Receiving goes on. Before the handshake completes, the FIN waits
    /// for it.
    pub fn shutdown_write(&mut self) -> Result<(), CallError> {
        match &mut self.state {
            State::SynSent(s) => {
                // Data queued before the handshake still goes out, followed by the FIN.
                s.close_requested = true;
                return Ok(());
            }
            State::Synced(Phase::SynReceived, _) => {
                // RFC 9293 §3.10.4: the FIN waits until the handshake is complete.
                self.fin_after_handshake = true;
                return Ok(());
            }
            _ => {}
        }
        match self.state.name() {
            StateName::Listen => {
                self.morph(Cause::UserClose, |_| State::Closed(Closed::default()));
                Ok(())
            }
            StateName::Established => {
                self.queue_fin();
                self.shift(Cause::UserClose, Phase::FinWait1);
                Ok(())
            }
            StateName::CloseWait => {
                self.queue_fin();
                self.shift(Cause::UserClose, Phase::LastAck);
                Ok(())
            }
            StateName::Closed => Err(self
                .error()
                .map_or(CallError::NotConnected, CallError::Ended)),
            // Already shut down.
            _ => Ok(()),
        }
    }

    /// CLOSE as a socket's `close()` does it: the user gives the connection up. Unread
    /// received data makes it an abortive close with RST (RFC 1122 §4.2.2.13, as Linux does);
    /// otherwise a FIN follows the queued data and the connection finishes on its own.
    pub fn close(&mut self, now: Instant) -> Result<(), CallError> {
        let unread = self.state.receiver().is_some_and(|r| r.buffered() > 0);
        if unread && self.state.name() != StateName::TimeWait {
            self.abort();
            return Ok(());
        }
        self.orphaned = true;
        match self.state.name() {
            StateName::Closed => Ok(()),
            // RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the TCB; queued data goes with it.
            StateName::SynSent => {
                self.morph(Cause::UserClose, |_| State::Closed(Closed::default()));
                Ok(())
            }
            StateName::FinWait2 => {
                let give_up_at = now + self.config.fin_wait2_timeout;
                if let State::Synced(Phase::FinWait2, s) = &mut self.state {
                    s.phase_time = Some(give_up_at);
                }
                Ok(())
            }
            _ => self.shutdown_write(),
        }
    }

    /// ABORT (RFC 9293 §3.10.5): drops everything; a synchronized connection tells the peer
    /// with `<SEQ=SND.NXT><CTL=RST>`.
    pub fn abort(&mut self) {
        let name = self.state.name();
        if name == StateName::Closed {
            return;
        }
        let sends_reset = matches!(
            name,
            StateName::SynReceived
                | StateName::Established
                | StateName::FinWait1
                | StateName::FinWait2
                | StateName::CloseWait
        );
        if sends_reset {
            if let Some(snd) = self.state.sender() {
                let seq = snd.nxt.max(snd.max);
                self.queue_reset(seq, None, self.remote_port);
            }
        }
        self.morph(Cause::UserAbort, |_| {
            State::Closed(Closed {
                error: Some(ConnError::ConnectionAborted),
                rcv: None,
                spare: Default::default(),
            })
        });
    }

    /// Ends the connection because of a timeout or similar failure.
    fn fail(&mut self, cause: Cause, error: ConnError) {
        // RFC 1122 §4.2.3.9: a timeout after ICMP soft errors reports them, not just "timed out".
        let error = match (error, self.soft_error) {
            (ConnError::TimedOut, Some(soft)) => soft,
            _ => error,
        };
        let passive =
            self.passive_open && matches!(&self.state, State::Synced(Phase::SynReceived, _));
        if passive {
            self.back_to_listen(cause);
            return;
        }
        self.morph(cause, |_| {
            State::Closed(Closed {
                error: Some(error),
                rcv: None,
                spare: Default::default(),
            })
        });
    }

    /// A passive open that failed goes back to LISTEN (RFC 9293 §3.10.7.4).
    fn back_to_listen(&mut self, cause: Cause) {
        let iss = self
            .state
            .sender()
            .map_or(0, |s| s.iss.0.wrapping_add(64_000));
        self.remote_port = 0;
        self.window_scaling = false;
        self.timestamps = false;
        self.sack = false;
        self.ack_now = false;
        self.morph(cause, |_| {
            State::Listen(Listen {
                iss,
                spare: Default::default(),
            })
        });
    }

    fn queue_fin(&mut self) {
        if let Some(snd) = self.state.sender_mut() {
            snd.queue_fin();
        }
    }

    fn queue_reset(&mut self, seq: SeqNum, ack: Option<SeqNum>, dst_port: u16) {
        let resets = self.resets.get_or_insert_with(Box::default);
        if resets.len() < MAX_PENDING_RESETS {
            resets.push_back(Reset { seq, ack, dst_port });
        }
    }

    /// Queues an ACK under the RFC 5961 §7 rate limit.
    fn challenge_ack(&mut self, now: Instant) {
        if now.saturating_duration_since(self.challenge_window) >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < self.config.challenge_ack_limit {
            self.challenge_count += 1;
            self.ack_now = true;
        }
    }

    /// Replaces the state through `f` and records the transition. `f` may hand the state back
    /// unchanged, in which case nothing is recorded.
    fn morph(&mut self, cause: Cause, f: impl FnOnce(State) -> State) {
        let leaving = self.leave_state(cause);
        let old = mem::replace(&mut self.state, State::Closed(Closed::default()));
        self.state = f(old);
        self.enter_state(leaving, cause);
    }

    /// `morph` for the edges that keep only a part of the old state (the receive side, a
    /// sequence number, the congestion parts): `f` takes that part out of the state in place
    /// and builds the next state from it, or returns `None` to leave the state as it is. The
    /// rest of the old state is dropped where it lies rather than moved whole first.
    fn morph_from(&mut self, cause: Cause, f: impl FnOnce(&mut State) -> Option<State>) {
        let leaving = self.leave_state(cause);
        if let Some(next) = f(&mut self.state) {
            self.state = next;
        }
        self.enter_state(leaving, cause);
    }

    /// What a state change must know of the state it leaves: its name, whether it had a send
    /// side, and the send side's final figures where the change may end it.
    fn leave_state(&self, cause: Cause) -> Leaving {
        let from = self.state.name();
        let had_sender = self.state.sender().is_some();
        // The send side's final figures are kept for `info` once it is gone. Taken only on
        // the edges that can end it, not on every state change, and only if anyone can ask.
        let may_end = had_sender && transitions::may_end_send_side(from, cause);
        // Boxed here, where it is taken: `Leaving` stays small to pass on.
        let info = (may_end && !self.info_unwanted).then(|| Box::new(self.info()));
        Leaving {
            from,
            had_sender,
            may_end,
            info,
        }
    }

    /// Finishes a state change once the new state is in place: the send side's timers and
    /// final figures if it ended, the transition's record, and `Closed` on reaching CLOSED.
    fn enter_state(&mut self, leaving: Leaving, cause: Cause) {
        let Leaving {
            from,
            had_sender,
            may_end,
            info,
        } = leaving;
        if self.state.sender().is_none() {
            debug_assert!(
                !had_sender || may_end,
                "{from} lost its send side on {cause}, an edge the table does not end it on"
            );
            if let Some(info) = info {
                self.last_info = Some(info);
            }
            // The send side's timers end with it.
            self.timers.stop(Timer::Retransmit);
            self.timers.stop(Timer::Persist);
        }
        let to = self.state.name();
        self.record_transition(from, to, cause);
        if from != to && to == StateName::Closed {
            self.events.push_back(Event::Closed {
                error: self.error(),
            });
        }
    }

    /// Reports a move from `from` to `to` to the user (none if the state stayed), after checking
    /// it against the table of transitions (RFC 9293 §3.3.2's diagram and our causes).
    ///
    /// Out of line: every edge reports through here, and a connection's life takes ten of
    /// them, so one copy of the event's queuing serves them all.
    #[inline(never)]
    fn record_transition(&mut self, from: StateName, to: StateName, cause: Cause) {
        if from == to {
            return;
        }
        debug_assert!(
            is_legal(from, to, cause),
            "transition {from} -> {to} ({cause}) is not in the table"
        );
        self.events
            .push_back(Event::StateChanged { from, to, cause });
    }

    /// A move between two of the synchronized states that keep both sides (see [`Phase`]):
    /// the phase changes in place, the sender, receiver and timers stay as they are. What
    /// `morph` does besides moving the state, for edges that keep the send side: the event.
    fn shift(&mut self, cause: Cause, to: Phase) {
        let State::Synced(phase, _) = &mut self.state else {
            debug_assert!(false, "a phase shift ({cause}) from {}", self.state.name());
            return;
        };
        let from = phase.name();
        *phase = to;
        self.record_transition(from, to.name(), cause);
    }

    /// TSval for a segment sent at `now` (RFC 7323 §5.4: a millisecond clock).
    fn ts_val(&self, now: Instant) -> u32 {
        ts_clock_with(self.ts_offset, now)
    }

    pub fn info(&self) -> Info {
        let snd = self.state.sender();
        let rcv = self.state.receiver();
        if let (None, Some(last)) = (snd, self.last_info.as_deref().copied()) {
            // The send side is gone: report its final figures.
            return Info {
                state: self.state.name(),
                rcv_nxt: rcv.map_or(last.rcv_nxt, |r| r.nxt.0),
                rcv_wnd: rcv.map_or(0, |r| r.wnd()),
                bytes_received: rcv.map_or(last.bytes_received, |r| r.bytes_received),
                recv_buffered: rcv.map_or(0, |r| r.buffered()),
                recv_out_of_order: rcv.map_or(0, |r| r.out_of_order_bytes()),
                recv_buffer: rcv.map_or(0, |r| r.capacity()),
                rcv_rtt: rcv.and_then(|r| r.rtt.estimate()),
                send_buffered: 0,
                send_buffer: 0,
                unacked: 0,
                ..last
            };
        }
        Info {
            state: self.state.name(),
            snd_una: snd.map_or(0, |s| s.una.0),
            snd_nxt: snd.map_or(0, |s| s.nxt.0),
            snd_wnd: snd.map_or(0, |s| s.wnd),
            rcv_nxt: rcv.map_or(0, |r| r.nxt.0),
            rcv_wnd: rcv.map_or(0, |r| r.wnd()),
            srtt: snd.and_then(|s| s.rtt.srtt()),
            rttvar: snd.map_or(Duration::ZERO, |s| s.rtt.rttvar()),
            rto: snd.map_or(self.config.rto_initial, |s| s.rtt.rto()),
            snd_mss: snd.map_or(0, |s| s.mss),
            snd_wscale: snd.map_or(0, |s| s.wscale),
            rcv_wscale: rcv.map_or(0, |r| r.wscale),
            sack: self.sack,
            timestamps: self.timestamps,
            bytes_acked: snd.map_or(0, |s| s.bytes_acked),
            bytes_received: rcv.map_or(0, |r| r.bytes_received),
            segs_retransmitted: snd.map_or(0, |s| s.segs_retransmitted),
            cc: snd.map_or(
                crate::CongestionInfo::idle(self.config.congestion.controller),
                |s| s.cc.info(),
            ),
            rto_expirations: snd.map_or(0, |s| s.rto_expirations),
            backoff: snd.map_or(0, |s| s.retransmits),
            unacked: snd.map_or(0, |s| s.in_flight()),
            send_buffered: snd.map_or(0, |s| s.buffered()),
            recv_buffered: rcv.map_or(0, |r| r.buffered()),
            recv_out_of_order: rcv.map_or(0, |r| r.out_of_order_bytes()),
            send_buffer: snd.map_or(0, |s| s.capacity()),
            recv_buffer: rcv.map_or(0, |r| r.capacity()),
            rcv_rtt: rcv.and_then(|r| r.rtt.estimate()),
        }
    }
}

/// What a state change takes from the state it leaves (`Connection::leave_state`).
struct Leaving {
    from: StateName,
    had_sender: bool,
    may_end: bool,
    info: Option<Box<Info>>,
}
