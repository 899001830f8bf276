//! smoltcp: two interfaces in this thread exchanging IP packets over the same in-memory
//! [`Link`] synack uses, on the real clock. Its best settings for these workloads: sockets
//! with buffers of the case's size (window scaling follows), CUBIC, no delayed ACK, the
//! device's MTU and checksum capabilities as the case says, no burst limit.

use std::time::{Duration, Instant as Wall};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, CongestionControl, State};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use crate::link::{Link, Pool, Queue};
use crate::measure::{Stall, thread_cpu};
use crate::{BulkCase, Error, pattern};

const ADDR_A: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const ADDR_B: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const PORT: u16 = 5001;
const STALL: Duration = Duration::from_secs(20);

/// One side's view of the link as a smoltcp device.
struct Port<'l> {
    queues: &'l mut [Queue; 2],
    pool: &'l Pool,
    side: usize,
    offload: bool,
}

struct Rx<'l> {
    buf: Box<[u8]>,
    len: usize,
    pool: &'l Pool,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.buf[..self.len]);
        self.pool.give(self.buf);
        r
    }
}

struct Tx<'l> {
    queue: &'l mut Queue,
    pool: &'l Pool,
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.pool.take();
        let r = f(&mut buf[..len]);
        self.queue.push_back((buf, len));
        r
    }
}

impl phy::Device for Port<'_> {
    type RxToken<'a>
        = Rx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = Tx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let (buf, len) = self.queues[1 - self.side].pop_front()?;
        let rx = Rx {
            buf,
            len,
            pool: self.pool,
        };
        let tx = Tx {
            queue: &mut self.queues[self.side],
            pool: self.pool,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx {
            queue: &mut self.queues[self.side],
            pool: self.pool,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.pool.mtu();
        caps.max_burst_size = None;
        caps.checksum = if self.offload {
            ChecksumCapabilities::ignored()
        } else {
            ChecksumCapabilities::default()
        };
        caps
    }
}

/// Two interfaces, each with its socket set, joined by a link.
struct Pair {
    link: Link,
    offload: bool,
    ifaces: [Interface; 2],
    sockets: [SocketSet<'static>; 2],
    start: Wall,
}

impl Pair {
    fn new(mtu: usize, offload: bool) -> Pair {
        let mut link = Link::new(mtu);
        let start = Wall::now();
        let mk = |link: &mut Link, side: usize, addr: Ipv4Address| {
            let mut port = Port {
                queues: &mut link.queues,
                pool: &link.pool,
                side,
                offload,
            };
            let mut config = Config::new(HardwareAddress::Ip);
            config.random_seed = 0x5eed + side as u64;
            let mut iface = Interface::new(config, &mut port, Instant::from_micros(0));
            iface.update_ip_addrs(|a| {
                a.push(IpCidr::new(IpAddress::Ipv4(addr), 24)).unwrap();
            });
            iface
        };
        let a = mk(&mut link, 0, ADDR_A);
        let b = mk(&mut link, 1, ADDR_B);
        Pair {
            link,
            offload,
            ifaces: [a, b],
            sockets: [SocketSet::new(Vec::new()), SocketSet::new(Vec::new())],
            start,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as i64)
    }

    /// Polls both interfaces until no packet is on the link, all at one reading of the clock
    /// (as synack's harness waits).
    fn settle(&mut self) -> Result<(), Error> {
        let now = self.now();
        let mut stall = Stall::new(STALL);
        loop {
            self.poll_at(now);
            if !self.link.busy() {
                return Ok(());
            }
            if stall.expired() {
                return Err(Error::Stall("smoltcp: packets never stop".into()));
            }
        }
    }

    /// Polls each interface once (its ingress, its sockets' egress and timers).
    fn poll(&mut self) {
        let now = self.now();
        self.poll_at(now);
    }

    fn poll_at(&mut self, now: Instant) {
        for side in 0..2 {
            let mut port = Port {
                queues: &mut self.link.queues,
                pool: &self.link.pool,
                side,
                offload: self.offload,
            };
            self.ifaces[side].poll(now, &mut port, &mut self.sockets[side]);
        }
    }

