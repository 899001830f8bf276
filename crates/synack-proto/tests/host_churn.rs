//! The host's bookkeeping under churn: a client host and a server host open, use and close
//! connections over a lossy wire, from a few fixed client ports so 4-tuples come back while
//! the old incarnation is still in TIME-WAIT; replayed and nudged segments (resets, SYNs,
//! FINs), ICMP errors and a small memory cap are thrown in. After every step both hosts pass
//! `Host::audit` (live and TIME-WAIT counts, buffer memory equal to the sum over connections,
//! demux and timers consistent) and stay within their limits; once every handle is closed and
//! time has run on, nothing is left: no connection, no TIME-WAIT entry, no buffered byte.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;
use synack_proto::host::{ConnId, Host, HostConfig, ListenerId};
use synack_proto::{Config, Instant};
use synack_wire::icmp::{v4, v6};
use synack_wire::ip::{emit_icmp, emit_tcp, parse_tcp};
use synack_wire::{ChecksumMode, IcmpRepr, Icmpv4Repr, Icmpv6Repr, TcpFlags, TcpRepr};

const MAX_CONNS: usize = 6;
const MAX_TIME_WAIT: usize = 2;
const MAX_MEMORY: usize = 20 * 1024;
const BACKLOG: usize = 3;
const CLIENT_PORTS: [u16; 3] = [40_000, 40_001, 40_002];

#[derive(Clone, Debug)]
enum Step {
    Connect(usize),
    /// A whole connection from client port `port`: handshake, `n` bytes each way, and a
    /// close begun by the server (leaving it in TIME-WAIT) or the client, with the user
    /// reading (or not) what came.
    Cycle {
        port: usize,
        server_first: bool,
        n: usize,
        read: bool,
    },
    Accept,
    Send {
        server: bool,
        i: usize,
        n: usize,
    },
    Recv {
        server: bool,
        i: usize,
    },
    Shutdown {
        server: bool,
        i: usize,
    },
    Close {
        server: bool,
        i: usize,
    },
    Abort {
        server: bool,
        i: usize,
    },
    /// Everything on the wire arrives, except the packets whose position has its bit set.
    Deliver(u8),
    Advance(u64),
    /// The last packet delivered again, as another kind of segment, its sequence number
    /// nudged: an old duplicate, a blind or lucky reset, a SYN for a new incarnation.
    Replay {
        kind: u8,
        dseq: i32,
    },
    /// An ICMP error to the sender of the last packet delivered, quoting it.
    Icmp {
        kind: u8,
        mtu: u32,
        dseq: i32,
    },
}

fn nudge() -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => Just(0i32),
        2 => -2i32..3,
        1 => Just(65_536),
        1 => Just(i32::MIN),
        1 => any::<i32>(),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let side = (any::<bool>(), 0usize..8);
    prop_oneof![
        3 => (0usize..3).prop_map(Step::Connect),
        3 => (0usize..3, any::<bool>(), prop_oneof![Just(0usize), 0usize..20_000], any::<bool>())
            .prop_map(|(port, server_first, n, read)| Step::Cycle { port, server_first, n, read }),
        2 => Just(Step::Accept),
        3 => (side.clone(), 0usize..30_000).prop_map(|((server, i), n)| Step::Send { server, i, n }),
        2 => side.clone().prop_map(|(server, i)| Step::Recv { server, i }),
        1 => side.clone().prop_map(|(server, i)| Step::Shutdown { server, i }),
        2 => side.clone().prop_map(|(server, i)| Step::Close { server, i }),
        1 => side.prop_map(|(server, i)| Step::Abort { server, i }),
        8 => prop_oneof![3 => Just(0u8), 1 => any::<u8>()].prop_map(Step::Deliver),
        3 => prop_oneof![0u64..500, 0u64..130_000].prop_map(Step::Advance),
        3 => (0u8..5, nudge()).prop_map(|(kind, dseq)| Step::Replay { kind, dseq }),
        2 => (
            0u8..3,
            prop_oneof![Just(0u32), 60u32..1500, Just(1280), any::<u32>()],
            nudge(),
        )
            .prop_map(|(kind, mtu, dseq)| Step::Icmp { kind, mtu, dseq }),
    ]
}

fn host(secret: u128, timestamps: bool) -> Host {
    Host::new(HostConfig {
        secret,
        max_connections: MAX_CONNS,
        max_time_wait: MAX_TIME_WAIT,
        max_buffer_memory: MAX_MEMORY,
        tcp: Config {
            recv_buffer: 24 * 1024,
            send_buffer: 24 * 1024,
            timestamps,
            syn_retries: 3,
            synack_retries: 3,
            data_retries: 5,
            ..Config::default()
        },
        ..HostConfig::default()
    })
}

