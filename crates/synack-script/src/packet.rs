//! Real packets for script packets: building an inbound IPv4/TCP or IPv6/TCP datagram with the
//! options in the script's order, and reading an outbound one with its options as they are on
//! the wire (order and padding included), since packetdrill compares them that way.

use std::net::{IpAddr, SocketAddr};

use synack_wire::tcp::{TcpOption, TcpOptionIter};
use synack_wire::{Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpPacket};

use crate::ast::{Flags, TcpOpt};

/// A TCP segment in live sequence space, with its options in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: Flags,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    /// The urgent pointer field.
    pub urg: u16,
    pub options: Vec<TcpOpt>,
    pub payload_len: u32,
}

/// The IP header fields a script can set or check besides the addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpFields {
    /// IPv4's type of service or IPv6's traffic class: DSCP in the upper six bits, ECN in
    /// the lower two (RFC 2474, RFC 3168 §5).
    pub tos: u8,
    /// IPv4's TTL or IPv6's hop limit.
    pub ttl: u8,
    /// IPv6's flow label (20 bits); not in IPv4.
    pub flow_label: u32,
}

impl Default for IpFields {
    fn default() -> IpFields {
        IpFields {
            tos: 0,
            ttl: 64,
            flow_label: 0,
        }
    }
}

/// Option bytes in the script's order (RFC 9293 §3.2 kinds; RFC 7323, RFC 2018 layouts).
pub fn encode_options(opts: &[TcpOpt]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for o in opts {
        match o {
            TcpOpt::Nop => out.push(1),
            TcpOpt::Eol => out.push(0),
            TcpOpt::Mss(m) => {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&m.to_be_bytes());
            }
            TcpOpt::WScale(w) => out.extend_from_slice(&[3, 3, *w]),
            TcpOpt::SackOk => out.extend_from_slice(&[4, 2]),
            TcpOpt::Sack(blocks) => {
                out.extend_from_slice(&[5, 2 + 8 * blocks.len() as u8]);
                for (l, r) in blocks {
                    out.extend_from_slice(&l.to_be_bytes());
                    out.extend_from_slice(&r.to_be_bytes());
                }
            }
            TcpOpt::Timestamp { val, ecr } => {
                out.extend_from_slice(&[8, 10]);
                out.extend_from_slice(&val.to_be_bytes());
                out.extend_from_slice(&ecr.to_be_bytes());
            }
            TcpOpt::Other(kind, data) => {
                out.extend_from_slice(&[*kind, 2 + data.len() as u8]);
                out.extend_from_slice(data);
            }
            TcpOpt::Unsupported(text) => {
                return Err(format!("synack cannot build the option '{text}'"));
            }
        }
    }
    if out.len() > 40 {
        return Err(format!(
            "the options take {} bytes; a TCP header has room for 40",
            out.len()
        ));
    }
    // The header length counts 32-bit words: pad with end-of-list (RFC 9293 §3.1).
    while out.len() % 4 != 0 {
        out.push(0);
    }
    Ok(out)
}

/// Builds an IPv4 or IPv6 datagram (by the segment's addresses) carrying the segment and
/// `payload`, with default IP fields.
pub fn build(seg: &Segment, payload: &[u8]) -> Result<Vec<u8>, String> {
    build_ip(seg, IpFields::default(), payload)
}

/// Builds the datagram with the given IP header fields.
pub fn build_ip(seg: &Segment, ip: IpFields, payload: &[u8]) -> Result<Vec<u8>, String> {
    let opts = encode_options(&seg.options)?;
    let tcp_len = 20 + opts.len() + payload.len();
    let (mut buf, hl) = match (seg.src.ip(), seg.dst.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let repr = Ipv4Repr {
                src,
                dst,
                protocol: 6,
                ttl: ip.ttl,
                tos: ip.tos,
                payload_len: tcp_len,
            };
            let mut buf = vec![0u8; 20 + tcp_len];
            let hl = repr.emit(&mut buf).map_err(|e| e.to_string())?;
            (buf, hl)
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let repr = Ipv6Repr {
                src,
                dst,
                next_header: 6,
                hop_limit: ip.ttl,
                traffic_class: ip.tos,
                flow_label: ip.flow_label & 0xf_ffff,
                payload_len: tcp_len,
            };
            let mut buf = vec![0u8; 40 + tcp_len];
            let hl = repr.emit(&mut buf).map_err(|e| e.to_string())?;
            (buf, hl)
        }
        _ => return Err("the two addresses of a packet are of different families".into()),
    };
    let tcp_bytes = &mut buf[hl..];
    tcp_bytes[20..20 + opts.len()].copy_from_slice(&opts);
    tcp_bytes[20 + opts.len()..].copy_from_slice(payload);
    // The view checks the data offset, so it must be right before the view exists.
    tcp_bytes[12] = (((20 + opts.len()) / 4) as u8) << 4;
    let mut tcp = TcpPacket::new_checked(&mut *tcp_bytes).map_err(|e| e.to_string())?;
    tcp.set_src_port(seg.src.port());
    tcp.set_dst_port(seg.dst.port());
    tcp.set_seq_number(seg.seq);
    tcp.set_ack_number(seg.ack);
    tcp.set_header_len(20 + opts.len());
    tcp.set_flags(synack_wire::TcpFlags::from_bits(seg.flags.bits()));
    tcp.set_window_len(seg.win);
    tcp.set_urgent_ptr(seg.urg);
    tcp.fill_checksum(seg.src.ip(), seg.dst.ip())
        .map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Reads a datagram the stack sent. `None` for anything that is not TCP over IPv4 or IPv6
