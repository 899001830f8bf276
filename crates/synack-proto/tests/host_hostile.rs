//! Hostile input at the host: arbitrary and mutated packets, garbage bytes, time jumps and user
//! calls thrown at a client host and a server host talking to each other, and ICMP errors
//! quoting (nudged) packets from the wire. Nothing may panic, the limits hold (connections,
//! SYN queue, accept queue, buffer memory), and everything sent parses.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;
use synack_proto::host::{ConnId, Host, HostConfig, ListenerId};
use synack_proto::{Config, Instant};
use synack_wire::ip::{emit_icmp, emit_tcp, parse_tcp};
use synack_wire::{ChecksumMode, IcmpRepr, Icmpv4Repr, TcpFlags, TcpOptions, TcpRepr, Timestamps};

const MAX_CONNS: usize = 8;
const BACKLOG: usize = 2;
const MAX_MEMORY: usize = 48 * 1024;

#[derive(Clone, Debug)]
enum Step {
    /// A made-up segment, to the server (true) or the client, from one of a few sources.
    Forge {
        to_server: bool,
        src: u8,
        port: u16,
        flags: u8,
        seq: u32,
        ack: u32,
        window: u16,
        mss: Option<u16>,
        ts: Option<(u32, u32)>,
        len: usize,
    },
    /// The last packet on the wire again, with its numbers nudged (a replay or blind attack
    /// that lands in the window).
    Replay {
        dseq: i32,
        dack: i32,
        flags: u8,
    },
    /// An ICMP destination unreachable (code 4: fragmentation needed, with `mtu`) to the
    /// sender of the last packet on the wire, quoting it with its sequence number nudged and
    /// cut to `quote` bytes.
    Icmp {
        code: u8,
        mtu: u16,
        dseq: i32,
        quote: usize,
    },
    /// Bytes that are not a valid packet.
    Garbage(Vec<u8>),
    Deliver,
    Advance(u64),
    Connect,
    Send(usize, usize),
    Recv(usize),
    Shutdown(usize),
    Close(usize),
    Abort(usize),
    Accept,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (
            any::<bool>(),
            0u8..4,
            prop_oneof![Just(80u16), 32768u16..32800, any::<u16>()],
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            proptest::option::of(any::<u16>()),
            proptest::option::of((any::<u32>(), any::<u32>())),
            0usize..100,
        )
            .prop_map(|(to_server, src, port, flags, seq, ack, window, mss, ts, len)| {
                Step::Forge { to_server, src, port, flags, seq, ack, window, mss, ts, len }
            }),
        3 => (-70_000i32..70_000, -70_000i32..70_000, any::<u8>())
            .prop_map(|(dseq, dack, flags)| Step::Replay { dseq, dack, flags }),
        2 => (
            prop_oneof![Just(4u8), 0u8..16],
            prop_oneof![Just(576u16), 60u16..1500, any::<u16>()],
            prop_oneof![Just(0i32), -3000i32..3000, any::<i32>()],
            prop_oneof![Just(28usize), 0usize..120],
        )
            .prop_map(|(code, mtu, dseq, quote)| Step::Icmp { code, mtu, dseq, quote }),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Step::Garbage),
        4 => Just(Step::Deliver),
        2 => (0u64..200_000).prop_map(Step::Advance),
        2 => Just(Step::Connect),
        2 => (0usize..8, 0usize..70_000).prop_map(|(i, n)| Step::Send(i, n)),
        2 => (0usize..8).prop_map(Step::Recv),
        1 => (0usize..8).prop_map(Step::Shutdown),
        1 => (0usize..8).prop_map(Step::Close),
        1 => (0usize..8).prop_map(Step::Abort),
        2 => Just(Step::Accept),
    ]
}

fn host(secret: u128) -> Host {
    Host::new(HostConfig {
        secret,
        max_connections: MAX_CONNS,
        max_buffer_memory: MAX_MEMORY,
        tcp: Config {
            recv_buffer: 32 * 1024,
            send_buffer: 32 * 1024,
            synack_retries: 2,
            syn_retries: 2,
            ..Config::default()
        },
        ..HostConfig::default()
    })
}

