//! The ladder diagram as SVG: two lifelines, sloped arrows from send to arrival, lost segments
//! ending in a cross half-way, states on the lifelines and a time axis.
//!
//! Vertical position is not linear in time: a burst of segments sent in the same millisecond
//! would collapse into one line, and TIME-WAIT would stretch the picture to metres. Every
//! event gets its own row, ordered by time, and long quiet spells are drawn as a marked break.

use std::fmt::Write as _;

use synack_proto::Instant;
use synack_sim::Side;

use crate::i18n::{self, Lang};
use crate::ladder::{label, mark};
use crate::scenario::Run;
use crate::text::ms;

/// Escapes text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

const W: f64 = 1360.0;
const XA: f64 = 450.0;
const XB: f64 = 950.0;
const TOP: f64 = 150.0;
const ROW: f64 = 19.0;
/// A quiet spell longer than this becomes a break in the lifelines.
const BREAK_MS: u128 = 100;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Arrival,
    Note,
    Change,
    Send,
    /// In a capture: a change inferred from a packet the host received, drawn after it.
    LateChange,
}

/// Columns a note may take beside a lifeline before it wraps onto another line.
const NOTE_COLS: usize = 56;
/// Line height of a wrapped note.
const NOTE_LINE: f64 = 12.0;

/// Rows: each (time, kind, index) event gets a y coordinate.
struct Rows {
    keys: Vec<(Instant, Kind, usize)>,
    ys: Vec<f64>,
    breaks: Vec<(f64, u128)>,
    times: Vec<(f64, Instant)>,
    bottom: f64,
}

impl Rows {
    fn new(run: &Run, lang: Lang) -> Rows {
        // At time zero the server's opening calls come before the client's (as on the
        // terminal ladder); sends and arrivals after both.
        let group = |at: Instant, host: Side| {
            if at == Instant::ZERO {
                1 - crate::scenario::idx(host)
            } else {
                0
            }
        };
        let mut keys = Vec::new();
        let packet_group = |at: Instant| if at == Instant::ZERO { 2 } else { 0 };
        for (i, p) in run.packets.iter().enumerate() {
            keys.push((p.sent_at, packet_group(p.sent_at), Kind::Send, i));
            // A capture knows only when a packet passed the capture point.
            if let (Some(a), false) = (p.arrival, run.observed) {
                keys.push((a, packet_group(a), Kind::Arrival, i));
            }
        }
        for (i, c) in run.changes.iter().enumerate() {
            keys.push((c.at, group(c.at, c.host), change_kind(run, i), i));
        }
        for (i, n) in run.notes.iter().enumerate() {
            keys.push((n.at, group(n.at, n.host), Kind::Note, i));
        }
        keys.sort();
        let keys: Vec<(Instant, Kind, usize)> =
            keys.into_iter().map(|(at, _, k, i)| (at, k, i)).collect();
        let mut ys = Vec::with_capacity(keys.len());
        let mut breaks = Vec::new();
        let mut times = Vec::new();
        let mut y = TOP;
        let mut last: Option<Instant> = None;
        // Room the previous row needs below it: the further lines of a wrapped note, the
        // second line of a lost segment's label.
        let mut below = 0.0;
        for &(at, kind, i) in &keys {
            let mut advanced = true;
            if let Some(prev) = last {
                let gap = at.saturating_duration_since(prev).as_millis();
                if gap >= BREAK_MS {
                    y += below;
                    breaks.push((y + ROW * 0.9, gap));
                    y += ROW * 2.6;
                } else if at != prev || kind != Kind::Arrival {
                    // Same instant: still a row of its own, so labels do not collide.
                    y += ROW + below;
                } else {
                    // An arrowhead shares the row before it.
                    advanced = false;
                }
            }
            let needs = match kind {
                Kind::Note => {
                    let n = &run.notes[i];
                    let lines = crate::text::wrap(lang.pick(&n.en, &n.zh), NOTE_COLS).len();
                    lines.saturating_sub(1) as f64 * NOTE_LINE
                }
                Kind::Send
                    if run.packets[i].lost() && mark(run, &run.packets[i], lang).is_some() =>
                {
                    ROW * 1.3
                }
                _ => 0.0,
            };
            below = if advanced { needs } else { below.max(needs) };
            if last != Some(at) {
                times.push((y, at));
            }
            last = Some(at);
            ys.push(y);
        }
        Rows {
            keys,
            ys,
            breaks,
            times,
            bottom: y + below + ROW * 2.0,
        }
    }