/// (the host sends nothing else today).
pub fn read(datagram: &[u8]) -> Option<Segment> {
    read_ip(datagram).map(|(_, seg)| seg)
}

/// Reads a datagram with its IP header fields.
pub fn read_ip(datagram: &[u8]) -> Option<(IpFields, Segment)> {
    let (ip, src, dst, tcp_bytes) = match datagram.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(datagram).ok()?;
            if ip.protocol() != 6 {
                return None;
            }
            let total = ip.total_len().min(datagram.len());
            let fields = IpFields {
                tos: ip.tos(),
                ttl: ip.ttl(),
                flow_label: 0,
            };
            let (src, dst) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
            (fields, src, dst, datagram.get(ip.header_len()..total)?)
        }
        6 => {
            let ip = Ipv6Packet::new_checked(datagram).ok()?;
            // synack sends no extension headers.
            if ip.next_header() != 6 {
                return None;
            }
            let fields = IpFields {
                tos: ip.traffic_class(),
                ttl: ip.hop_limit(),
                flow_label: ip.flow_label(),
            };
            let (src, dst) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
            let end = (40 + ip.payload_len()).min(datagram.len());
            (fields, src, dst, datagram.get(40..end)?)
        }
        _ => return None,
    };
    let tcp = TcpPacket::new_checked(tcp_bytes).ok()?;
    let mut options = Vec::new();
    for o in TcpOptionIter::new(tcp.options()) {
        options.push(match o.ok()? {
            TcpOption::EndOfList => TcpOpt::Eol,
            TcpOption::NoOp => TcpOpt::Nop,
            TcpOption::Mss(m) => TcpOpt::Mss(m),
            TcpOption::WindowScale(w) => TcpOpt::WScale(w),
            TcpOption::SackPermitted => TcpOpt::SackOk,
            TcpOption::Sack(list) => {
                TcpOpt::Sack(list.as_slice().iter().map(|b| (b.left, b.right)).collect())
            }
            TcpOption::Timestamps(t) => TcpOpt::Timestamp {
                val: t.tsval,
                ecr: t.tsecr,
            },
            TcpOption::Unknown { kind, data } => TcpOpt::Other(kind, data.to_vec()),
        });
    }
    // Trailing end-of-list padding is not an option anyone writes in a script.
    while options.last() == Some(&TcpOpt::Eol) {
        options.pop();
    }
    let seg = Segment {
        src: SocketAddr::new(src, tcp.src_port()),
        dst: SocketAddr::new(dst, tcp.dst_port()),
        flags: Flags::from_bits(tcp.flags().bits()),
        seq: tcp.seq_number(),
        ack: tcp.ack_number(),
        win: tcp.window_len(),
        urg: tcp.urgent_ptr(),
        options,
        payload_len: tcp.payload().len() as u32,
    };
    Some((ip, seg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use synack_wire::ChecksumMode;

    #[test]
    fn built_packets_parse_back_with_valid_checksums() {
        let seg = Segment {
            src: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40000),
            dst: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)), 8080),
            flags: Flags {
                syn: true,
                ..Flags::default()
            },
            seq: 7,
            ack: 0,
            win: 32792,
            urg: 0,
            options: vec![
                TcpOpt::Mss(1000),
                TcpOpt::SackOk,
                TcpOpt::Nop,
                TcpOpt::Nop,
                TcpOpt::Nop,
                TcpOpt::WScale(7),
            ],
            payload_len: 3,
        };
        let bytes = build(&seg, b"abc").unwrap();
        let (_, repr) = synack_wire::parse_tcp(&bytes, ChecksumMode::Verify).unwrap();
        assert_eq!(repr.options.mss, Some(1000));
        assert_eq!(repr.payload, b"abc");
        assert_eq!(read(&bytes).unwrap(), seg);
    }

    #[test]
    fn ipv6_packets_carry_their_class_hop_limit_flow_label_and_urgent_pointer() {
        let seg = Segment {
            src: "[2001:db8::1]:40000".parse().unwrap(),
            dst: "[fd3d:fa7b:d17d::1]:8080".parse().unwrap(),
            flags: Flags {
                ack: true,
                psh: true,
                urg: true,
                ..Flags::default()
            },
            seq: 1,
            ack: 9,
            win: 100,
            urg: 3,
            options: vec![
                TcpOpt::Nop,
                TcpOpt::Nop,
                TcpOpt::Timestamp { val: 5, ecr: 6 },
            ],
            payload_len: 4,
        };
        let ip = IpFields {
            tos: 0xb9,
            ttl: 3,
            flow_label: 0x12345,
        };
        let bytes = build_ip(&seg, ip, b"data").unwrap();
        assert_eq!(bytes.len(), 40 + 32 + 4);
        let (_, repr) = synack_wire::parse_tcp(&bytes, ChecksumMode::Verify).unwrap();
        assert_eq!(repr.payload, b"data");
        assert_eq!(read_ip(&bytes).unwrap(), (ip, seg));
    }
}
