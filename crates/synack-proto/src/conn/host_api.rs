//! What the host needs from a connection beyond the user calls: building a connection from a
//! SYN cookie (RFC 4987 §3.6), where no SYN-RECEIVED state was ever kept.

use synack_wire::TcpRepr;

use super::events::EventQueue;
use super::negotiate::{CookieSyn, Negotiated};
use super::recv::Receiver;
use super::send::Sender;
use super::state::{Listen, Phase, State, Synced};
use super::{Cause, Connection};
use crate::config::{Config, SharedConfig};
use crate::congestion::CongestionParts;
use crate::error::ConnError;
use crate::seq::SeqNum;
use crate::time::Instant;

/// The window field of a SYN-ACK we send for `config`: the receive buffer, unscaled and capped
/// at 16 bits (RFC 7323 §2.2: a SYN's window is never scaled). The host's cookie SYN-ACK uses
/// it, and [`Connection::from_cookie_ack`] assumes the peer was offered exactly this.
pub(crate) fn syn_ack_window(config: &Config) -> u16 {
    config.recv_buffer.clamp(1, usize::from(u16::MAX)) as u16
}

/// Our TSval clock for a connection with initial sequence number `iss` at `now`: the same
/// millisecond clock plus per-connection offset that `Connection::new` and `ts_val` use
/// (RFC 7323 §5.4), for a connection whose offset the host has not replaced (see
/// `Connection::set_ts_offset`).
pub fn ts_clock(iss: u32, now: Instant) -> u32 {
    super::ts_clock_with(super::ts_offset(iss), now)
}

impl Connection {
    /// Reads what handling a segment and the host's bookkeeping after it read first: the
    /// state, the clock, both sequence spaces, the deadlines, the buffers and the event
    /// queue. The host calls it for every connection a batch of packets will reach before
    /// handling any of them, so the cache misses of all those connections overlap instead of
    /// coming one after another (no prefetch instruction is needed: the loads are
    /// independent). The value means nothing; it only keeps the reads from being optimised
    /// away.
    ///
    /// The hot fields lead `Connection`, `Sender`, `Receiver` and `Congestion` (all
    /// `repr(C)`); the reads here are spread over those runs at most a cache line apart, so
    /// every line a segment touches is taken in whatever the slot's alignment, and no other.
    /// A synchronized connection's fields are read directly, one match on the state: the
    /// point is the loads, not the deadline or the window they would add up to. No more
    /// fields than that spacing needs: the host reads a batch's connections one after another,
    /// and the fewer instructions each takes, the more connections' misses the core has in
    /// flight at once (its window of instructions in flight, not the loads, is the limit).
    pub(crate) fn touch(&self) -> u64 {
        // Written by every segment, read by none before: a line a store would miss on.
        let mut v = self.clock.as_micros()
            ^ u64::from(self.events.is_empty())
            ^ u64::from(self.keepalive_probes);
        match &self.state {
            State::Synced(_, s) => {
                let (snd, rcv) = (&s.snd, &s.rcv);
                v ^= u64::from(snd.una.0) ^ snd.buffered() as u64 ^ snd.cc.touch();
                v ^= u64::from(s.phase_time.is_some()) ^ u64::from(rcv.nxt.0);
                v ^= rcv.buffered() as u64;
            }
            _ => {
                v ^= self.state.name() as u64;
                v ^= self.poll_timeout().map_or(0, |t| t.as_micros());
                v ^= self.buffered_bytes() as u64;
                if let Some(r) = self.state.receiver() {
                    v ^= u64::from(r.nxt.0) ^ u64::from(r.wnd()) ^ u64::from(r.wscale);
                }
                if let Some(s) = self.state.sender() {
                    v ^= u64::from(s.max.0) ^ u64::from(s.probing) ^ s.segs_retransmitted;
                    v ^= s.cc.touch();
                }
            }
        }
        v
    }

    /// Parts from the host for the handshake ahead (LISTEN or SYN-SENT); dropped otherwise.
    pub(crate) fn give_parts(&mut self, parts: CongestionParts) {
        self.state.give_parts(parts);
    }

    /// The congestion parts this connection holds, for its host to reuse after it is gone.
    pub(crate) fn take_parts(&mut self) -> CongestionParts {
        self.state.take_parts()
    }

