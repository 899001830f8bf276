//! Real packets for script packets: building an inbound IPv4/TCP datagram with the options in
//! the script's order, and reading an outbound one with its options as they are on the wire
//! (order and padding included), since packetdrill compares them that way.

use std::net::{IpAddr, SocketAddr};

use synack_wire::tcp::{TcpOption, TcpOptionIter};
use synack_wire::{Ipv4Packet, Ipv4Repr, TcpPacket};

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
    pub options: Vec<TcpOpt>,
    pub payload_len: u32,
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

/// Builds an IPv4 datagram carrying the segment and `payload`.
pub fn build(seg: &Segment, payload: &[u8]) -> Result<Vec<u8>, String> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (seg.src.ip(), seg.dst.ip()) else {
        return Err("synack scripts run over IPv4 only".into());
    };
    let opts = encode_options(&seg.options)?;
    let tcp_len = 20 + opts.len() + payload.len();
    let ip = Ipv4Repr {
        src,
        dst,
        protocol: 6,
        ttl: 64,
        tos: 0,
        payload_len: tcp_len,
    };
    let mut buf = vec![0u8; 20 + tcp_len];
    let hl = ip.emit(&mut buf).map_err(|e| e.to_string())?;
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
    tcp.set_urgent_ptr(0);
    tcp.fill_checksum(seg.src.ip(), seg.dst.ip())
        .map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Reads a datagram the stack sent. `None` for anything that is not IPv4/TCP (the host sends
/// nothing else today).
pub fn read(datagram: &[u8]) -> Option<Segment> {
    let ip = Ipv4Packet::new_checked(datagram).ok()?;
    if ip.protocol() != 6 {
        return None;
    }
    let hl = ip.header_len();
    let total = ip.total_len().min(datagram.len());
    let tcp = TcpPacket::new_checked(datagram.get(hl..total)?).ok()?;
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
    Some(Segment {
        src: SocketAddr::new(IpAddr::V4(ip.src_addr()), tcp.src_port()),
        dst: SocketAddr::new(IpAddr::V4(ip.dst_addr()), tcp.dst_port()),
        flags: Flags::from_bits(tcp.flags().bits()),
        seq: tcp.seq_number(),
        ack: tcp.ack_number(),
        win: tcp.window_len(),
        options,
        payload_len: tcp.payload().len() as u32,
    })
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
}
