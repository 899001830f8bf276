//! The same calls over IPv6 (packetdrill's `--ip_version=ipv6`): a passive open to whatever
//! address packetdrill picked, and an active open from the library's default source.

use std::net::{IpAddr, SocketAddr};

use synack_packetdrill::Instance;
use synack_packetdrill::flags;
use synack_packetdrill::instance::DEFAULT_SOURCE_V6;
use synack_wire::ChecksumMode;
use synack_wire::ip::emit_tcp;
use synack_wire::tcp::{TcpFlags, TcpOptions, TcpRepr};

const HDR: usize = 40;

fn packet(src: SocketAddr, dst: SocketAddr, flags: TcpFlags, seq: u32, ack: u32) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags,
        window: 65535,
        urgent_ptr: 0,
        options: TcpOptions {
            mss: flags.contains(TcpFlags::SYN).then_some(1440),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = vec![0u8; 1500];
    let n = emit_tcp(&mut buf, src.ip(), dst.ip(), 64, &tcp).unwrap();
    buf.truncate(n);
    buf
}

/// (src, dst, repr) of an IPv6 datagram the library sent; checksum verified.
fn parse(bytes: &[u8]) -> (IpAddr, IpAddr, TcpRepr<'_>) {
    assert_eq!(bytes[0] >> 4, 6, "not IPv6");
    let src = IpAddr::from(<[u8; 16]>::try_from(&bytes[8..24]).unwrap());
    let dst = IpAddr::from(<[u8; 16]>::try_from(&bytes[24..40]).unwrap());
    let tcp = TcpRepr::parse_bytes(&bytes[HDR..], src, dst, ChecksumMode::Verify).unwrap();
    (src, dst, tcp)
}

#[test]
fn passive_and_active_opens_over_ipv6() {
    let i = Instance::new(flags::parse("secret=3").unwrap());
    let local: SocketAddr = "[fd3d:fa7b:d17d::42]:8080".parse().unwrap();
    let remote: SocketAddr = "[2001:db8::1]:40000".parse().unwrap();

    let l = i.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).unwrap();
    i.bind(l, local).unwrap();
    i.listen(l, 4).unwrap();
    i.inject(&packet(remote, local, TcpFlags::SYN, 77, 0))
        .unwrap();
    let out = i.next_outbound(65535).unwrap().unwrap();
    let (src, dst, synack) = parse(&out.bytes);
    assert_eq!((src, dst), (local.ip(), remote.ip()));
    assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(synack.ack, 78);
    // A 1500-byte link less IPv6's 40-byte header and TCP's 20 (RFC 9293 §3.7.1).
    assert_eq!(synack.options.mss, Some(1440));
    i.inject(&packet(
        remote,
        local,
        TcpFlags::ACK,
        78,
        synack.seq.wrapping_add(1),
    ))
    .unwrap();
    assert_eq!(i.accept(l), Ok((l + 1, remote)));

    let c = i
        .socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)
        .unwrap();
    let server: SocketAddr = "[2001:db8::1]:8080".parse().unwrap();
    assert_eq!(i.connect(c, server), Err(libc::EINPROGRESS));
    let out = i.next_outbound(65535).unwrap().unwrap();
    let (src, dst, syn) = parse(&out.bytes);
    assert_eq!((src, dst), (IpAddr::V6(DEFAULT_SOURCE_V6), server.ip()));
    assert_eq!((syn.flags, syn.dst_port), (TcpFlags::SYN, 8080));
    assert_eq!(syn.options.mss, Some(1440));
    // Run here rather than as a test of its own: descriptors are process-wide, and the
    // `l + 1` above holds only while no other run takes one in between.
    the_mtu_flag_sets_the_mss_per_family();
}

/// `mtu=` sets the link the MSS comes from: packetdrill's IPv6 runs use a 1520-byte link so
/// that scripts written for IPv4's 1460 hold over IPv6 too; IPv4 on the same link gets 1480.
fn the_mtu_flag_sets_the_mss_per_family() {
    let i = Instance::new(flags::parse("secret=3,mtu=1520").unwrap());
    assert_eq!(syn_mss(&i, "[2001:db8::1]:8080"), Some(1460));
    assert_eq!(syn_mss(&i, "192.0.2.1:8080"), Some(1480));
}

/// The MSS option of the SYN a non-blocking connect to `server` sends.
fn syn_mss(i: &Instance, server: &str) -> Option<u16> {
    let server: SocketAddr = server.parse().unwrap();
    let domain = if server.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    let c = i
        .socket(domain, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)
        .unwrap();
    assert_eq!(i.connect(c, server), Err(libc::EINPROGRESS));
    let out = i.next_outbound(65535).unwrap().unwrap();
    if server.is_ipv6() {
        return parse(&out.bytes).2.options.mss;
    }
    assert_eq!(out.bytes[0] >> 4, 4, "not IPv4");
    let ihl = usize::from(out.bytes[0] & 0x0f) * 4;
    let src = IpAddr::from(<[u8; 4]>::try_from(&out.bytes[12..16]).unwrap());
    let tcp = TcpRepr::parse_bytes(&out.bytes[ihl..], src, server.ip(), ChecksumMode::Verify);
    tcp.unwrap().options.mss
}
