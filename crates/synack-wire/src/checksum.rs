//! The Internet checksum (RFC 1071) and the pseudo-headers TCP and ICMPv6 cover.
//!
//! The sum is computed over native-endian words and folded at the end. RFC 1071 §2(B) shows
//! the one's-complement sum is byte-order independent up to a final byte swap, and §2(C) that
//! it can be taken over any word size that is a multiple of 16 bits, or deferred as plain sums
//! while they cannot overflow, so four or eight bytes per addition give the same 16-bit result
//! as the textbook loop.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Error;

/// Whether a parser verifies checksums.
///
/// `Ignore` exists for inputs whose checksum has already been checked (e.g. by a NIC's offload)
/// or deliberately left blank by a test harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    #[default]
    Verify,
    Ignore,
}

/// A running one's-complement sum that accepts data in pieces of any length.
///
/// Pieces are treated as one contiguous byte stream: a piece that ends on an odd byte leaves the
/// next piece starting in the low half of a 16-bit word, as RFC 1071 requires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    /// One's-complement sum (end-around carry) of the pieces' unfolded native-endian sums,
    /// each already turned to its place in the stream; folded only when read.
    acc: u64,
    /// True when the stream so far has an odd number of bytes.
    odd: bool,
}

impl Checksum {
    pub const fn new() -> Checksum {
        Checksum { acc: 0, odd: false }
    }

    /// Adds `data` as the continuation of the stream.
    #[inline]
    pub fn add(&mut self, data: &[u8]) -> &mut Self {
        self.take_part(sum_native(data), data.len())
    }

    /// Copies `src` to the start of `dst` and adds it as the continuation of the stream, a
    /// chunk at a time: each chunk is summed while it is still in the first-level cache from
    /// its copy, so the bytes come from memory once (RFC 1071 §4 suggests folding the sum
    /// into the copy). A `dst` shorter than `src` is `Error::BufferTooSmall`, with nothing
    /// copied or added.
    pub fn add_copy(&mut self, src: &[u8], dst: &mut [u8]) -> Result<&mut Self, Error> {
        let dst = dst.get_mut(..src.len()).ok_or(Error::BufferTooSmall)?;
        Ok(self.take_part(sum_copy(src, dst), src.len()))
    }

    /// Adds the unfolded native sum of a piece of `len` bytes.
    #[inline]
    fn take_part(&mut self, sum: u64, len: usize) -> &mut Self {
        // A piece that starts at an odd stream offset has its bytes in the opposite halves of
        // each 16-bit word; RFC 1071 §2(B) lets us fix that with one byte swap of its folded
        // sum. Rotating the unfolded 64-bit sum by a byte is the same correction without the
        // fold: both multiply by 2^8 modulo 2^16 - 1, which divides 2^64 - 1, and neither
        // turns a non-zero sum into zero, so the folded result is identical.
        let part = if self.odd { sum.rotate_left(8) } else { sum };
        self.acc = add_carry(self.acc, part);
        self.odd ^= len % 2 == 1;
        self
    }

    /// Adds a piece made of whole 32-bit words (a TCP header with its options, whose length
    /// the data offset counts in them), a word per addition: for the few words of a header
    /// this is shorter than the general loop, which is built for long payloads. The piece
    /// must start at an even offset of the stream, as a header does.
    #[inline]
    pub(crate) fn add_words(&mut self, words: &[u8]) -> &mut Self {
        debug_assert!(words.len() % 4 == 0 && !self.odd);
        let mut s = 0u64;
        for w in words.chunks_exact(4) {
            // Each word is below 2^32, so 2^32 of them could carry out of 64 bits; a header
            // has at most 15.
            s += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        }
        self.acc = add_carry(self.acc, s);
        self
    }

    /// Adds a big-endian `u16`, as a two-byte piece of the stream.
    pub fn add_u16(&mut self, v: u16) -> &mut Self {
        self.add(&v.to_be_bytes())
    }

    /// Adds a big-endian `u32`, as a four-byte piece of the stream.
    pub fn add_u32(&mut self, v: u32) -> &mut Self {
        self.add(&v.to_be_bytes())
    }

