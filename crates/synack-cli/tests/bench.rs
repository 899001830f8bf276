//! `synack bench` at toy sizes: every workload yields every figure it promises, on every
//! stack, as valid JSON lines, and the table a person reads has the ratios. No timing is
//! asserted: speed is what the full-size run prints (README's Measured section), not a test.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::Value;

fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("run synack")
}

const TINY: [&str; 14] = [
    "--runs",
    "1",
    "--bytes",
    "256K",
    "--lifecycles",
    "30",
    "--transactions",
    "50",
    "--conns",
    "200",
    "--handshakes",
    "50",
    "--syns-per-handshake",
    "10",
];

fn is_root() -> bool {
    // The kernel cases run in a fresh namespace only as root; elsewhere they say so.
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn every_workload_gives_every_figure_as_json_lines() {
    if !is_root() {
        assert!(
            std::env::var_os("SYNACK_REQUIRE_NETNS").is_none_or(|v| v != "1"),
            "SYNACK_REQUIRE_NETNS=1 but not root: the kernel cases cannot get a namespace"
        );
        eprintln!(
            "NOTE: not root, so the kernel cases run on the current namespace's loopback \
             (and MTU 1500 is not measured); this test checks they say so"
        );
    }
    let mut args = vec!["bench", "all", "--json"];
    args.extend(TINY);
    let out = synack(&args);
    assert!(
        out.status.success(),
        "synack bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for k in ["bench", "case", "stack", "metric", "unit"] {
            assert!(v[k].is_string(), "{k} missing in {line}");
        }
        let key = (
            v["bench"].as_str().unwrap().to_string(),
            v["case"].as_str().unwrap().to_string(),
            v["stack"].as_str().unwrap().to_string(),
            v["metric"].as_str().unwrap().to_string(),
        );
        assert!(seen.insert(key.clone()), "{key:?} reported twice");
        let value = &v["value"];
        let note = v["note"].as_str().unwrap_or("");
        let (bench, case, stack) = (&key.0[..], &key.1[..], &key.2[..]);
        // What has no value must say why; what must have one must have a positive one.
        let must_measure = match (bench, stack) {
            ("tun", _) if !is_root() => {
                assert!(value.is_null() && note.contains("needs root"), "{line}");
                false
            }
            ("bulk", "smoltcp") if case.contains("-tso-") => {
                assert!(
                    value.is_null() && note.contains("no segmentation offload"),
                    "{line}"
                );
                false
            }
            ("conns", "kernel") if !is_root() => {
                assert!(value.is_null() && note.contains("needs root"), "{line}");
                false
            }
            ("flood", "kernel") if !is_root() => {
                assert!(value.is_null() && note.contains("needs root"), "{line}");
                false
            }
            ("flood", "smoltcp") => {
                // Without SYN cookies smoltcp may complete none: a number, possibly 0.
                let x = value.as_f64().unwrap_or_else(|| panic!("no value: {line}"));
                assert!(x >= 0.0 && x.is_finite(), "{line}");
                assert!(note.contains("no SYN queue or cookies"), "{line}");
                false
            }
            ("bulk", "kernel") if !is_root() && case.starts_with("mtu1500") => {
                assert!(value.is_null() && note.contains("not root"), "{line}");
                false
            }
            _ => true,
        };
        if must_measure {
            let x = value.as_f64().unwrap_or_else(|| panic!("no value: {line}"));
            assert!(x > 0.0 && x.is_finite(), "{line}");
        }
        if bench == "conns" && stack == "kernel" && value.is_number() {
            // Each kernel figure says where it came from: slab caches or a ping-pong.
            assert!(
                ["slabinfo", "tw_sock_TCP", "request and reply"]
                    .iter()
                    .any(|w| note.contains(w)),
                "{line}"
            );
        }
        if bench == "flood" && stack == "kernel" && value.is_number() {
            assert!(
                note.contains("SYN cookies sent") && note.contains("raw socket"),
                "{line}"
            );
        }
        if bench == "tun" && value.is_number() {
            // Each says what it is: the kernel's a veth pair, synack's a TUN device.
            let expect = if stack == "kernel" {
                "veth pair"
            } else {
                "TUN"
            };
            assert!(note.contains(expect), "{line}");
        } else if stack == "kernel" && value.is_number() {
            let expect = if is_root() {
                "fresh network namespace"
            } else {
                "NOT ROOT"
            };
            assert!(note.contains(expect), "{line}");
        }
    }
    let count =
        |bench: &str, stack: &str| seen.iter().filter(|k| k.0 == bench && k.2 == stack).count();
    for stack in ["synack", "smoltcp", "kernel"] {
        // 2 MTUs x computed/offloaded checksums x 2 buffer sizes, and segmentation offload
        // at MTU 1500 x 2 buffer sizes.
        assert_eq!(count("bulk", stack), 10, "{stack}");
        assert_eq!(count("crr", stack), 1, "{stack}");
        assert_eq!(count("rr", stack), 1, "{stack}");
        assert_eq!(count("conns", stack), 4, "{stack}");
        assert_eq!(count("flood", stack), 1, "{stack}");
    }
    // 2 MTUs x offloads off and on x both directions, beside the kernel over veth.
    assert_eq!(count("tun", "synack"), 8);
    assert_eq!(count("tun", "kernel"), 8);
    assert_eq!(count("instructions", "synack"), 1);
    let metrics: BTreeSet<&str> = seen.iter().map(|k| &k.3[..]).collect();
    for m in [
        "throughput",
        "lifecycles_per_sec",
        "transactions_per_sec",
        "bytes_per_established_conn",
        "bytes_per_time_wait",
        "ns_per_packet_1conn",
        "ns_per_packet_1m_conns",
        "legit_handshakes_per_sec",
        "throughput_kernel_to_synack",
        "throughput_synack_to_kernel",
        "instructions",
    ] {
        assert!(metrics.contains(m), "{m} missing");
    }
}

