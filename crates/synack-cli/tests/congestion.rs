//! The congestion scenario: slow start doubling per round trip, one designed loss repaired by
//! fast retransmit, the window cut by CUBIC's β = 0.7 (RFC 9438 §4.6) or Reno's half (RFC 5681
//! §3.2), congestion avoidance after; the same samples in `--json`, in both languages, and in
//! `synack plot`.

use std::process::Command;

use synack_cli::i18n::Lang;
use synack_cli::scenario::{self, Params};
use synack_cli::sim::Window;
use synack_proto::{CongestionControl, CongestionPhase};
use synack_sim::Side;

fn run(cc: CongestionControl) -> scenario::Run {
    scenario::run(
        "congestion",
        &Params {
            cc,
            ..Params::default()
        },
    )
    .unwrap()
}

/// The samples the ladder shows for the client, in order.
fn shown(r: &scenario::Run) -> Vec<Window> {
    r.shown
        .iter()
        .map(|&i| r.windows[i])
        .filter(|(side, _)| *side == Side::A)
        .map(|(_, w)| w)
        .collect()
}

/// Checks the whole story for one controller and returns (cwnd before the cut, ssthresh after).
fn story(cc: CongestionControl) -> (u32, u32) {
    let r = run(cc);
    assert!(r.summary.verified, "{cc:?}: every byte arrives");
    assert_eq!(r.summary.fast_retransmits, 1, "{cc:?}: one fast retransmit");
    assert_eq!(r.summary.rto_retransmits, 0, "{cc:?}: no timeout");
    assert_eq!(r.summary.packets_lost, 1, "{cc:?}: one designed loss");
    let ws = shown(&r);
    // Slow start: each shown round at least doubles... until the loss.
    let slow: Vec<u32> = ws
        .iter()
        .take_while(|w| w.phase == CongestionPhase::SlowStart)
        .map(|w| w.cwnd)
        .collect();
    assert!(slow.len() >= 3, "{cc:?}: slow start over rounds: {slow:?}");
    for pair in slow[..3].windows(2) {
        assert!(
            pair[1] >= 2 * pair[0],
            "{cc:?}: cwnd doubles per round trip in slow start: {slow:?}"
        );
    }
    assert!(
        ws.iter()
            .all(|w| w.ssthresh == u32::MAX || w.phase != CongestionPhase::SlowStart)
    );
    // The cut: the first recovery sample against the last window before it.
    let k = ws
        .iter()
        .position(|w| w.phase == CongestionPhase::Recovery)
        .expect("fast recovery shown");
    let (before, cut) = (ws[k - 1], ws[k]);
    assert_eq!(before.phase, CongestionPhase::SlowStart);
    // A fast retransmit went out while in recovery, after the designed loss: with SACK,
    // RACK's mark (RFC 8985) starts recovery.
    let fr = r
        .packets
        .iter()
        .find(|p| p.why == synack_cli::sim::Why::RackLoss)
        .expect("a fast retransmit on RACK's mark");
    assert!(fr.sent_at >= cut.at);
    // Congestion avoidance after recovery, from ssthresh, and growing.
    let after: Vec<&Window> = ws[k + 1..].iter().collect();
    assert!(
        after
            .iter()
            .all(|w| w.phase == CongestionPhase::CongestionAvoidance),
        "{cc:?}: congestion avoidance after recovery: {after:?}"
    );
    assert!(after.len() >= 2, "{cc:?}: avoidance over rounds");
    assert_eq!(after[0].cwnd, cut.ssthresh);
    assert!(
        after.last().unwrap().cwnd > after[0].cwnd,
        "{cc:?}: cwnd grows again"
    );
    // Avoidance grows far slower than slow start: less than a segment's worth per ACK burst.
    let grown = after.last().unwrap().cwnd - after[0].cwnd;
    assert!(
        grown < after[0].cwnd / 4,
        "{cc:?}: slow growth, {grown} bytes"
    );
    (before.cwnd, cut.ssthresh)
}

