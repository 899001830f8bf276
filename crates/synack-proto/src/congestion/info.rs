//! What a connection's congestion control shows the outside: the controller, the windows and
//! the loss-recovery counters, read as one snapshot (the congestion half of `tcp_info`).

use super::{Congestion, CongestionControl, CongestionPhase};

/// A snapshot of one connection's congestion control and loss recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CongestionInfo {
    /// The controller the connection runs.
    pub controller: CongestionControl,
    pub phase: CongestionPhase,
    /// The congestion window in bytes (RFC 5681 §3.1's cwnd).
    pub cwnd: u32,
    /// The slow-start threshold in bytes; `u32::MAX` until the first reduction.
    pub ssthresh: u32,
    /// Bytes the peer holds beyond SND.UNA, by its SACK blocks (RFC 6675's scoreboard).
    pub sacked: u32,
    /// Bytes the SACK scoreboard takes for lost, resent or not (RFC 6675 §4's IsLost, or
    /// marked after a timeout); 0 without SACK.
    pub lost: u32,
    /// Fast retransmits entered on duplicate ACKs or SACK-detected loss (RFC 5681 §3.2).
    pub fast_retransmits: u64,
    /// Retransmissions found needless by D-SACKs whose window reduction was undone.
    pub spurious_undone: u64,
    /// SACK blocks received, and how many of them were D-SACKs (RFC 2883).
    pub sack_blocks_received: u64,
    pub dsacks_received: u64,
    /// Sequence space sent again (SYN and FIN count one each).
    pub bytes_retransmitted: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tail_loss_probes: u64,
    /// Segments RACK's time-based detection marked lost (RFC 8985 §6.2).
    pub rack_losses: u64,
    /// Retransmission timeouts F-RTO found spurious, whose reduction was undone (RFC 5682).
    pub spurious_timeouts: u64,
    /// ACKs that delivered a segment below one delivered earlier, and not by a
    /// retransmission: reordering, as RACK sees it (RFC 8985 §6.2 step 3).
    pub reorderings: u64,
}

impl CongestionInfo {
    /// What a connection shows before it has a sender (or after the sender is gone).
    pub(crate) fn idle(controller: CongestionControl) -> CongestionInfo {
        CongestionInfo {
            controller,
            phase: CongestionPhase::SlowStart,
            cwnd: 0,
            ssthresh: u32::MAX,
            sacked: 0,
            lost: 0,
            fast_retransmits: 0,
            spurious_undone: 0,
            sack_blocks_received: 0,
            dsacks_received: 0,
            bytes_retransmitted: 0,
            tail_loss_probes: 0,
            rack_losses: 0,
            spurious_timeouts: 0,
            reorderings: 0,
        }
    }
}

impl Congestion {
    pub fn info(&self) -> CongestionInfo {
        let counters = self.counters.read();
        CongestionInfo {
            controller: self.algorithm,
            phase: self.phase(),
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            sacked: self.board.as_ref().map_or(0, |b| b.sacked_bytes()),
            lost: self.board.as_ref().map_or(0, |b| b.lost_bytes(self.mss)),
            fast_retransmits: counters.fast_retransmits,
            spurious_undone: counters.undos,
            sack_blocks_received: counters.sack_blocks,
            dsacks_received: counters.dsacks,
            bytes_retransmitted: counters.bytes_retransmitted,
            tail_loss_probes: counters.tail_loss_probes,
            rack_losses: counters.rack_losses,
            spurious_timeouts: counters.spurious_timeouts,
            reorderings: counters.reorderings,
        }
    }
}
