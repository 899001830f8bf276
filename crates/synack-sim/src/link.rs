//! A point-to-point link with seeded faults, one independent configuration per direction.
//!
//! Every packet's fate is decided when it is offered: it is either dropped on the spot
//! (partition, full queue, loss) or scheduled for delivery at a computed instant. Deciding up
//! front keeps the model simple and lets taps draw the whole path of a packet at once.

use core::fmt;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use synack_proto::Instant;

use crate::rng::{Draws, SplitMix64, Stream, chance, up_to};
use crate::tap::{Tap, TapEvent};

/// One end of a link. A direction is named by the side that sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub const fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    const fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::A => "A",
            Side::B => "B",
        })
    }
}

/// How one direction of a link treats the packets sent into it.
///
/// The default is a perfect wire: no delay, infinite bandwidth, no faults. Fields can be set
/// directly or with the builder methods of the same name; [`Link`] validates on every change.
///
/// The order in which a packet meets the faults is: partition, then the transmit queue (tail
/// drop), then serialization, then loss on the wire, then delay, jitter, reordering, corruption
/// and duplication.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Minimum one-way propagation delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per packet. Jitter alone never reorders:
    /// a packet never arrives before the one sent ahead of it in the same direction.
    pub jitter: Duration,
    /// Transmitter rate in bits per second; `None` for infinite (no serialization delay). A
    /// packet holds the transmitter for `len * 8 / bandwidth` and later packets queue behind it.
    pub bandwidth_bps: Option<u64>,
    /// Most packets that may wait for the transmitter (the one being serialized is not counted).
    pub queue_limit_packets: Option<usize>,
    /// Most bytes that may wait for the transmitter (the one being serialized is not counted).
    pub queue_limit_bytes: Option<usize>,
    /// Probability that a packet that got onto the wire is lost.
    pub loss: f64,
    /// Probability that a delivered packet is delivered a second time (an uncorrupted copy that
    /// arrives no earlier than the original).
    pub duplicate: f64,
    /// Probability that a packet is held back by an extra [`reorder_delay`](Self::reorder_delay),
    /// letting packets sent after it overtake it.
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Probability that a delivered packet has bits flipped.
    pub corrupt: f64,
    /// A corrupted packet gets between 1 and this many distinct bits flipped (uniformly).
    pub corrupt_max_bits: u32,
    /// While set, every packet sent in this direction is dropped. Packets accepted before the
    /// cut (on the wire or waiting for the transmitter) still arrive.
    pub partitioned: bool,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            bandwidth_bps: None,
            queue_limit_packets: None,
            queue_limit_bytes: None,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
            corrupt: 0.0,
            corrupt_max_bits: 1,
            partitioned: false,
        }
    }
}

macro_rules! builder {
    ($($name:ident: $ty:ty => $value:expr;)*) => {
        $(
            #[doc = concat!("Sets [`", stringify!($name), "`](Self::", stringify!($name), ").")]
            #[must_use]
            pub fn $name(mut self, $name: $ty) -> LinkConfig {
                self.$name = $value;
                self
            }
        )*
    };
}

impl LinkConfig {
    /// A perfect wire; same as `Default`.
    pub fn new() -> LinkConfig {
        LinkConfig::default()
    }

    builder! {
        delay: Duration => delay;
        jitter: Duration => jitter;
        bandwidth_bps: u64 => Some(bandwidth_bps);
        queue_limit_packets: usize => Some(queue_limit_packets);
        queue_limit_bytes: usize => Some(queue_limit_bytes);
        loss: f64 => loss;
        duplicate: f64 => duplicate;
        reorder: f64 => reorder;
        reorder_delay: Duration => reorder_delay;
        corrupt: f64 => corrupt;
        corrupt_max_bits: u32 => corrupt_max_bits;
        partitioned: bool => partitioned;
    }

