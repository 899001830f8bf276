//! What the sender's congestion window did, told from the samples of a run: where slow start
//! began, when it ended, the fast retransmit's reduction and the congestion avoidance after
//! (RFC 5681 §3, RFC 9438 §4.6 for CUBIC's β = 0.7).

use synack_proto::{CongestionControl, CongestionPhase, Instant};
use synack_sim::Side;

use super::Run;
use super::narrate::who;
use crate::i18n::Lang;
use crate::sim::{Note, Window};

/// ssthresh as people read it: "∞" before the first loss sets one.
pub fn ssthresh(v: u32) -> String {
    if v >= u32::MAX / 2 {
        "∞".into()
    } else {
        v.to_string()
    }
}

pub fn phase_name(p: CongestionPhase, lang: Lang) -> &'static str {
    match (p, lang) {
        (CongestionPhase::SlowStart, Lang::En) => "slow start",
        (CongestionPhase::CongestionAvoidance, Lang::En) => "congestion avoidance",
        (CongestionPhase::Recovery, Lang::En) => "fast recovery",
        (CongestionPhase::Loss, Lang::En) => "loss (after a timeout)",
        (CongestionPhase::SlowStart, Lang::Zh) => "慢启动",
        (CongestionPhase::CongestionAvoidance, Lang::Zh) => "拥塞避免",
        (CongestionPhase::Recovery, Lang::Zh) => "快速恢复",
        (CongestionPhase::Loss, Lang::Zh) => "超时恢复",
    }
}

/// One ladder line: `cwnd 10000  ssthresh ∞  slow start`.
pub fn line(w: &Window, lang: Lang) -> String {
    format!(
        "cwnd {}  ssthresh {}  {}",
        w.cwnd,
        ssthresh(w.ssthresh),
        phase_name(w.phase, lang)
    )
}

fn note(at: Instant, host: Side, en: String, zh: String) -> Note {
    Note { at, host, en, zh }
}

