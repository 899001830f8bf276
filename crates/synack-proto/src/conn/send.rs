//! The send half of a connection: the send sequence space of RFC 9293 §3.3.1 and the bytes
//! behind it.
//!
//! Sequence layout: the SYN occupies `iss`, data starts at `iss + 1`, and the FIN, once the
//! user closes, occupies the number after the last data byte. The buffer holds exactly the bytes
//! from `data_start()` that are not yet acknowledged, so a retransmission reads them again.

use super::ring::Ring;
use super::rtt::RttEstimator;
use super::timer::{Timer, TimerTable};
use super::tuning::send_buffer_wanted;
use crate::config::Config;
use crate::congestion::{Congestion, Flight};
use crate::error::CallError;
use crate::seq::SeqNum;
use crate::time::Instant;

/// `repr(C)`, hot fields first: the send sequence variables and flags every segment reads fill
/// the first cache line or so, then the buffer's header, the retransmission count the host
/// reads after each `poll_transmit`, the congestion controller (its own hot fields first) and
/// the RTT estimator; what only a write, a timeout or `info()` reads comes last. With many
/// connections, a segment then waits for few cache lines.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Sender {
    /// SND.UNA: oldest unacknowledged sequence number.
    pub una: SeqNum,
    /// SND.NXT: next sequence number to send. Rewound to SND.UNA by a retransmission timeout.
    pub nxt: SeqNum,
    /// One past the highest sequence number ever sent; acknowledgments up to here are valid
    /// even after SND.NXT was rewound.
    pub max: SeqNum,
    /// SND.WND: the peer's window, already scaled.
    pub wnd: u32,
    /// SND.WL1 / SND.WL2: segment seq and ack of the last window update.
    pub wl1: SeqNum,
    pub wl2: SeqNum,
    /// MAX.SND.WND: the largest window the peer has offered (RFC 5961 §5.2).
    pub max_wnd: u32,
    /// ISS: our initial sequence number.
    pub iss: SeqNum,
    /// The most payload bytes one segment may carry (peer's MSS less our option overhead).
    pub mss: u32,
    /// Where the latest short (less than a full segment) data segment ended: Minshall's
    /// Nagle holds the next short one while this is unacknowledged (Linux's `snd_sml`).
    pub short_end: SeqNum,
    /// Consecutive retransmission timeouts without progress.
    pub retransmits: u32,
    /// Probes sent since the peer last answered anything (Linux's `probes_out`).
    pub probes_unanswered: u32,
    /// SND.UP: one past the last urgent byte written (RFC 9293 §3.8.5 and RFC 6093 §2: the
    /// pointer names the octet after the urgent data). Equal to SND.UNA when there is no
    /// urgent data outstanding (as Linux's `tcp_urg_mode`): 4 bytes, not an `Option`'s 8.
    pub up: SeqNum,
    /// Sequence number of our FIN once the user has closed the send side.
    pub fin_seq: Option<SeqNum>,
    /// Shift applied to the peer's window field (RFC 7323 §2.3); 0 without window scaling.
    pub wscale: u8,
    /// Send one byte beyond a zero window at the next opportunity.
    pub probe_due: bool,
    /// A zero-window probe is outstanding: its byte is not timed by the retransmission timer.
    pub probing: bool,
    /// A write was cut short: tell the user when room appears.
    pub write_blocked: bool,
    buf: Ring,
    /// Counter for `info()`, and for the host's count of retransmitted segments after every
    /// `poll_transmit`.
    pub segs_retransmitted: u64,
    /// Congestion control and loss recovery: the congestion window, the slow-start threshold
    /// and what to resend are its business alone.
    pub cc: Congestion,
    /// Behind the controller's cold fields: an acknowledgment that changes nothing does not
    /// read it (`Congestion::at_rest` asks for SRTT only when loss detection needs it).
    pub rtt: RttEstimator,
    /// A segment being timed without timestamps: (sequence number it ends at, when it left).
    /// Cleared when anything is retransmitted (Karn's algorithm, RFC 6298 §3).
    pub rtt_probe: Option<(SeqNum, Instant)>,
    /// The buffer's current size: starts at `Config::send_buffer`, grown by auto-tuning.
    capacity: usize,
    /// Most unsent bytes the buffer takes (`Config::notsent_lowat`).
    notsent_limit: usize,
    /// Counters for `info()`.
    pub bytes_acked: u64,
    pub rto_expirations: u64,
    /// Set when the SYN or SYN-ACK had to be retransmitted (RFC 6298 §5.7).
    pub syn_retransmitted: bool,
    /// The latest write did not take all it was given: unlike `write_blocked`, kept when the
    /// user is told of room, since it says the writer has more, not whether it was told.
    write_cut_short: bool,
}

