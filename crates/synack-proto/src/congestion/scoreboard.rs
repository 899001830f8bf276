//! The SACK scoreboard of RFC 6675: what the sender knows about each segment between SND.UNA
//! and SND.MAX, and the rules that follow from it (IsLost, SetPipe, NextSeg), plus the D-SACK
//! reports of RFC 2883 that tell a needless retransmission from a lost one.
//!
//! One record per segment as it was first sent, in sequence order. Each carries its SACKed
//! bit, a lost mark (set by RACK or a timeout), a retransmitted-in-this-recovery bit and the time
//! of its last (re)transmission, so SACKed data is never resent and a hole is resent once per
//! recovery unless loss detection marks the retransmission lost too. The record count is set by
//! what we sent, never by the peer: SACK blocks only flip bits. A segment counts as SACKed only
//! when a block covers all of it; real receivers SACK whole segments of what we sent.
//!
//! SetPipe runs on every sending decision, so the pipe is kept as a running sum, changed by
//! each event that changes a segment's share of it (sent, SACKed, marked lost, retransmitted,
//! cumulatively acknowledged); debug builds check it against the RFC's walk after every call.
//! IsLost by SACKs (DupThresh segments or (DupThresh − 1)·SMSS bytes SACKed above) holds for a
//! prefix of the records, since what is SACKed above a segment only shrinks going up; the
//! prefix only grows as SACKs arrive, so its edge is carried forward a segment at a time and
//! each record joins it at most once. The other queries walk the records, as the RFC's own
//! definitions do, except two that run on every ACK: whether any segment is marked lost is a
//! count, and RACK's scan stops where nothing later can have been sent earlier (see
//! [`Scoreboard::mark_lost_where`]), so an ACK costs the same with 10 or 10,000 segments out.

use alloc::collections::VecDeque;

use crate::seq::SeqNum;
use crate::time::Instant;

/// DupThresh (RFC 6675 §2, RFC 5681 §3.2).
pub(crate) const DUP_THRESH: u32 = 3;

/// The most SACK blocks read from one ACK: what fits in the 40-byte option space (RFC 2018 §3).
/// Anything beyond is not from a real TCP and is ignored.
pub(crate) const MAX_SACK_BLOCKS: usize = 4;

/// One segment as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub start: SeqNum,
    pub end: SeqNum,
    /// Time of the last (re)transmission (RACK's per-segment timestamp, RFC 8985 §5.2).
    pub xmit_ts: Instant,
    pub sacked: bool,
    /// Marked lost by RACK or by a timeout; cleared when it is retransmitted.
    pub lost: bool,
    /// Retransmitted during the current recovery episode (and not since marked lost).
    pub retransmitted: bool,
    /// Retransmitted at least once: its ACK is ambiguous (Karn, RFC 8985 §6.2 step 2).
    pub ever_retransmitted: bool,
    /// In the prefix that IsLost holds for by the SACKs above it (see the module comment).
    sack_lost: bool,
}

impl Segment {
    pub fn len(&self) -> u32 {
        self.end.since(self.start)
    }

    /// This segment's share of SetPipe (RFC 6675 §4): once unless lost, once more while a
    /// retransmission of it is out; nothing once SACKed.
    fn pipe_share(&self) -> u32 {
        if self.sacked {
            return 0;
        }
        let original = if self.lost || self.sack_lost {
            0
        } else {
            self.len()
        };
        let retransmission = if self.retransmitted { self.len() } else { 0 };
        original + retransmission
    }
}

/// A segment newly delivered by an ACK, cumulatively or by SACK: what RACK needs (RFC 8985
/// §6.2 step 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub start: SeqNum,
    pub end: SeqNum,
    pub xmit_ts: Instant,
    pub ever_retransmitted: bool,
}

/// A D-SACK block (RFC 2883 §4): the receiver got this range more than once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dsack {
    pub start: SeqNum,
    pub end: SeqNum,
    /// It lies at or above SND.UNA as recovery began, i.e. may report one of our
    /// retransmissions of this episode; RFC 3708 / Linux-style undo counts these.
    pub in_recovery_range: bool,
}

