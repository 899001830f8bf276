//! The bulk scenario: K flows, each a real synack connection moving the same number of bytes,
//! share one bottleneck link of the simulator (`synack_sim::Dumbbell`). What comes out is a
//! measurement, not a ladder: per flow its goodput and how its sender recovered from losses,
//! the total, and Jain's fairness index over the flows; `plot.rs` draws each sender's cwnd.

pub mod plot;
pub mod report;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::Serialize;
use synack_proto::{Config, CongestionControl, CongestionSettings, Connection, Instant};
use synack_sim::dumbbell::{MAX_FLOWS, bdp_bytes};
use synack_sim::{BulkNode, CwndSample, Dumbbell, DumbbellConfig, FlowEnds, Side, jain_index};

/// Most flows the demo runs (the simulator takes more; the table would not fit).
pub const MAX_DEMO_FLOWS: usize = 64;
/// Fastest bottleneck the demo simulates, in Mbit/s.
pub const MAX_BANDWIDTH_MBIT: f64 = 10_000.0;
/// Most bytes all flows together may move: the simulation costs real CPU time per packet.
pub const MAX_TOTAL_BYTES: u64 = 4 << 30;
/// Longest a run may last in virtual time, whatever the loss does to it.
pub const MAX_VIRTUAL_TIME: Duration = Duration::from_secs(3600);

/// What the user asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkParams {
    /// Bytes each flow moves.
    pub bytes: u64,
    pub flows: usize,
    /// Round trip of every flow, before queueing...
    pub rtt: Duration,
    /// ...unless each flow has its own here (one per flow).
    pub flow_rtts: Vec<Duration>,
    /// Random loss on the bottleneck, senders to receivers.
    pub loss: f64,
    pub bandwidth_mbit: f64,
    /// The bottleneck's queue in bytes; `None` for one bandwidth-delay product.
    pub queue: Option<usize>,
    pub cc: CongestionControl,
    pub seed: u64,
}

impl Default for BulkParams {
    fn default() -> BulkParams {
        BulkParams {
            bytes: 10 << 20,
            flows: 2,
            rtt: Duration::from_millis(20),
            flow_rtts: Vec::new(),
            loss: 0.0,
            bandwidth_mbit: 100.0,
            queue: None,
            cc: CongestionControl::Cubic,
            seed: 1,
        }
    }
}

impl BulkParams {
    /// The reason these parameters cannot run, in terms of the command-line options.
    pub fn check(&self) -> Result<(), String> {
        if self.flows == 0 || self.flows > MAX_DEMO_FLOWS {
            return Err(format!(
                "--flows {} is out of range: give 1 to {MAX_DEMO_FLOWS} flows",
                self.flows
            ));
        }
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(format!(
                "--loss {} is not a probability: give a number from 0 to 1 (0.01 is 1 %)",
                self.loss
            ));
        }
        if self.loss >= 1.0 {
            return Err("--loss 1 would lose every data segment; nothing could ever arrive".into());
        }
        if !(self.bandwidth_mbit > 0.0 && self.bandwidth_mbit <= MAX_BANDWIDTH_MBIT) {
            return Err(format!(
                "--bandwidth {} Mbit/s is out of range: give more than 0 and at most \
                 {MAX_BANDWIDTH_MBIT} Mbit/s",
                self.bandwidth_mbit
            ));
        }
        if self.bandwidth_bps() < 8 * 1500 {
            return Err(format!(
                "--bandwidth {} Mbit/s is below one full-sized packet per second",
                self.bandwidth_mbit
            ));
        }
        if !self.flow_rtts.is_empty() && self.flow_rtts.len() != self.flows {
            return Err(format!(
                "--flow-rtts gives {} round trips for {} flows: give one per flow",
                self.flow_rtts.len(),
                self.flows
            ));
        }
        for (flag, rtt) in std::iter::once(("--rtt", self.rtt))
            .chain(self.flow_rtts.iter().map(|&r| ("--flow-rtts", r)))
        {
            if rtt.is_zero() || rtt > crate::scenario::MAX_RTT {
                return Err(format!(
                    "{flag} {} ms is out of range: give 1 to {} ms",
                    rtt.as_millis(),
                    crate::scenario::MAX_RTT.as_millis()
                ));
            }
        }
        if self.bytes == 0 {
            return Err("--bytes 0: each flow must move at least one byte".into());
        }
        let total = self.bytes.saturating_mul(self.flows as u64);
        if total > MAX_TOTAL_BYTES {
            return Err(format!(
                "--bytes {} × --flows {} is {total} bytes; the demo simulates at most {} GiB in \
                 all",
                self.bytes,
                self.flows,
                MAX_TOTAL_BYTES >> 30
            ));
        }
        Ok(())
    }

    /// The round trip of flow `i` (from 0).
    pub fn rtt_of(&self, i: usize) -> Duration {
        self.flow_rtts.get(i).copied().unwrap_or(self.rtt)
    }

    pub fn longest_rtt(&self) -> Duration {
        (0..self.flows)
            .map(|i| self.rtt_of(i))
            .max()
            .unwrap_or(self.rtt)
    }

    pub fn bandwidth_bps(&self) -> u64 {
        (self.bandwidth_mbit * 1e6) as u64
    }

    /// The queue in force: the one asked for, or one bandwidth-delay product at the longest
    /// round trip.
    pub fn queue_bytes(&self) -> usize {
        self.queue
            .unwrap_or_else(|| bdp_bytes(self.bandwidth_bps(), self.longest_rtt()))
    }

    /// How long the run may take in virtual time: fifty times what the link needs for all
    /// the bytes plus ten minutes, at most an hour. Enough for heavy loss to show, finite always.
    pub fn time_limit(&self) -> Duration {
        let bits = self.bytes as f64 * self.flows as f64 * 8.0;
        let ideal = Duration::from_secs_f64(bits / self.bandwidth_bps() as f64);
        (ideal * 50 + Duration::from_secs(600) + self.longest_rtt() * 100).min(MAX_VIRTUAL_TIME)
    }
}

