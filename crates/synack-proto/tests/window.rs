//! The advertised window: receiver-side silly window avoidance, a right edge that never moves
//! left, the window-scale shift, and buffer auto-tuning.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use synack_proto::{Config, CongestionSettings, Connection};

const P: u32 = PEER_ISS + 1;

/// Established with a receive buffer of `recv_buffer` bytes and nothing else offered; the
/// final ACK of the handshake advertises the whole buffer.
fn small_buffer(recv_buffer: usize) -> Driver {
    let config = Config {
        recv_buffer,
        recv_buffer_max: recv_buffer,
        ..plain_config()
    };
    let mut d = Driver::syn_sent(config);
    d.input(seg("S.", PEER_ISS, ISS + 1).mss(1460));
    assert_eq!(
        d.out(),
        vec![seg_out(".", ISS + 1, P).win(recv_buffer as u16)]
    );
    d
}

fn read(d: &mut Driver, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let got = d.c.recv(&mut buf).unwrap();
    buf.truncate(got);
    buf
}

#[test]
fn a_closed_window_reopens_only_by_a_full_segment() {
    // 4000-byte buffer, MSS 1460: the step is min(1460, 4000 / 2) = 1460.
    let mut d = small_buffer(4000);
    d.input(seg("P.", P, ISS + 1).data(&[1; 1460]));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 1460).win(2540)]);
    d.input(seg("P.", P + 1460, ISS + 1).data(&[2; 1460]));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 2920).win(1080)]);
    d.input(seg("P.", P + 2920, ISS + 1).data(&[3; 1080]));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 4000).win(0)]);

    // 1000 bytes read: less than a segment of room, so no window update...
    assert_eq!(read(&mut d, 1000), vec![1; 1000]);
    assert_eq!(d.out(), vec![]);
    // ...and a zero-window probe is answered with the same closed window; its byte is not
    // taken into space the peer was never offered.
    d.input(seg("P.", P + 4000, ISS + 1).data(b"?"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 4000).win(0)]);
    assert_eq!(d.c.info().rcv_nxt, P + 4000);

    // 459 more: still one byte short of a full segment.
    read(&mut d, 459);
    assert_eq!(d.out(), vec![]);
    // The 1460th byte read opens the window by a full segment, announced at once.
    read(&mut d, 1);
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 4000).win(1460)]);
    // A byte more is not worth an update, nor is the ACK of new data allowed to move the edge
    // by it.
    read(&mut d, 1);
    assert_eq!(d.out(), vec![]);
    d.input(seg("P.", P + 4000, ISS + 1).data(b"x"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 4001).win(1459)]);
}

#[test]
fn a_small_buffer_reopens_by_half_of_itself() {
    // 2000-byte buffer: the step is min(1460, 2000 / 2) = 1000.
    let mut d = small_buffer(2000);
    d.input(seg("P.", P, ISS + 1).data(&[7; 1460]));
    d.input(seg("P.", P + 1460, ISS + 1).data(&[8; 540]));
    assert_eq!(d.out().last().unwrap().win, 0);
    read(&mut d, 999);
    assert_eq!(d.out(), vec![]);
    read(&mut d, 1);
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 2000).win(1000)]);
}

#[test]
fn the_right_edge_holds_while_data_arrives_unread() {
    let mut d = small_buffer(4000);
    // Each ACK advertises exactly what is left of the first offer: the edge stays at P + 4000.
    for (i, len) in [100u32, 1, 1460, 39].into_iter().enumerate() {
        let at = [0u32, 100, 101, 1561][i];
        d.input(seg("P.", P + at, ISS + 1).data(&vec![0; len as usize]));
        let out = d.out();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ack + u32::from(out[0].win), P + 4000, "{out:?}");
    }
}

/// Connects with window scaling offered from `config` and accepted by the peer with shift
/// `peer_shift`; returns the driver and the shift our SYN offered.
fn scaled(config: Config, peer_shift: u8) -> (Driver, u8) {
    let mut d = Driver::new(Connection::connect(&config, LOCAL_PORT, REMOTE_PORT, ISS));
    let syn = d.out().remove(0);
    let shift = syn.options.window_scale.expect("window scaling offered");
    d.input(seg("S.", PEER_ISS, ISS + 1).mss(1460).ws(peer_shift));
    d.out();
    (d, shift)
}