/// What one ACK changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AckOutcome {
    /// Bytes SND.UNA advanced.
    pub cumulatively_acked: u32,
    /// Bytes newly SACKed above SND.UNA. With `cumulatively_acked` this is PRR's
    /// DeliveredData (RFC 6937 §3) except for bytes SACKed earlier and now acknowledged.
    pub newly_sacked: u32,
    pub dsack: Option<Dsack>,
    /// SACK blocks ignored as impossible (outside [SND.UNA, SND.MAX], empty, reversed, or beyond
    /// MAX_SACK_BLOCKS).
    pub ignored_blocks: u32,
    /// The segment at SND.UNA was SACKed, yet this ACK stops right before it: the receiver
    /// discarded data it had SACKed (reneging, RFC 2018 §8). Every SACK bit was cleared, so
    /// nothing stays unsent on the strength of a report the receiver took back.
    pub reneged: bool,
}

/// RACK's word on one segment of its scan (RFC 8985 §6.2 step 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Sent before the reference segment by more than the reordering window: mark it lost.
    Lost,
    /// Sent before the reference segment, not yet overdue.
    NotYet,
    /// Sent after the reference segment: not lost by it.
    SentLater,
}

/// What to send next during recovery (RFC 6675 §4 NextSeg).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NextSeg {
    /// Rules 1 and 3: retransmit this hole (up to `len` bytes, at most one MSS).
    Retransmit { seq: SeqNum, len: u32 },
    /// Rule 2: send new data from SND.MAX.
    NewData,
    /// Rule 4: the one rescue retransmission of this episode, ending at the highest unSACKed
    /// byte.
    Rescue { seq: SeqNum, len: u32 },
}

/// The scoreboard (RFC 6675 §3–§4).
#[derive(Clone, Debug)]
pub(crate) struct Scoreboard {
    segments: VecDeque<Segment>,
    /// HighACK: SND.UNA as of the last ACK.
    high_ack: SeqNum,
    /// HighData: SND.MAX, the end of what was ever sent.
    high_data: SeqNum,
    /// HighRxt: the end of the highest retransmission of this episode.
    high_rxt: SeqNum,
    /// RescueRxt: RecoveryPoint when the rescue retransmission went out.
    rescue_rxt: Option<SeqNum>,
    /// RecoveryPoint: HighData when recovery (or the timeout's retransmission phase) began.
    recovery_point: Option<SeqNum>,
    /// HighData when the last recovery ended: what lies below it was sent during recovery.
    last_recovery_end: Option<SeqNum>,
    /// SND.UNA when recovery began: D-SACKs above it may report our own retransmissions.
    undo_marker: Option<SeqNum>,
    /// Retransmissions of this episode not yet reported as needless by a D-SACK.
    undo_retrans: u32,
    retrans_in_episode: u32,
    sacked_bytes: u32,
    sacked_segments: u32,
    /// Segments marked lost (the `lost` bit), so `has_lost` is not a walk.
    lost_segments: u32,
    /// Every segment starting at or above this was sent once only: the highest end of any
    /// retransmission, never below HighACK.
    sent_once_from: SeqNum,
    /// The running SetPipe for `smss`.
    pipe: u32,
    /// The SMSS the IsLost prefix was worked out for; 0 until set.
    smss: u32,
    /// How many records from the front form the IsLost-by-SACK prefix.
    sack_lost_len: usize,
    /// SACKed (segments, bytes) within that prefix.
    sacked_in_prefix: (u32, u32),
}

impl Scoreboard {
    /// An empty scoreboard whose sequence space starts at `snd_una`.
    pub(crate) fn new(snd_una: SeqNum) -> Scoreboard {
        Scoreboard {
            segments: VecDeque::new(),
            high_ack: snd_una,
            high_data: snd_una,
            high_rxt: snd_una,
            rescue_rxt: None,
            recovery_point: None,
            last_recovery_end: None,
            undo_marker: None,
            undo_retrans: 0,
            retrans_in_episode: 0,
            sacked_bytes: 0,
            sacked_segments: 0,
            lost_segments: 0,
            sent_once_from: snd_una,
            pipe: 0,
            smss: 0,
            sack_lost_len: 0,
            sacked_in_prefix: (0, 0),
        }
    }

    /// Back to what `Scoreboard::new(snd_una)` makes, keeping the segment queue's room when it
    /// is small (at most `KEPT_ROOM` segments): a reused board then neither allocates for its
    /// first segments nor holds a bulk transfer's queue for a connection that may send little.
    pub(crate) fn reset(&mut self, snd_una: SeqNum) {
        const KEPT_ROOM: usize = 32;
        let mut segments = core::mem::take(&mut self.segments);
        segments.clear();
        if segments.capacity() > KEPT_ROOM {
            segments = VecDeque::new();
        }
        *self = Scoreboard {
            segments,
            ..Scoreboard::new(snd_una)
        };
    }

