//! Tests of the RFC 6675 scoreboard: exact retransmission order, pipe after given ACKs, D-SACK,
//! and hostile SACK blocks.

use super::*;
use proptest::prelude::*;
use std::vec::Vec;

const MSS: u32 = 1000;

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// A scoreboard with `n` MSS-sized segments sent from `base`, one per millisecond.
fn sent(base: u32, n: u32) -> Scoreboard {
    let mut sb = Scoreboard::new(SeqNum(base));
    for i in 0..n {
        sb.on_transmit(t(u64::from(i)), SeqNum(base) + i * MSS, MSS);
    }
    sb
}

/// Segment `i`'s range as a SACK block (or several segments: `i..j`).
fn seg(base: u32, i: u32, j: u32) -> (SeqNum, SeqNum) {
    (SeqNum(base) + i * MSS, SeqNum(base) + j * MSS)
}

fn ack(sb: &mut Scoreboard, una: SeqNum, blocks: &[(SeqNum, SeqNum)]) -> AckOutcome {
    sb.on_ack(una, blocks, |_| {})
}

/// Sends whatever NextSeg asks for until it asks for nothing (no new data available); returns
/// the retransmitted sequence numbers in order.
fn drain(sb: &mut Scoreboard, now: Instant) -> Vec<(SeqNum, bool)> {
    let mut out = Vec::new();
    while let Some(next) = sb.next_seg(MSS, false) {
        match next {
            NextSeg::Retransmit { seq, len } => {
                sb.on_transmit(now, seq, len);
                out.push((seq, false));
            }
            NextSeg::Rescue { seq, len } => {
                sb.on_rescue_transmit(now, seq, len);
                out.push((seq, true));
            }
            NextSeg::NewData => unreachable!("no new data offered"),
        }
        assert!(out.len() < 100, "NextSeg loops");
    }
    out
}

#[test]
fn holes_are_retransmitted_in_order_and_sacked_data_never() {
    let b = 1000;
    let mut sb = sent(b, 10);
    // Segments 2 and 5 lost; 0 and 1 arrive; then 3, 4, 6..9 are SACKed.
    ack(&mut sb, seg(b, 2, 2).0, &[]);
    ack(&mut sb, seg(b, 2, 2).0, &[seg(b, 3, 5)]);
    ack(&mut sb, seg(b, 2, 2).0, &[seg(b, 6, 10), seg(b, 3, 5)]);
    sb.enter_recovery();
    assert_eq!(sb.recovery_point(), Some(seg(b, 10, 10).0));
    let rtx = drain(&mut sb, t(20));
    assert_eq!(rtx, [(seg(b, 2, 2).0, false), (seg(b, 5, 5).0, false)]);
    assert_eq!(sb.high_rxt(), seg(b, 6, 6).0);
    // Nothing more, however often asked; new data when there is some.
    assert_eq!(sb.next_seg(MSS, false), None);
    assert_eq!(sb.next_seg(MSS, true), Some(NextSeg::NewData));
    // The retransmission of 2 arrives: SND.UNA jumps to 5; 5 is still out, once.
    let out = ack(&mut sb, seg(b, 5, 5).0, &[seg(b, 6, 10)]);
    assert_eq!(out.cumulatively_acked, 3 * MSS);
    assert!(!sb.recovery_complete());
    assert_eq!(sb.next_seg(MSS, false), None);
    ack(&mut sb, seg(b, 10, 10).0, &[]);
    assert!(sb.recovery_complete());
    assert_eq!(sb.segments().count(), 0);
    sb.exit_recovery();
    assert_eq!((sb.recovery_point(), sb.rescue_rxt()), (None, None));
    // Outside recovery an unSACKed tail is not rescued.
    sb.on_transmit(t(30), seg(b, 10, 10).0, MSS);
    assert_eq!(sb.next_seg(MSS, false), None);
}

