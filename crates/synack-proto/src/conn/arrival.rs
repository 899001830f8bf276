//! SEGMENT ARRIVES (RFC 9293 §3.10.7), in the order the RFC gives: per state, then for the
//! synchronized states the checks of sequence number, RST, SYN, ACK, URG, text and FIN, with
//! RFC 5961's defences and RFC 7323's PAWS folded in where they belong.

use core::time::Duration;

use synack_wire::{PendingChecksum, TcpRepr};

use super::ack_policy::AckTiming;
use super::send::{Acked, Sender};
use super::state::{Closed, Phase, State, TimeWait};
use super::time_wait::{TimeWaitRecord, Verdict};
use super::timer::Timer;
use super::{Cause, Connection, Event, StateName};
use crate::congestion::AckSummary;
use crate::error::ConnError;
use crate::seq::SeqNum;
use crate::time::Instant;

/// RFC 7323 §5.5: a TS.Recent older than 24 days may be stale, so PAWS must not use it.
const PAWS_IDLE_LIMIT: Duration = Duration::from_secs(24 * 24 * 60 * 60);

/// Least time between two ACKs answering out-of-window bare ACKs (Linux's default).
const OOW_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// The segment length of RFC 9293 §3.3.1: payload plus one for SYN and one for FIN.
fn seg_len(seg: &TcpRepr<'_>) -> u32 {
    seg.payload.len() as u32 + u32::from(seg.flags.syn()) + u32::from(seg.flags.fin())
}

/// The reset RFC 9293 §3.10.7.1 prescribes for a segment that reaches no connection:
/// `(seq, ack)`, where `ack` is `Some` when the reset must carry ACK. `None` for a reset, which
/// is never answered.
pub(crate) fn reset_for_unexpected(seg: &TcpRepr<'_>) -> Option<(u32, Option<u32>)> {
    if seg.flags.rst() {
        return None;
    }
    if seg.flags.ack() {
        Some((seg.ack, None))
    } else {
        Some((0, Some(seg.seq.wrapping_add(seg_len(seg)))))
    }
}

/// The acceptability test of RFC 9293 §3.10.7.4 (first check), with the allowance it asks for
/// when the window is zero: a segment starting exactly at RCV.NXT is let through so its ACK,
/// RST and URG fields count; its text is dropped later for lack of room.
///
/// A bare ACK may also start up to `slack` bytes before RCV.NXT. Under window scaling we may
/// show an edge up to a unit less one byte short of the one we promised (RFC 7323 §2.4, see
/// `Receiver::next_field`) and still take text up to the promised edge. A peer whose ACK of
/// that text was lost knows only the shorter edge, and numbers its bare ACKs from there
/// (RFC 9293's SND.NXT cannot go past a window it knows, `Sender::bare_ack_seq`): just below
/// our RCV.NXT. Were they dropped as old, their ACK fields would never count, and two ends in
/// that state each with a closed window drop each other's ACKs for ever.
fn acceptable(rcv_nxt: SeqNum, rcv_wnd: u32, seq: SeqNum, len: u32, slack: u32) -> bool {
    let end = rcv_nxt + rcv_wnd;
    match (len, rcv_wnd) {
        (0, _) if seq.lt(rcv_nxt) => rcv_nxt.since(seq) <= slack,
        (0, 0) => seq == rcv_nxt,
        (0, _) => seq.in_range(rcv_nxt, end),
        (_, 0) => seq == rcv_nxt,
        (_, _) => seq.in_range(rcv_nxt, end) || (seq + (len - 1)).in_range(rcv_nxt, end),
    }
}

