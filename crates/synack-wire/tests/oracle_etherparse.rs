//! Cross-checks against etherparse, an independent implementation, in both directions:
//! packets we build are read by etherparse, and packets etherparse builds are read by us.
//! A fixed-seed generator keeps the run deterministic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    NetSlice, PacketBuilder, SlicedPacket, TcpHeader, TcpOptionElement, TransportSlice,
};
use synack_wire::{
    ChecksumMode, Error, SackBlock, SackList, TcpFlags, TcpOptions, TcpRepr, Timestamps, emit_tcp,
    parse_tcp, tcp_packet_len,
};

const PACKETS: usize = 5000;

/// xorshift64*, seeded per test.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        for b in a.iter_mut() {
            *b = self.next() as u8;
        }
        a
    }
}

fn random_addrs(rng: &mut Rng) -> (IpAddr, IpAddr) {
    if rng.chance(2) {
        (
            IpAddr::V6(Ipv6Addr::from(rng.bytes::<16>())),
            IpAddr::V6(Ipv6Addr::from(rng.bytes::<16>())),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::from(rng.bytes::<4>())),
            IpAddr::V4(Ipv4Addr::from(rng.bytes::<4>())),
        )
    }
}

fn random_options(rng: &mut Rng) -> TcpOptions {
    let mut o = TcpOptions {
        mss: rng.chance(2).then(|| rng.next() as u16),
        window_scale: rng.chance(2).then(|| rng.next() as u8),
        sack_permitted: rng.chance(2),
        sack_blocks: SackList::new(),
        timestamps: rng.chance(2).then(|| Timestamps {
            tsval: rng.next() as u32,
            tsecr: rng.next() as u32,
        }),
    };
    for _ in 0..rng.below(5) {
        let mut t = o;
        t.sack_blocks.push(SackBlock {
            left: rng.next() as u32,
            right: rng.next() as u32,
        });
        if t.wire_len() <= 40 {
            o = t;
        }
    }
    o
}

/// Our reading of etherparse's option elements.
fn options_from_etherparse(
    it: impl Iterator<Item = Result<TcpOptionElement, etherparse::TcpOptionReadError>>,
) -> TcpOptions {
    let mut o = TcpOptions::default();
    for e in it {
        match e.expect("etherparse reads our options") {
            TcpOptionElement::Noop => {}
            TcpOptionElement::MaximumSegmentSize(v) => o.mss = Some(v),
            TcpOptionElement::WindowScale(v) => o.window_scale = Some(v),
            TcpOptionElement::SelectiveAcknowledgementPermitted => o.sack_permitted = true,
            TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                o.sack_blocks.clear();
                for (left, right) in std::iter::once(first).chain(rest.into_iter().flatten()) {
                    o.sack_blocks.push(SackBlock { left, right });
                }
            }
            TcpOptionElement::Timestamp(tsval, tsecr) => {
                o.timestamps = Some(Timestamps { tsval, tsecr })
            }
        }
    }
    o
}

fn flags_from_etherparse(t: &etherparse::TcpSlice<'_>) -> TcpFlags {
    let mut f = TcpFlags::NONE;
    for (set, flag) in [
        (t.fin(), TcpFlags::FIN),
        (t.syn(), TcpFlags::SYN),
        (t.rst(), TcpFlags::RST),
        (t.psh(), TcpFlags::PSH),
        (t.ack(), TcpFlags::ACK),
        (t.urg(), TcpFlags::URG),
        (t.ece(), TcpFlags::ECE),
        (t.cwr(), TcpFlags::CWR),
    ] {
        if set {
            f |= flag;
        }
    }
    f
}

