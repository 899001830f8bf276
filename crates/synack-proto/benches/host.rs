//! What the host costs: handshakes and whole connection lifecycles per second (both ends in
//! this process, one core), bytes per idle established connection and per TIME-WAIT entry with
//! many of them open (a counting global allocator measures live heap bytes), the cost of one
//! packet and of one data+ACK exchange (timer churn included) with 1 versus many connections
//! open, and the timer heap on its own at that size.
//!
//! `cargo bench -p synack-proto --bench host -- --quick`. `SYNACK_BENCH_CONNS` sets how many
//! connections the memory and per-packet figures use (default 1,000,000).

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput};
use synack_proto::host::{ConnId, Host, HostConfig, ListenerId};
use synack_proto::{Connection, Instant};
use synack_wire::{ChecksumMode, TcpFlags, TcpOptions, TcpRepr, emit_tcp, parse_tcp};

/// Live heap bytes, as requested from the allocator (its own overhead not included).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System` unchanged; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is `System`, with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc_zeroed`'s contract, which is `System`'s.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds `realloc`'s
        // contract on `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn server_addr() -> SocketAddr {
    "10.0.0.1:80".parse().unwrap()
}

/// A distinct client address per connection: 11.x.y.z, port 40000.
fn client_addr(i: usize) -> SocketAddr {
    let [_, b, c, d] = (i as u32).to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(11, b, c, d)), 40_000)
}

fn config(max_connections: usize) -> HostConfig {
    HostConfig {
        secret: 0xbe7c,
        max_connections,
        max_time_wait: 4_000_000,
        ..HostConfig::default()
    }
}

// ------------------------------------------------------------------ two hosts, one core

struct Pair {
    a: Host,
    b: Host,
    listener: ListenerId,
    buf: Vec<u8>,
    now: Instant,
}

impl Pair {
    fn new(max: usize) -> Pair {
        let a = Host::new(config(max));
        let mut b = Host::new(config(max));
        let listener = b.listen(server_addr(), 4096).unwrap();
        Pair {
            a,
            b,
            listener,
            buf: vec![0; 2048],
            now: Instant::from_millis(1),
        }
    }

    /// Moves packets both ways until neither host has anything to send; drops events.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(n) = self.a.poll_transmit(self.now, &mut self.buf).map(|t| t.len) {
                self.b.handle_packet(self.now, &self.buf[..n]);
                moved = true;
            }
            while let Some(n) = self.b.poll_transmit(self.now, &mut self.buf).map(|t| t.len) {
                self.a.handle_packet(self.now, &self.buf[..n]);
                moved = true;
            }
            while self.a.poll_event().is_some() {}
            while self.b.poll_event().is_some() {}
            if !moved {
                return;
            }
        }
    }

    fn handshake(&mut self, i: usize) -> (ConnId, ConnId) {
        self.now += Duration::from_micros(1);
        let c = self
            .a
            .connect(self.now, client_addr(i), server_addr())
            .unwrap();
        self.settle();
        let s = self.b.accept(self.listener).expect("handshake completed");
        (c, s)
    }

    /// Connect, a 100-byte request, a 100-byte response, close (client first, so the client
    /// ends in TIME-WAIT and the server in CLOSED).
    fn lifecycle(&mut self, i: usize) {
        let (c, s) = self.handshake(i);
        let mut buf = [0u8; 128];
        self.a.send(c, &[1u8; 100]).unwrap();
        self.settle();
        assert_eq!(self.b.recv(s, &mut buf), Ok(100));
        self.b.send(s, &[2u8; 100]).unwrap();
        self.settle();
        assert_eq!(self.a.recv(c, &mut buf), Ok(100));
        self.a.close(self.now, c).unwrap();
        self.settle();
        self.b.close(self.now, s).unwrap();
        self.settle();
    }
}

