//! The blocking sockets between two stacks joined by an in-process link: real drivers,
//! threads and the real clock, no privileges. Every wait is on an event (a read, an accept,
//! a connect), none on a sleep.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use synack::device::{Link, LinkConfig};
use synack::net::{TcpListener, TcpStream};
use synack::{CongestionControl, HostConfig, Stack};
use synack_sim::pattern;

mod common;

use common::{CLIENT, SERVER, config};

fn pair_with(link: LinkConfig, client: HostConfig, server: HostConfig) -> (Stack, Stack) {
    let (a, b) = Link::pair(link).unwrap();
    (
        Stack::new(a, client).unwrap(),
        Stack::new(b, server).unwrap(),
    )
}

fn pair() -> (Stack, Stack) {
    pair_with(LinkConfig::default(), config(CLIENT), config(SERVER))
}

fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

/// Echoes everything it reads on one accepted connection until end of stream, then closes.
fn echo_one(listener: &TcpListener) {
    let (s, _) = listener.accept().unwrap();
    echo(s);
}

/// Echoes everything it reads until end of stream, then closes.
fn echo(mut s: TcpStream) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        s.write_all(&buf[..n]).unwrap();
    }
}

/// Writes `data` from a clone of `stream` in another thread, then half-closes, while this
/// thread reads what comes back to the end.
fn echo_through(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    let mut writer = stream.try_clone().unwrap();
    thread::scope(|s| {
        s.spawn(move || {
            writer.write_all(data).unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
        });
        read_to_end(stream)
    })
}

/// Echoes `data` over a link that loses (and perhaps delays and reorders) packets as `link`
/// says: every byte comes back in order, and the stacks had to retransmit on the way.
fn echo_survives(link: LinkConfig, data: &[u8]) {
    let (client, server) = pair_with(link, config(CLIENT), config(SERVER));
    let listener = TcpListener::bind(&server, (SERVER, 7)).unwrap();
    thread::scope(|s| {
        s.spawn(|| echo_one(&listener));
        let mut stream = TcpStream::connect(&client, (SERVER, 7)).unwrap();
        let echoed = echo_through(&mut stream, data);
        assert!(echoed == data, "the echo differs");
        assert!(client.counters().retrans_segs + server.counters().retrans_segs > 0);
    });
}

#[test]
fn echo_with_half_close() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 7)).unwrap();
    assert_eq!(listener.local_addr().unwrap(), SocketAddr::new(SERVER, 7));
    let data = pattern(1, 3 * 1024 * 1024 + 17);
    thread::scope(|s| {
        s.spawn(|| echo_one(&listener));
        let mut stream = TcpStream::connect(&client, (SERVER, 7)).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), SocketAddr::new(SERVER, 7));
        assert_eq!(stream.local_addr().unwrap().ip(), CLIENT);
        let writer = stream.try_clone().unwrap();
        let data = &data;
        s.spawn(move || {
            let mut w = writer;
            w.write_all(data).unwrap();
            // Half-close: the server sees end of stream, and still sends its echo.
            w.shutdown(Shutdown::Write).unwrap();
            assert_eq!(w.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
        });
        let echoed = read_to_end(&mut stream);
        assert_eq!(echoed.len(), data.len());
        assert!(echoed == *data, "the echo differs from what was sent");
    });
}

