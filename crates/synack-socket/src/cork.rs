//! `TCP_CORK` and `MSG_MORE`: the application says more data follows, so a segment that is
//! not full waits for it (Linux tcp(7); the same idea as RFC 896's, under the application's
//! control).
//!
//! synack's core has Nagle but no cork, so the socket holds the bytes of a partial segment
//! itself and hands the connection only whole segments while corked. The held bytes count
//! against the send buffer, and leave with the next write that is not held, when the cork is
//! removed, when `TCP_NODELAY` is set (Linux pushes pending frames then), and before a
//! shutdown or close's FIN. Linux also lets a corked partial segment go when its
//! retransmission or probe timer fires; the socket has no timer and waits for the
//! application.

use alloc::vec::Vec;

use crate::{Role, SocketError, SocketId, SocketResult, SocketTable};

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
}
