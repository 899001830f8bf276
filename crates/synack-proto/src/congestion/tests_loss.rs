//! RACK-TLP and F-RTO as the owner drives them: the reordering timer, the tail loss probe and
//! its deadline, the knobs that turn them off, and a spurious timeout undone.

use core::time::Duration;

use synack_wire::{SackBlock, SackList};

use super::*;

pub(super) const MSS: u32 = 1000;
pub(super) const SRTT: Duration = Duration::from_millis(100);

pub(super) fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub(super) fn flight(una: u32, max: u32) -> Flight {
    Flight {
        una: SeqNum(una),
        max: SeqNum(max),
        in_flight: max - una,
        mss: MSS,
    }
}

/// An ACK at `now` ms for SND.UNA `una` of `max` sent; `acked` bytes newly acknowledged.
pub(super) fn ack(now: u64, acked: u32, una: u32, max: u32, blocks: &[(u32, u32)]) -> AckSummary {
    let mut sack = SackList::new();
    for &(left, right) in blocks {
        sack.push(SackBlock { left, right });
    }
    AckSummary {
        now: ms(now),
        acked,
        flight: flight(una, max),
        rtt: (acked > 0).then_some(SRTT),
        srtt: Some(SRTT),
        advanced: acked > 0,
        duplicate: acked == 0 && blocks.is_empty(),
        sack,
        echo_sent_by: None,
    }
}

/// A SACK sender that sent `n` segments at `at` ms.
fn sending(config: &CongestionSettings, n: u32, at: u64) -> Congestion {
    let mut c = Congestion::new(config, MSS);
    c.on_handshake(10, MSS, true, SeqNum(0), CongestionParts::default());
    for i in 0..n {
        let t = c.next_transmit(SeqNum(0), SeqNum(i * MSS), SeqNum(i * MSS), true);
        assert_eq!(t, Transmit::New(SeqNum(i * MSS)));
        c.on_transmitted(ms(at), t, MSS, SeqNum(i * MSS));
    }
    c
}

#[test]
fn one_sack_arms_the_reordering_timer_and_its_expiry_starts_recovery() {
    let mut c = sending(&CongestionSettings::default(), 4, 0);
    // Segment 0 acknowledged and segment 2 SACKed at 100 ms: segment 1 may still be reordered
    // until 100 + 25 ms (RACK.rtt + min_RTT/4); one SACK is no loss by RFC 6675.
    c.on_ack(&ack(100, MSS, 1000, 4000, &[(2000, 3000)]));
    assert_eq!(c.phase(), CongestionPhase::SlowStart);
    assert_eq!(c.reorder_deadline(), Some(ms(125)));
    // With SACKed data the tail is RACK's: no probe is armed.
    assert_eq!(c.probe_deadline(|| Some(SRTT)), None);
    c.on_reorder_timeout(ms(125), &flight(1000, 4000), Some(SRTT));
    assert_eq!(c.phase(), CongestionPhase::Recovery);
    assert_eq!(c.reorder_deadline(), None);
    assert_eq!(c.info().rack_losses, 1);
    let t = c.next_transmit(SeqNum(1000), SeqNum(4000), SeqNum(4000), false);
    assert_eq!(
        t,
        Transmit::Hole {
            seq: SeqNum(1000),
            len: MSS,
            rescue: false
        }
    );
    assert!(c.allowance(t, SeqNum(1000), 3000) >= MSS);
}

