//! `synack serve`'s applications (HTTP, echo, discard, chargen) against curl, Python's socket
//! module and `ss`, on a clean link.

use std::process::Command;
use std::time::Duration;

use crate::harness::*;
use crate::programs::*;

#[test]
fn curl_gets_bodies_whole_heads_and_keeps_the_connection_alive() {
    if !netns_available("curl_gets_bodies_whole_heads_and_keeps_the_connection_alive") {
        return;
    }
    let serve = Serve::start("http", &["--app", "http"]);
    let ns = serve.ns.clone();
    for (port, n) in [(8080, 1 << 20), (80, 100 << 20)] {
        let url = format!("http://10.77.0.2:{port}/bytes/{n}");
        let (status, body) = curl_get(&ns, &[], &url);
        assert_eq!(status, "200");
        assert_eq!(body.len(), n);
        assert_eq!(sha256(&body), sha256(&pattern(n)), "{url}: body differs");
    }
    // HEAD: the head GET would send, no body.
    let out = curl(&ns, &["-I", "http://10.77.0.2:8080/bytes/12345"]);
    let head = String::from_utf8_lossy(&out.stdout);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Length: 12345"), "{head}");
    // Two requests, one connection: curl says it re-used it, and both bodies are right.
    let (a, b) = (tmp("ka-a"), tmp("ka-b"));
    let out = curl(
        &ns,
        &[
            "-v",
            "-o",
            a.to_str().unwrap(),
            "-o",
            b.to_str().unwrap(),
            "http://10.77.0.2:8080/bytes/1000",
            "http://10.77.0.2:8080/bytes/70000",
        ],
    );
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{verbose}");
    assert!(
        verbose.contains("Re-using existing connection"),
        "curl opened a second connection:\n{verbose}"
    );
    assert_eq!(std::fs::read(&a).unwrap(), pattern(1000));
    assert_eq!(std::fs::read(&b).unwrap(), pattern(70000));
    let _ = (std::fs::remove_file(a), std::fs::remove_file(b));
    // A missing path is a 404, not a hang or a reset.
    let (status, _) = curl_get(&ns, &[], "http://10.77.0.2/nope");
    assert_eq!(status, "404");
    let log = serve.stop();
    assert!(log.contains("LISTEN -> SYN-RECEIVED"), "{log}");
    assert!(log.contains("SYN-RECEIVED -> ESTABLISHED"), "{log}");
    assert!(log.contains("-> CLOSED"), "{log}");
}

