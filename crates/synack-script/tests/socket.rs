//! The socket layer between two stacks on a lossless wire: results and errno values as a
//! Linux socket gives them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack_proto::host::HostConfig;
use synack_proto::{Instant, StateName};
use synack_script::socket::consts::*;
use synack_script::{Errno, OptText, OptValue, SockError, Stack};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

fn stack(ip: IpAddr, secret: u128) -> Stack {
    Stack::new(HostConfig {
        secret,
        local_addrs: vec![ip],
        ..HostConfig::default()
    })
}

/// Moves every packet between the two stacks until both are quiet; returns how many moved.
fn shuttle(now: Instant, a: &mut Stack, b: &mut Stack) -> usize {
    let mut buf = vec![0u8; 2048];
    let mut moved = 0;
    loop {
        let mut any = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            b.handle_packet(now, &buf[..n]);
            any = true;
            moved += 1;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle_packet(now, &buf[..n]);
            any = true;
            moved += 1;
        }
        if !any {
            return moved;
        }
    }
}

fn err(e: Errno) -> SockError {
    SockError::Errno(e)
}

#[test]
fn connect_accept_read_write_close() {
    let now = Instant::ZERO;
    let (mut srv, mut cli) = (stack(A, 1), stack(B, 2));
    let l = srv.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP).unwrap();
    assert_eq!(
        l, 3,
        "the first descriptor is 3, as in a process with stdio open"
    );
    srv.bind(l, SocketAddr::new(A, 8080)).unwrap();
    srv.listen(l, 16).unwrap();
    assert_eq!(srv.accept(l), Err(err(Errno::EAGAIN)));

    let c = cli.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
    assert!(cli.is_nonblocking(c).unwrap());
    assert_eq!(
        cli.connect(now, c, SocketAddr::new(A, 8080)),
        Err(err(Errno::EINPROGRESS))
    );
    assert_eq!(cli.connect_result(c), Ok(None));
    assert_eq!(cli.write(c, b"early"), Err(err(Errno::EAGAIN)));
    assert_eq!(
        cli.connect(now, c, SocketAddr::new(A, 8080)),
        Err(err(Errno::EALREADY))
    );
    shuttle(now, &mut srv, &mut cli);
    assert_eq!(cli.connect_result(c), Ok(Some(Ok(()))));
    assert_eq!(
        cli.connect(now, c, SocketAddr::new(A, 8080)),
        Err(err(Errno::EISCONN))
    );
    assert_ne!(
        srv.poll_events(l) & POLLIN,
        0,
        "a queued connection is readable"
    );
    let (s, peer) = srv.accept(l).unwrap();
    assert_eq!(s, 4);
    assert_eq!(peer.ip(), B);
    assert!(!srv.is_nonblocking(s).unwrap());
    assert_eq!(srv.state(s), Ok(StateName::Established));

    assert_eq!(cli.write(c, b"hello"), Ok(5));
    assert_eq!(srv.read(s, 100), Err(err(Errno::EAGAIN)));
    shuttle(now, &mut srv, &mut cli);
    assert_eq!(srv.read(s, 100).unwrap(), b"hello");

    cli.close(now, c).unwrap();
    assert_eq!(cli.close(now, c), Err(err(Errno::EBADF)));
    shuttle(now, &mut srv, &mut cli);
    assert_eq!(
        srv.read(s, 100).unwrap(),
        b"",
        "end of stream after the peer's FIN"
    );
    assert_eq!(srv.state(s), Ok(StateName::CloseWait));
    assert_ne!(srv.poll_events(s) & POLLRDHUP, 0);
    srv.close(now, s).unwrap();
    shuttle(now, &mut srv, &mut cli);
}

