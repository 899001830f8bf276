//! Property tests: round trips, truncation and corruption handling, and no panics on any input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use synack_wire::icmp::{Icmpv4Packet, Icmpv6Packet};
use synack_wire::ipv4::Ipv4Packet;
use synack_wire::ipv6::Ipv6Packet;
use synack_wire::{
    ChecksumMode, Error, IcmpRepr, Icmpv4Repr, Icmpv6Repr, IpHeader, Ipv4Repr, Ipv6Repr,
    QuotedHeader, SackBlock, SackList, TcpFlags, TcpOptions, TcpPacket, TcpRepr, Timestamps,
    emit_icmp, emit_tcp, parse_icmp, parse_tcp, tcp_packet_len,
};

/// Everything of a `TcpRepr` but the borrowed payload.
#[derive(Clone, Debug)]
struct Seg {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urgent_ptr: u16,
    options: TcpOptions,
    payload: Vec<u8>,
}

impl Seg {
    fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: TcpFlags::from_bits(self.flags),
            window: self.window,
            urgent_ptr: self.urgent_ptr,
            options: self.options,
            payload: &self.payload,
        }
    }
}

/// Option combinations that fit: SACK blocks are dropped from the end until the 40-byte
/// budget holds, so every shape (including 4 blocks without timestamps) is generated.
fn options() -> impl Strategy<Value = TcpOptions> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u8>()),
        any::<bool>(),
        proptest::option::of(any::<(u32, u32)>()),
        proptest::collection::vec(any::<(u32, u32)>(), 0..=4),
    )
        .prop_map(|(mss, ws, sp, ts, blocks)| {
            let mut o = TcpOptions {
                mss,
                window_scale: ws,
                sack_permitted: sp,
                sack_blocks: SackList::new(),
                timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
            };
            for (left, right) in blocks {
                let mut trial = o;
                trial.sack_blocks.push(SackBlock { left, right });
                if trial.wire_len() <= 40 {
                    o = trial;
                }
            }
            o
        })
}

fn seg() -> impl Strategy<Value = Seg> {
    (
        any::<(u16, u16, u32, u32, u8, u16, u16)>(),
        options(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |((src_port, dst_port, seq, ack, flags, window, urgent_ptr), options, payload)| Seg {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                urgent_ptr,
                options,
                payload,
            },
        )
}

fn addrs() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        any::<([u8; 4], [u8; 4])>()
            .prop_map(|(s, d)| (IpAddr::V4(Ipv4Addr::from(s)), IpAddr::V4(Ipv4Addr::from(d)))),
        any::<([u8; 16], [u8; 16])>()
            .prop_map(|(s, d)| (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(d)))),
    ]
}

fn emit(s: &Seg, src: IpAddr, dst: IpAddr, ttl: u8) -> Vec<u8> {
    let r = s.repr();
    let mut buf = vec![0u8; tcp_packet_len(&r, src.is_ipv6())];
    let n = emit_tcp(&mut buf, src, dst, ttl, &r).expect("generated options fit");
    assert_eq!(n, buf.len());
    buf
}