#[test]
fn new_data_comes_before_holes_not_yet_known_lost() {
    let b = 0;
    let mut sb = sent(b, 6);
    // Segment 0 lost, 1..4 SACKed: 0 is lost; segment 5 is unSACKed above the SACKs.
    ack(&mut sb, SeqNum(b), &[seg(b, 1, 5)]);
    sb.enter_recovery();
    assert_eq!(
        sb.next_seg(MSS, true),
        Some(NextSeg::Retransmit {
            seq: SeqNum(b),
            len: MSS
        })
    );
    sb.on_transmit(t(10), SeqNum(b), MSS);
    // Rule 2 before rule 3/4.
    assert_eq!(sb.next_seg(MSS, true), Some(NextSeg::NewData));
}

#[test]
fn rule_3_resends_a_hole_below_the_highest_sack_that_is_not_yet_lost() {
    let b = 0;
    let mut sb = sent(b, 4);
    // Only segment 2 SACKed: 0 and 1 have one SACKed segment above, not lost yet.
    ack(&mut sb, SeqNum(b), &[seg(b, 2, 3)]);
    sb.enter_recovery();
    assert!(!sb.is_lost(SeqNum(b), MSS));
    let rtx = drain(&mut sb, t(10));
    // Rule 3 takes the holes below the SACK in order, then rule 4 rescues the tail segment 3.
    assert_eq!(
        rtx,
        [
            (SeqNum(b), false),
            (seg(b, 1, 1).0, false),
            (seg(b, 3, 3).0, true)
        ]
    );
}

#[test]
fn the_rescue_retransmission_goes_out_once_per_episode() {
    let b = 5000;
    let mut sb = sent(b, 10);
    // Segment 0 lost, 1..3 SACKed, the tail 4..9 not acknowledged at all.
    ack(&mut sb, SeqNum(b), &[seg(b, 1, 4)]);
    sb.enter_recovery();
    // Rule 1 repairs segment 0; 4..8 lie above every SACK, so neither rule 1 nor rule 3 sends
    // them; rule 4 rescues the highest unSACKed segment, 9.
    let rtx = drain(&mut sb, t(10));
    assert_eq!(rtx, [(SeqNum(b), false), (seg(b, 9, 9).0, true)]);
    assert_eq!(sb.rescue_rxt(), Some(seg(b, 10, 10).0));
    // HighRxt does not move for the rescue.
    assert_eq!(sb.high_rxt(), seg(b, 1, 1).0);
    // Still below RescueRxt: no second rescue.
    ack(&mut sb, seg(b, 4, 4).0, &[]);
    assert_eq!(sb.next_seg(MSS, false), None);
}

#[test]
fn pipe_after_a_sequence_of_acks() {
    let b = 100;
    let mut sb = sent(b, 10);
    assert_eq!(sb.pipe(MSS), 10 * MSS);
    ack(&mut sb, SeqNum(b), &[seg(b, 3, 4)]);
    // 0..2 have 1 SACKed segment (1000 bytes) above: not lost.
    assert_eq!(sb.pipe(MSS), 9 * MSS);
    ack(&mut sb, SeqNum(b), &[seg(b, 3, 5)]);
    // Two above, 2000 bytes: still not more than (DupThresh − 1)·SMSS.
    assert_eq!(sb.pipe(MSS), 8 * MSS);
    ack(&mut sb, SeqNum(b), &[seg(b, 3, 6)]);
    // Three above: 0..2 lost and out of the pipe: 6..9 remain.
    assert_eq!(sb.pipe(MSS), 4 * MSS);
    sb.enter_recovery();
    sb.on_transmit(t(50), SeqNum(b), MSS);
    // A retransmission in flight counts (once: the original is lost).
    assert_eq!(sb.pipe(MSS), 5 * MSS);
    ack(&mut sb, seg(b, 1, 1).0, &[seg(b, 3, 6)]);
    assert_eq!(sb.pipe(MSS), 4 * MSS);
    // Segment 9 marked lost by RACK leaves the pipe.
    sb.mark_lost(seg(b, 9, 9).0);
    assert_eq!(sb.pipe(MSS), 3 * MSS);
}