    fn y(&self, kind: Kind, i: usize) -> f64 {
        self.keys
            .iter()
            .position(|&(_, k, j)| k == kind && j == i)
            .map_or(TOP, |p| self.ys[p])
    }
}

/// Where a change sits among the events of its instant (see [`crate::ladder::timeline`]).
fn change_kind(run: &Run, i: usize) -> Kind {
    let c = &run.changes[i];
    let sent_then = run
        .packets
        .iter()
        .any(|p| p.sent_at == c.at && p.from == c.host);
    if run.observed && !sent_then {
        Kind::LateChange
    } else {
        Kind::Change
    }
}

fn x_of(side: Side) -> f64 {
    match side {
        Side::A => XA,
        Side::B => XB,
    }
}

/// The ladder of `run` as a standalone SVG document.
pub fn ladder(run: &Run, lang: Lang) -> String {
    let rows = Rows::new(run, lang);
    let h = rows.bottom + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h:.0}" viewBox="0 0 {W} {h:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, Noto Sans Mono CJK SC, monospace" font-size="11">"#
    );
    s.push_str(
        r##"<defs>
<marker id="head-a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1f77b4"/></marker>
<marker id="head-b" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b8860b"/></marker>
<marker id="head-r" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#9467bd"/></marker>
</defs>
<rect width="100%" height="100%" fill="white"/>
"##,
    );
    let title = if run.observed {
        lang.pick(
            "synack trace · states inferred from the flags seen in the capture",
            "synack trace · 状态由抓包中的标志位推断",
        )
        .to_string()
    } else {
        format!(
            "synack demo · {} · seed {} · RTT {} ms",
            run.scenario,
            run.params.seed,
            run.params.rtt.as_millis()
        )
    };
    let _ = writeln!(
        s,
        r#"<text class="title" x="20" y="28" font-size="16" font-weight="bold">{}</text>"#,
        esc(&title)
    );
    let legend = if run.absolute {
        lang.pick(
            "seq/ack absolute, as on the wire · time in ms, not to scale",
            "seq/ack 为绝对序列号 · 时间单位毫秒，纵轴不按比例",
        )
    } else {
        lang.pick(
            "seq/ack relative to each side's ISN (as Wireshark shows them) · time in ms, not to scale",
            "seq/ack 为相对序列号（与 Wireshark 相同）· 时间单位毫秒，纵轴不按比例",
        )
    };
    let _ = writeln!(
        s,
        r##"<text x="20" y="48" fill="#555">{}</text>"##,
        esc(legend)
    );
    // Host heads and lifelines.
    for side in [Side::A, Side::B] {
        let x = x_of(side);
        let i = crate::scenario::idx(side);
        let head = format!(
            "{} :{}",
            crate::scenario::narrate::heading(&run.hosts[i], lang),
            run.ports[i]
        );
        // Wide enough for an IPv6 address from a capture (about 8 px per bold column).
        let bw = (crate::text::width(&head) as f64 * 8.2 + 24.0).max(160.0);
        let _ = writeln!(
            s,
            r##"<rect class="host" x="{:.0}" y="70" width="{bw:.0}" height="30" rx="4" fill="#eef" stroke="#336"/><text x="{x:.0}" y="90" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"##,
            x - bw / 2.0,
            esc(&head)
        );
        let _ = writeln!(
            s,
            r##"<line class="lifeline" x1="{x:.0}" y1="100" x2="{x:.0}" y2="{:.0}" stroke="#888" stroke-width="2"/>"##,
            rows.bottom
        );
        state_box(&mut s, side, 118.0, run.initial[i].as_str(), "");
    }
    // Breaks: a band over the lifelines saying how long nothing happened.
    for &(y, gap) in &rows.breaks {
        let text = match lang {
            Lang::En => format!("{gap} ms pass"),
            Lang::Zh => format!("经过 {gap} 毫秒"),
        };
        let _ = writeln!(
            s,
            r##"<g class="break"><rect x="{:.0}" y="{:.1}" width="{:.0}" height="10" fill="white"/><line x1="{:.0}" y1="{:.1}" x2="{:.0}" y2="{:.1}" stroke="#aaa" stroke-dasharray="4 3"/><line x1="{:.0}" y1="{:.1}" x2="{:.0}" y2="{:.1}" stroke="#aaa" stroke-dasharray="4 3"/><text x="{:.0}" y="{:.1}" text-anchor="middle" fill="#777" font-style="italic">{}</text></g>"##,
            XA - 10.0,
            y,
            XB - XA + 20.0,
            XA - 10.0,
            y,
            XB + 10.0,
            y,
            XA - 10.0,
            y + 10.0,
            XB + 10.0,
            y + 10.0,
            (XA + XB) / 2.0,
            y + 9.0,
            esc(&text)
        );
    }
    // Time axis.
    let _ = writeln!(
        s,
        r##"<text x="20" y="90" fill="#555" font-weight="bold">{}</text>"##,
        lang.pick("time (ms)", "时间（毫秒）")
    );
    let mut last_y = f64::MIN;
    for &(y, at) in &rows.times {
        if y - last_y >= 14.0 {
            let _ = writeln!(
                s,
                r##"<text class="time" x="20" y="{:.1}" fill="#666">{}</text>"##,
                y + 4.0,
                ms(at)
            );
            last_y = y;
        }
    }
    // Packets.
    for (i, p) in run.packets.iter().enumerate() {
        let (x1, x2) = (x_of(p.from), x_of(p.from.other()));
        let y1 = rows.y(Kind::Send, i);
        let special = p.retransmission || p.why.is_retransmit();
        let (color, head) = match (p.from, special) {
            (_, true) => ("#9467bd", "head-r"),
            (Side::A, false) => ("#1f77b4", "head-a"),
            (Side::B, false) => ("#b8860b", "head-b"),
        };
        let mut text = label(p);
        if let Some(m) = mark(run, p, lang) {
            text = format!("{text} [{m}]");
        }
        match p.arrival {
            Some(_) => {
                let y2 = if run.observed {
                    y1 + ROW * 0.6
                } else {
                    rows.y(Kind::Arrival, i)
                };
                let colour = if p.corrupted() { "#d62728" } else { color };
                let dash = if p.corrupted() {
                    r#" stroke-dasharray="2 2""#
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    r#"<line class="segment" x1="{x1:.0}" y1="{y1:.1}" x2="{x2:.0}" y2="{y2:.1}" stroke="{colour}" stroke-width="1.5"{dash} marker-end="url(#{head})"/>"#
                );
                arrow_label(&mut s, x1, y1, x2, &text, colour);
            }
            None => {
                // Most of the way across; the word "lost" goes past the cross, toward where
                // the segment never arrived.
                let xm = x1 + (x2 - x1) * 0.8;
                let ym = y1 + ROW * 0.5;
                let (lx, anchor) = if x2 > x1 {
                    (xm + 10.0, "start")
                } else {
                    (xm - 10.0, "end")
                };
                let _ = writeln!(
                    s,
                    r##"<line class="segment lost" x1="{x1:.0}" y1="{y1:.1}" x2="{xm:.0}" y2="{ym:.1}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="5 3"/><path class="cross" d="M{:.1},{:.1} l10,10 m0,-10 l-10,10" stroke="#d62728" stroke-width="2.5"/><text x="{lx:.1}" y="{:.1}" text-anchor="{anchor}" fill="#d62728" font-weight="bold">{}</text>"##,
                    xm - 5.0,
                    ym - 5.0,
                    ym + 4.0,
                    lang.pick("lost", "丢失")
                );
                // The label above the line, the mark (why it was sent, where it went) under
                // it, so neither runs into the cross or a neighbour's label.
                arrow_label(&mut s, x1, y1, x2, &label(p), "#d62728");
                if let Some(m) = mark(run, p, lang) {
                    arrow_label(&mut s, x1, ym + 15.0, x2, &format!("[{m}]"), "#d62728");
                }
            }
        }
    }
    // State changes and user actions.
    for (i, c) in run.changes.iter().enumerate() {
        let y = rows.y(change_kind(run, i), i);
        state_box(&mut s, c.host, y, c.to.as_str(), i18n::cause(c.cause, lang));
    }
    for (i, n) in run.notes.iter().enumerate() {
        let y = rows.y(Kind::Note, i);
        let (x, anchor) = match n.host {
            Side::A => (XA - 12.0, "end"),
            Side::B => (XB + 12.0, "start"),
        };
        // Wrapped, never cut: the narration is what a newcomer reads.
        let _ = write!(
            s,
            r##"<text class="note" x="{x:.0}" y="{:.1}" text-anchor="{anchor}" fill="#2a5db0" font-style="italic" font-size="10">"##,
            y + 4.0
        );
        for (k, line) in crate::text::wrap(lang.pick(&n.en, &n.zh), NOTE_COLS)
            .iter()
            .enumerate()
        {
            let dy = if k == 0 { 0.0 } else { NOTE_LINE };
            let _ = write!(s, r#"<tspan x="{x:.0}" dy="{dy}">{}</tspan>"#, esc(line));
        }
        s.push_str("</text>\n");
    }
    for side in [Side::A, Side::B] {
        let i = crate::scenario::idx(side);
        state_box(&mut s, side, rows.bottom, run.final_states[i].as_str(), "");
    }
    let _ = writeln!(
        s,
        r##"<text x="20" y="{:.0}" fill="#555">{}</text>"##,
        rows.bottom + 30.0,
        esc(&summary_line(run, lang))
    );
    s.push_str("</svg>\n");
    s
}

