//! The machinery under every scenario: a host wrapper that can lose chosen segments on purpose,
//! a recorder tap, and a driver that interleaves simulator steps with scripted user actions.
//!
//! Losses must be deterministic and aimed ("drop the second data segment"), but the link
//! decides a packet's fate when the packet is offered. So the wrapper holds a matching packet
//! back, the driver sets that direction's loss to 100%, lets exactly that packet through, and
//! restores the configuration: the link itself records the packet as lost, so the ladder, the
//! pcap and the link counters all agree.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use synack_proto::{Instant, StateName};
use synack_sim::{Endpoint, LinkEvent, Pair, Side, Tap, TapEvent};
use synack_wire::{ChecksumMode, IpHeader, TcpRepr, parse_tcp};

use crate::node::{Counts, Node};

/// Decides whether a segment about to leave a host is one to lose.
pub type Matcher = Box<dyn Fn(&Node, &IpHeader, &TcpRepr<'_>) -> bool>;

/// What the network does to a segment a rule aims at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Lose,
    /// Deliver it with one bit flipped, so the receiver's checksum fails.
    Corrupt,
}

/// "Lose (or damage) the `nth` segment (counting from 1) that `matches`", or every one that
/// does.
pub struct DropRule {
    matches: Matcher,
    /// `None`: every match.
    nth: Option<usize>,
    seen: usize,
    fault: Fault,
}