/// Runs `iters` operations on fresh pairs of hosts, `CHUNK` at a time, timing only the
/// operations (so state from earlier iterations stays bounded).
fn chunked(iters: u64, op: impl Fn(&mut Pair, usize), check: impl Fn(&Pair, usize)) -> Duration {
    const CHUNK: u64 = 20_000;
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = (iters - done).min(CHUNK) as usize;
        let mut pair = Pair::new(2 * CHUNK as usize);
        let start = std::time::Instant::now();
        for i in 0..n {
            op(&mut pair, i);
        }
        total += start.elapsed();
        check(&pair, n);
        done += n as u64;
    }
    total
}

fn bench_handshakes(c: &mut Criterion) {
    let mut g = c.benchmark_group("host");
    g.throughput(Throughput::Elements(1));
    g.bench_function("handshake (both ends)", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                |p, i| {
                    black_box(p.handshake(i));
                },
                |p, n| assert_eq!(p.b.connection_count(), n),
            )
        })
    });
    g.bench_function("lifecycle to TIME-WAIT (both ends)", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                |p, i| p.lifecycle(i),
                |p, n| {
                    assert_eq!(p.a.time_wait_count(), n);
                    assert_eq!(p.a.connection_count() + p.b.connection_count(), 0);
                },
            )
        })
    });
    g.finish();
}

// ------------------------------------------------------------------ one host, many peers

