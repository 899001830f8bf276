//! Drives two hosts (a client and a server with a listener) through a fuzzer-chosen sequence
//! of user calls, deliveries, losses, duplications, clock moves and forged segments, ICMP
//! errors and raw bytes. Any panic is a bug, and so is any byte the server reads that the
//! client did not write at that place in its stream (or the other way round): forged segments
//! carry the stream's own bytes, so a correct TCP can accept them without corrupting anything.
//!
//! Run with `cargo +nightly fuzz run host_sequence` from the repository root.
#![no_main]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use synack_proto::Instant;
use synack_proto::host::{ConnId, Host, HostConfig, HostEvent, ListenerId};
use synack_wire::{
    ChecksumMode, IcmpRepr, Icmpv4Repr, TcpFlags, TcpOptions, TcpRepr, Timestamps, emit_icmp,
    emit_tcp, parse_tcp, tcp_packet_len,
};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const PORT: u16 = 80;

/// The byte at `offset` of either side's stream: position-dependent, so a byte delivered at
/// the wrong place shows.
fn pattern(offset: u64, from_client: bool) -> u8 {
    let x = offset
        .wrapping_mul(0x9E37_79B9)
        .wrapping_add(u64::from(from_client) * 7);
    (x >> 7) as u8
}

#[derive(Arbitrary, Debug)]
struct Forged {
    flags: u8,
    seq_delta: i16,
    ack_delta: i16,
    window: u16,
    payload: u8,
    mss: Option<u16>,
    wscale: Option<u8>,
    sack_permitted: bool,
    ts: Option<(i16, i16)>,
    urgent: u16,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Deliver {
        to_server: bool,
        count: u8,
    },
    Drop {
        to_server: bool,
    },
    Duplicate {
        to_server: bool,
    },
    Reorder {
        to_server: bool,
    },
    Advance {
        ms: u16,
    },
    Connect,
    Send {
        client: bool,
        len: u16,
    },
    Recv {
        client: bool,
        len: u16,
    },
    Shutdown {
        client: bool,
    },
    Close {
        client: bool,
    },
    Abort {
        client: bool,
    },
    Accept,
    Forge {
        to_server: bool,
        seg: Forged,
    },
    Icmp {
        to_server: bool,
        frag_needed: bool,
        mtu: u16,
        seq_delta: i16,
    },
    Raw {
        to_server: bool,
        bytes: Vec<u8>,
    },
}

/// What one side has written and read of its connection, by stream offset.
#[derive(Default)]
struct Stream {
    written: u64,
    read: u64,
}

struct World {
    now: Instant,
    client: Host,
    server: Host,
    listener: Option<ListenerId>,
    /// The client's connection and the server's accepted one.
    c: Option<ConnId>,
    s: Option<ConnId>,
    c_stream: Stream,
    s_stream: Stream,
    /// Packets in flight, per direction.
    to_server: VecDeque<Vec<u8>>,
    to_client: VecDeque<Vec<u8>>,
    /// The last segment seen going each way: forged segments are made near its numbers.
    last_to_server: Option<(u16, u16, u32, u32)>,
    last_to_client: Option<(u16, u16, u32, u32)>,
    /// Each side's initial sequence number, from its SYN: stream offset = seq - iss - 1.
    iss_client: Option<u32>,
    iss_server: Option<u32>,
    /// A forged SYN went out: if a host took it, that connection's numbering is the forger's
    /// (as TCP allows anyone who knows the numbers), and the stream check stops there.
    tainted: bool,
    buf: Vec<u8>,
}

impl World {
    fn new(secret: u64) -> World {
        let config = |s: u64| HostConfig {
            secret: u128::from(s),
            max_buffer_memory: 256 * 1024,
            ..HostConfig::default()
        };
        let mut server = Host::new(HostConfig {
            local_addrs: vec![SERVER],
            ..config(secret.wrapping_add(1))
        });
        let listener = server.listen(SocketAddr::new(SERVER, PORT), 2).ok();
        World {
            now: Instant::ZERO,
            client: Host::new(HostConfig {
                local_addrs: vec![CLIENT],
                ..config(secret)
            }),
            server,
            listener,
            c: None,
            s: None,
            c_stream: Stream::default(),
            s_stream: Stream::default(),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            last_to_server: None,
            last_to_client: None,
            iss_client: None,
            iss_server: None,
            tainted: false,
            buf: vec![0; 70_000],
        }
    }

