//! `synack script FILE.pkt...`: runs packetdrill-format scripts against synack on virtual time
//! and prints one line per script, then `N passed, M failed, K unsupported`. A script that
//! stops at a feature synack lacks (Fast Open, ECN, TSO-merged segments, `sendmsg`...) is a
//! `SKIP`, counted apart from the failures: it says nothing about synack's behaviour. A
//! directory stands for the `.pkt` files under it; a script with no events fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;
use synack_script::{Report, RunConfig, run_script};

/// The printed result of a run and whether no script failed (unsupported ones aside).
pub struct Outcome {
    pub text: String,
    pub all_passed: bool,
}

fn failure_report(message: String) -> Report {
    Report {
        failure: Some(synack_script::Failure {
            pos: Default::default(),
            message,
            kind: synack_script::FailureKind::Mismatch,
        }),
        notes: Vec::new(),
        events_run: 0,
        virtual_time: Default::default(),
    }
}

fn one(path: &Path, config: &RunConfig) -> Report {
    // Shell files the script runs (`../common/defaults.sh`) are found next to it.
    let config = RunConfig {
        script_dir: path.parent().map(Path::to_path_buf),
        ..config.clone()
    };
    match std::fs::read_to_string(path) {
        Ok(src) => {
            let report = run_script(&src, &config);
            // A script that does nothing checks nothing: an empty file (or one of comments
            // only) is far more likely a mistake than a test, so it must not count as a pass.
            if report.passed() && report.events_run == 0 {
                return failure_report(
                    "no events: the script has no calls, packets or asserts".into(),
                );
            }
            report
        }
        Err(e) => failure_report(format!("cannot read the script: {e}")),
    }
}

/// The scripts to run for the paths given: a file as it is, a directory as every `.pkt` file
/// under it (subdirectories too, as `tests/scripts/` groups its scripts by state), sorted.
pub fn expand(paths: &[impl AsRef<Path>]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            // Unreadable: kept, so that running it reports why.
            out.push(dir.to_path_buf());
            return;
        };
        let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        found.sort();
        for p in found {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "pkt") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        if p.is_dir() {
            let before = out.len();
            walk(p, &mut out);
            if out.len() == before {
                // Said as a failure of that directory rather than silently nothing.
                out.push(p.to_path_buf());
            }
        } else {
            out.push(p.to_path_buf());
        }
    }
    out
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
    for path in expand(paths) {
        let path = path.as_path();
        let r = if path.is_dir() {
            failure_report("no .pkt files in this directory".into())
        } else {
            one(path, config)
        };
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