    /// Checks that every probability is in `[0, 1]`, the bandwidth is not zero and a corruption
    /// flips at least one bit.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("corrupt", self.corrupt),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::Probability { field, value });
            }
        }
        if self.bandwidth_bps == Some(0) {
            return Err(ConfigError::ZeroBandwidth);
        }
        if self.corrupt_max_bits == 0 {
            return Err(ConfigError::ZeroCorruptBits);
        }
        Ok(())
    }
}

/// A [`LinkConfig`] that [`LinkConfig::validate`] rejected.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigError {
    /// A probability outside `[0, 1]`, or NaN.
    Probability { field: &'static str, value: f64 },
    /// `bandwidth_bps` of zero: nothing could ever be sent.
    ZeroBandwidth,
    /// `corrupt_max_bits` of zero: a corrupted packet must differ from the original.
    ZeroCorruptBits,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Probability { field, value } => {
                write!(f, "link {field} probability {value} is not in [0, 1]")
            }
            ConfigError::ZeroBandwidth => f.write_str("link bandwidth of 0 bit/s"),
            ConfigError::ZeroCorruptBits => f.write_str("corrupt_max_bits of 0"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// What became of a packet offered to a link.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Arrives intact at `at`.
    Delivered { at: Instant },
    /// Got onto the wire and vanished.
    Lost,
    /// Dropped at the sender because the transmit queue was full.
    QueueDrop,
    /// Dropped at the sender because the direction was partitioned.
    PartitionDrop,
    /// Arrives at `at` with the bits at these indices flipped (bit `i` is bit `7 - i % 8` of
    /// byte `i / 8`, i.e. counted from the most significant bit, as on the wire). Sorted.
    Corrupted {
        at: Instant,
        flipped_bits: Vec<usize>,
    },
    /// The extra copy made by duplication of event `of`; arrives intact at `at`.
    Duplicate { at: Instant, of: u64 },
}

impl Fate {
    /// When this packet reaches the other side, if it does.
    pub fn arrival(&self) -> Option<Instant> {
        match self {
            Fate::Delivered { at } | Fate::Corrupted { at, .. } | Fate::Duplicate { at, .. } => {
                Some(*at)
            }
            Fate::Lost | Fate::QueueDrop | Fate::PartitionDrop => None,
        }
    }
}

/// One packet on a link, as recorded in the log: every offered packet gets one, and a
/// duplicated packet gets a second one (with [`Fate::Duplicate`]) for the extra copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LinkEvent {
    /// Numbers events of one link from 0 in the order they were created.
    pub id: u64,
    /// When the sender handed the packet to the link.
    pub sent_at: Instant,
    pub from: Side,
    /// The bytes as sent.
    pub packet: Vec<u8>,
    pub fate: Fate,
    /// Held back by the reordering fault.
    pub reordered: bool,
}

/// One line per event, for logs and test failure messages:
/// `1.000250s #17 A->B 60B delivered at 1.010250s (reordered)`.
impl fmt::Display for LinkEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} #{} {}->{} {}B ",
            self.sent_at,
            self.id,
            self.from,
            self.to(),
            self.packet.len()
        )?;
        match &self.fate {
            Fate::Delivered { at } => write!(f, "delivered at {at}")?,
            Fate::Lost => f.write_str("lost")?,
            Fate::QueueDrop => f.write_str("dropped: queue full")?,
            Fate::PartitionDrop => f.write_str("dropped: partitioned")?,
            Fate::Corrupted { at, flipped_bits } => {
                write!(f, "corrupted (bits {flipped_bits:?}) at {at}")?
            }
            Fate::Duplicate { at, of } => write!(f, "copy of #{of} at {at}")?,
        }
        if self.reordered {
            f.write_str(" (reordered)")?;
        }
        Ok(())
    }
}

impl LinkEvent {
    pub fn to(&self) -> Side {
        self.from.other()
    }

    /// The bytes the receiver gets (corruption applied), or `None` if the packet never arrives.
    pub fn delivered_bytes(&self) -> Option<Vec<u8>> {
        match &self.fate {
            Fate::Delivered { .. } | Fate::Duplicate { .. } => Some(self.packet.clone()),
            Fate::Corrupted { flipped_bits, .. } => {
                let mut bytes = self.packet.clone();
                flip_bits(&mut bytes, flipped_bits);
                Some(bytes)
            }
            Fate::Lost | Fate::QueueDrop | Fate::PartitionDrop => None,
        }
    }
}