#[test]
fn bulk_each_way_with_sha256() {
    // 100 MiB each way by default; SYNACK_BULK_MIB changes it.
    let mib: usize = std::env::var("SYNACK_BULK_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let total = mib * 1024 * 1024;
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 9000)).unwrap();
    let started = Instant::now();
    // Each side sends a stream generated in chunks and hashes it as it goes; the receiver
    // hashes what arrives. Both directions run at once.
    fn send(s: &TcpStream, seed: u64, total: usize) -> [u8; 32] {
        let mut hash = Sha256::new();
        let mut w = s;
        let mut sent = 0;
        let mut chunk_no = 0;
        while sent < total {
            let chunk = pattern(seed + chunk_no, (total - sent).min(256 * 1024));
            hash.update(&chunk);
            w.write_all(&chunk).unwrap();
            sent += chunk.len();
            chunk_no += 1;
        }
        s.shutdown(Shutdown::Write).unwrap();
        hash.finalize().into()
    }
    fn receive(s: &TcpStream) -> ([u8; 32], usize) {
        let mut hash = Sha256::new();
        let mut buf = vec![0; 256 * 1024];
        let mut r = s;
        let mut total = 0;
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                return (hash.finalize().into(), total);
            }
            hash.update(&buf[..n]);
            total += n;
        }
    }
    thread::scope(|s| {
        let srv = s.spawn(|| {
            let (conn, _) = listener.accept().unwrap();
            thread::scope(|t| {
                let tx = t.spawn(|| send(&conn, 1_000_000, total));
                let rx = receive(&conn);
                (tx.join().unwrap(), rx)
            })
        });
        let conn = TcpStream::connect(&client, (SERVER, 9000)).unwrap();
        let (client_sent, client_got) = thread::scope(|t| {
            let tx = t.spawn(|| send(&conn, 2_000_000, total));
            let rx = receive(&conn);
            (tx.join().unwrap(), rx)
        });
        let (server_sent, server_got) = srv.join().unwrap();
        assert_eq!(client_got.1, total);
        assert_eq!(server_got.1, total);
        assert_eq!(
            client_got.0, server_sent,
            "server → client stream corrupted"
        );
        assert_eq!(
            server_got.0, client_sent,
            "client → server stream corrupted"
        );
        let info = conn.info().unwrap();
        eprintln!(
            "{mib} MiB each way in {:.2?}; client cwnd {} srtt {:?} retransmits {}",
            started.elapsed(),
            info.cc.cwnd,
            info.srtt,
            info.segs_retransmitted
        );
    });
}

#[test]
fn hundred_concurrent_connections() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 80)).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            thread::scope(|t| {
                for _ in 0..100 {
                    let (conn, _) = listener.accept().unwrap();
                    t.spawn(move || echo(conn));
                }
            });
        });
        let clients: Vec<_> = (0..100u64)
            .map(|i| {
                let client = &client;
                s.spawn(move || {
                    let data = pattern(100 + i, 40_000 + i as usize * 97);
                    let mut conn = TcpStream::connect(client, (SERVER, 80)).unwrap();
                    let echoed = echo_through(&mut conn, &data);
                    assert!(echoed == data, "connection {i}: the echo differs");
                    conn.local_addr().unwrap().port()
                })
            })
            .collect();
        let mut ports: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), 100, "each connection had its own port");
    });
}

#[test]
fn abort_is_seen_as_reset_by_the_peer() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 81)).unwrap();
    let stream = TcpStream::connect(&client, (SERVER, 81)).unwrap();
    let (mut accepted, peer) = listener.accept().unwrap();
    assert_eq!(peer, stream.local_addr().unwrap());
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    assert_eq!(stream.linger().unwrap(), Some(Duration::ZERO));
    drop(stream);
    let mut buf = [0; 16];
    let err = accepted.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    // Reported once, as on Linux: then end of stream for reads, broken pipe for writes.
    assert_eq!(accepted.read(&mut buf).unwrap(), 0);
    assert_eq!(
        accepted.write(b"late").unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
}

#[test]
fn closed_port_is_refused() {
    let (client, _server) = pair();
    let err = TcpStream::connect(&client, (SERVER, 9)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn silent_address_times_out_within_the_configured_retries() {
    let mut c = config(CLIENT);
    c.tcp.syn_retries = 2;
    c.tcp.rto_initial = Duration::from_millis(100);
    let (client, _server) = pair_with(LinkConfig::default(), c, config(SERVER));
    // The server stack drops SYNs to an address that is not its own, so nothing answers.
    let silent = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99)), 80);
    let started = Instant::now();
    let err = TcpStream::connect(&client, silent).unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    // SYN, retries after 100 and 200 ms, then 400 ms for the last one's answer (RFC 6298
    // §5.5 doubling): the connect must not give up before that schedule has run, and it
    // must give up once it has (the bound is loose for a loaded machine).
    assert!(
        waited >= Duration::from_millis(650),
        "gave up after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(30),
        "still waiting after {waited:?}"
    );

    let started = Instant::now();
    let err = TcpStream::connect_timeout(&client, &silent, Duration::from_millis(50)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[test]
fn drop_with_queued_data_delivers_every_byte() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 82)).unwrap();
    let data = pattern(7, 6 * 1024 * 1024 + 5);
    let mut stream = TcpStream::connect(&client, (SERVER, 82)).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    thread::scope(|s| {
        let reader = s.spawn(move || read_to_end(&mut accepted));
        stream.write_all(&data).unwrap();
        // Still queued: the send buffer holds up to 4 MiB that the peer has not acknowledged.
        assert!(stream.info().unwrap().send_buffered > 0);
        drop(stream);
        let got = reader.join().unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "the stream arrived changed");
    });
}

