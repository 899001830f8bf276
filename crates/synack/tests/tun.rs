//! synack against the Linux kernel's TCP over a TUN interface, in a network namespace each
//! test creates (and deletes, even on failure). Needs root: without it the tests say so and
//! skip, and under `SYNACK_REQUIRE_NETNS=1` (as CI runs) they fail instead.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::thread;

use sha2::{Digest, Sha256};
use synack::net::{TcpListener, TcpStream};
use synack::netns::TunNetns;
use synack::{HostConfig, Stack};
use synack_sim::pattern;

fn setup(test: &str, mtu: usize) -> Option<(TunNetns, Stack)> {
    setup_with(test, mtu, false)
}

/// Whether namespaces can be made here; says why not (or fails, under
/// `SYNACK_REQUIRE_NETNS=1`).
fn available(test: &str) -> bool {
    let Some(why) = synack::netns::unavailable() else {
        return true;
    };
    if std::env::var("SYNACK_REQUIRE_NETNS").as_deref() == Ok("1") {
        panic!("{test}: SYNACK_REQUIRE_NETNS=1 but no network namespace: {why}");
    }
    eprintln!("SKIPPED {test}: needs root and a network namespace: {why}");
    false
}

fn setup_with(test: &str, mtu: usize, offload: bool) -> Option<(TunNetns, Stack)> {
    if !available(test) {
        return None;
    }
    let (ns, tun) = match TunNetns::with_options(mtu, offload) {
        Ok(x) => x,
        Err(e) => {
            if std::env::var("SYNACK_REQUIRE_NETNS").as_deref() == Ok("1") {
                panic!("{test}: SYNACK_REQUIRE_NETNS=1 but no network namespace: {e}");
            }
            eprintln!("SKIPPED {test}: needs root and a network namespace: {e}");
            return None;
        }
    };
    let config = HostConfig {
        local_addrs: vec![ns.synack.into()],
        ..HostConfig::default()
    };
    let stack = Stack::new(tun, config).unwrap();
    Some((ns, stack))
}

/// Sends `data` and reads as many bytes of echo, with std-shaped streams of
/// either kind (the kernel's or synack's).
fn echo_client<S>(stream: S, data: &[u8]) -> Vec<u8>
where
    for<'a> &'a S: Read + Write,
    S: Sync,
{
    thread::scope(|s| {
        let w = s.spawn(|| {
            let mut w = &stream;
            w.write_all(data).unwrap();
        });
        let mut out = Vec::new();
        let mut r = &stream;
        let mut buf = vec![0; 64 * 1024];
        while out.len() < data.len() {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        w.join().unwrap();
        out
    })
}

fn echo_server<S>(mut stream: S)
where
    S: Read + Write,
{
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).unwrap();
    }
}

#[test]
fn synack_server_kernel_client() {
    let Some((ns, stack)) = setup("synack_server_kernel_client", 1500) else {
        return;
    };
    let listener = TcpListener::bind(&stack, (ns.synack, 8080)).unwrap();
    let data = pattern(1, 8 * 1024 * 1024 + 3);
    let expected = data.clone();
    let target = SocketAddr::from((ns.synack, 8080));
    let kernel = ns
        .netns
        .spawn(move || {
            let s = std::net::TcpStream::connect(target).unwrap();
            let echoed = echo_client(s.try_clone().unwrap(), &data);
            s.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            (&s).read_to_end(&mut rest).unwrap();
            (echoed, rest)
        })
        .unwrap();
    let (conn, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip(), ns.kernel);
    echo_server(conn);
    let (echoed, rest) = kernel.join().unwrap().unwrap();
    assert!(echoed == expected, "the kernel got a different echo");
    assert!(rest.is_empty());
}

#[test]
fn synack_client_kernel_server() {
    let Some((ns, stack)) = setup("synack_client_kernel_server", 1500) else {
        return;
    };
    let kernel = ns.kernel;
    let listener = ns
        .netns
        .run(move || std::net::TcpListener::bind((kernel, 0)).unwrap())
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (conn, peer) = listener.accept().unwrap();
        echo_server(conn);
        peer
    });
    let stream = TcpStream::connect(&stack, (kernel, port)).unwrap();
    let local = stream.local_addr().unwrap();
    let data = pattern(2, 8 * 1024 * 1024 + 5);
    let echoed = echo_client(stream.try_clone().unwrap(), &data);
    assert!(echoed == data, "synack got a different echo");
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    (&stream).read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(server.join().unwrap(), local);
    let info = stream.info().unwrap();
    assert!(
        info.sack && info.timestamps,
        "options negotiated with Linux: {info:?}"
    );
}

#[test]
fn bulk_both_ways_with_the_kernel_at_jumbo_mtu() {
    let Some((ns, stack)) = setup("bulk_both_ways_with_the_kernel_at_jumbo_mtu", 9000) else {
        return;
    };
    bulk_both_ways(&ns, &stack);
}