#[test]
fn the_scale_shift_is_chosen_from_the_maximum_buffer() {
    let with = |recv_buffer: usize, recv_buffer_max: usize| Config {
        recv_buffer,
        recv_buffer_max,
        window_scaling: true,
        ..plain_config()
    };
    // The smallest shift that lets the maximum be advertised in 16 bits, at most 14.
    for (max, shift) in [
        (65_535, 0),
        (65_536, 1),
        (131_070, 1),
        (131_071, 2),
        (256 * 1024, 3),
        (1 << 20, 5),
        (4 << 20, 7),
        (6 << 20, 7),
        (1 << 30, 14),
        (usize::MAX, 14),
    ] {
        assert_eq!(with(16 * 1024, max).rcv_wscale(), shift, "max {max}");
        let (_, offered) = scaled(with(16 * 1024, max), 0);
        assert_eq!(offered, shift, "the SYN for max {max}");
    }
    // The initial size alone would need no shift; the 1 MiB the buffer may grow to needs 5.
    let (mut d, shift) = scaled(with(32 * 1024, 1 << 20), 0);
    assert_eq!(shift, 5);
    assert_eq!(d.c.info().rcv_wscale, 5);
    // 32 KiB in units of 32 bytes; the initial edge (32768 unscaled on the SYN) is kept.
    d.input(seg("P.", P, ISS + 1).data(b"abc"));
    let out = d.out();
    assert_eq!((out[0].ack, out[0].win), (P + 3, 1024));
    // A maximum below the initial size changes nothing: the initial size counts.
    assert_eq!(with(1 << 20, 1000).rcv_wscale(), 5);
}

