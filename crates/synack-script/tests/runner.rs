//! The runner itself: it fails wrong scripts with a readable diff, keeps virtual time, and
//! honours tolerance, windows and blocking calls.

use synack_script::{FailureKind, RunConfig, run_script};

const HANDSHAKE: &str = "\
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  bind(3, ..., ...) = 0
+0  listen(3, 1) = 0
+0  < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0  > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>
+.1 < . 1:1(0) ack 1 win 1000
+0  accept(3, ..., ...) = 4
";

fn run(extra: &str) -> synack_script::Report {
    run_script(&format!("{HANDSHAKE}{extra}"), &RunConfig::default())
}

#[test]
fn a_wrong_script_fails_with_a_side_by_side_diff() {
    // The SYN,ACK really announces wscale 7 and no timestamps; this script claims otherwise.
    let src = HANDSHAKE.replace(
        "> S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>",
        "> S. 0:0(0) ack 1 win 5792 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>",
    );
    let r = run_script(&src, &RunConfig::default());
    let f = r.failure.expect("the wrong script fails");
    assert_eq!((f.pos.line, f.pos.col), (5, 1));
    let lines: Vec<&str> = f.message.lines().collect();
    assert_eq!(lines[0], "outbound packet does not match the script:");
    assert_eq!(
        lines[1],
        "  expected: > S. 0:0(0) ack 1 win 5792 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>"
    );
    assert_eq!(
        lines[2],
        "  actual:   > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,nop,sackOK,nop,wscale 7>"
    );
    assert!(lines[3].contains("win: 5792 vs 65535"), "{}", lines[3]);
    assert!(
        lines[3].contains("options: 5 expected, 6 sent"),
        "{}",
        lines[3]
    );
    assert_eq!(r.events_run, 4, "the events before the mismatch ran");
}

