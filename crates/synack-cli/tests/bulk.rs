//! `synack demo -s bulk`: K flows over one bottleneck, summarised per flow and in total, in
//! English, Chinese and JSON; its cwnd plot; and the arguments it refuses.

use std::path::PathBuf;
use std::process::{Command, Output};

use synack_sim::jain_index;

fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .output()
        .expect("run synack")
}

fn stdout(args: &[&str]) -> String {
    let out = synack(args);
    assert!(
        out.status.success(),
        "synack {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A small run: two flows of 2 MiB over 20 Mbit/s.
const SMALL: [&str; 10] = [
    "--bytes",
    "2M",
    "--flows",
    "2",
    "--bandwidth",
    "20",
    "--rtt",
    "20",
    "--seed",
    "4",
];

fn bulk(extra: &[&str]) -> Vec<String> {
    let mut args = vec!["demo", "-s", "bulk"];
    args.extend(SMALL);
    args.extend(extra);
    args.into_iter().map(String::from).collect()
}

fn run(extra: &[&str]) -> String {
    let args = bulk(extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    stdout(&refs)
}

fn json(extra: &[&str]) -> Vec<serde_json::Value> {
    let mut e = vec!["--json"];
    e.extend(extra);
    run(&e)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|err| panic!("{err}: {l}")))
        .collect()
}

/// The table's row for `first` (a flow number or the total): its cells after the first.
fn row(text: &str, first: &str) -> Vec<f64> {
    let line = text
        .lines()
        .skip_while(|l| !["flow", "流"].contains(&l.split_whitespace().next().unwrap_or("")))
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in\n{text}"));
    line.split_whitespace()
        .skip(1)
        .map(|c| c.trim_end_matches('*').parse().expect("a number"))
        .collect()
}

#[test]
fn json_has_one_object_per_flow_and_a_total() {
    for cc in ["cubic", "newreno"] {
        let values = json(&["--cc", cc, "--loss", "0.005"]);
        assert_eq!(values.len(), 3, "{cc}: two flows and the total");
        let (total, flows) = values.split_last().unwrap();
        assert_eq!(total["kind"], "total");
        assert_eq!(total["cc"], if cc == "cubic" { "CUBIC" } else { "NewReno" });
        let mut goodputs = Vec::new();
        for (i, f) in flows.iter().enumerate() {
            assert_eq!(f["kind"], "flow");
            assert_eq!(f["flow"], i + 1);
            assert_eq!(f["finished"], true, "{cc}: {f}");
            assert_eq!(f["intact"], true);
            assert_eq!(f["bytes_read"], 2 << 20);
            let g = f["goodput_bps"].as_f64().unwrap();
            assert!(g > 1e6 && g < 20e6, "{cc}: flow {i} at {g} bit/s");
            // Random loss on the data path: each flow recovers, mostly without a timeout.
            assert!(f["retransmissions"].as_u64().unwrap() > 0, "{cc}: {f}");
            assert!(f["fast_recoveries"].as_u64().unwrap() > 0, "{cc}: {f}");
            assert!(f["rtos"].is_u64());
            goodputs.push(g);
        }
        let sum = |k: &str| flows.iter().map(|f| f[k].as_u64().unwrap()).sum::<u64>();
        for k in ["retransmissions", "fast_recoveries", "rtos"] {
            assert_eq!(total[k].as_u64().unwrap(), sum(k), "{cc}: total {k}");
        }
        assert_eq!(total["bytes_read"].as_u64().unwrap(), 2 * (2 << 20));
        let jain = total["jain_index"].as_f64().unwrap();
        assert!((jain - jain_index(&goodputs)).abs() < 1e-9);
        assert!(jain > 0.5 && jain <= 1.0);
        let g = total["goodput_bps"].as_f64().unwrap();
        assert!(g <= 20e6 && g > 5e6, "{cc}: {g} bit/s in all");
        assert!(total["random_losses"].as_u64().unwrap() > 0);
        assert_eq!(total["queue_bytes"], 50_000, "one BDP of 20 Mbit/s × 20 ms");
    }
}

#[test]
fn the_table_shows_each_flow_the_total_and_fairness_in_both_languages() {
    let en = run(&[]);
    let json = json(&[]);
    for (i, v) in json.iter().enumerate() {
        let first = if i + 1 == json.len() {
            "total".to_string()
        } else {
            (i + 1).to_string()
        };
        let cells = row(&en, &first);
        let mbit = v["goodput_bps"].as_f64().unwrap() / 1e6;
        assert!((cells[0] - mbit).abs() < 0.006, "{first}: {cells:?} vs {v}");
        assert_eq!(cells[2], v["retransmissions"].as_f64().unwrap());
        assert_eq!(cells[3], v["fast_recoveries"].as_f64().unwrap());
        assert_eq!(cells[4], v["rtos"].as_f64().unwrap());
    }
    assert!(en.contains("Jain's fairness index"), "{en}");
    assert!(en.contains("K flows") || en.contains("2 flows"), "{en}");
    let zh = run(&["--lang", "zh"]);
    assert!(
        zh.contains("Jain 公平性指数") && zh.contains("合计"),
        "{zh}"
    );
    assert!(zh.contains("拥塞"), "the story is told in Chinese too");
    assert_eq!(row(&zh, "合计"), row(&en, "total"), "the same run");
    for out in [&en, &zh] {
        assert!(!out.contains('\x1b'));
        for line in out.lines() {
            assert!(synack_cli::text::width(line) <= 100, "too wide: {line}");
        }
    }
    assert_eq!(run(&[]), en, "the same seed gives the same figures");
}

#[test]
fn list_and_help_show_the_bulk_scenario() {
    let list = stdout(&["demo", "--list"]);
    assert!(
        list.lines().any(|l| l.trim_start().starts_with("bulk ")),
        "{list}"
    );
    let help = stdout(&["demo", "--help"]);
    assert!(help.contains("bulk"), "{help}");
    for flag in ["--flows", "--bandwidth", "--queue", "--bytes"] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    // The bulk scenario draws no ladder; asking for one is an error, not a panic.
    let out = synack(&["states", "-s", "bulk"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bulk"));
}

#[test]
fn bad_arguments_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["-s", "bulk", "--flows", "0"], "--flows"),
        (&["-s", "bulk", "--flows", "65"], "--flows"),
        (&["-s", "bulk", "--loss", "1.5"], "--loss"),
        (&["-s", "bulk", "--loss", "1"], "--loss"),
        (&["-s", "bulk", "--bandwidth", "0"], "--bandwidth"),
        (&["-s", "bulk", "--bandwidth", "-3"], "--bandwidth"),
        (&["-s", "bulk", "--bandwidth", "nan"], "--bandwidth"),
        (&["-s", "bulk", "--bytes", "0"], "--bytes"),
        (&["-s", "bulk", "--bytes", "3G", "--flows", "2"], "--bytes"),
        (&["-s", "bulk", "--queue", "lots"], "--queue"),
        (&["-s", "bulk", "--rtt", "0"], "--rtt"),
        (&["-s", "bulk", "--pcap", "x.pcap"], "--pcap"),
        (&["-s", "bulk", "--corrupt", "0.1"], "--corrupt"),
        (&["-s", "tour", "--flows", "2"], "bulk"),
        (
            &["-s", "bulk", "--flow-rtts", "10,40", "--flows", "3"],
            "--flow-rtts",
        ),
        (&["-s", "bulk", "--flow-rtts", "10,0"], "--flow-rtts"),
        (&["-s", "bulk", "--flow-rtts", "10,-4"], "--flow-rtts"),
        (&["-s", "bulk", "--flow-rtts", "10,x"], "--flow-rtts"),
    ];
    for (args, flag) in cases {
        let mut all = vec!["demo"];
        all.extend(*args);
        let out = synack(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {err}");
        assert!(!err.contains("panicked"), "{all:?}: {err}");
        assert!(err.contains(flag), "{all:?} should name {flag}: {err}");
    }
}

#[test]
fn plot_draws_one_cwnd_line_per_flow() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bulk-cwnd.svg");
    let _ = std::fs::remove_file(&path);
    let out = path.to_str().unwrap();
    stdout(&[
        "plot",
        "-s",
        "bulk",
        "--flows",
        "3",
        "--bytes",
        "1M",
        "--bandwidth",
        "20",
        "--out",
        out,
    ]);
    let svg = std::fs::read_to_string(&path).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let lines: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("cwnd")))
        .collect();
    assert_eq!(lines.len(), 3, "one line per flow");
    for l in lines {
        let d = l.attribute("d").unwrap();
        assert!(
            d.matches('V').count() > 20,
            "a window that changes over time: {d}"
        );
    }
    // `demo --plot` writes the same picture beside the table.
    let again = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bulk-cwnd-demo.svg");
    run(&["--plot", again.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&again).unwrap().contains("flow2"));
}

