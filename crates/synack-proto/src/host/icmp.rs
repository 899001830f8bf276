//! ICMP errors about our TCP segments: destination unreachable as a soft error (RFC 1122
//! §4.2.3.9) and "fragmentation needed" / "packet too big" as a lower path MTU (RFC 1191,
//! RFC 8201), each accepted only after RFC 5927's checks against blind injection.

use core::net::SocketAddr;

use synack_wire::icmp::{v4, v6};
use synack_wire::ip::parse_icmp;
use synack_wire::{ChecksumMode, IcmpRepr, Icmpv4Repr, Icmpv6Repr};

use super::{Host, Target, Tuple};
use crate::error::ConnError;

/// The smallest path MTU we believe: RFC 1191 §3 never goes below 68 for IPv4, RFC 8201 §4
/// discards reports below IPv6's 1280-byte minimum link MTU. Lower reports are ignored.
const MIN_MTU_V4: u32 = 68;
const MIN_MTU_V6: u32 = 1280;

/// What an ICMP message means for TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meaning {
    /// Destination unreachable: a soft error, kept for the user.
    Unreachable(ConnError),
    /// The path MTU is at most this many bytes.
    PacketTooBig(u32),
}

/// Maps an ICMP error onto what TCP does with it; `None` for messages TCP ignores (echo, time
/// exceeded, parameter problem and the rest). The unreachable codes map onto the errors a
/// socket programmer expects from them (Linux's `icmp_err_convert` table gives the same
/// families: port unreachable is a refusal, the others say host or network).
fn meaning(icmp: &IcmpRepr<'_>) -> Option<Meaning> {
    if let Some(mtu) = icmp.reported_mtu() {
        return Some(Meaning::PacketTooBig(mtu));
    }
    let error = match *icmp {
        IcmpRepr::V4(Icmpv4Repr::DstUnreachable { code, .. }) => match code {
            v4::PORT_UNREACHABLE => ConnError::ConnectionRefused,
            // Network unreachable / unknown, and for a type of service (RFC 1122 §3.2.2.1).
            0 | 6 | 11 => ConnError::NetworkUnreachable,
            _ => ConnError::HostUnreachable,
        },
        IcmpRepr::V6(Icmpv6Repr::DstUnreachable { code, .. }) => match code {
            v6::PORT_UNREACHABLE => ConnError::ConnectionRefused,
            v6::NO_ROUTE => ConnError::NetworkUnreachable,
            _ => ConnError::HostUnreachable,
        },
        _ => return None,
    };
    Some(Meaning::Unreachable(error))
}

impl Host {
    /// An ICMP or ICMPv6 datagram from the interface.
    pub(super) fn handle_icmp(&mut self, packet: &[u8]) {
        let (ip, icmp) = match parse_icmp(packet, ChecksumMode::Verify) {
            Ok(parsed) => parsed,
            // UDP and the rest: no ICMP message at all, so no ICMP error either (Linux counts
            // them as unknown protocols, not in icmpInErrors).
            Err(synack_wire::Error::NotIcmp) => return,
            Err(_) => {
                self.counters.icmp_in_errs += 1;
                return;
            }
        };
        let Some(meaning) = meaning(&icmp) else {
            return;
        };
        if !self.is_local(ip.dst) {
            self.counters.in_addr_errors += 1;
            return;
        }
        let Ok(quoted) = icmp.quoted() else {
            self.counters.icmp_in_errs += 1;
            return;
        };
        // An ICMPv4 error quotes an IPv4 header (RFC 792), an ICMPv6 error an IPv6 one (RFC
        // 4443 §2.4(c), §3.1–§3.2). A quote of the other version is malformed, whatever
        // connection it names: an IPv4 router cannot have seen our IPv6 segment, nor report
        // an MTU for its path.
        if quoted.src.is_ipv4() != ip.src.is_ipv4() {
            self.counters.icmp_in_errs += 1;
            return;
        }
        // About someone else's protocol (UDP, ICMP itself): not ours to act on.
        let Ok(tcp) = quoted.tcp() else {
            return;
        };
        // We sent the quoted segment: its source is our side of the connection.
        let tuple = Tuple::new(
            SocketAddr::new(quoted.src, tcp.src_port),
            SocketAddr::new(quoted.dst, tcp.dst_port),
        );
        // RFC 5927 §4.1 first: the 4-tuple must name a connection of ours.
        let id = match self.demux_get(&tuple) {
            None => {
                self.counters.icmp_in_errs += 1;
                return;
            }
            // TIME-WAIT has nothing left to send; nothing an ICMP error could be about.
            Some(Target::TimeWait(_)) => return,
            Some(Target::Conn(id)) => id,
        };
        let Some(e) = self.conns.get_mut(id.0) else {
            return;
        };
        // RFC 5927 §4.1 second: the quoted sequence number must be one we sent and is not yet
        // acknowledged. A blind attacker has to guess it.
        if !e.conn.icmp_seq_acceptable(tcp.seq) {
            self.counters.out_of_window_icmps += 1;
            return;
        }
        match meaning {
            Meaning::Unreachable(error) => {
                self.counters.icmp_soft_errors += 1;
                e.conn.note_soft_error(error);
            }
            Meaning::PacketTooBig(mtu) => {
                let (min, ip_header) = if tuple.is_ipv4() {
                    (MIN_MTU_V4, 20)
                } else {
                    (MIN_MTU_V6, 40)
                };
                if mtu < min {
                    self.counters.icmp_mtu_ignored += 1;
                    return;
                }
                if e.conn.set_path_mtu(mtu, ip_header) {
                    self.counters.pmtu_lowered += 1;
                    self.after(id);
                }
            }
        }
    }
}