fn flip_bits(bytes: &mut [u8], bits: &[usize]) {
    for &bit in bits {
        if let Some(byte) = bytes.get_mut(bit / 8) {
            *byte ^= 0x80 >> (bit % 8);
        }
    }
}

/// A packet arriving at one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The [`LinkEvent`] this copy belongs to.
    pub id: u64,
    pub at: Instant,
    pub to: Side,
    /// The bytes as received (corruption applied).
    pub packet: Vec<u8>,
}

/// Counters for one direction. Every offered packet ends up in exactly one of `lost`,
/// `queue_drops`, `partition_drops`, or is (or will be) delivered; `delivered` counts copies
/// that have actually arrived so far, duplicates and corrupted ones included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LinkStats {
    pub offered: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    pub queue_drops: u64,
    pub partition_drops: u64,
    pub bytes_offered: u64,
    pub bytes_delivered: u64,
}

#[derive(Debug)]
struct Direction {
    config: LinkConfig,
    stream: Stream,
    /// Nanoseconds (virtual) at which the transmitter finishes the last accepted packet. Kept
    /// finer than `Instant` so that serialization times do not accumulate rounding.
    tx_free_ns: u128,
    /// Accepted packets that have not started serializing yet: (start in ns, length).
    waiting: VecDeque<(u128, usize)>,
    waiting_bytes: usize,
    /// Latest arrival scheduled in FIFO order; jitter never lets a packet arrive before it.
    last_arrival: Instant,
    last_send: Instant,
    stats: LinkStats,
}

impl Direction {
    fn new(config: LinkConfig, seed: u64, side: Side) -> Direction {
        Direction {
            config,
            stream: Stream::new(seed, side.index() as u64),
            tx_free_ns: 0,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            last_arrival: Instant::ZERO,
            last_send: Instant::ZERO,
            stats: LinkStats::default(),
        }
    }
}

#[derive(Debug)]
struct InFlight {
    id: u64,
    to: Side,
    packet: Vec<u8>,
}

/// A point-to-point link between side A and side B. Feed it with [`send`](Link::send), drain it
/// with [`pop_due`](Link::pop_due); [`Pair`](crate::Pair) does both for two endpoints.
pub struct Link {
    seed: u64,
    dirs: [Direction; 2],
    /// Keyed by (arrival, scheduling order): deliveries at the same instant come out in the order
    /// they were scheduled, across both directions.
    in_flight: BTreeMap<(Instant, u64), InFlight>,
    next_seq: u64,
    next_id: u64,
    /// Sorted by id (events are appended as they are created).
    log: Vec<LinkEvent>,
    logging: bool,
    taps: Vec<Box<dyn Tap>>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("seed", &self.seed)
            .field("a_to_b", &self.dirs[0].config)
            .field("b_to_a", &self.dirs[1].config)
            .field("in_flight", &self.in_flight.len())
            .field("events", &self.log.len())
            .field("taps", &self.taps.len())
            .finish()
    }
}

impl Link {
    /// A link with the same configuration both ways. Each direction draws from its own random
    /// stream derived from `seed`, so traffic one way never changes the fates the other way.
    pub fn new(seed: u64, config: LinkConfig) -> Result<Link, ConfigError> {
        Link::asymmetric(seed, config.clone(), config)
    }

    /// A link with a configuration per direction.
    pub fn asymmetric(
        seed: u64,
        a_to_b: LinkConfig,
        b_to_a: LinkConfig,
    ) -> Result<Link, ConfigError> {
        a_to_b.validate()?;
        b_to_a.validate()?;
        Ok(Link {
            seed,
            dirs: [
                Direction::new(a_to_b, seed, Side::A),
                Direction::new(b_to_a, seed, Side::B),
            ],
            in_flight: BTreeMap::new(),
            next_seq: 0,
            next_id: 0,
            log: Vec::new(),
            logging: true,
            taps: Vec::new(),
        })
    }

