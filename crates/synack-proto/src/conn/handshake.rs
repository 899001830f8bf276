//! The handshake's steps of SEGMENT ARRIVES (RFC 9293 §3.10.7.2–§3.10.7.4): a SYN in LISTEN,
//! a SYN-ACK (or a SYN) in SYN-SENT, and the ACK that ends SYN-RECEIVED. Every connection's
//! life takes one open on each side, so the two opens share the code that synchronizes a
//! connection and the code that takes the ACK of our SYN.

use core::mem;

use synack_wire::TcpRepr;

use super::arrival::take_rtt_sample;
use super::negotiate::Negotiated;
use super::recv::Receiver;
use super::send::Sender;
use super::state::{Closed, Phase, State, SynSent, Synced};
use super::timer::Timer;
use super::{Cause, Connection, StateName};
use crate::error::ConnError;
use crate::seq::SeqNum;
use crate::time::Instant;

impl Connection {
    /// RFC 9293 §3.10.7.2.
    #[cold]
    #[inline(never)]
    pub(super) fn on_listen(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        if seg.flags.rst() {
            return;
        }
        if seg.flags.ack() {
            self.queue_reset(SeqNum(seg.ack), None, seg.src_port);
            return;
        }
        if !seg.flags.syn() {
            self.dropped_segments += 1;
            return;
        }
        self.synchronize(now, seg, Phase::SynReceived, Some(now));
        if let State::Synced(_, s) = &mut self.state {
            s.snd.wl2 = s.snd.iss;
        }
        self.remote_port = seg.src_port;
        // Data on a SYN is not acknowledged here (RCV.NXT stays at IRS+1); the peer sends it
        // again once we are established. The SYN-ACK leaves at the next poll_transmit.
        self.passive_open = true;
        self.fin_after_handshake = false;
        self.record_transition(StateName::Listen, StateName::SynReceived, Cause::RecvSyn);
    }