#[test]
fn is_lost_counts_segments_or_bytes() {
    // Small segments: three SACKed 400-byte segments above (1200 bytes) make it lost by count.
    let mut sb = Scoreboard::new(SeqNum(0));
    for i in 0..5 {
        sb.on_transmit(t(0), SeqNum(i * 400), 400);
    }
    ack(&mut sb, SeqNum(0), &[(SeqNum(800), SeqNum(2000))]);
    assert!(sb.is_lost(SeqNum(0), MSS) && sb.is_lost(SeqNum(799), MSS));
    assert!(!sb.is_lost(SeqNum(800), MSS));
    // One big SACKed segment of 2001 bytes above is more than 2·SMSS: lost by bytes.
    let mut sb = Scoreboard::new(SeqNum(0));
    sb.on_transmit(t(0), SeqNum(0), 1000);
    sb.on_transmit(t(0), SeqNum(1000), 2001);
    ack(&mut sb, SeqNum(0), &[(SeqNum(1000), SeqNum(3001))]);
    assert!(sb.is_lost(SeqNum(0), MSS));
    let mut sb = Scoreboard::new(SeqNum(0));
    sb.on_transmit(t(0), SeqNum(0), 1000);
    sb.on_transmit(t(0), SeqNum(1000), 2000);
    ack(&mut sb, SeqNum(0), &[(SeqNum(1000), SeqNum(3000))]);
    assert!(!sb.is_lost(SeqNum(0), MSS));
}

#[test]
fn a_timeout_resends_every_unsacked_segment_once_and_no_sacked_one() {
    let b = 0;
    let mut sb = sent(b, 8);
    ack(&mut sb, seg(b, 1, 1).0, &[seg(b, 2, 3), seg(b, 5, 6)]);
    sb.on_rto();
    let rtx = drain(&mut sb, t(1000));
    let want: Vec<(SeqNum, bool)> = [1, 3, 4, 6, 7]
        .iter()
        .map(|&i| (seg(b, i, i).0, false))
        .collect();
    assert_eq!(rtx, want);
    assert_eq!(sb.recovery_point(), Some(seg(b, 8, 8).0));
}

#[test]
fn a_lost_retransmission_marked_by_rack_is_resent() {
    let b = 0;
    let mut sb = sent(b, 5);
    ack(&mut sb, SeqNum(b), &[seg(b, 1, 5)]);
    sb.enter_recovery();
    assert_eq!(drain(&mut sb, t(10)), [(SeqNum(b), false)]);
    sb.mark_lost(SeqNum(b));
    assert_eq!(drain(&mut sb, t(30)), [(SeqNum(b), false)]);
    let first = sb.segments().next().unwrap();
    assert_eq!(first.xmit_ts, t(30));
    assert!(first.ever_retransmitted);
    // Marking a SACKed segment lost does nothing.
    sb.mark_lost(seg(b, 2, 2).0);
    assert_eq!(drain(&mut sb, t(40)), []);
}

#[test]
fn a_segment_is_reported_delivered_once_by_sack_or_by_ack() {
    let b = 7;
    let mut sb = sent(b, 6);
    let mut got = Vec::new();
    sb.on_ack(SeqNum(b), &[seg(b, 2, 4)], |d| got.push(d.start));
    sb.on_ack(SeqNum(b), &[seg(b, 2, 5)], |d| got.push(d.start));
    sb.on_ack(seg(b, 6, 6).0, &[], |d| got.push(d.start));
    // The last ACK delivers originals 0, 1 and 5 (2 to 4 were SACKed): one run, reported by
    // its ends.
    let want: Vec<SeqNum> = [2, 3, 4, 0, 5].iter().map(|&i| seg(b, i, i).0).collect();
    assert_eq!(got, want);
    assert_eq!(sb.sacked_bytes(), 0);
}

