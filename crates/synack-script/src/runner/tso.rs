//! Segmentation offload: Linux hands packetdrill's device TSO/GSO super-segments of several
//! MSS; synack sends MSS-sized segments. Taken together, the pieces sent at one instant can be
//! the one segment the script expects.

use crate::ast::Packet;
use crate::packet::{self, Segment};

use super::Runner;

impl Runner {
    /// the first's, with the last's PSH and FIN). Anything else is left as it is.
    pub(super) fn merge_tso(
        &mut self,
        seg: Segment,
        at: u64,
        p: &Packet,
        local_off: u32,
    ) -> Segment {
        if p.len <= seg.payload_len
            || seg.payload_len == 0
            || seg.seq.wrapping_sub(local_off) != p.seq
        {
            return seg;
        }
        let mut covered = seg.payload_len;
        let mut n = 0;
        let mut last = seg.flags;
        for (t, b) in &self.out {
            let Some(next) = packet::read(b) else { break };
            if covered >= p.len
                || *t != at
                || next.src != seg.src
                || next.dst != seg.dst
                || next.seq != seg.seq.wrapping_add(covered)
                || next.payload_len == 0
                || next.flags.syn
                || next.flags.rst
            {
                break;
            }
            covered += next.payload_len;
            last = next.flags;
            n += 1;
        }
        if n == 0 || covered != p.len {
            return seg;
        }
        self.out.drain(..n);
        let mut merged = seg;
        merged.payload_len = covered;
        merged.flags.psh = last.psh;
        merged.flags.fin = last.fin;
        merged
    }

    /// Without `merge_tso`: whether the segments synack sent at `at` are the expected bytes
    /// cut in pieces (then the difference is the offload, not the data); the pieces' count.
    pub(super) fn tso_pieces(
        &self,
        seg: &Segment,
        at: u64,
        p: &Packet,
        local_off: u32,
    ) -> Option<u32> {
        if p.len <= seg.payload_len
            || seg.payload_len == 0
            || seg.seq.wrapping_sub(local_off) != p.seq
        {
            return None;
        }
        let mut covered = seg.payload_len;
        let mut pieces = 1;
        for (t, b) in &self.out {
            let Some(next) = packet::read(b) else { break };
            if *t != at
                || next.src != seg.src
                || next.dst != seg.dst
                || next.seq.wrapping_sub(local_off) != p.seq.wrapping_add(covered)
                || next.payload_len == 0
            {
                break;
            }
            covered += next.payload_len;
            pieces += 1;
            if covered >= p.len {
                break;
            }
        }
        (covered >= p.len && pieces > 1).then_some(pieces)
    }
}
