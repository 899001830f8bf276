//! `Host::handle_packets` against `Host::handle_packet`: two copies of the same client and
//! server, one fed every packet alone, the other in batches of random sizes (smaller and
//! larger than the host's own batch), must send the same bytes, report the same events and
//! count the same counters at every step. The wire between them duplicates, reorders,
//! corrupts and adds packets (segments nudged from real ones, resets, SYNs, segments to no
//! listener, to another host, from port 0, and bytes that are no TCP at all), so the batches
//! hold packets of one flow in a row, of many flows, and packets that open, change or end the
//! very connections later packets of the same batch reach.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use proptest::prelude::*;
use synack_proto::host::{ConnId, Host, HostConfig, HostEvent, ListenerId};
use synack_proto::{Config, Instant};
use synack_wire::ip::{emit_tcp, parse_tcp};
use synack_wire::{ChecksumMode, TcpFlags, TcpRepr};

const CLIENT: &str = "10.0.0.1";
const SERVER: &str = "10.0.0.2";
const PORTS: [u16; 4] = [40_000, 40_001, 40_002, 40_003];

#[derive(Clone, Debug)]
enum Step {
    Connect(usize),
    Accept,
    Send { server: bool, i: usize, n: usize },
    Recv { server: bool, i: usize },
    Close { server: bool, i: usize },
    Abort { server: bool, i: usize },
    Wait(u64),
    Exchange(Wire),
}

/// What the wire does to one direction's packets in one exchange.
#[derive(Clone, Debug)]
struct Wire {
    /// Sizes of the `handle_packets` calls, used in turn.
    batches: Vec<usize>,
    reverse: bool,
    extras: Vec<Extra>,
}

#[derive(Clone, Debug)]
enum Extra {
    /// The `k`-th packet (modulo their number) once more, at the end.
    Duplicate(usize),
    /// The `k`-th packet with one byte flipped: a bad checksum.
    Corrupt(usize, usize),
    /// The `k`-th packet with these flags and its sequence number moved by `dseq`.
    Nudge(usize, u8, i32),
    /// A SYN to a port nobody listens on, from port `PORTS[k]`.
    NoListener(usize),
    /// A segment to an address that is not the receiver's.
    NotOurs,
    /// A segment from port 0.
    PortZero,
    /// Bytes that parse as no IP datagram.
    Garbage(Vec<u8>),
}

fn extra() -> impl Strategy<Value = Extra> {
    prop_oneof![
        any::<usize>().prop_map(Extra::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(k, b)| Extra::Corrupt(k, b)),
        (any::<usize>(), any::<u8>(), -3000i32..3000).prop_map(|(k, f, d)| Extra::Nudge(k, f, d)),
        (0..PORTS.len()).prop_map(Extra::NoListener),
        Just(Extra::NotOurs),
        Just(Extra::PortZero),
        proptest::collection::vec(any::<u8>(), 0..60).prop_map(Extra::Garbage),
    ]
}

