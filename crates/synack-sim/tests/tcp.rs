//! Real TCP (synack-proto) over the faulty simulated link, as IP packets with checksums.
//!
//! `SYNACK_SEEDS=N` widens the seed sweep (default 24 seeds per profile).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use synack_proto::{Config, Connection, Event, Instant, StateName};
use synack_sim::{ConnNode, Link, LinkConfig, Pair, Side, pattern};

fn seeds() -> u64 {
    std::env::var("SYNACK_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24)
}

struct Run {
    pair: Pair<ConnNode, ConnNode>,
    a_data: Vec<u8>,
    b_data: Vec<u8>,
}

fn addrs(v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        (
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        )
    }
}

/// A client on side A and a server on side B exchange `len` bytes each way, then close.
fn transfer(seed: u64, link: LinkConfig, len: usize, v6: bool) -> Run {
    transfer_with(&Config::default(), seed, link, len, v6)
}

fn transfer_with(config: &Config, seed: u64, link: LinkConfig, len: usize, v6: bool) -> Run {
    transfer_within(config, seed, link, len, v6, Duration::from_secs(3600))
}

/// `transfer_with`, failing if the pair is not idle after `limit` of virtual time.
fn transfer_within(
    config: &Config,
    seed: u64,
    link: LinkConfig,
    len: usize,
    v6: bool,
    limit: Duration,
) -> Run {
    let config = config.clone();
    let (a_ip, b_ip) = addrs(v6);
    let mut a = ConnNode::new(
        Connection::connect(&config, 40000, 80, seed as u32 ^ 0x1234_5678),
        a_ip,
        b_ip,
    );
    let mut b = ConnNode::new(
        Connection::listen(&config, 80, (seed as u32).wrapping_mul(2_654_435_761)),
        b_ip,
        a_ip,
    );
    let a_data = pattern(seed * 2 + 1, len);
    let b_data = pattern(seed * 2 + 2, len);
    a.app.to_send = a_data.clone();
    a.app.shutdown_after_send = true;
    a.app.close_on_eof = true;
    b.app.to_send = b_data.clone();
    b.app.close_on_eof = true;
    let mut link = Link::new(seed, link).expect("valid link config");
    link.set_logging(true);
    let mut pair = Pair::new(a, b, link);
    pair.run_until_idle(Instant::ZERO + limit)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    Run {
        pair,
        a_data,
        b_data,
    }
}

fn check(run: &Run, seed: u64) {
    check_streams_and_close(run, seed);
    // A storm of ACKs answering ACKs would still deliver the bytes; bound the packet count
    // (the minimum is about 70 here) so such a loop fails the test.
    let offered = run.pair.link.stats(Side::A).offered + run.pair.link.stats(Side::B).offered;
    let budget = 40 * (run.a_data.len() as u64 / 1000 + 10);
    assert!(
        offered < budget,
        "seed {seed}: {offered} packets (ACK storm?)"
    );
}

/// Both streams arrived exactly, both ends are CLOSED without error after an orderly close.
fn check_streams_and_close(run: &Run, seed: u64) {
    let (a, b) = (&run.pair.a, &run.pair.b);
    assert!(
        b.app.received == run.a_data,
        "seed {seed}: A→B stream differs ({} of {} bytes)",
        b.app.received.len(),
        run.a_data.len()
    );
    assert!(
        a.app.received == run.b_data,
        "seed {seed}: B→A stream differs ({} of {} bytes)",
        a.app.received.len(),
        run.b_data.len()
    );
    for (name, node) in [("A", a), ("B", b)] {
        assert_eq!(node.conn.state(), StateName::Closed, "seed {seed}: {name}");
        assert_eq!(
            node.conn.error(),
            None,
            "seed {seed}: {name} ended with an error"
        );
        assert!(
            node.events
                .iter()
                .any(|(_, e)| *e == Event::Closed { error: None }),
            "seed {seed}: {name} never reported an orderly close"
        );
    }
    // The active closer waited out TIME-WAIT; the passive closer went through LAST-ACK.
    let visited = |node: &ConnNode, s: StateName| {
        node.events
            .iter()
            .any(|(_, e)| matches!(e, Event::StateChanged { to, .. } if *to == s))
    };
    assert!(visited(a, StateName::TimeWait) || visited(b, StateName::TimeWait));
}

