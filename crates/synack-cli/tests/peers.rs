//! `synack serve` and `synack connect` against the Linux kernel's TCP and programs nobody
//! here wrote (curl, Python's socket module, ss). Each test runs in namespaces of its own,
//! created and deleted by the test (or by the `synack` process it starts and stops).

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod harness;

use std::process::Command;
use std::time::Duration;

use harness::*;

fn curl(ns: &str, args: &[&str]) -> std::process::Output {
    run(
        Command::new("ip")
            .args(["netns", "exec", ns, "curl", "-sS", "--max-time", "100"])
            .args(args),
        b"",
    )
}

#[test]
fn curl_gets_bodies_whole_heads_and_keeps_the_connection_alive() {
    if !netns_available("curl_gets_bodies_whole_heads_and_keeps_the_connection_alive") {
        return;
    }
    let serve = Serve::start("http", &["--app", "http"]);
    let ns = serve.ns.clone();
    for (port, n) in [(8080, 1 << 20), (80, 100 << 20)] {
        let file = tmp(&format!("body-{n}"));
        let url = format!("http://10.77.0.2:{port}/bytes/{n}");
        let out = curl(
            &ns,
            &["-o", file.to_str().unwrap(), "-w", "%{http_code}", &url],
        );
        assert!(out.status.success(), "curl {url}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
        let got = std::fs::read(&file).unwrap();
        let _ = std::fs::remove_file(&file);
        assert_eq!(got.len(), n);
        assert_eq!(sha256(&got), sha256(&pattern(n)), "{url}: body differs");
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
    let out = curl(
        &ns,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://10.77.0.2/nope",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
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
    let file = tmp("root-got");
    let out = curl(
        &serve.ns,
        &[
            "-o",
            file.to_str().unwrap(),
            "http://10.77.0.2:8000/sub/file.bin",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sha256(&std::fs::read(&file).unwrap()), sha256(&data));
    let out = curl(
        &serve.ns,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--path-as-is",
            "http://10.77.0.2:8000/../etc/passwd",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
    // Only the port asked for: the default ones are refused (curl's exit 7, "failed to
    // connect", at once; a timeout would be 28).
    let out = curl(&serve.ns, &["http://10.77.0.2:80/"]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    serve.stop();
    let _ = std::fs::remove_dir_all(root);
    let _ = std::fs::remove_file(file);
}

/// Random data through the echo server, sent while the reply is read, then half-closed:
/// the echo comes back whole, then the server's FIN.
const ECHO_CLIENT: &str = r#"
import hashlib, os, socket, sys, threading
data = os.urandom(4 << 20)
s = socket.create_connection(("10.77.0.2", 7), timeout=60)
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
"#;

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
    let out = python(&echo.ns, ECHO_CLIENT, b"");
    assert!(out.contains("echoed 4194304"), "{out}");
    // The kernel closed first (its FIN before ours), so its side waits in TIME-WAIT.
    let out = run(
        Command::new("ip").args([
            "netns",
            "exec",
            &echo.ns,
            "ss",
            "-tan",
            "state",
            "time-wait",
        ]),
        b"",
    );
    let ss = String::from_utf8_lossy(&out.stdout);
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
    let out = run(
        Command::new("ip").args([
            "netns",
            "exec",
            &http.ns,
            "ss",
            "-tan",
            "state",
            "time-wait",
        ]),
        b"",
    );
    let ss = String::from_utf8_lossy(&out.stdout);
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
    let mut client = Watched::spawn_with_stdin(Command::new("ip").args([
        "netns",
        "exec",
        &serve.ns,
        "python3",
        "-c",
        PAUSED_CLIENT,
    ]));
    client.wait_for("paused", Duration::from_secs(60));
    let out = run(
        Command::new("ip").args(["netns", "exec", &serve.ns, "ss", "-tin", "dst", "10.77.0.2"]),
        b"",
    );
    let ss = String::from_utf8_lossy(&out.stdout);
    assert!(ss.contains("ESTAB"), "{ss}");
    assert!(ss.contains("10.77.0.2:8080"), "{ss}");
    assert!(ss.contains(" rtt:") && ss.contains(" cwnd:"), "{ss}");
    {
        use std::io::Write;
        let mut stdin = client.child.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").unwrap();
    }
    client.wait_for("done 8388608", PATIENCE);
    assert!(client.child.wait().unwrap().success());
    serve.stop();
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

fn kernel_server(ns: &str, mode: &str, port: u16, n: usize) -> Watched {
    kernel_server_on(ns, "0.0.0.0", mode, port, n)
}

/// A kernel server bound to `host` ("0.0.0.0" or "::").
fn kernel_server_on(ns: &str, host: &str, mode: &str, port: u16, n: usize) -> Watched {
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

fn connect(ns: &str, args: &[&str]) -> std::process::Output {
    run(
        Command::new(env!("CARGO_BIN_EXE_synack"))
            .args(["connect", "--netns", ns])
            .args(args),
        b"",
    )
}

/// Upload and download between synack as the client and a kernel server, with `extra`
/// (faults) on the command line; returns the pcap of the download when asked for.
fn client_transfers(tag: &str, extra: &[&str], pcap: Option<&std::path::Path>) {
    let ns = ns_name(tag);
    let guard = NsGuard::create(&ns);
    let upload: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let file = tmp(&format!("{tag}-upload"));
    std::fs::write(&file, &upload).unwrap();
    let mut server = kernel_server(&ns, "up", 5001, 0);
    let out = connect(
        &ns,
        &[
            &[
                "10.77.0.1:5001",
                "--quiet",
                "--send",
                file.to_str().unwrap(),
            ],
            extra,
        ]
        .concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{} {}", upload.len(), sha256(&upload))
    );
    server.wait_for("served", PATIENCE);
    assert!(server.child.wait().unwrap().success());
    // The namespace was ours: connect used it and left it.
    assert!(ns_exists(&ns));

    let n = 5_000_000;
    let mut server = kernel_server(&ns, "down", 5002, n);
    let mut args = vec!["10.77.0.1:5002", "--quiet"];
    let pcap_arg;
    if let Some(p) = pcap {
        pcap_arg = p.to_str().unwrap().to_string();
        args.extend(["--pcap", &pcap_arg]);
    }
    let out = connect(&ns, &[&args[..], extra].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), n);
    assert_eq!(sha256(&out.stdout), sha256(&pattern(n)), "download differs");
    server.wait_for("served", PATIENCE);
    assert!(server.child.wait().unwrap().success());
    drop(guard);
    let _ = std::fs::remove_file(file);
}

#[test]
fn synack_as_client_uploads_and_downloads_byte_exact() {
    if !netns_available("synack_as_client_uploads_and_downloads_byte_exact") {
        return;
    }
    client_transfers("client", &[], None);
    // --expect-bytes checks the length: one byte too many expected is an error.
    let ns = ns_name("expect");
    let _guard = NsGuard::create(&ns);
    let mut server = kernel_server(&ns, "down", 5003, 1000);
    let out = connect(
        &ns,
        &["10.77.0.1:5003", "--quiet", "--expect-bytes", "1001"],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected 1001 bytes, received 1000"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty());
    assert!(server.child.wait().unwrap().success());
}

#[test]
fn five_percent_loss_and_reordering_still_deliver_every_byte() {
    if !netns_available("five_percent_loss_and_reordering_still_deliver_every_byte") {
        return;
    }
    let pcap = tmp("lossy.pcap");
    client_transfers(
        "lossy",
        &["--loss", "0.05", "--reorder", "0.05", "--seed", "7"],
        Some(&pcap),
    );
    // The capture reads cleanly and shows synack's retransmissions (tshark's analysis).
    let out = run(
        Command::new("tshark").args([
            "-r",
            pcap.to_str().unwrap(),
            "-Y",
            "tcp.analysis.retransmission || tcp.analysis.fast_retransmission",
        ]),
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    let retransmissions = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(retransmissions > 0, "no retransmission in the capture");
    // Clean: no malformed packet, no bad checksum (ours or the kernel's), no error.
    let out = run(
        Command::new("tshark").args([
            "-r",
            pcap.to_str().unwrap(),
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.desegment_tcp_streams:FALSE",
            "-Y",
            // Linux completes a checksum in software with 0xffff where the sum gives 0
            // (skb_checksum_help's CSUM_MANGLED_0, a UDP rule it applies to TCP too); the
            // two are the same number in one's complement (RFC 1624 §3), so the kernel's
            // 0xffff passes, while synack (10.77.0.2) must always write 0x0000.
            "_ws.malformed || ip.checksum.status == 0 \
             || (tcp.checksum.status == 0 && !(tcp.checksum.ffff && ip.src == 10.77.0.1)) \
             || _ws.expert.severity >= 8388608",
        ]),
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    let problems = String::from_utf8_lossy(&out.stdout);
    assert!(
        problems.trim().is_empty(),
        "the capture has problems:\n{problems}"
    );
    let _ = std::fs::remove_file(pcap);
}

/// A plain std::net HTTP server on the host's loopback: `GET /N` answers N bytes of the
/// pattern and closes. Returns its address.
fn loopback_http_server() -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let n: usize = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.trim_start_matches('/').parse().ok())
                    .unwrap_or(0);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                }
                let mut out = &stream;
                let head =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n");
                let _ = out.write_all(head.as_bytes());
                let _ = out.write_all(&pattern(n));
            });
        }
    });
    addr
}

/// An echo server on the loopback: everything back, then its FIN after ours.
fn loopback_echo_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut &stream, &mut &stream);
                let _ = stream.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// 20 connections at once, each to its own address and port in the routed subnet.
