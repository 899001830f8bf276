//! SEND and RECEIVE on borrowed slices: the user writes straight into the send buffer's free
//! room, or reads straight from the receive buffer, so a byte is copied once on its way
//! between the user and a packet instead of twice.
//!
//! They keep every rule of [`Connection::send`] and [`Connection::recv`]: the same refusals,
//! the same limits (buffer size, unsent limit, the urgent mark a read never crosses), the
//! same wakeups and the same window update after a read.

use super::Connection;
use crate::error::CallError;

impl Connection {
    /// SEND (RFC 9293 §3.10.2) into the send buffer itself: `fill` is lent free room, at most
    /// `max` bytes and never more than [`Connection::send`] would take now, writes its bytes
    /// at the front of it and returns how many it wrote; those are queued, in order, after
    /// what was written before. The room lent is one piece of a ring, so it may be shorter
    /// than the free space: call again for the rest.
    ///
    /// `fill` is called only when there is room; with none, the answer is
    /// [`CallError::WouldBlock`] and a writable event follows once room appears, as for a
    /// `send` that took nothing. A writer that fills all it was lent is taken to have more, as
    /// a `send` cut short is. `fill` claiming more than it was lent is refused with
    /// [`CallError::BeyondLent`], nothing queued.
    pub fn send_with(
        &mut self,
        max: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, CallError> {
        let snd = self.send_side()?;
        snd.write_with(max, fill)
            .unwrap_or(Err(CallError::WouldBlock))
    }

    /// RECEIVE (RFC 9293 §3.10.3) from the receive buffer itself: `take` is lent the bytes a
    /// [`Connection::recv`] would return now (up to the urgent mark when it lies ahead, the
    /// urgent byte stepped over unless read in line), in the one piece of the ring they start
    /// in, and returns how many it took from the front; those are consumed, and the window
    /// reopens as after a `recv`.
    ///
    /// `take` is called only when there are bytes to lend. Without any, the answer is as for
    /// a `recv` that found none: `Ok(0)` once the peer's FIN has been read, else why not
    /// ([`CallError::WouldBlock`], or how the connection ended). `Ok(0)` also when `take`
    /// took nothing. `take` claiming more than it was lent is refused with
    /// [`CallError::BeyondLent`], nothing consumed.
    pub fn recv_with(&mut self, take: impl FnOnce(&[u8]) -> usize) -> Result<usize, CallError> {
        self.receive(|rcv, inline| rcv.read_with(inline, take))
    }
}
