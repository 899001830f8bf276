//! One schedule for every connection on the host: a min-heap of (deadline, slot, generation)
//! with lazy invalidation. A connection whose deadline moves pushes a new entry and the old one
//! is skipped when it surfaces, so `poll_timeout` is O(1) and rescheduling O(log n).

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Reverse;

use crate::time::Instant;

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
}

impl Timers {
    pub fn push(&mut self, at: Instant, index: u32, generation: u32) {
        self.heap.push(Reverse((at, index, generation)));
    }

    /// The earliest deadline, possibly of an entry that turns out stale (an early wakeup at
    /// worst).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Takes every entry due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Vec<(Instant, u32, u32)> {
        let mut due = Vec::new();
        while let Some(Reverse((t, _, _))) = self.heap.peek() {
            if *t > now {
                break;
            }
            if let Some(Reverse(e)) = self.heap.pop() {
                due.push(e);
            }
        }
        due
    }

    /// Whether `(at, index, generation)` is on the heap (for `Host::audit`).
    pub fn contains(&self, at: Instant, index: u32, generation: u32) -> bool {
        self.heap
            .iter()
            .any(|Reverse(e)| *e == (at, index, generation))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops stale entries once they outnumber live ones, so churn cannot grow the heap.
    pub fn compact(&mut self, live: impl Fn(Instant, u32, u32) -> bool) {
        self.heap.retain(|Reverse((t, i, g))| live(*t, *i, *g));
    }
}
