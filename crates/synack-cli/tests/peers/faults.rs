//! `synack serve` behind injected faults (`--loss`, `--reorder`, `--delay`, `--jitter`): every
//! byte still arrives, the capture shows the repairs, and FINs that cross in flight take
//! synack through CLOSING.

use std::path::Path;
use std::process::Command;

use crate::harness::*;
use crate::programs::*;

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
    let (_, body) = curl_get(&serve.ns, &[], &format!("http://10.77.0.2:8080/bytes/{n}"));
    assert_eq!(sha256(&body), sha256(&pattern(n)));
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
    assert!(
        retransmissions(&pcap, None) > 0,
        "no retransmission in the capture"
    );
    let _ = std::fs::remove_file(pcap);
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
    let out = python(&serve.ns, &echo_client("10.77.0.2", 7, 2 << 20), b"");
    assert!(out.contains("echoed 2097152"), "{out}");
    let log = serve.stop();
    assert!(log.contains("faults injected"), "{log}");
    // Both directions carry data and both lose some: each side had to send again.
    let (kernel, synack) = (
        retransmissions(&pcap, Some("10.77.0.1")),
        retransmissions(&pcap, Some("10.77.0.2")),
    );
    let _ = std::fs::remove_file(&pcap);
    assert!(kernel > 0, "no retransmission by the kernel");
    assert!(synack > 0, "no retransmission by synack");
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
fn first_fins(pcap: &Path) -> Vec<(String, u64, u64)> {
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
    let mut client = python_watched(&serve.ns, CLOSE_ON_CUE);
    client.wait_for("echoed", PATIENCE);
    client.say("go");
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