#[test]
fn dsack_blocks_are_reported_not_counted() {
    let b = 0;
    let mut sb = sent(b, 6);
    ack(&mut sb, SeqNum(b), &[seg(b, 1, 4)]);
    sb.enter_recovery();
    sb.on_transmit(t(10), SeqNum(b), MSS);
    assert!(!sb.retransmissions_all_dsacked());
    // The original arrived after all: the cumulative ACK covers it, then the retransmission
    // comes in as a duplicate below SND.UNA.
    let out = ack(&mut sb, seg(b, 4, 4).0, &[]);
    assert_eq!(out.cumulatively_acked, 4 * MSS);
    let out = ack(&mut sb, seg(b, 4, 4).0, &[seg(b, 0, 1)]);
    assert_eq!(
        out.dsack,
        Some(Dsack {
            start: SeqNum(b),
            end: seg(b, 1, 1).0,
            in_recovery_range: true
        })
    );
    assert_eq!(out.newly_sacked, 0);
    assert!(sb.retransmissions_all_dsacked());

    // A first block inside the second reports a duplicate above SND.UNA.
    let mut sb = sent(b, 6);
    let out = ack(&mut sb, SeqNum(b), &[seg(b, 2, 3), seg(b, 1, 4)]);
    assert_eq!(
        out.dsack.map(|d| (d.start, d.in_recovery_range)),
        Some((seg(b, 2, 2).0, false))
    );
    assert_eq!(out.newly_sacked, 3 * MSS);
    // A "duplicate" of data never sent is no D-SACK (and, beyond SND.MAX, no SACK either).
    let mut sb = sent(b, 6);
    let out = ack(&mut sb, seg(b, 1, 1).0, &[(SeqNum(b), seg(b, 9, 9).0)]);
    assert_eq!((out.dsack, out.ignored_blocks), (None, 1));
    let out = ack(&mut sb, seg(b, 1, 1).0, &[seg(b, 7, 8), seg(b, 6, 9)]);
    assert_eq!((out.dsack, out.ignored_blocks), (None, 2));
    // Without a second block containing it, a first block above SND.UNA is a plain SACK.
    let mut sb = sent(b, 6);
    let out = ack(&mut sb, SeqNum(b), &[seg(b, 2, 3), seg(b, 4, 5)]);
    assert_eq!(out.dsack, None);
    assert_eq!(out.newly_sacked, 2 * MSS);
}

#[test]
fn hostile_blocks_are_ignored() {
    let b = 0;
    let mut sb = sent(b, 4);
    let before = sb.clone();
    let out = ack(
        &mut sb,
        SeqNum(b),
        &[
            (SeqNum(4000), SeqNum(9000)),             // beyond SND.MAX
            (SeqNum(2000), SeqNum(1000)),             // reversed
            (SeqNum(1000), SeqNum(1000)),             // empty
            (SeqNum(3000), SeqNum(3000) + (1 << 31)), // half the sequence space
            (SeqNum(1000), SeqNum(2000)),             // plausible, but a fifth block
        ],
    );
    assert_eq!(out.ignored_blocks, 5);
    assert_eq!(out.newly_sacked, 0);
    assert_eq!(
        sb.segments().copied().collect::<Vec<_>>(),
        before.segments().copied().collect::<Vec<_>>()
    );
    // A later block below SND.UNA is not a D-SACK (only the first can be) and is ignored.
    ack(&mut sb, seg(b, 1, 1).0, &[]);
    let out = ack(&mut sb, seg(b, 1, 1).0, &[seg(b, 2, 3), seg(b, 0, 1)]);
    assert_eq!(
        (out.ignored_blocks, out.newly_sacked, out.dsack),
        (1, MSS, None)
    );
    // An ACK number beyond SND.MAX or behind SND.UNA moves nothing.
    let out = ack(&mut sb, seg(b, 9, 9).0, &[]);
    assert_eq!(out.cumulatively_acked, 0);
    let out = ack(&mut sb, SeqNum(b), &[]);
    assert_eq!(out.cumulatively_acked, 0);
    assert_eq!(sb.high_ack(), seg(b, 1, 1).0);
    // Retransmitting outside what was sent is ignored too.
    sb.on_transmit(t(9), seg(b, 7, 7).0, MSS);
    sb.on_transmit(t(9), SeqNum(b), MSS);
    assert_eq!(sb.high_data(), seg(b, 4, 4).0);
}

