//! Packets: the socket under test, inbound packets mapped and injected through
//! `netdev_send`, outbound ones sniffed through `netdev_receive` and compared, as
//! run_packet.c and socket.h do.

use std::net::SocketAddr;

use synack_script::ast::{IpInfo, Options, Packet, TcpOpt};
use synack_script::packet::{self, IpFields, Segment};

use super::*;

impl Run {
    pub(super) fn new_ephemeral_port(&mut self) -> u16 {
        if let Some(p) = self.next_port.take() {
            return p;
        }
        let (fd, port) = ephemeral_listener();
        self.own.push(fd);
        port
    }

    /// `find_or_create_socket_for_script_packet` for an inbound TCP packet.
    pub(super) fn socket_for_inbound(&mut self, p: &Packet) -> Result<usize, String> {
        let listening = match self.sut {
            None => true,
            Some(i) => self.socks[i].state == St::Listening,
        };
        if listening {
            let mut s = Sock::new(-1, -1, St::PassivePacketReceived);
            s.live_remote = Some(SocketAddr::new(self.remote, self.new_ephemeral_port()));
            s.live_local = Some(SocketAddr::new(self.local, BIND_PORT));
            s.live_remote_isn = p.seq;
            self.socks.push(s);
            self.sut = Some(self.socks.len() - 1);
        }
        self.sut
            .ok_or_else(|| "no matching socket for script packet".into())
    }

    pub(super) fn inbound(&mut self, p: &Packet) -> Result<(), String> {
        if p.remote_port.is_some() {
            return Err("a port pair names a flow packetdrill does not follow".into());
        }
        let ip = inbound_ip(&p.ip, self.v6)?;
        let i = self.socket_for_inbound(p)?;
        let s = &mut self.socks[i];
        if s.state == St::PassiveSynackSent && p.flags.ack {
            s.state = St::PassiveSynackAcked;
        } else if s.state == St::ActiveSynSent && p.flags.syn && p.flags.ack {
            s.state = St::ActiveSynAcked;
            s.live_remote_isn = p.seq;
        }
        let (Some(local), Some(remote)) = (s.live_local, s.live_remote) else {
            return Err("the socket under test has no addresses yet".into());
        };
        let syn = p.flags.syn;
        let ack_off = s.local_off(syn);
        let Options::List(list) = &p.options else {
            return Err("<...> for TCP options can only be used with outbound packets".into());
        };
        let mut options = Vec::new();
        for o in list {
            options.push(match o {
                TcpOpt::Sack(b) => TcpOpt::Sack(
                    b.iter()
                        .map(|(l, r)| (l.wrapping_add(ack_off), r.wrapping_add(ack_off)))
                        .collect(),
                ),
                TcpOpt::Timestamp { val, ecr } if p.flags.ack => {
                    let live = match (s.ts_map.get(ecr), s.first_ts) {
                        (Some(v), _) => *v,
                        (None, Some((sv, av))) if self.ts_ecr_scaled => {
                            ecr.wrapping_sub(sv).wrapping_add(av)
                        }
                        _ => {
                            return Err(format!(
                                "unable to infer live TS ecr for script TS ecr {ecr}; no \
                                 matching or preceding outbound TS val"
                            ));
                        }
                    };
                    TcpOpt::Timestamp {
                        val: *val,
                        ecr: live,
                    }
                }
                TcpOpt::Unsupported(t) => return Err(format!("option {t}")),
                other => other.clone(),
            });
        }
        let seg = Segment {
            src: remote,
            dst: local,
            flags: p.flags,
            seq: p.seq.wrapping_add(s.remote_off(syn)),
            // map_inbound_packet moves the field only when the ACK flag is set.
            ack: if p.flags.ack {
                p.ack.unwrap_or(0).wrapping_add(ack_off)
            } else {
                p.ack.unwrap_or(0)
            },
            win: p.win.unwrap_or(0) as u16,
            urg: p.urg.unwrap_or(0),
            options,
            payload_len: p.len,
        };
        let bytes = packet::build_ip(&seg, ip, &vec![0u8; p.len as usize])?;
        s.last_injected = Some(seg);
        self.send(&bytes)
    }