struct World {
    client: Host,
    server: Host,
    listener: ListenerId,
    client_ip: IpAddr,
    server_addr: SocketAddr,
    now: Instant,
    client_conns: Vec<ConnId>,
    server_conns: Vec<ConnId>,
    /// Sent, not yet delivered: (to the server?, datagram).
    wire: Vec<(bool, Vec<u8>)>,
    last: Option<(bool, Vec<u8>)>,
}

impl World {
    /// `late`: the clock starts 20 s before our millisecond TSval clock (and the TIME-WAIT
    /// rate limiter's) wraps at 2^32 ms.
    fn new(v6: bool, timestamps: bool, late: bool) -> World {
        let (client_ip, server_ip): (IpAddr, IpAddr) = if v6 {
            (
                "2001:db8::2".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            )
        } else {
            ("10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap())
        };
        let mut server = host(2, timestamps);
        let server_addr = SocketAddr::new(server_ip, 80);
        let listener = server.listen(server_addr, BACKLOG).unwrap();
        World {
            client: host(1, timestamps),
            server,
            listener,
            client_ip,
            server_addr,
            now: if late {
                Instant::from_millis((1 << 32) - 20_000)
            } else {
                Instant::ZERO
            },
            client_conns: Vec::new(),
            server_conns: Vec::new(),
            wire: Vec::new(),
            last: None,
        }
    }

    fn collect(&mut self) {
        for (to_server, h) in [(false, &mut self.server), (true, &mut self.client)] {
            for (_, p) in common::host::drain_raw(h, self.now) {
                self.wire.push((to_server, p));
            }
        }
    }

    fn inject(&mut self, to_server: bool, packet: &[u8]) {
        let h = if to_server {
            &mut self.server
        } else {
            &mut self.client
        };
        h.handle_packet(self.now, packet);
    }

    fn pick(&self, server: bool, i: usize) -> Option<ConnId> {
        let v = if server {
            &self.server_conns
        } else {
            &self.client_conns
        };
        v.get(i % v.len().max(1)).copied()
    }

    fn side(&mut self, server: bool) -> &mut Host {
        if server {
            &mut self.server
        } else {
            &mut self.client
        }
    }

    fn check(&self) {
        for (name, h) in [("client", &self.client), ("server", &self.server)] {
            if let Err(e) = h.audit() {
                panic!("{name}: {e}");
            }
            assert!(h.connection_count() <= MAX_CONNS);
            assert!(h.time_wait_count() <= MAX_TIME_WAIT);
            // Past the cap only by each connection's allowance: under 4 KiB unread, plus the
            // in-order segment that took it over.
            let allowance = h.connection_count() * (4096 + 1460);
            assert!(
                h.buffer_memory() <= MAX_MEMORY + allowance,
                "{}",
                h.buffer_memory()
            );
        }
    }

    fn advance_to(&mut self, until: Instant) {
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
            self.check();
            fired += 1;
            assert!(fired < 100_000, "timers never settle");
        }
        self.now = self.now.max(until);
    }

    fn deliver(&mut self, lose: u8) {
        for (k, (to_server, p)) in std::mem::take(&mut self.wire).into_iter().enumerate() {
            if k < 8 && lose & (1 << k) != 0 {
                continue;
            }
            self.inject(to_server, &p);
            self.last = Some((to_server, p));
        }
    }

    fn events(&mut self) {
        // Accepted connections wait in the queue for `accept`; other events need no answer.
        while self.server.poll_event().is_some() {}
        while self.client.poll_event().is_some() {}
    }

