//! What RFC 9293 §3.10.7.4 asks of TIME-WAIT, decided in one place for both forms a
//! connection in that state takes: a whole TCB (the user still holds the socket, e.g. after
//! `shutdown(SHUT_WR)`) and the host's compact entry (after the user let go).

use core::time::Duration;

use synack_wire::TcpRepr;

use crate::seq::SeqNum;
use crate::time::Instant;

/// Least time between two ACKs answering stray segments in TIME-WAIT, so a flood of them
/// cannot turn us into an amplifier (Linux applies its out-of-window ACK rate limit, 500 ms,
/// here too).
const STRAY_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// What to do with a segment that reached a connection in TIME-WAIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing to answer.
    Drop,
    /// Answer with our ACK, `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`.
    Ack,
    /// A reset in sequence ends TIME-WAIT at once.
    Kill,
    /// A SYN that cannot belong to the old incarnation: free the 4-tuple and hand the SYN to a
    /// listener, with this ISS.
    Reopen { iss: u32 },
}

/// The little TIME-WAIT still needs to know: the numbers of the ACK it repeats, TS.Recent, when
/// 2MSL ends, and the stray-ACK rate limit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeWaitRecord {
    /// SND.NXT and RCV.NXT of our ACK.
    pub snd_nxt: u32,
    pub rcv_nxt: u32,
    /// TS.Recent, when timestamps are in use.
    pub ts_recent: Option<u32>,
    /// When the 2MSL wait ends.
    pub expires: Instant,
    /// When we last answered a stray segment, in milliseconds (wrapping), if ever.
    pub last_stray_ack: Option<u32>,
}

impl TimeWaitRecord {
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
        let newer_ts = match (self.ts_recent, seg.options.timestamps) {
            (Some(recent), Some(ts)) => (ts.tsval.wrapping_sub(recent) as i32) > 0,
            _ => false,
        };
        (beyond || newer_ts).then(|| self.snd_nxt.wrapping_add(65_535 + 2))
    }

    /// RFC 7323 §5.3 in TIME-WAIT: a TSval older than TS.Recent marks an old duplicate.
    fn paws_rejects(&self, seg: &TcpRepr<'_>) -> bool {
        match (self.ts_recent, seg.options.timestamps) {
            (Some(recent), Some(ts)) => (ts.tsval.wrapping_sub(recent) as i32) < 0,
            _ => false,
        }
    }

    /// RFC 9293 §3.10.7.4 for TIME-WAIT. `two_msl` restarts the wait; `may_reopen` says
    /// whether a listener would take a new SYN.
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
            // A reset exactly at RCV.NXT ends TIME-WAIT (second check, with RFC 5961 §3.2's
            // exact-match rule; PAWS spares resets, RFC 7323 §5.3 R1). RFC 1337 calls this
            // TIME-WAIT assassination: an old reset can free the 4-tuple early. Linux by
            // default (tcp_rfc1337 = 0) lets it, and so do we; any other reset is ignored,
            // never answered.
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
            // wait (fifth and eighth checks).
            self.expires = now + two_msl;
            self.note_tsval(seg);
            return Verdict::Ack;
        }
        if !paws && len == 0 && seq == rcv_nxt {
            // A bare ACK in sequence: nothing to learn, nothing owed.
            self.note_tsval(seg);
            return Verdict::Drop;
        }
        // Anything else (data, a FIN where none can be, an old SYN, an old duplicate) gets our
        // ACK, rate-limited. Milliseconds, wrapping: 2MSL is far shorter than 2^32 ms.
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
        if let (Some(recent), Some(ts)) = (self.ts_recent.as_mut(), seg.options.timestamps) {
            *recent = ts.tsval;
        }
    }
}
