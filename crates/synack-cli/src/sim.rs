//! The machinery under every scenario: a host wrapper that can lose chosen segments on purpose,
//! a recorder tap, and a driver that interleaves simulator steps with scripted user actions.
//!
//! Losses must be deterministic and aimed ("drop the second data segment"), but the link
//! decides a packet's fate when the packet is offered. So the wrapper holds a matching packet
//! back, the driver sets that direction's loss to 100%, lets exactly that packet through, and
//! restores the configuration: the link itself records the packet as lost, so the ladder, the
//! pcap and the link counters all agree.

use std::cell::RefCell;
use std::rc::Rc;

use synack_proto::{Instant, StateName};
use synack_sim::{ConnNode, Endpoint, LinkEvent, Pair, Side, Tap, TapEvent};
use synack_wire::{ChecksumMode, TcpRepr, parse_tcp};

/// Decides whether a segment about to leave a host is one to lose.
pub type Matcher = Box<dyn Fn(&ConnNode, &TcpRepr<'_>) -> bool>;

/// "Lose the `nth` segment (counting from 1) that `matches`."
pub struct DropRule {
    matches: Matcher,
    nth: usize,
    seen: usize,
}

impl DropRule {
    pub fn new(nth: usize, matches: impl Fn(&ConnNode, &TcpRepr<'_>) -> bool + 'static) -> Self {
        DropRule {
            matches: Box::new(matches),
            nth,
            seen: 0,
        }
    }
}

/// How a segment came to be sent, as far as the connection's counters tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Why {
    #[default]
    Normal,
    /// Sent because three duplicate ACKs arrived (RFC 5681 §3.2).
    FastRetransmit,
    /// Sent because the retransmission timer expired (RFC 6298 §5).
    Timeout,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Release {
    Normal,
    /// Hand out the held packet at the next poll, then pause.
    Releasing,
    /// Send nothing until the driver has restored the link.
    Paused,
}

/// A [`ConnNode`] with aimed losses and a note of why each segment left.
pub struct Host {
    pub node: ConnNode,
    drops: Vec<DropRule>,
    held: Option<Vec<u8>>,
    release: Release,
    /// One entry per packet handed to the link, in order.
    pub why: Vec<Why>,
    fast_seen: u64,
    rto_seen: u64,
}

impl Host {
    pub fn new(node: ConnNode) -> Host {
        Host {
            node,
            drops: Vec::new(),
            held: None,
            release: Release::Normal,
            why: Vec::new(),
            fast_seen: 0,
            rto_seen: 0,
        }
    }

    pub fn drop_rule(&mut self, rule: DropRule) {
        self.drops.push(rule);
    }

    fn classify(&mut self) -> Why {
        let info = self.node.conn.info();
        let why = if info.fast_retransmits > self.fast_seen {
            Why::FastRetransmit
        } else if info.rto_expirations > self.rto_seen {
            Why::Timeout
        } else {
            Why::Normal
        };
        // A counter bump explains only the first segment sent after it.
        self.fast_seen = info.fast_retransmits;
        self.rto_seen = info.rto_expirations;
        why
    }
}

impl Endpoint for Host {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.node.handle_packet(now, packet);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.release {
            Release::Releasing => {
                self.release = Release::Paused;
                return self.held.take();
            }
            Release::Paused => return None,
            Release::Normal => {}
        }
        if self.held.is_some() {
            return None;
        }
        let packet = self.node.poll_transmit(now)?;
        let why = self.classify();
        self.why.push(why);
        let node = &self.node;
        let hit = match parse_tcp(&packet, ChecksumMode::Verify) {
            Ok((_, seg)) => self.drops.iter_mut().any(|rule| {
                if rule.seen >= rule.nth || !(rule.matches)(node, &seg) {
                    return false;
                }
                rule.seen += 1;
                rule.seen == rule.nth
            }),
            Err(_) => false,
        };
        if hit {
            self.held = Some(packet);
            return None;
        }
        Some(packet)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.node.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.node.handle_timeout(now);
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
    h.node.events.iter().find_map(|(at, e)| match e {
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

/// Lets any held packet through as lost. Returns whether one was.
fn drop_held(pair: &mut SimPair) -> bool {
    let mut any = false;
    for side in [Side::A, Side::B] {
        if host(pair, side).held.is_none() {
            continue;
        }
        any = true;
        let before = pair.link.config(side).clone();
        let mut lossy = before.clone();
        lossy.loss = 1.0;
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

/// Fetches this host's pending events into its node's log (user calls made by an action
/// produce events that the node would otherwise only collect at its next packet).
pub fn collect(h: &mut Host, now: Instant) {
    while let Some(e) = h.node.conn.poll_event() {
        h.node.events.push((now, e));
    }
}

/// Decodes a packet for display; `None` for something that is not TCP over IP. Checksums are
/// not checked: captures taken on a sending host with checksum offload carry unfinished ones,
/// and the simulator's own packets are checked by the hosts that receive them.
pub fn decode(packet: &[u8]) -> Option<TcpRepr<'_>> {
    parse_tcp(packet, ChecksumMode::Ignore)
        .ok()
        .map(|(_, seg)| seg)
}

/// Shared handle for a tap that the link owns and we read afterwards.
pub fn recorder() -> Rc<RefCell<Recorder>> {
    Rc::new(RefCell::new(Recorder::default()))
}