    /// The SMSS IsLost counts bytes in (RFC 6675 §4); a change works the prefix and the pipe out
    /// afresh.
    /// Whether an ACK of `una` without SACK blocks leaves the board as it is: nothing is
    /// recorded, the cumulative ACK already stands at `una` and the segment size is `smss`.
    pub(crate) fn at_rest(&self, una: SeqNum, smss: u32) -> bool {
        self.segments.is_empty()
            && self.high_ack == una
            && !self.high_rxt.lt(una)
            && self.smss == smss
    }

    pub(crate) fn set_smss(&mut self, smss: u32) {
        if smss != self.smss {
            self.smss = smss;
            self.recount();
        }
    }

    /// Works the IsLost prefix and the running pipe out from the records: after events that
    /// touch every record anyway (a timeout, a new episode, reneging) or a new SMSS.
    fn recount(&mut self) {
        for s in self.segments.iter_mut() {
            s.sack_lost = false;
        }
        self.sack_lost_len = 0;
        self.sacked_in_prefix = (0, 0);
        self.extend_sack_lost();
        self.pipe = self
            .segments
            .iter()
            .fold(0u32, |p, s| p.wrapping_add(s.pipe_share()));
        self.lost_segments = self.segments.iter().filter(|s| s.lost).count() as u32;
    }

    /// Carries the IsLost-by-SACK prefix forward over every record it now covers, taking the
    /// ones that join it out of the pipe.
    fn extend_sack_lost(&mut self) {
        // With nothing SACKed no record has SACKed records above it: the prefix stays (every
        // ACK of a connection without loss comes here).
        if self.smss == 0 || self.sacked_segments == 0 {
            return;
        }
        while let Some(s) = self.segments.get_mut(self.sack_lost_len) {
            let own = if s.sacked { (1, s.len()) } else { (0, 0) };
            let above = (
                self.sacked_segments - self.sacked_in_prefix.0 - own.0,
                self.sacked_bytes - self.sacked_in_prefix.1 - own.1,
            );
            if !Self::is_lost_by_sack(above, self.smss) {
                break;
            }
            let before = s.pipe_share();
            s.sack_lost = true;
            self.pipe = self.pipe.wrapping_sub(before).wrapping_add(s.pipe_share());
            self.sacked_in_prefix.0 += own.0;
            self.sacked_in_prefix.1 += own.1;
            self.sack_lost_len += 1;
        }
    }