    /// The connection a valid cookie ACK stands for (RFC 4987 §3.6): ESTABLISHED at once, with
    /// ISS = SEG.ACK − 1 and IRS = SEG.SEQ − 1, and the options the cookie recovered.
    ///
    /// The ACK itself is then processed like any other segment, so data or a FIN riding on it
    /// is taken in. The caller must have validated the cookie; this only builds the state.
    pub(crate) fn from_cookie_ack(
        config: SharedConfig,
        now: Instant,
        ack: &TcpRepr<'_>,
        syn: CookieSyn,
        spare: CongestionParts,
    ) -> Connection {
        let iss = ack.ack.wrapping_sub(1);
        let irs = ack.seq.wrapping_sub(1);
        let mut snd = Sender::new(iss, &config);
        let synced = SeqNum(iss) + 1;
        snd.una = synced;
        snd.up = synced;
        snd.nxt = synced;
        snd.max = synced;
        let mut rcv = Receiver::new(irs, &config, 0);
        let n = Negotiated::from_cookie(&config, syn);
        n.settle(&config, now, ack, &mut snd, &mut rcv, spare);
        // The peer was promised the window of our SYN-ACK; never take it back.
        rcv.set_offered_edge(rcv.nxt + u32::from(syn_ack_window(&config)));
        // The listener's LISTEN, which kept nothing for this peer, is where the edge starts.
        let listen = |_: &Config| {
            State::Listen(Listen {
                iss,
                spare: Default::default(),
            })
        };
        let mut c = Connection::new(
            config,
            ack.dst_port,
            ack.src_port,
            iss,
            listen,
            EventQueue::default(),
        );
        c.apply(n);
        c.morph(Cause::RecvCookieAck, move |_| {
            State::Synced(Phase::Established, Synced::new(snd, rcv))
        });
        if !ack.payload.is_empty() || ack.flags.fin() {
            c.handle_segment(now, ack);
        }
        c
    }
}

/// What a TIME-WAIT connection still needs once the host drops its TCB for a compact record:
/// the numbers of the ACK it may have to repeat, and when the 2MSL wait ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeWaitSnapshot {
    /// SND.NXT: the sequence number of our ACKs.
    pub snd_nxt: u32,
    /// RCV.NXT: one past the peer's FIN.
    pub rcv_nxt: u32,
    /// The window field last advertised (already scaled down).
    pub window: u16,
    /// With timestamps: (TS.Recent, our TSval offset), so later ACKs carry the same clock.
    pub timestamps: Option<(u32, u32)>,
    /// When the 2MSL wait ends.
    pub expires: Instant,
}

impl Connection {
    /// Segments retransmitted so far: the host reads it around `poll_transmit` to count
    /// RetransSegs without building a whole `info()` per segment.
    pub(crate) fn segs_retransmitted(&self) -> u64 {
        match (self.state.sender(), &self.last_info) {
            (Some(snd), _) => snd.segs_retransmitted,
            (None, Some(last)) => last.segs_retransmitted,
            (None, None) => 0,
        }
    }

    /// The compact form of this connection, when it is in TIME-WAIT.
    pub(crate) fn time_wait_snapshot(&self) -> Option<TimeWaitSnapshot> {
        let super::state::State::TimeWait(tw) = &self.state else {
            return None;
        };
        let rcv = &tw.rcv;
        let window = (rcv.adv_edge.since(rcv.nxt) >> rcv.wscale).min(u32::from(u16::MAX)) as u16;
        let timestamps = self
            .timestamps
            .then(|| (rcv.ts_recent.map_or(0, |(ts, _)| ts), self.ts_offset));
        Some(TimeWaitSnapshot {
            snd_nxt: tw.snd_nxt.0,
            rcv_nxt: rcv.nxt.0,
            window,
            timestamps,
            expires: tw.expires,
        })
    }
}

impl Connection {
    /// RFC 5927 §4.1: an ICMP error about this connection must quote a segment we sent that
    /// is not yet acknowledged, SND.UNA =< SEG.SEQ < SND.NXT; with nothing in flight, none is
    /// believed, which the RFC notes defeats blind attacks on idle connections entirely. We
    /// test against the highest sequence number ever sent, since a timeout may have rewound
    /// SND.NXT below segments still out.
    pub(crate) fn icmp_seq_acceptable(&self, seq: u32) -> bool {
        self.state
            .sender()
            .is_some_and(|s| SeqNum(seq).in_range(s.una, s.max))
    }