impl Connection {
    /// Feeds one segment addressed to this connection.
    pub fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        self.clock = self.clock.max(now);
        // Anything from the peer proves it alive (RFC 1122 §4.2.3.6).
        self.last_heard = now;
        self.keepalive_probes = 0;
        let una_before = self.state.sender().map(|s| s.una);
        match self.state.name() {
            StateName::Closed => self.on_closed(seg),
            StateName::Listen => self.on_listen(now, seg),
            StateName::SynSent => self.on_syn_sent(now, seg),
            _ => self.on_synchronized(now, seg),
        }
        let una_after = self.state.sender().map(|s| s.una);
        let progressed = una_after.is_some() && una_after != una_before;
        if progressed {
            // The path works again: an earlier ICMP soft error (RFC 1122 §4.2.3.9) is stale
            // news and must not be what a later, unrelated timeout reports (Linux clears
            // `sk_err_soft` on such an ACK too).
            self.soft_error = None;
        }
        self.track_progress(now, progressed);
        // Text copied ahead by `verify_segment` and not taken is free room again.
        if let Some(rcv) = self.state.receiver_mut() {
            rcv.unstage();
        }
    }

    /// Finishes the checksum of a segment parsed with it `pending` over its text
    /// (`synack_wire::parse_tcp_deferred`) and returns whether it is right (RFC 9293 §3.1);
    /// when it is not, nothing has changed and the segment is to be dropped. In the states
    /// that take text, text at RCV.NXT is copied into the receive buffer's free room as it is
    /// summed, and [`Connection::handle_segment`] of this segment (or of it stripped of its
    /// text), which must follow, commits it rather than copying it again.
    pub fn verify_segment(&mut self, seg: &TcpRepr<'_>, pending: PendingChecksum) -> bool {
        let takes_text = matches!(
            self.state.name(),
            StateName::Established | StateName::FinWait1 | StateName::FinWait2
        ) && !seg.flags.syn()
            && !seg.flags.rst();
        match self.state.receiver_mut() {
            Some(rcv) if takes_text => rcv.stage(SeqNum(seg.seq), seg.payload, pending),
            _ => pending.verify(seg.payload),
        }
    }

    /// RFC 9293 §3.10.7.1: no TCB; answer anything but a reset with a reset.
    // The rare states' steps are kept out of line so that the code of the synchronized
    // states, which nearly every segment takes, stays short and dense in the I-cache.
    #[cold]
    #[inline(never)]
    fn on_closed(&mut self, seg: &TcpRepr<'_>) {
        self.dropped_segments += 1;
        if let Some((seq, ack)) = reset_for_unexpected(seg) {
            self.queue_reset(SeqNum(seq), ack.map(SeqNum), seg.src_port);
        }
    }

    /// RFC 9293 §3.10.7.4: every state from SYN-RECEIVED to TIME-WAIT. The checks run here
    /// in the RFC's order; what they do on the rare outcomes (a stale or unacceptable
    /// segment, RST, SYN) is out of line, so the common in-window ACK or text runs through
    /// short code.
    fn on_synchronized(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let flags = seg.flags;
        let mut seq = SeqNum(seg.seq);
        let mut syn = flags.syn();
        let payload_len = seg.payload.len() as u32;

        match &self.state {
            // TIME-WAIT follows the same rules whether the user still holds the connection or
            // the host keeps it as a compact entry.
            State::TimeWait(_) => {
                self.on_time_wait(now, seg);
                return;
            }
            State::Synced(Phase::SynReceived, _) => match self.syn_received_repeat(seg) {
                Some(taken) => (seq, syn) = taken,
                None => return,
            },
            _ => {}
        }
        let len = payload_len + u32::from(syn) + u32::from(flags.fin());
        let timestamps = self.timestamps;
        let Some(rcv) = self.state.receiver_mut() else {
            return;
        };

        // PAWS (RFC 7323 §5.3): a segment whose TSval is older than TS.Recent is a duplicate
        // from an earlier wrap of the sequence space. Acknowledge and drop it (not a RST).
        if timestamps && !flags.rst() {
            if let (Some(ts), Some((recent, at))) = (seg.options.timestamps, rcv.ts_recent) {
                let stale = (ts.tsval.wrapping_sub(recent) as i32) < 0;
                if stale && now.saturating_duration_since(at) < PAWS_IDLE_LIMIT {
                    self.drop_and_ack();
                    return;
                }
            }
        }

        // First: is the segment in the window?
        // A reset gets no slack: RFC 5961 §3.2 drops one outside the window without a word.
        let slack = if flags.rst() {
            0
        } else {
            (1u32 << rcv.wscale) - 1
        };
        if !acceptable(rcv.nxt, rcv.wnd(), seq, len, slack) {
            self.on_unacceptable(now, seq, seg, syn);
            return;
        }
        let rcv_nxt = rcv.nxt;
        if len == 0 && seq.lt(rcv_nxt) {
            self.on_old_bare_ack(now);
        }
        // Second: RST. RFC 5961 §3.2: only an exact hit on RCV.NXT resets; anything else in
        // the window gets a challenge ACK.
        if flags.rst() {
            self.on_rst_in_window(now, seq == rcv_nxt);
            return;
        }

        // Fourth: SYN in a synchronized state.
        if syn {
            self.on_syn_in_window(now);
            return;
        }

        // Fifth: ACK. Without one the segment is dropped.
        if !flags.ack() {
            self.dropped_segments += 1;
            return;
        }
        if !self.process_ack(now, seq, seg) {
            return;
        }

        // Sixth (URG): RCV.UP moves forward in the states that still take text; after the
        // peer's FIN there is no urgent data to come (RFC 9293 §3.10.7.4).
        let data_seq = seq + u32::from(syn);
        if flags.urg()
            && matches!(
                self.state.name(),
                StateName::Established | StateName::FinWait1 | StateName::FinWait2
            )
        {
            let inline = self.config.urgent_inline;
            if let Some(rcv) = self.state.receiver_mut() {
                rcv.note_urgent(data_seq, seg.urgent_ptr, inline);
            }
        }
        // Seventh and eighth: text and FIN.
        self.process_text_and_fin(now, data_seq, seg);
    }

    /// SYN-RECEIVED's answers to a repeated SYN: the segment's sequence number and SYN bit as
    /// the checks below are to see them, or `None` when the segment is dealt with.
    #[inline(never)]
    fn syn_received_repeat(&mut self, seg: &TcpRepr<'_>) -> Option<(SeqNum, bool)> {
        let flags = seg.flags;
        let seq = SeqNum(seg.seq);
        let syn = flags.syn();
        let passive_open = self.passive_open;
        let State::Synced(Phase::SynReceived, s) = &mut self.state else {
            return Some((seq, syn));
        };
        // The peer did not hear our SYN-ACK and sent its SYN again: answer at once with
        // the SYN-ACK rather than waiting for our timer (as Linux does).
        if syn && !flags.ack() && !flags.rst() && seq == s.rcv.irs {
            s.snd.nxt = s.snd.iss;
            return None;
        }
        // Simultaneous open: the peer's SYN-ACK repeats the SYN we already have. Like
        // Linux, take it as the ACK of our SYN instead of challenging it.
        if !passive_open && syn && flags.ack() && seq + 1 == s.rcv.nxt {
            return Some((seq + 1, false));
        }
        Some((seq, syn))
    }

    /// A segment dropped with an ACK in answer (PAWS, RFC 7323 §5.3; an ACK of data not sent,
    /// RFC 9293 §3.10.7.4).
    #[cold]
    #[inline(never)]
    fn drop_and_ack(&mut self) {
        self.dropped_segments += 1;
        self.ack_now = true;
    }

    /// The first check failed: the segment is dropped and, unless it is a reset, answered
    /// with an ACK (RFC 9293 §3.10.7.4).
    #[cold]
    #[inline(never)]
    fn on_unacceptable(&mut self, now: Instant, seq: SeqNum, seg: &TcpRepr<'_>, syn: bool) {
        self.dropped_segments += 1;
        if seg.flags.rst() {
            return;
        }
        let payload_len = seg.payload.len() as u32;
        // A retransmitted FIN counts in the D-SACK block (RFC 2883 §4 reports the
        // duplicate segment's sequence space, and a FIN occupies one number of it).
        let dup_len = payload_len + u32::from(seg.flags.fin());
        if !syn && dup_len > 0 {
            if let Some(rcv) = self.state.receiver_mut() {
                rcv.note_old_duplicate(seq, dup_len);
            }
        }
        // Two ends that disagree about the window could answer each other's bare ACKs
        // forever; like Linux (`tcp_invalid_ratelimit`), answer those at most every 500 ms.
        // Segments with data or SYN/FIN are always answered: the peer is retransmitting.
        let bare = payload_len + u32::from(syn) + u32::from(seg.flags.fin()) == 0;
        let recently = self
            .last_oow_ack
            .get()
            .is_some_and(|t| now.saturating_duration_since(t) < OOW_ACK_INTERVAL);
        if bare && recently {
            return;
        }
        if bare {
            self.last_oow_ack.set(now);
        }
        self.ack_now = true;
    }

    /// A bare ACK let in by the slack for its ACK field, but still an old sequence number,
    /// answered as one (a keepalive probe, RFC 1122 §4.2.3.6, is exactly this) at the rate
    /// limit of bare ACKs.
    #[cold]
    #[inline(never)]
    fn on_old_bare_ack(&mut self, now: Instant) {
        let recently = self
            .last_oow_ack
            .get()
            .is_some_and(|t| now.saturating_duration_since(t) < OOW_ACK_INTERVAL);
        if !recently {
            self.last_oow_ack.set(now);
            self.ack_now = true;
        }
    }

    /// The second check's RST in the window: a reset if it hits RCV.NXT exactly, otherwise a
    /// challenge ACK (RFC 5961 §3.2).
    #[cold]
    #[inline(never)]
    fn on_rst_in_window(&mut self, now: Instant, exact: bool) {
        if exact {
            self.on_reset();
        } else {
            self.challenge_ack(now);
        }
    }

    /// The fourth check: a SYN in a synchronized state.
    #[cold]
    #[inline(never)]
    fn on_syn_in_window(&mut self, now: Instant) {
        if self.passive_open && matches!(&self.state, State::Synced(Phase::SynReceived, _)) {
            // RFC 9293 §3.10.7.4: a passive open goes back to LISTEN.
            self.back_to_listen(Cause::RecvSyn);
        } else {
            // RFC 5961 §4.2: challenge ACK, never a reset.
            self.challenge_ack(now);
        }
    }

    /// RFC 7323 §4.3: remember the peer's newest timestamp from a segment that covers the last
    /// ACK we sent. Called only once the segment's ACK was found acceptable: a forged
    /// in-window segment acknowledging data never sent must be discarded whole (RFC 5961
    /// §5.2), or its TSval would poison TS.Recent and make PAWS drop the peer's next real
    /// segment (Linux also updates TS.Recent only after `tcp_ack`).
    pub(super) fn note_ts_recent(&mut self, now: Instant, seq: SeqNum, seg: &TcpRepr<'_>) {
        if !self.timestamps {
            return;
        }
        let (Some(ts), Some(rcv)) = (seg.options.timestamps, self.state.receiver_mut()) else {
            return;
        };
        let newer = rcv
            .ts_recent
            .is_none_or(|(r, _)| (ts.tsval.wrapping_sub(r) as i32) >= 0);
        if newer && seq.le(rcv.last_ack_sent) {
            rcv.ts_recent = Some((ts.tsval, now));
        }
    }

    /// A segment for this connection in TIME-WAIT, judged by the rules the host's compact
    /// entries follow (`conn/time_wait.rs`). A new SYN never reopens a TCB the user still
    /// holds: they may have data left to read (the host reopens released ones itself).
    #[cold]
    #[inline(never)]
    fn on_time_wait(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let two_msl = self.config.msl * 2;
        let timestamps = self.timestamps;
        let State::TimeWait(tw) = &mut self.state else {
            return;
        };
        let mut record = TimeWaitRecord {
            snd_nxt: tw.snd_nxt.0,
            rcv_nxt: tw.rcv.nxt.0,
            ts_recent: tw.rcv.ts_recent.filter(|_| timestamps).map(|(ts, _)| ts),
            expires: tw.expires,
            last_stray_ack: tw.last_stray_ack,
        };
        let verdict = record.on_segment(now, seg, two_msl, false);
        tw.expires = record.expires;
        tw.last_stray_ack = record.last_stray_ack;
        if let Some(ts) = record.ts_recent {
            if tw.rcv.ts_recent.is_none_or(|(old, _)| old != ts) {
                tw.rcv.ts_recent = Some((ts, now));
            }
        }
        match verdict {
            Verdict::Ack => self.ack_now = true,
            Verdict::Kill => self.on_reset(),
            Verdict::Drop | Verdict::Reopen { .. } => self.dropped_segments += 1,
        }
    }

    /// The RST branch of the second check, per state (RFC 9293 §3.10.7.4).
    #[cold]
    #[inline(never)]
    fn on_reset(&mut self) {
        match &self.state {
            State::Synced(Phase::SynReceived, _) if self.passive_open => {
                self.back_to_listen(Cause::RecvRst)
            }
            State::Synced(Phase::SynReceived, _) => self.morph(Cause::RecvRst, |_| {
                State::Closed(Closed {
                    error: Some(ConnError::ConnectionRefused),
                    rcv: None,
                    spare: Default::default(),
                })
            }),
            State::Synced(
                Phase::Established | Phase::FinWait1 | Phase::FinWait2 | Phase::CloseWait,
                _,
            ) => self.morph(Cause::RecvRst, |_| {
                State::Closed(Closed {
                    error: Some(ConnError::ConnectionReset),
                    rcv: None,
                    spare: Default::default(),
                })
            }),
            // CLOSING, LAST-ACK, TIME-WAIT: the user already closed; just delete the TCB
            // (RFC 9293 §3.10.7.4). The peer's FIN is in, so its whole stream arrived and was
            // acknowledged: the bytes the user has not read yet stay readable, as after the
            // orderly end of these states, rather than being lost with the TCB.
            _ => self.morph(Cause::RecvRst, |s| {
                let (rcv, spare) = match s {
                    State::Synced(Phase::Closing | Phase::LastAck, mut x) => {
                        let spare = x.snd.cc.take_parts();
                        (Some(x.rcv), spare)
                    }
                    State::TimeWait(tw) => (Some(tw.rcv), tw.spare),
                    _ => (None, Default::default()),
                };
                State::Closed(Closed {
                    error: None,
                    rcv,
                    spare,
                })
            }),
        }
    }

    /// The fifth check. Returns whether processing continues with the text.
    fn process_ack(&mut self, now: Instant, seq: SeqNum, seg: &TcpRepr<'_>) -> bool {
        let ack = SeqNum(seg.ack);
        let name = self.state.name();
        if name == StateName::SynReceived {
            return self.ack_in_syn_received(now, seq, seg);
        }

        let timestamps = self.timestamps;
        let ts_offset = self.ts_offset;
        let Some(snd) = self.state.sender() else {
            return false;
        };
        // RFC 9293: an ACK for something not yet sent is answered with an ACK and dropped.
        if ack.gt(snd.max) {
            self.drop_and_ack();
            return false;
        }
        // RFC 5961 §5.2: an ACK too far in the past is a likely blind injection.
        if ack.lt(snd.una - snd.max_wnd) {
            self.drop_and_challenge(now);
            return false;
        }
        self.note_ts_recent(now, seq, seg);
        let Some(snd) = self.state.sender_mut() else {
            return false;
        };

        let old_una = snd.una;
        let new_wnd = u32::from(seg.window) << snd.wscale;
        let send_buffer_limit = self.config.send_buffer_limit();
        // Any acceptable ACK proves the peer alive, answering our window probes.
        snd.probes_unanswered = 0;
        let mut acked = Acked::default();
        // RFC 5681 §2's duplicate ACK; the answer to a zero-window probe is not one.
        let duplicate = ack == snd.una
            && seg.payload.is_empty()
            && !seg.flags.fin()
            && new_wnd == snd.wnd
            && new_wnd != 0
            && snd.una != snd.max
            && !snd.probing;
        let advanced = ack.gt(snd.una);
        let mut rtt = None;
        if advanced {
            acked = snd.advance_una(ack);
            snd.retransmits = 0;
            rtt = take_rtt_sample(snd, timestamps, ts_offset, now, seg);
        }
        // Every acceptable ACK: SACK blocks ride on duplicates and on data alike. One that
        // advances nothing and reports nothing while nothing is in flight (each data segment
        // of a one-way stream, at its receiver) is skipped once the controller is at rest,
        // where it would change nothing.
        // (An ACK below SND.UNA is not asked about: it goes nowhere.)
        let news = ack == snd.una
            && (advanced
                || !seg.options.sack_blocks.is_empty()
                || !snd.cc.at_rest(&snd.flight(), || snd.rtt.srtt()));
        if news {
            snd.cc.on_ack(&AckSummary {
                now,
                acked: acked.data,
                flight: snd.flight(),
                rtt,
                srtt: snd.rtt.srtt(),
                advanced,
                duplicate,
                sack: seg.options.sack_blocks,
                echo_sent_by: timestamps
                    .then(|| echo_sent_by(ts_offset, now, seg))
                    .flatten(),
            });
        }
        if advanced {
            snd.autotune(send_buffer_limit);
            // RFC 6298 §5.2–§5.3: stop the timer when everything is acknowledged, otherwise
            // restart it (a lone probe byte is the persist timer's business).
            let rto = (snd.una != snd.max && !snd.probing).then(|| now + snd.rtt.rto());
            self.timers.put(Timer::Retransmit, rto);
        }
        // Window update (RFC 9293 §3.10.7.4, ESTABLISHED, fifth check): only from a segment
        // newer than the one that last set it.
        if ack.ge(old_una) && (snd.wl1.lt(seq) || (snd.wl1 == seq && snd.wl2.le(ack))) {
            snd.wnd = new_wnd;
            snd.max_wnd = snd.max_wnd.max(new_wnd);
            snd.wl1 = seq;
            snd.wl2 = ack;
        }
        snd.update_persist_timer(now, &mut self.timers);
        let fin_acked = snd.fin_acked();
        if acked.data > 0 {
            snd.write_blocked = false;
            self.events.push_back(Event::Writable);
        }

        match name {
            StateName::FinWait1 | StateName::Closing | StateName::LastAck => {
                self.ack_while_closing(now, name, fin_acked)
            }
            _ => true,
        }
    }

    /// An ACK too far in the past (RFC 5961 §5.2): dropped, with a challenge ACK.
    #[cold]
    #[inline(never)]
    fn drop_and_challenge(&mut self, now: Instant) {
        self.dropped_segments += 1;
        self.challenge_ack(now);
    }

    /// The end of the fifth check in the closing states whose FIN may now be acknowledged
    /// (RFC 9293 §3.10.7.4): whether processing goes on with the text.
    #[inline(never)]
    fn ack_while_closing(&mut self, now: Instant, name: StateName, fin_acked: bool) -> bool {
        match name {
            StateName::FinWait1 if fin_acked => {
                let give_up_at = self.orphaned.then(|| now + self.config.fin_wait2_timeout);
                if let State::Synced(_, s) = &mut self.state {
                    s.phase_time = give_up_at;
                }
                self.shift(Cause::RecvAck, Phase::FinWait2);
                true
            }
            StateName::Closing => {
                if fin_acked {
                    self.enter_time_wait(now, Cause::RecvAck);
                    true
                } else {
                    // RFC 9293: otherwise ignore the segment.
                    false
                }
            }
            StateName::LastAck => {
                if fin_acked {
                    // CLOSED keeps the receive side (unread data, end of stream) and the
                    // congestion parts; the sender is dropped in place.
                    self.morph_from(Cause::RecvAck, |s| match s {
                        State::Synced(Phase::LastAck, x) => Some(State::Closed(Closed {
                            error: None,
                            spare: x.snd.cc.take_parts(),
                            rcv: Some(x.rcv.take()),
                        })),
                        _ => None,
                    });
                }
                false
            }
            _ => true,
        }
    }

    fn enter_time_wait(&mut self, now: Instant, cause: Cause) {
        let expires = now + self.config.msl * 2;
        // TIME-WAIT keeps the receive side and SND.NXT; the sender is dropped in place.
        self.morph_from(cause, |s| match s {
            State::Synced(Phase::Closing | Phase::FinWait2, x) => Some(State::TimeWait(TimeWait {
                spare: x.snd.cc.take_parts(),
                snd_nxt: x.snd.nxt.max(x.snd.max),
                rcv: x.rcv.take(),
                expires,
                last_stray_ack: None,
            })),
            _ => None,
        });
    }

    /// The seventh and eighth checks: text into the receive buffer (or the out-of-order store),
    /// then the FIN once it is in sequence.
    pub(super) fn process_text_and_fin(
        &mut self,
        now: Instant,
        data_seq: SeqNum,
        seg: &TcpRepr<'_>,
    ) {
        let name = self.state.name();
        let accepts_text = matches!(
            name,
            StateName::Established | StateName::FinWait1 | StateName::FinWait2
        );
        if !accepts_text {
            // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer's FIN is already in; text is
            // ignored, a FIN changes nothing (RFC 9293 §3.10.7.4).
            return;
        }
        if seg.payload.is_empty() && !seg.flags.fin() {
            return;
        }
        let orphaned = self.orphaned;
        let Some(rcv) = self.state.receiver_mut() else {
            return;
        };
        let end = data_seq + seg.payload.len() as u32;
        if orphaned && !seg.payload.is_empty() && end.gt(rcv.nxt) {
            self.abort_on_data_after_close(seg.src_port);
            return;
        }
        let accepted = rcv.accept_segment(data_seq, seg.payload, seg.flags.fin());
        if accepted.delivered > 0 {
            self.events.push_back(Event::Readable);
            // The receiver's round-trip estimate, for auto-tuning the buffer.
            match seg.options.timestamps.filter(|_| self.timestamps) {
                Some(ts) => rcv
                    .rtt
                    .on_echo(super::ts_clock_with(self.ts_offset, now), ts.tsecr),
                None if !self.timestamps => rcv.rtt.on_data(now, rcv.nxt, rcv.adv_edge),
                None => {}
            }
        }
        let gap = accepted.out_of_order || accepted.duplicate || accepted.filled_gap;
        let may_wait = if gap || accepted.fin {
            // RFC 5681 §4.2 and RFC 9293 §3.8.6.3: out-of-order data, duplicates and gap
            // fills are acknowledged at once, so the sender learns quickly what is missing;
            // so is a FIN, except the in-order one that moves an interactive connection to
            // CLOSE-WAIT: that may wait like data, as the application's close most often
            // follows at once and our FIN carries the ACK (Linux delays this ACK, entering
            // its pingpong mode on the FIN).
            !gap && name == StateName::Established && self.acks.fin_may_wait()
        } else {
            // In-order data may wait; if there was no room for any of it, say so right away.
            accepted.delivered > 0
        };
        // One place asks the ACK policy, so its code is in one copy.
        if may_wait {
            self.schedule_ack(now, accepted.delivered);
        } else {
            self.ack_now = true;
        }
        if accepted.fin {
            self.on_fin_in_sequence(now, name);
        }
    }

    /// RFC 1122 §4.2.2.13: new data for a connection the user has closed is answered with a
    /// reset.
    #[cold]
    #[inline(never)]
    fn abort_on_data_after_close(&mut self, dst_port: u16) {
        let ack = self.state.receiver().map_or(SeqNum(0), |r| r.nxt);
        let seq = self.state.sender().map_or(SeqNum(0), |s| s.nxt.max(s.max));
        self.queue_reset(seq, Some(ack), dst_port);
        self.morph(Cause::DataAfterClose, |_| {
            State::Closed(Closed {
                error: Some(ConnError::ConnectionAborted),
                rcv: None,
                spare: Default::default(),
            })
        });
    }

    /// The eighth check: the FIN is next in sequence. Once per connection: out of line.
    #[inline(never)]
    fn on_fin_in_sequence(&mut self, now: Instant, name: StateName) {
        let Some(rcv) = self.state.receiver_mut() else {
            return;
        };
        rcv.nxt += 1;
        rcv.fin_received = true;
        self.events.push_back(Event::Readable);
        match name {
            StateName::Established => self.shift(Cause::RecvFin, Phase::CloseWait),
            StateName::FinWait1 => self.shift(Cause::RecvFin, Phase::Closing),
            StateName::FinWait2 => self.enter_time_wait(now, Cause::RecvFin),
            _ => {}
        }
    }

    /// In-sequence data arrived: `AckPolicy` says whether its ACK goes now or waits (RFC 9293
    /// §3.8.6.3, RFC 1122 §4.2.3.2, RFC 5681 §4.2; see `ack_policy`).
    fn schedule_ack(&mut self, now: Instant, bytes: usize) {
        let (mss, timestamps) = (self.config.mss, self.timestamps);
        let full = || usize::from(mss).saturating_sub(if timestamps { 12 } else { 0 });
        match self.acks.on_data(now, bytes, full, self.config.ack_delay()) {
            AckTiming::Now => self.ack_now = true,
            AckTiming::Within(delay) => {
                if !self.timers.is_armed(Timer::DelayedAck) {
                    self.timers.set(Timer::DelayedAck, now + delay);
                }
            }
        }
    }
}

