//! Bulk payload copies whose speed does not depend on where the allocator put the two buffers.
//!
//! Past a few KiB, glibc's `memcpy` on x86-64 (before 2.39) copies with the `rep movsb` string
//! instruction. On AMD Zen 3 and 4 that instruction slows down some twentyfold when the
//! destination lies 1 to 31 bytes past the source modulo the 4 KiB page: loads and stores are
//! matched on their page offset, so every load seems to hit the store just before it. Measured
//! on the bench machine (an EPYC, both buffers in L2, 65,483 bytes): 2.3 GB/s with the
//! destination 4 bytes ahead modulo 4096, 42 GB/s at 20 bytes, 52–56 GB/s anywhere else.
//!
//! Where a payload lands relative to its source follows from the page offsets of a packet
//! buffer and of a ring slot, which the allocator picks: one process ran every receive-side
//! copy at full speed, the next one ran a sixth of them twenty times slower. A copy in that
//! band is therefore made in pieces small enough that `memcpy` moves each with vector loads
//! and stores, which carry no such penalty (28–53 GB/s in the same measurement); any other
//! copy is one `memcpy`.

/// The page size the load/store alias check works over.
const PAGE: usize = 4096;

/// Destinations this far (or less) past their source, modulo [`PAGE`], are copied in pieces.
/// The slow band measured is 1–31 bytes; the margin covers a wider vector width.
const NEAR: usize = 64;

/// Below this, `memcpy` uses vector moves anyway (glibc's string-instruction threshold is at
/// least 2 KiB for every vector width), so no copy this short is split.
const SHORT: usize = 2048;

/// A piece: well under the string-instruction threshold, and long enough that the call per
/// piece costs little beside the bytes it moves.
const PIECE: usize = 1024;

/// Copies `src` into `dst`, which must be exactly as long (as `copy_from_slice` requires).
/// Inlined: a segment-sized copy pays only the compare of its length on the way to `memcpy`.
#[inline]
pub fn copy_payload(dst: &mut [u8], src: &[u8]) {
    // Both paths must refuse a mismatch alike: the pieces' `zip` alone would stop short.
    assert_eq!(dst.len(), src.len(), "copy_payload: lengths differ");
    // Only the addresses are compared, never read through: the page offset of the distance
    // between the two buffers is all that decides how the copy is made.
    if in_slow_band(dst.as_ptr() as usize, src.as_ptr() as usize, src.len()) {
        copy_in_pieces(dst, src);
    } else {
        dst.copy_from_slice(src);
    }
}

/// Whether a copy of `len` bytes from `src` to `dst` is one the string instruction slows.
/// In line, the length first: for a segment-sized copy it is one compare, where a call
/// cost a few bytes' copy thirty-odd instructions.
#[inline(always)]
fn in_slow_band(dst: usize, src: usize, len: usize) -> bool {
    len >= SHORT && (1..=NEAR).contains(&(dst.wrapping_sub(src) % PAGE))
}

#[cold]
fn copy_in_pieces(dst: &mut [u8], src: &[u8]) {
    for (to, from) in dst.chunks_mut(PIECE).zip(src.chunks(PIECE)) {
        to.copy_from_slice(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_long_copies_just_ahead_modulo_the_page_are_split() {
        let base = 0x7f00_1234_5010;
        for (ahead, split) in [(0, false), (1, true), (31, true), (64, true), (65, false)] {
            assert_eq!(in_slow_band(base + ahead, base, SHORT), split, "{ahead}");
            // The same page offset a whole number of pages further on.
            assert_eq!(in_slow_band(base + 3 * PAGE + ahead, base, SHORT), split);
        }
        // Behind the source, or too short for the string instruction: one copy.
        assert!(!in_slow_band(base - 8, base, 1 << 16));
        assert!(!in_slow_band(base + 8, base, SHORT - 1));
    }

    #[test]
    fn both_ways_copy_exactly_the_bytes() {
        let src: [u8; 3 * PAGE] = core::array::from_fn(|i| (i * 7 + i / 251) as u8);
        for len in [0, 1, PIECE - 1, PIECE, PIECE + 1, SHORT, 2 * PAGE + 17] {
            for from in [0, 5, 1000] {
                for copy in [copy_in_pieces, copy_payload] {
                    let mut dst = [0xa5u8; 3 * PAGE];
                    let to = from + 3;
                    copy(&mut dst[to..to + len], &src[from..from + len]);
                    assert_eq!(dst[to..to + len], src[from..from + len], "{from} {len}");
                    assert!(dst[..to].iter().all(|&b| b == 0xa5));
                    assert!(dst[to + len..].iter().all(|&b| b == 0xa5));
                }
            }
        }
    }
}