#[test]
fn a_receiver_that_reneges_loses_its_sacks() {
    let b = 0;
    let mut sb = sent(b, 5);
    ack(&mut sb, SeqNum(b), &[seg(b, 1, 3)]);
    assert_eq!(sb.sacked_bytes(), 2 * MSS);
    // Segment 0 arrives, but the ACK stops at segment 1, which was SACKed.
    let out = ack(&mut sb, seg(b, 1, 1).0, &[]);
    assert!(out.reneged);
    assert_eq!(sb.sacked_bytes(), 0);
    assert!(sb.segments().all(|s| !s.sacked));
    // After the timeout everything outstanding goes again, the once-SACKed segments included.
    sb.on_rto();
    let rtx: Vec<SeqNum> = drain(&mut sb, t(500)).into_iter().map(|(s, _)| s).collect();
    let want: Vec<SeqNum> = (1..5).map(|i| seg(b, i, i).0).collect();
    assert_eq!(rtx, want);
    // An ACK that passes the SACKed data is no reneging.
    let mut sb = sent(b, 5);
    ack(&mut sb, SeqNum(b), &[seg(b, 1, 3)]);
    let out = ack(&mut sb, seg(b, 3, 3).0, &[]);
    assert!(!out.reneged);
}

#[test]
fn sequence_numbers_wrap() {
    let b = u32::MAX - 2500;
    let mut sb = sent(b, 6);
    ack(&mut sb, SeqNum(b), &[seg(b, 1, 6)]);
    assert!(sb.is_lost(SeqNum(b), MSS));
    sb.enter_recovery();
    assert_eq!(drain(&mut sb, t(10)), [(SeqNum(b), false)]);
    ack(&mut sb, seg(b, 6, 6).0, &[]);
    assert!(sb.recovery_complete());
    assert_eq!(sb.pipe(MSS), 0);
}

#[derive(Clone, Debug)]
enum Op {
    Send(u16),
    Ack {
        una: i32,
        blocks: Vec<(i32, u16)>,
    },
    Next(bool),
    Recovery,
    Rto,
    MarkLost(u8),
    /// SACK whole segments: `n` of them from the `from`-th, with the cumulative ACK unmoved.
    SackSegments {
        from: u8,
        n: u8,
    },
    /// RACK's scan marking every `k`-th unSACKed segment.
    MarkLostWhere(u8),
    ClearLost,
    Smss(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u16..3000).prop_map(Op::Send),
        (
            -3000i32..40_000,
            proptest::collection::vec((-5000i32..40_000, 0u16..8000), 0..7)
        )
            .prop_map(|(una, blocks)| Op::Ack { una, blocks }),
        any::<bool>().prop_map(Op::Next),
        Just(Op::Recovery),
        Just(Op::Rto),
        any::<u8>().prop_map(Op::MarkLost),
        (any::<u8>(), 1u8..6).prop_map(|(from, n)| Op::SackSegments { from, n }),
        (1u8..5).prop_map(Op::MarkLostWhere),
        Just(Op::ClearLost),
        prop_oneof![Just(MSS as u16), 1u16..3000].prop_map(Op::Smss),
    ]
}

/// Applies the ops that only shuffle the segments' bits, shared by the property tests.
fn apply_marking(sb: &mut Scoreboard, o: &Op) {
    match *o {
        Op::SackSegments { from, n } => {
            let segs: Vec<(SeqNum, SeqNum)> = sb.segments().map(|s| (s.start, s.end)).collect();
            let from = usize::from(from);
            if from < segs.len() {
                let to = (from + usize::from(n)).min(segs.len()) - 1;
                let una = sb.high_ack();
                sb.on_ack(una, &[(segs[from].0, segs[to].1)], |_| {});
            }
        }
        Op::MarkLostWhere(k) => {
            let mut i = 0u32;
            sb.mark_lost_where(|_| {
                i += 1;
                if i % u32::from(k) == 0 {
                    Verdict::Lost
                } else {
                    Verdict::NotYet
                }
            });
        }
        Op::ClearLost => sb.clear_lost(),
        Op::Smss(v) => sb.set_smss(u32::from(v)),
        _ => {}
    }
}