fn lossy(loss: f64) -> LinkConfig {
    LinkConfig::new()
        .delay(Duration::from_millis(20))
        .jitter(Duration::from_millis(5))
        .bandwidth_bps(50_000_000)
        .loss(loss)
        .duplicate(0.02)
        .reorder(0.02)
        .corrupt(0.01)
}

#[test]
fn clean_link_transfers_both_ways_and_closes() {
    let run = transfer(
        1,
        LinkConfig::new().delay(Duration::from_millis(10)),
        300_000,
        false,
    );
    check(&run, 1);
    let lost = run.pair.link.stats(Side::A).lost + run.pair.link.stats(Side::B).lost;
    assert_eq!(lost, 0);
    assert_eq!(run.pair.a.conn.info().segs_retransmitted, 0);
}

#[test]
fn lossy_links_deliver_every_byte_exactly_once_in_order() {
    for (i, loss) in [0.01, 0.05, 0.10].into_iter().enumerate() {
        for seed in 0..seeds() {
            let seed = seed + 1000 * i as u64;
            let run = transfer(seed, lossy(loss), 40_000, seed % 2 == 0);
            check(&run, seed);
        }
    }
}

#[test]
fn losses_are_repaired_by_retransmission() {
    let run = transfer(7, lossy(0.10), 100_000, false);
    check(&run, 7);
    let stats = run.pair.link.stats(Side::A);
    assert!(
        stats.lost > 0,
        "the link lost nothing; the test proves nothing"
    );
    let info = run.pair.a.conn.info();
    assert!(info.segs_retransmitted > 0);
}

#[test]
fn same_seed_same_packets() {
    let run1 = transfer(99, lossy(0.05), 30_000, false);
    let run2 = transfer(99, lossy(0.05), 30_000, false);
    let log = |r: &Run| {
        assert!(!r.pair.link.events().is_empty());
        r.pair
            .link
            .events()
            .iter()
            .map(|e| format!("{e} {:?}", e.packet))
            .collect::<Vec<_>>()
    };
    assert_eq!(log(&run1), log(&run2));
    let run3 = transfer(100, lossy(0.05), 30_000, false);
    assert_ne!(log(&run1), log(&run3));
}

#[test]
fn bulk_transfers_with_auto_tuned_buffers_survive_a_lossy_link() {
    // A megabyte each way from small initial buffers: enough round trips for receive-buffer
    // auto-tuning and send-buffer growth to act while segments are lost, duplicated,
    // reordered and corrupted.
    let config = Config {
        recv_buffer: 16 * 1024,
        send_buffer: 16 * 1024,
        recv_buffer_max: 1 << 20,
        send_buffer_max: 1 << 20,
        ..Config::default()
    };
    let mut grew = 0u64;
    let runs = seeds().div_ceil(6);
    for seed in 0..runs {
        let seed = 5000 + seed;
        let run = transfer_with(&config, seed, lossy(0.02), 1 << 20, seed % 2 == 1);
        check(&run, seed);
        for node in [&run.pair.a, &run.pair.b] {
            let size = node.conn.info().recv_buffer;
            assert!(size <= 1 << 20, "seed {seed}: {size}");
            grew += u64::from(size > 16 * 1024);
        }
    }
    // Each side reads as fast as data comes, so at least one per run grows its buffer.
    assert!(
        grew >= runs,
        "only {grew} receive buffers grew in {runs} runs"
    );
}

