//! `synack script`: one line per script, the closing count, the exit status, JSON.

use std::path::PathBuf;
use std::process::{Command, Output};

fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn suite(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scripts")
        .join(name)
        .display()
        .to_string()
}

/// A copy of a suite script with one expectation broken: synack ACKs the FIN with ack 2, the
/// script claims ack 3.
fn broken() -> String {
    let src = std::fs::read_to_string(suite("last-ack/remote-fin-then-close.pkt")).unwrap();
    let bad = src.replacen("> . 1:1(0) ack 2", "> . 1:1(0) ack 3", 1);
    assert_ne!(src, bad, "the edit applies");
    let path = std::env::temp_dir().join(format!("synack-broken-{}.pkt", std::process::id()));
    std::fs::write(&path, bad).unwrap();
    path.display().to_string()
}

#[test]
fn passing_scripts_exit_zero_with_the_count() {
    let a = suite("last-ack/remote-fin-then-close.pkt");
    let out = synack(&["script", &a, &a]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("PASS ") && lines[0].contains("remote-fin-then-close"));
    assert_eq!(lines[2], "2 passed, 0 failed, 0 unsupported");
}

#[test]
fn a_failing_script_shows_both_packets_and_exits_non_zero() {
    let good = suite("last-ack/remote-fin-then-close.pkt");
    let bad = broken();
    let out = synack(&["script", &good, &bad]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success());
    let fail = text
        .lines()
        .find(|l| l.starts_with("FAIL "))
        .expect("a FAIL line");
    assert!(
        fail.contains(&format!("{bad}:10:1:")),
        "names the script line: {fail}"
    );
    assert!(text.contains("expected: > . 1:1(0) ack 3"), "{text}");
    assert!(text.contains("actual:   > . 1:1(0) ack 2"), "{text}");
    assert!(text.contains("ack: 3 vs 2"), "{text}");
    assert_eq!(
        text.lines().last(),
        Some("1 passed, 1 failed, 0 unsupported")
    );
}

#[test]
fn json_has_one_object_per_script_and_the_counts() {
    let good = suite("last-ack/remote-fin-then-close.pkt");
    let bad = broken();
    let out = synack(&["script", "--json", &good, &bad]);
    assert!(!out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["passed"], true);
    assert_eq!(v[1]["passed"], false);
    assert_eq!(v[1]["line"], 10);
    assert!(v[1]["message"].as_str().unwrap().contains("ack: 3 vs 2"));
    assert_eq!(v[2]["passed"], 1);
    assert_eq!(v[2]["failed"], 1);
}

#[test]
fn unreadable_and_unparsable_scripts_fail_cleanly() {
    let path = std::env::temp_dir().join(format!("synack-garbage-{}.pkt", std::process::id()));
    std::fs::write(&path, "0 < S 0:5(2) win 10\n").unwrap();
    let p = path.display().to_string();
    let out = synack(&["script", &p, "/nonexistent/x.pkt"]);
    assert!(!out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("FAIL {p}:1:")), "{text}");
    assert!(
        text.contains("parse error: payload length 2 does not match 0:5"),
        "{text}"
    );
    assert!(text.contains("cannot read the script"), "{text}");
    assert!(text.ends_with("0 passed, 2 failed, 0 unsupported\n"));
}