    /// The seed the link was made with: print it with a failing run to replay it.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The configuration of the direction that `from` sends into.
    pub fn config(&self, from: Side) -> &LinkConfig {
        &self.dirs[from.index()].config
    }

    /// Replaces the configuration of one direction. Applies to packets sent from now on; packets
    /// in flight keep the fate they were given.
    pub fn set_config(&mut self, from: Side, config: LinkConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.dirs[from.index()].config = config;
        Ok(())
    }

    /// Edits the configuration of one direction in place; the edit is kept only if valid.
    pub fn update_config(
        &mut self,
        from: Side,
        edit: impl FnOnce(&mut LinkConfig),
    ) -> Result<(), ConfigError> {
        let mut config = self.dirs[from.index()].config.clone();
        edit(&mut config);
        self.set_config(from, config)
    }

    /// Cuts (or heals) both directions.
    pub fn set_partitioned(&mut self, partitioned: bool) {
        for dir in &mut self.dirs {
            dir.config.partitioned = partitioned;
        }
    }

    pub fn stats(&self, from: Side) -> &LinkStats {
        &self.dirs[from.index()].stats
    }

    /// Registers an observer of sends and deliveries.
    pub fn add_tap(&mut self, tap: impl Tap + 'static) {
        self.taps.push(Box::new(tap));
    }

    /// Turns the in-memory event log on or off (on by default). Taps are called either way; a
    /// long run that only needs counters or a tap can save the memory.
    pub fn set_logging(&mut self, on: bool) {
        self.logging = on;
    }

    /// Every event so far (since the last [`take_events`](Link::take_events)), in creation order.
    pub fn events(&self) -> &[LinkEvent] {
        &self.log
    }

    /// Empties the log and returns its contents; ids keep counting.
    pub fn take_events(&mut self) -> Vec<LinkEvent> {
        core::mem::take(&mut self.log)
    }

    /// The logged event with this id, if it is in the log.
    pub fn event(&self, id: u64) -> Option<&LinkEvent> {
        let index = self.log.binary_search_by_key(&id, |e| e.id).ok()?;
        self.log.get(index)
    }

