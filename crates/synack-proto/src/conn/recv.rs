//! The receive half of a connection: the receive sequence space of RFC 9293 §3.3.1 and the
//! bytes waiting for the user.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::time::Duration;

use synack_wire::{PendingChecksum, SackBlock, SackList};

mod urgent;

pub use self::urgent::UrgentByte;
use super::ring::Ring;
use super::tuning::{RcvRtt, RecvTuner};
use crate::config::Config;
use crate::error::CallError;
use crate::seq::SeqNum;
use crate::time::Instant;

/// Out-of-order pieces (one per segment kept) are bounded so that a hostile peer sending
/// one-byte islands makes us spend memory on bookkeeping only in proportion to the buffer:
/// one piece per `BYTES_PER_OOO_PIECE` bytes of it (RFC 9293's default MSS, less than any
/// bulk sender's segment), and never fewer than `MIN_OOO_PIECES`. A window of full segments
/// beyond a hole (thousands of them at 50 Mbit/s and 150 ms) fits; past the bound pieces are
/// dropped and the peer retransmits them.
const MIN_OOO_PIECES: usize = 512;
const BYTES_PER_OOO_PIECE: usize = 536;

/// Where a received segment's text went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// New in-order bytes now readable (including any pulled from the out-of-order store).
    pub delivered: usize,
    /// The segment lies beyond a gap: kept (if it fit) for later.
    pub out_of_order: bool,
    /// The segment filled (part of) a gap in front of kept out-of-order data.
    pub filled_gap: bool,
    /// Everything in it had been received before.
    pub duplicate: bool,
    /// The peer's FIN is now in sequence: process it.
    pub fin: bool,
}

/// The out-of-order store of a receiver.
#[derive(Debug, Default)]
struct OutOfOrder {
    /// Bytes held in `pieces`.
    bytes: usize,
    /// Bytes that arrived beyond a gap, by stream offset; non-overlapping (RFC 9293
    /// §3.10.7.4 seventh check allows keeping them for later processing).
    pieces: BTreeMap<u64, Vec<u8>>,
    /// Stream offset of the peer's FIN when it arrived beyond a gap, with or without data
    /// before it: held until RCV.NXT reaches it (RFC 9293 §3.10.7.4 lets a receiver keep
    /// segments beyond RCV.NXT for later processing), and reported in SACK blocks meanwhile.
    fin: Option<u64>,
    /// Stream offsets of the most recently received out-of-order segments, newest first: the
    /// order SACK blocks are reported in (RFC 2018 §4).
    recent: VecDeque<u64>,
}

