//! Tests of RACK-TLP (RFC 8985) over the scoreboard: time-based marking against the
//! reordering window, its D-SACK adaptation, and tail loss probes.

use super::*;
use std::format;
use std::vec::Vec;

const MSS: u32 = 1000;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn at(i: u32) -> SeqNum {
    SeqNum(i * MSS)
}

/// Segments 0..n of one MSS, segment i sent at i ms.
fn sent(n: u32) -> Scoreboard {
    let mut sb = Scoreboard::new(SeqNum(0));
    for i in 0..n {
        sb.on_transmit(ms(u64::from(i)), at(i), MSS);
    }
    sb
}

/// An ACK at `now`: the scoreboard's Update() feeding RACK steps 2 and 3.
fn ack(
    rack: &mut Rack,
    sb: &mut Scoreboard,
    now: Instant,
    una: SeqNum,
    blocks: &[(SeqNum, SeqNum)],
) {
    let mut delivered = Vec::new();
    sb.on_ack(una, blocks, |d| delivered.push(*d));
    for d in &delivered {
        rack.on_delivered(now, d, None);
    }
}

fn lost(sb: &Scoreboard) -> Vec<u32> {
    sb.segments()
        .filter(|s| s.lost)
        .map(|s| s.start.0 / MSS)
        .collect()
}

const SRTT: Duration = Duration::from_millis(100);

#[test]
fn reordering_within_the_window_is_not_loss_and_beyond_it_is() {
    let mut sb = sent(10);
    let mut rack = Rack::new();
    rack.on_rtt_sample(Duration::from_millis(100));
    // Segment 5 (sent at 5 ms) is SACKed at 105 ms: RACK.rtt = 100 ms.
    ack(&mut rack, &mut sb, ms(105), at(0), &[(at(5), at(6))]);
    assert_eq!(rack.rtt(), Duration::from_millis(100));
    // One segment SACKed, no recovery: reo_wnd = min_RTT/4 = 25 ms.
    let reo = rack.reo_wnd(false, sb.sacked_segments(), SRTT);
    assert_eq!(reo, Duration::from_millis(25));
    // Segments 0..4 may still be reordered: due at i + 125 ms. The timer covers the latest.
    let (n, timeout) = rack.detect_loss(ms(105), reo, &mut sb);
    assert_eq!((n, timeout), (0, Some(Duration::from_millis(24))));
    // At 127 ms, 0, 1 and 2 are overdue; 3 and 4 have 1 and 2 ms left.
    let (n, timeout) = rack.detect_loss(ms(127), reo, &mut sb);
    assert_eq!((n, timeout), (3, Some(Duration::from_millis(2))));
    assert_eq!(lost(&sb), [0, 1, 2]);
    // Segments sent after segment 5 are never judged by it.
    let (n, _) = rack.detect_loss(ms(10_000), reo, &mut sb);
    assert_eq!(n, 2);
    assert_eq!(lost(&sb), [0, 1, 2, 3, 4]);
    // A late-arriving segment 3 (reordered after all) is SACKed and unmarked.
    ack(
        &mut rack,
        &mut sb,
        ms(10_001),
        at(0),
        &[(at(3), at(4)), (at(5), at(6))],
    );
    assert_eq!(lost(&sb), [0, 1, 2, 4]);
    assert!(rack.reordering_seen());
}

#[test]
fn without_reordering_three_sacks_or_recovery_mean_no_window() {
    let mut sb = sent(10);
    let mut rack = Rack::new();
    rack.on_rtt_sample(Duration::from_millis(100));
    ack(&mut rack, &mut sb, ms(107), at(0), &[(at(5), at(8))]);
    assert_eq!(sb.sacked_segments(), 3);
    assert_eq!(rack.reo_wnd(false, 3, SRTT), Duration::ZERO);
    assert_eq!(rack.reo_wnd(true, 0, SRTT), Duration::ZERO);
    // RACK.xmit_ts = 7 ms, RACK.rtt = 100 ms: everything sent before 7 ms is due by 107 ms.
    let (n, timeout) = rack.detect_loss(ms(107), Duration::ZERO, &mut sb);
    assert_eq!((n, timeout), (5, None));
    assert_eq!(lost(&sb), [0, 1, 2, 3, 4]);
}

