//! `synack trace FILE.pcap`: the ladder diagram of any capture, with each side's states
//! *inferred* from the flags by a simple observer.
//!
//! The observer sees what one capture point saw and nothing else: no timers, no user calls,
//! no arrival times. It follows the textbook rules (a FIN sent from ESTABLISHED means
//! FIN-WAIT-1, an ACK of that FIN means FIN-WAIT-2, ...), so it can be wrong where the real
//! hosts were not textbook, and it can never see TIME-WAIT end.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::IpAddr;
use std::path::Path;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use synack_proto::{Cause, Instant, StateName};
use synack_sim::{Fate, LinkEvent, Side};
use synack_wire::{ChecksumMode, parse_tcp};

use crate::scenario::{self, Change, Packet, Run, Summary, idx};

/// The IP datagram inside a captured frame, or `None` for frames that carry none.
fn ip_payload(link: DataLink, frame: &[u8]) -> Option<&[u8]> {
    match link {
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Some(frame),
        DataLink::ETHERNET => {
            let mut at = 12;
            loop {
                let ty = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
                match ty {
                    // 802.1Q and 802.1ad tags: skip the tag and read the next type.
                    0x8100 | 0x88a8 => at += 4,
                    0x0800 | 0x86dd => return frame.get(at + 2..),
                    _ => return None,
                }
            }
        }
        DataLink::LINUX_SLL => frame.get(16..),
        _ => None,
    }
}

type End = (IpAddr, u16);

/// The connection to draw, client first: the first one whose handshake completed (its SYN's
/// sender went on to ACK a SYN-ACK), so a capture that starts with a flood of SYNs from
/// nowhere, or with the tail of an older connection, still shows the conversation; else
/// `None`, and the first TCP packet decides.
fn chosen(link: DataLink, frames: &[(std::time::Duration, Vec<u8>)]) -> Option<[End; 2]> {
    // Per client → server direction: a SYN-ACK came back.
    let mut answered: BTreeMap<(End, End), bool> = BTreeMap::new();
    for (_, data) in frames {
        let Some(Ok((ip, seg))) =
            ip_payload(link, data).map(|b| parse_tcp(b, ChecksumMode::Ignore))
        else {
            continue;
        };
        let (src, dst) = ((ip.src, seg.src_port), (ip.dst, seg.dst_port));
        let f = seg.flags;
        if f.syn() && !f.ack() {
            answered.entry((src, dst)).or_insert(false);
        } else if f.syn() && f.ack() {
            if let Some(a) = answered.get_mut(&(dst, src)) {
                *a = true;
            }
        } else if f.ack() && !f.rst() && answered.get(&(src, dst)) == Some(&true) {
            return Some([src, dst]);
        }
    }
    None
}

/// What a trace found, for the report.
pub struct Trace {
    pub run: Run,
    /// Frames that were not TCP over IP, or belonged to another connection.
    pub skipped: usize,
    pub bad_checksums: usize,
}

