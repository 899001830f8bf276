//! The bulk scenario's summary: a table in English or Chinese, or JSON lines (one object per
//! flow, then one for the total).

use std::fmt::Write as _;

use serde_json::json;
use synack_proto::CongestionControl;

use super::BulkRun;
use crate::i18n::Lang;
use crate::text::{pad_left, pad_to, wrap};

fn mbit(bps: f64) -> String {
    format!("{:.2}", bps / 1e6)
}

fn ms(d: std::time::Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        format!("{v:.3}")
    }
}

fn secs(us: u64) -> String {
    format!("{:.3}", us as f64 / 1e6)
}

pub(crate) fn cc_name(cc: CongestionControl) -> &'static str {
    match cc {
        CongestionControl::NewReno => "NewReno",
        _ => "CUBIC",
    }
}

/// The table, with the scenario's story above it, wrapped to `width` columns.
pub fn text(run: &BulkRun, lang: Lang, width: usize) -> String {
    let p = &run.params;
    let t = &run.total;
    let mut out = String::new();
    if let Some(s) = crate::scenario::listed().find(|s| s.name == "bulk") {
        for line in wrap(lang.pick(s.story_en, s.story_zh), width) {
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    }
    let queue_note = if p.queue.is_none() {
        lang.pick(" (one bandwidth-delay product)", "（一个带宽时延积）")
    } else {
        ""
    };
    let rtts = if p.flow_rtts.is_empty() {
        ms(p.rtt)
    } else {
        let list: Vec<String> = p.flow_rtts.iter().map(|&r| ms(r)).collect();
        list.join(lang.pick(", ", "、"))
    };
    let setting = match lang {
        Lang::En => format!(
            "{} flows × {} bytes over {} Mbit/s, RTT {} ms, queue {} bytes{queue_note}, \
                 loss {}, {}, seed {}",
            p.flows,
            p.bytes,
            p.bandwidth_mbit,
            rtts,
            t.queue_bytes,
            p.loss,
            cc_name(p.cc),
            p.seed
        ),
        Lang::Zh => format!(
            "{} 条流，每条 {} 字节，瓶颈链路 {} Mbit/s，RTT {} 毫秒，队列 {} 字节{queue_note}，\
                 丢包率 {}，{}，种子 {}",
            p.flows,
            p.bytes,
            p.bandwidth_mbit,
            rtts,
            t.queue_bytes,
            p.loss,
            cc_name(p.cc),
            p.seed
        ),
    };
    for line in wrap(&setting, width) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    let heads = [
        lang.pick("flow", "流"),
        lang.pick("goodput Mbit/s", "有效吞吐 Mbit/s"),
        lang.pick("time s", "用时（秒）"),
        lang.pick("retransmitted", "重传报文段"),
        lang.pick("fast recoveries", "快速恢复"),
        "RTO",
        lang.pick("RTT ms", "RTT（毫秒）"),
    ];
    let widths = [6, 17, 12, 14, 16, 6, 13];
    let row = |cells: [String; 7]| {
        let mut line = String::new();
        for (k, (c, w)) in cells.iter().zip(widths).enumerate() {
            if k == 0 {
                line.push_str(&pad_to(c, w));
            } else {
                line.push_str(&pad_left(c, w));
            }
        }
        line.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", row(heads.map(String::from)));
    for f in &run.flows {
        let mut time = secs(f.duration_us);
        if !f.finished {
            time.push('*');
        }
        let _ = writeln!(
            out,
            "{}",
            row([
                f.flow.to_string(),
                mbit(f.goodput_bps),
                time,
                f.retransmissions.to_string(),
                f.fast_recoveries.to_string(),
                f.rtos.to_string(),
                ms(p.rtt_of(f.flow - 1)),
            ])
        );
    }
    let _ = writeln!(
        out,
        "{}",
        row([
            lang.pick("total", "合计").to_string(),
            mbit(t.goodput_bps),
            secs(t.duration_us),
            t.retransmissions.to_string(),
            t.fast_recoveries.to_string(),
            t.rtos.to_string(),
            String::new(),
        ])
    );
    out.push('\n');
    let share = t.goodput_bps / t.link_bps as f64 * 100.0;
    let lines = match lang {
        Lang::En => vec![
            format!(
                "Jain's fairness index: {:.3} (1 is an equal share for every flow, 1/{} one \
                 flow taking everything)",
                t.jain_index, t.flows
            ),
            format!(
                "Together the flows used {share:.1} % of the link. The bottleneck dropped {} \
                 packets at its full queue and lost {} at random.",
                t.queue_drops, t.random_losses
            ),
        ],
        Lang::Zh => vec![
            format!(
                "Jain 公平性指数：{:.3}（1 表示每条流份额相等，1/{} 表示一条流独占链路）",
                t.jain_index, t.flows
            ),
            format!(
                "各条流合计用了链路带宽的 {share:.1} %。瓶颈处因队列已满丢弃 {} 个报文，随机丢失 {} 个。",
                t.queue_drops, t.random_losses
            ),
        ],
    };
    for l in lines {
        for w in wrap(&l, width) {
            out.push_str(&w);
            out.push('\n');
        }
    }
    if !t.finished {
        let limit = run.params.time_limit().as_secs();
        let l = match lang {
            Lang::En => format!(
                "* not finished within the run's limit of {limit} s of simulated time; the \
                 figures cover what arrived until then"
            ),
            Lang::Zh => format!("* 在模拟时间上限 {limit} 秒内未传完；数字只统计此前到达的数据"),
        };
        for w in wrap(&l, width) {
            out.push_str(&w);
            out.push('\n');
        }
    }
    out
}

/// One JSON object per flow, then one for the total, one per line.
pub fn json_lines(run: &BulkRun) -> Vec<String> {
    let p = &run.params;
    let mut out: Vec<String> = run
        .flows
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("kind".into(), json!("flow"));
            }
            v.to_string()
        })
        .collect();
    let mut total = serde_json::to_value(&run.total).unwrap_or_default();
    if let Some(o) = total.as_object_mut() {
        o.insert("kind".into(), json!("total"));
        o.insert("scenario".into(), json!("bulk"));
        o.insert("cc".into(), json!(cc_name(p.cc)));
        o.insert("seed".into(), json!(p.seed));
        o.insert("loss".into(), json!(p.loss));
        o.insert("bytes_per_flow".into(), json!(p.bytes));
    }
    out.push(total.to_string());
    out
}
