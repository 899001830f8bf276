//! The TCP checksum of a segment with text, finished while the text is copied into the receive
//! buffer: a wrong sum still drops the whole segment before anything in it is acted on
//! (RFC 9293 §3.1, §3.10.7.4), and text copied ahead for a segment that is then not taken never
//! shows up as another segment's.

mod common;

use common::host::*;
use proptest::prelude::*;
use synack_proto::host::{ConnId, Host, HostConfig};
use synack_proto::{Instant, StateName};
use synack_wire::TcpFlags;

const US: &str = "10.0.0.1:80";
const PEER: &str = "192.0.2.1:5555";

/// The byte of an IPv4 datagram (no IP or TCP options) that holds the TCP window's low half.
const WINDOW_LOW_BYTE: usize = 20 + 15;

/// A host with an established connection from `PEER` (whose next sequence number is 101) and
/// the sequence number it expects acknowledged next.
fn established() -> (Host, ConnId, u32) {
    let mut h = Host::new(HostConfig {
        secret: 0x5eed_c5c5,
        local_addrs: vec![ip("10.0.0.1")],
        ..HostConfig::default()
    });
    let l = h.listen(addr(US), 8).unwrap();
    let now = Instant::ZERO;
    h.handle_packet(now, &Pkt::new(PEER, US, SYN, 100, 0).mss(1460).bytes());
    let iss = drain(&mut h, now)[0].seq;
    let ack = iss.wrapping_add(1);
    h.handle_packet(now, &Pkt::new(PEER, US, ACK, 101, ack).bytes());
    let c = h.accept(l).expect("the handshake completes");
    (h, c, ack)
}

fn text(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt)
        .collect()
}

fn read_all(h: &mut Host, c: ConnId) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = h.recv(c, &mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[test]
fn a_segment_whose_text_does_not_sum_is_dropped_whole_and_its_resend_taken() {
    let (mut h, c, ack) = established();
    let now = Instant::from_millis(1);
    let data = text(1000, 0x5a);
    // Text and a FIN: acted on, the FIN would close the peer's side.
    let good = Pkt::new(PEER, US, ACK | TcpFlags::FIN, 101, ack)
        .data(&data)
        .bytes();
    for at in [good.len() - 1, good.len() - 600, WINDOW_LOW_BYTE] {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        h.handle_packet(now, &bad);
        assert_eq!(
            drain(&mut h, now),
            vec![],
            "byte {at}: no ACK, nothing at all"
        );
        assert_eq!(read_all(&mut h, c), Vec::<u8>::new(), "byte {at}");
        assert_eq!(h.state(c), Ok(StateName::Established), "byte {at}");
    }
    assert_eq!(h.counters().in_errs, 3);
    h.audit().unwrap();
    h.handle_packet(now, &good);
    assert_eq!(read_all(&mut h, c), data);
    assert_eq!(h.state(c), Ok(StateName::CloseWait));
    let acks = drain(&mut h, now);
    assert_eq!(acks.last().map(|p| p.ack), Some(101 + 1000 + 1));
    assert_eq!(h.counters().in_errs, 3);
}

#[test]
fn text_copied_for_a_segment_that_is_then_dropped_is_never_read() {
    let (mut h, c, ack) = established();
    let now = Instant::from_millis(1);
    // A right sum, but it acknowledges data never sent: RFC 9293 §3.10.7.4 (fifth check)
    // answers with an ACK and drops the segment, text and all, after the copy was made.
    let early = text(1000, 0x11);
    let unsent = ack.wrapping_add(5000);
    h.handle_packet(
        now,
        &Pkt::new(PEER, US, ACK, 101, unsent).data(&early).bytes(),
    );
    assert_eq!(read_all(&mut h, c), Vec::<u8>::new());
    let answer = drain(&mut h, now);
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].ack, 101, "nothing was taken");
    // Then text short enough to be summed at parse time, at the same place: it is what is
    // read, not the front of the copy left in the free room.
    let short = text(100, 0x22);
    h.handle_packet(now, &Pkt::new(PEER, US, ACK, 101, ack).data(&short).bytes());
    assert_eq!(read_all(&mut h, c), short);
    // And a long segment after it lands behind it.
    let long = text(700, 0x33);
    h.handle_packet(now, &Pkt::new(PEER, US, ACK, 201, ack).data(&long).bytes());
    assert_eq!(read_all(&mut h, c), long);
    assert_eq!(h.counters().in_errs, 0);
    h.audit().unwrap();
}

