//! Wake-ups: the moments a socket's readiness was renewed, which edge-triggered readiness
//! (epoll's `EPOLLET`) reports, where `poll` reports states.
//!
//! Linux wakes a socket's waiters when data arrives (even if earlier data is still unread),
//! when its state changes (every event then, as `sk_state_change` wakes with no mask), and
//! when acknowledged data frees send-buffer space, but the last only for a socket that found
//! the buffer full since it was last woken (`SOCK_NOSPACE`, set by a short write or by a
//! poll that saw no room): space freed under a writer that never ran out is no news.

use crate::{SocketId, SocketResult, SocketTable};

/// What renewed a socket's readiness since its wake-ups were last taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wakeups {
    /// Data or the peer's FIN arrived, or a connection is waiting to be accepted.
    pub readable: bool,
    /// Send-buffer space was freed for a writer that had run out of it.
    pub writable: bool,
    /// The connection changed state or closed: every waiter looks again.
    pub any: bool,
}

impl Wakeups {
    pub fn is_empty(&self) -> bool {
        !(self.readable || self.writable || self.any)
    }
}

impl SocketTable {
    /// The socket's wake-ups since the last call, cleared.
    pub fn take_wakeups(&mut self, id: SocketId) -> SocketResult<Wakeups> {
        Ok(core::mem::take(&mut self.sock_mut(id)?.wakeups))
    }

    /// Someone found no room to write (a poll or epoll wait without `POLLOUT`): the next
    /// freed space wakes the socket.
    pub fn want_write_space(&mut self, id: SocketId) -> SocketResult<()> {
        self.sock_mut(id)?.no_space = true;
        Ok(())
    }

    pub(crate) fn wake_readable(&mut self, id: SocketId) {
        if let Some(s) = self.sockets.get_mut(&id) {
            s.wakeups.readable = true;
        }
    }

    pub(crate) fn wake_all(&mut self, id: SocketId) {
        if let Some(s) = self.sockets.get_mut(&id) {
            s.wakeups.any = true;
        }
    }

    /// Space was freed: news only to a socket that ran out of it.
    pub(crate) fn wake_writable(&mut self, id: SocketId) {
        if let Some(s) = self.sockets.get_mut(&id) {
            if s.no_space {
                s.no_space = false;
                s.wakeups.writable = true;
            }
        }
    }
}