#[test]
fn the_syn_window_is_never_scaled() {
    let config = Config {
        recv_buffer: 1 << 20,
        recv_buffer_max: 1 << 20,
        window_scaling: true,
        ..plain_config()
    };
    let mut d = Driver::new(Connection::connect(&config, LOCAL_PORT, REMOTE_PORT, ISS));
    let syn = d.out().remove(0);
    assert_eq!((syn.win, syn.options.window_scale), (65535, Some(5)));
    d.input(seg("S.", PEER_ISS, ISS + 1).mss(1460).ws(0));
    let ack = d.out().remove(0);
    assert_eq!(ack.win, 32768, "the whole megabyte, in units of 32");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever the peer sends and the user reads, the edge we advertise (ACK + window ×
    /// 2^shift) moves left only by less than one scale unit, only when keeping it would commit
    /// more than the buffer holds (RFC 7323 §2.4), and text up to the furthest edge ever
    /// advertised is still taken; the stream arrives intact and the buffer stays bounded.
    #[test]
    fn the_advertised_edge_never_moves_left(
        // Reading nothing is common, so unread data piles up against the edge.
        ops in proptest::collection::vec(
            (1usize..3000, prop_oneof![Just(0usize), 0usize..5000], any::<bool>()),
            1..60,
        ),
        max_kib in prop::sample::select(vec![64usize, 256, 1024, 16 * 1024]),
    ) {
        let recv_buffer = 20_000usize;
        let config = Config {
            recv_buffer,
            recv_buffer_max: max_kib * 1024,
            window_scaling: true,
            ..plain_config()
        };
        let (mut d, shift) = scaled(config, 2);
        let unit = 1u32 << shift;
        let mut sent = 0u32;
        let mut stream = Vec::new();
        let mut got = Vec::new();
        let mut edge: Option<u32> = None;
        let mut furthest = P;
        for (len, read_len, ack_only) in ops {
            // Every edge ever advertised is still honoured.
            let room = d.c.info().rcv_wnd;
            prop_assert!(furthest.wrapping_sub(P + sent) as i32 <= room as i32);
            if ack_only {
                // A bare ACK of ours is forced out by an old duplicate.
                d.input(seg("P.", P.wrapping_sub(1), ISS + 1).data(b"x"));
            } else {
                let data: Vec<u8> = (0..len).map(|i| (sent as usize + i) as u8).collect();
                d.input(seg("P.", P + sent, ISS + 1).data(&data));
                let taken = d.c.info().rcv_nxt.wrapping_sub(P + sent);
                prop_assert_eq!(taken, (len as u32).min(room));
            }
            let buffered = d.c.info().recv_buffered;
            prop_assert!(buffered <= recv_buffer.next_multiple_of(unit as usize) + unit as usize);
            for s in d.out() {
                let e = s.ack.wrapping_add(u32::from(s.win) << shift);
                if let Some(prev) = edge {
                    let moved = e.wrapping_sub(prev) as i32;
                    if moved < 0 {
                        prop_assert!(-moved < unit as i32, "edge moved left by {}", -moved);
                        let kept = furthest.wrapping_sub(s.ack) as usize;
                        prop_assert!(buffered + kept > recv_buffer, "{buffered} + {kept}");
                    }
                }
                edge = Some(e);
                if e.wrapping_sub(furthest) as i32 > 0 {
                    furthest = e;
                }
            }
            // What the peer may send is what was acknowledged so far.
            let acked = d.c.info().rcv_nxt.wrapping_sub(P);
            if acked > sent {
                stream.extend((sent..acked).map(|i| i as u8));
                sent = acked;
            }
            let mut buf = vec![0u8; read_len];
            if let Ok(n) = d.c.recv(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        got.extend(d.read_all());
        prop_assert_eq!(got, stream);
    }
}

/// A client sending `len` bytes to a server whose application reads with `read`, over a wire
/// with `one_way` delay and no bandwidth limit, for `duration`. Returns the pair and the bytes
/// the server read.
fn bulk(
    client: &Config,
    server: &Config,
    one_way: Duration,
    duration: Duration,
    mut read: impl FnMut(&mut Connection, Duration) -> Vec<u8>,
) -> (Pair, Vec<u8>) {
    let a = Connection::connect(client, LOCAL_PORT, REMOTE_PORT, ISS);
    let b = Connection::listen(server, REMOTE_PORT, PEER_ISS);
    let mut p = Pair::new(a, b, one_way);
    let stream: Vec<u8> = (0..64 << 20)
        .map(|i: usize| (i ^ (i >> 11)) as u8)
        .collect();
    let mut written = 0;
    let mut got = Vec::new();
    let step = Duration::from_millis(1);
    let mut elapsed = Duration::ZERO;
    while elapsed < duration {
        while let Ok(n) = p.a.send(&stream[written..]) {
            written += n;
        }
        got.extend(read(&mut p.b, elapsed));
        p.run_for(step);
        elapsed += step;
    }
    assert!(written < stream.len(), "the test ran out of data");
    assert_eq!(got[..], stream[..got.len()], "the stream arrives intact");
    (p, got)
}

fn tuned(initial: usize, max: usize) -> Config {
    Config {
        recv_buffer: initial,
        recv_buffer_max: max,
        send_buffer: initial,
        send_buffer_max: max,
        ..Config::default()
    }
}

fn read_all(c: &mut Connection) -> Vec<u8> {
    read_in_chunks(c, 65536)
}

#[test]
fn a_fast_reader_grows_the_receive_buffer_toward_its_max() {
    let config = tuned(64 * 1024, 1 << 20);
    let rtt = Duration::from_millis(20);
    let duration = Duration::from_millis(800);
    let (p, got) = bulk(&config, &config, rtt / 2, duration, |c, _| read_all(c));
    // The buffer grew, and at most to its maximum.
    let grown = p.b.recv_buffer_size();
    assert!(grown > 4 * 64 * 1024, "receive buffer only {grown}");
    assert!(grown <= 1 << 20);
    assert_eq!(p.b.info().recv_buffer, grown);
    assert!(
        p.b.info().rcv_rtt.is_some(),
        "the receiver measured the round trip"
    );
    // The peer was told: a window beyond what 16 unscaled bits hold was advertised.
    let shift = p.b.info().rcv_wscale;
    assert_eq!(shift, 5);
    let widest = p
        .sent_by(Side::B)
        .iter()
        .map(|s| u32::from(s.seg.win) << shift)
        .max()
        .unwrap();
    assert!(widest > 4 * 65536, "widest window {widest}");
    // And it paid: a fixed 64 KiB window moves at most 64 KiB per round trip.
    let fixed_limit = 64 * 1024 * (duration.as_millis() / rtt.as_millis()) as usize;
    assert!(
        got.len() > 2 * fixed_limit,
        "{} bytes, a fixed window would allow {fixed_limit}",
        got.len()
    );
    // The sender's buffer grew with its congestion window too, within its bound.
    let snd = p.a.send_buffer_size();
    assert!(snd > 64 * 1024 && snd <= 1 << 20, "send buffer {snd}");
}

#[test]
fn a_slow_reader_leaves_the_receive_buffer_as_it_was() {
    let config = tuned(64 * 1024, 1 << 20);
    // 2000 bytes every 10 ms: 200 kB/s, far below what the buffer allows per round trip.
    let mut next = Duration::ZERO;
    let (p, got) = bulk(
        &config,
        &config,
        Duration::from_millis(10),
        Duration::from_millis(800),
        |c, now| {
            if now < next {
                return Vec::new();
            }
            next = now + Duration::from_millis(10);
            let mut buf = [0u8; 2000];
            let n = c.recv(&mut buf).unwrap_or(0);
            buf[..n].to_vec()
        },
    );
    assert!(got.len() > 100_000);
    assert_eq!(p.b.recv_buffer_size(), 64 * 1024);
}

#[test]
fn the_send_buffer_grows_to_twice_what_the_peer_lets_fly_and_no_further() {
    // The receiver keeps a fixed 64 KiB buffer (65535 advertised, unscaled), so the sender
    // can never have more in flight; its buffer stops at twice that.
    let client = tuned(64 * 1024, 4 << 20);
    let server = Config {
        window_scaling: false,
        ..tuned(64 * 1024, 64 * 1024)
    };
    let (p, _) = bulk(
        &client,
        &server,
        Duration::from_millis(10),
        Duration::from_millis(500),
        |c, _| read_all(c),
    );
    assert_eq!(p.a.send_buffer_size(), 2 * 65535);
    assert_eq!(p.b.recv_buffer_size(), 64 * 1024);
}

#[test]
fn unsent_data_is_limited_but_data_in_flight_is_not() {
    let config = Config {
        notsent_lowat: Some(3000),
        // So the 80-byte tail goes out behind the two full segments.
        nodelay: true,
        ..plain_config()
    };
    let mut d = Driver::established_with(config);
    let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    assert_eq!(d.c.send(&data), Ok(3000), "3000 unsent bytes at most");
    assert_eq!(
        d.c.send(&data[3000..]),
        Err(synack_proto::CallError::WouldBlock)
    );
    d.events.clear();
    let out = d.out();
    assert_eq!(out.iter().map(|s| s.payload.len()).sum::<usize>(), 3000);
    // Sent, not yet acknowledged: the room is back, and the user is told.
    assert!(d.events.contains(&synack_proto::Event::Writable));
    assert_eq!(d.c.send(&data[3000..]), Ok(3000));
    assert_eq!(d.c.info().send_buffered, 6000);
    // Without the limit, the whole buffer takes unsent data.
    let mut d = Driver::established_with(Config {
        notsent_lowat: None,
        ..plain_config()
    });
    assert_eq!(d.c.send(&data), Ok(10_000));
}

#[test]
fn a_reader_that_keeps_up_gets_a_bigger_window_announced_at_once() {
    use synack_proto::Instant;
    use synack_proto::conn::ts_clock;
    // 16 KiB that may grow to 1 MiB (shift 5), timestamps for the receiver's RTT.
    let config = Config {
        recv_buffer: 16 * 1024,
        recv_buffer_max: 1 << 20,
        window_scaling: true,
        timestamps: true,
        ..plain_config()
    };
    let mut d = Driver::new(Connection::connect(&config, LOCAL_PORT, REMOTE_PORT, ISS));
    d.out();
    let ts = |ms: u64| ts_clock(ISS, Instant::from_millis(ms));
    d.input(seg("S.", PEER_ISS, ISS + 1).mss(1460).ws(0).ts(100, ts(0)));
    d.out();
    let mut sent = 0u32;
    // A window's worth (11 segments of 1448) arrives each 20 ms round trip, echoing the
    // TSval of our ACKs of the round trip before; the user reads it all at once.
    for (round, echo) in [(20, 0), (40, 20)] {
        d.now = Instant::from_millis(round);
        for i in 0..11u32 {
            let data = vec![round as u8; 1448];
            d.input(
                seg("P.", P + sent, ISS + 1)
                    .data(&data)
                    .ts(101 + i, ts(echo)),
            );
            sent += 1448;
        }
        d.out();
        assert_eq!(d.read_all().len(), 11 * 1448);
        if round == 20 {
            // The first round only starts the measurement: the buffer is as it was, and the
            // window it reopens is announced (16384 in units of 32).
            assert_eq!(d.c.recv_buffer_size(), 16 * 1024);
            let out = d.out();
            assert_eq!(out.len(), 1, "{out:?}");
            assert_eq!((out[0].ack, out[0].win), (P + sent, 512));
        }
    }
    assert_eq!(d.c.info().rcv_rtt, Some(Duration::from_millis(20)));
    // 15928 bytes read in one round trip, more than the 14480 assumed at the start: the
    // buffer grows to two round trips of that, scaled by the growth, plus 16 segments:
    // 2 × 15928 × 4/4 + 16 × 1448.
    assert_eq!(d.c.recv_buffer_size(), 55_024);
    let out = d.out();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].ack, out[0].win), (P + sent, 55_024 >> 5));
}

