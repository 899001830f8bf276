//! A host on the test bench: packets built and parsed whole (`Pkt`), everything a host sends
//! now (`drain`), its events (`events`), and two hosts back to back with no delay (`Net`).
//! Shared by the host tests, so each states only what it is about.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack_proto::host::{Host, HostConfig, HostEvent};
use synack_proto::{Instant, Transition};
use synack_wire::ip::{emit_tcp, parse_tcp, tcp_packet_len};
use synack_wire::{ChecksumMode, TcpFlags, TcpOptions, TcpRepr, Timestamps};

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An outgoing or incoming packet, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkt {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
}

impl Pkt {
    pub fn new(src: &str, dst: &str, flags: TcpFlags, seq: u32, ack: u32) -> Pkt {
        Pkt {
            src: addr(src),
            dst: addr(dst),
            flags,
            seq,
            ack,
            window: 29200,
            options: TcpOptions::default(),
            payload: Vec::new(),
        }
    }
    pub fn mss(mut self, mss: u16) -> Pkt {
        self.options.mss = Some(mss);
        self
    }
    pub fn window(mut self, window: u16) -> Pkt {
        self.window = window;
        self
    }
    pub fn ts(mut self, ts: Option<Timestamps>) -> Pkt {
        self.options.timestamps = ts;
        self
    }
    pub fn data(mut self, d: &[u8]) -> Pkt {
        self.payload = d.to_vec();
        self
    }
    pub fn bytes(&self) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: self.src.port(),
            dst_port: self.dst.port(),
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent_ptr: 0,
            options: self.options,
            payload: &self.payload,
        };
        let mut buf = vec![0u8; tcp_packet_len(&repr, self.src.is_ipv6())];
        let n = emit_tcp(&mut buf, self.src.ip(), self.dst.ip(), 64, &repr).unwrap();
        buf.truncate(n);
        buf
    }
    pub fn parse(bytes: &[u8]) -> Pkt {
        let (h, t) = parse_tcp(bytes, ChecksumMode::Verify).expect("host sends valid packets");
        Pkt {
            src: SocketAddr::new(h.src, t.src_port),
            dst: SocketAddr::new(h.dst, t.dst_port),
            flags: t.flags,
            seq: t.seq,
            ack: t.ack,
            window: t.window,
            options: t.options,
            payload: t.payload.to_vec(),
        }
    }
}

pub const SYN: TcpFlags = TcpFlags::SYN;
pub const ACK: TcpFlags = TcpFlags::ACK;
pub const RST: TcpFlags = TcpFlags::RST;

pub fn syn_ack() -> TcpFlags {
    TcpFlags::SYN | TcpFlags::ACK
}

/// Everything `host` sends now.
pub fn drain(host: &mut Host, now: Instant) -> Vec<Pkt> {
    drain_raw(host, now).into_iter().map(|(p, _)| p).collect()
}

/// Hands everything `src` sends now to `dst`; returns how many datagrams moved.
pub fn forward(src: &mut Host, dst: &mut Host, now: Instant) -> usize {
    let mut buf = vec![0u8; 2048];
    let mut moved = 0;
    while let Some(t) = src.poll_transmit(now, &mut buf) {
        dst.handle_packet(now, &buf[..t.len]);
        moved += 1;
    }
    moved
}

/// Everything `host` sends now, each with its datagram as sent (what an ICMP error quotes).
pub fn drain_raw(host: &mut Host, now: Instant) -> Vec<(Pkt, Vec<u8>)> {
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::new();
    while let Some(t) = host.poll_transmit(now, &mut buf) {
        let p = Pkt::parse(&buf[..t.len]);
        assert_eq!(
            (p.src, p.dst),
            (t.src, t.dst),
            "poll_transmit names the packet's ends"
        );
        out.push((p, buf[..t.len].to_vec()));
        assert!(out.len() < 100_000, "runaway transmit");
    }
    out
}

/// Everything that happened on `host` since the last call. State changes count for the
/// transition coverage test of `states/main.rs`, as a connection's own events do.
pub fn events(host: &mut Host) -> Vec<HostEvent> {
    let evs: Vec<HostEvent> = std::iter::from_fn(|| host.poll_event()).collect();
    for ev in &evs {
        if let HostEvent::StateChanged {
            from, to, cause, ..
        } = *ev
        {
            super::SEEN.with(|s| {
                s.borrow_mut().insert(Transition { from, to, cause });
            });
        }
    }
    evs
}

/// Two hosts joined back to back with no delay; every packet either sends reaches the other.
pub struct Net {
    pub a: Host,
    pub b: Host,
    pub now: Instant,
}

impl Net {
    pub fn new(a: HostConfig, b: HostConfig) -> Net {
        Net {
            a: Host::new(a),
            b: Host::new(b),
            now: Instant::ZERO,
        }
    }

    /// Shuttles packets until both sides are quiet.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            let moved = forward(&mut self.a, &mut self.b, self.now)
                + forward(&mut self.b, &mut self.a, self.now);
            if moved == 0 {
                return;
            }
        }
        panic!("the hosts never went quiet");
    }

    /// Moves time forward to `until`, firing timers on the way.
    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            self.settle();
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = until;
        self.settle();
    }
}
