//! The pictures: SVGs parse as XML and hold what they should; the state diagram covers the
//! whole transition table; `trace` reads our own captures back, raw and in Ethernet frames.

use std::collections::BTreeSet;
use std::path::PathBuf;

use synack_cli::i18n::Lang;
use synack_cli::scenario::{self, Params, SCENARIOS};
use synack_proto::{StateName, TRANSITIONS, Transition};
use synack_sim::Side;

fn run(name: &str) -> scenario::Run {
    scenario::run(name, &Params::default()).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn texts(doc: &roxmltree::Document<'_>) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect::<String>()
        })
        .collect()
}

fn class_count(doc: &roxmltree::Document<'_>, class: &str) -> usize {
    doc.descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split(' ').any(|c| c == class))
        })
        .count()
}

#[test]
fn ladder_svgs_parse_and_draw_every_packet_and_state() {
    for s in SCENARIOS.iter() {
        for lang in [Lang::En, Lang::Zh] {
            let r = run(s.name);
            let svg = synack_cli::svg::ladder(&r, lang);
            let doc = roxmltree::Document::parse(&svg)
                .unwrap_or_else(|e| panic!("{}: not XML: {e}", s.name));
            assert!(doc.root_element().has_tag_name("svg"));
            assert_eq!(class_count(&doc, "segment"), r.packets.len(), "{}", s.name);
            assert_eq!(class_count(&doc, "lifeline"), 2);
            let lost = r.packets.iter().filter(|p| p.lost()).count();
            assert_eq!(class_count(&doc, "cross"), lost, "{}", s.name);
            // Initial, every change, final: one state box each.
            assert_eq!(
                class_count(&doc, "state"),
                r.changes.len() + 4,
                "{}",
                s.name
            );
            let t = texts(&doc);
            for c in &r.changes {
                assert!(t.iter().any(|x| x == c.to.as_str()), "{}: {}", s.name, c.to);
            }
        }
    }
}

