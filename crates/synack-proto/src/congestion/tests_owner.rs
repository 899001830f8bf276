//! The owner's recovery rules with exact numbers: Reno's growth and NewReno's recovery without
//! SACK, SACK recovery with PRR, a timeout that never resends SACKed data, D-SACK undo, limited
//! transmit and the restart after idle.

use core::time::Duration;
use std::vec::Vec;

use synack_wire::{SackBlock, SackList};

use super::*;

const MSS: u32 = 1000;

fn config(cc: CongestionControl) -> CongestionSettings {
    CongestionSettings {
        controller: cc,
        ..CongestionSettings::default()
    }
}

fn flight(una: u32, max: u32) -> Flight {
    Flight {
        una: SeqNum(una),
        max: SeqNum(max),
        in_flight: max - una,
        mss: MSS,
    }
}

fn ack(acked: u32, una: u32, max: u32, duplicate: bool, blocks: &[(u32, u32)]) -> AckSummary {
    let mut sack = SackList::new();
    for &(left, right) in blocks {
        sack.push(SackBlock { left, right });
    }
    AckSummary {
        now: Instant::ZERO,
        acked,
        flight: flight(una, max),
        rtt: None,
        srtt: None,
        advanced: acked > 0,
        duplicate,
        sack,
        echo_sent_by: None,
    }
}

/// A sender with `n` segments of MSS bytes in flight from sequence number 0.
fn sending(cc: CongestionControl, sack: bool, n: u32) -> Congestion {
    sending_with(&config(cc), sack, n)
}

fn sending_with(config: &CongestionSettings, sack: bool, n: u32) -> Congestion {
    let mut c = Congestion::new(config, MSS);
    c.on_handshake(10, MSS, sack, SeqNum(0), CongestionParts::default());
    for i in 0..n {
        let t = c.next_transmit(SeqNum(0), SeqNum(i * MSS), SeqNum(i * MSS), true);
        assert_eq!(t, Transmit::New(SeqNum(i * MSS)));
        c.on_transmitted(Instant::ZERO, t, MSS, SeqNum(i * MSS));
    }
    c
}

#[test]
fn reno_slow_start_adds_a_segment_per_ack_and_avoidance_one_per_window() {
    // F-RTO off: the ACKs after the timeout would otherwise prove it spurious and undo it.
    let no_frto = CongestionSettings {
        frto: false,
        ..config(CongestionControl::NewReno)
    };
    let mut r = sending_with(&no_frto, false, 0);
    r.cwnd = 2000;
    r.on_ack(&ack(1000, 1000, 2000, false, &[]));
    assert_eq!(r.window(), 3000);
    // A stretch ACK still adds one segment at most (RFC 5681 §3.1, equation (2)).
    r.on_ack(&ack(3000, 4000, 4000, false, &[]));
    assert_eq!(r.window(), 4000);
    assert!(r.on_retransmit_timeout(&flight(4000, 12000), true));
    assert_eq!((r.window(), r.ssthresh()), (1000, 4000));
    assert_eq!(r.phase(), CongestionPhase::Loss);
    for i in 0..3 {
        r.on_ack(&ack(1000, 5000 + 1000 * i, 12000, false, &[]));
    }
    assert_eq!(r.window(), 4000);
    // Congestion avoidance: SMSS*SMSS/cwnd per ACK.
    r.on_ack(&ack(1000, 12000, 12000, false, &[]));
    assert_eq!(r.window(), 4250);
    assert_eq!(r.phase(), CongestionPhase::CongestionAvoidance);
}

