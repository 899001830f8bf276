//! The demo's scenarios: each sets up a client and a server on the simulated network, scripts
//! what their users do and which segments the network loses or damages, runs to completion in
//! virtual time, and returns a [`Run`]: every packet, state change and user action, plus a
//! summary. Rendering (terminal, JSON, SVG) works from the `Run` alone, and so do the tests.
//!
//! The scenarios themselves are one table ([`SCENARIOS`], in `catalog.rs`); `plan.rs` holds
//! what a setup fills in, `packets.rs` reads the link's log, `narrate.rs` says what happened.

mod catalog;
pub mod narrate;
mod packets;
mod plan;
pub mod window;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use synack_proto::{Cause, CongestionControl, ConnError, Event, Instant, StateName};
use synack_sim::{Link, LinkConfig, Side};
use synack_wire::TcpFlags;

pub use catalog::{BULK, BULK_HAS_NO_LADDER, SCENARIOS, Scenario, find, listed};
use packets::options;
pub use packets::packets;
pub use plan::{SERVER_PORT, demo_config, payload};

use crate::node::Node;
use crate::sim::{self, Fault, Host, Note, SimPair, Why, Window};

/// What the user can change about a run.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    /// Extra random loss on both directions, on top of the scenario's own aimed losses.
    pub loss: f64,
    /// Random corruption (one flipped bit) on both directions.
    pub corrupt: f64,
    /// Round-trip time of the link (half of it each way).
    pub rtt: Duration,
    /// The maximum segment lifetime; TIME-WAIT lasts twice this.
    pub msl: Duration,
    /// The congestion controller both sides run.
    pub cc: CongestionControl,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            seed: 1,
            loss: 0.0,
            corrupt: 0.0,
            rtt: Duration::from_millis(20),
            msl: Duration::from_secs(5),
            cc: CongestionControl::default(),
        }
    }
}

/// The longest round trip and MSL the demo takes: virtual time is free, but a run must end.
pub const MAX_RTT: Duration = Duration::from_secs(10);
pub const MAX_MSL: Duration = Duration::from_secs(600);

impl Params {
    /// The reason these parameters cannot run, said in terms of the command-line options.
    pub fn check(&self) -> Result<(), String> {
        for (flag, p) in [("--loss", self.loss), ("--corrupt", self.corrupt)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "{flag} {p} is not a probability: give a number from 0 to 1 (0.1 is 10 %)"
                ));
            }
            if p >= 1.0 {
                return Err(format!(
                    "{flag} 1 would spoil every packet; nothing could ever connect"
                ));
            }
        }
        if self.rtt.is_zero() || self.rtt > MAX_RTT {
            return Err(format!(
                "--rtt {} ms is out of range: give 1 to {} ms (a zero round trip would have every \
                 segment arrive the instant it is sent, which no network does)",
                self.rtt.as_millis(),
                MAX_RTT.as_millis()
            ));
        }
        if self.msl.is_zero() || self.msl > MAX_MSL {
            return Err(format!(
                "--msl {} s is out of range: give more than 0 and at most {} s (RFC 9293 \
                 suggests 120 s)",
                self.msl.as_secs_f64(),
                MAX_MSL.as_secs()
            ));
        }
        Ok(())
    }
}

/// Everything about a scenario that `--list` shows.
pub fn info(name: &str) -> Option<&'static Scenario> {
    find(name)
}

/// How a packet fared on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Delivered,
    Lost,
    Corrupted,
    Duplicate,
}

/// The TCP header fields the pictures show, with sequence numbers already made relative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub len: u32,
    pub win: u16,
    /// Options worth showing, e.g. `mss 500,ws 0,sackOK`.
    pub options: String,
    /// Absolute sequence number and acknowledgment, for those who want them.
    pub abs_seq: u32,
    pub abs_ack: u32,
}