/// `repr(C)`, hot fields first: the receive sequence variables, the out-of-order store's
/// pointer and the buffer's header, which every segment and every ACK we send read, share the
/// first 64 bytes (what an in-order segment reads, the first 40); counters, timestamps, D-SACK,
/// urgent data and auto-tuning follow (see `Sender`).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Receiver {
    /// RCV.NXT: next sequence number expected.
    pub nxt: SeqNum,
    /// The furthest right edge we have advertised (RCV.NXT + RCV.WND at that time). It never
    /// moves left: text up to it is always taken (RFC 9293 §3.8.6.2.2 asks the window not to
    /// shrink; RFC 7323 §2.4 asks a scaling receiver to honour every edge it ever offered).
    pub adv_edge: SeqNum,
    /// The edge of the latest window field sent. Behind `adv_edge` only after the scale unit
    /// forced a window smaller than the one before (see `next_field`).
    shown_edge: SeqNum,
    /// The ACK field of the last segment we sent (Last.ACK.sent, RFC 7323 §4.3).
    pub last_ack_sent: SeqNum,
    /// IRS: the peer's initial sequence number.
    pub irs: SeqNum,
    /// Shift we apply to the window we advertise (RFC 7323 §2.3); 0 without window scaling.
    pub wscale: u8,
    /// The peer's FIN has been received: after the buffered bytes, the user reads end-of-file.
    pub fin_received: bool,
    /// Bytes of the segment being handled already copied, from RCV.NXT on, to the front of
    /// the buffer's free room as its checksum was verified (`stage`); the text step commits
    /// them instead of copying them again. Zero outside the handling of such a segment.
    /// (A segment's text is under 64 KiB: an IP datagram's length field is 16 bits.)
    staged: u16,
    /// What arrived beyond a gap. Most connections never see a gap, so it is allocated when
    /// one opens and freed when it closes. Before the buffer, whose length (its first field)
    /// is all of it a segment in order reads: the hot run ends 40 bytes in.
    ooo: Option<Box<OutOfOrder>>,
    buf: Ring,
    /// The buffer's current size (RCV.BUFF): starts at `Config::recv_buffer`, grown by
    /// auto-tuning, never shrunk.
    capacity: usize,
    /// The largest segment text the peer sends (our MSS less option overhead): the step of
    /// receiver-side silly window avoidance.
    pub mss: usize,
    /// In-order bytes received so far: the stream offset of RCV.NXT (before any FIN).
    pub bytes_received: u64,
    /// Bytes the user has read so far.
    bytes_read: u64,
    /// TS.Recent and when it was recorded (RFC 7323 §4.3, §5.5); `None` without timestamps.
    pub ts_recent: Option<(u32, Instant)>,
    /// A duplicate to report as the first SACK block of the next ACK (RFC 2883 §4), as the
    /// sequence numbers it covered (a FIN included: a sender counts a segment as SACKed only
    /// when a block covers all of its sequence space).
    dsack: Option<(SeqNum, SeqNum)>,
    /// The last urgent byte's sequence number (RCV.UP less one), meaningful while `urgent`
    /// is not `None`, and the out-of-band byte as `recv(MSG_OOB)` finds it (`urgent.rs`).
    urgent_mark: SeqNum,
    urgent: UrgentByte,
    /// Auto-tuning of `capacity` and the round-trip estimate that paces it.
    tuner: RecvTuner,
    pub rtt: RcvRtt,
}

impl Receiver {
    pub fn new(irs: u32, config: &Config, wscale: u8) -> Receiver {
        let irs = SeqNum(irs);
        // A buffer of no bytes could never offer a window: the peer would probe a closed
        // window for ever (RFC 9293 §3.8.6.1). One byte is the least that keeps it open.
        let capacity = config.recv_buffer.max(1);
        let mss = usize::from(config.mss.max(1));
        Receiver {
            irs,
            nxt: irs + 1,
            adv_edge: irs + 1,
            shown_edge: irs + 1,
            wscale,
            fin_received: false,
            staged: 0,
            ts_recent: None,
            last_ack_sent: irs + 1,
            buf: Ring::new(),
            capacity,
            mss,
            bytes_received: 0,
            bytes_read: 0,
            tuner: RecvTuner::new(capacity, config.recv_buffer_limit(), mss),
            rtt: RcvRtt::default(),
            ooo: None,
            dsack: None,
            urgent_mark: irs,
            urgent: UrgentByte::None,
        }
    }

    /// Moves the receiver out, leaving an empty one with no buffer in its place: for a state
    /// change that keeps the receive side but not the rest of the old state, which then drops
    /// the empty one rather than being moved whole.
    pub fn take(&mut self) -> Receiver {
        let empty = Receiver {
            irs: SeqNum(0),
            nxt: SeqNum(0),
            adv_edge: SeqNum(0),
            shown_edge: SeqNum(0),
            wscale: 0,
            fin_received: false,
            staged: 0,
            ts_recent: None,
            last_ack_sent: SeqNum(0),
            buf: Ring::new(),
            capacity: 0,
            mss: 1,
            bytes_received: 0,
            bytes_read: 0,
            tuner: RecvTuner::new(0, 0, 1),
            rtt: RcvRtt::default(),
            ooo: None,
            dsack: None,
            urgent_mark: SeqNum(0),
            urgent: UrgentByte::None,
        };
        core::mem::replace(self, empty)
    }