#[test]
fn reordering_is_seen_only_from_original_transmissions() {
    let mut sb = sent(10);
    let mut rack = Rack::new();
    rack.on_rtt_sample(Duration::from_millis(80));
    ack(&mut rack, &mut sb, ms(90), at(0), &[(at(5), at(6))]);
    // A retransmission filling a hole below RACK.fack is not reordering.
    sb.enter_recovery();
    sb.on_transmit(ms(95), at(2), MSS);
    ack(
        &mut rack,
        &mut sb,
        ms(180),
        at(0),
        &[(at(2), at(3)), (at(5), at(6))],
    );
    assert!(!rack.reordering_seen());
    // An original delivered below RACK.fack is.
    ack(
        &mut rack,
        &mut sb,
        ms(181),
        at(0),
        &[(at(1), at(3)), (at(5), at(6))],
    );
    assert!(rack.reordering_seen());
    // Then the window applies even in recovery: min(min_RTT/4, SRTT).
    assert_eq!(rack.reo_wnd(true, 3, SRTT), Duration::from_millis(20));
    assert_eq!(
        rack.reo_wnd(true, 3, Duration::from_millis(10)),
        Duration::from_millis(10)
    );
}

#[test]
fn dsack_widens_the_window_once_per_round_and_it_decays_after_16_recoveries() {
    let mut rack = Rack::new();
    rack.on_rtt_sample(Duration::from_millis(40));
    rack.on_rtt_sample(Duration::from_millis(60));
    assert_eq!(rack.min_rtt(), Some(Duration::from_millis(40)));
    let srtt = Duration::from_secs(1);
    assert_eq!(rack.reo_wnd(false, 0, srtt), Duration::from_millis(10));
    rack.on_ack_dsack(SeqNum(0), SeqNum(10_000), true, false);
    assert_eq!(rack.reo_wnd_mult(), 2);
    // Same round: a second D-SACK does not widen again.
    rack.on_ack_dsack(SeqNum(5_000), SeqNum(12_000), true, false);
    assert_eq!(rack.reo_wnd_mult(), 2);
    // Once SND.UNA passes the round's end it may.
    rack.on_ack_dsack(SeqNum(10_000), SeqNum(20_000), true, false);
    assert_eq!(rack.reo_wnd_mult(), 3);
    assert_eq!(rack.reo_wnd(false, 0, srtt), Duration::from_millis(30));
    // Capped by SRTT.
    assert_eq!(
        rack.reo_wnd(false, 0, Duration::from_millis(25)),
        Duration::from_millis(25)
    );
    // Fifteen D-SACK-free recoveries keep it; the sixteenth resets it.
    for i in 0..15 {
        rack.on_ack_dsack(SeqNum(30_000 + i), SeqNum(40_000), false, true);
        assert_eq!(rack.reo_wnd_mult(), 3);
    }
    rack.on_ack_dsack(SeqNum(30_100), SeqNum(40_000), false, true);
    assert_eq!(rack.reo_wnd_mult(), 1);
}

#[test]
fn ambiguous_acks_of_retransmissions_do_not_move_rack() {
    let mut rack = Rack::new();
    rack.on_rtt_sample(Duration::from_millis(50));
    let seg = |xmit: u64, end: u32, retx: bool| Delivered {
        start: at(end - 1),
        end: at(end),
        xmit_ts: ms(xmit),
        ever_retransmitted: retx,
    };
    rack.on_delivered(ms(100), &seg(40, 1, false), None);
    assert_eq!(rack.rtt(), Duration::from_millis(60));
    // Retransmitted at 90, ACKed at 100: 10 ms is below min_RTT, so the ACK was for the
    // original.
    rack.on_delivered(ms(100), &seg(90, 2, true), None);
    assert_eq!(rack.rtt(), Duration::from_millis(60));
    // The echoed timestamp predates the retransmission: also the original's ACK.
    rack.on_delivered(ms(200), &seg(120, 3, true), Some(ms(30)));
    assert_eq!(rack.rtt(), Duration::from_millis(60));
    // Otherwise a retransmission's delivery counts.
    rack.on_delivered(ms(200), &seg(130, 4, true), Some(ms(130)));
    assert_eq!(rack.rtt(), Duration::from_millis(70));
    // An older segment delivered later does not move RACK.xmit_ts back.
    rack.on_delivered(ms(300), &seg(20, 5, false), None);
    assert_eq!(rack.rtt(), Duration::from_millis(70));
    // Same send time: the higher sequence is the later one.
    rack.on_delivered(ms(301), &seg(130, 6, false), None);
    assert_eq!(rack.rtt(), Duration::from_millis(171));
}

