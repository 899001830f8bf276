//! The socket table between two hosts on a lossless wire: ids, ephemeral binds, an error
//! reported once, and the events a runtime wakes its waiters on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack_proto::host::HostConfig;
use synack_proto::{ConnError, Instant, StateName};
use synack_socket::{SockOpt, SocketError, SocketEvent, SocketId, SocketTable};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

fn table(ip: IpAddr, secret: u128) -> SocketTable {
    SocketTable::new(HostConfig {
        secret,
        local_addrs: vec![ip],
        ..HostConfig::default()
    })
}

fn shuttle(now: Instant, a: &mut SocketTable, b: &mut SocketTable) {
    let mut buf = vec![0u8; 2048];
    loop {
        let mut any = false;
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            b.handle_packet(now, &buf[..t.len]);
            any = true;
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            a.handle_packet(now, &buf[..t.len]);
            any = true;
        }
        if !any {
            return;
        }
    }
}

fn events(t: &mut SocketTable) -> Vec<SocketEvent> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

#[test]
fn ids_are_the_lowest_free_and_a_bad_one_is_refused() {
    let mut t = table(A, 1);
    let ids: Vec<SocketId> = (0..4).map(|_| t.socket(false)).collect();
    assert_eq!(
        ids.iter().map(|i| i.raw()).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    t.close(Instant::ZERO, ids[1]).unwrap();
    t.close(Instant::ZERO, ids[3]).unwrap();
    assert_eq!(t.socket(false).raw(), 1);
    assert_eq!(t.socket(false).raw(), 3);
    assert_eq!(t.socket(false).raw(), 4);
    assert_eq!(
        t.close(Instant::ZERO, SocketId::from_raw(99)),
        Err(SocketError::BadSocket)
    );
}

#[test]
fn port_zero_binds_distinct_ephemeral_ports_and_a_taken_one_is_refused() {
    let mut t = table(A, 2);
    let range = t.host().config().ephemeral_ports.clone();
    let (a, b, c) = (t.socket(false), t.socket(false), t.socket(false));
    t.bind(a, SocketAddr::new(A, 0)).unwrap();
    t.bind(b, SocketAddr::new(A, 0)).unwrap();
    let pa = t.local_addr(a).unwrap().unwrap().port();
    let pb = t.local_addr(b).unwrap().unwrap().port();
    assert!(range.contains(&pa) && range.contains(&pb));
    assert_ne!(pa, pb);
    assert_eq!(
        t.bind(c, SocketAddr::new(A, pa)),
        Err(SocketError::AddrInUse)
    );
    t.listen(a, 4).unwrap();
    assert_eq!(t.state(a), Ok(StateName::Listen));
}

#[test]
fn a_reset_is_reported_once_then_end_of_stream_and_broken_pipe() {
    let now = Instant::ZERO;
    let (mut srv, mut cli) = (table(A, 3), table(B, 4));
    cli.keep_events();
    srv.keep_events();
    let l = srv.socket(false);
    srv.bind(l, SocketAddr::new(A, 80)).unwrap();
    srv.listen(l, 4).unwrap();
    assert_eq!(srv.accept(l), Err(SocketError::WouldBlock));
    let c = cli.socket(false);
    assert_eq!(
        cli.connect(now, c, SocketAddr::new(A, 80)),
        Err(SocketError::InProgress)
    );
    assert_eq!(cli.connect_status(c), Err(SocketError::WouldBlock));
    assert_eq!(cli.write(c, b"early"), Err(SocketError::WouldBlock));
    shuttle(now, &mut srv, &mut cli);
    assert_eq!(cli.connect_status(c), Ok(()));
    assert_eq!(
        cli.connect(now, c, SocketAddr::new(A, 80)),
        Err(SocketError::IsConnected)
    );
    assert!(events(&mut srv).contains(&SocketEvent::Acceptable(l)));
    let (s, peer) = srv.accept(l).unwrap();
    assert_eq!(peer.ip(), B);

    assert_eq!(cli.write(c, b"hello"), Ok(5));
    shuttle(now, &mut srv, &mut cli);
    assert!(events(&mut srv).contains(&SocketEvent::Readable(s)));
    let mut buf = [0u8; 16];
    assert_eq!(srv.read(s, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(srv.read(s, &mut buf), Err(SocketError::WouldBlock));

    // The server resets (linger 0): the client hears of it once.
    srv.set_option(s, SockOpt::Linger(Some(std::time::Duration::ZERO)))
        .unwrap();
    srv.close(now, s).unwrap();
    shuttle(now, &mut srv, &mut cli);
    assert!(events(&mut cli).contains(&SocketEvent::Closed(c)));
    assert_eq!(
        cli.read(c, &mut buf),
        Err(SocketError::Ended(ConnError::ConnectionReset))
    );
    assert_eq!(cli.read(c, &mut buf), Ok(0));
    assert_eq!(cli.write(c, b"x"), Err(SocketError::BrokenPipe));
    assert_eq!(cli.take_error(c), Ok(None));
}

#[test]
fn options_on_a_listener_pass_to_what_it_accepts() {
    let now = Instant::ZERO;
    let (mut srv, mut cli) = (table(A, 5), table(B, 6));
    let l = srv.socket(false);
    srv.bind(l, SocketAddr::new(A, 80)).unwrap();
    srv.listen(l, 4).unwrap();
    srv.set_option(l, SockOpt::NoDelay(true)).unwrap();
    assert_eq!(
        srv.set_option(l, SockOpt::V6Only(true)),
        Err(SocketError::NoSuchOption)
    );
    let c = cli.socket(false);
    let _ = cli.connect(now, c, SocketAddr::new(A, 80));
    shuttle(now, &mut srv, &mut cli);
    let (s, _) = srv.accept(l).unwrap();
    assert!(srv.options(s).unwrap().config.nodelay);
    assert!(
        srv.host()
            .conn_config(srv.conn_of(s).unwrap())
            .unwrap()
            .nodelay
    );
}