    /// The folded one's-complement sum, in host order (not complemented).
    pub fn sum(&self) -> u16 {
        u16::from_be(fold_native(self.acc))
    }

    /// The checksum to store in a header: the complement of [`Checksum::sum`].
    ///
    /// Over data that already contains a correct checksum this is 0.
    pub fn finish(&self) -> u16 {
        !self.sum()
    }
}

/// The checksum of a received segment whose pseudo-header and header are summed but whose
/// payload is not yet: the payload is summed later, as it is copied to where it is kept, so its
/// bytes come from memory once (RFC 1071 §4 suggests folding the sum into the copy). Until it
/// says the sum is right, nothing in the segment may be acted on (RFC 9293 §3.1: the checksum
/// covers header, payload and pseudo-header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingChecksum {
    /// Pseudo-header and TCP header (its checksum field included) summed.
    summed: Checksum,
}

impl PendingChecksum {
    /// From the sum of the pseudo-header and the TCP header with its checksum field.
    pub fn new(summed: Checksum) -> PendingChecksum {
        PendingChecksum { summed }
    }

    /// Whether the segment verifies with `payload` as its data.
    pub fn verify(self, payload: &[u8]) -> bool {
        let mut c = self.summed;
        c.add(payload).finish() == 0
    }

    /// [`PendingChecksum::verify`] while copying the front of `payload` into `first` and
    /// what follows into `second`, as much as the two hold; the rest is summed where it
    /// lies. The copies are worth nothing unless the answer is true.
    pub fn verify_copy(self, payload: &[u8], first: &mut [u8], second: &mut [u8]) -> bool {
        let mut c = self.summed;
        let a = payload.len().min(first.len());
        let (head, rest) = payload.split_at(a);
        let b = rest.len().min(second.len());
        let (mid, tail) = rest.split_at(b);
        // Each destination is cut to its piece, so neither copy can be refused.
        let copied =
            c.add_copy(head, &mut first[..a]).is_ok() && c.add_copy(mid, &mut second[..b]).is_ok();
        copied && c.add(tail).finish() == 0
    }
}

/// Folds a 64-bit end-around-carry sum down to 16 bits.
#[inline]
fn fold_native(s: u64) -> u16 {
    // Each halving is one add with end-around carry, which never overflows again (as in
    // `add_carry`) and turns no non-zero sum into zero.
    let (t, c) = (s as u32).overflowing_add((s >> 32) as u32);
    let t = t + u32::from(c);
    let (u, c) = (t as u16).overflowing_add((t >> 16) as u16);
    u + u16::from(c)
}

/// Adds with end-around carry, which keeps a 64-bit one's-complement sum exact.
#[inline(always)]
fn add_carry(a: u64, b: u64) -> u64 {
    let (s, c) = a.overflowing_add(b);
    // When the add overflowed, s <= 2^64 - 2, so adding the carry back cannot overflow again.
    s + u64::from(c)
}

#[inline(always)]
fn word(c: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(c);
    u64::from_ne_bytes(w)
}

/// Bytes summed by one pass of [`sum_span`]: 2^15 words, so that neither of its 32-bit
/// accumulators can overflow (each takes at most 2^15 * (2^16 - 1) < 2^32).
const SPAN: usize = 4 << 15;

/// One's-complement sum of `data` as native-endian words with the tail zero-padded.
#[inline]
fn sum_native(data: &[u8]) -> u64 {
    if data.len() <= SHORT {
        sum_short(data)
    } else {
        sum_long(data)
    }
}

/// [`sum_native`] of more than [`SHORT`] bytes, out of line: the short sum, taken by every
/// small segment, then saves none of the registers the vectorized loop needs.
#[inline(never)]
fn sum_long(data: &[u8]) -> u64 {
    data.chunks(SPAN).map(sum_span).fold(0, add_carry)
}

/// Up to this many bytes (a header with its options and a few bytes of text: every segment of
/// a request/response exchange) [`sum_short`] beats the vectorized loop, whose setup and
/// leftover words cost more than a handful of scalar adds.
const SHORT: usize = 64;