    fn run(&mut self, s: Step) {
        match s {
            Step::Connect(p) => {
                let local = SocketAddr::new(self.client_ip, CLIENT_PORTS[p]);
                if let Ok(c) = self.client.connect(self.now, local, self.server_addr) {
                    self.client_conns.push(c);
                }
            }
            Step::Cycle {
                port,
                server_first,
                n,
                read,
            } => {
                let local = SocketAddr::new(self.client_ip, CLIENT_PORTS[port]);
                let Ok(c) = self.client.connect(self.now, local, self.server_addr) else {
                    return;
                };
                self.client_conns.push(c);
                let before = self.server_conns.len();
                for _ in 0..3 {
                    self.collect();
                    self.deliver(0);
                    self.run(Step::Accept);
                }
                let Some(&s) = self.server_conns.get(before) else {
                    return;
                };
                let data = vec![0x33u8; n];
                let _ = self.client.send(c, &data);
                let _ = self.server.send(s, &data);
                let order = if server_first {
                    [(true, s), (false, c)]
                } else {
                    [(false, c), (true, s)]
                };
                for (server, id) in order {
                    for _ in 0..3 {
                        self.collect();
                        self.deliver(0);
                    }
                    if read {
                        let mut buf = vec![0u8; 30_000];
                        let _ = self.side(server).recv(id, &mut buf);
                    }
                    let now = self.now;
                    let _ = self.side(server).close(now, id);
                }
                for _ in 0..3 {
                    self.collect();
                    self.deliver(0);
                }
            }
            Step::Accept => {
                while let Some(c) = self.server.accept(self.listener) {
                    self.server_conns.push(c);
                }
            }
            Step::Send { server, i, n } => {
                if let Some(c) = self.pick(server, i) {
                    let data = vec![0x5au8; n];
                    let _ = self.side(server).send(c, &data);
                }
            }
            Step::Recv { server, i } => {
                if let Some(c) = self.pick(server, i) {
                    let mut buf = vec![0u8; 30_000];
                    let _ = self.side(server).recv(c, &mut buf);
                }
            }
            Step::Shutdown { server, i } => {
                if let Some(c) = self.pick(server, i) {
                    let _ = self.side(server).shutdown(c);
                }
            }
            Step::Close { server, i } => {
                if let Some(c) = self.pick(server, i) {
                    let now = self.now;
                    let _ = self.side(server).close(now, c);
                }
            }
            Step::Abort { server, i } => {
                if let Some(c) = self.pick(server, i) {
                    let _ = self.side(server).abort(c);
                }
            }
            Step::Deliver(lose) => self.deliver(lose),
            Step::Advance(ms) => self.advance_to(self.now + Duration::from_millis(ms)),
            Step::Replay { kind, dseq } => {
                let Some((to_server, p)) = self.last.clone() else {
                    return;
                };
                let Ok((h, t)) = parse_tcp(&p, ChecksumMode::Verify) else {
                    return;
                };
                let flags = [
                    TcpFlags::RST,
                    TcpFlags::SYN,
                    TcpFlags::FIN | TcpFlags::ACK,
                    TcpFlags::ACK,
                    TcpFlags::RST | TcpFlags::ACK,
                ][usize::from(kind)];
                let payload = t.payload.to_vec();
                let repr = TcpRepr {
                    seq: t.seq.wrapping_add(dseq as u32),
                    flags,
                    payload: if flags.syn() { &[] } else { &payload },
                    ..t
                };
                let mut buf = vec![0u8; 2048];
                let n = emit_tcp(&mut buf, h.src, h.dst, 64, &repr).unwrap();
                self.inject(to_server, &buf[..n]);
            }
            Step::Icmp { kind, mtu, dseq } => {
                let Some((to_server, mut p)) = self.last.clone() else {
                    return;
                };
                let v6 = self.client_ip.is_ipv6();
                let ip_len = if v6 { 40 } else { 20 };
                let seq = u32::from_be_bytes(p[ip_len + 4..ip_len + 8].try_into().unwrap());
                p[ip_len + 4..ip_len + 8]
                    .copy_from_slice(&seq.wrapping_add(dseq as u32).to_be_bytes());
                let (router, to): (IpAddr, IpAddr) = {
                    let (h, _) =
                        parse_tcp(&self.last.as_ref().unwrap().1, ChecksumMode::Verify).unwrap();
                    let router = if v6 {
                        "2001:db8:ffff::1".parse().unwrap()
                    } else {
                        "192.0.2.254".parse().unwrap()
                    };
                    (router, h.src)
                };
                let repr = if v6 {
                    let invoking = &p[..p.len().min(1232)];
                    IcmpRepr::V6(match kind {
                        0 => Icmpv6Repr::PacketTooBig { mtu, invoking },
                        1 => Icmpv6Repr::DstUnreachable {
                            code: v6::PORT_UNREACHABLE,
                            invoking,
                        },
                        _ => Icmpv6Repr::DstUnreachable {
                            code: v6::ADDR_UNREACHABLE,
                            invoking,
                        },
                    })
                } else {
                    let invoking = &p[..28];
                    let (code, next_hop_mtu) = match kind {
                        0 => (v4::FRAG_NEEDED, mtu as u16),
                        1 => (v4::PORT_UNREACHABLE, 0),
                        _ => (v4::HOST_UNREACHABLE, 0),
                    };
                    IcmpRepr::V4(Icmpv4Repr::DstUnreachable {
                        code,
                        next_hop_mtu,
                        invoking,
                    })
                };
                let mut buf = vec![0u8; 2048];
                let n = emit_icmp(&mut buf, router, to, 64, &repr).unwrap();
                // The quoted packet's sender gets the error.
                self.inject(!to_server, &buf[..n]);
            }
        }
        self.events();
        self.collect();
        self.check();
    }

