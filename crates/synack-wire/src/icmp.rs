//! ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) error messages, and the quoted original header they
//! carry.
//!
//! synack needs ICMP for path MTU discovery (RFC 1191 for IPv4, RFC 8201 for IPv6) and hard
//! errors; before acting on one, the core checks the quoted TCP ports and sequence number
//! against a connection (RFC 5927 §4.1), which [`QuotedHeader`] and [`QuotedTcp`] expose.
//! Other message types are carried through as [`Icmpv4Repr::Other`] / [`Icmpv6Repr::Other`].

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum::{ChecksumMode, checksum, pseudo_header_v6};
use crate::ipv6::walk_extension_headers;
use crate::{Error, get_u16, get_u32, protocol};

/// Type, code, checksum and the 4-byte rest-of-header.
pub const HEADER_LEN: usize = 8;

/// ICMPv4 message types and Destination Unreachable codes (RFC 792, RFC 1191).
pub mod v4 {
    pub const ECHO_REPLY: u8 = 0;
    pub const DST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;

    pub const NET_UNREACHABLE: u8 = 0;
    pub const HOST_UNREACHABLE: u8 = 1;
    pub const PROTOCOL_UNREACHABLE: u8 = 2;
    pub const PORT_UNREACHABLE: u8 = 3;
    /// "Fragmentation needed and DF set"; RFC 1191 §4 puts the next-hop MTU in the low 16
    /// bits of the rest-of-header.
    pub const FRAG_NEEDED: u8 = 4;
}

/// ICMPv6 message types and Destination Unreachable codes (RFC 4443 §3).
pub mod v6 {
    pub const DST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;

    pub const NO_ROUTE: u8 = 0;
    pub const ADMIN_PROHIBITED: u8 = 1;
    pub const BEYOND_SCOPE: u8 = 2;
    pub const ADDR_UNREACHABLE: u8 = 3;
    pub const PORT_UNREACHABLE: u8 = 4;
}

macro_rules! icmp_view {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        ///
        /// [`Self::new_checked`] requires the 8-byte header; the rest of the buffer is the
        /// message body. Getters on an unchecked, too-short buffer panic.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            pub const fn new_unchecked(buffer: T) -> Self {
                Self { buffer }
            }
            pub fn new_checked(buffer: T) -> Result<Self, Error> {
                if buffer.as_ref().len() < HEADER_LEN {
                    return Err(Error::Truncated);
                }
                Ok(Self { buffer })
            }
            pub fn into_inner(self) -> T {
                self.buffer
            }
            pub fn as_bytes(&self) -> &[u8] {
                self.buffer.as_ref()
            }
            pub fn msg_type(&self) -> u8 {
                self.buffer.as_ref()[0]
            }
            pub fn msg_code(&self) -> u8 {
                self.buffer.as_ref()[1]
            }
            pub fn checksum(&self) -> u16 {
                let b = self.buffer.as_ref();
                u16::from_be_bytes([b[2], b[3]])
            }
            /// The four type-specific bytes after the checksum.
            pub fn rest_of_header(&self) -> u32 {
                let b = self.buffer.as_ref();
                u32::from_be_bytes([b[4], b[5], b[6], b[7]])
            }
            /// The body after the 8-byte header (for errors: the invoking packet).
            pub fn data(&self) -> &[u8] {
                &self.buffer.as_ref()[HEADER_LEN..]
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            pub fn set_msg_type(&mut self, v: u8) {
                self.buffer.as_mut()[0] = v;
            }
            pub fn set_msg_code(&mut self, v: u8) {
                self.buffer.as_mut()[1] = v;
            }
            pub fn set_checksum(&mut self, v: u16) {
                self.buffer.as_mut()[2..4].copy_from_slice(&v.to_be_bytes());
            }
            pub fn set_rest_of_header(&mut self, v: u32) {
                self.buffer.as_mut()[4..8].copy_from_slice(&v.to_be_bytes());
            }
            pub fn data_mut(&mut self) -> &mut [u8] {
                &mut self.buffer.as_mut()[HEADER_LEN..]
            }
        }
    };
}

