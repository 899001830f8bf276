//! Whole IP datagrams: the layer the host uses to turn bytes from a link into a [`TcpRepr`]
//! or an [`IcmpRepr`] and back.

use core::net::IpAddr;

use crate::checksum::{ChecksumMode, PendingChecksum, pseudo_header, pseudo_header_v4};
use crate::icmp::{IcmpRepr, Icmpv4Repr, Icmpv6Repr};
use crate::ipv4::{self, Ipv4Packet, Ipv4Repr};
use crate::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::tcp::TcpRepr;
use crate::{Error, protocol};

/// What the host needs from the IP header of a received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpHeader {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 Hop Limit.
    pub hop_limit: u8,
    /// The two ECN bits (RFC 3168 §5).
    pub ecn: u8,
}

/// Validated IP layer: header and the upper-layer bytes with their protocol.
struct Upper<'a> {
    header: IpHeader,
    protocol: u8,
    bytes: &'a [u8],
}

/// Dispatches on the version nibble and strips the IP layer, rejecting fragments.
#[inline]
fn strip_ip(packet: &[u8], mode: ChecksumMode) -> Result<Upper<'_>, Error> {
    let first = *packet.first().ok_or(Error::Truncated)?;
    match first >> 4 {
        4 => {
            let (r, bytes) = Ipv4Repr::parse_bytes(packet, mode)?;
            Ok(Upper {
                header: IpHeader {
                    src: r.src.into(),
                    dst: r.dst.into(),
                    hop_limit: r.ttl,
                    ecn: r.tos & 0b11,
                },
                protocol: r.protocol,
                bytes,
            })
        }
        6 => {
            let p = Ipv6Packet::new_checked(packet)?;
            let u = p.upper_layer()?;
            if u.fragmented {
                return Err(Error::Fragmented);
            }
            let end = ipv6::HEADER_LEN + p.payload_len();
            let bytes = packet.get(u.offset..end).ok_or(Error::Truncated)?;
            Ok(Upper {
                header: IpHeader {
                    src: p.src_addr().into(),
                    dst: p.dst_addr().into(),
                    hop_limit: p.hop_limit(),
                    ecn: p.traffic_class() & 0b11,
                },
                protocol: u.protocol,
                bytes,
            })
        }
        _ => Err(Error::BadVersion),
    }
}

/// Parses an IPv4 or IPv6 datagram carrying TCP.
///
/// Under [`ChecksumMode::Verify`] both the IPv4 header checksum and the TCP checksum are
/// checked. IPv4 options and IPv6 extension headers are skipped. Fragments fail with
/// [`Error::Fragmented`], other protocols with [`Error::NotTcp`].
#[inline]
pub fn parse_tcp(packet: &[u8], mode: ChecksumMode) -> Result<(IpHeader, TcpRepr<'_>), Error> {
    let u = strip_ip(packet, mode)?;
    if u.protocol != protocol::TCP {
        return Err(Error::NotTcp);
    }
    let tcp = TcpRepr::parse_bytes(u.bytes, u.header.src, u.header.dst, mode)?;
    Ok((u.header, tcp))
}

/// [`parse_tcp`] verifying all but the TCP payload: the IPv4 header checksum is checked, the
/// TCP checksum is summed over the pseudo-header and the TCP header and left pending over the
/// payload, for the receiver to finish while it copies the payload where it is kept (see
/// [`PendingChecksum`]). The segment may not be acted on until that sum is found right.
#[inline]
pub fn parse_tcp_deferred(
    packet: &[u8],
) -> Result<(IpHeader, TcpRepr<'_>, PendingChecksum), Error> {
    let u = strip_ip(packet, ChecksumMode::Verify)?;
    if u.protocol != protocol::TCP {
        return Err(Error::NotTcp);
    }
    let tcp = TcpRepr::parse_bytes(u.bytes, u.header.src, u.header.dst, ChecksumMode::Ignore)?;
    let header = &u.bytes[..u.bytes.len() - tcp.payload.len()];
    let mut summed = pseudo_header(u.header.src, u.header.dst, protocol::TCP, u.bytes.len())?;
    summed.add(header);
    Ok((u.header, tcp, PendingChecksum::new(summed)))
}