    /// Copies scheduled but not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// When the next copy arrives, if any is in flight.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.keys().next().map(|&(at, _)| at)
    }

    /// Offers a packet to the direction that `from` sends into, and decides its fate.
    ///
    /// Time never goes backwards on a link: a `now` earlier than a previous send in the same
    /// direction is treated as that earlier send's time. Returns the id of the packet's event.
    ///
    /// Each call takes the same fixed number of draws from the direction's random stream,
    /// whatever the fate, so the `k`-th packet's luck depends only on the seed and `k`.
    pub fn send(&mut self, now: Instant, from: Side, packet: Vec<u8>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let dir = &mut self.dirs[from.index()];
        let now = now.max(dir.last_send);
        dir.last_send = now;
        let draws = Draws::take(&mut dir.stream);
        let len = packet.len();
        dir.stats.offered += 1;
        dir.stats.bytes_offered += len as u64;

        let mut reordered = false;
        let mut duplicate_at = None;
        let fate = 'fate: {
            if dir.config.partitioned {
                dir.stats.partition_drops += 1;
                break 'fate Fate::PartitionDrop;
            }

            let now_ns = u128::from(now.as_micros()) * 1000;
            while let Some(&(start, bytes)) = dir.waiting.front() {
                if start > now_ns {
                    break;
                }
                dir.waiting.pop_front();
                dir.waiting_bytes -= bytes;
            }
            let start = now_ns.max(dir.tx_free_ns);
            let must_wait = start > now_ns;
            if must_wait {
                let too_many = dir
                    .config
                    .queue_limit_packets
                    .is_some_and(|limit| dir.waiting.len() >= limit);
                let too_big = dir
                    .config
                    .queue_limit_bytes
                    .is_some_and(|limit| dir.waiting_bytes.saturating_add(len) > limit);
                if too_many || too_big {
                    dir.stats.queue_drops += 1;
                    break 'fate Fate::QueueDrop;
                }
                dir.waiting.push_back((start, len));
                dir.waiting_bytes += len;
            }
            let serialization_ns = dir.config.bandwidth_bps.map_or(0, |bps| {
                (len as u128 * 8 * 1_000_000_000).div_ceil(u128::from(bps))
            });
            let finish_ns = start + serialization_ns;
            dir.tx_free_ns = finish_ns;
            let finish =
                Instant::from_micros(u64::try_from(finish_ns.div_ceil(1000)).unwrap_or(u64::MAX));

            if chance(draws.loss, dir.config.loss) {
                dir.stats.lost += 1;
                break 'fate Fate::Lost;
            }

            let jitter_us = micros(dir.config.jitter);
            let propagated = finish + dir.config.delay;
            let mut at = propagated + Duration::from_micros(up_to(draws.jitter, jitter_us));
            if chance(draws.reorder, dir.config.reorder) {
                // Held back outside the FIFO: it neither waits for earlier packets nor holds
                // later ones, which is what lets them overtake it.
                reordered = true;
                dir.stats.reordered += 1;
                at += dir.config.reorder_delay;
            } else {
                at = at.max(dir.last_arrival);
                dir.last_arrival = at;
            }

            if chance(draws.duplicate, dir.config.duplicate) {
                dir.stats.duplicated += 1;
                let copy_at = (propagated
                    + Duration::from_micros(up_to(draws.duplicate_jitter, jitter_us)))
                .max(at);
                if !reordered {
                    dir.last_arrival = dir.last_arrival.max(copy_at);
                }
                duplicate_at = Some(copy_at);
            }

            if len > 0 && chance(draws.corrupt, dir.config.corrupt) {
                dir.stats.corrupted += 1;
                let flipped_bits =
                    pick_bits(draws.corrupt_bits, len * 8, dir.config.corrupt_max_bits);
                break 'fate Fate::Corrupted { at, flipped_bits };
            }
            Fate::Delivered { at }
        };

        let event = LinkEvent {
            id,
            sent_at: now,
            from,
            packet,
            fate,
            reordered,
        };
        if let Some(at) = event.fate.arrival() {
            let bytes = event.delivered_bytes().unwrap_or_default();
            self.schedule(at, id, from.other(), bytes);
        }
        let copy = duplicate_at.map(|at| {
            let copy_id = self.next_id;
            self.next_id += 1;
            self.schedule(at, copy_id, from.other(), event.packet.clone());
            LinkEvent {
                id: copy_id,
                sent_at: now,
                from,
                packet: event.packet.clone(),
                fate: Fate::Duplicate { at, of: id },
                reordered,
            }
        });
        for tap in &mut self.taps {
            tap.observe(TapEvent::Sent(&event));
            if let Some(copy) = &copy {
                tap.observe(TapEvent::Duplicated(copy));
            }
        }
        if self.logging {
            self.log.push(event);
            self.log.extend(copy);
        }
        id
    }

    fn schedule(&mut self, at: Instant, id: u64, to: Side, packet: Vec<u8>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight
            .insert((at, seq), InFlight { id, to, packet });
    }

    /// Takes the earliest copy due at or before `now`, if any, and tells the taps.
    pub fn pop_due(&mut self, now: Instant) -> Option<Delivery> {
        let entry = self.in_flight.first_entry()?;
        let at = entry.key().0;
        if at > now {
            return None;
        }
        let InFlight { id, to, packet } = entry.remove();
        let stats = &mut self.dirs[to.other().index()].stats;
        stats.delivered += 1;
        stats.bytes_delivered += packet.len() as u64;
        let delivery = Delivery { id, at, to, packet };
        for tap in &mut self.taps {
            tap.observe(TapEvent::Delivered(&delivery));
        }
        Some(delivery)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Picks between 1 and `max_bits` distinct bit indices below `total_bits` (which is non-zero),
/// from one draw, so corruption costs the main stream a fixed number of draws.
fn pick_bits(seed: u64, total_bits: usize, max_bits: u32) -> Vec<usize> {
    let mut mix = SplitMix64::new(seed);
    let max = (max_bits as usize).min(total_bits).max(1);
    let count = 1 + mix.below(max as u64) as usize;
    let mut bits = BTreeSet::new();
    while bits.len() < count {
        bits.insert(mix.below(total_bits as u64) as usize);
    }
    bits.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_configs_are_rejected_not_panicked_on() {
        let bad = [
            LinkConfig::new().loss(1.5),
            LinkConfig::new().duplicate(-0.1),
            LinkConfig::new().reorder(f64::NAN),
            LinkConfig::new().bandwidth_bps(0),
            LinkConfig::new().corrupt_max_bits(0),
        ];
        for config in bad {
            assert!(Link::new(1, config.clone()).is_err(), "{config:?}");
        }
        let mut link = Link::new(1, LinkConfig::new()).unwrap();
        assert_eq!(
            link.update_config(Side::A, |c| c.loss = 2.0),
            Err(ConfigError::Probability {
                field: "loss",
                value: 2.0
            })
        );
        assert_eq!(link.config(Side::A).loss, 0.0);
    }

    #[test]
    fn bits_are_distinct_and_in_range() {
        for seed in 0..200 {
            let bits = pick_bits(seed, 16, 16);
            assert!(!bits.is_empty() && bits.len() <= 16);
            assert!(bits.windows(2).all(|w| w[0] < w[1]));
            assert!(bits.iter().all(|&b| b < 16));
        }
        assert_eq!(pick_bits(3, 1, 8), [0]);
    }

    #[test]
    fn flipping_counts_from_the_most_significant_bit() {
        let mut bytes = [0u8, 0];
        flip_bits(&mut bytes, &[0, 15, 99]);
        assert_eq!(bytes, [0x80, 0x01]);
    }

    #[test]
    fn events_are_found_by_id_after_the_log_was_taken_or_paused() {
        let mut link = Link::new(1, LinkConfig::new()).unwrap();
        link.send(Instant::ZERO, Side::A, vec![0]);
        assert_eq!(link.take_events().len(), 1);
        link.set_logging(false);
        link.send(Instant::ZERO, Side::A, vec![1]);
        link.set_logging(true);
        assert_eq!(link.send(Instant::ZERO, Side::B, vec![2]), 2);
        assert_eq!(link.event(2).map(|e| e.packet.clone()), Some(vec![2]));
        assert!(link.event(0).is_none() && link.event(1).is_none());
        assert_eq!(
            link.in_flight(),
            3,
            "logging does not change what is delivered"
        );
    }

    #[test]
    fn events_print_on_one_line() {
        let config = LinkConfig::new()
            .delay(Duration::from_millis(10))
            .reorder(1.0)
            .reorder_delay(Duration::from_millis(1));
        let mut link = Link::new(1, config).unwrap();
        link.send(Instant::from_micros(250), Side::B, vec![0; 60]);
        assert_eq!(
            link.events()[0].to_string(),
            "0.000250s #0 B->A 60B delivered at 0.011250s (reordered)"
        );
        link.set_partitioned(true);
        link.send(Instant::from_micros(300), Side::A, vec![]);
        assert_eq!(
            link.events()[1].to_string(),
            "0.000300s #1 A->B 0B dropped: partitioned"
        );
    }

    #[test]
    fn going_back_in_time_is_clamped() {
        let mut link = Link::new(1, LinkConfig::new().delay(Duration::from_millis(1))).unwrap();
        link.send(Instant::from_millis(10), Side::A, vec![1]);
        link.send(Instant::from_millis(5), Side::A, vec![2]);
        assert_eq!(link.events()[1].sent_at, Instant::from_millis(10));
        assert_eq!(link.next_delivery(), Some(Instant::from_millis(11)));
    }
}
