//! A connection's entry on the host: claimed and released, and brought up to date after every
//! touch (its events turned into host events, its timer rescheduled, its memory counted, its
//! 4-tuple unlinked once it is dead).

use super::*;
use crate::Cause;
use crate::conn::Event;

impl Host {
    pub(super) fn insert(
        &mut self,
        conn: Connection,
        local: SocketAddr,
        remote: SocketAddr,
        role: Role,
    ) -> ConnId {
        self.insert_with(Tuple::new(local, remote), false, role, || conn)
    }

    /// [`Host::insert`] of the connection `make` returns, made in its slot rather than moved
    /// there (see `Slab::insert_with`); what is left to do to it is done in place, through
    /// the id. `absent`: a lookup of `tuple` found no owner, and the demux table has not
    /// changed since, so the insert need not look for one to replace.
    pub(super) fn insert_with(
        &mut self,
        tuple: Tuple,
        absent: bool,
        role: Role,
        make: impl FnOnce() -> Connection,
    ) -> ConnId {
        let id = ConnId(self.conns.insert_with(|| Entry {
            conn: make(),
            tuple,
            role,
            released: false,
            in_demux: true,
            ready: false,
            armed: None,
            memory: 0,
            memory_wait: false,
            error_taken: false,
        }));
        if absent {
            self.demux_insert_absent(&tuple, Target::Conn(id));
        } else {
            self.demux_insert(&tuple, Target::Conn(id));
        }
        id
    }

    pub(super) fn release(&mut self, id: ConnId) {
        let Some((memory_wait, memory, parts)) = self
            .conns
            .remove_with(id.0, |e| (e.memory_wait, e.memory, e.conn.take_parts()))
        else {
            return;
        };
        self.spares.put(parts);
        if memory_wait {
            // Refused once for memory, gone before any came free: not a waiter any more, or
            // the list grows with every such connection while memory stays short.
            self.memory_waiters.retain(|w| *w != id);
        }
        self.buffer_memory -= memory;
        // A connection given up with data still unread (in CLOSED or TIME-WAIT) frees its
        // memory only here; senders refused for lack of it must hear so, or they wait for a
        // `Writable` that never comes.
        if memory > 0 && !self.memory_waiters.is_empty() {
            self.wake_memory_waiters();
        }
    }

    /// After anything touched a connection: take its events, reschedule its timer, queue it
    /// for transmission, and unlink it once it is dead.
    ///
    /// This runs after every segment that reaches a connection and every call on one, so the
    /// entry is looked up once: all that concerns it alone is done with it in hand, and what
    /// reaches across the host (the timer schedule, memory waiters, the demux table) after.
    pub(super) fn after(&mut self, id: ConnId) {
        let Some(e) = self.conns.get_mut(id.0) else {
            return;
        };
        let freed = hand_on_and_recount(
            id,
            e,
            &mut self.counters,
            &mut self.listeners,
            &mut self.events,
            &mut self.buffer_memory,
        );
        let push = e.arm(e.conn.poll_timeout());
        // CLOSED, or a passive open that failed and fell back to LISTEN: the 4-tuple is free
        // again. A connection nobody was handed yet goes with it.
        let unlink = e.in_demux && matches!(e.conn.state(), StateName::Closed | StateName::Listen);
        if unlink {
            e.in_demux = false;
            if let Role::HalfOpen(l) | Role::Queued(l) = e.role {
                e.released = true;
                e.conn.forget_info();
                if let Some(listener) = self.listeners.get_mut(l.0) {
                    listener.remove(id);
                }
            }
        }
        // Most touches leave a connection with nothing to send (a pure ACK in, a byte read):
        // one its user still holds stays off the ready queue, where the next `poll_transmit`
        // would only look it up to find so. A released one is queued all the same, since
        // `poll_transmit` is where it is freed or compacted once quiet. Debug builds queue
        // the same ones, so the tests run this path; `poll_transmit` still builds a segment
        // for every connection it polls there, to hold the quiet look to the full answer.
        if !e.ready && (e.released || !e.conn.quiet()) {
            e.ready = true;
            self.ready.push_back(id);
        }
        let tuple = e.tuple;
        if let Some(t) = push {
            self.schedule(t, Target::Conn(id));
        }
        if freed && !self.memory_waiters.is_empty() {
            self.wake_memory_waiters();
        }
        if unlink {
            self.demux_remove(&tuple, Target::Conn(id));
        }
    }

