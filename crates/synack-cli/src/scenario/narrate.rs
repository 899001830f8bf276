//! What the demo says about a run, told from the run itself rather than from the script: the
//! socket calls that open it, what the handshake's third segment carried, a FIN riding on an
//! ACK, duplicate ACKs, a damaged segment and the checksum that caught it, how long TIME-WAIT
//! lasts and why, and, for the top of the report, what was lost and retransmitted and why.
//! So that with `--loss`, `--corrupt`, `--seed` or `--rtt` it still tells the truth.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use synack_proto::{Cause, ConnError, Instant, StateName};
use synack_sim::Side;

use super::{Packet, Run, idx};
use crate::i18n::Lang;
use crate::node::HostServer;
use crate::sim::{Fault, Note, Why};

/// What the narration of the opening calls needs to know about a scenario's setup.
pub struct Opening {
    pub hosts: [&'static str; 2],
    pub ports: [u16; 2],
    pub server_addr: IpAddr,
    pub listens: bool,
    pub backlog: usize,
    pub connects_later: bool,
}

/// A host's name as the narration says it: 客户端/服务器 in Chinese.
pub fn who(name: &str, lang: Lang) -> String {
    match (lang, name) {
        (Lang::Zh, "client") => "客户端".into(),
        (Lang::Zh, "server") => "服务器".into(),
        (Lang::En, "client") => "the client".into(),
        (Lang::En, "server") => "the server".into(),
        _ => name.to_string(),
    }
}

/// A host's name as a heading: 客户端/服务器 in Chinese, as named otherwise.
pub fn heading(name: &str, lang: Lang) -> String {
    who(name, lang).trim_start_matches("the ").to_string()
}

/// Capitalised, for the start of a sentence.
fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn note(at: Instant, host: Side, en: String, zh: String) -> Note {
    Note { at, host, en, zh }
}

/// The socket calls each application makes before the first segment, in the order they must
/// come: the server's socket → bind → listen before the client's socket → connect.
pub fn opening(o: &Opening, changes: &[super::Change]) -> Vec<Note> {
    let [a, b] = o.hosts;
    let [pa, pb] = o.ports;
    let mut notes = Vec::new();
    let connects_at_zero = |side: Side| {
        changes
            .iter()
            .any(|c| c.host == side && c.at == Instant::ZERO && c.to == StateName::SynSent)
    };
    let server_en = cap(&who(b, Lang::En));
    let server_zh = who(b, Lang::Zh);
    if o.listens {
        notes.push(note(
            Instant::ZERO,
            Side::B,
            format!(
                "{server_en}'s application calls socket(), bind() to port {pb} and listen() \
                 with backlog {}: LISTEN. It then waits in accept() for a connection",
                o.backlog
            ),
            format!(
                "{server_zh}应用依次调用 socket()、bind()（端口 {pb}）和 listen()（backlog 为 {}），\
                 进入 LISTEN，然后在 accept() 中等待连接",
                o.backlog
            ),
        ));
        if o.backlog > 1 {
            notes.push(note(
                Instant::ZERO,
                Side::B,
                format!(
                    "the backlog sizes its queues: at most {} half-open connections wait in \
                     its SYN queue",
                    o.backlog
                ),
                format!(
                    "backlog 决定队列的大小：SYN 队列中最多容纳 {} 个半连接",
                    o.backlog
                ),
            ));
        }
    } else if connects_at_zero(Side::B) {
        notes.push(note(
            Instant::ZERO,
            Side::B,
            format!(
                "{server_en}'s application calls socket(), bind() to port {pb} and connect() \
                 to {a}'s port {pa}: a SYN goes out"
            ),
            format!(
                "{server_zh}的应用调用 socket()、bind()（端口 {pb}），再 connect() 到 {a} 的端口 \
                 {pa}：发出 SYN"
            ),
        ));
    } else {
        notes.push(note(
            Instant::ZERO,
            Side::B,
            format!("nothing listens on port {pb}: no socket is bound to it, it is CLOSED"),
            format!("端口 {pb} 上没有套接字在监听：它处于 CLOSED"),
        ));
    }
    if !o.connects_later && connects_at_zero(Side::A) {
        let client_en = cap(&who(a, Lang::En));
        let client_zh = who(a, Lang::Zh);
        let (en, zh) = if o.listens || !connects_at_zero(Side::B) {
            (
                format!(
                    "{client_en}'s application calls socket(), then connect() to {}:{pb}: a \
                     SYN goes out from port {pa}, which the system picked",
                    o.server_addr
                ),
                format!(
                    "{client_zh}应用调用 socket()，再调用 connect() 连接 {}:{pb}：从系统选定的端口 \
                     {pa} 发出 SYN",
                    o.server_addr
                ),
            )
        } else {
            (
                format!(
                    "{client_en}'s application calls socket(), bind() to port {pa} and \
                     connect() to {b}'s port {pb} at the same moment: a SYN goes out"
                ),
                format!(
                    "{client_zh}的应用在同一时刻调用 socket()、bind()（端口 {pa}），再 connect() 到 \
                     {b} 的端口 {pb}：发出 SYN"
                ),
            )
        };
        notes.push(note(Instant::ZERO, Side::A, en, zh));
    }
    notes
}

/// What a listening host's SYN queue did with everyone but the followed client.
pub fn queue_notes(server: &HostServer) -> Vec<Note> {
    let cap = server.backlog;
    let retries = server.host.config().tcp.synack_retries;
    server
        .syn_queue
        .iter()
        .map(|m| {
            let who = m
                .remote
                .map_or_else(|| "?".to_string(), |r| r.ip().to_string());
            let (en, zh) = match (m.joined, m.len >= cap) {
                (true, false) => (
                    format!(
                        "half-open connection for {who} kept: SYN queue {}/{cap}",
                        m.len
                    ),
                    format!("为 {who} 保存半连接：SYN 队列 {}/{cap}", m.len),
                ),
                (true, true) => (
                    format!(
                        "half-open connection for {who} kept: SYN queue {}/{cap}, full. From now \
                         on a SYN is answered with a SYN cookie as the ISN, and nothing is kept",
                        m.len
                    ),
                    format!(
                        "为 {who} 保存半连接：SYN 队列 {}/{cap}，已满。此后的 SYN 以 SYN cookie \
                         作为 ISN 应答，服务器不保存任何状态",
                        m.len
                    ),
                ),
                (false, _) => (
                    format!(
                        "no ACK from {who} after {retries} SYN-ACK retries: its half-open \
                         connection is dropped, SYN queue {}/{cap}",
                        m.len
                    ),
                    format!(
                        "{who} 在 {retries} 次 SYN-ACK 重传后仍无 ACK：丢弃该半连接，SYN 队列 \
                         {}/{cap}",
                        m.len
                    ),
                ),
            };
            note(m.at, Side::B, en, zh)
        })
        .collect()
}

/// The packets between the two followed hosts (not the syn-flood's forged ones).
fn own(run: &Run) -> impl Iterator<Item = (usize, &Packet)> {
    run.packets
        .iter()
        .enumerate()
        .filter(|(_, p)| p.third_party.is_none() && p.seg.is_some())
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// The notes a run's packets and state changes call for.
pub fn derived(run: &Run) -> Vec<Note> {
    let mut out = Vec::new();
    accept(run, &mut out);
    third_segment(run, &mut out);
    fin_on_ack(run, &mut out);
    damaged(run, &mut out);
    time_wait(run, &mut out);
    out
}

/// accept() hands the server's application the connection once the handshake is done.
fn accept(run: &Run, out: &mut Vec<Note>) {
    if !run.visited(Side::B).contains(&StateName::Listen) {
        return;
    }
    if let Some(c) = run
        .changes
        .iter()
        .find(|c| c.host == Side::B && c.to == StateName::Established)
    {
        let s = who(&run.hosts[1], Lang::Zh);
        out.push(note(
            c.at,
            Side::B,
            format!(
                "the handshake is complete: accept() returns the new connection to {}'s \
                 application",
                who(&run.hosts[1], Lang::En)
            ),
            format!("握手完成：accept() 把这条新连接交给{s}应用"),
        ));
    }
}

/// The segment that completes an active open: a bare ACK, or already data.
fn third_segment(run: &Run, out: &mut Vec<Note>) {
    let Some((i, synack)) = own(run).find(|(_, p)| {
        p.from == Side::B
            && p.seg
                .as_ref()
                .is_some_and(|s| s.flags.syn() && s.flags.ack())
    }) else {
        return;
    };
    // A simultaneous open has two SYN-ACKs crossing; the story there is told by its header.
    if !run.visited(Side::B).contains(&StateName::Listen) {
        return;
    }
    let want = synack.seg.as_ref().map_or(0, |s| s.seq.wrapping_add(1));
    let Some((_, third)) = own(run).skip_while(|(j, _)| *j <= i).find(|(_, p)| {
        p.from == Side::A
            && p.seg
                .as_ref()
                .is_some_and(|s| s.flags.ack() && !s.flags.syn() && s.ack == want)
    }) else {
        return;
    };
    let Some(s) = &third.seg else { return };
    if s.len == 0 {
        return;
    }
    out.push(note(
        third.sent_at,
        Side::A,
        format!(
            "the third segment of the handshake already carries data (len={}): the ACK of the \
             server's SYN and the first bytes travel together",
            s.len
        ),
        format!(
            "握手的第三个报文段已经携带数据（len={}）：对服务器 SYN 的确认与最初的数据一起发出",
            s.len
        ),
    ));
}

/// A FIN that also acknowledges the peer's FIN: a close in three segments.
fn fin_on_ack(run: &Run, out: &mut Vec<Note>) {
    for side in [Side::A, Side::B] {
        let peer = side.other();
        let Some(peer_fin_end) = own(run)
            .filter(|(_, p)| p.from == peer)
            .filter_map(|(_, p)| p.seg.as_ref())
            .find(|s| s.flags.fin())
            .map(|s| s.seq.wrapping_add(s.len).wrapping_add(1))
        else {
            continue;
        };
        // The first segment of `side` that acknowledges the peer's FIN.
        let Some((_, first)) = own(run).find(|(_, p)| {
            p.from == side
                && p.seg
                    .as_ref()
                    .is_some_and(|s| s.flags.ack() && !s.flags.rst() && s.ack == peer_fin_end)
        }) else {
            continue;
        };
        let Some(s) = &first.seg else { continue };
        if !s.flags.fin() {
            continue;
        }
        let (me, them) = (&run.hosts[idx(side)], &run.hosts[idx(peer)]);
        out.push(note(
            first.sent_at,
            side,
            format!(
                "{}'s FIN rides on its ACK of {}'s FIN: its application closed before that ACK \
                 left, so this close takes three segments instead of four",
                cap(&who(me, Lang::En)),
                who(them, Lang::En)
            ),
            format!(
                "{}的 FIN 与它对{}的 FIN 的确认合并在一个报文段中：它的应用在这个 ACK 发出之前就\
                 调用了 close()，所以这次关闭只用了三个报文段，而不是四个",
                who(me, Lang::Zh),
                who(them, Lang::Zh)
            ),
        ));
    }
}

/// A segment damaged in flight, at the moment its receiver checks it.
fn damaged(run: &Run, out: &mut Vec<Note>) {
    for (_, p) in own(run) {
        let (Some(d), Some(at)) = (p.damage, p.arrival) else {
            continue;
        };
        let to = p.from.other();
        let (where_en, where_zh) = match d.region {
            "ip" => ("IP header", "IP 首部"),
            "tcp" => ("TCP header", "TCP 首部"),
            _ => ("data", "数据"),
        };
        let (check_en, check_zh) = match d.layer {
            "ip" => ("IPv4 header checksum", "IPv4 首部校验和"),
            _ => ("TCP checksum", "TCP 校验和"),
        };
        out.push(note(
            at,
            to,
            format!(
                "a segment arrives with bit {} flipped (in the {where_en}): {check_en} in the \
                 header 0x{:04x}, computed over the bytes received 0x{:04x}. They differ, so \
                 it is dropped without an ACK",
                d.bit, d.field, d.computed
            ),
            format!(
                "一个报文段到达时第 {} 位被翻转（位于{where_zh}）：首部中的{check_zh}为 0x{:04x}，\
                 按收到的字节计算得 0x{:04x}。两者不同，因此丢弃该报文段，不予确认",
                d.bit, d.field, d.computed
            ),
        ));
    }
}

/// TIME-WAIT: how long and why, when a host enters it; and when a retransmitted FIN restarts
/// its timer.
fn time_wait(run: &Run, out: &mut Vec<Note>) {
    let msl = run.msl;
    let two = msl * 2;
    for c in run.changes.iter().filter(|c| c.to == StateName::TimeWait) {
        out.push(note(
            c.at,
            c.host,
            format!(
                "TIME-WAIT lasts 2MSL = {} s. MSL, the maximum segment lifetime, is {} s in \
                 this run (RFC 9293 suggests 2 minutes; Linux waits 60 s in all): long enough \
                 to ACK the peer's FIN again should the last ACK be lost, and for old segments \
                 of this connection to die out before its 4-tuple is used again",
                secs(two),
                secs(msl)
            ),
            format!(
                "TIME-WAIT 持续 2MSL = {} 秒。MSL 即报文段最大生存时间，本次运行取 {} 秒（RFC 9293 \
                 建议 2 分钟；Linux 总共等待 60 秒）：这段时间足以在最后的 ACK 丢失时再次确认对方的 \
                 FIN，也足以让这条连接的旧报文段在网络中消亡，之后同一个四元组才能再次使用",
                secs(two),
                secs(msl)
            ),
        ));
        let end = run
            .changes
            .iter()
            .find(|e| e.host == c.host && e.from == StateName::TimeWait && e.at >= c.at)
            .map(|e| e.at);
        // FINs arriving at this host while it waits.
        for (_, p) in own(run) {
            let (Some(s), Some(at)) = (&p.seg, p.arrival) else {
                continue;
            };
            if p.from != c.host.other() || !s.flags.fin() || p.corrupted() {
                continue;
            }
            if at <= c.at || end.is_some_and(|e| at >= e) {
                continue;
            }
            let (ends_en, ends_zh) = match end {
                Some(e) => (
                    format!(": TIME-WAIT now ends at {} ms", crate::text::ms(e)),
                    format!("：TIME-WAIT 改为在 {} 毫秒结束", crate::text::ms(e)),
                ),
                None => (String::new(), String::new()),
            };
            out.push(note(
                at,
                c.host,
                format!(
                    "a retransmitted FIN arrives in TIME-WAIT: it is ACKed again and the 2MSL \
                     timer restarts{ends_en}"
                ),
                format!("在 TIME-WAIT 中收到重传的 FIN：再次确认，并重新开始 2MSL 计时{ends_zh}"),
            ));
        }
    }
}

/// Bytes of each side's stream the other side acknowledged: the highest ACK it sent, less the
/// SYN, at most what was written (a FIN's sequence number is not a byte).
pub fn acked(packets: &[Packet], written: [u64; 2]) -> [u64; 2] {
    let mut out = [0u64; 2];
    for side in [Side::A, Side::B] {
        let high = packets
            .iter()
            .filter(|p| p.from == side.other() && p.third_party.is_none())
            .filter_map(|p| p.seg.as_ref())
            .filter(|s| s.flags.ack() && !s.flags.rst() && !(s.flags.syn() && s.ack == 0))
            .map(|s| u64::from(s.ack))
            .max()
            .unwrap_or(0);
        out[idx(side)] = high.saturating_sub(1).min(written[idx(side)]);
    }
    out
}

/// A segment named for the narration: `the client's seq=501 len=500`.
fn seg_name(run: &Run, p: &Packet, lang: Lang) -> String {
    let s = p.seg.as_ref();
    let mut what = String::new();
    if let Some(s) = s {
        // Flags only where they say what the segment is (a SYN, a FIN), not the ACK every
        // segment carries.
        if s.flags.syn() || s.flags.fin() {
            let _ = write!(what, "{} ", s.flags);
        }
        let _ = write!(what, "seq={}", s.seq);
        if s.len > 0 {
            let _ = write!(what, " len={}", s.len);
        }
    }
    let name = run.host_name(p.from);
    match lang {
        Lang::En => format!("{}'s {what}", who(name, Lang::En)),
        Lang::Zh => format!("{}的 {what}", who(name, Lang::Zh)),
    }
}

/// The last earlier packet from the same host with the same sequence number.
fn previous_copy(run: &Run, i: usize) -> Option<&Packet> {
    let p = &run.packets[i];
    let s = p.seg.as_ref()?;
    run.packets[..i].iter().rev().find(|o| {
        o.from == p.from
            && o.third_party == p.third_party
            && o.seg.as_ref().is_some_and(|x| x.seq == s.seq)
    })
}

/// Why a retransmitted segment's original needed repeating.
fn original_fate(run: &Run, i: usize, lang: Lang) -> &'static str {
    match previous_copy(run, i) {
        Some(o) if o.lost() => lang.pick("its last copy was lost", "它上一次发出的副本丢失了"),
        Some(o) if o.corrupted() => lang.pick(
            "its last copy arrived damaged and was dropped",
            "它上一次发出的副本到达时已损坏，被丢弃",
        ),
        Some(_) => lang.pick(
            "its last copy arrived, but no ACK for it came back in time",
            "它上一次发出的副本已经到达，但对它的确认没有及时返回",
        ),
        None => lang.pick("no earlier copy was seen", "此前没有见到它的副本"),
    }
}

/// A paragraph on what happened in this run: packets lost and damaged (aimed by the scenario
/// or at random), and each retransmission with what triggered it and why it was needed.
pub fn facts(run: &Run, lang: Lang) -> String {
    let mine: Vec<(usize, &Packet)> = run
        .packets
        .iter()
        .enumerate()
        .filter(|(_, p)| p.outcome != super::Outcome::Duplicate)
        .collect();
    let lost = |aimed: bool| {
        mine.iter()
            .filter(|(_, p)| p.lost() && (p.aimed == Some(Fault::Lose)) == aimed)
            .filter(|(_, p)| aimed || p.third_party.is_none())
            .count()
    };
    let to_nowhere = mine
        .iter()
        .filter(|(_, p)| p.lost() && p.third_party.is_some() && p.aimed.is_some())
        .count();
    let damaged = |aimed: bool| {
        mine.iter()
            .filter(|(_, p)| p.corrupted() && (p.aimed == Some(Fault::Corrupt)) == aimed)
            .count()
    };
    let (la, lr, da, dr) = (
        lost(true).saturating_sub(to_nowhere),
        lost(false),
        damaged(true),
        damaged(false),
    );
    let mut out = String::new();
    let n = mine.len();
    match lang {
        Lang::En => {
            let _ = write!(out, "In this run: {n} packets");
            if to_nowhere > 0 {
                let _ = write!(
                    out,
                    " ({to_nowhere} of them sent to forged addresses, where nobody is)"
                );
            }
            let _ = write!(
                out,
                "; {} lost ({la} by the scenario's design, {lr} by random --loss)",
                la + lr
            );
            if da + dr > 0 {
                let _ = write!(
                    out,
                    "; {} damaged in flight and dropped by the receiver's checksum ({da} by \
                     design, {dr} by random --corrupt)",
                    da + dr
                );
            }
            out.push('.');
        }
        Lang::Zh => {
            let _ = write!(out, "本次运行：共 {n} 个报文");
            if to_nowhere > 0 {
                let _ = write!(out, "（其中 {to_nowhere} 个发往不存在的伪造地址）");
            }
            let _ = write!(
                out,
                "；丢失 {} 个（场景有意安排 {la} 个，随机丢包 --loss 造成 {lr} 个）",
                la + lr
            );
            if da + dr > 0 {
                let _ = write!(
                    out,
                    "；途中损坏并被接收方的校验和丢弃 {} 个（场景有意安排 {da} 个，随机损坏 \
                     --corrupt 造成 {dr} 个）",
                    da + dr
                );
            }
            out.push('。');
        }
    }
    // Probes repeat a byte (zero-window) or an old sequence number (keepalive) on purpose:
    // they ask rather than repair, and are counted apart.
    let probes = |f: fn(&Packet) -> bool| mine.iter().filter(|(_, p)| f(p)).count();
    let (zw, ka) = (probes(|p| p.probe), probes(|p| p.keepalive));
    if zw > 0 {
        let _ = match lang {
            Lang::En => write!(
                out,
                " {zw} zero-window probe(s), sent by the persist timer while the window stayed \
                 closed."
            ),
            Lang::Zh => write!(out, "坚持定时器在窗口关闭期间发出零窗口探测 {zw} 次。"),
        };
    }
    if ka > 0 {
        let _ = match lang {
            Lang::En => write!(out, " {ka} keepalive probe(s) on the idle connection."),
            Lang::Zh => write!(out, "空闲连接上发出保活探测 {ka} 次。"),
        };
    }
    let retrans: Vec<(usize, &Packet)> = mine
        .iter()
        .copied()
        .filter(|(_, p)| p.third_party.is_none() && !p.probe && !p.keepalive)
        .filter(|(_, p)| p.retransmission || p.why.is_retransmit())
        .collect();
    if retrans.is_empty() {
        out.push_str(lang.pick(" Nothing was retransmitted.", "没有任何重传。"));
        return out;
    }
    const SHOWN: usize = 4;
    match lang {
        Lang::En => {
            let _ = write!(out, " {} retransmission(s): ", retrans.len());
        }
        Lang::Zh => {
            let _ = write!(out, "重传 {} 次：", retrans.len());
        }
    }
    let items: Vec<String> = retrans
        .iter()
        .take(SHOWN)
        .map(|&(i, p)| {
            let at = crate::text::ms(p.sent_at);
            let name = seg_name(run, p, lang);
            // The byte a zero-window probe carried goes again at the head of the data once
            // the window opens: no timer, nothing lost.
            let after_probe = previous_copy(run, i).is_some_and(|o| o.probe);
            let how = match p.why {
                Why::FastRetransmit => lang.pick(
                    "by fast retransmit, after three duplicate ACKs",
                    "由三个重复 ACK 触发快速重传",
                ),
                Why::RackLoss => lang.pick(
                    "once RACK found it lost: segments sent after it were SACKed more than a \
                     reordering window later (RFC 8985)",
                    "在 RACK 判定其丢失之后：在它之后发送的报文段已被 SACK，且超过了重排序窗口\
                     （RFC 8985）",
                ),
                Why::TailLossProbe => lang.pick(
                    "as a tail loss probe, about two round trips after the last ACK (RFC 8985)",
                    "作为尾部丢失探测，在上一个 ACK 之后约两个往返时间（RFC 8985）",
                ),
                Why::Timeout => lang.pick(
                    "when its retransmission timer (RTO) expired",
                    "在重传定时器（RTO）到期时超时重传",
                ),
                _ if after_probe => {
                    return match lang {
                        Lang::En => format!(
                            "{name} at {at} ms, once the window opened: it starts with the byte \
                             the last zero-window probe carried"
                        ),
                        Lang::Zh => format!(
                            "{name} 于 {at} 毫秒在窗口打开后发出：它以最后一个零窗口探测所携带的字节开头"
                        ),
                    };
                }
                _ => lang.pick(
                    "as ACKs came in, going back over data sent before (no timer of its own)",
                    "随着确认到达而发出，重新发送此前发过的数据（并非由它自己的定时器触发）",
                ),
            };
            match lang {
                Lang::En => format!("{name} at {at} ms, {how}; {}", original_fate(run, i, lang)),
                Lang::Zh => format!("{name} 于 {at} 毫秒{how}，因为{}", original_fate(run, i, lang)),
            }
        })
        .collect();
    out.push_str(&items.join(lang.pick("; ", "；")));
    if retrans.len() > SHOWN {
        let more = retrans.len() - SHOWN;
        match lang {
            Lang::En => {
                let _ = write!(out, "; and {more} more (see the ladder)");
            }
            Lang::Zh => {
                let _ = write!(out, "；另有 {more} 次（见下面的梯形图）");
            }
        }
    }
    out.push_str(lang.pick(".", "。"));
    out
}

/// Whether random faults changed the run from the story the scenario tells.
pub fn random_faults(run: &Run) -> bool {
    run.packets
        .iter()
        .any(|p| (p.lost() || p.corrupted()) && p.aimed.is_none())
}

/// Why a connection ended with an error, from the state change that ended it.
pub fn why_failed(run: &Run, side: Side, e: ConnError, lang: Lang) -> String {
    let cause = run
        .changes
        .iter()
        .rev()
        .find(|c| c.host == side && c.to == StateName::Closed)
        .map(|c| c.cause);
    let reason = match cause {
        Some(Cause::RetransmitTimeout) => lang.pick(
            "its retransmissions went unanswered until the retry limit",
            "重传一直得不到确认，直到达到重试上限",
        ),
        Some(Cause::KeepaliveTimeout) => lang.pick(
            "its keepalive probes went unanswered",
            "保活探测一直没有应答",
        ),
        Some(Cause::RecvRst) => lang.pick("a RST arrived from the peer", "收到了对方的 RST"),
        Some(Cause::UserAbort) => lang.pick("its own application aborted", "本端应用中止了连接"),
        _ => "",
    };
    let name = crate::i18n::error_name(e, lang);
    match (reason.is_empty(), lang) {
        (true, _) => name,
        (false, Lang::En) => format!("{name}: {reason}"),
        (false, Lang::Zh) => format!("{name}：{reason}"),
    }
}
