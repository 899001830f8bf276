//! serve, connect and relay over IPv6, each side announcing the MSS an IPv6 packet leaves in
//! the link's MTU.

use std::path::Path;
use std::process::Command;

use crate::harness::*;
use crate::programs::*;
use crate::relay::loopback_http_server;

/// A 1500-byte MTU less the IPv6 header (40) and the TCP header (20).
const IPV6_MSS: &str = "1440";

/// Checks that every SYN and SYN-ACK from `src` in the capture announces `mss` (and that
/// there is one).
fn assert_announced_mss(pcap: &Path, src: &str, mss: &str) {
    let seen = announced_mss(pcap, src);
    assert!(
        !seen.is_empty() && seen.iter().all(|m| m == mss),
        "{src} announced {seen:?}, not {mss}"
    );
}

/// The MSS option of the SYNs and SYN-ACKs from `src` in the capture.
fn announced_mss(pcap: &Path, src: &str) -> Vec<String> {
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
    let url = format!("http://[fd00:5ac::2]:8080/bytes/{n}");
    let (status, body) = curl_get(&serve.ns, &["-6"], &url);
    assert_eq!(status, "200");
    assert_eq!(sha256(&body), sha256(&pattern(n)));
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
    let out = python(&echo.ns, &echo_client("fd00:5ac::2", 7, 1 << 20), b"");
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
    assert_connected(&out);
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
    assert_connected(&out);
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
    let (status, body) = curl_get(&relay.ns, &["-6"], "http://[fd00:5ad::42]:9999/300000");
    assert_eq!(status, "200");
    assert_eq!(sha256(&body), sha256(&pattern(300000)));
    let log = relay.stop();
    assert!(
        log.contains("-> [fd00:5ad::42]:9999 (original destination)"),
        "{log}"
    );
    // The relay has no address of its own, so the MSS comes from the connection's family.
    assert_announced_mss(&pcap, "fd00:5ad::42", IPV6_MSS);
    let _ = std::fs::remove_file(&pcap);
}
