//! The tokio sockets between two stacks on an in-process link, driven by tokio tasks (and
//! once by the driver thread): echo with split halves and half-close, many tasks at once,
//! and cancelled reads, writes, accepts and connects that lose nothing.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack::device::{Link, LinkConfig};
use synack::tokio::{TcpListener, TcpStream};
use synack::{CongestionControl, Stack};
use synack_sim::pattern;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

use common::{CLIENT, SERVER, config};

/// Two stacks driven by tokio tasks.
fn pair() -> (Stack, Stack) {
    pair_on(LinkConfig::default())
}

/// Two stacks driven by tokio tasks, on a link that behaves as `link` says.
fn pair_on(link: LinkConfig) -> (Stack, Stack) {
    let (a, b) = Link::pair(link).unwrap();
    (
        Stack::new_tokio(a, config(CLIENT)).unwrap(),
        Stack::new_tokio(b, config(SERVER)).unwrap(),
    )
}

async fn echo(stream: TcpStream) {
    let (mut r, mut w) = stream.into_split();
    tokio::io::copy(&mut r, &mut w).await.unwrap();
    // Dropping the write half sends our FIN.
}

/// Accepts one connection on `port` (0: any free one) and echoes it in a task of its own;
/// returns the port.
async fn serve_echo_once(server: &Stack, port: u16) -> u16 {
    let listener = TcpListener::bind(server, SocketAddr::new(SERVER, port))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        echo(s).await;
    });
    port
}

async fn echo_roundtrip(client: &Stack, port: u16, data: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(client, (SERVER, port)).await.unwrap();
    echo_through(&mut stream, data).await
}

/// Writes `data` and half-closes while reading what comes back, to the end.
async fn echo_through(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    let (mut r, mut w) = stream.split();
    let (_, echoed) = tokio::join!(
        async {
            w.write_all(data).await.unwrap();
            w.shutdown().await.unwrap();
        },
        async {
            let mut out = Vec::new();
            r.read_to_end(&mut out).await.unwrap();
            out
        }
    );
    echoed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_with_split_halves_and_half_close() {
    let (client, server) = pair();
    serve_echo_once(&server, 7).await;
    let data = pattern(1, 2 * 1024 * 1024 + 1);
    let echoed = echo_roundtrip(&client, 7, &data).await;
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data);
}

