//! Segmentation offload on send: consecutive segments of one connection in a batch leave
//! as one large TCP segment with a virtio-net header saying how to cut it (GSO type TCPV4,
//! the segment size), so the kernel takes 64 KiB per write instead of one MTU's worth. It
//! splits the segment again only if it forwards it; delivered locally, its TCP takes it whole.
//!
//! Segments are merged only when the result is what the kernel's own segmentation would cut
//! back into the same packets (Linux `tcp_gso_segment`): same addresses, ports, ACK, window and
//! options, consecutive sequence numbers, only ACK set except PSH on the last, every segment
//! but the last of the full size. Anything else (SYN, FIN, RST, a short segment in the middle,
//! IPv6 with extension headers) goes out alone.

use synack_wire::checksum::{pseudo_header_v4, pseudo_header_v6};

pub(crate) const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;
/// The largest IPv4 datagram, and the largest IPv6 payload without a jumbogram.
const MAX_DATAGRAM: usize = 65_535;

/// The parts of a TCP packet that decide whether another may follow it.
#[derive(Clone, Copy, Debug)]
struct Seg {
    v6: bool,
    ip_len: usize,
    hdr_len: usize,
    seq: u32,
    flags: u8,
    payload: usize,
}

fn parse(p: &[u8]) -> Option<Seg> {
    if p.len() < 40 {
        return None;
    }
    let v6 = match p[0] >> 4 {
        4 => false,
        6 => true,
        _ => return None,
    };
    let ip_len = if v6 {
        // Only a TCP header right after the fixed header (no extension headers).
        let payload = usize::from(u16::from_be_bytes([p[4], p[5]]));
        if p[6] != 6 || payload + 40 != p.len() || p.len() < 60 {
            return None;
        }
        40
    } else {
        let ip_len = usize::from(p[0] & 0xf) * 4;
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        // Fragments (MF set or an offset) never merge.
        let fragment = u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0;
        if p[9] != 6 || ip_len < 20 || total != p.len() || fragment || p.len() < ip_len + 20 {
            return None;
        }
        ip_len
    };
    let tcp = &p[ip_len..];
    let tcp_len = usize::from(tcp[12] >> 4) * 4;
    if tcp_len < 20 || ip_len + tcp_len > p.len() {
        return None;
    }
    Some(Seg {
        v6,
        ip_len,
        hdr_len: ip_len + tcp_len,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        flags: tcp[13],
        payload: p.len() - ip_len - tcp_len,
    })
}

/// Whether `b` can ride in the same large segment right after `a`'s run, whose next
/// sequence number is `next_seq`.
fn same_flow(a: &[u8], sa: &Seg, b: &[u8], sb: &Seg, next_seq: u32) -> bool {
    if sa.v6 != sb.v6 || sa.ip_len != sb.ip_len || sa.hdr_len != sb.hdr_len || sb.seq != next_seq {
        return false;
    }
    if sb.flags & !TCP_PSH != TCP_ACK || sb.payload == 0 {
        return false;
    }
    let ip = sa.ip_len;
    // IPv4: all but total length, identification and checksum; IPv6: all but the payload
    // length. TCP: all but sequence number, flags and checksum.
    let same_ip = if sa.v6 {
        a[0..4] == b[0..4] && a[6..40] == b[6..40]
    } else {
        a[0..2] == b[0..2] && a[6..10] == b[6..10] && a[12..ip] == b[12..ip]
    };
    same_ip
        && a[ip..ip + 4] == b[ip..ip + 4]
        && a[ip + 8..ip + 13] == b[ip + 8..ip + 13]
        && a[ip + 14..ip + 16] == b[ip + 14..ip + 16]
        && a[ip + 18..sa.hdr_len] == b[ip + 18..sb.hdr_len]
}

/// The virtio-net header for a super-segment the host built itself (host-side TSO,
/// `Transmit::segment_size`): the kernel cuts it into segments of `segment_size` payload
/// bytes, completing each one's checksum from the pseudo-header sum the host left in the
/// field. `None` for a packet that is not TCP over IPv4 or IPv6 without extension headers.
pub(crate) fn super_segment_header(packet: &[u8], segment_size: u16) -> Option<[u8; 10]> {
    let s = parse(packet)?;
    Some(header(&s, gso_type(&s), segment_size))
}

/// The virtio-net header for one TCP segment whose checksum the host left partial (the
/// pseudo-header sum in the field, `ChecksumMode::Ignore`): no GSO, and where the kernel
/// would finish the sum. Delivered locally, the kernel takes the segment as it is: it never
/// crossed a wire, so nobody sums it at all. `None` as for [`super_segment_header`].
pub(crate) fn partial_checksum_header(packet: &[u8]) -> Option<[u8; 10]> {
    let s = parse(packet)?;
    Some(header(&s, VIRTIO_NET_HDR_GSO_NONE, 0))
}

fn gso_type(s: &Seg) -> u8 {
    if s.v6 {
        VIRTIO_NET_HDR_GSO_TCPV6
    } else {
        VIRTIO_NET_HDR_GSO_TCPV4
    }
}

