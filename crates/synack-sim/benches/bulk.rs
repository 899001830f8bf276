//! Bulk transfer: one connection moves 4 MiB one way, for 64 KiB and 1 MiB buffers at MTU 1500
//! and 65535.
//!
//! Two measures per case:
//! - `bulk_direct`: two connections handing segments straight to each other (no encoding, no
//!   link): the protocol core's cost, in bytes per second of CPU time. `bulk_direct_32MiB`
//!   does the same with 32 MiB, where a connection's one-time costs (first touching its
//!   buffers) weigh eight times less.
//! - `bulk_sim`: the same transfer as IP packets over a simulated 1 Gbit/s link with a 10 ms
//!   round trip, in bytes per second of CPU time. Before measuring, it prints the goodput
//!   reached in virtual time by this transfer and by a 32 MiB one (where slow start weighs
//!   less): there the bigger buffer should win. It also prints the goodput of buffers that
//!   start at 64 KiB and auto-tune up to 4 MiB.
//!
//! CPU time is the benchmark thread's own (Linux `/proc/thread-self/schedstat`), so other work
//! on a shared machine does not count; where that file is missing, wall time is used.
//!
//! Run: `cargo bench -p synack-sim --bench bulk`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant as WallClock};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use synack_proto::{Config, Connection, Instant};
use synack_sim::{ConnNode, Link, LinkConfig, Pair};

const LEN: usize = 4 << 20;
/// The longer transfer whose virtual-time goodput is printed.
const GOODPUT_LEN: usize = 32 << 20;

#[derive(Clone, Copy)]
struct Case {
    buffer: usize,
    mtu: usize,
}

impl Case {
    fn name(&self) -> String {
        format!("buf{}KiB_mtu{}", self.buffer / 1024, self.mtu)
    }

    /// Fixed buffers of the case's size (no auto-tuning) and the MSS of an IPv4 path with
    /// that MTU.
    fn config(&self) -> Config {
        Config {
            mss: (self.mtu - 40) as u16,
            recv_buffer: self.buffer,
            recv_buffer_max: self.buffer,
            send_buffer: self.buffer,
            send_buffer_max: self.buffer,
            ..Config::default()
        }
    }
}

const CASES: [Case; 4] = [
    Case {
        buffer: 64 << 10,
        mtu: 1500,
    },
    Case {
        buffer: 1 << 20,
        mtu: 1500,
    },
    Case {
        buffer: 64 << 10,
        mtu: 65535,
    },
    Case {
        buffer: 1 << 20,
        mtu: 65535,
    },
];

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i ^ (i >> 9)) as u8).collect()
}

/// Moves `data` from a client to a server that reads everything at once, with segments
/// delivered the moment they are sent. Returns the bytes read.
fn direct(config: &Config, data: &[u8]) -> usize {
    let mut a = Connection::connect(config, 40000, 80, 1);
    let mut b = Connection::listen(config, 80, 2);
    let mut now = Instant::ZERO;
    let (mut buf_a, mut buf_b) = (vec![0u8; 65536], vec![0u8; 65536]);
    let mut read_buf = vec![0u8; 256 << 10];
    let (mut sent, mut received) = (0, 0);
    while received < data.len() {
        while sent < data.len() {
            match a.send(&data[sent..]) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        let mut moved = false;
        while let Some(seg) = a.poll_transmit(now, &mut buf_a) {
            b.handle_segment(now, &seg);
            moved = true;
            while let Ok(n @ 1..) = b.recv(&mut read_buf) {
                received += n;
            }
        }
        while let Some(seg) = b.poll_transmit(now, &mut buf_b) {
            a.handle_segment(now, &seg);
            moved = true;
        }
        while a.poll_event().is_some() || b.poll_event().is_some() {}
        if !moved {
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else {
                panic!("stalled at {now} with {received} bytes read");
            };
            now = now.max(next);
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
    }
    received
}

/// Moves `data` from a client to a server over a 1 Gbit/s link with 5 ms each way. Returns
/// the virtual time at which the server had read the last byte.
fn simulated(config: &Config, data: &[u8]) -> Instant {
    let ip_a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let ip_b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let link = LinkConfig::new()
        .delay(Duration::from_millis(5))
        .bandwidth_bps(1_000_000_000);
    let mut a = ConnNode::new(Connection::connect(config, 40000, 80, 1), ip_a, ip_b);
    let b = ConnNode::new(Connection::listen(config, 80, 2), ip_b, ip_a);
    a.app.to_send = data.to_vec();
    a.app.shutdown_after_send = true;
    let mut pair = Pair::new(a, b, Link::new(1, link).expect("valid link"));
    let len = data.len();
    pair.run_until_condition(Instant::from_millis(600_000), |p| {
        p.b.app.received.len() == len
    })
    .expect("transfer completes")
}

/// CPU time this thread has run, or `None` where the kernel does not say.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Times `iters` runs of `f` in CPU time (wall time as a fallback).
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let (cpu0, wall0) = (thread_cpu(), WallClock::now());
    for _ in 0..iters {
        f();
    }
    match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) => b - a,
        _ => wall0.elapsed(),
    }
}

fn bench_direct(c: &mut Criterion) {
    let long = data(GOODPUT_LEN);
    for (group, data) in [
        ("bulk_direct", &long[..LEN]),
        ("bulk_direct_32MiB", &long[..]),
    ] {
        direct_group(c, group, data);
    }
}

fn direct_group(c: &mut Criterion, group: &str, data: &[u8]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    for case in CASES {
        let config = case.config();
        g.bench_function(case.name(), |b| {
            b.iter_custom(|iters| {
                cpu_time(iters, || {
                    black_box(direct(&config, data));
                })
            })
        });
    }
    g.finish();
}

fn bench_sim(c: &mut Criterion) {
    let long = data(GOODPUT_LEN);
    let data = &long[..LEN];
    let tuned = Config {
        mss: 1460,
        recv_buffer: 64 << 10,
        send_buffer: 64 << 10,
        recv_buffer_max: 4 << 20,
        send_buffer_max: 4 << 20,
        ..Config::default()
    };
    let configs = CASES
        .iter()
        .map(|case| (case.name(), case.config()))
        .chain([("buf64KiB_autotuned_to_4MiB_mtu1500".to_string(), tuned)]);
    for (name, config) in configs {
        for data in [data, &long[..]] {
            let t = simulated(&config, data);
            let secs = t.as_micros() as f64 / 1e6;
            println!(
                "bulk_sim/{name}: {} bytes read at {:.1} ms virtual time: goodput {:.1} Mbit/s",
                data.len(),
                secs * 1e3,
                data.len() as f64 * 8.0 / secs / 1e6
            );
        }
    }
    let mut g = c.benchmark_group("bulk_sim");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(10);
    for case in CASES {
        let config = case.config();
        g.bench_function(case.name(), |b| {
            b.iter_custom(|iters| {
                cpu_time(iters, || {
                    black_box(simulated(&config, data));
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_direct, bench_sim);
criterion_main!(benches);
