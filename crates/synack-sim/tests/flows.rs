//! Several flows on one bottleneck: fairness between flows of the same controller, bulk
//! transfer that never stalls, and the dumbbell's own rules (per-flow round trips, the queue,
//! bad configurations).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use synack_proto::{Config, CongestionControl, CongestionSettings, Connection, Instant};
use synack_sim::dumbbell::bdp_bytes;
use synack_sim::{BulkNode, Dumbbell, DumbbellConfig, DumbbellError, FlowEnds, Side, jain_index};

fn sender_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, i as u8 + 1))
}

fn receiver_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 2, 0, i as u8 + 1))
}

/// One flow per entry of `flows` (round trip, start), each moving `bytes` bytes.
fn dumbbell(
    shared: &DumbbellConfig,
    config: &Config,
    flows: &[(Duration, Instant)],
    bytes: u64,
) -> Dumbbell<BulkNode> {
    let ends = flows
        .iter()
        .enumerate()
        .map(|(i, &(rtt, start))| {
            let salt = shared.seed ^ (i as u64) << 32;
            let port = 40000 + i as u16;
            let iss = (shared.seed as u32)
                .wrapping_mul(7919)
                .wrapping_add(i as u32);
            FlowEnds {
                sender: BulkNode::sender(
                    Connection::connect(config, port, 80, iss),
                    sender_ip(i),
                    receiver_ip(i),
                    bytes,
                    salt,
                )
                .starting_at(start)
                .tracing_cwnd(),
                sender_addr: sender_ip(i),
                receiver: BulkNode::receiver(
                    Connection::listen(config, 80, iss ^ 0x5555),
                    receiver_ip(i),
                    sender_ip(i),
                    bytes,
                    salt,
                ),
                receiver_addr: receiver_ip(i),
                rtt,
            }
        })
        .collect();
    Dumbbell::new(shared, ends).expect("valid dumbbell")
}

fn cc_config(cc: CongestionControl) -> Config {
    Config {
        congestion: CongestionSettings {
            controller: cc,
            ..CongestionSettings::default()
        },
        ..Config::default()
    }
}

/// Bytes each receiver read during `[from, to)` of virtual time.
fn read_between(db: &mut Dumbbell<BulkNode>, from: Instant, to: Instant) -> Vec<u64> {
    db.run_until(from).expect("runs");
    let before: Vec<u64> = db.receivers.iter().map(|r| r.read).collect();
    db.run_until(to).expect("runs");
    db.receivers
        .iter()
        .zip(before)
        .map(|(r, b)| r.read - b)
        .collect()
}

/// Two flows of `cc` share 10 Mbit/s at 20 ms, the second joining `join` seconds after the
/// first had the link to itself; over the last 20 of 30 seconds each must get within 20% of
/// half of what got through, and together they must keep the link busy.
fn two_flows_converge(cc: CongestionControl, join: u64) {
    let seed = join;
    let bandwidth = 10_000_000;
    let shared = DumbbellConfig {
        bandwidth_bps: bandwidth,
        queue_bytes: None,
        loss: 0.0,
        seed,
    };
    let rtt = Duration::from_millis(20);
    let mut db = dumbbell(
        &shared,
        &cc_config(cc),
        &[
            (rtt, Instant::ZERO),
            (rtt, Instant::from_millis(join * 1000)),
        ],
        u64::MAX / 4,
    );
    let (from, to) = (Instant::from_millis(10_000), Instant::from_millis(30_000));
    let got = read_between(&mut db, from, to);
    let secs = to.saturating_duration_since(from).as_secs_f64();
    let rates: Vec<f64> = got.iter().map(|&b| b as f64 * 8.0 / secs).collect();
    let total: f64 = rates.iter().sum();
    let fair = total / rates.len() as f64;
    let infos: Vec<_> = db.senders.iter().map(|s| s.conn.info()).collect();
    eprintln!(
        "{cc:?} joining at {join} s: {:?} Mbit/s, Jain {:.3}, fast retransmits {:?}, RTOs {:?}",
        rates.iter().map(|r| r / 1e6).collect::<Vec<_>>(),
        jain_index(&rates),
        infos
            .iter()
            .map(|i| i.cc.fast_retransmits)
            .collect::<Vec<_>>(),
        infos.iter().map(|i| i.rto_expirations).collect::<Vec<_>>(),
    );
    for (i, r) in rates.iter().enumerate() {
        assert!(
            (r - fair).abs() <= 0.2 * fair,
            "{cc:?} joining at {join} s: flow {i} got {r:.0} bit/s, fair share {fair:.0}"
        );
    }
    assert!(
        total >= 0.9 * bandwidth as f64,
        "{cc:?} joining at {join} s: the two flows used only {total:.0} of {bandwidth} bit/s"
    );
    assert!(db.receivers.iter().all(|r| r.intact), "a byte went wrong");
    // The second flow really had to take its share from the first: both saw losses at the
    // shared queue and cut their windows.
    assert!(
        infos.iter().all(|i| i.cc.fast_retransmits > 0),
        "{cc:?}: {infos:?}"
    );
    assert!(db.bottleneck.stats(Side::A).queue_drops > 0);
}