#[test]
fn tiny_buffers_and_odd_segment_sizes_deliver_both_ways_and_close() {
    // Buffers of 0 (counted as 1), 1, 100 and 1000 bytes, smaller than a segment and (under
    // the shift of 7 that the default 4 MiB maximum asks for) some smaller than one scale
    // unit of 128 bytes, with segment sizes from 1 byte up: every window must reopen after
    // the reader empties the buffer, over a link that loses, duplicates, reorders and
    // corrupts. Segments of 16 bytes (the floor for a tiny MSS) without timestamps are slow
    // to repair: retransmission timeouts back off to two minutes with no fresh RTT sample to
    // bring them down (RFC 6298 §5.7), so the run is allowed a day of virtual time.
    let per_config = seeds().div_ceil(24);
    let mut seed = 7000;
    for buffer in [0usize, 1, 100, 1000] {
        for mss in [1460u16, 536, 1461, 7, 1] {
            for (window_scaling, timestamps) in [(true, true), (true, false), (false, true)] {
                let config = Config {
                    recv_buffer: buffer,
                    send_buffer: buffer,
                    mss,
                    window_scaling,
                    timestamps,
                    ..Config::default()
                };
                let len = if buffer <= 1 { 400 } else { 4000 };
                for _ in 0..per_config {
                    seed += 1;
                    let day = Duration::from_secs(24 * 3600);
                    let run = transfer_within(&config, seed, lossy(0.05), len, seed % 2 == 0, day);
                    check_streams_and_close(&run, seed);
                }
            }
        }
    }
}

/// Like `transfer_with`, but neither application reads at first: B starts reading after
/// `pause`, A after twice that, long after both streams (and A's FIN) have been sent.
fn transfer_late_readers(config: &Config, seed: u64, loss: f64, len: usize, pause: u64) -> Run {
    let (a_ip, b_ip) = addrs(seed % 2 == 0);
    let mut a = ConnNode::new(
        Connection::connect(config, 40000, 80, seed as u32),
        a_ip,
        b_ip,
    );
    let listener = Connection::listen(config, 80, (seed as u32).wrapping_mul(7));
    let mut b = ConnNode::new(listener, b_ip, a_ip);
    let a_data = pattern(seed * 2 + 1, len);
    let b_data = pattern(seed * 2 + 2, len);
    a.app.to_send = a_data.clone();
    a.app.shutdown_after_send = true;
    a.app.close_on_eof = true;
    a.app.reads = false;
    b.app.to_send = b_data.clone();
    b.app.close_on_eof = true;
    b.app.reads = false;
    let link = Link::new(seed, lossy(loss)).expect("valid link config");
    let mut pair = Pair::new(a, b, link);
    let run = |pair: &mut Pair<ConnNode, ConnNode>, until: u64| {
        pair.run_until(Instant::from_millis(until))
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"))
    };
    run(&mut pair, pause);
    pair.b.app.reads = true;
    run(&mut pair, 2 * pause);
    pair.a.app.reads = true;
    pair.run_until_idle(Instant::from_millis(2 * pause + 24 * 3_600_000))
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    Run {
        pair,
        a_data,
        b_data,
    }
}

#[test]
fn late_readers_behind_closed_windows_get_every_byte() {
    // Both windows close and stay closed for up to two minutes while the streams, A's FIN
    // and B's FIN wait; buffers smaller than a scale unit (a 1 GiB maximum asks for shift
    // 14, units of 16 KiB) included. A's connection is in TIME-WAIT long before its
    // application reads: a stray duplicate drawing a reset there used to throw the unread
    // stream away.
    //
    // In the second case the first segment B resends when A's window reopens is lost: the
    // timeout has to go back to SND.UNA (RFC 6298 §5.4) for the stream to go on.
    let mut cases = vec![
        (
            19210u64,
            512usize,
            2566usize,
            1 << 30,
            1478u16,
            false,
            0.0,
            113_759u64,
        ),
        (20045, 4050, 3599, 4050, 88, false, 0.05, 29_015),
    ];
    let mut x = 0x5DEE_CE66_D1CE_5EEDu64;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    for i in 0..seeds() {
        let recv = 1 + next(5000) as usize;
        let max = [recv, 4 << 20, 1 << 30][next(3) as usize];
        let mss = 1 + next(2000) as u16;
        let loss = [0.0, 0.02, 0.05][next(3) as usize];
        let send = 1 + next(5000) as usize;
        cases.push((
            20_000 + i,
            recv,
            send,
            max,
            mss,
            next(2) == 0,
            loss,
            1 + next(120_000),
        ));
    }
    for (seed, recv, send, max, mss, timestamps, loss, pause) in cases {
        let config = Config {
            recv_buffer: recv,
            recv_buffer_max: max,
            send_buffer: send,
            mss,
            timestamps,
            nodelay: true,
            ..Config::default()
        };
        let run = transfer_late_readers(&config, seed, loss, 8_000, pause);
        check_streams_and_close(&run, seed);
    }
}