/// The latest moment the segment whose TSval `seg` echoes can have been sent: TSvals count
/// whole milliseconds, so the end of the echoed one.
fn echo_sent_by(ts_offset: u32, now: Instant, seg: &TcpRepr<'_>) -> Option<Instant> {
    let ts = seg.options.timestamps.filter(|t| t.tsecr != 0)?;
    let now_ts = super::ts_clock_with(ts_offset, now);
    let ago = now_ts.wrapping_sub(ts.tsecr);
    // An echo from the future or from long ago says nothing.
    if ago >= 1 << 30 {
        return None;
    }
    // In whole microseconds (every ACK asks): the start of the echoed millisecond, `ago`
    // whole milliseconds before the start of this one, then its last microsecond.
    let start_of_now_ms = now.as_millis() * 1000;
    let echoed_ms = start_of_now_ms.saturating_sub(u64::from(ago) * 1000);
    Some(Instant::from_micros(echoed_ms.saturating_add(999)))
}

/// An RTT sample from the echoed timestamp (RFC 7323 §4) or from the one timed segment
/// (RFC 6298 §3, Karn's algorithm: the probe is cleared on any retransmission), fed to the
/// estimator and returned.
pub(super) fn take_rtt_sample(
    snd: &mut Sender,
    timestamps: bool,
    ts_offset: u32,
    now: Instant,
    seg: &TcpRepr<'_>,
) -> Option<Duration> {
    if timestamps {
        if let Some(ts) = seg.options.timestamps.filter(|t| t.tsecr != 0) {
            let now_ts = super::ts_clock_with(ts_offset, now);
            let ms = now_ts.wrapping_sub(ts.tsecr);
            // A TSecr from the future or from long ago is not a measurement.
            if ms < 1 << 30 {
                let ms = u64::from(ms.max(1));
                snd.rtt.sample_nanos(ms * 1_000_000);
                return Some(Duration::from_millis(ms));
            }
            return None;
        }
    }
    if let Some((end, sent)) = snd.rtt_probe {
        if snd.una.ge(end) {
            let r = now.saturating_duration_since(sent);
            snd.rtt.sample(r);
            snd.rtt_probe = None;
            return Some(r);
        }
    }
    None
}
