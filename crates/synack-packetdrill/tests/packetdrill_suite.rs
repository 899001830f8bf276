//! The script suite (`tests/scripts/` at the repository root) run through the library the way
//! packetdrill runs a script in `--so_filename` mode (see `driver/mod.rs` for what that
//! means, read from packetdrill's source). Every script must pass, as it does under synack's
//! own runner, except the few in [`NOT_YET`], valid packetdrill that this driver or the
//! library cannot run yet, each named with why and checked to still stop there;
//! `tests/scripts-beyond-packetdrill/` is left out, since packetdrill cannot run those.

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod driver;

use std::path::{Path, PathBuf};

fn scripts(dir: &Path) -> Vec<PathBuf> {
    synack_script::scripts_under(dir).expect("readable suite directory")
}

/// Why a script setting `TCP_KEEPINIT` or `TCP_NOOPT` stops: those are FreeBSD's, a
/// packetdrill built on Linux has no symbol for them, and the library, which speaks Linux's
/// numbers, answers `ENOPROTOOPT` as Linux would. synack's own runner runs them.
const FREEBSD_ONLY: &str =
    "a FreeBSD option (TCP_KEEPINIT, TCP_NOOPT): Linux has none, the library answers ENOPROTOOPT";

/// Valid packetdrill scripts of the suite that this driver or the library cannot run: (script,
/// text of the error where it must still stop, why). Each is reported, never
/// counted as passed; once it runs, the test says to take its entry out.
const NOT_YET: &[(&str, &str, &str)] = &[
    (
        "ip/tos-time-wait-ack-mapped.pkt",
        "not mapped addresses",
        "--ip_version=ipv4-mapped-ipv6: this driver speaks IPv4 and IPv6 only",
    ),
    (
        "options/keepinit-mid-handshake.pkt",
        "errno 92",
        FREEBSD_ONLY,
    ),
    ("options/keepinit-connect.pkt", "errno 92", FREEBSD_ONLY),
    ("options/keepinit-half-open.pkt", "errno 92", FREEBSD_ONLY),
    ("options/noopt-connect.pkt", "errno 92", FREEBSD_ONLY),
    ("options/noopt-listen.pkt", "errno 92", FREEBSD_ONLY),
];

#[test]
fn the_suite_passes_as_packetdrill_runs_it_through_the_library() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scripts");
    let all = scripts(&root);
    assert!(all.len() >= 10, "{} scripts found", all.len());
    let mut failed = Vec::new();
    let mut not_yet = Vec::new();
    let mut code_lines = 0;
    let mut with_code = 0;
    for path in &all {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let src = std::fs::read_to_string(path).expect("readable script");
        let script = match synack_script::parse(&src) {
            Ok(s) => s,
            Err(e) => {
                failed.push(format!("{name}: parse error {}: {}", e.pos, e.msg));
                continue;
            }
        };
        let out = driver::run(&script);
        code_lines += out.code_lines;
        with_code += usize::from(out.code_lines > 0);
        match (NOT_YET.iter().find(|(n, _, _)| *n == name), out.error) {
            (None, None) => {}
            (None, Some(e)) => failed.push(format!("{name}:{e}")),
            (Some(_), None) => {
                failed.push(format!("{name}: now runs; take it out of NOT_YET"));
            }
            (Some((_, marker, why)), Some(e)) if e.contains(marker) => {
                not_yet.push(format!("{name}: {why}"));
            }
            (Some(_), Some(e)) => failed.push(format!("{name}: stops elsewhere: {e}")),
        }
    }
    for (n, _, _) in NOT_YET {
        assert!(
            all.iter()
                .any(|p| p.strip_prefix(&root).is_ok_and(|p| p == Path::new(n))),
            "NOT_YET names {n}, which is not in the suite"
        );
    }
    println!(
        "packetdrill-style run through the library: {} of {} scripts passed, {} failed, {} \
         not run yet ({code_lines} %{{ }}% lines in {with_code} scripts checked to fail \
         harmlessly and left out; packetdrill itself stops at the first)",
        all.len() - failed.len() - not_yet.len(),
        all.len(),
        failed.len(),
        not_yet.len()
    );
    for n in &not_yet {
        println!("  not run yet: {n}");
    }
    assert!(
        failed.is_empty(),
        "{} of {} scripts failed under the packetdrill-style driver:\n{}",
        failed.len(),
        all.len(),
        failed.join("\n")
    );
}