icmp_view!(
    Icmpv4Packet,
    "A zero-copy view of an ICMPv4 message (RFC 792)."
);
icmp_view!(
    Icmpv6Packet,
    "A zero-copy view of an ICMPv6 message (RFC 4443 §2.1)."
);

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Next-hop MTU of a fragmentation-needed message (RFC 1191 §4); 0 from routers that
    /// predate RFC 1191.
    pub fn next_hop_mtu(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[6], b[7]])
    }
    /// RFC 792: the checksum covers the ICMP message alone.
    pub fn verify_checksum(&self) -> bool {
        checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

fn icmpv6_sum(b: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<u16, Error> {
    let len = u32::try_from(b.len()).map_err(|_| Error::TooLong)?;
    let mut c = pseudo_header_v6(src, dst, protocol::ICMPV6, len);
    c.add(b);
    Ok(c.finish())
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// MTU of a Packet Too Big message (RFC 4443 §3.2).
    pub fn mtu(&self) -> u32 {
        self.rest_of_header()
    }
    /// RFC 4443 §2.3: the checksum also covers the IPv6 pseudo-header.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        icmpv6_sum(self.buffer.as_ref(), src, dst) == Ok(0)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) -> Result<(), Error> {
        self.set_checksum(0);
        let c = icmpv6_sum(self.buffer.as_ref(), src, dst)?;
        self.set_checksum(c);
        Ok(())
    }
}

/// An ICMPv4 message as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Type 3. `next_hop_mtu` is meaningful for code [`v4::FRAG_NEEDED`] only; `invoking` is
    /// the quoted original datagram (its IP header and at least 8 bytes after it, RFC 792).
    DstUnreachable {
        code: u8,
        next_hop_mtu: u16,
        invoking: &'a [u8],
    },
    /// Any other message, kept raw.
    Other {
        msg_type: u8,
        code: u8,
        rest_of_header: u32,
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a message, verifying its checksum under [`ChecksumMode::Verify`].
    pub fn parse_bytes(bytes: &'a [u8], mode: ChecksumMode) -> Result<Icmpv4Repr<'a>, Error> {
        let p = Icmpv4Packet::new_checked(bytes)?;
        if mode == ChecksumMode::Verify && !p.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let data = &bytes[HEADER_LEN..];
        Ok(match p.msg_type() {
            v4::DST_UNREACHABLE => Icmpv4Repr::DstUnreachable {
                code: p.msg_code(),
                next_hop_mtu: p.next_hop_mtu(),
                invoking: data,
            },
            t => Icmpv4Repr::Other {
                msg_type: t,
                code: p.msg_code(),
                rest_of_header: p.rest_of_header(),
                data,
            },
        })
    }

    /// The body after the header.
    pub fn data(&self) -> &'a [u8] {
        match *self {
            Icmpv4Repr::DstUnreachable { invoking, .. } => invoking,
            Icmpv4Repr::Other { data, .. } => data,
        }
    }

    /// The quoted original header, for error messages.
    pub fn quoted(&self) -> Result<QuotedHeader<'a>, Error> {
        match *self {
            Icmpv4Repr::DstUnreachable { invoking, .. } => QuotedHeader::parse(invoking),
            Icmpv4Repr::Other { .. } => Err(Error::BadIcmp),
        }
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data().len()
    }

    /// Writes the message with its checksum to the front of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let mut p = Icmpv4Packet::new_unchecked(out);
        let (t, code, rest) = match *self {
            Icmpv4Repr::DstUnreachable {
                code, next_hop_mtu, ..
            } => (v4::DST_UNREACHABLE, code, u32::from(next_hop_mtu)),
            Icmpv4Repr::Other {
                msg_type,
                code,
                rest_of_header,
                ..
            } => (msg_type, code, rest_of_header),
        };
        p.set_msg_type(t);
        p.set_msg_code(code);
        p.set_rest_of_header(rest);
        p.data_mut().copy_from_slice(self.data());
        p.fill_checksum();
        Ok(len)
    }
}