#[test]
fn two_cubic_flows_converge_to_a_fair_share() {
    for join in [2, 5] {
        two_flows_converge(CongestionControl::Cubic, join);
    }
}

#[test]
fn two_newreno_flows_converge_to_a_fair_share() {
    for join in [2, 5] {
        two_flows_converge(CongestionControl::NewReno, join);
    }
}

/// Two CUBIC flows start together on 50 Mbit/s behind a drop-tail queue of one
/// bandwidth-delay product. Without pacing, each flow's slow-start bursts pass through the
/// queue the other's bursts build, so HyStart++ (RFC 9406) sees the RTT rise and fall within
/// a round. It must still leave standard slow start: the queue overflows in Conservative Slow
/// Start, whose rounds add a quarter of the window (at most half a BDP in all when the queue
/// is full, plus what a round trip of loss detection lets through), not in a doubling (a BDP
/// and more). So what the queue drops before the first recoveries end stays under three
/// quarters of a BDP, and neither flow times out.
#[test]
fn two_cubic_flows_starting_together_leave_slow_start_before_doubling_into_the_queue() {
    let bandwidth = 50_000_000;
    for rtt_ms in [40, 80] {
        let rtt = Duration::from_millis(rtt_ms);
        let shared = DumbbellConfig {
            bandwidth_bps: bandwidth,
            queue_bytes: None,
            loss: 0.0,
            seed: 1,
        };
        let mut db = dumbbell(
            &shared,
            &cc_config(CongestionControl::Cubic),
            &[(rtt, Instant::ZERO), (rtt, Instant::ZERO)],
            u64::MAX / 4,
        );
        // Slow start and the recoveries that end it are over well within 30 round trips.
        db.run_until(Instant::ZERO + rtt * 30).expect("runs");
        let bdp_segments = bdp_bytes(bandwidth, rtt) as u64 / 1448;
        let drops = db.bottleneck.stats(Side::A).queue_drops;
        let infos: Vec<_> = db.senders.iter().map(|s| s.conn.info()).collect();
        eprintln!(
            "{rtt_ms} ms: {drops} drops ({bdp_segments} segments in a BDP), retransmitted {:?}, \
             RTOs {:?}",
            infos
                .iter()
                .map(|i| i.segs_retransmitted)
                .collect::<Vec<_>>(),
            infos.iter().map(|i| i.rto_expirations).collect::<Vec<_>>(),
        );
        assert!(
            drops * 4 <= bdp_segments * 3,
            "{rtt_ms} ms: the queue dropped {drops} segments, a BDP is {bdp_segments}"
        );
        for (i, info) in infos.iter().enumerate() {
            assert!(
                info.cc.fast_retransmits > 0,
                "flow {i} never filled the queue"
            );
            assert_eq!(info.rto_expirations, 0, "flow {i}: {info:?}");
        }
    }
}

