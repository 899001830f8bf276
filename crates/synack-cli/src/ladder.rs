//! The ladder (sequence) diagram in the terminal: two lifelines, one row per event, arrows for
//! segments, crosses for losses, and each host's state changes beside its own lifeline.
//!
//! Rows are built from a [`Timeline`] shared with the SVG renderer, as lists of styled spans;
//! colour is applied only at the end, so widths are measured on plain text.

use std::fmt::Write as _;

use synack_proto::StateName;
use synack_sim::Side;

use crate::i18n::{self, Lang};
use crate::scenario::{Packet, Run, idx};
use crate::sim::Why;
use crate::text::{Style, fit, width, wrap};

/// One thing that happened, in display order.
#[derive(Clone, Copy, Debug)]
pub enum Item {
    Change(usize),
    Note(usize),
    Packet(usize),
}

/// Everything in a run, ordered by time; at equal times user actions come first, then state
/// changes, then the segments they cause.
pub fn timeline(run: &Run) -> Vec<(synack_proto::Instant, Item)> {
    let mut items = Vec::new();
    for (i, n) in run.notes.iter().enumerate() {
        items.push((n.at, 0, i, Item::Note(i)));
    }
    for (i, c) in run.changes.iter().enumerate() {
        // An inferred change follows the packet it was inferred from, unless its host sent
        // that packet (a FIN sent means FIN-WAIT-1 before the FIN is on the wire).
        let after = run.observed
            && !run
                .packets
                .iter()
                .any(|p| p.sent_at == c.at && p.from == c.host);
        items.push((c.at, if after { 3 } else { 1 }, i, Item::Change(i)));
    }
    for (i, p) in run.packets.iter().enumerate() {
        items.push((p.sent_at, 2, i, Item::Packet(i)));
    }
    items.sort_by_key(|&(at, rank, i, _)| (at, rank, i));
    items.into_iter().map(|(at, _, _, it)| (at, it)).collect()
}

/// The arrow label of a segment: flags, relative numbers, window, options and why it was sent.
pub fn label(p: &Packet) -> String {
    let Some(s) = &p.seg else {
        return format!("{} bytes, not TCP", p.bytes.len());
    };
    let mut out = format!("{} seq={}", s.flags, s.seq);
    if s.flags.ack() {
        let _ = write!(out, " ack={}", s.ack);
    }
    if s.len > 0 {
        let _ = write!(out, " len={}", s.len);
    }
    let _ = write!(out, " win={}", s.win);
    if !s.options.is_empty() {
        let _ = write!(out, " <{}>", s.options);
    }
    out
}

/// A short mark for special segments, e.g. "fast retransmit".
pub fn mark(p: &Packet, lang: Lang) -> Option<String> {
    if let Some(other) = p.third_party {
        let cookie = match p.why {
            Why::SynCookie => lang.pick("SYN cookie ", "SYN cookie，"),
            _ if p.retransmission => lang.pick("retransmit ", "重传，"),
            _ => "",
        };
        return Some(match p.from {
            Side::A => format!("{}{other}", lang.pick("forged source ", "伪造源地址 ")),
            Side::B => format!(
                "{cookie}{}{other}{}",
                lang.pick("to ", "发往 "),
                lang.pick(" (absent)", "（不存在）")
            ),
        });
    }
    let m = if p.probe {
        lang.pick("zero-window probe", "零窗口探测")
    } else if p.keepalive {
        lang.pick("keepalive probe", "保活探测")
    } else {
        match p.why {
            Why::FastRetransmit => lang.pick("fast retransmit", "快速重传"),
            Why::Timeout if p.retransmission => lang.pick("RTO retransmit", "超时重传"),
            Why::SynCookie => lang.pick("SYN cookie", "SYN cookie"),
            _ if p.retransmission => lang.pick("retransmit", "重传"),
            _ => return None,
        }
    };
    Some(m.to_string())
}

