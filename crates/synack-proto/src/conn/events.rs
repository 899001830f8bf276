//! A connection's queue of events for its owner. The host takes them after every touch, so a
//! handful at most wait at once: those sit inline and a connection's life allocates nothing for
//! them; a caller that lets more pile up (a connection driven on its own, never polled) gets
//! the rest in a heap queue behind them, in order.

use alloc::boxed::Box;
use alloc::collections::VecDeque;

use super::Event;

/// Events held without allocating; a state change with its `Closed`, plus `Readable` and
/// `Writable`, fit.
const INLINE: usize = 4;

#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    inline: [Option<Event>; INLINE],
    /// Index of the oldest inline event.
    head: u8,
    /// Inline events waiting.
    len: u8,
    /// Events that arrived while the inline ring was full or this held older ones; boxed so
    /// the queue takes no more room in a connection than a `VecDeque` would.
    #[allow(clippy::box_collection)]
    spill: Option<Box<VecDeque<Event>>>,
}

impl EventQueue {
    #[inline]
    pub fn push_back(&mut self, ev: Event) {
        let len = usize::from(self.len);
        let spilled = self.spill.as_ref().is_some_and(|s| !s.is_empty());
        if !spilled && len < INLINE {
            self.inline[(usize::from(self.head) + len) % INLINE] = Some(ev);
            self.len += 1;
        } else {
            self.spill_back(ev);
        }
    }

    /// The rare push that finds the inline room taken: out of line, so every inlined
    /// `push_back` is the few instructions of the inline case only.
    #[cold]
    #[inline(never)]
    fn spill_back(&mut self, ev: Event) {
        self.spill.get_or_insert_with(Box::default).push_back(ev);
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.spill.as_ref().is_none_or(|s| s.is_empty())
    }

    #[inline]
    pub fn pop_front(&mut self) -> Option<Event> {
        if self.len == 0 {
            return self.spill.as_mut()?.pop_front();
        }
        let ev = self.inline[usize::from(self.head)].take();
        self.head = ((usize::from(self.head) + 1) % INLINE) as u8;
        self.len -= 1;
        ev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_takes_no_more_room_than_a_vecdeque() {
        assert!(core::mem::size_of::<EventQueue>() <= core::mem::size_of::<VecDeque<Event>>());
    }

    #[test]
    fn events_come_out_in_the_order_they_went_in_past_the_inline_room() {
        let mut q = EventQueue::default();
        let evs = [
            Event::Readable,
            Event::Writable,
            Event::Closed { error: None },
            Event::Readable,
            Event::Writable,
            Event::Readable,
            Event::Closed { error: None },
        ];
        // Interleave pushes and pops so the ring wraps while the spill holds newer events.
        let mut out = alloc::vec::Vec::new();
        for (i, e) in evs.iter().enumerate() {
            q.push_back(*e);
            if i % 3 == 2 {
                out.extend(q.pop_front());
            }
        }
        while let Some(e) = q.pop_front() {
            out.push(e);
        }
        assert_eq!(out, evs);
        assert_eq!(q.pop_front(), None);
        // Drained, the queue is inline again.
        q.push_back(Event::Writable);
        assert!(q.spill.as_ref().is_none_or(|s| s.is_empty()));
        assert_eq!(q.pop_front(), Some(Event::Writable));
    }
}
