//! The compact TIME-WAIT table: once the user has let go of a connection in TIME-WAIT, the
//! host drops its TCB (buffers, timers, congestion state) and keeps only what RFC 9293
//! §3.10.7.4 still asks of that state — repeat the last ACK, restart 2MSL on a retransmitted
//! FIN — plus what a new SYN to the same 4-tuple is judged by (RFC 1122 §4.2.2.13, RFC 6191).

use core::time::Duration;

use synack_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

use super::ConnId;
use super::slot::SlabId;
use super::tuple::Tuple;
use super::{Entry, Host, HostEvent, Target};
use crate::conn::time_wait::TimeWaitRecord;
pub(crate) use crate::conn::time_wait::Verdict;
use crate::conn::{Cause, StateName, TimeWaitSnapshot, ts_clock_with};
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
    /// TS.Recent; meaningful only when `timestamps`. Our TSval offset is not kept: the host
    /// derives it from the tuple (`Host::ts_offset`), as it did for the connection.
    pub ts_recent: u32,
    /// When the 2MSL wait ends.
    pub expires: Instant,
    /// When we last answered a stray segment (rate limit), in milliseconds, if ever.
    pub last_stray_ack: Option<u32>,
    pub window: u16,
    pub timestamps: bool,
    /// The IP header fields the connection's segments carried, which its ACKs from here
    /// carry too: a TCP user's IP_TOS/IP_TTL (or IPV6_TCLASS/IPV6_UNICAST_HOPS) are the
    /// connection's for its whole life (RFC 1122 §4.2.4.2), not only while it has a TCB.
    pub ip: IpMarks,
}

/// The DS field and hop limit of a TIME-WAIT entry's ACKs, the host's defaults already
/// applied: two bytes, which fit where the entry had padding, so the entry grows by nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpMarks {
    pub ds: u8,
    pub hop_limit: u8,
}

impl IpMarks {
    /// As `Host::queue_control_marked` takes them: a DS field of 0 is what every datagram
    /// starts with, so it needs no rewriting.
    fn for_control(self) -> (Option<u8>, Option<u8>) {
        (Some(self.ds).filter(|&ds| ds != 0), Some(self.hop_limit))
    }
}

