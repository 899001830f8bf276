//! An address with its prefix length, as `--addr 10.77.0.2/24` or `--addr fd00:5ac::2/64`
//! gives it: synack's own address and the subnet the TUN link shares with the kernel.
//!
//! Only test subnets are taken: private IPv4 (RFC 1918) and unique local IPv6 (RFC 4193,
//! fc00::/7), so nothing the tools configure can reach or shadow a public address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address and its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// The address as a number and its width in bits, so both families share the arithmetic.
fn bits(ip: IpAddr) -> (u128, u32) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn from_bits(n: u128, width: u32) -> IpAddr {
    if width == 32 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

impl Cidr {
    fn host_mask(&self) -> u128 {
        let (_, width) = bits(self.addr);
        let host_bits = width - u32::from(self.prefix);
        1u128.checked_shl(host_bits).map_or(u128::MAX, |m| m - 1)
    }

    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    pub fn network(&self) -> IpAddr {
        let (n, width) = bits(self.addr);
        from_bits(n & !self.host_mask(), width)
    }

    /// The `i`-th address of the subnet (0 is the network's own).
    pub fn nth(&self, i: u128) -> IpAddr {
        let (n, width) = bits(self.addr);
        from_bits((n & !self.host_mask()) | (i & self.host_mask()), width)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, wa) = bits(self.addr);
        let (b, wb) = bits(ip);
        wa == wb && a & !self.host_mask() == b & !self.host_mask()
    }

    /// The kernel's side of the link: the subnet's first host, or its second when synack
    /// took the first.
    pub fn kernel_side(&self) -> IpAddr {
        let first = self.nth(1);
        if first == self.addr {
            self.nth(2)
        } else {
            first
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parses `ADDRESS/N`: a private IPv4 address with N from 8 to 30, or a unique local IPv6
/// address with N from 48 to 126; never the subnet's network address (nor, for IPv4, its
/// broadcast address), so the kernel's side and synack's are both hosts of the subnet.
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (a, p) = s.split_once('/').ok_or_else(|| {
        format!("'{s}' is not ADDRESS/PREFIX (e.g. 10.77.0.2/24 or fd00:5ac::2/64)")
    })?;
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("'{a}' is not an IPv4 or IPv6 address"))?;
    let range = match addr {
        IpAddr::V4(v4) => {
            if !v4.is_private() {
                return Err(format!(
                    "{addr} is not a private (RFC 1918) address; synack only uses test subnets"
                ));
            }
            8..=30
        }
        IpAddr::V6(v6) => {
            // RFC 4193 §3.1: unique local addresses are fc00::/7.
            if v6.octets()[0] & 0xfe != 0xfc {
                return Err(format!(
                    "{addr} is not a unique local (RFC 4193, fc00::/7) address; synack only \
                     uses test subnets"
                ));
            }
            48..=126
        }
    };
    let prefix: u8 = p
        .parse()
        .ok()
        .filter(|p| range.contains(p))
        .ok_or_else(|| {
            format!(
                "prefix '{p}' must be a number from {} to {}",
                range.start(),
                range.end()
            )
        })?;
    let cidr = Cidr { addr, prefix };
    let host = bits(addr).0 & cidr.host_mask();
    if host == 0 {
        return Err(format!("{s} is the subnet's network address"));
    }
    if addr.is_ipv4() && host == cidr.host_mask() {
        return Err(format!("{s} is the subnet's broadcast address"));
    }
    Ok(cidr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_addresses_parse_with_their_prefix_and_the_kernel_takes_the_first_host() {
        let c = parse_cidr("10.77.0.2/24").unwrap();
        assert_eq!(c.kernel_side(), "10.77.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(c.network(), "10.77.0.0".parse::<IpAddr>().unwrap());
        assert!(c.contains("10.77.0.200".parse().unwrap()));
        assert!(!c.contains("10.77.1.1".parse().unwrap()));
        assert!(!c.contains("fd00:5ac::1".parse().unwrap()));
        let c = parse_cidr("192.168.5.1/24").unwrap();
        assert_eq!(c.kernel_side(), "192.168.5.2".parse::<IpAddr>().unwrap());
        assert!(parse_cidr("8.8.8.8/24").is_err());
        assert!(parse_cidr("10.77.0.0/24").is_err());
        assert!(parse_cidr("10.77.0.255/24").is_err());
        assert!(parse_cidr("10.77.0.2").is_err());
        assert!(parse_cidr("10.77.0.2/31").is_err());
    }

    #[test]
    fn ipv6_takes_unique_local_prefixes_only() {
        let c = parse_cidr("fd00:5ac::2/64").unwrap();
        assert!(c.is_ipv6());
        assert_eq!(c.kernel_side(), "fd00:5ac::1".parse::<IpAddr>().unwrap());
        assert_eq!(c.network(), "fd00:5ac::".parse::<IpAddr>().unwrap());
        assert_eq!(c.nth(5), "fd00:5ac::5".parse::<IpAddr>().unwrap());
        assert!(c.contains("fd00:5ac::ffff".parse().unwrap()));
        assert!(!c.contains("fd00:5ad::1".parse().unwrap()));
        assert!(!c.contains("10.77.0.1".parse().unwrap()));
        let c = parse_cidr("fd12:3456:789a:1::1/64").unwrap();
        assert_eq!(
            c.kernel_side(),
            "fd12:3456:789a:1::2".parse::<IpAddr>().unwrap()
        );
        // Global, link-local and loopback addresses are refused, as are odd prefixes.
        assert!(parse_cidr("2001:db8::2/64").is_err());
        assert!(parse_cidr("fe80::2/64").is_err());
        assert!(parse_cidr("::1/64").is_err());
        assert!(parse_cidr("fd00:5ac::2/127").is_err());
        assert!(parse_cidr("fd00:5ac::2/32").is_err());
        assert!(parse_cidr("fd00:5ac::/64").is_err());
    }
}