    pub(super) fn send(&self, bytes: &[u8]) -> Result<(), String> {
        // SAFETY: the library's own hook on its own userdata; `bytes` is a live slice of that
        // length.
        let r = unsafe {
            (self.ifc.0.netdev_send.unwrap())(self.ifc.ud(), bytes.as_ptr().cast(), bytes.len())
        };
        if r != 0 {
            return Err(format!("netdev_send: errno {}", errno()));
        }
        Ok(())
    }

    /// `so_netdev_receive`: asks until the library returns a packet.
    pub(super) fn receive(&self) -> Result<(i64, IpFields, Segment), String> {
        let mut buf = vec![0u8; 65536];
        for _ in 0..1_000_000 {
            let mut n = buf.len();
            let mut at: libc::c_longlong = 0;
            // SAFETY: the library's own hook on its own userdata; `buf` has `n` writable bytes; `n`
            // and `at` are live
            // locals.
            let r = unsafe {
                (self.ifc.0.netdev_receive.unwrap())(
                    self.ifc.ud(),
                    buf.as_mut_ptr().cast(),
                    &mut n,
                    &mut at,
                )
            };
            if r != 0 {
                continue;
            }
            if n == 0 {
                return Err("the library reports it will never send another packet".into());
            }
            let (ip, seg) =
                packet::read_ip(&buf[..n]).ok_or("the library sent a packet that is not TCP")?;
            return Ok((at, ip, seg));
        }
        Err("netdev_receive kept failing".into())
    }

    pub(super) fn outbound(
        &mut self,
        p: &Packet,
        start: Option<i64>,
        end: Option<i64>,
        any: bool,
    ) -> Result<(), String> {
        if p.remote_port.is_some() {
            return Err("a port pair names a flow packetdrill does not follow".into());
        }
        let i = match self.sut {
            Some(i) => i,
            None => return Err("no matching socket for script packet".into()),
        };
        if self.socks[i].state == St::ActiveConnecting && p.flags.syn && !p.flags.ack {
            self.socks[i].state = St::ActiveSynSent;
            self.socks[i].script_local_isn = p.seq;
        }
        if self.socks[i].state == St::PassivePacketReceived && p.flags.syn && p.flags.ack {
            self.socks[i].script_local_isn = p.seq;
        }
        // Sniff until a packet of the socket under test.
        let (at, ip, seg) = loop {
            let (at, ip, seg) = self.receive()?;
            let s = &mut self.socks[i];
            if s.live_local == Some(seg.src) && s.live_remote == Some(seg.dst) {
                break (at, ip, seg);
            }
            if s.state == St::ActiveSynSent
                && seg.flags.syn
                && !seg.flags.ack
                && s.live_remote == Some(seg.dst)
            {
                s.live_local = Some(seg.src);
                s.live_local_isn = seg.seq;
                break (at, ip, seg);
            }
        };
        if debug() {
            eprintln!(
                "  sniffed at {}: {:?} seq {} len {}",
                at - self.live_start,
                seg.flags,
                seg.seq,
                seg.payload_len
            );
        }
        let s = &mut self.socks[i];
        if s.state == St::PassivePacketReceived && p.flags.syn && p.flags.ack {
            s.state = St::PassiveSynackSent;
            s.live_local_isn = seg.seq;
        }
        s.last_outbound = Some(seg.clone());
        let syn = seg.flags.syn;
        let seq = seg.seq.wrapping_sub(s.local_off(syn));
        let ack_off = s.remote_off(syn);
        let ack = seg.ack.wrapping_sub(ack_off);
        let mut diffs = ip_diffs(&p.ip, ip);
        if seg.flags.bits() != p.flags.bits() {
            diffs.push(format!("flags {} vs {}", p.flags, seg.flags));
        }
        if seq != p.seq {
            diffs.push(format!("seq {} vs {seq}", p.seq));
        }
        if seg.payload_len != p.len {
            diffs.push(format!("payload {} vs {}", p.len, seg.payload_len));
        }
        // packetdrill compares the whole field: without `ack N` it must be 0.
        let want_ack = p.ack.unwrap_or(0);
        let live_ack = if seg.flags.ack { ack } else { seg.ack };
        if live_ack != want_ack {
            diffs.push(format!("ack {want_ack} vs {live_ack}"));
        }
        if let Some(w) = p.win {
            if u32::from(seg.win) != w {
                diffs.push(format!("win {w} vs {}", seg.win));
            }
        }
        // Compared always, as the ack field is: without `urg N` it must be 0.
        let want_urg = p.urg.unwrap_or(0);
        if seg.urg != want_urg {
            diffs.push(format!("urg {want_urg} vs {}", seg.urg));
        }
        if let Options::List(want) = &p.options {
            let same_kinds = want.len() == seg.options.len()
                && want
                    .iter()
                    .zip(&seg.options)
                    .all(|(a, b)| std::mem::discriminant(a) == std::mem::discriminant(b));
            if !same_kinds {
                diffs.push("bad outbound TCP options".into());
            } else {
                for (w, a) in want.iter().zip(&seg.options) {
                    match (w, a) {
                        // verify_outbound_tcp_option checks a timestamp's val only, and
                        // only with --tcp_ts_tick_usecs (off by default); never its ecr.
                        (TcpOpt::Timestamp { val: sv, .. }, TcpOpt::Timestamp { val: av, .. }) => {
                            s.ts_map.insert(*sv, *av);
                            s.first_ts.get_or_insert((*sv, *av));
                        }
                        (TcpOpt::Sack(wb), TcpOpt::Sack(ab)) => {
                            let mapped: Vec<(u32, u32)> = ab
                                .iter()
                                .map(|(l, r)| (l.wrapping_sub(ack_off), r.wrapping_sub(ack_off)))
                                .collect();
                            if *wb != mapped {
                                diffs.push(format!("sack {wb:?} vs {mapped:?}"));
                            }
                        }
                        (w, a) if w != a => diffs.push(format!("option {w} vs {a}")),
                        _ => {}
                    }
                }
            }
        }
        if !diffs.is_empty() {
            return Err(format!(
                "outbound packet does not match: {}",
                diffs.join("; ")
            ));
        }
        if !any {
            let t = start.ok_or("an outbound packet needs a time")?;
            self.verify_time(t, end, at, "outbound packet")?;
        }
        Ok(())
    }
}

