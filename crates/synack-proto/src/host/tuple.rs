//! The demux key: a connection's 4-tuple packed into 38 bytes instead of two 32-byte
//! `SocketAddr`s, since every connection and every TIME-WAIT entry keeps one (and the demux
//! table one more per bucket).

use core::hash::{Hash, Hasher};
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

/// The fields as plain bytes, without the length prefixes a derived `Hash` adds for arrays:
/// fewer SipHash rounds per packet.
impl Hash for Tuple {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write(&self.local_ip);
        h.write(&self.remote_ip);
        h.write_u32(u32::from(self.local_port) << 16 | u32::from(self.remote_port));
        h.write_u8(u8::from(self.v6));
    }
}

fn pack(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&a.octets());
            o
        }
        IpAddr::V6(a) => a.octets(),
    }
}

fn unpack(b: [u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}

impl Tuple {
    /// `local` and `remote` are of one family (the host never pairs two).
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Tuple {
        Tuple {
            local_ip: pack(local.ip()),
            remote_ip: pack(remote.ip()),
            local_port: local.port(),
            remote_port: remote.port(),
            v6: local.is_ipv6(),
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
}
