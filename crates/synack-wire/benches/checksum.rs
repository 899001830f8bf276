//! Checksum throughput and whole-packet parse cost.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use synack_wire::checksum::{Checksum, checksum};
use synack_wire::{
    ChecksumMode, SackList, TcpFlags, TcpOptions, TcpRepr, Timestamps, emit_tcp, parse_tcp,
};

fn bench_checksum(c: &mut Criterion) {
    let data: Vec<u8> = (0..65537u32).map(|i| (i * 2_654_435_761) as u8).collect();
    let mut g = c.benchmark_group("checksum");
    for len in [64usize, 1500, 65536] {
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("{len}B"), |b| {
            b.iter(|| checksum(black_box(&data[..len])))
        });
    }
    g.finish();
    // The receive path's copy into the reassembly ring: one MSS at MTU 1500 and the largest
    // payload at MTU 65535, aligned and with source and destination off alignment (as a
    // payload after a 54-byte header is).
    let mut out = vec![0u8; 65536];
    let mut g = c.benchmark_group("add_copy");
    for len in [1460usize, 65483] {
        g.throughput(Throughput::Bytes(len as u64));
        for off in [0usize, 1] {
            g.bench_function(format!("{len}B+{off}"), |b| {
                b.iter(|| {
                    let mut c = Checksum::new();
                    c.add_copy(black_box(&data[off..off + len]), &mut out[3 * off..][..len])
                        .unwrap()
                        .sum()
                })
            });
        }
    }
    g.finish();
}

fn bench_parse(c: &mut Criterion) {
    let payload = vec![0xa5u8; 1500 - 20 - 32];
    let repr = TcpRepr {
        src_port: 443,
        dst_port: 50000,
        seq: 1,
        ack: 2,
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 1000,
        urgent_ptr: 0,
        options: TcpOptions {
            mss: None,
            window_scale: None,
            sack_permitted: false,
            sack_blocks: SackList::new(),
            timestamps: Some(Timestamps { tsval: 1, tsecr: 2 }),
        },
        payload: &payload,
    };
    let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let dst = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut pkt = vec![0u8; 1500];
    let n = emit_tcp(&mut pkt, src, dst, 64, &repr).unwrap();
    assert_eq!(n, 1500);
    let mut g = c.benchmark_group("parse_tcp");
    g.throughput(Throughput::Bytes(1500));
    g.bench_function("1500B_verify", |b| {
        b.iter(|| parse_tcp(black_box(&pkt), ChecksumMode::Verify).unwrap())
    });
    g.bench_function("1500B_ignore", |b| {
        b.iter(|| parse_tcp(black_box(&pkt), ChecksumMode::Ignore).unwrap())
    });
    g.finish();
    let mut out = vec![0u8; 1500];
    c.bench_function("emit_tcp/1500B", |b| {
        b.iter(|| emit_tcp(black_box(&mut out), src, dst, 64, black_box(&repr)).unwrap())
    });
}

criterion_group!(benches, bench_checksum, bench_parse);
criterion_main!(benches);
