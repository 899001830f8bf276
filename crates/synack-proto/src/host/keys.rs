//! Keyed hashing: every hash the host computes over attacker-chosen input (4-tuples) is keyed
//! with a key derived from the host's secret, so nobody outside can predict collisions, ISNs,
//! cookies or port choices, and tests stay deterministic. What outsiders see (ISNs, cookies,
//! ports) and the listener table use SipHash-1-3; the demux table, which every packet looks
//! up, a folded-multiply hash ([`FoldKey`]).

use core::hash::{BuildHasher, Hash, Hasher};
use core::net::IpAddr;

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

    #[cfg(test)]
    pub fn hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.k0, self.k1)
    }

    /// The hash of a 4-tuple (plus `extra`, e.g. a time counter), as RFC 6528's F() and RFC
    /// 4987's cookie hash want it: the tuple's words (`Tuple::hash_words`, which tell any
    /// two tuples apart) then `extra`, through SipHash-1-3 a word at a time. Only the
    /// encoding is shared with the demux table; each use keeps its own key, so no hash of one
    /// use tells anything about another's.
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

/// The listener table's hashes: keys that hash as whole words ([`ListenKey`]) go through
/// SipHash-1-3's rounds one word at a time, with no buffering of partial words.
impl BuildHasher for Key {
    type Hasher = WordHasher;
    fn build_hasher(&self) -> WordHasher {
        WordHasher {
            sip: Sip::new(self),
            words: 0,
        }
    }
}

/// SipHash-1-3 over the words written, as over their little-endian bytes. Bytes written
/// otherwise go in as words of up to eight, zero-padded: still a keyed hash of them, which is
/// all a table needs, though not SipHash of the bytes.
pub(crate) struct WordHasher {
    sip: Sip,
    words: usize,
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, w: u64) {
        self.sip.compress(w);
        self.words += 1;
    }

    #[inline]
    fn finish(&self) -> u64 {
        Sip(self.sip.0).finish(self.words)
    }
}

/// A listener's address, as the listener table holds it: it hashes as one word (IPv4: address
/// and port) or three (IPv6: the address in two, the port in the third), so a lookup costs a
/// few rounds of the keyed hash; the count of words tells the families apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ListenKey {
    ip: IpAddr,
    port: u16,
}

impl ListenKey {
    pub fn new(ip: IpAddr, port: u16) -> ListenKey {
        ListenKey { ip, port }
    }
}

impl Hash for ListenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let port = u64::from(self.port);
        match self.ip {
            IpAddr::V4(a) => state.write_u64(u64::from(a.to_bits()) | port << 32),
            IpAddr::V6(a) => {
                let bits = a.to_bits();
                state.write_u64(bits as u64);
                state.write_u64((bits >> 64) as u64);
                state.write_u64(port | 1 << 16);
            }
        }
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
    /// for those bytes, without a general `Hasher`'s buffering of partial words (which the
    /// tests check the word-wise rounds against).
    #[cfg(test)]
    pub fn hash_words(&self, words: &[u64]) -> u64 {
        let mut s = Sip::new(self);
        for &m in words {
            s.compress(m);
        }
        s.finish(words.len())
    }
}

/// The demux table's key: four words derived from the host's secret, for a hash of a few
/// words built on the folded multiply (the 128-bit product of two words, its halves XORed),
/// as foldhash does.
///
/// Every packet pays for this hash, and SipHash-1-3 over a tuple's two words took ~160
/// instructions; this takes two multiplications. What the table needs from it is what a keyed
/// hash gives: without the key, nobody can tell which tuples share a bucket, so nobody can
/// pile them onto one run. Each word meets a secret before it is multiplied (a word an
/// attacker could make zero must first equal a key word he does not know). It is not a
/// pseudorandom function: ISNs, cookies and port choices, which outsiders see, keep SipHash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FoldKey {
    k: [u64; 4],
}

impl FoldKey {
    /// Four words SipHash derives from `secret` and `domain`, as [`Key::derive`] derives two.
    pub fn derive(secret: u128, domain: &[u8]) -> FoldKey {
        let base = SipHasher13::new_with_keys(secret as u64, (secret >> 64) as u64);
        FoldKey {
            k: core::array::from_fn(|i| {
                let mut h = base;
                h.write(domain);
                h.write_u8(2 + i as u8);
                h.finish()
            }),
        }
    }

    /// The hash of `words` (a tuple's two or five, `Tuple::hash_words`): two words at a time
    /// folded into the state with the key, then the count of words and the key's last word.
    #[inline]
    pub fn hash_words(&self, words: &[u64]) -> u64 {
        let mut state = self.k[0];
        for pair in words.chunks(2) {
            let second = pair.get(1).copied().unwrap_or(0);
            state = folded_multiply(state ^ pair[0], self.k[1] ^ second);
        }
        folded_multiply(state ^ self.k[2], self.k[3] ^ words.len() as u64)
    }
}

/// The 128-bit product of `a` and `b`, its two halves XORed: every bit of either word reaches
/// the middle bits of the result.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ (full >> 64) as u64
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
    use alloc::vec;
    use core::net::SocketAddr;

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
    fn the_demux_hash_depends_on_the_secret_and_spreads_one_peers_ports() {
        let tuple = |port: u16| {
            Tuple::new(
                "10.0.0.1:80".parse().unwrap(),
                SocketAddr::new("192.0.2.7".parse().unwrap(), port),
            )
        };
        let hash = |key: &FoldKey, t: &Tuple| {
            let (words, n) = t.hash_words();
            key.hash_words(&words[..n])
        };
        let (a, b) = (
            FoldKey::derive(1, b"synack demux"),
            FoldKey::derive(2, b"synack demux"),
        );
        assert_ne!(a, b);
        assert_ne!(a, FoldKey::derive(1, b"synack ports"));
        for port in [1, 80, 40_000, 65_535] {
            assert_ne!(hash(&a, &tuple(port)), hash(&b, &tuple(port)), "{port}");
        }
        // A peer that controls only its port: its 65,536 tuples land on the demux table's
        // homes (the top bits) about as balls thrown at random would, none piled high.
        let mut homes = vec![0u32; 1 << 16];
        for port in 0..=u16::MAX {
            homes[(hash(&a, &tuple(port)) >> 48) as usize] += 1;
        }
        let fullest = homes.iter().max().copied().unwrap_or(0);
        let empty = homes.iter().filter(|&&n| n == 0).count();
        assert!(fullest <= 10, "{fullest} tuples on one home");
        // 1/e of the homes stay empty when 2^16 tuples fall on 2^16 homes at random.
        assert!((22_000..26_000).contains(&empty), "{empty} homes empty");
    }

    #[test]
    fn listener_addresses_hash_as_their_words() {
        let key = Key::derive(7, b"synack listeners");
        let hash = |ip: &str, port| key.hash_one(ListenKey::new(ip.parse().unwrap(), port));
        let v4 = u64::from(u32::from_be_bytes([10, 0, 0, 1])) | 80 << 32;
        assert_eq!(hash("10.0.0.1", 80), key.hash_words(&[v4]));
        let v6 = 0x0a00_0001_u128 << 96;
        let words = [v6 as u64, (v6 >> 64) as u64, 80 | 1 << 16];
        assert_eq!(hash("a00:1::", 80), key.hash_words(&words));
        assert_ne!(hash("10.0.0.1", 80), hash("10.0.0.1", 81));
        assert_ne!(hash("10.0.0.1", 80), hash("0.0.0.0", 80));
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