fn wire() -> impl Strategy<Value = Wire> {
    (
        proptest::collection::vec(1usize..40, 1..4),
        any::<bool>(),
        proptest::collection::vec(extra(), 0..4),
    )
        .prop_map(|(batches, reverse, extras)| Wire {
            batches,
            reverse,
            extras,
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..PORTS.len()).prop_map(Step::Connect),
        Just(Step::Accept),
        (any::<bool>(), 0usize..8, 1usize..20_000).prop_map(|(server, i, n)| Step::Send {
            server,
            i,
            n
        }),
        (any::<bool>(), 0usize..8).prop_map(|(server, i)| Step::Recv { server, i }),
        (any::<bool>(), 0usize..8).prop_map(|(server, i)| Step::Close { server, i }),
        (any::<bool>(), 0usize..8).prop_map(|(server, i)| Step::Abort { server, i }),
        prop_oneof![Just(1u64), 200u64..3000, Just(61_000)].prop_map(Step::Wait),
        wire().prop_map(Step::Exchange),
        wire().prop_map(Step::Exchange),
        wire().prop_map(Step::Exchange),
    ]
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

fn host(secret: u128, ip: &str) -> Host {
    Host::new(HostConfig {
        secret,
        max_connections: 8,
        max_time_wait: 2,
        local_addrs: vec![ip.parse().unwrap()],
        tcp: Config {
            recv_buffer: 16 * 1024,
            send_buffer: 16 * 1024,
            ..Config::default()
        },
        ..HostConfig::default()
    })
}

/// One client and one server, and the handles their users hold.
struct World {
    client: Host,
    server: Host,
    listener: ListenerId,
    conns: [Vec<ConnId>; 2],
}

impl World {
    fn new() -> World {
        let client = host(1, CLIENT);
        let mut server = host(2, SERVER);
        let listener = server.listen(addr(SERVER, 80), 4).unwrap();
        World {
            client,
            server,
            listener,
            conns: [Vec::new(), Vec::new()],
        }
    }

    fn side(&mut self, server: bool) -> (&mut Host, &mut Vec<ConnId>) {
        if server {
            (&mut self.server, &mut self.conns[1])
        } else {
            (&mut self.client, &mut self.conns[0])
        }
    }

    /// A user call; returns what it reported, to compare between the worlds.
    fn call(&mut self, now: Instant, step: &Step) -> String {
        match *step {
            Step::Connect(k) => {
                let r = self
                    .client
                    .connect(now, addr(CLIENT, PORTS[k]), addr(SERVER, 80));
                if let Ok(id) = r {
                    self.conns[0].push(id);
                }
                format!("{r:?}")
            }
            Step::Accept => {
                let r = self.server.accept(self.listener);
                self.conns[1].extend(r);
                format!("{r:?}")
            }
            Step::Send { server, i, n } => {
                let (h, c) = self.side(server);
                let Some(&id) = c.get(i) else {
                    return String::new();
                };
                format!("{:?}", h.send(id, &vec![b'x'; n]))
            }
            Step::Recv { server, i } => {
                let (h, c) = self.side(server);
                let Some(&id) = c.get(i) else {
                    return String::new();
                };
                let mut buf = vec![0u8; 64 * 1024];
                format!("{:?}", h.recv(id, &mut buf))
            }
            Step::Close { server, i } => {
                let (h, c) = self.side(server);
                if i >= c.len() {
                    return String::new();
                }
                let id = c.remove(i);
                format!("{:?}", h.close(now, id))
            }
            Step::Abort { server, i } => {
                let (h, c) = self.side(server);
                if i >= c.len() {
                    return String::new();
                }
                let id = c.remove(i);
                format!("{:?}", h.abort(id))
            }
            Step::Wait(_) => {
                self.client.handle_timeout(now);
                self.server.handle_timeout(now);
                String::new()
            }
            Step::Exchange(_) => unreachable!("the wire is the test's"),
        }
    }
}

/// Everything `host` sends now, as bytes.
fn drain(host: &mut Host, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::new();
    while let Some(t) = host.poll_transmit(now, &mut buf) {
        out.push(buf[..t.len].to_vec());
        assert!(out.len() < 10_000, "runaway transmit");
    }
    out
}

fn events(host: &mut Host) -> Vec<HostEvent> {
    std::iter::from_fn(|| host.poll_event()).collect()
}

fn segment(src: SocketAddr, dst: SocketAddr, flags: TcpFlags, seq: u32, ack: u32) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags,
        window: 8192,
        urgent_ptr: 0,
        options: Default::default(),
        payload: &[],
    };
    let mut buf = vec![0u8; 64];
    let n = emit_tcp(&mut buf, src.ip(), dst.ip(), 64, &repr).unwrap();
    buf.truncate(n);
    buf
}

/// What reaches the receiver (`to`, from `from`) of `sent` after the wire's work.
fn through(sent: &[Vec<u8>], wire: &Wire, from: &str, to: &str) -> Vec<Vec<u8>> {
    let mut out = sent.to_vec();
    if wire.reverse {
        out.reverse();
    }
    for x in &wire.extras {
        let pick = |k: usize| (!sent.is_empty()).then(|| sent[k % sent.len()].clone());
        match x {
            Extra::Duplicate(k) => out.extend(pick(*k)),
            Extra::Corrupt(k, b) => out.extend(pick(*k).map(|mut p| {
                let i = b % p.len();
                p[i] ^= 0x20;
                p
            })),
            Extra::Nudge(k, f, d) => out.extend(pick(*k).map(|p| {
                let (ip, t) = parse_tcp(&p, ChecksumMode::Verify).unwrap();
                let flags = TcpFlags::from_bits(f & 0x17);
                segment(
                    SocketAddr::new(ip.src, t.src_port),
                    SocketAddr::new(ip.dst, t.dst_port),
                    flags,
                    t.seq.wrapping_add_signed(*d),
                    t.ack,
                )
            })),
            Extra::NoListener(k) => out.push(segment(
                addr(from, PORTS[*k]),
                addr(to, 81),
                TcpFlags::SYN,
                7,
                0,
            )),
            Extra::NotOurs => out.push(segment(
                addr(from, 40_000),
                addr("10.0.0.9", 80),
                TcpFlags::SYN,
                7,
                0,
            )),
            Extra::PortZero => out.push(segment(addr(from, 0), addr(to, 80), TcpFlags::ACK, 7, 9)),
            Extra::Garbage(b) => out.push(b.clone()),
        }
    }
    out
}