#[test]
fn a_lost_retransmission_is_detected_by_time() {
    let mut sb = sent(4);
    let mut rack = Rack::new();
    rack.on_rtt_sample(Duration::from_millis(100));
    ack(&mut rack, &mut sb, ms(103), at(0), &[(at(1), at(4))]);
    rack.detect_loss(ms(103), Duration::ZERO, &mut sb);
    assert_eq!(lost(&sb), [0]);
    sb.enter_recovery();
    sb.on_transmit(ms(110), at(0), MSS);
    assert_eq!(lost(&sb), Vec::<u32>::new());
    // New data sent after the retransmission is SACKed: the retransmission is overdue too.
    sb.on_transmit(ms(120), at(4), MSS);
    ack(&mut rack, &mut sb, ms(220), at(0), &[(at(1), at(5))]);
    let (n, _) = rack.detect_loss(ms(220), Duration::ZERO, &mut sb);
    assert_eq!(n, 1);
    assert_eq!(lost(&sb), [0]);
    assert_eq!(
        sb.next_seg(MSS, false),
        Some(crate::congestion::scoreboard::NextSeg::Retransmit {
            seq: at(0),
            len: MSS
        })
    );
}

#[test]
fn pto_is_two_srtt_plus_delayed_ack_for_a_single_segment() {
    let rto = Duration::from_secs(1);
    let srtt = Some(Duration::from_millis(50));
    assert_eq!(
        pto(srtt, false, WORST_CASE_DELAYED_ACK, rto),
        Duration::from_millis(100)
    );
    assert_eq!(
        pto(srtt, true, WORST_CASE_DELAYED_ACK, rto),
        Duration::from_millis(300)
    );
    assert_eq!(
        pto(srtt, true, Duration::from_millis(25), rto),
        Duration::from_millis(125)
    );
    // Floor and ceiling.
    assert_eq!(
        pto(
            Some(Duration::from_millis(2)),
            false,
            WORST_CASE_DELAYED_ACK,
            rto
        ),
        MIN_PTO
    );
    assert_eq!(
        pto(
            Some(Duration::from_millis(800)),
            false,
            WORST_CASE_DELAYED_ACK,
            rto
        ),
        rto
    );
    assert_eq!(
        pto(None, false, WORST_CASE_DELAYED_ACK, Duration::from_secs(3)),
        PTO_WITHOUT_SRTT
    );
}

#[test]
fn one_probe_at_a_time_new_data_first_else_the_last_segment() {
    let mut sb = sent(3);
    let mut tlp = Tlp::new();
    assert_eq!(tlp.probe(true, &sb, MSS), Some(Probe::NewData));
    assert_eq!(
        tlp.probe(false, &sb, MSS),
        Some(Probe::Retransmit {
            seq: at(2),
            len: MSS
        })
    );
    tlp.on_probe_sent(at(3), true);
    assert!(tlp.outstanding());
    assert_eq!(tlp.probe(true, &sb, MSS), None);
    // A larger last segment is probed by its final MSS.
    sb.on_transmit(ms(5), at(3), 3 * MSS);
    let fresh = Tlp::new();
    assert_eq!(
        fresh.probe(false, &sb, MSS),
        Some(Probe::Retransmit {
            seq: at(5),
            len: MSS
        })
    );
    // Nothing in flight: nothing to probe.
    assert_eq!(fresh.probe(false, &Scoreboard::new(SeqNum(0)), MSS), None);
}

