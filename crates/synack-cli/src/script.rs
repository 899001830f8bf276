//! `synack script FILE.pkt...`: runs packetdrill-format scripts against synack on virtual time
//! and prints one line per script, then `N passed, M failed, K unsupported`. A script that
//! stops at a feature synack lacks (Fast Open, ECN, TSO-merged segments, `sendmsg`...) is a
//! `SKIP`, counted apart from the failures: it says nothing about synack's behaviour.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;
use synack_script::{Report, RunConfig, run_script};

/// The printed result of a run and whether no script failed (unsupported ones aside).
pub struct Outcome {
    pub text: String,
    pub all_passed: bool,
}

fn one(path: &Path, config: &RunConfig) -> Report {
    // Shell files the script runs (`../common/defaults.sh`) are found next to it.
    let config = RunConfig {
        script_dir: path.parent().map(Path::to_path_buf),
        ..config.clone()
    };
    match std::fs::read_to_string(path) {
        Ok(src) => run_script(&src, &config),
        Err(e) => Report {
            failure: Some(synack_script::Failure {
                pos: Default::default(),
                message: format!("cannot read the script: {e}"),
                kind: synack_script::FailureKind::Mismatch,
            }),
            notes: Vec::new(),
            events_run: 0,
            virtual_time: Default::default(),
        },
    }
}

/// Runs `paths` in order. `verbose` adds the notes (skipped shell lines, options).
pub fn run(
    paths: &[impl AsRef<Path>],
    config: &RunConfig,
    as_json: bool,
    verbose: bool,
) -> Outcome {
    let mut text = String::new();
    let (mut passed, mut failed, mut unsupported) = (0usize, 0usize, 0usize);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for p in paths {
        let path = p.as_ref();
        let r = one(path, config);
        if r.passed() {
            passed += 1;
        } else if r.unsupported() {
            unsupported += 1;
            let why = r.failure.as_ref().and_then(|f| f.reason());
            *reasons.entry(why.unwrap_or_default()).or_default() += 1;
        } else {
            failed += 1;
        }
        if as_json {
            let v = json!({
                "script": path.display().to_string(),
                "passed": r.passed(),
                "unsupported": r.unsupported(),
                "events": r.events_run,
                "virtual_us": r.virtual_time.as_micros() as u64,
                "line": r.failure.as_ref().map(|f| f.pos.line),
                "column": r.failure.as_ref().map(|f| f.pos.col),
                "message": r.failure.as_ref().map(|f| f.message.clone()),
                "notes": r.notes,
            });
            let _ = writeln!(text, "{v}");
            continue;
        }
        match &r.failure {
            None => {
                let _ = writeln!(
                    text,
                    "PASS {} ({} events, {:.3} s of virtual time)",
                    path.display(),
                    r.events_run,
                    r.virtual_time.as_secs_f64()
                );
            }
            Some(f) => {
                let mut lines = f.message.lines();
                let _ = writeln!(
                    text,
                    "{} {}:{}: {}",
                    if r.unsupported() { "SKIP" } else { "FAIL" },
                    path.display(),
                    f.pos,
                    lines.next().unwrap_or("")
                );
                for l in lines {
                    let _ = writeln!(text, "     {l}");
                }
            }
        }
        if verbose {
            for n in &r.notes {
                let _ = writeln!(text, "     note: {n}");
            }
        }
    }
    if as_json {
        let _ = writeln!(
            text,
            "{}",
            json!({
                "passed": passed,
                "failed": failed,
                "unsupported": unsupported,
                "unsupported_reasons": reasons,
            })
        );
    } else {
        // The gaps at a glance, most scripts first; the counts line stays the last line.
        let mut by_count: Vec<(&String, &usize)> = reasons.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        if !by_count.is_empty() {
            let _ = writeln!(text, "unsupported, by reason:");
        }
        for (why, n) in by_count {
            let _ = writeln!(text, "{n:6}  {why}");
        }
        let _ = writeln!(
            text,
            "{passed} passed, {failed} failed, {unsupported} unsupported"
        );
    }
    Outcome {
        text,
        all_passed: failed == 0,
    }
}