#[test]
fn the_probe_fires_two_srtt_after_new_data_and_resends_the_last_segment() {
    let mut c = sending(&CongestionSettings::default(), 4, 0);
    assert_eq!(c.probe_deadline(|| Some(SRTT)), Some(ms(200)));
    // One segment in flight: the peer may hold its ACK, so its delayed-ACK time is added.
    c.on_ack(&ack(100, 3000, 3000, 4000, &[]));
    assert_eq!(c.probe_deadline(|| Some(SRTT)), Some(ms(100 + 200 + 200)));
    c.on_probe_timeout();
    assert_eq!(c.probe_deadline(|| Some(SRTT)), None);
    // No new data: the last segment goes again, whatever cwnd says.
    let t = c.next_transmit(SeqNum(3000), SeqNum(4000), SeqNum(4000), false);
    assert_eq!(
        t,
        Transmit::Retransmit {
            seq: SeqNum(3000),
            len: MSS
        }
    );
    assert_eq!(c.allowance(t, SeqNum(3000), 1000), MSS);
    c.on_transmitted(ms(500), t, MSS, SeqNum(4000));
    assert_eq!(c.info().tail_loss_probes, 1);
    // One probe at a time: it is not re-armed while the first is outstanding.
    c.on_probe_timeout();
    assert_eq!(
        c.next_transmit(SeqNum(3000), SeqNum(4000), SeqNum(4000), false),
        Transmit::New(SeqNum(4000))
    );
    // Its ACK covers all: the episode ends with no loss to react to.
    let before = c.window();
    c.on_ack(&ack(600, MSS, 4000, 4000, &[]));
    assert!(c.window() >= before);
}

#[test]
fn a_probe_takes_new_data_when_there_is_some_even_beyond_cwnd() {
    let mut c = sending(&CongestionSettings::default(), 10, 0);
    c.on_probe_timeout();
    let t = c.next_transmit(SeqNum(0), SeqNum(10_000), SeqNum(10_000), true);
    assert_eq!(t, Transmit::New(SeqNum(10_000)));
    // cwnd (ten segments) is full, yet one probe segment may go.
    assert_eq!(c.allowance(t, SeqNum(0), 10_000), MSS);
    c.on_transmitted(ms(200), t, MSS, SeqNum(10_000));
    assert_eq!(c.allowance(t, SeqNum(0), 11_000), 0);
    assert_eq!(c.info().tail_loss_probes, 1);
}

#[test]
fn early_retransmission_off_leaves_loss_to_dupthresh_and_the_timer() {
    let config = CongestionSettings {
        rack_tlp: false,
        ..CongestionSettings::default()
    };
    let mut c = sending(&config, 4, 0);
    assert_eq!(c.probe_deadline(|| Some(SRTT)), None);
    c.on_ack(&ack(100, MSS, 1000, 4000, &[(2000, 3000)]));
    assert_eq!(c.reorder_deadline(), None);
    c.on_reorder_timeout(ms(10_000), &flight(1000, 4000), Some(SRTT));
    assert_eq!(c.phase(), CongestionPhase::SlowStart);
    assert_eq!(c.info().rack_losses, 0);
}

#[test]
fn newreno_head_retransmission_never_runs_past_snd_max() {
    let config = CongestionSettings {
        controller: CongestionControl::NewReno,
        ..CongestionSettings::default()
    };
    let mut c = Congestion::new(&config, MSS);
    c.on_handshake(10, MSS, false, SeqNum(0), CongestionParts::default());
    // 2500 bytes sent; three duplicates for SND.UNA = 2000.
    for _ in 0..3 {
        c.on_ack(&AckSummary {
            duplicate: true,
            rtt: None,
            ..ack(100, 0, 2000, 2500, &[])
        });
    }
    assert_eq!(c.phase(), CongestionPhase::Recovery);
    let t = c.next_transmit(SeqNum(2000), SeqNum(2500), SeqNum(2500), true);
    assert_eq!(
        t,
        Transmit::Retransmit {
            seq: SeqNum(2000),
            len: 500
        }
    );
    assert_eq!(c.allowance(t, SeqNum(2000), 500), 500);
}

/// Four segments out, the timer fires: F-RTO's first two steps (RFC 5682 §3.1).
fn after_timeout_and_first_ack(config: &CongestionSettings) -> Congestion {
    let mut c = sending(config, 4, 0);
    assert!(!c.on_retransmit_timeout(&flight(0, 4000), true));
    let t = c.next_transmit(SeqNum(0), SeqNum(4000), SeqNum(4000), true);
    assert_eq!(
        t,
        Transmit::Hole {
            seq: SeqNum(0),
            len: MSS,
            rescue: false
        }
    );
    c.on_transmitted(ms(300), t, MSS, SeqNum(4000));
    c.on_ack(&AckSummary {
        rtt: None,
        ..ack(350, MSS, 1000, 4000, &[])
    });
    c
}