const CONCURRENT_CLIENTS: &str = r#"
import socket, sys, threading
errors = []
def fetch(i):
    try:
        n = 100000 + i
        s = socket.create_connection(("10.78.0.%d" % (10 + i), 8000 + i), timeout=60)
        s.sendall(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
        got = bytearray()
        while True:
            b = s.recv(65536)
            if not b: break
            got += b
        body = got[got.index(b"\r\n\r\n") + 4:]
        if body != bytes(j % 251 for j in range(n)):
            errors.append("connection %d: %d bytes, wrong" % (i, len(body)))
    except Exception as e:
        errors.append("connection %d: %r" % (i, e))
threads = [threading.Thread(target=fetch, args=(i,)) for i in range(20)]
for t in threads: t.start()
for t in threads: t.join()
if errors: raise SystemExit("\n".join(errors))
print("20 ok")
"#;

/// Half-close through the relay: our FIN reaches the loopback server, its FIN comes back
/// after every echoed byte.
const RELAYED_ECHO: &str = r#"
import os, socket, threading
data = os.urandom(2 << 20)
s = socket.create_connection(("10.78.0.77", 7777), timeout=60)
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
print("echoed", len(got))
"#;

#[test]
fn the_relay_carries_curl_and_twenty_connections_to_loopback_servers() {
    if !netns_available("the_relay_carries_curl_and_twenty_connections_to_loopback_servers") {
        return;
    }
    let http = loopback_http_server();
    let relay = Serve::command("relay", "relay", &["--to", &http.to_string()]);
    let file = tmp("relayed");
    let out = curl(
        &relay.ns,
        &[
            "-o",
            file.to_str().unwrap(),
            "-w",
            "%{http_code}",
            "http://10.78.0.42:9999/300000",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    assert_eq!(
        sha256(&std::fs::read(&file).unwrap()),
        sha256(&pattern(300000))
    );
    let _ = std::fs::remove_file(file);
    let out = python(&relay.ns, CONCURRENT_CLIENTS, b"");
    assert!(out.contains("20 ok"), "{out}");
    let log = relay.stop();
    assert!(
        log.contains("-> 10.78.0.42:9999 (original destination)"),
        "{log}"
    );
    for i in 0..20 {
        let dst = format!("-> 10.78.0.{}:{} (original destination)", 10 + i, 8000 + i);
        assert!(log.contains(&dst), "{dst} not logged:\n{log}");
    }

    let echo = loopback_echo_server();
    let relay = Serve::command("relay", "relay-echo", &["--to", &echo.to_string()]);
    let out = python(&relay.ns, RELAYED_ECHO, b"");
    assert!(out.contains("echoed 2097152"), "{out}");
    relay.stop();
}

#[test]
fn the_relay_refuses_targets_off_the_loopback() {
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_synack")).args([
            "relay",
            "--netns",
            "x",
            "--to",
            "10.1.2.3:80",
        ]),
        b"",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only connects to a port on the loopback"),
        "{out:?}"
    );
}