/// Reads a capture and builds a [`Run`] from its first TCP connection.
pub fn read(path: &Path) -> Result<Trace, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut reader =
        PcapReader::new(file).map_err(|e| format!("{} is not a pcap file: {e}", path.display()))?;
    let link = reader.header().datalink;
    if !matches!(
        link,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 | DataLink::ETHERNET | DataLink::LINUX_SLL
    ) {
        return Err(format!(
            "link type {link:?} is not supported (raw IP, Ethernet or Linux cooked only)"
        ));
    }
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(|e| format!("{}: {e}", path.display()))?;
        frames.push((packet.timestamp, packet.data.into_owned()));
    }
    let mut events = Vec::new();
    let mut ends: Option<[(IpAddr, u16); 2]> = chosen(link, &frames);
    let mut start: Option<std::time::Duration> = None;
    let mut skipped = 0;
    let mut bad_checksums = 0;
    for (timestamp, data) in &frames {
        let Some(bytes) = ip_payload(link, data) else {
            skipped += 1;
            continue;
        };
        // Captures taken on a host with checksum offload carry unfinished checksums: count
        // them, but still draw the packet.
        let Ok((ip, seg)) = parse_tcp(bytes, ChecksumMode::Ignore) else {
            skipped += 1;
            continue;
        };
        if parse_tcp(bytes, ChecksumMode::Verify).is_err() {
            bad_checksums += 1;
        }
        let src = (ip.src, seg.src_port);
        let dst = (ip.dst, seg.dst_port);
        let pair = *ends.get_or_insert_with(|| {
            // The side that sends a SYN|ACK first is the server: put the client on the left.
            if seg.flags.syn() && seg.flags.ack() {
                [dst, src]
            } else {
                [src, dst]
            }
        });
        let from = if pair == [src, dst] {
            Side::A
        } else if pair == [dst, src] {
            Side::B
        } else {
            skipped += 1;
            continue;
        };
        let t0 = *start.get_or_insert(*timestamp);
        let at = Instant::from_micros(
            u64::try_from(timestamp.saturating_sub(t0).as_micros()).unwrap_or(u64::MAX),
        );
        events.push(LinkEvent {
            id: events.len() as u64,
            sent_at: at,
            from,
            packet: bytes.to_vec(),
            fate: Fate::Delivered { at },
            reordered: false,
        });
    }
    let Some(pair) = ends else {
        return Err(format!("{} holds no TCP packets", path.display()));
    };
    let none = Vec::new();
    let packets = scenario::packets(
        &events,
        [&Vec::new(), &Vec::new()],
        [&none, &none],
        [None, None],
    );
    let (initial, changes) = infer(&packets);
    let mut final_states = initial;
    for c in &changes {
        final_states[idx(c.host)] = c.to;
    }
    let mut states = BTreeMap::new();
    let hosts = pair.map(|(ip, _)| ip.to_string());
    for side in [Side::A, Side::B] {
        let mut v = vec![initial[idx(side)].as_str().to_string()];
        v.extend(
            changes
                .iter()
                .filter(|c| c.host == side)
                .map(|c| c.to.as_str().to_string()),
        );
        states.insert(hosts[idx(side)].clone(), v);
    }
    let end = packets.last().map_or(Instant::ZERO, |p| p.sent_at);
    let payload = |side: Side| -> u64 {
        packets
            .iter()
            .filter(|p| p.from == side && !p.retransmission)
            .filter_map(|p| p.seg.as_ref())
            .map(|s| u64::from(s.len))
            .sum()
    };
    let (sent_a, sent_b) = (payload(Side::A), payload(Side::B));
    let run = Run {
        scenario: "trace",
        params: scenario::Params::default(),
        summary: Summary {
            scenario: "trace".into(),
            seed: 0,
            bytes_sent: sent_a + sent_b,
            bytes_received: 0,
            // A capture cannot tell what the applications read.
            verified: false,
            fast_retransmits: 0,
            rto_retransmits: 0,
            segments_retransmitted: packets.iter().filter(|p| p.retransmission).count() as u64,
            packets: packets.len() as u64,
            packets_lost: 0,
            syncookies_sent: 0,
            syncookies_validated: 0,
            states,
            final_states: BTreeMap::new(),
            errors: BTreeMap::new(),
            duration_us: end.as_micros(),
            ..Summary::default()
        },
        hosts,
        ports: pair.map(|(_, port)| port),
        initial,
        packets,
        changes,
        notes: Vec::new(),
        final_states,
        errors: [None, None],
        end,
        msl: std::time::Duration::ZERO,
        observed: true,
        absolute: false,
        app_sent: [sent_a, sent_b],
        app_received: [sent_b, sent_a],
    };
    Ok(Trace {
        run,
        skipped,
        bad_checksums,
    })
}

/// The observer's view of one side.
#[derive(Clone, Copy)]
struct Seen {
    state: StateName,
    /// Absolute sequence number of this side's SYN and FIN, once seen.
    syn: Option<u32>,
    fin: Option<u32>,
    /// Sent a SYN without ACK: an active opener.
    bare_syn: bool,
    /// Has shown (by acknowledging it) that the peer's FIN arrived.
    got_fin: bool,
}

