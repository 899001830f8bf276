//! The compact TIME-WAIT table: once the user has let go of a connection in TIME-WAIT, the
//! host drops its TCB (buffers, timers, congestion state) and keeps only what RFC 9293
//! §3.10.7.4 still asks of that state — repeat the last ACK, restart 2MSL on a retransmitted
//! FIN — plus what a new SYN to the same 4-tuple is judged by (RFC 1122 §4.2.2.13, RFC 6191).

use core::time::Duration;

use synack_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

use super::ConnId;
use super::tuple::Tuple;
use crate::conn::{TimeWaitSnapshot, ts_clock_with};
use crate::seq::SeqNum;
use crate::time::Instant;

/// Least time between two ACKs answering stray segments in TIME-WAIT, so a flood of them
/// cannot turn us into an amplifier (Linux applies its out-of-window ACK rate limit, 500 ms,
/// here too).
const STRAY_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// A connection in TIME-WAIT after its TCB is gone.
#[derive(Clone, Debug)]
pub(crate) struct TimeWaitEntry {
    /// The handle the connection had, stale now: state changes still name it for tools.
    pub conn: ConnId,
    pub tuple: Tuple,
    /// SND.NXT and RCV.NXT of the ACK we repeat.
    pub snd_nxt: u32,
    pub rcv_nxt: u32,
    /// TS.Recent and our TSval offset; meaningful only when `timestamps`.
    pub ts_recent: u32,
    pub ts_offset: u32,
    /// When the 2MSL wait ends.
    pub expires: Instant,
    /// When we last answered a stray segment (rate limit), in milliseconds, if ever.
    pub last_stray_ack: Option<u32>,
    pub window: u16,
    pub timestamps: bool,
}

/// What to do with a segment that reached a TIME-WAIT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing to answer.
    Drop,
    /// Answer with our ACK.
    Ack,
    /// A reset in sequence ends TIME-WAIT at once.
    Kill,
    /// A SYN that cannot belong to the old incarnation: free the 4-tuple and hand the SYN to a
    /// listener, with this ISS.
    Reopen { iss: u32 },
}

impl TimeWaitEntry {
    pub fn new(conn: ConnId, tuple: Tuple, s: TimeWaitSnapshot) -> TimeWaitEntry {
        let (ts_recent, ts_offset) = s.timestamps.unwrap_or((0, 0));
        TimeWaitEntry {
            conn,
            tuple,
            snd_nxt: s.snd_nxt,
            rcv_nxt: s.rcv_nxt,
            ts_recent,
            ts_offset,
            expires: s.expires,
            last_stray_ack: None,
            window: s.window,
            timestamps: s.timestamps.is_some(),
        }
    }

    /// A SYN is a new incarnation rather than an old duplicate when its sequence number lies
    /// beyond everything the old one received (RFC 1122 §4.2.2.13), or, with timestamps, when
    /// its TSval is newer than the last one seen (RFC 6191 §2) — Linux accepts either. The new
    /// ISS then starts a full unscaled window beyond our old SND.NXT, so none of our old
    /// segments can fall into the new sequence space (RFC 1122 §4.2.2.13 (1); Linux uses the
    /// same distance).
    pub fn reopen_iss(&self, seg: &TcpRepr<'_>) -> Option<u32> {
        let f = seg.flags;
        if !f.syn() || f.ack() || f.rst() || self.paws_rejects(seg) {
            return None;
        }
        let beyond = SeqNum(seg.seq).gt(SeqNum(self.rcv_nxt));
        let newer_ts = self.timestamps
            && seg
                .options
                .timestamps
                .is_some_and(|ts| (ts.tsval.wrapping_sub(self.ts_recent) as i32) > 0);
        (beyond || newer_ts).then(|| self.snd_nxt.wrapping_add(65_535 + 2))
    }

    /// RFC 7323 §5.3 in TIME-WAIT: a TSval older than TS.Recent marks an old duplicate.
    fn paws_rejects(&self, seg: &TcpRepr<'_>) -> bool {
        self.timestamps
            && seg
                .options
                .timestamps
                .is_some_and(|ts| (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0)
    }

    /// RFC 9293 §3.10.7.4 for TIME-WAIT, on the compact record. `two_msl` restarts the wait;
    /// `may_reopen` says whether a listener would take a new SYN.
    pub fn on_segment(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        two_msl: Duration,
        may_reopen: bool,
    ) -> Verdict {
        let f = seg.flags;
        let seq = SeqNum(seg.seq);
        let rcv_nxt = SeqNum(self.rcv_nxt);
        if f.rst() {
            // A reset exactly at RCV.NXT ends TIME-WAIT (RFC 9293 §3.10.7.4 second check with
            // RFC 5961 §3.2's exact-match rule; PAWS spares resets, RFC 7323 §5.3 R1). RFC 1337
            // calls this TIME-WAIT assassination: an old reset can free the 4-tuple early.
            // Linux by default (tcp_rfc1337 = 0) lets it, and so do we; any other reset is
            // ignored, never answered.
            return if seq == rcv_nxt {
                Verdict::Kill
            } else {
                Verdict::Drop
            };
        }
        let paws = self.paws_rejects(seg);
        if let Some(iss) = self.reopen_iss(seg).filter(|_| may_reopen) {
            return Verdict::Reopen { iss };
        }
        let len = seg.payload.len() as u32 + u32::from(f.syn()) + u32::from(f.fin());
        if !paws && f.fin() && !f.syn() && seq + len == rcv_nxt {
            // The peer's FIN again: our last ACK was lost. Acknowledge it and restart the 2MSL
            // wait (RFC 9293 §3.10.7.4, eighth check).
            self.expires = now + two_msl;
            self.note_tsval(seg);
            return Verdict::Ack;
        }
        if !paws && len == 0 && seq == rcv_nxt {
            // A bare ACK in sequence: nothing to learn, nothing owed.
            self.note_tsval(seg);
            return Verdict::Drop;
        }
        // Anything else (data, an old SYN, an old duplicate) gets our ACK, rate-limited.
        // Milliseconds, wrapping: 2MSL is far shorter than 2^32 ms.
        let now_ms = now.as_millis() as u32;
        let recent = self.last_stray_ack.is_some_and(|t| {
            u64::from(now_ms.wrapping_sub(t)) < STRAY_ACK_INTERVAL.as_millis() as u64
        });
        if recent {
            return Verdict::Drop;
        }
        self.last_stray_ack = Some(now_ms);
        Verdict::Ack
    }

    fn note_tsval(&mut self, seg: &TcpRepr<'_>) {
        if let (true, Some(ts)) = (self.timestamps, seg.options.timestamps) {
            self.ts_recent = ts.tsval;
        }
    }

    /// Our ACK: `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` with the window last advertised.
    pub fn ack(&self, now: Instant) -> TcpRepr<'static> {
        let timestamps = self.timestamps.then(|| Timestamps {
            tsval: ts_clock_with(self.ts_offset, now),
            tsecr: self.ts_recent,
        });
        TcpRepr {
            src_port: self.tuple.local().port(),
            dst_port: self.tuple.remote().port(),
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags: TcpFlags::ACK,
            window: self.window,
            urgent_ptr: 0,
            options: TcpOptions {
                timestamps,
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }
}
