//! The receive side of the data path: reassembly, SACK and D-SACK generation, delayed ACKs.

mod common;

use common::*;
use proptest::prelude::*;
use synack_proto::{Config, StateName};
use synack_wire::SackBlock;

/// Established with SACK negotiated and every segment acknowledged at once.
fn sack_established(config: Config) -> Driver {
    let mut d = Driver::syn_sent(Config {
        sack: true,
        ..config
    });
    d.input(seg("S.", PEER_ISS, ISS + 1).mss(1460).sack_ok());
    d.out();
    assert!(d.c.info().sack);
    d
}

fn blocks(s: &Seg) -> Vec<(u32, u32)> {
    s.options
        .sack_blocks
        .as_slice()
        .iter()
        .map(|b: &SackBlock| (b.left, b.right))
        .collect()
}

const P: u32 = PEER_ISS + 1;

#[test]
fn out_of_order_segments_are_kept_sacked_and_reassembled() {
    let mut d = sack_established(plain_config());
    d.input(seg("P.", P + 4, ISS + 1).data(b"bbbb"));
    let out = d.out();
    assert_eq!((out.len(), out[0].ack), (1, P), "duplicate ACK at once");
    assert_eq!(blocks(&out[0]), vec![(P + 4, P + 8)]);
    d.input(seg("P.", P + 8, ISS + 1).data(b"cccc"));
    assert_eq!(
        blocks(&d.out()[0]),
        vec![(P + 4, P + 12)],
        "adjacent pieces merge"
    );
    assert_eq!(d.read_all(), b"", "nothing readable across the gap");
    d.input(seg("P.", P, ISS + 1).data(b"aaaa"));
    let out = d.out();
    assert_eq!(out[0].ack, P + 12, "the gap fill acknowledges everything");
    assert!(blocks(&out[0]).is_empty());
    assert_eq!(d.read_all(), b"aaaabbbbcccc");
}

/// A segment that begins before the stream's first byte (only a forged or mangled one can:
/// the peer's SYN sits there) and runs past RCV.NXT: only the bytes from RCV.NXT on are the
/// stream's (RFC 9293 §3.10.7.4). Found by the `host_sequence` fuzz target, which saw all of
/// them delivered, the 202 leading ones included.
#[test]
fn a_segment_starting_before_the_stream_delivers_only_its_new_bytes() {
    let mut d = Driver::established();
    let rcv_nxt = PEER_ISS + 1;
    let payload: Vec<u8> = (0..255u32).map(|k| k as u8).collect();
    // An old ACK (within the window RFC 5961 §5.2 accepts), so the text is processed.
    d.input(seg(".", rcv_nxt.wrapping_sub(202), ISS + 1 - 165).data(&payload));
    let out = d.out();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, rcv_nxt + 53, "{out:?}");
    assert_eq!(
        d.read_all(),
        (202..255u32).map(|k| k as u8).collect::<Vec<_>>()
    );
}

#[test]
fn sack_blocks_put_the_most_recent_first() {
    let mut d = sack_established(plain_config());
    d.input(seg("P.", P + 10, ISS + 1).data(b"x"));
    d.out();
    d.input(seg("P.", P + 20, ISS + 1).data(b"y"));
    d.out();
    d.input(seg("P.", P + 30, ISS + 1).data(b"z"));
    assert_eq!(
        blocks(&d.out()[0]),
        vec![(P + 30, P + 31), (P + 20, P + 21), (P + 10, P + 11)]
    );
    d.input(seg("P.", P + 20, ISS + 1).data(b"y"));
    // A duplicate of kept data is reported first as a D-SACK (RFC 2883), then the blocks.
    assert_eq!(
        blocks(&d.out()[0]),
        vec![
            (P + 20, P + 21),
            (P + 20, P + 21),
            (P + 30, P + 31),
            (P + 10, P + 11)
        ]
    );
}

#[test]
fn duplicate_data_draws_a_dsack() {
    let mut d = sack_established(plain_config());
    d.input(seg("P.", P, ISS + 1).data(b"abcd"));
    d.out();
    d.input(seg("P.", P, ISS + 1).data(b"abcd"));
    let out = d.out();
    assert_eq!(out[0].ack, P + 4);
    assert_eq!(blocks(&out[0]), vec![(P, P + 4)]);
    d.input(seg(".", P + 4, ISS + 1));
    assert_eq!(d.out(), vec![], "a pure ACK draws nothing");
}