#[test]
fn etherparse_reads_what_we_build() {
    let mut rng = Rng(0x0ddc_0ffe_e15b_ad5e);
    let mut corrupted_seen = 0;
    for i in 0..PACKETS {
        let (src, dst) = random_addrs(&mut rng);
        let ttl = rng.next() as u8;
        let payload: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        let repr = TcpRepr {
            src_port: rng.next() as u16,
            dst_port: rng.next() as u16,
            seq: rng.next() as u32,
            ack: rng.next() as u32,
            flags: TcpFlags::from_bits(rng.next() as u8),
            window: rng.next() as u16,
            urgent_ptr: rng.next() as u16,
            options: random_options(&mut rng),
            payload: &payload,
        };
        let mut pkt = vec![0u8; tcp_packet_len(&repr, src.is_ipv6())];
        emit_tcp(&mut pkt, src, dst, ttl, &repr).unwrap();
        let ip_len = if src.is_ipv6() { 40 } else { 20 };

        // A quarter of the packets get one TCP byte changed (but not the data offset, whose
        // change makes the two parsers disagree on where the payload starts, not on checksums).
        let corrupt = rng.chance(4);
        if corrupt {
            let mut at = ip_len + rng.below((pkt.len() - ip_len) as u64) as usize;
            if at == ip_len + 12 {
                at += 1;
            }
            pkt[at] ^= (rng.below(255) + 1) as u8;
            corrupted_seen += 1;
        }

        let sliced = SlicedPacket::from_ip(&pkt).unwrap_or_else(|e| panic!("#{i}: {e:?}"));
        match &sliced.net {
            Some(NetSlice::Ipv4(v4)) => {
                let h = v4.header();
                assert_eq!(IpAddr::V4(h.source_addr()), src);
                assert_eq!(IpAddr::V4(h.destination_addr()), dst);
                assert_eq!(h.ttl(), ttl);
                assert!(h.dont_fragment() && !h.is_fragmenting_payload());
                assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
            }
            Some(NetSlice::Ipv6(v6)) => {
                let h = v6.header();
                assert_eq!(IpAddr::V6(h.source_addr()), src);
                assert_eq!(IpAddr::V6(h.destination_addr()), dst);
                assert_eq!(h.hop_limit(), ttl);
            }
            other => panic!("#{i}: {other:?}"),
        }
        let Some(TransportSlice::Tcp(t)) = &sliced.transport else {
            panic!("#{i}: not TCP to etherparse");
        };
        let theirs = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => t.calc_checksum_ipv4(s.octets(), d.octets()),
            (IpAddr::V6(s), IpAddr::V6(d)) => t.calc_checksum_ipv6(s.octets(), d.octets()),
            _ => unreachable!(),
        }
        .unwrap();
        // 0x0000 and 0xffff are the same number in one's complement (RFC 1624 §3); we accept
        // either in the field, etherparse compares bit patterns.
        let their_ok = theirs == t.checksum() || (theirs == 0 && t.checksum() == 0xffff);
        let ours = parse_tcp(&pkt, ChecksumMode::Verify);
        assert_eq!(ours.is_ok(), their_ok, "#{i}: checksum verdicts differ");
        assert_eq!(their_ok, !corrupt, "#{i}");
        if corrupt {
            assert_eq!(ours.err(), Some(Error::BadChecksum));
            continue;
        }
        let (_, ours) = ours.unwrap();
        assert_eq!(ours, repr);
        assert_eq!(t.source_port(), repr.src_port);
        assert_eq!(t.destination_port(), repr.dst_port);
        assert_eq!(t.sequence_number(), repr.seq);
        assert_eq!(t.acknowledgment_number(), repr.ack);
        assert_eq!(flags_from_etherparse(t), repr.flags);
        assert_eq!(t.window_size(), repr.window);
        assert_eq!(t.urgent_pointer(), repr.urgent_ptr);
        assert_eq!(t.payload(), repr.payload);
        assert_eq!(usize::from(t.data_offset()) * 4, repr.header_len());
        assert_eq!(options_from_etherparse(t.options_iterator()), repr.options);
    }
    assert!(corrupted_seen > PACKETS / 8);
}

