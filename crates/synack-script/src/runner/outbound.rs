//! Outbound packets: wait on virtual time for what synack sends, then compare it with the
//! script field by field.

use crate::ast::*;
use crate::packet::{self, IpFields, Segment};

use super::flow::Offsets;
use super::show::{fmt_stime, fmt_time, show_script_packet};
use super::{MAX_TIMER_STEPS, Runner};

impl Runner {
    /// `> ...` at `start` (or any time) up to `end`: the next datagram synack sends must be
    /// this packet.
    pub(super) fn outbound(&mut self, pos: Pos, p: &Packet, start: Option<i64>, end: i64) {
        let Some((at, bytes)) = self.next_outbound(pos, p, start, end) else {
            return;
        };
        let Some((ip, seg)) = packet::read_ip(&bytes) else {
            return self.fail(pos, "synack sent a datagram that is not TCP over IP");
        };
        // Which connection: the one with this 4-tuple, or a new one (an active open's SYN).
        let fi = self.flow_of(seg.src, seg.dst);
        self.current = Some(fi);
        if seg.flags.syn && p.flags.syn && self.flows[fi].local_isn.is_none() {
            // synack's ISN is learned once per flow, as packetdrill learns it once per
            // socket: a later incarnation of the same 4-tuple (a SYN reopening TIME-WAIT)
            // is written relative to the first.
            self.flows[fi].local_isn = Some((seg.seq, p.seq));
        }
        let off = self.flows[fi].offsets(seg.flags.syn, self.cfg.remote_isn);
        let seg = if self.cfg.merge_tso {
            self.merge_tso(seg, at, p, off.local_off)
        } else {
            seg
        };
        let tol = self.cfg.tolerance_usecs as i64;
        let mut diffs = Vec::new();
        if let Some(s) = start.filter(|s| (at as i64) + tol < *s) {
            diffs.push(format!(
                "time: sent at {}, expected at {} (±{tol}us)",
                fmt_time(at),
                fmt_stime(s),
            ));
        }
        diffs.extend(ip_diffs(&p.ip, ip));
        diffs.extend(header_diffs(p, &seg, off));
        let mut tsval_written = false;
        if let Options::List(expected) = &p.options {
            diffs.extend(option_diffs(expected, &seg.options, off));
            tsval_written = self.learn_timestamps(fi, expected, &seg.options);
        }
        self.flows[fi].unchecked_tsval = seg
            .options
            .iter()
            .find_map(|o| match o {
                TcpOpt::Timestamp { val, .. } => Some(*val),
                _ => None,
            })
            .filter(|_| !tsval_written);
        if !diffs.is_empty() {
            if let Some(pieces) = self.tso_pieces(&seg, at, p, off.local_off) {
                return self.unsupported(
                    pos,
                    format!(
                        "TSO/GSO-merged segment: the script expects one {}-byte segment, \
                         synack sent the same bytes as {pieces} segments of at most {} bytes",
                        p.len, seg.payload_len
                    ),
                );
            }
            let first_ts = self.flows[fi].first_ts;
            let actual = self.script_view(&seg, off.local_off, off.remote_off, first_ts);
            return self.fail(
                pos,
                format!(
                    "outbound packet does not match the script:\n  expected: {}\n  actual:   {}\n  \
                     ({})",
                    show_script_packet(p),
                    actual,
                    diffs.join("; ")
                ),
            );
        }
        self.last = at as i64;
    }

