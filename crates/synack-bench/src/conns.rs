//! Memory per connection and the cost of one packet with 1 and with many connections open.
//! synack: one host whose peers are played by hand (as `synack-proto/benches/host.rs` does),
//! live heap from the counting allocator. smoltcp: the same with its sockets, at a smaller
//! count (every packet walks every socket). The kernel: not measured here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack_proto::Instant;
use synack_proto::host::{ConnId, Host, HostConfig, ListenerId};
use synack_wire::{ChecksumMode, TcpFlags, TcpOptions, TcpRepr, emit_tcp, parse_tcp};

use crate::Error;
use crate::alloc::live_bytes_of;
use crate::measure::{median, thread_cpu};

fn server_addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 80))
}

/// A distinct peer per connection: 11.x.y.z:40000.
pub fn peer(i: usize) -> SocketAddr {
    let [_, b, c, d] = (i as u32).to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(11, b, c, d)), 40_000)
}

const PEER_ISN: u32 = 7_000;

/// A peer's segment to the server as a datagram, into `buf`; returns its length.
pub fn datagram(
    from: SocketAddr,
    to: SocketAddr,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    buf: &mut [u8],
) -> usize {
    let repr = TcpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        seq,
        ack,
        flags,
        window: 29_200,
        urgent_ptr: 0,
        options: TcpOptions {
            mss: flags.syn().then_some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    emit_tcp(buf, from.ip(), to.ip(), 64, &repr).expect("fits")
}

struct Server {
    host: Host,
    listener: ListenerId,
    /// Each connection and the server's ISS on it.
    conns: Vec<(ConnId, u32)>,
    now: Instant,
    pkt: Vec<u8>,
    out: Vec<u8>,
}

impl Server {
    fn new(max: usize, max_time_wait: usize) -> Result<Server, Error> {
        let mut host = Host::new(HostConfig {
            secret: 0xbe7c,
            max_connections: max + 16,
            max_time_wait: max_time_wait + 16,
            ..HostConfig::default()
        });
        let listener = host
            .listen(server_addr(), 4096)
            .map_err(|e| Error::Stack(format!("{e:?}")))?;
        Ok(Server {
            host,
            listener,
            conns: Vec::new(),
            now: Instant::from_millis(1),
            pkt: vec![0; 128],
            out: vec![0; 2048],
        })
    }

    /// The server's next segment: (seq, flags).
    fn reply(&mut self) -> Option<(u32, TcpFlags)> {
        let n = self.host.poll_transmit(self.now, &mut self.out)?.len;
        let (_, t) = parse_tcp(&self.out[..n], ChecksumMode::Verify).ok()?;
        Some((t.seq, t.flags))
    }

    /// Completes a handshake from peer `i`.
    fn open(&mut self, i: usize) -> Result<(ConnId, u32), Error> {
        self.now += Duration::from_micros(1);
        let p = peer(i);
        let n = datagram(p, server_addr(), TcpFlags::SYN, PEER_ISN, 0, &mut self.pkt);
        self.host.handle_packet(self.now, &self.pkt[..n]);
        let (iss, _) = self
            .reply()
            .ok_or_else(|| Error::Stack("no SYN-ACK".into()))?;
        let n = datagram(
            p,
            server_addr(),
            TcpFlags::ACK,
            PEER_ISN + 1,
            iss.wrapping_add(1),
            &mut self.pkt,
        );
        self.host.handle_packet(self.now, &self.pkt[..n]);
        while self.host.poll_event().is_some() {}
        let id = self
            .host
            .accept(self.listener)
            .ok_or_else(|| Error::Stack("not established".into()))?;
        Ok((id, iss))
    }
}

/// `n` idle established connections on one host: (server, live heap bytes per connection).
fn established(n: usize) -> Result<(Server, Option<f64>), Error> {
    let (server, bytes) = live_bytes_of(|| -> Result<Server, Error> {
        let mut s = Server::new(n, 16)?;
        s.conns.reserve_exact(n);
        for i in 0..n {
            let c = s.open(i)?;
            s.conns.push(c);
        }
        Ok(s)
    });
    let server = server?;
    let ours = server.conns.capacity() * std::mem::size_of::<(ConnId, u32)>();
    Ok((server, bytes.map(|b| (b as f64 - ours as f64) / n as f64)))
}

/// `n` connections closed by the server and finished by their peers: bytes per compact
/// TIME-WAIT entry.
fn time_wait(n: usize) -> Result<Option<f64>, Error> {
    let mut s = Server::new(16, n)?;
    let (r, bytes) = live_bytes_of(|| -> Result<(), Error> {
        for i in 0..n {
            let (id, _) = s.open(i)?;
            s.host
                .close(s.now, id)
                .map_err(|e| Error::Stack(format!("{e:?}")))?;
            let (fin_seq, _) = s.reply().ok_or_else(|| Error::Stack("no FIN".into()))?;
            let m = datagram(
                peer(i),
                server_addr(),
                TcpFlags::FIN | TcpFlags::ACK,
                PEER_ISN + 1,
                fin_seq.wrapping_add(1),
                &mut s.pkt,
            );
            s.host.handle_packet(s.now, &s.pkt[..m]);
            while s.reply().is_some() {}
            while s.host.poll_event().is_some() {}
            if i % 1024 == 0 {
                s.host.handle_timeout(s.now);
            }
        }
        s.host.handle_timeout(s.now);
        Ok(())
    });
    r?;
    if s.host.time_wait_count() != n {
        return Err(Error::Stack(format!(
            "{} TIME-WAIT entries, expected {n}",
            s.host.time_wait_count()
        )));
    }
    Ok(bytes.map(|b| b as f64 / n as f64))
}

/// Packets handed to the host at once, as the runtime's driver reads them from its device.
const RX_BATCH: usize = 64;

/// One bare in-window ACK per connection picked, up to 4,096 of them, spread over the table
/// by a multiplicative walk; each is handled once here, so what is timed after finds every
/// connection already up to date with it (nothing to send in reply).
fn acks(s: &mut Server) -> Vec<Vec<u8>> {
    let picks = s.conns.len().min(4096);
    let pkts: Vec<Vec<u8>> = (0..picks)
        .map(|k| {
            let i = k.wrapping_mul(2_654_435_761) % s.conns.len();
            let mut p = vec![0u8; 128];
            let n = datagram(
                peer(i),
                server_addr(),
                TcpFlags::ACK,
                PEER_ISN + 1,
                s.conns[i].1.wrapping_add(1),
                &mut p,
            );
            p.truncate(n);
            p
        })
        .collect();
    for p in &pkts {
        s.host.handle_packet(s.now, p);
        while s.reply().is_some() {}
    }
    pkts
}

/// ns of CPU per bare in-window ACK through the host (parse, checksum, demux, RFC 9293
/// §3.10.7.4, and the `poll_transmit` that finds nothing to send), `acks` in turn; they
/// arrive [`RX_BATCH`] at a time (`Host::handle_packets`).
fn ns_per_packet(s: &mut Server, acks: &[Vec<u8>], packets: usize) -> f64 {
    let cpu0 = thread_cpu();
    let mut k = 0;
    while k < packets {
        let n = RX_BATCH.min(packets - k);
        let batch = (k..k + n).map(|j| acks[j % acks.len()].as_slice());
        s.host.handle_packets(s.now, batch);
        while std::hint::black_box(s.host.poll_transmit(s.now, &mut s.out)).is_some() {}
        k += n;
    }
    (thread_cpu() - cpu0).as_nanos() as f64 / packets as f64
}

/// Bursts each per-packet figure is measured in, the two hosts taking turns: on a machine
/// whose load changes from second to second, the figures at 1 and at `n` are then taken
/// under the same load, each the median of its bursts, rather than seconds apart.
const BURSTS: usize = 10;

/// synack's bytes per idle established connection and per compact TIME-WAIT entry at `n`,
/// without the per-packet figures (`None` when the counting allocator is not this
/// process's global allocator).
pub fn memory(n: usize) -> Result<(Option<f64>, Option<f64>), Error> {
    let (server, bytes_per_established) = established(n)?;
    drop(server);
    Ok((bytes_per_established, time_wait(n)?))
}

pub struct Conns {
    pub bytes_per_established: Option<f64>,
    pub bytes_per_time_wait: Option<f64>,
    pub ns_1: f64,
    pub ns_n: f64,
}

/// synack at `n` connections; `packets` ACKs on each host for the per-packet figures.
pub fn synack(n: usize, packets: usize) -> Result<Conns, Error> {
    let (mut one, _) = established(1)?;
    let (mut many, bytes_per_established) = established(n)?;
    let (acks_1, acks_n) = (acks(&mut one), acks(&mut many));
    let burst = packets.div_ceil(BURSTS).max(1);
    let (mut at_1, mut at_n) = (Vec::new(), Vec::new());
    for _ in 0..BURSTS {
        at_1.push(ns_per_packet(&mut one, &acks_1, burst));
        at_n.push(ns_per_packet(&mut many, &acks_n, burst));
    }
    drop((one, many));
    let bytes_per_time_wait = time_wait(n)?;
    Ok(Conns {
        bytes_per_established,
        bytes_per_time_wait,
        ns_1: median(at_1),
        ns_n: median(at_n),
    })
}
