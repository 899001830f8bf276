//! Keyed hashing: every hash the host computes over attacker-chosen input (4-tuples) is
//! SipHash-1-3 under a key derived from the host's secret, so nobody outside can predict
//! collisions, ISNs, cookies or port choices, and tests stay deterministic.

use core::hash::{BuildHasher, Hasher};

use siphasher::sip::SipHasher13;

use super::tuple::Tuple;

/// A SipHash-1-3 key. Each use (demux table, ISN, ports, cookies) gets its own, derived from
/// the host secret with a domain label, so one leaking says nothing about the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    k0: u64,
    k1: u64,
}

impl Key {
    pub fn derive(secret: u128, domain: &[u8]) -> Key {
        let base = SipHasher13::new_with_keys(secret as u64, (secret >> 64) as u64);
        let mut h0 = base;
        h0.write(domain);
        h0.write_u8(0);
        let mut h1 = base;
        h1.write(domain);
        h1.write_u8(1);
        Key {
            k0: h0.finish(),
            k1: h1.finish(),
        }
    }

    pub fn hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.k0, self.k1)
    }

    /// The hash of a 4-tuple (plus `extra`, e.g. a time counter), as RFC 6528's F() and RFC
    /// 4987's cookie hash want it: the tuple's words (`Tuple::hash_words`, which tell any
    /// two tuples apart) then `extra`, through [`Key::hash_words`]. Only the encoding is
    /// shared with the demux table; each use keeps its own key, so no hash of one use
    /// tells anything about another's.
    pub fn tuple(&self, tuple: &Tuple, extra: u64) -> u64 {
        let (words, n) = tuple.hash_words();
        let mut s = Sip::new(self);
        for &m in &words[..n] {
            s.compress(m);
        }
        s.compress(extra);
        s.finish(n + 1)
    }
}

impl BuildHasher for Key {
    type Hasher = SipHasher13;
    fn build_hasher(&self) -> SipHasher13 {
        self.hasher()
    }
}

/// SipHash's initial state is the key XORed with these ("somepseudorandomlygeneratedbytes").
const INIT: [u64; 4] = [
    0x736f_6d65_7073_6575,
    0x646f_7261_6e64_6f6d,
    0x6c79_6765_6e65_7261,
    0x7465_6462_7974_6573,
];

impl Key {
    /// SipHash-1-3 of `words` read as their little-endian bytes: what [`Key::hasher`] gives
    /// for those bytes, without a general `Hasher`'s buffering of partial words. The demux
    /// table hashes every packet's 4-tuple this way, as two words (IPv4) or five (IPv6).
    #[inline]
    pub fn hash_words(&self, words: &[u64]) -> u64 {
        let mut s = Sip::new(self);
        for &m in words {
            s.compress(m);
        }
        s.finish(words.len())
    }
}

/// SipHash-1-3's state over whole 64-bit words.
struct Sip([u64; 4]);

impl Sip {
    #[inline]
    fn new(key: &Key) -> Sip {
        Sip([
            key.k0 ^ INIT[0],
            key.k1 ^ INIT[1],
            key.k0 ^ INIT[2],
            key.k1 ^ INIT[3],
        ])
    }

    /// One compression round (c = 1) for the message word `m`.
    #[inline]
    fn compress(&mut self, m: u64) {
        self.0[3] ^= m;
        sip_round(&mut self.0);
        self.0[0] ^= m;
    }

    /// The hash of the `words` words compressed so far: the last block holds only the length
    /// in bytes (mod 256) in its top byte, then three finalization rounds (d = 3), as in the
    /// SipHash paper's section 2.
    #[inline]
    fn finish(mut self, words: usize) -> u64 {
        self.compress((words as u64).wrapping_mul(8) << 56);
        self.0[2] ^= 0xff;
        for _ in 0..3 {
            sip_round(&mut self.0);
        }
        self.0[0] ^ self.0[1] ^ self.0[2] ^ self.0[3]
    }
}

#[inline]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_words_gives_sips_hash_of_their_bytes() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in 0..8 {
            for _ in 0..50 {
                let key = Key::derive(u128::from(next()) << 64 | u128::from(next()), b"demux");
                let words: [u64; 8] = core::array::from_fn(|_| next());
                let mut h = key.hasher();
                for w in &words[..n] {
                    h.write(&w.to_le_bytes());
                }
                assert_eq!(key.hash_words(&words[..n]), h.finish(), "{n} words");
            }
        }
    }

    #[test]
    fn a_tuples_hash_is_sips_hash_of_its_words_then_the_extra_word() {
        let key = Key::derive(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210, b"isn");
        for (l, r) in [
            ("10.0.0.1:80", "192.0.2.7:40000"),
            ("[a00:1::]:80", "[c000:207::]:40000"),
        ] {
            let t = Tuple::new(l.parse().unwrap(), r.parse().unwrap());
            let (words, n) = t.hash_words();
            for extra in [0, 1, u64::MAX] {
                let mut h = key.hasher();
                for w in words[..n].iter().chain([&extra]) {
                    h.write(&w.to_le_bytes());
                }
                assert_eq!(key.tuple(&t, extra), h.finish(), "{l} {r} {extra}");
            }
            assert_ne!(key.tuple(&t, 0), key.tuple(&t, 1));
        }
    }
}
