//! The heap parts of a SACK connection's congestion state (the scoreboard with its segment
//! queue, RACK-TLP/F-RTO's loss detection), kept aside when a connection ends so the next
//! handshake reuses them instead of allocating: a short connection's lifecycle otherwise
//! pays for four boxes and two queues on a host holding both ends.

use alloc::boxed::Box;

use super::loss::LossDetection;
use super::scoreboard::Scoreboard;

/// Spare parts for one connection's handshake, each possibly absent (then it is allocated).
/// What they held before is never read: `Congestion::on_handshake` resets both.
#[derive(Debug, Default)]
pub(crate) struct CongestionParts {
    pub(super) board: Option<Box<Scoreboard>>,
    pub(super) loss: Option<Box<LossDetection>>,
}

impl CongestionParts {
    /// Nothing to give.
    pub fn is_empty(&self) -> bool {
        self.board.is_none() && self.loss.is_none()
    }
}

/// A host's spare parts, at most [`SpareParts::LIMIT`] sets: enough for the connections a
/// busy host opens between two that end, few enough that an idle host holds only a few
/// kilobytes (a scoreboard keeps a small segment queue, see `Scoreboard::reset`). Held in
/// place rather than in a vector, so keeping them allocates nothing either.
#[derive(Debug, Default)]
pub(crate) struct SpareParts {
    sets: [CongestionParts; SpareParts::LIMIT],
    len: usize,
}

impl SpareParts {
    /// How many sets a host keeps at most.
    pub const LIMIT: usize = 16;

    /// A set for a connection about to start its handshake; empty when none is spare.
    pub fn take(&mut self) -> CongestionParts {
        match self.len.checked_sub(1) {
            Some(last) => {
                self.len = last;
                core::mem::take(&mut self.sets[last])
            }
            None => CongestionParts::default(),
        }
    }

    /// Keeps what an ending connection held, unless the host already keeps enough.
    pub fn put(&mut self, parts: CongestionParts) {
        if !parts.is_empty() && self.len < Self::LIMIT {
            self.sets[self.len] = parts;
            self.len += 1;
        }
    }

    /// Sets held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
}