#[test]
fn a_script_needing_a_missing_feature_is_skipped_not_failed() {
    let good = suite("last-ack/remote-fin-then-close.pkt");
    let src = std::fs::read_to_string(&good).unwrap();
    // The same conversation with a Fast Open cookie on the peer's SYN.
    let tfo = src.replacen("<mss 1000,", "<FO 0102030405060708,mss 1000,", 1);
    assert_ne!(src, tfo, "the edit applies");
    let path = std::env::temp_dir().join(format!("synack-tfo-{}.pkt", std::process::id()));
    std::fs::write(&path, tfo).unwrap();
    let path = path.display().to_string();
    let out = synack(&["script", &good, &path]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "unsupported is not a failure: {text}");
    let skip = text
        .lines()
        .find(|l| l.starts_with("SKIP "))
        .expect("a SKIP line");
    assert!(
        skip.contains("unsupported: the TCP Fast Open option"),
        "{skip}"
    );
    // The reasons, grouped and counted, come before the counts line.
    let tail: Vec<&str> = text.lines().rev().take(3).collect();
    assert_eq!(
        tail,
        [
            "1 passed, 0 failed, 1 unsupported",
            "     1  the TCP Fast Open option (RFC 7413)",
            "unsupported, by reason:",
        ]
    );
    let out = synack(&["script", "--json", &path, &path]);
    let text = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["unsupported"], 2);
    assert_eq!(
        last["unsupported_reasons"]["the TCP Fast Open option (RFC 7413)"],
        2
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn the_address_family_is_chosen_on_the_command_line() {
    // Binding synack's IPv6 address works only when the script runs over IPv6.
    let src = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
               +0 bind(3, {sa_family=AF_INET6, sin6_port=htons(8080), \
               sin6_addr=inet6_addr(\"fd3d:fa7b:d17d::1\")}, 28) = 0\n";
    let path = std::env::temp_dir().join(format!("synack-v6-{}.pkt", std::process::id()));
    std::fs::write(&path, src).unwrap();
    let path = path.display().to_string();
    let out = synack(&["script", "--ip-version", "ipv6", &path]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.lines().last(),
        Some("1 passed, 0 failed, 0 unsupported")
    );
    let out = synack(&["script", &path]);
    assert!(!out.status.success(), "over IPv4 the bind fails");
    let out = synack(&["script", "--ip-version", "ipv5", &path]);
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("ipv5"));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn an_empty_script_fails_with_no_events() {
    let path = std::env::temp_dir().join(format!("synack-empty-{}.pkt", std::process::id()));
    std::fs::write(&path, "// nothing but a comment\n").unwrap();
    let p = path.display().to_string();
    let out = synack(&["script", &p]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&format!("FAIL {p}")), "{text}");
    assert!(text.contains("no events"), "{text}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_directory_runs_the_pkt_files_under_it() {
    let dir = suite("last-ack");
    let expected = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "pkt")
        })
        .count();
    assert!(expected >= 2);
    let out = synack(&["script", &dir]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.lines().last(),
        Some(format!("{expected} passed, 0 failed, 0 unsupported").as_str())
    );
    // Sorted, each named by its own path.
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("PASS "))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.iter().all(|n| n.contains("last-ack/")));
    // A directory with no scripts in it is a failure, not silence.
    let empty = std::env::temp_dir().join(format!("synack-nodir-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = synack(&["script", &empty.display().to_string()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("no .pkt files")
    );
}

/// Each script in `tests/scripts-disagreements/` states the RFC where synack chose otherwise,
/// and marks the one line where synack's behaviour departs from it. The script must fail
/// exactly there: failing earlier (a SYN-ACK option the script did not mean to pin down, a
/// typo) would keep it "failing" whatever synack did about the behaviour it documents.
#[test]
fn disagreements_fail_on_the_line_they_document() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scripts-disagreements");
    let out = synack(&["script", "--json", &dir.display().to_string()]);
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let (counts, scripts) = v.split_last().unwrap();
    assert!(scripts.len() >= 2, "{text}");
    assert_eq!(counts["failed"], scripts.len() as u64, "{text}");
    for s in scripts {
        let path = s["script"].as_str().unwrap();
        let src = std::fs::read_to_string(path).unwrap();
        let marked: Vec<usize> = src
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("// synack differs here"))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(marked.len(), 1, "{path}: mark exactly one line");
        assert_eq!(s["passed"], false, "{path} now passes: move it");
        assert_eq!(s["unsupported"], false, "{path}");
        assert_eq!(
            s["line"].as_u64(),
            Some(marked[0] as u64),
            "{path} fails elsewhere: {}",
            s["message"]
        );
    }
}