/// One flow's figures.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FlowResult {
    /// Counted from 1, as the table shows it.
    pub flow: usize,
    /// The flow's round trip before queueing.
    pub rtt_us: u64,
    pub bytes: u64,
    /// Bytes the receiving application read.
    pub bytes_read: u64,
    /// Bits read per second, from the SYN to the last byte read.
    pub goodput_bps: f64,
    /// Segments sent again.
    pub retransmissions: u64,
    /// Entries into fast recovery (RFC 5681 §3.2, RFC 6675).
    pub fast_recoveries: u64,
    /// Retransmission timeouts (RFC 6298).
    pub rtos: u64,
    pub tail_loss_probes: u64,
    pub duration_us: u64,
    /// Every byte arrived, in order, exactly once, as written.
    pub finished: bool,
    pub intact: bool,
}

/// The figures of all flows together.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Total {
    pub flows: usize,
    pub bytes_read: u64,
    /// All bytes read, over the time until the last flow finished.
    pub goodput_bps: f64,
    pub link_bps: u64,
    pub retransmissions: u64,
    pub fast_recoveries: u64,
    pub rtos: u64,
    pub tail_loss_probes: u64,
    /// Jain's index over the flows' goodputs: 1 when equal, 1/K when one flow has it all.
    pub jain_index: f64,
    /// Packets the bottleneck dropped at its full queue (both directions) and at random.
    pub queue_drops: u64,
    pub random_losses: u64,
    pub queue_bytes: usize,
    pub duration_us: u64,
    pub finished: bool,
}

/// A finished run.
pub struct BulkRun {
    pub params: BulkParams,
    pub flows: Vec<FlowResult>,
    pub total: Total,
    /// Each sender's cwnd, ssthresh and phase whenever one of them changed.
    pub cwnd: Vec<Vec<CwndSample>>,
    pub end: Instant,
}

fn sender_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250) as u8 + 1))
}

fn receiver_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 2, (i / 250) as u8, (i % 250) as u8 + 1))
}

