//! The namespace, the TUN device and the stack on it, as the three commands share them.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use synack::device::{Device, Tun};
use synack::netns::{Netns, TunNetns};
use synack::{HostConfig, Stack};

use super::device::{Faults, Faulty, Recorded};

/// The MTU of the TUN interface: Ethernet's.
pub const MTU: usize = 1500;
/// The interface's name inside the namespace.
pub const IFNAME: &str = "synack0";

/// An IPv4 address with its prefix length, as `--addr 10.77.0.2/24` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn network(&self) -> Ipv4Addr {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        Ipv4Addr::from(u32::from(self.addr) & mask)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }

    /// The kernel's side of the link: the subnet's first host, or its second when synack
    /// took the first.
    pub fn kernel_side(&self) -> Ipv4Addr {
        let first = u32::from(self.network()) + 1;
        if first == u32::from(self.addr) {
            Ipv4Addr::from(first + 1)
        } else {
            Ipv4Addr::from(first)
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parses `A.B.C.D/N`: a private (RFC 1918) address, N from 8 to 30, and not the subnet's
/// network or broadcast address.
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not ADDRESS/PREFIX (e.g. 10.77.0.2/24)"))?;
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("'{a}' is not an IPv4 address"))?;
    let prefix: u8 = p
        .parse()
        .ok()
        .filter(|p| (8..=30).contains(p))
        .ok_or_else(|| format!("prefix '{p}' must be a number from 8 to 30"))?;
    if !addr.is_private() {
        return Err(format!(
            "{addr} is not a private (RFC 1918) address; synack only uses test subnets"
        ));
    }
    let cidr = Cidr { addr, prefix };
    let host_bits = u32::from(addr) & !u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    if host_bits == 0 || host_bits == !u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0) {
        return Err(format!("{s} is the subnet's network or broadcast address"));
    }
    Ok(cidr)
}

/// Where the stack runs and what it may hold open.
pub struct Setup {
    /// The namespace and its interface (the namespace deleted on drop when we created it).
    pub tun: TunNetns,
    pub stack: Stack,
}

/// How a command wants its namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NsMode {
    /// Create it; refuse one that exists.
    Create,
    /// Use it when it exists (left in place afterwards), else create it.
    UseOrCreate,
}

/// Makes (or opens) the namespace, puts the TUN interface into it, and starts the stack on
/// the interface with the faults and capture asked for.
pub fn start(
    netns: &str,
    mode: NsMode,
    cidr: Cidr,
    faults: Faults,
    pcap: Option<&PathBuf>,
) -> io::Result<Setup> {
    start_with(netns, mode, cidr, faults, pcap, vec![IpAddr::V4(cidr.addr)])
}

/// Like [`start`] (always creating the namespace), for a stack with no address of its own:
/// every address is its own, so it terminates whatever the interface hands it (tun2socks).
pub fn start_transparent(
    netns: &str,
    cidr: Cidr,
    faults: Faults,
    pcap: Option<&PathBuf>,
) -> io::Result<Setup> {
    start_with(netns, NsMode::Create, cidr, faults, pcap, Vec::new())
}

fn start_with(
    netns: &str,
    mode: NsMode,
    cidr: Cidr,
    faults: Faults,
    pcap: Option<&PathBuf>,
    local_addrs: Vec<IpAddr>,
) -> io::Result<Setup> {
    if let Some(why) = synack::netns::unavailable() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("cannot make a network namespace: {why} (run as root)"),
        ));
    }
    let ns = match mode {
        NsMode::Create => Netns::create(netns)?,
        NsMode::UseOrCreate => match Netns::open(netns) {
            Ok(ns) => ns,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Netns::create(netns)?,
            Err(e) => return Err(e),
        },
    };
    let (tun, dev) =
        TunNetns::with_addrs(ns, IFNAME, cidr.kernel_side(), cidr.addr, cidr.prefix, MTU)?;
    let capture = match pcap {
        Some(p) => Some(
            std::fs::File::create(p)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?,
        ),
        None => None,
    };
    let config = HostConfig {
        local_addrs,
        ..HostConfig::default()
    };
    let stack = start_stack(dev, capture, faults, config)?;
    Ok(Setup { tun, stack })
}

fn start_stack(
    dev: Tun,
    capture: Option<std::fs::File>,
    faults: Faults,
    config: HostConfig,
) -> io::Result<Stack> {
    fn with_faults(dev: impl Device, faults: Faults, config: HostConfig) -> io::Result<Stack> {
        if faults.is_none() {
            Stack::new(dev, config)
        } else {
            Stack::new(Faulty::new(dev, faults), config)
        }
    }
    match capture {
        Some(file) => with_faults(Recorded::new(dev, file)?, faults, config),
        None => with_faults(dev, faults, config),
    }
}

/// Logs every state change with the names RFC 9293 (and `synack demo`) gives the states.
pub fn log_states(stack: &Stack) {
    stack.on_state_change(|c| {
        let who = match c.addrs {
            Some((local, remote)) => format!("{local} <-> {remote}"),
            None => "(in a listener's queue)".to_string(),
        };
        eprintln!("conn {:>3} {who}: {} -> {}", c.conn, c.from, c.to);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_their_prefix_and_the_kernel_takes_the_first_host() {
        let c = parse_cidr("10.77.0.2/24").unwrap();
        assert_eq!(c.kernel_side(), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(c.network(), Ipv4Addr::new(10, 77, 0, 0));
        let c = parse_cidr("192.168.5.1/24").unwrap();
        assert_eq!(c.kernel_side(), Ipv4Addr::new(192, 168, 5, 2));
        assert!(parse_cidr("8.8.8.8/24").is_err());
        assert!(parse_cidr("10.77.0.0/24").is_err());
        assert!(parse_cidr("10.77.0.255/24").is_err());
        assert!(parse_cidr("10.77.0.2").is_err());
        assert!(parse_cidr("10.77.0.2/31").is_err());
    }
}