fn run_src(src: &str) -> driver::Outcome {
    driver::run(&synack_script::parse(src).expect("the test script parses"))
}

const OPEN: &str = "\
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  bind(3, ..., ...) = 0
+0  listen(3, 1) = 0
+0  < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0  > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>
+.1 < . 1:1(0) ack 1 win 1000
+0  accept(3, ..., ...) = 4
";

/// The driver is a check, not a formality: what packetdrill rejects, it rejects.
#[test]
fn the_driver_fails_what_packetdrill_fails() {
    let ok = run_src(&format!(
        "{OPEN}+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n"
    ));
    assert!(ok.error.is_none(), "{:?}", ok.error);
    for (bad, why) in [
        ("+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 2\n", "ack"),
        (
            "+0 write(4, ..., 10) = 10\n+.5 > P. 1:11(10) ack 1\n",
            "timing",
        ),
        ("+0 write(4, ..., 10) = 9\n", "expected result"),
        (
            "+0 read(4, ..., 10) = -1 EBADF (Bad file descriptor)\n",
            "errno",
        ),
        (
            "+0 < P. 1:11(10) ack 1 win 1000 <nop,nop,TS val 1 ecr 0>\n",
            "unable to infer live TS ecr",
        ),
        (
            "+0 getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, \
             tcpi_snd_mss=999}, [104]) = 0\n",
            "TCP_INFO tcpi_snd_mss=1000, expected 999",
        ),
        (
            "+0 write(4, ..., 10) = 10\n+0 > (tos 0x4) P. 1:11(10) ack 1\n",
            "tos",
        ),
        (
            "+0 write(4, ..., 10) = 10\n+0 > (ttl 63) P. 1:11(10) ack 1\n",
            "ttl",
        ),
        (
            "+0 epoll_create(1) = 5\n\
             +0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT, u32=1}) = 0\n\
             +0 epoll_wait(5, {events=EPOLLOUT, u32=2}, 1, 0) = 1\n",
            "epoll_wait events",
        ),
        (
            "+0 recv(4, ..., 10, MSG_PEEK|MSG_DONTWAIT) = 0\n",
            "expected result",
        ),
    ] {
        let out = run_src(&format!("{OPEN}{bad}"));
        let e = out.error.unwrap_or_else(|| panic!("passed: {bad}"));
        assert!(e.contains(why), "{bad}: {e}");
    }
    // A %{ }% line reads nothing of another socket: the real getsockopt on the library's
    // descriptor fails, and is counted.
    let ok = run_src(&format!(
        "{OPEN}+0 getsockopt(4, SOL_TCP, TCP_INFO, {{tcpi_state=TCP_ESTABLISHED, \
         tcpi_snd_mss=1000}}, [104]) = 0\n"
    ));
    assert!(ok.error.is_none(), "{:?}", ok.error);
    let out = run_src(&format!("{OPEN}+0 %{{ assert tcpi_state == 1 }}%\n"));
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.code_lines, 1);
}

/// What tests/scripts-beyond-packetdrill/ holds really is beyond packetdrill.
#[test]
fn scripts_beyond_packetdrill_fail_under_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scripts-beyond-packetdrill");
    let all = scripts(&root);
    assert!(!all.is_empty());
    for path in all {
        let src = std::fs::read_to_string(&path).unwrap();
        let out = run_src(&src);
        assert!(
            out.error.is_some(),
            "{} passes under packetdrill: move it",
            path.display()
        );
    }
}