pub fn ms(t: synack_proto::Instant) -> String {
    let us = t.as_micros();
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// Total width of the diagram.
pub const WIDTH: usize = 100;
const TIME_W: usize = 10;
/// Columns strictly between the two lifelines.
const INNER: usize = WIDTH - TIME_W - 2;

type Line = Vec<(String, Style)>;

fn time_cell(t: Option<synack_proto::Instant>) -> (String, Style) {
    let s = t.map(ms).unwrap_or_default();
    (format!("{s:>9} "), Style::Dim)
}

fn left(text: &str, style: Style, tail_style: Style) -> Line {
    let text = fit(text, INNER);
    let pad = INNER - width(&text);
    vec![
        (text, style),
        (" ".repeat(pad), Style::Plain),
        ("│".into(), tail_style),
    ]
}

fn right(text: &str, style: Style) -> Line {
    let text = fit(text, INNER);
    let pad = INNER - width(&text);
    vec![
        ("│".into(), Style::Plain),
        (" ".repeat(pad), Style::Plain),
        (text, style),
    ]
}

fn packet_line(run: &Run, p: &Packet, lang: Lang) -> Line {
    let base = if p.from == Side::A {
        Style::Client
    } else {
        Style::Server
    };
    let style = if p.lost() {
        Style::Lost
    } else if p.retransmission || p.why.is_retransmit() {
        Style::Retransmit
    } else {
        base
    };
    let mut text = label(p);
    if let Some(m) = mark(p, lang) {
        text = format!("{text}  [{m}]");
    }
    // A capture seen at one point knows no arrival times.
    let arrival = match p.arrival {
        Some(a) if !run.observed => format!(" {} ", ms(a)),
        _ => String::new(),
    };
    // Room: INNER minus the decorations "─ ", " ", "▶" and the arrival time.
    let lost_tail = lang.pick("✗ lost", "✗ 丢失");
    let room = INNER.saturating_sub(4 + width(&arrival) + width(lost_tail) + 6);
    let text = fit(&text, room);
    let body = format!("─ {text} ");
    let fill_to = INNER - 1 - width(&arrival);
    match (p.from, p.lost()) {
        (Side::A, false) => {
            let dash = "─".repeat(fill_to.saturating_sub(width(&body)));
            vec![
                ("├".into(), Style::Plain),
                (format!("{body}{dash}"), style),
                (arrival, Style::Dim),
                ("▶│".into(), style),
            ]
        }
        (Side::A, true) => {
            let s = format!("{body}────{lost_tail}");
            let pad = INNER.saturating_sub(width(&s));
            vec![
                ("├".into(), Style::Plain),
                (s, style),
                (" ".repeat(pad), Style::Plain),
                ("│".into(), Style::Plain),
            ]
        }
        (Side::B, false) => {
            let body = format!(" {text} ─");
            let dash = "─".repeat(fill_to.saturating_sub(width(&body)));
            vec![
                ("│◀".into(), style),
                (arrival, Style::Dim),
                (format!("{dash}{body}"), style),
                ("┤".into(), Style::Plain),
            ]
        }
        (Side::B, true) => {
            let s = format!("{}──── {text} ─", lost_tail_rev(lang));
            let pad = INNER.saturating_sub(width(&s));
            vec![
                ("│".into(), Style::Plain),
                (" ".repeat(pad), Style::Plain),
                (s, style),
                ("┤".into(), Style::Plain),
            ]
        }
    }
}

fn lost_tail_rev(lang: Lang) -> &'static str {
    lang.pick("lost ✗", "丢失 ✗")
}

fn change_text(from: StateName, to: StateName, cause: &str) -> String {
    format!("{from} → {to}  ({cause})")
}

