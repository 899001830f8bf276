//! What the runtime's two-stack tests share: the addresses of the two stacks on the in-process
//! link, and a host configuration owning one of them.

use std::net::{IpAddr, Ipv4Addr};

use synack::HostConfig;

// Documentation addresses (RFC 5737): they exist only inside this process.
pub const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
pub const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

/// A host answering for `addr`, otherwise the defaults.
pub fn config(addr: IpAddr) -> HostConfig {
    HostConfig {
        local_addrs: vec![addr],
        ..HostConfig::default()
    }
}