#[test]
fn without_timestamps_the_receiver_times_a_window_and_still_grows() {
    let config = Config {
        timestamps: false,
        ..tuned(64 * 1024, 1 << 20)
    };
    let (p, _) = bulk(
        &config,
        &config,
        Duration::from_millis(10),
        Duration::from_millis(800),
        |c, _| read_all(c),
    );
    let info = p.b.info();
    assert!(!info.timestamps);
    let rtt = info.rcv_rtt.expect("a window's arrival was timed");
    assert!(
        rtt >= Duration::from_millis(20),
        "{rtt:?}: at least one round trip"
    );
    assert!(p.b.recv_buffer_size() > 4 * 64 * 1024);
}

#[test]
fn buffered_bytes_counts_unsent_unread_and_out_of_order_data() {
    let mut d = Driver::established();
    assert_eq!(d.c.buffered_bytes(), 0);
    d.c.send(&[1; 100]).unwrap();
    d.input(seg("P.", P, ISS + 1).data(&[2; 30]));
    d.input(seg("P.", P + 40, ISS + 1).data(&[3; 5]));
    assert_eq!(d.c.buffered_bytes(), 100 + 30 + 5);
    assert_eq!(d.c.info().recv_out_of_order, 5);
    d.read_all();
    assert_eq!(d.c.buffered_bytes(), 105);
    assert_eq!(d.c.send_buffer_size(), plain_config().send_buffer);
    assert_eq!(d.c.recv_buffer_size(), plain_config().recv_buffer);
}

