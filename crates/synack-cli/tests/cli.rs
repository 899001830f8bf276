//! The `synack` binary as a user runs it: output formats, files it writes, errors it reports.

use std::path::PathBuf;
use std::process::{Command, Output};

use synack_cli::scenario::SCENARIOS;

fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .env("NO_COLOR", "1")
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

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    dir.join(name)
}

#[test]
fn json_lines_parse_and_end_with_a_summary() {
    let out = stdout(&["demo", "--scenario", "lossy", "--json"]);
    let values: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let (summary, rest) = values.split_last().unwrap();
    let s = &summary["summary"];
    assert_eq!(s["verified"], true);
    assert!(s["fast_retransmits"].as_u64().unwrap() >= 1);
    assert!(s["rto_retransmits"].as_u64().unwrap() >= 1);
    assert_eq!(s["syncookies_sent"], 0);
    assert_eq!(s["syncookies_validated"], 0);
    assert!(s["bytes_sent"].as_u64().unwrap() > 0);
    assert_eq!(s["states"]["client"][0], "CLOSED");
    assert_eq!(s["states"]["server"][1], "LISTEN");
    let packets: Vec<_> = rest.iter().filter(|v| v.get("flags").is_some()).collect();
    let states: Vec<_> = rest.iter().filter(|v| v.get("cause").is_some()).collect();
    assert_eq!(packets.len() + states.len(), rest.len());
    for p in &packets {
        for key in ["time_us", "host", "dir", "seq", "ack", "len", "win", "lost"] {
            assert!(p.get(key).is_some(), "{key} missing in {p}");
        }
    }
    assert!(packets.iter().any(|p| p["lost"] == true));
    // The aimed losses are told apart from random ones, and duplicate ACKs carry their number.
    assert!(
        packets
            .iter()
            .any(|p| p["lost"] == true && p["aimed"] == true)
    );
    assert!(packets.iter().any(|p| p["dup_ack"] == 3));
    assert!(packets.iter().all(|p| p["corrupted"] == false));
    assert!(
        states
            .iter()
            .any(|v| v["to"] == "TIME-WAIT" && v["host"] == "client")
    );
    // Time never goes backwards in the stream.
    let times: Vec<u64> = rest
        .iter()
        .map(|v| v["time_us"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn json_is_byte_identical_for_the_same_seed() {
    for name in ["tour", "lossy"] {
        let args = [
            "demo", "-s", name, "--seed", "3", "--loss", "0.05", "--json",
        ];
        assert_eq!(stdout(&args), stdout(&args), "{name}");
    }
}

#[test]
fn plain_output_has_no_escape_codes_and_fits_100_columns() {
    for s in SCENARIOS.iter() {
        for lang in ["en", "zh"] {
            let out = stdout(&["demo", "-s", s.name, "--lang", lang]);
            assert!(!out.contains('\x1b'), "{}: colour in a pipe", s.name);
            for line in out.lines() {
                let w = synack_cli::text::width(line);
                assert!(w <= 100, "{} {lang}: {w} columns: {line}", s.name);
            }
        }
    }
}

#[test]
fn tour_is_the_default_and_explains_itself() {
    let out = stdout(&["demo"]);
    assert!(out.contains("tour"));
    assert!(out.contains("relative"));
    assert!(out.contains("SYN-SENT"));
    assert!(out.contains("✗ lost"));
    assert!(out.contains("TIME-WAIT → CLOSED"));
    assert!(out.contains("verified"));
    let zh = stdout(&["demo", "--lang", "zh"]);
    assert!(zh.contains("三次握手") && zh.contains("四次挥手"));
    assert!(zh.contains("SYN-SENT"), "state names stay as in the RFC");
}

#[test]
fn bad_input_is_an_error_message_not_a_panic() {
    for args in [
        &["demo", "--scenario", "nonsense"][..],
        &["demo", "--loss", "1.5"],
        &["demo", "--loss", "abc"],
        &["demo", "--rtt", "-3"],
        &["demo", "--lang", "fr"],
    ] {
        let out = synack(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn list_describes_every_scenario() {
    let out = stdout(&["demo", "--list"]);
    for s in SCENARIOS {
        let line = out.lines().find(|l| l.trim_start().starts_with(s.name));
        assert!(line.is_some(), "{} missing from --list", s.name);
    }
}

/// Runs tshark over a capture and returns the packets it flags as malformed or with bad IP
/// or TCP checksums. `None` when tshark is not installed.
fn tshark_problems(path: &std::path::Path) -> Option<String> {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(path)
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            // Retransmissions and duplicate ACKs are expert notes and warnings, which is what
            // the scenarios are about; only malformed packets, bad checksums and errors count.
            "-Y",
            "_ws.malformed || ip.checksum.status == 0 || tcp.checksum.status == 0 \
             || _ws.expert.severity >= 8388608",
        ])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn skip_tshark() {
    eprintln!("SKIPPED: tshark not installed");
    assert!(
        std::env::var_os("CI").is_none(),
        "tshark is required in CI (CI is set)"
    );
}

#[test]
fn pcaps_are_clean_for_tshark() {
    for s in SCENARIOS.iter() {
        let path = tmp(&format!("{}.pcap", s.name));
        let _ = std::fs::remove_file(&path);
        stdout(&["demo", "-s", s.name, "--pcap", path.to_str().unwrap()]);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], &0xa1b2_c3d4u32.to_le_bytes(), "pcap magic");
        let Some(problems) = tshark_problems(&path) else {
            skip_tshark();
            return;
        };
        assert!(problems.trim().is_empty(), "{}: {problems}", s.name);
        // And tshark does see the packets.
        let all = Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .output()
            .unwrap();
        let n = String::from_utf8_lossy(&all.stdout).lines().count();
        assert!(n >= 2, "{}: tshark saw {n} packets", s.name);
    }
}

#[test]
fn picture_commands_write_svg_files() {
    let ladder = tmp("cli-ladder.svg");
    let plot = tmp("cli-plot.svg");
    stdout(&[
        "demo",
        "-s",
        "lossy",
        "--svg",
        ladder.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let states = tmp("cli-states.svg");
    let table = stdout(&[
        "states",
        "--svg",
        states.to_str().unwrap(),
        "--scenario",
        "tour",
    ]);
    assert!(table.is_empty(), "--svg alone prints nothing");
    let plot2 = tmp("cli-plot2.svg");
    stdout(&[
        "plot",
        "-s",
        "zero-window",
        "--out",
        plot2.to_str().unwrap(),
    ]);
    for path in [&ladder, &plot, &states, &plot2] {
        let text = std::fs::read_to_string(path).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert!(doc.root_element().has_tag_name("svg"), "{}", path.display());
    }
    let out = stdout(&["states"]);
    assert!(out.contains("FIN-WAIT-1") && out.contains("rcv FIN"));
    let dot = stdout(&["states", "--dot"]);
    assert!(dot.starts_with("digraph"));
}

#[test]
fn trace_reads_a_demo_capture() {
    let pcap = tmp("cli-trace.pcap");
    stdout(&["demo", "-s", "time-wait", "--pcap", pcap.to_str().unwrap()]);
    let out = stdout(&["trace", pcap.to_str().unwrap()]);
    assert!(out.contains("INFERRED"));
    assert!(out.contains("LAST-ACK → CLOSED"));
    let missing = synack(&["trace", "/nonexistent/x.pcap"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot open"));
}

#[test]
fn absolute_numbers_are_the_ones_on_the_wire() {
    let parse = |args: &[&str]| -> Vec<serde_json::Value> {
        stdout(args)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|v: &serde_json::Value| v.get("flags").is_some())
            .collect()
    };
    let rel = parse(&["demo", "-s", "handshake", "--json"]);
    let abs = parse(&["demo", "-s", "handshake", "--json", "--absolute"]);
    assert_eq!(rel[0]["seq"], 0);
    let (syn, synack, ack) = (&abs[0], &abs[1], &abs[2]);
    assert_ne!(syn["seq"], 0);
    let next = |v: &serde_json::Value| (v["seq"].as_u64().unwrap() + 1) % (1 << 32);
    assert_eq!(synack["ack"].as_u64().unwrap(), next(syn));
    assert_eq!(ack["ack"].as_u64().unwrap(), next(synack));
    let text = stdout(&["demo", "-s", "handshake", "--absolute"]);
    assert!(text.contains("absolute"));
    assert!(text.contains(&format!("seq={}", syn["seq"])));
}

#[test]
fn list_fits_100_columns_in_both_languages() {
    for lang in ["en", "zh"] {
        for line in stdout(&["demo", "--list", "--lang", lang]).lines() {
            let w = synack_cli::text::width(line);
            assert!(w <= 100, "{lang}: {w} columns: {line}");
        }
    }
}
