//! Legitimate handshakes under a SYN flood, on synack: a listener (backlog 128, SYN cookies
//! on) gets `per_legit` forged SYNs from spoofed sources before each legitimate connect from
//! a second host; the SYN-ACKs to the spoofed sources are drained and lost, as they would be.
//! Each accepted connection is aborted so state stays bounded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack_proto::Instant;
use synack_proto::host::{Host, HostConfig, HostEvent};
use synack_wire::TcpFlags;

use crate::Error;
use crate::conns::datagram;
use crate::measure::thread_cpu;

fn server() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 80))
}

/// A spoofed source for forged SYN `k`: 198.18.0.0/15 (RFC 2544's benchmarking range).
pub(crate) fn spoofed(k: u64) -> SocketAddr {
    let [_, _, c, d] = (k as u32).to_be_bytes();
    let b = 18 + ((k >> 16) & 1) as u8;
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(198, b, c, d)),
        1024 + (k % 60_000) as u16,
    )
}

fn client(i: u64) -> SocketAddr {
    let [_, b, c, d] = (i as u32).to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(11, b, c, d)), 40_000)
}

/// Returns legitimate handshakes completed per second of CPU time.
pub fn synack(handshakes: u64, per_legit: u64) -> Result<f64, Error> {
    let config = HostConfig {
        secret: 0xf100d,
        ..HostConfig::default()
    };
    let mut srv = Host::new(config.clone());
    let mut cli = Host::new(config);
    let listener = srv
        .listen(server(), 128)
        .map_err(|e| Error::Stack(format!("{e:?}")))?;
    let (mut pkt, mut buf) = (vec![0u8; 128], vec![0u8; 2048]);
    let mut now = Instant::from_millis(1);
    let mut k = 0u64;
    let mut done = 0u64;
    let cpu0 = thread_cpu();
    for i in 0..handshakes {
        now += std::time::Duration::from_micros(10);
        for _ in 0..per_legit {
            let n = datagram(spoofed(k), server(), TcpFlags::SYN, k as u32, 0, &mut pkt);
            k += 1;
            srv.handle_packet(now, &pkt[..n]);
            while srv.poll_transmit(now, &mut buf).is_some() {}
        }
        let c = cli
            .connect(now, client(i), server())
            .map_err(|e| Error::Stack(format!("{e:?}")))?;
        // Bounded: a handshake is three packets, a few more if a cookie ACK must wait.
        for _ in 0..16 {
            let mut moved = false;
            while let Some(n) = cli.poll_transmit(now, &mut buf).map(|t| t.len) {
                srv.handle_packet(now, &buf[..n]);
                moved = true;
            }
            while let Some(n) = srv.poll_transmit(now, &mut buf).map(|t| t.len) {
                // Only what is addressed to our client reaches it; the rest was for spoofed
                // sources.
                cli.handle_packet(now, &buf[..n]);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        while let Some(e) = srv.poll_event() {
            if let HostEvent::Accepted { .. } = e {
                if let Some(s) = srv.accept(listener) {
                    done += 1;
                    let _ = srv.abort(s);
                }
            }
        }
        while srv.poll_transmit(now, &mut buf).is_some() {}
        while cli.poll_event().is_some() {}
        let _ = cli.abort(c);
        while cli.poll_transmit(now, &mut buf).is_some() {}
        if i % 1024 == 0 {
            srv.handle_timeout(now);
            cli.handle_timeout(now);
        }
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    if done * 10 < handshakes * 9 {
        return Err(Error::Stack(format!(
            "only {done} of {handshakes} legitimate handshakes completed under the flood"
        )));
    }
    Ok(done as f64 / cpu)
}
