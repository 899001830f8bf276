//! One schedule for every connection and TIME-WAIT entry on the host, with lazy invalidation:
//! a target whose deadline moves earlier gets a new entry and the old one is skipped when it
//! comes due (one that moves later keeps its entry, re-armed when that comes due; see
//! `Entry::armed`), so `poll_timeout` is O(1) and rescheduling O(log n) at most. A target's
//! generation tells a stale entry from a live one.
//!
//! Two queues make up the schedule. Connections' deadlines go on a min-heap. TIME-WAIT
//! entries mostly expire in the order they were made (every one waits the same 2MSL), so
//! theirs go on a FIFO, which costs no reordering and no more memory than the entries;
//! a deadline that would come before the FIFO's last one (a connection with an MSL of its
//! own) goes on the heap instead. Due entries come out of both merged, in the order one heap
//! of everything would give.

use alloc::collections::{BinaryHeap, VecDeque};
use alloc::vec::Vec;
use core::cmp::Reverse;

use super::slot::SlabId;
use super::{ConnId, Target};
use crate::time::Instant;

/// A [`Target`] in 8 bytes, ordered as `Target` is: connections before TIME-WAIT entries,
/// then by slot index and generation. Keeps a heap entry at 16 bytes rather than 24.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Packed(u64);

const TIME_WAIT: u64 = 1 << 63;

impl Packed {
    fn new(target: Target) -> Packed {
        let (id, bit) = match target {
            Target::Conn(id) => (id.0, 0),
            Target::TimeWait(tw) => (tw, TIME_WAIT),
        };
        debug_assert!(
            u64::from(id.index) << 32 < TIME_WAIT,
            "slot index out of range"
        );
        Packed(bit | u64::from(id.index) << 32 | u64::from(id.generation))
    }

    fn target(self) -> Target {
        let id = SlabId {
            index: ((self.0 & !TIME_WAIT) >> 32) as u32,
            generation: self.0 as u32,
        };
        if self.0 & TIME_WAIT != 0 {
            Target::TimeWait(id)
        } else {
            Target::Conn(ConnId(id))
        }
    }
}

#[derive(Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Packed)>>,
    /// TIME-WAIT expiries in the order they were scheduled, which is deadline order.
    time_wait: VecDeque<(Instant, SlabId)>,
    /// TIME-WAIT entries on the heap (live or stale): with the connections, the most the
    /// heap can hold live.
    heap_time_wait: usize,
}

impl Timers {
    pub fn push(&mut self, at: Instant, target: Target) {
        if let Target::TimeWait(tw) = target {
            if self.time_wait.back().is_none_or(|(last, _)| *last <= at) {
                self.time_wait.push_back((at, tw));
                return;
            }
            self.heap_time_wait += 1;
        }
        self.heap.push(Reverse((at, Packed::new(target))));
    }

