//! The host-wide cap on buffered user data (Linux's `tcp_mem` hard limit): what the send side
//! may take, what arriving data is dropped unacknowledged, and who is told when room frees up.

use super::*;
use synack_wire::TcpFlags;

/// Received, unread bytes a connection may always hold, host cap or not (Linux's default
/// `tcp_rmem[0]`); see `Host::over_memory`.
pub(super) const MIN_RCV_ALLOWANCE: usize = 4096;

impl Host {
    /// Bytes of user data the host's connections hold in their buffers, against
    /// `HostConfig::max_buffer_memory`.
    pub fn buffer_memory(&self) -> usize {
        self.buffer_memory
    }

    /// Tells connections refused for lack of memory that there is room again.
    pub(super) fn wake_memory_waiters(&mut self) {
        if self.buffer_memory >= self.config.max_buffer_memory {
            return;
        }
        for id in core::mem::take(&mut self.memory_waiters) {
            if let Some(e) = self.entry_mut(id) {
                e.memory_wait = false;
                if !e.released {
                    self.events.push_back(HostEvent::Writable(id));
                }
            }
        }
    }

    /// The memory cap on the receive side: data that would take the host past it is dropped
    /// before the connection sees it, leaving the ACK and window to be processed. Out-of-order
    /// data goes first, from 7/8 of the cap, since it cannot be read yet anyway (Linux prunes
    /// its out-of-order queue first under pressure too). The peer, never having had these bytes
    /// acknowledged, sends them again.
    pub(super) fn over_memory<'a>(&mut self, id: ConnId, seg: &TcpRepr<'a>) -> Option<TcpRepr<'a>> {
        if seg.payload.is_empty() {
            return None;
        }
        let e = self.entry(id)?;
        // Data on a SYN follows it directly.
        let in_order = seg.flags.syn() || e.conn.rcv_nxt() == Some(seg.seq);
        if in_order && e.conn.recv_buffered() < MIN_RCV_ALLOWANCE {
            // Below its allowance a connection takes in-order data whatever the host total, as
            // Linux lets every socket have `tcp_rmem[0]` under memory pressure. Without it, two
            // hosts whose memory is all unacknowledged data for each other deadlock: neither
            // can take a byte, so neither's data is ever acknowledged and freed.
            return None;
        }
        self.strip_over_memory(in_order, seg)
    }

    /// `seg` without its data (and the FIN behind it) when its data does not fit under the
    /// memory cap; see `over_memory`.
    pub(super) fn strip_over_memory<'a>(
        &mut self,
        in_order: bool,
        seg: &TcpRepr<'a>,
    ) -> Option<TcpRepr<'a>> {
        if seg.payload.is_empty() {
            return None;
        }
        let limit = self.config.max_buffer_memory;
        let cap = if in_order { limit } else { limit - limit / 8 };
        if self.buffer_memory + seg.payload.len() <= cap {
            return None;
        }
        self.counters.rcv_memory_drops += 1;
        Some(TcpRepr {
            payload: &[],
            flags: seg.flags.without(TcpFlags::FIN),
            ..*seg
        })
    }
}
