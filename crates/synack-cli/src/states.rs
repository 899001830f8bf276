//! The state diagram, drawn from `synack_proto::TRANSITIONS` so it can never disagree with
//! the code: as a table, as Graphviz DOT, and as a hand-laid SVG in the classic RFC layout
//! (no Graphviz needed).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use synack_proto::{Cause, StateName, TRANSITIONS, Transition};

use crate::i18n::{self, Lang};
use crate::svg::esc;

/// Causes that end a connection abnormally; their edges are drawn thin and grey.
fn is_failure(c: Cause) -> bool {
    matches!(
        c,
        Cause::RecvRst
            | Cause::UserAbort
            | Cause::RetransmitTimeout
            | Cause::KeepaliveTimeout
            | Cause::FinWait2Timeout
            | Cause::DataAfterClose
    )
}

/// Edges grouped by (from, to), causes in table order.
fn grouped() -> BTreeMap<(StateName, StateName), Vec<Cause>> {
    let mut g: BTreeMap<(StateName, StateName), Vec<Cause>> = BTreeMap::new();
    for t in TRANSITIONS {
        g.entry((t.from, t.to)).or_default().push(t.cause);
    }
    g
}

/// The transition table, one state per paragraph; rows in `visited` are starred.
pub fn table(visited: &BTreeSet<Transition>, lang: Lang) -> String {
    let mut out = String::new();
    for s in StateName::ALL {
        let _ = writeln!(out, "{:<13} {}", s.as_str(), i18n::describe(s, lang));
        for t in TRANSITIONS.iter().filter(|t| t.from == s) {
            let star = if visited.contains(t) { "*" } else { " " };
            let _ = writeln!(
                out,
                "  {star} → {:<13} {}",
                t.to.as_str(),
                i18n::cause(t.cause, lang)
            );
        }
    }
    if !visited.is_empty() {
        out.push_str(lang.pick("* taken in this run\n", "* 本次运行经过的转换\n"));
    }
    out
}

/// Graphviz DOT; edges in `visited` are drawn bold.
pub fn dot(visited: &BTreeSet<Transition>) -> String {
    let mut out = String::from(
        "digraph tcp {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"monospace\"];\n",
    );
    for s in StateName::ALL {
        let _ = writeln!(out, "  \"{s}\";");
    }
    for t in TRANSITIONS {
        let style = if visited.contains(t) {
            ", penwidth=3, color=\"#e6550d\""
        } else if is_failure(t.cause) {
            ", style=dashed, color=gray50"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\"{style}];",
            t.from,
            t.to,
            t.cause.label()
        );
    }
    out.push_str("}\n");
    out
}

/// Where a node is drawn. CLOSED appears twice, as in RFC 9293's figure: at the top where
/// connections begin and at the bottom where they end.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Node {
    State(StateName),
    ClosedEnd,
    /// A small "CLOSED" badge beside a state, for its failure exits.
    Stub(StateName),
}

const BW: f64 = 150.0;
const BH: f64 = 36.0;

fn pos(n: Node) -> (f64, f64) {
    use StateName::*;
    match n {
        Node::State(s) => match s {
            Closed => (600.0, 80.0),
            Listen => (600.0, 200.0),
            SynReceived => (250.0, 340.0),
            SynSent => (950.0, 340.0),
            Established => (600.0, 470.0),
            FinWait1 => (250.0, 600.0),
            CloseWait => (950.0, 600.0),
            Closing => (600.0, 720.0),
            LastAck => (950.0, 720.0),
            FinWait2 => (250.0, 840.0),
            TimeWait => (600.0, 840.0),
        },
        Node::ClosedEnd => (950.0, 840.0),
        Node::Stub(s) => {
            let (x, y) = pos(Node::State(s));
            match s {
                Established => (x - 220.0, y),
                // Between CLOSING and LAST-ACK, level with both.
                Closing => (x + 175.0, y),
                CloseWait => (x + 200.0, y),
                _ if x < 600.0 => (x - 175.0, y + 45.0),
                _ => (x + 200.0, y + 45.0),
            }
        }
    }
}

fn size(n: Node) -> (f64, f64) {
    match n {
        Node::Stub(_) => (70.0, 22.0),
        _ => (BW, BH),
    }
}

