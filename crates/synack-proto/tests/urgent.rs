//! Urgent data (RFC 9293 §3.8.5, §3.10.2, §3.10.7.4 sixth check; RFC 6093): the sender's
//! SND.UP and the urgent pointer on its segments, the receiver's mark and out-of-band byte,
//! and hostile pointers that must lose or duplicate nothing in the ordinary stream.

mod common;

use common::*;
use proptest::prelude::*;
use synack_proto::{CallError, StateName, UrgentByte};

const P: u32 = PEER_ISS + 1;

fn read(d: &mut Driver, n: usize) -> Result<Vec<u8>, CallError> {
    let mut buf = vec![0u8; n];
    let got = d.c.recv(&mut buf)?;
    buf.truncate(got);
    Ok(buf)
}

#[test]
fn the_last_urgent_byte_is_held_out_of_band_and_reads_stop_at_the_mark() {
    let mut d = Driver::established();
    assert_eq!(d.c.urgent_byte(), UrgentByte::None);
    // "!" is the last urgent byte: the pointer is its offset + 1 (RFC 6093 §2).
    d.input(seg("PU.", P, ISS + 1).data(b"ab!cd").urg(3));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 5).win(65530)]);
    assert_eq!(d.c.urgent_byte(), UrgentByte::Ready(b'!'));
    assert!(!d.c.at_urgent_mark());
    assert_eq!(read(&mut d, 100), Ok(b"ab".to_vec()));
    assert!(d.c.at_urgent_mark());
    assert_eq!(d.c.take_urgent_byte(), UrgentByte::Ready(b'!'));
    assert_eq!(d.c.take_urgent_byte(), UrgentByte::Taken);
    assert!(d.c.at_urgent_mark());
    // The read from the mark steps over the urgent byte and goes on.
    assert_eq!(read(&mut d, 100), Ok(b"cd".to_vec()));
    assert!(!d.c.at_urgent_mark());
    assert_eq!(d.c.urgent_byte(), UrgentByte::None);
}

#[test]
fn in_line_the_urgent_byte_is_read_with_the_stream_after_the_mark() {
    let mut d = Driver::established();
    d.c.set_urgent_inline(true);
    d.input(seg("PU.", P, ISS + 1).data(b"ab!cd").urg(3));
    d.out();
    assert_eq!(read(&mut d, 100), Ok(b"ab".to_vec()));
    assert!(d.c.at_urgent_mark());
    let mut peeked = [0u8; 8];
    assert_eq!(d.c.peek(&mut peeked), 3);
    assert_eq!(&peeked[..3], b"!cd");
    assert_eq!(read(&mut d, 100), Ok(b"!cd".to_vec()));
    assert!(!d.c.at_urgent_mark());
}

#[test]
fn a_mark_ahead_of_the_data_waits_for_its_byte() {
    let mut d = Driver::established();
    d.input(seg("PU.", P, ISS + 1).data(b"abc").urg(6));
    d.out();
    assert_eq!(d.c.urgent_byte(), UrgentByte::Pending);
    assert_eq!(read(&mut d, 100), Ok(b"abc".to_vec()));
    // The byte arrives in a later segment without URG; the read stops before it.
    d.input(seg("P.", P + 3, ISS + 1).data(b"de!fg"));
    d.out();
    assert_eq!(d.c.urgent_byte(), UrgentByte::Ready(b'!'));
    assert_eq!(read(&mut d, 100), Ok(b"de".to_vec()));
    assert!(d.c.at_urgent_mark());
    assert_eq!(read(&mut d, 100), Ok(b"fg".to_vec()));
    // A FIN before an announced byte: it will never come.
    d.input(seg("PU.", P + 8, ISS + 1).data(b"h").urg(100));
    d.input(seg("F.", P + 9, ISS + 1));
    d.out();
    assert_eq!(d.state(), StateName::CloseWait);
    assert_eq!(d.c.urgent_byte(), UrgentByte::Ended);
    assert_eq!(read(&mut d, 100), Ok(b"h".to_vec()));
    assert_eq!(read(&mut d, 100), Ok(vec![]));
}

