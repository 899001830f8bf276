//! `HostConfig::checksum_offload`: a host whose device checksums TCP neither verifies arriving
//! segments nor completes the checksum of leaving ones, and two such hosts still move a stream
//! intact; without the flag the same bad checksum is dropped.

use std::net::SocketAddr;

use synack_proto::Instant;
use synack_proto::host::{Host, HostConfig, HostEvent};
use synack_wire::{ChecksumMode, TcpFlags, TcpOptions, TcpRepr, emit_tcp, parse_tcp};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn host(checksum_offload: bool) -> Host {
    Host::new(HostConfig {
        secret: 0x00ff_10ad,
        checksum_offload,
        ..HostConfig::default()
    })
}

/// A SYN from 192.0.2.9:40000 to 192.0.2.1:80 whose TCP checksum is wrong.
fn syn_with_bad_checksum() -> Vec<u8> {
    let repr = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 1000,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 29200,
        urgent_ptr: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = vec![0u8; 128];
    let n = emit_tcp(
        &mut buf,
        addr("192.0.2.9:1").ip(),
        addr("192.0.2.1:1").ip(),
        64,
        &repr,
    )
    .unwrap();
    buf.truncate(n);
    // The TCP checksum field sits 16 bytes into the TCP header, after a 20-byte IPv4 header.
    buf[36] ^= 0x5a;
    buf
}

#[test]
fn offloading_host_takes_unverified_segments_and_leaves_the_sum_to_the_device() {
    let now = Instant::from_millis(1);
    let mut buf = vec![0u8; 2048];
    for offload in [false, true] {
        let mut h = host(offload);
        h.listen(addr("192.0.2.1:80"), 16).unwrap();
        h.handle_packet(now, &syn_with_bad_checksum());
        let reply = h.poll_transmit(now, &mut buf).map(|t| t.len);
        if !offload {
            assert_eq!(reply, None, "a bad checksum is dropped when we verify");
            assert_eq!(h.counters().in_errs, 1);
            continue;
        }
        let n = reply.expect("the offloading host answers the SYN");
        assert!(
            parse_tcp(&buf[..n], ChecksumMode::Verify).is_err(),
            "the device, not the host, completes the checksum"
        );
        let (_, synack) = parse_tcp(&buf[..n], ChecksumMode::Ignore).unwrap();
        assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(synack.ack, 1001);
    }
}

#[test]
fn two_offloading_hosts_move_a_stream_intact() {
    let (mut a, mut b) = (host(true), host(true));
    let listener = b.listen(addr("192.0.2.1:80"), 16).unwrap();
    let mut now = Instant::from_millis(1);
    let c = a
        .connect(now, addr("192.0.2.9:40000"), addr("192.0.2.1:80"))
        .unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut server = None;
    let mut buf = vec![0u8; 65536];
    let mut read = vec![0u8; 65536];
    for _ in 0..10_000 {
        if got.len() == data.len() {
            break;
        }
        now += std::time::Duration::from_micros(10);
        if sent < data.len() {
            sent += a.send(c, &data[sent..]).unwrap_or(0);
        }
        while let Some(n) = a.poll_transmit(now, &mut buf).map(|t| t.len) {
            b.handle_packet(now, &buf[..n]);
        }
        while let Some(e) = b.poll_event() {
            if let HostEvent::Accepted { .. } = e {
                server = b.accept(listener);
            }
        }
        if let Some(s) = server {
            while let Ok(n @ 1..) = b.recv(s, &mut read) {
                got.extend_from_slice(&read[..n]);
            }
        }
        while let Some(n) = b.poll_transmit(now, &mut buf).map(|t| t.len) {
            a.handle_packet(now, &buf[..n]);
        }
        while a.poll_event().is_some() {}
        if a.poll_timeout().is_some_and(|t| t <= now) {
            a.handle_timeout(now);
        }
        if b.poll_timeout().is_some_and(|t| t <= now) {
            b.handle_timeout(now);
        }
    }
    assert!(
        got == data,
        "{} of {} bytes arrived intact",
        got.len(),
        data.len()
    );
}