/// The test-only audit: the running pipe is SetPipe's walk for the SMSS it is kept for, and the
/// IsLost prefix is exactly the records IsLost-by-SACK holds for.
fn audit_pipe(sb: &Scoreboard) {
    assert_eq!(sb.pipe, sb.walked_pipe(sb.smss), "{sb:?}");
    let mut above = (sb.sacked_segments, sb.sacked_bytes);
    for (i, s) in sb.segments.iter().enumerate() {
        if s.sacked {
            above.0 -= 1;
            above.1 -= s.len();
        }
        let lost = sb.smss > 0 && Scoreboard::is_lost_by_sack(above, sb.smss);
        assert_eq!(i < sb.sack_lost_len, lost, "record {i} of {sb:?}");
    }
    let marked = sb.segments.iter().filter(|s| s.lost).count();
    assert_eq!(sb.lost_segments as usize, marked, "{sb:?}");
    // Nothing retransmitted lies above the mark RACK's scan stops at.
    let (from, una, max) = (sb.sent_once_from, sb.high_ack, sb.high_data);
    assert!(from.ge(una) && from.le(max), "{sb:?}");
    assert!(
        sb.segments
            .iter()
            .all(|s| !s.ever_retransmitted || s.end.le(from)),
        "{sb:?}"
    );
}

/// RACK's scan as the RFC words it, walking every record: the unSACKed segments not yet
/// marked that were sent before the reference (RFC 8985 §6.2 step 5, RACK_sent_after).
fn sent_before(sb: &Scoreboard, at: Instant, end: SeqNum) -> Vec<SeqNum> {
    sb.segments()
        .filter(|s| !s.sacked && !s.lost && (at > s.xmit_ts || (at == s.xmit_ts && end.gt(s.end))))
        .map(|s| s.start)
        .collect()
}

fn check_invariants(sb: &Scoreboard) {
    let mut at = sb.high_ack();
    let (mut bytes, mut flight) = (0u32, 0u32);
    for s in sb.segments() {
        assert_eq!(s.start, at, "segments contiguous from SND.UNA");
        assert!(s.end.gt(s.start));
        assert!(!(s.sacked && s.lost));
        if s.sacked {
            bytes += s.len();
        }
        flight += s.len();
        at = s.end;
    }
    assert_eq!(at, sb.high_data(), "segments end at SND.MAX");
    audit_pipe(sb);
    assert_eq!(bytes, sb.sacked_bytes());
    assert!(sb.pipe(MSS) <= 2 * (flight - bytes));
    assert!(sb.high_rxt().ge(sb.high_ack()) && sb.high_rxt().le(sb.high_data()));
}