#[test]
fn a_newer_mark_replaces_the_old_whose_byte_goes_in_line() {
    let mut d = Driver::established();
    d.input(seg("PU.", P, ISS + 1).data(b"a1b").urg(2));
    d.input(seg("PU.", P + 3, ISS + 1).data(b"cd2e").urg(3));
    d.out();
    assert_eq!(d.c.urgent_byte(), UrgentByte::Ready(b'2'));
    assert_eq!(read(&mut d, 100), Ok(b"a1bcd".to_vec()));
    assert_eq!(d.c.take_urgent_byte(), UrgentByte::Ready(b'2'));
    assert_eq!(read(&mut d, 100), Ok(b"e".to_vec()));
}

#[test]
fn a_newer_mark_drops_an_old_byte_the_reader_stands_at() {
    // As Linux: the reader is at the old mark and does not read urgent bytes in line, so
    // the old urgent byte (already out of band) leaves the stream when the mark moves on.
    let mut d = Driver::established();
    d.input(seg("PU.", P, ISS + 1).data(b"a1").urg(2));
    d.out();
    assert_eq!(read(&mut d, 100), Ok(b"a".to_vec()));
    assert!(d.c.at_urgent_mark());
    d.input(seg("PU.", P + 2, ISS + 1).data(b"b2").urg(2));
    d.out();
    assert_eq!(read(&mut d, 100), Ok(b"b".to_vec()));
    assert_eq!(d.c.take_urgent_byte(), UrgentByte::Ready(b'2'));
}

#[test]
fn odd_urgent_pointers_are_acknowledged_like_plain_data() {
    let mut d = Driver::established();
    d.c.set_urgent_inline(true);
    // Pointing far beyond the segment (urgent data still to come), at zero, at the maximum:
    // each is acknowledged like plain data.
    for (at, data, ptr) in [(0, b"one", 60_000), (3, b"two", 0), (6, b"six", u16::MAX)] {
        d.input(seg("PU.", P + at, ISS + 1).data(data).urg(ptr));
        let out = d.out();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ack, P + at + 3);
    }
    // URG on a bare ACK: nothing to read, nothing to answer.
    d.input(seg("U.", P + 9, ISS + 1).urg(1));
    assert_eq!(d.out(), vec![]);
    // The pointer set without URG is not looked at.
    let mut s = seg("P.", P + 9, ISS + 1).data(b"ten");
    s.urgent_ptr = 2;
    d.input(s);
    // URG with a FIN: the end of the stream comes after the urgent byte.
    d.input(seg("FPU.", P + 12, ISS + 1).data(b"!").urg(1));
    assert_eq!(d.state(), StateName::CloseWait);
    assert_eq!(d.out().last().unwrap().ack, P + 14);
    assert_eq!(d.read_all(), b"onetwosixten!");
    assert_eq!(d.c.recv(&mut [0u8; 8]), Ok(0));
}

#[test]
fn urgent_data_beyond_a_gap_is_reassembled_like_any_other() {
    let mut d = Driver::established();
    d.input(seg("PU.", P + 4, ISS + 1).data(b"URG!").urg(4));
    assert_eq!(d.out()[0].ack, P, "out of order: duplicate ACK");
    assert_eq!(read(&mut d, 100), Err(CallError::WouldBlock));
    d.input(seg("P.", P, ISS + 1).data(b"head"));
    assert_eq!(d.out()[0].ack, P + 8);
    assert_eq!(d.c.take_urgent_byte(), UrgentByte::Ready(b'!'));
    assert_eq!(d.read_all(), b"headURG");
    // Past the mark, the taken byte is forgotten with it.
    assert_eq!(d.c.take_urgent_byte(), UrgentByte::None);
}

