//! Seeded randomness for link fates.
//!
//! Sampling is done here with plain integer arithmetic rather than through a distribution crate,
//! so a packet's fate depends only on the ChaCha stream, never on how some library version maps
//! bits to floats or ranges. Upgrading a dependency must not silently change recorded runs.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// SplitMix64: expands a small seed into well-mixed words. Used to derive the ChaCha key from the
/// user's `u64` seed and, per corrupted packet, to pick which bits to flip.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (returns 0 when `n == 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        below(self.next_u64(), n)
    }
}

/// Maps a uniform `u64` to `0..n` by the multiply-high method: bias is at most `n / 2^64`, far
/// below anything a simulation could observe, and it needs no rejection loop (so a fixed number
/// of draws per packet).
fn below(x: u64, n: u64) -> u64 {
    ((u128::from(x) * u128::from(n)) >> 64) as u64
}

/// One independent random stream; each link direction owns one.
#[derive(Clone, Debug)]
pub(crate) struct Stream {
    rng: ChaCha8Rng,
}

impl Stream {
    /// The two directions of a link share the key derived from `seed` and differ in the ChaCha
    /// stream number, which guarantees non-overlapping sequences.
    pub(crate) fn new(seed: u64, stream: u64) -> Stream {
        let mut mix = SplitMix64::new(seed);
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&mix.next_u64().to_le_bytes());
        }
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(stream);
        Stream { rng }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

/// A fixed set of draws taken for every packet offered to a link direction, whatever its fate
/// and whatever the configuration. Because the count never varies, packet number `k` always sees
/// the same draws for a given seed: turning on duplication does not reshuffle which packets are
/// lost, and a partition does not shift the fates of the packets after it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Draws {
    pub(crate) loss: u64,
    pub(crate) duplicate: u64,
    pub(crate) reorder: u64,
    pub(crate) corrupt: u64,
    pub(crate) jitter: u64,
    pub(crate) duplicate_jitter: u64,
    pub(crate) corrupt_bits: u64,
}

impl Draws {
    pub(crate) fn take(stream: &mut Stream) -> Draws {
        Draws {
            loss: stream.next_u64(),
            duplicate: stream.next_u64(),
            reorder: stream.next_u64(),
            corrupt: stream.next_u64(),
            jitter: stream.next_u64(),
            duplicate_jitter: stream.next_u64(),
            corrupt_bits: stream.next_u64(),
        }
    }
}

/// True with probability `p` (exactly never for 0, exactly always for 1).
pub(crate) fn chance(draw: u64, p: f64) -> bool {
    // 53 bits give every representable step of a probability in [0, 1); the shift-and-scale is
    // exact in IEEE arithmetic, so this is the same on every platform.
    let u = (draw >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    u < p
}

/// Uniform in `0..=max`.
pub(crate) fn up_to(draw: u64, max: u64) -> u64 {
    match max.checked_add(1) {
        Some(n) => below(draw, n),
        None => draw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_number_and_repeat_by_seed() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::new(7, 0);
                move |_| s.next_u64()
            })
            .collect();
        let a2: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::new(7, 0);
                move |_| s.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::new(7, 1);
                move |_| s.next_u64()
            })
            .collect();
        assert_eq!(a, a2);
        assert_ne!(a, b);
    }

    #[test]
    fn chance_edges_are_exact() {
        assert!(!chance(0, 0.0));
        assert!(chance(u64::MAX, 1.0));
        assert!(chance(0, 1e-300));
        assert!(!chance(u64::MAX, 0.999_999));
    }

    #[test]
    fn up_to_covers_the_closed_range() {
        assert_eq!(up_to(0, 10), 0);
        assert_eq!(up_to(u64::MAX, 10), 10);
        assert_eq!(up_to(u64::MAX, 0), 0);
        assert_eq!(up_to(123, u64::MAX), 123);
    }
}
