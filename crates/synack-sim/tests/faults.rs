//! Each link fault, measured over many packets against its configuration.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;

use common::{Scripts, assert_binomial, blast, index_of};
use synack_sim::{Fate, Instant, LinkConfig, LinkEvent, Side};

const N: u32 = 10_000;
const SEED: u64 = 0x5eed_0001;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

fn originals(pair: &Scripts) -> impl Iterator<Item = &LinkEvent> {
    pair.link
        .events()
        .iter()
        .filter(|e| !matches!(e.fate, Fate::Duplicate { .. }))
}

/// The same seed replays the same fates and bytes; another seed does not.
fn assert_seed_decides(config: &LinkConfig, count: u32, spacing: Duration, size: usize) {
    let first = blast(config.clone(), SEED, count, spacing, size);
    let again = blast(config.clone(), SEED, count, spacing, size);
    let other = blast(config.clone(), SEED + 1, count, spacing, size);
    assert_eq!(first.link.events(), again.link.events());
    assert_eq!(first.b.received(), again.b.received());
    assert_eq!(first.link.stats(Side::A), again.link.stats(Side::A));
    assert_ne!(first.link.events(), other.link.events());
    assert_ne!(first.b.received(), other.b.received());
}

#[test]
fn loss_drops_the_configured_fraction_and_only_those() {
    let p = 0.1;
    let config = LinkConfig::new().delay(ms(5)).loss(p);
    let pair = blast(config.clone(), SEED, N, us(100), 200);
    let stats = pair.link.stats(Side::A);
    assert_binomial("lost", stats.lost, u64::from(N), p);
    assert_eq!(stats.lost + stats.delivered, u64::from(N));

    let lost: BTreeSet<u32> = originals(&pair)
        .filter(|e| e.fate == Fate::Lost)
        .map(|e| index_of(&e.packet))
        .collect();
    let received: BTreeSet<u32> = pair.b.received().iter().map(|(_, p)| index_of(p)).collect();
    assert_eq!(lost.len() + received.len(), N as usize);
    assert!(lost.is_disjoint(&received));
    for event in originals(&pair) {
        if let Fate::Delivered { at } = event.fate {
            assert_eq!(at, event.sent_at + ms(5));
        }
    }
    assert_seed_decides(&config, N, us(100), 200);

    let all = blast(LinkConfig::new().loss(1.0), SEED, 100, us(100), 20);
    assert_eq!(all.link.stats(Side::A).lost, 100);
    assert!(all.b.received().is_empty());
}

#[test]
fn duplication_adds_intact_later_copies_at_the_configured_rate() {
    let p = 0.05;
    let config = LinkConfig::new().delay(ms(5)).jitter(ms(1)).duplicate(p);
    let pair = blast(config.clone(), SEED, N, us(500), 100);
    let stats = pair.link.stats(Side::A);
    assert_binomial("duplicated", stats.duplicated, u64::from(N), p);
    assert_eq!(
        pair.b.received().len() as u64,
        u64::from(N) + stats.duplicated
    );
    assert_eq!(stats.delivered, u64::from(N) + stats.duplicated);

    let by_id: BTreeMap<u64, &LinkEvent> = pair.link.events().iter().map(|e| (e.id, e)).collect();
    let mut copies = 0;
    for event in pair.link.events() {
        if let Fate::Duplicate { at, of } = event.fate {
            copies += 1;
            let original = by_id[&of];
            assert_eq!(event.packet, original.packet);
            assert!(original.fate.arrival().unwrap() <= at);
        }
    }
    assert_eq!(copies, stats.duplicated);

    let mut times_received: BTreeMap<u32, u32> = BTreeMap::new();
    for (_, packet) in pair.b.received() {
        *times_received.entry(index_of(packet)).or_default() += 1;
    }
    assert_eq!(times_received.len(), N as usize);
    let twice = times_received.values().filter(|&&n| n == 2).count() as u64;
    assert_eq!(twice, stats.duplicated);
    assert!(times_received.values().all(|&n| n == 1 || n == 2));
    assert_seed_decides(&config, N, us(500), 100);
}

#[test]
fn reordering_holds_back_the_configured_fraction_and_later_packets_overtake() {
    let p = 0.1;
    let config = LinkConfig::new()
        .delay(ms(10))
        .reorder(p)
        .reorder_delay(ms(5));
    let pair = blast(config.clone(), SEED, N, ms(1), 64);
    let stats = pair.link.stats(Side::A);
    assert_binomial("reordered", stats.reordered, u64::from(N), p);

    let mut held = BTreeSet::new();
    for event in originals(&pair) {
        let expected = if event.reordered {
            held.insert(index_of(&event.packet));
            event.sent_at + ms(15)
        } else {
            event.sent_at + ms(10)
        };
        assert_eq!(event.fate, Fate::Delivered { at: expected });
    }
    assert_eq!(held.len() as u64, stats.reordered);

    let order: Vec<u32> = pair.b.received().iter().map(|(_, p)| index_of(p)).collect();
    assert_eq!(order.len(), N as usize);
    let descents = order.windows(2).filter(|w| w[0] > w[1]).count() as u64;
    assert!(descents > 0 && descents <= stats.reordered);
    let in_fifo: Vec<u32> = order
        .iter()
        .copied()
        .filter(|i| !held.contains(i))
        .collect();
    assert!(
        in_fifo.is_sorted(),
        "packets that were not held back stay in order"
    );
    assert_seed_decides(&config, N, ms(1), 64);
}