#[test]
fn refused_reset_and_broken_pipe() {
    let now = Instant::ZERO;
    let (mut srv, mut cli) = (stack(A, 3), stack(B, 4));
    let c = cli.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(
        cli.connect(now, c, SocketAddr::new(A, 9)),
        Err(err(Errno::EINPROGRESS))
    );
    shuttle(now, &mut srv, &mut cli);
    assert_ne!(cli.poll_events(c) & POLLERR, 0);
    assert_eq!(cli.connect_result(c), Ok(Some(Err(Errno::ECONNREFUSED))));
    assert_eq!(
        cli.getsockopt(c, SOL_SOCKET, SO_ERROR),
        Ok(OptValue::Int(0))
    );

    // A reset of an established connection: reported once, then EOF and EPIPE.
    let l = srv.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    srv.bind(l, SocketAddr::new(A, 80)).unwrap();
    srv.listen(l, 4).unwrap();
    let c = cli.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let _ = cli.connect(now, c, SocketAddr::new(A, 80));
    shuttle(now, &mut srv, &mut cli);
    let (s, _) = srv.accept(l).unwrap();
    srv.setsockopt(
        s,
        SOL_SOCKET,
        SO_LINGER,
        OptValue::Linger {
            onoff: 1,
            linger: 0,
        },
    )
    .unwrap();
    srv.close(now, s).unwrap();
    shuttle(now, &mut srv, &mut cli);
    assert_eq!(cli.state(c), Ok(StateName::Closed));
    assert_eq!(
        cli.getsockopt(c, SOL_SOCKET, SO_ERROR),
        Ok(OptValue::Int(104))
    );
    assert_eq!(cli.read(c, 10).unwrap(), b"");
    assert_eq!(cli.write(c, b"x"), Err(err(Errno::EPIPE)));
}

#[test]
fn options_map_to_knobs_or_say_unsupported() {
    let now = Instant::ZERO;
    let (mut srv, mut cli) = (stack(A, 5), stack(B, 6));
    let c = cli.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    cli.setsockopt(c, SOL_SOCKET, SO_RCVBUF, OptValue::Int(4096))
        .unwrap();
    cli.setsockopt(c, IPPROTO_TCP, TCP_MAXSEG, OptValue::Int(536))
        .unwrap();
    cli.setsockopt(c, IPPROTO_TCP, TCP_NODELAY, OptValue::Int(1))
        .unwrap();
    cli.setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, OptValue::Int(10))
        .unwrap();
    cli.setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, OptValue::Int(1))
        .unwrap();
    assert_eq!(
        cli.getsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE),
        Ok(OptValue::Int(10))
    );
    assert_eq!(
        cli.getsockopt(c, SOL_SOCKET, SO_RCVBUF),
        Ok(OptValue::Int(4096))
    );
    assert!(matches!(
        cli.setsockopt(
            c,
            SOL_SOCKET,
            SO_LINGER,
            OptValue::Linger {
                onoff: 1,
                linger: 5
            }
        ),
        Err(SockError::Unsupported(_))
    ));
    assert_eq!(
        cli.setsockopt(c, IPPROTO_TCP, TCP_CONGESTION, OptValue::Int(0)),
        Err(err(Errno::EINVAL)),
        "a controller is named, not numbered"
    );
    let name = |n: &str| OptValue::Text(OptText::new(n.as_bytes()).unwrap());
    assert_eq!(
        cli.setsockopt(c, IPPROTO_TCP, TCP_CONGESTION, name("vegas")),
        Err(err(Errno::ENOENT)),
        "a controller synack lacks"
    );
    cli.setsockopt(c, IPPROTO_TCP, TCP_CONGESTION, name("newreno"))
        .unwrap();
    assert_eq!(
        cli.getsockopt(c, IPPROTO_TCP, TCP_CONGESTION),
        Ok(name("reno"))
    );
    assert_eq!(
        cli.setsockopt(c, IPPROTO_TCP, TCP_MAXSEG, OptValue::Int(10)),
        Err(err(Errno::EINVAL))
    );

    let l = srv.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    srv.bind(l, SocketAddr::new(A, 80)).unwrap();
    srv.listen(l, 4).unwrap();
    let _ = cli.connect(now, c, SocketAddr::new(A, 80));
    shuttle(now, &mut srv, &mut cli);
    let info = cli.tcp_info(c).unwrap();
    assert_eq!(info.rcv_wscale, 0, "a 4 KiB buffer needs no window scaling");
    let (s, _) = srv.accept(l).unwrap();
    assert_eq!(
        srv.getsockopt(s, IPPROTO_TCP, TCP_MAXSEG),
        Ok(OptValue::Int(536 - 12)),
        "the server sends at most the MSS the client announced, less the timestamps option"
    );
    assert_eq!(
        cli.tcp_info(c).unwrap().cc.controller,
        synack_proto::CongestionControl::NewReno
    );
    // Linux resizes the buffers of an open connection; the window scale stays as the SYN
    // agreed it (RFC 7323 §2.3).
    cli.setsockopt(c, SOL_SOCKET, SO_RCVBUF, OptValue::Int(1 << 20))
        .unwrap();
    cli.setsockopt(c, SOL_SOCKET, SO_SNDBUF, OptValue::Int(8192))
        .unwrap();
    let info = cli.tcp_info(c).unwrap();
    assert_eq!((info.recv_buffer, info.send_buffer), (1 << 20, 8192));
    assert_eq!(info.rcv_wscale, 0);
    assert_eq!(
        cli.getsockopt(c, SOL_SOCKET, SO_RCVBUF),
        Ok(OptValue::Int(1 << 20))
    );

    // Keepalive after 10 s of idle: the first probe leaves the client then, on virtual time.
    let mut buf = vec![0u8; 2048];
    let first_probe = loop {
        let due = cli.poll_timeout().expect("keepalive timer armed");
        assert!(due <= now + Duration::from_secs(10), "no probe by 10 s");
        cli.handle_timeout(due);
        if let Some(n) = cli.poll_transmit(due, &mut buf) {
            srv.handle_packet(due, &buf[..n]);
            break due;
        }
    };
    assert_eq!(first_probe, now + Duration::from_secs(10));
    assert!(
        shuttle(first_probe, &mut srv, &mut cli) >= 1,
        "the probe is answered"
    );

    assert_eq!(cli.fcntl(c, F_GETFL, 0), Ok(O_RDWR));
    cli.fcntl(c, F_SETFL, O_RDWR | O_NONBLOCK).unwrap();
    assert_eq!(cli.fcntl(c, F_GETFL, 0), Ok(O_RDWR | O_NONBLOCK));
    assert_eq!(cli.read(c, 1), Err(err(Errno::EAGAIN)));
}

