//! State changes as a tool sees them: every edge a connection takes along RFC 9293's state
//! diagram, with its addresses where the host still knows them, handed to a callback the
//! driver calls. `synack serve` logs them; the core reports them as host events.

use std::collections::HashMap;
use std::net::SocketAddr;

use synack_proto::StateName;
use synack_proto::host::{ConnId, Host};

/// One connection moving from one state to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// A number for the connection, counted from 1 in the order connections are first seen.
    pub conn: u64,
    /// (local, remote), once known: a connection still in a listener's queue, or one the user
    /// already closed, may be reported before its addresses are.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
    pub from: StateName,
    pub to: StateName,
}

/// The callback and what it needs to name connections.
pub(crate) struct Observer {
    f: Box<dyn FnMut(&StateChange) + Send>,
    names: HashMap<ConnId, (u64, Option<(SocketAddr, SocketAddr)>)>,
    next: u64,
}

impl Observer {
    pub(crate) fn new(f: Box<dyn FnMut(&StateChange) + Send>) -> Observer {
        Observer {
            f,
            names: HashMap::new(),
            next: 1,
        }
    }

    /// Called by the stack for each `HostEvent::StateChanged`, with the host lock held: the
    /// callback must not call into the stack.
    pub(crate) fn report(&mut self, host: &Host, conn: ConnId, from: StateName, to: StateName) {
        let next = &mut self.next;
        let entry = self.names.entry(conn).or_insert_with(|| {
            let n = *next;
            *next += 1;
            (n, None)
        });
        if entry.1.is_none() {
            entry.1 = host.local_addr(conn).ok().zip(host.peer_addr(conn).ok());
        }
        let change = StateChange {
            conn: entry.0,
            addrs: entry.1,
            from,
            to,
        };
        if to == StateName::Closed {
            self.names.remove(&conn);
        }
        (self.f)(&change);
    }

    /// Learns a connection's addresses while the user holds it (accept, connect).
    pub(crate) fn learn(&mut self, host: &Host, conn: ConnId) {
        if let Some(e) = self.names.get_mut(&conn) {
            if e.1.is_none() {
                e.1 = host.local_addr(conn).ok().zip(host.peer_addr(conn).ok());
            }
        }
    }
}
