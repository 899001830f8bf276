use super::*;

#[test]
fn times() {
    let s = parse("0 `true`\n+0.1 `true`\n.25 `true`\n1.5~+2 > . 1:1(0) ack 1\n* > . 1:1(0) ack 1\n0.1...0.3 close(3) = 0\n").unwrap();
    let w: Vec<When> = s.events.iter().map(|e| e.when).collect();
    assert_eq!(
        w,
        vec![
            When::At(Time::Absolute(0)),
            When::At(Time::Relative(100_000)),
            When::At(Time::Absolute(250_000)),
            When::Window(Time::Absolute(1_500_000), Time::Relative(2_000_000)),
            When::Any,
            When::Blocking(Time::Absolute(100_000), Time::Absolute(300_000)),
        ]
    );
}

#[test]
fn packets() {
    let s = parse(
        "0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n\
         +0 > S. 0:0(0) ack 1 <...>\n\
         +0 < P. 1:1001(1000) ack 1 win 257 <nop,nop,TS val 100 ecr 700,nop,nop,sack 1:2 3:4>\n\
         +0 > F. 1:1(0) ack 1001\n",
    )
    .unwrap();
    let Action::Packet(p) = &s.events[0].action else {
        panic!()
    };
    assert_eq!(p.direction, Direction::Inbound);
    assert!(p.flags.syn && !p.flags.ack);
    assert_eq!(p.win, Some(32792));
    assert_eq!(
        p.options,
        Options::List(vec![
            TcpOpt::Mss(1000),
            TcpOpt::SackOk,
            TcpOpt::Nop,
            TcpOpt::Nop,
            TcpOpt::Nop,
            TcpOpt::WScale(7)
        ])
    );
    let Action::Packet(p) = &s.events[1].action else {
        panic!()
    };
    assert_eq!(p.options, Options::Any);
    assert_eq!((p.ack, p.flags.to_string()), (Some(1), "S.".to_string()));
    let Action::Packet(p) = &s.events[2].action else {
        panic!()
    };
    assert_eq!((p.seq, p.len), (1, 1000));
    let Options::List(o) = &p.options else {
        panic!()
    };
    assert_eq!(o[2], TcpOpt::Timestamp { val: 100, ecr: 700 });
    assert_eq!(o[5], TcpOpt::Sack(vec![(1, 2), (3, 4)]));
    let Action::Packet(p) = &s.events[3].action else {
        panic!()
    };
    assert_eq!(p.options, Options::List(vec![]));
}