#[test]
fn bulk_both_ways_with_the_kernel_with_offloads() {
    // The kernel hands synack segments of up to 64 KiB with partial checksums; every byte
    // must still arrive intact.
    let Some((ns, stack)) = setup_with("bulk_both_ways_with_the_kernel_with_offloads", 1500, true)
    else {
        return;
    };
    bulk_both_ways(&ns, &stack);
    // The kernel really sent large segments: far fewer than one per 1448 bytes arrived.
    let segs = stack.counters().in_segs;
    let mss_segments: u64 = (32 << 20) / 1448;
    assert!(segs < mss_segments / 2, "{segs} segments in: no offload");
    // synack built super-segments itself and wrote them whole.
    let counters = stack.counters();
    assert!(
        counters.out_super_segments > 0 && counters.out_super_segments < mss_segments / 2,
        "{} super-segments",
        counters.out_super_segments
    );
    // And they reached the kernel as such: far fewer packets than segments.
    let packets = link_stat(&ns, "rx", "packets");
    assert!(packets < mss_segments / 2, "{packets} packets: no merging");
}

/// A counter of the namespace's `tun0` as the kernel keeps it: `dir` is "rx" (what synack
/// wrote) or "tx" (what the kernel sent synack), `field` e.g. "packets" or "dropped".
fn link_stat(ns: &TunNetns, dir: &str, field: &str) -> u64 {
    let out = std::process::Command::new("ip")
        .args(["-n", ns.netns.name(), "-s", "-j", "link", "show", "tun0"])
        .output()
        .unwrap();
    let stats = String::from_utf8(out.stdout).unwrap();
    let at = &stats[stats.find(&format!("\"{dir}\"")).unwrap()..];
    let key = format!("\"{field}\":");
    at[at.find(&key).unwrap() + key.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_long_send_to_the_kernel_reads_its_acks_as_they_come() {
    // synack may have megabytes in flight at once; the driver must read the kernel's ACKs
    // between batches it writes, not after writing all it can, or they overflow the TUN
    // queue (500 packets) and the kernel drops them.
    let Some((ns, stack)) = setup(
        "a_long_send_to_the_kernel_reads_its_acks_as_they_come",
        1500,
    ) else {
        return;
    };
    let kernel = ns.kernel;
    let listener = ns
        .netns
        .run(move || std::net::TcpListener::bind((kernel, 9001)))
        .unwrap()
        .unwrap();
    let total = 32 << 20;
    let rx = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        (&s).read_to_end(&mut got).unwrap();
        got.len()
    });
    let conn = TcpStream::connect(&stack, (kernel, 9001)).unwrap();
    (&conn).write_all(&pattern(30, total)).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    assert_eq!(rx.join().unwrap(), total);
    // How many ACKs the kernel sends depends on how promptly its reader runs (Linux acks
    // every second segment only while the reader keeps the window open), so only their
    // loss is held to a number.
    assert!(
        link_stat(&ns, "tx", "packets") > 0,
        "no packets from the kernel"
    );
    assert_eq!(
        link_stat(&ns, "tx", "dropped"),
        0,
        "ACKs dropped at the TUN queue"
    );
}

fn bulk_both_ways(ns: &TunNetns, stack: &Stack) {
    let total = 32 * 1024 * 1024;
    let listener = TcpListener::bind(stack, (ns.synack, 9000)).unwrap();
    let target = SocketAddr::from((ns.synack, 9000));
    // The kernel sends `total` bytes and hashes what it receives; synack does the same.
    let kernel = ns
        .netns
        .spawn(move || {
            let s = std::net::TcpStream::connect(target).unwrap();
            let sent = Sha256::digest(pattern(10, total));
            let reader = s.try_clone().unwrap();
            let rx = thread::spawn(move || {
                let mut got = Vec::new();
                (&reader).read_to_end(&mut got).unwrap();
                Sha256::digest(&got)
            });
            (&s).write_all(&pattern(10, total)).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            (sent, rx.join().unwrap())
        })
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let reader = conn.try_clone().unwrap();
    let rx = thread::spawn(move || {
        let mut got = Vec::new();
        (&reader).read_to_end(&mut got).unwrap();
        got
    });
    (&conn).write_all(&pattern(20, total)).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let got = rx.join().unwrap();
    let (kernel_sent, kernel_got) = kernel.join().unwrap().unwrap();
    assert_eq!(got.len(), total);
    assert_eq!(
        Sha256::digest(&got),
        kernel_sent,
        "kernel → synack corrupted"
    );
    assert_eq!(
        kernel_got,
        Sha256::digest(pattern(20, total)),
        "synack → kernel corrupted"
    );
}