#[test]
fn a_missing_and_an_unexpected_packet_are_reported() {
    let f = run("+.1 < P. 1:11(10) ack 1 win 1000\n+.2 > . 1:1(0) ack 11\n")
        .failure
        .expect("the ACK is sent at once, not 200 ms later");
    assert_eq!(f.pos.line, 9);
    assert!(
        f.message
            .contains("time: sent at 0.200000, expected at 0.400000"),
        "{}",
        f.message
    );

    let f = run("+.1 < P. 1:11(10) ack 1 win 1000\n+.1 read(4, ..., 10) = 10\n")
        .failure
        .expect("the ACK was not in the script");
    assert_eq!(f.pos.line, 9);
    assert!(
        f.message
            .starts_with("unexpected outbound packet at 0.200000"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("actual:   > . 1:1(0) ack 11"),
        "{}",
        f.message
    );

    let f = run("+.1 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n+5 > P. 1:11(10) ack 1\n")
        .failure
        .expect("the retransmission comes 300 ms after, not 5 s");
    assert_eq!(f.pos.line, 10);
    assert!(
        f.message
            .contains("time: sent at 0.500000, expected at 5.200000"),
        "{}",
        f.message
    );
}

#[test]
fn tolerance_and_windows() {
    // The retransmission leaves at 0.5 s; 0.503 is inside the default 4 ms.
    assert!(
        run("+.1 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n+.303 > P. 1:11(10) ack 1\n")
            .passed()
    );
    // 0.510 is not, unless the script widens the tolerance.
    let late = "+.1 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n+.31 > P. 1:11(10) ack 1\n";
    assert!(!run(late).passed());
    assert!(
        run_script(
            &format!("--tolerance_usecs=20000\n{HANDSHAKE}{late}"),
            &RunConfig::default()
        )
        .passed()
    );
    // A window and `*` accept it anywhere in range.
    assert!(
        run("+.1 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n+.1~+1 > P. 1:11(10) ack 1\n")
            .passed()
    );
    assert!(
        run("+.1 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n* > P. 1:11(10) ack 1\n").passed()
    );
}

#[test]
fn syscall_results_are_checked() {
    let f = run("+0 read(4, ..., 10) = 10\n").failure;
    assert!(
        f.is_some_and(|f| f.message.contains("still blocked")),
        "a blocking read with no data blocks"
    );
    let f = run("+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n+0 read(4, ..., 10) = 10\n")
        .failure
        .unwrap();
    assert_eq!(
        f.message,
        "read(...) returned -1 EAGAIN (Resource temporarily unavailable), expected 10"
    );
    let f = run("+0 close(4) = -1 EBADF (Bad file descriptor)\n")
        .failure
        .unwrap();
    assert_eq!(f.message, "close(...) returned 0, expected -1 EBADF");
    let f = run("+0 setsockopt(4, IPPROTO_TCP, TCP_FASTOPEN, [1], 4) = 0\n")
        .failure
        .unwrap();
    // A Linux name synack does not know, or a value it has no knob for, is a feature it
    // lacks: the script is not judged a failure.
    assert!(
        f.message.contains("unknown symbol TCP_FASTOPEN") && f.kind == FailureKind::Unsupported,
        "{f:?}"
    );
    let f = run("+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, 8) = 0\n")
        .failure
        .unwrap();
    assert!(
        f.message
            .contains("unsupported: setsockopt(...): SO_LINGER with a timeout")
            && f.kind == FailureKind::Unsupported,
        "{f:?}"
    );
    // An epoll instance inside another is refused by name, not answered as if it worked.
    let f = run("+0 epoll_create(1) = 5\n+0 epoll_create(1) = 6\n\
                 +0 epoll_ctl(5, EPOLL_CTL_ADD, 6, {events=EPOLLIN, fd=6}) = 0\n")
    .failure
    .unwrap();
    assert!(
        f.message
            .contains("unsupported: epoll_ctl(...): nested epoll")
            && f.kind == FailureKind::Unsupported,
        "{f:?}"
    );
    let f = run("+0 %{ assert tcpi_state == TCP_CLOSE }%\n")
        .failure
        .unwrap();
    assert_eq!(f.pos.line, 8);
    assert!(f.message.contains("assertion failed") && f.message.contains("tcpi_state=1"));
}

#[test]
fn a_blocking_read_returns_when_data_arrives() {
    let r = run(
        "+.1...+.3 read(4, ..., 100) = 10\n+.2 < P. 1:11(10) ack 1 win 1000\n+0~+.5 > . 1:1(0) ack 11\n",
    );
    assert!(r.passed(), "{:?}", r.failure);
    let r = run(
        "+.1...+.5 read(4, ..., 100) = 10\n+.2 < P. 1:11(10) ack 1 win 1000\n+0~+.5 > . 1:1(0) ack 11\n",
    );
    let f = r.failure.expect("it returned at 0.4, not 0.6");
    assert!(
        f.message
            .contains("returned at 0.400000, expected at 0.600000"),
        "{}",
        f.message
    );
}

#[test]
fn a_minute_of_time_wait_is_virtual() {
    let r = run(
        "+0 shutdown(4, SHUT_WR) = 0\n+0 > F. 1:1(0) ack 1\n+0 < F. 1:1(0) ack 2 win 1000\n\
         +0 > . 2:2(0) ack 2\n+3600 %{ assert tcpi_state == TCP_CLOSE }%\n",
    );
    assert!(r.passed(), "{:?}", r.failure);
    assert!(
        r.virtual_time.as_secs() >= 3600,
        "an hour of virtual time went by"
    );
}

#[test]
fn shell_lines_report_what_they_skip() {
    let r = run_script(
        &format!("0 `sysctl -q net.ipv4.tcp_timestamps=0; ../common/defaults.sh`\n{HANDSHAKE}"),
        &RunConfig::default(),
    );
    assert!(r.passed());
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("set net.ipv4.tcp_timestamps=0"))
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("skipped: not a sysctl: ../common/defaults.sh"))
    );
}

#[test]
fn a_relative_range_ends_counting_from_the_same_base() {
    // packetdrill reads `+0...0.100` as "starts now, returns 0.1 s after the previous event".
    let r = run(
        "+0...0.100 read(4, ..., 100) = 10\n+.1 < P. 1:11(10) ack 1 win 1000\n+0 > . 1:1(0) ack 11\n",
    );
    assert!(r.passed(), "{:?}", r.failure);
    let r = run(
        "+0...0.300 read(4, ..., 100) = 10\n+.1 < P. 1:11(10) ack 1 win 1000\n+0 > . 1:1(0) ack 11\n",
    );
    assert!(
        r.failure
            .unwrap()
            .message
            .contains("returned at 0.200000, expected at 0.400000")
    );
}