    /// RFC 9293 §3.10.7.3. Once per active open: out of line.
    #[inline(never)]
    pub(super) fn on_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let State::SynSent(SynSent {
            snd,
            since,
            close_requested,
            ..
        }) = &self.state
        else {
            return;
        };
        let (close_requested, since) = (*close_requested, *since);
        let ack = SeqNum(seg.ack);
        // First: the ACK must cover our SYN and nothing we have not sent.
        let mut ack_ok = false;
        if seg.flags.ack() {
            if ack.le(snd.iss) || ack.gt(snd.max) {
                if !seg.flags.rst() {
                    self.queue_reset(ack, None, seg.src_port);
                }
                return;
            }
            ack_ok = true;
        }
        // Second: a reset counts only if it acknowledges our SYN (also RFC 5961 §3.2's view).
        if seg.flags.rst() {
            if ack_ok {
                self.morph(Cause::RecvRst, |_| {
                    State::Closed(Closed {
                        error: Some(ConnError::ConnectionRefused),
                        rcv: None,
                        spare: Default::default(),
                    })
                });
            }
            return;
        }
        // Fourth: SYN. Without one, the segment is dropped.
        if !seg.flags.syn() {
            self.dropped_segments += 1;
            return;
        }
        if ack_ok {
            self.synchronize(now, seg, Phase::Established, None);
        } else {
            // Simultaneous open (RFC 9293 §3.5, Figure 8): SYN-RECEIVED, whose handshake
            // started when our SYN left.
            self.synchronize(now, seg, Phase::SynReceived, Some(since.unwrap_or(now)));
        }
        let config = &self.config;
        let State::Synced(_, s) = &mut self.state else {
            return;
        };
        // Our SYN offered this window (unscaled, RFC 7323 §2.2): data riding on the SYN-ACK
        // may fill it.
        let offered = s.rcv.nxt + u32::from(super::host_api::syn_ack_window(config));
        s.rcv.set_offered_edge(offered);
        if ack_ok {
            self.syn_acked(now, ack, seg);
            self.ack_now = true;
            self.acks.on_established(now);
            self.record_transition(
                StateName::SynSent,
                StateName::Established,
                Cause::RecvSynAck,
            );
            // Data or FIN riding on the SYN-ACK continue at the sixth step.
            self.process_text_and_fin(now, SeqNum(seg.seq) + 1, seg);
            if close_requested {
                self.finish_deferred_close();
            }
        } else {
            // Answer with SYN-ACK <SEQ=ISS><ACK=RCV.NXT>: our SYN sent again with an ACK.
            s.snd.nxt = s.snd.iss;
            self.passive_open = false;
            self.fin_after_handshake = close_requested;
            self.record_transition(StateName::SynSent, StateName::SynReceived, Cause::RecvSyn);
        }
    }

    /// The peer's SYN is in, whether alone (LISTEN, or a simultaneous open in SYN-SENT) or on
    /// its SYN-ACK: the connection becomes synchronized in `phase`, keeping the send side it
    /// had in SYN-SENT or making one with LISTEN's ISS, with a receive side that starts at the
    /// peer's ISN, and both halves set up for the options the two SYNs agreed on (RFC 9293
    /// §3.10.7.2–§3.10.7.3, RFC 7323 §2–§3, RFC 2018 §2). The state's change is the caller's
    /// to report.
    ///
    /// One body for the passive and the active open: every connection's life runs one of them
    /// on each side, so both sides share these lines of code rather than each running a copy.
    #[inline(never)]
    fn synchronize(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        phase: Phase,
        phase_time: Option<Instant>,
    ) {
        let (snd, spare) = match mem::replace(&mut self.state, State::Closed(Closed::default())) {
            State::SynSent(s) => (s.snd, s.spare),
            State::Listen(l) => (Sender::new(l.iss, &self.config), l.spare),
            other => {
                self.state = other;
                return;
            }
        };
        self.state = State::Synced(
            phase,
            Synced {
                snd,
                rcv: Receiver::new(seg.seq, &self.config, 0),
                phase_time,
            },
        );
        let n = Negotiated::from_syn(&self.config, seg);
        if let State::Synced(_, s) = &mut self.state {
            n.settle(&self.config, now, seg, &mut s.snd, &mut s.rcv, spare);
        }
        self.apply(n);
    }

    /// An acceptable ACK of our SYN, in SYN-SENT (RFC 9293 §3.10.7.3) or SYN-RECEIVED
    /// (§3.10.7.4, fifth check): SND.UNA moves past the SYN, the handshake's round trip is
    /// timed (RFC 7323 §4, or RFC 6298 §3 on the timed SYN), an estimate a SYN timeout
    /// spoiled starts over (RFC 6298 §5.7), and the retransmission timer follows what is
    /// still in flight. Shared by both ends of every handshake.
    #[inline(never)]
    fn syn_acked(&mut self, now: Instant, ack: SeqNum, seg: &TcpRepr<'_>) {
        let (timestamps, ts_offset) = (self.timestamps, self.ts_offset);
        let State::Synced(_, s) = &mut self.state else {
            return;
        };
        let snd = &mut s.snd;
        snd.advance_una(ack);
        take_rtt_sample(snd, timestamps, ts_offset, now, seg);
        if snd.syn_retransmitted {
            snd.rtt.reset_after_syn_timeout();
        }
        snd.retransmits = 0;
        let rto = (snd.una != snd.max).then(|| now + snd.rtt.rto());
        self.timers.put(Timer::Retransmit, rto);
    }
    /// The fifth check in SYN-RECEIVED: the ACK must cover our SYN-ACK, or we reset; if it
    /// does, the connection is ESTABLISHED. Once per passive open: out of line.
    #[inline(never)]
    pub(super) fn ack_in_syn_received(
        &mut self,
        now: Instant,
        seq: SeqNum,
        seg: &TcpRepr<'_>,
    ) -> bool {
        let ack = SeqNum(seg.ack);
        if let State::Synced(Phase::SynReceived, s) = &self.state {
            if !(ack.gt(s.snd.una) && ack.le(s.snd.max)) {
                self.queue_reset(ack, None, seg.src_port);
                return false;
            }
            self.note_ts_recent(now, seq, seg);
        }
        if !matches!(&self.state, State::Synced(Phase::SynReceived, _)) {
            return false;
        }
        self.syn_acked(now, ack, seg);
        let State::Synced(_, s) = &mut self.state else {
            return false;
        };
        let snd = &mut s.snd;
        // SND.WND = SEG.WND (now scaled), SND.WL1 = SEG.SEQ, SND.WL2 = SEG.ACK.
        snd.wnd = u32::from(seg.window) << snd.wscale;
        snd.max_wnd = snd.max_wnd.max(snd.wnd);
        snd.wl1 = seq;
        snd.wl2 = ack;
        // The handshake is over: its start no longer bounds anything. The sender and
        // receiver stay where they are; only the phase moves on.
        s.phase_time = None;
        self.shift(Cause::RecvAck, Phase::Established);
        if self.fin_after_handshake {
            self.finish_deferred_close();
        }
        true
    }

    /// A shutdown asked for before the handshake completed takes effect now: ESTABLISHED →
    /// FIN-WAIT-1, or CLOSE-WAIT → LAST-ACK when the peer's FIN came with its SYN-ACK.
    fn finish_deferred_close(&mut self) {
        self.queue_fin();
        match self.state.name() {
            StateName::Established => self.shift(Cause::UserClose, Phase::FinWait1),
            StateName::CloseWait => self.shift(Cause::UserClose, Phase::LastAck),
            _ => {}
        }
    }
}