#[test]
fn lossy_link_delivers_everything() {
    let link = LinkConfig {
        loss: 0.01,
        seed: 42,
        ..LinkConfig::default()
    };
    echo_survives(link, &pattern(3, 1024 * 1024));
}

#[test]
fn jitter_and_reordering_on_the_link_still_deliver_every_byte_in_order() {
    let link = LinkConfig {
        loss: 0.01,
        delay: Duration::from_millis(1),
        jitter: Duration::from_millis(2),
        reorder: 0.05,
        seed: 17,
        ..LinkConfig::default()
    };
    echo_survives(link, &pattern(5, 1024 * 1024));
}

#[test]
fn errors_carry_std_kinds() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 83)).unwrap();
    let err = TcpListener::bind(&server, (SERVER, 83)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    let err = TcpListener::bind(&server, (CLIENT, 83)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrNotAvailable);
    let v6 = SocketAddr::new("2001:db8::1".parse().unwrap(), 80);
    assert_eq!(
        TcpStream::connect(&client, v6).unwrap_err().kind(),
        ErrorKind::AddrNotAvailable
    );

    listener.set_nonblocking(true).unwrap();
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    let mut stream = TcpStream::connect(&client, (SERVER, 83)).unwrap();
    listener.set_nonblocking(false).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();

    let mut buf = [0; 8];
    stream.set_nonblocking(true).unwrap();
    assert_eq!(
        stream.read(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(30)))
        .unwrap();
    assert_eq!(
        stream.read_timeout().unwrap(),
        Some(Duration::from_millis(30))
    );
    assert_eq!(
        stream.read(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert_eq!(
        stream
            .set_read_timeout(Some(Duration::ZERO))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );

    stream.set_nodelay(true).unwrap();
    assert!(stream.nodelay().unwrap());
    stream.set_keepalive(Some(Duration::from_secs(60))).unwrap();
    assert!(stream.take_error().unwrap().is_none());

    // Shutdown(Read): reads see end of stream at once; the peer can still be written to.
    stream.shutdown(Shutdown::Read).unwrap();
    assert_eq!(stream.read(&mut buf).unwrap(), 0);
    stream.write_all(b"hello").unwrap();
    accepted.read_exact(&mut buf[..5]).unwrap();
    assert_eq!(&buf[..5], b"hello");
    stream.shutdown(Shutdown::Both).unwrap();
    assert_eq!(accepted.read(&mut buf).unwrap(), 0);
    assert_eq!(
        stream.write(b"x").unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
    let info = stream.info().unwrap();
    assert!(info.srtt.is_some());
    assert!(info.cc.cwnd > 0);
}

#[test]
fn ipv6_echo() {
    let c6: IpAddr = "2001:db8::1".parse().unwrap();
    let s6: IpAddr = "2001:db8::2".parse().unwrap();
    let (client, server) = pair_with(LinkConfig::default(), config(c6), config(s6));
    let listener = TcpListener::bind(&server, (s6, 7)).unwrap();
    let data = pattern(5, 500_000);
    thread::scope(|s| {
        s.spawn(|| echo_one(&listener));
        let mut stream = TcpStream::connect(&client, (s6, 7)).unwrap();
        assert!(echo_through(&mut stream, &data) == data);
        // IPv6's 40-byte header leaves 1440 bytes of a 1500-byte MTU; timestamps take 12.
        assert_eq!(stream.info().unwrap().snd_mss, 1428);
    });
}

#[test]
fn transparent_listener_takes_every_port_and_reports_the_original_destination() {
    // The server terminates connections to any address and port the link brings it, as a
    // tun2socks-style proxy does.
    let server_config = HostConfig {
        local_addrs: Vec::new(),
        ..HostConfig::default()
    };
    let (client, server) = pair_with(LinkConfig::default(), config(CLIENT), server_config);
    let listener = TcpListener::bind_all_ports(&server, Ipv4Addr::UNSPECIFIED.into()).unwrap();
    let targets = [
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 443),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), 22),
    ];
    for target in targets {
        let mut stream = TcpStream::connect(&client, target).unwrap();
        let (mut accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, stream.local_addr().unwrap());
        assert_eq!(accepted.local_addr().unwrap(), target);
        stream.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        accepted.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }
}

