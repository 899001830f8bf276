//! Packets and time in and out of the host: one IP datagram in, demultiplexed by 4-tuple to a
//! connection, a TIME-WAIT entry or a listener (else answered with a reset, RFC 9293
//! §3.10.7.1); datagrams out from the host's own control segments and every connection with
//! work; the one timer schedule.

use super::demux::Found;
use super::*;
use synack_wire::ip::{
    IpHeader, emit_tcp_gather, emit_tcp_with, parse_tcp, parse_tcp_deferred, set_ds_field,
};
use synack_wire::{ChecksumMode, PendingChecksum, TcpFlags, TcpOptions};

use crate::conn::reset_for_unexpected;

/// The IP header (without options, which we never send) and the TCP header without options,
/// reserved in the caller's buffer; the connection fits its options and payload into the rest,
/// so a buffer of one MTU carries a full MSS-sized segment.
fn base_headers(remote: IpAddr) -> usize {
    let ip = if remote.is_ipv4() { 20 } else { 40 };
    ip + 20
}

/// The largest IPv4 datagram (RFC 791 §3.1) and, less its fixed header, more than any IPv6
/// payload without a jumbogram needs (RFC 8200 §3): the bound of a super-segment.
const MAX_DATAGRAM: usize = 65_535;

/// Text longer than this has its checksum finished while it is copied into the receive
/// buffer (`Connection::verify_segment`); shorter text is summed at once, where a fused copy
/// would gain nothing (the send side's bound too, `tcp::SUM_AFTER_COPY` in synack-wire).
const VERIFY_WHILE_COPYING: usize = 128;