    pub(crate) fn high_ack(&self) -> SeqNum {
        self.high_ack
    }
    pub(crate) fn high_data(&self) -> SeqNum {
        self.high_data
    }
    pub(crate) fn high_rxt(&self) -> SeqNum {
        self.high_rxt
    }
    pub(crate) fn rescue_rxt(&self) -> Option<SeqNum> {
        self.rescue_rxt
    }
    pub(crate) fn recovery_point(&self) -> Option<SeqNum> {
        self.recovery_point
    }
    pub(crate) fn sacked_bytes(&self) -> u32 {
        self.sacked_bytes
    }
    pub(crate) fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }
    /// The highest SACKed byte + 1, if anything above SND.UNA is SACKed.
    pub(crate) fn highest_sacked(&self) -> Option<SeqNum> {
        self.segments.iter().rev().find(|s| s.sacked).map(|s| s.end)
    }

    /// `len` bytes at `seq` went out at `now`: new data when `seq` is SND.MAX, otherwise a
    /// retransmission of the segments it overlaps. Ranges outside the sequence space we track
    /// are ignored.
    // Inlined: new data at HighData, what nearly every segment sent is, is one record
    // appended; a retransmission goes the long way.
    #[inline]
    pub(crate) fn on_transmit(&mut self, now: Instant, seq: SeqNum, len: u32) {
        if seq == self.high_data && len != 0 && len < 1 << 30 {
            self.append(now, seq, len);
            return;
        }
        self.transmit(now, seq, len, false);
    }

    /// A new record for `len` bytes of new data at HighData.
    #[inline]
    fn append(&mut self, now: Instant, seq: SeqNum, len: u32) {
        let end = seq + len;
        self.segments.push_back(Segment {
            start: seq,
            end,
            xmit_ts: now,
            sacked: false,
            lost: false,
            retransmitted: false,
            ever_retransmitted: false,
            sack_lost: false,
        });
        self.pipe = self.pipe.wrapping_add(len);
        self.high_data = end;
    }

    /// The rescue retransmission of NextSeg rule 4 went out: RescueRxt = RecoveryPoint and
    /// HighRxt stays (RFC 6675 §4).
    pub(crate) fn on_rescue_transmit(&mut self, now: Instant, seq: SeqNum, len: u32) {
        self.transmit(now, seq, len, true);
        self.rescue_rxt = Some(self.recovery_point.unwrap_or(self.high_data));
    }

    #[inline(never)]
    fn transmit(&mut self, now: Instant, seq: SeqNum, len: u32, rescue: bool) {
        // A segment longer than a quarter of the sequence space is not one we could have sent.
        if len == 0 || len >= 1 << 30 {
            return;
        }
        let end = seq + len;
        if seq == self.high_data {
            self.append(now, seq, len);
            return;
        }
        if !seq.in_range(self.high_ack, self.high_data) || end.gt(self.high_data) {
            return;
        }
        // A retransmission smaller than the segment it resends (fewer bytes fit once a SACK
        // option takes room from the MSS, RFC 9293 §3.7.1) marks only the bytes it carried; the
        // rest of that segment stays a hole to send, not waiting for the next timeout.
        self.split_at(seq);
        self.split_at(end);
        let mut counted = false;
        let first = self.first_ending_after(seq);
        let mut pipe = self.pipe;
        for s in self.segments.range_mut(first..) {
            if s.start.ge(end) {
                break;
            }
            pipe = pipe.wrapping_sub(s.pipe_share());
            s.xmit_ts = now;
            if s.lost {
                self.lost_segments -= 1;
            }
            s.lost = false;
            s.retransmitted = true;
            s.ever_retransmitted = true;
            pipe = pipe.wrapping_add(s.pipe_share());
            counted = true;
        }
        self.pipe = pipe;
        if counted {
            self.retrans_in_episode = self.retrans_in_episode.saturating_add(1);
            self.undo_retrans = self.undo_retrans.saturating_add(1);
        }
        if !rescue && end.gt(self.high_rxt) {
            self.high_rxt = end;
        }
        if end.gt(self.sent_once_from) {
            self.sent_once_from = end;
        }
    }

    /// Update() of RFC 6675 §4 for an acceptable ACK: `snd_una` is its (already validated)
    /// acknowledgment number, `blocks` its SACK blocks in option order. `on_delivered` sees the
    /// segments this ACK delivers for the first time, cumulatively or by SACK, in that order,
    /// except that of a run of originals (never retransmitted) delivered cumulatively, each
    /// sent no earlier than the one before, it sees only the first and the last: along such a
    /// run the ends rise and the send times never fall, so RACK's steps 2 and 3 (RFC 8985
    /// §6.2) and F-RTO's look for an original (RFC 5682 §2.1) end where they would after every
    /// one of them. A bulk sender's ACK covers a dozen segments or more; this spares the rest.
    pub(crate) fn on_ack(
        &mut self,
        snd_una: SeqNum,
        blocks: &[(SeqNum, SeqNum)],
        mut on_delivered: impl FnMut(&Delivered),
    ) -> AckOutcome {
        let mut out = AckOutcome::default();
        let old_una = self.high_ack;
        let una = if snd_una.gt(old_una) && snd_una.le(self.high_data) {
            snd_una
        } else {
            old_una
        };
        out.cumulatively_acked = una.since(old_una);

        if !blocks.is_empty() {
            out.dsack = self.dsack_in(blocks, una);
        }

        // Cumulative part: drop what SND.UNA passed, trim a segment it cut. The originals at
        // the front that nothing but this ACK has touched (all of a bulk sender's ACK) go
        // first, in one pass that removes them together: each takes its length off the pipe
        // and changes no count.
        let mut run = self.drop_acked_originals(una);
        while let Some(front) = self.segments.front_mut() {
            let in_prefix = self.sack_lost_len > 0;
            if front.end.le(una) {
                let seg = *front;
                self.segments.pop_front();
                self.pipe = self.pipe.wrapping_sub(seg.pipe_share());
                if seg.lost {
                    self.lost_segments -= 1;
                }
                if in_prefix {
                    self.sack_lost_len -= 1;
                }
                if seg.sacked {
                    self.sacked_bytes -= seg.len();
                    self.sacked_segments -= 1;
                    if in_prefix {
                        self.sacked_in_prefix.0 -= 1;
                        self.sacked_in_prefix.1 -= seg.len();
                    }
                } else if seg.ever_retransmitted {
                    deliver_run(&mut run, &mut on_delivered);
                    on_delivered(&delivered(&seg));
                } else {
                    let d = delivered(&seg);
                    match &mut run {
                        Some((_, last)) if d.xmit_ts >= last.xmit_ts => *last = d,
                        _ => {
                            deliver_run(&mut run, &mut on_delivered);
                            run = Some((d, d));
                        }
                    }
                }
            } else {
                if front.start.lt(una) {
                    let cut = una.since(front.start);
                    if front.sacked {
                        self.sacked_bytes -= cut;
                        if in_prefix {
                            self.sacked_in_prefix.1 -= cut;
                        }
                    }
                    self.pipe = self.pipe.wrapping_sub(front.pipe_share());
                    front.start = una;
                    self.pipe = self.pipe.wrapping_add(front.pipe_share());
                }
                break;
            }
        }
        deliver_run(&mut run, &mut on_delivered);
        self.high_ack = una;
        if self.high_rxt.lt(una) {
            self.high_rxt = una;
        }
        if self.sent_once_from.lt(una) {
            self.sent_once_from = una;
        }

        if !blocks.is_empty() {
            self.take_sack_blocks(blocks, una, &mut out, &mut on_delivered);
        }
        if self.segments.front().is_some_and(|s| s.sacked) {
            out.reneged = true;
            self.renege();
        } else {
            self.extend_sack_lost();
        }
        out
    }

    /// Removes the records at the front that end at or below `una` and are originals never
    /// SACKed, marked lost or in the IsLost prefix, as long as their send times do not fall;
    /// returns the first and last of them, the run `on_ack` reports.
    fn drop_acked_originals(&mut self, una: SeqNum) -> Option<(Delivered, Delivered)> {
        if self.sack_lost_len > 0 {
            return None;
        }
        let mut ends: Option<(Delivered, Delivered)> = None;
        let mut count = 0;
        let mut bytes = 0u32;
        for s in &self.segments {
            if s.sacked || s.lost || s.retransmitted || s.ever_retransmitted || s.sack_lost {
                break;
            }
            if !s.end.le(una) {
                break;
            }
            let d = delivered(s);
            match &mut ends {
                Some((_, last)) if d.xmit_ts >= last.xmit_ts => *last = d,
                Some(_) => break,
                None => ends = Some((d, d)),
            }
            bytes = bytes.wrapping_add(s.len());
            count += 1;
        }
        // Their share of the pipe is their length: not lost, not retransmitted, not SACKed.
        self.pipe = self.pipe.wrapping_sub(bytes);
        self.segments.drain(..count);
        ends
    }

    /// RFC 2883 §4: the first block reports a duplicate when it lies below the cumulative ACK
    /// (`una`) or inside the second block.
    #[inline(never)]
    fn dsack_in(&mut self, blocks: &[(SeqNum, SeqNum)], una: SeqNum) -> Option<Dsack> {
        let &(s, e) = blocks.first()?;
        // Either way it must describe data we sent: nonempty and not beyond SND.MAX.
        let sane = e.gt(s) && e.le(self.high_data);
        let below = sane && s.lt(una);
        let inside = sane && blocks.get(1).is_some_and(|&(s1, e1)| s.ge(s1) && e.le(e1));
        if !(below || inside) {
            return None;
        }
        let in_recovery_range = self
            .undo_marker
            .is_some_and(|m| s.ge(m) && e.le(self.high_data));
        if in_recovery_range {
            self.undo_retrans = self.undo_retrans.saturating_sub(1);
        }
        Some(Dsack {
            start: s,
            end: e,
            in_recovery_range,
        })
    }

    /// The SACK blocks' part of Update() (RFC 6675 §4), past the cumulative ACK `una`: out of
    /// line, as an ACK on a path without loss carries none.
    #[inline(never)]
    fn take_sack_blocks(
        &mut self,
        blocks: &[(SeqNum, SeqNum)],
        una: SeqNum,
        out: &mut AckOutcome,
        on_delivered: &mut impl FnMut(&Delivered),
    ) {
        let skip = usize::from(out.dsack.is_some());
        for (i, &(s, e)) in blocks.iter().enumerate().skip(skip) {
            let plausible = i < MAX_SACK_BLOCKS && e.gt(s) && s.ge(una) && e.le(self.high_data);
            if !plausible {
                out.ignored_blocks += 1;
                continue;
            }
            let first = self.first_ending_after(s);
            let prefix = self.sack_lost_len;
            for (i, seg) in self.segments.range_mut(first..).enumerate() {
                if seg.start.ge(e) {
                    break;
                }
                if seg.sacked || seg.start.lt(s) || seg.end.gt(e) {
                    continue;
                }
                self.pipe = self.pipe.wrapping_sub(seg.pipe_share());
                if seg.lost {
                    self.lost_segments -= 1;
                }
                seg.sacked = true;
                seg.lost = false;
                self.sacked_bytes += seg.len();
                self.sacked_segments += 1;
                if first + i < prefix {
                    self.sacked_in_prefix.0 += 1;
                    self.sacked_in_prefix.1 += seg.len();
                }
                out.newly_sacked += seg.len();
                on_delivered(&delivered(seg));
            }
        }
    }

    /// The peer reneged (RFC 2018 §8): what it SACKed counts as unreceived again.
    #[cold]
    #[inline(never)]
    fn renege(&mut self) {
        for s in self.segments.iter_mut() {
            s.sacked = false;
        }
        self.sacked_bytes = 0;
        self.sacked_segments = 0;
        self.recount();
    }

    /// Index of the first segment ending after `seq`: segments are in sequence order within
    /// less than half the sequence space, so this is a binary search.
    /// Cuts the segment holding `at` strictly inside it in two at `at`, both halves keeping
    /// its marks and send time.
    fn split_at(&mut self, at: SeqNum) {
        let i = self.first_ending_after(at);
        let Some(&s) = self.segments.get(i) else {
            return;
        };
        if !(s.start.lt(at) && at.lt(s.end)) {
            return;
        }
        self.segments[i].end = at;
        self.segments.insert(i + 1, Segment { start: at, ..s });
        // The two halves share the pipe as the whole did; the IsLost prefix takes both or
        // neither, and one more SACKed record above may carry it further.
        let in_prefix = i < self.sack_lost_len;
        if in_prefix {
            self.sack_lost_len += 1;
        }
        if s.lost {
            self.lost_segments += 1;
        }
        if s.sacked {
            self.sacked_segments += 1;
            if in_prefix {
                self.sacked_in_prefix.0 += 1;
            }
            self.extend_sack_lost();
        }
    }

    fn first_ending_after(&self, seq: SeqNum) -> usize {
        self.segments.partition_point(|s| s.end.le(seq))
    }

    /// IsLost(seg) of RFC 6675 §4 for the segment at `index`: DupThresh SACKed segments above
    /// it, or more than (DupThresh − 1)·SMSS SACKed bytes above it. `above` gives the SACKed
    /// (segments, bytes) above that segment.
    fn is_lost_by_sack(above: (u32, u32), smss: u32) -> bool {
        above.0 >= DUP_THRESH || above.1 > (DUP_THRESH - 1).saturating_mul(smss)
    }

    /// Whether the segment holding `seq` is lost: marked lost, or IsLost by the SACKs above it.
    pub(crate) fn is_lost(&self, seq: SeqNum, smss: u32) -> bool {
        let mut above = (self.sacked_segments, self.sacked_bytes);
        for s in &self.segments {
            if s.sacked {
                above.0 -= 1;
                above.1 -= s.len();
            }
            if seq.in_range(s.start, s.end) {
                return !s.sacked && (s.lost || Self::is_lost_by_sack(above, smss));
            }
        }
        false
    }

    /// Bytes of unSACKed segments taken for lost: marked so after a timeout, or IsLost by the
    /// SACKs above them (RFC 6675 §4).
    pub(crate) fn lost_bytes(&self, smss: u32) -> u32 {
        let mut above = (self.sacked_segments, self.sacked_bytes);
        let mut lost = 0u32;
        for s in &self.segments {
            if s.sacked {
                above.0 -= 1;
                above.1 -= s.len();
            } else if s.lost || Self::is_lost_by_sack(above, smss) {
                lost = lost.saturating_add(s.len());
            }
        }
        lost
    }

    /// SetPipe of RFC 6675 §4: bytes believed in the network. Each unSACKed segment counts
    /// once unless it is lost, and once more while a retransmission of it is out. The running
    /// sum when `smss` is the one it was kept for, else the walk.
    // Inlined: asked for every segment sent, and nearly always the running sum.
    #[inline]
    pub(crate) fn pipe(&self, smss: u32) -> u32 {
        if smss == self.smss {
            debug_assert_eq!(self.pipe, self.walked_pipe(smss), "running pipe: {self:?}");
            return self.pipe;
        }
        self.walked_pipe(smss)
    }

    /// SetPipe by its definition, walking every record.
    #[inline(never)]
    fn walked_pipe(&self, smss: u32) -> u32 {
        let mut above = (self.sacked_segments, self.sacked_bytes);
        let mut pipe = 0u32;
        for s in &self.segments {
            if s.sacked {
                above.0 -= 1;
                above.1 -= s.len();
                continue;
            }
            if !(s.lost || Self::is_lost_by_sack(above, smss)) {
                pipe = pipe.saturating_add(s.len());
            }
            if s.retransmitted {
                pipe = pipe.saturating_add(s.len());
            }
        }
        pipe
    }

    /// NextSeg of RFC 6675 §4, with the per-segment retransmitted bit standing for "above
    /// HighRxt" so a hole goes out once per episode. `new_data` says whether unsent data is
    /// ready and the receive window admits it.
    pub(crate) fn next_seg(&self, smss: u32, new_data: bool) -> Option<NextSeg> {
        let highest_sacked = self.highest_sacked();
        let below_sack = |s: &Segment| highest_sacked.is_some_and(|h| s.start.lt(h));
        let piece = |s: &Segment| NextSeg::Retransmit {
            seq: s.start,
            len: s.len().min(smss),
        };

        // Rule 1: the first unSACKed, not yet retransmitted segment that is lost. IsLost needs
        // SACKs above it (1.b); a segment marked lost by RACK or a timeout qualifies anywhere.
        let mut above = (self.sacked_segments, self.sacked_bytes);
        for s in &self.segments {
            if s.sacked {
                above.0 -= 1;
                above.1 -= s.len();
                continue;
            }
            if s.retransmitted {
                continue;
            }
            if s.lost || (below_sack(s) && Self::is_lost_by_sack(above, smss)) {
                return Some(piece(s));
            }
        }
        // Rule 2: new data.
        if new_data {
            return Some(NextSeg::NewData);
        }
        // Rule 3: an unSACKed hole below the highest SACK, not known lost.
        if let Some(s) = self
            .segments
            .iter()
            .find(|s| !s.sacked && !s.retransmitted && below_sack(s))
        {
            return Some(piece(s));
        }
        // Rule 4: one rescue retransmission per episode, of the highest unSACKed segment,
        // when HighACK has passed the last RescueRxt. The rescue exists for an unSACKed tail of
        // the data outstanding when recovery began, so, narrower than the RFC's wording, it is
        // skipped when that segment was already retransmitted in this episode (a hole goes out
        // once) or lies above RecoveryPoint (new data sent during recovery draws its own ACKs,
        // and a lost tail of it is TLP's job).
        let recovery_point = self.recovery_point?;
        if self.rescue_rxt.is_some_and(|r| self.high_ack.le(r)) {
            return None;
        }
        let s = self.segments.iter().rev().find(|s| !s.sacked)?;
        if s.retransmitted || s.end.gt(recovery_point) {
            return None;
        }
        let len = s.len().min(smss);
        Some(NextSeg::Rescue {
            seq: s.end - len,
            len,
        })
    }

    /// Fast recovery begins (RFC 6675 §5): RecoveryPoint = HighData, a fresh episode for the
    /// retransmitted bits and the undo count.
    pub(crate) fn enter_recovery(&mut self) {
        self.recovery_point = Some(self.high_data);
        self.high_rxt = self.high_ack;
        self.rescue_rxt = None;
        self.undo_marker = Some(self.high_ack);
        self.undo_retrans = 0;
        self.retrans_in_episode = 0;
        for s in self.segments.iter_mut() {
            s.retransmitted = false;
        }
        self.recount();
    }

    /// Whether `seq` lies in data sent before the last recovery ended.
    pub(crate) fn sent_in_last_recovery(&self, seq: SeqNum) -> bool {
        self.last_recovery_end.is_some_and(|end| seq.lt(end))
    }

    /// Recovery is over once HighACK reaches RecoveryPoint (RFC 6675 §5 step (A)).
    pub(crate) fn recovery_complete(&self) -> bool {
        self.recovery_point.is_some_and(|p| self.high_ack.ge(p))
    }

    pub(crate) fn exit_recovery(&mut self) {
        self.last_recovery_end = Some(self.high_data);
        self.recovery_point = None;
        self.rescue_rxt = None;
    }

    /// The retransmission timer expired (RFC 6675 §5.1): every unSACKed segment is lost and may
    /// be resent once more, SACK information is kept so SACKed data still is not, and
    /// RecoveryPoint becomes HighData.
    pub(crate) fn on_rto(&mut self) {
        self.recovery_point = Some(self.high_data);
        self.high_rxt = self.high_ack;
        self.rescue_rxt = None;
        self.undo_marker = Some(self.high_ack);
        self.undo_retrans = 0;
        self.retrans_in_episode = 0;
        for s in self.segments.iter_mut() {
            s.retransmitted = false;
            if !s.sacked {
                s.lost = true;
            }
        }
        self.recount();
    }

    /// Marks a segment lost (RACK, RFC 8985 §6.2 step 5): it leaves the pipe and becomes
    /// eligible for (another) retransmission.
    pub(crate) fn mark_lost(&mut self, start: SeqNum) {
        let i = self.first_ending_after(start);
        if let Some(s) = self.segments.get_mut(i).filter(|s| s.start == start) {
            if !s.sacked {
                self.pipe = self.pipe.wrapping_sub(s.pipe_share());
                if !s.lost {
                    self.lost_segments += 1;
                }
                s.lost = true;
                s.retransmitted = false;
                self.pipe = self.pipe.wrapping_add(s.pipe_share());
            }
        }
    }

    /// Marks lost every unSACKed segment not yet marked that `verdict` finds lost, in sequence
    /// order (RACK's scan, RFC 8985 §6.2 step 5); returns how many were marked.
    ///
    /// First transmissions go out in sequence order, so among segments sent once only a later
    /// one was sent no earlier: past the last retransmission, the first segment sent after
    /// RACK's reference ends the scan, as nothing beyond it can have been sent before. Without
    /// losses that is the first segment looked at.
    pub(crate) fn mark_lost_where(&mut self, mut verdict: impl FnMut(&Segment) -> Verdict) -> u32 {
        let mut n = 0;
        let mut pipe = self.pipe;
        for s in self.segments.iter_mut() {
            if s.sacked || s.lost {
                continue;
            }
            match verdict(s) {
                Verdict::Lost => {}
                Verdict::NotYet => continue,
                Verdict::SentLater if s.start.ge(self.sent_once_from) => break,
                Verdict::SentLater => continue,
            }
            pipe = pipe.wrapping_sub(s.pipe_share());
            s.lost = true;
            s.retransmitted = false;
            pipe = pipe.wrapping_add(s.pipe_share());
            n += 1;
        }
        self.pipe = pipe;
        self.lost_segments += n;
        n
    }

    /// Whether any segment is marked lost and not yet resent.
    pub(crate) fn has_lost(&self) -> bool {
        debug_assert_eq!(
            self.lost_segments as usize,
            self.segments.iter().filter(|s| s.lost).count(),
            "lost count: {self:?}"
        );
        self.lost_segments > 0
    }

    /// Segments between SND.UNA and SND.MAX.
    pub(crate) fn len(&self) -> usize {
        self.segments.len()
    }

    /// A timeout proved spurious (F-RTO, RFC 5682): what it marked lost is in flight after all.
    pub(crate) fn clear_lost(&mut self) {
        for s in self.segments.iter_mut() {
            s.lost = false;
        }
        self.recount();
    }

    /// SACKed segments above SND.UNA (RACK.segs_sacked, RFC 8985 §6.1).
    pub(crate) fn sacked_segments(&self) -> u32 {
        self.sacked_segments
    }

    /// The last segment sent, the one a tail loss probe resends when no new data can go
    /// (RFC 8985 §7.3).
    pub(crate) fn last_segment(&self) -> Option<&Segment> {
        self.segments.back()
    }

    /// RFC 3708 / Linux-style undo: every retransmission of this episode was reported
    /// needless by a D-SACK, so the window reduction was spurious.
    pub(crate) fn retransmissions_all_dsacked(&self) -> bool {
        self.retrans_in_episode > 0 && self.undo_retrans == 0
    }
}

/// A run of originals delivered together, reported by its first and last segment (see
/// [`Scoreboard::on_ack`]); none is left after.
fn deliver_run(
    run: &mut Option<(Delivered, Delivered)>,
    on_delivered: &mut impl FnMut(&Delivered),
) {
    if let Some((first, last)) = run.take() {
        on_delivered(&first);
        if last.start != first.start {
            on_delivered(&last);
        }
    }
}

fn delivered(s: &Segment) -> Delivered {
    Delivered {
        start: s.start,
        end: s.end,
        xmit_ts: s.xmit_ts,
        ever_retransmitted: s.ever_retransmitted,
    }
}

#[cfg(test)]
#[path = "tests_scoreboard.rs"]
mod tests;
