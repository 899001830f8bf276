//! What leaves a connection: the next segment, built from the state at the moment of asking.
//!
//! Segments are not queued ahead of time. Each call sends a pending reset, or what congestion
//! control picks (`Congestion::next_transmit`): a fast retransmission at SND.UNA, or what lies
//! at SND.NXT (the SYN, data, then the FIN); else a bare ACK. A retransmission after a timeout
//! is the same code run again after SND.NXT was moved back.

use synack_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

use super::state::State;
use super::timer::Timer;
use super::{Connection, StateName};
use crate::config::Nagle;
use crate::congestion::Transmit;
use crate::seq::SeqNum;
use crate::time::Instant;

impl Connection {
    /// The next segment to send, if any. Payload bytes are copied into `buf`, which should
    /// hold at least one MSS; the returned segment borrows them.
    pub fn poll_transmit<'b>(&mut self, now: Instant, buf: &'b mut [u8]) -> Option<TcpRepr<'b>> {
        let (repr, _, pieces) = self.next_segment(now, buf.len(), None)?;
        let mut repr: TcpRepr<'b> = repr;
        if pieces.size > 0 {
            let snd = self.state.sender()?;
            let n = snd.copy_data(SeqNum(repr.seq), &mut buf[..pieces.size]);
            repr.payload = &buf[..n];
        }
        Some(repr)
    }

    /// [`Connection::poll_transmit`] without the copy: the payload (at most `room` bytes with
    /// this segment's options) is borrowed from the send buffer, as `repr.payload` followed by
    /// the second slice (the buffer is a ring, so the bytes may wrap). The host writes them
    /// straight into the packet: one copy per byte sent.
    ///
    /// With `tso` (the device cuts large segments back into MSS-sized ones), consecutive
    /// full-sized pieces are joined into one super-segment within `room`; see [`Pieces`].
    pub(crate) fn poll_transmit_gather(
        &mut self,
        now: Instant,
        room: usize,
        tso: bool,
    ) -> Option<(TcpRepr<'_>, &[u8], Pieces)> {
        // Built in place here, in the value returned: every way of building a segment returns
        // this same type, so the segment (a hundred bytes with its options) is written once
        // and not copied out of each step on its way out.
        let mut out: Option<(TcpRepr<'_>, &[u8], Pieces)> = self.build_segment(now, room, None);
        if let Some((repr, tail, pieces)) = &mut out {
            if pieces.size > 0 {
                // A segment with data starts at its first byte.
                let seq = SeqNum(repr.seq);
                let mut len = pieces.size;
                if tso {
                    self.join_pieces(now, room, seq, &mut len, &mut repr.flags, pieces);
                }
                let (head, rest) = self.state.sender()?.data_slices(seq, len);
                repr.payload = head;
                *tail = rest;
            }
        }
        out
    }

    /// Host-side segmentation offload: after a first piece of `len` bytes at `seq`, the
    /// pieces that would follow it at once, each decided by the same per-MSS rules as if it
    /// left alone (congestion window, peer window, Nagle, sender SWS avoidance, the
    /// scoreboard's and RACK's per-segment records), are appended while each one is
    /// contiguous, as long as the first and fits in what is left of `room`. The device then
    /// cuts the super-segment into exactly the segments an MSS-sized sender would have sent,
    /// each with the first piece's header and the sequence number advanced, PSH and FIN kept
    /// for the last (Linux `tcp_gso_segment`). A segment carrying SACK blocks goes alone:
    /// copied onto every piece, a D-SACK would be reported more than once (RFC 2883 §4).
    // Kept out of line: without segmentation offload it never runs, and inlined it would
    // weigh on the path every segment takes.
    #[inline(never)]
    fn join_pieces(
        &mut self,
        now: Instant,
        room: usize,
        seq: SeqNum,
        len: &mut usize,
        flags: &mut TcpFlags,
        pieces: &mut Pieces,
    ) {
        let last = TcpFlags::PSH | TcpFlags::FIN;
        // An urgent pointer counts from the segment's own start: a device copying the header
        // onto every piece would move it, so a segment with one goes alone.
        if flags.syn() || flags.rst() || flags.urg() || flags.contains(TcpFlags::PSH) || flags.fin()
        {
            return;
        }
        let full = *len;
        loop {
            let Some(left) = room.checked_sub(*len) else {
                return;
            };
            let run = self.join_full_pieces(now, left, seq + *len as u32, full);
            if run > 0 {
                *len += run as usize * full;
                pieces.count += run;
                continue;
            }
            let join = Join {
                seq: seq + *len as u32,
                full,
            };
            let Some(piece) = self.join_piece(now, left, join) else {
                return;
            };
            *len += piece.len;
            pieces.count += 1;
            *flags |= TcpFlags::from_bits(piece.flags.bits() & last.bits());
            if piece.len < full || !piece.flags.without(TcpFlags::ACK).is_empty() {
                return;
            }
        }
    }

    /// Full pieces from `seq` in the middle of the data, appended with the bookkeeping of
    /// each and none of the deciding that cannot change their size: how many (none, with
    /// nothing changed, when the first could be anything but one). Each is what
    /// `transmit_from_sender` would decide and record for it: new data at SND.NXT = SND.MAX,
    /// with the controller offering nothing else and deciding so changing nothing
    /// (`offers_only_new_data`), no SACK blocks to carry, no window probe, and at least a
    /// full piece admitted by the congestion window, the peer's window and `room`, with more
    /// data behind it (so no PSH, FIN, Nagle or SWS rule applies). The data's last piece,
    /// and any piece outside these, are left to `join_piece`.
    fn join_full_pieces(
        &mut self,
        now: Instant,
        mut room: usize,
        mut seq: SeqNum,
        full: usize,
    ) -> u32 {
        let sending = matches!(
            self.state.name(),
            StateName::Established
                | StateName::FinWait1
                | StateName::CloseWait
                | StateName::Closing
                | StateName::LastAck
        );
        if !sending || self.resets.as_ref().is_some_and(|r| !r.is_empty()) {
            return 0;
        }
        let timestamps = self.timestamps;
        let option_room = if timestamps { 12 } else { 0 };
        let State::Synced(_, s) = &mut self.state else {
            return 0;
        };
        let snd = &mut s.snd;
        if (self.sack && s.rcv.has_sack_info())
            || (snd.mss as usize).max(1) != full
            || (snd.probe_due && snd.wnd == 0)
            || (seq == snd.iss && !snd.syn_acked())
            || !snd.cc.offers_only_new_data()
        {
            return 0;
        }
        // Recording a transmission of new data leaves the controller offering only new data,
        // so that is asked once; what only the first transmission can change (the reply, the
        // writer's wakeup, the retransmission timer) is done once after the pieces, and so is
        // what the controller records beyond each piece's scoreboard entry, which the last
        // piece sets again (see `Congestion::finish_new_pieces`).
        let mut count = 0;
        let mut last = (seq, snd.max);
        loop {
            let end = snd.fin_seq.map_or(snd.data_end(), |f| f + 1);
            let unsent = end.gt(snd.max) && (snd.una + snd.wnd).gt(snd.max);
            let transmit = snd.cc.next_transmit(snd.una, snd.nxt, snd.max, unsent);
            if transmit != Transmit::New(seq) {
                break;
            }
            let available = snd.data_end().since(seq) as usize;
            let cc_limit = snd.cc.allowance(transmit, snd.una, snd.in_flight());
            let peer_end = snd.una + snd.wnd;
            let peer = if peer_end.gt(seq) {
                peer_end.since(seq)
            } else {
                0
            };
            if available <= full
                || (peer.min(cc_limit) as usize) < full
                || room.saturating_sub(option_room) < full
            {
                break;
            }
            // The bookkeeping of `transmit_from_sender` for new data that is no probe.
            let end = seq + full as u32;
            if snd.rtt_probe.is_none() && !timestamps {
                snd.rtt_probe = Some((end, now));
            }
            last = (seq, snd.max);
            snd.cc.record_new_piece(now, seq, full as u32);
            snd.nxt = end;
            snd.max = snd.max.max(end);
            count += 1;
            seq = end;
            room -= full;
        }
        if count > 0 {
            snd.cc.finish_new_pieces(now, last.0, full as u32, last.1);
            if self.acks.may_be_reply() {
                self.acks
                    .on_reply_sent(now, self.config.ack_delay(), self.config.interactive_acks);
            }
            if snd.take_writable() {
                self.events.push_back(super::Event::Writable);
            }
            if !self.timers.is_armed(Timer::Retransmit) {
                let rto_us = snd.rtt.rto_nanos() / 1000;
                let at = Instant::from_micros(now.as_micros().saturating_add(rto_us));
                self.timers.set(Timer::Retransmit, at);
            }
        }
        count
    }

    /// The next piece if it can join a super-segment as `join` says; `None`, with nothing
    /// changed, when it cannot (then it leaves as the next segment of its own).
    fn join_piece(&mut self, now: Instant, room: usize, join: Join) -> Option<JoinedPiece> {
        let (repr, _, pieces) = self.next_segment(now, room, Some(join))?;
        (pieces.size > 0).then_some(JoinedPiece {
            len: pieces.size,
            flags: repr.flags,
        })
    }

    /// Whether [`Connection::poll_transmit`] would return nothing and change nothing but the clock:
    /// no reset queued, no ACK or keepalive probe owed, and either a state that sends only those or
    /// a sender with everything sent (the SYN included) and nothing to repair. A `false` may still
    /// find nothing; a `true` is certain. The host asks this before building a segment, since most
    /// connections it polls after an arrival have nothing to say.
    pub(crate) fn nothing_to_send(&mut self, now: Instant) -> bool {
        self.clock = self.clock.max(now);
        self.quiet()
    }

    /// [`Connection::nothing_to_send`] without moving the clock, which its answer never reads.
    pub(crate) fn quiet(&self) -> bool {
        if self.ack_now || self.keepalive_due || self.resets.as_ref().is_some_and(|r| !r.is_empty())
        {
            return false;
        }
        match &self.state {
            State::Closed(_) | State::Listen(_) | State::TimeWait(_) => true,
            // The handshake's states too: a SYN or SYN-ACK out and not to be resent leaves
            // nothing, since data waits for the handshake to complete.
            _ => self
                .state
                .sender()
                .is_some_and(|snd| snd.all_sent_and_quiet(&self.timers)),
        }
    }

    /// The next segment with its payload left out: it carries `pieces.size` bytes of the send
    /// buffer from its sequence number (none when zero); the tail is empty. With `join`, only
    /// a data piece that can join a super-segment (see `join_pieces`), else `None` with
    /// nothing changed.
    #[inline(never)]
    fn next_segment(&mut self, now: Instant, room: usize, join: Option<Join>) -> Option<Built> {
        self.build_segment(now, room, join)
    }

    /// [`Connection::next_segment`], inlined into the host's path
    /// (`poll_transmit_gather`), which every segment takes.
    #[inline(always)]
    fn build_segment(&mut self, now: Instant, room: usize, join: Option<Join>) -> Option<Built> {
        self.clock = self.clock.max(now);
        if join.is_some() {
            let resets = self.resets.as_ref().is_some_and(|r| !r.is_empty());
            let sending = matches!(
                self.state.name(),
                StateName::Established
                    | StateName::FinWait1
                    | StateName::CloseWait
                    | StateName::Closing
                    | StateName::LastAck
            );
            return if resets || !sending {
                None
            } else {
                self.transmit_from_sender(now, room, join)
            };
        }
        if self.resets.as_ref().is_some_and(|r| !r.is_empty()) {
            return self.transmit_reset();
        }
        match self.state.name() {
            StateName::Closed | StateName::Listen => None,
            StateName::TimeWait => self.transmit_ack_only(now),
            _ => {
                let out = self.transmit_from_sender(now, room, None);
                if let (Some(_), State::SynSent(s)) = (&out, &mut self.state) {
                    s.since.get_or_insert(now);
                }
                out
            }
        }
    }

    /// A queued reset (RFC 9293 §3.10.7.1 and §3.5.2), sent before anything else.
    #[cold]
    #[inline(never)]
    fn transmit_reset(&mut self) -> Option<Built> {
        let reset = self.resets.as_mut()?.pop_front()?;
        let mut flags = TcpFlags::RST;
        if reset.ack.is_some() {
            flags |= TcpFlags::ACK;
        }
        let mut repr = self.repr(
            reset.seq,
            reset.ack.unwrap_or(SeqNum(0)),
            flags,
            0,
            TcpOptions::default(),
            &[],
        );
        repr.dst_port = reset.dst_port;
        Some((repr, &[], Pieces::ONE))
    }

    fn repr<'b>(
        &self,
        seq: SeqNum,
        ack: SeqNum,
        flags: TcpFlags,
        window: u16,
        options: TcpOptions,
        payload: &'b [u8],
    ) -> TcpRepr<'b> {
        TcpRepr {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq: seq.0,
            ack: ack.0,
            flags,
            window,
            urgent_ptr: 0,
            options,
            payload,
        }
    }

    fn timestamps_option(&self, now: Instant) -> Option<Timestamps> {
        if !self.timestamps {
            return None;
        }
        let tsecr = self
            .state
            .receiver()
            .and_then(|r| r.ts_recent)
            .map_or(0, |(ts, _)| ts);
        Some(Timestamps {
            tsval: self.ts_val(now),
            tsecr,
        })
    }

    /// TIME-WAIT only ever acknowledges (a retransmitted FIN, an unacceptable segment).
    // Out of line: once per connection at most, and the data path does not need its code.
    #[inline(never)]
    fn transmit_ack_only(&mut self, now: Instant) -> Option<Built> {
        if !self.ack_now {
            return None;
        }
        self.ack_now = false;
        let options = TcpOptions {
            timestamps: self.timestamps_option(now),
            ..TcpOptions::default()
        };
        let State::TimeWait(tw) = &mut self.state else {
            return None;
        };
        let (seq, ack) = (tw.snd_nxt, tw.rcv.nxt);
        let window = tw.rcv.window_field();
        tw.rcv.last_ack_sent = ack;
        Some((
            self.repr(seq, ack, TcpFlags::ACK, window, options, &[]),
            &[],
            Pieces::ONE,
        ))
    }

    /// The segment at hand with its payload left out: `pieces.size` bytes of the send buffer
    /// from `repr.seq`. `room` is what is left after the IP and base TCP headers.
    #[inline(always)]
    fn transmit_from_sender(
        &mut self,
        now: Instant,
        room: usize,
        join: Option<Join>,
    ) -> Option<Built> {
        let ts = self.timestamps_option(now);
        let name = self.state.name();
        let ack_now = self.ack_now;
        let timestamps = self.timestamps;
        let sack = self.sack;
        // What only the SYN reads (the options offered) is read in its branch below, from
        // the fields themselves (the state is borrowed by then): every data segment comes
        // here too.
        let config = &*self.config;
        let nodelay = config.nodelay;
        let nagle = config.nagle;
        let (snd, rcv) = match &mut self.state {
            State::SynSent(s) => (&mut s.snd, None),
            State::Synced(_, s) => (&mut s.snd, Some(&mut s.rcv)),
            _ => return None,
        };

        // SACK blocks ride on every ACK while there is something to report (RFC 2018 §4), and
        // their option bytes come out of the payload so the segment still fits the MSS (RFC
        // 6691): the bytes of the blocks about to be sent, not of the most there could be.
        let max_sack = if timestamps { 3 } else { 4 };
        let sack_reserve = match &rcv {
            Some(r) if sack && r.has_sack_info() => 4 + 8 * r.sack_block_count(max_sack),
            _ => 0,
        };

        // Congestion control decides between a retransmission (which ignores the window) and
        // what lies at SND.NXT.
        let unsent = {
            let end = snd.fin_seq.map_or(snd.data_end(), |f| f + 1);
            end.gt(snd.max) && (snd.una + snd.wnd).gt(snd.max)
        };
        // F-RTO without SACK may hand a timeout over to going back to SND.UNA (RFC 5682 §2).
        if snd.cc.frto_goes_back(unsent) {
            snd.nxt = snd.una;
        }
        let transmit = snd.cc.next_transmit(snd.una, snd.nxt, snd.max, unsent);
        let head = transmit.is_repair();
        let seq = transmit.seq();
        if join.is_some_and(|j| j.seq != seq || sack_reserve != 0) {
            return None;
        }
        let mut flags = TcpFlags::NONE;
        let mut options = TcpOptions::default();
        let mut len = 0usize;

        if seq == snd.iss && !snd.syn_acked() {
            // The SYN (RFC 9293 §3.10.1) or our SYN-ACK (§3.10.7.2) with the options we offer;
            // a SYN-ACK only offers what the peer's SYN offered (RFC 7323 §1.3, RFC 2018 §2).
            flags = TcpFlags::SYN;
            options.mss = config.syn_options.then_some(config.mss);
            match &rcv {
                None => {
                    let (offer_ws, offer_sack, offer_ts) = config.offers();
                    // Worked out only here: it walks the shifts.
                    options.window_scale = offer_ws.then(|| config.rcv_wscale());
                    options.sack_permitted = offer_sack;
                    options.timestamps = offer_ts.then(|| Timestamps {
                        tsval: super::ts_clock_with(self.ts_offset, now),
                        tsecr: 0,
                    });
                }
                Some(r) => {
                    flags |= TcpFlags::ACK;
                    options.window_scale = self.window_scaling.then_some(r.wscale);
                    options.sack_permitted = sack;
                    options.timestamps = ts;
                }
            }
        } else if name != StateName::SynSent && name != StateName::SynReceived {
            // Data from `seq`, limited by the peer's window, the congestion window and the MSS
            // (RFC 9293 §3.8.6, RFC 5681 §3.1). A fast retransmission ignores the congestion
            // window (RFC 5681 §3.2 step 4 sends it regardless).
            let available = snd.data_end().since(seq) as usize;
            if join.is_none() && !head && available > 0 && snd.una == snd.max {
                snd.cc.restart_if_idle(now, snd.rtt.rto_nanos());
            }
            let in_flight = snd.in_flight();
            let cc_limit = snd.cc.allowance(transmit, snd.una, in_flight);
            let window_limit = if let Transmit::Hole { .. } = transmit {
                // A repair of what an earlier window admitted, unless that window closed
                // (then the persist timer probes it).
                if snd.wnd == 0 { 0 } else { cc_limit }
            } else if head {
                cc_limit
            } else {
                let wnd = if snd.probe_due && snd.wnd == 0 {
                    1
                } else {
                    snd.wnd
                };
                let peer_end = snd.una + wnd;
                let peer = if peer_end.gt(seq) {
                    peer_end.since(seq)
                } else {
                    0
                };
                peer.min(cc_limit)
            };
            // `room` is what is left after the IP and base TCP headers: this segment's
            // options (timestamps, SACK blocks) come out of it as well as its payload.
            let option_room = if timestamps { 12 } else { 0 } + sack_reserve;
            let wanted = available
                .min((snd.mss as usize).saturating_sub(sack_reserve).max(1))
                .min(window_limit as usize);
            let fits = room.saturating_sub(option_room);
            if join.is_some() && wanted > fits {
                // Cut short by the room, a joined piece would not be the segment an MSS-sized
                // sender sends: it leaves at the front of the next segment instead.
                return None;
            }
            len = wanted.min(fits);
            // Sender-side silly window avoidance (RFC 9293 §3.8.6.2.1): while anything is
            // unacknowledged, a segment cut short by the window waits for more room; the next
            // ACK brings us here again. The short tail of the buffer is Nagle's (RFC 896):
            // with `nodelay` it goes; Minshall's rule holds it only behind an unacknowledged
            // short segment, or while the writer is waiting to complete it (see
            // `Sender::tail_will_fill`), the classic rule behind anything unacknowledged.
            let new_data = matches!(transmit, Transmit::New(_)) && !(snd.probe_due && snd.wnd == 0);
            let full = ((snd.mss as usize).saturating_sub(sack_reserve)).max(1);
            let in_flight = snd.una != snd.max;
            let is_tail = len == available;
            let hold = if !is_tail {
                in_flight
            } else if nodelay {
                false
            } else {
                match nagle {
                    Nagle::Classic => in_flight,
                    Nagle::Minshall => snd.short_end.gt(snd.una) || snd.tail_will_fill(full),
                }
            };
            // A tail loss probe or F-RTO's new data is sent to draw an ACK: held back, it
            // would wait for one that cannot come.
            if new_data && len < full && hold && !snd.cc.new_data_must_go() {
                len = 0;
            }
            if join.is_some_and(|j| len == 0 || full != j.full) {
                return None;
            }
            if new_data && len > 0 && len < full {
                snd.short_end = seq + len as u32;
            }
            if len > 0 {
                // The caller takes the bytes from the buffer; `available` bounds `len`.
                if seq + len as u32 == snd.data_end() {
                    flags |= TcpFlags::PSH;
                }
            }
            // The FIN goes with the last byte, or alone once all data has been sent.
            if snd.fin_seq == Some(seq + len as u32) && !(head && window_limit == 0) {
                flags |= TcpFlags::FIN;
            }
            flags |= TcpFlags::ACK;
            options.timestamps = ts;
        }

        let seq_len = len as u32 + u32::from(flags.syn()) + u32::from(flags.fin());
        if seq_len == 0 && name.is_synchronized() {
            snd.update_persist_timer(now, &mut self.timers);
        }
        if seq_len == 0 && self.keepalive_due {
            return self.transmit_keepalive(options.timestamps);
        }
        if seq_len == 0 {
            if !ack_now || rcv.is_none() {
                return None;
            }
            // A bare ACK: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
            flags = TcpFlags::ACK;
            options.timestamps = ts;
        }

        // Bookkeeping for what occupies sequence space.
        let is_probe = snd.probe_due && snd.wnd == 0 && len > 0 && !head;
        if seq_len > 0 {
            let end = seq + seq_len;
            let is_retransmission = seq.lt(snd.max);
            if self.acks.may_be_reply() && len > 0 && !is_retransmission {
                // New data: a reply, if it follows a receipt closely (see `ack_policy`).
                self.acks
                    .on_reply_sent(now, self.config.ack_delay(), self.config.interactive_acks);
            }
            if is_retransmission {
                snd.segs_retransmitted += 1;
                // Karn's algorithm (RFC 6298 §3): never time a retransmitted segment.
                snd.rtt_probe = None;
            } else if snd.rtt_probe.is_none() && !timestamps && !is_probe {
                snd.rtt_probe = Some((end, now));
            }
            let max = snd.max;
            snd.cc.on_transmitted(now, transmit, seq_len, max);
            if !head {
                snd.nxt = end;
            }
            snd.max = snd.max.max(end);
            // Sending shrinks the unsent data, which may be what held a write back.
            if snd.take_writable() {
                self.events.push_back(super::Event::Writable);
            }
            if is_probe {
                // The persist timer, not the retransmission timer, looks after probes.
                snd.probe_due = false;
                snd.probing = true;
            } else if !self.timers.is_armed(Timer::Retransmit) {
                // RFC 6298 §5.1: start the timer when sending something that needs an ACK.
                // now + RTO, in whole microseconds as `Instant + Duration` counts them.
                let rto_us = snd.rtt.rto_nanos() / 1000;
                let at = Instant::from_micros(now.as_micros().saturating_add(rto_us));
                self.timers.set(Timer::Retransmit, at);
            }
        }

        if join.is_some() {
            // A joined piece leaves under the first piece's header (the device copies it onto
            // every piece): the acknowledgment, window, urgent pointer and options were worked
            // out for that one and are not asked for again. What building them would record
            // (the ACK sent, the window shown, progress) the first piece recorded already.
            let repr = self.repr(seq, SeqNum(0), flags, 0, TcpOptions::default(), &[]);
            return Some((
                repr,
                &[],
                Pieces {
                    count: 1,
                    size: len,
                },
            ));
        }
        let seq_field = if seq_len == 0 {
            snd.bare_ack_seq()
        } else {
            seq
        };
        let urgent = snd.urgent_field(seq_field).filter(|_| !flags.syn());
        let (ack, window) = match rcv {
            Some(r) => {
                if sack_reserve > 0 && !flags.syn() {
                    options.sack_blocks = r.sack_blocks(max_sack);
                }
                let window = if flags.syn() {
                    r.syn_window_field()
                } else {
                    r.window_field()
                };
                r.last_ack_sent = r.nxt;
                (r.nxt, window)
            }
            None => (SeqNum(0), 0),
        };
        let window = if flags.syn() && !flags.ack() {
            // Our SYN: there is no receiver yet; offer the whole buffer, unscaled.
            super::host_api::syn_ack_window(&self.config)
        } else {
            window
        };
        if seq_len > 0 {
            self.track_progress(now, false);
        }
        if flags.ack() {
            // Whatever ACK was owed, this segment carries it.
            self.ack_now = false;
            self.timers.stop(Timer::DelayedAck);
            self.acks.on_ack_sent();
        }
        // Our SYN acknowledges nothing and carries no data; every other segment carries the
        // urgent pointer while there is one: every segment before SND.UP says where the
        // urgent data ends (RFC 9293 §3.8.5).
        let (ack, urgent) = if flags.ack() {
            (ack, urgent)
        } else {
            (SeqNum(0), None)
        };
        let mut repr = self.repr(seq_field, ack, flags, window, options, &[]);
        if let Some(ptr) = urgent {
            repr.flags |= TcpFlags::URG;
            repr.urgent_ptr = ptr;
        }
        Some((
            repr,
            &[],
            Pieces {
                count: 1,
                size: len,
            },
        ))
    }

    /// A keepalive probe: <SEQ=SND.UNA-1><ACK=RCV.NXT>, no data. The peer finds it old and
    /// must answer with an ACK (RFC 1122 §4.2.3.6; Linux sends no garbage byte).
    #[cold]
    #[inline(never)]
    fn transmit_keepalive(&mut self, timestamps: Option<Timestamps>) -> Option<Built> {
        self.keepalive_due = false;
        let State::Synced(_, s) = &mut self.state else {
            return None;
        };
        let (seq, ack, window) = (s.snd.una - 1, s.rcv.nxt, s.rcv.window_field());
        self.ack_now = false;
        let options = TcpOptions {
            timestamps,
            ..TcpOptions::default()
        };
        Some((
            self.repr(seq, ack, TcpFlags::ACK, window, options, &[]),
            &[],
            Pieces::ONE,
        ))
    }
}

/// A segment as the steps that build it return it: the header, the tail of its payload (empty
/// until `poll_transmit_gather` takes the bytes from the send buffer) and how it is cut.
type Built = (TcpRepr<'static>, &'static [u8], Pieces);

/// How a datagram from [`Connection::poll_transmit_gather`] is to be cut: `count` pieces of
/// `size` payload bytes (the last possibly shorter). One piece is an ordinary segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pieces {
    pub count: u32,
    pub size: usize,
}

impl Pieces {
    const ONE: Pieces = Pieces { count: 1, size: 0 };
}

/// What a piece must be to join a super-segment: start at `seq`, and be decided with the same
/// full size (MSS less the options every piece repeats) as the first.
#[derive(Clone, Copy, Debug)]
struct Join {
    seq: SeqNum,
    full: usize,
}

/// A piece appended to a super-segment: its payload length and flags.
struct JoinedPiece {
    len: usize,
    flags: TcpFlags,
}
