//! Hostile input: arbitrary segments, timer jumps and user calls thrown at connections in every
//! state. Nothing may panic, no transition may leave the table (checked by a debug assertion
//! inside the connection, on in tests), the send sequence space stays ordered, and bytes
//! already handed to the user never change.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use synack_proto::{Connection, StateName};
use synack_wire::{SackBlock, SackList, TcpFlags, TcpOptions, Timestamps};

#[derive(Clone, Debug)]
enum Step {
    Segment(Seg),
    Advance(u64),
    Send(usize),
    Read,
    Shutdown,
    Close,
    Abort,
}

/// Sequence numbers near the interesting values, or anywhere.
fn near(base: u32) -> impl Strategy<Value = u32> {
    prop_oneof![
        (-3000i64..70_000).prop_map(move |d| (i64::from(base) + d) as u32),
        any::<u32>(),
    ]
}

fn options() -> impl Strategy<Value = TcpOptions> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(0u8..20),
        any::<bool>(),
        proptest::option::of((any::<u32>(), any::<u32>())),
        proptest::collection::vec((near(PEER_ISS), near(ISS)), 0..3),
    )
        .prop_map(|(mss, ws, sack_permitted, ts, blocks)| {
            let mut sack_blocks = SackList::new();
            for (l, r) in blocks {
                sack_blocks.push(SackBlock { left: l, right: r });
            }
            TcpOptions {
                mss,
                window_scale: ws,
                sack_permitted,
                sack_blocks,
                timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
            }
        })
}

fn segment() -> impl Strategy<Value = Seg> {
    (
        any::<u8>(),
        near(PEER_ISS),
        near(ISS),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        options(),
    )
        .prop_map(|(bits, seq, ack, win, payload, options)| {
            let mut s = seg("", seq, ack).win(win).data(&payload);
            // Mostly well-formed flag combinations, sometimes anything at all.
            s.flags = if bits & 0x80 == 0 {
                TcpFlags::from_bits(bits & 0x1f) | TcpFlags::ACK
            } else {
                TcpFlags::from_bits(bits)
            };
            s.options = options;
            s
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => segment().prop_map(Step::Segment),
        2 => (0u64..200_000).prop_map(Step::Advance),
        1 => (0usize..5000).prop_map(Step::Send),
        1 => Just(Step::Read),
        1 => Just(Step::Shutdown),
        1 => Just(Step::Close),
        1 => Just(Step::Abort),
    ]
}

fn start(kind: u8) -> Driver {
    let config = plain_config();
    match kind {
        0 => Driver::new(Connection::listen(&config, LOCAL_PORT, ISS)),
        1 => Driver::syn_sent(config),
        2 => Driver::syn_received(),
        3 => Driver::established(),
        4 => {
            let mut d = Driver::established();
            d.c.shutdown_write().unwrap();
            d.out();
            d
        }
        5 => {
            let mut d = Driver::established();
            d.input(seg("F.", PEER_ISS + 1, ISS + 1));
            d.out();
            d
        }
        _ => Driver::established_with(synack_proto::Config::default()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_breaks_a_connection(
        kind in 0u8..7,
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let mut d = start(kind);
        let mut delivered: Vec<u8> = Vec::new();
        for s in steps {
            match s {
                Step::Segment(seg) => d.input(seg),
                Step::Advance(ms) => {
                    d.advance(Duration::from_millis(ms));
                }
                Step::Send(n) => {
                    let _ = d.c.send(&vec![0xAB; n]);
                }
                Step::Read => delivered.extend(d.read_all()),
                Step::Shutdown => {
                    let _ = d.c.shutdown_write();
                }
                Step::Close => {
                    let now = d.now;
                    let _ = d.c.close(now);
                }
                Step::Abort => d.c.abort(),
            }
            let out = d.out();
            prop_assert!(out.len() < 1000);
            for o in &out {
                // Never answer a reset with a reset, never send options a SYN did not carry
                // the right to.
                prop_assert!(!(o.flags.rst() && o.flags.syn()));
                prop_assert!(o.payload.len() <= 1460);
            }
            let info = d.c.info();
            if d.state() != StateName::Closed && d.state() != StateName::Listen {
                let una = synack_proto::SeqNum(info.snd_una);
                let nxt = synack_proto::SeqNum(info.snd_nxt);
                prop_assert!(una.le(nxt), "SND.UNA {} beyond SND.NXT {}", info.snd_una, info.snd_nxt);
            }
        }
        // Only the peer's bytes as sent can have been delivered: the arbitrary segments carry
        // arbitrary payloads, so check that what was read is at least consistent with
        // RCV.NXT's advance (no byte delivered twice).
        let info = d.c.info();
        if info.bytes_received > 0 {
            prop_assert!(delivered.len() as u64 <= info.bytes_received);
        }
    }
}
