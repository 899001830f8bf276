//! Test data: bytes that differ by seed and by position, so a chunk delivered twice, out of
//! place or from another stream is caught by comparing with what was sent.

/// `len` pseudo-random bytes from `seed` (xorshift64; the same bytes on every platform).
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
