//! Two endpoints joined by one link, driven by a virtual clock.

use core::fmt;
use core::time::Duration;

use synack_proto::Instant;

use crate::endpoint::Endpoint;
use crate::link::{Link, Side};

/// How many packets one endpoint may emit in a single drain before the simulator stops asking;
/// an endpoint that never returns `None` would otherwise hang the run.
const MAX_TRANSMITS_PER_DRAIN: usize = 100_000;

/// Default for [`Pair::set_livelock_limit`].
pub const DEFAULT_LIVELOCK_LIMIT: u64 = 1_000_000;

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// More than the livelock limit of steps happened without the clock moving: typically an
    /// endpoint whose timer stays due after `handle_timeout`, two endpoints answering each other
    /// over a zero-delay link forever, or an endpoint whose `poll_transmit` never returns `None`.
    Livelock { at: Instant, steps: u64 },
    /// `run_until_idle` reached its limit with work still scheduled at `next_event`. The clock
    /// is left at the limit.
    NotIdle { at: Instant, next_event: Instant },
    /// `run_until_condition` found nothing left to do before its condition held.
    Stalled { at: Instant },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Livelock { at, steps } => {
                write!(f, "livelock: {steps} steps at {at} without time advancing")
            }
            SimError::NotIdle { at, next_event } => {
                write!(f, "not idle at {at}: next event at {next_event}")
            }
            SimError::Stalled { at } => write!(f, "idle at {at} before the condition held"),
        }
    }
}

impl std::error::Error for SimError {}

/// The kind of the next thing to happen. The derived order is the tie-break at equal times:
/// arrivals first (in the link's own order), then A's timer, then B's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    Delivery,
    Timeout(Side),
}

/// Endpoints `a` and `b` on either side of `link`.
///
/// The fields are public so a harness can reach into an endpoint between steps (connect, send,
/// close), change the link's configuration or partition it, and read the link's event log.
/// Whatever an endpoint queued through such a call is sent at the start of the next step, at the
/// current virtual time.
///
/// A step handles exactly one event: a packet arrival or an endpoint timeout. Before every step,
/// and after the endpoint handled the event, pending transmissions are drained (A's, then B's)
/// into the link. Events at the same instant run in a fixed order (arrivals in scheduling order,
/// then A's timeout, then B's), so a run is a pure function of the endpoints, the link
/// configuration and the seed.
#[derive(Debug)]
pub struct Pair<A, B> {
    pub a: A,
    pub b: B,
    pub link: Link,
    now: Instant,
    /// Steps taken since the clock last moved, for livelock detection.
    steps_at_now: u64,
    livelock_limit: u64,
}

impl<A: Endpoint, B: Endpoint> Pair<A, B> {
    /// Starts the clock at zero.
    pub fn new(a: A, b: B, link: Link) -> Pair<A, B> {
        Pair::starting_at(a, b, link, Instant::ZERO)
    }

