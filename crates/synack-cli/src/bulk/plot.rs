//! Each sender's congestion window over time, one step line per flow, on one time axis: how
//! the flows grow, cut on loss and settle around their shares of the bottleneck.

use std::fmt::Write as _;

use super::BulkRun;
use crate::i18n::Lang;
use crate::plot::{Area, axes_and_grid, nice_step};
use crate::svg::esc;

const W: f64 = 1000.0;
const H: f64 = 560.0;
const L: f64 = 90.0;
const R: f64 = 30.0;
const T: f64 = 70.0;
const B: f64 = 60.0;
/// At most this many points per line: a long run changes cwnd on nearly every ACK.
const MAX_POINTS: usize = 4000;

const COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

pub fn svg(run: &BulkRun, lang: Lang) -> String {
    let t_end = (run.end.as_micros() as f64 / 1000.0).max(1.0);
    let y_top = run
        .cwnd
        .iter()
        .flatten()
        .map(|s| f64::from(s.cwnd) / 1000.0)
        .fold(1.0, f64::max)
        * 1.1;
    let px = |t: f64| L + t / t_end * (W - L - R);
    let py = |v: f64| H - B - v.min(y_top) / y_top * (H - T - B);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let p = &run.params;
    let title = match lang {
        Lang::En => format!(
            "cwnd of {} flows sharing {} Mbit/s (longest RTT {} ms, {})",
            p.flows,
            p.bandwidth_mbit,
            p.longest_rtt().as_millis(),
            super::report::cc_name(p.cc)
        ),
        Lang::Zh => format!(
            "{} 条流共享 {} Mbit/s 瓶颈时各自的拥塞窗口（最长 RTT {} 毫秒，{}）",
            p.flows,
            p.bandwidth_mbit,
            p.longest_rtt().as_millis(),
            super::report::cc_name(p.cc)
        ),
    };
    let _ = writeln!(
        s,
        r#"<text x="{L}" y="30" font-size="16" font-weight="bold">{}</text>"#,
        esc(&title)
    );
    let area = Area {
        left: L,
        right: W - R,
        top: T,
        bottom: H - B,
    };
    let xs = nice_step(t_end, 8.0);
    let ys = nice_step(y_top, 6.0);
    axes_and_grid(&mut s, &area, (0.0, t_end, xs), (y_top, ys), px, py);
    let _ = writeln!(
        s,
        r##"<text x="{:.0}" y="{:.0}" text-anchor="middle" fill="#333">{}</text>"##,
        (L + W - R) / 2.0,
        H - B + 40.0,
        lang.pick("time (ms)", "时间（毫秒）")
    );
    let _ = writeln!(
        s,
        r##"<text x="20" y="{:.0}" fill="#333" transform="rotate(-90 20 {:.0})" text-anchor="middle">{}</text>"##,
        (T + H - B) / 2.0,
        (T + H - B) / 2.0,
        lang.pick("cwnd (KB)", "拥塞窗口（KB）")
    );
    for (i, trace) in run.cwnd.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let every = trace.len().div_ceil(MAX_POINTS).max(1);
        let mut d = String::new();
        for (k, sample) in trace.iter().enumerate() {
            if k % every != 0 && k + 1 != trace.len() {
                continue;
            }
            let x = px(sample.at.as_micros() as f64 / 1000.0);
            let y = py(f64::from(sample.cwnd) / 1000.0);
            if d.is_empty() {
                let _ = write!(d, "M{x:.1},{y:.1}");
            } else {
                let _ = write!(d, " H{x:.1} V{y:.1}");
            }
        }
        if !d.is_empty() {
            let _ = write!(d, " H{:.1}", W - R);
        }
        let _ = writeln!(
            s,
            r#"<path class="cwnd flow{}" d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#,
            i + 1
        );
        // The legend, in rows of eight along the top; past two rows the colours repeat
        // unlabelled, as the lines could no longer be told apart anyway.
        if i >= 16 {
            continue;
        }
        let (lx, ly) = (L + 110.0 * (i % 8) as f64, 48.0 + 14.0 * (i / 8) as f64);
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.0}" y1="{ly:.0}" x2="{:.0}" y2="{ly:.0}" stroke="{colour}" stroke-width="2"/><text x="{:.0}" y="{:.0}">{} {}</text>"#,
            lx + 18.0,
            lx + 22.0,
            ly + 4.0,
            lang.pick("flow", "流"),
            i + 1
        );
    }
    s.push_str("</svg>\n");
    s
}
