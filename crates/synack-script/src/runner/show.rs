//! Packets and times printed the way a script writes them, for failure messages.

use std::fmt::Write as _;

use crate::ast::*;
use crate::packet::{self, Segment};

use super::Runner;

pub(super) fn fmt_time(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

pub(super) fn fmt_stime(us: i64) -> String {
    if us < 0 {
        format!("-{}", fmt_time(us.unsigned_abs()))
    } else {
        fmt_time(us as u64)
    }
}

impl Runner {
    /// The actual packet in script terms, for messages.
    pub(super) fn describe_actual(&self, bytes: &[u8]) -> String {
        let Some(seg) = packet::read(bytes) else {
            return format!("(a {}-byte datagram that is not TCP over IP)", bytes.len());
        };
        let flow = self
            .flows
            .iter()
            .find(|f| f.local == seg.src && f.remote == seg.dst);
        let (local_off, remote_off) = match flow {
            Some(f) => {
                let off = f.offsets(seg.flags.syn, self.cfg.remote_isn);
                (off.local_off, off.remote_off)
            }
            None => (0, self.cfg.remote_isn),
        };
        self.script_view(&seg, local_off, remote_off, flow.and_then(|f| f.first_ts))
    }

    pub(super) fn script_view(
        &self,
        seg: &Segment,
        local_off: u32,
        remote_off: u32,
        first_ts: Option<(u32, u32)>,
    ) -> String {
        let seq = seg.seq.wrapping_sub(local_off);
        let mut s = format!(
            "> {} {}:{}({})",
            seg.flags,
            seq,
            seq.wrapping_add(seg.payload_len),
            seg.payload_len
        );
        if seg.flags.ack {
            let _ = write!(s, " ack {}", seg.ack.wrapping_sub(remote_off));
        }
        let _ = write!(s, " win {}", seg.win);
        if seg.flags.urg || seg.urg != 0 {
            let _ = write!(s, " urg {}", seg.urg);
        }
        if seg.dst.port() != self.cfg.remote_port && seg.dst.port() != self.cfg.connect_port {
            let _ = write!(s, " (to port {})", seg.dst.port());
        }
        if !seg.options.is_empty() {
            let opts: Vec<String> = seg
                .options
                .iter()
                .map(|o| match o {
                    TcpOpt::Sack(b) => TcpOpt::Sack(
                        b.iter()
                            .map(|(l, r)| (l.wrapping_sub(remote_off), r.wrapping_sub(remote_off)))
                            .collect(),
                    )
                    .to_string(),
                    TcpOpt::Timestamp { val, ecr } => {
                        // TSval in the script's space once a baseline exists.
                        let v = first_ts.map_or(*val, |(s, a)| val.wrapping_sub(a).wrapping_add(s));
                        format!("TS val {v} ecr {ecr}")
                    }
                    other => other.to_string(),
                })
                .collect();
            let _ = write!(s, " <{}>", opts.join(","));
        }
        s
    }
}

pub(super) fn show_script_packet(p: &Packet) -> String {
    let ip = p.ip.to_string();
    let mut s = format!(
        "{}{}{} {} {}:{}({})",
        if p.direction == Direction::Inbound {
            "<"
        } else {
            ">"
        },
        if ip.is_empty() { "" } else { " " },
        ip,
        p.flags,
        p.seq,
        p.seq.wrapping_add(p.len),
        p.len
    );
    if let Some(a) = p.ack {
        let _ = write!(s, " ack {a}");
    }
    if let Some(w) = p.win {
        let _ = write!(s, " win {w}");
    }
    if let Some(u) = p.urg {
        let _ = write!(s, " urg {u}");
    }
    match &p.options {
        Options::Any => s.push_str(" <...>"),
        Options::List(l) if l.is_empty() => {}
        Options::List(l) => {
            let o: Vec<String> = l.iter().map(|o| o.to_string()).collect();
            let _ = write!(s, " <{}>", o.join(","));
        }
    }
    s
}
