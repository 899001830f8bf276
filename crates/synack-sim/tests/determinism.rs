//! Whole runs replay exactly: same seed, same log, byte for byte.

mod common;

use std::collections::VecDeque;

use core::time::Duration;

use synack_sim::endpoints::Scripted;
use synack_sim::{Endpoint, Instant, Link, LinkConfig, LinkEvent, Pair, Side};

const DATA: u8 = 1;
const ACK: u8 = 2;

/// `[kind, seq (4 bytes BE), sum of the previous bytes]`: enough to spot a flipped bit.
fn frame(kind: u8, seq: u32) -> Vec<u8> {
    let mut packet = vec![kind];
    packet.extend(seq.to_be_bytes());
    packet.push(checksum(&packet));
    packet
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

fn parse(packet: &[u8]) -> Option<(u8, u32)> {
    let (sum, body) = packet.split_last()?;
    if body.len() != 5 || checksum(body) != *sum {
        return None;
    }
    Some((body[0], u32::from_be_bytes(body[1..5].try_into().ok()?)))
}

/// Stop-and-wait: one message outstanding, resent on a fixed timeout until acknowledged.
#[derive(Debug, PartialEq)]
struct Sender {
    total: u32,
    next: u32,
    deadline: Option<Instant>,
    rto: Duration,
    out: VecDeque<Vec<u8>>,
    transmissions: u32,
}

impl Sender {
    fn new(total: u32) -> Sender {
        Sender {
            total,
            next: 0,
            deadline: None,
            rto: Duration::from_millis(40),
            out: VecDeque::new(),
            transmissions: 0,
        }
    }

    fn transmit(&mut self, now: Instant) {
        self.out.push_back(frame(DATA, self.next));
        self.transmissions += 1;
        self.deadline = Some(now + self.rto);
    }

    fn start(&mut self, now: Instant) {
        self.transmit(now);
    }

    fn done(&self) -> bool {
        self.next == self.total
    }
}

impl Endpoint for Sender {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        if parse(packet) == Some((ACK, self.next)) && !self.done() {
            self.next += 1;
            self.deadline = None;
            if !self.done() {
                self.transmit(now);
            }
        }
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
    fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| d <= now) {
            self.transmit(now);
        }
    }
}

#[derive(Debug, Default, PartialEq)]
struct Receiver {
    expected: u32,
    accepted_at: Vec<Instant>,
    rejected: u32,
    out: VecDeque<Vec<u8>>,
}

impl Endpoint for Receiver {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        match parse(packet) {
            Some((DATA, seq)) => {
                if seq == self.expected {
                    self.expected += 1;
                    self.accepted_at.push(now);
                }
                self.out.push_back(frame(ACK, seq));
            }
            _ => self.rejected += 1,
        }
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
}

fn hostile() -> LinkConfig {
    LinkConfig::new()
        .delay(Duration::from_millis(5))
        .jitter(Duration::from_millis(2))
        .bandwidth_bps(10_000_000)
        .queue_limit_packets(8)
        .loss(0.1)
        .duplicate(0.05)
        .reorder(0.05)
        .reorder_delay(Duration::from_millis(7))
        .corrupt(0.05)
}

fn transfer(seed: u64) -> Pair<Sender, Receiver> {
    let link = Link::new(seed, hostile()).unwrap();
    let mut pair = Pair::new(Sender::new(300), Receiver::default(), link);
    pair.run_until(Instant::from_millis(3)).unwrap();
    let now = pair.now();
    pair.a.start(now);
    pair.run_until_idle(Instant::from_millis(600_000))
        .expect("stop-and-wait finishes");
    pair
}

#[test]
fn a_whole_run_replays_identically_and_the_seed_matters() {
    let first = transfer(7);
    assert!(first.a.done());
    assert_eq!(first.b.expected, 300);
    // The faults did bite: retransmissions and rejected corrupt frames happened.
    assert!(first.a.transmissions > 300);
    assert!(first.b.rejected > 0);
    for side in [Side::A, Side::B] {
        let stats = first.link.stats(side);
        assert!(
            stats.lost > 0 && stats.duplicated > 0 && stats.reordered > 0 && stats.corrupted > 0
        );
    }

    let again = transfer(7);
    assert_eq!(first.link.events(), again.link.events());
    assert_eq!(first.a, again.a);
    assert_eq!(first.b, again.b);
    assert_eq!(first.now(), again.now());
    for side in [Side::A, Side::B] {
        assert_eq!(first.link.stats(side), again.link.stats(side));
    }

    let other = transfer(8);
    assert!(other.a.done());
    assert_ne!(first.link.events(), other.link.events());
    assert_ne!(first.b.accepted_at, other.b.accepted_at);
}

