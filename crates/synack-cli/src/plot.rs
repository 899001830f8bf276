//! A time-sequence graph in the style of tcptrace: for the direction that carries the most
//! data, each data segment is a vertical tick from its first to its last sequence number at the
//! time it was sent; the ACKs coming back form a rising step line, and the receive window
//! (ACK + window) a second one above it. Retransmissions and losses stand out in colour.

use std::fmt::Write as _;

use synack_sim::Side;

use crate::i18n::Lang;
use crate::scenario::Run;
use crate::svg::esc;

const W: f64 = 1000.0;
const H: f64 = 640.0;
const L: f64 = 80.0;
const R: f64 = 30.0;
const T: f64 = 70.0;
const B: f64 = 60.0;

/// A round step for about `n` ticks over `span`.
pub(crate) fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The side that sent the most payload bytes.
pub fn data_sender(run: &Run) -> Side {
    let bytes = |side: Side| -> u64 {
        run.packets
            .iter()
            .filter(|p| p.from == side)
            .filter_map(|p| p.seg.as_ref())
            .map(|s| u64::from(s.len))
            .sum()
    };
    if bytes(Side::B) > bytes(Side::A) {
        Side::B
    } else {
        Side::A
    }
}

pub fn svg(run: &Run, lang: Lang) -> String {
    let sender = data_sender(run);
    let data: Vec<_> = run
        .packets
        .iter()
        .filter(|p| p.from == sender)
        .filter_map(|p| p.seg.as_ref().map(|s| (p, s)))
        .filter(|(_, s)| s.len > 0)
        .collect();
    // ACKs as the sender sees them: when they arrive.
    let acks: Vec<(f64, u32, u32)> = run
        .packets
        .iter()
        .filter(|p| p.from == sender.other())
        .filter_map(|p| Some((p.arrival?, p.seg.as_ref()?)))
        .filter(|(_, s)| s.flags.ack() && !s.flags.rst())
        .map(|(at, s)| (at.as_micros() as f64 / 1000.0, s.ack, s.win.into()))
        .collect();
    let top_seq = data.iter().map(|(_, s)| s.seq + s.len).max().unwrap_or(1);
    // The picture ends once the last byte is acknowledged: TIME-WAIT would flatten the rest.
    let t_end = acks
        .iter()
        .find(|(_, ack, _)| *ack >= top_seq)
        .map(|a| a.0)
        .or_else(|| {
            data.iter()
                .map(|(p, _)| p.sent_at.as_micros() as f64 / 1000.0)
                .reduce(f64::max)
        })
        .unwrap_or(1.0);
    let t0 = data
        .first()
        .map_or(0.0, |(p, _)| p.sent_at.as_micros() as f64 / 1000.0);
    let (x_min, x_max) = (
        (t0 - (t_end - t0) * 0.05).max(0.0),
        t_end + (t_end - t0).max(1.0) * 0.05,
    );
    // The window line belongs in the picture: the axis reaches the highest right edge the
    // receiver offered (ACK + window) while the data flowed, unless that is far above the data
    // (a 64 KB window over a 4 KB transfer would squash the data into the bottom line); then
    // the window line runs along the top edge, dashed, and says how high it really is.
    let data_top = f64::from(top_seq);
    let win_top = acks
        .iter()
        .filter(|a| a.0 <= x_max)
        .map(|&(_, ack, win)| f64::from(ack) + f64::from(win))
        .fold(0.0, f64::max);
    let window_fits = win_top <= data_top * 3.0;
    let y_max = if window_fits {
        data_top.max(win_top)
    } else {
        data_top
    } * 1.12
        + 1.0;
    let px = |t: f64| L + (t - x_min) / (x_max - x_min).max(1e-9) * (W - L - R);
    let py = |seq: f64| H - B - seq.min(y_max * 2.0) / y_max * (H - T - B);

    let windows: Vec<_> = run
        .windows
        .iter()
        .filter(|(side, _)| *side == sender)
        .map(|(_, w)| *w)
        .collect();
    let full_h = if windows.is_empty() { H } else { H + PANEL_H };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{full_h}" viewBox="0 0 {W} {full_h}" font-family="DejaVu Sans, Helvetica, Arial, Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>"#
    );
    let title = match lang {
        Lang::En => format!(
            "Time-sequence graph · {} · {} → {}",
            run.scenario,
            run.host_name(sender),
            run.host_name(sender.other())
        ),
        Lang::Zh => format!(
            "时间-序列号图 · {} · {} → {}",
            run.scenario,
            run.host_name(sender),
            run.host_name(sender.other())
        ),
    };
    let _ = writeln!(
        s,
        r#"<text class="title" x="{L}" y="28" font-size="16" font-weight="bold">{}</text>"#,
        esc(&title)
    );
    let legend = [
        ("#1f77b4", lang.pick("data segment", "数据报文段")),
        ("#9467bd", lang.pick("retransmission", "重传")),
        ("#d62728", lang.pick("lost", "丢失")),
        ("#2ca02c", lang.pick("ACK", "确认号")),
        ("#bcbd22", lang.pick("ACK + window", "确认号 + 窗口")),
    ];
    let mut lx = L;
    for (colour, text) in legend {
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.0}" y="42" width="14" height="4" fill="{colour}"/><text x="{:.0}" y="48">{}</text>"#,
            lx + 18.0,
            esc(text)
        );
        lx += 40.0 + crate::text::width(text) as f64 * 6.5;
    }
    // Axes and grid.
    let area = Area {
        left: L,
        right: W - R,
        top: T,
        bottom: H - B,
    };
    let xs = nice_step(x_max - x_min, 8.0);
    let ys = nice_step(y_max, 8.0);
    axes_and_grid(&mut s, &area, (x_min, x_max, xs), (y_max, ys), px, py);
    let _ = writeln!(
        s,
        r##"<text x="{:.0}" y="{:.0}" text-anchor="middle" fill="#333">{}</text><text x="20" y="{:.0}" fill="#333" transform="rotate(-90 20 {:.0})" text-anchor="middle">{}</text>"##,
        (L + W - R) / 2.0,
        H - 18.0,
        lang.pick("time (ms)", "时间（毫秒）"),
        (T + H - B) / 2.0,
        (T + H - B) / 2.0,
        lang.pick("relative sequence number", "相对序列号")
    );
    // ACK and window step lines, clipped to the plot: a window far above the data would
    // otherwise be drawn squashed against the top edge as if it were a value.
    let _ = writeln!(
        s,
        r#"<clipPath id="plot-area"><rect x="{L}" y="{T}" width="{:.0}" height="{:.0}"/></clipPath><g clip-path="url(#plot-area)">"#,
        W - L - R,
        H - T - B
    );
    for (class, colour, f) in [("ack", "#2ca02c", 0u8), ("window", "#bcbd22", 1u8)] {
        let mut d = String::new();
        let mut prev: Option<f64> = None;
        for &(t, ack, win) in acks.iter().filter(|a| a.0 <= x_max) {
            let v = f64::from(ack) + if f == 1 { f64::from(win) } else { 0.0 };
            let v = v.min(y_max);
            let (x, y) = (px(t), py(v));
            match prev {
                None => {
                    let _ = write!(d, "M{x:.1},{y:.1}");
                }
                Some(py0) => {
                    let _ = write!(d, " L{x:.1},{py0:.1} L{x:.1},{y:.1}");
                }
            }
            prev = Some(y);
        }
        if let Some(y) = prev {
            let _ = write!(d, " L{:.1},{y:.1}", px(x_max));
            let dash = if f == 1 && !window_fits {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<path class="{class}" d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>"#
            );
        }
    }
    s.push_str("</g>\n");
    if !window_fits && !acks.is_empty() {
        let text = match lang {
            Lang::En => format!(
                "ACK + window reaches {win_top:.0}, far above the data: drawn along the top edge"
            ),
            Lang::Zh => format!("确认号 + 窗口最高达 {win_top:.0}，远高于数据：沿图的上边缘画出"),
        };
        let _ = writeln!(
            s,
            r##"<text class="window-note" x="{:.0}" y="{:.0}" text-anchor="end" fill="#8c8c00">{}</text>"##,
            W - R - 4.0,
            T + 14.0,
            esc(&text)
        );
    }
    // Data segments.
    for (p, seg) in &data {
        let t = p.sent_at.as_micros() as f64 / 1000.0;
        let x = px(t);
        let (y1, y2) = (py(f64::from(seg.seq)), py(f64::from(seg.seq + seg.len)));
        let colour = if p.lost() {
            "#d62728"
        } else if p.retransmission || p.why != crate::sim::Why::Normal {
            "#9467bd"
        } else {
            "#1f77b4"
        };
        let _ = writeln!(
            s,
            r#"<g class="segment"><line x1="{x:.1}" y1="{y1:.1}" x2="{x:.1}" y2="{y2:.1}" stroke="{colour}" stroke-width="2"/><line x1="{:.1}" y1="{y2:.1}" x2="{:.1}" y2="{y2:.1}" stroke="{colour}" stroke-width="2"/><line x1="{:.1}" y1="{y1:.1}" x2="{:.1}" y2="{y1:.1}" stroke="{colour}" stroke-width="2"/></g>"#,
            x - 3.0,
            x + 3.0,
            x - 3.0,
            x + 3.0
        );
        if p.lost() {
            let ym = (y1 + y2) / 2.0;
            let _ = writeln!(
                s,
                r##"<path class="lost" d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" stroke="#d62728" stroke-width="2"/>"##,
                x + 4.0,
                ym - 4.0
            );
        }
    }
    if !windows.is_empty() {
        window_panel(&mut s, &windows, x_min, x_max, lang);
    }
    s.push_str("</svg>\n");
    s
}