#[test]
fn sockets_fail_once_their_stack_is_gone() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 84)).unwrap();
    let mut stream = TcpStream::connect(&client, (SERVER, 84)).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    drop(client);
    let mut buf = [0; 4];
    assert_eq!(
        stream.read(&mut buf).unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    assert_eq!(
        stream.write(b"x").unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    drop(stream);
    drop(accepted);
}

#[test]
fn incoming_yields_connections() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    thread::scope(|s| {
        s.spawn(|| {
            for i in 0..3u8 {
                let mut c = TcpStream::connect(&client, addr).unwrap();
                c.write_all(&[i]).unwrap();
            }
        });
        for (i, stream) in listener.incoming().take(3).enumerate() {
            let mut got = Vec::new();
            stream.unwrap().read_to_end(&mut got).unwrap();
            assert_eq!(got, [i as u8]);
        }
    });
}

#[test]
fn wait_idle_lets_closed_streams_finish_before_the_stack_goes() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 85)).unwrap();
    let data = pattern(9, 2 * 1024 * 1024);
    let mut stream = TcpStream::connect(&client, (SERVER, 85)).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    thread::scope(|s| {
        let reader = s.spawn(move || read_to_end(&mut accepted));
        stream.write_all(&data).unwrap();
        drop(stream);
        // The client stack waits for its closed connection to deliver everything and
        // finish the close; only then does it stop.
        assert!(client.wait_idle(Duration::from_secs(60)));
        assert_eq!(client.connection_count(), 0);
        drop(client);
        let got = reader.join().unwrap();
        assert!(got == data, "the stream arrived changed");
    });
}

#[test]
fn a_delayed_link_gives_the_round_trip_it_was_built_with() {
    let link = LinkConfig {
        delay: Duration::from_millis(15),
        ..LinkConfig::default()
    };
    let (client, server) = pair_with(link, config(CLIENT), config(SERVER));
    let listener = TcpListener::bind(&server, (SERVER, 7)).unwrap();
    let data = pattern(11, 2 * 1024 * 1024);
    thread::scope(|s| {
        s.spawn(|| echo_one(&listener));
        let started = Instant::now();
        let mut stream = TcpStream::connect(&client, (SERVER, 7)).unwrap();
        // The handshake takes a round trip: SYN out, SYN-ACK back.
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(echo_through(&mut stream, &data) == data);
        let srtt = stream.info().unwrap().srtt.unwrap();
        assert!(srtt >= Duration::from_millis(30), "srtt {srtt:?}");
    });
}

#[test]
fn write_timeout_and_waiting_for_acknowledgment() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 86)).unwrap();
    let mut stream = TcpStream::connect(&client, (SERVER, 86)).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();

    // Everything written is acknowledged once the peer's stack has it (read or not).
    stream.write_all(&pattern(12, 100_000)).unwrap();
    stream.wait_acknowledged().unwrap();
    assert_eq!(stream.info().unwrap().send_buffered, 0);

    // Nobody reads: the peer's window and our send buffer fill, and a write with a timeout
    // gives up with WouldBlock, having taken only what fit.
    stream
        .set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let chunk = pattern(13, 1024 * 1024);
    let mut written = 100_000;
    let err = loop {
        match stream.write(&chunk) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
        assert!(written < 64 * 1024 * 1024, "the buffers never filled");
    };
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    stream.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    accepted.read_to_end(&mut got).unwrap();
    assert_eq!(
        got.len(),
        written,
        "every byte reported written arrived, no more"
    );
}