/// An ICMPv6 message as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
    /// Type 1 (RFC 4443 §3.1).
    DstUnreachable { code: u8, invoking: &'a [u8] },
    /// Type 2 (RFC 4443 §3.2). Its code is always sent as 0 and ignored on receipt.
    PacketTooBig { mtu: u32, invoking: &'a [u8] },
    /// Any other message, kept raw.
    Other {
        msg_type: u8,
        code: u8,
        rest_of_header: u32,
        data: &'a [u8],
    },
}

impl<'a> Icmpv6Repr<'a> {
    /// Parses a message, verifying its checksum over the pseudo-header of `src`/`dst` under
    /// [`ChecksumMode::Verify`].
    pub fn parse_bytes(
        bytes: &'a [u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        mode: ChecksumMode,
    ) -> Result<Icmpv6Repr<'a>, Error> {
        let p = Icmpv6Packet::new_checked(bytes)?;
        if mode == ChecksumMode::Verify && !p.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        let data = &bytes[HEADER_LEN..];
        Ok(match p.msg_type() {
            v6::DST_UNREACHABLE => Icmpv6Repr::DstUnreachable {
                code: p.msg_code(),
                invoking: data,
            },
            v6::PACKET_TOO_BIG => Icmpv6Repr::PacketTooBig {
                mtu: p.mtu(),
                invoking: data,
            },
            t => Icmpv6Repr::Other {
                msg_type: t,
                code: p.msg_code(),
                rest_of_header: p.rest_of_header(),
                data,
            },
        })
    }

    pub fn data(&self) -> &'a [u8] {
        match *self {
            Icmpv6Repr::DstUnreachable { invoking, .. }
            | Icmpv6Repr::PacketTooBig { invoking, .. } => invoking,
            Icmpv6Repr::Other { data, .. } => data,
        }
    }

    /// The quoted original header, for error messages.
    pub fn quoted(&self) -> Result<QuotedHeader<'a>, Error> {
        match *self {
            Icmpv6Repr::DstUnreachable { invoking, .. }
            | Icmpv6Repr::PacketTooBig { invoking, .. } => QuotedHeader::parse(invoking),
            Icmpv6Repr::Other { .. } => Err(Error::BadIcmp),
        }
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data().len()
    }

    /// Writes the message with its checksum over the pseudo-header of `src`/`dst`.
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<usize, Error> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let mut p = Icmpv6Packet::new_unchecked(out);
        let (t, code, rest) = match *self {
            Icmpv6Repr::DstUnreachable { code, .. } => (v6::DST_UNREACHABLE, code, 0),
            Icmpv6Repr::PacketTooBig { mtu, .. } => (v6::PACKET_TOO_BIG, 0, mtu),
            Icmpv6Repr::Other {
                msg_type,
                code,
                rest_of_header,
                ..
            } => (msg_type, code, rest_of_header),
        };
        p.set_msg_type(t);
        p.set_msg_code(code);
        p.set_rest_of_header(rest);
        p.data_mut().copy_from_slice(self.data());
        p.fill_checksum(src, dst)?;
        Ok(len)
    }
}

/// An ICMP message of either family, as [`crate::parse_icmp`] returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpRepr<'a> {
    V4(Icmpv4Repr<'a>),
    V6(Icmpv6Repr<'a>),
}

impl<'a> IcmpRepr<'a> {
    /// The quoted original header, for error messages.
    pub fn quoted(&self) -> Result<QuotedHeader<'a>, Error> {
        match self {
            IcmpRepr::V4(r) => r.quoted(),
            IcmpRepr::V6(r) => r.quoted(),
        }
    }

    /// The path MTU this message reports, if it is a PMTUD message: ICMPv4 fragmentation
    /// needed (RFC 1191; 0 when the router did not fill it in) or ICMPv6 Packet Too Big.
    pub fn reported_mtu(&self) -> Option<u32> {
        match *self {
            IcmpRepr::V4(Icmpv4Repr::DstUnreachable {
                code: v4::FRAG_NEEDED,
                next_hop_mtu,
                ..
            }) => Some(u32::from(next_hop_mtu)),
            IcmpRepr::V6(Icmpv6Repr::PacketTooBig { mtu, .. }) => Some(mtu),
            _ => None,
        }
    }
}

/// The start of the datagram an ICMP error quotes: its IP header and the transport bytes
/// after it (at least 8, which for TCP are the ports and sequence number).
///
/// The quote is truncated by design, so its total length and header checksum are not checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedHeader<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol (after any IPv6 extension headers).
    pub protocol: u8,
    /// Transport bytes present in the quote; at least 8.
    pub transport: &'a [u8],
}

