//! `--json`: one object per line, in the order things happened, then the summary. Only virtual
//! time and seeded randomness go in, so the same scenario and seed give the same bytes.

use serde::Serialize;
use serde_json::json;

use crate::ladder::{Item, timeline};
use crate::scenario::Run;

#[derive(Serialize)]
struct StateLine<'a> {
    time_us: u64,
    host: &'a str,
    from: &'a str,
    to: &'a str,
    cause: &'a str,
}

#[derive(Serialize)]
struct PacketLine<'a> {
    time_us: u64,
    host: &'a str,
    dir: String,
    flags: String,
    seq: u32,
    ack: u32,
    len: u32,
    win: u16,
    options: &'a str,
    lost: bool,
    arrival_us: Option<u64>,
    retransmission: bool,
    why: &'static str,
    /// Arrived with a bit flipped; the receiver's checksum dropped it.
    corrupted: bool,
    /// The scenario aimed this loss or damage (rather than random `--loss`/`--corrupt`).
    aimed: bool,
    /// A duplicate ACK's number, as the data's sender counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    dup_ack: Option<u32>,
    /// A third machine: the forged source of a packet, or where a packet went instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    third_party: Option<String>,
}

/// The lines of `--json` output, without newlines.
pub fn lines(run: &Run) -> Vec<String> {
    let mut out = Vec::new();
    for (_, item) in timeline(run) {
        let value = match item {
            Item::Change(i) => {
                let c = &run.changes[i];
                serde_json::to_value(StateLine {
                    time_us: c.at.as_micros(),
                    host: run.host_name(c.host),
                    from: c.from.as_str(),
                    to: c.to.as_str(),
                    cause: c.cause.label(),
                })
            }
            Item::Packet(i) => {
                let p = &run.packets[i];
                let (flags, seq, ack, len, win, options) = match &p.seg {
                    Some(s) => (
                        s.flags.to_string(),
                        s.seq,
                        s.ack,
                        s.len,
                        s.win,
                        s.options.as_str(),
                    ),
                    None => ("?".to_string(), 0, 0, 0, 0, ""),
                };
                serde_json::to_value(PacketLine {
                    time_us: p.sent_at.as_micros(),
                    host: run.host_name(p.from),
                    dir: format!(
                        "{}->{}",
                        run.host_name(p.from),
                        run.host_name(p.from.other())
                    ),
                    flags,
                    seq,
                    ack,
                    len,
                    win,
                    options,
                    lost: p.lost(),
                    arrival_us: p.arrival.map(|a| a.as_micros()),
                    retransmission: p.retransmission,
                    why: match p.why {
                        crate::sim::Why::Normal => "normal",
                        crate::sim::Why::FastRetransmit => "fast_retransmit",
                        crate::sim::Why::RackLoss => "rack_loss",
                        crate::sim::Why::TailLossProbe => "tail_loss_probe",
                        crate::sim::Why::Timeout => "timeout",
                        crate::sim::Why::SynCookie => "syn_cookie",
                    },
                    corrupted: p.corrupted(),
                    aimed: p.aimed.is_some(),
                    dup_ack: p.dup_ack,
                    third_party: p.third_party.map(|a| a.to_string()),
                })
            }
            Item::Window(i) => {
                let (host, w) = &run.windows[i];
                Ok(json!({
                    "time_us": w.at.as_micros(),
                    "host": run.host_name(*host),
                    "cwnd": w.cwnd,
                    "ssthresh": w.ssthresh,
                    "phase": w.phase.name(),
                }))
            }
            // Narration is for people; the JSON stream carries facts only.
            Item::Note(_) => continue,
        };
        if let Ok(v) = value {
            out.push(v.to_string());
        }
    }
    out.push(json!({ "summary": run.summary }).to_string());
    out
}