/// Feeds `packets` to `host` in calls of the sizes `batches` gives, in turn.
fn in_batches(host: &mut Host, now: Instant, packets: &[Vec<u8>], batches: &[usize]) {
    let mut rest = packets;
    for &n in batches.iter().cycle() {
        if rest.is_empty() {
            return;
        }
        let (now_, later) = rest.split_at(n.min(rest.len()));
        host.handle_packets(now, now_.iter().map(Vec::as_slice));
        rest = later;
    }
}

fn same(one: &mut World, many: &mut World, what: &str) {
    for (a, b, side) in [
        (&mut one.client, &mut many.client, "client"),
        (&mut one.server, &mut many.server, "server"),
    ] {
        assert_eq!(events(a), events(b), "{side} events after {what}");
        assert_eq!(a.counters(), b.counters(), "{side} counters after {what}");
        assert_eq!(
            a.poll_timeout(),
            b.poll_timeout(),
            "{side} timer after {what}"
        );
        assert_eq!(
            a.connection_count(),
            b.connection_count(),
            "{side} connections after {what}"
        );
        assert_eq!(a.time_wait_count(), b.time_wait_count());
        b.audit()
            .unwrap_or_else(|e| panic!("{side} after {what}: {e}"));
    }
}

fn run(steps: &[Step]) {
    let mut one = World::new();
    let mut many = World::new();
    let mut now = Instant::from_millis(1);
    for step in steps {
        match step {
            Step::Exchange(wire) => {
                for to_server in [true, false] {
                    let (a, b) = if to_server {
                        (&mut one.client, &mut many.client)
                    } else {
                        (&mut one.server, &mut many.server)
                    };
                    let sent = drain(a, now);
                    assert_eq!(sent, drain(b, now), "the same packets leave both worlds");
                    let (from, to) = if to_server {
                        (CLIENT, SERVER)
                    } else {
                        (SERVER, CLIENT)
                    };
                    let packets = through(&sent, wire, from, to);
                    let (a, b) = if to_server {
                        (&mut one.server, &mut many.server)
                    } else {
                        (&mut one.client, &mut many.client)
                    };
                    for p in &packets {
                        a.handle_packet(now, p);
                    }
                    in_batches(b, now, &packets, &wire.batches);
                    assert_eq!(drain(a, now), drain(b, now), "the answers to {step:?}");
                }
            }
            _ => {
                if let Step::Wait(ms) = step {
                    now += Duration::from_millis(*ms);
                }
                let r = one.call(now, step);
                assert_eq!(r, many.call(now, step), "{step:?}");
            }
        }
        same(&mut one, &mut many, &format!("{step:?}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn batches_do_what_packets_one_by_one_do(steps in proptest::collection::vec(step(), 1..60)) {
        run(&steps);
    }
}

#[test]
fn a_batch_opens_fills_and_ends_connections_it_also_reaches() {
    // Four handshakes at once, then data on all of them and a reset of one in the same
    // batch as more data for it: later packets of a batch see what earlier ones did.
    let mut steps: Vec<Step> = (0..PORTS.len()).map(Step::Connect).collect();
    let once = |batches: Vec<usize>| {
        Step::Exchange(Wire {
            batches,
            reverse: false,
            extras: Vec::new(),
        })
    };
    steps.extend([once(vec![64]), once(vec![64]), once(vec![64])]);
    steps.extend((0..4).map(|_| Step::Accept));
    steps.extend((0..4).map(|i| Step::Send {
        server: false,
        i,
        n: 3000,
    }));
    steps.push(Step::Abort {
        server: false,
        i: 1,
    });
    steps.push(Step::Exchange(Wire {
        batches: vec![64],
        reverse: true,
        extras: vec![Extra::Duplicate(0), Extra::Nudge(2, 0x10, 1000)],
    }));
    steps.extend([once(vec![3]), once(vec![1, 17])]);
    run(&steps);
    // The handshakes did complete and the data did flow: the test compared real work.
    let mut w = World::new();
    let now = Instant::from_millis(1);
    for k in 0..2 {
        w.call(now, &Step::Connect(k));
    }
    for _ in 0..2 {
        let p = drain(&mut w.client, now);
        w.server.handle_packets(now, p.iter().map(Vec::as_slice));
        let p = drain(&mut w.server, now);
        w.client.handle_packets(now, p.iter().map(Vec::as_slice));
    }
    assert_eq!(w.server.counters().passive_opens, 2);
    assert!(w.server.accept(w.listener).is_some());
}