/// A `NEEDS_CSUM` header: the sum runs from the TCP header (`csum_start`) to the end and
/// lands in the TCP checksum field, 16 bytes in.
fn header(s: &Seg, gso_type: u8, gso_size: u16) -> [u8; 10] {
    let mut hdr = [0u8; 10];
    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr[1] = gso_type;
    hdr[2..4].copy_from_slice(&(s.hdr_len as u16).to_le_bytes());
    hdr[4..6].copy_from_slice(&gso_size.to_le_bytes());
    hdr[6..8].copy_from_slice(&(s.ip_len as u16).to_le_bytes());
    hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
    hdr
}

/// How many packets from the front of `packets` merge into one large segment (1: none).
pub(crate) fn run_length(packets: &[&[u8]]) -> usize {
    let Some(first) = packets.first() else {
        return 0;
    };
    let Some(s0) = parse(first) else {
        return 1;
    };
    if s0.flags != TCP_ACK || s0.payload == 0 {
        return 1;
    }
    let mut next = s0.seq.wrapping_add(s0.payload as u32);
    let mut total = first.len();
    let mut n = 1;
    for p in &packets[1..] {
        let Some(s) = parse(p) else { break };
        if !same_flow(first, &s0, p, &s, next)
            || s.payload > s0.payload
            || total + s.payload > MAX_DATAGRAM
        {
            break;
        }
        total += s.payload;
        next = next.wrapping_add(s.payload as u32);
        n += 1;
        // A short segment or a PUSH ends the run: only the last may be either.
        if s.payload < s0.payload || s.flags & TCP_PSH != 0 {
            break;
        }
    }
    n
}