/// Height of the congestion-window panel under the sequence graph.
const PANEL_H: f64 = 300.0;

/// cwnd and ssthresh of the data sender as step lines over the same time axis, below the
/// sequence graph, so a loss above lines up with the window's cut below.
fn window_panel(
    s: &mut String,
    windows: &[crate::sim::Window],
    x_min: f64,
    x_max: f64,
    lang: Lang,
) {
    let (top, bottom) = (H + 40.0, H + PANEL_H - 50.0);
    let finite = |v: u32| (v < u32::MAX / 2).then_some(f64::from(v));
    let y_max = windows
        .iter()
        .flat_map(|w| [Some(f64::from(w.cwnd)), finite(w.ssthresh)])
        .flatten()
        .fold(1.0, f64::max)
        * 1.15;
    let px = |t: f64| L + (t - x_min) / (x_max - x_min).max(1e-9) * (W - L - R);
    let py = |v: f64| bottom - v.min(y_max) / y_max * (bottom - top);
    let _ = writeln!(
        s,
        r#"<text class="window-title" x="{L}" y="{:.0}" font-size="13" font-weight="bold">{}</text>"#,
        top - 14.0,
        esc(lang.pick(
            "Congestion window of the sender (bytes)",
            "发送方的拥塞窗口（字节）"
        ))
    );
    // The legend sits at the right of the title line, clear of it.
    let legend = [
        ("#ff7f0e", "cwnd", ""),
        ("#7f7f7f", "ssthresh", r#" stroke-dasharray="5,3""#),
    ];
    let mut lx = W - R - 190.0;
    for (colour, text, dash) in legend {
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.0}" y1="{y:.0}" x2="{:.0}" y2="{y:.0}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.0}" y="{:.0}">{text}</text>"#,
            lx + 18.0,
            lx + 22.0,
            top - 14.0,
            y = top - 18.0,
        );
        lx += 95.0;
    }
    let area = Area {
        left: L,
        right: W - R,
        top,
        bottom,
    };
    let xs = nice_step(x_max - x_min, 8.0);
    let ys = nice_step(y_max, 5.0);
    axes_and_grid(s, &area, (x_min, x_max, xs), (y_max, ys), px, py);
    let _ = writeln!(
        s,
        r##"<text x="{:.0}" y="{:.0}" text-anchor="middle" fill="#333">{}</text>"##,
        (L + W - R) / 2.0,
        bottom + 36.0,
        lang.pick("time (ms)", "时间（毫秒）"),
    );
    // Step lines: a value holds until the next sample; the last holds to the right edge.
    let step = |value: &dyn Fn(&crate::sim::Window) -> Option<f64>| {
        let mut d = String::new();
        let mut prev_y: Option<f64> = None;
        for w in windows {
            let x = px(w.at.as_micros() as f64 / 1000.0).clamp(L, W - R);
            match (value(w), prev_y) {
                (Some(v), None) => {
                    let _ = write!(d, "M{x:.1},{:.1} ", py(v));
                    prev_y = Some(py(v));
                }
                (Some(v), Some(_)) => {
                    let _ = write!(d, "H{x:.1} V{:.1} ", py(v));
                    prev_y = Some(py(v));
                }
                (None, _) => {}
            }
        }
        if prev_y.is_some() {
            let _ = write!(d, "H{:.1}", W - R);
        }
        d
    };
    // ssthresh is drawn over cwnd: where they are equal (recovery) the dashes still show.
    let cwnd = step(&|w| Some(f64::from(w.cwnd)));
    let _ = writeln!(
        s,
        r##"<path class="cwnd" d="{cwnd}" fill="none" stroke="#ff7f0e" stroke-width="2"/>"##
    );
    let ssthresh = step(&|w| finite(w.ssthresh));
    if !ssthresh.is_empty() {
        let _ = writeln!(
            s,
            r##"<path class="ssthresh" d="{ssthresh}" fill="none" stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="5,3"/>"##
        );
    }
}

