//! `HostConfig::segmentation_offload`: a sender whose device cuts super-segments emits
//! datagrams of up to 64 KiB that, cut at `Transmit::segment_size`, are exactly the segments
//! a sender without it puts on the wire, byte for byte, through slow start, losses and their
//! repair, Nagle's short tails and the FIN. The two conversations are run side by side on the
//! same virtual wire and compared packet by packet.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use synack_proto::host::{ConnId, Host, HostConfig, HostEvent};
use synack_proto::{Config, Instant};
use synack_wire::{ChecksumMode, parse_tcp, segment_tcp};

const DELAY: Duration = Duration::from_millis(5);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// How the sender's application writes.
#[derive(Clone, Copy)]
enum Writes {
    /// Everything at once (as much as the buffer takes, topped up on `Writable`).
    Bulk,
    /// `chunk` bytes every `every`, Nagle on: short tails wait behind unacknowledged ones.
    Paced { chunk: usize, every: Duration },
}

/// What one run put on the wire, and what its sender emitted as datagrams.
struct Run {
    /// Every segment on the wire in either direction, in order, with when it left.
    wire: Vec<(u64, Vec<u8>)>,
    /// Sizes of the sender's datagrams that were super-segments (more than one piece).
    supers: Vec<usize>,
    /// Super-segments that started below the highest sequence number sent: repairs.
    repaired_supers: usize,
    received: Vec<u8>,
}

fn run(tso: bool, total: usize, writes: Writes, lose: &[usize], mtu: u16) -> Run {
    let tcp = Config {
        mtu,
        send_buffer: 256 * 1024,
        recv_buffer: 512 * 1024,
        ..Config::default()
    };
    let mut client = Host::new(HostConfig {
        secret: 7,
        tcp: tcp.clone(),
        segmentation_offload: tso,
        ..HostConfig::default()
    });
    let mut server = Host::new(HostConfig {
        secret: 8,
        tcp,
        ..HostConfig::default()
    });
    let data: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
    server.listen(addr("10.0.0.2:80"), 8).unwrap();
    let mut now = Instant::from_millis(1);
    let conn = client
        .connect(now, addr("10.0.0.1:0"), addr("10.0.0.2:80"))
        .unwrap();
    let mut accepted: Option<ConnId> = None;
    let mut written = 0usize;
    let mut closed = false;
    let mut next_write = now;
    // (arrival time, sequence of sending) → (to server?, bytes)
    let mut in_flight: BTreeMap<(u64, u64), (bool, Vec<u8>)> = BTreeMap::new();
    let mut sent_count = 0u64;
    let mut data_pieces = 0usize;
    let mut highest_end: Option<u32> = None;
    let mut out = Run {
        wire: Vec::new(),
        supers: Vec::new(),
        repaired_supers: 0,
        received: Vec::new(),
    };
    let mut buf = vec![0u8; 70_000];
    let mut scratch = vec![0u8; 70_000];
    let mut rbuf = vec![0u8; 1 << 16];
    for _ in 0..1_000_000 {
        // The application: write what is due and fits; close once everything is written.
        if now >= next_write && !closed {
            let want = match writes {
                Writes::Bulk => total - written,
                Writes::Paced { chunk, every } => {
                    next_write = now + every;
                    chunk.min(total - written)
                }
            };
            if want > 0 {
                written += client
                    .send(conn, &data[written..written + want])
                    .unwrap_or(0);
            }
            if written == total {
                client.close(now, conn).unwrap();
                closed = true;
            }
        }
        while let Some(ev) = server.poll_event() {
            if let HostEvent::Accepted { conn, .. } = ev {
                accepted = Some(conn);
            }
        }
        while client.poll_event().is_some() {}
        if let Some(c) = accepted {
            while let Ok(n) = server.recv(c, &mut rbuf) {
                if n == 0 {
                    break;
                }
                out.received.extend_from_slice(&rbuf[..n]);
            }
        }
        // Both hosts transmit; the sender's super-segments are cut as its device would.
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            assert!(t.len <= 65_535, "an IP datagram is at most 64 KiB");
            let mut pieces = Vec::new();
            match t.segment_size {
                Some(size) => {
                    assert!(tso, "no super-segment without segmentation offload");
                    let n = segment_tcp(
                        &buf[..t.len],
                        usize::from(size),
                        &mut scratch,
                        ChecksumMode::Verify,
                        |p| pieces.push(p.to_vec()),
                    )
                    .unwrap();
                    assert!(n > 1, "a super-segment holds more than one piece");
                    out.supers.push(t.len);
                    let (_, seg) = parse_tcp(&buf[..t.len], ChecksumMode::Ignore).unwrap();
                    if highest_end.is_some_and(|h| (seg.seq.wrapping_sub(h) as i32) < 0) {
                        out.repaired_supers += 1;
                    }
                }
                None => {
                    let mtu = usize::from(mtu);
                    assert!(t.len <= mtu, "a lone segment fits the MTU");
                    pieces.push(buf[..t.len].to_vec());
                }
            }
            for p in pieces {
                let (_, seg) = parse_tcp(&p, ChecksumMode::Verify).unwrap();
                assert!(p.len() <= usize::from(mtu), "every piece fits the MTU");
                let end = seg.seq.wrapping_add(seg.payload.len() as u32);
                if highest_end.is_none_or(|h| (end.wrapping_sub(h) as i32) > 0) {
                    highest_end = Some(end);
                }
                out.wire.push((now.as_micros(), p.clone()));
                let lost = if seg.payload.is_empty() {
                    false
                } else {
                    data_pieces += 1;
                    lose.contains(&data_pieces)
                };
                sent_count += 1;
                if !lost {
                    in_flight.insert(((now + DELAY).as_micros(), sent_count), (true, p));
                }
            }
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            assert_eq!(t.segment_size, None);
            out.wire.push((now.as_micros(), buf[..t.len].to_vec()));
            sent_count += 1;
            in_flight.insert(
                ((now + DELAY).as_micros(), sent_count),
                (false, buf[..t.len].to_vec()),
            );
        }
        let mut next = [
            client.poll_timeout(),
            server.poll_timeout(),
            in_flight
                .keys()
                .next()
                .map(|&(at, _)| Instant::from_micros(at)),
        ]
        .into_iter()
        .flatten()
        .min();
        if matches!(writes, Writes::Paced { .. }) && !closed {
            next = Some(next.map_or(next_write, |n| n.min(next_write)));
        }
        let Some(next) = next else {
            break;
        };
        now = now.max(next);
        while let Some(entry) = in_flight.first_entry() {
            if entry.key().0 > now.as_micros() {
                break;
            }
            let (to_server, p) = entry.remove();
            if to_server {
                server.handle_packet(now, &p);
            } else {
                client.handle_packet(now, &p);
            }
        }
        client.handle_timeout(now);
        server.handle_timeout(now);
        if closed && out.received.len() == total && client.connection_count() == 0 {
            break;
        }
    }
    assert_eq!(out.received, data, "the stream arrives whole (tso: {tso})");
    out
}

