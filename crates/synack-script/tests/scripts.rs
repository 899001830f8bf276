//! Runs every script of the suite under `tests/scripts/` at the repository root, and those
//! of `tests/scripts-beyond-packetdrill/` (cases packetdrill cannot express, which only
//! synack's runner checks). A failing script is named with its line and the runner's
//! message.

use std::path::PathBuf;

use synack_script::{RunConfig, run_script};

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scripts")
}

fn beyond_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scripts-beyond-packetdrill")
}

fn scripts(root: PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("tests/scripts exists") {
            let p = e.expect("readable entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "pkt") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_script_in_the_suite_passes() {
    let suite = scripts(suite_dir());
    assert!(
        suite.len() >= 10,
        "the suite has scripts ({} found)",
        suite.len()
    );
    let beyond = scripts(beyond_dir());
    assert!(
        !beyond.is_empty(),
        "tests/scripts-beyond-packetdrill has scripts"
    );
    let all: Vec<PathBuf> = suite.into_iter().chain(beyond).collect();
    let mut failed = Vec::new();
    for path in &all {
        let src = std::fs::read_to_string(path).expect("readable script");
        let report = run_script(&src, &RunConfig::default());
        let name = path
            .strip_prefix(suite_dir().join(".."))
            .unwrap_or(path)
            .display()
            .to_string();
        if let Some(f) = report.failure {
            failed.push(format!("{name}:{}: {}", f.pos, f.message));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} scripts failed:\n{}",
        failed.len(),
        all.len(),
        failed.join("\n\n")
    );
}

/// Scripts that state the RFC where synack chose otherwise (each explains why). They must
/// still fail: once synack follows the RFC there, the script moves into the suite.
#[test]
fn known_disagreements_still_disagree() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scripts-disagreements");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("tests/scripts-disagreements exists") {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "pkt") {
            continue;
        }
        n += 1;
        let src = std::fs::read_to_string(&path).unwrap();
        let report = run_script(&src, &RunConfig::default());
        let f = report
            .failure
            .unwrap_or_else(|| panic!("{} now passes: move it into tests/scripts", path.display()));
        // It fails on the behaviour it is about, not on a typo.
        assert!(
            f.message.contains("outbound packet") && !f.message.starts_with("parse error"),
            "{} fails for another reason: {}",
            path.display(),
            f.message
        );
    }
    assert!(n > 0);
}