/// One packet offered to the link.
#[derive(Clone, Debug)]
pub struct Packet {
    pub from: Side,
    pub sent_at: Instant,
    pub arrival: Option<Instant>,
    pub outcome: Outcome,
    /// `None` when the bytes are not a TCP segment we can parse.
    pub seg: Option<Segment>,
    pub why: Why,
    /// Carries sequence space (data, SYN or FIN) sent before by the same host.
    pub retransmission: bool,
    /// A one-byte probe into a window the peer announced as zero.
    pub probe: bool,
    /// A keepalive probe (RFC 1122 §4.2.3.6): one below everything sent, no data.
    pub keepalive: bool,
    /// Which keepalive probe this is, counted over the connection's idle spells.
    pub keepalive_no: Option<u32>,
    /// The scenario aimed this fault at the packet (rather than random `--loss`/`--corrupt`).
    pub aimed: Option<Fault>,
    /// A duplicate ACK, numbered as the data's sender counts them (RFC 5681 §3.2).
    pub dup_ack: Option<u32>,
    /// For a packet damaged in flight: what the receiver's checksum check found.
    pub damage: Option<Damage>,
    /// A machine other than the two hosts: the forged source of a packet from side A, or
    /// where a packet from side B went instead of to side A.
    pub third_party: Option<IpAddr>,
    pub bytes: Vec<u8>,
}

impl Packet {
    /// Never arrived.
    pub fn lost(&self) -> bool {
        self.arrival.is_none()
    }

    /// Arrived damaged: the receiver's checksum check drops it.
    pub fn corrupted(&self) -> bool {
        self.outcome == Outcome::Corrupted
    }
}

/// A packet damaged in flight, as its receiver sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The flipped bit, counted from the first bit of the IP header.
    pub bit: usize,
    /// Where it landed: `ip`, `tcp` (header) or `data`.
    pub region: &'static str,
    /// The check that fails: `ip` (the IPv4 header checksum) or `tcp`.
    pub layer: &'static str,
    /// The checksum the header carries.
    pub field: u16,
    /// The checksum computed over the bytes as they arrived.
    pub computed: u16,
}

/// A state change on one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub at: Instant,
    pub host: Side,
    pub from: StateName,
    pub to: StateName,
    pub cause: Cause,
}

/// One direction of the byte stream: what the sending application wrote, how much of it the
/// receiving TCP acknowledged, and what the receiving application read.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Flow {
    pub written: u64,
    pub acked: u64,
    pub read: u64,
}

/// The figures the closing summary and `--json` report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Every byte either application wrote arrived at the other intact, in order, exactly once.
    pub verified: bool,
    /// What did arrive is exactly what was written, in order, without a wrong or repeated
    /// byte; true also when a connection ended before everything arrived.
    pub intact: bool,
    /// Per direction (`client->server`), bytes written, acknowledged and read.
    pub flows: BTreeMap<String, Flow>,
    pub packets_corrupted: u64,
    pub fast_retransmits: u64,
    pub rto_retransmits: u64,
    pub segments_retransmitted: u64,
    pub packets: u64,
    pub packets_lost: u64,
    pub syncookies_sent: u64,
    pub syncookies_validated: u64,
    /// Per host, the states visited in order, starting with the initial one.
    pub states: BTreeMap<String, Vec<String>>,
    pub final_states: BTreeMap<String, String>,
    /// Per host, why the connection ended when it did not end in an orderly way.
    pub errors: BTreeMap<String, String>,
    pub duration_us: u64,
}