#[tokio::test(flavor = "current_thread")]
async fn echo_on_one_thread_with_the_driver_thread() {
    // The blocking driver thread wakes tasks just as well as the driver task does.
    let (a, b) = Link::pair(LinkConfig::default()).unwrap();
    let client = Stack::new(a, config(CLIENT)).unwrap();
    let server = Stack::new(b, config(SERVER)).unwrap();
    let port = serve_echo_once(&server, 0).await;
    assert_ne!(port, 0);
    let data = pattern(2, 300_000);
    assert!(echo_roundtrip(&client, port, &data).await == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_tasks_at_once() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, SocketAddr::new(SERVER, 80))
        .await
        .unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            tokio::spawn(echo(s));
        }
    });
    let client = std::sync::Arc::new(client);
    let tasks: Vec<_> = (0..100u64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let data = pattern(10 + i, 20_000 + 131 * i as usize);
                echo_roundtrip(&client, 80, &data).await == data
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap(), "an echo differed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_read_and_accept_lose_nothing() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, SocketAddr::new(SERVER, 81))
        .await
        .unwrap();
    // An accept with nothing to accept, cancelled: the listener is as before.
    let cancelled = tokio::time::timeout(Duration::from_millis(20), listener.accept()).await;
    assert!(cancelled.is_err());
    let mut stream = TcpStream::connect(&client, (SERVER, 81)).await.unwrap();
    let (mut accepted, peer) = listener.accept().await.unwrap();
    assert_eq!(peer, stream.local_addr().unwrap());

    // A read with nothing to read, cancelled; then data comes, and the next read gets all
    // of it.
    let mut buf = [0u8; 64];
    let cancelled = tokio::time::timeout(Duration::from_millis(20), accepted.read(&mut buf)).await;
    assert!(cancelled.is_err());
    stream.write_all(b"after the cancel").await.unwrap();
    accepted.read_exact(&mut buf[..16]).await.unwrap();
    assert_eq!(&buf[..16], b"after the cancel");

    // A write into a full window, cancelled part way: whatever it reported written arrives,
    // in order, and nothing else.
    let data = pattern(3, 16 * 1024 * 1024);
    let mut written = 0;
    while written < data.len() {
        match tokio::time::timeout(Duration::from_millis(5), stream.write(&data[written..])).await {
            Ok(n) => written += n.unwrap(),
            Err(_) => break,
        }
    }
    assert!(written < data.len(), "the peer's window never filled");
    stream.shutdown().await.unwrap();
    let mut got = Vec::new();
    accepted.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), written);
    assert!(got[..] == data[..written]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_a_cancelled_connect() {
    let (client, server) = pair();
    let err = TcpStream::connect(&client, (SERVER, 9)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);

    // A connect to a silent address, cancelled: the half-open connection is aborted.
    let silent = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99)), 80);
    let cancelled = tokio::time::timeout(
        Duration::from_millis(30),
        TcpStream::connect(&client, silent),
    )
    .await;
    assert!(cancelled.is_err());

    // Abort seen as a reset by the peer.
    let listener = TcpListener::bind(&server, SocketAddr::new(SERVER, 82))
        .await
        .unwrap();
    let stream = TcpStream::connect(&client, (SERVER, 82)).await.unwrap();
    let (mut accepted, _) = listener.accept().await.unwrap();
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
    let mut buf = [0u8; 8];
    assert_eq!(
        accepted.read(&mut buf).await.unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_link_under_the_driver_task() {
    let (client, server) = pair_on(LinkConfig {
        delay: Duration::from_millis(10),
        ..LinkConfig::default()
    });
    serve_echo_once(&server, 7).await;
    let data = pattern(4, 1024 * 1024);
    let mut stream = TcpStream::connect(&client, (SERVER, 7)).await.unwrap();
    assert!(echo_through(&mut stream, &data).await == data);
    let srtt = stream.info().unwrap().srtt.unwrap();
    assert!(srtt >= Duration::from_millis(20), "srtt {srtt:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_tasks_accept_on_one_listener() {
    let (client, server) = pair();
    let listener = std::sync::Arc::new(
        TcpListener::bind(&server, SocketAddr::new(SERVER, 83))
            .await
            .unwrap(),
    );
    // Four tasks wait in accept at once; four connections must reach all four.
    let acceptors: Vec<_> = (0..4)
        .map(|_| {
            let l = listener.clone();
            tokio::spawn(async move { l.accept().await.unwrap().1 })
        })
        .collect();
    tokio::task::yield_now().await;
    let mut streams = Vec::new();
    for _ in 0..4 {
        streams.push(TcpStream::connect(&client, (SERVER, 83)).await.unwrap());
    }
    let mut peers = Vec::new();
    for a in acceptors {
        // A task left unwoken would wait forever: fail instead.
        let peer = tokio::time::timeout(Duration::from_secs(30), a).await;
        peers.push(peer.expect("an accepting task was never woken").unwrap());
    }
    let mut locals: Vec<_> = streams.iter().map(|s| s.local_addr().unwrap()).collect();
    peers.sort();
    locals.sort();
    assert_eq!(peers, locals);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lingering_close_returns_once_the_peer_has_everything() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, SocketAddr::new(SERVER, 9))
        .await
        .unwrap();
    let accepted = tokio::spawn(async move { listener.accept().await.unwrap().0 });
    let mut s = TcpStream::connect(&client, (SERVER, 9)).await.unwrap();
    let mut peer = accepted.await.unwrap();
    s.set_nodelay(true).unwrap();
    assert!(s.nodelay().unwrap());
    s.set_keepalive(Some(Duration::from_secs(30))).unwrap();
    s.set_linger(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(60)));
    assert_eq!(s.info().unwrap().state, synack::StateName::Established);

    // Less than the peer's receive buffer (256 KiB), which it does not read until the end.
    let data = pattern(9, 128 * 1024);
    s.write_all(&data).await.unwrap();
    s.close().await.unwrap();
    // The close waited for the acknowledgment of every byte and of the FIN: the peer's stack
    // holds all of it (unread) and has seen the end of the stream.
    let info = peer.info().unwrap();
    assert_eq!(info.bytes_received, data.len() as u64);
    assert_eq!(info.state, synack::StateName::CloseWait);
    let mut got = Vec::new();
    peer.read_to_end(&mut got).await.unwrap();
    assert!(got == data, "the peer read a different stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_sizes_and_congestion_controller_on_an_open_stream() {
    let (client, server) = pair();
    let listener = TcpListener::bind(&server, SocketAddr::new(SERVER, 5004))
        .await
        .unwrap();
    let data = pattern(21, 1024 * 1024);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let expected = data.clone();
    let reader = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        conn.set_recv_buffer_size(4096).unwrap();
        assert_eq!(conn.recv_buffer_size().unwrap(), 4096);
        ready_tx.send(()).unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.unwrap();
        assert!(got == expected, "the bytes read differ");
    });
    let mut stream = TcpStream::connect(&client, (SERVER, 5004)).await.unwrap();
    ready_rx.await.unwrap();
    assert_eq!(stream.congestion().unwrap(), CongestionControl::Cubic);
    stream.set_congestion(CongestionControl::NewReno).unwrap();
    assert_eq!(
        stream.info().unwrap().cc.controller,
        CongestionControl::NewReno
    );
    assert_eq!(
        stream.set_send_buffer_size(0).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    stream.set_send_buffer_size(64 * 1024).unwrap();
    assert_eq!(stream.send_buffer_size().unwrap(), 64 * 1024);
    stream.write_all(&data).await.unwrap();
    stream.shutdown().await.unwrap();
    reader.await.unwrap();
    // A megabyte after the 256 KiB offered on the SYN-ACK, the window is the 4 KiB buffer's.
    let wnd = stream.info().unwrap().snd_wnd;
    assert!(wnd <= 4096, "the peer still offers {wnd} bytes");
}