/// What happened to the packets one side sent, without ids (which interleave across sides).
fn fates_from(events: &[LinkEvent], from: Side) -> Vec<(Instant, Vec<u8>, synack_sim::Fate, bool)> {
    events
        .iter()
        .filter(|e| e.from == from && !matches!(e.fate, synack_sim::Fate::Duplicate { .. }))
        .map(|e| (e.sent_at, e.packet.clone(), e.fate.clone(), e.reordered))
        .collect()
}

#[test]
fn traffic_one_way_does_not_change_fates_the_other_way() {
    let run = |b_talks: bool| {
        let config = LinkConfig::new()
            .delay(Duration::from_millis(3))
            .jitter(Duration::from_millis(1))
            .loss(0.2)
            .duplicate(0.1)
            .corrupt(0.1);
        let link = Link::new(99, config).unwrap();
        let mut a = Scripted::new();
        let mut b = Scripted::new();
        for i in 0..1000u32 {
            a.send_at(
                Instant::from_micros(u64::from(i) * 700),
                common::numbered(i, 64),
            );
            if b_talks {
                b.send_at(
                    Instant::from_micros(u64::from(i) * 300),
                    common::numbered(i, 64),
                );
            }
        }
        let mut pair = Pair::new(a, b, link);
        pair.run_until_idle(Instant::from_millis(60_000)).unwrap();
        pair
    };
    let quiet = run(false);
    let busy = run(true);
    assert_eq!(quiet.link.stats(Side::B).offered, 0);
    assert_eq!(busy.link.stats(Side::B).offered, 1000);
    assert_eq!(
        fates_from(quiet.link.events(), Side::A),
        fates_from(busy.link.events(), Side::A)
    );
    assert_eq!(quiet.b.received(), busy.b.received());
}

#[test]
fn the_two_directions_draw_from_different_streams() {
    // Same configuration, same traffic both ways: the fates must still differ by direction.
    let config = LinkConfig::new().loss(0.5);
    let link = Link::new(4, config).unwrap();
    let mut a = Scripted::new();
    let mut b = Scripted::new();
    for i in 0..200u32 {
        a.send_at(Instant::from_millis(u64::from(i)), common::numbered(i, 8));
        b.send_at(Instant::from_millis(u64::from(i)), common::numbered(i, 8));
    }
    let mut pair = Pair::new(a, b, link);
    pair.run_until_idle(Instant::from_millis(10_000)).unwrap();
    let lost = |from| -> Vec<Instant> {
        fates_from(pair.link.events(), from)
            .into_iter()
            .filter(|(_, _, fate, _)| *fate == synack_sim::Fate::Lost)
            .map(|(at, ..)| at)
            .collect()
    };
    assert!(!lost(Side::A).is_empty());
    assert_ne!(lost(Side::A), lost(Side::B));
}

#[test]
fn fates_of_earlier_packets_do_not_depend_on_the_settings_of_other_faults() {
    // Every packet takes the same draws, so adding duplication keeps exactly the same packets lost.
    let lossy = LinkConfig::new().loss(0.3);
    let plain = common::blast(lossy.clone(), 5, 2000, Duration::from_micros(100), 30);
    let more = common::blast(
        lossy.duplicate(0.5),
        5,
        2000,
        Duration::from_micros(100),
        30,
    );
    let lost = |pair: &common::Scripts| -> Vec<u64> {
        pair.link
            .events()
            .iter()
            .filter(|e| e.fate == synack_sim::Fate::Lost)
            .map(|e| e.sent_at.as_micros())
            .collect()
    };
    assert_eq!(lost(&plain), lost(&more));
    assert!(more.link.stats(Side::A).duplicated > 0);
}