#[test]
fn state_diagram_has_every_state_and_every_edge() {
    let none = BTreeSet::new();
    let svg = synack_cli::states::svg(&none, Lang::En, "states");
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let t = texts(&doc);
    for s in StateName::ALL {
        assert!(t.iter().any(|x| x == s.as_str()), "{s} not drawn");
    }
    // Every cause of every edge appears in some edge label.
    let labels: Vec<String> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("edge-label"))
        .map(|n| {
            // A long list of causes is split over two lines (tspans).
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    for tr in TRANSITIONS {
        let found = labels
            .iter()
            .any(|l| l.split(", ").any(|c| c == tr.cause.label()));
        assert!(found, "{tr:?} has no label");
    }
    assert_eq!(class_count(&doc, "visited"), 0);
    let dot = synack_cli::states::dot(&none);
    assert_eq!(dot.matches(" -> ").count(), TRANSITIONS.len());
}

#[test]
fn state_diagram_highlights_the_edges_a_run_took() {
    let r = run("simultaneous-close");
    let visited: BTreeSet<Transition> = r
        .changes
        .iter()
        .map(|c| Transition {
            from: c.from,
            to: c.to,
            cause: c.cause,
        })
        .collect();
    let svg = synack_cli::states::svg(&visited, Lang::En, "t");
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let hot = class_count(&doc, "visited");
    // Edges are drawn per (from, to) pair.
    let pairs: BTreeSet<_> = visited.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(hot, pairs.len());
    assert!(pairs.contains(&(StateName::FinWait1, StateName::Closing)));
    let dot = synack_cli::states::dot(&visited);
    assert!(dot.contains("\"FIN-WAIT-1\" -> \"CLOSING\" [label=\"rcv FIN\", penwidth=3"));
}

#[test]
fn time_sequence_graph_marks_losses_and_retransmissions() {
    let r = run("lossy");
    let svg = synack_cli::plot::svg(&r, Lang::En);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let data = r
        .packets
        .iter()
        .filter(|p| p.from == Side::A && p.seg.as_ref().unwrap().len > 0)
        .count();
    assert_eq!(class_count(&doc, "segment"), data);
    // Segment 2, the lone segment and its tail loss probe.
    assert_eq!(class_count(&doc, "lost"), 3);
    assert_eq!(class_count(&doc, "ack"), 1);
    let purple = doc
        .descendants()
        .filter(|n| n.attribute("stroke") == Some("#9467bd"))
        .count();
    assert!(purple > 0, "retransmissions are not coloured");
    // half-close: the server carries the data, so the graph follows it.
    assert_eq!(synack_cli::plot::data_sender(&run("half-close")), Side::B);
}

/// Every scenario's pcap, read back by `trace`, gives the real states (less what a capture
/// cannot see: the end of TIME-WAIT, a connection given up by a timer without a packet, and
/// which FIN arrived first in a simultaneous close).
#[test]
fn trace_infers_the_states_the_simulation_went_through() {
    for s in SCENARIOS.iter() {
        let r = run(s.name);
        let path = tmp(&format!("trace-{}.pcap", s.name));
        std::fs::write(&path, r.pcap_bytes()).unwrap();
        let t = synack_cli::trace::read(&path).unwrap();
        // The trace draws the one connection that completed its handshake: the flood's forged
        // SYNs and the answers to them are other connections.
        let mut r = r;
        r.packets.retain(|p| p.third_party.is_none());
        assert_eq!(t.run.packets.len(), r.packets.len(), "{}", s.name);
        assert_eq!(t.bad_checksums, 0);
        for side in [Side::A, Side::B] {
            let mut real = r.visited(side);
            let inferred = t.run.visited(side);
            // The observer never sees TIME-WAIT end, nor a listen() call, nor keepalive giving
            // up (the last probes were lost; nothing marks the end on the wire).
            if real.ends_with(&[StateName::TimeWait, StateName::Closed]) {
                real.pop();
            }
            if s.name == "keepalive" && side == Side::A {
                assert_eq!(real.pop(), Some(StateName::Closed));
            }
            if real.starts_with(&[StateName::Closed, StateName::Listen]) {
                real.remove(0);
            }
            if s.name == "syn-flood" && side == Side::B {
                // A cookie SYN-ACK looks like any other on the wire: the observer supposes
                // SYN-RECEIVED where the server kept no state at all.
                assert_eq!(real[..2], [StateName::Listen, StateName::Established]);
                real.insert(1, StateName::SynReceived);
            }
            if s.name == "simultaneous-close" && side == Side::A {
                assert_eq!(inferred.last(), Some(&StateName::TimeWait));
                continue;
            }
            assert_eq!(inferred, real, "{} {side}", s.name);
        }
        // Relative numbers come out the same as in the simulation.
        let a: Vec<_> = r.packets.iter().map(|p| p.seg.clone()).collect();
        let b: Vec<_> = t.run.packets.iter().map(|p| p.seg.clone()).collect();
        assert_eq!(a, b, "{}", s.name);
    }
}

#[test]
fn trace_reads_ethernet_captures_too() {
    use pcap_file::DataLink;
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let r = run("close");
    let path = tmp("ethernet.pcap");
    let file = std::fs::File::create(&path).unwrap();
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(file, header).unwrap();
    for p in &r.packets {
        // dst MAC, src MAC, a VLAN tag, then IPv4.
        let mut frame = vec![
            2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0, 7, 0x08, 0x00,
        ];
        frame.extend_from_slice(&p.bytes);
        let ts = std::time::Duration::from_micros(p.sent_at.as_micros() + 1_700_000_000_000_000);
        w.write_packet(&PcapPacket::new(ts, frame.len() as u32, &frame))
            .unwrap();
    }
    drop(w);
    let t = synack_cli::trace::read(&path).unwrap();
    assert_eq!(t.run.packets.len(), r.packets.len());
    assert_eq!(t.skipped, 0);
    assert_eq!(
        t.run.packets[0].sent_at.as_micros(),
        0,
        "times start at the first packet"
    );
    assert_eq!(
        t.run.visited(Side::B),
        [
            StateName::Listen,
            StateName::SynReceived,
            StateName::Established,
            StateName::CloseWait,
            StateName::LastAck,
            StateName::Closed
        ]
    );
    let report = synack_cli::trace::report(
        &t,
        "ethernet.pcap",
        &synack_cli::ladder::View::plain(Lang::En),
    );
    assert!(report.contains("INFERRED"));
    assert!(report.contains("LAST-ACK → CLOSED"));
}

#[test]
fn trace_rejects_what_it_cannot_read() {
    let path = tmp("not-a.pcap");
    std::fs::write(&path, b"hello, this is not a capture").unwrap();
    assert!(synack_cli::trace::read(&path).is_err());
    assert!(synack_cli::trace::read(&tmp("does-not-exist.pcap")).is_err());
    // A valid capture without TCP.
    let empty = tmp("empty.pcap");
    std::fs::write(&empty, &run("handshake").pcap_bytes()[..24]).unwrap();
    let err = synack_cli::trace::read(&empty).err().unwrap();
    assert!(err.contains("no TCP"), "{err}");
}

/// Real Linux captures (an HTTP fetch from `python3 -m http.server` over loopback, taken
/// with tshark on this project's machine): Ethernet frames, timestamps and window scaling on,
/// checksums left to offload, and the server closing first.
#[test]
fn trace_reads_a_real_linux_capture() {
    for (file, v6) in [
        ("linux-loopback-http.pcap", false),
        ("linux-loopback-http-ipv6.pcap", true),
    ] {
        real_linux_capture(file, v6);
    }
}

fn real_linux_capture(file: &str, v6: bool) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let t = synack_cli::trace::read(&path).unwrap();
    assert_eq!(t.run.packets.len(), 12);
    assert_eq!(t.skipped, 0);
    assert_eq!(t.bad_checksums, 12, "loopback leaves checksums to offload");
    assert!(t.run.packets.iter().all(|p| p.seg.is_some()));
    use StateName::*;
    assert_eq!(
        t.run.visited(Side::A),
        [Closed, SynSent, Established, CloseWait, LastAck, Closed]
    );
    assert_eq!(
        t.run.visited(Side::B),
        [
            Listen,
            SynReceived,
            Established,
            FinWait1,
            FinWait2,
            TimeWait
        ]
    );
    let syn = t.run.packets[0].seg.as_ref().unwrap();
    assert_eq!(syn.seq, 0);
    assert!(
        syn.options.contains("ts") && syn.options.contains("ws"),
        "{}",
        syn.options
    );
    assert_eq!(t.run.hosts[0].contains(':'), v6, "{file}");
    let report = synack_cli::trace::report(&t, "linux", &synack_cli::ladder::View::plain(Lang::En));
    assert!(report.contains("bad checksums"));
    assert_eq!(report.contains("[::1]:8766"), v6, "{file}");
    let svg = synack_cli::svg::ladder(&t.run, Lang::En);
    roxmltree::Document::parse(&svg).unwrap();
    for line in report.lines() {
        assert!(synack_cli::text::width(line) <= 100, "{line}");
    }
}