    /// Stream offset of `seq` (valid within 2^31 of RCV.NXT, which acceptability ensures).
    fn offset_of(&self, seq: SeqNum) -> u64 {
        (self.bytes_received as i64 + i64::from(seq.diff(self.nxt))).max(0) as u64
    }

    /// Sequence number of stream offset `off`.
    fn seq_of(&self, off: u64) -> SeqNum {
        self.nxt + off.wrapping_sub(self.bytes_received) as u32
    }

    /// Notes a segment wholly below RCV.NXT (turned away by the acceptability test) so the
    /// next ACK reports it as a D-SACK (RFC 2883 §4). `len` is its length in sequence space,
    /// a FIN counted.
    pub fn note_old_duplicate(&mut self, seq: SeqNum, len: u32) {
        let end = seq + len;
        // How far `seq` lies behind RCV.NXT. At exactly 2^31 the modular comparison of RFC
        // 9293 §3.4 cannot tell before from after (`diff` is then negative): only a segment
        // truly behind, and within what was received so far (the stream, then our view of
        // the FIN), is an old duplicate.
        let behind = self.nxt.diff(seq);
        let received = self.bytes_received + u64::from(self.fin_received);
        if len > 0 && behind > 0 && end.le(self.nxt) && behind as u64 <= received {
            self.dsack = Some((seq, end));
        }
    }

    /// Records a duplicate of stream offsets `[start, end)` for the next ACK's D-SACK block.
    fn note_duplicate(&mut self, start: u64, end: u64) {
        self.dsack = Some((self.seq_of(start), self.seq_of(end)));
    }

    /// Whether the next ACK has SACK blocks to carry.
    pub fn has_sack_info(&self) -> bool {
        self.ooo.is_some() || self.dsack.is_some()
    }

    /// Finishes the checksum of an arriving segment whose text is `data` starting at `seq`,
    /// `pending` over that text (RFC 9293 §3.1: the sum covers the text too), and returns
    /// whether it is right. Text that starts at RCV.NXT is meanwhile copied into the buffer's
    /// free room, as much as the window takes, so the sum and the copy read it once; the copy
    /// counts only once `accept_segment` commits it, so a wrong sum leaves nothing readable
    /// changed and the segment is dropped as any other with a bad checksum
    /// (RFC 9293 §3.10.7.4).
    pub fn stage(&mut self, seq: SeqNum, data: &[u8], pending: PendingChecksum) -> bool {
        self.staged = 0;
        let n = if self.fin_received || seq != self.nxt {
            0
        } else {
            data.len()
                .min(self.wnd() as usize)
                .min(usize::from(u16::MAX))
        };
        if n == 0 {
            return pending.verify(data);
        }
        self.buf.reserve(n, self.capacity);
        let (a, b) = self.buf.room_mut();
        let first = n.min(a.len());
        let second = (n - first).min(b.len());
        let right = pending.verify_copy(data, &mut a[..first], &mut b[..second]);
        if right {
            self.staged = (first + second) as u16;
        }
        right
    }

    /// Forgets what `stage` copied: the segment it was for has been handled.
    pub fn unstage(&mut self) {
        self.staged = 0;
    }

