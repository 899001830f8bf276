//! The parser answers any input with a script or a positioned error, never a panic.

use proptest::prelude::*;
use synack_script::parse;

/// Fragments of the language, so random input often gets deep into the grammar.
const PIECES: &[&str] = &[
    "0",
    "+0.1",
    "*",
    "~",
    "...",
    " ",
    "\n",
    "<",
    ">",
    "S",
    ".",
    "F",
    "R",
    "P",
    "0:0(0)",
    "1:1001(1000)",
    "ack",
    "win",
    "<mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>",
    "<...>",
    "socket(",
    "..., ",
    "SOCK_STREAM",
    ")",
    "= ",
    "-1",
    "ECONNREFUSED",
    "(Connection refused)",
    "%{",
    "}%",
    "`",
    "[",
    "]",
    "{",
    "}",
    "=",
    "|",
    ",",
    "\"",
    "/*",
    "*/",
    "//",
    "--",
    "0x",
    "4294967296",
    "99999999999999999999",
    "sack 1:2",
    "TS",
    "val",
    "ecr",
    "[ect0]",
    "[",
    "-",
    "A",
    "FO",
    "md5 00ff",
    "ECN e1b 1",
    "icmp unreachable",
    "udp (10)",
    "msg_iov(1)=",
    "{..., 5}",
    "\\x4",
    " (flags O_RDWR)",
    " ... ",
    " ~ ",
    "+ ",
    "(tos 0x1f)",
    "(ttl 300)",
    "(hlim 1, class 0xff)",
    "(flowlabel 0xfffff",
    "[ect0, flowlabel 0x1]",
    "(ecn ",
    "epoll_wait(",
    "MSG_PEEK|MSG_WAITALL",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = parse(&s);
    }

    #[test]
    fn arbitrary_fragments_never_panic(parts in prop::collection::vec(0..PIECES.len(), 0..40)) {
        let s: String = parts.iter().map(|&i| PIECES[i]).collect();
        if let Err(e) = parse(&s) {
            // The position points into the input.
            let lines = s.split('\n').count();
            prop_assert!(e.pos.line >= 1 && e.pos.line <= lines, "{e} for {s:?}");
            prop_assert!(!e.msg.is_empty());
        }
    }
}

const HANDSHAKE: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <...>
+.1 < . 1:1(0) ack 1 win 1000
+0 accept(3, ..., ...) = 4
";

/// Whole lines of the language, so random scripts get past the parser into the runner.
const LINES: &[&str] = &[
    "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
    "+0 bind(3, ..., ...) = 0\n",
    "+0 listen(3, 1) = 0\n",
    "+0 listen(3, 99999999999) = 0\n",
    "+0 accept(3, ..., ...) = 4\n",
    "+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n",
    "+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n",
    "+0 connect(3, ..., ...) = -1 EINPROGRESS (x)\n",
    "+0 < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n",
    "+0 < S 0:0(0) win 65535 <mss 0,wscale 255,TS val 1 ecr 9>\n",
    "+0 > S. 0:0(0) ack 1 <...>\n",
    "+.1 < . 1:1(0) ack 1 win 1000\n",
    "+0 < P. 1:4294967295(4294967294) ack 1 win 1\n",
    "+0 < P. 1:1001(1000) ack 1 win 1000 <nop,nop,TS val 5 ecr 77>\n",
    "+0 < R 1:1(0) win 0\n",
    "+0 < F. 1:1(0) ack 1 win 1000\n",
    "* > . 1:1(0) ack 1\n",
    "+0~+1 > P. 1:11(10) ack 1\n",
    "+0 write(4, ..., 100) = 100\n",
    "+0 write(4, ..., 4000000000) = 10\n",
    "+0 read(4, ..., 18446744073709551615) = 0\n",
    "+0 read(4, ..., -1) = 0\n",
    "+0 poll([{fd=4, events=POLLIN, revents=POLLIN}], 1, 9223372036854775807) = 1\n",
    "+0 poll([{fd=4, events=POLLIN}], 1, -1) = 0\n",
    "+0 close(4) = 0\n",
    "+0 shutdown(4, SHUT_WR) = 0\n",
    "+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n",
    "+0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [1], 4) = 0\n",
    "+0 getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n",
    "+0 %{ assert tcpi_state / 0 == 1 }%\n",
    "+0 %{ assert -9223372036854775807 - 1 / -1 == 1 }%\n",
    "+0 %{ assert tcpi_rto > 0 }%\n",
    "+999999999 %{ assert tcpi_state == TCP_CLOSE }%\n",
    "0...999999999 accept(3, ..., ...) = 4\n",
    "+0 `sysctl -q net.ipv4.tcp_syn_retries=99999999999; sysctl -q net.ipv4.tcp_rmem=\"0 0 0\"`\n",
    "+0 `sysctl -q net.ipv4.tcp_syncookies=0`\n",
    "--tolerance_usecs=18446744073709551615\n",
    "--ip_version=ipv6\n",
    "--ip_version=ipv4-mapped-ipv6\n",
    "+ 0 < (tos 0xff, ttl 0) . 1:1(0) ack 1 win 1000\n",
    "+0 > (class 0x4, hlim 255, flowlabel 0xfffff) . 1:1(0) ack 1\n",
    "+0 < (flowlabel 0x1) P. 1:11(10) ack 1 win 1000\n",
    "+0 < [ect01] . 1:1(0) ack 1 win 1000\n",
    "+0 `ethtool -K tun0 tso off gso off`\n",
    "+0 setsockopt(4, SOL_IP, IP_TOS, [-1], 4) = 0\n",
    "+0 setsockopt(4, SOL_IPV6, IPV6_UNICAST_HOPS, [-2], 4) = 0\n",
    "+0 setsockopt(4, SOL_TCP, TCP_CORK, [1], 4) = 0\n",
    "+0 send(4, ..., 18446744073709551615, MSG_MORE) = 1\n",
    "+0 recv(4, ..., 10, MSG_PEEK|MSG_WAITALL|MSG_DONTWAIT) = 0\n",
    "+0 recvfrom(4, ..., 1000, MSG_WAITALL, ..., ...) = 10\n",
    "+0 sendmsg(4, {msg_name(...)=..., msg_iov(2)=[{..., 5}, {..., -1}], msg_flags=0}, 0) = 5\n",
    "+0 recvmsg(4, {msg_iov(1)=[{..., 9223372036854775807}], msg_flags=9}, 0) = 5\n",
    "+0 writev(4, [{..., 1}, {..., 18446744073709551615}], 2) = 1\n",
    "+0 epoll_create(1) = 5\n",
    "+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN|EPOLLONESHOT, fd=4}) = 0\n",
    "+0 epoll_ctl(5, EPOLL_CTL_MOD, 99, {events=-1, u64=-1}) = 0\n",
    "+0 epoll_wait(5, [{events=EPOLLIN, fd=4}], 9223372036854775807, -1) = 1\n",
    "+0 epoll_wait(5, ..., 1, 9223372036854775807) = 0\n",
    "+0 %{ assert tcpi_options & 0xffffffffffffffff | 1 }%\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("SYNACK_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)))]

    #[test]
    fn arbitrary_scripts_never_panic_the_runner(lines in prop::collection::vec(0..LINES.len(), 0..14)) {
        // Half the scripts start from an open connection, so the random part runs deep.
        let body: String = lines.iter().map(|&i| LINES[i]).collect();
        let s = if lines.len() % 2 == 0 { format!("{HANDSHAKE}{body}") } else { body };
        let _ = synack_script::run_script(&s, &synack_script::RunConfig::default());
    }
}
