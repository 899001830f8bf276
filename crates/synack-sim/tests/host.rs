//! Hosts on the simulated network: many clients against one listener, and a SYN flood.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack_proto::host::{ConnId, Host, HostConfig, HostEvent, ListenerId};
use synack_proto::{Config, Instant};
use synack_sim::{HostApp, HostNode, Link, LinkConfig, Pair};
use synack_wire::ip::emit_tcp;
use synack_wire::{TcpFlags, TcpOptions, TcpRepr};

const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 80);
const REQUEST_LEN: usize = 64;

fn request(port: u16) -> Vec<u8> {
    let mut r = format!("GET /{port} HTTP/1.0\r\n").into_bytes();
    r.resize(REQUEST_LEN, b'.');
    r
}

fn response(remote: SocketAddr) -> Vec<u8> {
    format!("HTTP/1.0 200 OK\r\n\r\nhello {remote}\n").into_bytes()
}

/// Accepts everything, reads a request of `REQUEST_LEN` bytes, answers and closes.
#[derive(Default)]
struct Server {
    listener: Option<ListenerId>,
    requests: HashMap<ConnId, Vec<u8>>,
    served: usize,
}

impl HostApp for Server {
    fn on_event(&mut self, host: &mut Host, now: Instant, event: HostEvent) {
        match event {
            HostEvent::Accepted { listener, .. } => {
                self.listener = Some(listener);
                while let Some(c) = host.accept(listener) {
                    self.requests.insert(c, Vec::new());
                    self.read(host, now, c);
                }
            }
            HostEvent::Readable(c) => self.read(host, now, c),
            _ => {}
        }
    }
}