/// Everything that happened in one scenario run.
pub struct Run {
    pub scenario: &'static str,
    pub params: Params,
    /// Names of side A and side B ("client", "server").
    pub hosts: [String; 2],
    pub ports: [u16; 2],
    /// Each host's state before anything happened.
    pub initial: [StateName; 2],
    pub packets: Vec<Packet>,
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
    pub final_states: [StateName; 2],
    pub errors: [Option<ConnError>; 2],
    pub summary: Summary,
    /// Virtual time at which the run ended.
    pub end: Instant,
    /// The demo's MSL (TIME-WAIT lasts twice this).
    pub msl: Duration,
    /// Built from a capture taken at one point rather than from the simulator: arrival times
    /// and losses are unknown, and states are inferred from the flags.
    pub observed: bool,
    /// Sequence numbers are shown as on the wire rather than relative to each ISN.
    pub absolute: bool,
    /// Bytes each host's application wrote and read.
    pub app_sent: [u64; 2],
    pub app_received: [u64; 2],
    /// Every change of each sender's congestion state, when the scenario follows it.
    pub windows: Vec<(Side, Window)>,
    /// Indexes into `windows` of the samples worth a line of their own.
    pub shown: Vec<usize>,
}

impl Run {
    pub fn host_name(&self, side: Side) -> &str {
        &self.hosts[idx(side)]
    }

    /// The states `side` went through, the initial one first.
    pub fn visited(&self, side: Side) -> Vec<StateName> {
        let mut v = vec![self.initial[idx(side)]];
        v.extend(self.changes.iter().filter(|c| c.host == side).map(|c| c.to));
        v
    }

    /// Whether a run made this (from, to, cause) move on either host.
    pub fn made(&self, from: StateName, to: StateName, cause: Cause) -> bool {
        self.changes
            .iter()
            .any(|c| c.from == from && c.to == to && c.cause == cause)
    }

    /// Shows sequence numbers as on the wire instead of relative to each side's ISN.
    pub fn use_absolute(&mut self) {
        self.absolute = true;
        for p in &mut self.packets {
            let Some(seg) = &mut p.seg else { continue };
            seg.seq = seg.abs_seq;
            seg.ack = if seg.flags.ack() { seg.abs_ack } else { 0 };
            if let Some(raw) = sim::decode(&p.bytes) {
                seg.options = options(&raw, 0);
            }
        }
    }

    /// Every packet as pcap bytes (LINKTYPE_RAW), stamped with its send time.
    pub fn pcap_bytes(&self) -> Vec<u8> {
        let Ok(mut w) = synack_sim::PcapWriter::new(Vec::new()) else {
            return Vec::new();
        };
        for p in self
            .packets
            .iter()
            .filter(|p| p.outcome != Outcome::Duplicate)
        {
            if w.write_packet(p.sent_at, &p.bytes).is_err() {
                return Vec::new();
            }
        }
        w.into_inner()
    }
}

pub fn idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