/// Two CUBIC flows on 50 Mbit/s at 150 ms: after the slow-start overshoot each has a window
/// of hundreds of segments beyond its first hole. The receiver must keep all of them (they
/// are within the window it offered), so that every retransmission repairs a drop at the
/// queue: a receiver that turned segments away past 512 held pieces had them resent without
/// a loss the sender could see, well over a thousand in all, and a timeout.
#[test]
fn every_retransmission_repairs_a_queue_drop_when_windows_are_large() {
    let rtt = Duration::from_millis(150);
    let shared = DumbbellConfig {
        bandwidth_bps: 50_000_000,
        queue_bytes: None,
        loss: 0.0,
        seed: 1,
    };
    let mut db = dumbbell(
        &shared,
        &cc_config(CongestionControl::Cubic),
        &[(rtt, Instant::ZERO), (rtt, Instant::ZERO)],
        u64::MAX / 4,
    );
    db.run_until(Instant::from_millis(8_000)).expect("runs");
    let drops = db.bottleneck.stats(Side::A).queue_drops;
    let infos: Vec<_> = db.senders.iter().map(|s| s.conn.info()).collect();
    let retransmitted: u64 = infos.iter().map(|i| i.segs_retransmitted).sum();
    eprintln!(
        "{drops} drops, retransmitted {:?}, RTOs {:?}",
        infos
            .iter()
            .map(|i| i.segs_retransmitted)
            .collect::<Vec<_>>(),
        infos.iter().map(|i| i.rto_expirations).collect::<Vec<_>>(),
    );
    assert!(drops > 0, "the queue never overflowed");
    // A retransmission still queued when the run stops counts without its drop being known;
    // a few dozen cover that.
    assert!(
        retransmitted <= drops + 32,
        "{retransmitted} retransmissions for {drops} drops"
    );
    assert!(infos.iter().all(|i| i.rto_expirations == 0), "{infos:?}");
    assert!(db.receivers.iter().all(|r| r.intact));
}

/// Delayed ACKs (40 ms), Nagle's algorithm and a receive window of one bandwidth-delay
/// product (not a whole number of segments, so the window's edge cuts segments short): the
/// classic recipe for a sender holding back a short segment while the receiver holds back
/// the ACK it waits for. The transfer must never stall: no timeout, no silence at the
/// receiver as long as the delayed-ACK timer (which a round trip of 30 ms undercuts), and
/// goodput near the link rate.
#[test]
fn bulk_with_delayed_ack_nagle_and_a_window_of_one_bdp_never_stalls() {
    let bandwidth = 10_000_000;
    let rtt = Duration::from_millis(30);
    let window = bdp_bytes(bandwidth, rtt);
    assert_ne!(window % 1460, 0, "the window should cut a segment short");
    for cc in [CongestionControl::Cubic, CongestionControl::NewReno] {
        let config = Config {
            congestion: CongestionSettings {
                controller: cc,
                ..CongestionSettings::default()
            },
            delayed_ack: Some(Duration::from_millis(40)),
            nodelay: false,
            recv_buffer: window,
            recv_buffer_max: window,
            ..Config::default()
        };
        let shared = DumbbellConfig {
            bandwidth_bps: bandwidth,
            queue_bytes: None,
            loss: 0.0,
            seed: 5,
        };
        let bytes = 4_000_000;
        let mut db = dumbbell(&shared, &config, &[(rtt, Instant::ZERO)], bytes);
        let done = db
            .run_until_done(
                Duration::from_millis(10),
                Instant::from_millis(60_000),
                |d| d.receivers[0].is_done(),
            )
            .expect("runs");
        assert!(done, "{cc:?}: only {} bytes arrived", db.receivers[0].read);
        let (s, r) = (&db.senders[0], &db.receivers[0]);
        let info = s.conn.info();
        let goodput = r.goodput_bps(Instant::ZERO, db.now());
        eprintln!(
            "{cc:?}: {:.2} Mbit/s, longest silence {:?}, {} RTOs, {} fast retransmits",
            goodput / 1e6,
            r.longest_silence(),
            info.rto_expirations,
            info.cc.fast_retransmits
        );
        assert!(r.intact && r.read == bytes);
        assert_eq!(info.rto_expirations, 0, "{cc:?}: {info:?}");
        assert!(
            r.longest_silence() < rtt,
            "{cc:?}: the receiver heard nothing for {:?}",
            r.longest_silence()
        );
        assert!(
            goodput >= 0.85 * bandwidth as f64,
            "{cc:?}: {goodput:.0} bit/s on a {bandwidth} bit/s link"
        );
    }
}

