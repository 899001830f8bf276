//! The pieces together, before they are wired into the connection: a sender built from the
//! scoreboard, RACK, PRR and CUBIC against a receiver that SACKs, over a 100 ms path that drops a
//! burst of ten segments. It checks what the issue asks of recovery: the burst is repaired
//! without a timeout, each hole is resent once, SACKed data never, the flight shrinks to
//! ssthresh under PRR, and cwnd ends at CUBIC's β·FlightSize.

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

use super::cubic::Cubic;
use super::prr::{Prr, ReductionBound};
use super::rack::Rack;
use super::scoreboard::{NextSeg, Scoreboard};
use crate::seq::SeqNum;
use crate::time::Instant;

const MSS: u32 = 1000;
const ONE_WAY: Duration = Duration::from_millis(50);
const SEGMENTS: u32 = 40;

enum Event {
    /// Segment `i` reaches the receiver.
    Data(u32),
    /// An ACK reaches the sender.
    Ack { cum: u32, blocks: Vec<(u32, u32)> },
}

struct Net {
    queue: BTreeMap<(Instant, u64), Event>,
    n: u64,
}

impl Net {
    fn push(&mut self, at: Instant, e: Event) {
        self.n += 1;
        self.queue.insert((at, self.n), e);
    }
}

/// Receiver: cumulative ACK plus up to three SACK blocks, the one holding the segment just
/// received first, then the others from the highest down (RFC 2018 §4, timestamps leaving room
/// for three).
fn ack_for(received: &BTreeSet<u32>, latest: u32) -> (u32, Vec<(u32, u32)>) {
    let mut cum = 0;
    while received.contains(&cum) {
        cum += 1;
    }
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &i in received.range(cum..) {
        match ranges.last_mut() {
            Some(r) if r.1 == i => r.1 = i + 1,
            _ => ranges.push((i, i + 1)),
        }
    }
    let mut blocks: Vec<(u32, u32)> = ranges
        .iter()
        .copied()
        .filter(|r| latest >= r.0 && latest < r.1)
        .collect();
    for r in ranges.iter().rev() {
        if !blocks.contains(r) {
            blocks.push(*r);
        }
    }
    blocks.truncate(3);
    (cum, blocks)
}

fn seq(i: u32) -> SeqNum {
    SeqNum(i * MSS)
}

