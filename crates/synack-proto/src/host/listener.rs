//! A listening socket: its address (possibly wildcard), its SYN queue of half-open connections
//! and its accept queue of established ones not yet accepted, both bounded by the backlog.

use alloc::collections::VecDeque;
use core::net::SocketAddr;

use super::ConnId;
use crate::time::Instant;

pub(crate) struct Listener {
    pub local: SocketAddr,
    pub backlog: usize,
    /// Connections in SYN-RECEIVED (Linux's request sockets).
    pub syn_queue: VecDeque<ConnId>,
    /// Connections established and waiting for `accept`.
    pub accept_queue: VecDeque<ConnId>,
    /// When this listener last answered with a cookie: only then is an unexpected ACK checked
    /// for one (as Linux's `tcp_synq_no_recent_overflow`), so a quiet listener cannot be
    /// brute-forced.
    pub last_cookie: Option<Instant>,
}

impl Listener {
    pub fn syn_queue_full(&self) -> bool {
        self.syn_queue.len() >= self.backlog
    }
    pub fn accept_queue_full(&self) -> bool {
        self.accept_queue.len() >= self.backlog
    }
    pub fn remove(&mut self, id: ConnId) {
        self.syn_queue.retain(|c| *c != id);
        self.accept_queue.retain(|c| *c != id);
    }
}