#[test]
fn a_packet_sent_at_the_same_instant_waits_for_a_later_line() {
    // The ACK leaves when the data arrives; the script reads first and then expects it.
    let r =
        run("+.1 < P. 1:11(10) ack 1 win 1000\n+0 read(4, ..., 100) = 10\n+0 > . 1:1(0) ack 11\n");
    assert!(r.passed(), "{:?}", r.failure);
    // Sent earlier than the next event, it was skipped: that fails.
    let r = run(
        "+.1 < P. 1:11(10) ack 1 win 1000\n+.01 read(4, ..., 100) = 10\n+0 > . 1:1(0) ack 11\n",
    );
    assert!(
        r.failure
            .unwrap()
            .message
            .starts_with("unexpected outbound packet at 0.200000")
    );
}

#[test]
fn the_script_picks_the_address_family() {
    let open = |family: &str, addr: &str| {
        format!(
            "--ip_version={family}\n\
             0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
             +0  bind(3, {{sa_family=AF_INET6, sin6_port=htons(8080), sin6_addr={addr}}}, 28) = 0\n\
             +0  listen(3, 1) = 0\n\
             +0  < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n\
             +0  > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>\n\
             +.1 < . 1:1(0) ack 1 win 1000\n\
             +0  accept(3, ..., ...) = 4\n"
        )
    };
    // IPv6: the socket is AF_INET6 and synack's address is the IPv6 one.
    let r = run_script(
        &open("ipv6", "inet6_addr(\"fd3d:fa7b:d17d::1\")"),
        &RunConfig::default(),
    );
    assert!(r.passed(), "{:?}", r.failure);
    let f = run_script(
        &open("ipv6", "inet_addr(\"192.168.0.1\")"),
        &RunConfig::default(),
    )
    .failure
    .expect("an IPv4 address on an IPv6 socket");
    assert!(f.message.contains("EAFNOSUPPORT"), "{f:?}");
    // IPv4-mapped IPv6: the same socket calls with a mapped address, IPv4 on the wire.
    let r = run_script(
        &open("ipv4-mapped-ipv6", "inet6_addr(\"::ffff:192.168.0.1\")"),
        &RunConfig::default(),
    );
    assert!(r.passed(), "{:?}", r.failure);
    let f = run_script(&open("ipv5", "in6addr_any"), &RunConfig::default())
        .failure
        .unwrap();
    assert!(f.message.contains("--ip_version=ipv5"), "{f:?}");
}

/// packetdrill's sequence spaces: non-SYN numbers count from the first packet of the flow,
/// whatever its sequence number was; SYNs are absolute.
#[test]
fn peer_numbers_count_from_the_flows_first_packet_as_in_packetdrill() {
    let src = "\
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  bind(3, ..., ...) = 0
+0  listen(3, 1) = 0
+0  < S 5000:5000(0) win 65535 <mss 1000>
+0  > S. 0:0(0) ack 5001 <mss 1460>
+.1 < . 1:1(0) ack 1 win 1000
+0  accept(3, ..., ...) = 4
+0  < P. 1:11(10) ack 1 win 1000
+0~+.2 > . 1:1(0) ack 11
";
    let r = run_script(src, &RunConfig::default());
    assert!(r.passed(), "{:?}", r.failure);
    // Written as absolute numbers after the SYN, the same data is 5000 bytes ahead.
    let r = run_script(
        &src.replace("< P. 1:11(10)", "< P. 5001:5011(10)"),
        &RunConfig::default(),
    );
    assert!(!r.passed());
}

