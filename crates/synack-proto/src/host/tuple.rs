//! The demux key: a connection's 4-tuple packed into 38 bytes instead of two 32-byte
//! `SocketAddr`s, since every connection and every TIME-WAIT entry keeps one (and the demux
//! table one more per bucket).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tuple {
    local_ip: [u8; 16],
    remote_ip: [u8; 16],
    local_port: u16,
    remote_port: u16,
    /// IPv6 rather than IPv4 (whose addresses fill the first 4 bytes), so the two families
    /// never share a key.
    v6: bool,
}

/// An address as the tuple keeps it: IPv4 in the first four bytes, the rest zero. Built as
/// one word rather than byte by byte, since every segment in and out packs or unpacks two.
fn pack(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from_le_bytes(a.octets())).to_le_bytes(),
        IpAddr::V6(a) => a.octets(),
    }
}

fn unpack(b: [u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        IpAddr::V4(Ipv4Addr::from(
            (u128::from_le_bytes(b) as u32).to_le_bytes(),
        ))
    }
}

impl Tuple {
    /// `local` and `remote` are of one family (the host never pairs two).
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Tuple {
        Tuple::of(local.ip(), local.port(), remote.ip(), remote.port())
    }

    /// [`Tuple::new`] from the addresses and ports apart, as a segment's headers give them.
    pub fn of(local_ip: IpAddr, local_port: u16, remote_ip: IpAddr, remote_port: u16) -> Tuple {
        Tuple {
            local_ip: pack(local_ip),
            remote_ip: pack(remote_ip),
            local_port,
            remote_port,
            v6: local_ip.is_ipv6(),
        }
    }

    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(unpack(self.local_ip, self.v6), self.local_port)
    }

    pub fn remote(&self) -> SocketAddr {
        SocketAddr::new(unpack(self.remote_ip, self.v6), self.remote_port)
    }

    pub fn is_ipv4(&self) -> bool {
        !self.v6
    }

    /// What the demux table hashes: for IPv4 both addresses in one word and both ports in
    /// another, for IPv6 each address in two words and the ports with a family bit in a
    /// fifth. Fewer words are fewer rounds of the keyed hash every packet pays; distinct
    /// tuples always give distinct words (or a different count of them).
    pub fn hash_words(&self) -> ([u64; 5], usize) {
        let local = u128::from_le_bytes(self.local_ip);
        let remote = u128::from_le_bytes(self.remote_ip);
        let ports = u64::from(self.local_port) << 16 | u64::from(self.remote_port);
        if self.v6 {
            let w = [
                local as u64,
                (local >> 64) as u64,
                remote as u64,
                (remote >> 64) as u64,
            ];
            ([w[0], w[1], w[2], w[3], ports | 1 << 32], 5)
        } else {
            // An IPv4 address is the first four bytes, the rest zero.
            ([local as u64 | (remote as u64) << 32, ports, 0, 0, 0], 2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_families_and_keeps_them_apart() {
        let l4: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let r4: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let t = Tuple::new(l4, r4);
        assert_eq!((t.local(), t.remote()), (l4, r4));
        let l6: SocketAddr = "[a00:1::]:80".parse().unwrap();
        let r6: SocketAddr = "[c000:207::]:40000".parse().unwrap();
        let t6 = Tuple::new(l6, r6);
        assert_eq!((t6.local(), t6.remote()), (l6, r6));
        assert_ne!(t, t6);
        assert_eq!(core::mem::size_of::<Tuple>(), 38);
    }

    #[test]
    fn tuples_that_differ_in_any_field_or_family_hash_different_words() {
        let words = |l: &str, r: &str| {
            let (w, n) = Tuple::new(l.parse().unwrap(), r.parse().unwrap()).hash_words();
            w[..n].to_vec()
        };
        let all = [
            words("10.0.0.1:80", "192.0.2.7:40000"),
            words("10.0.0.2:80", "192.0.2.7:40000"),
            words("10.0.0.1:81", "192.0.2.7:40000"),
            words("10.0.0.1:80", "192.0.2.8:40000"),
            words("10.0.0.1:80", "192.0.2.7:40001"),
            words("192.0.2.7:40000", "10.0.0.1:80"),
            words("[a00:1::]:80", "[c000:207::]:40000"),
            words("[::a00:1]:80", "[::c000:207]:40000"),
            words("[::ffff:a00:1]:80", "[::ffff:c000:207]:40000"),
            words("[a00:1::]:80", "[c000:207::1]:40000"),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(all[0].len(), 2);
        assert_eq!(all[6].len(), 5);
    }
}