    /// Waits, on virtual time, for the stack's next datagram until `end` plus the tolerance;
    /// `None` (and a failure) when nothing came.
    fn next_outbound(
        &mut self,
        pos: Pos,
        p: &Packet,
        start: Option<i64>,
        end: i64,
    ) -> Option<(u64, Vec<u8>)> {
        let tol = self.cfg.tolerance_usecs as i64;
        let deadline = end.saturating_add(tol).max(0) as u64;
        for _ in 0..MAX_TIMER_STEPS {
            if self.failure.is_some() {
                return None;
            }
            if let Some(x) = self.out.pop_front() {
                return Some(x);
            }
            match self.stack.poll_timeout() {
                Some(due) if due.as_micros() <= deadline => {
                    self.now = self.now.max(due.as_micros());
                    self.tick_poll_deadline(self.now);
                    self.stack.handle_timeout(self.instant());
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = self.now.max(deadline);
        self.tick_poll_deadline(self.now);
        let when = match start {
            Some(s) => format!("at {}", fmt_stime(s)),
            None => "at any time".into(),
        };
        self.fail(
            pos,
            format!(
                "expected an outbound packet {when} (±{tol}us); none was sent by {}:\n  \
                 expected: {}",
                fmt_time(deadline),
                show_script_packet(p)
            ),
        );
        None
    }

    /// Remembers synack's TSval for the script's, to map later inbound echoes; whether the
    /// script wrote one.
    fn learn_timestamps(&mut self, fi: usize, expected: &[TcpOpt], sent: &[TcpOpt]) -> bool {
        let mut learned = false;
        for (e, a) in expected.iter().zip(sent) {
            if let (TcpOpt::Timestamp { val: sv, .. }, TcpOpt::Timestamp { val: av, .. }) = (e, a) {
                let f = &mut self.flows[fi];
                f.ts_map.insert(*sv, *av);
                f.first_ts.get_or_insert((*sv, *av));
                learned = true;
            }
        }
        learned
    }
}

/// The IP header fields the script names that differ (RFC 791 §3.1 TOS and TTL, RFC 8200 §3
/// traffic class, hop limit and flow label; RFC 3168 §5 the ECN bits of either).
fn ip_diffs(want: &IpInfo, got: IpFields) -> Vec<String> {
    let mut diffs = Vec::new();
    if let Some(t) = want.tos.filter(|t| *t != got.tos) {
        diffs.push(format!("tos: {t:#04x} vs {:#04x}", got.tos));
    }
    if let Some(e) = want.ecn_bits().filter(|e| *e != got.tos & 3) {
        diffs.push(format!("ECN bits: {e} vs {}", got.tos & 3));
    }
    if let Some(t) = want.ttl.filter(|t| *t != got.ttl) {
        diffs.push(format!("ttl: {t} vs {}", got.ttl));
    }
    if let Some(l) = want.flow_label.filter(|l| *l != got.flow_label) {
        diffs.push(format!("flowlabel: {l:#x} vs {:#x}", got.flow_label));
    }
    diffs
}

/// The header fields that differ from the script (flags, sequence, length, ack, window,
/// urgent pointer, the flow's port).
fn header_diffs(p: &Packet, seg: &Segment, off: Offsets) -> Vec<String> {
    let mut diffs = Vec::new();
    if let Some(port) = p.remote_port.filter(|port| seg.dst.port() != *port) {
        diffs.push(format!(
            "flow: to port {}, expected port {port}",
            seg.dst.port()
        ));
    }
    if let Some(port) = p.local_port.filter(|port| seg.src.port() != *port) {
        diffs.push(format!(
            "flow: from port {}, expected port {port}",
            seg.src.port()
        ));
    }
    if seg.flags != p.flags {
        diffs.push(format!("flags: {} vs {}", p.flags, seg.flags));
    }
    let seq = seg.seq.wrapping_sub(off.local_off);
    if seq != p.seq {
        diffs.push(format!("seq: {} vs {}", p.seq, seq));
    }
    if seg.payload_len != p.len {
        diffs.push(format!("length: {} vs {}", p.len, seg.payload_len));
    }
    if let Some(a) = p.ack {
        let ack = seg.ack.wrapping_sub(off.remote_off);
        if seg.flags.ack && ack != a {
            diffs.push(format!("ack: {a} vs {ack}"));
        }
    }
    if let Some(w) = p.win.filter(|w| u32::from(seg.win) != *w) {
        diffs.push(format!("win: {w} vs {}", seg.win));
    }
    // As packetdrill: the field is always compared, 0 when the script names none.
    let urg = p.urg.unwrap_or(0);
    if seg.urg != urg {
        diffs.push(format!("urg: {urg} vs {}", seg.urg));
    }
    diffs
}

/// The options that differ, in wire order. TSval is not checked (synack's clock is its own);
/// SACK blocks are compared in the script's sequence space.
fn option_diffs(expected: &[TcpOpt], sent: &[TcpOpt], off: Offsets) -> Vec<String> {
    let mut diffs = Vec::new();
    if expected.len() != sent.len() {
        diffs.push(format!(
            "options: {} expected, {} sent",
            expected.len(),
            sent.len()
        ));
    }
    let to_script = |b: &[(u32, u32)]| -> Vec<(u32, u32)> {
        b.iter()
            .map(|(l, r)| {
                (
                    l.wrapping_sub(off.remote_off),
                    r.wrapping_sub(off.remote_off),
                )
            })
            .collect()
    };
    for (k, (e, a)) in expected.iter().zip(sent).enumerate() {
        let ok = match (e, a) {
            (TcpOpt::Timestamp { ecr: e_ecr, .. }, TcpOpt::Timestamp { ecr, .. }) => e_ecr == ecr,
            (TcpOpt::Sack(eb), TcpOpt::Sack(ab)) => *eb == to_script(ab),
            (e, a) => e == a,
        };
        if !ok {
            // The sent option in the script's sequence space, as the script writes it.
            let shown = match a {
                TcpOpt::Sack(b) => TcpOpt::Sack(to_script(b)),
                other => other.clone(),
            };
            diffs.push(format!("option {}: {e} vs {shown}", k + 1));
        }
    }
    diffs
}
