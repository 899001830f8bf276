//! The IP header fields a socket sets for its connection's datagrams (`IP_TOS`, `IP_TTL`,
//! `IPV6_TCLASS`, `IPV6_UNICAST_HOPS`).
//!
//! The host emits every datagram with TOS 0 and its one hop limit; the socket table marks the
//! datagrams of a connection whose socket asked otherwise as they leave. A SYN-ACK sent before
//! `accept` belongs to the listening socket, whose options the accepted one inherits. The ECN
//! bits stay as the stack wrote them: for TCP they are the transport's (RFC 3168 §5; Linux
//! masks them out of `IP_TOS` and `IPV6_TCLASS` the same way).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use synack_wire::Ipv4Packet;

use crate::{Role, Socket, SocketTable};

/// A socket's IP header settings, per family; `None` leaves the host's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpHeaderOptions {
    /// `IP_TOS`: the DSCP bits of IPv4 datagrams (ECN bits masked off).
    pub tos: Option<u8>,
    /// `IP_TTL`.
    pub ttl: Option<u8>,
    /// `IPV6_TCLASS`: the DSCP bits of IPv6 datagrams.
    pub tclass: Option<u8>,
    /// `IPV6_UNICAST_HOPS`.
    pub hops: Option<u8>,
}

impl SocketTable {
    /// Rewrites the TOS / traffic class and TTL / hop limit of a datagram the host just
    /// emitted, when its connection's socket set them.
    pub(crate) fn mark_ip_header(&self, datagram: &mut [u8]) {
        let Some((local, remote)) = addresses(datagram) else {
            return;
        };
        let Some(ip) = self.socket_of(local, remote).map(|s| s.opts.ip) else {
            return;
        };
        match datagram[0] >> 4 {
            4 => {
                let mut p = Ipv4Packet::new_unchecked(&mut *datagram);
                if let Some(tos) = ip.tos {
                    let ecn = p.tos() & 3;
                    p.set_tos((tos & !3) | ecn);
                }
                if let Some(ttl) = ip.ttl {
                    p.set_ttl(ttl);
                }
                p.fill_checksum();
            }
            _ => {
                // Version (4 bits), traffic class (8), flow label (20), then at byte 7 the
                // hop limit (RFC 8200 §3).
                if let Some(tos) = ip.tclass {
                    let ecn = (datagram[1] >> 4) & 3;
                    let class = (tos & !3) | ecn;
                    datagram[0] = 0x60 | (class >> 4);
                    datagram[1] = (class << 4) | (datagram[1] & 0x0f);
                }
                if let Some(hops) = ip.hops {
                    datagram[7] = hops;
                }
            }
        }
    }

    /// The socket a datagram from `local` to `remote` belongs to: its connection's, else the
    /// listener on `local` (a SYN-ACK before `accept`).
    fn socket_of(&self, local: SocketAddr, remote: SocketAddr) -> Option<&Socket> {
        let conn = self.sockets.values().find(|s| match s.role {
            Role::Conn(id) => {
                self.host.local_addr(id).ok() == Some(local)
                    && self.host.peer_addr(id).ok() == Some(remote)
            }
            _ => false,
        });
        conn.or_else(|| {
            self.sockets.values().find(|s| {
                matches!(s.role, Role::Listener(_))
                    && s.bound.is_some_and(|b| {
                        b.port() == local.port()
                            && (b.ip() == local.ip() || b.ip().is_unspecified())
                    })
            })
        })
    }
}

/// Source and destination of a TCP datagram, read straight from the headers the host wrote.
fn addresses(d: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let (src, dst, tcp) = match d.first()? >> 4 {
        4 => {
            let ihl = usize::from(d[0] & 0x0f) * 4;
            let a: [u8; 4] = d.get(12..16)?.try_into().ok()?;
            let b: [u8; 4] = d.get(16..20)?.try_into().ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(a)),
                IpAddr::V4(Ipv4Addr::from(b)),
                d.get(ihl..)?,
            )
        }
        6 => {
            let a: [u8; 16] = d.get(8..24)?.try_into().ok()?;
            let b: [u8; 16] = d.get(24..40)?.try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(a)),
                IpAddr::V6(Ipv6Addr::from(b)),
                d.get(40..)?,
            )
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes(tcp.get(0..2)?.try_into().ok()?);
    let dport = u16::from_be_bytes(tcp.get(2..4)?.try_into().ok()?);
    Some((SocketAddr::new(src, sport), SocketAddr::new(dst, dport)))
}
