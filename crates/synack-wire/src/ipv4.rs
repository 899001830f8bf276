//! IPv4 header (RFC 791 §3.1).
//!
//! synack does not reassemble (RFC 791 §3.2): [`Ipv4Repr::parse`] reports any fragment as
//! [`Error::Fragmented`] so the caller drops it, and [`Ipv4Repr::emit`] always sets DF, as
//! path MTU discovery requires (RFC 1191 §3).

use core::net::Ipv4Addr;

use crate::checksum::{ChecksumMode, header_checksum, header_checksum_20};
use crate::{Error, get_u16};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A zero-copy view of an IPv4 packet.
///
/// [`Ipv4Packet::new_checked`] validates version, IHL and total length against the buffer;
/// after that every getter is in bounds. A buffer longer than the total length (link-layer
/// padding) is accepted and [`Ipv4Packet::payload`] stops at the total length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>, Error> {
        let p = Ipv4Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// The checks [`Ipv4Packet::new_checked`] performs.
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Error::BadVersion);
        }
        let ihl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        if ihl < HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        if ihl > b.len() {
            return Err(Error::Truncated);
        }
        let total = usize::from(get_u16(b, field::LENGTH).ok_or(Error::Truncated)?);
        if total < ihl {
            return Err(Error::BadTotalLength);
        }
        if total > b.len() {
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
    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.b()[at], self.b()[at + 1]])
    }
    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }
    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::VER_IHL] & 0x0f) * 4
    }
    /// The DS field and ECN bits (RFC 2474, RFC 3168) as one byte.
    pub fn tos(&self) -> u8 {
        self.b()[field::TOS]
    }
    pub fn ecn(&self) -> u8 {
        self.tos() & 0b11
    }
    pub fn total_len(&self) -> usize {
        usize::from(self.u16_at(field::LENGTH))
    }
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }
    pub fn dont_fragment(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_DF != 0
    }
    pub fn more_fragments(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_MF != 0
    }
    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> usize {
        usize::from(self.u16_at(field::FLG_OFF) & OFFSET_MASK) * 8
    }
    /// True for any piece of a fragmented datagram: MF set or a non-zero offset.
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.frag_offset() != 0
    }
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    /// Options bytes (RFC 791 §3.1), which synack skips.
    pub fn options(&self) -> &[u8] {
        &self.b()[HEADER_LEN..self.header_len()]
    }
    /// Whether the header checksum (which covers the header only) verifies.
    pub fn verify_checksum(&self) -> bool {
        header_checksum(&self.b()[..self.header_len()]) == 0
    }
    /// Bytes between the header and the total length.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn put_u16(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets version 4 and the header length in bytes (rounded down to words, at most 60).
    pub fn set_version_and_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | (len / 4).min(15) as u8;
    }
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }
    pub fn set_total_len(&mut self, v: u16) {
        self.put_u16(field::LENGTH, v);
    }
    pub fn set_ident(&mut self, v: u16) {
        self.put_u16(field::IDENT, v);
    }
    /// Sets DF, MF and the offset (in bytes, must be a multiple of 8).
    pub fn set_fragment(&mut self, df: bool, mf: bool, offset: usize) {
        let mut v = ((offset / 8) as u16) & OFFSET_MASK;
        if df {
            v |= FLAG_DF;
        }
        if mf {
            v |= FLAG_MF;
        }
        self.put_u16(field::FLG_OFF, v);
    }
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        self.put_u16(field::CHECKSUM, v);
    }
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 4].copy_from_slice(&a.octets());
    }
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 4].copy_from_slice(&a.octets());
    }
    /// Computes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = header_checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), self.total_len());
        &mut self.buffer.as_mut()[hl..tl]
    }
}

