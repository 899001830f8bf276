//! Keyed hashing: every hash the host computes over attacker-chosen input (4-tuples) is
//! SipHash-1-3 under a key derived from the host's secret, so nobody outside can predict
//! collisions, ISNs, cookies or port choices, and tests stay deterministic.

use core::hash::{BuildHasher, Hasher};
use core::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher13;

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
    /// 4987's cookie hash want it.
    pub fn tuple(&self, local: SocketAddr, remote: SocketAddr, extra: u64) -> u64 {
        let mut h = self.hasher();
        write_addr(&mut h, local);
        write_addr(&mut h, remote);
        h.write_u64(extra);
        h.finish()
    }
}

pub(crate) fn write_ip(h: &mut impl Hasher, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            h.write_u8(4);
            h.write(&a.octets());
        }
        IpAddr::V6(a) => {
            h.write_u8(6);
            h.write(&a.octets());
        }
    }
}

pub(crate) fn write_addr(h: &mut impl Hasher, a: SocketAddr) {
    write_ip(h, a.ip());
    h.write_u16(a.port());
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
    pub fn hash_words(&self, words: &[u64]) -> u64 {
        let mut v = [
            self.k0 ^ INIT[0],
            self.k1 ^ INIT[1],
            self.k0 ^ INIT[2],
            self.k1 ^ INIT[3],
        ];
        // One compression round per word, the last block holding only the length in bytes
        // (mod 256) in its top byte, then three finalization rounds: SipHash with c = 1 and
        // d = 3, as in the SipHash paper's section 2.
        let last = (words.len() as u64).wrapping_mul(8) << 56;
        for &m in words.iter().chain(core::iter::once(&last)) {
            v[3] ^= m;
            sip_round(&mut v);
            v[0] ^= m;
        }
        v[2] ^= 0xff;
        for _ in 0..3 {
            sip_round(&mut v);
        }
        v[0] ^ v[1] ^ v[2] ^ v[3]
    }
}

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
}