    fn collect(&mut self) {
        while let Some(n) = self
            .client
            .poll_transmit(self.now, &mut self.buf)
            .map(|t| t.len)
        {
            let p = self.buf[..n].to_vec();
            if let Ok((_, t)) = parse_tcp(&p, ChecksumMode::Ignore) {
                self.last_to_server = Some((t.src_port, t.dst_port, t.seq, t.ack));
                if t.flags.syn() && self.iss_client.is_none() {
                    self.iss_client = Some(t.seq);
                }
            }
            if self.to_server.len() < 4096 {
                self.to_server.push_back(p);
            }
        }
        while let Some(n) = self
            .server
            .poll_transmit(self.now, &mut self.buf)
            .map(|t| t.len)
        {
            let p = self.buf[..n].to_vec();
            if let Ok((_, t)) = parse_tcp(&p, ChecksumMode::Ignore) {
                self.last_to_client = Some((t.src_port, t.dst_port, t.seq, t.ack));
                // The first SYN-ACK names the connection's ISN; a later one (answering a forged
                // SYN) would belong to another connection.
                if t.flags.syn() && t.dst_port != PORT && self.iss_server.is_none() {
                    self.iss_server = Some(t.seq);
                }
            }
            if self.to_client.len() < 4096 {
                self.to_client.push_back(p);
            }
        }
        while let Some(ev) = self.client.poll_event() {
            if let HostEvent::Closed(id, _) = ev
                && Some(id) == self.c
            {
                // Keep the handle: later calls on it must fail cleanly, not panic.
            }
        }
        while let Some(ev) = self.server.poll_event() {
            if let HostEvent::Accepted { .. } = ev {}
        }
    }

    fn queue(&mut self, to_server: bool) -> &mut VecDeque<Vec<u8>> {
        if to_server {
            &mut self.to_server
        } else {
            &mut self.to_client
        }
    }

    fn host(&mut self, server: bool) -> &mut Host {
        if server {
            &mut self.server
        } else {
            &mut self.client
        }
    }

    fn deliver(&mut self, to_server: bool, packet: &[u8]) {
        let now = self.now;
        self.host(to_server).handle_packet(now, packet);
    }

    fn read(&mut self, client: bool, len: usize) {
        let (id, host) = if client {
            (self.c, &mut self.client)
        } else {
            (self.s, &mut self.server)
        };
        let Some(id) = id else { return };
        let mut buf = vec![0u8; len.max(1)];
        if let Ok(n) = host.recv(id, &mut buf) {
            let stream = if client {
                &mut self.c_stream
            } else {
                &mut self.s_stream
            };
            for (i, b) in buf[..n].iter().enumerate().filter(|_| !self.tainted) {
                // What this side reads was written by the other side.
                assert_eq!(
                    *b,
                    pattern(stream.read + i as u64, !client),
                    "byte {} read by the {} is not the one written there",
                    stream.read + i as u64,
                    if client { "client" } else { "server" }
                );
            }
            stream.read += n as u64;
        }
    }

    fn forge(&mut self, to_server: bool, f: &Forged) -> Option<Vec<u8>> {
        // Toward the server: pretend to be the client, near the client's own numbers.
        let (src_port, dst_port, seq, ack) = if to_server {
            self.last_to_server?
        } else {
            self.last_to_client?
        };
        let seq = seq.wrapping_add(f.seq_delta as i32 as u32);
        let ack = ack.wrapping_add(f.ack_delta as i32 as u32);
        // The payload is the sender's own stream at the place `seq` names, so accepting it
        // (as a retransmission would be) must not change what the receiver reads.
        let (iss, from_client) = if to_server {
            (self.iss_client, true)
        } else {
            (self.iss_server, false)
        };
        let payload: Vec<u8> = match iss {
            Some(iss) => {
                // Offsets wrap with sequence numbers: a segment starting before the ISN has
                // its first in-window byte at offset 0 (streams here stay far below 4 GiB).
                let offset = seq.wrapping_sub(iss).wrapping_sub(1);
                (0..u32::from(f.payload))
                    .map(|k| pattern(u64::from(offset.wrapping_add(k)), from_client))
                    .collect()
            }
            None => Vec::new(),
        };
        let flags = TcpFlags::from_bits(f.flags);
        if flags.syn() {
            self.tainted = true;
        }
        // Data on a SYN would begin one past `seq`; keep forged SYNs bare.
        let payload = if flags.syn() { Vec::new() } else { payload };
        let mut options = TcpOptions::default();
        options.mss = f.mss;
        options.window_scale = f.wscale;
        options.sack_permitted = f.sack_permitted;
        options.timestamps = f.ts.map(|(a, b)| Timestamps {
            tsval: a as i32 as u32,
            tsecr: b as i32 as u32,
        });
        let seg = TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window: f.window,
            urgent_ptr: f.urgent,
            options,
            payload: &payload,
        };
        let (src, dst) = if to_server {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        let mut out = vec![0u8; tcp_packet_len(&seg, false)];
        let n = emit_tcp(&mut out, src, dst, 64, &seg).ok()?;
        out.truncate(n);
        Some(out)
    }

