//! `Host::audit`: the host's bookkeeping checked against what it holds, for tests and debugging.

use alloc::format;
use alloc::string::String;

use super::*;

impl Host {
    /// Checks the host's bookkeeping against what it holds, between calls: the live and
    /// TIME-WAIT counts, `buffer_memory` as the sum over connections of what each buffers,
    /// the demux table naming exactly the connections and entries reachable by 4-tuple, and a
    /// timer on the heap no later than every deadline. O(connections × timers): for tests and debugging.
    pub fn audit(&self) -> Result<(), String> {
        let live = self.conns.count_occupied();
        if live != self.conns.len() {
            return Err(format!(
                "live {} but {live} slots hold a connection",
                self.conns.len()
            ));
        }
        let tw = self.time_wait.count_occupied();
        if tw != self.time_wait.len() {
            return Err(format!(
                "time_wait_live {} but {tw} entries",
                self.time_wait.len()
            ));
        }
        let mut memory = 0;
        for (slab_id, e) in self.conns.iter() {
            let id = ConnId(slab_id);
            if e.memory != e.conn.buffered_bytes() {
                return Err(format!(
                    "{id:?}: counted {} bytes, holds {}",
                    e.memory,
                    e.conn.buffered_bytes()
                ));
            }
            memory += e.memory;
            if let (Role::HalfOpen(l) | Role::Queued(l), false) = (e.role, e.released) {
                let queued = self.listeners.get(l.0).is_some_and(|q| match e.role {
                    Role::HalfOpen(_) => q.syn_queue.contains(&id),
                    _ => q.accept_queue.contains(&id),
                });
                if !queued {
                    return Err(format!("{id:?}: {:?} but not in that queue", e.role));
                }
            }
            if e.in_demux && self.demux_get(&e.tuple) != Some(Target::Conn(id)) {
                return Err(format!(
                    "{id:?} ({:?}) not reachable by its 4-tuple",
                    e.conn.state()
                ));
            }
            if let Some(t) = e.conn.poll_timeout()
                && e.armed.is_none_or(|a| a > t)
            {
                return Err(format!("{id:?}: deadline {t:?} but armed at {:?}", e.armed));
            }
            if let Some(a) = e.armed
                && !self.timers.contains(a, Target::Conn(id))
            {
                return Err(format!("{id:?}: armed at {a:?} but not on the timer heap"));
            }
        }
        if memory != self.buffer_memory {
            return Err(format!(
                "buffer_memory {} but connections hold {memory}",
                self.buffer_memory
            ));
        }
        // Listener queues: live connections, each in the role its queue implies.
        for (l, listener) in self.listeners.iter() {
            let l = ListenerId(l);
            let queues = [
                (&listener.syn_queue, Role::HalfOpen(l)),
                (&listener.accept_queue, Role::Queued(l)),
            ];
            for (queue, role) in queues {
                for id in queue {
                    let ok = self
                        .entry(*id)
                        .is_some_and(|e| e.role == role && !e.released);
                    if !ok {
                        return Err(format!("{l:?}: {id:?} is not {role:?}"));
                    }
                }
            }
        }
        // Refused senders: each a connection that exists and knows it waits, once.
        for (k, id) in self.memory_waiters.iter().enumerate() {
            let waiting = self.entry(*id).is_some_and(|e| e.memory_wait);
            if !waiting || self.memory_waiters[..k].contains(id) {
                return Err(format!("memory waiter {id:?} is gone or listed twice"));
            }
        }
        for (tw, e) in self.time_wait.iter() {
            let target = Target::TimeWait(tw);
            if self.demux_get(&e.tuple) != Some(target) {
                return Err(format!("{target:?} not reachable by its 4-tuple"));
            }
            if !self.timers.contains(e.expires, target) {
                return Err(format!("{target:?}: expiry not on the timer heap"));
            }
        }
        // Every slot the table names is occupied (the references carry no generation, so one
        // naming an emptied slot would reach its next occupant), a connection's marked as in
        // the table, and each found again by its tuple.
        let in_demux = self.conns.iter().filter(|(_, e)| e.in_demux).count();
        if self.demux.len() != in_demux + self.time_wait.len() {
            return Err(format!(
                "demux holds {} tuples for {in_demux} connections and {} TIME-WAIT entries",
                self.demux.len(),
                self.time_wait.len()
            ));
        }
        for (target, found) in self.demux_owners() {
            let ok = match target {
                Some(Target::Conn(id)) => self.entry(id).is_some_and(|e| e.in_demux),
                Some(Target::TimeWait(_)) => true,
                None => false,
            };
            if !ok || !found {
                return Err(format!(
                    "demux names {target:?}, which is gone, not in the table, or unreachable"
                ));
            }
        }
        // The last-hit cache may only name an owner the table holds now.
        if !self.demux.last_is_owner() {
            return Err("the demux cache names a slot the table no longer holds".into());
        }
        Ok(())
    }
}