/// Writes the packets of one run (from [`run_length`], at least two) as one large segment
/// into `out`, and returns the virtio-net header that goes with it.
pub(crate) fn merge(packets: &[&[u8]], out: &mut Vec<u8>) -> [u8; 10] {
    let first = packets[0];
    let s0 = parse(first).expect("run_length checked the first packet");
    out.clear();
    out.extend_from_slice(&first[..s0.hdr_len]);
    let mut last_flags = s0.flags;
    for p in packets {
        let hdr_len = parse(p).map_or(s0.hdr_len, |s| {
            last_flags = s.flags;
            s.hdr_len
        });
        out.extend_from_slice(&p[hdr_len..]);
    }
    let ip = s0.ip_len;
    let tcp_len = out.len() - ip;
    out[ip + 13] = last_flags;
    // The checksum is left partial, as the kernel's own GSO leaves it: the pseudo-header sum,
    // to be completed per segment (or checked as a whole).
    let pseudo = if s0.v6 {
        out[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        let src: [u8; 16] = out[8..24].try_into().expect("40-byte header");
        let dst: [u8; 16] = out[24..40].try_into().expect("40-byte header");
        pseudo_header_v6(src.into(), dst.into(), 6, tcp_len as u32).sum()
    } else {
        let total = out.len() as u16;
        out[2..4].copy_from_slice(&total.to_be_bytes());
        out[10..12].copy_from_slice(&[0, 0]);
        let ip_sum = synack_wire::checksum::checksum(&out[..ip]);
        out[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        let src = [out[12], out[13], out[14], out[15]].into();
        let dst = [out[16], out[17], out[18], out[19]].into();
        pseudo_header_v4(src, dst, 6, tcp_len as u16).sum()
    };
    out[ip + 16..ip + 18].copy_from_slice(&pseudo.to_be_bytes());
    header(&s0, gso_type(&s0), s0.payload as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 TCP packet with a 12-byte option block, `len` bytes of payload.
    fn packet(seq: u32, flags: u8, len: usize) -> Vec<u8> {
        let mut p = vec![0u8; 20 + 32 + len];
        p[0] = 0x45;
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[6] = 0x40; // DF
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 2]);
        p[16..20].copy_from_slice(&[10, 0, 0, 1]);
        p[20..22].copy_from_slice(&80u16.to_be_bytes());
        p[22..24].copy_from_slice(&5000u16.to_be_bytes());
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[28..32].copy_from_slice(&77u32.to_be_bytes());
        p[32] = 8 << 4;
        p[33] = flags;
        p[34..36].copy_from_slice(&512u16.to_be_bytes());
        p[40..52].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
        for (i, b) in p[52..].iter_mut().enumerate() {
            *b = (seq as usize + i) as u8;
        }
        p
    }

    #[test]
    fn full_segments_then_a_pushed_short_one_merge() {
        let ps = [
            packet(1000, TCP_ACK, 100),
            packet(1100, TCP_ACK, 100),
            packet(1200, TCP_ACK | TCP_PSH, 40),
            packet(1240, TCP_ACK, 100),
        ];
        let refs: Vec<&[u8]> = ps.iter().map(|p| &p[..]).collect();
        assert_eq!(run_length(&refs), 3);
        let mut out = Vec::new();
        let hdr = merge(&refs[..3], &mut out);
        assert_eq!(out.len(), 52 + 240);
        assert_eq!(u16::from_be_bytes([out[2], out[3]]) as usize, out.len());
        assert_eq!(
            synack_wire::checksum::checksum(&out[..20]),
            0,
            "IP checksum"
        );
        assert_eq!(out[33], TCP_ACK | TCP_PSH);
        assert_eq!(&out[52..152], &ps[0][52..]);
        assert_eq!(&out[252..], &ps[2][52..]);
        assert_eq!(hdr[1], VIRTIO_NET_HDR_GSO_TCPV4);
        assert_eq!(u16::from_le_bytes([hdr[2], hdr[3]]), 52);
        assert_eq!(u16::from_le_bytes([hdr[4], hdr[5]]), 100);
        // Completing the partial checksum gives the one a single segment would carry.
        let mut full = out.clone();
        let sum = synack_wire::checksum::checksum(&full[20..]);
        full[36..38].copy_from_slice(&sum.to_be_bytes());
        let (_, seg) = synack_wire::parse_tcp(&full, synack_wire::ChecksumMode::Verify).unwrap();
        assert_eq!(seg.payload.len(), 240);
    }

    #[test]
    fn a_lone_segment_with_a_partial_checksum_says_where_the_sum_goes() {
        let p = packet(1000, TCP_ACK | TCP_PSH, 100);
        let hdr = partial_checksum_header(&p).unwrap();
        assert_eq!(hdr[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
        assert_eq!(hdr[1], VIRTIO_NET_HDR_GSO_NONE);
        assert_eq!(u16::from_le_bytes([hdr[2], hdr[3]]), 52, "headers");
        assert_eq!(u16::from_le_bytes([hdr[4], hdr[5]]), 0, "no segment size");
        assert_eq!(
            u16::from_le_bytes([hdr[6], hdr[7]]),
            20,
            "sum from the TCP header"
        );
        assert_eq!(
            u16::from_le_bytes([hdr[8], hdr[9]]),
            16,
            "into the TCP checksum"
        );
        assert_eq!(partial_checksum_header(&p[..30]), None);
    }

    /// The same segment over IPv6.
    fn packet6(seq: u32, flags: u8, len: usize) -> Vec<u8> {
        let v4 = packet(seq, flags, len);
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((v4.len() - 20) as u16).to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[8..24].copy_from_slice(
            &"2001:db8::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        p[24..40].copy_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        p.extend_from_slice(&v4[20..]);
        p
    }

    #[test]
    fn ipv6_segments_merge_too() {
        let ps = [
            packet6(1000, TCP_ACK, 100),
            packet6(1100, TCP_ACK, 100),
            packet(1200, TCP_ACK, 100),
        ];
        let refs: Vec<&[u8]> = ps.iter().map(|p| &p[..]).collect();
        assert_eq!(
            run_length(&refs),
            2,
            "an IPv4 segment never joins IPv6 ones"
        );
        let mut out = Vec::new();
        let hdr = merge(&refs[..2], &mut out);
        assert_eq!(hdr[1], VIRTIO_NET_HDR_GSO_TCPV6);
        assert_eq!(
            u16::from_be_bytes([out[4], out[5]]) as usize,
            out.len() - 40
        );
        let mut full = out.clone();
        let sum = synack_wire::checksum::checksum(&full[40..]);
        full[56..58].copy_from_slice(&sum.to_be_bytes());
        let (_, seg) = synack_wire::parse_tcp(&full, synack_wire::ChecksumMode::Verify).unwrap();
        assert_eq!(seg.payload.len(), 200);
    }

    #[test]
    fn what_the_kernel_would_not_cut_back_stays_apart() {
        let gap = [packet(1000, TCP_ACK, 100), packet(1200, TCP_ACK, 100)];
        let fin = [
            packet(1000, TCP_ACK, 100),
            packet(1100, TCP_ACK | 0x01, 100),
        ];
        let short_first = [packet(1000, TCP_ACK, 50), packet(1050, TCP_ACK, 50)];
        let mut other_window = packet(1100, TCP_ACK, 100);
        other_window[34] = 9;
        let window = [packet(1000, TCP_ACK, 100), other_window];
        let longer = [packet(1000, TCP_ACK, 100), packet(1100, TCP_ACK, 101)];
        let pure_ack = [packet(1000, TCP_ACK, 0), packet(1000, TCP_ACK, 0)];
        for (name, ps) in [
            ("gap", &gap),
            ("fin", &fin),
            ("window", &window),
            ("longer", &longer),
            ("pure ack", &pure_ack),
        ] {
            let refs: Vec<&[u8]> = ps.iter().map(|p| &p[..]).collect();
            assert_eq!(run_length(&refs), 1, "{name}");
        }
        let refs: Vec<&[u8]> = short_first.iter().map(|p| &p[..]).collect();
        assert_eq!(run_length(&refs), 2, "equal short segments are one size");
        assert_eq!(run_length(&[&b"not ip"[..]]), 1);
        assert_eq!(run_length(&[]), 0);
    }
}