#[test]
fn each_flow_can_have_its_own_round_trip() {
    let out = stdout(&[
        "demo",
        "-s",
        "bulk",
        "--flow-rtts",
        "10,40",
        "--bytes",
        "4M",
        "--bandwidth",
        "20",
        "--json",
    ]);
    let values: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(values.len(), 3, "--flows follows the number of round trips");
    assert_eq!(values[0]["rtt_us"], 10_000);
    assert_eq!(values[1]["rtt_us"], 40_000);
    // The queue defaults to one BDP at the longest round trip: 20 Mbit/s × 40 ms.
    assert_eq!(values[2]["queue_bytes"], 100_000);
    // A shorter round trip grows its window faster: the classic RTT unfairness of
    // loss-based congestion control.
    let g = |i: usize| values[i]["goodput_bps"].as_f64().unwrap();
    assert!(g(0) > g(1), "{} vs {}", g(0), g(1));
}

#[test]
fn a_run_that_cannot_finish_stops_at_its_time_limit() {
    // 70 % loss: the flow crawls through timeouts; the run must still end, in bounded
    // simulated time, and say what did not arrive.
    let args = [
        "demo", "-s", "bulk", "--loss", "0.7", "--bytes", "100K", "--flows", "1",
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = stdout(&json_args);
    let values: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let total = values.last().unwrap();
    assert_eq!(total["finished"], false);
    assert_eq!(values[0]["finished"], false);
    assert!(values[0]["bytes_read"].as_u64().unwrap() < 100 * 1024);
    assert!(values[0]["rtos"].as_u64().unwrap() > 0);
    let limit = synack_cli::bulk::MAX_VIRTUAL_TIME.as_micros() as u64;
    assert!(total["duration_us"].as_u64().unwrap() <= limit);
    let text = stdout(&args);
    assert!(text.contains("not finished"), "{text}");
}