impl DropRule {
    pub fn new(nth: usize, matches: impl Fn(&Node, &TcpRepr<'_>) -> bool + 'static) -> Self {
        DropRule {
            matches: Box::new(move |n, _, s| matches(n, s)),
            nth: Some(nth),
            seen: 0,
            fault: Fault::Lose,
        }
    }

    /// Damages the `nth` segment that `matches` instead of losing it.
    pub fn corrupt(nth: usize, matches: impl Fn(&Node, &TcpRepr<'_>) -> bool + 'static) -> Self {
        DropRule {
            fault: Fault::Corrupt,
            ..DropRule::new(nth, matches)
        }
    }

    /// Loses every packet that `matches`, e.g. everything sent to an address that does not
    /// exist.
    pub fn every(matches: impl Fn(&Node, &IpHeader, &TcpRepr<'_>) -> bool + 'static) -> Self {
        DropRule {
            matches: Box::new(matches),
            nth: None,
            seen: 0,
            fault: Fault::Lose,
        }
    }

    fn hit(&mut self, node: &Node, ip: &IpHeader, seg: &TcpRepr<'_>) -> bool {
        if self.nth.is_some_and(|n| self.seen >= n) || !(self.matches)(node, ip, seg) {
            return false;
        }
        self.seen += 1;
        self.nth.is_none_or(|n| self.seen == n)
    }
}

/// How a segment came to be sent, as far as the connection's counters tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Why {
    #[default]
    Normal,
    /// Sent because three duplicate ACKs arrived (RFC 5681 §3.2).
    FastRetransmit,
    /// Sent because RACK found the segment lost by time: a segment sent after it was
    /// delivered more than a reordering window ago (RFC 8985 §6).
    RackLoss,
    /// A tail loss probe: nothing came back for about two round trips (RFC 8985 §7).
    TailLossProbe,
    /// Sent because the retransmission timer expired (RFC 6298 §5).
    Timeout,
    /// A SYN-ACK whose sequence number is a SYN cookie (RFC 4987 §3.6): the listener's SYN
    /// queue was full, so it keeps no state for this SYN.
    SynCookie,
}

impl Why {
    /// Sent to repair a loss.
    pub fn is_retransmit(self) -> bool {
        matches!(
            self,
            Why::FastRetransmit | Why::RackLoss | Why::TailLossProbe | Why::Timeout
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Release {
    Normal,
    /// Hand out the held packet at the next poll, then pause.
    Releasing,
    /// Send nothing until the driver has restored the link.
    Paused,
}

/// The sender's congestion state at one moment (RFC 5681 §3.1 terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub at: Instant,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub phase: synack_proto::CongestionPhase,
    /// The smoothed round trip then, which paces how often the ladder shows the window.
    pub srtt: Option<std::time::Duration>,
}

/// A demo side with aimed losses, packets injected from elsewhere on its network, and a note
/// of why each segment left.
pub struct Host {
    pub node: Node,
    drops: Vec<DropRule>,
    held: Option<(Vec<u8>, Fault)>,
    release: Release,
    /// Packets that others on this side's network send at the given times (an attacker's
    /// forged SYNs), oldest first.
    injected: VecDeque<(Instant, Vec<u8>)>,
    /// One entry per packet handed to the link, in order.
    pub why: Vec<Why>,
    /// Parallel to `why`: the fault a scenario aimed at that packet, if any.
    pub aimed: Vec<Option<Fault>>,
    seen: Counts,
    /// Whether to follow the congestion window (the congestion scenario asks).
    pub follow_window: bool,
    /// Every change of cwnd, ssthresh or phase while the connection is synchronized.
    pub windows: Vec<Window>,
}

impl Host {
    pub fn new(node: Node) -> Host {
        Host {
            node,
            drops: Vec::new(),
            held: None,
            release: Release::Normal,
            injected: VecDeque::new(),
            why: Vec::new(),
            aimed: Vec::new(),
            seen: Counts::default(),
            follow_window: false,
            windows: Vec::new(),
        }
    }

    /// Notes the congestion state if it moved since the last note.
    fn sample(&mut self, now: Instant) {
        if !self.follow_window {
            return;
        }
        let Some(i) = self.node.window() else { return };
        if !i.state.is_synchronized() {
            return;
        }
        let w = Window {
            at: now,
            cwnd: i.cc.cwnd,
            ssthresh: i.cc.ssthresh,
            phase: i.cc.phase,
            srtt: i.srtt,
        };
        let same = |l: &Window| (l.cwnd, l.ssthresh, l.phase) == (w.cwnd, w.ssthresh, w.phase);
        if !self.windows.last().is_some_and(same) {
            self.windows.push(w);
        }
    }

    pub fn drop_rule(&mut self, rule: DropRule) {
        self.drops.push(rule);
    }

    /// Sends `packet` from this side of the link at `at`, as if another machine there did.
    pub fn inject(&mut self, at: Instant, packet: Vec<u8>) {
        let i = self.injected.partition_point(|(t, _)| *t <= at);
        self.injected.insert(i, (at, packet));
    }

    fn classify(&mut self) -> Why {
        let now = self.node.counts();
        let why = if now.syncookies_sent > self.seen.syncookies_sent {
            Why::SynCookie
        } else if now.tail_loss_probes > self.seen.tail_loss_probes {
            Why::TailLossProbe
        } else if now.fast_retransmits > self.seen.fast_retransmits {
            // With SACK, RACK's marks start recovery (RFC 8985); without, the third duplicate.
            if now.rack_losses > self.seen.rack_losses {
                Why::RackLoss
            } else {
                Why::FastRetransmit
            }
        } else if now.rto_retransmits > self.seen.rto_retransmits {
            Why::Timeout
        } else {
            Why::Normal
        };
        // A counter bump explains only the first segment sent after it.
        self.seen = now;
        why
    }
}

impl Endpoint for Host {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.node.handle_packet(now, packet);
        self.sample(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.release {
            Release::Releasing => {
                self.release = Release::Paused;
                return self.held.take().map(|(p, _)| p);
            }
            Release::Paused => return None,
            Release::Normal => {}
        }
        if self.held.is_some() {
            return None;
        }
        if self.injected.front().is_some_and(|(t, _)| *t <= now) {
            self.why.push(Why::Normal);
            self.aimed.push(None);
            return self.injected.pop_front().map(|(_, p)| p);
        }
        let packet = self.node.poll_transmit(now)?;
        let why = self.classify();
        self.why.push(why);
        let node = &self.node;
        let hit = match parse_tcp(&packet, ChecksumMode::Verify) {
            Ok((ip, seg)) => self
                .drops
                .iter_mut()
                .find_map(|rule| rule.hit(node, &ip, &seg).then_some(rule.fault)),
            Err(_) => None,
        };
        self.aimed.push(hit);
        if let Some(fault) = hit {
            self.held = Some((packet, fault));
            return None;
        }
        Some(packet)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let injected = self.injected.front().map(|(t, _)| *t);
        match (self.node.poll_timeout(), injected) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.node.handle_timeout(now);
        self.sample(now);
    }
}

/// Keeps a copy of everything the link reports.
#[derive(Default)]
pub struct Recorder {
    pub sent: Vec<LinkEvent>,
}

impl Tap for Recorder {
    fn observe(&mut self, event: TapEvent<'_>) {
        if let TapEvent::Sent(e) = event {
            self.sent.push(e.clone());
        }
    }
}

pub type SimPair = Pair<Host, Host>;

/// When a scripted user action happens.
pub enum When {
    At(Instant),
    /// `delay` after `host` first entered `state` (never, if it does not).
    AfterState {
        host: Side,
        state: StateName,
        delay: std::time::Duration,
    },
    /// `delay` after `cond` first held (checked after every simulator step).
    Cond {
        cond: Box<dyn Fn(&SimPair) -> bool>,
        delay: std::time::Duration,
        since: Option<Instant>,
    },
}

/// A user action: a call on a connection or on an application, with what to say about it.
pub struct Action {
    pub when: When,
    pub host: Side,
    pub en: String,
    pub zh: String,
    #[allow(clippy::type_complexity)]
    pub act: Box<dyn FnMut(&mut SimPair, Instant)>,
}

/// A narrated user action as it happened.
#[derive(Clone, Debug)]
pub struct Note {
    pub at: Instant,
    pub host: Side,
    pub en: String,
    pub zh: String,
}

pub fn host(pair: &SimPair, side: Side) -> &Host {
    match side {
        Side::A => &pair.a,
        Side::B => &pair.b,
    }
}

pub fn host_mut(pair: &mut SimPair, side: Side) -> &mut Host {
    match side {
        Side::A => &mut pair.a,
        Side::B => &mut pair.b,
    }
}

fn entered(h: &Host, state: StateName) -> Option<Instant> {
    h.node.events().iter().find_map(|(at, e)| match e {
        synack_proto::Event::StateChanged { to, .. } if *to == state => Some(*at),
        _ => None,
    })
}

impl When {
    fn due(&mut self, pair: &SimPair) -> Option<Instant> {
        match self {
            When::At(t) => Some(*t),
            When::AfterState {
                host: h,
                state,
                delay,
            } => entered(host(pair, *h), *state).map(|t| t + *delay),
            When::Cond { cond, delay, since } => {
                if since.is_none() && cond(pair) {
                    *since = Some(pair.now());
                }
                since.map(|t| t + *delay)
            }
        }
    }
}

/// Lets any held packet through as lost (or damaged). Returns whether one was.
fn drop_held(pair: &mut SimPair) -> bool {
    let mut any = false;
    for side in [Side::A, Side::B] {
        let Some((_, fault)) = &host(pair, side).held else {
            continue;
        };
        let fault = *fault;
        any = true;
        let before = pair.link.config(side).clone();
        let mut lossy = before.clone();
        match fault {
            Fault::Lose => lossy.loss = 1.0,
            Fault::Corrupt => {
                lossy.loss = 0.0;
                lossy.duplicate = 0.0;
                lossy.corrupt = 1.0;
                lossy.corrupt_max_bits = 1;
            }
        }
        lossy.partitioned = false;
        // Both configurations were valid already (loss 1.0 is in range).
        let _ = pair.link.set_config(side, lossy);
        host_mut(pair, side).release = Release::Releasing;
        pair.flush();
        let _ = pair.link.set_config(side, before);
        host_mut(pair, side).release = Release::Normal;
    }
    any
}

/// Flushes until no host holds a packet back.
fn settle(pair: &mut SimPair) {
    loop {
        pair.flush();
        if !drop_held(pair) {
            break;
        }
    }
}

/// Runs the pair and the actions until nothing is left to do, or until `limit`. Returns the
/// notes of the actions that ran, or a message if the run did not finish.
pub fn drive(
    pair: &mut SimPair,
    mut actions: Vec<Action>,
    limit: Instant,
) -> Result<Vec<Note>, String> {
    let mut notes = Vec::new();
    let mut guard = 0u64;
    loop {
        guard += 1;
        if guard > 5_000_000 {
            return Err(format!("the simulation did not settle by {}", pair.now()));
        }
        settle(pair);
        let te = pair.next_event();
        if host(pair, Side::A).held.is_some() || host(pair, Side::B).held.is_some() {
            continue;
        }
        let ta = actions
            .iter_mut()
            .enumerate()
            .filter_map(|(i, a)| a.when.due(pair).map(|t| (t.max(pair.now()), i)))
            .min();
        // An action due strictly before the next event runs first; at a tie the event does.
        let action_first = match (te, ta) {
            (_, None) => None,
            (None, Some(a)) => Some(a),
            (Some(te), Some(a)) => (a.0 < te).then_some(a),
        };
        if let Some((t, i)) = action_first {
            if t > limit {
                return Err(format!("a scripted action is due after the limit {limit}"));
            }
            pair.run_until(t).map_err(|e| e.to_string())?;
            let mut action = actions.remove(i);
            (action.act)(pair, t);
            notes.push(Note {
                at: t,
                host: action.host,
                en: action.en,
                zh: action.zh,
            });
        } else if let Some(te) = te {
            if te > limit {
                return Err(format!(
                    "the simulation was still busy at the {limit} limit"
                ));
            }
            pair.step();
        } else {
            return Ok(notes);
        }
    }
}

/// Decodes a packet for display; `None` for something that is not TCP over IP. Checksums are
/// not checked: captures taken on a sending host with checksum offload carry unfinished ones,
/// and the simulator's own packets are checked by the hosts that receive them.
pub fn decode(packet: &[u8]) -> Option<TcpRepr<'_>> {
    decode_ip(packet).map(|(_, seg)| seg)
}

/// [`decode`] with the IP header's addresses.
pub fn decode_ip(packet: &[u8]) -> Option<(IpHeader, TcpRepr<'_>)> {
    parse_tcp(packet, ChecksumMode::Ignore).ok()
}

/// Shared handle for a tap that the link owns and we read afterwards.
pub fn recorder() -> Rc<RefCell<Recorder>> {
    Rc::new(RefCell::new(Recorder::default()))
}
