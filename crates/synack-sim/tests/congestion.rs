//! Congestion control over the simulated link: goodput under random loss against the Mathis
//! bound for both controllers, and a burst of losses repaired by SACK recovery without a
//! retransmission timeout.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use synack_proto::{Config, CongestionControl, CongestionSettings, Connection, Instant};
use synack_sim::{ConnNode, Link, LinkConfig, Pair, Side, pattern};

const RTT: Duration = Duration::from_millis(50);

/// A sends `len` bytes to B over 100 Mbit/s with a 50 ms round trip; `data_link` is the A→B
/// direction (its loss), ACKs come back clean.
fn pair(
    cc: CongestionControl,
    seed: u64,
    data_link: LinkConfig,
    len: usize,
) -> Pair<ConnNode, ConnNode> {
    let config = Config {
        congestion: CongestionSettings {
            controller: cc,
            ..CongestionSettings::default()
        },
        send_buffer: 4 << 20,
        recv_buffer: 4 << 20,
        ..Config::default()
    };
    let a_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let b_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut a = ConnNode::new(
        Connection::connect(&config, 40000, 80, seed as u32),
        a_ip,
        b_ip,
    );
    let b = ConnNode::new(Connection::listen(&config, 80, 7 + seed as u32), b_ip, a_ip);
    a.app.to_send = pattern(seed, len);
    let back = LinkConfig::new().delay(RTT / 2).bandwidth_bps(100_000_000);
    let link = Link::asymmetric(seed, data_link, back).expect("valid link");
    Pair::new(a, b, link)
}

fn wide(loss: f64) -> LinkConfig {
    LinkConfig::new()
        .delay(RTT / 2)
        .bandwidth_bps(100_000_000)
        .loss(loss)
}

/// Runs until B holds all `len` bytes; returns when that was, to 10 ms.
fn time_to_deliver(pair: &mut Pair<ConnNode, ConnNode>, len: usize) -> Duration {
    let mut t = Duration::ZERO;
    while pair.b.app.received.len() < len {
        t += Duration::from_millis(10);
        assert!(
            t < Duration::from_secs(600),
            "stalled at {} bytes",
            pair.b.app.received.len()
        );
        pair.run_until(Instant::ZERO + t).expect("runs");
    }
    t
}

#[test]
fn goodput_under_random_loss_beats_the_mathis_bound_for_both_controllers() {
    // Mathis et al.: a loss-limited Reno flow gets about MSS/RTT · 1.22/√p on average. The
    // model describes the mean over many loss events, so each controller's goodput, averaged
    // over four seeds, must reach it; a single seed, with a few dozen losses placed at random,
    // may fall short by chance, but by no more than 10%.
    for cc in [CongestionControl::Cubic, CongestionControl::NewReno] {
        for (p, len, seeds) in [
            (0.01, 4_000_000usize, [11, 12, 15, 16]),
            (0.05, 1_000_000, [13, 14, 17, 18]),
        ] {
            let mut sum = 0.0;
            let mut bound = 0.0;
            for seed in seeds {
                let mut pr = pair(cc, seed, wide(p), len);
                let t = time_to_deliver(&mut pr, len);
                assert!(
                    pr.b.app.received == pattern(seed, len),
                    "{cc:?} at {p}: bytes differ"
                );
                let info = pr.a.conn.info();
                let mss = f64::from(info.snd_mss);
                bound = mss * 8.0 / RTT.as_secs_f64() * 1.22 / p.sqrt();
                let goodput = len as f64 * 8.0 / t.as_secs_f64();
                eprintln!(
                    "{cc:?} loss {p} seed {seed}: {:.2} Mbit/s (Mathis {:.2}), {} fast \
                     retransmits, {} RTOs, {} tail loss probes",
                    goodput / 1e6,
                    bound / 1e6,
                    info.cc.fast_retransmits,
                    info.rto_expirations,
                    info.cc.tail_loss_probes,
                );
                assert!(
                    goodput >= 0.9 * bound,
                    "{cc:?} at loss {p}, seed {seed}: {goodput:.0} < 90% of {bound:.0} bit/s"
                );
                sum += goodput;
            }
            let mean = sum / seeds.len() as f64;
            assert!(
                mean >= bound,
                "{cc:?} at loss {p}: mean {mean:.0} < {bound:.0} bit/s"
            );
        }
    }
}

#[test]
fn a_burst_of_ten_lost_segments_is_repaired_without_a_timeout() {
    for cc in [CongestionControl::Cubic, CongestionControl::NewReno] {
        let len = 400_000;
        let mut pr = pair(cc, 3, wide(0.0), len);
        // Let the flow reach a window well above ten segments, then drop what A sends next
        // until ten data segments are gone.
        while pr.link.stats(Side::A).offered < 60 {
            assert!(pr.step());
        }
        pr.link
            .update_config(Side::A, |c| c.partitioned = true)
            .expect("valid");
        let start = pr.link.stats(Side::A).offered;
        while pr.link.stats(Side::A).offered < start + 10 {
            assert!(pr.step());
        }
        pr.link
            .update_config(Side::A, |c| c.partitioned = false)
            .expect("valid");
        let dropped = pr.link.stats(Side::A).offered - start;
        assert!(dropped >= 10);
        time_to_deliver(&mut pr, len);
        assert!(pr.b.app.received == pattern(3, len));
        let info = pr.a.conn.info();
        assert_eq!(info.rto_expirations, 0, "{cc:?}: {info:?}");
        assert_eq!(
            info.cc.fast_retransmits, 1,
            "{cc:?}: one recovery, {info:?}"
        );
        // SACK recovery resends each hole once: no more than what was dropped.
        assert!(info.segs_retransmitted <= dropped + 1, "{cc:?}: {info:?}");
    }
}