/// What an acknowledgment covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Acked {
    pub syn: bool,
    pub data: u32,
    pub fin: bool,
}

impl Sender {
    /// The sequence number of a segment that occupies none (a bare ACK or window update).
    ///
    /// RFC 9293's SND.NXT, the highest number sent, even while a retransmission has moved our
    /// `nxt` back: the peer may already have everything up to there. But a peer that shrank
    /// its window below data we had sent finds that number beyond its window, and by §3.10.7.4
    /// drops the segment, ACK field and all, so it would go on retransmitting what we have.
    /// Then the right edge of its window is used, the highest number it accepts (Linux's
    /// `tcp_acceptable_seq`; less than one scale unit beyond is still taken as in-window,
    /// since the peer rounded its window down to whole units, RFC 7323 §2.4).
    pub fn bare_ack_seq(&self) -> SeqNum {
        let wnd_end = self.una + self.wnd;
        if self.max.le(wnd_end) || self.max.since(wnd_end) < 1 << self.wscale {
            self.max
        } else {
            wnd_end
        }
    }

    pub fn new(iss: u32, config: &Config) -> Sender {
        let iss = SeqNum(iss);
        let mss = u32::from(config.mss.max(64));
        Sender {
            iss,
            una: iss,
            nxt: iss,
            max: iss,
            wnd: 0,
            wl1: SeqNum(0),
            wl2: SeqNum(0),
            max_wnd: 0,
            wscale: 0,
            mss,
            fin_seq: None,
            up: iss,
            cc: Congestion::new(&config.congestion, mss),
            short_end: iss,
            retransmits: 0,
            probe_due: false,
            probing: false,
            probes_unanswered: 0,
            rtt: RttEstimator::new(config),
            rtt_probe: None,
            syn_retransmitted: false,
            buf: Ring::new(),
            // RFC 9293 §3.10.2 refuses a SEND for want of queue space; a queue of no bytes (a
            // zero buffer or unsent limit) would refuse every SEND for ever, with nothing
            // queued whose sending or acknowledgment could make room and wake the user. One
            // byte is the least that keeps the stream moving.
            capacity: config.send_buffer.max(1),
            notsent_limit: config.notsent_lowat.unwrap_or(usize::MAX).max(1),
            write_blocked: false,
            write_cut_short: false,
            bytes_acked: 0,
            segs_retransmitted: 0,
            rto_expirations: 0,
        }
    }

    /// Sequence number of the first byte in the buffer.
    pub fn data_start(&self) -> SeqNum {
        if self.una == self.iss {
            self.iss + 1
        } else {
            self.una
        }
    }

    /// One past the last byte the user has written.
    pub fn data_end(&self) -> SeqNum {
        self.data_start() + self.buf.len() as u32
    }

    /// Bytes written but never sent.
    pub fn unsent(&self) -> usize {
        let start = self.data_start();
        let sent = if self.max.gt(start) {
            self.max.since(start) as usize
        } else {
            0
        };
        self.buf.len().saturating_sub(sent)
    }

    /// Room left in the send buffer: within its size, and within the limit on unsent data.
    pub fn free(&self) -> usize {
        if self.fin_seq.is_some() {
            return 0;
        }
        let room = self.capacity.saturating_sub(self.buf.len());
        room.min(self.notsent_limit.saturating_sub(self.unsent()))
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets the buffer's size (auto-tuning is bounded by the config's maximum, which the
    /// caller sets to the same size).
    pub fn resize(&mut self, size: usize) {
        self.capacity = size.max(1);
    }

    /// Send-buffer auto-tuning: after the congestion window grew, make room for twice what
    /// may be in flight, up to `limit`. The buffer never shrinks.
    pub fn autotune(&mut self, limit: usize) {
        let wanted = send_buffer_wanted(self.cc.window(), self.max_wnd).min(limit);
        self.capacity = self.capacity.max(wanted);
    }

    /// The most unsent bytes a write may leave queued (`Config::notsent_lowat`).
    pub fn set_notsent_limit(&mut self, lowat: Option<usize>) {
        self.notsent_limit = lowat.unwrap_or(usize::MAX).max(1);
    }

    /// The urgent pointer field of a segment starting at `seq`: SND.UP as an offset from
    /// SEG.SEQ while `seq` is before SND.UP (RFC 9293 §3.8.5). An offset the 16-bit field
    /// cannot hold is sent as 0xFFFF, still saying urgent data lies ahead (as Linux does).
    pub fn urgent_field(&self, seq: SeqNum) -> Option<u16> {
        if self.up == self.una || !seq.lt(self.up) {
            return None;
        }
        Some(u16::try_from(self.up.since(seq)).unwrap_or(u16::MAX))
    }

    /// SEND with the URGENT flag: the urgent data now ends with the last byte written.
    pub fn mark_urgent(&mut self) {
        self.up = self.data_end();
    }

    /// Appends what fits of `data`; returns how many bytes were taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.buf.extend(&data[..n], self.capacity);
        self.write_blocked = n < data.len();
        self.write_cut_short = self.write_blocked;
        n
    }