#[test]
fn we_read_what_etherparse_builds() {
    let mut rng = Rng(0x5eed_0000_0000_0002);
    let mut built = 0;
    for i in 0..PACKETS {
        let (src, dst) = random_addrs(&mut rng);
        let ttl = rng.next() as u8;
        let payload: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();

        let mut h = TcpHeader::new(
            rng.next() as u16,
            rng.next() as u16,
            rng.next() as u32,
            rng.next() as u16,
        );
        h.acknowledgment_number = rng.next() as u32;
        let bits = rng.next() as u8;
        h.fin = bits & 0x01 != 0;
        h.syn = bits & 0x02 != 0;
        h.rst = bits & 0x04 != 0;
        h.psh = bits & 0x08 != 0;
        h.ack = bits & 0x10 != 0;
        h.urg = bits & 0x20 != 0;
        h.ece = bits & 0x40 != 0;
        h.cwr = bits & 0x80 != 0;
        h.urgent_pointer = rng.next() as u16;

        // Options in a random order with random NOPs, the way other stacks may send them.
        let want = random_options(&mut rng);
        let mut elems: Vec<TcpOptionElement> = Vec::new();
        if let Some(v) = want.mss {
            elems.push(TcpOptionElement::MaximumSegmentSize(v));
        }
        if let Some(v) = want.window_scale {
            elems.push(TcpOptionElement::WindowScale(v));
        }
        if want.sack_permitted {
            elems.push(TcpOptionElement::SelectiveAcknowledgementPermitted);
        }
        if let Some(ts) = want.timestamps {
            elems.push(TcpOptionElement::Timestamp(ts.tsval, ts.tsecr));
        }
        if let Some((first, rest)) = want.sack_blocks.as_slice().split_first() {
            let mut more = [None; 3];
            for (slot, b) in more.iter_mut().zip(rest) {
                *slot = Some((b.left, b.right));
            }
            elems.push(TcpOptionElement::SelectiveAcknowledgement(
                (first.left, first.right),
                more,
            ));
        }
        for k in (1..elems.len()).rev() {
            elems.swap(k, rng.below(k as u64 + 1) as usize);
        }
        for _ in 0..rng.below(4) {
            let at = rng.below(elems.len() as u64 + 1) as usize;
            elems.insert(at, TcpOptionElement::Noop);
        }
        if h.set_options(&elems).is_err() {
            continue; // NOPs pushed it past 40 bytes.
        }

        let mut pkt = Vec::new();
        let builder = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), ttl),
            (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), ttl),
            _ => unreachable!(),
        };
        builder
            .tcp_header(h.clone())
            .write(&mut pkt, &payload)
            .unwrap();
        built += 1;

        let (ip, r) = parse_tcp(&pkt, ChecksumMode::Verify).unwrap_or_else(|e| panic!("#{i}: {e}"));
        assert_eq!((ip.src, ip.dst, ip.hop_limit), (src, dst, ttl));
        assert_eq!(r.src_port, h.source_port);
        assert_eq!(r.dst_port, h.destination_port);
        assert_eq!(r.seq, h.sequence_number);
        assert_eq!(r.ack, h.acknowledgment_number);
        assert_eq!(r.flags, TcpFlags::from_bits(bits));
        assert_eq!(r.window, h.window_size);
        assert_eq!(r.urgent_ptr, h.urgent_pointer);
        assert_eq!(r.payload, &payload[..]);
        assert_eq!(r.options, want, "#{i}: {elems:?}");

        // And a corrupted copy is rejected by us exactly when etherparse's checksum disagrees.
        let ip_len = if src.is_ipv6() { 40 } else { 20 };
        let at = ip_len + rng.below((pkt.len() - ip_len) as u64) as usize;
        if at != ip_len + 12 {
            pkt[at] ^= 0x5a;
            assert_eq!(
                parse_tcp(&pkt, ChecksumMode::Verify).err(),
                Some(Error::BadChecksum),
                "#{i}"
            );
        }
    }
    assert!(built > PACKETS * 3 / 4, "only {built} packets built");
}