/// Runs a scenario by name. Errors are messages for the user (unknown scenario, bad
/// parameters, a run that did not finish).
pub fn run(name: &str, params: &Params) -> Result<Run, String> {
    if name == BULK.name {
        return Err(BULK_HAS_NO_LADDER.into());
    }
    let Some(scenario) = find(name) else {
        return Err(format!(
            "unknown scenario `{name}`; `synack demo --list` shows them all"
        ));
    };
    params.check()?;
    let mut plan = plan::Plan::standard(params);
    (scenario.setup)(&mut plan, params)?;
    let plan::Plan {
        client: mut a,
        server: mut b,
        hosts,
        client_app,
        server_app,
        actions,
        mut drops,
        injected,
        listens,
        backlog,
        connects_later,
        follow_window,
        ..
    } = plan;
    *a.app_mut() = client_app;
    *b.app_mut() = server_app;
    let initial = [a.initial_state(), b.initial_state()];
    let mut ha = Host::new(a);
    let mut hb = Host::new(b);
    // The client is the one that sends; its window is the one the scenario is about.
    ha.follow_window = follow_window;
    for (at, packet) in injected {
        ha.inject(at, packet);
    }
    for r in std::mem::take(&mut drops[0]) {
        ha.drop_rule(r);
    }
    for r in std::mem::take(&mut drops[1]) {
        hb.drop_rule(r);
    }
    let link_config = LinkConfig::new()
        .delay(params.rtt / 2)
        .bandwidth_bps(10_000_000)
        .loss(params.loss)
        .corrupt(params.corrupt)
        .corrupt_max_bits(1);
    let mut link = Link::new(params.seed, link_config).map_err(|e| e.to_string())?;
    let rec = sim::recorder();
    link.add_tap(rec.clone());
    let mut pair = SimPair::new(ha, hb, link);
    // Virtual time is free: allow for RTO backoff under heavy --loss.
    let notes = sim::drive(&mut pair, actions, Instant::from_millis(4 * 3_600_000))?;
    let end = pair.now();
    let sent = std::mem::take(&mut rec.borrow_mut().sent);
    let ports = [pair.a.node.local_port(), pair.b.node.local_port()];
    let (own_a, own_b) = plan::ips();
    let packets = packets(
        &sent,
        [&pair.a.why, &pair.b.why],
        [&pair.a.aimed, &pair.b.aimed],
        [Some(own_a), Some(own_b)],
    );
    let changes = changes(&pair);
    let opening = narrate::Opening {
        hosts,
        ports,
        server_addr: own_b,
        listens,
        backlog,
        connects_later,
    };
    let mut all_notes = narrate::opening(&opening, &changes);
    all_notes.extend(notes);
    if let Node::Server(s) = &pair.b.node {
        all_notes.extend(narrate::queue_notes(s));
    }
    let mut run = finish(
        scenario.name,
        params,
        hosts,
        ports,
        initial,
        packets,
        changes,
        all_notes,
        &pair,
        end,
    );
    let mut windows: Vec<(Side, Window)> = [(Side::A, &pair.a), (Side::B, &pair.b)]
        .into_iter()
        .flat_map(|(side, h)| h.windows.iter().map(move |w| (side, *w)))
        .collect();
    windows.sort_by_key(|(side, w)| (w.at, idx(*side)));
    run.shown = shown(&windows, params.rtt);
    run.windows = windows;
    let derived = narrate::derived(&run);
    run.notes.extend(derived);
    let told = window::notes(&run);
    run.notes.extend(told);
    run.notes.sort_by_key(|n| n.at);
    Ok(run)
}

/// Which window samples the ladder and `--json` show: every phase change and every new
/// ssthresh; the window at the end of each burst of ACKs (in slow start, one flight per round
/// trip), so the doubling reads one line per round rather than one per ACK; the window just
/// before a phase change; and, while ACKs
/// stream without a pause, the window every round and a half.
fn shown(windows: &[(Side, Window)], rtt: Duration) -> Vec<usize> {
    let mut out = Vec::new();
    let mut last: [Option<Window>; 2] = [None, None];
    for (i, (side, w)) in windows.iter().enumerate() {
        let round = w.srtt.unwrap_or(rtt);
        let next = windows[i + 1..].iter().find(|(s, _)| s == side);
        let pause = next.is_none_or(|(_, n)| n.at.saturating_duration_since(w.at) >= round / 2);
        // The window just before a phase change, so the cut reads against what it cut.
        let eve = next.is_some_and(|(_, n)| n.phase != w.phase || n.ssthresh != w.ssthresh);
        let show = match last[idx(*side)] {
            None => true,
            Some(l) => {
                l.phase != w.phase
                    || l.ssthresh != w.ssthresh
                    || (l.cwnd != w.cwnd
                        && (pause || eve || w.at.saturating_duration_since(l.at) >= round * 3 / 2))
            }
        };
        if show {
            out.push(i);
            last[idx(*side)] = Some(*w);
        }
    }
    out
}

fn changes(pair: &SimPair) -> Vec<Change> {
    let mut out = Vec::new();
    for (side, h) in [(Side::A, &pair.a), (Side::B, &pair.b)] {
        for (at, e) in h.node.events() {
            if let Event::StateChanged { from, to, cause } = e {
                out.push(Change {
                    at: *at,
                    host: side,
                    from: *from,
                    to: *to,
                    cause: *cause,
                });
            }
        }
    }
    out.sort_by_key(|c| c.at);
    out
}