fn summary_line(run: &Run, lang: Lang) -> String {
    let v = &run.summary;
    if run.observed {
        return match lang {
            Lang::En => format!(
                "{} packets, {} retransmitted · arrows show when each packet passed the capture point",
                v.packets, v.segments_retransmitted
            ),
            Lang::Zh => format!(
                "共 {} 个报文，重传 {} 个 · 箭头表示报文经过抓包点的时刻",
                v.packets, v.segments_retransmitted
            ),
        };
    }
    match lang {
        Lang::En => format!(
            "{} packets, {} lost, {} damaged · {} fast retransmit(s), {} RTO(s) · bytes verified: {}",
            v.packets,
            v.packets_lost,
            v.packets_corrupted,
            v.fast_retransmits,
            v.rto_retransmits,
            v.verified
        ),
        Lang::Zh => format!(
            "共 {} 个报文，丢失 {} 个，损坏 {} 个 · 快速重传 {} 次，超时重传 {} 次 · 字节校验：{}",
            v.packets,
            v.packets_lost,
            v.packets_corrupted,
            v.fast_retransmits,
            v.rto_retransmits,
            if v.verified { "通过" } else { "未通过" }
        ),
    }
}

/// A state name in a box beside the lifeline, with the cause in small print.
fn state_box(s: &mut String, side: Side, y: f64, state: &str, cause: &str) {
    let w = state.len() as f64 * 7.2 + 14.0;
    let (x, cx) = match side {
        Side::A => (XA - 14.0 - w, XA - 14.0 - w / 2.0),
        Side::B => (XB + 14.0, XB + 14.0 + w / 2.0),
    };
    let _ = write!(
        s,
        r##"<g class="state"><circle cx="{:.0}" cy="{y:.1}" r="4" fill="#2ca02c"/><rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="16" rx="3" fill="#e8f5e9" stroke="#2ca02c"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" fill="#1b5e20">{}</text>"##,
        x_of(side),
        y - 8.0,
        y + 4.0,
        esc(state)
    );
    if !cause.is_empty() {
        let (tx, anchor) = match side {
            Side::A => (x - 6.0, "end"),
            Side::B => (x + w + 6.0, "start"),
        };
        let _ = write!(
            s,
            r##"<text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}" fill="#555" font-size="10">{}</text>"##,
            y + 4.0,
            esc(cause)
        );
    }
    s.push_str("</g>\n");
}

/// The label sits level just above the start of its arrow, at the sender's end: each send has
/// a row of its own, so labels of segments sent together stack without touching, and a white
/// halo keeps each legible where other arrows cross it.
fn arrow_label(s: &mut String, x1: f64, y1: f64, x2: f64, text: &str, color: &str) {
    let rightwards = x2 >= x1;
    let (x, anchor) = if rightwards {
        (x1 + 8.0, "start")
    } else {
        (x1 - 8.0, "end")
    };
    let _ = writeln!(
        s,
        r#"<text class="label" x="{x:.1}" y="{:.1}" text-anchor="{anchor}" fill="{color}" stroke="white" stroke-width="3" stroke-linejoin="round" paint-order="stroke">{}</text>"#,
        y1 - 4.0,
        esc(text)
    );
}
