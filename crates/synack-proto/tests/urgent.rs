//! Urgent data (RFC 9293 §3.8.5): with no out-of-band interface, urgent bytes stay in line and
//! the urgent pointer, wherever it points, never changes what the application reads.

mod common;

use common::*;
use proptest::prelude::*;
use synack_proto::StateName;

const P: u32 = PEER_ISS + 1;

#[test]
fn the_urgent_byte_is_delivered_in_line() {
    let mut d = Driver::established();
    // "!" is urgent: the pointer is its offset + 1 (RFC 6093's reading; the other reading,
    // pointing at the byte itself, must not matter either).
    d.input(seg("PU.", P, ISS + 1).data(b"ab!cd").urg(3));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 5).win(65530)]);
    d.input(seg("PU.", P + 5, ISS + 1).data(b"ef!gh").urg(2));
    assert_eq!(d.out(), vec![seg_out(".", ISS + 1, P + 10).win(65525)]);
    assert_eq!(d.read_all(), b"ab!cdef!gh");
}

#[test]
fn odd_urgent_pointers_change_nothing() {
    let mut d = Driver::established();
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
    // The pointer set without URG is not looked at either.
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
    assert_eq!(d.read_all(), b"");
    d.input(seg("P.", P, ISS + 1).data(b"head"));
    assert_eq!(d.out()[0].ack, P + 8);
    assert_eq!(d.read_all(), b"headURG!");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random cuts, each segment with or without URG and with any pointer, arriving in any
    /// order with duplicates and reads in between: the stream read is exactly the one sent.
    #[test]
    fn urgent_flags_and_pointers_never_corrupt_the_stream(
        cuts in proptest::collection::vec((1usize..700, any::<bool>(), any::<u16>()), 1..30),
        order in proptest::collection::vec(any::<proptest::sample::Index>(), 0..60),
        reads in proptest::collection::vec(any::<bool>(), 60),
    ) {
        let mut d = Driver::established();
        let total: usize = cuts.iter().map(|c| c.0).sum();
        let stream: Vec<u8> = (0..total).map(|i| (i * 13 + i / 256) as u8).collect();
        let mut segs = Vec::new();
        let mut at = 0;
        for (len, urg, ptr) in &cuts {
            let mut s = seg("P.", P + at as u32, ISS + 1).data(&stream[at..at + len]);
            if *urg {
                s = s.urg(*ptr);
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
            }
        }
        for s in &segs {
            d.input(s.clone());
        }
        got.extend(d.read_all());
        prop_assert_eq!(got, stream);
        prop_assert_eq!(d.c.info().rcv_nxt, P + total as u32);
    }
}
