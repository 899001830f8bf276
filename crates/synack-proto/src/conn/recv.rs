//! The receive half of a connection: the receive sequence space of RFC 9293 §3.3.1 and the
//! bytes waiting for the user.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use synack_wire::{SackBlock, SackList};

use crate::seq::SeqNum;
use crate::time::Instant;

/// Out-of-order pieces kept at most; past this a hostile peer sending one-byte islands gets
/// them dropped (and retransmits) instead of making us spend memory on bookkeeping.
const MAX_OOO_RANGES: usize = 512;

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

#[derive(Debug)]
pub(crate) struct Receiver {
    /// IRS: the peer's initial sequence number.
    pub irs: SeqNum,
    /// RCV.NXT: next sequence number expected.
    pub nxt: SeqNum,
    /// Right edge of the window we last advertised (RCV.NXT + RCV.WND at that time). We never
    /// move it left (RFC 9293 §3.8.6.2.2: the window must not shrink).
    pub adv_edge: SeqNum,
    /// Shift we apply to the window we advertise (RFC 7323 §2.3); 0 without window scaling.
    pub wscale: u8,
    /// The peer's FIN has been received: after the buffered bytes, the user reads end-of-file.
    pub fin_received: bool,
    /// TS.Recent and when it was recorded (RFC 7323 §4.3, §5.5); `None` without timestamps.
    pub ts_recent: Option<(u32, Instant)>,
    /// The ACK field of the last segment we sent (Last.ACK.sent, RFC 7323 §4.3).
    pub last_ack_sent: SeqNum,
    buf: VecDeque<u8>,
    capacity: usize,
    /// In-order bytes received so far: the stream offset of RCV.NXT (before any FIN).
    pub bytes_received: u64,
    /// Bytes that arrived beyond a gap, by stream offset; non-overlapping (RFC 9293
    /// §3.10.7.4 seventh check allows keeping them for later processing).
    ooo: BTreeMap<u64, Vec<u8>>,
    /// Stream offset of the peer's FIN when it arrived beyond a gap.
    ooo_fin: Option<u64>,
    /// Stream offsets of the most recently received out-of-order segments, newest first: the
    /// order SACK blocks are reported in (RFC 2018 §4).
    sack_recent: VecDeque<u64>,
    /// A duplicate to report as the first SACK block of the next ACK (RFC 2883 §4).
    dsack: Option<(u64, u64)>,
}

impl Receiver {
    pub fn new(irs: u32, capacity: usize, wscale: u8) -> Receiver {
        let irs = SeqNum(irs);
        Receiver {
            irs,
            nxt: irs + 1,
            adv_edge: irs + 1,
            wscale,
            fin_received: false,
            ts_recent: None,
            last_ack_sent: irs + 1,
            buf: VecDeque::new(),
            capacity,
            bytes_received: 0,
            ooo: BTreeMap::new(),
            ooo_fin: None,
            sack_recent: VecDeque::new(),
            dsack: None,
        }
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
    /// next ACK reports it as a D-SACK (RFC 2883 §4).
    pub fn note_old_duplicate(&mut self, seq: SeqNum, len: u32) {
        let end = seq + len;
        if len > 0 && end.le(self.nxt) && self.nxt.since(seq) <= self.bytes_received as u32 {
            let e = self.offset_of(end);
            self.dsack = Some((e - u64::from(len), e));
        }
    }

    /// Whether the next ACK has SACK blocks to carry.
    pub fn has_sack_info(&self) -> bool {
        !self.ooo.is_empty() || self.dsack.is_some()
    }

    /// Takes the text of a segment that starts at `seq` (after the SYN, if any), with its FIN
    /// flag: in-order bytes go to the user's buffer, later ones into the out-of-order store,
    /// and whatever lies beyond the free buffer space is dropped (the peer sends it again).
    pub fn accept_segment(&mut self, seq: SeqNum, data: &[u8], fin: bool) -> Accepted {
        let mut out = Accepted::default();
        if self.fin_received {
            return out;
        }
        let nxt = self.bytes_received;
        let start = self.offset_of(seq);
        let end = start + data.len() as u64;
        let limit = nxt + self.free() as u64;
        if end <= nxt && !(fin && end == nxt) {
            out.duplicate = true;
            if end > start {
                self.dsack = Some((start, end));
            }
            return out;
        }
        if start > nxt {
            out.out_of_order = true;
            let kept_all = self.store_out_of_order(start, end.min(limit), data);
            if fin && kept_all && end <= limit {
                self.ooo_fin = Some(end);
            }
            return out;
        }
        // In order: skip what we already have, take what fits.
        let skip = (nxt - start) as usize;
        let fits = (limit - nxt) as usize;
        let new = &data[skip.min(data.len())..];
        let take = new.len().min(fits);
        self.push_in_order(&new[..take]);
        out.delivered = take;
        if take == new.len() && fin {
            out.fin = true;
        }
        if !self.ooo.is_empty() {
            out.filled_gap = true;
            out.delivered += self.pull_out_of_order();
        }
        if self.ooo_fin == Some(self.bytes_received) {
            out.fin = true;
        }
        out
    }

    fn push_in_order(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        self.nxt += bytes.len() as u32;
        self.bytes_received += bytes.len() as u64;
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
        let mut overlapping: Vec<(u64, u64)> = self
            .ooo
            .range(..end)
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
            self.dsack = Some((start, end));
            return true;
        }
        if self.ooo.len() + holes.len() > MAX_OOO_RANGES {
            return false;
        }
        for (s, e) in holes {
            let piece = &data[(s - start) as usize..(e - start) as usize];
            self.ooo.insert(s, piece.to_vec());
        }
        self.sack_recent.retain(|o| *o != start);
        self.sack_recent.push_front(start);
        self.sack_recent.truncate(4);
        true
    }