/// Feeds `bytes` to every parser in the crate; none may panic, whatever it returns.
fn parse_everything(bytes: &[u8]) {
    let _ = parse_tcp(bytes, ChecksumMode::Verify);
    let _ = parse_tcp(bytes, ChecksumMode::Ignore);
    if let Ok((_, r)) = parse_icmp(bytes, ChecksumMode::Ignore) {
        let _ = r.quoted().map(|q| q.tcp());
        let _ = r.reported_mtu();
    }
    if let Ok(p) = TcpPacket::new_checked(bytes) {
        let _ = (p.src_port(), p.seq_number(), p.flags(), p.payload().len());
        for o in p.option_iter() {
            let _ = o;
        }
    }
    let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let _ = TcpRepr::parse_bytes(bytes, a, a, ChecksumMode::Verify);
    let _ = TcpRepr::parse_bytes(bytes, a, a, ChecksumMode::Ignore);
    let _ = TcpOptions::parse(bytes);
    if let Ok(p) = Ipv4Packet::new_checked(bytes) {
        let _ = (
            p.options(),
            p.payload(),
            p.verify_checksum(),
            p.frag_offset(),
        );
        let _ = Ipv4Repr::parse(&p, ChecksumMode::Verify);
    }
    if let Ok(p) = Ipv6Packet::new_checked(bytes) {
        let _ = p.upper_layer();
        let _ = Ipv6Repr::parse(&p);
    }
    let _ = Icmpv4Repr::parse_bytes(bytes, ChecksumMode::Ignore).map(|r| r.quoted());
    let _ = Icmpv6Repr::parse_bytes(
        bytes,
        Ipv6Addr::LOCALHOST,
        Ipv6Addr::LOCALHOST,
        ChecksumMode::Ignore,
    )
    .map(|r| r.quoted());
    if let Ok(p) = Icmpv4Packet::new_checked(bytes) {
        let _ = (p.verify_checksum(), p.next_hop_mtu(), p.data());
    }
    if let Ok(p) = Icmpv6Packet::new_checked(bytes) {
        let _ = (p.mtu(), p.data());
    }
    let _ = QuotedHeader::parse(bytes).map(|q| q.tcp());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn ip_tcp_round_trip(s in seg(), (src, dst) in addrs(), ttl in any::<u8>()) {
        let pkt = emit(&s, src, dst, ttl);
        let (h, r) = parse_tcp(&pkt, ChecksumMode::Verify).unwrap();
        prop_assert_eq!(h, IpHeader { src, dst, hop_limit: ttl, ecn: 0 });
        prop_assert_eq!(r, s.repr());
        prop_assert!(r.header_len() <= 60 && r.header_len() % 4 == 0);
    }

    #[test]
    fn tcp_segment_round_trip(s in seg(), (src, dst) in addrs()) {
        let r = s.repr();
        let mut buf = vec![0u8; r.segment_len() + 7];
        let n = r.emit(&mut buf, src, dst).unwrap();
        prop_assert_eq!(n, r.segment_len());
        let p = TcpPacket::new_checked(&buf[..n]).unwrap();
        prop_assert!(p.verify_checksum(src, dst).unwrap());
        let back = TcpRepr::parse(&p, src, dst, ChecksumMode::Verify).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn every_truncation_is_rejected(s in seg(), (src, dst) in addrs()) {
        let pkt = emit(&s, src, dst, 64);
        for len in 0..pkt.len() {
            prop_assert!(parse_tcp(&pkt[..len], ChecksumMode::Verify).is_err(), "len {}", len);
            prop_assert!(parse_tcp(&pkt[..len], ChecksumMode::Ignore).is_err(), "len {}", len);
        }
    }

    #[test]
    fn any_bit_flip_in_the_segment_is_caught(
        s in seg(), (src, dst) in addrs(), pos in any::<prop::sample::Index>(), bit in 0u8..8,
    ) {
        let mut pkt = emit(&s, src, dst, 64);
        let ip = if src.is_ipv6() { 40 } else { 20 };
        let i = ip + pos.index(pkt.len() - ip);
        pkt[i] ^= 1 << bit;
        // One's-complement sums catch every single-bit error (RFC 1071 §2).
        prop_assert!(parse_tcp(&pkt, ChecksumMode::Verify).is_err());
    }

    #[test]
    fn mutated_packets_never_panic(
        s in seg(), (src, dst) in addrs(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut pkt = emit(&s, src, dst, 64);
        for (i, v) in edits {
            let i = i.index(pkt.len());
            pkt[i] = v;
        }
        let cut = cut.index(pkt.len() + 1);
        parse_everything(&pkt[..cut]);
        parse_everything(&pkt);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        parse_everything(&bytes);
        // And with plausible first bytes, so the IP and TCP parsers get past their first check.
        for first in [0x45u8, 0x4f, 0x60, 0x50] {
            let mut b = bytes.clone();
            if let Some(x) = b.first_mut() { *x = first; }
            parse_everything(&b);
        }
    }

    #[test]
    fn arbitrary_option_lists_never_panic(opts in proptest::collection::vec(any::<u8>(), 0..40)) {
        // Wrap them in a header with the right data offset so option parsing is reached.
        let len = 20 + opts.len().div_ceil(4) * 4;
        let mut seg = vec![0u8; len];
        seg[12] = ((len / 4) as u8) << 4;
        seg[20..20 + opts.len()].copy_from_slice(&opts);
        let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        match TcpRepr::parse_bytes(&seg, a, a, ChecksumMode::Ignore) {
            Ok(r) => prop_assert_eq!(r.options, TcpOptions::parse(&seg[20..]).unwrap()),
            Err(e) => prop_assert_eq!(e, Error::BadOption),
        }
    }

    #[test]
    fn icmp_round_trip(
        (src, dst) in addrs(), s in seg(), code in any::<u8>(), mtu in any::<u16>(),
        quote_len in 28usize..120,
    ) {
        // Quote the start of a real TCP packet going the other way.
        let inner = emit(&s, dst, src, 64);
        let q = &inner[..quote_len.min(inner.len())];
        let icmp = if src.is_ipv6() {
            IcmpRepr::V6(Icmpv6Repr::PacketTooBig { mtu: u32::from(mtu), invoking: q })
        } else {
            IcmpRepr::V4(Icmpv4Repr::DstUnreachable { code, next_hop_mtu: mtu, invoking: q })
        };
        let mut buf = vec![0u8; 40 + 8 + q.len()];
        let n = emit_icmp(&mut buf, src, dst, 64, &icmp).unwrap();
        let (h, back) = parse_icmp(&buf[..n], ChecksumMode::Verify).unwrap();
        prop_assert_eq!((h.src, h.dst), (src, dst));
        prop_assert_eq!(back, icmp);
        if q.len() >= if src.is_ipv6() { 48 } else { 28 } {
            let qt = back.quoted().unwrap();
            prop_assert_eq!((qt.src, qt.dst), (dst, src));
            let t = qt.tcp().unwrap();
            prop_assert_eq!((t.src_port, t.dst_port, t.seq), (s.src_port, s.dst_port, s.seq));
        }
        for len in 0..n {
            prop_assert!(parse_icmp(&buf[..len], ChecksumMode::Verify).is_err());
        }
    }
}
