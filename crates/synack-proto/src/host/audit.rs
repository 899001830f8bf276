//! `Host::audit`: the host's bookkeeping checked against what it holds, for tests and debugging.

use super::*;

impl Host {
    /// Checks the host's bookkeeping against what it holds, between calls: the live and
    /// TIME-WAIT counts, `buffer_memory` as the sum over connections of what each buffers,
    /// the demux table naming exactly the connections and entries reachable by 4-tuple, and a
    /// timer on the heap for every deadline. O(connections × timers): for tests and debugging.
    pub fn audit(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let live = self.slots.iter().filter(|s| s.entry.is_some()).count();
        if live != self.live {
            return Err(format!(
                "live {} but {live} slots hold a connection",
                self.live
            ));
        }
        let tw = self.time_wait.iter().filter(|s| s.entry.is_some()).count();
        if tw != self.time_wait_live {
            return Err(format!(
                "time_wait_live {} but {tw} entries",
                self.time_wait_live
            ));
        }
        let mut memory = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(e) = slot.entry.as_ref() else {
                continue;
            };
            let index = i as u32;
            if e.memory != e.conn.buffered_bytes() {
                return Err(format!(
                    "slot {i}: counted {} bytes, holds {}",
                    e.memory,
                    e.conn.buffered_bytes()
                ));
            }
            memory += e.memory;
            if let (Role::HalfOpen(l) | Role::Queued(l), false) = (e.role, e.released) {
                let id = ConnId {
                    index,
                    generation: slot.generation,
                };
                let queued = self
                    .listeners
                    .get(l as usize)
                    .and_then(|s| s.listener.as_ref())
                    .is_some_and(|q| match e.role {
                        Role::HalfOpen(_) => q.syn_queue.contains(&id),
                        _ => q.accept_queue.contains(&id),
                    });
                if !queued {
                    return Err(format!("slot {i}: {:?} but not in that queue", e.role));
                }
            }
            let tuple = Tuple::new(e.local, e.remote);
            if e.in_demux && self.demux.get(&tuple) != Some(&index) {
                return Err(format!(
                    "slot {i} ({:?}) not reachable by its 4-tuple",
                    e.conn.state()
                ));
            }
            if let Some(t) = e.deadline {
                if !self.timers.contains(t, index, slot.generation) {
                    return Err(format!("slot {i}: deadline {t:?} not on the timer heap"));
                }
            }
            if e.deadline != e.conn.poll_timeout() {
                return Err(format!(
                    "slot {i}: deadline {:?}, connection wants {:?}",
                    e.deadline,
                    e.conn.poll_timeout()
                ));
            }
        }
        if memory != self.buffer_memory {
            return Err(format!(
                "buffer_memory {} but connections hold {memory}",
                self.buffer_memory
            ));
        }
        // Listener queues: live connections, each in the role its queue implies.
        for (l, slot) in self.listeners.iter().enumerate() {
            let Some(listener) = slot.listener.as_ref() else {
                continue;
            };
            let l = l as u32;
            let queues = [
                (&listener.syn_queue, Role::HalfOpen(l)),
                (&listener.accept_queue, Role::Queued(l)),
            ];
            for (queue, role) in queues {
                for id in queue {
                    let ok = self
                        .slots
                        .get(id.index as usize)
                        .filter(|s| s.generation == id.generation)
                        .and_then(|s| s.entry.as_ref())
                        .is_some_and(|e| e.role == role && !e.released);
                    if !ok {
                        return Err(format!("listener {l}: {id:?} is not {role:?}"));
                    }
                }
            }
        }
        // Refused senders: each a connection that exists and knows it waits, once.
        for (k, id) in self.memory_waiters.iter().enumerate() {
            let waiting = self
                .slots
                .get(id.index as usize)
                .filter(|s| s.generation == id.generation)
                .and_then(|s| s.entry.as_ref())
                .is_some_and(|e| e.memory_wait);
            if !waiting || self.memory_waiters[..k].contains(id) {
                return Err(format!("memory waiter {id:?} is gone or listed twice"));
            }
        }
        for (i, slot) in self.time_wait.iter().enumerate() {
            let Some(e) = slot.entry.as_ref() else {
                continue;
            };
            let index = i as u32 | TW_BIT;
            if self.demux.get(&e.tuple) != Some(&index) {
                return Err(format!("TIME-WAIT entry {i} not reachable by its 4-tuple"));
            }
            if !self.timers.contains(e.expires, index, slot.generation) {
                return Err(format!("TIME-WAIT entry {i}: expiry not on the timer heap"));
            }
        }
        for (tuple, &index) in self.demux.iter() {
            let found = if index & TW_BIT != 0 {
                self.time_wait
                    .get((index & !TW_BIT) as usize)
                    .and_then(|s| s.entry.as_ref())
                    .is_some_and(|e| e.tuple == *tuple)
            } else {
                self.slots
                    .get(index as usize)
                    .and_then(|s| s.entry.as_ref())
                    .is_some_and(|e| e.in_demux && Tuple::new(e.local, e.remote) == *tuple)
            };
            if !found {
                return Err(format!(
                    "demux names {index:#x}, which does not hold {tuple:?}"
                ));
            }
        }
        Ok(())
    }
}