/// [`sum_native`] of at most [`SHORT`] bytes, as 64-bit words split into their 32-bit halves
/// (RFC 1071 §2(C) again): each half-sum stays below 2^33, so a few of them need no carry.
#[inline(always)]
fn sum_short(data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(8);
    let mut s = 0u64;
    for w in &mut words {
        let w = u64::from_ne_bytes(<[u8; 8]>::try_from(w).unwrap_or_default());
        s += (w & 0xffff_ffff) + (w >> 32);
    }
    // The last 0–7 bytes, zero-padded (RFC 1071's rule for odd lengths), moved in pieces of
    // a size the compiler can see: a copy of unknown length would be a call to `memcpy`.
    let rest = words.remainder();
    let mut tail = [0u8; 8];
    let mut at = 0;
    if rest.len() >= 4 {
        tail[..4].copy_from_slice(&rest[..4]);
        at = 4;
    }
    if rest.len() >= at + 2 {
        tail[at..at + 2].copy_from_slice(&rest[at..at + 2]);
        at += 2;
    }
    if let Some(&b) = rest.get(at) {
        tail[at] = b;
    }
    let w = u64::from_ne_bytes(tail);
    s + (w & 0xffff_ffff) + (w >> 32)
}

/// [`sum_native`] of at most [`SPAN`] bytes, as 32-bit words.
///
/// Each word is split into its two 16-bit halves, whose plain sums need no end-around carry
/// while they fit 32 bits (RFC 1071 §2(C): the halves are what is being summed). Summing the
/// words themselves with wrap-around and only their high halves exactly gives both halves'
/// sums: the low halves' sum is the words' sum less 2^16 times the high halves' sum, and it is
/// below 2^32, so it is exact modulo 2^32. The loop is then two independent plain additions
/// and a shift per word, the form the loop vectorizer turns into packed 32-bit adds with
/// baseline SSE2 (four words per instruction), where a carry chain stays scalar.
#[inline(always)]
fn sum_span(data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    let (mut all, mut high) = (0u32, 0u32);
    for w in &mut words {
        // Every chunk is four bytes, so the default is never taken; written this way the loop
        // still vectorizes, where spelling out the four bytes keeps it scalar (measured).
        let w = u32::from_ne_bytes(<[u8; 4]>::try_from(w).unwrap_or_default());
        all = all.wrapping_add(w);
        high += w >> 16;
    }
    let low = all.wrapping_sub(high << 16);
    // Zero padding after the last byte is exactly RFC 1071's rule for odd lengths.
    let rest = words.remainder();
    // Byte by byte: a copy of a length the compiler cannot see is a call to `memcpy`, which
    // costs as much as summing a whole 20-byte header (measured).
    let mut tail = [0u8; 4];
    for (t, b) in tail.iter_mut().zip(rest) {
        *t = *b;
    }
    u64::from(low) + u64::from(high) + u64::from(u32::from_ne_bytes(tail))
}

/// Bytes copied at a time before they are summed: small enough that the source is still in
/// the first-level cache when the sum reads it again, large enough that each `memcpy` runs at
/// full speed, and no longer than the copies `crate::copy` keeps away from string
/// instructions. Summing each word on its way through a register, as RFC 1071 §4 suggests,
/// ties the copy to the scalar loop; the optimiser also hoists such a loop's stores into one
/// `memcpy` of the whole buffer, after which the sum reads it all again from further away.
const COPY_CHUNK: usize = 2048;

/// [`sum_native`] of `src`, copied into `dst` (the same length).
fn sum_copy(src: &[u8], dst: &mut [u8]) -> u64 {
    let mut acc = 0;
    for (from, to) in src.chunks(COPY_CHUNK).zip(dst.chunks_mut(COPY_CHUNK)) {
        to.copy_from_slice(from);
        // The source, not the copy: the copy's bytes may still sit in the store buffer in
        // pieces a load cannot be served from whole, and waiting for them costs more than
        // reading the source again from the first-level cache.
        acc = add_carry(acc, sum_span(from));
    }
    acc
}