#[test]
fn syscalls() {
    let s = parse(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n\
         +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
         +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
         +0 poll([{fd=3, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n",
    )
    .unwrap();
    let Action::Syscall(c) = &s.events[3].action else {
        panic!()
    };
    assert_eq!(c.name, "connect");
    assert_eq!(c.ret, Expr::Int(-1));
    assert_eq!(c.errno.as_deref(), Some("EINPROGRESS"));
    let Action::Syscall(c) = &s.events[2].action else {
        panic!()
    };
    assert_eq!(
        c.args[2],
        Expr::Or(vec![
            Expr::Word("O_RDWR".into()),
            Expr::Word("O_NONBLOCK".into())
        ])
    );
}

#[test]
fn code_options_and_comments() {
    let s = parse(
        "--tolerance_usecs=10000\n// a comment\n/* block\n comment */\n\
         0 %{ assert tcpi_state == TCP_ESTABLISHED }%\n",
    )
    .unwrap();
    assert_eq!(s.options[0].0, "tolerance_usecs");
    assert_eq!(s.options[0].1, "10000");
    assert_eq!(
        s.events[0].action,
        Action::Code("assert tcpi_state == TCP_ESTABLISHED".into())
    );
    assert_eq!(s.events[0].pos, Pos { line: 5, col: 1 });
}

#[test]
fn errors_have_positions() {
    let e =
        parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:10(5) win 10\n").unwrap_err();
    assert_eq!(e.pos.line, 2);
    assert!(e.msg.contains("payload length 5"), "{e}");
    let e = parse("0 < X 0:0(0)\n").unwrap_err();
    assert_eq!(e.pos, Pos { line: 1, col: 5 });
    assert!(e.msg.contains("unknown TCP flag 'X'"));
    let e = parse("0 < S 0:0(0) <foo 1>\n").unwrap_err();
    assert!(e.msg.contains("unsupported TCP option 'foo'"), "{e}");
    let e = parse("0 close(3\n").unwrap_err();
    assert!(e.msg.contains("')'"), "{e}");
    let e = parse("hello\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "1:1: expected an event starting with a time, found 'h'"
    );
    let e = parse("0 %{ assert 1\n").unwrap_err();
    assert!(e.msg.contains("unterminated"));
}

#[test]
fn ranges_with_blanks() {
    let s = parse("+.25 ... 0.5 close(3) = 0\n+0 ~ +.1 > . 1:1(0) ack 1\n").unwrap();
    assert_eq!(
        s.events[0].when,
        When::Blocking(Time::Relative(250_000), Time::Absolute(500_000))
    );
    assert_eq!(
        s.events[1].when,
        When::Window(Time::Relative(0), Time::Relative(100_000))
    );
}

#[test]
fn ecn_field_and_flags() {
    let s =
        parse("0 < [ce] SEW 0:0(0) win 100\n+0 > [noecn] - 5:9(4) win 7\n+0 < SA 0:0(0) win 1\n")
            .unwrap();
    let Action::Packet(p) = &s.events[0].action else {
        panic!()
    };
    assert_eq!(p.ip.ecn.as_deref(), Some("ce"));
    assert!(p.flags.syn && p.flags.ece && p.flags.cwr && !p.flags.ack);
    let Action::Packet(p) = &s.events[1].action else {
        panic!()
    };
    assert_eq!((p.flags, p.len), (Flags::default(), 4));
    assert_eq!(p.flags.to_string(), "-");
    let Action::Packet(p) = &s.events[2].action else {
        panic!()
    };
    assert!(p.flags.ae && p.flags.syn);
    assert!(parse("0 < [xx] S 0:0(0)\n").is_err());
}

#[test]
fn options_synack_lacks_are_kept_as_text() {
    let s =
        parse("0 < S 0:5(5) win 9 <mss 500, FO 0123abcd,nop,nop,md5 ffff,FOEXP,ECN e0b 3 ceb 1>\n")
            .unwrap();
    let Action::Packet(p) = &s.events[0].action else {
        panic!()
    };
    assert_eq!(
        p.options,
        Options::List(vec![
            TcpOpt::Mss(500),
            TcpOpt::Unsupported("FO 0123abcd".into()),
            TcpOpt::Nop,
            TcpOpt::Nop,
            TcpOpt::Unsupported("md5 ffff".into()),
            TcpOpt::Unsupported("FOEXP".into()),
            TcpOpt::Unsupported("ECN e0b 3 ceb 1".into()),
        ])
    );
    assert!(parse("0 < S 0:0(0) <FO abc\n+0 close(3) = 0\n").is_err());
}

#[test]
fn other_protocols_are_read_to_the_end_of_the_line() {
    let s = parse(
        "0 < icmp unreachable port_unreachable [5:9(4)] // why\n+0 > udp (20)\n\
         +0 close(3) = 0\n",
    )
    .unwrap();
    assert_eq!(
        s.events[0].action,
        Action::Unsupported {
            feature: "ICMP packets".into(),
            text: "icmp unreachable port_unreachable [5:9(4)]".into()
        }
    );
    assert!(
        matches!(&s.events[1].action, Action::Unsupported { feature, .. } if feature == "UDP packets")
    );
    assert!(matches!(&s.events[2].action, Action::Syscall(c) if c.name == "close"));
}

#[test]
fn results_with_notes() {
    let s = parse(
        "0 fcntl(3, F_GETFL) = 0x802 (flags O_RDWR|O_NONBLOCK)\n\
         +0 close(9) = -1 (Bad file descriptor)\n\
         +0 read(3, ..., 5) = -1 EAGAIN(Try again)\n",
    )
    .unwrap();
    let calls: Vec<&Syscall> = s
        .events
        .iter()
        .map(|e| match &e.action {
            Action::Syscall(c) => c,
            _ => panic!(),
        })
        .collect();
    assert_eq!((&calls[0].ret, &calls[0].errno), (&Expr::Int(0x802), &None));
    assert_eq!((&calls[1].ret, &calls[1].errno), (&Expr::Int(-1), &None));
    assert_eq!(calls[2].errno.as_deref(), Some("EAGAIN"));
}

#[test]
fn struct_fields_with_arguments_and_positions() {
    let s = parse(
        "0 sendmsg(3, {msg_name(...)=..., msg_iov(2)=[{..., 10}, {..., 0}], \
         msg_control=[{cmsg_level=SOL_TCP, cmsg_data={a=1}}], msg_flags=0}, 0) = 10\n",
    )
    .unwrap();
    let Action::Syscall(c) = &s.events[0].action else {
        panic!()
    };
    let Expr::Struct(fields) = &c.args[1] else {
        panic!()
    };
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["msg_name(...)", "msg_iov(2)", "msg_control", "msg_flags"]
    );
    assert_eq!(
        fields[1].1,
        Expr::List(vec![
            Expr::Struct(vec![
                (String::new(), Expr::Ellipsis),
                (String::new(), Expr::Int(10))
            ]),
            Expr::Struct(vec![
                (String::new(), Expr::Ellipsis),
                (String::new(), Expr::Int(0))
            ]),
        ])
    );
    assert_eq!(fields[1].1.to_string(), "[{..., 10}, {..., 0}]");
}

#[test]
fn string_escapes() {
    let s = parse("0 setsockopt(3, SOL_TCP, 1, \"\\x41\\x4a\\n\\\"z\", 5) = 0\n").unwrap();
    let Action::Syscall(c) = &s.events[0].action else {
        panic!()
    };
    assert_eq!(c.args[3], Expr::Str("AJ\n\"z".into()));
    assert!(parse("0 f(\"\\xg\") = 0\n").is_err());
}

#[test]
fn fuzzing_annotations() {
    let s = parse("0 > S 0:0(0) <mss 1460> { mut tcp mss }\n").unwrap();
    let Action::Packet(p) = &s.events[0].action else {
        panic!()
    };
    assert_eq!(p.mutation.as_deref(), Some("mut tcp mss"));
    assert!(parse("0 > S 0:0(0) { mut\n").is_err());
}

#[test]
fn ack_field_and_flag_apart() {
    let s = parse("0 < R. 7:7(0) win 3\n+0 < R 7:7(0) ack 9 win 0\n").unwrap();
    let Action::Packet(p) = &s.events[0].action else {
        panic!()
    };
    assert_eq!((p.flags.ack, p.ack), (true, None));
    let Action::Packet(p) = &s.events[1].action else {
        panic!()
    };
    assert_eq!((p.flags.ack, p.ack), (false, Some(9)));
}

#[test]
fn plus_is_a_token_of_its_own() {
    let s = parse("+ 0.00 close(3) = 0\n+  .5~+ 1 > . 1:1(0) ack 1\n").unwrap();
    assert_eq!(s.events[0].when, When::At(Time::Relative(0)));
    assert_eq!(
        s.events[1].when,
        When::Window(Time::Relative(500_000), Time::Relative(1_000_000))
    );
}

#[test]
fn ip_header_fields_before_the_flags() {
    let s = parse(
        "0 < (tos 0x48) S 0:0(0) win 1\n\
         +0 > (ttl 3) S. 0:0(0) ack 1\n\
         +0 > [ect0, flowlabel 0x12345] . 1:1(0) ack 1\n\
         +0 < (class 0xb8, hlim 1, ecn ce) . 1:1(0) ack 1 win 9\n",
    )
    .unwrap();
    let ip = |k: usize| match &s.events[k].action {
        Action::Packet(p) => p.ip.clone(),
        _ => panic!(),
    };
    assert_eq!(
        ip(0),
        IpInfo {
            tos: Some(0x48),
            ..IpInfo::default()
        }
    );
    assert_eq!(ip(1).ttl, Some(3));
    assert_eq!(
        (ip(2).ecn.as_deref(), ip(2).flow_label),
        (Some("ect0"), Some(0x12345))
    );
    assert_eq!(
        ip(3),
        IpInfo {
            ecn: Some("ce".into()),
            tos: Some(0xb8),
            ttl: Some(1),
            flow_label: None,
        }
    );
    assert_eq!(ip(3).ecn_bits(), Some(3));
    assert!(parse("0 < (ttl 300) S 0:0(0)\n").is_err());
    assert!(parse("0 < (flowlabel 0x100000) S 0:0(0)\n").is_err());
    assert!(parse("0 < (color 1) S 0:0(0)\n").is_err());
    assert!(parse("0 < (tos 1 S 0:0(0)\n").is_err());
}