/// Length of the datagram [`emit_tcp`] builds for `tcp`.
pub fn tcp_packet_len(tcp: &TcpRepr<'_>, is_v6: bool) -> usize {
    let ip = if is_v6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::HEADER_LEN
    };
    ip + tcp.segment_len()
}

/// Builds an IPv4 (DF set, ID 0, no options) or IPv6 (no extension headers) datagram carrying
/// `tcp` into the front of `buf`, checksums included. Returns its length.
pub fn emit_tcp(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpRepr<'_>,
) -> Result<usize, Error> {
    emit_tcp_with(buf, src, dst, hop_limit, tcp, ChecksumMode::Verify)
}

/// [`emit_tcp`] for a device that offloads the TCP checksum: under [`ChecksumMode::Ignore`]
/// the field holds only the pseudo-header sum (see [`TcpRepr::emit_with`]). The IPv4 header
/// checksum is always computed; it covers 20 bytes.
pub fn emit_tcp_with(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpRepr<'_>,
    mode: ChecksumMode,
) -> Result<usize, Error> {
    emit_tcp_gather(buf, src, dst, hop_limit, tcp, &[], mode)
}

/// [`emit_tcp_with`] for a segment whose payload is `tcp.payload` followed by `tail` (see
/// [`TcpRepr::emit_gather`]).
pub fn emit_tcp_gather(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpRepr<'_>,
    tail: &[u8],
    mode: ChecksumMode,
) -> Result<usize, Error> {
    // The lengths are worked out once for both layers.
    let tcp_hl = tcp.checked_header_len()?;
    let seg = tcp_hl + tcp.payload.len() + tail.len();
    let (hl, pseudo) = match (src, dst) {
        // Every segment of an IPv4 connection comes here: the families are matched once, the
        // header written without a second look at them.
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            if buf.len() < ipv4::HEADER_LEN + seg {
                return Err(Error::BufferTooSmall);
            }
            let ip = Ipv4Repr {
                src: s,
                dst: d,
                protocol: protocol::TCP,
                ttl: hop_limit,
                tos: 0,
                payload_len: seg,
            };
            let hl = ip.emit(buf)?;
            // The datagram's length fitted its 16-bit field, so the segment's does.
            let len = u16::try_from(seg).map_err(|_| Error::TooLong)?;
            (hl, pseudo_header_v4(s, d, protocol::TCP, len))
        }
        _ => {
            let hl = emit_ip_header(buf, src, dst, hop_limit, protocol::TCP, seg)?;
            // `emit_ip_header` has checked the families and that the whole datagram fits.
            (hl, pseudo_header(src, dst, protocol::TCP, seg)?)
        }
    };
    // The checks above make the slicing below infallible.
    tcp.emit_into(&mut buf[hl..hl + seg], tcp_hl, pseudo, tail, mode)?;
    Ok(hl + seg)
}

/// Sets the DS field of an IPv4 or IPv6 datagram (the TOS or traffic-class byte but its two
/// ECN bits, RFC 2474 §3 and RFC 3168 §5) to that of `tos`, and refills the IPv4 header
/// checksum. A datagram too short for its header is left alone.
pub fn set_ds_field(datagram: &mut [u8], tos: u8) {
    let ds = tos & !0b11;
    match datagram.first().map(|b| b >> 4) {
        Some(4) if datagram.len() >= ipv4::HEADER_LEN => {
            let mut p = Ipv4Packet::new_unchecked(&mut *datagram);
            let ecn = p.tos() & 0b11;
            p.set_tos(ds | ecn);
            p.fill_checksum();
        }
        Some(6) if datagram.len() >= ipv6::HEADER_LEN => {
            // Version (4 bits), traffic class (8), flow label (20) (RFC 8200 §3).
            let ecn = (datagram[1] >> 4) & 0b11;
            let class = ds | ecn;
            datagram[0] = 0x60 | (class >> 4);
            datagram[1] = (class << 4) | (datagram[1] & 0x0f);
        }
        _ => {}
    }
}