#[test]
fn newreno_three_duplicates_one_retransmission_partial_ack_resends_full_ack_deflates() {
    let mut r = sending(CongestionControl::NewReno, false, 10);
    let dup = ack(0, 0, 10_000, true, &[]);
    r.on_ack(&dup);
    r.on_ack(&dup);
    // Limited transmit (RFC 3042): two duplicates let two new segments out past cwnd.
    assert_eq!(
        r.allowance(Transmit::New(SeqNum(10_000)), SeqNum(0), 10_000),
        2000
    );
    assert_eq!(
        r.next_transmit(SeqNum(0), SeqNum(10_000), SeqNum(10_000), true),
        Transmit::New(SeqNum(10_000))
    );
    r.on_ack(&dup);
    // ssthresh = FlightSize/2, cwnd = ssthresh + 3*SMSS (RFC 5681 §3.2 steps 2–3).
    assert_eq!((r.ssthresh(), r.window()), (5000, 8000));
    let t = r.next_transmit(SeqNum(0), SeqNum(10_000), SeqNum(10_000), true);
    assert_eq!(
        t,
        Transmit::Retransmit {
            seq: SeqNum(0),
            len: MSS
        }
    );
    r.on_transmitted(Instant::ZERO, t, MSS, SeqNum(10_000));
    // One retransmission only.
    assert_eq!(
        r.next_transmit(SeqNum(0), SeqNum(10_000), SeqNum(10_000), true),
        Transmit::New(SeqNum(10_000))
    );
    assert_eq!(r.fast_retransmits(), 1);
    r.on_ack(&dup);
    assert_eq!(r.window(), 9000);
    // Partial ACK (RFC 6582 §3.2 step 5): resend the next hole, deflate by what was acked
    // and add back one segment.
    r.on_ack(&ack(2000, 2000, 10_000, false, &[]));
    assert_eq!(
        r.next_transmit(SeqNum(2000), SeqNum(10_000), SeqNum(10_000), true),
        Transmit::Retransmit {
            seq: SeqNum(2000),
            len: MSS
        }
    );
    assert_eq!(r.window(), 8000);
    // Full ACK: cwnd = min(ssthresh, FlightSize + SMSS).
    r.on_ack(&ack(8000, 10_000, 10_000, false, &[]));
    assert_eq!(r.window(), 2000);
    assert_eq!(r.phase(), CongestionPhase::SlowStart);
}

#[test]
fn sack_holes_go_in_order_once_sacked_data_never_and_prr_paces() {
    // Ten segments out; 0 and 2 lost; the peer SACKs 1 and 3..=9. RFC 6675's own loss
    // detection (DupThresh), as without RACK: all of it happens at one instant, where RACK's
    // time order cannot tell a retransmission from the originals.
    let rfc6675 = CongestionSettings {
        rack_tlp: false,
        ..config(CongestionControl::NewReno)
    };
    let mut c = sending_with(&rfc6675, true, 10);
    c.on_ack(&ack(0, 0, 10_000, true, &[(1000, 2000)]));
    c.on_ack(&ack(0, 0, 10_000, true, &[(3000, 4000), (1000, 2000)]));
    assert_eq!(c.phase(), CongestionPhase::SlowStart);
    c.on_ack(&ack(0, 0, 10_000, true, &[(3000, 5000), (1000, 2000)]));
    // IsLost(0): three SACKed segments above it. Reno: ssthresh = 5000.
    assert_eq!(c.phase(), CongestionPhase::Recovery);
    assert_eq!(c.ssthresh(), 5000);
    assert_eq!(c.fast_retransmits(), 1);
    let t = c.next_transmit(SeqNum(0), SeqNum(10_000), SeqNum(10_000), false);
    assert_eq!(
        t,
        Transmit::Hole {
            seq: SeqNum(0),
            len: MSS,
            rescue: false
        }
    );
    // PRR lets the fast retransmission out on the entering ACK.
    assert_eq!(c.allowance(t, SeqNum(0), 10_000), MSS);
    c.on_transmitted(Instant::ZERO, t, MSS, SeqNum(10_000));
    // Segment 2 is not lost yet (only two SACKed above... 3, 4): nothing more allowed now.
    let t = c.next_transmit(SeqNum(0), SeqNum(10_000), SeqNum(10_000), false);
    assert_eq!(c.allowance(t, SeqNum(0), 10_000), 0);
    // More SACKs: 5..=9 arrive; PRR hands out about ssthresh/RecoverFS per delivered byte.
    let mut sent = Vec::new();
    for k in 5..10 {
        c.on_ack(&ack(
            0,
            0,
            10_000,
            true,
            &[(3000, (k + 1) * 1000), (1000, 2000)],
        ));
        loop {
            let t = c.next_transmit(SeqNum(0), SeqNum(10_000), SeqNum(10_000), false);
            let Transmit::Hole { seq, len, .. } = t else {
                break;
            };
            if c.allowance(t, SeqNum(0), 10_000) < len {
                break;
            }
            c.on_transmitted(Instant::ZERO, t, len, SeqNum(10_000));
            sent.push(seq.0);
        }
    }
    // Hole 2 goes once, then NextSeg rule 4's one rescue retransmission of the highest
    // unSACKed segment (9, not yet SACKed when it left); nothing SACKed, and not 0 again.
    assert_eq!(sent, [2000, 9000]);
    // The cumulative ACK for everything ends recovery at ssthresh (RFC 6937 §3).
    c.on_ack(&ack(10_000, 10_000, 10_000, false, &[]));
    assert_eq!(c.phase(), CongestionPhase::CongestionAvoidance);
    assert_eq!(c.window(), 5000);
    assert_eq!(c.counters().sack_blocks, 1 + 2 + 2 + 5 * 2);
}

