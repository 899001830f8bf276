//! Inbound packets: the script's packet in live sequence space, built as a datagram and
//! handed to the stack.

use crate::ast::*;
use crate::packet::{self, IpFields, Segment};

use super::Runner;

impl Runner {
    pub(super) fn inbound(&mut self, pos: Pos, p: &Packet) {
        if self.tfo_without_cookie && p.flags.syn && !p.flags.ack && p.len > 0 {
            return self.unsupported(
                pos,
                "TCP Fast Open (RFC 7413): data on a SYN to a server the script set to take it \
                 without a cookie",
            );
        }
        let fi = self.flow_for_inbound(p);
        self.current = Some(fi);
        let flow = self.flows[fi].clone();
        let local_off = flow.local_off(p.flags.syn);
        let options = match &p.options {
            Options::Any => {
                return self.fail(
                    pos,
                    "an inbound packet needs its options spelled out, not <...>",
                );
            }
            Options::List(list) => {
                let mut out = Vec::new();
                for o in list {
                    out.push(match o {
                        TcpOpt::Sack(blocks) => TcpOpt::Sack(
                            blocks
                                .iter()
                                .map(|(l, r)| {
                                    (l.wrapping_add(local_off), r.wrapping_add(local_off))
                                })
                                .collect(),
                        ),
                        TcpOpt::Timestamp { val, ecr } if p.flags.ack => {
                            match self.map_ts_ecr(fi, *ecr) {
                                Ok(live) => TcpOpt::Timestamp {
                                    val: *val,
                                    ecr: live,
                                },
                                Err(m) => return self.fail(pos, m),
                            }
                        }
                        other => other.clone(),
                    });
                }
                out
            }
        };
        let seg = Segment {
            src: flow.remote,
            dst: flow.local,
            flags: p.flags,
            seq: p
                .seq
                .wrapping_add(self.cfg.remote_isn)
                .wrapping_add(flow.remote_off(p.flags.syn)),
            // As packetdrill's map_inbound_packet: the field moves with synack's ISN only
            // under the ACK flag; without it the script's value goes on the wire as written.
            ack: match p.ack {
                Some(a) if p.flags.ack => a.wrapping_add(local_off),
                Some(a) => a,
                None => 0,
            },
            win: p.win.unwrap_or(0) as u16,
            urg: p.urg.unwrap_or(0),
            options,
            payload_len: p.len,
        };
        // A datagram holds at most 65535 bytes (IPv6: of payload): 20 of IPv4, 60 of TCP.
        if p.len > 65535 - 80 {
            return self.fail(
                pos,
                format!("a {}-byte payload does not fit in an IP datagram", p.len),
            );
        }
        let ip = match self.inbound_ip_fields(&p.ip, seg.src.is_ipv6()) {
            Ok(ip) => ip,
            Err(m) => return self.fail(pos, m),
        };
        let payload = vec![0u8; p.len as usize];
        match packet::build_ip(&seg, ip, &payload) {
            Ok(bytes) => {
                let now = self.instant();
                self.stack.handle_packet(now, &bytes);
            }
            Err(e) => self.fail(pos, format!("cannot build the inbound packet: {e}")),
        }
    }

    /// synack's TSval an inbound `TS ecr` echoes (RFC 7323 §3.2). As packetdrill, the echo
    /// must name a TSval the script saw synack send; `--tcp_ts_ecr_scaled` takes any other
    /// value relative to the first one. When synack's latest TSval on the flow went unchecked
    /// (`<...>`), an echo of a value the script never wrote names that latest TSval, and
    /// anchors the script's values from there. `--ts_ecr_as_written` sends whatever is left
    /// as written. Even 0 is no exception.
    fn map_ts_ecr(&mut self, fi: usize, ecr: u32) -> Result<u32, String> {
        let f = &mut self.flows[fi];
        if let Some(v) = f.ts_map.get(&ecr) {
            return Ok(*v);
        }
        match (f.first_ts, f.unchecked_tsval) {
            (Some((s, a)), _) if self.cfg.tcp_ts_ecr_scaled => {
                Ok(ecr.wrapping_sub(s).wrapping_add(a))
            }
            (_, Some(live)) => {
                f.ts_map.insert(ecr, live);
                f.first_ts.get_or_insert((ecr, live));
                Ok(live)
            }
            _ if self.cfg.ts_ecr_as_written => Ok(ecr),
            (first, None) => Err(format!(
                "cannot map TS ecr {ecr}: no outbound packet of this flow had a TS val {ecr} \
                 in the script{}",
                if first.is_some() {
                    " (--tcp_ts_ecr_scaled takes other values relative to the first)"
                } else {
                    ""
                }
            )),
        }
    }

    /// The IP header of an injected packet: what the script names, else TOS 0 and TTL 64.
    fn inbound_ip_fields(&self, info: &IpInfo, v6: bool) -> Result<IpFields, String> {
        let mut ip = IpFields::default();
        if let Some(t) = info.tos {
            ip.tos = t;
        }
        if info.ecn.as_deref() == Some("ect01") {
            return Err(
                "[ect01] means either ECT codepoint: only outbound packets may use it".into(),
            );
        }
        if let Some(e) = info.ecn_bits() {
            ip.tos = (ip.tos & !3) | e;
        }
        if let Some(t) = info.ttl {
            ip.ttl = t;
        }
        if let Some(l) = info.flow_label {
            if !v6 {
                return Err("an IPv4 header has no flow label".into());
            }
            ip.flow_label = l;
        }
        Ok(ip)
    }
}