/// The story of each sender's window, one note per phase change.
pub fn notes(run: &Run) -> Vec<Note> {
    let mut out = Vec::new();
    let cubic = run.params.cc == CongestionControl::Cubic;
    for side in [Side::A, Side::B] {
        let (en_who, zh_who) = (
            who(run.host_name(side), Lang::En),
            who(run.host_name(side), Lang::Zh),
        );
        let ws: Vec<&Window> = run
            .windows
            .iter()
            .filter(|(s, _)| *s == side)
            .map(|(_, w)| w)
            .collect();
        // A side that never sent more than its first window has nothing to tell.
        if !ws.iter().any(|w| w.phase != CongestionPhase::SlowStart) {
            continue;
        }
        let first = ws[0];
        let (en, zh) = if first.phase == CongestionPhase::SlowStart {
            (
                format!(
                    "{en_who} starts in slow start with cwnd {} bytes ({} segments of 500): \
                     every ACK grows it by the bytes it acknowledges, so it doubles each round \
                     trip",
                    first.cwnd,
                    first.cwnd / 500
                ),
                format!(
                    "{zh_who}从慢启动开始，拥塞窗口 cwnd 为 {} 字节（{} 个 500 字节的报文段）：每个 \
                     ACK 确认多少字节，cwnd 就增加多少，因此每个往返时间翻一番",
                    first.cwnd,
                    first.cwnd / 500
                ),
            )
        } else {
            // A handshake segment lost at random: its timeout already lowered ssthresh.
            (
                format!(
                    "{en_who} starts with cwnd {} bytes and ssthresh {}, in {}: a timeout \
                     during the handshake already lowered ssthresh (RFC 5681 §3.1)",
                    first.cwnd,
                    ssthresh(first.ssthresh),
                    phase_name(first.phase, Lang::En)
                ),
                format!(
                    "{zh_who}开始时 cwnd 为 {} 字节，ssthresh 为 {}，处于{}：握手期间的一次超时已经\
                     降低了 ssthresh（RFC 5681 §3.1）",
                    first.cwnd,
                    ssthresh(first.ssthresh),
                    phase_name(first.phase, Lang::Zh)
                ),
            )
        };
        out.push(note(first.at, side, en, zh));
        for pair in ws.windows(2) {
            let (before, w) = (pair[0], pair[1]);
            if before.phase == w.phase {
                continue;
            }
            let (en, zh) = match (before.phase, w.phase) {
                (CongestionPhase::SlowStart, CongestionPhase::CongestionAvoidance) => (
                    format!(
                        "slow start ends at cwnd {}: {}; from here the window grows about one \
                         segment per round trip",
                        w.cwnd,
                        if cubic {
                            "HyStart++ saw the round trip lengthen as the queue filled (RFC 9406)"
                        } else {
                            "cwnd reached ssthresh"
                        }
                    ),
                    format!(
                        "慢启动在 cwnd {} 时结束：{}；此后窗口大约每个往返时间增长一个报文段",
                        w.cwnd,
                        if cubic {
                            "HyStart++ 发现队列积压使往返时间变长（RFC 9406）"
                        } else {
                            "cwnd 达到了 ssthresh"
                        }
                    ),
                ),
                (_, CongestionPhase::Recovery) => {
                    let pct = (w.ssthresh as u64 * 100)
                        .checked_div(before.cwnd as u64)
                        .unwrap_or(0);
                    (
                        format!(
                            "three duplicate ACKs: fast retransmit and fast recovery; {en_who} \
                             sets ssthresh to {}, {pct}% of the {}-byte cwnd it had ({}), \
                             and PRR paces what it sends until the hole is repaired",
                            w.ssthresh,
                            before.cwnd,
                            if cubic {
                                "CUBIC: 0.7 × the data in flight, RFC 9438 §4.6"
                            } else {
                                "Reno: half the data in flight, RFC 5681 §3.2"
                            }
                        ),
                        format!(
                            "三个重复 ACK：快速重传并进入快速恢复。{zh_who}把 ssthresh 设为 {}，\
                             即丢包前 cwnd {} 字节的 {pct}%（{}），并用 PRR 控制发送节奏，直到空洞补上",
                            w.ssthresh,
                            before.cwnd,
                            if cubic {
                                "CUBIC：在途数据的 0.7 倍，RFC 9438 §4.6"
                            } else {
                                "Reno：在途数据的一半，RFC 5681 §3.2"
                            }
                        ),
                    )
                }
                (CongestionPhase::Recovery, CongestionPhase::CongestionAvoidance) => (
                    format!(
                        "the hole is repaired and recovery ends with cwnd {} = ssthresh: \
                         congestion avoidance, {}",
                        w.cwnd,
                        if cubic {
                            "the window follows CUBIC's curve back toward where the loss happened"
                        } else {
                            "the window grows by about one segment per round trip"
                        }
                    ),
                    format!(
                        "空洞已补上，快速恢复结束，cwnd = ssthresh = {}：进入拥塞避免，{}",
                        w.cwnd,
                        if cubic {
                            "窗口沿 CUBIC 曲线向丢包时的大小回升"
                        } else {
                            "窗口大约每个往返时间增长一个报文段"
                        }
                    ),
                ),
                (_, CongestionPhase::Loss) => (
                    format!(
                        "the retransmission timer fired: cwnd falls to {} bytes and slow start \
                         begins again up to ssthresh {}",
                        w.cwnd,
                        ssthresh(w.ssthresh)
                    ),
                    format!(
                        "重传定时器到期：cwnd 降到 {} 字节，重新慢启动，直到 ssthresh {}",
                        w.cwnd,
                        ssthresh(w.ssthresh)
                    ),
                ),
                (_, p) => (
                    format!("{en_who}'s window: {}", phase_name(p, Lang::En)),
                    format!("{zh_who}的窗口：{}", phase_name(p, Lang::Zh)),
                ),
            };
            out.push(note(w.at, side, en, zh));
        }
    }
    out
}