fn hamming(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

#[test]
fn corruption_flips_between_one_and_max_bits_at_the_configured_rate() {
    let p = 0.02;
    let config = LinkConfig::new()
        .delay(ms(1))
        .corrupt(p)
        .corrupt_max_bits(3);
    let pair = blast(config.clone(), SEED, N, us(100), 100);
    let stats = pair.link.stats(Side::A);
    assert_binomial("corrupted", stats.corrupted, u64::from(N), p);
    assert_eq!(
        stats.delivered,
        u64::from(N),
        "a corrupted packet is still delivered"
    );

    let mut flips_seen = BTreeMap::new();
    let received = pair.b.received();
    for (event, (_, got)) in originals(&pair).zip(received) {
        assert_eq!(got.len(), event.packet.len());
        match &event.fate {
            Fate::Corrupted { flipped_bits, .. } => {
                let distance = hamming(&event.packet, got);
                assert_eq!(distance as usize, flipped_bits.len());
                assert!((1..=3).contains(&distance));
                assert_eq!(event.delivered_bytes().as_ref(), Some(got));
                *flips_seen.entry(distance).or_insert(0u32) += 1;
            }
            Fate::Delivered { .. } => assert_eq!(&event.packet, got),
            other => panic!("unexpected fate {other:?}"),
        }
    }
    assert_eq!(flips_seen.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    assert_seed_decides(&config, N, us(100), 100);
}

#[test]
fn delay_and_jitter_bound_latency_and_average_half_the_jitter() {
    let (delay, jitter) = (20_000u64, 4_000u64);
    let config = LinkConfig::new().delay(us(delay)).jitter(us(jitter));
    // Spaced wider than the jitter, so FIFO clamping never shifts an arrival.
    let pair = blast(config.clone(), SEED, N, ms(10), 100);
    let mut extra_sum = 0u64;
    let (mut lowest, mut highest) = (u64::MAX, 0);
    for event in originals(&pair) {
        let latency = (event.fate.arrival().unwrap() - event.sent_at).as_micros() as u64;
        assert!(
            (delay..=delay + jitter).contains(&latency),
            "latency {latency}"
        );
        let extra = latency - delay;
        extra_sum += extra;
        lowest = lowest.min(extra);
        highest = highest.max(extra);
    }
    // Uniform on 0..=4000 us: mean 2000, sd about 1155, so the mean of N has sd about 11.5.
    let mean = extra_sum as f64 / f64::from(N);
    let sd_of_mean =
        ((((jitter + 1) * (jitter + 1) - 1) as f64) / 12.0).sqrt() / f64::from(N).sqrt();
    assert!(
        (mean - jitter as f64 / 2.0).abs() <= 5.0 * sd_of_mean,
        "mean jitter {mean}"
    );
    assert!(
        lowest < 100 && highest > jitter - 100,
        "range {lowest}..{highest}"
    );
    assert_seed_decides(&config, N, ms(10), 100);
}

#[test]
fn jitter_alone_never_reorders() {
    // Packets 100 us apart with up to 4 ms of jitter: without the FIFO rule most would swap.
    let config = LinkConfig::new().delay(ms(20)).jitter(ms(4));
    let pair = blast(config, SEED, N, us(100), 64);
    let order: Vec<u32> = pair.b.received().iter().map(|(_, p)| index_of(p)).collect();
    assert_eq!(order, (0..N).collect::<Vec<_>>());
    let arrivals: Vec<Instant> = pair.b.received().iter().map(|(at, _)| *at).collect();
    assert!(arrivals.is_sorted());
    assert_eq!(pair.link.stats(Side::A).reordered, 0);
}

#[test]
fn bandwidth_spaces_packets_by_their_serialization_time() {
    // 1500 bytes at 12 Mbit/s is 1 ms on the wire.
    let config = LinkConfig::new().delay(ms(10)).bandwidth_bps(12_000_000);
    let burst = blast(config.clone(), SEED, 1000, Duration::ZERO, 1500);
    for (i, (at, packet)) in burst.b.received().iter().enumerate() {
        assert_eq!(index_of(packet), i as u32);
        assert_eq!(*at, Instant::from_millis(10 + i as u64 + 1));
    }
    assert_eq!(burst.b.received().len(), 1000);

    // Sent slower than the line rate, packets do not queue: each takes 1 ms plus the delay.
    let paced = blast(config, SEED, 1000, ms(2), 1500);
    for event in originals(&paced) {
        assert_eq!(event.fate.arrival(), Some(event.sent_at + ms(11)));
    }

    // Small packets take proportionally less: 125 bytes at 1 Mbit/s is 1 ms.
    let small = blast(
        LinkConfig::new().bandwidth_bps(1_000_000),
        SEED,
        10,
        Duration::ZERO,
        125,
    );
    let arrivals: Vec<u64> = small
        .b
        .received()
        .iter()
        .map(|(at, _)| at.as_micros())
        .collect();
    assert_eq!(arrivals, (1..=10).map(|i| i * 1000).collect::<Vec<_>>());
}

#[test]
fn queue_limit_tail_drops_what_does_not_fit() {
    let line = LinkConfig::new().delay(ms(1)).bandwidth_bps(12_000_000);
    for config in [
        line.clone().queue_limit_packets(10),
        line.clone().queue_limit_bytes(15_000),
    ] {
        // One packet goes straight onto the wire, ten wait, the other 89 are dropped.
        let pair = blast(config, SEED, 100, Duration::ZERO, 1500);
        let stats = pair.link.stats(Side::A);
        assert_eq!((stats.delivered, stats.queue_drops), (11, 89));
        let got: Vec<u32> = pair.b.received().iter().map(|(_, p)| index_of(p)).collect();
        assert_eq!(got, (0..11).collect::<Vec<_>>());
        assert!(originals(&pair).skip(11).all(|e| e.fate == Fate::QueueDrop));
    }
    let just_short = blast(
        line.clone().queue_limit_bytes(14_999),
        SEED,
        100,
        Duration::ZERO,
        1500,
    );
    assert_eq!(just_short.link.stats(Side::A).delivered, 10);

    // Offered at twice the line rate for a long time, the link delivers at the line rate:
    // half the packets, give or take the queue's contents.
    let limit = 20;
    let overload = blast(line.queue_limit_packets(limit), SEED, N, us(500), 1500);
    let stats = overload.link.stats(Side::A);
    let half = u64::from(N) / 2;
    assert!(
        (half..=half + limit as u64 + 1).contains(&stats.delivered),
        "delivered {}",
        stats.delivered
    );
    assert_eq!(stats.delivered + stats.queue_drops, u64::from(N));
}

#[test]
fn partition_drops_exactly_what_is_sent_while_it_lasts() {
    use synack_sim::endpoints::Scripted;
    use synack_sim::{Link, Pair};

    let run = || {
        let link = Link::new(SEED, LinkConfig::new().delay(ms(50))).unwrap();
        let mut a = Scripted::new();
        let mut b = Scripted::new();
        for i in 0..3000u32 {
            a.send_at(Instant::from_millis(u64::from(i)), common::numbered(i, 40));
            b.send_at(Instant::from_millis(u64::from(i)), common::numbered(i, 40));
        }
        let mut pair = Pair::new(a, b, link);
        pair.run_until(Instant::from_millis(1000)).unwrap();
        pair.link.set_partitioned(true);
        pair.run_until(Instant::from_millis(1500)).unwrap();
        // Heal B to A halfway through: partitions are per direction.
        pair.link
            .update_config(Side::B, |c| c.partitioned = false)
            .unwrap();
        pair.run_until(Instant::from_millis(2000)).unwrap();
        pair.link.set_partitioned(false);
        pair.run_until_idle(Instant::from_millis(10_000)).unwrap();
        pair
    };
    let pair = run();
    let a_to_b = pair.link.stats(Side::A);
    let b_to_a = pair.link.stats(Side::B);
    assert_eq!((a_to_b.partition_drops, a_to_b.delivered), (1000, 2000));
    assert_eq!((b_to_a.partition_drops, b_to_a.delivered), (500, 2500));
    // `run_until(t)` runs the events at `t` too, so the packets sent at 1000 ms got out before
    // the cut and those sent at 2000 ms did not.
    let got: BTreeSet<u32> = pair.b.received().iter().map(|(_, p)| index_of(p)).collect();
    assert!(got.contains(&1000) && !got.contains(&1001));
    assert!(!got.contains(&2000) && got.contains(&2001));
    // Packets already in flight when the cut came still arrive.
    assert!(
        pair.b
            .received()
            .iter()
            .any(|(at, _)| *at > Instant::from_millis(1000) && *at < Instant::from_millis(1050))
    );
    for event in pair.link.events().iter().filter(|e| e.from == Side::A) {
        let sent = event.sent_at.as_millis();
        let cut = (1001..=2000).contains(&sent);
        assert_eq!(event.fate == Fate::PartitionDrop, cut, "sent at {sent} ms");
    }
    assert_eq!(run().link.events(), pair.link.events());
}
