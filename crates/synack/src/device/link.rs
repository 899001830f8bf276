//! An in-process link: two devices joined back to back, so two stacks in one process talk over
//! real code paths (drivers, sockets, wakeups) without root or a kernel interface. Each
//! direction is a bounded queue with an optional one-way delay; optional seeded loss lets
//! tests watch retransmission work on the real clock.

use std::collections::VecDeque;
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
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            mtu: 1500,
            queue_limit: 4096,
            loss: 0.0,
            seed: 0,
            delay: Duration::ZERO,
        }
    }
}

/// Packets counted per direction.
#[derive(Debug, Default)]
pub struct LinkStats {
    pub sent: AtomicU64,
    pub lost: AtomicU64,
    pub overflowed: AtomicU64,
}

struct Queue {
    /// Packets with the time they arrive, in that order (one delay for all keeps it sorted).
    packets: Mutex<VecDeque<(Instant, Vec<u8>)>>,
    ready: EventFd,
    stats: LinkStats,
}

/// A pair of connected [`LinkEnd`]s.
pub struct Link;

impl Link {
    pub fn pair(config: LinkConfig) -> io::Result<(LinkEnd, LinkEnd)> {
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
            packets: Mutex::new(VecDeque::new()),
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
            match q.front() {
                Some((due, _)) if *due <= now => {}
                _ => break,
            }
            let Some((_, p)) = q.pop_front() else { break };
            let n = p.len().min(buf.len());
            buf[..n].copy_from_slice(&p[..n]);
            batch.commit(n);
        }
        if q.front().is_some_and(|(due, _)| *due <= now) {
            // The batch filled first: stay readable for the rest. Packets not yet due are
            // announced by `next_due` instead.
            self.rx.ready.signal();
        }
        Ok(())
    }

    fn next_due(&self) -> Option<Instant> {
        if self.config.delay.is_zero() {
            return None;
        }
        let q = self.rx.packets.lock().unwrap_or_else(|p| p.into_inner());
        q.front().map(|(due, _)| *due)
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
            kept.push(p.to_vec());
        }
        if kept.is_empty() {
            return Ok(());
        }
        let due = Instant::now() + self.config.delay;
        let mut q = self.tx.packets.lock().unwrap_or_else(|p| p.into_inner());
        let was_empty = q.is_empty();
        for p in kept {
            if q.len() >= self.config.queue_limit {
                self.tx.stats.overflowed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            q.push_back((due, p));
        }
        drop(q);
        // With a delay the receiver learns of the packets from `next_due`: wake it so it
        // asks (it may be asleep without a deadline).
        if was_empty {
            self.tx.ready.signal();
        }
        Ok(())
    }
}
