//! The link's log turned into the packets the pictures show: sequence numbers relative to each
//! side's ISN (per connection, as Wireshark numbers each TCP stream), retransmissions, probes
//! and duplicate ACKs marked and numbered, why each host sent what it sent, and for a segment
//! damaged in flight, the checksum the receiver found wrong.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use synack_sim::{Fate, Side};
use synack_wire::TcpRepr;

use super::{Damage, Outcome, Packet, Segment, idx};
use crate::sim::{self, Fault, Why};

/// Per direction of one connection, what numbering and marking need.
#[derive(Default)]
struct Flow {
    /// The sequence number shown as 0: the sender's first SYN, else its first segment.
    base: Option<u32>,
    /// Highest sequence space sent so far, relative to `base`.
    high: Option<u32>,
    /// The window the receiver of this direction last announced.
    peer_wnd: Option<u16>,
    synack_sent: bool,
    /// The last ACK this direction's sender sent, its window, and how many duplicates of it.
    last_ack: Option<(u32, u16)>,
    dups: u32,
    /// Keepalive probes sent since the peer was last heard.
    probes: u32,
}

type FlowKey = (SocketAddr, SocketAddr);

/// Turns the link's log into display packets: relative numbers (per connection, as Wireshark
/// numbers each TCP stream), retransmission and probe marks, the reason each host recorded when
/// it sent the packet, and, given each side's own address, the third parties (forged sources,
/// destinations elsewhere).
pub fn packets(
    sent: &[synack_sim::LinkEvent],
    why: [&Vec<Why>; 2],
    aimed: [&Vec<Option<Fault>>; 2],
    own: [Option<IpAddr>; 2],
) -> Vec<Packet> {
    let key = |ip: &synack_wire::IpHeader, s: &TcpRepr<'_>| -> FlowKey {
        (
            SocketAddr::new(ip.src, s.src_port),
            SocketAddr::new(ip.dst, s.dst_port),
        )
    };
    // First pass: each direction's base, its first SYN, else its first segment.
    let mut first: HashMap<FlowKey, (bool, u32)> = HashMap::new();
    for (ip, s) in sent.iter().filter_map(|e| sim::decode_ip(&e.packet)) {
        let k = key(&ip, &s);
        match first.get(&k) {
            Some((true, _)) => {}
            Some((false, _)) if !s.flags.syn() => {}
            _ => {
                first.insert(k, (s.flags.syn(), s.seq));
            }
        }
    }
    let mut flows: HashMap<FlowKey, Flow> = first
        .into_iter()
        .map(|(k, (_, base))| {
            let flow = Flow {
                base: Some(base),
                ..Flow::default()
            };
            (k, flow)
        })
        .collect();
    let mut counts = [0usize; 2];
    let mut out = Vec::new();
    for e in sent {
        let i = idx(e.from);
        let dup = matches!(e.fate, Fate::Duplicate { .. });
        let (why_here, aimed_here) = if dup {
            (Why::Normal, None)
        } else {
            let w = why[i].get(counts[i]).copied().unwrap_or_default();
            let a = aimed[i].get(counts[i]).copied().flatten();
            counts[i] += 1;
            (w, a)
        };
        let outcome = match e.fate {
            Fate::Delivered { .. } => Outcome::Delivered,
            Fate::Corrupted { .. } => Outcome::Corrupted,
            Fate::Duplicate { .. } => Outcome::Duplicate,
            _ => Outcome::Lost,
        };
        let mut retransmission = false;
        let mut probe = false;
        let mut keepalive = false;
        let mut keepalive_no = None;
        let mut third_party = None;
        let mut dup_ack = None;
        let seg = sim::decode_ip(&e.packet).map(|(ip, s)| {
            // A packet from side A not from A's address was forged; one from side B not to
            // A's address went somewhere else on B's network.
            third_party = match e.from {
                Side::A => own[0].filter(|a| *a != ip.src).map(|_| ip.src),
                Side::B => own[0].filter(|a| *a != ip.dst).map(|_| ip.dst),
            };
            let k = key(&ip, &s);
            let theirs = flows.get(&(k.1, k.0)).and_then(|f| f.base).unwrap_or(0);
            let flow = flows.entry(k).or_default();
            let mine = flow.base.unwrap_or(s.seq);
            let len = s.payload.len() as u32;
            let space = len + u32::from(s.flags.syn()) + u32::from(s.flags.fin());
            let rel = s.seq.wrapping_sub(mine);
            if space > 0 && !dup {
                let end = rel.wrapping_add(space);
                // The SYN-ACK of a simultaneous open repeats our SYN on purpose: first time
                // with ACK set is not a retransmission.
                let first_synack = s.flags.syn() && s.flags.ack() && !flow.synack_sent;
                if s.flags.syn() && s.flags.ack() {
                    flow.synack_sent = true;
                }
                match flow.high {
                    Some(h) if rel < h && !first_synack => retransmission = true,
                    _ => {}
                }
                flow.high = Some(flow.high.map_or(end, |h| h.max(end)));
                probe = len == 1 && flow.peer_wnd == Some(0);
            }
            // A keepalive probe: no sequence space, one below everything sent so far.
            if space == 0 && !s.flags.rst() && !dup {
                keepalive = flow.high.is_some_and(|h| rel.wrapping_add(1) == h);
                if keepalive {
                    flow.probes += 1;
                    keepalive_no = Some(flow.probes);
                }
            }
            if !dup {
                dup_ack = count_duplicate_ack(&mut flows, k, &s);
            }
            // Anything that reaches the prober answers it: the next probe is #1 again, as
            // the count of unanswered probes restarts (RFC 1122 §4.2.3.6, Linux's
            // tcp_keepalive_probes).
            if e.fate.arrival().is_some() {
                flows.entry((k.1, k.0)).or_default().probes = 0;
            }
            if !s.flags.rst() {
                flows.entry((k.1, k.0)).or_default().peer_wnd = Some(s.window);
            }
            Segment {
                flags: s.flags,
                seq: rel,
                ack: if s.flags.ack() {
                    s.ack.wrapping_sub(theirs)
                } else {
                    0
                },
                len,
                win: s.window,
                options: options(&s, theirs),
                abs_seq: s.seq,
                abs_ack: s.ack,
            }
        });
        let damage = match &e.fate {
            Fate::Corrupted { flipped_bits, .. } => e
                .delivered_bytes()
                .map(|bytes| damage(&bytes, flipped_bits)),
            _ => None,
        };
        // A partitioned link (the keepalive scenario's power cut) is the scenario's doing too.
        let aimed_here = match e.fate {
            Fate::PartitionDrop if !dup => Some(Fault::Lose),
            _ => aimed_here,
        };
        out.push(Packet {
            damage,
            aimed: aimed_here,
            dup_ack,
            from: e.from,
            sent_at: e.sent_at,
            arrival: e.fate.arrival(),
            outcome,
            seg,
            why: why_here,
            retransmission,
            probe,
            keepalive,
            keepalive_no,
            third_party,
            bytes: e.packet.clone(),
        });
    }
    out
}