/// Infers both sides' states from the packets, textbook style.
pub fn infer(packets: &[Packet]) -> ([StateName; 2], Vec<Change>) {
    use StateName::*;
    let first = packets.first().and_then(|p| p.seg.as_ref());
    // A capture that starts with a SYN starts before the connection; one that starts later
    // finds both sides ESTABLISHED as far as anyone can tell.
    let mut initial = match first {
        Some(s) if s.flags.syn() && !s.flags.ack() => [Closed, Listen],
        Some(s) if s.flags.syn() => [SynSent, Listen],
        _ => [Established, Established],
    };
    let mut seen = initial.map(|state| Seen {
        state,
        syn: None,
        fin: None,
        bare_syn: false,
        got_fin: false,
    });
    let mut changes: Vec<Change> = Vec::new();
    for p in packets {
        let Some(s) = &p.seg else { continue };
        let (x, y) = (idx(p.from), idx(p.from.other()));
        let b_untouched = !changes.iter().any(|c| c.host == Side::B);
        let side = |i: usize| if i == 0 { Side::A } else { Side::B };
        let mut go = |i: usize, to: StateName, cause: Cause, seen: &mut [Seen; 2]| {
            let from = seen[i].state;
            if from != to {
                seen[i].state = to;
                changes.push(Change {
                    at: p.sent_at,
                    host: side(i),
                    from,
                    to,
                    cause,
                });
            }
        };
        let f = s.flags;
        // Whether this segment acknowledges the SYN or FIN at `v`.
        let acks = |v: Option<u32>| f.ack() && v.is_some_and(|v| s.abs_ack == v.wrapping_add(1));
        if f.rst() {
            // A "server" whose first word is a RST was never listening: the port was closed.
            if seen[x].state == Listen && seen[x].syn.is_none() && seen[x].fin.is_none() {
                let untouched = x == 1 && initial[1] == Listen;
                if untouched {
                    initial[x] = Closed;
                    seen[x].state = Closed;
                }
            }
            if seen[x].state != Closed {
                go(x, Closed, Cause::UserAbort, &mut seen);
            }
            if !matches!(seen[y].state, Closed | Listen) {
                go(y, Closed, Cause::RecvRst, &mut seen);
            }
            continue;
        }
        // A FIN counts as received once its receiver acknowledges it: a capture point between
        // the hosts cannot know earlier, and in a simultaneous close the other FIN may have
        // been sent before this one arrived (its ACK field tells).
        if !seen[x].got_fin && acks(seen[y].fin) {
            seen[x].got_fin = true;
            match seen[x].state {
                Established => go(x, CloseWait, Cause::RecvFin, &mut seen),
                FinWait1 => go(x, Closing, Cause::RecvFin, &mut seen),
                FinWait2 => go(x, TimeWait, Cause::RecvFin, &mut seen),
                _ => {}
            }
        }
        if f.syn() {
            seen[x].syn.get_or_insert(s.abs_seq);
            if !f.ack() {
                // The side taken for a listener opens actively too: a simultaneous open.
                if seen[x].state == Listen
                    && x == 1
                    && initial[1] == Listen
                    && !seen[x].bare_syn
                    && b_untouched
                {
                    initial[x] = Closed;
                    seen[x].state = Closed;
                }
                seen[x].bare_syn = true;
                if seen[x].state == Closed {
                    go(x, SynSent, Cause::UserConnect, &mut seen);
                }
            } else if matches!(seen[x].state, Listen | SynSent) {
                go(x, SynReceived, Cause::RecvSyn, &mut seen);
            }
        }
        match seen[y].state {
            SynSent if f.syn() && f.ack() && seen[x].bare_syn => {
                // Both sent SYNs: the other's SYN took this side to SYN-RECEIVED on the way.
                go(y, SynReceived, Cause::RecvSyn, &mut seen);
                go(y, Established, Cause::RecvAck, &mut seen);
            }
            SynSent if f.syn() && f.ack() => go(y, Established, Cause::RecvSynAck, &mut seen),
            SynReceived if acks(seen[y].syn) => go(y, Established, Cause::RecvAck, &mut seen),
            FinWait1 if acks(seen[y].fin) => go(y, FinWait2, Cause::RecvAck, &mut seen),
            Closing if acks(seen[y].fin) => go(y, TimeWait, Cause::RecvAck, &mut seen),
            LastAck if acks(seen[y].fin) => go(y, Closed, Cause::RecvAck, &mut seen),
            _ => {}
        }
        if f.fin() {
            seen[x].fin.get_or_insert(s.abs_seq.wrapping_add(s.len));
            match seen[x].state {
                Established | SynReceived => go(x, FinWait1, Cause::UserClose, &mut seen),
                CloseWait => go(x, LastAck, Cause::UserClose, &mut seen),
                _ => {}
            }
        }
    }
    (initial, changes)
}