    fn socket(&mut self, side: usize, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets[side].get_mut::<tcp::Socket>(h)
    }

    fn connect(&mut self, h: SocketHandle, local_port: u16) -> Result<(), Error> {
        let cx = self.ifaces[0].context();
        self.sockets[0]
            .get_mut::<tcp::Socket>(h)
            .connect(cx, (IpAddress::Ipv4(ADDR_B), PORT), local_port)
            .map_err(|e| Error::Stack(format!("smoltcp connect: {e}")))
    }
}

fn socket(buffer: usize) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; buffer]),
        tcp::SocketBuffer::new(vec![0u8; buffer]),
    );
    s.set_congestion_control(CongestionControl::Cubic);
    // Its default 10 ms delayed ACK starves a 64 KiB window at MTU 65535 (under one
    // segment's worth per ACK: 0.13 Gbit/s) and costs it 20-60 % elsewhere; ACKing every
    // segment is its best setting for every workload here.
    s.set_ack_delay(None);
    s
}

/// One stream of `bytes` from A to B. Returns Gbit/s of this thread's CPU time. Never
/// inlined, so a profiler can collect smoltcp's side alone.
#[inline(never)]
pub fn bulk(case: &BulkCase, bytes: u64) -> Result<f64, Error> {
    if case.tso {
        return Err(Error::Unavailable(
            "smoltcp has no segmentation offload: see its mtu1500-offload cases".into(),
        ));
    }
    let mut p = Pair::new(case.mtu, case.offload);
    let data = pattern();
    let server = p.sockets[1].add(socket(case.buffer));
    p.socket(1, server)
        .listen(PORT)
        .map_err(|e| Error::Stack(format!("smoltcp listen: {e}")))?;
    let client = p.sockets[0].add(socket(case.buffer));
    let cpu0 = thread_cpu();
    p.connect(client, 40_000)?;
    let (mut sent, mut received) = (0u64, 0u64);
    let (started, mut last_progress) = (Wall::now(), Wall::now());
    while received < bytes {
        let c = p.socket(0, client);
        // smoltcp's closure calls: written into the socket's buffer and read where it lies,
        // as synack's side does with `send_with` and `recv_with`.
        while sent < bytes && c.can_send() {
            let wrote = c.send(|room| {
                let n = crate::fill_from_pattern(&data, sent, bytes, room);
                (n, n)
            });
            match wrote {
                Ok(n @ 1..) => sent += n as u64,
                _ => break,
            }
        }
        p.poll();
        let before = received;
        let s = p.socket(1, server);
        while s.can_recv() {
            match s.recv(|lent| {
                let n = crate::read_in_place(lent);
                (n, n)
            }) {
                Ok(n @ 1..) => received += n as u64,
                _ => break,
            }
        }
        if received > before {
            last_progress = Wall::now();
            if started.elapsed() > crate::BULK_TIME_CAP {
                break;
            }
        } else if last_progress.elapsed() > STALL {
            return Err(Error::Stall(format!(
                "smoltcp bulk at {received} of {bytes}"
            )));
        }
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    Ok(received as f64 * 8.0 / cpu / 1e9)
}

/// Polls until `done` holds, within the stall bound.
fn until(p: &mut Pair, mut done: impl FnMut(&mut Pair) -> bool) -> Result<(), Error> {
    // The clock is read again only after a round that left the link quiet without `done`:
    // then only time can move things on. While packets cross, they do it at one instant, as
    // in synack's harness.
    let mut now = p.now();
    let mut quiet = false;
    let mut stall = Stall::new(STALL);
    while !done(p) {
        if quiet {
            now = p.now();
        }
        p.poll_at(now);
        quiet = !p.link.busy();
        if stall.expired() {
            return Err(Error::Stall("smoltcp: condition never reached".into()));
        }
    }
    Ok(())
}

fn exchange(p: &mut Pair, client: SocketHandle, server: SocketHandle) -> Result<(), Error> {
    let stack = |e: tcp::SendError| Error::Stack(format!("smoltcp send: {e}"));
    let mut one = [0u8; 1];
    p.socket(0, client).send_slice(b"q").map_err(stack)?;
    until(p, |p| p.socket(1, server).can_recv())?;
    p.socket(1, server).recv_slice(&mut one).ok();
    p.socket(1, server).send_slice(b"r").map_err(stack)?;
    until(p, |p| p.socket(0, client).can_recv())?;
    p.socket(0, client).recv_slice(&mut one).ok();
    Ok(())
}

/// `count` full lifecycles: connect, 1-byte request, 1-byte response, close with the client
/// first. smoltcp keeps a TIME-WAIT socket for 10 s and a socket is one connection, so once
/// the client reaches TIME-WAIT (and the server CLOSED) the client socket is aborted and both
/// are reused: the lifecycle is complete on the wire, but no TIME-WAIT state is kept.
pub fn crr(count: u64) -> Result<f64, Error> {
    let mut p = Pair::new(1500, false);
    let server = p.sockets[1].add(socket(64 << 10));
    let client = p.sockets[0].add(socket(64 << 10));
    let cpu0 = thread_cpu();
    for i in 0..count {
        p.socket(1, server)
            .listen(PORT)
            .map_err(|e| Error::Stack(format!("smoltcp listen: {e}")))?;
        p.connect(client, 20_000 + (i % 40_000) as u16)?;
        until(&mut p, |p| {
            p.socket(1, server).state() == State::Established
        })?;
        exchange(&mut p, client, server)?;
        p.socket(0, client).close();
        until(&mut p, |p| p.socket(1, server).state() == State::CloseWait)?;
        p.socket(1, server).close();
        until(&mut p, |p| {
            p.socket(1, server).state() == State::Closed
                && p.socket(0, client).state() == State::TimeWait
        })?;
        p.socket(0, client).abort();
        p.settle()?;
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    Ok(count as f64 / cpu)
}

/// `count` transactions on one connection. Returns transactions per second of CPU time.
pub fn rr(count: u64) -> Result<f64, Error> {
    let mut p = Pair::new(1500, false);
    let server = p.sockets[1].add(socket(64 << 10));
    let client = p.sockets[0].add(socket(64 << 10));
    p.socket(1, server)
        .listen(PORT)
        .map_err(|e| Error::Stack(format!("smoltcp listen: {e}")))?;
    p.connect(client, 40_000)?;
    until(&mut p, |p| {
        p.socket(1, server).state() == State::Established
    })?;
    let cpu0 = thread_cpu();
    for _ in 0..count {
        exchange(&mut p, client, server)?;
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    Ok(count as f64 / cpu)
}

/// Each smoltcp connection's buffers in the conns figures, each way: smoltcp allocates them
/// up front, so they count in full; 4 KiB is small for real use, which favours smoltcp.
pub const CONNS_BUFFER: usize = 4 << 10;

/// smoltcp's conns figures at `n` connections: `n` sockets listening on one port of a server
/// interface, each taken by a handshake from a peer played by hand (10.128.0.0/9 on the
/// interface's /8, since smoltcp routes replies only to its subnet). Returns (bytes per
/// established connection, ns per bare ACK at 1 connection, at `n`).
pub fn conns(n: usize, packets: usize) -> Result<(Option<f64>, f64, f64), Error> {
    let (mut one, _) = ConnsServer::established(1)?;
    let ns_1 = one.ns_per_packet(packets)?;
    drop(one);
    let ((mut many, bytes), _) = (ConnsServer::established(n)?, ());
    let ns_n = many.ns_per_packet(packets)?;
    Ok((bytes, ns_1, ns_n))
}

struct ConnsServer {
    link: Link,
    iface: Interface,
    sockets: SocketSet<'static>,
    /// Each peer's next sequence number and the server's.
    peers: Vec<(u32, u32)>,
    start: Wall,
}

fn conns_peer(i: usize) -> std::net::SocketAddr {
    let [_, b, c, d] = (i as u32).to_be_bytes();
    std::net::SocketAddr::from(([10, 128 | (b & 0x7f), c, d], 40_000))
}

impl ConnsServer {
    /// A server interface (10.0.0.1/8) with `n` sockets listening on port 80.
    fn listening(n: usize) -> Result<ConnsServer, Error> {
        let mut link = Link::new(1500);
        let mut port = Port {
            queues: &mut link.queues,
            pool: &link.pool,
            side: 1,
            offload: false,
        };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = 0xc0;
        let mut iface = Interface::new(config, &mut port, Instant::from_micros(0));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(
                IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 1)),
                8,
            ))
            .unwrap();
        });
        let mut s = ConnsServer {
            link,
            iface,
            sockets: SocketSet::new(Vec::with_capacity(n)),
            peers: Vec::with_capacity(n),
            start: Wall::now(),
        };
        for _ in 0..n {
            let mut sock = socket(CONNS_BUFFER);
            sock.listen(80)
                .map_err(|e| Error::Stack(format!("smoltcp listen: {e}")))?;
            s.sockets.add(sock);
        }
        Ok(s)
    }

    fn established(n: usize) -> Result<(ConnsServer, Option<f64>), Error> {
        let (r, bytes) = crate::alloc::live_bytes_of(|| -> Result<ConnsServer, Error> {
            let mut s = ConnsServer::listening(n)?;
            for i in 0..n {
                s.open(i)?;
            }
            Ok(s)
        });
        let s = r?;
        let ours = s.peers.capacity() * std::mem::size_of::<(u32, u32)>() + s.link.pool.mtu();
        Ok((s, bytes.map(|b| (b as f64 - ours as f64) / n as f64)))
    }

    /// Hands one datagram to the interface and returns what it sends back, if anything.
    fn exchange(&mut self, pkt: &[u8]) -> Option<(u32, synack_wire::TcpFlags)> {
        self.exchange_with(pkt, None)
    }

    /// As `exchange`, keeping only a reply to `to` when given (the rest is lost on the way).
    fn exchange_with(
        &mut self,
        pkt: &[u8],
        to: Option<std::net::SocketAddr>,
    ) -> Option<(u32, synack_wire::TcpFlags)> {
        if !pkt.is_empty() {
            let mut buf = self.link.pool.take();
            buf[..pkt.len()].copy_from_slice(pkt);
            self.link.push(0, buf, pkt.len());
        }
        let now = Instant::from_micros(self.start.elapsed().as_micros() as i64);
        let mut port = Port {
            queues: &mut self.link.queues,
            pool: &self.link.pool,
            side: 1,
            offload: false,
        };
        self.iface.poll(now, &mut port, &mut self.sockets);
        let mut reply = None;
        while let Some((buf, len)) = self.link.pop(0) {
            if let Ok((ip, t)) =
                synack_wire::parse_tcp(&buf[..len], synack_wire::ChecksumMode::Verify)
            {
                if to.is_none_or(|a| a.ip() == ip.dst && a.port() == t.dst_port) {
                    reply = Some((t.seq, t.flags));
                }
            }
            self.link.pool.give(buf);
        }
        reply
    }

    fn open(&mut self, i: usize) -> Result<(), Error> {
        use synack_wire::TcpFlags;
        let server = std::net::SocketAddr::from(([10, 0, 0, 1], 80));
        let mut pkt = [0u8; 128];
        let p = conns_peer(i);
        let n = crate::conns::datagram(p, server, TcpFlags::SYN, 7000, 0, &mut pkt);
        let (iss, flags) = self
            .exchange(&pkt[..n])
            .ok_or_else(|| Error::Stack("smoltcp: no SYN-ACK".into()))?;
        if flags != TcpFlags::SYN | TcpFlags::ACK {
            return Err(Error::Stack(format!(
                "smoltcp answered a SYN with {flags:?}"
            )));
        }
        let n = crate::conns::datagram(p, server, TcpFlags::ACK, 7001, iss + 1, &mut pkt);
        self.exchange(&pkt[..n]);
        self.peers.push((7001, iss.wrapping_add(1)));
        Ok(())
    }

    fn ns_per_packet(&mut self, packets: usize) -> Result<f64, Error> {
        use synack_wire::TcpFlags;
        let server = std::net::SocketAddr::from(([10, 0, 0, 1], 80));
        let n = self.peers.len();
        let pkts: Vec<Vec<u8>> = (0..n.min(4096))
            .map(|k| {
                let i = k.wrapping_mul(2_654_435_761) % n;
                let mut p = vec![0u8; 128];
                let (seq, ack) = self.peers[i];
                let len =
                    crate::conns::datagram(conns_peer(i), server, TcpFlags::ACK, seq, ack, &mut p);
                p.truncate(len);
                p
            })
            .collect();
        let established = self
            .sockets
            .iter()
            .filter(|(_, s)| match s {
                smoltcp::socket::Socket::Tcp(t) => t.state() == State::Established,
                #[allow(unreachable_patterns)]
                _ => false,
            })
            .count();
        if established != n {
            return Err(Error::Stack(format!(
                "smoltcp: {established} of {n} established"
            )));
        }
        let cpu0 = thread_cpu();
        for k in 0..packets {
            std::hint::black_box(self.exchange(&pkts[k % pkts.len()]));
        }
        Ok((thread_cpu() - cpu0).as_nanos() as f64 / packets as f64)
    }
}

