//! Compiles `tests/harness/harness.c` with the system C compiler and runs it against the
//! built `libsynack_packetdrill.so`: the library driven from C through `dlopen`, exactly as
//! packetdrill's `--so_filename` mode drives it (see the harness for the scenarios).
//!
//! Without a C compiler the test says so loudly and passes, except under CI (`CI` set),
//! where a missing compiler is a failure.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const LIB: &str = "libsynack_packetdrill.so";

/// The cdylib cargo built for this test run: next to the test binary (`target/<profile>/deps`)
/// or one level up; failing both, build it.
fn library() -> PathBuf {
    let exe = env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    let candidates = [
        deps.join(LIB),
        deps.parent().map(|p| p.join(LIB)).unwrap_or_default(),
    ];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return found.clone();
    }
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "synack-packetdrill", "--lib"])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build of the cdylib failed");
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{LIB} not found next to {}", exe.display()))
}

/// `$CC`, else the first of cc, gcc, clang that runs.
fn compiler() -> Option<String> {
    let mut names: Vec<String> = env::var("CC").into_iter().collect();
    names.extend(["cc", "gcc", "clang"].map(String::from));
    names.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn packetdrill_style_driver_written_in_c() {
    let Some(cc) = compiler() else {
        let msg = "NO C COMPILER FOUND (tried $CC, cc, gcc, clang): the C harness for \
                   libsynack_packetdrill.so did not run";
        if env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("\n*** SKIPPED: {msg} ***\n");
        return;
    };
    let lib = library();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("synack-packetdrill-harness");
    let built = Command::new(&cc)
        .args([
            "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pthread",
        ])
        .arg("-I")
        .arg(&src)
        .arg(src.join("harness.c"))
        .arg("-o")
        .arg(&out)
        .arg("-ldl")
        .output()
        .expect("run the C compiler");
    assert!(
        built.status.success(),
        "{cc} failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = Command::new(&out)
        .arg(&lib)
        .output()
        .expect("run the harness");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{stdout}{stderr}");
    assert!(
        run.status.success(),
        "harness failed ({}) against {}:\n{stdout}{stderr}",
        run.status,
        lib.display()
    );
    assert!(
        stdout.contains("checks passed"),
        "harness ended early:\n{stdout}"
    );
}