    /// Lends `fill` the free room (at most `max` bytes of it, and only the part that lies in
    /// one piece of the ring) and appends the first bytes it says it wrote: a write with no
    /// copy from a user's buffer. `None` when there is no room; an error, with nothing
    /// appended, when `fill` claims more than it was lent.
    pub fn write_with(
        &mut self,
        max: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Option<Result<usize, CallError>> {
        let free = self.free().min(max);
        if free == 0 {
            self.write_blocked = true;
            self.write_cut_short = true;
            return None;
        }
        self.buf.reserve(free, self.capacity);
        let (room, _) = self.buf.room_mut();
        let lent = room.len().min(free);
        let n = fill(&mut room[..lent]);
        if n > lent {
            return Some(Err(CallError::BeyondLent));
        }
        self.buf.commit(n);
        // Filling all it was lent says the writer may have more: as a write that did not
        // fit, it hears when room appears, and its short tail may wait to fill.
        self.write_blocked = n == lent;
        self.write_cut_short = self.write_blocked;
        Some(Ok(n))
    }

    /// Whether a user whose write was cut short should now hear that there is room: once
    /// half the unsent limit or a segment's worth is free, so it is not woken per byte.
    // Inlined: every segment sent asks, and the writer is rarely waiting.
    #[inline]
    pub fn take_writable(&mut self) -> bool {
        if !self.write_blocked {
            return false;
        }
        let worth = (self.notsent_limit / 2).min(self.mss as usize).max(1);
        if self.free() >= worth {
            self.write_blocked = false;
            return true;
        }
        false
    }

    /// Whether a short tail of unsent data can wait to become a full segment of `full` bytes:
    /// the writer was cut short for want of room (so the tail is not the end of what it has
    /// to say: RFC 9293 §3.8.6.2.1 sends a short segment when all the data queued can go,
    /// a fraction of the largest window, or at the override timeout; a write that did not
    /// fit has not queued all it has), and an ACK is sure to come: at least two full segments
    /// are outstanding, whose ACK a receiver may not delay (RFC 9293 §3.8.6.3, RFC 1122
    /// §4.2.3.2), or what is outstanding leaves the peer's window less than a full segment,
    /// so the next full one waits, as any segment the window cuts short does (§3.8.6.2.1),
    /// for the ACK or window update that reopens it (§3.8.6.2.2). The ACK makes room, the
    /// writer fills the tail, and a full segment goes. Otherwise the tail goes: behind one
    /// full segment and a window with room, the ACK may wait for the peer's delayed-ACK timer.
    pub fn tail_will_fill(&self, full: usize) -> bool {
        let out = self.max.since(self.una) as usize;
        let window_end = self.una + self.wnd;
        let room = if window_end.gt(self.max) {
            window_end.since(self.max) as usize
        } else {
            0
        };
        self.write_cut_short && (out >= 2 * full || (out > 0 && room < full))
    }

    /// Queues our FIN after the last byte written (RFC 9293 §3.10.4).
    pub fn queue_fin(&mut self) {
        if self.fin_seq.is_none() {
            self.fin_seq = Some(self.data_end());
        }
    }

    pub fn syn_acked(&self) -> bool {
        self.una.gt(self.iss)
    }

    pub fn fin_acked(&self) -> bool {
        self.fin_seq.is_some_and(|f| self.una.gt(f))
    }

    /// Sequence space sent and not yet acknowledged (SYN and FIN count one each).
    pub fn in_flight(&self) -> u32 {
        self.nxt.max(self.max).since(self.una)
    }

    /// The flight as the congestion controller sees it.
    pub fn flight(&self) -> Flight {
        Flight {
            una: self.una,
            max: self.max,
            in_flight: self.in_flight(),
            mss: self.mss,
        }
    }

    /// Copies the bytes starting at `seq` into `out`, returning how many were copied.
    pub fn copy_data(&self, seq: SeqNum, out: &mut [u8]) -> usize {
        let offset = seq.since(self.data_start()) as usize;
        self.buf.copy_out(offset, out)
    }

    /// The `len` bytes starting at `seq` as they lie in the buffer: one slice, or two when
    /// they wrap around its end (the second then empty or not). `len` must be within what
    /// is buffered from `seq`.
    pub fn data_slices(&self, seq: SeqNum, len: usize) -> (&[u8], &[u8]) {
        let offset = seq.since(self.data_start()) as usize;
        self.buf.slices(offset, len)
    }

    /// Moves SND.UNA to `ack` (already checked to be in `(una, max]`) and drops the
    /// acknowledged bytes.
    pub fn advance_una(&mut self, ack: SeqNum) -> Acked {
        let mut acked = Acked::default();
        if !self.syn_acked() && ack.gt(self.iss) {
            acked.syn = true;
        }
        let data_acked = ack.min(self.data_end()).since(self.data_start());
        self.buf.consume(data_acked as usize);
        acked.data = data_acked;
        if let Some(fin) = self.fin_seq {
            if ack.gt(fin) && !self.una.gt(fin) {
                acked.fin = true;
            }
        }
        // Urgent mode ends once the peer has every urgent byte; out of it, SND.UP follows
        // SND.UNA.
        if self.up.le(ack) {
            self.up = ack;
        }
        self.una = ack;
        if self.nxt.lt(ack) {
            self.nxt = ack;
        }
        self.bytes_acked += u64::from(data_acked);
        acked
    }

    /// Whether the SYN, every byte written and the FIN (if any) have left, nothing is to be resent
    /// and the persist timer has nothing to arm or stop: then no segment but an owed ACK can leave,
    /// and looking for one would change nothing (see `Connection::nothing_to_send`).
    pub fn all_sent_and_quiet(&self, timers: &TimerTable) -> bool {
        let end = self.fin_seq.map_or(self.data_end(), |f| f + 1);
        self.nxt == self.max
            && !end.gt(self.max)
            && !self.probe_due
            && !self.probing
            && !timers.is_armed(Timer::Persist)
            && self.cc.offers_only_new_data()
    }

    /// RFC 9293 §3.8.6.1: with data waiting, nothing in flight and a zero window, only a probe
    /// can learn that the window reopened, so keep the persist timer running.
    pub fn update_persist_timer(&mut self, now: Instant, timers: &mut TimerTable) {
        let nothing_else_in_flight = self.una == self.max || self.probing;
        let stalled = self.wnd == 0 && nothing_else_in_flight && self.has_data_beyond_una();
        if stalled {
            if !timers.is_armed(Timer::Persist) {
                timers.set(Timer::Persist, now + self.rtt.rto());
            }
        } else {
            timers.stop(Timer::Persist);
            self.probe_due = false;
            if self.probing {
                // The window opened: resend from SND.UNA whatever the probe did not deliver.
                self.probing = false;
                self.nxt = self.una;
            }
        }
    }

    /// A retransmission timeout found the peer's window at zero with data unacknowledged: the
    /// window shrank under data in flight (RFC 7323 §2.4 lets a scaling receiver do so by less
    /// than a unit). Resending into it sends nothing, and the timeouts would end the
    /// connection. RFC 1122 §4.2.2.16 asks instead that a window shrunk to zero be probed in
    /// the standard way (RFC 9293 §3.8.6.1), and that data beyond the edge not time the
    /// connection out: the persist timer takes over, and the answers to its probes keep the
    /// connection alive. Returns whether it did.
    pub fn probe_shrunk_window(&mut self, now: Instant, timers: &mut TimerTable) -> bool {
        if self.wnd != 0 || !self.syn_acked() || !self.data_end().gt(self.una) {
            return false;
        }
        timers.stop(Timer::Retransmit);
        self.probe_due = true;
        self.probes_unanswered += 1;
        timers.set(Timer::Persist, now + self.rtt.rto());
        true
    }

    /// The persist timer fired: rewind to the probe byte and send it at the next chance.
    pub fn on_persist_timeout(&mut self, now: Instant, timers: &mut TimerTable) {
        self.probe_due = true;
        self.probes_unanswered += 1;
        if self.probing {
            self.nxt = self.una;
        }
        self.rtt.back_off();
        timers.set(Timer::Persist, now + self.rtt.rto());
    }

    fn has_data_beyond_una(&self) -> bool {
        let end = match self.fin_seq {
            Some(fin) => fin + 1,
            None => self.data_end(),
        };
        self.una.lt(end)
    }
}