/// A peer that, while the application reads nothing, sends segments of `seg_len` bytes (or
/// what is left of the window, if less) whenever the last ACK left any window open. Returns
/// the bytes buffered when the window closed, or `None` if it was still open after `rounds`
/// segments.
fn flood_small_segments(d: &mut Driver, seg_len: usize, rounds: usize) -> Option<usize> {
    let mut sent = 0u32;
    let mut win = d.c.info().rcv_wnd;
    for _ in 0..rounds {
        if win == 0 {
            return Some(d.c.info().recv_buffered);
        }
        let len = seg_len.min(win as usize);
        d.input(seg("P.", P + sent, ISS + 1).data(&vec![9; len]));
        sent = d.c.info().rcv_nxt.wrapping_sub(P);
        let out = d.out();
        let last = out.last().expect("data is acknowledged");
        win = u32::from(last.win) << d.c.info().rcv_wscale;
    }
    None
}

#[test]
fn segments_smaller_than_the_scale_unit_cannot_grow_the_buffer_without_bound() {
    // 20 000-byte buffer that may grow to 4 MiB: shift 7, a 128-byte unit. Rounding the rest
    // of the promised window up to a whole unit on every ACK of a 100-byte segment would keep
    // the window at one unit forever while nobody reads.
    let config = Config {
        recv_buffer: 20_000,
        recv_buffer_max: 4 << 20,
        window_scaling: true,
        delayed_ack: None,
        ..plain_config()
    };
    let (mut d, shift) = scaled(config, 0);
    assert_eq!(shift, 7);
    let held = flood_small_segments(&mut d, 100, 10_000).expect("the window closes");
    assert!(
        held <= 20_000 + 128,
        "{held} bytes held by a 20 000-byte buffer"
    );
    // Everything that was taken is intact and readable.
    assert_eq!(d.read_all(), vec![9; held]);
}

