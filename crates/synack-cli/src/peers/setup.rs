//! The namespace, the TUN device and the stack on it, as the three commands share them.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use synack::device::{Device, Tun};
use synack::netns::Netns;
use synack::{HostConfig, Stack};

pub use super::cidr::{Cidr, parse_cidr};
use super::device::{Faults, Faulty, Recorded};
use super::queues::Queues;

/// The MTU of the TUN interface: Ethernet's.
pub const MTU: usize = 1500;
/// The interface's name inside the namespace.
pub const IFNAME: &str = "synack0";

/// Where the stack runs and what it may hold open.
pub struct Setup {
    /// Stopped first when dropped: the device goes with it, then the namespace.
    pub stack: Stack,
    /// The namespace (deleted on drop when we created it); the interface is [`IFNAME`].
    pub netns: Netns,
    /// The kernel's address on the interface.
    pub kernel: IpAddr,
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
    queues: Queues,
    faults: Faults,
    pcap: Option<&PathBuf>,
) -> io::Result<Setup> {
    start_with(netns, mode, cidr, queues, faults, pcap, vec![cidr.addr])
}

/// Like [`start`] (always creating the namespace), for a stack with no address of its own:
/// every address is its own, so it terminates whatever the interface hands it (tun2socks).
pub fn start_transparent(
    netns: &str,
    cidr: Cidr,
    queues: Queues,
    faults: Faults,
    pcap: Option<&PathBuf>,
) -> io::Result<Setup> {
    start_with(
        netns,
        NsMode::Create,
        cidr,
        queues,
        faults,
        pcap,
        Vec::new(),
    )
}

fn start_with(
    netns: &str,
    mode: NsMode,
    cidr: Cidr,
    queues: Queues,
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
    let dev = tun_in(&ns, cidr, queues)?;
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
    Ok(Setup {
        stack,
        netns: ns,
        kernel: cidr.kernel_side(),
    })
}

/// Creates the TUN interface inside `ns` with the kernel's side of `cidr` on it, and brings
/// it up, with `queues` queues. Only that one family is configured: an IPv6 link carries no
/// IPv4 address.
fn tun_in(ns: &Netns, cidr: Cidr, queues: Queues) -> io::Result<Tun> {
    let dev = ns.run(|| Tun::create_multi_queue(IFNAME, MTU, false, queues.get()))??;
    let kernel = format!("{}/{}", cidr.kernel_side(), cidr.prefix);
    if cidr.is_ipv6() {
        // `nodad`: on a point-to-point TUN there is nobody to collide with, and duplicate
        // address detection would hold the address unusable for a second or more
        // (RFC 4862 §5.4).
        ns.ip(&["addr", "add", &kernel, "dev", IFNAME, "nodad"])?;
    } else {
        ns.ip(&["addr", "add", &kernel, "dev", IFNAME])?;
    }
    ns.ip(&["link", "set", "dev", IFNAME, "mtu", &MTU.to_string(), "up"])?;
    Ok(dev)
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