    /// [`Host::after`] a SEND or RECEIVE call on a connection its user holds. Such a call
    /// moves bytes between the user and a buffer and nothing else: no deadline (the timers
    /// start when a segment goes out or comes in, RFC 9293 §3.8.1, and keepalive's and the
    /// user timeout's follow SND.UNA and SND.MAX, which only a segment moves) and no state.
    /// So the connection's answer to `poll_timeout` is the one it gave at its last touch,
    /// which its entry is armed for already, and the 4-tuple stays where it is: of `after`,
    /// its events, its memory and the ready queue are left. Debug builds check both.
    pub(super) fn after_io(&mut self, id: ConnId) {
        let Some(e) = self.conns.get_mut(id.0) else {
            return;
        };
        let freed = hand_on_and_recount(
            id,
            e,
            &mut self.counters,
            &mut self.listeners,
            &mut self.events,
            &mut self.buffer_memory,
        );
        debug_assert!(
            e.would_arm(e.conn.poll_timeout()).is_none(),
            "a SEND or RECEIVE moved a deadline earlier than the one armed"
        );
        debug_assert!(
            !(e.in_demux && matches!(e.conn.state(), StateName::Closed | StateName::Listen)),
            "a SEND or RECEIVE closed the connection"
        );
        // The user holds the handle, so the entry is not released: queued only with work.
        if !e.ready && !e.conn.quiet() {
            e.ready = true;
            self.ready.push_back(id);
        }
        if freed && !self.memory_waiters.is_empty() {
            self.wake_memory_waiters();
        }
    }

    /// Events and timer of a connection, after it sent something: `after` without the
    /// queueing and unlinking, which sending a segment never calls for.
    #[inline(always)]
    pub(super) fn after_transmit(&mut self, id: ConnId) {
        let Some(e) = self.conns.get_mut(id.0) else {
            return;
        };
        let freed = hand_on_and_recount(
            id,
            e,
            &mut self.counters,
            &mut self.listeners,
            &mut self.events,
            &mut self.buffer_memory,
        );
        if let Some(t) = e.arm(e.conn.poll_timeout()) {
            self.schedule(t, Target::Conn(id));
        }
        if freed && !self.memory_waiters.is_empty() {
            self.wake_memory_waiters();
        }
    }

    /// Puts a connection's deadline on the schedule if it moved earlier than its entry there.
    pub(super) fn reschedule(&mut self, id: ConnId) {
        let Some(e) = self.conns.get_mut(id.0) else {
            return;
        };
        if let Some(t) = e.arm(e.conn.poll_timeout()) {
            self.schedule(t, Target::Conn(id));
        }
    }
}

impl Entry {
    /// The connection's deadline `t` (its `poll_timeout`) when it must go on the timer heap:
    /// nothing is armed, or what is armed is later (see `armed`); it is armed then. A deadline
    /// moved later, or gone, leaves the armed entry to be looked at when it comes due.
    #[inline(always)]
    pub(super) fn arm(&mut self, t: Option<Instant>) -> Option<Instant> {
        let t = self.would_arm(t)?;
        self.armed = Some(t);
        Some(t)
    }

    /// What [`Entry::arm`] would put on the schedule for `t`, with nothing changed.
    #[inline(always)]
    fn would_arm(&self, t: Option<Instant>) -> Option<Instant> {
        t.filter(|&t| self.armed.is_none_or(|a| a > t))
    }
}