impl Server {
    fn read(&mut self, host: &mut Host, now: Instant, c: ConnId) {
        let Some(got) = self.requests.get_mut(&c) else {
            return;
        };
        let mut buf = [0u8; 256];
        while let Ok(n @ 1..) = host.recv(c, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() >= REQUEST_LEN {
            let remote = host.peer_addr(c).unwrap();
            assert_eq!(*got, request(remote.port()));
            let body = response(remote);
            assert_eq!(host.send(c, &body), Ok(body.len()));
            host.close(now, c).unwrap();
            self.requests.remove(&c);
            self.served += 1;
        }
    }
}

/// Clients that each sent their request at connect time; reads the answer, checks it, closes.
#[derive(Default)]
struct Clients {
    pending: HashMap<ConnId, Vec<u8>>,
    done: usize,
    failed: usize,
}

impl Clients {
    fn start(&mut self, host: &mut Host, now: Instant) {
        let c = host
            .connect(now, SocketAddr::new(CLIENT_IP, 0), SERVER)
            .unwrap();
        let port = host.local_addr(c).unwrap().port();
        // Written before the handshake completes; it leaves with the ACK.
        assert_eq!(host.send(c, &request(port)), Ok(REQUEST_LEN));
        self.pending.insert(c, Vec::new());
    }
}

impl HostApp for Clients {
    fn on_event(&mut self, host: &mut Host, now: Instant, event: HostEvent) {
        match event {
            HostEvent::Readable(c) => {
                let Some(got) = self.pending.get_mut(&c) else {
                    return;
                };
                let mut buf = [0u8; 256];
                loop {
                    match host.recv(c, &mut buf) {
                        Ok(0) => {
                            let local = host.local_addr(c).unwrap();
                            assert_eq!(*got, response(local));
                            host.close(now, c).unwrap();
                            self.pending.remove(&c);
                            self.done += 1;
                            return;
                        }
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(_) => return,
                    }
                }
            }
            HostEvent::Closed(c, Some(_)) if self.pending.remove(&c).is_some() => self.failed += 1,
            _ => {}
        }
    }
}

fn host_config(secret: u128) -> HostConfig {
    HostConfig {
        secret,
        tcp: Config {
            recv_buffer: 16 * 1024,
            send_buffer: 16 * 1024,
            ..Config::default()
        },
        ..HostConfig::default()
    }
}

#[test]
fn ten_thousand_clients_each_get_an_answer_from_a_backlog_128_listener() {
    const CLIENTS: usize = 10_000;
    let mut server = Host::new(host_config(1));
    let l = server.listen(SERVER, 128).unwrap();
    let mut client = HostNode::new(Host::new(host_config(2)), Clients::default());
    for _ in 0..CLIENTS {
        client.app.start(&mut client.host, Instant::ZERO);
    }
    let link = Link::new(7, LinkConfig::new().delay(Duration::from_millis(5))).unwrap();
    let mut pair = Pair::new(client, HostNode::new(server, Server::default()), link);
    pair.run_until_condition(Instant::from_millis(120_000), |p| {
        p.a.app.done + p.a.app.failed == CLIENTS
    })
    .unwrap();
    assert_eq!(pair.a.app.done, CLIENTS);
    assert_eq!(pair.a.app.failed, 0);
    assert_eq!(pair.b.app.served, CLIENTS);
    let (sc, cc) = (*pair.b.host.counters(), *pair.a.host.counters());
    assert_eq!(cc.active_opens, CLIENTS as u64);
    assert_eq!(sc.passive_opens, CLIENTS as u64);
    // All arrive at once: 128 fit the SYN queue, the rest are served through cookies.
    assert!(sc.syncookies_sent > 0);
    assert_eq!(sc.syncookies_recv + 128, CLIENTS as u64);
    assert_eq!(
        (sc.syncookies_failed, sc.estab_resets, cc.estab_resets),
        (0, 0, 0)
    );
    assert_eq!(pair.b.host.listener_queues(l), Some((0, 0)));
    // The server closed first: its side waits in TIME-WAIT — as compact entries, every TCB
    // already gone — then everything is gone.
    let deadline = pair.now() + Duration::from_secs(10);
    pair.run_until_condition(deadline, |p| p.b.host.time_wait_count() == CLIENTS)
        .unwrap();
    assert_eq!(pair.b.host.connection_count(), 0);
    pair.run_until_idle(Instant::from_millis(300_000)).unwrap();
    assert_eq!(pair.a.host.connection_count(), 0);
    assert_eq!(pair.b.host.connection_count(), 0);
    assert_eq!(pair.b.host.time_wait_count(), 0);
    assert_eq!(pair.b.host.counters().time_wait_expired, CLIENTS as u64);
    assert_eq!(pair.b.host.counters().curr_estab, 0);
    eprintln!("server {sc:?}\nclient {cc:?}\nfinished at {:?}", pair.now());
}

/// splitmix64: a seeded stream of spoofed addresses, no external randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn spoofed_syn(rng: &mut Rng, buf: &mut [u8]) -> usize {
    let r = rng.next();
    // A unicast source outside 10/8: first octet 11..=223.
    let first = 11 + (r % 213) as u8;
    let src = Ipv4Addr::new(first, (r >> 8) as u8, (r >> 16) as u8, (r >> 24) as u8);
    let syn = TcpRepr {
        src_port: 1024 + ((r >> 32) as u16 % 60000),
        dst_port: SERVER.port(),
        seq: (r >> 16) as u32,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 64240,
        urgent_ptr: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    emit_tcp(buf, src.into(), SERVER.ip(), 64, &syn).unwrap()
}

/// A million spoofed SYNs fed straight into the server (about a second at the test profile's
/// opt-level 1; `SYNACK_FLOOD` sets another count).
#[test]
fn syn_flood_keeps_memory_bounded_and_legitimate_clients_connect() {
    let flood: usize = std::env::var("SYNACK_FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    const BACKLOG: usize = 128;
    const LIMIT: usize = 1024;
    const LEGIT: usize = 100;
    const BATCH: usize = 500;
    let mut server = Host::new(HostConfig {
        max_connections: LIMIT,
        ..host_config(3)
    });
    let l = server.listen(SERVER, BACKLOG).unwrap();
    let mut server = HostNode::new(server, Server::default());
    // SYN-ACKs to the spoofed sources would go elsewhere; only the real client is on the link.
    server.routes = Some(vec![CLIENT_IP]);
    let client = HostNode::new(Host::new(host_config(4)), Clients::default());
    let link = Link::new(11, LinkConfig::new().delay(Duration::from_millis(2))).unwrap();
    let mut pair = Pair::new(client, server, link);
    let mut rng = Rng(0xf100d);
    let mut buf = [0u8; 128];
    let batches = flood.div_ceil(BATCH);
    let legit_every = (batches / LEGIT).max(1);
    let mut started = 0;
    for b in 0..batches {
        let now = pair.now();
        for _ in 0..BATCH.min(flood - b * BATCH) {
            let n = spoofed_syn(&mut rng, &mut buf);
            pair.b.host.handle_packet(now, &buf[..n]);
        }
        if b % legit_every == 0 && started < LEGIT {
            let a = &mut pair.a;
            a.app.start(&mut a.host, now);
            started += 1;
        }
        pair.run_for(Duration::from_micros(500)).unwrap();
        let (half_open, queued) = pair.b.host.listener_queues(l).unwrap();
        assert!(half_open <= BACKLOG && queued <= BACKLOG);
        assert!(pair.b.host.connection_count() <= LIMIT);
    }
    while started < LEGIT {
        let now = pair.now();
        let a = &mut pair.a;
        a.app.start(&mut a.host, now);
        started += 1;
    }
    let deadline = pair.now() + Duration::from_secs(60);
    pair.run_until_condition(deadline, |p| p.a.app.done + p.a.app.failed == LEGIT)
        .unwrap();
    assert_eq!((pair.a.app.done, pair.a.app.failed), (LEGIT, 0));
    let c = *pair.b.host.counters();
    assert!(c.in_segs as usize >= flood);
    // Only the first BACKLOG spoofed SYNs were given state; every other one got a cookie (or,
    // if the SYN-ACK queue was momentarily full, nothing).
    assert_eq!(
        c.syncookies_sent + c.control_drops + BACKLOG as u64,
        flood as u64 + LEGIT as u64
    );
    assert_eq!(
        c.syncookies_recv, LEGIT as u64,
        "every legitimate client came in by cookie"
    );
    assert!(pair.b.unroutable >= c.syncookies_sent - LEGIT as u64);
    assert_eq!(pair.b.host.listener_queues(l).unwrap().0, BACKLOG);
    eprintln!("flood of {flood}: {c:?}, unroutable {}", pair.b.unroutable);
}