/// The terminal report of a trace: what it is, the ladder, and the inferred states.
pub fn report(t: &Trace, name: &str, view: &crate::ladder::View) -> String {
    use crate::text::{Style, wrap};
    let (lang, color) = (view.lang, view.color);
    use std::fmt::Write as _;
    let run = &t.run;
    let mut out = String::new();
    let title = format!("synack trace · {name}");
    out.push_str(&Style::Title.paint(&title, color));
    out.push('\n');
    let intro = lang.pick(
        "Times are capture timestamps in ms from the first packet; seq/ack are relative (ISN = 0, \
         as Wireshark shows them). A capture is taken at one point, so arrows show when each \
         packet passed that point, not when it arrived. The states are INFERRED from the flags \
         by a textbook observer: the hosts' timers and user calls are invisible on the wire, \
         so e.g. the end of TIME-WAIT never shows.",
        "时间为抓包时间戳（毫秒，从第一个包起算）；seq/ack 为相对序列号（ISN 记为 0，与 Wireshark \
         相同）。抓包只在一个位置进行，箭头表示报文经过该位置的时刻，而非到达时刻。状态是按教科书规则\
         从标志位推断出来的：主机的定时器和用户调用在线路上不可见，例如 TIME-WAIT 的结束永远看不到。",
    );
    for l in wrap(intro, view.width.max(crate::ladder::MIN_WIDTH)) {
        out.push_str(&Style::Dim.paint(&l, color));
        out.push('\n');
    }
    out.push('\n');
    for line in crate::ladder::lines(run, view) {
        for (text, style) in line {
            out.push_str(&style.paint(&text, color));
        }
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('\n');
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{}",
        Style::Bold.paint(lang.pick("Inferred states", "推断的状态"), color)
    );
    for side in [Side::A, Side::B] {
        let v: Vec<&str> = run
            .visited(side)
            .iter()
            .map(|s| crate::i18n::state_name(*s, view.names))
            .collect();
        let host = run.host_name(side);
        let port = run.ports[idx(side)];
        let who = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let _ = writeln!(out, "  {who:<22} {}", v.join(" → "));
    }
    let _ = match lang {
        crate::i18n::Lang::En => writeln!(
            out,
            "  {} packets, {} retransmitted; {} frames skipped (not this TCP connection)\n  {} bad checksums (normal in captures taken on a host that offloads checksums)",
            run.packets.len(),
            run.summary.segments_retransmitted,
            t.skipped,
            t.bad_checksums
        ),
        crate::i18n::Lang::Zh => writeln!(
            out,
            "  共 {} 个报文，重传 {} 个；跳过 {} 帧（不属于该 TCP 连接）\n  校验和错误 {} 个（在启用校验和卸载的主机上抓包时属正常）",
            run.packets.len(),
            run.summary.segments_retransmitted,
            t.skipped,
            t.bad_checksums
        ),
    };
    out
}