    /// Records a soft error (RFC 1122 §4.2.3.9: an ICMP destination unreachable must not abort
    /// the connection). If the connection gives up on retransmissions before anything new is
    /// acknowledged, it fails with this error rather than a plain timeout, as Linux reports
    /// `sk_err_soft`; an acknowledgment of new data clears it.
    pub(crate) fn note_soft_error(&mut self, error: ConnError) {
        self.soft_error = Some(error);
    }

    /// The last soft error recorded, if any.
    pub fn soft_error(&self) -> Option<ConnError> {
        self.soft_error
    }

    /// The path MTU dropped to `mtu` bytes, of which `ip_header` go to the IP header (RFC 1191
    /// §6.3, RFC 8201 §5.2). Lowers the send MSS to what fits, never raises it, and resends
    /// what is in flight at the new size at once: those segments were too big and are lost,
    /// and since this is no sign of congestion the window stays as it is. Returns whether the
    /// MSS changed. The caller validates the ICMP message first (RFC 5927). In SYN-SENT the
    /// value is replaced once the SYN-ACK brings the peer's MSS; no legal MTU is too small for
    /// a SYN, so no genuine report can come that early.
    pub(crate) fn set_path_mtu(&mut self, mtu: u32, ip_header: u32) -> bool {
        let options = if self.timestamps { 12 } else { 0 };
        let fits = mtu.saturating_sub(ip_header + 20 + options).max(8);
        let Some(snd) = self.state.sender_mut() else {
            return false;
        };
        if fits >= snd.mss {
            return false;
        }
        snd.mss = fits;
        if snd.syn_acked() && snd.una != snd.max {
            snd.nxt = snd.una;
            snd.cc.on_rewind();
            // Karn: nothing resent may be timed.
            snd.rtt_probe = None;
        }
        true
    }
}

impl Connection {
    /// The host let go of the connection's handle: nothing will read `info` again, so the
    /// send side's last figures need not outlive it (a copy and an allocation saved at the
    /// end of every connection the user closed).
    pub(crate) fn forget_info(&mut self) {
        self.info_unwanted = true;
        self.last_info = None;
    }

    /// Replaces the TSval offset `Connection::new` derived from the ISS with the host's, a
    /// keyed hash of the 4-tuple: RFC 6191 §2 and PAWS in a peer's TIME-WAIT (RFC 7323 §5.3)
    /// need our TSvals to keep growing from one incarnation of a 4-tuple to the next, which an
    /// offset drawn from each ISS breaks half the time, while the hash still hides our clock
    /// from outsiders (RFC 7323 §5.4, §7.1; Linux's `secure_tcp_ts_off` does the same). Call
    /// before the connection sends or takes in anything.
    pub(crate) fn set_ts_offset(&mut self, offset: u32) {
        self.ts_offset = offset;
    }

    /// [`Connection::buffered_bytes`] with the state matched once: the host recounts a
    /// connection's memory after every touch, nearly always in a synchronized state.
    #[inline(always)]
    pub(crate) fn memory(&self) -> usize {
        match &self.state {
            State::Synced(_, s) => s.snd.buffered() + s.rcv.buffered() + s.rcv.out_of_order_bytes(),
            _ => self.buffered_bytes(),
        }
    }

    /// CLOSED, or LISTEN again after a passive open failed: where the host lets the 4-tuple
    /// go. The state's variant alone, without naming the state.
    #[inline(always)]
    pub(crate) fn is_closed_or_listen(&self) -> bool {
        matches!(self.state, State::Closed(_) | State::Listen(_))
    }

    /// Received bytes in order and not yet read (the host's per-connection memory allowance
    /// is judged on them).
    pub(crate) fn recv_buffered(&self) -> usize {
        self.state.receiver().map_or(0, |r| r.buffered())
    }

    /// RCV.NXT, once there is a receive side.
    pub(crate) fn rcv_nxt(&self) -> Option<u32> {
        self.state.receiver().map(|r| r.nxt.0)
    }
}
