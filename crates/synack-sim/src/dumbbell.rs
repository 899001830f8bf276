//! A dumbbell: K sender/receiver pairs whose traffic shares one bottleneck link.
//!
//! ```text
//! sender 0 ──access 0──┐                          ┌── receiver 0
//! sender 1 ──access 1──┤ left ══ bottleneck ══ right ├── receiver 1
//!    …                 │ switch                switch │     …
//! ```
//!
//! Each sender reaches the left switch over its own access link, which carries the flow's
//! whole propagation delay (half its round trip each way) and nothing else, so flows may have
//! different round-trip times. The switches forward a packet the instant it arrives, by its
//! destination address. The bottleneck has the given bandwidth both ways and a drop-tail queue
//! counted in bytes (by default one bandwidth-delay product at the longest round trip, the
//! classic rule of thumb for a single flow to keep the link busy through a halving). Random
//! loss, drawn from the seed, hits the data direction (senders to receivers) only, so ACKs are
//! lost only to a full queue.
//!
//! Like [`Pair`](crate::Pair), a run is a pure function of the endpoints, the configuration
//! and the seed: events at one instant run in a fixed order (bottleneck arrivals, access-link
//! arrivals by flow, senders' timers by flow, receivers' timers by flow).

use core::fmt;
use core::time::Duration;
use std::collections::BTreeMap;
use std::net::IpAddr;

use synack_proto::Instant;
use synack_wire::{Ipv4Packet, Ipv6Packet};

use crate::endpoint::Endpoint;
use crate::link::{ConfigError, Link, LinkConfig, Side};
use crate::pair::{DEFAULT_LIVELOCK_LIMIT, SimError};

/// How many packets one endpoint may emit in a single drain (see [`Pair`](crate::Pair)).
const MAX_TRANSMITS_PER_DRAIN: usize = 100_000;

/// Most flows a dumbbell takes: enough for any fairness experiment, and it keeps the
/// per-event scan over the flows cheap.
pub const MAX_FLOWS: usize = 256;

/// The shared part of a dumbbell.
#[derive(Clone, Debug, PartialEq)]
pub struct DumbbellConfig {
    /// The bottleneck's rate in bits per second, both ways.
    pub bandwidth_bps: u64,
    /// Most bytes that may wait for the bottleneck's transmitter, per direction; `None` for
    /// one bandwidth-delay product at the longest round trip.
    pub queue_bytes: Option<usize>,
    /// Probability that a packet from a sender is lost on the bottleneck.
    pub loss: f64,
    pub seed: u64,
}

/// One flow: its two endpoints, their addresses and the round trip between them (before
/// queueing and serialization).
pub struct FlowEnds<E> {
    pub sender: E,
    pub sender_addr: IpAddr,
    pub receiver: E,
    pub receiver_addr: IpAddr,
    pub rtt: Duration,
}

/// Why a dumbbell could not be built.
#[derive(Clone, Debug, PartialEq)]
pub enum DumbbellError {
    NoFlows,
    TooManyFlows(usize),
    /// Two endpoints share an address: the switches could not tell them apart.
    DuplicateAddress(IpAddr),
    /// A bottleneck of zero bandwidth, or a loss outside `[0, 1]`.
    Link(ConfigError),
}

impl fmt::Display for DumbbellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumbbellError::NoFlows => f.write_str("a dumbbell needs at least one flow"),
            DumbbellError::TooManyFlows(n) => {
                write!(f, "{n} flows; a dumbbell takes at most {MAX_FLOWS}")
            }
            DumbbellError::DuplicateAddress(a) => write!(f, "address {a} is used twice"),
            DumbbellError::Link(e) => write!(f, "bottleneck: {e}"),
        }
    }
}

impl std::error::Error for DumbbellError {}

impl From<ConfigError> for DumbbellError {
    fn from(e: ConfigError) -> DumbbellError {
        DumbbellError::Link(e)
    }
}

/// What happens next; the derived order is the tie-break at equal times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    Bottleneck,
    Access(usize),
    SenderTimer(usize),
    ReceiverTimer(usize),
}

/// K flows over one shared bottleneck. Side A of the bottleneck is the left switch (the
/// senders' side); side A of each access link is its sender.
pub struct Dumbbell<E> {
    pub senders: Vec<E>,
    pub receivers: Vec<E>,
    pub access: Vec<Link>,
    pub bottleneck: Link,
    pub rtts: Vec<Duration>,
    /// The queue limit in force, in bytes.
    pub queue_bytes: usize,
    /// Packets a switch dropped because no endpoint has their destination address.
    pub unroutable: u64,
    senders_by_addr: BTreeMap<IpAddr, usize>,
    receivers_by_addr: BTreeMap<IpAddr, usize>,
    now: Instant,
    steps_at_now: u64,
    livelock_limit: u64,
}