#[test]
fn a_buffer_smaller_than_the_scale_unit_reopens_after_a_read() {
    // 100-byte buffer that may grow to 4 MiB: shift 7, a unit of 128 bytes, bigger than the
    // whole buffer. Free space rounded down to the unit is always zero.
    let config = Config {
        recv_buffer: 100,
        recv_buffer_max: 4 << 20,
        window_scaling: true,
        delayed_ack: None,
        ..plain_config()
    };
    let (mut d, shift) = scaled(config, 0);
    assert_eq!(shift, 7);
    // Full segments fill whatever window is offered to the last byte.
    let held = flood_small_segments(&mut d, 1460, 100).expect("the window closes");
    assert_eq!(d.read_all(), vec![9; held]);
    // The buffer is empty again: the window must be announced open.
    let out = d.out();
    assert_eq!(out.len(), 1, "a window update after the read: {out:?}");
    assert!(out[0].win > 0, "{out:?}");
    // And a zero-window probe is not answered with a closed window either.
    d.input(seg("P.", out[0].ack, ISS + 1).data(b"?"));
    let out = d.out();
    assert!(out.last().unwrap().win > 0, "{out:?}");
}

#[test]
fn a_zero_unsent_limit_or_send_buffer_still_takes_data_when_nothing_waits() {
    // Nothing is buffered at all: refusing the write now leaves the application waiting for
    // a Writable that nothing will ever raise (no ACK, no send can make room).
    for config in [
        Config {
            notsent_lowat: Some(0),
            ..plain_config()
        },
        Config {
            send_buffer: 0,
            ..plain_config()
        },
    ] {
        let mut d = Driver::established_with(config.clone());
        let sent = d.c.send(b"hello");
        assert!(matches!(sent, Ok(n) if n > 0), "{config:?}: {sent:?}");
        // What was taken leaves, is acknowledged, and the rest follows.
        let mut total = sent.unwrap();
        let mut acked = 0u32;
        for _ in 0..20 {
            let out = d.out();
            let len: u32 = out.iter().map(|s| s.payload.len() as u32).sum();
            acked += len;
            if len > 0 {
                d.input(seg(".", P, ISS + 1 + acked).win(65535));
            }
            d.out();
            if total < 5 {
                total += d.c.send(&b"hello"[total..]).unwrap_or(0);
            }
        }
        assert_eq!((total, acked), (5, 5), "{config:?}");
    }
}

#[test]
fn a_zero_receive_buffer_still_offers_one_byte() {
    // A window that can never open leaves the peer probing for ever; 0 counts as 1.
    let config = Config {
        recv_buffer: 0,
        recv_buffer_max: 0,
        delayed_ack: None,
        ..plain_config()
    };
    let mut d = Driver::new(Connection::connect(&config, LOCAL_PORT, REMOTE_PORT, ISS));
    assert_eq!(d.out()[0].win, 1, "the SYN");
    d.input(seg("S.", PEER_ISS, ISS + 1).mss(1460));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P).win(1)]);
    d.input(seg("P.", P, ISS + 1).data(b"ab"));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 1).win(0)]);
    assert_eq!(read(&mut d, 10), b"a");
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 1).win(1)]);
}

