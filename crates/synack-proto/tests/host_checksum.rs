//! The TCP checksum of a segment with text, finished while the text is copied into the receive
//! buffer: a wrong sum still drops the whole segment before anything in it is acted on
//! (RFC 9293 §3.1, §3.10.7.4), and text copied ahead for a segment that is then not taken never
//! shows up as another segment's.

mod common;

use common::host::*;
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