/// A text element's box, roughly: the fonts' average advance per column times the display
/// width, one line high per line (tspans), placed by its anchor. Rough, but two labels that
/// share pixels in any renderer overlap here too.
#[derive(Debug, Clone, Copy)]
struct Box {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

fn text_boxes(
    doc: &roxmltree::Document<'_>,
    class: &str,
    advance: f64,
    size: f64,
) -> Vec<(Box, String)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text") && n.attribute("class") == Some(class))
        .map(|n| {
            let x: f64 = n.attribute("x").unwrap().parse().unwrap();
            let y: f64 = n.attribute("y").unwrap().parse().unwrap();
            let lines: Vec<String> = if n.children().any(|c| c.has_tag_name("tspan")) {
                n.children()
                    .filter(|c| c.has_tag_name("tspan"))
                    .map(|c| c.text().unwrap_or("").to_string())
                    .collect()
            } else {
                vec![n.text().unwrap_or("").to_string()]
            };
            let w = lines
                .iter()
                .map(|l| synack_cli::text::width(l))
                .max()
                .unwrap_or(0) as f64
                * advance;
            let (x0, x1) = match n.attribute("text-anchor") {
                Some("end") => (x - w, x),
                Some("middle") => (x - w / 2.0, x + w / 2.0),
                _ => (x, x + w),
            };
            let h = size * (lines.len() as f64 - 1.0) * 1.15;
            (
                Box {
                    x0,
                    x1,
                    y0: y - size * 0.75,
                    y1: y + h + size * 0.2,
                },
                lines.join(" "),
            )
        })
        .collect()
}

