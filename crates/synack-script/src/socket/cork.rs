//! `TCP_CORK` and `MSG_MORE`: the application says more data follows, so a segment that is
//! not full waits for it (Linux tcp(7); the same idea as RFC 896's, under the application's
//! control).
//!
//! synack's core has Nagle but no cork, so the socket layer holds the bytes of a partial
//! segment itself and hands the connection only whole segments while corked. The held bytes
//! count against the send buffer, and leave with the next write that is not held, when the
//! cork is removed, when `TCP_NODELAY` is set (Linux pushes pending frames then), and before
//! a shutdown or close's FIN. Linux also lets a corked partial segment go when its
//! retransmission or probe timer fires; this layer has no timer and waits for the
//! application.

use super::{SockResult, Stack};
use crate::errno::Errno;

impl Stack {
    /// Writes what fits of `data`; `more` is `MSG_MORE`.
    pub fn write_more(&mut self, fd: i32, data: &[u8], more: bool) -> SockResult<usize> {
        let id = self.writable(fd)?;
        let s = self.sock(fd)?;
        if !(s.cork || more) {
            if s.held.is_empty() {
                return self.send_to_host(id, data);
            }
            // The held bytes and these leave together, in one segment where they fit.
            let held = std::mem::take(&mut self.sock_mut(fd)?.held);
            let mut all = held.clone();
            all.extend_from_slice(data);
            let taken = self.send_to_host(id, &all).inspect_err(|_| {
                if let Ok(s) = self.sock_mut(fd) {
                    s.held = held.clone();
                }
            })?;
            if taken < held.len() {
                self.sock_mut(fd)?.held = held[taken..].to_vec();
                return Err(Errno::EAGAIN.into());
            }
            return Ok(taken - held.len());
        }
        let info = self
            .host
            .info(id)
            .map_err(|e| super::SockError::Errno(super::host_errno(e)))?;
        let held_len = s.held.len();
        let room = info
            .send_buffer
            .saturating_sub(info.send_buffered)
            .saturating_sub(held_len);
        if room == 0 {
            return Err(Errno::EAGAIN.into());
        }
        let take = room.min(data.len());
        let mss = (info.snd_mss as usize).max(1);
        let s = self.sock_mut(fd)?;
        s.held.extend_from_slice(&data[..take]);
        // Whole segments need not wait.
        let full = s.held.len() / mss * mss;
        if full > 0 {
            let chunk: Vec<u8> = s.held[..full].to_vec();
            let sent = self.send_to_host(id, &chunk)?;
            self.sock_mut(fd)?.held.drain(..sent);
        }
        Ok(take)
    }

    /// Hands the held bytes to the connection (uncork, `TCP_NODELAY`, shutdown, close).
    pub(super) fn flush_held(&mut self, fd: i32) -> SockResult<()> {
        let s = self.sock(fd)?;
        let super::Role::Conn(id) = s.role else {
            return Ok(());
        };
        if s.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.sock_mut(fd)?.held);
        let sent = self.send_to_host(id, &held).unwrap_or(0);
        self.sock_mut(fd)?.held = held[sent..].to_vec();
        Ok(())
    }
}
