//! `TCP_CORK` and `MSG_MORE`: the application says more data follows, so a segment that is
//! not full waits for it (Linux tcp(7); the same idea as RFC 896's, under the application's
//! control).
//!
//! synack's core has Nagle but no cork, so the socket holds the bytes of a partial segment
//! itself and hands the connection only whole segments while corked. The held bytes count
//! against the send buffer, and leave with the next write that is not held, when the cork is
//! removed, when `TCP_NODELAY` is set (Linux pushes pending frames then), before a shutdown
//! or close's FIN, and on a timer. Linux's ceiling on corking (tcp(7): 200 ms) is its probe
//! timer: armed when nothing is in flight while a partial segment waits, for the RTO but at
//! least `TCP_RTO_MIN` (200 ms); when it fires the segment goes (`tcp_write_wakeup`). With
//! data in flight the ACKs and the retransmission timer keep the connection moving, and the
//! timer starts again when the last byte in flight is acknowledged.
//!
//! The table learns the time from the calls that carry it (packets, transmissions, timers):
//! bytes a write holds are stamped at the next of them, the `poll_transmit` every caller
//! makes after writing.

use alloc::vec::Vec;
use core::time::Duration;

use synack_proto::Instant;

use crate::{Role, SocketError, SocketId, SocketResult, SocketTable};

/// The least time a corked partial segment waits with nothing in flight (Linux's
/// `TCP_RTO_MIN`, the floor of its probe timer).
const CORK_FLOOR: Duration = Duration::from_millis(200);

impl SocketTable {
    /// Writes what fits of `data`, holding a partial segment while corked; `more` is
    /// `MSG_MORE`.
    pub(crate) fn write_or_hold(
        &mut self,
        id: SocketId,
        data: &[u8],
        more: bool,
    ) -> SocketResult<usize> {
        let conn = self.writable(id)?;
        let s = self.sock(id)?;
        if !(s.opts.cork || more) {
            if s.held.is_empty() {
                return self.send_to_host(conn, data);
            }
            // The held bytes and these leave together, in one segment where they fit.
            let held = core::mem::take(&mut self.sock_mut(id)?.held);
            let mut all = held.clone();
            all.extend_from_slice(data);
            let taken = match self.send_to_host(conn, &all) {
                Ok(n) => n,
                Err(e) => {
                    self.sock_mut(id)?.held = held;
                    return Err(e);
                }
            };
            if taken < held.len() {
                self.sock_mut(id)?.held = held[taken..].to_vec();
                return Err(SocketError::WouldBlock);
            }
            return Ok(taken - held.len());
        }
        let info = self.host.info(conn)?;
        let held_len = s.held.len();
        let room = info
            .send_buffer
            .saturating_sub(info.send_buffered)
            .saturating_sub(held_len);
        if room == 0 {
            return Err(SocketError::WouldBlock);
        }
        let take = room.min(data.len());
        let mss = (info.snd_mss as usize).max(1);
        let s = self.sock_mut(id)?;
        s.held.extend_from_slice(&data[..take]);
        self.corked.insert(id);
        let s = self.sock_mut(id)?;
        // Whole segments need not wait.
        let full = s.held.len() / mss * mss;
        if full > 0 {
            let chunk: Vec<u8> = s.held[..full].to_vec();
            let sent = self.send_to_host(conn, &chunk)?;
            self.sock_mut(id)?.held.drain(..sent);
        }
        Ok(take)
    }

    /// Hands the held bytes to the connection (uncork, `TCP_NODELAY`, shutdown, close).
    pub(crate) fn flush_held(&mut self, id: SocketId) -> SocketResult<()> {
        let s = self.sock(id)?;
        let Role::Conn(conn) = s.role else {
            return Ok(());
        };
        if s.held.is_empty() {
            return Ok(());
        }
        let held = core::mem::take(&mut self.sock_mut(id)?.held);
        let sent = self.send_to_host(conn, &held).unwrap_or(0);
        self.sock_mut(id)?.held = held[sent..].to_vec();
        Ok(())
    }

    /// Starts the cork timer of each socket whose held bytes wait with nothing in flight, and
    /// stops it where data is in flight; forgets sockets that hold nothing.
    pub(crate) fn tend_corks(&mut self, now: Instant) {
        if self.corked.is_empty() {
            return;
        }
        let ids: Vec<SocketId> = self.corked.iter().copied().collect();
        for id in ids {
            let idle = match self.sockets.get(&id) {
                Some(s) if !s.held.is_empty() => match s.role {
                    Role::Conn(c) => self.host.info(c).ok().map(|i| i.snd_una == i.snd_nxt),
                    _ => None,
                },
                _ => None,
            };
            match (idle, self.sockets.get_mut(&id)) {
                (Some(idle), Some(s)) => {
                    s.held_since = if idle {
                        s.held_since.or(Some(now))
                    } else {
                        None
                    };
                }
                (None, s) => {
                    if let Some(s) = s {
                        s.held_since = None;
                    }
                    self.corked.remove(&id);
                }
                _ => {}
            }
        }
    }

    /// When the first cork timer fires.
    pub(crate) fn cork_timeout(&self) -> Option<Instant> {
        self.corked
            .iter()
            .filter_map(|id| {
                let s = self.sockets.get(id)?;
                let Role::Conn(c) = s.role else {
                    return None;
                };
                let rto = self.host.info(c).ok()?.rto;
                Some(s.held_since? + rto.max(CORK_FLOOR))
            })
            .min()
    }

    /// Sends the held bytes of each socket whose cork timer is due, whole segment or not.
    pub(crate) fn fire_corks(&mut self, now: Instant) {
        self.tend_corks(now);
        let due: Vec<SocketId> = self
            .corked
            .iter()
            .copied()
            .filter(|id| {
                let Some(s) = self.sockets.get(id) else {
                    return false;
                };
                let Role::Conn(c) = s.role else {
                    return false;
                };
                let rto = self.host.info(c).map_or(CORK_FLOOR, |i| i.rto);
                s.held_since.is_some_and(|t| t + rto.max(CORK_FLOOR) <= now)
            })
            .collect();
        for id in due {
            let _ = self.flush_held(id);
            if let Some(s) = self.sockets.get_mut(&id) {
                s.held_since = None;
            }
        }
        self.tend_corks(now);
    }
}
