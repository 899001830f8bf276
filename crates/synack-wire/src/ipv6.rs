//! IPv6 header (RFC 8200 §3) and the walk over extension headers (RFC 8200 §4) to the
//! upper-layer header.

use core::net::Ipv6Addr;

use crate::{Error, get_u16, protocol};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// Extension headers walked before giving up. RFC 8200 §4.1 recommends each kind appear at
/// most once (Destination Options twice), so a legitimate chain is far shorter than this.
pub const MAX_EXTENSION_HEADERS: usize = 12;

mod field {
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// A zero-copy view of an IPv6 packet.
///
/// [`Ipv6Packet::new_checked`] validates the version and that the payload length fits the
/// buffer; a longer buffer (link-layer padding) is accepted and [`Ipv6Packet::payload`] stops
/// at the payload length. Jumbograms (payload length 0 with a Jumbo Payload option,
/// RFC 2675) are not supported: they read as an empty payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Where the upper-layer header starts, as found by [`Ipv6Packet::upper_layer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UpperLayer {
    /// The protocol number of the upper-layer header ([`protocol::IPV6_NO_NEXT_HEADER`] when the
    /// chain ends with No Next Header).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 header.
    pub offset: usize,
    /// Whether a Fragment header (RFC 8200 §4.5) marks this as part of a fragmented packet.
    /// An atomic fragment (offset 0, M clear; RFC 6946) does not count.
    pub fragmented: bool,
    /// Fragment offset in bytes; non-zero means the walk stopped at a later fragment, whose
    /// data at `offset` is the middle of the upper-layer packet, not its header.
    pub frag_offset: usize,
}

/// Walks extension headers in `bytes` (which start with the first extension header or the
/// upper layer) from protocol `first`, at most [`MAX_EXTENSION_HEADERS`] of them.
///
/// Offsets returned are relative to `bytes`. Stops at the first header that is not an
/// extension header, at No Next Header, or at a non-first fragment (whose data is not an
/// upper-layer header). ESP (50) is treated as upper layer: what follows it is encrypted.
pub(crate) fn walk_extension_headers(bytes: &[u8], first: u8) -> Result<UpperLayer, Error> {
    let mut next = first;
    let mut off = 0usize;
    let mut fragmented = false;
    for i in 0..=MAX_EXTENSION_HEADERS {
        let len = match next {
            protocol::HOP_BY_HOP
            | protocol::IPV6_ROUTING
            | protocol::IPV6_DEST_OPTIONS
            | protocol::MOBILITY
            | protocol::HIP
            | protocol::SHIM6 => {
                // RFC 8200 §4.3: Hop-by-Hop may only come straight after the IPv6 header.
                if next == protocol::HOP_BY_HOP && i != 0 {
                    return Err(Error::BadExtensionHeader);
                }
                // Hdr Ext Len counts 8-octet units after the first 8 (RFC 8200 §4.3, RFC 6564).
                let units = *bytes.get(off + 1).ok_or(Error::Truncated)?;
                (usize::from(units) + 1) * 8
            }
            protocol::IPV6_FRAGMENT => {
                // RFC 8200 §4.5: fixed 8 bytes; offset in the high 13 bits, M in bit 0.
                let fo = get_u16(bytes, off + 2).ok_or(Error::Truncated)?;
                let offset = fo >> 3;
                let more = fo & 1 != 0;
                if offset != 0 || more {
                    fragmented = true;
                }
                if offset != 0 {
                    let proto = *bytes.get(off).ok_or(Error::Truncated)?;
                    return Ok(UpperLayer {
                        protocol: proto,
                        offset: off + 8,
                        fragmented,
                        frag_offset: usize::from(offset) * 8,
                    });
                }
                8
            }
            // RFC 4302 §2.2: AH's Payload Len is in 4-octet units, minus 2.
            protocol::AH => {
                let units = *bytes.get(off + 1).ok_or(Error::Truncated)?;
                (usize::from(units) + 2) * 4
            }
            _ => {
                return Ok(UpperLayer {
                    protocol: next,
                    offset: off,
                    fragmented,
                    frag_offset: 0,
                });
            }
        };
        let nh = *bytes.get(off).ok_or(Error::Truncated)?;
        if bytes.len() < off + len {
            return Err(Error::Truncated);
        }
        off += len;
        next = nh;
    }
    Err(Error::TooManyExtensionHeaders)
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>, Error> {
        let p = Ipv6Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// The checks [`Ipv6Packet::new_checked`] performs.
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(Error::BadVersion);
        }
        let pl = usize::from(get_u16(b, field::PAYLOAD_LEN).ok_or(Error::Truncated)?);
        if HEADER_LEN + pl > b.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    pub fn version(&self) -> u8 {
        self.b()[0] >> 4
    }
    /// Traffic class: DS field and ECN bits (RFC 8200 §7, RFC 3168).
    pub fn traffic_class(&self) -> u8 {
        (self.b()[0] << 4) | (self.b()[1] >> 4)
    }
    pub fn flow_label(&self) -> u32 {
        let b = self.b();
        (u32::from(b[1] & 0x0f) << 16) | (u32::from(b[2]) << 8) | u32::from(b[3])
    }
    pub fn payload_len(&self) -> usize {
        usize::from(u16::from_be_bytes([self.b()[4], self.b()[5]]))
    }
    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HEADER]
    }
    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[field::SRC..field::SRC + 16]);
        Ipv6Addr::from(a)
    }
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[field::DST..field::DST + 16]);
        Ipv6Addr::from(a)
    }
    /// Everything after the fixed header, up to the payload length.
    pub fn payload(&self) -> &[u8] {
        &self.b()[HEADER_LEN..HEADER_LEN + self.payload_len()]
    }
    /// Walks the extension-header chain (bounded by [`MAX_EXTENSION_HEADERS`]) to the
    /// upper-layer header. The returned offset counts from the start of the IPv6 header.
    pub fn upper_layer(&self) -> Result<UpperLayer, Error> {
        let mut u = walk_extension_headers(self.payload(), self.next_header())?;
        u.offset += HEADER_LEN;
        Ok(u)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets version 6, the traffic class and the flow label (low 20 bits).
    pub fn set_version_class_flow(&mut self, class: u8, flow: u32) {
        let w = (6u32 << 28) | (u32::from(class) << 20) | (flow & 0x000f_ffff);
        self.buffer.as_mut()[0..4].copy_from_slice(&w.to_be_bytes());
    }
    pub fn set_payload_len(&mut self, v: u16) {
        self.buffer.as_mut()[4..6].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 16].copy_from_slice(&a.octets());
    }
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 16].copy_from_slice(&a.octets());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let pl = self.payload_len();
        &mut self.buffer.as_mut()[HEADER_LEN..HEADER_LEN + pl]
    }
}