/// Listening sockets in the flood: as many as the backlog synack's listener has.
pub const FLOOD_LISTENERS: usize = 128;

/// Legitimate handshakes under a SYN flood on smoltcp, which has no SYN queue and no SYN
/// cookies: [`FLOOD_LISTENERS`] sockets listen on one port, each taken by the first SYN that
/// reaches it (smoltcp sends the SYN-ACK from that socket, which then waits in SYN-RECEIVED
/// for the ACK; no timeout is set, smoltcp's default). `per_legit` forged SYNs from
/// 198.18.0.0/15 arrive before each legitimate handshake from a peer played by hand; their
/// SYN-ACKs leave by a default route and are lost. Each connection that completes is
/// aborted and its socket listens again, as an application accepting it would free it.
/// Returns (legitimate handshakes per second of CPU time, handshakes completed).
pub fn flood(handshakes: u64, per_legit: u64) -> Result<(f64, u64), Error> {
    use synack_wire::TcpFlags;
    let mut s = ConnsServer::listening(FLOOD_LISTENERS)?;
    s.iface
        .routes_mut()
        .add_default_ipv4_route(Ipv4Address::new(10, 0, 0, 254))
        .map_err(|e| Error::Stack(format!("smoltcp route: {e:?}")))?;
    let server = std::net::SocketAddr::from(([10, 0, 0, 1], 80));
    let mut pkt = [0u8; 128];
    let (mut k, mut done) = (0u64, 0u64);
    let cpu0 = thread_cpu();
    for i in 0..handshakes {
        for _ in 0..per_legit {
            let n = crate::conns::datagram(
                crate::flood::spoofed(k),
                server,
                TcpFlags::SYN,
                k as u32,
                0,
                &mut pkt,
            );
            k += 1;
            s.exchange(&pkt[..n]);
        }
        let p = conns_peer((i % (1 << 23)) as usize);
        let n = crate::conns::datagram(p, server, TcpFlags::SYN, 7000, 0, &mut pkt);
        let Some((iss, flags)) = s.exchange_with(&pkt[..n], Some(p)) else {
            continue;
        };
        if flags != TcpFlags::SYN | TcpFlags::ACK {
            continue;
        }
        let n = crate::conns::datagram(p, server, TcpFlags::ACK, 7001, iss + 1, &mut pkt);
        s.exchange_with(&pkt[..n], Some(p));
        let accepted = s.sockets.iter().find_map(|(h, sock)| match sock {
            smoltcp::socket::Socket::Tcp(t) if t.state() == State::Established => Some(h),
            #[allow(unreachable_patterns)]
            _ => None,
        });
        if let Some(h) = accepted {
            done += 1;
            s.sockets.get_mut::<tcp::Socket>(h).abort();
            // The abort's RST leaves with the next poll; the socket then listens again.
            s.exchange_with(&[], Some(p));
            let t = s.sockets.get_mut::<tcp::Socket>(h);
            if t.state() == State::Closed {
                t.listen(80)
                    .map_err(|e| Error::Stack(format!("smoltcp listen: {e}")))?;
            }
        }
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    Ok((done as f64 / cpu, done))
}