    fn step_timers(&mut self, until: Instant) {
        loop {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    self.client.handle_timeout(now);
                    self.server.handle_timeout(now);
                    self.collect();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Deliver { to_server, count } => {
                for _ in 0..=*count {
                    let Some(p) = self.queue(*to_server).pop_front() else {
                        break;
                    };
                    self.deliver(*to_server, &p);
                }
            }
            Op::Drop { to_server } => {
                self.queue(*to_server).pop_front();
            }
            Op::Duplicate { to_server } => {
                if let Some(p) = self.queue(*to_server).front().cloned() {
                    self.queue(*to_server).push_back(p);
                }
            }
            Op::Reorder { to_server } => {
                let q = self.queue(*to_server);
                if q.len() >= 2 {
                    q.swap(0, 1);
                }
            }
            Op::Advance { ms } => {
                let until = self.now + Duration::from_millis(u64::from(*ms));
                self.step_timers(until);
            }
            Op::Connect => {
                if self.c.is_none() {
                    self.c = self
                        .client
                        .connect(
                            self.now,
                            SocketAddr::new(CLIENT, 0),
                            SocketAddr::new(SERVER, PORT),
                        )
                        .ok();
                }
            }
            Op::Send { client, len } => {
                let (id, stream, host) = if *client {
                    (self.c, &mut self.c_stream, &mut self.client)
                } else {
                    (self.s, &mut self.s_stream, &mut self.server)
                };
                if let Some(id) = id {
                    let data: Vec<u8> = (0..u64::from(*len))
                        .map(|i| pattern(stream.written + i, *client))
                        .collect();
                    if let Ok(n) = host.send(id, &data) {
                        assert!(n <= data.len());
                        stream.written += n as u64;
                    }
                }
            }
            Op::Recv { client, len } => self.read(*client, usize::from(*len)),
            Op::Shutdown { client } => {
                let (id, host) = if *client {
                    (self.c, &mut self.client)
                } else {
                    (self.s, &mut self.server)
                };
                if let Some(id) = id {
                    let _ = host.shutdown(id);
                }
            }
            Op::Close { client } => {
                let now = self.now;
                let (id, host) = if *client {
                    (self.c, &mut self.client)
                } else {
                    (self.s, &mut self.server)
                };
                if let Some(id) = id {
                    let _ = host.close(now, id);
                }
            }
            Op::Abort { client } => {
                let (id, host) = if *client {
                    (self.c, &mut self.client)
                } else {
                    (self.s, &mut self.server)
                };
                if let Some(id) = id {
                    let _ = host.abort(id);
                }
            }
            Op::Accept => {
                if self.s.is_none()
                    && let Some(l) = self.listener
                {
                    self.s = self.server.accept(l);
                }
            }
            Op::Forge { to_server, seg } => {
                if let Some(p) = self.forge(*to_server, seg) {
                    self.deliver(*to_server, &p);
                }
            }
            Op::Icmp {
                to_server,
                frag_needed,
                mtu,
                seq_delta,
            } => {
                // An ICMP error from a router, quoting the oldest packet going the other way
                // (as if it had been dropped on the path), with its sequence number nudged.
                let quoted_from = if *to_server {
                    &self.to_client
                } else {
                    &self.to_server
                };
                let Some(orig) = quoted_from.front().cloned() else {
                    return;
                };
                let Ok((ip, _)) = parse_tcp(&orig, ChecksumMode::Ignore) else {
                    return;
                };
                let mut quote = orig[..28.min(orig.len())].to_vec();
                if quote.len() >= 28 {
                    let seq = u32::from_be_bytes([quote[24], quote[25], quote[26], quote[27]]);
                    let seq = seq.wrapping_add(*seq_delta as i32 as u32);
                    quote[24..28].copy_from_slice(&seq.to_be_bytes());
                }
                let repr = IcmpRepr::V4(Icmpv4Repr::DstUnreachable {
                    code: if *frag_needed { 4 } else { 1 },
                    next_hop_mtu: *mtu,
                    invoking: &quote,
                });
                let router = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254));
                let mut out = vec![0u8; 200];
                if let Ok(n) = emit_icmp(&mut out, router, ip.src, 64, &repr) {
                    self.deliver(*to_server, &out[..n]);
                }
            }
            Op::Raw { to_server, bytes } => self.deliver(*to_server, bytes),
        }
        self.collect();
    }
}

fuzz_target!(|input: (u64, Vec<Op>)| {
    let (secret, ops) = input;
    let mut w = World::new(secret);
    for op in ops.iter().take(400) {
        w.apply(op);
    }
    // Let everything play out: deliver all, run the clock for ten minutes, read everything.
    for _ in 0..2000 {
        let mut moved = false;
        while let Some(p) = w.to_server.pop_front() {
            w.deliver(true, &p);
            moved = true;
        }
        while let Some(p) = w.to_client.pop_front() {
            w.deliver(false, &p);
            moved = true;
        }
        w.collect();
        w.read(true, 1 << 16);
        w.read(false, 1 << 16);
        if !moved {
            let Some(next) = [w.client.poll_timeout(), w.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
            else {
                break;
            };
            if next > Instant::from_millis(600_000) {
                break;
            }
            w.step_timers(next);
        }
    }
});