/// Where a plot's axes stand in the picture.
pub(crate) struct Area {
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

/// Both axes and a light grid with a label at each tick: time ticks every `xs` from the first
/// multiple of it at or after `x_min`, value ticks every `ys` from zero.
pub(crate) fn axes_and_grid(
    s: &mut String,
    area: &Area,
    (x_min, x_max, xs): (f64, f64, f64),
    (y_max, ys): (f64, f64),
    px: impl Fn(f64) -> f64,
    py: impl Fn(f64) -> f64,
) {
    let Area {
        left,
        right,
        top,
        bottom,
    } = *area;
    let _ = writeln!(
        s,
        r##"<g class="axes" stroke="#333"><line x1="{left:.0}" y1="{bottom:.0}" x2="{right:.0}" y2="{bottom:.0}"/><line x1="{left:.0}" y1="{top:.0}" x2="{left:.0}" y2="{bottom:.0}"/></g>"##
    );
    let mut t = (x_min / xs).ceil() * xs;
    while t <= x_max {
        let x = px(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{top:.0}" x2="{x:.1}" y2="{bottom:.0}" stroke="#eee"/><text x="{x:.1}" y="{:.0}" text-anchor="middle" fill="#555">{}</text>"##,
            bottom + 16.0,
            format_num(t)
        );
        t += xs;
    }
    let mut q = 0.0;
    while q <= y_max {
        let y = py(q);
        let _ = writeln!(
            s,
            r##"<line x1="{left:.0}" y1="{y:.1}" x2="{right:.0}" y2="{y:.1}" stroke="#eee"/><text x="{:.0}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            left - 6.0,
            y + 4.0,
            format_num(q)
        );
        q += ys;
    }
}

pub(crate) fn format_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}
