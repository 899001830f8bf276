//! Packet formats for synack: zero-copy views over byte buffers and plain-data representations
//! that can be parsed from and emitted into them.
//!
//! This crate is `no_std`, allocates nothing and does no I/O. Every parser returns a typed
//! [`Error`] for malformed input; none of them panics on any byte sequence.
//!
//! Layers:
//! - [`checksum`]: the RFC 1071 Internet checksum and the IPv4/IPv6 pseudo-headers.
//! - [`tcp`], [`ipv4`], [`ipv6`], [`icmp`]: a `*Packet<T>` view per header (getters on any
//!   `T: AsRef<[u8]>`, setters when `T: AsMut<[u8]>`) and a `*Repr` plain-data form.
//! - [`copy`]: payload copies that stay fast wherever the allocator put the two buffers.
//! - [`ip`]: the convenience layer the host uses: whole IP datagrams carrying TCP or ICMP.
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use synack_wire::{ChecksumMode, TcpFlags, TcpOptions, TcpRepr, emit_tcp, parse_tcp, tcp_packet_len};
//!
//! let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
//! let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
//! let syn = TcpRepr {
//!     src_port: 49152,
//!     dst_port: 80,
//!     seq: 1000,
//!     ack: 0,
//!     flags: TcpFlags::SYN,
//!     window: 65535,
//!     urgent_ptr: 0,
//!     options: TcpOptions { mss: Some(1460), sack_permitted: true, ..TcpOptions::default() },
//!     payload: &[],
//! };
//! let mut buf = [0u8; 128];
//! let n = emit_tcp(&mut buf, src, dst, 64, &syn)?;
//! assert_eq!(n, tcp_packet_len(&syn, false));
//! let (ip, seg) = parse_tcp(&buf[..n], ChecksumMode::Verify)?;
//! assert_eq!((ip.src, ip.hop_limit), (src, 64));
//! assert_eq!(seg, syn);
//! # Ok::<(), synack_wire::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]

pub mod checksum;
pub mod copy;
mod error;
pub mod icmp;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod segment;
pub mod tcp;

pub use checksum::{ChecksumMode, PendingChecksum};
pub use error::Error;
pub use icmp::{IcmpRepr, Icmpv4Repr, Icmpv6Repr, QuotedHeader, QuotedTcp};
pub use ip::{
    IpHeader, emit_icmp, emit_tcp, emit_tcp_gather, emit_tcp_with, parse_icmp, parse_tcp,
    parse_tcp_deferred, tcp_packet_len,
};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use segment::segment_tcp;
pub use tcp::{
    SackBlock, SackList, TcpFlags, TcpOption, TcpOptions, TcpPacket, TcpRepr, Timestamps,
};

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers") used by this crate.
pub mod protocol {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6_ROUTING: u8 = 43;
    pub const IPV6_FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NO_NEXT_HEADER: u8 = 59;
    pub const IPV6_DEST_OPTIONS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
}

/// Reads a big-endian `u16` at `at`; `None` when the slice is too short.
#[inline]
pub(crate) fn get_u16(b: &[u8], at: usize) -> Option<u16> {
    match b.get(at..at.checked_add(2)?) {
        Some(&[x, y]) => Some(u16::from_be_bytes([x, y])),
        _ => None,
    }
}

/// Reads a big-endian `u32` at `at`; `None` when the slice is too short.
#[inline]
pub(crate) fn get_u32(b: &[u8], at: usize) -> Option<u32> {
    match b.get(at..at.checked_add(4)?) {
        Some(&[w, x, y, z]) => Some(u32::from_be_bytes([w, x, y, z])),
        _ => None,
    }
}
