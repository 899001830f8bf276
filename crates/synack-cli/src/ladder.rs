//! The ladder (sequence) diagram in the terminal: two lifelines, one row per event, arrows for
//! segments, crosses for losses, and each host's state changes beside its own lifeline.
//!
//! Rows are built from a scenario's [`Run`], as the SVG renderer's are, as lists of styled spans;
//! colour is applied only at the end, so widths are measured on plain text.

use std::fmt::Write as _;

use synack_proto::StateName;
use synack_sim::Side;

use crate::i18n::{self, Lang, Names, state_name};
use crate::scenario::window as narrate_window;
use crate::scenario::{Packet, Run, idx, narrate};
use crate::sim::Why;
use crate::text::{Style, fit, ms, width, wrap};

/// One thing that happened, in display order.
#[derive(Clone, Copy, Debug)]
pub enum Item {
    Change(usize),
    Note(usize),
    /// A sample of a sender's congestion window (an index into `Run::windows`).
    Window(usize),
    Packet(usize),
}

/// Everything in a run, ordered by time; at equal times user actions come first, then state
/// changes, then the segments they cause.
pub fn timeline(run: &Run) -> Vec<(synack_proto::Instant, Item)> {
    // At time zero the applications make their opening calls, the server's listen() before
    // the client's connect(): each host's notes and changes together, the server's first.
    let opening = |at: synack_proto::Instant, host: Side| {
        if at == synack_proto::Instant::ZERO {
            1 - idx(host)
        } else {
            0
        }
    };
    let mut items = Vec::new();
    for (i, n) in run.notes.iter().enumerate() {
        items.push((n.at, opening(n.at, n.host), 0, i, Item::Note(i)));
    }
    for (i, c) in run.changes.iter().enumerate() {
        // An inferred change follows the packet it was inferred from, unless its host sent
        // that packet (a FIN sent means FIN-WAIT-1 before the FIN is on the wire).
        let after = run.observed
            && !run
                .packets
                .iter()
                .any(|p| p.sent_at == c.at && p.from == c.host);
        let rank = if after { 3 } else { 1 };
        items.push((c.at, opening(c.at, c.host), rank, i, Item::Change(i)));
    }
    for (i, p) in run.packets.iter().enumerate() {
        items.push((p.sent_at, 2, 2, i, Item::Packet(i)));
    }
    // The window after an ACK shows before what that ACK lets the sender send.
    for &i in &run.shown {
        items.push((run.windows[i].1.at, 2, 1, i, Item::Window(i)));
    }
    items.sort_by_key(|&(at, group, rank, i, _)| (at, group, rank, i));
    items
        .into_iter()
        .map(|(at, _, _, _, it)| (at, it))
        .collect()
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

/// A short mark for special segments, e.g. "fast retransmit" or "dup ACK #2".
pub fn mark(run: &Run, p: &Packet, lang: Lang) -> Option<String> {
    if let Some(other) = p.third_party {
        let cookie = match p.why {
            Why::SynCookie => lang.pick("SYN cookie ", "SYN cookie，"),
            _ if p.retransmission => lang.pick("retransmit ", "重传，"),
            _ => "",
        };
        // A lost one says no more: its cross already tells that nobody is there.
        let absent = if p.lost() {
            ""
        } else {
            lang.pick(" (absent)", "（不存在）")
        };
        return Some(match p.from {
            Side::A => format!("{}{other}", lang.pick("forged source ", "伪造源地址 ")),
            Side::B => format!("{cookie}{}{other}{absent}", lang.pick("to ", "发往 ")),
        });
    }
    let mut marks: Vec<String> = Vec::new();
    if p.probe {
        marks.push(lang.pick("zero-window probe", "零窗口探测").into());
    } else if p.keepalive {
        let n = p.keepalive_no.unwrap_or(1);
        marks.push(match lang {
            Lang::En => format!("keepalive probe #{n}"),
            Lang::Zh => format!("第 {n} 个保活探测"),
        });
    } else {
        let m = match p.why {
            Why::FastRetransmit => Some(lang.pick("fast retransmit", "快速重传")),
            Why::RackLoss => {
                Some(lang.pick("retransmit: RACK-detected loss", "重传：RACK 判定丢失"))
            }
            Why::TailLossProbe => Some(lang.pick("tail loss probe", "尾部丢失探测")),
            Why::Timeout if p.retransmission => Some(lang.pick("RTO retransmit", "超时重传")),
            Why::SynCookie => Some("SYN cookie"),
            _ if p.retransmission => Some(lang.pick("retransmit", "重传")),
            _ => None,
        };
        marks.extend(m.map(String::from));
    }
    if let Some(n) = p.dup_ack {
        // The one whose arrival sends a repair out at that instant: the third duplicate
        // without SACK; with SACK, the one whose SACK blocks let RACK mark a segment lost.
        let triggered = p.arrival.and_then(|at| {
            run.packets
                .iter()
                .find(|q| {
                    q.from == p.from.other()
                        && q.sent_at == at
                        && matches!(q.why, Why::FastRetransmit | Why::RackLoss)
                })
                .map(|q| q.why)
        });
        marks.push(match (lang, triggered) {
            (Lang::En, Some(Why::RackLoss)) => format!("dup ACK #{n} → RACK marks loss"),
            (Lang::Zh, Some(Why::RackLoss)) => format!("重复 ACK #{n} → RACK 判定丢失"),
            (Lang::En, Some(_)) => format!("dup ACK #{n} → fast retransmit"),
            (Lang::Zh, Some(_)) => format!("重复 ACK #{n} → 快速重传"),
            (Lang::En, None) => format!("dup ACK #{n}"),
            (Lang::Zh, None) => format!("重复 ACK #{n}"),
        });
    }
    if let Some(d) = p.damage {
        marks.push(match lang {
            Lang::En => format!("damaged: {} checksum fails", d.layer.to_uppercase()),
            Lang::Zh => format!("已损坏：{} 校验和不符", d.layer.to_uppercase()),
        });
    }
    (!marks.is_empty()).then(|| marks.join(lang.pick(", ", "，")))
}

/// Width of the diagram when the terminal's is unknown (output to a pipe or a file).
pub const WIDTH: usize = 100;
/// Narrower than this, a segment's label no longer fits beside its arrow.
pub const MIN_WIDTH: usize = 72;
const TIME_W: usize = 10;

/// How to draw: language, colour, total width in columns, and which state names.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub lang: Lang,
    pub color: bool,
    pub width: usize,
    pub names: Names,
}