#[test]
fn frto_sends_new_data_after_the_first_ack_and_undoes_a_spurious_timeout() {
    let mut c = after_timeout_and_first_ack(&CongestionSettings::default());
    // Step 2.b: new data rather than the segments the timeout marked lost.
    let t = c.next_transmit(SeqNum(1000), SeqNum(4000), SeqNum(4000), true);
    assert_eq!(t, Transmit::New(SeqNum(4000)));
    c.on_transmitted(ms(350), t, MSS, SeqNum(4000));
    // Step 3.b: segment 1, never resent, is acknowledged: its original arrived.
    c.on_ack(&ack(360, MSS, 2000, 5000, &[]));
    assert_eq!(c.info().spurious_timeouts, 1);
    assert_eq!(c.phase(), CongestionPhase::SlowStart);
    assert_eq!((c.window(), c.ssthresh()), (10 * MSS, u32::MAX));
    // What the timeout marked lost is in flight again, not resent.
    assert_eq!(
        c.next_transmit(SeqNum(2000), SeqNum(5000), SeqNum(5000), false),
        Transmit::New(SeqNum(5000))
    );
}

#[test]
fn frto_keeps_the_timeout_when_only_new_data_is_sacked() {
    let mut c = after_timeout_and_first_ack(&CongestionSettings::default());
    let t = c.next_transmit(SeqNum(1000), SeqNum(4000), SeqNum(4000), true);
    c.on_transmitted(ms(350), t, MSS, SeqNum(4000));
    // Step 3.a: the new segment is SACKed, the old ones are not: they were lost.
    c.on_ack(&ack(360, 0, 1000, 5000, &[(4000, 5000)]));
    assert_eq!(c.info().spurious_timeouts, 0);
    assert_eq!(c.phase(), CongestionPhase::Loss);
    assert!(matches!(
        c.next_transmit(SeqNum(1000), SeqNum(5000), SeqNum(5000), true),
        Transmit::Hole {
            seq: SeqNum(1000),
            ..
        }
    ));
}

#[test]
fn frto_off_repairs_at_once_after_the_first_ack() {
    let config = CongestionSettings {
        frto: false,
        ..CongestionSettings::default()
    };
    let c = after_timeout_and_first_ack(&config);
    assert!(matches!(
        c.next_transmit(SeqNum(1000), SeqNum(4000), SeqNum(4000), true),
        Transmit::Hole {
            seq: SeqNum(1000),
            ..
        }
    ));
}

/// A sender without SACK that sent `n` segments, and a timeout: F-RTO's step 1 (RFC 5682
/// §2.1) keeps SND.NXT and resends the first segment only, whatever the window.
fn without_sack_after_timeout(config: &CongestionSettings, n: u32) -> Congestion {
    let mut c = Congestion::new(config, MSS);
    c.on_handshake(10, MSS, false, SeqNum(0), CongestionParts::default());
    for i in 0..n {
        let t = c.next_transmit(SeqNum(0), SeqNum(i * MSS), SeqNum(i * MSS), true);
        c.on_transmitted(ms(0), t, MSS, SeqNum(i * MSS));
    }
    let max = n * MSS;
    assert!(
        !c.on_retransmit_timeout(&flight(0, max), true),
        "F-RTO keeps SND.NXT"
    );
    let t = c.next_transmit(SeqNum(0), SeqNum(max), SeqNum(max), true);
    assert_eq!(
        t,
        Transmit::Retransmit {
            seq: SeqNum(0),
            len: MSS
        }
    );
    assert_eq!(c.allowance(t, SeqNum(0), max), MSS);
    c.on_transmitted(ms(300), t, MSS, SeqNum(max));
    assert_eq!(c.window(), MSS);
    // Nothing more until an ACK: the window is one segment.
    let t = c.next_transmit(SeqNum(0), SeqNum(max), SeqNum(max), true);
    assert_eq!(c.allowance(t, SeqNum(0), max), 0);
    c
}