#[test]
fn a_timeout_resends_every_unsacked_segment_and_no_sacked_one() {
    let mut c = sending(CongestionControl::Cubic, true, 6);
    // Segments 1 and 4 were SACKed; nothing else came back.
    c.on_ack(&ack(0, 0, 6000, true, &[(1000, 2000)]));
    c.on_ack(&ack(0, 0, 6000, true, &[(4000, 5000), (1000, 2000)]));
    assert!(!c.on_retransmit_timeout(&flight(0, 6000), true));
    assert_eq!(c.window(), MSS);
    let mut sent = Vec::new();
    let mut una = 0;
    for _ in 0..10 {
        let t = c.next_transmit(SeqNum(una), SeqNum(6000), SeqNum(6000), false);
        let Transmit::Hole { seq, len, .. } = t else {
            break;
        };
        assert!(c.allowance(t, SeqNum(una), 6000 - una) >= len);
        c.on_transmitted(Instant::ZERO, t, len, SeqNum(6000));
        sent.push(seq.0);
        // Each repair is acknowledged in turn, opening the window.
        let next = [0, 2000, 3000, 5000, 6000];
        let i = next.iter().position(|&x| x == seq.0).unwrap();
        una = next[i + 1];
        c.on_ack(&ack(una - seq.0, una, 6000, false, &[(4000, 5000)]));
    }
    assert_eq!(sent, [0, 2000, 3000, 5000]);
    assert_eq!(c.counters().timeouts, 1);
}

#[test]
fn dsacks_for_every_retransmission_undo_the_reduction() {
    let mut c = sending(CongestionControl::Cubic, true, 10);
    let before = c.window();
    for k in 1..4 {
        c.on_ack(&ack(0, 0, 10_000, true, &[(1000, (k + 1) * 1000)]));
    }
    assert_eq!(c.phase(), CongestionPhase::Recovery);
    assert!(c.window() < before || c.ssthresh() < before);
    let t = c.next_transmit(SeqNum(0), SeqNum(10_000), SeqNum(10_000), false);
    c.on_transmitted(Instant::ZERO, t, MSS, SeqNum(10_000));
    // Segment 0 was only delayed: the cumulative ACK covers everything, then the peer
    // reports the retransmission as a duplicate.
    c.on_ack(&ack(10_000, 10_000, 10_000, false, &[]));
    assert!(c.window() < before);
    c.on_ack(&ack(0, 10_000, 10_000, false, &[(0, 1000)]));
    assert_eq!(c.window(), before);
    assert_eq!(c.ssthresh(), u32::MAX);
    assert_eq!(c.counters().undos, 1);
}