/// The part of a quoted TCP header RFC 5927 §4.1 validation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuotedTcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
}

/// RFC 792 and RFC 4443 §2.4(c) both guarantee at least this much of the transport header.
const QUOTED_TRANSPORT_MIN: usize = 8;

impl<'a> QuotedHeader<'a> {
    /// Parses the invoking packet of an ICMP error (either IP version).
    ///
    /// Fails with [`Error::Fragmented`] when the quote is of a later fragment (no transport
    /// header), and [`Error::Truncated`] when fewer than 8 transport bytes are quoted.
    pub fn parse(data: &'a [u8]) -> Result<QuotedHeader<'a>, Error> {
        let first = *data.first().ok_or(Error::Truncated)?;
        let (src, dst, proto, off) = match first >> 4 {
            4 => {
                if data.len() < crate::ipv4::HEADER_LEN {
                    return Err(Error::Truncated);
                }
                let ihl = usize::from(first & 0x0f) * 4;
                if ihl < crate::ipv4::HEADER_LEN {
                    return Err(Error::BadHeaderLength);
                }
                let fo = get_u16(data, 6).ok_or(Error::Truncated)?;
                if fo & 0x1fff != 0 {
                    return Err(Error::Fragmented);
                }
                let a = |i: usize| Ipv4Addr::new(data[i], data[i + 1], data[i + 2], data[i + 3]);
                (IpAddr::V4(a(12)), IpAddr::V4(a(16)), data[9], ihl)
            }
            6 => {
                if data.len() < crate::ipv6::HEADER_LEN {
                    return Err(Error::Truncated);
                }
                let a = |i: usize| {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(&data[i..i + 16]);
                    Ipv6Addr::from(o)
                };
                let u = walk_extension_headers(&data[crate::ipv6::HEADER_LEN..], data[6])?;
                if u.frag_offset != 0 {
                    return Err(Error::Fragmented);
                }
                (
                    IpAddr::V6(a(8)),
                    IpAddr::V6(a(24)),
                    u.protocol,
                    crate::ipv6::HEADER_LEN + u.offset,
                )
            }
            _ => return Err(Error::BadVersion),
        };
        let transport = data.get(off..).ok_or(Error::Truncated)?;
        if transport.len() < QUOTED_TRANSPORT_MIN {
            return Err(Error::Truncated);
        }
        Ok(QuotedHeader {
            src,
            dst,
            protocol: proto,
            transport,
        })
    }

    /// Ports and sequence number, when the quoted packet is TCP.
    pub fn tcp(&self) -> Result<QuotedTcp, Error> {
        if self.protocol != protocol::TCP {
            return Err(Error::NotTcp);
        }
        Ok(QuotedTcp {
            src_port: get_u16(self.transport, 0).ok_or(Error::Truncated)?,
            dst_port: get_u16(self.transport, 2).ok_or(Error::Truncated)?,
            seq: get_u32(self.transport, 4).ok_or(Error::Truncated)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4::Ipv4Repr;
    use crate::ipv6::Ipv6Repr;

    /// An IPv4 header (with 4 bytes of options) quoting TCP 1234 -> 80, seq 0xabcdef01.
    fn quoted_v4(buf: &mut [u8; 40]) -> &[u8] {
        Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: 6,
            ttl: 64,
            tos: 0,
            payload_len: 1400,
        }
        .emit(buf)
        .unwrap();
        buf[0] = 0x46; // IHL 6: the quoted transport starts at 24.
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]);
        buf[24..26].copy_from_slice(&1234u16.to_be_bytes());
        buf[26..28].copy_from_slice(&80u16.to_be_bytes());
        buf[28..32].copy_from_slice(&0xabcd_ef01u32.to_be_bytes());
        &buf[..32]
    }

    #[test]
    fn v4_frag_needed_round_trip_and_quote() {
        let mut q = [0u8; 40];
        let invoking = quoted_v4(&mut q);
        let r = Icmpv4Repr::DstUnreachable {
            code: v4::FRAG_NEEDED,
            next_hop_mtu: 1280,
            invoking,
        };
        let mut b = [0u8; 64];
        let n = r.emit(&mut b).unwrap();
        assert_eq!(n, 40);
        assert_eq!(&b[..8], &[3, 4, b[2], b[3], 0, 0, 0x05, 0x00]);
        let back = Icmpv4Repr::parse_bytes(&b[..n], ChecksumMode::Verify).unwrap();
        assert_eq!(back, r);
        assert_eq!(IcmpRepr::V4(back).reported_mtu(), Some(1280));
        let qh = back.quoted().unwrap();
        assert_eq!(qh.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(qh.protocol, 6);
        assert_eq!(
            qh.tcp(),
            Ok(QuotedTcp {
                src_port: 1234,
                dst_port: 80,
                seq: 0xabcd_ef01
            })
        );
        b[12] ^= 0x10;
        assert_eq!(
            Icmpv4Repr::parse_bytes(&b[..n], ChecksumMode::Verify),
            Err(Error::BadChecksum)
        );
    }

    #[test]
    fn quote_too_short_or_of_a_fragment() {
        let mut q = [0u8; 40];
        let full = quoted_v4(&mut q);
        assert_eq!(QuotedHeader::parse(&full[..31]), Err(Error::Truncated));
        let mut frag = [0u8; 32];
        frag.copy_from_slice(full);
        frag[7] = 1; // fragment offset 8
        assert_eq!(QuotedHeader::parse(&frag), Err(Error::Fragmented));
        assert_eq!(QuotedHeader::parse(&[0x50; 40]), Err(Error::BadVersion));
        assert_eq!(QuotedHeader::parse(&[]), Err(Error::Truncated));
    }

    #[test]
    fn v6_packet_too_big_round_trip_and_quote() {
        let s = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let d = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
        // Quoted packet: IPv6 + Destination Options (8) + TCP's first 8 bytes.
        let mut q = [0u8; 56];
        Ipv6Repr {
            src: d,
            dst: s,
            next_header: protocol::IPV6_DEST_OPTIONS,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            payload_len: 1460,
        }
        .emit(&mut q)
        .unwrap();
        q[40] = protocol::TCP;
        q[48..50].copy_from_slice(&443u16.to_be_bytes());
        q[50..52].copy_from_slice(&50000u16.to_be_bytes());
        q[52..56].copy_from_slice(&7u32.to_be_bytes());
        let r = Icmpv6Repr::PacketTooBig {
            mtu: 1280,
            invoking: &q,
        };
        let mut b = [0u8; 80];
        let n = r.emit(&mut b, s, d).unwrap();
        let back = Icmpv6Repr::parse_bytes(&b[..n], s, d, ChecksumMode::Verify).unwrap();
        assert_eq!(back, r);
        assert_eq!(IcmpRepr::V6(back).reported_mtu(), Some(1280));
        let qt = back.quoted().unwrap().tcp().unwrap();
        assert_eq!((qt.src_port, qt.dst_port, qt.seq), (443, 50000, 7));
        // The pseudo-header matters: another destination breaks the checksum.
        let other = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3);
        assert_eq!(
            Icmpv6Repr::parse_bytes(&b[..n], s, other, ChecksumMode::Verify),
            Err(Error::BadChecksum)
        );
        let du = Icmpv6Repr::DstUnreachable {
            code: v6::PORT_UNREACHABLE,
            invoking: &q,
        };
        let n = du.emit(&mut b, s, d).unwrap();
        assert_eq!(
            Icmpv6Repr::parse_bytes(&b[..n], s, d, ChecksumMode::Verify),
            Ok(du)
        );
        assert_eq!(IcmpRepr::V6(du).reported_mtu(), None);
    }

    #[test]
    fn other_messages_kept_raw() {
        let r = Icmpv4Repr::Other {
            msg_type: v4::ECHO_REQUEST,
            code: 0,
            rest_of_header: 0x0001_0002,
            data: b"ping",
        };
        let mut b = [0u8; 12];
        assert_eq!(r.emit(&mut b), Ok(12));
        assert_eq!(Icmpv4Repr::parse_bytes(&b, ChecksumMode::Verify), Ok(r));
        assert_eq!(r.quoted(), Err(Error::BadIcmp));
        assert_eq!(r.emit(&mut b[..11]), Err(Error::BufferTooSmall));
        assert_eq!(
            Icmpv4Repr::parse_bytes(&b[..7], ChecksumMode::Ignore),
            Err(Error::Truncated)
        );
    }
}
