//! Shared helpers for the simulator's integration tests.
#![allow(dead_code)]

use core::time::Duration;

use synack_sim::endpoints::Scripted;
use synack_sim::{Instant, Link, LinkConfig, Pair, Side};

pub type Scripts = Pair<Scripted, Scripted>;

/// A packet that names its index in the first four bytes and fills the rest with bytes derived
/// from it, so reordering, duplication and corruption are all visible in the payload.
pub fn numbered(index: u32, size: usize) -> Vec<u8> {
    let mut packet = index.to_be_bytes().to_vec();
    packet.extend((4..size).map(|i| (i as u32).wrapping_mul(31).wrapping_add(index) as u8));
    packet.truncate(size.max(4));
    packet
}

pub fn index_of(packet: &[u8]) -> u32 {
    u32::from_be_bytes(packet[..4].try_into().unwrap())
}

/// Sends `count` numbered packets of `size` bytes from A to B, one every `spacing`, starting
/// at zero, and runs until everything has landed.
pub fn blast(config: LinkConfig, seed: u64, count: u32, spacing: Duration, size: usize) -> Scripts {
    let link = Link::new(seed, config).expect("valid config");
    let mut a = Scripted::new();
    for i in 0..count {
        a.send_at(Instant::ZERO + spacing * i, numbered(i, size));
    }
    let mut pair = Pair::new(a, Scripted::new(), link);
    pair.run_until_idle(Instant::from_micros(u64::MAX / 2))
        .expect("a finite script goes idle");
    assert_eq!(pair.link.stats(Side::A).offered, u64::from(count));
    pair
}

/// Fails unless `observed` successes out of `trials` are within five standard deviations of
/// what probability `p` predicts (plus one, for the p = 0 and p = 1 edges).
#[track_caller]
pub fn assert_binomial(what: &str, observed: u64, trials: u64, p: f64) {
    let mean = trials as f64 * p;
    let sd = (trials as f64 * p * (1.0 - p)).sqrt();
    let off = (observed as f64 - mean).abs();
    assert!(
        off <= 5.0 * sd + 1.0,
        "{what}: observed {observed} of {trials}, expected {mean:.1} +- {:.1} (5 sigma)",
        5.0 * sd
    );
}