/// Step 2.b: after the first ACK, up to two new segments and no more.
fn send_two_new_segments(c: &mut Congestion, una: u32, max: u32) {
    for i in 0..2 {
        let seq = max + i * MSS;
        assert!(!c.frto_goes_back(true));
        let t = c.next_transmit(SeqNum(una), SeqNum(seq), SeqNum(seq), true);
        assert_eq!(t, Transmit::New(SeqNum(seq)));
        assert_eq!(c.allowance(t, SeqNum(una), seq - una), MSS);
        c.on_transmitted(ms(350), t, MSS, SeqNum(seq));
    }
    let end = max + 2 * MSS;
    let t = c.next_transmit(SeqNum(una), SeqNum(end), SeqNum(end), true);
    assert_eq!(c.allowance(t, SeqNum(una), end - una), 0);
}

#[test]
fn frto_without_sack_finds_a_spurious_timeout_and_undoes_it() {
    let mut c = without_sack_after_timeout(&CongestionSettings::default(), 4);
    c.on_ack(&ack(350, MSS, 1000, 4000, &[]));
    assert!(!c.frto_goes_back(true), "step 2.b sends new data");
    send_two_new_segments(&mut c, 1000, 4000);
    // Step 3.b: segment 1, never resent, is acknowledged.
    c.on_ack(&ack(360, MSS, 2000, 6000, &[]));
    assert_eq!(c.info().spurious_timeouts, 1);
    assert_eq!(c.phase(), CongestionPhase::SlowStart);
    assert_eq!((c.window(), c.ssthresh()), (10 * MSS, u32::MAX));
    // Segments 2 and 3 are in flight, not resent: sending carries on at SND.NXT.
    assert!(!c.frto_goes_back(true));
    assert_eq!(
        c.next_transmit(SeqNum(2000), SeqNum(6000), SeqNum(6000), true),
        Transmit::New(SeqNum(6000))
    );
}

#[test]
fn frto_without_sack_goes_back_when_the_new_segments_draw_duplicates() {
    let mut c = without_sack_after_timeout(&CongestionSettings::default(), 4);
    c.on_ack(&ack(350, MSS, 1000, 4000, &[]));
    send_two_new_segments(&mut c, 1000, 4000);
    // Step 3.a: the new segments arrived above a hole: the loss is real.
    c.on_ack(&ack(360, 0, 1000, 6000, &[]));
    assert_eq!(c.info().spurious_timeouts, 0);
    assert_eq!(c.phase(), CongestionPhase::Loss);
    assert!(c.window() <= 3 * MSS);
    assert!(c.frto_goes_back(true), "conventional recovery from SND.UNA");
    assert!(!c.frto_goes_back(true), "once");
    assert_eq!(
        c.next_transmit(SeqNum(1000), SeqNum(1000), SeqNum(6000), true),
        Transmit::Resend(SeqNum(1000))
    );
}

#[test]
fn frto_without_sack_goes_back_on_a_first_duplicate_or_with_nothing_new_to_send() {
    // Step 2.a: the first ACK after the timeout is a duplicate.
    let mut c = without_sack_after_timeout(&CongestionSettings::default(), 4);
    c.on_ack(&ack(350, 0, 0, 4000, &[]));
    assert!(c.frto_goes_back(true));
    // Step 2.a: it covers only part of the resent segment.
    let mut c = without_sack_after_timeout(&CongestionSettings::default(), 4);
    c.on_ack(&ack(350, 500, 500, 4000, &[]));
    assert!(c.frto_goes_back(true));
    // Step 2.b without new data to send: conventional recovery rather than waiting.
    let mut c = without_sack_after_timeout(&CongestionSettings::default(), 4);
    c.on_ack(&ack(350, MSS, 1000, 4000, &[]));
    assert!(c.frto_goes_back(false));
    // An ACK of everything ends the timeout's recovery; nothing is left to resend.
    let mut c = without_sack_after_timeout(&CongestionSettings::default(), 4);
    c.on_ack(&ack(350, 4000, 4000, 4000, &[]));
    assert_eq!(c.phase(), CongestionPhase::CongestionAvoidance);
    assert_eq!(c.info().spurious_timeouts, 0);
}

#[test]
fn frto_off_without_sack_goes_back_to_snd_una_at_the_timeout() {
    let config = CongestionSettings {
        frto: false,
        ..CongestionSettings::default()
    };
    let mut c = Congestion::new(&config, MSS);
    c.on_handshake(10, MSS, false, SeqNum(0), CongestionParts::default());
    let t = c.next_transmit(SeqNum(0), SeqNum(0), SeqNum(0), true);
    c.on_transmitted(ms(0), t, MSS, SeqNum(0));
    assert!(c.on_retransmit_timeout(&flight(0, 1000), true));
    assert!(!c.frto_goes_back(true));
}