#[test]
fn http_root_serves_files_and_nothing_outside_it() {
    if !netns_available("http_root_serves_files_and_nothing_outside_it") {
        return;
    }
    let root = tmp("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(root.join("sub/file.bin"), &data).unwrap();
    let serve = Serve::start(
        "root",
        &[
            "--app",
            "http",
            "--port",
            "8000",
            "--http-root",
            root.to_str().unwrap(),
        ],
    );
    let (_, body) = curl_get(&serve.ns, &[], "http://10.77.0.2:8000/sub/file.bin");
    assert_eq!(sha256(&body), sha256(&data));
    let (status, _) = curl_get(
        &serve.ns,
        &["--path-as-is"],
        "http://10.77.0.2:8000/../etc/passwd",
    );
    assert_eq!(status, "404");
    // Only the port asked for: the default ones are refused (curl's exit 7, "failed to
    // connect", at once; a timeout would be 28).
    let out = curl(&serve.ns, &["http://10.77.0.2:80/"]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    serve.stop();
    let _ = std::fs::remove_dir_all(root);
}

/// We close first: the discard server's FIN follows ours and our recv sees the end; then a
/// port nobody serves is refused with a reset.
const DISCARD_CLIENT: &str = r#"
import socket
s = socket.create_connection(("10.77.0.2", 9), timeout=30)
s.sendall(b"x" * 100000)
s.shutdown(socket.SHUT_WR)
assert s.recv(10) == b""
s.close()
try:
    socket.create_connection(("10.77.0.2", 4444), timeout=30)
    raise SystemExit("port 4444 was not refused")
except ConnectionRefusedError:
    pass
print("closes ok")
"#;

/// chargen writes until we go: we read the first line (RFC 864's pattern) and close.
const CHARGEN_CLIENT: &str = r##"
import socket
s = socket.create_connection(("10.77.0.2", 19), timeout=30)
first = b""
while len(first) < 74:
    first += s.recv(74 - len(first))
assert first == bytes(range(32, 104)) + b"\r\n", first
s.close()
print("closes ok")
"##;

/// synack's HTTP server closes on a malformed request with our extra bytes unread: a
/// close with unread data is an abort (RFC 1122 §4.2.2.13, as Linux does), which the kernel
/// reports as ConnectionResetError.
const ABORTED: &str = r#"
import socket, time
s = socket.create_connection(("10.77.0.2", 80), timeout=30)
try:
    # The reset may come while we are still sending.
    s.sendall(b"BROKEN\r\n\r\n" + b"y" * 200000)
    while s.recv(65536):
        pass
    raise SystemExit("clean end of stream, no reset")
except ConnectionResetError:
    print("reset")
"#;

/// `Connection: close`: the server's FIN follows the body, before the client closes.
const SERVER_CLOSES_FIRST: &str = r#"
import socket
s = socket.create_connection(("10.77.0.2", 80), timeout=30)
s.sendall(b"GET /bytes/5000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
got = bytearray()
while True:
    b = s.recv(65536)
    if not b: break
    got += b
body = got[got.index(b"\r\n\r\n") + 4:]
assert body == bytes(i % 251 for i in range(5000)), len(body)
s.close()
print("clean end")
"#;

#[test]
fn python_clients_echo_half_close_refused_ports_and_resets() {
    if !netns_available("python_clients_echo_half_close_refused_ports_and_resets") {
        return;
    }
    let echo = Serve::start("echo", &["--app", "echo"]);
    let out = python(&echo.ns, &echo_client("10.77.0.2", 7, 4 << 20), b"");
    assert!(out.contains("echoed 4194304"), "{out}");
    // The kernel closed first (its FIN before ours), so its side waits in TIME-WAIT.
    let ss = kernel_time_wait(&echo.ns);
    assert!(
        ss.contains("10.77.0.2:7"),
        "no TIME-WAIT on the kernel's side:\n{ss}"
    );
    let log = echo.stop();
    assert!(log.contains("ESTABLISHED -> CLOSE-WAIT"), "{log}");

    for (app, program) in [("discard", DISCARD_CLIENT), ("chargen", CHARGEN_CLIENT)] {
        let serve = Serve::start(app, &["--app", app]);
        let out = python(&serve.ns, program, b"");
        assert!(out.contains("closes ok"), "{out}");
        serve.stop();
    }

    let http = Serve::start("abort", &["--app", "http"]);
    let out = python(&http.ns, ABORTED, b"");
    assert!(out.contains("reset"), "{out}");
    // synack closes first this time: the kernel reads a clean end of stream and keeps no
    // TIME-WAIT (that is on synack's side now).
    let out = python(&http.ns, SERVER_CLOSES_FIRST, b"");
    assert!(out.contains("clean end"), "{out}");
    let ss = kernel_time_wait(&http.ns);
    assert!(
        !ss.contains("10.77.0.2:80"),
        "the kernel is in TIME-WAIT:\n{ss}"
    );
    http.stop();
}

/// Reads the first 64 KiB of a large body, then stops reading until told on stdin, so the
/// connection stays ESTABLISHED while the test looks at it with `ss`.
const PAUSED_CLIENT: &str = r#"
import socket, sys
n = 8 << 20
s = socket.create_connection(("10.77.0.2", 8080), timeout=60)
s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % n)
got = bytearray()
while len(got) < 65536:
    got += s.recv(65536)
print("paused", flush=True)
sys.stdin.readline()
while True:
    b = s.recv(1 << 20)
    if not b: break
    got += b
body = got[got.index(b"\r\n\r\n") + 4:]
assert len(body) == n, len(body)
assert all(body[i] == i % 251 for i in range(0, n, 4093))
print("done", len(body), flush=True)
"#;

#[test]
fn the_kernel_sees_an_established_connection_with_rtt_and_cwnd() {
    if !netns_available("the_kernel_sees_an_established_connection_with_rtt_and_cwnd") {
        return;
    }
    let serve = Serve::start("ss", &["--app", "http"]);
    let mut client = python_watched(&serve.ns, PAUSED_CLIENT);
    client.wait_for("paused", Duration::from_secs(60));
    let out = run(
        Command::new("ip").args(["netns", "exec", &serve.ns, "ss", "-tin", "dst", "10.77.0.2"]),
        b"",
    );
    let ss = String::from_utf8_lossy(&out.stdout);
    assert!(ss.contains("ESTAB"), "{ss}");
    assert!(ss.contains("10.77.0.2:8080"), "{ss}");
    assert!(ss.contains(" rtt:") && ss.contains(" cwnd:"), "{ss}");
    client.say("go");
    client.wait_for("done 8388608", PATIENCE);
    assert!(client.child.wait().unwrap().success());
    serve.stop();
}

#[test]
fn serve_on_a_multi_queue_interface_echoes() {
    if !netns_available("serve_on_a_multi_queue_interface_echoes") {
        return;
    }
    let echo = Serve::start("queues", &["--app", "echo", "--queues", "4"]);
    let out = run(
        Command::new("ip").args(["-n", &echo.ns, "-d", "link", "show", "synack0"]),
        b"",
    );
    let link = String::from_utf8_lossy(&out.stdout);
    assert!(
        link.contains("multi_queue") && link.contains("numqueues 4"),
        "{link}"
    );
    let out = python(&echo.ns, &echo_client("10.77.0.2", 7, 4 << 20), b"");
    assert!(out.contains("echoed 4194304"), "{out}");
    echo.stop();
}
