//! Interactive (request/response) ACKs in virtual time: once a connection answers what it
//! receives within the delayed-ACK timeout, the ACK of each request rides on the response
//! and the ACK of each response on the next request; quick-ACK at the start of a bulk
//! transfer, one ACK per two full segments, and the immediate ACK of out-of-order data stay.

mod common;

use common::*;
use synack_proto::{Config, StateName};

/// One-way delay of the wire.
const DELAY_MS: u64 = 5;

fn pair(config: &Config) -> Pair {
    let mut p = Pair::client_server(config, ms(DELAY_MS));
    p.run_for(ms(3 * DELAY_MS));
    assert_eq!(p.a.state(), StateName::Established);
    assert_eq!(p.b.state(), StateName::Established);
    p
}

/// One transaction: the client's request crosses, the server reads it and answers at once,
/// the answer crosses and is read. Returns the segments it took (both ways).
fn transaction(p: &mut Pair, request: &[u8], response: &[u8]) -> Vec<Sent> {
    let start = p.log.len();
    assert_eq!(p.a.send(request), Ok(request.len()));
    p.run_for(ms(DELAY_MS));
    assert_eq!(read_in_chunks(&mut p.b, 4096), request);
    assert_eq!(p.b.send(response), Ok(response.len()));
    p.run_for(ms(DELAY_MS));
    assert_eq!(read_in_chunks(&mut p.a, 4096), response);
    p.log[start..].to_vec()
}

#[test]
fn a_request_response_exchange_takes_two_segments_per_transaction() {
    let mut p = pair(&plain_config());
    // The server's first request is quick-ACKed (it has not answered anything yet); from its
    // first answer on, both sides are interactive.
    transaction(&mut p, b"q", b"r");
    for i in 1..40 {
        let sent = transaction(&mut p, b"q", b"r");
        assert_eq!(sent.len(), 2, "transaction {i}: {sent:?}");
        assert!(sent.iter().all(|s| s.seg.payload.len() == 1));
        // Each carries the ACK of the one before it.
        assert_eq!(sent[1].seg.ack, sent[0].seg.seq + 1);
    }
    assert!(p.log.iter().all(|s| !s.dropped));
}

#[test]
fn with_interactive_acks_off_each_of_the_first_segments_is_acknowledged_at_once() {
    let config = Config {
        interactive_acks: false,
        ..plain_config()
    };
    let mut p = pair(&config);
    for i in 0..10 {
        let sent = transaction(&mut p, b"q", b"r");
        assert_eq!(sent.len(), 4, "transaction {i} (quick-ACK): {sent:?}");
    }
}

#[test]
fn without_a_reply_the_ack_still_goes_within_the_delayed_ack_timeout() {
    let mut p = pair(&plain_config());
    for _ in 0..3 {
        transaction(&mut p, b"q", b"r");
    }
    // A request the server's application does not answer.
    let start = p.log.len();
    p.a.send(b"slow").unwrap();
    p.run_for(ms(200));
    let sent = &p.log[start..];
    assert_eq!(sent.len(), 2, "{sent:?}");
    let (request, ack) = (&sent[0], &sent[1]);
    assert_eq!((ack.from, ack.seg.ack), (Side::B, request.seg.seq + 4));
    // Sent when the request arrived plus the 40 ms delayed-ACK timeout, not later.
    assert_eq!(ack.at - request.at, ms(DELAY_MS + 40));
    // The timer fired, so the server left interactive mode: its next request is
    // acknowledged at once again (quick-ACKs remain), before any answer.
    read_in_chunks(&mut p.b, 4096);
    let start = p.log.len();
    p.a.send(b"q").unwrap();
    p.run_for(ms(DELAY_MS));
    let sent = &p.log[start..];
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        (sent[1].from, sent[1].at),
        (Side::B, sent[0].at + ms(DELAY_MS))
    );
    assert!(sent[1].seg.payload.is_empty());
}

#[test]
fn an_interactive_receiver_still_acks_every_second_full_segment_and_a_gap_at_once() {
    let mut p = pair(&plain_config());
    for _ in 0..3 {
        transaction(&mut p, b"q", b"r");
    }
    // A request of two full segments and a short one: the second full segment draws an ACK
    // at once (RFC 5681 §4.2), before the answer; the short tail's rides on the answer.
    let request = vec![7u8; 2 * 1460 + 80];
    let sent = transaction(&mut p, &request, b"r");
    let from_b: Vec<_> = sent.iter().filter(|s| s.from == Side::B).collect();
    assert_eq!(from_b.len(), 2, "{sent:?}");
    assert!(from_b[0].seg.payload.is_empty());
    assert_eq!(from_b[0].seg.ack, sent[1].seg.seq + 1460);
    assert_eq!(from_b[1].seg.payload.len(), 1);

    // The first segment of the next request is lost: the second, out of order, is
    // acknowledged at once (a duplicate ACK), and so is the retransmission that fills the gap.
    let first = p.log.len();
    p.drop_when(move |s, i| i == first && s.from == Side::A);
    p.a.send(&[8u8; 1460 + 100]).unwrap();
    p.run_for(ms(DELAY_MS));
    let dup = p.log.last().unwrap().clone();
    assert_eq!(dup.from, Side::B);
    assert!(dup.seg.payload.is_empty());
    assert_eq!(dup.seg.ack, p.log[first].seg.seq, "a duplicate ACK at once");
    p.drop_when(|_, _| false);
    p.run_for(ms(1000));
    let fill = p
        .log
        .iter()
        .rposition(|s| s.from == Side::B && s.seg.ack == p.log[first].seg.seq + 1560)
        .expect("the gap fill is acknowledged");
    let retransmission = p.log[..fill]
        .iter()
        .rposition(|s| s.from == Side::A && s.seg.seq == p.log[first].seg.seq)
        .expect("the lost segment was sent again");
    assert_eq!(
        p.log[fill].at - p.log[retransmission].at,
        ms(DELAY_MS),
        "the gap fill's ACK left on arrival"
    );
    assert_eq!(read_in_chunks(&mut p.b, 4096).len(), 1560);
}