/// An ACK that advances nothing, reports nothing and finds nothing in flight: what the
/// receiver of a one-way stream sees in every data segment.
fn quiet(now: u64, una: u32) -> AckSummary {
    AckSummary {
        rtt: None,
        duplicate: false,
        ..ack(now, 0, una, una, &[])
    }
}

/// A sender whose last ACK left a tail loss probe's episode open: the probe resent the last
/// segment and the ACK reached exactly its end, so the next ACK decides (RFC 8985 §7.4.2).
fn probe_answer_pending() -> Congestion {
    let mut c = sending(&CongestionSettings::default(), 4, 0);
    c.on_ack(&ack(100, 3000, 3000, 4000, &[]));
    c.on_probe_timeout();
    let t = c.next_transmit(SeqNum(3000), SeqNum(4000), SeqNum(4000), false);
    c.on_transmitted(ms(500), t, MSS, SeqNum(4000));
    c.on_ack(&ack(600, MSS, 4000, 4000, &[]));
    c
}

#[test]
fn a_controller_at_rest_is_unchanged_by_a_quiet_ack_and_comes_to_rest_within_two() {
    let mut plain = sending(&CongestionSettings::default(), 4, 0);
    plain.on_ack(&ack(100, 4000, 4000, 4000, &[]));
    let mut timed_out = after_timeout_and_first_ack(&CongestionSettings::default());
    timed_out.on_ack(&ack(400, 3000, 4000, 4000, &[]));
    let mut reno = sending(
        &CongestionSettings {
            controller: CongestionControl::NewReno,
            ..CongestionSettings::default()
        },
        4,
        0,
    );
    reno.on_ack(&ack(100, 4000, 4000, 4000, &[]));
    for (name, mut c) in [
        ("plain", plain),
        ("probe", probe_answer_pending()),
        ("timeout", timed_out),
        ("newreno", reno),
    ] {
        let mut rested_at = None;
        for i in 0..4 {
            let before = alloc::format!("{c:?}");
            let rest = c.at_rest(&flight(4000, 4000), || Some(SRTT));
            c.on_ack(&quiet(700 + i, 4000));
            if rest {
                assert_eq!(
                    alloc::format!("{c:?}"),
                    before,
                    "{name}: a quiet ACK at rest changed state"
                );
                rested_at.get_or_insert(i);
            }
        }
        assert!(
            rested_at.is_some_and(|i| i <= 2),
            "{name}: not at rest after two quiet ACKs ({rested_at:?})"
        );
        // With anything in flight an ACK always goes through.
        assert!(!c.at_rest(&flight(4000, 5000), || Some(SRTT)));
    }
    // The open probe episode waits for the quiet ACK that ends it: not at rest before it.
    let c = probe_answer_pending();
    assert!(!c.at_rest(&flight(4000, 4000), || Some(SRTT)));
}

#[test]
fn the_probe_deadline_in_microseconds_is_the_one_worked_out_in_durations() {
    // `poll_timeout` reads the integer form; it must name the same microsecond, with SRTT's
    // sub-microsecond part rounded as the Duration sum would round it, with one segment in
    // flight and with several, and before any RTT sample.
    let srtts_ns = [
        0u64,
        1,
        499,
        500,
        999,
        1_000,
        1_499,
        4_999_999,
        5_000_000,
        100_000_499,
        100_000_500,
        7_123_456_789,
        u64::MAX / 4,
    ];
    for one_in_flight in [false, true] {
        let mut c = sending(&CongestionSettings::default(), 4, 0);
        if one_in_flight {
            c.on_ack(&ack(100, 3000, 3000, 4000, &[]));
        }
        for srtt in srtts_ns.map(Some).into_iter().chain([None]) {
            let want = c
                .probe_deadline(|| srtt.map(Duration::from_nanos))
                .map(Instant::as_micros);
            assert_eq!(c.probe_deadline_micros(|| srtt), want, "srtt {srtt:?} ns");
            assert!(want.is_some());
        }
    }
}