#[test]
fn an_echo_of_a_tsval_never_sent_fails_as_under_packetdrill() {
    let src = "\
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0  connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0  > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+.1 < S. 0:0(0) ack 1 win 65535 <mss 1000,sackOK,TS val 700 ecr 0,nop,wscale 7>
";
    let f = run_script(src, &RunConfig::default())
        .failure
        .expect("ecr 0 names no TSval synack sent");
    assert!(f.message.contains("cannot map TS ecr 0"), "{}", f.message);
    assert_eq!(f.kind, FailureKind::Mismatch);
    // --tcp_ts_ecr_scaled takes it relative to the first TSval (100 → synack's own).
    let r = run_script(
        &format!("--tcp_ts_ecr_scaled\n{src}"),
        &RunConfig::default(),
    );
    assert!(r.passed(), "{:?}", r.failure);
    // An echo of the TSval the script named is always mapped.
    let r = run_script(
        &src.replace("TS val 700 ecr 0", "TS val 700 ecr 100"),
        &RunConfig::default(),
    );
    assert!(r.passed(), "{:?}", r.failure);
}

#[test]
fn port_pairs_name_another_flow_and_the_at_port_extension_is_gone() {
    let src = format!(
        "{HANDSHAKE}+0  < 40009>8080 S 0:0(0) win 65535 <mss 1000>\n\
         +0  > 8080>40009 S. 0:0(0) ack 1 <mss 1460>\n"
    );
    let r = run_script(&src, &RunConfig::default());
    assert!(r.passed(), "{:?}", r.failure);
    // The expected port pair is checked.
    let r = run_script(
        &src.replace("> 8080>40009", "> 8080>40010"),
        &RunConfig::default(),
    );
    assert!(r.failure.unwrap().message.contains("expected port 40010"));
    let r = run_script(
        &format!("{HANDSHAKE}+0  <@40009 S 0:0(0) win 65535 <mss 1000>\n"),
        &RunConfig::default(),
    );
    assert!(r.failure.unwrap().message.starts_with("parse error"));
}

/// Both timestamp rules at once: an inbound echo must name a TSval the script wrote, unless
/// synack's latest TSval on the flow went unchecked (`<...>`), which such an echo then names.
#[test]
fn an_echo_names_a_written_tsval_or_the_latest_unchecked_one() {
    let open = "\
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0  connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0  > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+.1 < S. 0:0(0) ack 1 win 65535 <mss 1000,sackOK,TS val 700 ecr 100,nop,wscale 7>
";
    let rest = "\
+.1 < P. 1:11(10) ack 1 win 1000 <nop,nop,TS val 800 ecr 4242>
+0~+.5 > . 1:1(0) ack 11 <nop,nop,TS val 4342 ecr 800>
";
    let unchecked = format!("{open}+0  > . 1:1(0) ack 1 <...>\n{rest}");
    let r = run_script(&unchecked, &RunConfig::default());
    assert!(r.passed(), "{:?}", r.failure);
    let written = format!("{open}+0  > . 1:1(0) ack 1 <nop,nop,TS val 150 ecr 700>\n{rest}");
    let f = run_script(&written, &RunConfig::default())
        .failure
        .expect("4242 names no TSval the script wrote, and the latest was checked");
    assert!(
        f.message.contains("cannot map TS ecr 4242"),
        "{}",
        f.message
    );
    let r = run_script(
        &written.replace("ecr 4242", "ecr 150"),
        &RunConfig::default(),
    );
    assert!(r.passed(), "{:?}", r.failure);
}

#[test]
fn ipv6_level_options_under_ipv4_mapped_ipv6_are_unsupported() {
    let src = format!(
        "--ip_version=ipv4-mapped-ipv6\n{HANDSHAKE}+0 setsockopt(4, SOL_IPV6, IPV6_TCLASS, [8], 4) = 0\n"
    );
    let r = run_script(&src, &RunConfig::default());
    assert!(r.unsupported(), "{:?}", r.failure);
    // Over IPv4 the same call is Linux's ENOPROTOOPT, a real answer.
    let src = format!(
        "{HANDSHAKE}+0 setsockopt(4, SOL_IPV6, IPV6_TCLASS, [8], 4) = -1 ENOPROTOOPT (Protocol not available)\n"
    );
    let r = run_script(&src, &RunConfig::default());
    assert!(r.passed(), "{:?}", r.failure);
}