#[test]
fn bind_and_listen_errors() {
    let mut s = stack(A, 7);
    let a = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let b = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(
        s.bind(a, SocketAddr::new(B, 80)),
        Err(err(Errno::EADDRNOTAVAIL))
    );
    s.bind(a, SocketAddr::new(A, 80)).unwrap();
    assert_eq!(s.bind(a, SocketAddr::new(A, 81)), Err(err(Errno::EINVAL)));
    assert_eq!(
        s.bind(b, SocketAddr::new(A, 80)),
        Err(err(Errno::EADDRINUSE))
    );
    s.listen(a, 1).unwrap();
    assert_eq!(s.read(a, 1), Err(err(Errno::ENOTCONN)));
    assert_eq!(s.write(b, b"x"), Err(err(Errno::EPIPE)));
    assert_eq!(s.socket(99, SOCK_STREAM, 0), Err(err(Errno::EAFNOSUPPORT)));
    assert_eq!(s.close(Instant::ZERO, 42), Err(err(Errno::EBADF)));
    s.close(Instant::ZERO, a).unwrap();
    assert_eq!(
        s.socket(AF_INET, SOCK_STREAM, 0),
        Ok(3),
        "lowest free descriptor"
    );
}

mod misuse {
    //! Any sequence of calls with any arguments answers with a result, never a panic.

    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Socket(i32, i32, i32),
        Bind(i32, u16),
        Listen(i32, i32),
        Accept(i32),
        Connect(i32, u16),
        Read(i32, usize),
        Write(i32, usize),
        Shutdown(i32, i32),
        Close(i32),
        Fcntl(i32, i32, i32),
        SetOpt(i32, i32, i32, i64),
        Linger(i32, i32, i32),
        GetOpt(i32, i32, i32),
        Poll(i32),
        Info(i32),
        Wait(u64),
        Shuttle,
    }

    fn op() -> impl Strategy<Value = Op> {
        let fd = 0..8i32;
        prop_oneof![
            (
                prop_oneof![Just(AF_INET), Just(AF_INET6), any::<i32>()],
                0..4i32,
                0..8i32
            )
                .prop_map(|(d, t, p)| Op::Socket(d, t, p)),
            (fd.clone(), prop_oneof![Just(80u16), Just(0), any::<u16>()])
                .prop_map(|(f, p)| Op::Bind(f, p)),
            (fd.clone(), any::<i32>()).prop_map(|(f, b)| Op::Listen(f, b)),
            fd.clone().prop_map(Op::Accept),
            (fd.clone(), prop_oneof![Just(80u16), Just(0), any::<u16>()])
                .prop_map(|(f, p)| Op::Connect(f, p)),
            (fd.clone(), 0..100_000usize).prop_map(|(f, n)| Op::Read(f, n)),
            (fd.clone(), 0..400_000usize).prop_map(|(f, n)| Op::Write(f, n)),
            (fd.clone(), -1..4i32).prop_map(|(f, h)| Op::Shutdown(f, h)),
            fd.clone().prop_map(Op::Close),
            (fd.clone(), 0..6i32, any::<i32>()).prop_map(|(f, c, a)| Op::Fcntl(f, c, a)),
            (
                fd.clone(),
                prop_oneof![Just(SOL_SOCKET), Just(IPPROTO_TCP), any::<i32>()],
                0..20i32,
                any::<i64>()
            )
                .prop_map(|(f, l, n, v)| Op::SetOpt(f, l, n, v)),
            (fd.clone(), any::<i32>(), any::<i32>()).prop_map(|(f, o, l)| Op::Linger(f, o, l)),
            (
                fd.clone(),
                prop_oneof![Just(SOL_SOCKET), Just(IPPROTO_TCP)],
                0..20i32
            )
                .prop_map(|(f, l, n)| Op::GetOpt(f, l, n)),
            fd.clone().prop_map(Op::Poll),
            fd.prop_map(Op::Info),
            (0..200_000_000u64).prop_map(Op::Wait),
            Just(Op::Shuttle),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn any_call_sequence_is_answered(ops in prop::collection::vec(op(), 0..40)) {
            let (mut a, mut b) = (stack(A, 11), stack(B, 12));
            let mut now = Instant::ZERO;
            for (k, op) in ops.into_iter().enumerate() {
                // Alternate the two stacks so connections between them happen.
                let (s, peer) = if k % 2 == 0 { (&mut a, B) } else { (&mut b, A) };
                let me = if peer == B { A } else { B };
                match op {
                    Op::Socket(d, t, p) => { let _ = s.socket(d, t, p); }
                    Op::Bind(f, p) => { let _ = s.bind(f, SocketAddr::new(me, p)); }
                    Op::Listen(f, n) => { let _ = s.listen(f, n); }
                    Op::Accept(f) => { let _ = s.accept(f); }
                    Op::Connect(f, p) => { let _ = s.connect(now, f, SocketAddr::new(peer, p)); }
                    Op::Read(f, n) => { let _ = s.read(f, n); }
                    Op::Write(f, n) => { let _ = s.write(f, &vec![7u8; n]); }
                    Op::Shutdown(f, h) => { let _ = s.shutdown(f, h); }
                    Op::Close(f) => { let _ = s.close(now, f); }
                    Op::Fcntl(f, c, x) => { let _ = s.fcntl(f, c, x); }
                    Op::SetOpt(f, l, n, v) => { let _ = s.setsockopt(f, l, n, OptValue::Int(v)); }
                    Op::Linger(f, o, l) => {
                        let _ = s.setsockopt(f, SOL_SOCKET, SO_LINGER, OptValue::Linger { onoff: o, linger: l });
                    }
                    Op::GetOpt(f, l, n) => { let _ = s.getsockopt(f, l, n); }
                    Op::Poll(f) => { let _ = s.poll_events(f); }
                    Op::Info(f) => { let _ = (s.tcp_info(f), s.state(f), s.addrs(f), s.connect_result(f)); }
                    Op::Wait(us) => {
                        now += Duration::from_micros(us);
                        a.handle_timeout(now);
                        b.handle_timeout(now);
                        shuttle(now, &mut a, &mut b);
                    }
                    Op::Shuttle => { shuttle(now, &mut a, &mut b); }
                }
            }
        }
    }
}