#[test]
fn segments_before_snd_up_carry_the_pointer_until_it_is_acknowledged() {
    let mut d = Driver::established();
    assert_eq!(d.c.send(b"abc"), Ok(3));
    assert_eq!(d.c.send_urgent(b"de!"), Ok(3));
    let out = d.out();
    assert_eq!(out.len(), 1);
    assert!(out[0].flags.urg());
    assert_eq!(out[0].urgent_ptr, 6, "one past the last urgent byte");
    // A partial ACK leaves the rest urgent: its retransmission points from its own start.
    d.input(seg(".", P, ISS + 4));
    d.out();
    let resent = d.advance(secs(2));
    let (_, r) = resent.first().expect("a retransmission");
    assert_eq!((r.seq, r.urgent_ptr), (ISS + 4, 3));
    assert!(r.flags.urg());
    // Once SND.UNA reaches SND.UP, urgent mode is over.
    d.input(seg(".", P, ISS + 7));
    assert_eq!(d.c.send(b"more"), Ok(4));
    let out = d.out();
    assert!(!out[0].flags.urg());
    assert_eq!(out[0].urgent_ptr, 0);
}

#[test]
fn a_pointer_beyond_16_bits_is_sent_as_0xffff() {
    let config = synack_proto::Config {
        send_buffer: 256 * 1024,
        send_buffer_max: 256 * 1024,
        notsent_lowat: None,
        ..plain_config()
    };
    let mut d = Driver::established_with(config);
    let data = vec![7u8; 100_000];
    assert_eq!(d.c.send_urgent(&data), Ok(100_000));
    let out = d.out();
    assert!(!out.is_empty());
    for s in &out {
        assert!(s.flags.urg());
        let left = ISS + 1 + 100_000 - s.seq;
        assert_eq!(u32::from(s.urgent_ptr), left.min(0xFFFF));
    }
    assert_eq!(out[0].urgent_ptr, 0xFFFF);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random cuts, each segment with or without URG and with any pointer, arriving in any
    /// order with duplicates and reads in between. In line, the stream read is exactly the
    /// one sent; out of band, it is the stream less some urgent bytes, at most one per
    /// urgent segment, in order and never duplicated.
    #[test]
    fn urgent_flags_and_pointers_never_corrupt_the_stream(
        cuts in proptest::collection::vec((1usize..700, any::<bool>(), any::<u16>()), 1..30),
        order in proptest::collection::vec(any::<proptest::sample::Index>(), 0..60),
        reads in proptest::collection::vec(any::<bool>(), 60),
        inline in any::<bool>(),
    ) {
        let mut d = Driver::established();
        d.c.set_urgent_inline(inline);
        let total: usize = cuts.iter().map(|c| c.0).sum();
        let stream: Vec<u8> = (0..total).map(|i| (i * 13 + i / 256) as u8).collect();
        let mut segs = Vec::new();
        let mut at = 0;
        let mut urgent_segs = 0;
        for (len, urg, ptr) in &cuts {
            let mut s = seg("P.", P + at as u32, ISS + 1).data(&stream[at..at + len]);
            if *urg {
                s = s.urg(*ptr);
                urgent_segs += 1;
            } else {
                // A stray pointer without the flag must be ignored too.
                s.urgent_ptr = *ptr;
            }
            segs.push(s);
            at += len;
        }
        let mut got = Vec::new();
        for (i, idx) in order.iter().enumerate() {
            d.input(segs[idx.index(segs.len())].clone());
            d.out();
            if reads[i] {
                got.extend(d.read_all());
                let _ = d.c.take_urgent_byte();
            }
        }
        for s in &segs {
            d.input(s.clone());
        }
        got.extend(d.read_all());
        prop_assert_eq!(d.c.info().rcv_nxt, P + total as u32);
        if inline {
            prop_assert_eq!(got, stream);
        } else {
            prop_assert!(got.len() + urgent_segs >= stream.len());
            // `got` is `stream` with some bytes left out: walk both.
            let mut rest = stream.iter();
            for b in &got {
                prop_assert!(rest.any(|s| s == b), "read bytes out of order or invented");
            }
        }
    }
}