#[test]
fn overlapping_pieces_keep_the_first_copy_and_fill_holes() {
    let mut d = sack_established(plain_config());
    d.input(seg("P.", P + 4, ISS + 1).data(b"EFGH"));
    d.input(seg("P.", P + 2, ISS + 1).data(b"cdXXXXkl"));
    d.input(seg("P.", P, ISS + 1).data(b"ab"));
    d.out();
    assert_eq!(d.read_all(), b"abcdEFGHkl");
}

#[test]
fn fin_beyond_a_gap_waits_for_the_gap() {
    let mut d = sack_established(plain_config());
    d.input(seg("FP.", P + 4, ISS + 1).data(b"tail"));
    assert_eq!(d.state(), StateName::Established);
    assert_eq!(d.out()[0].ack, P);
    d.input(seg("P.", P, ISS + 1).data(b"head"));
    assert_eq!(d.state(), StateName::CloseWait);
    assert_eq!(d.out()[0].ack, P + 9);
    assert_eq!(d.read_all(), b"headtail");
    assert_eq!(d.c.recv(&mut [0u8; 4]), Ok(0));
}

#[test]
fn out_of_order_data_beyond_the_buffer_is_not_kept() {
    let config = Config {
        recv_buffer: 8,
        ..plain_config()
    };
    let mut d = sack_established(config);
    d.input(seg("P.", P + 4, ISS + 1).data(b"0123456789"));
    d.input(seg("P.", P, ISS + 1).data(b"abcd"));
    d.out();
    assert_eq!(
        d.read_all(),
        b"abcd0123",
        "only what fits the 8-byte buffer"
    );
}

#[test]
fn delayed_ack_waits_40ms_or_for_a_second_full_segment() {
    let config = Config {
        quickack_segments: 0,
        ..plain_config()
    };
    let mut d = sack_established(config);
    d.input(seg("P.", P, ISS + 1).data(b"one"));
    assert_eq!(d.out(), vec![], "the ACK is delayed");
    let sent = d.advance(ms(39));
    assert!(sent.is_empty());
    let sent = d.advance(ms(1));
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].0.as_millis(), sent[0].1.ack), (40, P + 3));
    // Two full-sized segments: the second is acknowledged at once.
    d.input(seg("P.", P + 3, ISS + 1).data(&[1u8; 1460]));
    assert_eq!(d.out(), vec![]);
    d.input(seg("P.", P + 1463, ISS + 1).data(&[2u8; 1460]));
    let out = d.out();
    assert_eq!((out.len(), out[0].ack), (1, P + 2923));
    // Data we send carries the owed ACK: nothing extra follows.
    d.input(seg("P.", P + 2923, ISS + 1).data(b"q"));
    d.c.send(b"answer").unwrap();
    let out = d.out();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].ack, &out[0].payload[..]),
        (P + 2924, &b"answer"[..])
    );
    assert!(d.advance(ms(100)).is_empty());
}

#[test]
fn a_delayed_ack_set_past_half_a_second_still_goes_within_it() {
    // RFC 1122 §4.2.3.2: an ACK must not be delayed 0.5 s or more, whatever the setting.
    let config = Config {
        quickack_segments: 0,
        delayed_ack: Some(ms(2000)),
        ..plain_config()
    };
    let mut d = sack_established(config);
    d.input(seg("P.", P, ISS + 1).data(b"one"));
    assert_eq!(d.out(), vec![], "the ACK is delayed");
    let sent = d.advance(ms(500));
    assert_eq!(sent.len(), 1, "acknowledged within 0.5 s");
    assert_eq!((sent[0].0.as_millis(), sent[0].1.ack), (499, P + 3));
}

#[test]
fn quick_ack_acknowledges_the_first_segments_at_once() {
    let config = Config {
        quickack_segments: 2,
        ..plain_config()
    };
    let mut d = sack_established(config);
    for i in 0..2u32 {
        d.input(seg("P.", P + i, ISS + 1).data(b"x"));
        assert_eq!(d.out().len(), 1, "segment {i} acknowledged at once");
    }
    d.input(seg("P.", P + 2, ISS + 1).data(b"x"));
    assert_eq!(d.out(), vec![], "then the delayed-ACK rules apply");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any arrival order, with duplicates and reads interleaved, delivers exactly the stream.
    #[test]
    fn any_arrival_order_delivers_the_exact_stream(
        cuts in proptest::collection::vec(1usize..900, 1..40),
        order in proptest::collection::vec(any::<proptest::sample::Index>(), 1..80),
        reads in proptest::collection::vec(any::<bool>(), 80),
    ) {
        let mut d = sack_established(plain_config());
        let total: usize = cuts.iter().sum();
        let stream: Vec<u8> = (0..total).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut segs = Vec::new();
        let mut at = 0;
        for c in &cuts {
            segs.push((at, stream[at..at + c].to_vec()));
            at += c;
        }
        let mut got = Vec::new();
        for (i, idx) in order.iter().enumerate() {
            let (off, data) = &segs[idx.index(segs.len())];
            d.input(seg("P.", P + *off as u32, ISS + 1).data(data));
            d.out();
            if reads[i] {
                got.extend(d.read_all());
            }
        }
        // Whatever the shuffle missed arrives at the end, in order.
        for (off, data) in &segs {
            d.input(seg("P.", P + *off as u32, ISS + 1).data(data));
        }
        got.extend(d.read_all());
        prop_assert_eq!(got, stream);
        prop_assert_eq!(d.c.info().rcv_nxt, P + total as u32);
    }
}