/// Where an edge between these states is drawn.
fn route(from: StateName, to: StateName) -> (Node, Node) {
    use StateName::*;
    let target = match (from, to) {
        (TimeWait | LastAck, Closed) => Node::ClosedEnd,
        (Listen | SynSent, Closed) => Node::State(Closed),
        (s, Closed) => Node::Stub(s),
        (_, t) => Node::State(t),
    };
    (Node::State(from), target)
}

/// The point where the line from the centre of `n` towards `(tx, ty)` leaves its box.
fn clip(n: Node, tx: f64, ty: f64) -> (f64, f64) {
    let (x, y) = pos(n);
    let (w, h) = size(n);
    let (dx, dy) = (tx - x, ty - y);
    if dx == 0.0 && dy == 0.0 {
        return (x, y);
    }
    let t = f64::min(
        if dx != 0.0 {
            (w / 2.0) / dx.abs()
        } else {
            f64::INFINITY
        },
        if dy != 0.0 {
            (h / 2.0) / dy.abs()
        } else {
            f64::INFINITY
        },
    );
    (x + dx * t, y + dy * t)
}

/// The diagram as SVG. States and edges in `visited` (e.g. from a scenario run) are
/// highlighted.
pub fn svg(visited: &BTreeSet<Transition>, lang: Lang, title: &str) -> String {
    let (w, h) = (1300.0, 940.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Helvetica, Arial, Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif" font-size="11">"#
    );
    s.push_str(
        r##"<defs>
<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker>
<marker id="arrow-grey" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#999"/></marker>
<marker id="arrow-hot" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#e6550d"/></marker>
</defs>
<rect width="100%" height="100%" fill="white"/>
"##,
    );
    let _ = writeln!(
        s,
        r#"<text class="title" x="20" y="30" font-size="16" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let mut legend = lang
        .pick(
            "Edges from synack_proto::TRANSITIONS, labelled with their cause. Grey dashed: failures (RST, abort, timeouts).",
            "边取自 synack_proto::TRANSITIONS，标注触发原因。灰色虚线：异常（RST、abort、超时）。",
        )
        .to_string();
    // Only a diagram drawn for a run has edges taken in it.
    if !visited.is_empty() {
        legend.push_str(lang.pick(" Orange: taken in this run.", "橙色：本次运行经过的边。"));
    }
    let _ = writeln!(
        s,
        r##"<text x="20" y="50" fill="#555">{}</text>"##,
        esc(&legend)
    );
    let groups = grouped();
    let visited_states: BTreeSet<StateName> = visited.iter().flat_map(|t| [t.from, t.to]).collect();
    // Edges first so the boxes sit on top of their ends.
    for (&(from, to), causes) in &groups {
        let (a, b) = route(from, to);
        let hot = causes
            .iter()
            .any(|&c| visited.contains(&Transition { from, to, cause: c }));
        let failure = causes.iter().all(|&c| is_failure(c));
        let (pa, pb) = (pos(a), pos(b));
        // Two-way pairs are drawn as two arcs bending to opposite sides.
        let reverse = groups.contains_key(&(to, from)) && route(to, from) == (b, a);
        let bend = if reverse { 28.0 } else { 0.0 };
        let (mx, my) = ((pa.0 + pb.0) / 2.0, (pa.1 + pb.1) / 2.0);
        let (dx, dy) = (pb.0 - pa.0, pb.1 - pa.1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (cx, cy) = (mx - dy / len * bend, my + dx / len * bend);
        let start = clip(a, cx, cy);
        let end = clip(b, cx, cy);
        let (stroke, width, dash, marker) = if hot {
            ("#e6550d", 3.0, "", "arrow-hot")
        } else if failure {
            ("#999", 1.0, r#" stroke-dasharray="5 3""#, "arrow-grey")
        } else {
            ("#333", 1.5, "", "arrow")
        };
        let class = if hot { "edge visited" } else { "edge" };
        let _ = writeln!(
            s,
            r#"<path class="{class}" d="M{:.1},{:.1} Q{cx:.1},{cy:.1} {:.1},{:.1}" fill="none" stroke="{stroke}" stroke-width="{width}"{dash} marker-end="url(#{marker})"/>"#,
            start.0, start.1, end.0, end.1
        );
        // The curve's midpoint, then moved off other edges: each label sits beside its own
        // edge, never where two edges cross.
        let mut lx = 0.25 * start.0 + 0.5 * cx + 0.25 * end.0;
        let mut ly = 0.25 * start.1 + 0.5 * cy + 0.25 * end.1;
        let mut anchor = "middle";
        if let Node::Stub(_) = b {
            // Failure exits are labelled under their badge, away from the main edges.
            (lx, ly) = (pb.0, pb.1 + 22.0);
            if pb.0 < 200.0 {
                (lx, anchor) = (pb.0 - 35.0, "start");
            } else if pb.0 > 1000.0 {
                (lx, anchor) = (pb.0 + 35.0, "end");
            }
        } else if reverse {
            // A pair of arcs: each label goes on the outside of its own arc.
            let (nx, ny) = (-dy / len, dx / len);
            lx += nx * 8.0;
            ly += ny * 8.0;
            anchor = if nx.abs() < 0.2 {
                "middle"
            } else if nx > 0.0 {
                "start"
            } else {
                "end"
            };
        } else {
            use StateName::*;
            match (from, to) {
                // Down the middle, clear of the SYN-SENT → SYN-RECEIVED line it crosses.
                (Listen, Established) => {
                    (lx, ly, anchor) = (pa.0 + 6.0, pa.1 + 0.72 * (pb.1 - pa.1), "start")
                }
                // Nearer SYN-SENT, clear of the vertical LISTEN → ESTABLISHED line.
                (SynSent, SynReceived) => (lx, ly) = (pa.0 - 170.0, pa.1 - 8.0),
                // Level edges: above the line rather than on it.
                (FinWait2, TimeWait) | (TimeWait, Closed) => ly -= 10.0,
                _ => {}
            }
        }
        let text: Vec<&str> = causes.iter().map(|&c| i18n::cause(c, lang)).collect();
        let colour = if hot {
            "#a63603"
        } else if failure {
            "#777"
        } else {
            "#222"
        };
        // A failure exit's list of causes goes on two lines under its small badge.
        let sep = lang.pick(", ", "、");
        let joined = text.join(sep);
        // So is the reset path back to LISTEN, which would otherwise run across the edge
        // from LISTEN down to ESTABLISHED.
        let two =
            matches!(b, Node::Stub(_)) || (from, to) == (StateName::SynReceived, StateName::Listen);
        let lines = if two && text.len() > 2 {
            let half = text.len().div_ceil(2);
            vec![
                format!("{}{}", text[..half].join(sep), sep.trim_end()),
                text[half..].join(sep),
            ]
        } else {
            vec![joined]
        };
        let _ = write!(
            s,
            r#"<text class="edge-label" x="{lx:.1}" y="{:.1}" text-anchor="{anchor}" fill="{colour}" stroke="white" stroke-width="3" paint-order="stroke" font-size="10">"#,
            ly + 3.0
        );
        for (k, line) in lines.iter().enumerate() {
            let dy = if k == 0 { 0.0 } else { 12.0 };
            let _ = write!(s, r#"<tspan x="{lx:.1}" dy="{dy}">{}</tspan>"#, esc(line));
        }
        s.push_str("</text>\n");
    }
    let mut nodes: BTreeSet<Node> = StateName::ALL.iter().map(|&s| Node::State(s)).collect();
    nodes.insert(Node::ClosedEnd);
    for &(from, to) in groups.keys() {
        nodes.insert(route(from, to).1);
    }
    for n in nodes {
        let (x, y) = pos(n);
        let (bw, bh) = size(n);
        let (name, state) = match n {
            Node::State(s) => (s.as_str(), Some(s)),
            Node::ClosedEnd => ("CLOSED", Some(StateName::Closed)),
            Node::Stub(_) => ("CLOSED", None),
        };
        let hot = state.is_some_and(|s| visited_states.contains(&s));
        let (fill, stroke) = match (n, hot) {
            (Node::Stub(_), _) => ("#f4f4f4", "#aaa"),
            (_, true) => ("#fee6ce", "#e6550d"),
            _ => ("#e8f0fe", "#335"),
        };
        let class = match n {
            Node::Stub(_) => "stub",
            _ => "state",
        };
        let _ = writeln!(
            s,
            r#"<g class="{class}"><rect x="{:.1}" y="{:.1}" width="{bw}" height="{bh}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" font-size="{}">{name}</text></g>"#,
            x - bw / 2.0,
            y - bh / 2.0,
            y + 4.0,
            if matches!(n, Node::Stub(_)) { 10 } else { 13 },
        );
    }
    s.push_str("</svg>\n");
    s
}
