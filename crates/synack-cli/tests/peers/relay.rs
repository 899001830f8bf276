//! `synack relay`: connections made inside the namespace, to any address in the routed
//! subnet, carried to servers on the host's loopback.

use crate::harness::*;
use crate::programs::*;

/// A server on the host's loopback that hands each connection to `serve` in a thread of its
/// own. Returns its address.
fn loopback_server(serve: fn(std::net::TcpStream)) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// A plain std::net HTTP server on the loopback: `GET /N` answers N bytes of the pattern and
/// closes.
pub fn loopback_http_server() -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    loopback_server(|stream| {
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
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n");
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(&pattern(n));
    })
}

/// An echo server on the loopback: everything back, then its FIN after ours.
fn loopback_echo_server() -> std::net::SocketAddr {
    loopback_server(|stream| {
        let _ = std::io::copy(&mut &stream, &mut &stream);
        let _ = stream.shutdown(std::net::Shutdown::Write);
    })
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

#[test]
fn the_relay_carries_curl_and_twenty_connections_to_loopback_servers() {
    if !netns_available("the_relay_carries_curl_and_twenty_connections_to_loopback_servers") {
        return;
    }
    let http = loopback_http_server();
    let relay = Serve::command("relay", "relay", &["--to", &http.to_string()]);
    let (status, body) = curl_get(&relay.ns, &[], "http://10.78.0.42:9999/300000");
    assert_eq!(status, "200");
    assert_eq!(sha256(&body), sha256(&pattern(300000)));
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

    // Half-close through the relay: our FIN reaches the loopback server, its FIN comes back
    // after every echoed byte.
    let echo = loopback_echo_server();
    let relay = Serve::command("relay", "relay-echo", &["--to", &echo.to_string()]);
    let out = python(&relay.ns, &echo_client("10.78.0.77", 7777, 2 << 20), b"");
    assert!(out.contains("echoed 2097152"), "{out}");
    relay.stop();
}

#[test]
fn the_relay_refuses_targets_off_the_loopback() {
    assert_refused(
        &["relay", "--netns", "x", "--to", "10.1.2.3:80"],
        "only connects to a port on the loopback",
    );
}