#[test]
fn a_huge_initial_window_saturates_instead_of_overflowing() {
    // Segments × MSS past 2^32 is a configuration mistake, not a reason to panic: the
    // congestion window just stops at its largest value and the peer's window rules.
    let config = Config {
        congestion: CongestionSettings {
            initial_window: u32::MAX,
            ..CongestionSettings::default()
        },
        // So the short tail goes out behind the full segments.
        nodelay: true,
        ..plain_config()
    };
    let mut d = Driver::established_with(config);
    assert_eq!(d.c.send(&[5; 3000]), Ok(3000));
    let out = d.out();
    assert_eq!(out.iter().map(|s| s.payload.len()).sum::<usize>(), 3000);
}

#[test]
fn a_window_shrunk_to_zero_under_data_in_flight_is_probed_not_timed_out() {
    // The segment is lost, and the peer's next ACK shrinks the window to nothing (a receiver
    // under window scaling may, RFC 7323 §2.4). RFC 1122 §4.2.2.16: a zero window is probed
    // in the standard way, and data beyond the edge does not time the connection out.
    let mut d = Driver::established();
    d.c.send(&[1u8; 1000]).unwrap();
    assert_eq!(d.out().len(), 1);
    d.input(seg(".", P, ISS + 1).win(0));
    let mut sent = Vec::new();
    for _ in 0..3000 {
        let out = d.advance(Duration::from_secs(1));
        if !out.is_empty() {
            d.input(seg(".", P, ISS + 1).win(0));
        }
        sent.extend(out);
    }
    assert_eq!(d.state(), synack_proto::StateName::Established);
    assert!(sent.len() >= 5, "{sent:?}");
    assert!(
        sent.iter()
            .all(|(_, s)| s.payload == [1] && s.seq == ISS + 1),
        "one-byte probes of the first unacknowledged byte: {sent:?}"
    );
    // The window opens: everything is sent again.
    d.input(seg(".", P, ISS + 1).win(65535));
    let out = d.out();
    assert_eq!(out.iter().map(|s| s.payload.len()).sum::<usize>(), 1000);
    assert_eq!(out[0].seq, ISS + 1);
}

/// One-byte islands, each beyond a one-byte gap: the out-of-order store keeps a piece per
/// 536 bytes of its buffer (at least 512) and turns the rest away, so bookkeeping stays in
/// proportion to the buffer whatever a hostile peer sends.
fn islands_kept(recv_buffer: usize, islands: u32) -> usize {
    let mut d = Driver::established_with(Config {
        recv_buffer,
        recv_buffer_max: recv_buffer,
        ..plain_config()
    });
    for i in 0..islands {
        d.input(seg("P.", P + 1 + 2 * i, ISS + 1).data(&[7]));
    }
    d.c.info().recv_out_of_order
}

#[test]
fn out_of_order_pieces_are_bounded_in_proportion_to_the_buffer() {
    assert_eq!(islands_kept(64 * 1024, 600), 512);
    // A buffer of 1 MiB holds 1956 pieces: a large window of full segments beyond a hole
    // is kept whole.
    assert_eq!(islands_kept(1 << 20, 1900), 1900);
    assert_eq!(islands_kept(1 << 20, 2500), (1 << 20) / 536);
}