/// Runs the scenario to the end of every transfer or to the time limit.
pub fn run(params: &BulkParams) -> Result<BulkRun, String> {
    params.check()?;
    debug_assert!(params.flows <= MAX_FLOWS);
    let config = Config {
        congestion: CongestionSettings {
            controller: params.cc,
            ..CongestionSettings::default()
        },
        ..Config::default()
    };
    let ends = (0..params.flows)
        .map(|i| {
            // Distinct initial sequence numbers and streams per flow, all from the seed.
            let iss = (params.seed as u32)
                .wrapping_mul(0x9E37_79B9)
                .wrapping_add(i as u32 * 7919);
            let salt = params.seed.rotate_left(17) ^ i as u64;
            let port = 40000 + i as u16;
            FlowEnds {
                sender: BulkNode::sender(
                    Connection::connect(&config, port, 5001, iss),
                    sender_ip(i),
                    receiver_ip(i),
                    params.bytes,
                    salt,
                )
                .tracing_cwnd(),
                sender_addr: sender_ip(i),
                receiver: BulkNode::receiver(
                    Connection::listen(&config, 5001, iss.rotate_left(16)),
                    receiver_ip(i),
                    sender_ip(i),
                    params.bytes,
                    salt,
                ),
                receiver_addr: receiver_ip(i),
                rtt: params.rtt_of(i),
            }
        })
        .collect();
    let shared = DumbbellConfig {
        bandwidth_bps: params.bandwidth_bps(),
        queue_bytes: Some(params.queue_bytes()),
        loss: params.loss,
        seed: params.seed,
    };
    let mut db = Dumbbell::new(&shared, ends).map_err(|e| e.to_string())?;
    let limit = Instant::ZERO + params.time_limit();
    db.run_until_done(Duration::from_millis(10), limit, |d| {
        d.receivers.iter().all(BulkNode::is_done)
    })
    .map_err(|e| format!("the simulation stopped: {e}"))?;
    Ok(collect(params, &db))
}

fn collect(params: &BulkParams, db: &Dumbbell<BulkNode>) -> BulkRun {
    let now = db.now();
    let flows: Vec<FlowResult> = db
        .senders
        .iter()
        .zip(&db.receivers)
        .enumerate()
        .map(|(i, (s, r))| {
            let info = s.conn.info();
            let end = r.done_at.unwrap_or(now);
            FlowResult {
                flow: i + 1,
                rtt_us: params.rtt_of(i).as_micros() as u64,
                bytes: params.bytes,
                bytes_read: r.read,
                goodput_bps: r.goodput_bps(s.start(), now),
                retransmissions: info.segs_retransmitted,
                fast_recoveries: info.cc.fast_retransmits,
                rtos: info.rto_expirations,
                tail_loss_probes: info.cc.tail_loss_probes,
                duration_us: end.saturating_duration_since(s.start()).as_micros() as u64,
                finished: r.is_done() && r.intact,
                intact: r.intact,
            }
        })
        .collect();
    let end = db
        .receivers
        .iter()
        .map(|r| r.done_at.unwrap_or(now))
        .max()
        .unwrap_or(now);
    let secs = end.saturating_duration_since(Instant::ZERO).as_secs_f64();
    let bytes_read: u64 = flows.iter().map(|f| f.bytes_read).sum();
    let goodputs: Vec<f64> = flows.iter().map(|f| f.goodput_bps).collect();
    let (up, down) = (db.bottleneck.stats(Side::A), db.bottleneck.stats(Side::B));
    let total = Total {
        flows: flows.len(),
        bytes_read,
        goodput_bps: if secs > 0.0 {
            bytes_read as f64 * 8.0 / secs
        } else {
            0.0
        },
        link_bps: params.bandwidth_bps(),
        retransmissions: flows.iter().map(|f| f.retransmissions).sum(),
        fast_recoveries: flows.iter().map(|f| f.fast_recoveries).sum(),
        rtos: flows.iter().map(|f| f.rtos).sum(),
        tail_loss_probes: flows.iter().map(|f| f.tail_loss_probes).sum(),
        jain_index: jain_index(&goodputs),
        queue_drops: up.queue_drops + down.queue_drops,
        random_losses: up.lost + down.lost,
        queue_bytes: db.queue_bytes,
        duration_us: end.as_micros(),
        finished: flows.iter().all(|f| f.finished),
    };
    BulkRun {
        params: params.clone(),
        flows,
        total,
        cwnd: db.senders.iter().map(|s| s.cwnd_trace().to_vec()).collect(),
        end,
    }
}