#[test]
fn the_ack_of_a_probe_tells_repair_from_duplicate() {
    let end = at(10);
    // New-data probe delivered.
    let mut tlp = Tlp::new();
    tlp.on_probe_sent(end, false);
    assert_eq!(tlp.on_ack(at(9), false, false), ProbeOutcome::Pending);
    assert_eq!(tlp.on_ack(end, false, false), ProbeOutcome::Delivered);
    assert!(!tlp.outstanding());
    // Retransmitted probe, D-SACKed: both copies arrived, no loss.
    let mut tlp = Tlp::new();
    tlp.on_probe_sent(end, true);
    assert_eq!(tlp.on_ack(end, false, false), ProbeOutcome::Pending);
    assert!(tlp.outstanding());
    assert_eq!(tlp.on_ack(end, true, false), ProbeOutcome::NoLoss);
    // A plain duplicate ACK from a peer without D-SACK: assume no loss.
    let mut tlp = Tlp::new();
    tlp.on_probe_sent(end, true);
    assert_eq!(tlp.on_ack(end, false, true), ProbeOutcome::NoLoss);
    // Data after the probe is acknowledged with no D-SACK: the probe repaired a loss, once.
    let mut tlp = Tlp::new();
    tlp.on_probe_sent(end, true);
    assert_eq!(tlp.on_ack(at(12), false, false), ProbeOutcome::RepairedLoss);
    assert_eq!(tlp.on_ack(at(13), false, false), ProbeOutcome::Pending);
    // A timeout ends the episode.
    tlp.on_probe_sent(at(20), true);
    tlp.reset();
    assert!(!tlp.outstanding());
}

/// What a cumulative ACK to `una` reports, by segment number.
fn reported(sb: &mut Scoreboard, una: SeqNum) -> Vec<u32> {
    let mut got = Vec::new();
    sb.on_ack(una, &[], |d| got.push(d.start.0 / MSS));
    got
}

#[test]
fn a_run_of_originals_acked_together_is_reported_by_its_ends() {
    let mut sb = sent(10);
    assert_eq!(reported(&mut sb, at(10)), [0, 9]);
    // A retransmission splits the run: it is reported alone, in its place.
    let mut sb = sent(10);
    sb.enter_recovery();
    sb.mark_lost(at(4));
    sb.on_transmit(ms(20), at(4), MSS);
    assert_eq!(reported(&mut sb, at(10)), [0, 3, 4, 5, 9]);
    // A send time that runs backwards (a caller's clock) starts a new run.
    let mut sb = Scoreboard::new(SeqNum(0));
    for (i, t) in [5, 6, 2, 3, 4].into_iter().enumerate() {
        sb.on_transmit(ms(t), at(i as u32), MSS);
    }
    assert_eq!(reported(&mut sb, at(5)), [0, 1, 2, 4]);
    // A single segment is reported once.
    let mut sb = sent(3);
    assert_eq!(reported(&mut sb, at(1)), [0]);
}

#[test]
fn reporting_a_run_by_its_ends_leaves_rack_where_every_segment_would() {
    // (segment SACKed first, segment retransmitted): none, reordering below a SACK, and a
    // retransmission in the middle of the run.
    for (sacked, resent) in [(None, None), (Some(6), None), (Some(8), Some(3))] {
        let mut sb = sent(10);
        let mut rack = Rack::new();
        rack.on_rtt_sample(Duration::from_millis(50));
        if let Some(i) = sacked {
            ack(&mut rack, &mut sb, ms(60), at(0), &[(at(i), at(i + 1))]);
        }
        if let Some(i) = resent {
            sb.enter_recovery();
            sb.mark_lost(at(i));
            sb.on_transmit(ms(70), at(i), MSS);
        }
        // Every segment the ACK delivers, one by one, into a copy of RACK's state.
        let mut each = rack.clone();
        for s in sb.segments().filter(|s| !s.sacked) {
            let d = Delivered {
                start: s.start,
                end: s.end,
                xmit_ts: s.xmit_ts,
                ever_retransmitted: s.ever_retransmitted,
            };
            each.on_delivered(ms(90), &d, None);
        }
        ack(&mut rack, &mut sb, ms(90), at(10), &[]);
        assert_eq!(
            format!("{rack:?}"),
            format!("{each:?}"),
            "{sacked:?} {resent:?}"
        );
    }
}