#[test]
fn cubic_slow_start_fast_recovery_cut_to_seven_tenths_then_avoidance() {
    let (before, after) = story(CongestionControl::Cubic);
    let ratio = f64::from(after) / f64::from(before);
    // β = 0.7 of the data in flight, which at the loss is about the window.
    assert!(
        (0.65..=0.8).contains(&ratio),
        "cubic cut {before} → {after} ({ratio:.2})"
    );
}

#[test]
fn newreno_halves() {
    let (before, after) = story(CongestionControl::NewReno);
    let ratio = f64::from(after) / f64::from(before);
    assert!(
        (0.45..=0.6).contains(&ratio),
        "newreno cut {before} → {after} ({ratio:.2})"
    );
}

fn synack(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn json_lines_carry_the_window() {
    for cc in ["cubic", "newreno"] {
        let out = synack(&["demo", "-s", "congestion", "--json", "--cc", cc]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let windows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v.get("cwnd").is_some())
            .collect();
        let r = run(if cc == "cubic" {
            CongestionControl::Cubic
        } else {
            CongestionControl::NewReno
        });
        assert_eq!(
            windows.len(),
            r.shown.len(),
            "{cc}: one line per shown sample"
        );
        let mut phases = Vec::new();
        for v in &windows {
            for f in ["time_us", "host", "cwnd", "ssthresh", "phase"] {
                assert!(v.get(f).is_some(), "{cc}: {v} lacks {f}");
            }
            assert_eq!(v["host"], "client");
            assert!(v["cwnd"].as_u64().unwrap() >= 1000);
            let p = v["phase"].as_str().unwrap().to_string();
            if phases.last() != Some(&p) {
                phases.push(p);
            }
        }
        assert_eq!(
            phases,
            ["slow-start", "recovery", "congestion-avoidance"],
            "{cc}"
        );
    }
}

#[test]
fn bad_cc_is_a_clear_error() {
    let out = synack(&["demo", "-s", "congestion", "--cc", "bbr"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--cc") && err.contains("newreno"), "{err}");
}

#[test]
fn the_story_is_told_in_both_languages() {
    for cc in [CongestionControl::Cubic, CongestionControl::NewReno] {
        let r = run(cc);
        let told: Vec<_> = r
            .notes
            .iter()
            .filter(|n| n.en.contains("cwnd") || n.en.contains("fast retransmit"))
            .collect();
        assert!(
            told.len() >= 3,
            "{cc:?}: start, cut, avoidance are narrated"
        );
        for n in &told {
            assert!(
                n.zh.contains("cwnd") || n.zh.contains("快速重传"),
                "{}",
                n.zh
            );
        }
        let cut = told
            .iter()
            .find(|n| n.en.contains("fast recovery"))
            .expect("the cut is narrated");
        match cc {
            CongestionControl::Cubic => assert!(cut.en.contains("0.7") && cut.zh.contains("0.7")),
            CongestionControl::NewReno => {
                assert!(cut.en.contains("half") && cut.zh.contains("一半"))
            }
        }
        let zh = synack_cli::ladder::report(&r, &synack_cli::ladder::View::plain(Lang::Zh));
        assert!(zh.contains("慢启动") && zh.contains("快速恢复") && zh.contains("拥塞避免"));
    }
}

#[test]
fn the_plot_draws_cwnd_and_ssthresh() {
    let r = run(CongestionControl::Cubic);
    let svg = synack_cli::plot::svg(&r, Lang::En);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let path = |class: &str| {
        doc.descendants()
            .find(|n| n.attribute("class") == Some(class))
            .and_then(|n| n.attribute("d"))
            .unwrap_or_else(|| panic!("no {class} path"))
            .to_string()
    };
    let (cwnd, ssthresh) = (path("cwnd"), path("ssthresh"));
    // One step per sample of the window (each change), and ssthresh from the loss on.
    let steps = cwnd.matches('V').count();
    assert!(
        steps + 1 >= r.windows.len(),
        "{steps} steps for {} samples",
        r.windows.len()
    );
    assert!(ssthresh.starts_with('M'));
    // Other scenarios keep the single panel.
    let lossy = synack_cli::plot::svg(
        &scenario::run("lossy", &Params::default()).unwrap(),
        Lang::En,
    );
    assert!(!lossy.contains("class=\"cwnd\""));
}
