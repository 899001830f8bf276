//! Runs every script of the suite under `tests/scripts/` at the repository root, each as its
//! own test case once per address family: `established/data.pkt ipv4`, `... ipv6` and `...
//! ipv4-mapped-ipv6` (so `cargo test -p synack-script --test scripts fin-wait-2` runs one
//! state's scripts); a script with its own `--ip_version` line runs in that family only. A
//! failing case is named with its line and the runner's message; a script
//! that stops as unsupported fails too, since the suite is ours and must run whole.
//!
//! The scripts of `tests/scripts-beyond-packetdrill/` (cases packetdrill cannot express,
//! which only synack's runner checks) run the same way, named by their path from the
//! repository root.
//!
//! The scripts of `tests/scripts-disagreements/` (where synack chose otherwise than the RFC,
//! each saying why) run as well and must still fail, on the behaviour they are about.

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use synack_script::{FailureKind, IpVersion, RunConfig, run_script};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scripts(dir: &Path) -> Vec<PathBuf> {
    synack_script::scripts_under(dir).expect("the scripts' directory exists")
}

fn config(version: IpVersion, path: &Path) -> RunConfig {
    RunConfig {
        ip_version: version,
        script_dir: path.parent().map(Path::to_path_buf),
        ..RunConfig::default()
    }
}

/// The family a script's own `--ip_version` line fixes, if any.
fn pinned(path: &Path) -> Option<IpVersion> {
    let src = std::fs::read_to_string(path).ok()?;
    let script = synack_script::parse(&src).ok()?;
    script
        .options
        .iter()
        .find(|(name, _, _)| name == "ip_version")
        .and_then(|(_, value, _)| IpVersion::from_name(value))
}

fn passes(path: &Path, version: IpVersion) -> Result<(), Failed> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("unreadable: {e}"))?;
    let report = run_script(&src, &config(version, path));
    match report.failure {
        None => Ok(()),
        Some(f) => Err(format!("{}:{}: {}", path.display(), f.pos, f.message).into()),
    }
}

/// Once synack follows the RFC there, the script moves into the suite.
fn still_disagrees(path: &Path, version: IpVersion) -> Result<(), Failed> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("unreadable: {e}"))?;
    let report = run_script(&src, &config(version, path));
    let Some(f) = report.failure else {
        return Err(format!("{} now passes: move it into tests/scripts", path.display()).into());
    };
    // It fails on the behaviour it is about, not on a typo or a missing feature.
    if f.kind != FailureKind::Mismatch || f.message.starts_with("parse error") {
        return Err(format!("{} fails for another reason: {}", path.display(), f.message).into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let suite = root().join("tests/scripts");
    let disagreements = root().join("tests/scripts-disagreements");
    let versions = [IpVersion::V4, IpVersion::V6, IpVersion::V4MappedV6];
    let mut trials = Vec::new();
    let all = scripts(&suite);
    assert!(
        all.len() >= 10,
        "the suite has scripts ({} found)",
        all.len()
    );
    for path in all {
        let name = path
            .strip_prefix(&suite)
            .unwrap_or(&path)
            .display()
            .to_string();
        // A script about one family's header fields says which with `--ip_version`.
        for v in pinned(&path).map_or(versions.to_vec(), |v| vec![v]) {
            let path = path.clone();
            trials.push(Trial::test(format!("{name} {}", v.name()), move || {
                passes(&path, v)
            }));
        }
    }
    let beyond = scripts(&root().join("tests/scripts-beyond-packetdrill"));
    assert!(
        !beyond.is_empty(),
        "tests/scripts-beyond-packetdrill has scripts"
    );
    for path in beyond {
        let name = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        for v in pinned(&path).map_or(versions.to_vec(), |v| vec![v]) {
            let path = path.clone();
            trials.push(Trial::test(format!("{name} {}", v.name()), move || {
                passes(&path, v)
            }));
        }
    }
    let known = scripts(&disagreements);
    assert!(!known.is_empty(), "tests/scripts-disagreements has scripts");
    for path in known {
        let name = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        for v in versions {
            let path = path.clone();
            trials.push(Trial::test(
                format!("{name} {} still disagrees", v.name()),
                move || still_disagrees(&path, v),
            ));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
