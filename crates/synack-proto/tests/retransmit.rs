//! Losing each segment of a connection's life once, on a 50 ms one-way wire, and checking the
//! exact retransmission times that RFC 6298 prescribes.

mod common;

use std::time::Duration;

use common::*;
use synack_proto::{Event, Instant, StateName};

fn at(m: u64) -> Instant {
    Instant::from_millis(m)
}

/// When `side` entered `state`.
fn entered(p: &Pair, side: Side, state: StateName) -> Option<Instant> {
    p.events.iter().find_map(|(t, s, e)| match e {
        Event::StateChanged { to, .. } if *s == side && *to == state => Some(*t),
        _ => None,
    })
}

/// Send times of the segments `side` sent that match `f`.
fn times(p: &Pair, side: Side, f: &str) -> Vec<u64> {
    p.sent_by(side)
        .iter()
        .filter(|s| s.seg.flags == flags(f))
        .map(|s| s.at.as_millis())
        .collect()
}

fn pair() -> Pair {
    Pair::client_server(&plain_config(), ms(50))
}

#[test]
fn lost_syn_is_sent_again_after_one_second() {
    let mut p = pair();
    p.drop_when(|s, _| s.seg.flags == flags("S"));
    p.run_for(ms(10));
    p.drop_when(|_, _| false);
    p.run_for(ms(2000));
    assert_eq!(times(&p, Side::A, "S"), vec![0, 1000]);
    assert_eq!(entered(&p, Side::A, StateName::Established), Some(at(1100)));
    assert_eq!(entered(&p, Side::B, StateName::Established), Some(at(1150)));
    // RFC 6298 §5.7: the SYN was retransmitted and never timed, so data starts with a 3 s RTO.
    assert_eq!(p.a.info().rto, Duration::from_secs(3));
    assert_eq!(p.a.info().srtt, None);
}

#[test]
fn lost_syn_ack_is_repeated_by_timer_or_by_the_repeated_syn() {
    let mut p = pair();
    p.drop_when(|s, _| s.seg.flags == flags("S."));
    p.run_for(ms(100));
    p.drop_when(|_, _| false);
    p.run_for(ms(2000));
    // The client's SYN timer fires at 1 s; its repeated SYN reaches the server at 1.05 s, just
    // when the server's own SYN-ACK timer fires too. Either way a SYN-ACK leaves at 1.05 s.
    let syn_acks = times(&p, Side::B, "S.");
    assert_eq!(syn_acks[0], 50);
    assert!(syn_acks[1..].iter().all(|t| *t == 1050), "{syn_acks:?}");
    assert_eq!(times(&p, Side::A, "S"), vec![0, 1000]);
    assert_eq!(entered(&p, Side::A, StateName::Established), Some(at(1100)));
}

#[test]
fn lost_final_ack_of_handshake_is_recovered_by_syn_ack_retransmission() {
    let mut p = pair();
    // The first pure ACK from the client is the handshake's third segment.
    p.drop_when(|s, i| s.from == Side::A && s.seg.flags == flags(".") && i < 3);
    p.run_for(ms(2000));
    assert_eq!(entered(&p, Side::A, StateName::Established), Some(at(100)));
    assert_eq!(times(&p, Side::B, "S."), vec![50, 1050]);
    // The client answers the duplicate SYN-ACK with an ACK, which completes the handshake.
    assert_eq!(entered(&p, Side::B, StateName::Established), Some(at(1150)));
}

#[test]
fn lost_data_is_retransmitted_after_one_rto() {
    let mut p = pair();
    p.run_for(ms(100));
    assert_eq!(p.a.state(), StateName::Established);
    // The handshake measured 100 ms: RTO = SRTT + 4 * RTTVAR = 100 + 4 * 50 = 300 ms.
    assert_eq!(p.a.info().rto, ms(300));
    p.a.send(b"precious").unwrap();
    p.drop_when(|s, _| !s.seg.payload.is_empty());
    p.run_for(ms(10));
    p.drop_when(|_, _| false);
    p.run_for(ms(2000));
    let data: Vec<u64> = p
        .sent_by(Side::A)
        .iter()
        .filter(|s| !s.seg.payload.is_empty())
        .map(|s| s.at.as_millis())
        .collect();
    assert_eq!(data, vec![100, 400]);
    let mut buf = [0u8; 64];
    let n = p.b.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"precious");
    assert_eq!(p.a.info().segs_retransmitted, 1);
}

#[test]
fn lost_fin_is_retransmitted_after_one_rto() {
    let mut p = pair();
    p.run_for(ms(100));
    p.a.shutdown_write().unwrap();
    p.drop_when(|s, _| s.seg.flags.fin());
    p.run_for(ms(10));
    p.drop_when(|_, _| false);
    p.run_for(ms(2000));
    assert_eq!(times(&p, Side::A, "F."), vec![100, 400]);
    assert_eq!(entered(&p, Side::B, StateName::CloseWait), Some(at(450)));
    assert_eq!(p.a.state(), StateName::FinWait2);
}

#[test]
fn lost_last_ack_of_close_is_repaired_from_time_wait() {
    let mut p = pair();
    p.run_for(ms(100));
    p.a.close(p.now).unwrap();
    p.run_for(ms(50));
    assert_eq!(p.b.state(), StateName::CloseWait);
    p.b.close(p.now).unwrap();
    // Drop the client's ACK of the server's FIN.
    p.drop_when(|s, _| s.from == Side::A && s.seg.flags == flags(".") && s.at == at(200));
    p.run_for(ms(2000));
    // The server's FIN (sent at 150 ms) goes again one RTO (300 ms) later; TIME-WAIT re-ACKs
    // it and restarts its 2MSL wait.
    assert_eq!(times(&p, Side::B, "F."), vec![150, 450]);
    assert_eq!(entered(&p, Side::A, StateName::TimeWait), Some(at(200)));
    assert_eq!(entered(&p, Side::B, StateName::Closed), Some(at(550)));
    p.run_until(at(500 + 59_999));
    assert_eq!(p.a.state(), StateName::TimeWait);
    p.run_until(at(500 + 60_000));
    assert_eq!(p.a.state(), StateName::Closed);
}