#[test]
fn a_lingering_drop_returns_once_everything_is_acknowledged() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 87)).unwrap();
    let data = pattern(14, 3 * 1024 * 1024);
    let mut stream = TcpStream::connect(&client, (SERVER, 87)).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    // Were the drop not to wait, the peer would wait forever for the rest: fail instead.
    accepted
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.set_linger(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(stream.linger().unwrap(), Some(Duration::from_secs(60)));
    thread::scope(|s| {
        let reader = s.spawn(move || read_to_end(&mut accepted));
        stream.write_all(&data).unwrap();
        drop(stream);
        // The drop waited for the last acknowledgment, so stopping the stack at once loses
        // nothing: the peer has every byte and the FIN.
        drop(client);
        assert!(reader.join().unwrap() == data);
    });
}

#[test]
fn buffer_sizes_set_on_an_open_connection_bound_the_window_and_the_writes() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 5001)).unwrap();
    let data = pattern(7, 1024 * 1024);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let data = &data;
        s.spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_recv_buffer_size(4096).unwrap();
            assert_eq!(conn.recv_buffer_size().unwrap(), 4096);
            assert_eq!(conn.info().unwrap().recv_buffer, 4096);
            ready_tx.send(()).unwrap();
            let got = read_to_end(&mut conn);
            // The megabyte, then the 1000 bytes the small send buffer took.
            assert_eq!(got.len(), data.len() + 1000);
            assert!(got[..data.len()] == *data, "the bytes read differ");
            assert!(got[data.len()..].iter().all(|&b| b == 9));
        });
        let mut stream = TcpStream::connect(&client, (SERVER, 5001)).unwrap();
        ready_rx.recv().unwrap();
        stream.write_all(data).unwrap();
        stream.wait_acknowledged().unwrap();
        // The window offered on the SYN-ACK was 256 KiB; a megabyte later the receiver
        // offers no more than its 4 KiB buffer holds.
        let wnd = stream.info().unwrap().snd_wnd;
        assert!(wnd <= 4096, "the peer still offers {wnd} bytes");
        // A send buffer of 1000 bytes takes 1000 bytes of a write, and no more.
        stream.set_send_buffer_size(1000).unwrap();
        assert_eq!(stream.send_buffer_size().unwrap(), 1000);
        stream.set_nonblocking(true).unwrap();
        assert_eq!(stream.write(&[9; 10_000]).unwrap(), 1000);
        stream.set_nonblocking(false).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
    });
}

#[test]
fn buffer_sizes_a_call_cannot_mean_are_refused() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 5002)).unwrap();
    let stream = TcpStream::connect(&client, (SERVER, 5002)).unwrap();
    let _accepted = listener.accept().unwrap();
    let before = stream.recv_buffer_size().unwrap();
    for size in [0, usize::MAX, i32::MAX as usize + 1] {
        let e = stream.set_recv_buffer_size(size).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "recv {size}");
        let e = stream.set_send_buffer_size(size).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "send {size}");
    }
    assert_eq!(stream.recv_buffer_size().unwrap(), before);
}

#[test]
fn congestion_controller_switches_on_an_open_connection() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, (SERVER, 5003)).unwrap();
    let data = pattern(8, 2 * 1024 * 1024);
    thread::scope(|s| {
        s.spawn(|| echo_one(&listener));
        let mut stream = TcpStream::connect(&client, (SERVER, 5003)).unwrap();
        assert_eq!(stream.congestion().unwrap(), CongestionControl::Cubic);
        // Less than the receive buffers hold, so the echo need not be read yet.
        stream.write_all(&data[..100_000]).unwrap();
        stream.set_congestion(CongestionControl::NewReno).unwrap();
        assert_eq!(stream.congestion().unwrap(), CongestionControl::NewReno);
        assert_eq!(
            stream.info().unwrap().cc.controller,
            CongestionControl::NewReno
        );
        // The echo read to the end holds the first part too.
        let echoed = echo_through(&mut stream, &data[100_000..]);
        assert!(echoed == data, "the echo differs from what was sent");
    });
}