    /// Takes the text of a segment that starts at `seq` (after the SYN, if any), with its FIN
    /// flag: in-order bytes go to the user's buffer, later ones into the out-of-order store,
    /// and whatever lies beyond the free buffer space is dropped (the peer sends it again).
    pub fn accept_segment(&mut self, seq: SeqNum, data: &[u8], fin: bool) -> Accepted {
        // What `stage` copied is this segment's text from RCV.NXT on, good for this call only.
        let staged = usize::from(core::mem::take(&mut self.staged));
        let mut out = Accepted::default();
        if self.fin_received {
            return out;
        }
        // A segment may begin before the stream's first byte (IRS + 1): only a forged or
        // mangled one can, as the SYN sits there. Those leading bytes are no part of the
        // stream, and `offset_of` cannot say where they lie, so they are cut off here; what
        // follows is "straddling old and new" like any retransmission (RFC 9293 §3.10.7.4).
        let before = -(self.bytes_received as i64 + i64::from(seq.diff(self.nxt)));
        let (seq, data) = match usize::try_from(before) {
            // Wholly before the stream (acceptability lets none through; be sure anyway).
            Ok(cut) if cut > data.len() => {
                out.duplicate = true;
                return out;
            }
            Ok(cut) if cut > 0 => (seq + cut as u32, &data[cut..]),
            _ => (seq, data),
        };
        let nxt = self.bytes_received;
        let start = self.offset_of(seq);
        let end = start + data.len() as u64;
        // Text is kept up to the advertised right edge and no further (RFC 9293 §3.10.7.4):
        // a zero-window probe into space that silly window avoidance has not opened yet is
        // acknowledged but not taken. Every byte offered is honoured, even the few that
        // rounding up to the scale unit may put past the buffer's nominal size.
        let limit = nxt + u64::from(self.wnd());
        if end <= nxt && !(fin && end == nxt) {
            self.accept_duplicate(start, end);
            out.duplicate = true;
            return out;
        }
        if start > nxt {
            self.accept_out_of_order(start, end, limit, data, fin);
            out.out_of_order = true;
            return out;
        }
        // In order: skip what we already have, take what fits.
        let skip = (nxt - start) as usize;
        let fits = (limit - nxt) as usize;
        let new = &data[skip.min(data.len())..];
        let take = new.len().min(fits);
        if skip == 0 && take <= staged {
            self.commit_in_order(take);
        } else {
            self.push_in_order(&new[..take]);
        }
        out.delivered = take;
        if take == new.len() && fin {
            out.fin = true;
        }
        if self.ooo.is_some() {
            self.accept_after_gap(&mut out);
        }
        self.capture_urgent();
        out
    }

    /// Text wholly below RCV.NXT (RFC 9293 §3.10.7.4): nothing to take, but reported in a
    /// D-SACK block (RFC 2883). Out of line, as are the other rare outcomes of
    /// `accept_segment`, so the in-order case runs through short code.
    #[cold]
    #[inline(never)]
    fn accept_duplicate(&mut self, start: u64, end: u64) {
        if end > start {
            self.note_duplicate(start, end);
        }
    }

    /// Text beyond a gap, from stream offset `start` to `end`, kept up to `limit` in the
    /// out-of-order store (RFC 9293 §3.10.7.4 allows queueing it for later).
    #[inline(never)]
    fn accept_out_of_order(&mut self, start: u64, end: u64, limit: u64, data: &[u8], fin: bool) {
        // A FIN beyond a gap is kept once all text before it is (a bare FIN has none): the
        // sender's SACK scoreboard then sees its whole segment covered.
        let kept_all = data.is_empty() || self.store_out_of_order(start, end.min(limit), data);
        if fin && kept_all && end <= limit {
            match self.ooo_fin() {
                None => {
                    self.ooo_mut().fin = Some(end);
                    if data.is_empty() {
                        self.note_recent(end);
                    }
                }
                // The same FIN again: its D-SACK block covers the FIN, after the text
                // that came with it when all of that was a duplicate too.
                Some(f) if f == end => {
                    let whole_dup = self.dsack == Some((self.seq_of(start), self.seq_of(end)));
                    let from = if whole_dup || data.is_empty() {
                        start
                    } else {
                        end
                    };
                    self.note_duplicate(from, end + 1);
                }
                // A FIN somewhere else than the one held: a confused or hostile peer;
                // the first one stands.
                Some(_) => {}
            }
        }
        self.drop_empty_ooo();
    }

    /// In-order text arrived while the out-of-order store holds something: what it filled
    /// is taken from the store, with a FIN held there once the stream reaches it.
    #[inline(never)]
    fn accept_after_gap(&mut self, out: &mut Accepted) {
        if self.ooo.as_ref().is_some_and(|o| !o.pieces.is_empty()) {
            out.filled_gap = true;
            out.delivered += self.pull_out_of_order();
        }
        if self.ooo_fin() == Some(self.bytes_received) {
            out.fin = true;
        }
        if out.fin {
            if let Some(o) = self.ooo.as_mut() {
                o.fin = None;
            }
        }
        self.drop_empty_ooo();
    }

