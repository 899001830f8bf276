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
        let fi = self.flow_for_inbound(p.remote_port);
        self.current = Some(fi);
        let flow = self.flows[fi].clone();
        let local_off = flow.local_off.unwrap_or(0);
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
                            let live = if let Some(v) = flow.ts_map.get(ecr) {
                                *v
                            } else if let Some((s, a)) = flow.first_ts {
                                ecr.wrapping_sub(s).wrapping_add(a)
                            } else if *ecr == 0 {
                                // Nothing to echo yet (we sent no timestamp): zero stays zero.
                                0
                            } else if let Some(live) = flow.last_tsval {
                                // synack's TSvals so far matched `<...>`: the echo names the
                                // latest one, and anchors the script's values from here on.
                                let f = &mut self.flows[fi];
                                f.ts_map.insert(*ecr, live);
                                f.first_ts.get_or_insert((*ecr, live));
                                live
                            } else {
                                return self.fail(
                                    pos,
                                    format!(
                                        "cannot map TS ecr {ecr}: synack has sent no timestamp \
                                         on this connection yet"
                                    ),
                                );
                            };
                            TcpOpt::Timestamp {
                                val: *val,
                                ecr: live,
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
            seq: p.seq.wrapping_add(self.cfg.remote_isn),
            ack: p.ack.map_or(0, |a| a.wrapping_add(local_off)),
            win: p.win.unwrap_or(0) as u16,
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