/// What every touch of a connection does with its entry in hand: its events handed on
/// (what they touch besides the entry, the counters, a listener's queues and the host's
/// events, lies outside the slab, so the entry is looked up once for all of them) and its
/// buffered bytes counted again. True when it now holds less than before.
#[inline(always)]
fn hand_on_and_recount(
    id: ConnId,
    e: &mut Entry,
    counters: &mut Counters,
    listeners: &mut Slab<Listener>,
    events: &mut VecDeque<HostEvent>,
    buffer_memory: &mut usize,
) -> bool {
    while let Some(ev) = e.conn.poll_event() {
        hand_on(id, e, ev, counters, listeners, events);
    }
    let memory = e.conn.buffered_bytes();
    let freed = memory < e.memory;
    *buffer_memory = *buffer_memory - e.memory + memory;
    e.memory = memory;
    freed
}

/// Connection `id`'s event `ev` as the host reports it: counted in `counters`, a completed
/// handshake moved from its listener's SYN queue to the accept queue, and the host's events
/// for `events`. About eighteen pass here in a connection's short life, so readiness and the
/// end are handed on in line; only a state change, with its counting, takes a call.
#[inline(always)]
fn hand_on(
    id: ConnId,
    e: &mut Entry,
    ev: Event,
    counters: &mut Counters,
    listeners: &mut Slab<Listener>,
    events: &mut VecDeque<HostEvent>,
) {
    // State changes are a trace of the protocol (tools draw them, as Linux's
    // `tcp:tcp_set_state` tracepoint shows them), so they are reported for the whole life
    // of a connection, FIN-WAIT-1 to CLOSED after `close` included. The other events are
    // for a user who still holds the handle: for a released one they are dropped before
    // anything is built.
    let host_ev = match ev {
        Event::StateChanged { from, to, cause } => {
            return hand_on_state_change(id, e, from, to, cause, counters, listeners, events);
        }
        _ if e.released => return,
        Event::Readable => HostEvent::Readable(id),
        Event::Writable => HostEvent::Writable(id),
        Event::Closed { error } => HostEvent::Closed(id, error),
    };
    events.push_back(host_ev);
}

/// [`hand_on`] of a move from `from` to `to`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn hand_on_state_change(
    id: ConnId,
    e: &mut Entry,
    from: StateName,
    to: StateName,
    cause: Cause,
    counters: &mut Counters,
    listeners: &mut Slab<Listener>,
    events: &mut VecDeque<HostEvent>,
) {
    use StateName::*;
    if (from, to) == (Closed, Listen) {
        // A half-open connection is built as a one-shot LISTEN fed the SYN; that first
        // step is bookkeeping, not news.
        return;
    }
    let c = counters;
    match (from, to) {
        (Closed, SynSent) => c.active_opens += 1,
        (Listen, SynReceived | Established) => c.passive_opens += 1,
        (SynSent | SynReceived, Closed) | (SynReceived, Listen) => c.attempt_fails += 1,
        (Established | CloseWait, Closed) => c.estab_resets += 1,
        _ => {}
    }
    let counted = |s: StateName| matches!(s, Established | CloseWait);
    if counted(to) && !counted(from) {
        c.curr_estab += 1;
    } else if counted(from) && !counted(to) {
        c.curr_estab = c.curr_estab.saturating_sub(1);
    }
    events.push_back(HostEvent::StateChanged {
        conn: id,
        from,
        to,
        cause,
    });
    if let (SynReceived, Established, Role::HalfOpen(l)) = (from, to, e.role) {
        // The handshake completed: from the SYN queue to the accept queue.
        e.role = Role::Queued(l);
        if let Some(listener) = listeners.get_mut(l.0) {
            listener.syn_queue.retain(|c| *c != id);
            listener.accept_queue.push_back(id);
        }
        events.push_back(HostEvent::Accepted {
            listener: l,
            conn: id,
        });
    }
}
