//! Feeds arbitrary bytes to every parser in synack-wire. Any panic is a bug: the crate promises
//! a typed error for every malformed input.
//!
//! Run with `cargo +nightly fuzz run parse_packet` from the repository root.
#![no_main]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use synack_wire::icmp::{Icmpv4Packet, Icmpv6Packet};
use synack_wire::ipv4::Ipv4Packet;
use synack_wire::ipv6::Ipv6Packet;
use synack_wire::{
    ChecksumMode, Icmpv4Repr, Icmpv6Repr, Ipv4Repr, Ipv6Repr, QuotedHeader, TcpOptions, TcpPacket,
    TcpRepr, emit_icmp, emit_tcp, parse_icmp, parse_tcp,
};

fuzz_target!(|data: &[u8]| {
    for mode in [ChecksumMode::Verify, ChecksumMode::Ignore] {
        if let Ok((ip, tcp)) = parse_tcp(data, mode) {
            // Whatever parses must re-emit and parse back to the same segment (the emitter
            // drops unknown options and reorders, so compare reprs, not bytes).
            if tcp.options_fit() {
                let mut out = [0u8; 65536 + 60];
                if let Ok(n) = emit_tcp(&mut out, ip.src, ip.dst, ip.hop_limit, &tcp) {
                    let (ip2, tcp2) =
                        parse_tcp(&out[..n], ChecksumMode::Verify).expect("emitted packet parses");
                    assert_eq!((ip2.src, ip2.dst), (ip.src, ip.dst));
                    assert_eq!(tcp2, tcp);
                }
            }
        }
        if let Ok((ip, icmp)) = parse_icmp(data, mode) {
            let _ = icmp.quoted().map(|q| q.tcp());
            let _ = icmp.reported_mtu();
            let mut out = [0u8; 65536 + 60];
            let _ = emit_icmp(&mut out, ip.src, ip.dst, ip.hop_limit, &icmp);
        }
    }

    if let Ok(p) = TcpPacket::new_checked(data) {
        let _ = (p.src_port(), p.seq_number(), p.flags(), p.payload().len());
        p.option_iter().for_each(drop);
    }
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let _ = TcpRepr::parse_bytes(data, v4, v4, ChecksumMode::Verify);
    let _ = TcpRepr::parse_bytes(data, v6, v6, ChecksumMode::Ignore);
    let _ = TcpOptions::parse(data);

    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let _ = (
            p.options(),
            p.payload(),
            p.verify_checksum(),
            p.is_fragment(),
        );
        let _ = Ipv4Repr::parse(&p, ChecksumMode::Verify);
    }
    if let Ok(p) = Ipv6Packet::new_checked(data) {
        let _ = p.upper_layer();
        let _ = Ipv6Repr::parse(&p);
    }
    if let Ok(p) = Icmpv4Packet::new_checked(data) {
        let _ = (p.verify_checksum(), p.next_hop_mtu(), p.data());
    }
    if let Ok(p) = Icmpv6Packet::new_checked(data) {
        let _ = (
            p.verify_checksum(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST),
            p.mtu(),
        );
    }
    let _ = Icmpv4Repr::parse_bytes(data, ChecksumMode::Ignore).map(|r| r.quoted());
    let _ = Icmpv6Repr::parse_bytes(
        data,
        Ipv6Addr::LOCALHOST,
        Ipv6Addr::LOCALHOST,
        ChecksumMode::Ignore,
    )
    .map(|r| r.quoted());
    let _ = QuotedHeader::parse(data).map(|q| q.tcp());
});
