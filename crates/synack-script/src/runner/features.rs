//! What in a script packet synack cannot take part in: a feature it lacks stops the script
//! as unsupported rather than failed.

use crate::ast::*;

/// What in a TCP packet line synack cannot take part in, if anything.
pub(super) fn packet_feature(p: &Packet) -> Option<String> {
    if let Some(m) = &p.mutation {
        return Some(format!("packetdrill's packet fuzzing {{ {m} }}"));
    }
    if let Options::List(list) = &p.options {
        for o in list {
            if let TcpOpt::Unsupported(text) = o {
                let what = match text.split_whitespace().next().unwrap_or("") {
                    "FO" | "FOEXP" => "the TCP Fast Open option (RFC 7413)",
                    "md5" => "the TCP MD5 signature option (RFC 2385)",
                    _ => "the AccECN option",
                };
                return Some(format!("{what}: <{text}>"));
            }
        }
    }
    if p.flags.ae {
        return Some("AccECN (the AE flag)".into());
    }
    if p.direction == Direction::Outbound {
        if p.flags.ece || p.flags.cwr {
            return Some(format!(
                "ECN (RFC 3168): the script expects synack to send the {} flags",
                p.flags
            ));
        }
        if let Some(ecn) = p.ip.ecn.as_deref().filter(|e| *e != "noecn") {
            return Some(format!(
                "ECN (RFC 3168): the script expects an ECN-capable packet [{ecn}]"
            ));
        }
    }
    None
}
