//! Builds a small C program with gcc that dlopens the library and drives it through
//! packetdrill's shared-object interface: a handshake, data, a retransmission found by moving
//! the virtual clock, a blocking read on a second thread, refusals, the closing FIN.

use std::path::PathBuf;
use std::process::Command;

fn library() -> PathBuf {
    // target/<profile>/deps/c_harness-<hash> -> target/<profile>/libsynack_packetdrill.so
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("libsynack_packetdrill.so")
}

#[test]
fn a_c_program_drives_a_handshake_through_the_interface() {
    let lib = library();
    assert!(lib.exists(), "the cdylib was built at {}", lib.display());
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let bin = out_dir.join("pd_harness");
    let cc = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&bin)
        .arg(src.join("harness.c"))
        .arg("-I")
        .arg(&src)
        .args(["-ldl", "-lpthread"])
        .output()
        .expect("gcc runs");
    assert!(
        cc.status.success(),
        "gcc failed:\n{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let run = Command::new(&bin)
        .arg(&lib)
        .output()
        .expect("the harness runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "harness failed:\n{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "init ok",
            "listening",
            "handshake ok",
            "data and retransmission ok",
            "blocking read ok",
            "blocking connect ok",
            "all ok"
        ]
    );
    // The refusals said why.
    assert!(stderr.contains("unsupported"), "{stderr}");
}
