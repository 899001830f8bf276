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