/// The ladder as lines of styled spans.
pub fn lines(run: &Run, lang: Lang) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    let [a, b] = &run.hosts;
    // Column heads and each host's starting state.
    // IPv6 addresses from a capture can be long: each head gets at most half the room.
    let half = (WIDTH - TIME_W) / 2 - 1;
    let head_a = fit(&format!("{a} :{}", run.ports[0]), half);
    let head_b = fit(&format!("{b} :{}", run.ports[1]), half);
    let gap = (WIDTH - TIME_W).saturating_sub(width(&head_a) + width(&head_b));
    out.push(vec![
        (
            format!(
                "{} ",
                crate::text::pad_left(lang.pick("ms", "毫秒"), TIME_W - 1)
            ),
            Style::Dim,
        ),
        (head_a, Style::Bold),
        (" ".repeat(gap), Style::Plain),
        (head_b, Style::Bold),
    ]);
    let (ia, ib) = (run.initial[0].as_str(), run.initial[1].as_str());
    out.push(vec![
        (" ".repeat(TIME_W), Style::Plain),
        (ia.into(), Style::State),
        (
            " ".repeat(WIDTH - TIME_W - ia.len() - ib.len()),
            Style::Plain,
        ),
        (ib.into(), Style::State),
    ]);
    let mut last: Option<synack_proto::Instant> = None;
    for (at, item) in timeline(run) {
        if let Some(prev) = last {
            let gap = at.saturating_duration_since(prev);
            if gap.as_millis() >= 100 {
                let text = match lang {
                    Lang::En => format!("┊ {} ms pass", gap.as_millis()),
                    Lang::Zh => format!("┊ 经过 {} 毫秒", gap.as_millis()),
                };
                let mut l = vec![time_cell(None)];
                l.extend(left(&text, Style::Dim, Style::Dim));
                out.push(l);
            }
        }
        let show_time = last != Some(at);
        last = Some(at);
        let mut l = vec![time_cell(show_time.then_some(at))];
        match item {
            Item::Packet(i) => l.extend(packet_line(run, &run.packets[i], lang)),
            Item::Change(i) => {
                let c = &run.changes[i];
                let text = change_text(c.from, c.to, i18n::cause(c.cause, lang));
                let desc = i18n::describe(c.to, lang);
                if c.host == Side::A {
                    let room = INNER.saturating_sub(width(&text) + 4);
                    let full = format!("● {text}");
                    let d = fit(desc, room.saturating_sub(2));
                    let pad = INNER.saturating_sub(width(&full) + 2 + width(&d));
                    l.extend(vec![
                        (full, Style::State),
                        (format!("  {d}"), Style::Dim),
                        (" ".repeat(pad), Style::Plain),
                        ("│".into(), Style::Plain),
                    ]);
                } else {
                    let full = format!("{text} ●");
                    let room = INNER.saturating_sub(width(&full) + 4);
                    let d = fit(desc, room);
                    let pad = INNER.saturating_sub(width(&full) + 2 + width(&d));
                    l.extend(vec![
                        ("│".into(), Style::Plain),
                        (" ".repeat(pad), Style::Plain),
                        (format!("{d}  "), Style::Dim),
                        (full, Style::State),
                    ]);
                }
            }
            Item::Note(i) => {
                // Narration wraps rather than being cut: it is the part a newcomer reads.
                let n = &run.notes[i];
                let what = lang.pick(&n.en, &n.zh);
                let parts = crate::text::wrap(what, INNER - 2);
                for (k, part) in parts.iter().enumerate() {
                    let line = if n.host == Side::A {
                        let mark = if k == 0 { "»" } else { " " };
                        left(&format!("{mark} {part}"), Style::Note, Style::Plain)
                    } else {
                        let mark = if k + 1 == parts.len() { "«" } else { " " };
                        right(&format!("{part} {mark}"), Style::Note)
                    };
                    if k == 0 {
                        l.extend(line);
                    } else {
                        out.push(std::mem::replace(&mut l, vec![time_cell(None)]));
                        l.extend(line);
                    }
                }
            }
        }
        out.push(l);
    }
    let (fa, fb) = (run.final_states[0].as_str(), run.final_states[1].as_str());
    out.push(vec![
        (" ".repeat(TIME_W), Style::Plain),
        (fa.into(), Style::State),
        (
            " ".repeat(WIDTH - TIME_W - fa.len() - fb.len()),
            Style::Plain,
        ),
        (fb.into(), Style::State),
    ]);
    out
}