    /// The earliest deadline, possibly of an entry that turns out stale (an early wakeup at
    /// worst).
    #[inline]
    pub fn next(&self) -> Option<Instant> {
        let heap = self.heap.peek().map(|Reverse((t, _))| *t);
        let fifo = self.time_wait.front().map(|(t, _)| *t);
        match (heap, fifo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes every entry due at `now`, earliest first (ties: connections before TIME-WAIT
    /// entries, then by slot).
    #[cfg(test)]
    pub fn pop_due(&mut self, now: Instant) -> Vec<(Instant, Target)> {
        let mut due = Vec::new();
        self.pop_due_into(now, &mut due);
        due
    }

    /// [`Timers::pop_due`] into `due` (emptied first), whose room is kept from call to call:
    /// timers firing cost no allocation.
    pub fn pop_due_into(&mut self, now: Instant, due: &mut Vec<(Instant, Target)>) {
        due.clear();
        while let Some(Reverse((t, _))) = self.heap.peek() {
            if *t > now {
                break;
            }
            if let Some(Reverse((t, p))) = self.heap.pop() {
                let target = p.target();
                if let Target::TimeWait(_) = target {
                    self.heap_time_wait -= 1;
                }
                due.push((t, target));
            }
        }
        let from_heap = due.len();
        while let Some(&(t, tw)) = self.time_wait.front() {
            if t > now {
                break;
            }
            self.time_wait.pop_front();
            due.push((t, Target::TimeWait(tw)));
        }
        // The heap's run is in order; with the FIFO's added (whose equal deadlines are in
        // scheduling order, not slot order), sort the whole.
        if due.len() > from_heap {
            due.sort_unstable();
        }
    }

    /// Whether `(at, target)` is scheduled (for `Host::audit`).
    pub fn contains(&self, at: Instant, target: Target) -> bool {
        let packed = Packed::new(target);
        let in_fifo = match target {
            Target::TimeWait(tw) => self.time_wait.iter().any(|e| *e == (at, tw)),
            Target::Conn(_) => false,
        };
        in_fifo || self.heap.iter().any(|Reverse(e)| *e == (at, packed))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len() + self.time_wait.len()
    }

    /// Drops stale entries once they outnumber what can be live (one entry per connection
    /// and TIME-WAIT entry), so churn cannot grow the schedule; `live` tells which are.
    pub fn compact(
        &mut self,
        conns: usize,
        time_wait: usize,
        live: impl Fn(Instant, Target) -> bool,
    ) {
        let bound = 2 * (conns + self.heap_time_wait) + 64;
        if self.heap.len() <= bound {
            // Full: grow to at least what the heap may hold before compaction. With
            // deadlines re-armed lazily stale entries pile up slowly, and growing by doubling
            // alone would still be allocating long into a steady transfer.
            let len = self.heap.len();
            if len == self.heap.capacity() {
                self.heap.reserve(len.max(bound + 1 - len));
            }
        } else {
            self.heap.retain(|Reverse((t, p))| live(*t, p.target()));
            self.heap_time_wait = self
                .heap
                .iter()
                .filter(|Reverse((_, p))| p.0 & TIME_WAIT != 0)
                .count();
        }
        if self.time_wait.len() > 2 * time_wait + 64 {
            self.time_wait
                .retain(|(t, tw)| live(*t, Target::TimeWait(*tw)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(index: u32, generation: u32) -> Target {
        Target::Conn(ConnId(SlabId { index, generation }))
    }

    fn tw(index: u32, generation: u32) -> Target {
        Target::TimeWait(SlabId { index, generation })
    }

    #[test]
    fn packing_keeps_the_order_of_targets() {
        let targets = [
            conn(0, 0),
            conn(0, 7),
            conn(3, 1),
            conn(u32::MAX >> 1, u32::MAX),
            tw(0, 0),
            tw(2, 5),
            tw(u32::MAX >> 1, 0),
        ];
        for a in targets {
            assert_eq!(Packed::new(a).target(), a);
            for b in targets {
                assert_eq!(
                    Packed::new(a).cmp(&Packed::new(b)),
                    a.cmp(&b),
                    "{a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn due_entries_come_out_as_one_heap_would_give_them() {
        let ms = Instant::from_millis;
        let mut t = Timers::default();
        // TIME-WAIT expiries in scheduling order go on the FIFO; one earlier than the FIFO's
        // last goes on the heap.
        t.push(ms(10), tw(5, 0));
        t.push(ms(10), tw(1, 0));
        t.push(ms(20), tw(2, 0));
        t.push(ms(15), tw(3, 0));
        t.push(ms(10), conn(9, 0));
        t.push(ms(20), conn(1, 1));
        assert_eq!(t.len(), 6);
        assert_eq!(t.next(), Some(ms(10)));
        assert!(t.contains(ms(15), tw(3, 0)));
        assert!(!t.contains(ms(15), tw(3, 1)));
        assert_eq!(
            t.pop_due(ms(15)),
            [
                (ms(10), conn(9, 0)),
                (ms(10), tw(1, 0)),
                (ms(10), tw(5, 0)),
                (ms(15), tw(3, 0)),
            ]
        );
        assert_eq!(t.next(), Some(ms(20)));
        assert_eq!(
            t.pop_due(ms(30)),
            [(ms(20), conn(1, 1)), (ms(20), tw(2, 0))]
        );
        assert_eq!(t.next(), None);
    }

    #[test]
    fn compaction_drops_stale_entries_once_they_outnumber_live_ones() {
        let ms = Instant::from_millis;
        let mut t = Timers::default();
        // One connection rescheduled 50 times and 100 TIME-WAIT entries, one of them
        // restarted once: only the latest deadline of each is live.
        for k in 0..50 {
            t.push(ms(k), conn(0, 0));
        }
        for i in 0..100 {
            t.push(ms(1000), tw(i, 0));
        }
        t.push(ms(2000), tw(7, 0));
        let live = |at: Instant, target: Target| match target {
            Target::Conn(_) => at == ms(149),
            Target::TimeWait(SlabId { index: 7, .. }) => at == ms(2000),
            Target::TimeWait(_) => at == ms(1000),
        };
        // Within bounds for 1 connection and 100 entries: nothing is touched.
        t.compact(1, 100, live);
        assert_eq!(t.len(), 151);
        // A hundred more reschedulings: the heap is mostly stale and is compacted.
        for k in 50..150 {
            t.push(ms(k), conn(0, 0));
        }
        t.compact(1, 100, live);
        assert_eq!(t.len(), 1 + 101);
        assert!(t.contains(ms(149), conn(0, 0)));
        assert!(!t.contains(ms(148), conn(0, 0)));
        // Entries gone from the table leave the FIFO stale: it is compacted too.
        t.compact(1, 10, live);
        assert_eq!(t.len(), 101);
        assert!(!t.contains(ms(1000), tw(7, 0)));
        assert!(t.contains(ms(2000), tw(7, 0)));
    }
}