proptest! {
    #[test]
    fn arbitrary_acks_and_blocks_never_panic_and_keep_the_books(
        base in any::<u32>(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut sb = Scoreboard::new(SeqNum(base));
        sb.set_smss(MSS);
        let mut now = 0u64;
        for o in ops {
            now += 1;
            match o {
                Op::Send(len) => sb.on_transmit(t(now), sb.high_data(), u32::from(len)),
                Op::Ack { una, blocks } => {
                    let at = |d: i32| SeqNum(base.wrapping_add(d as u32));
                    let blocks: Vec<(SeqNum, SeqNum)> =
                        blocks.iter().map(|&(s, l)| (at(s), at(s) + u32::from(l))).collect();
                    let sacked_before: Vec<SeqNum> =
                        sb.segments().filter(|s| s.sacked).map(|s| s.start).collect();
                    let out = sb.on_ack(at(una), &blocks, |_| {});
                    prop_assert!(out.ignored_blocks as usize <= blocks.len());
                    // Every segment wholly inside a plausible SACK block is now SACKed, unless
                    // the ACK showed the receiver reneging (then nothing is).
                    if out.reneged {
                        prop_assert!(sb.segments().all(|s| !s.sacked));
                    }
                    let skip = if out.reneged { blocks.len() } else { usize::from(out.dsack.is_some()) };
                    for &(s, e) in blocks.iter().take(MAX_SACK_BLOCKS).skip(skip) {
                        if !(e.gt(s) && s.ge(sb.high_ack()) && e.le(sb.high_data())) {
                            continue;
                        }
                        for x in sb.segments() {
                            if x.start.ge(s) && x.end.le(e) {
                                prop_assert!(x.sacked, "{:?} inside {:?}..{:?}", x, s, e);
                            }
                        }
                    }
                    // Above SND.UNA, SACK bits are only lost to reneging.
                    for s in sacked_before {
                        if s.ge(sb.high_ack()) && !out.reneged {
                            prop_assert!(sb.segments().any(|x| x.start == s && x.sacked)
                                || sb.segments().any(|x| x.sacked && s.in_range(x.start, x.end)));
                        }
                    }
                }
                Op::Next(new_data) => match sb.next_seg(MSS, new_data) {
                    Some(NextSeg::Retransmit { seq, len }) | Some(NextSeg::Rescue { seq, len }) => {
                        let s = sb.segments().find(|s| seq.in_range(s.start, s.end)).copied();
                        let s = s.expect("NextSeg points into the scoreboard");
                        prop_assert!(!s.sacked, "SACKed data is never resent");
                        prop_assert!(!s.retransmitted, "a hole goes out once per episode");
                        prop_assert!(len > 0 && len <= MSS);
                        sb.on_transmit(t(now), seq, len);
                    }
                    Some(NextSeg::NewData) => prop_assert!(new_data),
                    None => {}
                },
                Op::Recovery => sb.enter_recovery(),
                Op::Rto => sb.on_rto(),
                Op::MarkLost(i) => {
                    let start = sb.segments().nth(usize::from(i)).map(|s| s.start);
                    if let Some(start) = start {
                        sb.mark_lost(start);
                    }
                }
                ref other => apply_marking(&mut sb, other),
            }
            check_invariants(&sb);
        }
    }
}

#[derive(Clone, Debug)]
enum Flow {
    /// New segments of `n` MSS-sized pieces (a short last one when `short`).
    Send {
        n: u8,
        short: bool,
    },
    /// The cumulative ACK moves over the first `n` segments.
    Ack(u8),
    /// Resend what NextSeg names.
    Repair,
    /// RACK's scan with the `k`-th segment (by index, wrapping) taken as the one delivered.
    Rack(u8),
    Mark(Op),
}

fn flow() -> impl Strategy<Value = Flow> {
    prop_oneof![
        (1u8..8, any::<bool>()).prop_map(|(n, short)| Flow::Send { n, short }),
        (0u8..4).prop_map(Flow::Ack),
        Just(Flow::Repair),
        any::<u8>().prop_map(Flow::Rack),
        (any::<u8>(), 1u8..6).prop_map(|(from, n)| Flow::Mark(Op::SackSegments { from, n })),
        (1u8..5).prop_map(|k| Flow::Mark(Op::MarkLostWhere(k))),
        any::<u8>().prop_map(|i| Flow::Mark(Op::MarkLost(i))),
        Just(Flow::Mark(Op::Rto)),
        Just(Flow::Mark(Op::Recovery)),
        Just(Flow::Mark(Op::ClearLost)),
    ]
}

proptest! {
    #[test]
    fn the_running_pipe_is_setpipe_over_sends_sacks_losses_and_acks(
        base in any::<u32>(),
        steps in proptest::collection::vec(flow(), 1..120),
    ) {
        // Whole segments SACKed and acknowledged, as a real receiver does, so the IsLost
        // prefix grows, shrinks from the front and is recounted often.
        let mut sb = Scoreboard::new(SeqNum(base));
        sb.set_smss(MSS);
        for (i, step) in steps.iter().enumerate() {
            let now = t(i as u64);
            match step {
                Flow::Send { n, short } => {
                    for k in 0..*n {
                        let len = if *short && k + 1 == *n { MSS / 3 } else { MSS };
                        sb.on_transmit(now, sb.high_data(), len);
                    }
                }
                Flow::Ack(n) => {
                    let una = sb.segments().nth(usize::from(*n)).map_or(sb.high_data(), |s| s.start);
                    sb.on_ack(una, &[], |_| {});
                }
                Flow::Repair => {
                    if let Some(NextSeg::Retransmit { seq, len } | NextSeg::Rescue { seq, len }) =
                        sb.next_seg(MSS, false)
                    {
                        sb.on_transmit(now, seq, len);
                    }
                }
                Flow::Mark(Op::MarkLost(i)) => {
                    let start = sb.segments().nth(usize::from(*i) % 8).map(|s| s.start);
                    if let Some(start) = start {
                        sb.mark_lost(start);
                    }
                }
                Flow::Rack(k) => {
                    let n = sb.segments().count();
                    if n > 0 {
                        let r = *sb.segments().nth(usize::from(*k) % n).unwrap();
                        let want = sent_before(&sb, r.xmit_ts, r.end);
                        let mut got = Vec::new();
                        let marked = sb.mark_lost_where(|s| {
                            if r.xmit_ts > s.xmit_ts || (r.xmit_ts == s.xmit_ts && r.end.gt(s.end)) {
                                got.push(s.start);
                                Verdict::Lost
                            } else {
                                Verdict::SentLater
                            }
                        });
                        // Stopping early finds every segment the full walk does.
                        prop_assert_eq!(&got, &want);
                        prop_assert_eq!(marked as usize, want.len());
                    }
                }
                Flow::Mark(Op::Rto) => sb.on_rto(),
                Flow::Mark(Op::Recovery) => sb.enter_recovery(),
                Flow::Mark(other) => apply_marking(&mut sb, other),
            }
            audit_pipe(&sb);
            prop_assert_eq!(sb.pipe(MSS), sb.walked_pipe(MSS));
        }
    }
}

#[test]
fn a_retransmission_shorter_than_its_segment_leaves_the_rest_to_send() {
    // After a timeout every segment is lost; a SACK option now takes 12 bytes of each
    // segment's room, so the resends carry MSS − 12 bytes and the last 12 bytes of every
    // segment must still go out in the same episode, not wait for the next timeout.
    let b = 0;
    let mut sb = sent(b, 3);
    sb.on_rto();
    let short = MSS - 12;
    let mut resent = Vec::new();
    while let Some(NextSeg::Retransmit { seq, len }) = sb.next_seg(short, false) {
        sb.on_transmit(t(1000), seq, len);
        resent.push((seq.0 - b, len));
        assert!(resent.len() < 20, "NextSeg loops");
    }
    let want: Vec<(u32, u32)> = (0..3)
        .flat_map(|i| [(i * MSS, short), (i * MSS + short, 12)])
        .collect();
    assert_eq!(resent, want);
    // Acknowledging a resent piece covers exactly its bytes.
    ack(&mut sb, SeqNum(b + short), &[]);
    assert_eq!(
        sb.segments().next().map(|s| s.start),
        Some(SeqNum(b + short))
    );
}

#[test]
fn rack_looks_at_one_segment_of_a_large_flight_without_losses() {
    // 10,000 segments out, one per millisecond, the first ten acknowledged in order: all the
    // rest went out after the last one delivered, and the scan learns it from the first.
    let mut sb = sent(0, 10_000);
    sb.set_smss(MSS);
    ack(&mut sb, SeqNum(10 * MSS), &[]);
    let (at, end) = (t(9), SeqNum(10 * MSS));
    let sent_after = |s: &Segment| at > s.xmit_ts || (at == s.xmit_ts && end.gt(s.end));
    let mut looked = 0;
    let marked = sb.mark_lost_where(|s| {
        looked += 1;
        if sent_after(s) {
            Verdict::Lost
        } else {
            Verdict::SentLater
        }
    });
    assert_eq!((marked, looked), (0, 1));
    assert!(!sb.has_lost());
}

#[test]
fn rack_looks_past_segments_sent_later_up_to_the_last_retransmission() {
    // Segment 20 was resent late; segment 15 is SACKed and is RACK's reference. Segments
    // 16 to 20 went out after it, but the scan cannot stop before the retransmission: a
    // segment above it sent once, 21, is where it ends.
    let mut sb = sent(0, 100);
    sb.set_smss(MSS);
    ack(&mut sb, SeqNum(10 * MSS), &[]);
    sb.mark_lost(SeqNum(20 * MSS));
    assert!(sb.has_lost());
    sb.on_transmit(t(500), SeqNum(20 * MSS), MSS);
    assert!(!sb.has_lost());
    ack(&mut sb, SeqNum(10 * MSS), &[seg(0, 15, 16)]);
    let (at, end) = (t(15), SeqNum(16 * MSS));
    let mut looked = Vec::new();
    let marked = sb.mark_lost_where(|s| {
        looked.push(s.start.0 / MSS);
        if at > s.xmit_ts || (at == s.xmit_ts && end.gt(s.end)) {
            Verdict::Lost
        } else {
            Verdict::SentLater
        }
    });
    assert_eq!(marked, 5);
    assert_eq!(looked, [10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21]);
    assert!(sb.has_lost());
}