/// The fixed IPv6 header as plain data. Emit writes no extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The Next Header field of the fixed header (which may name an extension header).
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    /// Bytes after the fixed header, extension headers included.
    pub payload_len: usize,
}

impl Ipv6Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Result<Ipv6Repr, Error> {
        p.check_len()?;
        Ok(Ipv6Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
            payload_len: p.payload_len(),
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 40-byte fixed header to the front of `buf`; the payload is the caller's.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let pl = u16::try_from(self.payload_len).map_err(|_| Error::TooLong)?;
        let hdr = buf.get_mut(..HEADER_LEN).ok_or(Error::BufferTooSmall)?;
        let mut p = Ipv6Packet::new_unchecked(hdr);
        p.set_version_class_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(pl);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(next_header: u8, payload_len: usize) -> Ipv6Repr {
        Ipv6Repr {
            src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            dst: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
            next_header,
            hop_limit: 64,
            traffic_class: 0xb9,
            flow_label: 0xabcde,
            payload_len,
        }
    }

    /// Builds a packet: fixed header, then the given extension bytes, then `upper` bytes.
    fn build<'b>(buf: &'b mut [u8], first: u8, ext: &[u8], upper: usize) -> &'b [u8] {
        let total = HEADER_LEN + ext.len() + upper;
        repr(first, ext.len() + upper).emit(buf).unwrap();
        buf[HEADER_LEN..HEADER_LEN + ext.len()].copy_from_slice(ext);
        &buf[..total]
    }

    #[test]
    fn fixed_header_round_trip() {
        let mut b = [0u8; 60];
        let pkt = build(&mut b, 6, &[], 20);
        let p = Ipv6Packet::new_checked(pkt).unwrap();
        assert_eq!(Ipv6Repr::parse(&p), Ok(repr(6, 20)));
        assert_eq!(
            p.upper_layer(),
            Ok(UpperLayer {
                protocol: 6,
                offset: 40,
                fragmented: false,
                frag_offset: 0,
            })
        );
    }

    #[test]
    fn walks_every_kind_of_extension_header() {
        // HBH (8) -> Dest Opts (16) -> Routing (8) -> AH (12 + 4 ICV = 16) -> Fragment(atomic)
        // -> TCP.
        let mut ext = [0u8; 56];
        ext[0] = protocol::IPV6_DEST_OPTIONS; // HBH: next = DO, len 0
        ext[8] = protocol::IPV6_ROUTING; // DO: len 1 -> 16 bytes
        ext[9] = 1;
        ext[24] = protocol::AH; // Routing: len 0
        ext[32] = protocol::IPV6_FRAGMENT; // AH: payload len 2 -> (2+2)*4 = 16
        ext[33] = 2;
        ext[48] = protocol::TCP; // Fragment: offset 0, M 0
        let mut b = [0u8; 200];
        let pkt = build(&mut b, protocol::HOP_BY_HOP, &ext, 20);
        let p = Ipv6Packet::new_checked(pkt).unwrap();
        assert_eq!(
            p.upper_layer(),
            Ok(UpperLayer {
                protocol: 6,
                offset: 40 + 56,
                fragmented: false,
                frag_offset: 0,
            })
        );
    }

    #[test]
    fn fragments_flagged() {
        // First fragment (offset 0, M=1): upper layer still found.
        let mut b = [0u8; 100];
        let pkt = build(
            &mut b,
            protocol::IPV6_FRAGMENT,
            &[6, 0, 0, 1, 0, 0, 0, 9],
            20,
        );
        let u = Ipv6Packet::new_checked(pkt).unwrap().upper_layer().unwrap();
        assert!(u.fragmented);
        assert_eq!((u.protocol, u.offset), (6, 48));
        // Later fragment: offset 185 * 8.
        let mut b = [0u8; 100];
        let fo = (185u16 << 3).to_be_bytes();
        let pkt = build(
            &mut b,
            protocol::IPV6_FRAGMENT,
            &[6, 0, fo[0], fo[1], 0, 0, 0, 9],
            20,
        );
        let u = Ipv6Packet::new_checked(pkt).unwrap().upper_layer().unwrap();
        assert!(u.fragmented);
        assert_eq!(u.frag_offset, 1480);
    }

    #[test]
    fn no_next_header_and_errors() {
        let mut b = [0u8; 100];
        let pkt = build(&mut b, protocol::IPV6_NO_NEXT_HEADER, &[], 4);
        let u = Ipv6Packet::new_checked(pkt).unwrap().upper_layer().unwrap();
        assert_eq!((u.protocol, u.offset), (59, 40));

        // Destination options claiming 16 bytes with only 8 present.
        let mut b = [0u8; 100];
        let pkt = build(
            &mut b,
            protocol::IPV6_DEST_OPTIONS,
            &[6, 1, 0, 0, 0, 0, 0, 0],
            0,
        );
        let p = Ipv6Packet::new_checked(pkt).unwrap();
        assert_eq!(p.upper_layer(), Err(Error::Truncated));

        // Hop-by-Hop after another extension header.
        let mut b = [0u8; 100];
        let pkt = build(
            &mut b,
            protocol::IPV6_DEST_OPTIONS,
            &[0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0],
            0,
        );
        let p = Ipv6Packet::new_checked(pkt).unwrap();
        assert_eq!(p.upper_layer(), Err(Error::BadExtensionHeader));

        // A long chain of Destination Options headers hits the bound.
        let mut ext = [0u8; 8 * 20];
        for h in ext.chunks_exact_mut(8) {
            h[0] = protocol::IPV6_DEST_OPTIONS;
        }
        let mut b = [0u8; 300];
        let pkt = build(&mut b, protocol::IPV6_DEST_OPTIONS, &ext, 0);
        let p = Ipv6Packet::new_checked(pkt).unwrap();
        assert_eq!(p.upper_layer(), Err(Error::TooManyExtensionHeaders));
    }

    #[test]
    fn bad_fixed_headers() {
        let mut b = [0u8; 60];
        repr(6, 20).emit(&mut b).unwrap();
        assert_eq!(
            Ipv6Packet::new_checked(&b[..39]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(
            Ipv6Packet::new_checked(&b[..59]).err(),
            Some(Error::Truncated)
        );
        b[0] = 0x45;
        assert_eq!(
            Ipv6Packet::new_checked(&b[..]).err(),
            Some(Error::BadVersion)
        );
        assert_eq!(repr(6, 70000).emit(&mut [0u8; 40]), Err(Error::TooLong));
    }
}
