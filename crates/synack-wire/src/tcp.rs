//! TCP header (RFC 9293 §3.1) and options (RFC 9293 §3.2, RFC 7323, RFC 2018).
//!
//! [`TcpPacket`] is a zero-copy view over a segment; [`TcpRepr`] is the plain-data form the
//! protocol core works with. [`TcpRepr::emit`] lays options out the way Linux does (see
//! [`TcpRepr::options_len`]), so every option starts on the alignment its fields want and the
//! header length is always a multiple of four.

use core::fmt;
use core::net::IpAddr;

use crate::checksum::{Checksum, ChecksumMode, pseudo_header};
use crate::{Error, protocol};

mod options;
pub use options::{TcpOption, TcpOptionIter};

/// The control bits of a TCP header, laid out as in byte 13 of the header (RFC 9293 §3.1,
/// RFC 3168 for ECE/CWR).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);
    pub const NONE: TcpFlags = TcpFlags(0);

    pub const fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags(bits)
    }
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }
    pub const fn without(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    pub const fn urg(self) -> bool {
        self.contains(Self::URG)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        *self = self.union(rhs);
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prints the set flags joined by `|` in header order of importance, e.g. `SYN|ACK`, or `-`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// One SACK block (RFC 2018 §3): the sequence space `[left, right)` received out of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SackBlock {
    pub left: u32,
    pub right: u32,
}

/// Up to four SACK blocks, the most a 40-byte option space can carry (RFC 2018 §3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackList {
    blocks: [SackBlock; SackList::CAPACITY],
    len: u8,
}

impl SackList {
    pub const CAPACITY: usize = 4;

    pub const fn new() -> SackList {
        SackList {
            blocks: [SackBlock { left: 0, right: 0 }; SackList::CAPACITY],
            len: 0,
        }
    }
    /// Appends a block; returns `false` (and changes nothing) when the list is full.
    pub fn push(&mut self, block: SackBlock) -> bool {
        if usize::from(self.len) == Self::CAPACITY {
            return false;
        }
        self.blocks[usize::from(self.len)] = block;
        self.len += 1;
        true
    }
    // These small accessors are read by the core on every acknowledgment: inlined across
    // the crate boundary rather than called.
    #[inline]
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..usize::from(self.len)]
    }
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl fmt::Debug for SackList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The timestamps option (RFC 7323 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Timestamps {
    pub tsval: u32,
    pub tsecr: u32,
}

/// The TCP options synack understands. Unknown options are skipped on parse and never emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TcpOptions {
    /// Maximum segment size (RFC 9293 §3.7.1); only meaningful on SYN segments.
    pub mss: Option<u16>,
    /// Window scale shift count (RFC 7323 §2.2); only meaningful on SYN segments.
    pub window_scale: Option<u8>,
    /// SACK-permitted (RFC 2018 §2); only meaningful on SYN segments.
    pub sack_permitted: bool,
    /// SACK blocks (RFC 2018 §3).
    pub sack_blocks: SackList,
    /// Timestamps (RFC 7323 §3).
    pub timestamps: Option<Timestamps>,
}

/// A TCP segment as plain data: what the protocol core consumes and produces.
///
/// Sequence and acknowledgment numbers are raw `u32`s here; arithmetic modulo 2^32 belongs to the
/// protocol core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent_ptr: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

/// Byte offsets of the fixed header fields (RFC 9293 §3.1).
mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of the fixed TCP header.
pub const HEADER_LEN: usize = 20;
/// The data offset field is four bits of 32-bit words, so 15 * 4.
pub const MAX_HEADER_LEN: usize = 60;
/// Room left for options in the largest header.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

/// Payloads up to this many bytes are copied into a segment first and summed with its header
/// in one go; longer ones are summed as they are copied. The fused pass pays for itself on the
/// bytes it does not read twice, and costs a sum of its own per piece: a segment of a short
/// exchange (a SYN, a bare ACK, a one-byte request) would pay that overhead for nothing.
const SUM_AFTER_COPY: usize = 128;