#[test]
fn a_bad_sum_on_text_for_no_connection_counts_as_an_error_and_gets_no_reset() {
    let (mut h, _, _) = established();
    let now = Instant::from_millis(1);
    let data = text(500, 0x44);
    // To a port with no one: a good one would be answered with a reset (RFC 9293 §3.10.7.1).
    let mut stray = Pkt::new("192.0.2.7:6000", US, ACK, 9, 9)
        .data(&data)
        .bytes();
    let last = stray.len() - 1;
    stray[last] ^= 1;
    h.handle_packet(now, &stray);
    // To an address that is not ours: counted as a bad segment, not a misdelivered one.
    let mut elsewhere = Pkt::new(PEER, "10.0.0.2:80", ACK, 9, 9).data(&data).bytes();
    elsewhere[last] ^= 1;
    h.handle_packet(now, &elsewhere);
    assert_eq!(drain(&mut h, now), vec![]);
    let counters = h.counters();
    assert_eq!((counters.in_errs, counters.in_addr_errors), (2, 0));
    // The same two with right sums: a reset, and an address error.
    stray[last] ^= 1;
    elsewhere[last] ^= 1;
    h.handle_packet(now, &stray);
    h.handle_packet(now, &elsewhere);
    let out = drain(&mut h, now);
    assert_eq!(out.len(), 1);
    assert!(out[0].flags.rst());
    let counters = h.counters();
    assert_eq!((counters.in_errs, counters.in_addr_errors), (2, 1));
}

/// A link that flips one bit past the IP header in some of the datagrams it carries, chosen by
/// a seeded generator; it counts the ones it spoiled.
struct Flipper {
    state: u64,
    one_in: u64,
    spoiled: u64,
}

impl Flipper {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Carries everything `src` sends now to `dst`; returns how many datagrams moved.
    fn carry(&mut self, src: &mut Host, dst: &mut Host, now: Instant) -> usize {
        let mut buf = vec![0u8; 2048];
        let mut moved = 0;
        while let Some(t) = src.poll_transmit(now, &mut buf) {
            let pkt = &mut buf[..t.len];
            if self.next() % self.one_in == 0 {
                // Past the 20-byte IPv4 header, so the TCP checksum is what must catch it.
                let at = 20 + (self.next() as usize) % (pkt.len() - 20);
                pkt[at] ^= 1 << (self.next() % 8);
                self.spoiled += 1;
            }
            dst.handle_packet(now, pkt);
            moved += 1;
        }
        moved
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever datagrams have a bit flipped, the stream arrives whole and in order, each
    /// spoiled datagram is counted as an error where it arrived, and none is acted on.
    #[test]
    fn a_stream_over_a_link_that_flips_bits_arrives_whole(
        seed in 1u64..u64::MAX,
        len in 1usize..120_000,
        one_in in 2u64..12,
        lend in any::<bool>(),
    ) {
        let config = |secret| HostConfig {
            secret,
            tcp: synack_proto::Config {
                recv_buffer: 16 << 10,
                recv_buffer_max: 16 << 10,
                // With up to half the datagrams spoiled each way, a round trip can fail many
                // times running; the test is about what arrives, not about giving up.
                syn_retries: 60,
                synack_retries: 60,
                data_retries: 60,
                ..synack_proto::Config::default()
            },
            ..HostConfig::default()
        };
        let (mut a, mut b) = (Host::new(config(1)), Host::new(config(2)));
        let l = b.listen(addr(US), 4).unwrap();
        let mut now = Instant::ZERO;
        let c = a.connect(now, addr("10.0.0.2:5000"), addr(US)).unwrap();
        let mut link = Flipper { state: seed, one_in, spoiled: 0 };
        let (mut to_b, mut to_a) = (0u64, 0u64);
        let data = text(len, seed as u8);
        let (mut sent, mut got) = (0usize, Vec::with_capacity(len));
        let mut s = None;
        let mut rounds = 0;
        while got.len() < len {
            rounds += 1;
            prop_assert!(rounds < 100_000, "no progress: {} of {len}", got.len());
            if let Ok(n) = a.send(c, &data[sent..]) {
                sent += n;
            }
            let before = link.spoiled;
            let moved = link.carry(&mut a, &mut b, now);
            to_b += link.spoiled - before;
            let before = link.spoiled;
            let back = link.carry(&mut b, &mut a, now);
            to_a += link.spoiled - before;
            s = s.or_else(|| b.accept(l));
            if let Some(s) = s {
                let mut buf = [0u8; 3000];
                loop {
                    let r = if lend {
                        b.recv_with(s, |lent| {
                            let n = lent.len().min(3000);
                            got.extend_from_slice(&lent[..n]);
                            n
                        })
                    } else {
                        b.recv(s, &mut buf).inspect(|&n| got.extend_from_slice(&buf[..n]))
                    };
                    if !matches!(r, Ok(1..)) {
                        break;
                    }
                }
            }
            if moved + back == 0 {
                // Quiet: only a timer (a retransmission) moves things on.
                let next = [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min();
                now = next.map_or(now, |t| now.max(t));
                a.handle_timeout(now);
                b.handle_timeout(now);
            }
        }
        prop_assert!(got == data, "the stream differs from what was sent");
        prop_assert_eq!(b.counters().in_errs, to_b);
        prop_assert_eq!(a.counters().in_errs, to_a);
    }
}