/// One bandwidth-delay product in bytes.
pub fn bdp_bytes(bandwidth_bps: u64, rtt: Duration) -> usize {
    let bytes = u128::from(bandwidth_bps) * rtt.as_nanos() / 8 / 1_000_000_000;
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

impl<E: Endpoint> Dumbbell<E> {
    /// Builds the topology with the clock at zero. The links keep no event log (a long run
    /// would hold every packet); turn it on per link with `set_logging` if needed.
    pub fn new(config: &DumbbellConfig, flows: Vec<FlowEnds<E>>) -> Result<Self, DumbbellError> {
        if flows.is_empty() {
            return Err(DumbbellError::NoFlows);
        }
        if flows.len() > MAX_FLOWS {
            return Err(DumbbellError::TooManyFlows(flows.len()));
        }
        let longest = flows.iter().map(|f| f.rtt).max().unwrap_or_default();
        let queue_bytes = config
            .queue_bytes
            .unwrap_or_else(|| bdp_bytes(config.bandwidth_bps, longest));
        let wire = LinkConfig::new()
            .bandwidth_bps(config.bandwidth_bps)
            .queue_limit_bytes(queue_bytes);
        let mut bottleneck = Link::asymmetric(config.seed, wire.clone().loss(config.loss), wire)?;
        bottleneck.set_logging(false);

        let mut senders_by_addr = BTreeMap::new();
        let mut receivers_by_addr = BTreeMap::new();
        let (mut senders, mut receivers, mut access, mut rtts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, flow) in flows.into_iter().enumerate() {
            for addr in [flow.sender_addr, flow.receiver_addr] {
                if senders_by_addr.contains_key(&addr) || receivers_by_addr.contains_key(&addr) {
                    return Err(DumbbellError::DuplicateAddress(addr));
                }
            }
            if flow.sender_addr == flow.receiver_addr {
                return Err(DumbbellError::DuplicateAddress(flow.sender_addr));
            }
            senders_by_addr.insert(flow.sender_addr, i);
            receivers_by_addr.insert(flow.receiver_addr, i);
            // The access links draw no randomness; distinct seeds keep that true should they
            // ever get faults.
            let mut link = Link::new(
                config.seed.wrapping_add(1 + i as u64),
                LinkConfig::new().delay(flow.rtt / 2),
            )?;
            link.set_logging(false);
            access.push(link);
            senders.push(flow.sender);
            receivers.push(flow.receiver);
            rtts.push(flow.rtt);
        }
        Ok(Dumbbell {
            senders,
            receivers,
            access,
            bottleneck,
            rtts,
            queue_bytes,
            unroutable: 0,
            senders_by_addr,
            receivers_by_addr,
            now: Instant::ZERO,
            steps_at_now: 0,
            livelock_limit: DEFAULT_LIVELOCK_LIMIT,
        })
    }

    pub fn flows(&self) -> usize {
        self.senders.len()
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Sends whatever any endpoint has queued (after a harness reached into one).
    pub fn flush(&mut self) {
        for i in 0..self.flows() {
            self.drain_sender(i);
            self.drain_receiver(i);
        }
    }

    fn drain_sender(&mut self, i: usize) {
        let mut n = 0;
        while n < MAX_TRANSMITS_PER_DRAIN {
            let Some(packet) = self.senders[i].poll_transmit(self.now) else {
                return;
            };
            self.access[i].send(self.now, Side::A, packet);
            n += 1;
        }
        self.steps_at_now += 1;
    }

    fn drain_receiver(&mut self, i: usize) {
        let mut n = 0;
        while n < MAX_TRANSMITS_PER_DRAIN {
            let Some(packet) = self.receivers[i].poll_transmit(self.now) else {
                return;
            };
            self.bottleneck.send(self.now, Side::B, packet);
            n += 1;
        }
        self.steps_at_now += 1;
    }

    fn peek(&self) -> Option<(Instant, Next)> {
        let mut best: Option<(Instant, Next)> = None;
        let mut consider = |at: Option<Instant>, next: Next| {
            if let Some(at) = at {
                let candidate = (at.max(self.now), next);
                if best.is_none_or(|b| candidate < b) {
                    best = Some(candidate);
                }
            }
        };
        consider(self.bottleneck.next_delivery(), Next::Bottleneck);
        for (i, link) in self.access.iter().enumerate() {
            consider(link.next_delivery(), Next::Access(i));
        }
        for (i, s) in self.senders.iter().enumerate() {
            consider(s.poll_timeout(), Next::SenderTimer(i));
        }
        for (i, r) in self.receivers.iter().enumerate() {
            consider(r.poll_timeout(), Next::ReceiverTimer(i));
        }
        best
    }

    fn perform(&mut self, at: Instant, next: Next) {
        if at > self.now {
            self.now = at;
            self.steps_at_now = 0;
        } else {
            self.steps_at_now += 1;
        }
        let now = self.now;
        match next {
            Next::Bottleneck => {
                let Some(d) = self.bottleneck.pop_due(now) else {
                    return;
                };
                match d.to {
                    // Right switch: hand it to its receiver.
                    Side::B => match self.route(&d.packet, Side::B) {
                        Some(j) => {
                            self.receivers[j].handle_packet(now, &d.packet);
                            self.drain_receiver(j);
                        }
                        None => self.unroutable += 1,
                    },
                    // Left switch: on down the sender's access link.
                    Side::A => match self.route(&d.packet, Side::A) {
                        Some(j) => {
                            self.access[j].send(now, Side::B, d.packet);
                        }
                        None => self.unroutable += 1,
                    },
                }
            }
            Next::Access(i) => {
                let Some(d) = self.access[i].pop_due(now) else {
                    return;
                };
                match d.to {
                    Side::B => {
                        self.bottleneck.send(now, Side::A, d.packet);
                    }
                    Side::A => {
                        self.senders[i].handle_packet(now, &d.packet);
                        self.drain_sender(i);
                    }
                }
            }
            Next::SenderTimer(i) => {
                self.senders[i].handle_timeout(now);
                self.drain_sender(i);
            }
            Next::ReceiverTimer(i) => {
                self.receivers[i].handle_timeout(now);
                self.drain_receiver(i);
            }
        }
    }

    /// The flow whose endpoint on `side` (A: senders, B: receivers) has the packet's
    /// destination address.
    fn route(&self, packet: &[u8], side: Side) -> Option<usize> {
        let dst = destination(packet)?;
        match side {
            Side::A => self.senders_by_addr.get(&dst).copied(),
            Side::B => self.receivers_by_addr.get(&dst).copied(),
        }
    }

    /// Handles the next event; `false` when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        self.flush();
        match self.peek() {
            Some((at, next)) => {
                self.perform(at, next);
                true
            }
            None => false,
        }
    }

    /// Runs every event due at or before `deadline`, then sets the clock to `deadline`.
    pub fn run_until(&mut self, deadline: Instant) -> Result<(), SimError> {
        self.flush();
        loop {
            if self.steps_at_now > self.livelock_limit {
                return Err(SimError::Livelock {
                    at: self.now,
                    steps: self.steps_at_now,
                });
            }
            match self.peek() {
                Some((at, next)) if at <= deadline => self.perform(at, next),
                _ => break,
            }
        }
        if deadline > self.now {
            self.now = deadline;
            self.steps_at_now = 0;
        }
        Ok(())
    }

    /// Runs in steps of `tick` until `done` holds (checked between ticks) or `limit` is
    /// reached; returns whether `done` held. Every run is bounded in virtual time.
    pub fn run_until_done(
        &mut self,
        tick: Duration,
        limit: Instant,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<bool, SimError> {
        let tick = tick.max(Duration::from_micros(1));
        while !done(self) {
            if self.now >= limit {
                return Ok(false);
            }
            let next = (self.now + tick).min(limit);
            self.run_until(next)?;
        }
        Ok(true)
    }
}

/// The destination address of an IPv4 or IPv6 packet.
fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => Ipv4Packet::new_checked(packet)
            .ok()
            .map(|p| IpAddr::V4(p.dst_addr())),
        6 => Ipv6Packet::new_checked(packet)
            .ok()
            .map(|p| IpAddr::V6(p.dst_addr())),
        _ => None,
    }
}