/// Option kinds (IANA "TCP Option Kind Numbers").
pub mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// A zero-copy view of a TCP segment.
///
/// Build it with [`TcpPacket::new_checked`] for untrusted bytes: after that every getter is in
/// bounds. [`TcpPacket::new_unchecked`] is for buffers the caller sized itself (e.g. before
/// emitting); getters on a too-short unchecked buffer panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

fn be32(b: &[u8], r: core::ops::Range<usize>) -> u32 {
    u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` after checking it holds a whole header: at least 20 bytes, a data offset
    /// of at least 5 words, and that many bytes present. The whole buffer is the segment.
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>, Error> {
        let p = TcpPacket { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// The checks [`TcpPacket::new_checked`] performs.
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        let Some(&off) = b.get(field::DATA_OFF) else {
            return Err(Error::Truncated);
        };
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = usize::from(off >> 4) * 4;
        if hl < HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        if hl > b.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }
    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ)
    }
    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK)
    }
    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }
    /// The four bits after the data offset; RFC 9293 reserves them (AccECN uses one).
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::DATA_OFF] & 0x0f
    }
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }
    pub fn window_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn urgent_ptr(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT)
    }
    /// The raw option bytes between the fixed header and the data offset.
    pub fn options(&self) -> &[u8] {
        let hl = self.header_len();
        &self.buffer.as_ref()[HEADER_LEN..hl]
    }
    /// An iterator over the options, which stops after EOL or the first malformed option.
    pub fn option_iter(&self) -> TcpOptionIter<'_> {
        TcpOptionIter::new(self.options())
    }
    pub fn payload(&self) -> &[u8] {
        let hl = self.header_len();
        &self.buffer.as_ref()[hl..]
    }
    /// Whether the checksum over the pseudo-header and the whole buffer verifies.
    ///
    /// Fails when the address families differ or the segment is too long for IPv4's length.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> Result<bool, Error> {
        let b = self.buffer.as_ref();
        let mut c = pseudo_header(src, dst, protocol::TCP, b.len())?;
        c.add(b);
        Ok(c.finish() == 0)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_dst_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_seq_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_ack_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::ACK].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the data offset from a length in bytes (rounded down to words) and clears the
    /// reserved bits.
    pub fn set_header_len(&mut self, len: usize) {
        let words = (len / 4).min(15) as u8;
        self.buffer.as_mut()[field::DATA_OFF] = words << 4;
    }
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = flags.0;
    }
    pub fn set_window_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::WINDOW].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_urgent_ptr(&mut self, v: u16) {
        self.buffer.as_mut()[field::URGENT].copy_from_slice(&v.to_be_bytes());
    }
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
    /// Computes and stores the checksum over the pseudo-header and the whole buffer.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) -> Result<(), Error> {
        let pseudo = pseudo_header(src, dst, protocol::TCP, self.buffer.as_ref().len())?;
        self.fill_checksum_from(pseudo);
        Ok(())
    }

    /// [`TcpPacket::fill_checksum`] from the pseudo-header's sum, already worked out.
    fn fill_checksum_from(&mut self, pseudo: Checksum) {
        self.set_checksum(0);
        let mut c = pseudo;
        c.add(self.buffer.as_ref());
        self.set_checksum(c.finish());
    }
}

impl<'a> TcpRepr<'a> {
    /// Parses a segment and, under [`ChecksumMode::Verify`], checks its checksum against the
    /// pseudo-header built from `src` and `dst`.
    ///
    /// Source and destination port 0 are accepted here: rejecting them is policy for the core.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<TcpRepr<'a>, Error> {
        let bytes: &'a [u8] = packet.buffer.as_ref();
        Self::parse_bytes(bytes, src, dst, mode)
    }

    /// [`TcpRepr::parse`] directly over the segment's bytes.
    #[inline]
    pub fn parse_bytes(
        bytes: &'a [u8],
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<TcpRepr<'a>, Error> {
        // The fixed header is read from one array: a single length check covers every field.
        // The checks are those of `TcpPacket::check_len`, in its order.
        let h = bytes.first_chunk::<HEADER_LEN>().ok_or(Error::Truncated)?;
        let hl = usize::from(h[field::DATA_OFF] >> 4) * 4;
        if hl < HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        let (head, payload) = bytes.split_at_checked(hl).ok_or(Error::Truncated)?;
        if mode == ChecksumMode::Verify {
            let mut c = pseudo_header(src, dst, protocol::TCP, bytes.len())?;
            if c.add(bytes).finish() != 0 {
                return Err(Error::BadChecksum);
            }
        }
        let options = TcpOptions::parse(&head[HEADER_LEN..])?;
        let be16 = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
        let be32 = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        Ok(TcpRepr {
            src_port: be16(field::SRC_PORT.start),
            dst_port: be16(field::DST_PORT.start),
            seq: be32(field::SEQ.start),
            ack: be32(field::ACK.start),
            flags: TcpFlags(h[field::FLAGS]),
            window: be16(field::WINDOW.start),
            urgent_ptr: be16(field::URGENT.start),
            options,
            payload,
        })
    }

    /// Bytes of option space this segment needs (see [`TcpOptions::wire_len`]).
    pub fn options_len(&self) -> usize {
        self.options.wire_len()
    }

    /// Header length: 20 plus the options, already a multiple of 4.
    ///
    /// At most 60 whenever [`TcpRepr::options_fit`]; a larger value means [`TcpRepr::emit`]
    /// will fail with [`Error::OptionsTooLong`].
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// Whether the options fit in the 40 bytes a header has for them.
    pub fn options_fit(&self) -> bool {
        self.options_len() <= MAX_OPTIONS_LEN
    }

    /// Header plus payload.
    pub fn segment_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes header, options and payload to the front of `buf` and fills the checksum over
    /// the pseudo-header of `src`/`dst`. Returns the segment length.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<usize, Error> {
        self.emit_with(buf, src, dst, ChecksumMode::Verify)
    }

    /// [`TcpRepr::emit`] for a device that checksums on its own. Under
    /// [`ChecksumMode::Ignore`] the checksum field gets only the pseudo-header's folded sum,
    /// not complemented: what a NIC (or virtio-net's `NEEDS_CSUM`) completes by adding the
    /// segment's bytes from the TCP header on, and what an in-process link never reads.
    pub fn emit_with(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<usize, Error> {
        self.emit_gather(buf, src, dst, &[], mode)
    }

    /// [`TcpRepr::emit_with`] for a segment whose payload is `self.payload` followed by
    /// `tail`: a sender whose bytes sit in a ring buffer hands both halves, and they are copied
    /// once, straight into the packet.
    pub fn emit_gather(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        tail: &[u8],
        mode: ChecksumMode,
    ) -> Result<usize, Error> {
        let hl = self.checked_header_len()?;
        let total = hl + self.payload.len() + tail.len();
        // The pseudo-header first, so a failure leaves `buf` untouched; its sum starts the
        // checksum (or is the partial sum a device completes).
        let pseudo = pseudo_header(src, dst, protocol::TCP, total)?;
        let seg = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        self.emit_into(seg, hl, pseudo, tail, mode)?;
        Ok(total)
    }

    /// The header length, or [`Error::OptionsTooLong`]: the option space worked out once,
    /// every length of an emit following from it.
    pub(crate) fn checked_header_len(&self) -> Result<usize, Error> {
        let options_len = self.options.wire_len();
        if options_len > MAX_OPTIONS_LEN {
            return Err(Error::OptionsTooLong);
        }
        Ok(HEADER_LEN + options_len)
    }

    /// [`TcpRepr::emit_gather`] into `seg`, exactly the segment's length, with its header
    /// length `hl` from [`TcpRepr::checked_header_len`] and the pseudo-header's sum already
    /// worked out.
    pub(crate) fn emit_into(
        &self,
        seg: &mut [u8],
        hl: usize,
        pseudo: Checksum,
        tail: &[u8],
        mode: ChecksumMode,
    ) -> Result<(), Error> {
        let (header, body) = seg.split_at_mut(hl);
        let (fixed, options) = header.split_at_mut(HEADER_LEN);
        let fixed_header = self.fixed_header(hl);
        fixed.copy_from_slice(&fixed_header);
        self.options.write(options);
        let checksum = match mode {
            ChecksumMode::Verify if body.len() <= SUM_AFTER_COPY => {
                // A handful of bytes (a handshake, an ACK, a short request): the header summed
                // word by word (the fixed part from the array just built), the payload copied
                // and then summed, cheaper than a fused pass per piece. A bare ACK has none.
                let mut c = pseudo;
                c.add_words(&fixed_header).add_words(options);
                if !body.is_empty() {
                    copy_pieces(body, self.payload, tail);
                    c.add(body);
                }
                c.finish()
            }
            ChecksumMode::Verify => {
                // The payload is summed as it is copied in: one pass over its bytes.
                let (head, rest) = body.split_at_mut(self.payload.len());
                let mut c = pseudo;
                c.add(header);
                c.add_copy(self.payload, head)?.add_copy(tail, rest)?;
                c.finish()
            }
            ChecksumMode::Ignore => {
                copy_pieces(body, self.payload, tail);
                pseudo.sum()
            }
        };
        seg[field::CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
        Ok(())
    }

    /// The fixed 20 bytes of the header for a header of `hl` bytes, checksum zero: built as
    /// one array and stored at once, with no bounds check per field.
    fn fixed_header(&self, hl: usize) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        h[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        h[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        h[field::ACK].copy_from_slice(&self.ack.to_be_bytes());
        // Data offset in words, the reserved bits clear (RFC 9293 §3.1).
        h[field::DATA_OFF] = ((hl / 4) as u8) << 4;
        h[field::FLAGS] = self.flags.0;
        h[field::WINDOW].copy_from_slice(&self.window.to_be_bytes());
        h[field::URGENT].copy_from_slice(&self.urgent_ptr.to_be_bytes());
        h
    }
}

/// `head` then `tail` into `out`, which is exactly as long as both. An empty piece (every
/// bare ACK has one or two) is skipped rather than handed to a copy routine.
fn copy_pieces(out: &mut [u8], head: &[u8], tail: &[u8]) {
    let (to_head, to_tail) = out.split_at_mut(head.len());
    if !head.is_empty() {
        crate::copy::copy_payload(to_head, head);
    }
    if !tail.is_empty() {
        crate::copy::copy_payload(to_tail, tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn syn() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 0x0102_0304,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 64240,
            urgent_ptr: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                sack_blocks: SackList::new(),
                timestamps: Some(Timestamps {
                    tsval: 0xdead_beef,
                    tsecr: 0,
                }),
            },
            payload: &[],
        }
    }

    #[test]
    fn the_timestamp_only_layout_parses_as_the_option_walk_does() {
        let ts = Timestamps {
            tsval: 0x0102_0304,
            tsecr: 0xa0b0_c0d0,
        };
        let only_ts = TcpOptions {
            timestamps: Some(ts),
            ..TcpOptions::default()
        };
        let mut buf = [0u8; 12];
        assert_eq!(only_ts.emit(&mut buf), Ok(12));
        assert_eq!(buf[..4], [kind::NOP, kind::NOP, kind::TIMESTAMPS, 10]);
        assert_eq!(TcpOptions::parse(&buf), Ok(only_ts));
        // The same list with the NOPs after the option, and with a SACK block behind it, go
        // the long way and still agree.
        let mut moved = [0u8; 12];
        moved[..10].copy_from_slice(&buf[2..]);
        moved[10..].copy_from_slice(&[kind::NOP, kind::NOP]);
        assert_eq!(TcpOptions::parse(&moved), Ok(only_ts));
        let mut sacked = only_ts;
        sacked.sack_blocks.push(SackBlock {
            left: 100,
            right: 200,
        });
        let mut long = [0u8; 24];
        assert_eq!(sacked.emit(&mut long), Ok(24));
        assert_eq!(TcpOptions::parse(&long), Ok(sacked));
        // A timestamp option of the wrong length is still refused, whatever precedes it.
        let mut bad = buf;
        bad[3] = 9;
        assert!(TcpOptions::parse(&bad).is_err());
    }

    #[test]
    fn linux_syn_layout() {
        let r = syn();
        let mut buf = [0u8; 64];
        let n = r.emit(&mut buf, SRC, DST).unwrap();
        assert_eq!(n, 40);
        assert_eq!(
            &buf[20..40],
            &[
                2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 1, 3, 3, 7
            ]
        );
        let back = TcpRepr::parse_bytes(&buf[..n], SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn layouts_without_combination() {
        let mut o = TcpOptions {
            sack_permitted: true,
            ..TcpOptions::default()
        };
        let mut b = [0u8; 40];
        assert_eq!(o.emit(&mut b), Ok(4));
        assert_eq!(&b[..4], &[1, 1, 4, 2]);
        o.sack_permitted = false;
        o.timestamps = Some(Timestamps { tsval: 1, tsecr: 2 });
        assert_eq!(o.emit(&mut b), Ok(12));
        assert_eq!(&b[..4], &[1, 1, 8, 10]);
    }

    #[test]
    fn sack_capacity_with_and_without_timestamps() {
        let mut o = TcpOptions::default();
        for i in 0..4 {
            assert!(o.sack_blocks.push(SackBlock {
                left: i * 100,
                right: i * 100 + 50
            }));
        }
        assert_eq!(o.wire_len(), 36);
        let mut b = [0u8; 40];
        assert_eq!(o.emit(&mut b), Ok(36));
        assert_eq!(TcpOptions::parse(&b[..36]), Ok(o));
        o.timestamps = Some(Timestamps::default());
        assert_eq!(o.emit(&mut b), Err(Error::OptionsTooLong));
        let mut r = syn();
        r.options = o;
        assert!(!r.options_fit());
        assert_eq!(
            r.emit(&mut [0u8; 100], SRC, DST),
            Err(Error::OptionsTooLong)
        );
        // Three blocks with timestamps is exactly the 40-byte limit.
        let mut three = SackList::new();
        for blk in &o.sack_blocks.as_slice()[..3] {
            three.push(*blk);
        }
        r.options.sack_blocks = three;
        r.options.mss = None;
        r.options.window_scale = None;
        r.options.sack_permitted = false;
        assert_eq!(r.header_len(), 60);
        let n = r.emit(&mut [0u8; 100], SRC, DST).unwrap();
        assert_eq!(n, 60);
    }

    #[test]
    fn malformed_options_are_errors() {
        let cases: &[&[u8]] = &[
            &[2],                         // no length byte
            &[2, 0],                      // length 0
            &[2, 1],                      // length 1
            &[2, 4, 5],                   // runs past the end
            &[2, 3, 5],                   // MSS wrong length
            &[3, 4, 7, 0],                // WS wrong length
            &[4, 3, 0],                   // SACK-permitted wrong length
            &[8, 9, 0, 0, 0, 0, 0, 0, 0], // TS wrong length
            &[5, 2],                      // SACK with no block
            &[5, 9, 0, 0, 0, 0, 0, 0, 0], // SACK not 2 + 8n
            &[99, 1],                     // unknown kind, length 1
            &[99, 5, 0, 0],               // unknown kind past the end
        ];
        for c in cases {
            assert_eq!(TcpOptions::parse(c), Err(Error::BadOption), "{c:?}");
        }
    }

    #[test]
    fn unknown_options_skipped_and_eol_stops() {
        // Unknown kind 30 (MPTCP) with 2 data bytes, then MSS, then EOL and garbage.
        let opts = [30, 4, 0xaa, 0xbb, 2, 4, 0x02, 0x18, 0, 0xff, 0xff, 0xff];
        let o = TcpOptions::parse(&opts).unwrap();
        assert_eq!(o.mss, Some(536));
        let kinds: [Option<Result<TcpOption<'_>, Error>>; 4] = {
            let mut it = TcpOptionIter::new(&opts);
            [it.next(), it.next(), it.next(), it.next()]
        };
        assert_eq!(
            kinds,
            [
                Some(Ok(TcpOption::Unknown {
                    kind: 30,
                    data: &[0xaa, 0xbb]
                })),
                Some(Ok(TcpOption::Mss(536))),
                Some(Ok(TcpOption::EndOfList)),
                None
            ]
        );
    }

    #[test]
    fn view_rejects_bad_lengths() {
        let mut b = [0u8; 24];
        b[12] = 0x40; // data offset 4 words
        assert_eq!(
            TcpPacket::new_checked(&b[..]).err(),
            Some(Error::BadHeaderLength)
        );
        b[12] = 0x60; // 24 bytes: fits exactly
        assert!(TcpPacket::new_checked(&b[..]).is_ok());
        b[12] = 0x70; // 28 bytes: past the end
        assert_eq!(TcpPacket::new_checked(&b[..]).err(), Some(Error::Truncated));
        assert_eq!(
            TcpPacket::new_checked(&b[..19]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn a_gathered_segment_checksums_whatever_its_size_and_split() {
        // Short payloads are summed after the copy, long ones during it: on both sides of
        // the switch, split anywhere between the two pieces and at either parity, the
        // segment must verify and carry the bytes in order.
        let mut bytes = [0u8; 2 * SUM_AFTER_COPY + 3];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(151).wrapping_add(7);
        }
        let mut buf = [0u8; 2 * SUM_AFTER_COPY + 80];
        for len in (0..=bytes.len()).filter(|l| l % 16 < 3 || l.abs_diff(SUM_AFTER_COPY) < 3) {
            for split in [0, 1, len / 2, len.saturating_sub(1), len] {
                let split = split.min(len);
                let r = TcpRepr {
                    flags: TcpFlags::ACK,
                    payload: &bytes[..split],
                    ..syn()
                };
                let n = r
                    .emit_gather(&mut buf, SRC, DST, &bytes[split..len], ChecksumMode::Verify)
                    .unwrap();
                let back = TcpRepr::parse_bytes(&buf[..n], SRC, DST, ChecksumMode::Verify)
                    .unwrap_or_else(|e| panic!("{len} split at {split}: {e:?}"));
                assert_eq!(back.payload, &bytes[..len], "{len} split at {split}");
            }
        }
    }

    #[test]
    fn checksum_is_verified_and_can_be_ignored() {
        let r = TcpRepr {
            payload: b"hello",
            ..syn()
        };
        let mut buf = [0u8; 80];
        let n = r.emit(&mut buf, SRC, DST).unwrap();
        buf[n - 1] ^= 1;
        assert_eq!(
            TcpRepr::parse_bytes(&buf[..n], SRC, DST, ChecksumMode::Verify),
            Err(Error::BadChecksum)
        );
        let back = TcpRepr::parse_bytes(&buf[..n], SRC, DST, ChecksumMode::Ignore).unwrap();
        assert_eq!(back.payload, b"helln");
        // A different pseudo-header also breaks it: the checksum covers the addresses.
        buf[n - 1] ^= 1;
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(
            TcpRepr::parse_bytes(&buf[..n], SRC, other, ChecksumMode::Verify),
            Err(Error::BadChecksum)
        );
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(
            TcpRepr::parse_bytes(&buf[..n], SRC, v6, ChecksumMode::Verify),
            Err(Error::AddressFamilyMismatch)
        );
        assert_eq!(r.emit(&mut buf, v6, DST), Err(Error::AddressFamilyMismatch));
        assert_eq!(r.emit(&mut buf[..44], SRC, DST), Err(Error::BufferTooSmall));
    }

    #[test]
    fn setters_round_trip_through_getters() {
        let mut b = [0u8; 20];
        let mut p = TcpPacket::new_unchecked(&mut b[..]);
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_seq_number(3);
        p.set_ack_number(4);
        p.set_header_len(20);
        p.set_flags(TcpFlags::ACK | TcpFlags::PSH);
        p.set_window_len(5);
        p.set_urgent_ptr(6);
        p.set_checksum(7);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (
                p.src_port(),
                p.dst_port(),
                p.seq_number(),
                p.ack_number(),
                p.header_len(),
                p.flags(),
                p.window_len(),
                p.urgent_ptr(),
                p.checksum()
            ),
            (1, 2, 3, 4, 20, TcpFlags::ACK | TcpFlags::PSH, 5, 6, 7)
        );
        assert!(p.options().is_empty());
        assert!(p.payload().is_empty());
    }
}
