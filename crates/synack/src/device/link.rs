//! An in-process link: two devices joined back to back, so two stacks in one process talk over
//! real code paths (drivers, sockets, wakeups) without root or a kernel interface. Each
//! direction is a bounded queue with an optional one-way delay; optional seeded loss, jitter
//! and reordering let tests watch recovery work on the real clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Batch, Capabilities, Device};
use crate::sys::EventFd;

/// How the link behaves. The same for both directions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    pub mtu: usize,
    /// Packets a direction holds before it drops new ones (a router's queue limit).
    pub queue_limit: usize,
    /// Probability of losing each packet, in [0, 1].
    pub loss: f64,
    /// Seed of the loss draws; each direction derives its own stream from it.
    pub seed: u64,
    /// One-way propagation delay: a packet sent now is received this much later.
    pub delay: Duration,
    /// Up to this much more delay per packet, uniformly drawn; packets may then overtake
    /// one another, as on a path whose queues vary.
    pub jitter: Duration,
    /// Probability of holding a packet back [`REORDER_HOLD`] longer, in [0, 1], so the ones
    /// sent right after it arrive first.
    pub reorder: f64,
}

/// How much longer a reordered packet is held: enough for the rest of a burst to pass it,
/// short against any retransmission timeout.
pub const REORDER_HOLD: Duration = Duration::from_millis(3);

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            mtu: 1500,
            queue_limit: 4096,
            loss: 0.0,
            seed: 0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
        }
    }
}

impl LinkConfig {
    /// Whether packets wait on the link, so the receiver needs `next_due` to find them.
    fn holds_packets(&self) -> bool {
        !self.delay.is_zero() || !self.jitter.is_zero() || self.reorder > 0.0
    }
}

/// Packets counted per direction.
#[derive(Debug, Default)]
pub struct LinkStats {
    pub sent: AtomicU64,
    pub lost: AtomicU64,
    pub overflowed: AtomicU64,
    /// Held back so later packets overtook them (`LinkConfig::reorder`).
    pub reordered: AtomicU64,
}

/// A packet on the link: when it arrives, then a sending count so packets due at the same
/// instant keep their order.
type InFlight = Reverse<(Instant, u64, Vec<u8>)>;

struct Queue {
    /// Packets by the time they arrive.
    packets: Mutex<BinaryHeap<InFlight>>,
    /// Packets sent on this direction so far, for the tie-break.
    sent: AtomicU64,
    ready: EventFd,
    stats: LinkStats,
}

/// A pair of connected [`LinkEnd`]s.
pub struct Link;

impl Link {
    /// Two joined ends; a probability outside [0, 1] is refused as `InvalidInput`.
    pub fn pair(config: LinkConfig) -> io::Result<(LinkEnd, LinkEnd)> {
        for (name, p) in [("loss", config.loss), ("reorder", config.reorder)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("link {name} {p} is not a probability from 0 to 1"),
                ));
            }
        }
        let a_to_b = Arc::new(Queue::new()?);
        let b_to_a = Arc::new(Queue::new()?);
        let a = LinkEnd {
            rx: b_to_a.clone(),
            tx: a_to_b.clone(),
            config,
            rng: config.seed ^ 0xa5a5_a5a5_a5a5_a5a5,
        };
        let b = LinkEnd {
            rx: a_to_b,
            tx: b_to_a,
            config,
            rng: config.seed ^ 0x5a5a_5a5a_5a5a_5a5a,
        };
        Ok((a, b))
    }
}

impl Queue {
    fn new() -> io::Result<Queue> {
        Ok(Queue {
            packets: Mutex::new(BinaryHeap::new()),
            sent: AtomicU64::new(0),
            ready: EventFd::new()?,
            stats: LinkStats::default(),
        })
    }
}

/// One end of an in-process link.
pub struct LinkEnd {
    rx: Arc<Queue>,
    tx: Arc<Queue>,
    config: LinkConfig,
    rng: u64,
}

impl LinkEnd {
    /// Counters of the direction this end sends on.
    pub fn sent_stats(&self) -> &LinkStats {
        &self.tx.stats
    }

    /// SplitMix64: enough for loss draws, and seeded so a lossy run can be repeated.
    fn next_random(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Device for LinkEnd {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mtu: self.config.mtu,
            checksum_offload: false,
            segmentation_offload: false,
        }
    }

    fn poll_fd(&self) -> RawFd {
        self.rx.ready.as_raw_fd()
    }

    fn recv(&mut self, batch: &mut Batch) -> io::Result<()> {
        self.rx.ready.clear();
        let now = Instant::now();
        let mut q = self.rx.packets.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(buf) = batch.next_buf() {
            match q.peek() {
                Some(Reverse((due, _, _))) if *due <= now => {}
                _ => break,
            }
            let Some(Reverse((_, _, p))) = q.pop() else {
                break;
            };
            let n = p.len().min(buf.len());
            buf[..n].copy_from_slice(&p[..n]);
            batch.commit(n);
        }
        if q.peek().is_some_and(|Reverse((due, _, _))| *due <= now) {
            // The batch filled first: stay readable for the rest. Packets not yet due are
            // announced by `next_due` instead.
            self.rx.ready.signal();
        }
        Ok(())
    }