    fn ooo_fin(&self) -> Option<u64> {
        self.ooo.as_ref().and_then(|o| o.fin)
    }

    fn ooo_mut(&mut self) -> &mut OutOfOrder {
        self.ooo.get_or_insert_with(Box::default)
    }

    /// Frees the out-of-order store once it holds nothing (no piece, no FIN; every recent
    /// offset is then at or below RCV.NXT and would be dropped anyway).
    fn drop_empty_ooo(&mut self) {
        if self
            .ooo
            .as_ref()
            .is_some_and(|o| o.pieces.is_empty() && o.fin.is_none())
        {
            self.ooo = None;
        }
    }

    fn push_in_order(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes, self.capacity);
        self.advance_in_order(bytes.len());
    }

    /// Takes the first `n` bytes `stage` copied into the free room as in-order text.
    fn commit_in_order(&mut self, n: usize) {
        self.buf.commit(n);
        self.advance_in_order(n);
    }

    /// RCV.NXT moves over `n` new in-order bytes, now in the buffer.
    fn advance_in_order(&mut self, n: usize) {
        self.nxt += n as u32;
        self.bytes_received += n as u64;
        // Text may land in buffer space not yet advertised (a probe into a window held shut by
        // silly window avoidance); the edge is then where the data ends.
        self.adv_edge = self.adv_edge.max(self.nxt);
    }

    /// Keeps `[start, end)` of a segment whose first byte is at `start`, filling only the
    /// holes between pieces already kept (the first copy of a byte wins). Returns whether all
    /// of it is now held.
    fn store_out_of_order(&mut self, start: u64, end: u64, data: &[u8]) -> bool {
        if end <= start {
            return false;
        }
        // The pieces overlapping [start, end), in order. Pieces never overlap each other, so
        // their ends are sorted too and the backward walk stops at the first that ends early.
        let pieces = self.ooo.as_ref().map(|o| &o.pieces);
        let mut overlapping: Vec<(u64, u64)> = pieces
            .into_iter()
            .flat_map(|p| p.range(..end))
            .rev()
            .map(|(k, v)| (*k, *k + v.len() as u64))
            .take_while(|(_, e)| *e > start)
            .collect();
        overlapping.reverse();
        let mut holes = Vec::new();
        let mut cursor = start;
        for (k, e) in overlapping {
            if k > cursor {
                holes.push((cursor, k));
            }
            cursor = cursor.max(e);
        }
        if cursor < end {
            holes.push((cursor, end));
        }
        if holes.is_empty() {
            self.note_duplicate(start, end);
            return true;
        }
        let held = self.ooo.as_ref().map_or(0, |o| o.pieces.len());
        let most = (self.capacity / BYTES_PER_OOO_PIECE).max(MIN_OOO_PIECES);
        if held + holes.len() > most {
            return false;
        }
        let ooo = self.ooo_mut();
        for (s, e) in holes {
            let piece = &data[(s - start) as usize..(e - start) as usize];
            ooo.bytes += piece.len();
            ooo.pieces.insert(s, piece.to_vec());
        }
        self.note_recent(start);
        true
    }

    /// Makes the out-of-order piece at `start` the most recent, reported first (RFC 2018 §4).
    fn note_recent(&mut self, start: u64) {
        let recent = &mut self.ooo_mut().recent;
        recent.retain(|o| *o != start);
        recent.push_front(start);
        recent.truncate(4);
    }

    /// Moves kept pieces that now continue the in-order stream into the user's buffer.
    fn pull_out_of_order(&mut self) -> usize {
        let mut moved = 0;
        let Some(mut ooo) = self.ooo.take() else {
            return 0;
        };
        while let Some(entry) = ooo.pieces.first_entry() {
            let start = *entry.key();
            let nxt = self.bytes_received;
            if start > nxt {
                break;
            }
            let piece = entry.remove();
            ooo.bytes -= piece.len();
            let end = start + piece.len() as u64;
            if end > nxt {
                let tail = &piece[(nxt - start) as usize..];
                self.push_in_order(tail);
                moved += tail.len();
            }
        }
        let nxt = self.bytes_received;
        ooo.recent.retain(|o| *o > nxt);
        self.ooo = Some(ooo);
        moved
    }

    /// The contiguous runs of what is held beyond RCV.NXT, as stream offsets: kept pieces,
    /// and a held FIN as one more unit of sequence space after the byte before it.
    fn held_runs(&self) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let Some(ooo) = self.ooo.as_deref() else {
            return runs;
        };
        let pieces = ooo.pieces.iter().map(|(k, v)| (*k, *k + v.len() as u64));
        let fin = ooo.fin.map(|f| (f, f + 1));
        for (s, e) in pieces.chain(fin) {
            match runs.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => runs.push((s, e)),
            }
        }
        runs
    }

    /// How many blocks `sack_blocks(max)` would return now, so a segment sets aside room for
    /// exactly those (RFC 6691).
    pub fn sack_block_count(&self, max: usize) -> usize {
        (usize::from(self.dsack.is_some()) + self.held_runs().len()).min(max)
    }

    /// The SACK blocks for our next ACK (RFC 2018 §4): a pending D-SACK first (RFC 2883),
    /// then the block holding the most recently received segment, then the next most recent,
    /// up to `max` blocks.
    pub fn sack_blocks(&mut self, max: usize) -> SackList {
        let mut list = SackList::new();
        if let Some((s, e)) = self.dsack.take() {
            list.push(SackBlock {
                left: s.0,
                right: e.0,
            });
        }
        let runs = self.held_runs();
        // RFC 2883 §4: a duplicate above the cumulative ACK is followed by the block holding
        // it; then blocks by recency.
        let dsack_start = list
            .as_slice()
            .first()
            .map(|b| self.offset_of(SeqNum(b.left)));
        let recent = dsack_start
            .into_iter()
            .chain(self.ooo.iter().flat_map(|o| o.recent.iter().copied()));
        let by_recency = recent.filter_map(|o| runs.iter().find(|(s, e)| *s <= o && o < *e));
        let mut chosen: Vec<(u64, u64)> = Vec::new();
        for run in by_recency.chain(runs.iter().rev()) {
            if chosen.len() + list.len() >= max {
                break;
            }
            if !chosen.contains(run) {
                chosen.push(*run);
            }
        }
        for (s, e) in chosen {
            list.push(SackBlock {
                left: self.seq_of(s).0,
                right: self.seq_of(e).0,
            });
        }
        list
    }

    /// RCV.WND as the peer knows it: from RCV.NXT to the edge we advertised.
    pub fn wnd(&self) -> u32 {
        // A FIN may sit just past a closed window's edge.
        if self.adv_edge.lt(self.nxt) {
            return 0;
        }
        self.adv_edge.since(self.nxt)
    }

    /// Free buffer space.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes kept beyond a gap.
    pub fn out_of_order_bytes(&self) -> usize {
        self.ooo.as_ref().map_or(0, |o| o.bytes)
    }

    /// The buffer's current size.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets the buffer's size and stops auto-tuning from growing it. The window shown is
    /// capped by the field and the shift fixed on the SYN, however large the buffer.
    pub fn resize(&mut self, size: usize) {
        self.capacity = size.max(1);
        self.tuner.lock(self.capacity);
    }

    /// Copies buffered bytes to the user, leaving them buffered (a `MSG_PEEK` read). It
    /// stops at the urgent mark as a read does, and skips the urgent byte as a read does
    /// unless `inline`.
    pub fn peek(&self, out: &mut [u8], inline: bool) -> usize {
        let (skip, limit) = self.urgent_read_plan(inline);
        self.copy_from(skip.min(out.len()), out, limit)
    }

    /// Copies to `out` up to `limit` of the buffered bytes that follow the first `from`.
    fn copy_from(&self, from: usize, out: &mut [u8], limit: usize) -> usize {
        let n = out.len().min(limit);
        self.buf.copy_out(from, &mut out[..n])
    }

    /// Moves buffered bytes to the user, up to the urgent mark when it lies ahead; at the
    /// mark the urgent byte is stepped over first unless `inline`.
    pub fn read(&mut self, out: &mut [u8], inline: bool) -> usize {
        if out.is_empty() {
            return 0;
        }
        let (skip, limit) = self.urgent_read_plan(inline);
        self.skip_urgent(skip);
        let n = self.copy_from(0, out, limit);
        self.buf.consume(n);
        self.bytes_read += n as u64;
        if self.urgent != UrgentByte::None {
            self.pass_urgent_mark();
        }
        n
    }

    /// Lends `take` the buffered bytes a read would return (up to the urgent mark, in the
    /// one piece of the ring they start in) and consumes the first ones it says it took: a
    /// read with no copy into a user's buffer. `None` when there is nothing to lend; an
    /// error, with nothing consumed, when `take` claims more than it was lent.
    pub fn read_with(
        &mut self,
        inline: bool,
        take: impl FnOnce(&[u8]) -> usize,
    ) -> Option<Result<usize, CallError>> {
        let (skip, limit) = self.urgent_read_plan(inline);
        let (first, _) = self.buf.as_slices();
        let lent = first.len().saturating_sub(skip).min(limit);
        if lent == 0 {
            // Nothing readable yet, or only the urgent byte before a wrap: step over it as a
            // read does and offer what follows.
            if skip > 0 && self.buf.len() >= skip {
                self.skip_urgent(skip);
                self.pass_urgent_mark();
                return self.read_with(inline, take);
            }
            return None;
        }
        let n = take(&first[skip..skip + lent]);
        if n > lent {
            return Some(Err(CallError::BeyondLent));
        }
        self.skip_urgent(skip);
        self.buf.consume(n);
        self.bytes_read += n as u64;
        if self.urgent != UrgentByte::None {
            self.pass_urgent_mark();
        }
        Some(Ok(n))
    }

    /// Steps over the `skip` bytes (the urgent byte, read apart) that stand before a read.
    fn skip_urgent(&mut self, skip: usize) {
        let skip = skip.min(self.buf.len());
        self.buf.consume(skip);
        self.bytes_read += skip as u64;
    }

    /// After a read: lets auto-tuning grow the buffer from the rate the user reads at. `rtt`
    /// is the sender side's estimate, used until the receiver has one of its own.
    pub fn autotune(&mut self, now: Instant, rtt: Option<Duration>) {
        let Some(rtt) = self.rtt.estimate().or(rtt) else {
            return;
        };
        let wanted = self
            .tuner
            .on_read(now, self.bytes_read, rtt, self.capacity, self.mss);
        // More buffer than the window field can ever advertise would only hold data the peer
        // cannot send (RFC 7323 §2.3: the shift is fixed on the SYN).
        let advertisable = usize::from(u16::MAX) << self.wscale;
        self.capacity = self.capacity.max(wanted.min(advertisable));
    }

    /// Receiver-side silly window avoidance (RFC 9293 §3.8.6.2.2): the right edge moves only
    /// in steps of at least min(Fr × RCV.BUFF, Eff.SND.MSS), with Fr = 1/2.
    fn sws_step(&self) -> u32 {
        let step = (self.capacity / 2).min(self.mss).max(1);
        u32::try_from(step).unwrap_or(u32::MAX)
    }

    /// The window we could offer now: the free space rounded down to the scale unit and capped
    /// at what the field holds.
    ///
    /// A buffer smaller than one unit (a small initial size under a shift chosen for a large
    /// maximum, RFC 7323 §2.3) would round down to nothing for ever: its window, once closed,
    /// never opens again and both sides wait. So free space worth a silly-window step that
    /// rounds down to nothing is offered as one whole unit, a little past the buffer, as the
    /// kept edge already may be (see `next_field`).
    fn offer(&self) -> u32 {
        let free = u32::try_from(self.free()).unwrap_or(u32::MAX);
        let down = (free >> self.wscale).min(u32::from(u16::MAX)) << self.wscale;
        if down == 0 && free >= self.sws_step() {
            1 << self.wscale
        } else {
            down
        }
    }

    /// Whether the window has opened far enough past what the peer knows to be worth an ACK of
    /// its own (a window update, RFC 9293 §3.8.6.2.2).
    pub fn window_update_due(&self) -> bool {
        let shown = self.shown_edge.since(self.nxt);
        self.next_field() << self.wscale >= shown.saturating_add(self.sws_step())
    }

    /// The window field the next segment carries.
    ///
    /// The right edge moves only when the free space reaches a silly-window step beyond it
    /// (RFC 9293 §3.8.6.2.2). Otherwise the edge already advertised is kept, which with a
    /// scale unit means rounding what is left of it up to a whole unit: that moves the edge
    /// right by up to a unit less one byte, and a peer sending segments shorter than a unit
    /// would get that much more room on every ACK, without end, however full the buffer. So
    /// rounding up is allowed only while what is buffered plus the window stays within the
    /// buffer (in whole units) and one unit more; past that the window is rounded down, short
    /// of the edge by less than a unit. RFC 7323 §2.4 names exactly these two choices;
    /// `adv_edge` keeps the further edge, and text up to it is still taken.
    ///
    /// After such a rounding down the peer knows less than `adv_edge`; the free space is then
    /// offered as soon as it reaches that edge and opens the window the peer knows by a step,
    /// or a peer shown a zero window would wait for its persist timer.
    fn next_field(&self) -> u32 {
        let promised = self.wnd();
        let offer = self.offer();
        // The window the peer was promised is exactly what could be offered now (every
        // segment of a one-way stream's sender, and a receiver that keeps up): both rules
        // below give that window, a whole number of units since an offer always is, so it
        // goes without working out the step or the rounding.
        if offer == promised {
            return offer >> self.wscale;
        }
        let shown = self.shown_edge.since(self.nxt);
        let step = self.sws_step();
        if offer >= promised.saturating_add(step)
            || (offer >= promised && offer >= shown.saturating_add(step))
        {
            return offer >> self.wscale;
        }
        let unit = 1u32 << self.wscale;
        let up = promised.div_ceil(unit).min(u32::from(u16::MAX));
        let held = self.buf.len().saturating_add((up << self.wscale) as usize);
        let bound = self.capacity.div_ceil(unit as usize).saturating_add(1);
        if held <= bound.saturating_mul(unit as usize) {
            up
        } else {
            promised >> self.wscale
        }
    }

    /// The window field for the next segment we send; records the edge it advertises.
    pub fn window_field(&mut self) -> u16 {
        let field = self.next_field();
        let edge = self.nxt + (field << self.wscale);
        self.adv_edge = self.adv_edge.max(edge);
        self.shown_edge = edge;
        field as u16
    }

    /// The peer was offered an edge by other means (the window of our SYN or SYN-ACK).
    pub fn set_offered_edge(&mut self, edge: SeqNum) {
        self.adv_edge = edge;
        self.shown_edge = edge;
    }

    /// Window field for a SYN or SYN-ACK: never scaled (RFC 7323 §2.2).
    pub fn syn_window_field(&mut self) -> u16 {
        let free = u32::try_from(self.free()).unwrap_or(u32::MAX);
        let field = free.min(u32::from(u16::MAX));
        let edge = self.nxt + field;
        self.adv_edge = self.adv_edge.max(edge);
        self.shown_edge = edge;
        field as u16
    }
}

/// Where the out-of-order store's pointer and the buffer lie in a `Receiver` (private
/// fields), for `tests_layout`.
#[cfg(test)]
pub(super) const fn ooo_and_buf_offsets() -> (usize, usize) {
    (
        core::mem::offset_of!(Receiver, ooo),
        core::mem::offset_of!(Receiver, buf),
    )
}
