//! Every scenario, run in-process: the states it is about are visited, every byte is verified,
//! and both hosts end where the scenario says.

use synack_cli::scenario::{self, Params, Run, SCENARIOS};
use synack_proto::{Cause, ConnError, StateName as S};
use synack_sim::Side;

fn run(name: &str) -> Run {
    scenario::run(name, &Params::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn visited(run: &Run, side: Side, state: S) -> bool {
    run.visited(side).contains(&state)
}

/// Both ends CLOSED without error, every byte verified, nothing left undelivered.
fn orderly(run: &Run) {
    assert!(run.summary.verified, "{}: bytes not verified", run.scenario);
    assert_eq!(run.final_states, [S::Closed, S::Closed], "{}", run.scenario);
    assert_eq!(run.errors, [None, None], "{}", run.scenario);
}

fn data_bytes(run: &Run) -> u64 {
    run.app_received.iter().sum()
}

#[test]
fn every_scenario_runs_and_verifies() {
    for s in SCENARIOS.iter() {
        let r = run(s.name);
        assert!(r.summary.verified, "{}", s.name);
        assert!(!r.packets.is_empty(), "{}", s.name);
        // The state list always starts from the initial state and follows the changes.
        for side in [Side::A, Side::B] {
            let v = r.visited(side);
            assert_eq!(*v.last().unwrap(), r.final_states[scenario::idx(side)]);
        }
    }
}

#[test]
fn unknown_scenarios_point_to_the_list() {
    let err = scenario::run("no-such", &Params::default()).err().unwrap();
    assert!(err.contains("--list"), "{err}");
}

#[test]
fn syn_flood_fills_the_queue_and_cookies_let_the_client_in() {
    use synack_cli::sim::Why;
    let r = run("syn-flood");
    orderly(&r);
    assert_eq!(data_bytes(&r), 1500);
    // The server never kept a half-open connection for the client: its SYN met a full queue,
    // the SYN-ACK carried a cookie, and the returning ACK made the connection directly.
    assert!(!visited(&r, Side::B, S::SynReceived));
    assert!(r.made(S::Listen, S::Established, Cause::RecvCookieAck));
    // Six forged SYNs, each from its own absent host.
    let forged: Vec<_> = r
        .packets
        .iter()
        .filter(|p| p.from == Side::A && p.third_party.is_some())
        .collect();
    assert_eq!(forged.len(), 6);
    assert!(forged.iter().all(|p| p.seg.as_ref().unwrap().flags.syn()));
    // What the server sent them never arrived. The first four (backlog 4) were kept and their
    // SYN-ACKs retried three times; the last two got one cookie SYN-ACK each and were
    // forgotten.
    let to_ghosts: Vec<_> = r
        .packets
        .iter()
        .filter(|p| p.from == Side::B && p.third_party.is_some())
        .collect();
    assert!(to_ghosts.iter().all(|p| p.lost()));
    for (k, ghost) in forged.iter().enumerate() {
        let addr = ghost.third_party;
        let sent: Vec<_> = to_ghosts.iter().filter(|p| p.third_party == addr).collect();
        if k < 4 {
            assert_eq!(sent.len(), 4, "ghost {k}");
            assert!(sent.iter().all(|p| p.why != Why::SynCookie), "ghost {k}");
        } else {
            assert_eq!(sent.len(), 1, "ghost {k}");
            assert_eq!(sent[0].why, Why::SynCookie, "ghost {k}");
        }
    }
    let to_client_cookie = r
        .packets
        .iter()
        .filter(|p| p.from == Side::B && p.third_party.is_none() && p.why == Why::SynCookie)
        .count();
    assert_eq!(to_client_cookie, 1);
    assert_eq!(r.summary.syncookies_sent, 3);
    assert_eq!(r.summary.syncookies_validated, 1);
}

#[test]
fn bad_parameters_are_refused_not_panicked_on() {
    for loss in [-0.1, 1.0, 2.0, f64::NAN] {
        let p = Params {
            loss,
            ..Params::default()
        };
        assert!(scenario::run("tour", &p).is_err(), "loss {loss}");
    }
}

#[test]
fn tour_shows_handshake_one_loss_repaired_and_four_way_close() {
    let r = run("tour");
    orderly(&r);
    assert_eq!(r.summary.packets_lost, 1);
    // RACK repairs the hole before the retransmission timer would.
    assert_eq!(r.summary.rto_retransmits, 0);
    use synack_cli::sim::Why;
    assert!(
        r.packets
            .iter()
            .any(|p| p.retransmission && !p.lost() && p.why == Why::RackLoss)
    );
    for s in [
        S::SynSent,
        S::Established,
        S::FinWait1,
        S::FinWait2,
        S::TimeWait,
    ] {
        assert!(visited(&r, Side::A, s), "client never in {s}");
    }
    for s in [S::Listen, S::SynReceived, S::CloseWait, S::LastAck] {
        assert!(visited(&r, Side::B, s), "server never in {s}");
    }
    assert_eq!(data_bytes(&r), 1800);
    // Four separate segments close it: FIN, ACK, FIN, ACK.
    let fins = r
        .packets
        .iter()
        .filter(|p| p.seg.as_ref().is_some_and(|s| s.flags.fin()))
        .count();
    assert_eq!(fins, 2);
}

#[test]
fn handshake_ends_established_after_three_segments() {
    let r = run("handshake");
    assert_eq!(r.final_states, [S::Established, S::Established]);
    let flags: Vec<String> = r
        .packets
        .iter()
        .map(|p| p.seg.as_ref().unwrap().flags.to_string())
        .collect();
    assert_eq!(flags, ["SYN", "SYN|ACK", "ACK"]);
    // Relative numbers: both ISNs show as 0, the ACKs as 1.
    let segs: Vec<_> = r.packets.iter().map(|p| p.seg.clone().unwrap()).collect();
    assert_eq!((segs[0].seq, segs[1].seq, segs[1].ack), (0, 0, 1));
    assert_eq!((segs[2].seq, segs[2].ack), (1, 1));
    assert_ne!(segs[0].abs_seq, 0);
}

#[test]
fn transfer_moves_data_both_ways() {
    let r = run("transfer");
    orderly(&r);
    assert_eq!(r.app_received, [1200, 2000]);
    assert_eq!(r.summary.packets_lost, 0);
    assert_eq!(r.summary.segments_retransmitted, 0);
}

#[test]
fn close_is_four_way_with_time_wait_on_the_active_side() {
    let r = run("close");
    orderly(&r);
    assert!(r.made(S::Established, S::FinWait1, Cause::UserClose));
    assert!(r.made(S::FinWait2, S::TimeWait, Cause::RecvFin));
    assert!(r.made(S::CloseWait, S::LastAck, Cause::UserClose));
    assert!(r.made(S::TimeWait, S::Closed, Cause::TimeWaitExpired));
    assert!(
        !visited(&r, Side::B, S::TimeWait),
        "the passive side skips TIME-WAIT"
    );
    // The server's ACK of the FIN and its own FIN are separate segments.
    let server: Vec<_> = r
        .packets
        .iter()
        .filter(|p| p.from == Side::B)
        .filter_map(|p| p.seg.clone())
        .collect();
    let ack_of_fin = server.iter().position(|s| s.ack == 102 && !s.flags.fin());
    let fin = server.iter().position(|s| s.flags.fin());
    assert!(matches!((ack_of_fin, fin), (Some(a), Some(f)) if a < f));
}

#[test]
fn half_close_lets_the_server_send_after_the_clients_fin() {
    let r = run("half-close");
    orderly(&r);
    assert_eq!(r.app_received, [1500, 200]);
    let client_fin = r
        .packets
        .iter()
        .find(|p| p.from == Side::A && p.seg.as_ref().unwrap().flags.fin())
        .unwrap()
        .sent_at;
    let data_after = r
        .packets
        .iter()
        .filter(|p| p.from == Side::B && p.sent_at > client_fin)
        .filter(|p| p.seg.as_ref().unwrap().len > 0)
        .count();
    assert!(
        data_after >= 3,
        "server sent {data_after} data segments in CLOSE-WAIT"
    );
    assert!(visited(&r, Side::A, S::FinWait2));
    assert!(visited(&r, Side::B, S::CloseWait));
}

#[test]
fn simultaneous_open_passes_syn_received_on_both() {
    let r = run("simultaneous-open");
    orderly(&r);
    for side in [Side::A, Side::B] {
        assert!(!visited(&r, side, S::Listen));
        assert!(r.visited(side).starts_with(&[
            S::Closed,
            S::SynSent,
            S::SynReceived,
            S::Established
        ]));
    }
}

#[test]
fn simultaneous_close_visits_closing_on_both_hosts() {
    let r = run("simultaneous-close");
    orderly(&r);
    for side in [Side::A, Side::B] {
        let v = r.visited(side);
        let at = |s| v.iter().position(|x| *x == s);
        assert!(
            at(S::FinWait1) < at(S::Closing) && at(S::Closing) < at(S::TimeWait),
            "{side}: {v:?}"
        );
        assert!(at(S::FinWait1).is_some());
    }
}

#[test]
fn refused_ends_with_connection_refused() {
    let r = run("refused");
    assert_eq!(r.final_states, [S::Closed, S::Closed]);
    assert_eq!(r.errors[0], Some(ConnError::ConnectionRefused));
    assert_eq!(r.visited(Side::A), [S::Closed, S::SynSent, S::Closed]);
    assert_eq!(r.visited(Side::B), [S::Closed]);
    let rst = r.packets[1].seg.as_ref().unwrap();
    assert!(rst.flags.rst() && rst.flags.ack());
    assert_eq!(rst.ack, 1, "the RST acknowledges the SYN");
}

#[test]
fn keepalive_probes_then_gives_up_on_a_vanished_server() {
    let r = run("keepalive");
    assert!(r.summary.verified);
    // Only the client probes; the server (keepalive off) never notices.
    assert_eq!(r.final_states, [S::Closed, S::Established]);
    assert_eq!(r.errors[0], Some(ConnError::TimedOut));
    let probes: Vec<_> = r.packets.iter().filter(|p| p.keepalive).collect();
    assert_eq!(probes.len(), 4, "one answered, then three unanswered");
    assert!(probes.iter().all(|p| p.from == Side::A));
    assert!(!probes[0].lost() && probes[1..].iter().all(|p| p.lost()));
    // Numbered as the unanswered ones are counted: the answer to the first starts over.
    let numbers: Vec<_> = probes.iter().map(|p| p.keepalive_no).collect();
    assert_eq!(numbers, [Some(1), Some(1), Some(2), Some(3)]);
    let gaps: Vec<u64> = probes
        .windows(2)
        .map(|w| (w[1].sent_at - w[0].sent_at).as_millis() as u64)
        .collect();
    assert_eq!(
        &gaps[1..],
        &[1000, 1000],
        "one probe per interval once unanswered"
    );
}

#[test]
fn abort_resets_the_peer_without_time_wait() {
    let r = run("abort");
    assert!(r.summary.verified);
    assert_eq!(r.final_states, [S::Closed, S::Closed]);
    assert_eq!(
        r.errors,
        [
            Some(ConnError::ConnectionAborted),
            Some(ConnError::ConnectionReset)
        ]
    );
    assert!(r.made(S::Established, S::Closed, Cause::UserAbort));
    assert!(r.made(S::Established, S::Closed, Cause::RecvRst));
    for side in [Side::A, Side::B] {
        assert!(!visited(&r, side, S::TimeWait));
    }
}

#[test]
fn lossy_repairs_by_fast_retransmit_and_by_timeout() {
    let r = run("lossy");
    orderly(&r);
    assert!(r.summary.fast_retransmits >= 1);
    assert!(r.summary.rto_retransmits >= 1);
    assert!(r.summary.packets_lost >= 2);
    use synack_cli::sim::Why;
    assert!(r.packets.iter().any(|p| p.why == Why::RackLoss));
    // The lone segment's tail loss probe is lost too, so the timer repairs it.
    assert!(
        r.packets
            .iter()
            .any(|p| p.why == Why::TailLossProbe && p.lost())
    );
    assert!(
        r.packets
            .iter()
            .any(|p| p.why == Why::Timeout && p.retransmission)
    );
    assert_eq!(r.app_received[1], 4400);
}

#[test]
fn lossy_with_random_loss_still_verifies() {
    for seed in 1..=6 {
        let p = Params {
            seed,
            loss: 0.15,
            ..Params::default()
        };
        let r = scenario::run("lossy", &p).unwrap();
        assert!(r.summary.verified, "seed {seed}");
        assert_eq!(r.final_states, [S::Closed, S::Closed], "seed {seed}");
    }
}

#[test]
fn zero_window_probes_until_the_reader_returns() {
    let r = run("zero-window");
    orderly(&r);
    let zero = r
        .packets
        .iter()
        .any(|p| p.from == Side::B && p.seg.as_ref().unwrap().win == 0);
    assert!(zero, "the server never advertised a zero window");
    let probes = r.packets.iter().filter(|p| p.probe).count();
    assert!(probes >= 2, "{probes} probes");
    assert_eq!(r.app_received[1], 3000);
}

#[test]
fn time_wait_reacks_a_retransmitted_fin() {
    let r = run("time-wait");
    orderly(&r);
    let server_fins: Vec<_> = r
        .packets
        .iter()
        .filter(|p| p.from == Side::B && p.seg.as_ref().unwrap().flags.fin())
        .collect();
    assert_eq!(server_fins.len(), 2);
    assert!(server_fins[1].retransmission);
    // The client answers the second FIN while in TIME-WAIT, so both end without error.
    let tw = r
        .changes
        .iter()
        .find(|c| c.host == Side::A && c.to == S::TimeWait)
        .unwrap()
        .at;
    let acks_in_tw = r
        .packets
        .iter()
        .filter(|p| p.from == Side::A && p.sent_at >= tw)
        .count();
    assert_eq!(acks_in_tw, 2, "one lost ACK and one re-ACK");
    assert!(r.made(S::LastAck, S::Closed, Cause::RecvAck));
}

#[test]
fn same_seed_same_run() {
    let p = Params {
        seed: 7,
        loss: 0.1,
        ..Params::default()
    };
    let a = synack_cli::json::lines(&scenario::run("lossy", &p).unwrap());
    let b = synack_cli::json::lines(&scenario::run("lossy", &p).unwrap());
    assert_eq!(a, b);
    let other = Params { seed: 8, ..p };
    let c = synack_cli::json::lines(&scenario::run("lossy", &other).unwrap());
    assert_ne!(
        a, c,
        "the seed changes nothing: the test would prove nothing"
    );
}

#[test]
fn every_scenario_keeps_its_story_at_any_rtt() {
    for s in SCENARIOS.iter() {
        let base = run(s.name);
        for ms in [1, 300, 10_000] {
            let p = Params {
                rtt: std::time::Duration::from_millis(ms),
                ..Params::default()
            };
            let r = scenario::run(s.name, &p).unwrap();
            assert!(r.summary.verified, "{} at {ms} ms", s.name);
            assert_eq!(r.final_states, base.final_states, "{} at {ms} ms", s.name);
            assert_eq!(r.errors, base.errors, "{} at {ms} ms", s.name);
        }
    }
}
