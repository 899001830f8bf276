//! What the demo says is true of the run it draws: the socket calls and their order, the
//! checksum that caught a damaged segment, TIME-WAIT's length, numbered duplicate ACKs, the
//! handshake's third segment, a FIN on an ACK, and what random faults did to a run.

use std::process::{Command, Output};

use synack_cli::i18n::Lang;
use synack_cli::ladder::View;
use synack_cli::scenario::{self, Outcome, Params, SCENARIOS};
use synack_cli::sim::{Fault, Why};
use synack_proto::StateName as S;
use synack_sim::Side;

fn run(name: &str) -> scenario::Run {
    scenario::run(name, &Params::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn report(run: &scenario::Run, lang: Lang) -> String {
    synack_cli::ladder::report(run, &View::plain(lang))
}

fn synack(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_synack"));
    c.args(args).env("NO_COLOR", "1").env_remove("COLUMNS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run synack")
}

fn stdout(args: &[&str]) -> String {
    let out = synack(args, &[]);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Everything the run says, notes and facts, as one string per note in display order.
fn said(run: &scenario::Run, lang: Lang) -> Vec<String> {
    let mut out = vec![synack_cli::scenario::narrate::facts(run, lang)];
    for (_, item) in synack_cli::ladder::timeline(run) {
        if let synack_cli::ladder::Item::Note(i) = item {
            let n = &run.notes[i];
            out.push(lang.pick(&n.en, &n.zh).to_string());
        }
    }
    out
}

/// All of it in one string.
fn says(run: &scenario::Run, lang: Lang) -> String {
    said(run, lang).join(" ")
}

/// The index of the first note that says `needle`.
fn note_of(notes: &[String], needle: &str) -> usize {
    notes
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in:\n{notes:#?}"))
}

/// The report with its lines joined, wrapping undone.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn socket_calls_come_in_order_with_the_backlog() {
    for name in ["tour", "handshake", "syn-flood"] {
        let r = run(name);
        let notes = said(&r, Lang::En);
        let listen = note_of(&notes, "listen() with backlog");
        let connect = note_of(&notes, "connect()");
        let accept = note_of(&notes, "accept() returns");
        assert!(notes[listen].contains("socket(), bind() to port"), "{name}");
        assert!(listen < connect, "{name}: listen after connect");
        assert!(connect < accept, "{name}: accept before connect");
        // accept() returns when the server's connection is established.
        let note = r
            .notes
            .iter()
            .find(|n| n.en.contains("accept() returns"))
            .unwrap();
        let est = r
            .changes
            .iter()
            .find(|c| c.host == Side::B && c.to == S::Established)
            .unwrap();
        assert_eq!(note.at, est.at, "{name}");
    }
    assert!(says(&run("syn-flood"), Lang::En).contains("listen() with backlog 4"));
    let zh = said(&run("tour"), Lang::Zh);
    assert!(note_of(&zh, "listen()") < note_of(&zh, "connect()"));
    // Nothing listens in `refused`: no listen() is claimed there.
    let refused = flat(&report(&run("refused"), Lang::En));
    assert!(!refused.contains("listen()"));
    assert!(refused.contains("nothing listens on port"));
}

#[test]
fn a_damaged_segment_is_caught_by_its_checksum_and_retransmitted() {
    let r = run("checksum");
    assert!(r.summary.verified);
    assert_eq!(r.summary.packets_corrupted, 1);
    let damaged: Vec<_> = r.packets.iter().filter(|p| p.corrupted()).collect();
    let d = damaged[0];
    assert_eq!(d.outcome, Outcome::Corrupted);
    assert_eq!(d.aimed, Some(Fault::Corrupt));
    let damage = d.damage.expect("the receiver's verdict");
    assert_ne!(
        damage.field, damage.computed,
        "a flipped bit changes the sum"
    );
    // The same bytes were sent again and this time arrived intact.
    let seq = d.seg.as_ref().unwrap().seq;
    assert!(r.packets.iter().any(|p| p.retransmission
        && p.outcome == Outcome::Delivered
        && p.seg.as_ref().unwrap().seq == seq));
    let text = flat(&report(&r, Lang::En));
    assert!(says(&r, Lang::En).contains(&format!(
        "in the header 0x{:04x}, computed over the bytes received 0x{:04x}",
        damage.field, damage.computed
    )));
    assert!(text.contains("[damaged: "), "the arrow is marked");
    assert!(text.contains("1 damaged in flight"), "{text}");
    let zh = report(&r, Lang::Zh);
    assert!(zh.contains(&format!("0x{:04x}", damage.computed)));
}

#[test]
fn random_corruption_is_counted_and_repaired() {
    let mut damaged = 0;
    for seed in 1..=6 {
        let p = Params {
            seed,
            corrupt: 0.1,
            ..Params::default()
        };
        let r = scenario::run("transfer", &p).unwrap();
        assert!(r.summary.verified, "seed {seed}");
        let n = r.packets.iter().filter(|p| p.corrupted()).count() as u64;
        assert_eq!(r.summary.packets_corrupted, n);
        assert!(r.packets.iter().all(|p| p.aimed.is_none()));
        damaged += n;
    }
    assert!(damaged > 0, "10 % corruption over six runs damaged nothing");
}

#[test]
fn time_wait_states_its_length_and_a_restart() {
    let text = says(&run("close"), Lang::En);
    assert!(text.contains("TIME-WAIT lasts 2MSL = 10 s"), "{text}");
    assert!(text.contains("is 5 s in this run"));
    let p = Params {
        msl: std::time::Duration::from_secs(2),
        ..Params::default()
    };
    let r = scenario::run("close", &p).unwrap();
    assert!(says(&r, Lang::En).contains("2MSL = 4 s"));
    let entered = r.changes.iter().find(|c| c.to == S::TimeWait).unwrap().at;
    let left = r.changes.iter().find(|c| c.from == S::TimeWait).unwrap().at;
    assert_eq!((left - entered).as_millis(), 4000);
    // In `time-wait` the retransmitted FIN restarts the timer, and the note says when it ends.
    let r = run("time-wait");
    let text = says(&r, Lang::En);
    let left = r.changes.iter().find(|c| c.from == S::TimeWait).unwrap().at;
    assert!(
        text.contains(&format!(
            "the 2MSL timer restarts: TIME-WAIT now ends at {} ms",
            synack_cli::text::ms(left)
        )),
        "{text}"
    );
    // Nothing restarts in `close`.
    assert!(!report(&run("close"), Lang::En).contains("restarts"));
}

#[test]
fn msl_is_a_command_line_option() {
    let out = stdout(&["demo", "-s", "close", "--msl", "30"]);
    assert!(flat(&out).contains("2MSL = 60 s"));
    for bad in [&["--msl", "0"][..], &["--msl", "-1"], &["--msl", "100000"]] {
        let mut args = vec!["demo"];
        args.extend_from_slice(bad);
        let o = synack(&args, &[]);
        assert!(!o.status.success(), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("--msl"),
            "{bad:?}"
        );
    }
}

#[test]
fn duplicate_acks_are_numbered_and_the_third_lets_rack_mark_the_loss() {
    let r = run("lossy");
    let dups: Vec<u32> = r.packets.iter().filter_map(|p| p.dup_ack).collect();
    assert!(dups.starts_with(&[1, 2, 3]), "{dups:?}");
    let third = r.packets.iter().find(|p| p.dup_ack == Some(3)).unwrap();
    let fr = r.packets.iter().find(|p| p.why == Why::RackLoss).unwrap();
    assert_eq!(
        third.arrival,
        Some(fr.sent_at),
        "the third arrival sends it"
    );
    let text = report(&r, Lang::En);
    assert!(text.contains("[dup ACK #1]") && text.contains("[dup ACK #2]"));
    assert!(text.contains("[dup ACK #3 → RACK marks loss]"), "{text}");
    assert!(text.contains("[retransmit: RACK-detected loss]"), "{text}");
    assert!(text.contains("[tail loss probe]"), "{text}");
    assert!(!text.contains("fast retransmit]"), "{text}");
    assert!(report(&r, Lang::Zh).contains("重复 ACK #3 → RACK 判定丢失"));
    // The handshake and a plain transfer have none.
    for name in ["handshake", "transfer"] {
        assert!(
            run(name).packets.iter().all(|p| p.dup_ack.is_none()),
            "{name}"
        );
    }
}

#[test]
fn the_handshake_note_matches_its_third_segment() {
    for s in SCENARIOS {
        let r = run(s.name);
        // The client's segment that acknowledges the server's SYN.
        let synack = r.packets.iter().position(|p| {
            p.from == Side::B && p.third_party.is_none() && p.seg.as_ref().unwrap().flags.syn()
        });
        let third = synack.and_then(|i| {
            r.packets[i + 1..].iter().find(|p| {
                p.from == Side::A && p.seg.as_ref().is_some_and(|s| s.ack == 1 && !s.flags.syn())
            })
        });
        let carries = third.is_some_and(|p| p.seg.as_ref().unwrap().len > 0)
            && r.visited(Side::B).contains(&S::Listen);
        assert_eq!(
            says(&r, Lang::En).contains("the third segment of the handshake already carries data"),
            carries,
            "{}",
            s.name
        );
    }
    assert!(says(&run("tour"), Lang::En).contains("carries data (len=500)"));
    assert!(!report(&run("handshake"), Lang::En).contains("carries data"));
}

#[test]
fn a_fin_riding_on_an_ack_is_explained_where_it_happens() {
    for s in SCENARIOS {
        let r = run(s.name);
        // A FIN whose ACK field first acknowledges the peer's FIN.
        let rides = [Side::A, Side::B].iter().any(|&side| {
            let peer_fin = r
                .packets
                .iter()
                .filter(|p| p.from == side.other() && p.third_party.is_none())
                .filter_map(|p| p.seg.as_ref())
                .find(|s| s.flags.fin())
                .map(|s| s.seq + s.len + 1);
            peer_fin.is_some_and(|end| {
                r.packets
                    .iter()
                    .filter(|p| p.from == side)
                    .filter_map(|p| p.seg.as_ref())
                    .find(|s| s.flags.ack() && s.ack == end)
                    .is_some_and(|s| s.flags.fin())
            })
        });
        let said = says(&r, Lang::En).contains("three segments instead of four");
        assert_eq!(said, rides, "{}", s.name);
    }
    assert!(says(&run("checksum"), Lang::En).contains("three segments instead of four"));
    assert!(!says(&run("close"), Lang::En).contains("three segments"));
}

#[test]
fn the_tour_mentions_congestion_control() {
    let text = flat(&report(&run("tour"), Lang::En));
    assert!(text.contains("congestion window") && text.contains("congestion control"));
    assert!(report(&run("tour"), Lang::Zh).contains("拥塞控制"));
}

#[test]
fn random_loss_is_told_as_it_happened() {
    let p = Params {
        seed: 3,
        loss: 0.2,
        ..Params::default()
    };
    let r = scenario::run("tour", &p).unwrap();
    let random = r
        .packets
        .iter()
        .filter(|p| p.lost() && p.aimed.is_none())
        .count();
    let aimed = r.packets.iter().filter(|p| p.aimed.is_some()).count();
    assert!(
        random > 0,
        "seed 3 at 20 % lost nothing at random: pick another"
    );
    let text = flat(&report(&r, Lang::En));
    assert!(
        text.contains(&format!(
            "{} lost ({aimed} by the scenario's design, {random} by random --loss)",
            random + aimed
        )),
        "{text}"
    );
    assert!(text.contains("Random faults changed this run"));
    let retrans = r
        .packets
        .iter()
        .filter(|p| p.retransmission || p.why.is_retransmit())
        .count();
    assert!(
        text.contains(&format!("{retrans} retransmission(s)")),
        "{text}"
    );
    // Without --loss or --corrupt nothing is put down to chance, in any scenario (the
    // keepalive scenario's power cut and the syn-flood's absent hosts are by design).
    for s in SCENARIOS {
        let r = run(s.name);
        let text = flat(&report(&r, Lang::En));
        assert!(text.contains(" 0 by random --loss)"), "{}: {text}", s.name);
        assert!(!text.contains("Random faults"), "{}", s.name);
    }
    // The default run says neither.
    let plain = flat(&report(&run("tour"), Lang::En));
    assert!(plain.contains("1 lost (1 by the scenario's design, 0 by random --loss)"));
    assert!(!plain.contains("Random faults"));
}

#[test]
fn a_failed_connection_says_what_failed_and_never_that_bytes_differ() {
    // Heavy loss: the connection times out part-way.
    let p = Params {
        seed: 5,
        loss: 0.85,
        ..Params::default()
    };
    let r = scenario::run("transfer", &p).unwrap();
    assert!(
        r.errors.iter().any(|e| e.is_some()),
        "no error: pick another seed"
    );
    assert!(r.summary.intact && !r.summary.verified);
    let f = &r.summary.flows["client->server"];
    assert!(f.read < f.written, "{f:?}");
    assert!(f.acked <= f.written && f.read <= f.acked.max(f.read));
    let text = flat(&report(&r, Lang::En));
    assert!(!text.contains("differ"), "{text}");
    assert!(text.contains("the connection ended early"));
    assert!(
        text.contains(&format!(
            "client→server: {} bytes written by the client's application, {} acknowledged by \
             the server, {} read by the server's application",
            f.written, f.acked, f.read
        )),
        "{text}"
    );
    assert!(text.contains("ETIMEDOUT") && text.contains("went unanswered"));
    let zh = report(&r, Lang::Zh);
    assert!(zh.contains("连接提前结束") && zh.contains("ETIMEDOUT，连接超时"));
}

#[test]
fn netstat_names_on_request_and_the_name_table() {
    let out = stdout(&["demo", "-s", "close", "--names", "netstat"]);
    for name in [
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE_WAIT",
        "LAST_ACK",
    ] {
        assert!(out.contains(name), "{name}");
    }
    assert!(
        !out.contains("→ FIN-WAIT-1"),
        "RFC names left on the state lines"
    );
    let states = stdout(&["states"]);
    for name in [
        "SYN_RCVD",
        "SYN_RECV",
        "SYN-RECV",
        "FIN_WAIT1",
        "FIN_WAIT_1",
        "TIME_WAIT",
    ] {
        assert!(states.contains(name), "{name} missing from the table");
    }
    let row = states
        .lines()
        .find(|l| l.trim_start().starts_with("SYN-RECEIVED ") && l.contains("SYN_RCVD"))
        .expect("a row for SYN-RECEIVED");
    assert!(row.contains("SYN_RECV") && row.contains("SYN-RECV"));
}

#[test]
fn width_follows_columns_and_is_100_otherwise() {
    let widest = |text: &str| text.lines().map(synack_cli::text::width).max().unwrap_or(0);
    for lang in ["en", "zh"] {
        let plain = String::from_utf8(synack(&["demo", "--lang", lang], &[]).stdout).unwrap();
        assert!(widest(&plain) <= 100 && widest(&plain) >= 95, "{lang}");
        for cols in ["80", "140"] {
            let out = synack(&["demo", "--lang", lang], &[("COLUMNS", cols)]);
            let text = String::from_utf8(out.stdout).unwrap();
            let w: usize = cols.parse().unwrap();
            assert!(widest(&text) <= w, "{lang} {cols}: {}", widest(&text));
            assert!(widest(&text) >= w - 5, "{lang} {cols}: {}", widest(&text));
        }
    }
}

#[test]
fn demo_help_lists_every_scenario_from_the_table() {
    let help = stdout(&["demo", "--help"]);
    let list = stdout(&["demo", "--list"]);
    for s in SCENARIOS {
        assert!(help.contains(s.name), "{} missing from demo --help", s.name);
        assert!(
            help.contains(s.en),
            "{}'s line missing from demo --help",
            s.name
        );
        assert!(list.contains(s.en));
        assert!(stdout(&["demo", "--list", "--lang", "zh"]).contains(s.zh));
    }
    for sub in ["plot", "states"] {
        let help = stdout(&[sub, "--help"]);
        assert!(
            help.contains("syn-flood") && help.contains("checksum"),
            "{sub}"
        );
    }
}

#[test]
fn negative_numbers_read_the_same_in_both_spellings() {
    let err = |args: &[&str]| {
        let o = synack(args, &[]);
        assert!(!o.status.success(), "{args:?} succeeded");
        let e = String::from_utf8(o.stderr).unwrap();
        assert!(!e.contains("panicked"), "{e}");
        e
    };
    for (flag, v) in [
        ("--loss", "-1"),
        ("--rtt", "-5"),
        ("--corrupt", "-0.5"),
        ("--msl", "-2"),
    ] {
        let spaced = err(&["demo", flag, v]);
        let joined = err(&["demo", &format!("{flag}={v}")]);
        assert_eq!(spaced, joined, "{flag} {v}");
        assert!(spaced.contains(flag) && spaced.contains(v), "{spaced}");
        assert!(!spaced.contains("unexpected argument"), "{spaced}");
    }
    let zero = err(&["demo", "--rtt", "0"]);
    assert!(
        zero.contains("--rtt 0 ms is out of range") && zero.contains("instant"),
        "{zero}"
    );
    let plot = err(&["plot", "--rtt", "-5", "--out", "/dev/null"]);
    assert!(plot.contains("--rtt -5"), "{plot}");
}

#[test]
fn every_pcap_is_free_of_tshark_expert_errors_at_any_fault() {
    // The README's claim, with random loss and corruption on top of each scenario's own.
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for s in SCENARIOS {
        let path = dir.join(format!("faulty-{}.pcap", s.name));
        stdout(&[
            "demo",
            "-s",
            s.name,
            "--loss",
            "0.1",
            "--corrupt",
            "0.05",
            "--seed",
            "4",
            "--pcap",
            path.to_str().unwrap(),
        ]);
        let Ok(out) = Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args(["-Y", "_ws.malformed || _ws.expert.severity >= 8388608"])
            .output()
        else {
            eprintln!("SKIPPED: tshark not installed");
            assert!(std::env::var_os("CI").is_none(), "tshark is required in CI");
            return;
        };
        assert!(out.status.success());
        let problems = String::from_utf8_lossy(&out.stdout);
        assert!(problems.trim().is_empty(), "{}: {problems}", s.name);
    }
}

#[test]
fn probes_are_not_retransmissions_and_no_timer_is_claimed_that_did_not_fire() {
    let r = run("zero-window");
    let probes = r.packets.iter().filter(|p| p.probe).count();
    let facts = scenario::narrate::facts(&r, Lang::En);
    assert!(
        facts.contains(&format!("{probes} zero-window probe(s)")),
        "{facts}"
    );
    // The only retransmission re-covers the last probe's byte when the window opens: no timer.
    assert!(facts.contains("1 retransmission(s)"), "{facts}");
    assert!(!facts.contains("RTO"), "{facts}");
    assert!(facts.contains("the byte the last zero-window probe carried"));
    let r = run("keepalive");
    let facts = scenario::narrate::facts(&r, Lang::En);
    assert!(facts.contains("4 keepalive probe(s)") && facts.contains("Nothing was retransmitted"));
    // Every retransmission said to be timer-driven was sent as the timer counted one.
    for s in SCENARIOS {
        let p = Params {
            seed: 2,
            loss: 0.2,
            ..Params::default()
        };
        let r = scenario::run(s.name, &p).unwrap();
        let said = scenario::narrate::facts(&r, Lang::En)
            .matches("(RTO) expired")
            .count();
        let timed = r
            .packets
            .iter()
            .filter(|p| p.third_party.is_none() && !p.probe && !p.keepalive)
            .filter(|p| p.retransmission || p.why.is_retransmit())
            .take(4)
            .filter(|p| p.why == Why::Timeout)
            .count();
        assert_eq!(said, timed, "{}", s.name);
    }
}

/// The syn-flood story invites the reader to try `--loss 0.15 --seed 10` to see a lost ACK
/// make the cookie connection fail with RST: that run must do so.
#[test]
fn the_syn_flood_storys_example_does_what_it_says() {
    let story = scenario::find("syn-flood").unwrap().story_en;
    assert!(story.contains("--loss 0.15 --seed 10"));
    let p = Params {
        seed: 10,
        loss: 0.15,
        ..Params::default()
    };
    let r = scenario::run("syn-flood", &p).unwrap();
    assert_eq!(r.errors[0], Some(synack_proto::ConnError::ConnectionReset));
    // The client's first ACK (the one carrying the cookie back) was the loss.
    let first_ack = r
        .packets
        .iter()
        .find(|p| {
            p.from == Side::A
                && p.third_party.is_none()
                && p.seg
                    .as_ref()
                    .is_some_and(|s| s.flags.ack() && !s.flags.syn())
        })
        .unwrap();
    assert!(first_ack.lost());
}
