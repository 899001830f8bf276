//! The programs the tests drive: synack's own command, curl, Python clients and a Python
//! kernel-side server, `ss` and tshark. Each helper fails the test when the program fails.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::harness::*;

/// `synack ARGS…` run to completion.
pub fn synack(args: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_synack")).args(args), b"")
}

/// `synack connect --netns NS ARGS…` run to completion.
pub fn connect(ns: &str, args: &[&str]) -> Output {
    synack(&[&["connect", "--netns", ns], args].concat())
}

/// Checks that `synack connect` exited 0, showing its stderr when it did not.
pub fn assert_connected(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks that `synack ARGS…` fails with `says` in its error, before anything is made.
pub fn assert_refused(args: &[&str], says: &str) {
    let out = synack(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} was accepted");
    assert!(err.contains(says), "{args:?}: {err}");
}

/// curl in namespace `ns`, as the tests call it: silent but for errors, 100 s at most.
pub fn curl(ns: &str, args: &[&str]) -> Output {
    run(
        Command::new("ip")
            .args(["netns", "exec", ns, "curl", "-sS", "--max-time", "100"])
            .args(args),
        b"",
    )
}

/// GETs `url` with curl in `ns` (`extra` before it, e.g. `-6`); returns the HTTP status and
/// the body.
pub fn curl_get(ns: &str, extra: &[&str], url: &str) -> (String, Vec<u8>) {
    static FETCHES: AtomicUsize = AtomicUsize::new(0);
    let file = tmp(&format!("curl-{}", FETCHES.fetch_add(1, Ordering::Relaxed)));
    let out = curl(
        ns,
        &[
            extra,
            &["-o", file.to_str().unwrap(), "-w", "%{http_code}", url],
        ]
        .concat(),
    );
    assert!(out.status.success(), "curl {url}: {out:?}");
    // curl makes no file for an empty body.
    let body = std::fs::read(&file).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    (String::from_utf8_lossy(&out.stdout).into_owned(), body)
}

/// A Python client for an echo server at `host`:`port` (IPv4 or IPv6): `size` random bytes
/// sent while the reply is read, then half-closed. It checks that the echo came back whole,
/// then the server's FIN, and prints `echoed SIZE`.
pub fn echo_client(host: &str, port: u16, size: usize) -> String {
    format!(
        r#"
import os, socket, threading
data = os.urandom({size})
s = socket.create_connection(("{host}", {port}), timeout=60)
assert (s.family == socket.AF_INET6) == (":" in "{host}")
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send); t.start()
got = bytearray()
while True:
    b = s.recv(65536)
    if not b: break
    got += b
t.join()
assert got == data, (len(got), len(data))
s.close()
print("echoed", len(got))
"#
    )
}

/// A Python program in `ns` that the test talks to on its stdin (see [`Watched::say`]).
pub fn python_watched(ns: &str, program: &str) -> Watched {
    Watched::spawn_with_stdin(
        Command::new("ip").args(["netns", "exec", ns, "python3", "-c", program]),
    )
}

/// The kernel's connections in TIME-WAIT in `ns`, as `ss` lists them.
pub fn kernel_time_wait(ns: &str) -> String {
    let out = run(
        Command::new("ip").args(["netns", "exec", ns, "ss", "-tan", "state", "time-wait"]),
        b"",
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A kernel server: for "up" it reads to the end and answers the SHA-256 of what it got;
/// for "down" it sends N bytes of the pattern and closes.
const KERNEL_SERVER: &str = r#"
import hashlib, socket, sys
mode, port, n, host = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
l = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((host, port)); l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
c.settimeout(60)
if mode == "up":
    h = hashlib.sha256(); total = 0
    while True:
        b = c.recv(1 << 20)
        if not b: break
        h.update(b); total += len(b)
    c.sendall(("%d %s\n" % (total, h.hexdigest())).encode())
else:
    pattern = bytes(i % 251 for i in range(251 * 256))
    sent = 0
    while sent < n:
        k = min(len(pattern), n - sent)
        c.sendall(pattern[:k] if sent % 251 == 0 else bytes((sent + i) % 251 for i in range(k)))
        sent += k
c.close()
print("served", flush=True)
"#;

pub fn kernel_server(ns: &str, mode: &str, port: u16, n: usize) -> Watched {
    kernel_server_on(ns, "0.0.0.0", mode, port, n)
}

/// A kernel server bound to `host` ("0.0.0.0" or "::").
pub fn kernel_server_on(ns: &str, host: &str, mode: &str, port: u16, n: usize) -> Watched {
    let mut w = Watched::spawn(Command::new("ip").args([
        "netns",
        "exec",
        ns,
        "python3",
        "-c",
        KERNEL_SERVER,
        mode,
        &port.to_string(),
        &n.to_string(),
        host,
    ]));
    w.wait_for("listening", Duration::from_secs(30));
    w
}

/// The segments in the capture that tshark's analysis calls retransmissions, from `src`
/// only when given.
pub fn retransmissions(pcap: &Path, src: Option<&str>) -> usize {
    let analysis = "tcp.analysis.retransmission || tcp.analysis.fast_retransmission";
    let filter = match src {
        Some(src) => format!("ip.src == {src} && ({analysis})"),
        None => analysis.to_string(),
    };
    let out = run(
        Command::new("tshark").args(["-r", pcap.to_str().unwrap(), "-Y", &filter]),
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).lines().count()
}