#[test]
fn idle_restart_goes_back_to_the_initial_window() {
    let mut c = sending(CongestionControl::Cubic, true, 1);
    c.cwnd = 40 * MSS;
    let rto_ns = 200_000_000;
    c.restart_if_idle(Instant::from_millis(100), rto_ns);
    assert_eq!(c.window(), 40 * MSS);
    // Exactly the RTO idle is not more than it.
    c.restart_if_idle(Instant::from_millis(200), rto_ns);
    assert_eq!(c.window(), 40 * MSS);
    c.restart_if_idle(Instant::from_millis(300), rto_ns);
    assert_eq!(c.window(), 10 * MSS);
}

/// `n` ACKs 10 ms apart from `at` ms, each of one segment, each finding `outstanding`
/// segments in flight; returns the time after them.
fn acks_finding(c: &mut Congestion, n: u32, outstanding: u32, una: &mut u32, at: u64) -> u64 {
    let mut t = at;
    for _ in 0..n {
        *una += MSS;
        let max = *una + (outstanding - 1) * MSS;
        c.on_ack(&AckSummary {
            now: Instant::from_millis(t),
            srtt: Some(Duration::from_millis(10)),
            ..ack(MSS, *una, max, false, &[])
        });
        t += 10;
    }
    t
}

#[test]
fn an_application_limited_sender_does_not_grow_cwnd_in_slow_start() {
    for cc in [CongestionControl::Cubic, CongestionControl::NewReno] {
        let mut c = sending(cc, false, 0);
        let mut una = 0;
        // Two segments in flight of a ten-segment window: not validated.
        let t = acks_finding(&mut c, 30, 2, &mut una, 0);
        assert_eq!(c.window(), 10 * MSS, "{cc:?}");
        assert_eq!(c.phase(), CongestionPhase::SlowStart);
        // Half the window in flight: it grows again.
        acks_finding(&mut c, 1, 5, &mut una, t);
        assert!(c.window() > 10 * MSS, "{cc:?}");
        // Without validation every ACK grows it (RFC 5681 alone).
        let off = CongestionSettings {
            cwnd_validation: false,
            ..config(cc)
        };
        let mut c = sending_with(&off, false, 0);
        let mut una = 0;
        acks_finding(&mut c, 30, 2, &mut una, 0);
        assert!(c.window() >= 20 * MSS, "{cc:?}: {}", c.window());
    }
}

#[test]
fn an_application_limited_sender_does_not_grow_cwnd_in_congestion_avoidance() {
    for cc in [CongestionControl::Cubic, CongestionControl::NewReno] {
        for validate in [true, false] {
            let cfg = CongestionSettings {
                cwnd_validation: validate,
                ..config(cc)
            };
            let mut c = sending_with(&cfg, false, 0);
            c.ssthresh = 10 * MSS;
            let mut una = 0;
            // Two seconds of ACKs with half the window in flight.
            let t = acks_finding(&mut c, 200, 5, &mut una, 0);
            assert_eq!(c.phase(), CongestionPhase::CongestionAvoidance);
            if validate {
                assert_eq!(c.window(), 10 * MSS, "{cc:?}");
            } else {
                assert!(c.window() > 11 * MSS, "{cc:?}: {}", c.window());
            }
            // The window filled: growth resumes, CUBIC from a new epoch at the window it has,
            // not from a curve that ran on through the application-limited time.
            let before = c.window();
            acks_finding(&mut c, 20, before / MSS, &mut una, t);
            assert!(c.window() > before, "{cc:?}");
            if validate {
                assert!(c.window() < before + 3 * MSS, "{cc:?}: {}", c.window());
            }
        }
    }
}