fn same_wire(a: &Run, b: &Run) {
    assert_eq!(a.wire.len(), b.wire.len(), "as many segments on the wire");
    for (i, (x, y)) in a.wire.iter().zip(&b.wire).enumerate() {
        assert_eq!(x, y, "segment {i} on the wire differs");
    }
}

#[test]
fn super_segments_cut_into_exactly_the_segments_of_an_mss_sender() {
    let mss_host = run(false, 3 << 20, Writes::Bulk, &[], 1500);
    let tso_host = run(true, 3 << 20, Writes::Bulk, &[], 1500);
    same_wire(&mss_host, &tso_host);
    assert!(mss_host.supers.is_empty());
    assert!(!tso_host.supers.is_empty(), "a TSO host joins segments");
    let biggest = *tso_host.supers.iter().max().unwrap();
    assert!(
        biggest > 60_000 && biggest <= 65_535,
        "super-segments grow to 64 KiB: {biggest}"
    );
}

#[test]
fn losses_are_repaired_with_the_same_segments_and_repairs_may_be_super_segments() {
    // A burst of losses in slow start (a timeout resends a run of segments) and single
    // losses later (SACK repairs).
    let lose: Vec<usize> = (40..60).chain([300, 301, 700]).collect();
    let mss_host = run(false, 2 << 20, Writes::Bulk, &lose, 1500);
    let tso_host = run(true, 2 << 20, Writes::Bulk, &lose, 1500);
    same_wire(&mss_host, &tso_host);
    assert!(
        tso_host.repaired_supers > 0,
        "some retransmission left as a super-segment"
    );
}

#[test]
fn nagle_and_short_writes_give_the_same_segments() {
    let writes = Writes::Paced {
        chunk: 5000,
        every: Duration::from_millis(1),
    };
    let mss_host = run(false, 400_000, writes, &[], 1500);
    let tso_host = run(true, 400_000, writes, &[], 1500);
    same_wire(&mss_host, &tso_host);
    assert!(!tso_host.supers.is_empty());
}

#[test]
fn ipv4_at_a_jumbo_mtu_still_stays_within_64_kib() {
    let mss_host = run(false, 1 << 20, Writes::Bulk, &[], 9000);
    let tso_host = run(true, 1 << 20, Writes::Bulk, &[], 9000);
    same_wire(&mss_host, &tso_host);
    assert!(tso_host.supers.iter().all(|&n| n <= 65_535));
    assert!(!tso_host.supers.is_empty());
}