#[test]
fn a_lost_resend_after_the_window_reopens_is_retransmitted_from_snd_una() {
    // With a SACK scoreboard. The window closes under three segments in flight; the timeout
    // hands them to the persist timer, whose probes are refused. When the window reopens,
    // SND.NXT goes back to SND.UNA and one segment (the congestion window after the timeout)
    // is sent again, below the highest byte ever sent, and is lost too. RFC 6298 §5.4: the
    // next timeout resends the earliest unacknowledged segment. The scoreboard only picks
    // repairs once SND.NXT is back at SND.MAX, so the timeout must not leave SND.NXT in the
    // middle of the old flight with a congestion window that admits nothing past it.
    let config = Config {
        sack: true,
        nodelay: true,
        ..plain_config()
    };
    let mut d = Driver::syn_sent(config);
    d.input(seg("S.", PEER_ISS, ISS + 1).mss(1000).sack_ok());
    assert_eq!(d.out().len(), 1, "final ACK");
    d.c.send(&[7u8; 3000]).unwrap();
    assert_eq!(d.out().len(), 3);
    d.input(seg(".", P, ISS + 1).win(0));
    let mut probes = 0;
    for _ in 0..5 {
        for (_, s) in d.advance(Duration::from_secs(10)) {
            assert_eq!((s.seq, s.payload.len()), (ISS + 1, 1), "a probe: {s:?}");
            probes += 1;
            d.input(seg(".", P, ISS + 1).win(0));
        }
    }
    assert!(probes >= 2, "{probes} probes");
    d.input(seg(".", P, ISS + 1).win(65535));
    let resent = d.out();
    assert!(!resent.is_empty());
    assert!(resent.iter().all(|s| s.seq < ISS + 1 + 3000), "{resent:?}");
    // All of it lost: the next timeouts send SND.UNA's segment again.
    let later = d.advance(Duration::from_secs(200));
    assert!(
        later
            .iter()
            .any(|(_, s)| s.seq == ISS + 1 && !s.payload.is_empty()),
        "nothing resent from SND.UNA after the window reopened: {later:?}"
    );
    assert_eq!(d.state(), synack_proto::StateName::Established);
    // Once acknowledged, the rest follows.
    d.input(seg(".", P, ISS + 1 + 3000).win(65535));
    assert!(d.advance(Duration::from_secs(200)).is_empty());
}

/// Established with window scaling both ways: our shift is 7 (a 4 MiB maximum buffer), so a
/// unit of our window is 128 bytes; 100 bytes from the peer are in; 1000 of ours in flight.
fn scaled_with_data_both_ways() -> Driver {
    let config = Config {
        window_scaling: true,
        recv_buffer: 4096,
        recv_buffer_max: 4 << 20,
        nodelay: true,
        ..plain_config()
    };
    let mut d = Driver::syn_sent(config);
    d.input(seg("S.", PEER_ISS, ISS + 1).mss(1000).ws(0));
    assert_eq!(d.out().len(), 1, "final ACK");
    d.input(seg("P.", P, ISS + 1).data(&[3u8; 100]));
    d.c.send(&[7u8; 1000]).unwrap();
    let out = d.out();
    assert_eq!(out.iter().map(|s| s.payload.len()).sum::<usize>(), 1000);
    assert!(out.iter().all(|s| s.ack == P + 100));
    d
}

#[test]
fn a_bare_ack_less_than_a_scale_unit_old_still_acknowledges() {
    // The peer knows a right edge of ours short of what we took (we may show one up to a unit
    // less a byte short, RFC 7323 §2.4) and numbers its bare ACK from there: 60 bytes before
    // RCV.NXT. Its ACK field counts, so nothing is retransmitted; its old sequence number
    // is still answered, as a keepalive probe's must be.
    let mut d = scaled_with_data_both_ways();
    d.input(seg(".", P + 40, ISS + 1 + 1000));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1 + 1000, P + 100).win(32)]);
    assert!(d.advance(Duration::from_secs(60)).is_empty());
}

#[test]
fn a_bare_ack_a_whole_scale_unit_old_is_still_dropped() {
    // Further back than any edge we could have shown: an old duplicate (RFC 9293 §3.10.7.4),
    // answered with an ACK, its ACK field ignored, so the data is sent again.
    let mut d = scaled_with_data_both_ways();
    d.input(seg(".", P + 100 - 128, ISS + 1 + 1000));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1 + 1000, P + 100).win(32)]);
    let later = d.advance(Duration::from_secs(60));
    assert!(later.iter().any(|(_, s)| s.seq == ISS + 1), "{later:?}");
}

#[test]
fn without_window_scaling_an_old_bare_ack_is_dropped() {
    let mut d = Driver::established();
    d.input(seg("P.", P, ISS + 1).data(&[3u8; 100]));
    d.c.send(&[7u8; 1000]).unwrap();
    assert_eq!(d.out().len(), 1);
    d.input(seg(".", P + 99, ISS + 1 + 1000));
    assert_eq!(d.out().len(), 1, "an ACK for the old duplicate");
    let later = d.advance(Duration::from_secs(60));
    assert!(later.iter().any(|(_, s)| s.seq == ISS + 1), "{later:?}");
}