#[test]
fn refusals_both_ways() {
    let Some((ns, stack)) = setup("refusals_both_ways", 1500) else {
        return;
    };
    // The kernel answers a SYN to a closed port with a reset.
    let err = TcpStream::connect(&stack, (ns.kernel, 9)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    // And so does synack.
    let target = SocketAddr::from((ns.synack, 9));
    let kind = ns
        .netns
        .run(move || std::net::TcpStream::connect(target).unwrap_err().kind())
        .unwrap();
    assert_eq!(kind, ErrorKind::ConnectionRefused);
}

#[test]
fn resets_timeouts_and_queued_data_with_the_kernel() {
    if !available("resets_timeouts_and_queued_data_with_the_kernel") {
        return;
    }
    // The default SYN retries: a hundred connects at once on a loaded machine must not give
    // up on a SYN that was merely slow.
    let (ns, tun) = TunNetns::new(1500).unwrap();
    let stack = Stack::with_addr(tun, ns.synack.into()).unwrap();
    let kernel = ns.kernel;
    let klistener = ns
        .netns
        .run(move || std::net::TcpListener::bind((kernel, 0)).unwrap())
        .unwrap();
    let port = klistener.local_addr().unwrap().port();

    // synack aborts: the kernel's read fails with a reset.
    let s = TcpStream::connect(&stack, (kernel, port)).unwrap();
    let (mut k, _) = klistener.accept().unwrap();
    s.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(s);
    let mut buf = [0u8; 16];
    assert_eq!(
        k.read(&mut buf).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );

    // The kernel closes with unread data, which Linux answers with a reset (RFC 1122
    // §4.2.2.13): synack's read fails with ConnectionReset.
    let mut s = TcpStream::connect(&stack, (kernel, port)).unwrap();
    let (mut k, _) = klistener.accept().unwrap();
    s.write_all(b"two bytes and more").unwrap();
    let mut first = [0u8; 1];
    k.read_exact(&mut first).unwrap();
    drop(k);
    assert_eq!(
        s.read(&mut buf).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    drop(s);

    // synack drops a stream with megabytes still queued: the kernel reads every byte, then
    // end of stream.
    let data = pattern(30, 4 * 1024 * 1024);
    let mut s = TcpStream::connect(&stack, (kernel, port)).unwrap();
    let (k, _) = klistener.accept().unwrap();
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        (&k).read_to_end(&mut got).unwrap();
        got
    });
    s.write_all(&data).unwrap();
    drop(s);
    assert!(
        reader.join().unwrap() == data,
        "the kernel got a different stream"
    );

    // 100 connections to the kernel at once, each echoing its own data.
    let echo = thread::spawn(move || {
        thread::scope(|t| {
            for _ in 0..100 {
                let (c, _) = klistener.accept().unwrap();
                t.spawn(move || echo_server(c));
            }
        });
    });
    thread::scope(|t| {
        for i in 0..100u64 {
            let stack = &stack;
            t.spawn(move || {
                let data = pattern(100 + i, 30_000 + 7 * i as usize);
                let s = TcpStream::connect(stack, (kernel, port)).unwrap();
                let echoed = echo_client(s.try_clone().unwrap(), &data);
                assert!(echoed == data, "connection {i}: the echo differs");
            });
        }
    });
    echo.join().unwrap();
}

#[test]
fn a_silent_address_times_out_after_the_syn_retries() {
    if !available("a_silent_address_times_out_after_the_syn_retries") {
        return;
    }
    // A stack whose SYN gives up quickly: one retry after 100 ms, then one backed-off
    // timeout of 200 ms (RFC 6298 §5.5).
    let (ns, tun) = TunNetns::new(1500).unwrap();
    let mut config = HostConfig {
        local_addrs: vec![ns.synack.into()],
        ..HostConfig::default()
    };
    config.tcp.syn_retries = 1;
    config.tcp.rto_initial = std::time::Duration::from_millis(100);
    let stack = Stack::new(tun, config).unwrap();
    // An address on the kernel's subnet that nobody holds: the kernel does not forward, so
    // the SYN and its one retry go unanswered. Only the lower bound is asserted: the timers
    // never fire early, while a loaded machine may run them late.
    let silent = SocketAddr::from((std::net::Ipv4Addr::from(u32::from(ns.kernel) + 76), 80));
    let started = std::time::Instant::now();
    let err = TcpStream::connect(&stack, silent).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "gave up after {:?}, before the retry's backed-off timeout",
        started.elapsed()
    );
}