#[test]
fn curl_gets_every_byte_through_injected_loss_delay_and_reordering() {
    if !netns_available("curl_gets_every_byte_through_injected_loss_delay_and_reordering") {
        return;
    }
    let pcap = tmp("serve-lossy.pcap");
    let serve = Serve::start(
        "faults",
        &[
            "--app",
            "http",
            "--port",
            "8080",
            "--loss",
            "0.05",
            "--reorder",
            "0.05",
            "--delay",
            "1",
            "--jitter",
            "2",
            "--seed",
            "11",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    let n = 1 << 20;
    let file = tmp("serve-lossy-body");
    let url = format!("http://10.77.0.2:8080/bytes/{n}");
    let out = curl(&serve.ns, &["-o", file.to_str().unwrap(), &url]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sha256(&std::fs::read(&file).unwrap()), sha256(&pattern(n)));
    let log = serve.stop();
    // Packets were held back and overtaken in both directions, not only lost.
    let faults = log
        .lines()
        .find(|l| l.contains("faults injected"))
        .unwrap_or_else(|| panic!("no fault summary:\n{log}"));
    let reordered: Vec<u64> = faults
        .split([',', ';'])
        .filter(|part| part.ends_with(" reordered"))
        .filter_map(|part| part.split_whitespace().rev().nth(1)?.parse().ok())
        .collect();
    assert!(
        reordered.len() == 2 && reordered.iter().all(|&n| n > 0),
        "{faults}"
    );
    let out = run(
        Command::new("tshark").args([
            "-r",
            pcap.to_str().unwrap(),
            "-Y",
            "tcp.analysis.retransmission || tcp.analysis.fast_retransmission",
        ]),
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.is_empty(), "no retransmission in the capture");
    let _ = (std::fs::remove_file(pcap), std::fs::remove_file(file));
}

#[test]
fn bad_arguments_are_refused_before_anything_is_made() {
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_synack")).args([
            "serve",
            "--netns",
            "x",
            "--app",
            "echo",
            "--addr",
            "8.8.8.2/24",
        ]),
        b"",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a private"));
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_synack")).args([
            "connect",
            "--netns",
            "x",
            "10.99.0.1:80",
        ]),
        b"",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in 10.77.0.2/24"));
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_synack"))
            .args(["serve", "--netns", "x", "--app", "echo", "--loss", "2"]),
        b"",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("probability"));
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_synack")).args([
            "serve",
            "--netns",
            "x",
            "--app",
            "echo",
            "--addr",
            "2001:db8::2/64",
        ]),
        b"",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a unique local"));
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_synack")).args([
            "relay",
            "--netns",
            "x",
            "--to",
            "127.0.0.1:80",
            "--addr",
            "fd00:5ac::2/64",
            "--route",
            "10.78.0.1/24",
        ]),
        b"",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be of one family"));
    for (command, queues) in [("serve", "0"), ("connect", "257"), ("relay", "many")] {
        let extra: &[&str] = match command {
            "serve" => &["--app", "echo"],
            "connect" => &["10.77.0.1:80"],
            _ => &["--to", "127.0.0.1:80"],
        };
        let out = run(
            Command::new(env!("CARGO_BIN_EXE_synack"))
                .args([command, "--netns", "x", "--queues", queues])
                .args(extra),
            b"",
        );
        assert_eq!(out.status.code(), Some(2), "{command} --queues {queues}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--queues") && err.contains(queues), "{err}");
    }
    assert!(!ns_exists("x"));
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
    let out = python(&echo.ns, ECHO_CLIENT, b"");
    assert!(out.contains("echoed 4194304"), "{out}");
    echo.stop();
}