    /// Moves kept pieces that now continue the in-order stream into the user's buffer.
    fn pull_out_of_order(&mut self) -> usize {
        let mut moved = 0;
        while let Some(entry) = self.ooo.first_entry() {
            let start = *entry.key();
            let nxt = self.bytes_received;
            if start > nxt {
                break;
            }
            let piece = entry.remove();
            let end = start + piece.len() as u64;
            if end > nxt {
                let tail = &piece[(nxt - start) as usize..];
                self.push_in_order(tail);
                moved += tail.len();
            }
        }
        let nxt = self.bytes_received;
        self.sack_recent.retain(|o| *o > nxt);
        moved
    }

    /// The SACK blocks for our next ACK (RFC 2018 §4): a pending D-SACK first (RFC 2883),
    /// then the block holding the most recently received segment, then the next most recent,
    /// up to `max` blocks.
    pub fn sack_blocks(&mut self, max: usize) -> SackList {
        let mut list = SackList::new();
        if let Some((s, e)) = self.dsack.take() {
            list.push(SackBlock {
                left: self.seq_of(s).0,
                right: self.seq_of(e).0,
            });
        }
        // Contiguous runs of kept pieces.
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (k, v) in &self.ooo {
            let e = *k + v.len() as u64;
            match runs.last_mut() {
                Some(last) if last.1 == *k => last.1 = e,
                _ => runs.push((*k, e)),
            }
        }
        // RFC 2883 §4: a duplicate above the cumulative ACK is followed by the block holding
        // it; then blocks by recency.
        let dsack_start = list
            .as_slice()
            .first()
            .map(|b| self.offset_of(SeqNum(b.left)));
        let recent = dsack_start
            .into_iter()
            .chain(self.sack_recent.iter().copied());
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
        self.adv_edge.since(self.nxt)
    }

    /// Free buffer space.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Moves buffered bytes to the user.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.buf.len());
        for (dst, src) in out.iter_mut().zip(self.buf.drain(..n)) {
            *dst = src;
        }
        n
    }

    /// The window field for the next segment we send, and the edge it advertises.
    ///
    /// The window offered is the free buffer space, rounded down to the scale unit, except that
    /// an edge already advertised is never taken back (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4).
    pub fn window_field(&mut self) -> u16 {
        let unit = 1u32 << self.wscale;
        let free = u32::try_from(self.free()).unwrap_or(u32::MAX);
        let mut field = (free >> self.wscale).min(u32::from(u16::MAX));
        let promised = self.adv_edge.since(self.nxt);
        if field * unit < promised {
            field = promised.div_ceil(unit).min(u32::from(u16::MAX));
        }
        let edge = self.nxt + field * unit;
        self.adv_edge = self.adv_edge.max(edge);
        field as u16
    }

    /// Bytes kept beyond a gap (bounded by `MAX_OOO_RANGES` entries, so cheap to sum).
    pub fn ooo_bytes(&self) -> usize {
        self.ooo.values().map(Vec::len).sum()
    }

    /// Window field for a SYN or SYN-ACK: never scaled (RFC 7323 §2.2).
    pub fn syn_window_field(&mut self) -> u16 {
        let free = u32::try_from(self.free()).unwrap_or(u32::MAX);
        let field = free.min(u32::from(u16::MAX));
        self.adv_edge = self.adv_edge.max(self.nxt + field);
        field as u16
    }
}