/// Writes the IP header for `payload_len` bytes of `proto`, checking that the whole datagram
/// fits in `buf` before writing anything.
fn emit_ip_header(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    proto: u8,
    payload_len: usize,
) -> Result<usize, Error> {
    let hl = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => ipv4::HEADER_LEN,
        (IpAddr::V6(_), IpAddr::V6(_)) => ipv6::HEADER_LEN,
        _ => return Err(Error::AddressFamilyMismatch),
    };
    if buf.len() < hl + payload_len {
        return Err(Error::BufferTooSmall);
    }
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Ipv4Repr {
            src: s,
            dst: d,
            protocol: proto,
            ttl: hop_limit,
            tos: 0,
            payload_len,
        }
        .emit(buf),
        (IpAddr::V6(s), IpAddr::V6(d)) => Ipv6Repr {
            src: s,
            dst: d,
            next_header: proto,
            hop_limit,
            traffic_class: 0,
            flow_label: 0,
            payload_len,
        }
        .emit(buf),
        _ => Err(Error::AddressFamilyMismatch),
    }
}

/// Parses an IPv4 datagram carrying ICMPv4 or an IPv6 datagram carrying ICMPv6.
///
/// Checksums are verified under [`ChecksumMode::Verify`] (for ICMPv6 over the pseudo-header).
/// Fragments fail with [`Error::Fragmented`], other protocols with [`Error::NotIcmp`].
pub fn parse_icmp(packet: &[u8], mode: ChecksumMode) -> Result<(IpHeader, IcmpRepr<'_>), Error> {
    let u = strip_ip(packet, mode)?;
    let repr = match (u.header.src, u.header.dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) if u.protocol == protocol::ICMP => {
            IcmpRepr::V4(Icmpv4Repr::parse_bytes(u.bytes, mode)?)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) if u.protocol == protocol::ICMPV6 => {
            IcmpRepr::V6(Icmpv6Repr::parse_bytes(u.bytes, s, d, mode)?)
        }
        _ => return Err(Error::NotIcmp),
    };
    Ok((u.header, repr))
}