#[test]
fn the_table_names_machine_command_and_ratios() {
    let out = synack(&["bench", "rr", "--runs", "1", "--transactions", "50"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "machine: ",
        "date: ",
        "command: ",
        "vs smoltcp",
        "vs kernel",
        "rr ",
    ] {
        assert!(text.contains(want), "{want:?} missing from\n{text}");
    }
    let row = text
        .lines()
        .find(|l| l.starts_with("rr "))
        .expect("a row for rr");
    let ratios = row
        .split_whitespace()
        .filter(|w| {
            w.strip_suffix('x')
                .is_some_and(|n| n.parse::<f64>().is_ok())
        })
        .count();
    assert_eq!(ratios, 2, "two ratios in {row}");
}

#[test]
fn bad_sizes_are_refused_with_a_message() {
    for bad in [["--bytes", "0"], ["--bytes", "lots"], ["--runs", "0"]] {
        let out = synack(&["bench", "bulk", bad[0], bad[1]]);
        assert!(!out.status.success(), "{bad:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(bad[0]) || err.contains(bad[1]), "{err}");
    }
}

#[test]
fn tun_runs_only_the_cases_asked_for() {
    // As root the one case runs for real (a few MiB each way, in namespaces of its own);
    // elsewhere its figures say why they are missing. Either way only that case appears.
    for (case, want) in [
        ("mtu1500-plain", &["mtu1500-plain"][..]),
        ("mtu65535", &["mtu65535-plain", "mtu65535-offload"][..]),
    ] {
        let out = synack(&[
            "bench", "tun", "--json", "--runs", "1", "--bytes", "4M", "--case", case,
        ]);
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut seen = BTreeSet::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(v["bench"], "tun", "{line}");
            seen.insert(v["case"].as_str().unwrap().to_string());
        }
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(seen, want, "--case {case}");
        // Both directions, synack and the kernel's veth beside it, per case.
        assert_eq!(text.lines().count(), 4 * want.len(), "--case {case}");
    }
}