    /// Every handle closed, the wire drained and time run on until nothing is left.
    fn wind_down(&mut self) {
        for _ in 0..1000 {
            self.run(Step::Accept);
            let now = self.now;
            for c in self.client_conns.clone() {
                let _ = self.client.close(now, c);
            }
            for c in self.server_conns.clone() {
                let _ = self.server.close(now, c);
            }
            self.collect();
            self.deliver(0);
            self.events();
            self.collect();
            self.check();
            let done = [&self.client, &self.server].iter().all(|h| {
                h.connection_count() == 0 && h.time_wait_count() == 0 && self.wire.is_empty()
            });
            if done {
                return;
            }
            self.advance_to(self.now + Duration::from_secs(1));
        }
    }
}

proptest! {
    // `SYNACK_CHURN_CASES=N` widens the sweep.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("SYNACK_CHURN_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(192),
        ..ProptestConfig::default()
    })]

    #[test]
    fn bookkeeping_holds_through_churn_and_everything_ends(
        v6 in any::<bool>(),
        timestamps in any::<bool>(),
        late in any::<bool>(),
        steps in proptest::collection::vec(step(), 1..200),
    ) {
        let mut w = World::new(v6, timestamps, late);
        for s in steps {
            w.run(s);
        }
        w.wind_down();
        if std::env::var_os("SYNACK_CHURN_STATS").is_some() {
            for h in [&w.client, &w.server] {
                let c = h.counters();
                eprintln!(
                    "estab {} tw exp {} kill {} reopen {} overflow {} pmtu {} soft {} refused {} dropped {}",
                    c.passive_opens + c.active_opens, c.time_wait_expired, c.time_wait_killed,
                    c.time_wait_reopened, c.time_wait_overflow, c.pmtu_lowered, c.icmp_soft_errors,
                    c.send_memory_refusals, c.rcv_memory_drops
                );
            }
        }
        for (name, h) in [("client", &w.client), ("server", &w.server)] {
            prop_assert_eq!(h.connection_count(), 0, "{} connections", name);
            prop_assert_eq!(h.time_wait_count(), 0, "{} TIME-WAIT entries", name);
            prop_assert_eq!(h.buffer_memory(), 0, "{} buffer memory", name);
            prop_assert_eq!(h.counters().curr_estab, 0, "{} CurrEstab", name);
        }
        prop_assert_eq!(w.server.listener_queues(w.listener), Some((0, 0)));
    }
}

/// What moves the byte streams along.
#[derive(Clone, Debug)]
enum Flow {
    Write {
        server: bool,
        i: usize,
        n: usize,
    },
    Read {
        server: bool,
        i: usize,
        n: usize,
    },
    /// Time passes, then the wire delivers (losing the first packets whose bit is set).
    Tick {
        ms: u64,
        lose: u8,
    },
}

fn flow() -> impl Strategy<Value = Flow> {
    prop_oneof![
        3 => (any::<bool>(), 0usize..3, 1usize..20_000)
            .prop_map(|(server, i, n)| Flow::Write { server, i, n }),
        2 => (any::<bool>(), 0usize..3, 1usize..20_000)
            .prop_map(|(server, i, n)| Flow::Read { server, i, n }),
        4 => (0u64..1500, prop_oneof![3 => Just(0u8), 1 => any::<u8>()])
            .prop_map(|(ms, lose)| Flow::Tick { ms, lose }),
    ]
}

/// Byte `off` of the stream of connection `i` in one direction.
fn pattern(i: usize, from_server: bool, off: usize) -> u8 {
    ((off * 31 + i * 7 + usize::from(from_server) * 101) % 251) as u8
}

/// Per connection and direction: (bytes the sender's `send` took, bytes the receiver read).
struct Streams {
    pairs: Vec<(ConnId, ConnId)>,
    written: Vec<[usize; 2]>,
    read: Vec<[Vec<u8>; 2]>,
}

impl Streams {
    fn write(&mut self, w: &mut World, server: bool, i: usize, n: usize, len: usize) {
        let (c, s) = self.pairs[i];
        let d = usize::from(server);
        let from = self.written[i][d];
        let data: Vec<u8> = (from..len.min(from + n))
            .map(|o| pattern(i, server, o))
            .collect();
        if let Ok(k) = w.side(server).send(if server { s } else { c }, &data) {
            self.written[i][d] += k;
        }
    }