struct World {
    client: Host,
    server: Host,
    listener: ListenerId,
    now: Instant,
    conns: Vec<ConnId>,
    /// Packets sent and not yet delivered: (to the server?, bytes).
    wire: Vec<(bool, Vec<u8>)>,
    last: Option<(bool, Vec<u8>)>,
}

const SERVER_IP: &str = "10.0.0.1";
const CLIENT_IP: &str = "10.0.0.2";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

impl World {
    fn collect(&mut self) {
        for (to_server, h) in [(false, &mut self.server), (true, &mut self.client)] {
            for (_, p) in common::host::drain_raw(h, self.now) {
                self.wire.push((to_server, p));
            }
        }
    }

    fn inject(&mut self, to_server: bool, packet: &[u8]) {
        if to_server {
            self.server.handle_packet(self.now, packet);
        } else {
            self.client.handle_packet(self.now, packet);
        }
    }

    fn conn(&self, i: usize) -> Option<ConnId> {
        self.conns.get(i % self.conns.len().max(1)).copied()
    }

    fn check(&self) {
        for h in [&self.client, &self.server] {
            if let Err(e) = h.audit() {
                panic!("bookkeeping: {e}");
            }
            assert!(h.connection_count() <= MAX_CONNS);
            // The gauge counts connections that exist, never more.
            assert!(h.counters().curr_estab as usize <= h.connection_count());
            // Past the cap only by each connection's allowance: under 4 KiB unread, plus the
            // in-order segment that took it over.
            let allowance = h.connection_count() * (4096 + 1460);
            assert!(
                h.buffer_memory() <= MAX_MEMORY + allowance,
                "{}",
                h.buffer_memory()
            );
        }
        let (syn_q, acc_q) = self.server.listener_queues(self.listener).unwrap();
        assert!(syn_q <= BACKLOG && acc_q <= BACKLOG, "{syn_q} {acc_q}");
    }

