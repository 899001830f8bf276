//! Spare parts: a scoreboard and loss detector handed from a finished connection to a new one
//! carry nothing of the old one's SACK, RACK or recovery state, and a host keeps few.

use alloc::format;

use super::*;

// The SACK/RACK fixtures of the loss tests: the same flight and ACK shapes.
use super::tests_loss::{MSS, SRTT, ack, flight, ms};

/// Sends `n` segments from `base` at `at` ms.
fn send(c: &mut Congestion, base: u32, n: u32, at: u64) {
    for i in 0..n {
        let seq = SeqNum(base + i * MSS);
        let t = c.next_transmit(SeqNum(base), seq, seq, true);
        assert_eq!(t, Transmit::New(seq));
        c.on_transmitted(ms(at), t, MSS, seq);
    }
}

/// A connection left in SACK recovery by RACK, with SACKed data on its board.
fn used_parts() -> CongestionParts {
    let mut c = Congestion::new(&CongestionSettings::default(), MSS);
    c.on_handshake(10, MSS, true, SeqNum(0), CongestionParts::default());
    send(&mut c, 0, 8, 0);
    c.on_ack(&ack(100, MSS, 1000, 8000, &[(2000, 3000), (5000, 7000)]));
    c.on_reorder_timeout(ms(125), &flight(1000, 8000), Some(SRTT));
    assert_eq!(c.phase(), CongestionPhase::Recovery);
    let parts = c.take_parts();
    assert!(parts.board.is_some() && parts.loss.is_some());
    parts
}

#[test]
fn a_reused_scoreboard_and_loss_detector_start_as_fresh_ones_and_stay_alike() {
    let config = CongestionSettings::default();
    let base = 1_000_000;
    let mut fresh = Congestion::new(&config, MSS);
    fresh.on_handshake(10, MSS, true, SeqNum(base), CongestionParts::default());
    let mut reused = Congestion::new(&config, MSS);
    reused.on_handshake(10, MSS, true, SeqNum(base), used_parts());
    assert_eq!(format!("{reused:?}"), format!("{fresh:?}"));
    // The same traffic meets the same answers: one SACK arms the reordering timer, whose
    // expiry starts recovery, in both.
    for c in [&mut fresh, &mut reused] {
        send(c, base, 4, 0);
        c.on_ack(&ack(
            100,
            MSS,
            base + 1000,
            base + 4000,
            &[(base + 2000, base + 3000)],
        ));
        assert_eq!(c.phase(), CongestionPhase::SlowStart);
        assert_eq!(c.reorder_deadline(), Some(ms(125)));
        c.on_reorder_timeout(ms(125), &flight(base + 1000, base + 4000), Some(SRTT));
        assert_eq!(c.phase(), CongestionPhase::Recovery);
        assert_eq!(c.info().rack_losses, 1);
    }
    assert_eq!(format!("{reused:?}"), format!("{fresh:?}"));
}

#[test]
fn parts_given_to_a_connection_without_sack_are_not_used() {
    let mut c = Congestion::new(&CongestionSettings::default(), MSS);
    c.on_handshake(10, MSS, false, SeqNum(0), used_parts());
    assert!(c.take_parts().is_empty());
}

#[test]
fn a_host_keeps_at_most_its_limit_of_spare_sets() {
    let mut spares = SpareParts::default();
    assert!(spares.take().is_empty());
    spares.put(CongestionParts::default());
    assert_eq!(spares.len(), 0, "an empty set is not worth keeping");
    for _ in 0..SpareParts::LIMIT + 3 {
        spares.put(used_parts());
    }
    assert_eq!(spares.len(), SpareParts::LIMIT);
    for _ in 0..SpareParts::LIMIT {
        assert!(!spares.take().is_empty());
    }
    assert!(spares.take().is_empty());
}