/// ICMP errors both ways: ours read by etherparse, etherparse's read by us, with the quoted
/// TCP ports and sequence number checked against the packet that was quoted.
#[test]
fn icmp_errors_agree_with_etherparse() {
    use etherparse::icmpv4::DestUnreachableHeader;
    use etherparse::{Icmpv4Header, Icmpv4Type, Icmpv6Type};
    use synack_wire::{IcmpRepr, Icmpv4Repr, Icmpv6Repr, emit_icmp, parse_icmp};

    let mut rng = Rng(0x1c3b_0000_0000_0003);
    for i in 0..PACKETS / 2 {
        let (src, dst) = random_addrs(&mut rng);
        // The quoted packet: a real TCP datagram going the other way, cut like routers do.
        let payload = [0u8; 64];
        let inner_repr = TcpRepr {
            src_port: rng.next() as u16,
            dst_port: rng.next() as u16,
            seq: rng.next() as u32,
            ack: 0,
            flags: TcpFlags::ACK,
            window: 100,
            urgent_ptr: 0,
            options: random_options(&mut rng),
            payload: &payload,
        };
        let mut inner = vec![0u8; tcp_packet_len(&inner_repr, src.is_ipv6())];
        emit_tcp(&mut inner, dst, src, 64, &inner_repr).unwrap();
        let min = if src.is_ipv6() { 48 } else { 28 };
        let quote = &inner[..min + rng.below((inner.len() - min + 1) as u64) as usize];

        let mtu = rng.next() as u16;
        let ours = if src.is_ipv6() {
            if rng.chance(2) {
                IcmpRepr::V6(Icmpv6Repr::PacketTooBig {
                    mtu: u32::from(mtu),
                    invoking: quote,
                })
            } else {
                IcmpRepr::V6(Icmpv6Repr::DstUnreachable {
                    code: rng.below(7) as u8,
                    invoking: quote,
                })
            }
        } else {
            let code = rng.below(16) as u8;
            IcmpRepr::V4(Icmpv4Repr::DstUnreachable {
                code,
                // Only code 4 carries an MTU; etherparse zeroes the field for the others.
                next_hop_mtu: if code == 4 { mtu } else { 0 },
                invoking: quote,
            })
        };

        // Ours -> etherparse.
        let mut pkt = vec![0u8; 48 + quote.len()];
        let n = emit_icmp(&mut pkt, src, dst, 64, &ours).unwrap();
        let pkt = &pkt[..n];
        let sliced = SlicedPacket::from_ip(pkt).unwrap_or_else(|e| panic!("#{i}: {e:?}"));
        match (&sliced.transport, &ours) {
            (
                Some(TransportSlice::Icmpv4(s)),
                IcmpRepr::V4(Icmpv4Repr::DstUnreachable { code, .. }),
            ) => {
                assert_eq!((s.type_u8(), s.code_u8()), (3, *code), "#{i}");
                let t = s.icmp_type();
                assert_eq!(
                    Icmpv4Header::with_checksum(t.clone(), s.payload()).checksum,
                    s.checksum(),
                    "#{i}"
                );
                if *code == 4 {
                    assert_eq!(
                        t,
                        Icmpv4Type::DestinationUnreachable(
                            DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu }
                        )
                    );
                }
                assert_eq!(s.payload(), quote);
            }
            (Some(TransportSlice::Icmpv6(s)), IcmpRepr::V6(r)) => {
                let (IpAddr::V6(s6), IpAddr::V6(d6)) = (src, dst) else {
                    unreachable!()
                };
                assert!(s.is_checksum_valid(s6.octets(), d6.octets()), "#{i}");
                match r {
                    Icmpv6Repr::PacketTooBig { mtu: m, .. } => {
                        assert_eq!(s.icmp_type(), Icmpv6Type::PacketTooBig { mtu: *m })
                    }
                    Icmpv6Repr::DstUnreachable { code, .. } => {
                        assert_eq!((s.type_u8(), s.code_u8()), (1, *code))
                    }
                    Icmpv6Repr::Other { .. } => unreachable!(),
                }
                assert_eq!(s.payload(), quote);
            }
            other => panic!("#{i}: {other:?}"),
        }

        // Etherparse -> ours: the same message built by etherparse parses to the same repr.
        let mut theirs = Vec::new();
        match (src, dst, &ours) {
            (
                IpAddr::V4(s),
                IpAddr::V4(d),
                IcmpRepr::V4(Icmpv4Repr::DstUnreachable { code, .. }),
            ) => {
                let b = PacketBuilder::ipv4(s.octets(), d.octets(), 64);
                if *code == 4 {
                    // The typed API, so etherparse places the MTU itself.
                    b.icmpv4(Icmpv4Type::DestinationUnreachable(
                        DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu },
                    ))
                    .write(&mut theirs, quote)
                } else {
                    b.icmpv4_raw(3, *code, [0; 4]).write(&mut theirs, quote)
                }
            }
            (IpAddr::V6(s), IpAddr::V6(d), IcmpRepr::V6(Icmpv6Repr::PacketTooBig { mtu, .. })) => {
                PacketBuilder::ipv6(s.octets(), d.octets(), 64)
                    .icmpv6(Icmpv6Type::PacketTooBig { mtu: *mtu })
                    .write(&mut theirs, quote)
            }
            (
                IpAddr::V6(s),
                IpAddr::V6(d),
                IcmpRepr::V6(Icmpv6Repr::DstUnreachable { code, .. }),
            ) => PacketBuilder::ipv6(s.octets(), d.octets(), 64)
                .icmpv6_raw(1, *code, [0; 4])
                .write(&mut theirs, quote),
            _ => unreachable!(),
        }
        .unwrap();
        let (h, back) =
            parse_icmp(&theirs, ChecksumMode::Verify).unwrap_or_else(|e| panic!("#{i}: {e}"));
        assert_eq!((h.src, h.dst), (src, dst));
        assert_eq!(back, ours, "#{i}");
        let q = back.quoted().unwrap();
        assert_eq!((q.src, q.dst), (dst, src));
        let t = q.tcp().unwrap();
        assert_eq!(
            (t.src_port, t.dst_port, t.seq),
            (inner_repr.src_port, inner_repr.dst_port, inner_repr.seq)
        );
    }
}