/// Builds an IP datagram carrying `icmp`; its family must match the addresses.
pub fn emit_icmp(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    icmp: &IcmpRepr<'_>,
) -> Result<usize, Error> {
    match (src, dst, icmp) {
        (IpAddr::V4(_), IpAddr::V4(_), IcmpRepr::V4(r)) => {
            let hl = emit_ip_header(buf, src, dst, hop_limit, protocol::ICMP, r.buffer_len())?;
            Ok(hl + r.emit(&mut buf[hl..])?)
        }
        (IpAddr::V6(s), IpAddr::V6(d), IcmpRepr::V6(r)) => {
            let hl = emit_ip_header(buf, src, dst, hop_limit, protocol::ICMPV6, r.buffer_len())?;
            Ok(hl + r.emit(&mut buf[hl..], s, d)?)
        }
        _ => Err(Error::AddressFamilyMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::{TcpFlags, TcpOptions};
    use core::net::{Ipv4Addr, Ipv6Addr};

    const S4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const D4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    const S6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    const D6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));

    fn seg(payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 4,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 5,
            urgent_ptr: 0,
            options: TcpOptions::default(),
            payload,
        }
    }

    #[test]
    fn a_deferred_parse_leaves_only_the_payload_to_verify() {
        let mut data = [0u8; 300];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i * 7) as u8;
        }
        for (s, d) in [(S4, D4), (S6, D6)] {
            let mut b = [0u8; 400];
            let n = emit_tcp(&mut b, s, d, 33, &seg(&data)).unwrap();
            let (ip, tcp, pending) = parse_tcp_deferred(&b[..n]).unwrap();
            assert_eq!((ip, tcp), parse_tcp(&b[..n], ChecksumMode::Verify).unwrap());
            assert!(pending.verify(tcp.payload));
            // A byte of payload changed: the parse succeeds, the pending sum does not.
            let mut bad = b;
            bad[n - 5] ^= 0x10;
            let (_, tcp, pending) = parse_tcp_deferred(&bad[..n]).unwrap();
            assert!(!pending.verify(tcp.payload));
            // A byte of the TCP header changed (the window): caught the same way.
            let mut bad = b;
            let at = n - data.len() - 20 + 14;
            bad[at] ^= 0x01;
            let (_, tcp, pending) = parse_tcp_deferred(&bad[..n]).unwrap();
            assert!(!pending.verify(tcp.payload));
        }
        // The IPv4 header checksum is still checked up front.
        let mut b = [0u8; 400];
        let n = emit_tcp(&mut b, S4, D4, 33, &seg(&data)).unwrap();
        b[8] ^= 1;
        assert!(parse_tcp_deferred(&b[..n]).is_err());
    }

    #[test]
    fn tcp_round_trip_both_families() {
        for (s, d, v6) in [(S4, D4, false), (S6, D6, true)] {
            let t = seg(b"data");
            let mut b = [0u8; 128];
            let n = emit_tcp(&mut b, s, d, 33, &t).unwrap();
            assert_eq!(n, tcp_packet_len(&t, v6));
            let (h, back) = parse_tcp(&b[..n], ChecksumMode::Verify).unwrap();
            assert_eq!(
                h,
                IpHeader {
                    src: s,
                    dst: d,
                    hop_limit: 33,
                    ecn: 0
                }
            );
            assert_eq!(back, t);
            // Link-layer padding after the datagram is ignored.
            let (_, padded) = parse_tcp(&b[..n + 6], ChecksumMode::Verify).unwrap();
            assert_eq!(padded.payload, b"data");
        }
    }

    #[test]
    fn offloaded_emit_leaves_what_a_device_completes() {
        for (s, d) in [(S4, D4), (S6, D6)] {
            let t = seg(b"odd-length data");
            let (mut full, mut partial) = ([0u8; 128], [0u8; 128]);
            let n = emit_tcp(&mut full, s, d, 64, &t).unwrap();
            let m = emit_tcp_with(&mut partial, s, d, 64, &t, ChecksumMode::Ignore).unwrap();
            assert_eq!(n, m);
            let hl = n - t.segment_len();
            // Not a valid checksum yet: a verifying parser refuses it, an offloading one
            // takes the same segment.
            assert_eq!(
                parse_tcp(&partial[..m], ChecksumMode::Verify),
                Err(Error::BadChecksum)
            );
            assert_eq!(parse_tcp(&partial[..m], ChecksumMode::Ignore).unwrap().1, t);
            // The device's half (virtio-net NEEDS_CSUM, csum_start at the TCP header): sum
            // the segment from there with the field as written, complement, store.
            let csum_at = hl + 16;
            let done = crate::checksum::checksum(&partial[hl..m]);
            partial[csum_at..csum_at + 2].copy_from_slice(&done.to_be_bytes());
            assert_eq!(partial[..m], full[..n]);
        }
    }

    #[test]
    fn tcp_emit_errors() {
        let t = seg(b"");
        let mut b = [0u8; 64];
        assert_eq!(
            emit_tcp(&mut b, S4, D6, 64, &t),
            Err(Error::AddressFamilyMismatch)
        );
        assert_eq!(
            emit_tcp(&mut b[..39], S4, D4, 64, &t),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(
            emit_tcp(&mut b[..59], S6, D6, 64, &t),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(emit_tcp(&mut b[..40], S4, D4, 64, &t), Ok(40));
    }

    #[test]
    fn not_tcp_fragmented_and_bad_checksums() {
        let t = seg(b"xyz");
        let mut b = [0u8; 128];
        let n = emit_tcp(&mut b, S4, D4, 64, &t).unwrap();

        let mut udp = b;
        udp[9] = protocol::UDP;
        Ipv4Packet::new_unchecked(&mut udp[..n]).fill_checksum();
        assert_eq!(
            parse_tcp(&udp[..n], ChecksumMode::Verify),
            Err(Error::NotTcp)
        );

        let mut frag = b;
        Ipv4Packet::new_unchecked(&mut frag[..n]).set_fragment(false, true, 0);
        Ipv4Packet::new_unchecked(&mut frag[..n]).fill_checksum();
        assert_eq!(
            parse_tcp(&frag[..n], ChecksumMode::Verify),
            Err(Error::Fragmented)
        );

        let mut bad_ip = b;
        bad_ip[8] = 1; // TTL changed without fixing the header checksum
        assert_eq!(
            parse_tcp(&bad_ip[..n], ChecksumMode::Verify),
            Err(Error::BadChecksum)
        );
        assert!(parse_tcp(&bad_ip[..n], ChecksumMode::Ignore).is_ok());

        let mut bad_tcp = b;
        bad_tcp[n - 1] ^= 0x80;
        assert_eq!(
            parse_tcp(&bad_tcp[..n], ChecksumMode::Verify),
            Err(Error::BadChecksum)
        );
        assert_eq!(
            parse_tcp(&[0x10; 40], ChecksumMode::Verify),
            Err(Error::BadVersion)
        );
        assert_eq!(parse_tcp(&[], ChecksumMode::Verify), Err(Error::Truncated));
    }

    #[test]
    fn v6_with_extension_header_checksums_upper_layer_length() {
        // Emit a plain IPv6 TCP packet, then splice in an 8-byte Destination Options header.
        let t = seg(b"hello");
        let mut b = [0u8; 128];
        let n = emit_tcp(&mut b, S6, D6, 64, &t).unwrap();
        let mut x = [0u8; 136];
        x[..40].copy_from_slice(&b[..40]);
        x[40] = protocol::TCP;
        x[48..n + 8].copy_from_slice(&b[40..n]);
        let mut p = Ipv6Packet::new_unchecked(&mut x[..]);
        p.set_next_header(protocol::IPV6_DEST_OPTIONS);
        p.set_payload_len((n - 40 + 8) as u16);
        let (_, back) = parse_tcp(&x[..n + 8], ChecksumMode::Verify).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn icmp_round_trip_and_dispatch() {
        let mut inner = [0u8; 128];
        let n = emit_tcp(&mut inner, D4, S4, 64, &seg(b"")).unwrap();
        let icmp = IcmpRepr::V4(Icmpv4Repr::DstUnreachable {
            code: crate::icmp::v4::FRAG_NEEDED,
            next_hop_mtu: 1400,
            invoking: &inner[..28],
        });
        let mut b = [0u8; 128];
        let len = emit_icmp(&mut b, S4, D4, 64, &icmp).unwrap();
        let (h, back) = parse_icmp(&b[..len], ChecksumMode::Verify).unwrap();
        assert_eq!((h.src, h.dst), (S4, D4));
        assert_eq!(back, icmp);
        assert_eq!(back.quoted().unwrap().tcp().unwrap().dst_port, 2);
        assert_eq!(
            parse_tcp(&b[..len], ChecksumMode::Verify),
            Err(Error::NotTcp)
        );
        assert_eq!(
            parse_icmp(&inner[..n], ChecksumMode::Verify),
            Err(Error::NotIcmp)
        );
        assert_eq!(
            emit_icmp(&mut b, S6, D6, 64, &icmp),
            Err(Error::AddressFamilyMismatch)
        );

        let icmp6 = IcmpRepr::V6(Icmpv6Repr::PacketTooBig {
            mtu: 1280,
            invoking: &[0x60; 48],
        });
        let len = emit_icmp(&mut b, S6, D6, 255, &icmp6).unwrap();
        let (h, back) = parse_icmp(&b[..len], ChecksumMode::Verify).unwrap();
        assert_eq!(h.hop_limit, 255);
        assert_eq!(back, icmp6);
    }
}