#[test]
fn tokio_sockets_with_the_kernel() {
    if !available("tokio_sockets_with_the_kernel") {
        return;
    }
    let (ns, tun) = TunNetns::with_options(1500, true).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let kernel = ns.kernel;
    let target = SocketAddr::from((ns.synack, 7));
    let data = pattern(40, 3 * 1024 * 1024);
    let expected = data.clone();
    rt.block_on(async move {
        use tokio::io::AsyncWriteExt;
        let config = HostConfig {
            local_addrs: vec![ns.synack.into()],
            ..HostConfig::default()
        };
        let stack = Stack::new_tokio(tun, config).unwrap();
        let listener = synack::tokio::TcpListener::bind(&stack, target)
            .await
            .unwrap();
        // The kernel connects, sends, half-closes and reads the echo, on its own thread.
        let client = ns
            .netns
            .spawn(move || {
                let s = std::net::TcpStream::connect(target).unwrap();
                let echoed = echo_client(s.try_clone().unwrap(), &data);
                s.shutdown(Shutdown::Write).unwrap();
                echoed
            })
            .unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), kernel);
        let (mut r, mut w) = stream.into_split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
        let echoed = tokio::task::spawn_blocking(move || client.join().unwrap().unwrap())
            .await
            .unwrap();
        assert!(echoed == expected, "the kernel got a different echo");
        drop(stack);
        drop(ns);
    });
}

#[test]
fn ipv6_with_the_kernel_both_ways_with_offloads() {
    if !available("ipv6_with_the_kernel_both_ways_with_offloads") {
        return;
    }
    let (ns, tun) = TunNetns::with_options(1500, true).unwrap();
    let config = HostConfig {
        local_addrs: vec![ns.synack6.into()],
        ..HostConfig::default()
    };
    let stack = Stack::new(tun, config).unwrap();
    // synack serves, the kernel connects.
    let listener = TcpListener::bind(&stack, (ns.synack6, 8080)).unwrap();
    let target = SocketAddr::from((ns.synack6, 8080));
    let data = pattern(50, 4 * 1024 * 1024);
    let expected = data.clone();
    let kernel = ns
        .netns
        .spawn(move || {
            let s = std::net::TcpStream::connect(target).unwrap();
            echo_client(s, &data)
        })
        .unwrap();
    let (conn, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip(), ns.kernel6);
    let server = thread::spawn(move || echo_server(conn));
    assert!(kernel.join().unwrap().unwrap() == expected);
    drop(server);
    // synack connects, the kernel serves.
    let kernel6 = ns.kernel6;
    let klistener = ns
        .netns
        .run(move || std::net::TcpListener::bind((kernel6, 0)).unwrap())
        .unwrap();
    let port = klistener.local_addr().unwrap().port();
    thread::spawn(move || echo_server(klistener.accept().unwrap().0));
    let s = TcpStream::connect(&stack, (kernel6, port)).unwrap();
    assert!(echo_client(s, &expected) == expected);
}

#[test]
fn a_multi_queue_interface_carries_many_kernel_flows_over_several_queues() {
    if !available("a_multi_queue_interface_carries_many_kernel_flows_over_several_queues") {
        return;
    }
    const QUEUES: usize = 4;
    const FLOWS: usize = 16;
    let (ns, tun) = TunNetns::with_queues(1500, false, QUEUES).unwrap();
    assert_eq!(tun.queue_count(), QUEUES);
    let received = tun.received_per_queue();
    let config = HostConfig {
        local_addrs: vec![ns.synack.into()],
        ..HostConfig::default()
    };
    let stack = Stack::new(tun, config).unwrap();
    let listener = TcpListener::bind(&stack, (ns.synack, 9000)).unwrap();
    let target = SocketAddr::from((ns.synack, 9000));
    // The kernel opens every flow at once and sends on all of them together.
    let clients: Vec<_> = (0..FLOWS)
        .map(|i| {
            let data = pattern(100 + i as u64, 300_000 + i);
            ns.netns
                .spawn(move || {
                    let s = std::net::TcpStream::connect(target).unwrap();
                    let echoed = echo_client(s.try_clone().unwrap(), &data);
                    s.shutdown(Shutdown::Write).unwrap();
                    echoed == data
                })
                .unwrap()
        })
        .collect();
    thread::scope(|s| {
        for _ in 0..FLOWS {
            let (conn, _) = listener.accept().unwrap();
            s.spawn(move || echo_server(conn));
        }
    });
    for (i, c) in clients.into_iter().enumerate() {
        assert!(c.join().unwrap().unwrap(), "flow {i}: the echo differs");
    }
    let per_queue: Vec<u64> = received.iter().map(|n| n.load(Ordering::Relaxed)).collect();
    // Each flow keeps to one queue; sixteen flows over four queues use more than one (all
    // on one queue has odds of 4^-15).
    assert!(
        per_queue.iter().filter(|&&n| n > 0).count() >= 2,
        "packets per queue: {per_queue:?}"
    );
}

#[test]
fn a_tun_interface_has_one_to_256_queues() {
    for queues in [0, 257] {
        let err = synack::device::Tun::create_multi_queue("tunx", 1500, false, queues)
            .expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
}