/// The checksum of one contiguous buffer.
pub fn checksum(data: &[u8]) -> u16 {
    Checksum::new().add(data).finish()
}

/// [`checksum`] of a header made of 32-bit words, as an IPv4 header is (its length is counted
/// in them): a word per addition with no tail to pad, a handful of steps for the 20 bytes
/// every datagram sent and received has. Bytes past the last whole word are summed as
/// [`checksum`] would.
pub fn header_checksum(data: &[u8]) -> u16 {
    // The header of every IPv4 datagram without options: five words, no loop.
    match <&[u8; 20]>::try_from(data) {
        Ok(h) => header_checksum_20(h),
        Err(_) => header_checksum_long(data),
    }
}

/// [`header_checksum`] of the 20 bytes of an IPv4 header without options. Inlined where a
/// header is built, which sums the words it has just put together without a call.
#[inline(always)]
pub(crate) fn header_checksum_20(h: &[u8; 20]) -> u16 {
    let w = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    !u16::from_be(fold_native(w(0) + w(4) + w(8) + w(12) + w(16)))
}

/// [`header_checksum`] of a header with options (or of any other length): out of line, so
/// that the registers its loop needs are not saved and restored on every 20-byte header.
#[cold]
#[inline(never)]
fn header_checksum_long(data: &[u8]) -> u16 {
    let mut words = data.chunks_exact(4);
    let mut s = 0u64;
    for w in &mut words {
        // Each word is below 2^32: an IP header's at most 15 cannot carry out of 64 bits.
        s += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        s = add_carry(s, sum_native(rest));
    }
    !u16::from_be(fold_native(s))
}

/// The IPv4 pseudo-header (RFC 9293 §3.1): source, destination, zero, protocol, TCP length.
///
/// Its three 32-bit words are added as numbers rather than laid out and summed as bytes: a
/// 32-bit word is two 16-bit words in one, and 2^32 is 1 modulo 2^16 - 1 (RFC 1071 §2(C)).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> Checksum {
    let [l0, l1] = len.to_be_bytes();
    let acc = u64::from(u32::from_ne_bytes(src.octets()))
        + u64::from(u32::from_ne_bytes(dst.octets()))
        + u64::from(u32::from_ne_bytes([0, protocol, l0, l1]));
    Checksum { acc, odd: false }
}

/// The IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit upper-layer length,
/// three zero bytes, next header; summed as 64-bit words, as [`pseudo_header_v4`] does.
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> Checksum {
    let [l0, l1, l2, l3] = len.to_be_bytes();
    let (s, d) = (src.octets(), dst.octets());
    let addrs = add_carry(
        add_carry(word(&s[..8]), word(&s[8..])),
        add_carry(word(&d[..8]), word(&d[8..])),
    );
    let last = u64::from_ne_bytes([l0, l1, l2, l3, 0, 0, 0, next_header]);
    Checksum {
        acc: add_carry(addrs, last),
        odd: false,
    }
}

