//! The compact TIME-WAIT table: once the user has let go of a connection in TIME-WAIT, the
//! host drops its TCB (buffers, timers, congestion state) and keeps only what RFC 9293
//! §3.10.7.4 still asks of that state — repeat the last ACK, restart 2MSL on a retransmitted
//! FIN — plus what a new SYN to the same 4-tuple is judged by (RFC 1122 §4.2.2.13, RFC 6191).

use core::time::Duration;

use synack_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

use super::ConnId;
use super::tuple::Tuple;
use crate::conn::time_wait::TimeWaitRecord;
pub(crate) use crate::conn::time_wait::Verdict;
use crate::conn::{TimeWaitSnapshot, ts_clock_with};
use crate::time::Instant;

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

    /// The rules' view of this entry.
    fn record(&self) -> TimeWaitRecord {
        TimeWaitRecord {
            snd_nxt: self.snd_nxt,
            rcv_nxt: self.rcv_nxt,
            ts_recent: self.timestamps.then_some(self.ts_recent),
            expires: self.expires,
            last_stray_ack: self.last_stray_ack,
        }
    }

    /// Whether a SYN would open a new incarnation (see `TimeWaitRecord::reopen_iss`).
    pub fn reopen_iss(&self, seg: &TcpRepr<'_>) -> Option<u32> {
        self.record().reopen_iss(seg)
    }

    /// RFC 9293 §3.10.7.4 for TIME-WAIT, by the rules a whole TCB in TIME-WAIT follows too.
    pub fn on_segment(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        two_msl: Duration,
        may_reopen: bool,
    ) -> Verdict {
        let mut record = self.record();
        let verdict = record.on_segment(now, seg, two_msl, may_reopen);
        self.expires = record.expires;
        self.last_stray_ack = record.last_stray_ack;
        if let Some(ts) = record.ts_recent {
            self.ts_recent = ts;
        }
        verdict
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
