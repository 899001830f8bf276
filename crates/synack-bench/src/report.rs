//! Figures, their JSON lines and the table a person reads.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The three stacks every workload runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stack {
    Synack,
    Smoltcp,
    Kernel,
}

impl Stack {
    pub const ALL: [Stack; 3] = [Stack::Synack, Stack::Smoltcp, Stack::Kernel];

    pub fn name(self) -> &'static str {
        match self {
            Stack::Synack => "synack",
            Stack::Smoltcp => "smoltcp",
            Stack::Kernel => "kernel",
        }
    }
}

/// One measured number (the median of the runs), or the reason there is none.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub bench: &'static str,
    pub case: String,
    pub stack: Stack,
    pub metric: &'static str,
    /// `None`: not measured; `note` says why.
    pub value: Option<f64>,
    pub unit: &'static str,
    /// How it was measured where that is not obvious, or why there is no value.
    pub note: Option<String>,
}

impl Figure {
    pub fn new(
        bench: &'static str,
        case: impl Into<String>,
        stack: Stack,
        metric: &'static str,
        value: f64,
        unit: &'static str,
    ) -> Figure {
        Figure {
            bench,
            case: case.into(),
            stack,
            metric,
            value: Some(value),
            unit,
            note: None,
        }
    }

    pub fn missing(
        bench: &'static str,
        case: impl Into<String>,
        stack: Stack,
        metric: &'static str,
        unit: &'static str,
        why: impl Into<String>,
    ) -> Figure {
        Figure {
            bench,
            case: case.into(),
            stack,
            metric,
            value: None,
            unit,
            note: Some(why.into()),
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Figure {
        self.note = Some(note.into());
        self
    }

    /// One JSON object on one line.
    pub fn json(&self) -> String {
        let mut o = serde_json::json!({
            "bench": self.bench,
            "case": self.case,
            "stack": self.stack.name(),
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
        });
        if let Some(n) = &self.note {
            o["note"] = serde_json::Value::String(n.clone());
        }
        o.to_string()
    }
}

/// A number with three significant digits, as the table shows it.
fn show(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Whether a bigger value of `metric` is better (throughput) or worse (bytes, ns).
fn higher_is_better(metric: &str) -> bool {
    !(metric.starts_with("bytes_") || metric.starts_with("ns_") || metric == "instructions")
}

/// The table: one row per (bench, case, metric), a column per stack, then synack's ratio to
/// each other stack, written so that above 1× means synack is better (for bytes and times,
/// the other's figure over ours). Notes follow, numbered.
pub fn table(figures: &[Figure]) -> String {
    type Key = (&'static str, String, &'static str, &'static str);
    let mut rows: Vec<Key> = Vec::new();
    let mut cells: BTreeMap<(Key, Stack), &Figure> = BTreeMap::new();
    for f in figures {
        let key = (f.bench, f.case.clone(), f.metric, f.unit);
        if !rows.contains(&key) {
            rows.push(key.clone());
        }
        cells.insert((key, f.stack), f);
    }
    let mut notes: Vec<String> = Vec::new();
    let mut lines = vec![[
        "bench".to_string(),
        "case".into(),
        "metric".into(),
        "synack".into(),
        "smoltcp".into(),
        "kernel".into(),
        "vs smoltcp".into(),
        "vs kernel".into(),
    ]];
    for key in &rows {
        let mut line: [String; 8] = Default::default();
        line[0] = key.0.to_string();
        line[1] = key.1.clone();
        line[2] = format!("{} ({})", key.2, key.3);
        let value = |s: Stack| cells.get(&(key.clone(), s)).and_then(|f| f.value);
        for (i, s) in Stack::ALL.into_iter().enumerate() {
            let Some(f) = cells.get(&(key.clone(), s)) else {
                continue;
            };
            let mut cell = f.value.map_or("n/a".to_string(), show);
            if let Some(n) = &f.note {
                let at = notes.iter().position(|x| x == n).unwrap_or_else(|| {
                    notes.push(n.clone());
                    notes.len() - 1
                });
                let _ = write!(cell, " [{}]", at + 1);
            }
            line[3 + i] = cell;
        }
        for (i, other) in [Stack::Smoltcp, Stack::Kernel].into_iter().enumerate() {
            if let (Some(us), Some(them)) = (value(Stack::Synack), value(other)) {
                if us > 0.0 && them > 0.0 {
                    let r = if higher_is_better(key.2) {
                        us / them
                    } else {
                        them / us
                    };
                    line[6 + i] = format!("{r:.2}x");
                }
            }
        }
        lines.push(line);
    }
    let mut widths = [0usize; 8];
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for l in &lines {
        let mut s = String::new();
        for (i, (c, w)) in l.iter().zip(widths).enumerate() {
            if i < 3 {
                let _ = write!(s, "{c:<w$}  ");
            } else {
                let _ = write!(s, "{c:>w$}  ");
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    }
    out.push_str(
        "\nvs: synack's figure over the other stack's (their bytes or time over ours), so above \
         1x means synack is ahead.\n",
    );
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(out, "[{}] {n}", i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_the_issue_fields_and_ratios_face_the_right_way() {
        let f = Figure::new(
            "bulk",
            "mtu1500-csum-64k",
            Stack::Synack,
            "throughput",
            41.2,
            "Gbit/s",
        );
        let v: serde_json::Value = serde_json::from_str(&f.json()).unwrap();
        assert_eq!(v["bench"], "bulk");
        assert_eq!(v["stack"], "synack");
        assert_eq!(v["value"], 41.2);
        let figs = [
            Figure::new(
                "conns",
                "n",
                Stack::Synack,
                "bytes_per_time_wait",
                100.0,
                "B",
            ),
            Figure::new(
                "conns",
                "n",
                Stack::Smoltcp,
                "bytes_per_time_wait",
                300.0,
                "B",
            ),
            Figure::new("bulk", "c", Stack::Synack, "throughput", 10.0, "Gbit/s"),
            Figure::new("bulk", "c", Stack::Kernel, "throughput", 5.0, "Gbit/s"),
            Figure::missing("bulk", "c", Stack::Smoltcp, "throughput", "Gbit/s", "why"),
        ];
        let t = table(&figs);
        assert!(t.contains("3.00x"), "{t}");
        assert!(t.contains("2.00x"), "{t}");
        assert!(t.contains("n/a [1]") && t.contains("[1] why"), "{t}");
    }
}
