//! One schedule for every connection and TIME-WAIT entry on the host: a min-heap of
//! (deadline, target) with lazy invalidation. A connection whose deadline moves pushes a new
//! entry and the old one is skipped when it surfaces, so `poll_timeout` is O(1) and
//! rescheduling O(log n). A target's generation tells a stale entry from a live one.

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Reverse;

use super::Target;
use crate::time::Instant;

#[derive(Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Target)>>,
}

impl Timers {
    pub fn push(&mut self, at: Instant, target: Target) {
        self.heap.push(Reverse((at, target)));
    }

    /// The earliest deadline, possibly of an entry that turns out stale (an early wakeup at
    /// worst).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Takes every entry due at `now`, earliest first (ties: connections before TIME-WAIT
    /// entries, then by slot).
    pub fn pop_due(&mut self, now: Instant) -> Vec<(Instant, Target)> {
        let mut due = Vec::new();
        while let Some(Reverse((t, _))) = self.heap.peek() {
            if *t > now {
                break;
            }
            if let Some(Reverse(e)) = self.heap.pop() {
                due.push(e);
            }
        }
        due
    }

    /// Whether `(at, target)` is on the heap (for `Host::audit`).
    pub fn contains(&self, at: Instant, target: Target) -> bool {
        self.heap.iter().any(|Reverse(e)| *e == (at, target))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops stale entries once they outnumber live ones, so churn cannot grow the heap.
    pub fn compact(&mut self, live: impl Fn(Instant, Target) -> bool) {
        self.heap.retain(|Reverse((t, target))| live(*t, *target));
    }
}