pub(crate) fn options(s: &TcpRepr<'_>, peer_base: u32) -> String {
    let o = &s.options;
    let mut parts = Vec::new();
    if let Some(m) = o.mss {
        parts.push(format!("mss {m}"));
    }
    if let Some(w) = o.window_scale {
        parts.push(format!("ws {w}"));
    }
    if o.sack_permitted {
        parts.push("sackOK".to_string());
    }
    if o.timestamps.is_some() && s.flags.syn() {
        parts.push("ts".to_string());
    }
    for b in o.sack_blocks.as_slice() {
        parts.push(format!(
            "sack {}-{}",
            b.left.wrapping_sub(peer_base),
            b.right.wrapping_sub(peer_base)
        ));
    }
    parts.join(",")
}

/// RFC 5681 §2's duplicate ACK, as the sender of the data will count it: an ACK with no data,
/// SYN or FIN, acknowledging the same byte as the last one, with the same window, while data
/// beyond it is outstanding. Returns its number (#1, #2, ...). A zero window is left out: the
/// ACKs that answer zero-window probes repeat themselves by design, and no sender takes them
/// for a loss.
fn count_duplicate_ack(
    flows: &mut HashMap<FlowKey, Flow>,
    k: FlowKey,
    s: &TcpRepr<'_>,
) -> Option<u32> {
    if !s.flags.ack() || s.flags.rst() {
        return None;
    }
    // The data this ACK is about flows the other way: its base and how far it got.
    let (their_base, their_high) = flows
        .get(&(k.1, k.0))
        .map_or((None, None), |f| (f.base, f.high));
    let ack = s.ack.wrapping_sub(their_base.unwrap_or(0));
    let pure = s.payload.is_empty() && !s.flags.syn() && !s.flags.fin();
    let flow = flows.entry(k).or_default();
    let same = flow.last_ack == Some((ack, s.window));
    let outstanding = their_high.is_some_and(|h| h > ack);
    let result = if pure && same && outstanding && s.window > 0 {
        flow.dups += 1;
        Some(flow.dups)
    } else {
        flow.dups = 0;
        None
    };
    flow.last_ack = Some((ack, s.window));
    result
}

/// What a receiver finds in a damaged IPv4 packet: which check fails, with the checksum the
/// header carries and the one computed over the bytes that arrived (RFC 1071; RFC 791 for the
/// IP header, RFC 9293 §3.1 for TCP with its pseudo-header).
fn damage(bytes: &[u8], flipped_bits: &[usize]) -> Damage {
    let bit = flipped_bits.first().copied().unwrap_or(0);
    let ihl = bytes.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
    let region = if bit / 8 < ihl.max(20) {
        "ip"
    } else if bit / 8 < ihl + 20 {
        "tcp"
    } else {
        "data"
    };
    let field = |b: &[u8], at: usize| {
        b.get(at..at + 2)
            .map_or(0, |f| u16::from_be_bytes([f[0], f[1]]))
    };
    let zeroed = |b: &[u8], at: usize| {
        let mut v = b.to_vec();
        if let Some(f) = v.get_mut(at..at + 2) {
            f.fill(0);
        }
        v
    };
    let header = bytes.get(..ihl.clamp(20, bytes.len().max(20)).min(bytes.len()));
    let header = header.unwrap_or(bytes);
    let ip_field = field(header, 10);
    let ip_computed = synack_wire::checksum::checksum(&zeroed(header, 10));
    let version_ok = bytes.first().is_some_and(|b| b >> 4 == 4) && ihl >= 20;
    if !version_ok || ip_field != ip_computed {
        return Damage {
            bit,
            region,
            layer: "ip",
            field: ip_field,
            computed: ip_computed,
        };
    }
    let total = usize::from(field(bytes, 2)).min(bytes.len());
    let tcp = bytes.get(ihl..total).unwrap_or(&[]);
    let addr = |at: usize| {
        let a = bytes.get(at..at + 4).unwrap_or(&[0; 4]);
        std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3])
    };
    let computed = synack_wire::checksum::pseudo_header_v4(addr(12), addr(16), 6, tcp.len() as u16)
        .add(&zeroed(tcp, 16))
        .finish();
    Damage {
        bit,
        region,
        layer: "tcp",
        field: field(tcp, 16),
        computed,
    }
}