/// A peer's segment to the server, as a datagram.
fn datagram(from: SocketAddr, flags: TcpFlags, seq: u32, ack: u32, buf: &mut [u8]) -> usize {
    let repr = TcpRepr {
        src_port: from.port(),
        dst_port: server_addr().port(),
        seq,
        ack,
        flags,
        window: 29_200,
        urgent_ptr: 0,
        options: TcpOptions {
            mss: flags.syn().then_some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    emit_tcp(buf, from.ip(), server_addr().ip(), 64, &repr).unwrap()
}

/// The server's next segment: (seq, flags).
fn reply(host: &mut Host, now: Instant, buf: &mut [u8]) -> Option<(u32, TcpFlags)> {
    let n = host.poll_transmit(now, buf)?.len;
    let (_, t) = parse_tcp(&buf[..n], ChecksumMode::Verify).unwrap();
    Some((t.seq, t.flags))
}

const PEER_ISN: u32 = 7_000;

/// A server whose peers are played by hand: `n` established, idle connections, and the
/// server's ISS for each.
struct Server {
    host: Host,
    listener: ListenerId,
    conns: Vec<(ConnId, u32)>,
    now: Instant,
}

impl Server {
    fn new(max: usize) -> Server {
        let mut host = Host::new(config(max));
        let listener = host.listen(server_addr(), 4096).unwrap();
        Server {
            host,
            listener,
            conns: Vec::new(),
            now: Instant::from_millis(1),
        }
    }

    /// Completes a handshake from peer `i`; returns the connection and the server's ISS.
    fn open(&mut self, i: usize, pkt: &mut [u8], out: &mut [u8]) -> (ConnId, u32) {
        let peer = client_addr(i);
        let n = datagram(peer, TcpFlags::SYN, PEER_ISN, 0, pkt);
        self.host.handle_packet(self.now, &pkt[..n]);
        let (iss, _) = reply(&mut self.host, self.now, out).expect("SYN-ACK");
        let n = datagram(peer, TcpFlags::ACK, PEER_ISN + 1, iss + 1, pkt);
        self.host.handle_packet(self.now, &pkt[..n]);
        while self.host.poll_event().is_some() {}
        let id = self.host.accept(self.listener).expect("established");
        (id, iss)
    }

    fn established(n: usize) -> Server {
        let mut s = Server::new(n + 16);
        let (mut pkt, mut out) = (vec![0u8; 128], vec![0u8; 2048]);
        s.conns.reserve_exact(n);
        for i in 0..n {
            s.now += Duration::from_micros(1);
            let c = s.open(i, &mut pkt, &mut out);
            s.conns.push(c);
        }
        s
    }
}

/// Idle established connections: live heap bytes of the server host per connection.
fn memory_established(n: usize) -> Server {
    let before = live();
    let server = Server::established(n);
    let bytes = live() - before - server.conns.capacity() * std::mem::size_of::<(ConnId, u32)>();
    println!(
        "memory: {n} idle established connections: {bytes} B live heap, {} B per connection \
         (size_of::<Connection>() = {} B)",
        bytes / n,
        std::mem::size_of::<Connection>()
    );
    server
}

/// `n` connections closed by the server and finished by their peers, one at a time, so
/// `n` compact TIME-WAIT entries remain and the connection table stays one slot big.
fn memory_time_wait(n: usize) {
    let before = live();
    let mut s = Server::new(16);
    let after_new = live();
    let (mut pkt, mut out) = (vec![0u8; 128], vec![0u8; 2048]);
    for i in 0..n {
        s.now += Duration::from_micros(1);
        let (id, iss) = s.open(i, &mut pkt, &mut out);
        s.host.close(s.now, id).unwrap();
        let (fin_seq, flags) = reply(&mut s.host, s.now, &mut out).expect("FIN");
        assert!(flags.fin());
        let peer = client_addr(i);
        let m = datagram(
            peer,
            TcpFlags::FIN | TcpFlags::ACK,
            PEER_ISN + 1,
            fin_seq + 1,
            &mut pkt,
        );
        s.host.handle_packet(s.now, &pkt[..m]);
        while reply(&mut s.host, s.now, &mut out).is_some() {}
        while s.host.poll_event().is_some() {}
        debug_assert_eq!(iss + 1, fin_seq);
        if i % 1024 == 0 {
            // An event loop runs the timers now and then, which also sheds stale heap entries.
            s.host.handle_timeout(s.now);
        }
    }
    s.host.handle_timeout(s.now);
    assert_eq!(s.host.time_wait_count(), n);
    assert_eq!(s.host.connection_count(), 0);
    let bytes = live() - after_new;
    println!(
        "memory: {n} compact TIME-WAIT entries: {bytes} B live heap beyond an empty host \
         ({} B), {} B per entry",
        after_new - before,
        bytes / n
    );
}

/// One bare in-window ACK from a peer through the host: parse, checksum, demux, RFC 9293
/// §3.10.7.4, rescheduling, and the `poll_transmit` that finds nothing to send. The ACKs
/// repeat what the peers already said, so the state stays the same from one run to the next.
fn bench_packet(c: &mut Criterion, label: &str, s: &mut Server) {
    let mut out = vec![0u8; 2048];
    // Peers spread over the table: a fixed multiplicative walk, not a cache-friendly scan.
    let picks = s.conns.len().min(4096);
    let packets: Vec<Vec<u8>> = (0..picks)
        .map(|k| {
            let i = (k.wrapping_mul(2_654_435_761)) % s.conns.len();
            let mut pkt = vec![0u8; 128];
            let n = datagram(
                client_addr(i),
                TcpFlags::ACK,
                PEER_ISN + 1,
                s.conns[i].1 + 1,
                &mut pkt,
            );
            pkt.truncate(n);
            pkt
        })
        .collect();
    for p in &packets {
        s.host.handle_packet(s.now, p);
        assert!(
            reply(&mut s.host, s.now, &mut out).is_none(),
            "nothing owed"
        );
    }
    let mut g = c.benchmark_group("host packet");
    g.throughput(Throughput::Elements(1));
    let mut k = 0;
    g.bench_function(label, |b| {
        b.iter(|| {
            let p = &packets[k % packets.len()];
            k += 1;
            s.host.handle_packet(s.now, black_box(p));
            black_box(s.host.poll_transmit(s.now, &mut out))
        })
    });
    g.finish();
}

/// One request-sized exchange that runs the timers: the server sends 100 bytes on one of its
/// connections (arming its retransmission timer: a heap push), the segment leaves, the peer's
/// ACK comes back (disarming it) — the timer churn every connection with traffic makes. The
/// clock advances 10 µs a round, so each new deadline lies later than the last, and the
/// host's timers run every 1024 rounds, as an event loop's would: whatever they cost (stale
/// entries popped, early wakeups) is inside the measurement.
fn bench_round(c: &mut Criterion, label: &str, s: &mut Server) {
    let mut out = vec![0u8; 2048];
    let picks: Vec<usize> = (0..s.conns.len().min(4096))
        .map(|k| (k.wrapping_mul(2_654_435_761)) % s.conns.len())
        .collect();
    // Bytes each picked connection has sent so far, for the ACK numbers.
    let mut sent = vec![0u32; s.conns.len()];
    let mut k_setup = 0usize;
    let mut rounds = 0u64;
    let conns = s.conns.clone();
    // Steady state: the handshakes' timers have run out before the measurement starts.
    s.now += Duration::from_secs(10);
    s.host.handle_timeout(s.now);
    while s.host.poll_transmit(s.now, &mut out).is_some() {}
    let mut g = c.benchmark_group("host data+ack");
    g.throughput(Throughput::Elements(1));
    g.bench_function(label, |b| {
        b.iter_batched(
            || {
                let i = picks[k_setup % picks.len()];
                k_setup += 1;
                sent[i] += 100;
                let mut pkt = vec![0u8; 128];
                let ack = conns[i].1 + 1 + sent[i];
                let n = datagram(client_addr(i), TcpFlags::ACK, PEER_ISN + 1, ack, &mut pkt);
                pkt.truncate(n);
                (conns[i].0, pkt)
            },
            |(id, ack)| {
                s.now += Duration::from_micros(10);
                s.host.send(id, &[0x5a; 100]).unwrap();
                let n = s
                    .host
                    .poll_transmit(s.now, &mut out)
                    .expect("the data goes out");
                black_box(n);
                s.host.handle_packet(s.now, &ack);
                while s.host.poll_transmit(s.now, &mut out).is_some() {}
                rounds += 1;
                if rounds % 1024 == 0 {
                    s.host.handle_timeout(s.now);
                }
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
    for &(id, _) in &conns {
        assert_eq!(
            s.host.info(id).unwrap().unacked,
            0,
            "every byte acknowledged"
        );
    }
}

/// The host's timer structure on its own, at `n` pending deadlines: a min-heap of
/// (deadline, slot, generation), the same element `host/timers.rs` keeps. One push of a
/// deadline spread like RTOs (200 ms – 2 s ahead) and one pop of the earliest: the most a
/// reschedule costs, for comparison with the per-packet figures.
fn bench_timer_heap(c: &mut Criterion, n: usize) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut now = 0u64;
    let mut heap: BinaryHeap<Reverse<(Instant, u32, u32)>> = (0..n)
        .map(|i| {
            let at = Instant::from_micros(200_000 + next() % 1_800_000);
            Reverse((at, i as u32, 0))
        })
        .collect();
    let mut g = c.benchmark_group("timer heap");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("push+pop at {n}"), |b| {
        b.iter(|| {
            now += 1;
            let at = Instant::from_micros(now + 200_000 + next() % 1_800_000);
            heap.push(Reverse((at, (now % n as u64) as u32, 1)));
            black_box(heap.pop())
        })
    });
    g.finish();
}

fn main() {
    let n: usize = std::env::var("SYNACK_BENCH_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut c = Criterion::default().configure_from_args();
    bench_handshakes(&mut c);
    let mut one = Server::established(1);
    bench_packet(&mut c, "1 connection", &mut one);
    bench_round(&mut c, "1 connection", &mut one);
    drop(one);
    let mut server = memory_established(n);
    bench_packet(&mut c, &format!("{n} connections"), &mut server);
    bench_round(&mut c, &format!("{n} connections"), &mut server);
    drop(server);
    memory_time_wait(n);
    bench_timer_heap(&mut c, n);
    c.final_summary();
}