fn overlapping(boxes: &[(Box, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (a, ta)) in boxes.iter().enumerate() {
        for (b, tb) in &boxes[i + 1..] {
            if a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 {
                out.push(format!("`{ta}` {a:?} overlaps `{tb}` {b:?}"));
            }
        }
    }
    out
}

#[test]
fn ladder_labels_and_notes_never_overlap_and_notes_are_whole() {
    for s in SCENARIOS.iter() {
        for lang in [Lang::En, Lang::Zh] {
            let r = run(s.name);
            let svg = synack_cli::svg::ladder(&r, lang);
            let doc = roxmltree::Document::parse(&svg).unwrap();
            // 11 px monospace labels, 10 px notes (about 0.6 em a column).
            let mut boxes = text_boxes(&doc, "label", 6.7, 11.0);
            boxes.extend(text_boxes(&doc, "note", 6.1, 10.0));
            let clash = overlapping(&boxes);
            assert!(
                clash.is_empty(),
                "{} {lang:?}:\n{}",
                s.name,
                clash.join("\n")
            );
            // Every note is said in full: its lines join back into the narration.
            let notes: Vec<String> = text_boxes(&doc, "note", 6.1, 10.0)
                .into_iter()
                .map(|(_, t)| t.split_whitespace().collect::<String>())
                .collect();
            for n in &r.notes {
                let want: String = lang.pick(&n.en, &n.zh).split_whitespace().collect();
                assert!(notes.contains(&want), "{}: note cut short: {want}", s.name);
            }
            // And nothing runs off the picture.
            let w: f64 = doc
                .root_element()
                .attribute("width")
                .unwrap()
                .parse()
                .unwrap();
            for (b, t) in &boxes {
                assert!(
                    b.x0 >= 0.0 && b.x1 <= w,
                    "{}: `{t}` leaves the picture",
                    s.name
                );
            }
        }
    }
}

#[test]
fn state_diagram_labels_do_not_overlap_and_the_legend_fits_the_picture() {
    let none = BTreeSet::new();
    for lang in [Lang::En, Lang::Zh] {
        let svg = synack_cli::states::svg(&none, lang, "states");
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let clash = overlapping(&text_boxes(&doc, "edge-label", 5.8, 10.0));
        assert!(clash.is_empty(), "{lang:?}:\n{}", clash.join("\n"));
        let all = texts(&doc).join(" ");
        assert!(
            !all.contains("this run") && !all.contains("本次运行"),
            "no run, no legend for one"
        );
    }
    let r = run("tour");
    let visited: BTreeSet<Transition> = r
        .changes
        .iter()
        .map(|c| Transition {
            from: c.from,
            to: c.to,
            cause: c.cause,
        })
        .collect();
    let svg = synack_cli::states::svg(&visited, Lang::En, "t");
    assert!(svg.contains("taken in this run"));
    // Edges whose causes are all failures are grey and dashed, as the legend says; others
    // are not.
    let plain = synack_cli::states::svg(&none, Lang::En, "s");
    let doc = roxmltree::Document::parse(&plain).unwrap();
    let edges: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("edge"))
        .collect();
    let dashed = edges
        .iter()
        .filter(|n| n.attribute("stroke-dasharray").is_some())
        .count();
    let grey = edges
        .iter()
        .filter(|n| n.attribute("stroke") == Some("#999"))
        .count();
    assert_eq!(dashed, grey);
    // ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2, SYN-RECEIVED, CLOSING and CLOSE-WAIT each have one
    // exit made only of failures (RST, abort, timeouts).
    assert_eq!(dashed, 6);
}

#[test]
fn the_window_line_stays_inside_the_plot() {
    for name in ["lossy", "zero-window", "transfer", "tour"] {
        let svg = synack_cli::plot::svg(&run(name), Lang::En);
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let window = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("window"))
            .unwrap_or_else(|| panic!("{name}: no window line"));
        let d = window.attribute("d").unwrap();
        let ys: Vec<f64> = d
            .split(['M', 'L', ' '])
            .filter(|p| !p.is_empty())
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        // The plot area runs from y = 70 (top) to 580 (the time axis).
        assert!(
            ys.iter().all(|&y| (70.0..=580.0).contains(&y)),
            "{name}: window line outside the chart: {ys:?}"
        );
        // A window far above the data says so.
        let far = svg.contains("far above the data");
        assert_eq!(far, ys.iter().all(|&y| (y - 70.0).abs() < 0.5), "{name}");
    }
}