/// An IP datagram parsed as a TCP segment, with its TCP checksum still pending over the
/// text when the receive path is to finish it.
pub(super) type Parsed<'p> =
    Result<(IpHeader, TcpRepr<'p>, Option<PendingChecksum>), synack_wire::Error>;

impl Host {
    /// One IP datagram from the interface.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let parsed = self.parse(packet);
        self.handle_parsed(now, packet, parsed, None, None);
    }

    /// `packet` parsed as a TCP segment, its checksums verified unless the device did: all
    /// but a long text's share of the TCP checksum at once, that share left pending for the
    /// copy into the receive buffer.
    pub(super) fn parse<'p>(&self, packet: &'p [u8]) -> Parsed<'p> {
        let mode = self.checksum_mode();
        // A datagram too short to hold a long text is verified whole in one pass: splitting
        // its sum (pending state, a second pass over the text) costs more than it saves.
        if mode == ChecksumMode::Ignore || packet.len() <= VERIFY_WHILE_COPYING {
            return parse_tcp(packet, mode).map(|(ip, seg)| (ip, seg, None));
        }
        let (ip, seg, pending) = parse_tcp_deferred(packet)?;
        if seg.payload.len() > VERIFY_WHILE_COPYING {
            Ok((ip, seg, Some(pending)))
        } else if pending.verify(seg.payload) {
            Ok((ip, seg, None))
        } else {
            Err(synack_wire::Error::BadChecksum)
        }
    }

    /// [`Host::handle_packet`] after parsing; `hash` is the demux hash of the segment's
    /// 4-tuple and `found` a lookup of it, when the caller has them already.
    pub(super) fn handle_parsed(
        &mut self,
        now: Instant,
        packet: &[u8],
        parsed: Parsed<'_>,
        hash: Option<u64>,
        found: Option<Found>,
    ) {
        if parsed == Err(synack_wire::Error::NotTcp) {
            self.handle_icmp(packet);
            return;
        }
        self.counters.in_segs += 1;
        // Borrowed where it lies rather than moved out: the segment is only read.
        let Ok((ip, seg, pending)) = &parsed else {
            self.counters.in_errs += 1;
            return;
        };
        let mut pending = *pending;
        // A checksum still pending is finished before anything acts on the segment; only
        // text delivered to a connection has it finished on the way into the receive buffer.
        let wrong_sum = |pending: &mut Option<PendingChecksum>| {
            pending.take().is_some_and(|p| !p.verify(seg.payload))
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
            if wrong_sum(&mut pending) {
                self.counters.in_errs += 1;
            } else {
                self.counters.in_addr_errors += 1;
            }
            return;
        }
        let local = SocketAddr::new(ip.dst, seg.dst_port);
        let remote = SocketAddr::new(ip.src, seg.src_port);
        let mut reopen_iss = None;
        // The tuple straight from the headers: most segments reach a connection, and never
        // need the socket addresses above.
        let tuple = Tuple::of(ip.dst, seg.dst_port, ip.src, seg.src_port);
        let target = self.demux_get_cached(&tuple, hash, found);
        let delivered = matches!(target, Some(Target::Conn(_))) && !seg.flags.syn();
        if !delivered && wrong_sum(&mut pending) {
            self.counters.in_errs += 1;
            return;
        }
        match target {
            Some(Target::TimeWait(tw)) => {
                // Without a listener to take a new SYN, TIME-WAIT answers it (Linux too).
                let listening = self.find_listener(local).is_some();
                reopen_iss = self.on_time_wait(now, tw, seg, listening);
                if reopen_iss.is_none() {
                    return;
                }
            }
            Some(Target::Conn(id)) => {
                // Only a SYN can reopen a TIME-WAIT connection: other segments skip the
                // listener lookup.
                if seg.flags.syn() && self.find_listener(local).is_some() {
                    reopen_iss = self.reopens_time_wait(id, seg);
                }
                if reopen_iss.is_none() {
                    self.deliver(now, id, seg, pending);
                    return;
                }
            }
            None => {}
        }
        match self.find_listener(local) {
            Some(l) => self.on_listener(now, l, local, remote, seg, reopen_iss),
            None => self.reply_reset(local, remote, seg),
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

    /// The next datagram to send, written to the front of `buf`: its length and addresses.
    /// `buf` should hold an MTU; call until `None`.
    // Inlined into the caller: the last call of every round finds nothing queued, and that
    // answer should cost a look at two queues, not the frame of the whole search.
    #[inline]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.control.is_empty() && self.ready.is_empty() {
            return None;
        }
        self.transmit_queued(now, buf)
    }

    /// [`Host::poll_transmit`] with a control segment or a connection queued.
    fn transmit_queued(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let mode = self.checksum_mode();
        // Control segments (resets, cookie SYN-ACKs) are rare: their loop is kept out of line,
        // and skipped without moving an empty answer out of the queue.
        if !self.control.is_empty() {
            if let Some(t) = self.transmit_control(buf) {
                return Some(t);
            }
        }
        while let Some(&id) = self.ready.front() {
            let Some(e) = self.conns.get_mut(id.0) else {
                self.ready.pop_front();
                continue;
            };
            // Most connections polled after an arrival have nothing to say; a cheap look at
            // their state spares building a segment (and the addresses and room for it) to
            // find so. Debug builds build it anyway, to hold the look to the full answer.
            let quiet = e.conn.nothing_to_send(now);
            if !quiet || cfg!(debug_assertions) {
                let headers = base_headers(e.tuple.remote().ip());
                let tso = self.config.segmentation_offload;
                // A super-segment is bounded by the largest IPv4 datagram and IPv6 payload;
                // one segment by `max_payload`.
                let limit = if tso {
                    MAX_DATAGRAM - headers
                } else {
                    self.max_payload
                };
                let room = buf.len().saturating_sub(headers).min(limit);
                let retransmitted = e.conn.segs_retransmitted();
                let (local_ip, remote_ip) = (e.tuple.local().ip(), e.tuple.remote().ip());
                // The connection's own IP header fields, if its user set them.
                let (ds, hops) = e.conn.config().ip.for_family(remote_ip.is_ipv6());
                let hop_limit = hops.unwrap_or(self.config.hop_limit);
                let gathered = e.conn.poll_transmit_gather(now, room, tso);
                debug_assert!(
                    !quiet || gathered.is_none(),
                    "a connection found quiet had a segment to send"
                );
                // Everything about the segment is done here, where it lies in the value
                // returned, rather than carried out of this block in a tuple (a copy of a
                // hundred bytes per segment).
                if let Some((seg, tail, pieces)) = gathered {
                    // A device that segments also checksums each piece it cuts: the sum
                    // over the whole super-segment would be of no use to it.
                    let mode = if pieces.count > 1 {
                        ChecksumMode::Ignore
                    } else {
                        mode
                    };
                    let result =
                        emit_tcp_gather(buf, local_ip, remote_ip, hop_limit, &seg, tail, mode);
                    if let (Ok(len), Some(ds)) = (&result, ds) {
                        set_ds_field(&mut buf[..*len], ds);
                    }
                    // A reset may answer a stray segment from another port than the peer's.
                    let (src_port, dst_port) = (seg.src_port, seg.dst_port);
                    let (rst, psh) = (seg.flags.rst(), seg.flags.psh());
                    // TCP-MIB counts segments as they reach the wire: every piece.
                    let again = e.conn.segs_retransmitted().saturating_sub(retransmitted) as u32;
                    self.counters.retrans_segs += u64::from(again);
                    self.counters.out_segs += u64::from(pieces.count.saturating_sub(again));
                    if pieces.count > 1 {
                        self.counters.out_super_segments += 1;
                    }
                    if rst {
                        self.counters.out_rsts += 1;
                    }
                    // A connection that has said all it has leaves the queue with its last
                    // segment, so the next call has no connection to look up only to find so
                    // (the quiet path below); one nobody holds any more is then freed, or
                    // swapped for a TIME-WAIT entry, as that path would. A last segment is
                    // one without data (an ACK, a SYN, a FIN) or one that empties the send
                    // buffer (PSH): one with data behind it (a bulk transfer) is spared the
                    // look.
                    let done = (pieces.size == 0 || psh) && e.conn.nothing_to_send(now);
                    if done {
                        self.ready.pop_front();
                        e.ready = false;
                    }
                    let retire = done && retirable(e);
                    if e.conn.has_event() {
                        self.after_transmit(id);
                    } else if !retire {
                        // Sending frees no buffer (bytes leave the send buffer only when
                        // acknowledged) and here raised no event: of `after_transmit`, only the
                        // timer can have moved, and the entry is in hand.
                        debug_assert_eq!(e.conn.buffered_bytes(), e.memory);
                        if let Some(t) = e.arm(e.conn.poll_timeout()) {
                            self.schedule(t, Target::Conn(id));
                        }
                    }
                    if retire {
                        self.retire(id);
                    }
                    // A segment too big for `buf` is lost as if on the wire; the
                    // retransmission timer recovers it.
                    if let Ok(len) = result {
                        let segment_size = (pieces.count > 1)
                            .then(|| u16::try_from(pieces.size).unwrap_or(u16::MAX));
                        return Some(Transmit {
                            len,
                            src: SocketAddr::new(local_ip, src_port),
                            dst: SocketAddr::new(remote_ip, dst_port),
                            segment_size,
                        });
                    }
                    continue;
                }
            }
            // Nothing to send: off the queue.
            self.ready.pop_front();
            e.ready = false;
            if retirable(e) {
                self.retire(id);
            } else {
                // Having nothing to send can arm a timer (the persist timer of a zero
                // window, RFC 9293 §3.8.6.1): put it on the heap. Nothing else moves
                // when no segment leaves (no event, no byte freed), so the rest of
                // `after_transmit` has nothing to do. A quiet connection changed
                // nothing since the touch that queued it was rescheduled.
                debug_assert!(
                    !e.conn.has_event() && e.conn.buffered_bytes() == e.memory,
                    "a connection that sent nothing changed more than its timers"
                );
                if quiet {
                    debug_assert!(
                        e.conn
                            .poll_timeout()
                            .is_none_or(|t| e.armed.is_some_and(|a| a <= t))
                    );
                } else {
                    self.reschedule(id);
                }
            }
        }
        None
    }

    /// Frees a connection [`retirable`] found done with, or swaps it for a TIME-WAIT entry.
    fn retire(&mut self, id: ConnId) {
        match self.conns.get(id.0) {
            Some(e) if !e.in_demux => self.release(id),
            // Nobody holds it and its last ACK is out: the TCB can go.
            Some(_) => self.compact_time_wait(id),
            None => {}
        }
    }

    /// The first control segment that fits `buf`, written there.
    #[inline(never)]
    fn transmit_control(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let mode = self.checksum_mode();
        while let Some(c) = self.control.pop_front() {
            let (ds, hops) = c.ip;
            let hop_limit = hops.unwrap_or(self.config.hop_limit);
            if let Ok(len) = emit_tcp_with(buf, c.src, c.dst, hop_limit, &c.seg, mode) {
                if let Some(ds) = ds {
                    set_ds_field(&mut buf[..len], ds);
                }
                self.counters.out_segs += 1;
                if c.seg.flags.rst() {
                    self.counters.out_rsts += 1;
                }
                return Some(Transmit {
                    len,
                    src: SocketAddr::new(c.src, c.seg.src_port),
                    dst: SocketAddr::new(c.dst, c.seg.dst_port),
                    segment_size: None,
                });
            }
        }
        None
    }

    /// What happened since the last call: connections that became readable, writable,
    /// accepted or closed, and every state change.
    #[inline]
    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    /// The earliest time `handle_timeout` may have work: possibly early, when a connection's
    /// deadline moved later than the entry it has on the schedule (that entry then re-arms).
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = core::mem::take(&mut self.due);
        self.timers.pop_due_into(now, &mut due);
        for &(at, target) in &due {
            let id = match target {
                Target::TimeWait(tw) => {
                    self.expire_time_wait(at, tw);
                    continue;
                }
                Target::Conn(id) => id,
            };
            let Some(e) = self.conns.get_mut(id.0) else {
                continue;
            };
            if e.armed != Some(at) {
                // Stale: the connection was armed earlier since this entry was pushed.
                continue;
            }
            e.armed = None;
            match e.conn.poll_timeout() {
                // The timer was stopped since it was armed.
                None => continue,
                // It moved later: re-armed where it is now, and fires then.
                Some(d) if d > now => {
                    e.armed = Some(d);
                    self.schedule(d, Target::Conn(id));
                    continue;
                }
                Some(_) => {}
            }
            e.conn.handle_timeout(now);
            self.after(id);
        }
        self.due = due;
    }

    /// Puts `target`'s deadline `at` on the schedule. Its earlier entries go stale there;
    /// once stale ones outnumber what can be live, they are dropped, so rescheduling on every
    /// packet neither grows the schedule nor allocates.
    pub(super) fn schedule(&mut self, at: Instant, target: Target) {
        self.timers.push(at, target);
        let conns = &self.conns;
        let time_wait = &self.time_wait;
        self.timers
            .compact(conns.len(), time_wait.len(), |t, target| match target {
                Target::TimeWait(tw) => time_wait.get(tw).is_some_and(|e| e.expires == t),
                Target::Conn(id) => conns.get(id.0).is_some_and(|e| e.armed == Some(t)),
            });
    }

    /// `seg` to connection `id`; with its checksum `pending` over the text, that is finished
    /// first (the text copied into the receive buffer meanwhile), and a wrong one drops it.
    pub(super) fn deliver(
        &mut self,
        now: Instant,
        id: ConnId,
        seg: &TcpRepr<'_>,
        pending: Option<PendingChecksum>,
    ) {
        let Some(e) = self.conns.get_mut(id.0) else {
            return;
        };
        if pending.is_some_and(|p| !e.conn.verify_segment(seg, p)) {
            self.counters.in_errs += 1;
            return;
        }
        if let Role::HalfOpen(l) = e.role {
            // Linux's answer to a full accept queue: drop the handshake's final ACK (and what
            // follows) and let the client retransmit until there is room.
            let completes = seg.flags.ack() && !seg.flags.syn() && !seg.flags.rst();
            let full = self
                .listeners
                .get(l.0)
                .is_some_and(|l| l.accept_queue_full());
            if completes && full && e.conn.state() == StateName::SynReceived {
                self.counters.listen_overflows += 1;
                self.counters.listen_drops += 1;
                return;
            }
        }
        let stripped = self.over_memory(id, seg);
        let Some(e) = self.conns.get_mut(id.0) else {
            return;
        };
        e.conn.handle_segment(now, stripped.as_ref().unwrap_or(seg));
        self.after(id);
    }

    /// RFC 9293 §3.10.7.1: answer a segment that reached nothing, unless it is a reset.
    pub(super) fn reply_reset(&mut self, local: SocketAddr, remote: SocketAddr, seg: &TcpRepr<'_>) {
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

    pub(super) fn queue_control(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        seg: TcpRepr<'static>,
    ) -> bool {
        self.queue_control_marked(src, dst, seg, (None, None))
    }

    /// [`Host::queue_control`] for a segment sent on behalf of a listener whose user set IP
    /// header fields: `ip` is (DS field, hop limit).
    pub(super) fn queue_control_marked(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        seg: TcpRepr<'static>,
        ip: (Option<u8>, Option<u8>),
    ) -> bool {
        if self.control.len() >= self.config.max_pending_control {
            self.counters.control_drops += 1;
            return false;
        }
        self.control.push_back(Control { src, dst, seg, ip });
        true
    }
}

/// Whether a connection with nothing more to send is done with: released by its user and
/// either out of the demux table (closed) or in TIME-WAIT, where a compact entry takes over.
fn retirable(e: &Entry) -> bool {
    e.released && (!e.in_demux || e.conn.state() == StateName::TimeWait)
}