/// The IP header of an injected packet, as packetdrill fills it: the script's TOS (or
/// traffic class) with its ECN codepoint, TTL (or hop limit) and flow label, else TOS 0 and
/// TTL 64.
fn inbound_ip(info: &IpInfo, v6: bool) -> Result<IpFields, String> {
    let mut ip = IpFields::default();
    if let Some(t) = info.tos {
        ip.tos = t;
    }
    if info.ecn.as_deref() == Some("ect01") {
        return Err("[ect01] is for outbound packets only".into());
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

/// The IP header fields a script names that the sniffed packet does not have, as
/// packetdrill's `verify_outbound_live_ip` compares them (`[ect01]` takes either ECT).
fn ip_diffs(want: &IpInfo, got: IpFields) -> Vec<String> {
    let mut diffs = Vec::new();
    if let Some(t) = want.tos.filter(|t| *t != got.tos) {
        diffs.push(format!("tos {t:#04x} vs {:#04x}", got.tos));
    }
    let ecn = got.tos & 3;
    let ecn_ok = match want.ecn.as_deref() {
        None => true,
        Some("ect01") => ecn == 1 || ecn == 2,
        Some(_) => want.ecn_bits() == Some(ecn),
    };
    if !ecn_ok {
        diffs.push(format!("ecn {:?} vs {ecn}", want.ecn));
    }
    if let Some(t) = want.ttl.filter(|t| *t != got.ttl) {
        diffs.push(format!("ttl {t} vs {}", got.ttl));
    }
    if let Some(l) = want.flow_label.filter(|l| *l != got.flow_label) {
        diffs.push(format!("flowlabel {l:#x} vs {:#x}", got.flow_label));
    }
    diffs
}