#[allow(clippy::too_many_arguments)]
fn finish(
    name: &'static str,
    params: &Params,
    hosts: [&'static str; 2],
    ports: [u16; 2],
    initial: [StateName; 2],
    packets: Vec<Packet>,
    changes: Vec<Change>,
    notes: Vec<Note>,
    pair: &SimPair,
    end: Instant,
) -> Run {
    let (a, b) = (&pair.a.node, &pair.b.node);
    fn written(n: &Node) -> &[u8] {
        &n.app().to_send[..n.app().sent]
    }
    // What arrived is a prefix of what was written: nothing wrong, reordered or repeated.
    let prefix = |from: &Node, to: &Node| written(from).starts_with(&to.app().received);
    let complete = |from: &Node, to: &Node| to.app().received.len() == from.app().sent;
    let intact = prefix(a, b) && prefix(b, a);
    let verified = intact && complete(a, b) && complete(b, a);
    let (ia, ib) = (a.counts(), b.counts());
    let mut states = BTreeMap::new();
    let mut final_states = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (side, node) in [(Side::A, a), (Side::B, b)] {
        let name = hosts[idx(side)].to_string();
        let mut v = vec![initial[idx(side)].as_str().to_string()];
        v.extend(
            changes
                .iter()
                .filter(|c| c.host == side)
                .map(|c| c.to.as_str().to_string()),
        );
        states.insert(name.clone(), v);
        final_states.insert(name.clone(), node.state().as_str().to_string());
        if let Some(e) = node.error() {
            errors.insert(name, format!("{e:?}"));
        }
    }
    let acked = narrate::acked(&packets, [a.app().sent as u64, b.app().sent as u64]);
    let mut flows = BTreeMap::new();
    for (from, to) in [(Side::A, Side::B), (Side::B, Side::A)] {
        let (nf, nt) = (
            if from == Side::A { a } else { b },
            if to == Side::A { a } else { b },
        );
        flows.insert(
            format!("{}->{}", hosts[idx(from)], hosts[idx(to)]),
            Flow {
                written: nf.app().sent as u64,
                acked: acked[idx(from)],
                read: nt.app().received.len() as u64,
            },
        );
    }
    let summary = Summary {
        intact,
        flows,
        packets_corrupted: packets.iter().filter(|p| p.corrupted()).count() as u64,
        scenario: name.to_string(),
        seed: params.seed,
        bytes_sent: (a.app().sent + b.app().sent) as u64,
        bytes_received: (a.app().received.len() + b.app().received.len()) as u64,
        verified,
        fast_retransmits: ia.fast_retransmits + ib.fast_retransmits,
        rto_retransmits: ia.rto_retransmits + ib.rto_retransmits,
        segments_retransmitted: ia.segs_retransmitted + ib.segs_retransmitted,
        packets: packets.len() as u64,
        packets_lost: packets.iter().filter(|p| p.lost()).count() as u64,
        syncookies_sent: ia.syncookies_sent + ib.syncookies_sent,
        syncookies_validated: ia.syncookies_validated + ib.syncookies_validated,
        states,
        final_states,
        errors,
        duration_us: end.as_micros(),
    };
    Run {
        scenario: name,
        params: params.clone(),
        hosts: hosts.map(String::from),
        ports,
        initial,
        packets,
        changes,
        notes,
        final_states: [a.state(), b.state()],
        errors: [a.error(), b.error()],
        summary,
        end,
        msl: params.msl,
        observed: false,
        absolute: false,
        app_sent: [a.app().sent as u64, b.app().sent as u64],
        app_received: [a.app().received.len() as u64, b.app().received.len() as u64],
        windows: Vec::new(),
        shown: Vec::new(),
    }
}