/// Echoes a little data, says so, then waits for a line on stdin and half-closes at once:
/// its FIN goes out the instant the test says "go", whatever it has heard from synack.
const CLOSE_ON_CUE: &str = r#"
import os, socket, sys
data = os.urandom(100000)
s = socket.create_connection(("10.77.0.2", 7), timeout=60)
s.sendall(data)
got = bytearray()
while len(got) < len(data):
    b = s.recv(65536)
    if not b: raise SystemExit("end of stream before the echo")
    got += b
assert got == data, len(got)
print("echoed", flush=True)
sys.stdin.readline()
s.shutdown(socket.SHUT_WR)
assert s.recv(10) == b""
s.close()
print("closed", flush=True)
"#;

/// The first FIN each side sent, from the capture: (source, the FIN's sequence number,
/// the acknowledgment it carried), raw numbers as on the wire.
fn first_fins(pcap: &std::path::Path) -> Vec<(String, u64, u64)> {
    let out = run(
        Command::new("tshark").args([
            "-r",
            pcap.to_str().unwrap(),
            "-Y",
            "tcp.flags.fin == 1",
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "tcp.seq_raw",
            "-e",
            "tcp.len",
            "-e",
            "tcp.ack_raw",
        ]),
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    let mut fins: Vec<(String, u64, u64)> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let num = |i: usize| f[i].parse::<u64>().expect("a number from tshark");
        // The FIN occupies the sequence number after the segment's data (RFC 9293 §3.4).
        let fin = (num(1) + num(2)) % (1 << 32);
        if !fins.iter().any(|(src, _, _)| src == f[0]) {
            fins.push((f[0].to_string(), fin, num(3)));
        }
    }
    fins
}