    fn next_due(&self) -> Option<Instant> {
        if !self.config.holds_packets() {
            return None;
        }
        let q = self.rx.packets.lock().unwrap_or_else(|p| p.into_inner());
        q.peek().map(|Reverse((due, _, _))| *due)
    }

    fn send(&mut self, batch: &Batch) -> io::Result<()> {
        let mut kept = Vec::with_capacity(batch.len());
        for p in batch.iter() {
            self.tx.stats.sent.fetch_add(1, Ordering::Relaxed);
            if p.len() > self.config.mtu {
                self.tx.stats.lost.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if self.config.loss > 0.0 && self.next_random() < self.config.loss {
                self.tx.stats.lost.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let mut wait = self.config.delay;
            if !self.config.jitter.is_zero() {
                wait += self.config.jitter.mul_f64(self.next_random());
            }
            if self.config.reorder > 0.0 && self.next_random() < self.config.reorder {
                self.tx.stats.reordered.fetch_add(1, Ordering::Relaxed);
                wait += REORDER_HOLD;
            }
            kept.push((wait, p.to_vec()));
        }
        if kept.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let mut q = self.tx.packets.lock().unwrap_or_else(|p| p.into_inner());
        let head = |q: &BinaryHeap<InFlight>| q.peek().map(|Reverse((due, _, _))| *due);
        let head_before = head(&q);
        for (wait, p) in kept {
            if q.len() >= self.config.queue_limit {
                self.tx.stats.overflowed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let n = self.tx.sent.fetch_add(1, Ordering::Relaxed);
            q.push(Reverse((now + wait, n, p)));
        }
        let head_after = head(&q);
        drop(q);
        // With a delay the receiver learns of the packets from `next_due`: wake it so it
        // asks again when the first packet due changed (it may be asleep without a
        // deadline, or with a later one than a jittered packet now needs).
        if head_after != head_before {
            self.tx.ready.signal();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `count` numbered packets from one end and collects them at the other, in the
    /// order they arrive, waiting for each packet's due time.
    fn carry(config: LinkConfig, count: u32) -> (Vec<u32>, LinkStats) {
        let (mut a, mut b) = Link::pair(config).unwrap();
        let mut out = Batch::new(count as usize, 64);
        for i in 0..count {
            let buf = out.next_buf().unwrap();
            buf[..4].copy_from_slice(&i.to_be_bytes());
            out.commit(4);
        }
        a.send(&out).unwrap();
        let mut got = Vec::new();
        let mut batch = Batch::new(64, 64);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            batch.clear();
            b.recv(&mut batch).unwrap();
            got.extend(
                batch
                    .iter()
                    .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]])),
            );
            let stats = a.sent_stats();
            let delivered = stats.sent.load(Ordering::Relaxed)
                - stats.lost.load(Ordering::Relaxed)
                - stats.overflowed.load(Ordering::Relaxed);
            if got.len() as u64 == delivered {
                break;
            }
            // Without a due time the rest is ready now (the batch filled first).
            if let Some(due) = b.next_due() {
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        }
        let stats = LinkStats {
            sent: a.sent_stats().sent.load(Ordering::Relaxed).into(),
            lost: a.sent_stats().lost.load(Ordering::Relaxed).into(),
            overflowed: a.sent_stats().overflowed.load(Ordering::Relaxed).into(),
            reordered: a.sent_stats().reordered.load(Ordering::Relaxed).into(),
        };
        (got, stats)
    }

    #[test]
    fn reordering_lets_later_packets_overtake_and_loses_none() {
        let config = LinkConfig {
            reorder: 0.2,
            seed: 3,
            ..LinkConfig::default()
        };
        let (got, stats) = carry(config, 300);
        let held = stats.reordered.load(Ordering::Relaxed);
        assert!((30..90).contains(&held), "{held} of 300 held back");
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..300).collect::<Vec<_>>(),
            "a packet lost or doubled"
        );
        assert_ne!(got, sorted, "nothing overtook");
        // The same seed, the same order.
        assert_eq!(carry(config, 300).0, got);
    }

    #[test]
    fn jitter_spreads_arrivals_over_its_range() {
        let config = LinkConfig {
            delay: Duration::from_millis(1),
            jitter: Duration::from_millis(20),
            seed: 8,
            ..LinkConfig::default()
        };
        let started = Instant::now();
        let (got, _) = carry(config, 200);
        assert_eq!(got.len(), 200);
        assert!(started.elapsed() >= Duration::from_millis(15));
        assert!(got.windows(2).any(|w| w[0] > w[1]), "no packet overtook");
    }

    #[test]
    fn no_faults_keep_the_order() {
        let (got, stats) = carry(LinkConfig::default(), 100);
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(stats.reordered.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn probabilities_outside_zero_to_one_are_refused() {
        for config in [
            LinkConfig {
                loss: 1.5,
                ..LinkConfig::default()
            },
            LinkConfig {
                reorder: -0.1,
                ..LinkConfig::default()
            },
            LinkConfig {
                reorder: f64::NAN,
                ..LinkConfig::default()
            },
        ] {
            let err = Link::pair(config).err().expect("refused");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