/// A segment exactly half the sequence space away from RCV.NXT is neither before nor after it
/// (RFC 9293 §3.4 comparisons are modulo 2^32 and ambiguous at 2^31): it is unacceptable and
/// answered with an ACK, never taken for an old duplicate to report as a D-SACK.
#[test]
fn data_half_the_sequence_space_away_is_not_an_old_duplicate() {
    for sack in [false, true] {
        let mut d = sack_established(Config {
            sack,
            ..plain_config()
        });
        d.input(seg("P.", P, ISS + 1).data(b"abcd"));
        d.out();
        for len in [1usize, 3, 100] {
            let far = (P + 4).wrapping_add(1 << 31);
            d.input(seg("FP.", far, ISS + 1).data(&vec![b'z'; len]));
            let out = d.out();
            assert_eq!(out.len(), 1, "{out:?}");
            assert_eq!(out[0].ack, P + 4);
            assert_eq!(blocks(&out[0]), vec![], "no D-SACK for it");
        }
        assert_eq!(d.state(), StateName::Established);
        assert_eq!(d.read_all(), b"abcd");
    }
}

#[test]
fn data_gives_up_only_the_room_its_sack_blocks_take() {
    // RFC 6691: option bytes come out of the MSS. One SACK block takes 12 bytes (two NOPs,
    // kind, length, 8 bytes), so a segment carrying it holds 1460 - 12 bytes of data, not
    // the room of four blocks. Against a peer announcing a tiny MSS the difference is between
    // small segments and one-byte ones.
    for (peer_mss, expected) in [(1460u16, 1448usize), (100, 88)] {
        let mut d = Driver::syn_sent(Config {
            sack: true,
            nodelay: true,
            ..plain_config()
        });
        d.input(seg("S.", PEER_ISS, ISS + 1).mss(peer_mss).sack_ok());
        d.out();
        d.input(seg("P.", P + 4, ISS + 1).data(b"bbbb").win(65535));
        assert_eq!(blocks(&d.out()[0]), vec![(P + 4, P + 8)]);
        d.c.send(&[7; 3000]).unwrap();
        let out = d.out();
        assert_eq!(blocks(&out[0]), vec![(P + 4, P + 8)]);
        assert_eq!(out[0].payload.len(), expected, "peer MSS {peer_mss}");
    }
}

#[test]
fn a_reset_after_the_peers_fin_leaves_the_received_stream_readable() {
    // All of the peer's data and its FIN arrived and were acknowledged; the peer considers
    // them delivered. A reset now (the peer, closed already, answering a stray duplicate)
    // ends the connection, but the bytes the application has not read yet are still its.
    // TIME-WAIT (we closed first) and LAST-ACK (the peer did), with the data unread.
    for we_close_first in [true, false] {
        let mut d = Driver::established();
        if we_close_first {
            d.c.shutdown_write().unwrap();
            assert_eq!(d.out().len(), 1, "our FIN");
            d.input(seg("FP.", P, ISS + 2).data(b"hello"));
            assert_eq!(d.state(), StateName::TimeWait);
            d.out();
            d.input(seg("R", P + 6, 0));
        } else {
            d.input(seg("FP.", P, ISS + 1).data(b"hello"));
            assert_eq!(d.state(), StateName::CloseWait);
            d.out();
            d.c.shutdown_write().unwrap();
            assert_eq!(d.state(), StateName::LastAck);
            d.out();
            d.input(seg("R", P + 6, 0));
        }
        assert_eq!(d.state(), StateName::Closed);
        assert_eq!(d.read_all(), b"hello", "closing first: {we_close_first}");
        assert_eq!(d.c.recv(&mut [0u8; 8]), Ok(0), "then end of stream");
    }
}