#[test]
fn fins_that_cross_take_synack_through_closing() {
    if !netns_available("fins_that_cross_take_synack_through_closing") {
        return;
    }
    // Each packet spends 200 ms on the link each way: two closes begun within that much of
    // each other send FINs that pass in flight, so neither FIN acknowledges the other
    // (RFC 9293 §3.6, case 3), whatever the scheduler does with a few milliseconds.
    let pcap = tmp("crossed.pcap");
    let serve = Serve::start(
        "simclose",
        &[
            "--app",
            "echo",
            "--delay",
            "200",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    let mut client = Watched::spawn_with_stdin(Command::new("ip").args([
        "netns",
        "exec",
        &serve.ns,
        "python3",
        "-c",
        CLOSE_ON_CUE,
    ]));
    client.wait_for("echoed", PATIENCE);
    {
        use std::io::Write;
        let mut stdin = client.child.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }
    // Ctrl-C makes synack close every connection: its FIN, not an answer to the kernel's.
    kill(serve.proc.child.id(), libc::SIGINT);
    client.wait_for("closed", PATIENCE);
    assert!(client.child.wait().unwrap().success());
    let log = serve.stop();
    let fins = first_fins(&pcap);
    let _ = std::fs::remove_file(&pcap);
    let side = |ip: &str| {
        fins.iter()
            .find(|(src, _, _)| src == ip)
            .unwrap_or_else(|| panic!("no FIN from {ip} in {fins:?}"))
    };
    let (kernel, synack) = (side("10.77.0.1"), side("10.77.0.2"));
    // Crossed: each first FIN acknowledges the data before the other's FIN, not the FIN.
    assert_eq!(kernel.2, synack.1, "the kernel's FIN acknowledged synack's");
    assert_eq!(synack.2, kernel.1, "synack's FIN acknowledged the kernel's");
    assert!(log.contains("ESTABLISHED -> FIN-WAIT-1"), "{log}");
    assert!(log.contains("FIN-WAIT-1 -> CLOSING"), "{log}");
    assert!(log.contains("CLOSING -> TIME-WAIT"), "{log}");
    assert!(!log.contains("CLOSE-WAIT"), "synack answered a FIN: {log}");
}

/// ECHO_CLIENT, with a bigger payload so the faults have packets to work on.
const LOSSY_ECHO_CLIENT: &str = r#"
import os, socket, threading
data = os.urandom(2 << 20)
s = socket.create_connection(("10.77.0.2", 7), timeout=60)
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
"#;

/// Counts the segments from `src` tshark's analysis calls retransmissions.
fn retransmissions_from(pcap: &std::path::Path, src: &str) -> usize {
    let filter = format!(
        "ip.src == {src} && (tcp.analysis.retransmission || tcp.analysis.fast_retransmission)"
    );
    let out = run(
        Command::new("tshark").args(["-r", pcap.to_str().unwrap(), "-Y", &filter]),
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn python_echo_is_byte_exact_through_five_percent_loss_and_reordering() {
    if !netns_available("python_echo_is_byte_exact_through_five_percent_loss_and_reordering") {
        return;
    }
    let pcap = tmp("echo-lossy.pcap");
    let serve = Serve::start(
        "echo-lossy",
        &[
            "--app",
            "echo",
            "--loss",
            "0.05",
            "--reorder",
            "0.05",
            "--seed",
            "5",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    let out = python(&serve.ns, LOSSY_ECHO_CLIENT, b"");
    assert!(out.contains("echoed 2097152"), "{out}");
    let log = serve.stop();
    assert!(log.contains("faults injected"), "{log}");
    // Both directions carry data and both lose some: each side had to send again.
    let (kernel, synack) = (
        retransmissions_from(&pcap, "10.77.0.1"),
        retransmissions_from(&pcap, "10.77.0.2"),
    );
    let _ = std::fs::remove_file(&pcap);
    assert!(kernel > 0, "no retransmission by the kernel");
    assert!(synack > 0, "no retransmission by synack");
}

/// Checks that every SYN and SYN-ACK from `src` in the capture announces `mss` (and that
/// there is one).
fn assert_announced_mss(pcap: &std::path::Path, src: &str, mss: &str) {
    let seen = announced_mss(pcap, src);
    assert!(
        !seen.is_empty() && seen.iter().all(|m| m == mss),
        "{src} announced {seen:?}, not {mss}"
    );
}

/// The MSS option of the SYNs and SYN-ACKs from `src` in the capture.
fn announced_mss(pcap: &std::path::Path, src: &str) -> Vec<String> {
    let filter = format!("ipv6.src == {src} && tcp.flags.syn == 1");
    let out = run(
        Command::new("tshark").args([
            "-r",
            pcap.to_str().unwrap(),
            "-Y",
            &filter,
            "-T",
            "fields",
            "-e",
            "tcp.options.mss_val",
        ]),
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A 1500-byte MTU less the IPv6 header (40) and the TCP header (20).
const IPV6_MSS: &str = "1440";

/// ECHO_CLIENT over IPv6.
const ECHO_CLIENT_V6: &str = r#"
import os, socket, threading
data = os.urandom(1 << 20)
s = socket.create_connection(("fd00:5ac::2", 7), timeout=60)
assert s.family == socket.AF_INET6
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
"#;

#[test]
fn serve_speaks_ipv6_to_curl_and_python() {
    if !netns_available("serve_speaks_ipv6_to_curl_and_python") {
        return;
    }
    let pcap = tmp("serve6.pcap");
    let serve = Serve::start(
        "serve6",
        &[
            "--app",
            "http",
            "--port",
            "8080",
            "--addr",
            "fd00:5ac::2/64",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    let n = 1 << 20;
    let file = tmp("serve6-body");
    let url = format!("http://[fd00:5ac::2]:8080/bytes/{n}");
    let out = curl(
        &serve.ns,
        &[
            "-6",
            "-o",
            file.to_str().unwrap(),
            "-w",
            "%{http_code}",
            &url,
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    assert_eq!(sha256(&std::fs::read(&file).unwrap()), sha256(&pattern(n)));
    let _ = std::fs::remove_file(&file);
    let log = serve.stop();
    assert!(
        log.contains("[fd00:5ac::2]:8080 <-> [fd00:5ac::1]:"),
        "{log}"
    );
    // Each side announces what fits an IPv6 packet in the link's MTU.
    assert_announced_mss(&pcap, "fd00:5ac::2", IPV6_MSS);
    assert_announced_mss(&pcap, "fd00:5ac::1", IPV6_MSS);
    let _ = std::fs::remove_file(&pcap);

    let echo = Serve::start("echo6", &["--app", "echo", "--addr", "fd00:5ac::2/64"]);
    let out = python(&echo.ns, ECHO_CLIENT_V6, b"");
    assert!(out.contains("echoed 1048576"), "{out}");
    // Only IPv6 on the link: the IPv4 address of the default is not there.
    let out = run(
        Command::new("ip").args(["-n", &echo.ns, "-4", "addr", "show", "dev", "synack0"]),
        b"",
    );
    assert!(out.stdout.is_empty(), "{out:?}");
    echo.stop();
}

#[test]
fn synack_connects_to_a_kernel_server_over_ipv6() {
    if !netns_available("synack_connects_to_a_kernel_server_over_ipv6") {
        return;
    }
    let ns = ns_name("connect6");
    let _guard = NsGuard::create(&ns);
    let n = 2_000_000;
    let mut server = kernel_server_on(&ns, "::", "down", 5006, n);
    let pcap = tmp("connect6.pcap");
    let out = connect(
        &ns,
        &[
            "[fd00:5ac::1]:5006",
            "--addr",
            "fd00:5ac::2/64",
            "--quiet",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256(&out.stdout), sha256(&pattern(n)), "download differs");
    server.wait_for("served", PATIENCE);
    assert!(server.child.wait().unwrap().success());
    assert_announced_mss(&pcap, "fd00:5ac::2", IPV6_MSS);
    let _ = std::fs::remove_file(&pcap);

    let upload: Vec<u8> = (0..700_000u32).map(|i| ((i * 31) >> 3) as u8).collect();
    let file = tmp("connect6-upload");
    std::fs::write(&file, &upload).unwrap();
    let mut server = kernel_server_on(&ns, "::", "up", 5007, 0);
    let out = connect(
        &ns,
        &[
            "[fd00:5ac::1]:5007",
            "--addr",
            "fd00:5ac::2/64",
            "--quiet",
            "--send",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{} {}", upload.len(), sha256(&upload))
    );
    assert!(server.child.wait().unwrap().success());
    let _ = std::fs::remove_file(file);
}

#[test]
fn the_relay_carries_ipv6_connections() {
    if !netns_available("the_relay_carries_ipv6_connections") {
        return;
    }
    let http = loopback_http_server();
    let pcap = tmp("relay6.pcap");
    let relay = Serve::command(
        "relay",
        "relay6",
        &[
            "--to",
            &http.to_string(),
            "--addr",
            "fd00:5ac::2/64",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    let file = tmp("relayed6");
    let out = curl(
        &relay.ns,
        &[
            "-6",
            "-o",
            file.to_str().unwrap(),
            "-w",
            "%{http_code}",
            "http://[fd00:5ad::42]:9999/300000",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    assert_eq!(
        sha256(&std::fs::read(&file).unwrap()),
        sha256(&pattern(300000))
    );
    let _ = std::fs::remove_file(file);
    let log = relay.stop();
    assert!(
        log.contains("-> [fd00:5ad::42]:9999 (original destination)"),
        "{log}"
    );
    // The relay has no address of its own, so the MSS comes from the connection's family.
    assert_announced_mss(&pcap, "fd00:5ad::42", IPV6_MSS);
    let _ = std::fs::remove_file(&pcap);
}