    fn read(&mut self, w: &mut World, server: bool, i: usize, n: usize) {
        let (c, s) = self.pairs[i];
        let mut buf = vec![0u8; n];
        if let Ok(k) = w.side(server).recv(if server { s } else { c }, &mut buf) {
            // What the server reads came from the client, and the other way round.
            self.read[i][usize::from(!server)].extend_from_slice(&buf[..k]);
        }
    }
}

proptest! {
    // `SYNACK_CHURN_CASES=N` widens the sweep.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("SYNACK_CHURN_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96),
        ..ProptestConfig::default()
    })]

    /// Up to three connections stream both ways through hosts whose memory cap is smaller than
    /// their buffers, over a lossy wire, with the users writing and reading in random pieces:
    /// every byte read is the right byte at the right place, and a connection that survives
    /// delivers its whole stream.
    #[test]
    fn streams_arrive_whole_under_memory_pressure(
        v6 in any::<bool>(),
        timestamps in any::<bool>(),
        late in any::<bool>(),
        k in 1usize..4,
        len in 1usize..60_000,
        flows in proptest::collection::vec(flow(), 1..200),
    ) {
        let mut w = World::new(v6, timestamps, late);
        for p in 0..k {
            w.run(Step::Connect(p));
        }
        for _ in 0..4 {
            w.collect();
            w.deliver(0);
            w.run(Step::Accept);
        }
        prop_assert_eq!(w.server_conns.len(), k);
        let mut pairs = Vec::new();
        for (p, &c) in w.client_conns.iter().enumerate() {
            let s = *w
                .server_conns
                .iter()
                .find(|&&s| w.server.peer_addr(s).unwrap().port() == CLIENT_PORTS[p])
                .unwrap();
            pairs.push((c, s));
        }
        let mut st = Streams {
            pairs,
            written: vec![[0; 2]; k],
            read: vec![[Vec::new(), Vec::new()]; k],
        };
        for f in flows {
            match f {
                Flow::Write { server, i, n } => st.write(&mut w, server, i % k, n, len),
                Flow::Read { server, i, n } => st.read(&mut w, server, i % k, n),
                Flow::Tick { ms, lose } => {
                    w.advance_to(w.now + Duration::from_millis(ms));
                    w.collect();
                    w.deliver(lose);
                }
            }
            w.events();
            w.collect();
            w.check();
        }
        // Then a clean wire until everything is across (or the connection has failed).
        for _ in 0..5000 {
            for i in 0..k {
                for server in [false, true] {
                    st.write(&mut w, server, i, len, len);
                    st.read(&mut w, server, i, 65_536);
                }
            }
            w.events();
            w.collect();
            w.check();
            let done = st.read.iter().all(|r| r[0].len() == len && r[1].len() == len);
            if done {
                break;
            }
            w.deliver(0);
            w.advance_to(w.now + Duration::from_millis(50));
        }
        if std::env::var_os("SYNACK_CHURN_STATS").is_some() {
            let alive = st.pairs.iter().filter(|(c, s)| {
                w.client.state(*c).is_ok_and(|s| s == synack_proto::StateName::Established)
                    && w.server.state(*s).is_ok_and(|s| s == synack_proto::StateName::Established)
            });
            eprintln!(
                "streams k {} len {} alive {} refused {} dropped {}",
                k,
                len,
                alive.count(),
                w.client.counters().send_memory_refusals + w.server.counters().send_memory_refusals,
                w.client.counters().rcv_memory_drops + w.server.counters().rcv_memory_drops,
            );
        }
        for i in 0..k {
            let (c, s) = st.pairs[i];
            let alive = w.client.state(c).is_ok_and(|s| s == synack_proto::StateName::Established)
                && w.server.state(s).is_ok_and(|s| s == synack_proto::StateName::Established);
            for from_server in [false, true] {
                let got = &st.read[i][usize::from(from_server)];
                let sent = st.written[i][usize::from(from_server)];
                prop_assert!(got.len() <= sent, "more read than written");
                let want: Vec<u8> = (0..got.len()).map(|o| pattern(i, from_server, o)).collect();
                prop_assert!(*got == want, "conn {} from server {}: bytes differ", i, from_server);
                if alive {
                    prop_assert_eq!(got.len(), len, "conn {} from server {}", i, from_server);
                }
            }
        }
    }
}