    fn run(&mut self, s: Step) {
        match s {
            Step::Forge {
                to_server,
                src,
                port,
                flags,
                seq,
                ack,
                window,
                mss,
                ts,
                len,
            } => {
                let payload = vec![0x61u8; len];
                let repr = TcpRepr {
                    src_port: 1000 + u16::from(src),
                    dst_port: port,
                    seq,
                    ack,
                    flags: TcpFlags::from_bits(flags),
                    window,
                    urgent_ptr: 0,
                    options: TcpOptions {
                        mss,
                        timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                        ..TcpOptions::default()
                    },
                    payload: &payload,
                };
                let src_ip = ip(["192.0.2.9", CLIENT_IP, SERVER_IP, "198.51.100.3"][src as usize]);
                let dst_ip = ip(if to_server { SERVER_IP } else { CLIENT_IP });
                let mut buf = vec![0u8; 256];
                let n = emit_tcp(&mut buf, src_ip, dst_ip, 64, &repr).unwrap();
                self.inject(to_server, &buf[..n]);
            }
            Step::Replay { dseq, dack, flags } => {
                let Some((to_server, p)) = self.last.clone() else {
                    return;
                };
                let Ok((h, t)) = parse_tcp(&p, ChecksumMode::Verify) else {
                    return;
                };
                let payload = t.payload.to_vec();
                let repr = TcpRepr {
                    seq: t.seq.wrapping_add(dseq as u32),
                    ack: t.ack.wrapping_add(dack as u32),
                    flags: TcpFlags::from_bits(flags),
                    payload: &payload,
                    ..t
                };
                let mut buf = vec![0u8; 2048];
                let n = emit_tcp(&mut buf, h.src, h.dst, 64, &repr).unwrap();
                self.inject(to_server, &buf[..n]);
            }
            Step::Icmp {
                code,
                mtu,
                dseq,
                quote,
            } => {
                let Some((to_server, mut p)) = self.last.clone() else {
                    return;
                };
                if p.len() >= 28 {
                    let seq = u32::from_be_bytes([p[24], p[25], p[26], p[27]]);
                    p[24..28].copy_from_slice(&seq.wrapping_add(dseq as u32).to_be_bytes());
                }
                p.truncate(quote);
                let repr = IcmpRepr::V4(Icmpv4Repr::DstUnreachable {
                    code,
                    next_hop_mtu: mtu,
                    invoking: &p,
                });
                // The quoted packet's sender gets the error.
                let to = ip(if to_server { CLIENT_IP } else { SERVER_IP });
                let mut buf = vec![0u8; 256];
                let n = emit_icmp(&mut buf, ip("192.0.2.254"), to, 64, &repr).unwrap();
                self.inject(!to_server, &buf[..n]);
            }
            Step::Garbage(bytes) => {
                self.server.handle_packet(self.now, &bytes);
                self.client.handle_packet(self.now, &bytes);
            }
            Step::Deliver => {
                for (to_server, p) in std::mem::take(&mut self.wire) {
                    self.inject(to_server, &p);
                    self.last = Some((to_server, p));
                }
            }
            Step::Advance(ms) => {
                let until = self.now + Duration::from_millis(ms);
                let mut fired = 0;
                while let Some(t) = [self.client.poll_timeout(), self.server.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min()
                    .filter(|t| *t <= until)
                {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                    self.collect();
                    fired += 1;
                    assert!(fired < 100_000, "timers never settle");
                }
                self.now = until;
            }
            Step::Connect => {
                let server: SocketAddr = (ip(SERVER_IP), 80).into();
                if let Ok(c) =
                    self.client
                        .connect(self.now, SocketAddr::new(ip(CLIENT_IP), 0), server)
                {
                    self.conns.push(c);
                }
            }
            Step::Send(i, n) => {
                if let Some(c) = self.conn(i) {
                    let data = vec![0x62u8; n];
                    let _ = self.client.send(c, &data);
                    let _ = self.server.send(c, &data);
                }
            }
            Step::Recv(i) => {
                if let Some(c) = self.conn(i) {
                    let mut buf = vec![0u8; 40_000];
                    let _ = self.client.recv(c, &mut buf);
                    let _ = self.server.recv(c, &mut buf);
                }
            }
            Step::Shutdown(i) => {
                if let Some(c) = self.conn(i) {
                    let _ = self.client.shutdown(c);
                    let _ = self.server.shutdown(c);
                }
            }
            Step::Close(i) => {
                if let Some(c) = self.conn(i) {
                    let _ = self.client.close(self.now, c);
                    let _ = self.server.close(self.now, c);
                }
            }
            Step::Abort(i) => {
                if let Some(c) = self.conn(i) {
                    let _ = self.client.abort(c);
                    let _ = self.server.abort(c);
                }
            }
            Step::Accept => {
                while let Some(c) = self.server.accept(self.listener) {
                    self.conns.push(c);
                }
            }
        }
        while self.server.poll_event().is_some() || self.client.poll_event().is_some() {}
        self.collect();
        self.check();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("SYNACK_HOSTILE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256), ..ProptestConfig::default() })]

    #[test]
    fn hosts_survive_anything(steps in proptest::collection::vec(step(), 1..120)) {
        let client = host(1);
        let mut server = host(2);
        let listener = server.listen((ip(SERVER_IP), 80).into(), BACKLOG).unwrap();
        let mut w = World {
            client,
            server,
            listener,
            now: Instant::ZERO,
            conns: Vec::new(),
            wire: Vec::new(),
            last: None,
        };
        for s in steps {
            w.run(s);
        }
        // Whatever happened, time heals: every connection ends or is still held by its user,
        // and nothing is left half-open.
        w.run(Step::Advance(10 * 60 * 1000));
        w.run(Step::Deliver);
        w.run(Step::Advance(10 * 60 * 1000));
        prop_assert_eq!(w.server.listener_queues(listener).unwrap().0, 0);
    }
}