#[test]
fn a_bulk_transfer_is_quick_acked_at_first_then_acked_every_second_full_segment() {
    // The receiver never answers, so it never becomes interactive, even though the sender
    // started writing right after its handshake.
    let mut p = pair(&plain_config());
    let start = p.log.len();
    let data = vec![3u8; 64 * 1460];
    let mut written = 0;
    let mut received = 0;
    while received < data.len() {
        if let Ok(n) = p.a.send(&data[written..]) {
            written += n;
        }
        p.run_for(ms(1));
        received += read_in_chunks(&mut p.b, 1 << 16).len();
    }
    p.run_for(ms(100));
    let sent = &p.log[start..];
    let acks: Vec<_> = sent
        .iter()
        .filter(|s| s.from == Side::B && s.seg.payload.is_empty())
        .collect();
    let iss = sent[0].seg.seq;
    // The first 16 data segments: each acknowledged on arrival.
    for k in 1..=16u32 {
        let end = iss + k * 1460;
        let data = sent
            .iter()
            .find(|s| s.from == Side::A && s.seg.seq + s.seg.payload.len() as u32 == end)
            .unwrap();
        assert!(
            acks.iter()
                .any(|a| a.seg.ack == end && a.at == data.at + ms(DELAY_MS)),
            "segment {k} quick-ACKed"
        );
    }
    // After them, no ACK covers more than two full segments beyond the one before it.
    let after: Vec<_> = acks
        .iter()
        .filter(|a| a.seg.ack.wrapping_sub(iss) > 16 * 1460)
        .collect();
    assert!(after.len() >= (64 - 16) / 2, "{} ACKs", after.len());
    for w in after.windows(2) {
        assert!(w[1].seg.ack.wrapping_sub(w[0].seg.ack) <= 2 * 1460);
    }
}

#[test]
fn an_interactive_connections_ack_of_a_fin_rides_on_its_own_fin() {
    let mut p = pair(&plain_config());
    transaction(&mut p, b"q", b"r");
    // The client closes; the server's application closes 10 ms after the FIN arrives, within
    // the delayed-ACK timeout: its FIN carries the ACK, a three-segment close.
    let start = p.log.len();
    p.a.close(p.now).unwrap();
    p.run_for(ms(DELAY_MS + 10));
    assert_eq!(p.b.state(), StateName::CloseWait);
    assert_eq!(p.log.len(), start + 1, "the FIN's ACK waits");
    p.b.close(p.now).unwrap();
    p.run_for(ms(100));
    let sent = &p.log[start..];
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[1].from, Side::B);
    assert!(sent[1].seg.flags.fin());
    assert_eq!(sent[1].seg.ack, sent[0].seg.seq + 1);
    assert_eq!(p.a.state(), StateName::TimeWait);
    assert_eq!(p.b.state(), StateName::Closed);
}

#[test]
fn an_unanswered_fin_is_acknowledged_within_the_delayed_ack_timeout() {
    let mut p = pair(&plain_config());
    transaction(&mut p, b"q", b"r");
    let start = p.log.len();
    p.a.close(p.now).unwrap();
    p.run_for(ms(200));
    let sent = &p.log[start..];
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1].from, Side::B);
    assert!(!sent[1].seg.flags.fin());
    assert_eq!(sent[1].seg.ack, sent[0].seg.seq + 1);
    assert_eq!(sent[1].at - sent[0].at, ms(DELAY_MS + 40));
    assert_eq!(p.a.state(), StateName::FinWait2);
}

#[test]
fn a_fin_to_a_connection_that_never_answered_is_acknowledged_at_once() {
    let mut p = pair(&plain_config());
    // The server only receives: not interactive.
    p.a.send(b"data").unwrap();
    p.run_for(ms(DELAY_MS));
    read_in_chunks(&mut p.b, 4096);
    p.a.close(p.now).unwrap();
    let start = p.log.len();
    p.run_for(ms(DELAY_MS));
    let sent = &p.log[start..];
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        (sent[1].from, sent[1].at - sent[0].at),
        (Side::B, ms(DELAY_MS))
    );
}