/// An IPv4 header as plain data. Emitted headers carry no options, DF set and identification
/// 0 (RFC 6864 §4.1 allows any ID on atomic datagrams).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    /// DS field and ECN bits (RFC 2474, RFC 3168).
    pub tos: u8,
    /// Bytes after the header, as given by the total length.
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Parses a checked view. Rejects fragments and, under [`ChecksumMode::Verify`], a bad
    /// header checksum. Options are skipped.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>, mode: ChecksumMode) -> Result<Ipv4Repr, Error> {
        Self::parse_bytes(p.buffer.as_ref(), mode).map(|(r, _)| r)
    }

    /// [`Ipv4Repr::parse`] straight from a datagram's bytes, with the checks of
    /// [`Ipv4Packet::check_len`] first; also gives the payload (up to the total length).
    /// The fixed header is read from one array, so one length check covers every field.
    #[inline]
    pub fn parse_bytes(packet: &[u8], mode: ChecksumMode) -> Result<(Ipv4Repr, &[u8]), Error> {
        let h = packet.first_chunk::<HEADER_LEN>().ok_or(Error::Truncated)?;
        if h[field::VER_IHL] >> 4 != 4 {
            return Err(Error::BadVersion);
        }
        let ihl = usize::from(h[field::VER_IHL] & 0x0f) * 4;
        if ihl < HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        let header = packet.get(..ihl).ok_or(Error::Truncated)?;
        let total = usize::from(u16::from_be_bytes([h[field::LENGTH], h[field::LENGTH + 1]]));
        if total < ihl {
            return Err(Error::BadTotalLength);
        }
        let payload = packet.get(ihl..total).ok_or(Error::Truncated)?;
        if mode == ChecksumMode::Verify && header_checksum(header) != 0 {
            return Err(Error::BadChecksum);
        }
        let flags_offset = u16::from_be_bytes([h[field::FLG_OFF], h[field::FLG_OFF + 1]]);
        if flags_offset & (FLAG_MF | OFFSET_MASK) != 0 {
            return Err(Error::Fragmented);
        }
        let addr = |at: usize| Ipv4Addr::new(h[at], h[at + 1], h[at + 2], h[at + 3]);
        let repr = Ipv4Repr {
            src: addr(field::SRC),
            dst: addr(field::DST),
            protocol: h[field::PROTOCOL],
            ttl: h[field::TTL],
            tos: h[field::TOS],
            payload_len: payload.len(),
        };
        Ok((repr, payload))
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 20-byte header (with checksum) to the front of `buf`; the payload is the
    /// caller's. Returns the header length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let total = u16::try_from(HEADER_LEN + self.payload_len).map_err(|_| Error::TooLong)?;
        let out = buf
            .first_chunk_mut::<HEADER_LEN>()
            .ok_or(Error::BufferTooSmall)?;
        // Built as one array and summed from it, then stored at once: no bounds check per
        // field and no second read of the stored header for its checksum.
        let [t0, t1] = total.to_be_bytes();
        let [f0, f1] = FLAG_DF.to_be_bytes();
        let [s0, s1, s2, s3] = self.src.octets();
        let [d0, d1, d2, d3] = self.dst.octets();
        let mut h = [
            0x40 | (HEADER_LEN / 4) as u8,
            self.tos,
            t0,
            t1,
            0, // identification (RFC 6864 §4.1)
            0,
            f0,
            f1,
            self.ttl,
            self.protocol,
            0, // checksum, filled below
            0,
            s0,
            s1,
            s2,
            s3,
            d0,
            d1,
            d2,
            d3,
        ];
        let [c0, c1] = header_checksum_20(&h).to_be_bytes();
        h[field::CHECKSUM] = c0;
        h[field::CHECKSUM + 1] = c1;
        *out = h;
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(192, 0, 2, 2),
            protocol: 6,
            ttl: 64,
            tos: 0x02,
            payload_len: 8,
        }
    }

    #[test]
    fn emit_parse_round_trip_sets_df() {
        let mut b = [0u8; 28];
        assert_eq!(repr().emit(&mut b), Ok(20));
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.dont_fragment() && !p.is_fragment());
        assert!(p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Verify), Ok(repr()));
        assert_eq!(p.ecn(), 2);
    }

    #[test]
    fn rfc_example_header_checksum() {
        // A commonly published example header whose checksum is 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(header_checksum(&h), 0xb861);
        h[10] = 0xb8;
        h[11] = 0x61;
        let mut full = [0u8; 0x73];
        full[..20].copy_from_slice(&h);
        assert!(
            Ipv4Packet::new_checked(&full[..])
                .unwrap()
                .verify_checksum()
        );
    }

    #[test]
    fn options_are_skipped() {
        let mut b = [0u8; 32];
        let mut r = repr();
        r.payload_len = 4;
        r.emit(&mut b).unwrap();
        // Rebuild as IHL 7 (8 bytes of NOP options), total 32.
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version_and_header_len(28);
        p.set_total_len(32);
        p.buffer[20..28].copy_from_slice(&[1; 8]);
        p.buffer[28..32].copy_from_slice(b"abcd");
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.payload(), b"abcd");
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumMode::Verify)
                .unwrap()
                .payload_len,
            4
        );
    }

    #[test]
    fn bad_headers_rejected() {
        let mut b = [0u8; 28];
        repr().emit(&mut b).unwrap();
        let chk = |b: &[u8]| Ipv4Packet::new_checked(b).err();
        assert_eq!(chk(&b[..19]), Some(Error::Truncated));
        assert_eq!(chk(&b[..27]), Some(Error::Truncated)); // total length 28 > 27
        let mut v = b;
        v[0] = 0x65;
        assert_eq!(chk(&v), Some(Error::BadVersion));
        v[0] = 0x44;
        assert_eq!(chk(&v), Some(Error::BadHeaderLength));
        v[0] = 0x4f; // 60-byte header in a 28-byte buffer
        assert_eq!(chk(&v), Some(Error::Truncated));
        let mut t = b;
        t[2] = 0;
        t[3] = 19;
        assert_eq!(chk(&t), Some(Error::BadTotalLength));
        let mut c = b;
        c[8] ^= 1; // TTL changed, checksum stale
        let p = Ipv4Packet::new_checked(&c[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumMode::Verify),
            Err(Error::BadChecksum)
        );
        assert!(Ipv4Repr::parse(&p, ChecksumMode::Ignore).is_ok());
    }

    #[test]
    fn fragments_reported() {
        for (mf, off) in [(true, 0), (false, 8), (true, 1480)] {
            let mut b = [0u8; 28];
            repr().emit(&mut b).unwrap();
            let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
            p.set_fragment(false, mf, off);
            p.fill_checksum();
            let p = Ipv4Packet::new_checked(&b[..]).unwrap();
            assert_eq!(p.more_fragments(), mf);
            assert_eq!(p.frag_offset(), off);
            assert!(p.is_fragment());
            assert_eq!(
                Ipv4Repr::parse(&p, ChecksumMode::Verify),
                Err(Error::Fragmented)
            );
        }
    }

    #[test]
    fn emit_errors() {
        let mut r = repr();
        assert_eq!(r.emit(&mut [0u8; 19]), Err(Error::BufferTooSmall));
        r.payload_len = 65535 - 19;
        assert_eq!(r.emit(&mut [0u8; 20]), Err(Error::TooLong));
    }
}
