//! What the runner does with the packetdrill language as Linux's own test scripts use it:
//! the script's file descriptors, shell files and `set_sysctls.py`, and the line between a
//! behaviour difference (a failure) and a feature synack lacks (unsupported).

use synack_script::{FailureKind, RunConfig, run_script};

/// A passive open with synack's defaults; the listener is the script's fd 7 and the
/// connection its fd 9, numbers the stack does not hand out.
const OPEN: &str = "\
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 7
+0  bind(7, ..., ...) = 0
+0  listen(7, 1) = 0
+0  < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0  > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>
+.1 < . 1:1(0) ack 1 win 1000
+0  accept(7, ..., ...) = 9
";

fn run(extra: &str) -> synack_script::Report {
    run_script(&format!("{OPEN}{extra}"), &RunConfig::default())
}

#[test]
fn file_descriptors_are_the_scripts_own() {
    let r = run("+0 write(9, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n+0 close(7) = 0\n");
    assert!(r.passed(), "{:?}", r.failure);
    // A number the script never bound is still checked against the stack.
    let f = run("+0 close(12) = 0\n").failure.unwrap();
    assert!(f.message.contains("EBADF"), "{f:?}");
}

#[test]
fn unsupported_features_stop_the_script_without_failing_it() {
    for (extra, what, reason) in [
        (
            "+0 < . 1:1(0) ack 1 win 1000 <FO 0011aabb,nop,nop>\n",
            "TCP Fast Open",
            "the TCP Fast Open option (RFC 7413)",
        ),
        (
            "+0 < . 1:1(0) ack 1 win 1000 <md5 00112233445566778899aabbccddeeff>\n",
            "MD5",
            "the TCP MD5 signature option (RFC 2385)",
        ),
        (
            "+0 < icmp unreachable port_unreachable\n",
            "ICMP",
            "ICMP packets",
        ),
        (
            "+0 write(9, ..., 10) = 10\n+0 > [ect0] P. 1:11(10) ack 1\n",
            "ECN",
            "ECN (RFC 3168)",
        ),
        ("+0 < SEWA 0:0(0) win 10\n", "AccECN", "AccECN"),
        (
            "+0 splice(9, NULL, 10, NULL, 5, 0) = 5\n",
            "splice",
            "no synack counterpart for the system call splice",
        ),
        (
            "+0 setsockopt(9, SOL_TCP, TCP_FASTOPEN, [1], 4) = 0\n",
            "TCP_FASTOPEN",
            "unknown symbol TCP_FASTOPEN",
        ),
        (
            "+0 setsockopt(9, SOL_TCP, 99, [1], 4) = 0\n",
            "socket option level 6 name 99",
            "setsockopt: socket option level 6 name 99",
        ),
        (
            "+0 %{ assert tcpi_reordering == 3, tcpi_reordering }%\n",
            "tcpi_reordering",
            "tcpi_reordering is not answered by synack's connection info",
        ),
    ] {
        let r = run(extra);
        let f = r.failure.as_ref().expect("stopped");
        assert!(
            r.unsupported() && f.message.starts_with("unsupported: ") && f.message.contains(what),
            "{extra}: {f:?}"
        );
        // At the line that needs the feature (the last one of each).
        assert_eq!(f.pos.line, 7 + extra.lines().count(), "{extra}");
        // Grouped under a few words naming the feature.
        assert_eq!(f.reason().as_deref(), Some(reason), "{extra}: {f:?}");
    }
    // A real difference stays a failure.
    let r = run("+0 write(9, ..., 10) = 10\n+0 > P. 1:11(10) ack 2\n");
    let f = r.failure.unwrap();
    assert_eq!((f.kind, f.reason()), (FailureKind::Mismatch, None));
}

#[test]
fn ecn_setup_syn_to_a_host_without_ecn_gets_a_plain_syn_ack() {
    // RFC 3168 §6.1.1: a host that does not do ECN answers an ECN-setup SYN (ECE and CWR
    // set, ECN field ignored) with a SYN-ACK without ECE.
    let r = run_script(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n\
         +0 listen(3, 1) = 0\n+0 < [ect0] SEW 0:0(0) win 65535 <mss 1000>\n\
         +0 > S. 0:0(0) ack 1 <mss 1460>\n",
        &RunConfig::default(),
    );
    assert!(r.passed(), "{:?}", r.failure);
}

#[test]
fn segments_linux_would_merge_are_unsupported_not_wrong() {
    // synack sends MSS-sized segments where Linux hands packetdrill one TSO segment: with
    // the device's offload switched off, that is a feature synack lacks.
    let r = run("+0 `ethtool -K tun0 tso off gso off`\n\
                 +0 write(9, ..., 3000) = 3000\n+0 > P. 1:3001(3000) ack 1\n");
    let f = r.failure.unwrap();
    assert_eq!(f.kind, FailureKind::Unsupported, "{f:?}");
    assert!(f.message.contains("TSO/GSO"), "{}", f.message);
    // The same bytes written one segment per line pass.
    let r = run(
        "+0 write(9, ..., 3000) = 3000\n+0 > . 1:1001(1000) ack 1\n+0 > . 1001:2001(1000) ack 1\n\
         +0 > P. 2001:3001(1000) ack 1\n",
    );
    assert!(r.passed(), "{:?}", r.failure);
    // A segment shorter than expected with nothing after it is a real difference.
    let r = run("+0 write(9, ..., 500) = 500\n+0 > P. 1:1001(1000) ack 1\n");
    assert_eq!(r.failure.unwrap().kind, FailureKind::Mismatch);
}