#[test]
fn a_burst_of_ten_losses_is_repaired_in_one_recovery_without_a_timeout() {
    let lost_once: BTreeSet<u32> = (5..15).collect();
    let mut net = Net {
        queue: BTreeMap::new(),
        n: 0,
    };
    let mut sb = Scoreboard::new(seq(0));
    let mut rack = Rack::new();
    let mut cubic = Cubic::new();
    let mut cwnd = 20 * MSS;
    let mut ssthresh = u32::MAX;
    let mut prr: Option<Prr> = None;
    let mut recoveries = 0;
    let mut exit_cwnd = None;
    let mut recover_fs = 0;
    let mut sends: BTreeMap<u32, u32> = BTreeMap::new();
    let mut received = BTreeSet::new();
    let mut sacked_ever: BTreeSet<u32> = BTreeSet::new();

    let mut transmit = |net: &mut Net, sb: &mut Scoreboard, now: Instant, i: u32| {
        sb.on_transmit(now, seq(i), MSS);
        let n = sends.entry(i).or_insert(0);
        *n += 1;
        // Only the first copy of a segment in the burst is dropped.
        if !(lost_once.contains(&i) && *n == 1) {
            net.push(now + ONE_WAY, Event::Data(i));
        }
    };

    // The initial window: 20 segments, one per millisecond.
    for i in 0..20 {
        transmit(&mut net, &mut sb, Instant::from_millis(u64::from(i)), i);
    }

    let srtt = Duration::from_millis(100);
    let mut now = Instant::ZERO;
    while let Some(((at, _), event)) = net.queue.pop_first() {
        now = at;
        match event {
            Event::Data(i) => {
                received.insert(i);
                let (cum, blocks) = ack_for(&received, i);
                net.push(now + ONE_WAY, Event::Ack { cum, blocks });
            }
            Event::Ack { cum, blocks } => {
                let blocks: Vec<(SeqNum, SeqNum)> =
                    blocks.iter().map(|&(s, e)| (seq(s), seq(e))).collect();
                for &(s, e) in &blocks {
                    sacked_ever.extend(s.0 / MSS..e.0 / MSS);
                }
                let mut delivered = Vec::new();
                let out = sb.on_ack(seq(cum), &blocks, |d| delivered.push(*d));
                for d in &delivered {
                    if !d.ever_retransmitted {
                        rack.on_rtt_sample(now.saturating_duration_since(d.xmit_ts));
                    }
                    rack.on_delivered(now, d, None);
                }
                let delivered_bytes = out.cumulatively_acked + out.newly_sacked;
                let in_recovery = prr.is_some();
                let reo = rack.reo_wnd(in_recovery, sb.sacked_segments(), srtt);
                rack.detect_loss(now, reo, &mut sb);
                let loss = sb.segments().any(|s| s.lost) || sb.is_lost(sb.high_ack(), MSS);

                if prr.is_none() && loss {
                    // RFC 6675 §5: enter recovery; CUBIC sets ssthresh from FlightSize.
                    let flight = sb.high_data().since(sb.high_ack());
                    recover_fs = flight;
                    let (c, s) = cubic.on_congestion_event(cwnd, ssthresh, flight, MSS);
                    cwnd = c;
                    ssthresh = s;
                    sb.enter_recovery();
                    prr = Some(Prr::enter(ssthresh, flight, MSS, ReductionBound::SlowStart));
                    recoveries += 1;
                }

                if let Some(p) = prr.as_mut() {
                    if sb.recovery_complete() {
                        cwnd = p.exit_cwnd();
                        exit_cwnd = Some(cwnd);
                        sb.exit_recovery();
                        prr = None;
                    } else {
                        let pipe = sb.pipe(MSS);
                        let mut budget = p.on_ack(delivered_bytes, pipe);
                        while budget >= MSS {
                            let new_data = sb.high_data().lt(seq(SEGMENTS));
                            let i = match sb.next_seg(MSS, new_data) {
                                Some(NextSeg::Retransmit { seq: s, .. }) => s.0 / MSS,
                                Some(NextSeg::NewData) => sb.high_data().0 / MSS,
                                Some(NextSeg::Rescue { seq: s, len }) => {
                                    sb.on_rescue_transmit(now, s, len);
                                    s.0 / MSS
                                }
                                None => break,
                            };
                            assert!(!sacked_ever.contains(&i), "SACKed segment {i} resent");
                            transmit(&mut net, &mut sb, now, i);
                            p.on_transmit(MSS);
                            budget -= MSS;
                        }
                        // PRR-SSRB never lets the flight grow past ssthresh once at or below it.
                        let after = sb.pipe(MSS);
                        assert!(
                            after <= pipe.max(ssthresh) + MSS,
                            "pipe {after} over {ssthresh}"
                        );
                        continue;
                    }
                }
                // Open state: congestion avoidance, then new data within cwnd.
                if out.cumulatively_acked > 0 && cwnd >= ssthresh {
                    cwnd = cubic.on_ack(now, out.cumulatively_acked, cwnd, MSS, srtt);
                }
                while sb.high_data().lt(seq(SEGMENTS)) && sb.pipe(MSS) + MSS <= cwnd {
                    let i = sb.high_data().0 / MSS;
                    transmit(&mut net, &mut sb, now, i);
                }
            }
        }
    }

    // The queue ran dry only because everything was acknowledged: no timeout was needed.
    assert_eq!(
        sb.high_ack(),
        seq(SEGMENTS),
        "stalled at {:?}",
        sb.high_ack()
    );
    assert_eq!(received.len() as u32, SEGMENTS);
    assert_eq!(recoveries, 1);
    for (&i, &n) in &sends {
        let want = if lost_once.contains(&i) { 2 } else { 1 };
        assert_eq!(n, want, "segment {i} sent {n} times");
    }
    // The loss shows at the third SACK (segment 17's, at 117 ms); by then ACKs for 0..4 and
    // the first SACKs had let segments 20..26 out: FlightSize is segments 5..26.
    assert_eq!(recover_fs, 22 * MSS);
    // CUBIC: ssthresh = β · FlightSize = 15.4 segments; PRR leaves cwnd there.
    assert_eq!(exit_cwnd, Some(22 * MSS * 7 / 10));
    // Three round trips: the loss is seen at ~1 RTT, the holes go out over the next, and
    // the last hole's ACK returns a round trip later.
    assert!(now < Instant::from_millis(450), "finished at {now:?}");
}