/// Jain's fairness index of `shares` (R. Jain, D. Chiu, W. Hawe, DEC-TR-301, 1984):
/// (Σx)² / (n·Σx²), 1 when all are equal, 1/n when one takes everything. 1 for no shares or
/// all zero, since nobody then has more than anyone else.
pub fn jain_index(shares: &[f64]) -> f64 {
    let sum: f64 = shares.iter().sum();
    let squares: f64 = shares.iter().map(|x| x * x).sum();
    if shares.is_empty() || squares == 0.0 {
        return 1.0;
    }
    sum * sum / (shares.len() as f64 * squares)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_is_one_for_equal_shares_and_one_over_n_for_a_hog() {
        assert!((jain_index(&[3.0, 3.0, 3.0]) - 1.0).abs() < 1e-12);
        assert!((jain_index(&[5.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
        assert!((jain_index(&[1.0, 2.0]) - 0.9).abs() < 1e-12);
        assert_eq!(jain_index(&[]), 1.0);
    }

    #[test]
    fn a_bdp_at_100_mbit_and_50_ms_is_625_kb() {
        assert_eq!(bdp_bytes(100_000_000, Duration::from_millis(50)), 625_000);
    }

    #[test]
    fn destinations_are_read_from_either_ip_version() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[3] = 20;
        v4[16..20].copy_from_slice(&[10, 0, 2, 7]);
        assert_eq!(destination(&v4), Some(IpAddr::from([10, 0, 2, 7])));
        assert_eq!(destination(&[]), None);
        assert_eq!(destination(&[0x45, 0, 0]), None);
    }
}