/// Each flow keeps its own round trip: on an idle link, each sender's smoothed RTT is its
/// configured one plus no more than the serialization and queueing the flows cause.
#[test]
fn each_flow_has_its_own_round_trip() {
    let shared = DumbbellConfig {
        bandwidth_bps: 100_000_000,
        queue_bytes: None,
        loss: 0.0,
        seed: 3,
    };
    let rtts = [Duration::from_millis(10), Duration::from_millis(60)];
    let mut db = dumbbell(
        &shared,
        &Config::default(),
        &[(rtts[0], Instant::ZERO), (rtts[1], Instant::ZERO)],
        20_000,
    );
    let done = db
        .run_until_done(
            Duration::from_millis(5),
            Instant::from_millis(10_000),
            |d| {
                d.receivers.iter().all(BulkNode::is_done) && d.senders.iter().all(BulkNode::is_done)
            },
        )
        .expect("runs");
    assert!(done);
    for (i, rtt) in rtts.iter().enumerate() {
        let srtt = db.senders[i].conn.info().srtt.expect("measured");
        assert!(
            srtt >= *rtt && srtt < *rtt + Duration::from_millis(5),
            "flow {i}: srtt {srtt:?} for a {rtt:?} path"
        );
    }
    assert_eq!(
        db.queue_bytes,
        bdp_bytes(100_000_000, rtts[1]),
        "the default queue is one BDP at the longest round trip"
    );
}

/// The queue is drop-tail in bytes: a tiny one drops, losses are drawn from the seed (the same
/// seed gives the same run), and random loss hits data only.
#[test]
fn the_queue_and_the_loss_are_the_bottlenecks_own() {
    let run = |queue: Option<usize>, loss: f64, seed: u64| {
        let shared = DumbbellConfig {
            bandwidth_bps: 10_000_000,
            queue_bytes: queue,
            loss,
            seed,
        };
        let rtt = Duration::from_millis(20);
        let mut db = dumbbell(
            &shared,
            &Config::default(),
            &[(rtt, Instant::ZERO), (rtt, Instant::ZERO)],
            1_000_000,
        );
        let done = db
            .run_until_done(
                Duration::from_millis(10),
                Instant::from_millis(120_000),
                |d| d.receivers.iter().all(BulkNode::is_done),
            )
            .expect("runs");
        assert!(done && db.receivers.iter().all(|r| r.intact));
        (
            *db.bottleneck.stats(Side::A),
            *db.bottleneck.stats(Side::B),
            db.now(),
        )
    };
    let (small, _, _) = run(Some(3000), 0.0, 1);
    assert!(small.queue_drops > 0 && small.lost == 0, "{small:?}");
    let (big, _, _) = run(Some(10_000_000), 0.0, 1);
    assert_eq!(big.queue_drops, 0, "{big:?}");
    let (lossy, acks, end) = run(None, 0.02, 9);
    assert!(lossy.lost > 0 && acks.lost == 0, "{lossy:?} {acks:?}");
    assert_eq!(
        run(None, 0.02, 9),
        (lossy, acks, end),
        "the same seed, the same run"
    );
    assert_ne!(run(None, 0.02, 10).0, lossy, "another seed, other losses");
}

#[test]
fn a_dumbbell_refuses_what_cannot_run() {
    let config = Config::default();
    let good = DumbbellConfig {
        bandwidth_bps: 1_000_000,
        queue_bytes: None,
        loss: 0.0,
        seed: 1,
    };
    let ends = |n: usize, same: bool| -> Vec<FlowEnds<BulkNode>> {
        (0..n)
            .map(|i| {
                let ip = if same { sender_ip(0) } else { sender_ip(i) };
                FlowEnds {
                    sender: BulkNode::sender(
                        Connection::connect(&config, 1000, 80, 1),
                        ip,
                        receiver_ip(i),
                        1,
                        0,
                    ),
                    sender_addr: ip,
                    receiver: BulkNode::receiver(
                        Connection::listen(&config, 80, 2),
                        receiver_ip(i),
                        ip,
                        1,
                        0,
                    ),
                    receiver_addr: receiver_ip(i),
                    rtt: Duration::from_millis(1),
                }
            })
            .collect()
    };
    let err = |c: &DumbbellConfig, n, same| Dumbbell::new(c, ends(n, same)).err();
    assert_eq!(err(&good, 0, false), Some(DumbbellError::NoFlows));
    assert!(matches!(
        err(
            &DumbbellConfig {
                bandwidth_bps: 0,
                ..good.clone()
            },
            1,
            false
        ),
        Some(DumbbellError::Link(_))
    ));
    assert!(matches!(
        err(
            &DumbbellConfig {
                loss: 1.5,
                ..good.clone()
            },
            1,
            false
        ),
        Some(DumbbellError::Link(_))
    ));
    assert_eq!(
        err(&good, 2, true),
        Some(DumbbellError::DuplicateAddress(sender_ip(0)))
    );
    assert!(err(&good, 2, false).is_none());
}