/// The pseudo-header for either family. Fails when the families differ, or when `len` does not
/// fit IPv4's 16-bit length field.
#[inline]
pub fn pseudo_header(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    len: usize,
) -> Result<Checksum, Error> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = u16::try_from(len).map_err(|_| Error::TooLong)?;
            Ok(pseudo_header_v4(s, d, protocol, len))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u32::try_from(len).map_err(|_| Error::TooLong)?;
            Ok(pseudo_header_v6(s, d, protocol, len))
        }
        _ => Err(Error::AddressFamilyMismatch),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    /// The textbook loop from RFC 1071 §4.1, kept deliberately simple as the reference.
    fn naive(data: &[u8]) -> u16 {
        let mut sum: u64 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            sum += u64::from(u16::from_be_bytes([data[i], data[i + 1]]));
            i += 2;
        }
        if i < data.len() {
            sum += u64::from(data[i]) << 8;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// xorshift64*: a tiny deterministic generator so these tests need no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn a_header_summed_by_words_then_its_payload_matches_the_reference() {
        let mut rng = Rng(0x5eed_f7c9);
        for words in 0..=15 {
            for payload in [0, 1, 2, 3, 7, 40] {
                let len = 12 + 4 * words + payload;
                let data: std::vec::Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                // A pseudo-header, a header of whole words, then a payload of any length.
                let (pseudo, rest) = data.split_at(12);
                let (header, body) = rest.split_at(4 * words);
                let mut c = Checksum::new();
                c.add(pseudo).add_words(header).add(body);
                assert_eq!(c.finish(), naive(&data), "{words} words, {payload} bytes");
            }
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 worked example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let mut c = Checksum::new();
        c.add(&data);
        assert_eq!(c.sum(), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn a_header_of_words_sums_as_any_buffer_does() {
        let mut rng = Rng(0x5eed_4ead_e7c5_0002);
        let mut buf = [0u8; 64 + 8];
        for _ in 0..2000 {
            for b in buf.iter_mut() {
                *b = rng.next() as u8;
            }
            let start = (rng.next() % 8) as usize;
            let len = (rng.next() % 64) as usize;
            let data = &buf[start..start + len];
            assert_eq!(
                header_checksum(data),
                naive(data),
                "start {start} len {len}"
            );
        }
        assert_eq!(header_checksum(&[0xff; 60]), naive(&[0xff; 60]));
        assert_eq!(header_checksum(&[]), 0xffff);
    }

    #[test]
    fn empty_and_all_ones() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0xff; 1000]), 0x0000);
        assert_eq!(naive(&[0xff; 1000]), 0x0000);
    }

    #[test]
    fn matches_naive_on_random_lengths_and_alignments() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let mut buf = [0u8; 4096 + 16];
        for b in buf.iter_mut() {
            *b = rng.next() as u8;
        }
        for _ in 0..3000 {
            let start = (rng.next() % 16) as usize;
            let len = (rng.next() % 4096) as usize;
            let data = &buf[start..start + len];
            assert_eq!(checksum(data), naive(data), "start {start} len {len}");
        }
        // Adversarial content: long runs of 0xff stress the carry handling.
        let ones = [0xffu8; 300];
        for len in 0..ones.len() {
            assert_eq!(checksum(&ones[..len]), naive(&ones[..len]), "len {len}");
        }
    }

    #[test]
    fn every_short_length_at_every_alignment_matches_naive() {
        // Both sides of the short path's limit, and every tail length it pieces together.
        let mut rng = Rng(0x0dd_5eed);
        let mut buf = [0u8; SHORT + 24];
        for b in buf.iter_mut() {
            *b = rng.next() as u8;
        }
        for start in 0..8 {
            for len in 0..=SHORT + 16 {
                let data = &buf[start..start + len];
                assert_eq!(checksum(data), naive(data), "start {start} len {len}");
            }
        }
    }

    #[test]
    fn incremental_equals_one_shot_for_any_split() {
        let mut rng = Rng(42);
        let mut buf = [0u8; 257];
        for b in buf.iter_mut() {
            *b = rng.next() as u8;
        }
        for _ in 0..2000 {
            let len = (rng.next() % 257) as usize;
            let data = &buf[..len];
            let a = (rng.next() as usize) % (len + 1);
            let b = a + (rng.next() as usize) % (len - a + 1);
            let mut c = Checksum::new();
            c.add(&data[..a]).add(&data[a..b]).add(&data[b..]);
            assert_eq!(c.finish(), naive(data), "len {len} split {a} {b}");
        }
    }

    #[test]
    fn a_copy_sums_as_the_bytes_do_and_leaves_them_in_place() {
        let mut rng = Rng(0x5eed_c0de_0003);
        let mut buf = [0u8; 600];
        for b in buf.iter_mut() {
            *b = rng.next() as u8;
        }
        for _ in 0..2000 {
            // A first piece of any parity, so the copied one may start at an odd offset.
            let first = (rng.next() % 9) as usize;
            let start = (rng.next() % 16) as usize;
            let len = (rng.next() % 500) as usize;
            let src = &buf[start..start + len];
            let mut dst = [0u8; 500];
            let mut c = Checksum::new();
            c.add(&buf[..first]);
            c.add_copy(src, &mut dst[..len]).unwrap();
            let mut whole = [0u8; 510];
            whole[..first].copy_from_slice(&buf[..first]);
            whole[first..first + len].copy_from_slice(src);
            assert_eq!(
                c.finish(),
                naive(&whole[..first + len]),
                "{first} {start} {len}"
            );
            assert_eq!(&dst[..len], src);
        }
        let ones = [0xffu8; 300];
        let mut dst = [0u8; 300];
        for len in 0..ones.len() {
            let mut c = Checksum::new();
            c.add_copy(&ones[..len], &mut dst[..len]).unwrap();
            assert_eq!(c.finish(), naive(&ones[..len]), "len {len}");
        }
    }

    #[test]
    fn lengths_around_the_copy_chunk_and_the_span_sum_as_the_bytes_do() {
        let mut rng = Rng(0x5eed_c0de_0007);
        let mut buf = vec![0u8; 2 * SPAN + 16];
        for b in buf.iter_mut() {
            *b = rng.next() as u8;
        }
        // All ones is the largest each accumulator can be given in a span.
        let ones = vec![0xffu8; 2 * SPAN + 16];
        let mut dst = vec![0u8; 2 * SPAN + 16];
        for data in [&buf, &ones] {
            for edge in [COPY_CHUNK, SPAN, 2 * SPAN] {
                for len in edge - 5..=edge + 5 {
                    for start in [0, 1, 3] {
                        let src = &data[start..start + len];
                        assert_eq!(checksum(src), naive(src), "{len} {start}");
                        let mut c = Checksum::new();
                        c.add_copy(src, &mut dst[1..]).unwrap();
                        assert_eq!(c.finish(), naive(src), "copy {len} {start}");
                        assert_eq!(&dst[1..1 + len], src);
                    }
                }
            }
        }
    }

    #[test]
    fn a_copy_into_a_shorter_buffer_is_refused_untouched() {
        let mut dst = [7u8; 8];
        let mut c = Checksum::new();
        assert_eq!(
            c.add_copy(&[1; 9], &mut dst).err(),
            Some(Error::BufferTooSmall)
        );
        assert_eq!(dst, [7; 8]);
        assert_eq!(c, Checksum::new());
        // A longer one keeps what lies past the copy.
        c.add_copy(&[1; 7], &mut dst).unwrap();
        assert_eq!(dst, [1, 1, 1, 1, 1, 1, 1, 7]);
        assert_eq!(c.finish(), naive(&[1; 7]));
    }

    #[test]
    fn verifying_data_with_its_checksum_gives_zero() {
        let mut rng = Rng(7);
        for len in (2..200).step_by(2) {
            let mut buf = [0u8; 200];
            for b in buf[..len].iter_mut() {
                *b = rng.next() as u8;
            }
            buf[0] = 0;
            buf[1] = 0;
            let c = checksum(&buf[..len]);
            buf[..2].copy_from_slice(&c.to_be_bytes());
            assert_eq!(checksum(&buf[..len]), 0);
        }
    }

    #[test]
    fn a_pending_sum_verifies_the_payload_it_copies_and_refuses_a_changed_one() {
        let mut rng = Rng(0x5eed_0bad_5e6d_0004);
        let mut seg = [0u8; 700];
        for _ in 0..500 {
            let len = 20 + (rng.next() % 680) as usize;
            for b in seg[..len].iter_mut() {
                *b = rng.next() as u8;
            }
            // A header of 20 bytes whose checksum field (16..18) makes the whole sum right.
            seg[16..18].copy_from_slice(&[0, 0]);
            let c = checksum(&seg[..len]);
            seg[16..18].copy_from_slice(&c.to_be_bytes());
            let mut head = Checksum::new();
            head.add(&seg[..20]);
            let pending = PendingChecksum::new(head);
            let payload = &seg[20..len];
            assert!(pending.verify(payload));
            // Room in two pieces of any sizes, possibly short of the payload.
            let n1 = (rng.next() % 400) as usize;
            let n2 = (rng.next() % 400) as usize;
            let (mut room1, mut room2) = ([0u8; 400], [0u8; 400]);
            let (a, b) = (&mut room1[..n1], &mut room2[..n2]);
            assert!(pending.verify_copy(payload, a, b), "len {len} {n1} {n2}");
            let k1 = n1.min(payload.len());
            let k2 = n2.min(payload.len() - k1);
            assert_eq!(&a[..k1], &payload[..k1]);
            assert_eq!(&b[..k2], &payload[k1..k1 + k2]);
            if payload.is_empty() {
                continue;
            }
            // Any one bit changed anywhere in the payload (copied or not) is caught.
            let at = (rng.next() as usize) % payload.len();
            let mut changed = [0u8; 700];
            let bad = &mut changed[..payload.len()];
            bad.copy_from_slice(payload);
            bad[at] ^= 1 << (rng.next() % 8);
            assert!(!pending.verify(bad));
            assert!(!pending.verify_copy(bad, a, b), "len {len} at {at}");
        }
    }

    #[test]
    fn pseudo_headers_match_spelled_out_bytes() {
        let s = Ipv4Addr::new(192, 0, 2, 1);
        let d = Ipv4Addr::new(198, 51, 100, 7);
        let bytes = [192, 0, 2, 1, 198, 51, 100, 7, 0, 6, 0x05, 0xdc];
        assert_eq!(pseudo_header_v4(s, d, 6, 1500).finish(), naive(&bytes));

        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d6: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut b6 = [0u8; 40];
        b6[..16].copy_from_slice(&s6.octets());
        b6[16..32].copy_from_slice(&d6.octets());
        b6[32..36].copy_from_slice(&70000u32.to_be_bytes());
        b6[39] = 58;
        assert_eq!(pseudo_header_v6(s6, d6, 58, 70000).finish(), naive(&b6));

        // Random addresses, lengths and protocols, each followed by a stream of pieces of
        // random lengths (odd ones shift what follows): the pseudo-header summed as numbers
        // must continue exactly as its bytes laid out would.
        let mut rng = Rng(0x5eed_95e0_0004);
        for _ in 0..2000 {
            let r = rng.next();
            let proto = r as u8;
            let (s4, d4) = (Ipv4Addr::from(r as u32), Ipv4Addr::from((r >> 32) as u32));
            let s6 = Ipv6Addr::from(u128::from(rng.next()) << 64 | u128::from(rng.next()));
            let d6 = Ipv6Addr::from(u128::from(rng.next()) << 64 | u128::from(rng.next()));
            let len = rng.next() as u32;
            let mut data = [0u8; 80];
            for b in data.iter_mut() {
                *b = rng.next() as u8;
            }
            let cut = (rng.next() % 80) as usize;
            let (a, b) = data.split_at(cut);
            let mut all = [0u8; 120];
            all[..4].copy_from_slice(&s4.octets());
            all[4..8].copy_from_slice(&d4.octets());
            all[8..12].copy_from_slice(&[0, proto, (len >> 8) as u8, len as u8]);
            all[12..92].copy_from_slice(&data);
            let mut c = pseudo_header_v4(s4, d4, proto, len as u16);
            assert_eq!(c.add(a).add(b).finish(), naive(&all[..92]));
            all[..16].copy_from_slice(&s6.octets());
            all[16..32].copy_from_slice(&d6.octets());
            all[32..40].copy_from_slice(&[0; 8]);
            all[32..36].copy_from_slice(&len.to_be_bytes());
            all[39] = proto;
            all[40..].copy_from_slice(&data);
            let mut c = pseudo_header_v6(s6, d6, proto, len);
            assert_eq!(c.add(a).add(b).finish(), naive(&all));
        }

        assert_eq!(
            pseudo_header(s.into(), d6.into(), 6, 20),
            Err(Error::AddressFamilyMismatch)
        );
        assert_eq!(
            pseudo_header(s.into(), d.into(), 6, 70000),
            Err(Error::TooLong)
        );
    }
}