#[test]
fn null_buffers_are_bad_addresses() {
    let r = run("+0 write(9, NULL, 10) = -1 EFAULT (Bad address)\n\
         +0 read(9, NULL, 10) = -1 EFAULT (Bad address)\n");
    assert!(r.passed(), "{:?}", r.failure);
}

#[test]
fn a_read_that_opens_the_window_sends_at_its_own_time() {
    // The blocked read completes when the data arrives; what the stack sends because of it
    // leaves at that instant, so a later event is not mistaken for the cause.
    let r = run(
        "+0...0.1 read(9, ..., 1000) = 1000\n+.1 < P. 1:1001(1000) ack 1 win 1000\n\
         +0 > . 1:1(0) ack 1001\n+1 close(9) = 0\n",
    );
    // Whatever synack sends after the ACK (a window update or not) is reported at 0.2 s,
    // before the close at 1.2 s, never as sent at 1.2 s.
    if let Some(f) = r.failure {
        assert!(f.message.contains("at 0.200000"), "{}", f.message);
    }
}

#[test]
fn shell_files_next_to_the_script_are_read() {
    let dir = std::env::temp_dir().join(format!("synack-compat-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("common")).unwrap();
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(
        dir.join("common/defaults.sh"),
        "# comment\nip tcp_metrics flush all > /dev/null 2>&1\n\
         sysctl -q net.ipv4.tcp_rmem=\"4096 87380 $((16*1024*1024))\"\n\
         sysctl -q net.ipv4.tcp_timestamps=0 # off\n",
    )
    .unwrap();
    // A 16 MiB receive buffer maximum needs window scale 9 (16 MiB / 65535 > 256).
    let src = "`../common/defaults.sh\n./set_sysctls.py /proc/sys/net/ipv4/tcp_sack=0`\n\
               0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n\
               +0 listen(3, 1) = 0\n\
               +0 < S 0:0(0) win 65535 <mss 1000,sackOK,TS val 1 ecr 0,nop,wscale 7>\n\
               +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 9>\n";
    let config = RunConfig {
        script_dir: Some(dir.join("tests")),
        ..RunConfig::default()
    };
    let r = run_script(src, &config);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(r.passed(), "{:?}\n{:#?}", r.failure, r.notes);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("reading ../common/defaults.sh"))
    );
    // Without the directory the file is not found and nothing of it is applied.
    let r = run_script(src, &RunConfig::default());
    assert!(!r.passed());
}

#[test]
fn fast_open_without_cookie_is_unsupported() {
    let r = run_script(
        "`sysctl -q net.ipv4.tcp_fastopen=0x602`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n+0 < S 0:10(10) win 1000 <mss 1000>\n",
        &RunConfig::default(),
    );
    assert!(r.unsupported(), "{:?}", r.failure);
}

#[test]
fn merge_tso_takes_one_instants_segments_as_one() {
    let src = format!("{OPEN}+0 write(9, ..., 3000) = 3000\n+0 > P. 1:3001(3000) ack 1\n");
    // The device offloads segmentation by default.
    let config = RunConfig::default();
    assert!(config.merge_tso);
    let r = run_script(&src, &config);
    assert!(r.passed(), "{:?}", r.failure);
    // Only exactly the expected bytes merge: a longer expectation is still a difference.
    let src = format!("{OPEN}+0 write(9, ..., 3000) = 3000\n+0 > P. 1:4001(4000) ack 1\n");
    let f = run_script(&src, &config).failure.unwrap();
    assert_eq!(f.kind, FailureKind::Mismatch, "{f:?}");
    assert!(f.message.contains("length: 4000 vs 1000"), "{}", f.message);
}

#[test]
fn ioctl_reports_the_queues() {
    // RFC 9293 §3.10.7.4: a segment without ACK is dropped, so it queues nothing.
    let r = run("+0 < - 1:11(10) win 1000\n+0 ioctl(9, SIOCINQ, [0]) = 0\n\
         +0 < P. 1:11(10) ack 1 win 1000\n+0 > . 1:1(0) ack 11\n+0 ioctl(9, SIOCINQ, [10]) = 0\n\
         +0 write(9, ..., 7) = 7\n+0 > P. 1:8(7) ack 11\n+0 ioctl(9, SIOCOUTQ, [7]) = 0\n");
    assert!(r.passed(), "{:?}", r.failure);
    let f = run("+0 ioctl(9, SIOCINQ, [3]) = 0\n").failure.unwrap();
    assert!(f.message.contains("ioctl value [0], expected [3]"), "{f:?}");
    assert_eq!(
        run("+0 ioctl(9, FIONBIO, [1]) = 0\n").failure.unwrap().kind,
        FailureKind::Unsupported
    );
}

#[test]
fn tcp_info_struct_expectations() {
    let r = run(
        "+0 getsockopt(9, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, tcpi_snd_mss=1000}, \
         [104]) = 0\n",
    );
    assert!(r.passed(), "{:?}", r.failure);
    let f = run("+0 getsockopt(9, SOL_TCP, TCP_INFO, {tcpi_snd_mss=1460}, [104]) = 0\n")
        .failure
        .unwrap();
    assert!(
        f.message.contains("tcpi_snd_mss=1000, expected 1460"),
        "{f:?}"
    );
    let f = run("+0 getsockopt(9, SOL_TCP, TCP_INFO, {tcpi_reordering=3}, [104]) = 0\n")
        .failure
        .unwrap();
    assert_eq!(f.kind, FailureKind::Unsupported, "{f:?}");
}
