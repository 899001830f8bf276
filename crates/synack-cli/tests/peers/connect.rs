//! `synack connect` as the client of a kernel server: uploads and downloads byte-exact, on a
//! clean link and through loss and reordering, with a capture that reads cleanly.

use std::path::Path;
use std::process::Command;

use crate::harness::*;
use crate::programs::*;

/// Upload and download between synack as the client and a kernel server, with `extra`
/// (faults) on the command line; captures the download into `pcap` when asked.
fn client_transfers(tag: &str, extra: &[&str], pcap: Option<&Path>) {
    let ns = ns_name(tag);
    let guard = NsGuard::create(&ns);
    let upload: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let file = tmp(&format!("{tag}-upload"));
    std::fs::write(&file, &upload).unwrap();
    let mut server = kernel_server(&ns, "up", 5001, 0);
    let send = [
        "10.77.0.1:5001",
        "--quiet",
        "--send",
        file.to_str().unwrap(),
    ];
    let out = connect(&ns, &[&send[..], extra].concat());
    assert_connected(&out);
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
    assert_connected(&out);
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
    assert!(
        retransmissions(&pcap, None) > 0,
        "no retransmission in the capture"
    );
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