/// The whole terminal report: title, narration, ladder and summary.
pub fn report(run: &Run, lang: Lang, color: bool) -> String {
    let mut out = String::new();
    let p = &run.params;
    let title = match lang {
        Lang::En => format!(
            "synack demo · {} · seed {} · RTT {} ms · random loss {}%",
            run.scenario,
            p.seed,
            p.rtt.as_millis(),
            p.loss * 100.0
        ),
        Lang::Zh => format!(
            "synack 演示 · {} · 种子 {} · 往返时延 {} 毫秒 · 随机丢包 {}%",
            run.scenario,
            p.seed,
            p.rtt.as_millis(),
            p.loss * 100.0
        ),
    };
    out.push_str(&Style::Title.paint(&title, color));
    out.push('\n');
    for l in wrap(i18n::header(run.scenario, lang), WIDTH) {
        out.push_str(&l);
        out.push('\n');
    }
    let legend = if run.absolute {
        lang.pick(
            "Virtual time in ms. seq/ack are absolute, as on the wire; win is the window field \
             as sent. The number near each arrowhead is the arrival time.",
            "时间为虚拟时间（毫秒）。seq/ack 为报文中的绝对序列号；win 为报文中的窗口字段。\
             箭头旁的数字是到达时间。",
        )
    } else {
        lang.pick(
            "Virtual time in ms. seq/ack are relative to each side's initial sequence number \
         (ISN = 0, as Wireshark shows them); win is the window field as sent. The number near \
         each arrowhead is the arrival time.",
            "时间为虚拟时间（毫秒）。seq/ack 为相对序列号（各自的 ISN 记为 0，与 Wireshark 相同）；\
         win 为报文中的窗口字段。箭头旁的数字是到达时间。",
        )
    };
    for l in wrap(legend, WIDTH) {
        out.push_str(&Style::Dim.paint(&l, color));
        out.push('\n');
    }
    out.push('\n');
    for line in lines(run, lang) {
        for (text, style) in line {
            out.push_str(&style.paint(&text, color));
        }
        // Trailing spaces help nobody.
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&summary(run, lang, color));
    out
}

/// The closing summary: bytes verified, retransmissions, states visited, how each side ended.
pub fn summary(run: &Run, lang: Lang, color: bool) -> String {
    let s = &run.summary;
    let [a, b] = &run.hosts;
    let mut out = String::new();
    out.push_str(&Style::Bold.paint(lang.pick("Summary", "小结"), color));
    out.push('\n');
    let ok = if run.app_sent.iter().sum::<u64>() == 0 {
        Style::Dim.paint(
            lang.pick("no application data in this scenario", "本场景没有应用数据"),
            color,
        )
    } else if s.verified {
        Style::State.paint(
            lang.pick(
                "verified: every byte arrived intact, in order, exactly once",
                "已校验：每个字节都完整、按序、恰好一次地到达",
            ),
            color,
        )
    } else {
        Style::Lost.paint(
            lang.pick(
                "NOT verified: the bytes received differ from those sent",
                "校验失败：收到的字节与发送的不一致",
            ),
            color,
        )
    };
    let _ = match lang {
        Lang::En => writeln!(
            out,
            "  bytes delivered: {a}→{b} {}, {b}→{a} {}",
            run.app_received[1], run.app_received[0]
        ),
        Lang::Zh => writeln!(
            out,
            "  送达字节：{a}→{b} {}，{b}→{a} {}",
            run.app_received[1], run.app_received[0]
        ),
    };
    let _ = writeln!(out, "  {ok}");
    let _ = match lang {
        Lang::En => writeln!(
            out,
            "  {} packets, {} lost · {} fast retransmit(s), {} retransmission timeout(s)",
            s.packets, s.packets_lost, s.fast_retransmits, s.rto_retransmits
        ),
        Lang::Zh => writeln!(
            out,
            "  共 {} 个报文，丢失 {} 个 · 快速重传 {} 次，超时重传 {} 次",
            s.packets, s.packets_lost, s.fast_retransmits, s.rto_retransmits
        ),
    };
    if s.syncookies_sent > 0 {
        let _ = match lang {
            Lang::En => writeln!(
                out,
                "  SYN cookies: {} sent, {} came back valid",
                s.syncookies_sent, s.syncookies_validated
            ),
            Lang::Zh => writeln!(
                out,
                "  SYN cookie：发出 {} 个，{} 个被有效带回",
                s.syncookies_sent, s.syncookies_validated
            ),
        };
    }
    for side in [Side::A, Side::B] {
        let states: Vec<&str> = run.visited(side).iter().map(|s| s.as_str()).collect();
        let mut line = states.join(" → ");
        if let Some(e) = run.errors[idx(side)] {
            let _ = write!(line, "  ({})", crate::text::error_name(e));
        }
        let name = run.host_name(side);
        for (k, l) in wrap(&line, WIDTH - 10).into_iter().enumerate() {
            let head = if k == 0 { name } else { "" };
            let _ = writeln!(out, "  {head:<7} {l}");
        }
    }
    out
}
