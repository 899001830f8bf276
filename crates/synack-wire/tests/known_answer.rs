//! Known-answer tests on hand-written captures whose expected values come from the RFC
//! layouts, not from this crate.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use synack_wire::{
    ChecksumMode, Error, IpHeader, SackBlock, TcpFlags, Timestamps, emit_tcp, parse_tcp,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A Linux SYN, 192.168.0.104:41686 -> 192.168.0.1:80, as `tcpdump -x` prints it.
/// IPv4: IHL 5, total 60, ID 0x1c46, DF, TTL 64, protocol 6, header checksum 0x9cbc.
/// TCP: seq 0x6e2b7a9c, data offset 10 words, SYN, window 64240, checksum 0xf4bd, then
/// MSS 1460 · SACK-permitted · TS(val 0x001d4a8c, ecr 0) · NOP · WS 7 (RFC 9293 §3.2,
/// RFC 2018 §2, RFC 7323 §2-3). Both checksums were computed independently of this crate.
const LINUX_SYN: &str = "
    4500 003c 1c46 4000 4006 9cbc c0a8 0068 c0a8 0001
    a2d6 0050 6e2b 7a9c 0000 0000 a002 faf0 f4bd 0000
    0204 05b4 0402 080a 001d 4a8c 0000 0000 0103 0307";

#[test]
fn linux_syn_fields() {
    let pkt = hex(LINUX_SYN);
    let (ip, tcp) = parse_tcp(&pkt, ChecksumMode::Verify).unwrap();
    assert_eq!(
        ip,
        IpHeader {
            src: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 104)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
            hop_limit: 64,
            ecn: 0,
        }
    );
    assert_eq!(tcp.src_port, 41686);
    assert_eq!(tcp.dst_port, 80);
    assert_eq!(tcp.seq, 0x6e2b_7a9c);
    assert_eq!(tcp.ack, 0);
    assert_eq!(tcp.flags, TcpFlags::SYN);
    assert_eq!(tcp.window, 64240);
    assert_eq!(tcp.urgent_ptr, 0);
    assert_eq!(tcp.options.mss, Some(1460));
    assert!(tcp.options.sack_permitted);
    assert_eq!(
        tcp.options.timestamps,
        Some(Timestamps {
            tsval: 0x001d_4a8c,
            tsecr: 0
        })
    );
    assert_eq!(tcp.options.window_scale, Some(7));
    assert!(tcp.options.sack_blocks.is_empty());
    assert!(tcp.payload.is_empty());
}

#[test]
fn linux_syn_reemits_byte_for_byte() {
    // Our option layout is Linux's, so the TCP segment comes out identical. The IPv4 header
    // differs only in the ID (we send 0) and hence its checksum.
    let pkt = hex(LINUX_SYN);
    let (ip, tcp) = parse_tcp(&pkt, ChecksumMode::Verify).unwrap();
    let mut out = [0u8; 80];
    let n = emit_tcp(&mut out, ip.src, ip.dst, ip.hop_limit, &tcp).unwrap();
    assert_eq!(n, pkt.len());
    assert_eq!(&out[20..n], &pkt[20..]);
    assert_eq!(&out[..4], &pkt[..4]);
    assert_eq!(&out[4..6], &[0, 0]);
    assert_eq!(&out[6..10], &pkt[6..10]);
    assert_eq!(&out[12..20], &pkt[12..20]);
}

#[test]
fn linux_syn_corruptions() {
    let pkt = hex(LINUX_SYN);
    let mut bad = pkt.clone();
    bad[20 + 16] ^= 0x01; // TCP checksum
    assert_eq!(
        parse_tcp(&bad, ChecksumMode::Verify),
        Err(Error::BadChecksum)
    );
    assert!(parse_tcp(&bad, ChecksumMode::Ignore).is_ok());
    let mut bad = pkt.clone();
    bad[10] ^= 0x01; // IPv4 header checksum
    assert_eq!(
        parse_tcp(&bad, ChecksumMode::Verify),
        Err(Error::BadChecksum)
    );
    for len in 0..pkt.len() {
        assert!(
            parse_tcp(&pkt[..len], ChecksumMode::Ignore).is_err(),
            "{len}"
        );
    }
}

/// A SACK-bearing ACK over IPv6 (RFC 2018 §3 layout: NOP NOP SACK len 18, two blocks) with
/// timestamps (NOP NOP TS), 2001:db8::1:443 -> 2001:db8::2:51000, hop limit 57. TCP checksum
/// 0xa90b computed independently over the RFC 8200 §8.1 pseudo-header.
const V6_SACK_ACK: &str = "
    6000 0000 0034 0639 2001 0db8 0000 0000 0000 0000 0000 0001
    2001 0db8 0000 0000 0000 0000 0000 0002
    01bb c738 0000 1000 0000 2000 d010 01f5 a90b 0000
    0101 080a 0000 0064 0000 00c8 0101 0512 0000 3000 0000 4000
    0000 5000 0000 6000";

#[test]
fn v6_sack_ack_fields() {
    let pkt = hex(V6_SACK_ACK);
    let (ip, tcp) = parse_tcp(&pkt, ChecksumMode::Verify).unwrap();
    assert_eq!(
        ip.src,
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
    );
    assert_eq!(ip.hop_limit, 57);
    assert_eq!((tcp.src_port, tcp.dst_port), (443, 51000));
    assert_eq!((tcp.seq, tcp.ack), (0x1000, 0x2000));
    assert_eq!(tcp.flags, TcpFlags::ACK);
    assert_eq!(tcp.window, 501);
    assert_eq!(
        tcp.options.sack_blocks.as_slice(),
        &[
            SackBlock {
                left: 0x3000,
                right: 0x4000
            },
            SackBlock {
                left: 0x5000,
                right: 0x6000
            }
        ]
    );
    assert_eq!(
        tcp.options.timestamps,
        Some(Timestamps {
            tsval: 100,
            tsecr: 200
        })
    );
    let mut out = [0u8; 128];
    let n = emit_tcp(&mut out, ip.src, ip.dst, ip.hop_limit, &tcp).unwrap();
    assert_eq!(&out[..n], &pkt[..]);
}