impl View {
    /// English, no colour, 100 columns, RFC names.
    pub fn plain(lang: Lang) -> View {
        View {
            lang,
            color: false,
            width: WIDTH,
            names: Names::Rfc,
        }
    }

    /// Columns strictly between the two lifelines.
    fn inner(&self) -> usize {
        self.width.max(MIN_WIDTH) - TIME_W - 2
    }

    fn total(&self) -> usize {
        self.width.max(MIN_WIDTH)
    }
}

type Line = Vec<(String, Style)>;

fn time_cell(t: Option<synack_proto::Instant>) -> (String, Style) {
    let s = t.map(ms).unwrap_or_default();
    (format!("{s:>9} "), Style::Dim)
}

fn left(inner: usize, text: &str, style: Style, tail_style: Style) -> Line {
    let text = fit(text, inner);
    let pad = inner - width(&text);
    vec![
        (text, style),
        (" ".repeat(pad), Style::Plain),
        ("│".into(), tail_style),
    ]
}

fn right(inner: usize, text: &str, style: Style) -> Line {
    let text = fit(text, inner);
    let pad = inner - width(&text);
    vec![
        ("│".into(), Style::Plain),
        (" ".repeat(pad), Style::Plain),
        (text, style),
    ]
}

fn packet_line(run: &Run, p: &Packet, v: &View) -> Line {
    let (lang, inner) = (v.lang, v.inner());
    let base = if p.from == Side::A {
        Style::Client
    } else {
        Style::Server
    };
    let style = if p.lost() || p.corrupted() {
        Style::Lost
    } else if p.retransmission || p.why.is_retransmit() {
        Style::Retransmit
    } else {
        base
    };
    let mut text = label(p);
    if let Some(m) = mark(run, p, lang) {
        text = format!("{text}  [{m}]");
    }
    // A capture seen at one point knows no arrival times; and where the label needs the
    // room, the arrival time gives way (the receiver's next row shows when it reacted).
    let arrival = match p.arrival {
        Some(a) if !run.observed && width(&text) + 8 + width(&ms(a)) + 2 <= inner => {
            format!(" {} ", ms(a))
        }
        _ => String::new(),
    };
    // Room: the inner width less the decorations ("─ ", " ", "▶", a few dashes so the arrow
    // still reads as one) and the arrival time, or for a lost segment the cross and its word.
    let lost_tail = lang.pick("✗ lost", "✗ 丢失");
    let tail = if p.lost() {
        4 + width(lost_tail) + 2
    } else {
        width(&arrival) + 4
    };
    let room = inner.saturating_sub(4 + tail);
    let text = fit(&text, room);
    let body = format!("─ {text} ");
    let fill_to = inner - 1 - width(&arrival);
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
            let pad = inner.saturating_sub(width(&s));
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
            let pad = inner.saturating_sub(width(&s));
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

fn change_text(from: StateName, to: StateName, cause: &str, v: &View) -> String {
    let (from, to) = (state_name(from, v.names), state_name(to, v.names));
    match v.lang {
        Lang::En => format!("{from} → {to}  ({cause})"),
        Lang::Zh => format!("{from} → {to}（{cause}）"),
    }
}

/// The ladder as lines of styled spans.
pub fn lines(run: &Run, v: &View) -> Vec<Line> {
    let (lang, inner, total) = (v.lang, v.inner(), v.total());
    let mut out: Vec<Line> = Vec::new();
    let [a, b] = &run.hosts;
    // Column heads and each host's starting state.
    // IPv6 addresses from a capture can be long: each head gets at most half the room.
    let half = (total - TIME_W) / 2 - 1;
    let head =
        |name: &str, port: u16| fit(&format!("{} :{port}", narrate::heading(name, lang)), half);
    let (head_a, head_b) = (head(a, run.ports[0]), head(b, run.ports[1]));
    let gap = (total - TIME_W).saturating_sub(width(&head_a) + width(&head_b));
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
    let (ia, ib) = (
        state_name(run.initial[0], v.names),
        state_name(run.initial[1], v.names),
    );
    out.push(vec![
        (" ".repeat(TIME_W), Style::Plain),
        (ia.into(), Style::State),
        (
            " ".repeat(total - TIME_W - ia.len() - ib.len()),
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
                l.extend(left(inner, &text, Style::Dim, Style::Dim));
                out.push(l);
            }
        }
        let show_time = last != Some(at);
        last = Some(at);
        let mut l = vec![time_cell(show_time.then_some(at))];
        match item {
            Item::Packet(i) => l.extend(packet_line(run, &run.packets[i], v)),
            Item::Change(i) => {
                let c = &run.changes[i];
                let text = change_text(c.from, c.to, i18n::cause(c.cause, lang), v);
                let desc = i18n::describe(c.to, lang);
                if c.host == Side::A {
                    let room = inner.saturating_sub(width(&text) + 4);
                    let full = format!("● {text}");
                    let d = fit(desc, room.saturating_sub(2));
                    let pad = inner.saturating_sub(width(&full) + 2 + width(&d));
                    l.extend(vec![
                        (full, Style::State),
                        (format!("  {d}"), Style::Dim),
                        (" ".repeat(pad), Style::Plain),
                        ("│".into(), Style::Plain),
                    ]);
                } else {
                    let full = format!("{text} ●");
                    let room = inner.saturating_sub(width(&full) + 4);
                    let d = fit(desc, room);
                    let pad = inner.saturating_sub(width(&full) + 2 + width(&d));
                    l.extend(vec![
                        ("│".into(), Style::Plain),
                        (" ".repeat(pad), Style::Plain),
                        (format!("{d}  "), Style::Dim),
                        (full, Style::State),
                    ]);
                }
            }
            Item::Window(i) => {
                let (host, w) = &run.windows[i];
                let text = narrate_window::line(w, lang);
                if *host == Side::A {
                    l.extend(left(inner, &format!("◆ {text}"), Style::Dim, Style::Plain));
                } else {
                    l.extend(right(inner, &format!("{text} ◆"), Style::Dim));
                }
            }
            Item::Note(i) => {
                // Narration wraps rather than being cut: it is the part a newcomer reads.
                let n = &run.notes[i];
                let what = lang.pick(&n.en, &n.zh);
                let parts = crate::text::wrap(what, inner - 3);
                for (k, part) in parts.iter().enumerate() {
                    let line = if n.host == Side::A {
                        let mark = if k == 0 { "»" } else { " " };
                        left(inner, &format!("{mark} {part}"), Style::Note, Style::Plain)
                    } else {
                        let mark = if k + 1 == parts.len() { "«" } else { " " };
                        right(inner, &format!("{part} {mark}"), Style::Note)
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
    let (fa, fb) = (
        state_name(run.final_states[0], v.names),
        state_name(run.final_states[1], v.names),
    );
    out.push(vec![
        (" ".repeat(TIME_W), Style::Plain),
        (fa.into(), Style::State),
        (
            " ".repeat(total - TIME_W - fa.len() - fb.len()),
            Style::Plain,
        ),
        (fb.into(), Style::State),
    ]);
    out
}

/// The whole terminal report: title, story, what happened in this run, ladder and summary.
pub fn report(run: &Run, v: &View) -> String {
    let (lang, color, total) = (v.lang, v.color, v.total());
    let mut out = String::new();
    let p = &run.params;
    let mut title = match lang {
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
    if p.corrupt > 0.0 {
        let _ = match lang {
            Lang::En => write!(title, " · random corruption {}%", p.corrupt * 100.0),
            Lang::Zh => write!(title, " · 随机损坏 {}%", p.corrupt * 100.0),
        };
    }
    for l in wrap(&title, total) {
        out.push_str(&Style::Title.paint(&l, color));
        out.push('\n');
    }
    if let Some(s) = crate::scenario::find(run.scenario) {
        for l in wrap(lang.pick(s.story_en, s.story_zh), total) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    let mut facts = narrate::facts(run, lang);
    if narrate::random_faults(run) {
        facts.push_str(lang.pick(
            " Random faults changed this run from the story above: the ladder shows what \
             really happened.",
            "随机故障使本次运行偏离了上面的叙述：以下面的梯形图为准。",
        ));
    }
    out.push('\n');
    for l in wrap(&facts, total) {
        out.push_str(&Style::Bold.paint(&l, color));
        out.push('\n');
    }
    let legend = if run.absolute {
        lang.pick(
            "Virtual time in ms. seq/ack are absolute, as on the wire; win is the window field \
             as sent. The number near an arrowhead is the arrival time (left out where a long \
             label needs the room).",
            "时间为虚拟时间（毫秒）。seq/ack 为报文中的绝对序列号；win 为报文中的窗口字段。\
             箭头旁的数字是到达时间（标注较长时省略）。",
        )
    } else {
        lang.pick(
            "Virtual time in ms. seq/ack are relative to each side's initial sequence number \
             (ISN = 0, as Wireshark shows them); win is the window field as sent. The number \
             near an arrowhead is the arrival time (left out where a long label needs the room).",
            "时间为虚拟时间（毫秒）。seq/ack 为相对序列号（各自的 ISN 记为 0，与 Wireshark 相同）；\
         win 为报文中的窗口字段。箭头旁的数字是到达时间（标注较长时省略）。",
        )
    };
    out.push('\n');
    for l in wrap(legend, total) {
        out.push_str(&Style::Dim.paint(&l, color));
        out.push('\n');
    }
    out.push('\n');
    for line in lines(run, v) {
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
    out.push_str(&summary(run, v));
    out
}

/// The closing summary: per direction the bytes written, acknowledged and read; whether they
/// arrived intact; retransmissions; states visited; how each side ended and why.
pub fn summary(run: &Run, v: &View) -> String {
    let (lang, color, total) = (v.lang, v.color, v.total());
    let s = &run.summary;
    let mut out = String::new();
    out.push_str(&Style::Bold.paint(lang.pick("Summary", "小结"), color));
    out.push('\n');
    let failed = run.errors.iter().any(|e| e.is_some());
    let (ok, ok_style) = if run.app_sent.iter().sum::<u64>() == 0 {
        (
            lang.pick("no application data in this scenario", "本场景没有应用数据"),
            Style::Dim,
        )
    } else if s.verified {
        (
            lang.pick(
                "verified: every byte arrived intact, in order, exactly once",
                "已校验：每个字节都完整、按序、恰好一次地到达",
            ),
            Style::State,
        )
    } else if s.intact {
        let text = if failed {
            lang.pick(
                "the connection ended early, so not every byte written was read; those that \
                 arrived are intact and in order",
                "连接提前结束，写入的字节没有全部被读取；已到达的字节完整且有序",
            )
        } else {
            lang.pick(
                "not every byte written was read before the run ended; those that arrived are \
                 intact and in order",
                "运行结束时，写入的字节没有全部被读取；已到达的字节完整且有序",
            )
        };
        (text, Style::Lost)
    } else {
        (
            lang.pick(
                "NOT verified: the bytes read differ from those written",
                "校验失败：读到的字节与写入的不一致",
            ),
            Style::Lost,
        )
    };
    let [a, b] = &run.hosts;
    let data = run.app_sent.iter().sum::<u64>() > 0;
    for (from, to) in [(a, b), (b, a)] {
        let Some(f) = s.flows.get(&format!("{from}->{to}")).filter(|_| data) else {
            continue;
        };
        let (wf, wt) = (narrate::who(from, lang), narrate::who(to, lang));
        let line = match lang {
            Lang::En => format!(
                "{from}→{to}: {} bytes written by {wf}'s application, {} acknowledged by {wt}, \
                 {} read by {wt}'s application",
                f.written, f.acked, f.read,
            ),
            Lang::Zh => format!(
                "{wf}→{wt}：{wf}应用写入 {} 字节，{wt}确认 {} 字节，{wt}应用读取 {} 字节",
                f.written, f.acked, f.read
            ),
        };
        for (k, l) in wrap(&line, total - 4).into_iter().enumerate() {
            let _ = writeln!(out, "{}{l}", if k == 0 { "  " } else { "    " });
        }
    }
    for (k, l) in wrap(ok, total - 4).into_iter().enumerate() {
        let lead = if k == 0 { "  " } else { "    " };
        let _ = writeln!(out, "{lead}{}", ok_style.paint(&l, color));
    }
    let mut counts = match lang {
        Lang::En => format!(
            "{} packets, {} lost, {} damaged · {} fast retransmit(s), {} retransmission \
             timeout(s)",
            s.packets, s.packets_lost, s.packets_corrupted, s.fast_retransmits, s.rto_retransmits
        ),
        Lang::Zh => format!(
            "共 {} 个报文，丢失 {} 个，损坏 {} 个 · 快速重传 {} 次，超时重传 {} 次",
            s.packets, s.packets_lost, s.packets_corrupted, s.fast_retransmits, s.rto_retransmits
        ),
    };
    if s.syncookies_sent > 0 {
        let _ = match lang {
            Lang::En => write!(
                counts,
                " · SYN cookies: {} sent, {} came back valid",
                s.syncookies_sent, s.syncookies_validated
            ),
            Lang::Zh => write!(
                counts,
                " · SYN cookie：发出 {} 个，{} 个被有效带回",
                s.syncookies_sent, s.syncookies_validated
            ),
        };
    }
    for (k, l) in wrap(&counts, total - 4).into_iter().enumerate() {
        let _ = writeln!(out, "{}{l}", if k == 0 { "  " } else { "    " });
    }
    for side in [Side::A, Side::B] {
        let states: Vec<&str> = run
            .visited(side)
            .iter()
            .map(|s| state_name(*s, v.names))
            .collect();
        let mut line = states.join(" → ");
        if let Some(e) = run.errors[idx(side)] {
            let why = narrate::why_failed(run, side, e, lang);
            let _ = match lang {
                Lang::En => write!(line, "  ({why})"),
                Lang::Zh => write!(line, "（{why}）"),
            };
        }
        let name = narrate::who(run.host_name(side), lang);
        let name = name.trim_start_matches("the ");
        for (k, l) in wrap(&line, total - 12).into_iter().enumerate() {
            let head = if k == 0 { name } else { "" };
            let _ = writeln!(out, "  {} {l}", crate::text::pad_to(head, 8));
        }
    }
    out
}