    pub fn starting_at(a: A, b: B, link: Link, now: Instant) -> Pair<A, B> {
        Pair {
            a,
            b,
            link,
            now,
            steps_at_now: 0,
            livelock_limit: DEFAULT_LIVELOCK_LIMIT,
        }
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// How many steps may happen at one instant before a run reports [`SimError::Livelock`].
    pub fn set_livelock_limit(&mut self, steps: u64) {
        self.livelock_limit = steps;
    }

    /// Sends whatever the endpoints have queued, at the current time. Returns whether anything
    /// was sent. Called by every step; a harness needs it only to inspect the link right after
    /// a user call.
    pub fn flush(&mut self) -> bool {
        let a = drain(&mut self.a, &mut self.link, self.now, Side::A);
        let b = drain(&mut self.b, &mut self.link, self.now, Side::B);
        if a == MAX_TRANSMITS_PER_DRAIN || b == MAX_TRANSMITS_PER_DRAIN {
            self.steps_at_now += 1;
        }
        a + b > 0
    }

    /// When the next event will happen (after flushing pending transmissions), or `None` if
    /// nothing is scheduled: no packet in flight and no endpoint timer.
    pub fn next_event(&mut self) -> Option<Instant> {
        self.flush();
        self.peek().map(|(at, _)| at)
    }

    fn peek(&self) -> Option<(Instant, Next)> {
        let delivery = self.link.next_delivery().map(|at| (at, Next::Delivery));
        let a = self.a.poll_timeout().map(|at| (at, Next::Timeout(Side::A)));
        let b = self.b.poll_timeout().map(|at| (at, Next::Timeout(Side::B)));
        [delivery, a, b]
            .into_iter()
            .flatten()
            .map(|(at, next)| (at.max(self.now), next))
            .min()
    }

    /// Handles the next event, moving the clock to it. Returns `false` when there was nothing to
    /// do (nothing sent, nothing scheduled): the pair is idle.
    pub fn step(&mut self) -> bool {
        let sent = self.flush();
        match self.peek() {
            Some((at, next)) => {
                self.perform(at, next);
                true
            }
            None => sent,
        }
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
            Next::Delivery => {
                if let Some(delivery) = self.link.pop_due(now) {
                    match delivery.to {
                        Side::A => self.a.handle_packet(now, &delivery.packet),
                        Side::B => self.b.handle_packet(now, &delivery.packet),
                    }
                }
            }
            Next::Timeout(Side::A) => self.a.handle_timeout(now),
            Next::Timeout(Side::B) => self.b.handle_timeout(now),
        }
        self.flush();
    }

    fn check_livelock(&self) -> Result<(), SimError> {
        if self.steps_at_now > self.livelock_limit {
            return Err(SimError::Livelock {
                at: self.now,
                steps: self.steps_at_now,
            });
        }
        Ok(())
    }

    /// Runs every event due at or before `deadline`, then sets the clock to `deadline` (if it is
    /// later than now), so that user calls made next happen at `deadline`.
    pub fn run_until(&mut self, deadline: Instant) -> Result<(), SimError> {
        loop {
            self.check_livelock()?;
            self.flush();
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

    /// [`run_until`](Pair::run_until) `now + duration`.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        self.run_until(self.now + duration)
    }

    /// Runs until nothing is scheduled any more, and returns the time of the last event (the
    /// clock stays there). Fails with [`SimError::NotIdle`] if an event is still due after
    /// `limit`.
    pub fn run_until_idle(&mut self, limit: Instant) -> Result<Instant, SimError> {
        loop {
            self.check_livelock()?;
            self.flush();
            match self.peek() {
                None => return Ok(self.now),
                Some((at, next)) if at <= limit => self.perform(at, next),
                Some((next_event, _)) => {
                    self.run_until(limit)?;
                    return Err(SimError::NotIdle {
                        at: self.now,
                        next_event,
                    });
                }
            }
        }
    }

    /// Runs until `done` holds (checked before every step) and returns the time it first held.
    /// Fails with [`SimError::Stalled`] if the pair went idle first, or [`SimError::NotIdle`] if
    /// the next event lies after `limit` (the clock is then at `limit`).
    pub fn run_until_condition(
        &mut self,
        limit: Instant,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<Instant, SimError> {
        loop {
            self.check_livelock()?;
            self.flush();
            if done(self) {
                return Ok(self.now);
            }
            match self.peek() {
                Some((at, next)) if at <= limit => self.perform(at, next),
                Some((next_event, _)) => {
                    self.run_until(limit)?;
                    return Err(SimError::NotIdle {
                        at: self.now,
                        next_event,
                    });
                }
                None => return Err(SimError::Stalled { at: self.now }),
            }
        }
    }
}

/// Moves an endpoint's queued packets into the link; returns how many.
fn drain<E: Endpoint>(endpoint: &mut E, link: &mut Link, now: Instant, side: Side) -> usize {
    let mut sent = 0;
    while sent < MAX_TRANSMITS_PER_DRAIN {
        let Some(packet) = endpoint.poll_transmit(now) else {
            break;
        };
        link.send(now, side, packet);
        sent += 1;
    }
    sent
}