impl TimeWaitEntry {
    pub fn new(conn: ConnId, tuple: Tuple, s: TimeWaitSnapshot, ip: IpMarks) -> TimeWaitEntry {
        let (ts_recent, _) = s.timestamps.unwrap_or((0, 0));
        TimeWaitEntry {
            conn,
            tuple,
            snd_nxt: s.snd_nxt,
            rcv_nxt: s.rcv_nxt,
            ts_recent,
            expires: s.expires,
            last_stray_ack: None,
            window: s.window,
            timestamps: s.timestamps.is_some(),
            ip,
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

    /// Our ACK: `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` with the window last advertised, and
    /// TSval from our clock with this tuple's offset.
    pub fn ack(&self, now: Instant, ts_offset: u32) -> TcpRepr<'static> {
        let timestamps = self.timestamps.then(|| Timestamps {
            tsval: ts_clock_with(ts_offset, now),
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

impl Host {
    /// A new SYN to a TIME-WAIT connection that the user let go of but whose TCB is still
    /// here (its last ACK not yet out): judged like a compact entry (see
    /// `TimeWaitEntry::reopen_iss`). On reopening, the old connection is ended and the ISS for
    /// the new one returned.
    pub(super) fn reopens_time_wait(&mut self, id: ConnId, seg: &TcpRepr<'_>) -> Option<u32> {
        if !seg.flags.syn() {
            return None;
        }
        let e = self.conns.get_mut(id.0)?;
        // Only an orphan: a user still holding the connection may have data left to read.
        if !e.released {
            return None;
        }
        let snapshot = e.conn.time_wait_snapshot()?;
        let ip = ip_marks(e, self.config.hop_limit);
        let iss = TimeWaitEntry::new(id, e.tuple, snapshot, ip).reopen_iss(seg)?;
        // No reset leaves: ABORT in TIME-WAIT sends nothing (RFC 9293 §3.10.5).
        e.conn.abort();
        self.after(id);
        self.counters.time_wait_reopened += 1;
        Some(iss)
    }

    /// A segment for a compact TIME-WAIT entry. Returns the ISS when it is a SYN that reopens
    /// the 4-tuple (the entry is gone then).
    pub(super) fn on_time_wait(
        &mut self,
        now: Instant,
        tw: SlabId,
        seg: &TcpRepr<'_>,
        listening: bool,
    ) -> Option<u32> {
        let two_msl = self.config.tcp.msl * 2;
        let entry = self.time_wait.get_mut(tw)?;
        let before = entry.expires;
        match entry.on_segment(now, seg, two_msl, listening) {
            Verdict::Drop => {}
            Verdict::Ack => {
                let (local, remote) = (entry.tuple.local(), entry.tuple.remote());
                let ts_offset =
                    super::isn::TupleSecrets::of(&self.tuple_key, &entry.tuple).ts_offset;
                let (src, dst, ack) = (local.ip(), remote.ip(), entry.ack(now, ts_offset));
                let (expires, ip) = (entry.expires, entry.ip.for_control());
                if expires != before {
                    self.schedule(expires, Target::TimeWait(tw));
                }
                self.queue_control_marked(src, dst, ack, ip);
            }
            Verdict::Kill => {
                self.counters.time_wait_killed += 1;
                self.remove_time_wait(tw, Cause::RecvRst);
            }
            Verdict::Reopen { iss } => {
                // Ended as ABORT ends a TIME-WAIT TCB (RFC 9293 §3.10.5: nothing is sent),
                // which is how the full-TCB case above reports it too.
                self.counters.time_wait_reopened += 1;
                self.remove_time_wait(tw, Cause::UserAbort);
                return Some(iss);
            }
        }
        None
    }

    /// Swaps a released TIME-WAIT connection's TCB for a compact entry.
    pub(super) fn compact_time_wait(&mut self, id: ConnId) {
        let Some(e) = self.conns.get_mut(id.0) else {
            return;
        };
        let Some(snapshot) = e.conn.time_wait_snapshot() else {
            return;
        };
        let tuple = e.tuple;
        let ip = ip_marks(e, self.config.hop_limit);
        e.in_demux = false;
        if self.time_wait.len() >= self.config.max_time_wait {
            // Forgotten at once, as Linux does past tcp_max_tw_buckets: a 2MSL wait cut to
            // nothing, which tools still see end.
            self.counters.time_wait_overflow += 1;
            self.demux_remove(&tuple, Target::Conn(id));
            self.release(id);
            self.events.push_back(HostEvent::StateChanged {
                conn: id,
                from: StateName::TimeWait,
                to: StateName::Closed,
                cause: Cause::TimeWaitExpired,
            });
            return;
        }
        debug_assert!(
            snapshot
                .timestamps
                .is_none_or(|(_, offset)| { offset == self.ts_offset(&tuple) }),
            "a host connection's TSval offset is the host's for its tuple"
        );
        let entry = TimeWaitEntry::new(id, tuple, snapshot, ip);
        let expires = entry.expires;
        let tw = Target::TimeWait(self.time_wait.insert(entry));
        self.schedule(expires, tw);
        self.demux_hand_over(&tuple, Target::Conn(id), tw);
        self.release(id);
    }

    /// A TIME-WAIT entry's timer fired: it ends if this was its current expiry.
    pub(super) fn expire_time_wait(&mut self, at: Instant, tw: SlabId) {
        if self.time_wait.get(tw).is_some_and(|e| e.expires == at) {
            self.counters.time_wait_expired += 1;
            self.remove_time_wait(tw, Cause::TimeWaitExpired);
        }
    }

    /// Frees a TIME-WAIT entry and its 4-tuple, and reports the end of the connection it was
    /// (state changes are traced for the whole life of a connection, see `HostEvent`).
    pub(super) fn remove_time_wait(&mut self, tw: SlabId, cause: Cause) {
        let Some(tuple) = self.time_wait.get(tw).map(|e| e.tuple) else {
            return;
        };
        self.demux_remove(&tuple, Target::TimeWait(tw));
        let Some(entry) = self.time_wait.remove(tw) else {
            return;
        };
        self.events.push_back(HostEvent::StateChanged {
            conn: entry.conn,
            from: StateName::TimeWait,
            to: StateName::Closed,
            cause,
        });
    }
}

/// The IP header fields a connection's segments carry now: its user's, else the host's.
fn ip_marks(e: &Entry, host_hop_limit: u8) -> IpMarks {
    let (ds, hops) = e.conn.config().ip.for_family(!e.tuple.is_ipv4());
    IpMarks {
        ds: ds.unwrap_or(0),
        hop_limit: hops.unwrap_or(host_hop_limit),
    }
}

#[cfg(test)]
mod tests {
    use super::TimeWaitEntry;

    #[test]
    fn the_ip_fields_take_no_room_of_their_own() {
        // 77 bytes of fields before the IP marks, padded to 80 for the 8-byte expiry: the
        // two bytes of marks fill padding. A TIME-WAIT entry's whole cost (slab slot, demux
        // slot, expiry FIFO) is bounded by 128 bytes; this is its largest part.
        assert_eq!(core::mem::size_of::<TimeWaitEntry>(), 80);
    }
}
