//! Backquoted shell lines. synack runs no shell: it recognises the sysctl settings that have a
//! synack knob (`sysctl -q net.ipv4.tcp_sack=0`, `echo 0 > /proc/sys/net/ipv4/tcp_sack`,
//! packetdrill's `set_sysctls.py /proc/sys/net/ipv4/tcp_sack=0`), reads the sysctls of a shell
//! file the line runs when it can find it (packetdrill suites start with
//! `` `../common/defaults.sh` ``), and reports everything else as skipped.

use std::path::Path;

use crate::knobs::{self, KnobError, Origin};
use crate::socket::Stack;

/// What became of one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A sysctl mapped onto a synack knob.
    Set(String),
    /// A command synack does not run, with the reason.
    Skipped(String),
}

/// Expands `$((...))` integer arithmetic (`$((15*1024*1024))`, as in Linux's defaults.sh);
/// `None` if an expansion is not plain `+ - * /` over integers.
fn expand_arith(cmd: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = cmd;
    while let Some(k) = rest.find("$((") {
        out.push_str(&rest[..k]);
        let after = &rest[k + 3..];
        let end = after.find("))")?;
        out.push_str(&arith(&after[..end])?.to_string());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// `a op b op c ...` with `*` `/` before `+` `-`, no parentheses.
fn arith(e: &str) -> Option<i64> {
    let mut sum = 0i64;
    // Split into signed terms, keeping the sign of each.
    let mut terms: Vec<(i64, &str)> = Vec::new();
    let mut sign = 1;
    let mut start = 0;
    for (i, c) in e.char_indices() {
        if c == '+' || c == '-' {
            terms.push((sign, &e[start..i]));
            sign = if c == '+' { 1 } else { -1 };
            start = i + 1;
        }
    }
    terms.push((sign, &e[start..]));
    for (sign, term) in terms {
        if term.trim().is_empty() {
            return None;
        }
        let mut value: Option<i64> = None;
        let mut op = '*';
        let mut from = 0;
        let mut factors = Vec::new();
        for (i, c) in term.char_indices() {
            if c == '*' || c == '/' {
                factors.push((op, &term[from..i]));
                op = c;
                from = i + 1;
            }
        }
        factors.push((op, &term[from..]));
        for (op, f) in factors {
            let n: i64 = f.trim().parse().ok()?;
            value = Some(match (value, op) {
                (None, _) => n,
                (Some(v), '*') => v.checked_mul(n)?,
                (Some(v), _) => v.checked_div(n)?,
            });
        }
        sum = sum.checked_add(sign * value?)?;
    }
    Some(sum)
}

/// Splits a command line into `(sysctl name, value)` settings, or `None` for anything else.
fn sysctls(cmd: &str) -> Option<Vec<(String, String)>> {
    // Output redirections (`> /dev/null 2>&1`) do not change what is set.
    let words: Vec<&str> = cmd
        .split_whitespace()
        .take_while(|w| !w.starts_with('>') && !w.starts_with("2>") && !w.starts_with("1>"))
        .collect();
    let first = words.first().copied()?;
    // packetdrill's helper: `set_sysctls.py /proc/sys/net/ipv4/tcp_sack=0 ...`.
    if first.ends_with("set_sysctls.py") {
        let mut out = Vec::new();
        for w in &words[1..] {
            let (path, value) = w.split_once('=')?;
            let name = path.strip_prefix("/proc/sys/")?.replace('/', ".");
            out.push((name, value.trim_matches('"').to_string()));
        }
        return (!out.is_empty()).then_some(out);
    }
    match first {
        "sysctl" => {
            let rest: Vec<&str> = words[1..]
                .iter()
                .copied()
                .filter(|w| !w.starts_with('-'))
                .collect();
            let joined = rest.join(" ");
            if joined.contains('"') {
                // One quoted multi-word value: `net.ipv4.tcp_rmem="4096 8192 16384"`.
                let (n, v) = joined.split_once('=')?;
                return Some(vec![(
                    n.trim().to_string(),
                    v.trim().trim_matches('"').to_string(),
                )]);
            }
            let mut out = Vec::new();
            let mut rest = words[1..].iter().filter(|w| !w.starts_with('-')).peekable();
            while let Some(w) = rest.next() {
                let (name, value) = match w.split_once('=') {
                    Some((n, v)) if !v.is_empty() => (n.to_string(), v.to_string()),
                    Some((n, _)) => (n.to_string(), rest.next()?.to_string()),
                    None => return None,
                };
                out.push((name, value.trim_matches('"').to_string()));
            }
            (!out.is_empty()).then_some(out)
        }
        "echo" => {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            let gt = words.iter().position(|w| *w == ">")?;
            let path = words.get(gt + 1)?.strip_prefix("/proc/sys/")?;
            let value = words[1..gt].join(" ").trim_matches('"').to_string();
            Some(vec![(path.replace('/', "."), value)])
        }
        _ => None,
    }
}

/// Applies one sysctl to the stack's defaults for sockets made from now on, through the
/// knob table `--so_flags` shares.
fn apply_one(stack: &mut Stack, name: &str, value: &str) -> Result<String, String> {
    knobs::apply(stack, Origin::Sysctl, name, value)
        .map(|()| format!("{name}={value}"))
        .map_err(|e| match e {
            KnobError::Unknown(_) => format!("{name}={value} has no synack knob"),
            other => other.to_string(),
        })
}

/// The sysctl settings a backquoted command line makes, `(name, value)`, without applying
/// them (a packetdrill run hands them to the library as `--so_flags`).
pub fn sysctl_settings(line: &str) -> Vec<(String, String)> {
    let line = line.replace("\\\n", " ");
    line.split([';', '\n'])
        .flat_map(|c| c.split("&&"))
        .filter_map(|c| sysctls(c.split('#').next().unwrap_or("").trim()))
        .flatten()
        .collect()
}

/// Runs what synack understands of a backquoted command line.
pub fn run(stack: &mut Stack, line: &str) -> Vec<Applied> {
    run_in(stack, line, None)
}

/// As [`run`], and a command that runs a shell file found relative to `dir` (the script's
/// directory) has that file's lines run the same way (one level deep: a file it runs in
/// turn is reported, not read).
pub fn run_in(stack: &mut Stack, line: &str, dir: Option<&Path>) -> Vec<Applied> {
    run_lines(stack, line, dir, 0)
}

fn run_lines(stack: &mut Stack, line: &str, dir: Option<&Path>, depth: u32) -> Vec<Applied> {
    let mut out = Vec::new();
    // `\` at the end of a line continues the command.
    let line = line.replace("\\\n", " ");
    for cmd in line.split([';', '\n']).flat_map(|c| c.split("&&")) {
        // `#` starts a comment (`sysctl -q net.ipv4.tcp_ecn=1  # fully enabled`).
        let cmd = cmd.split('#').next().unwrap_or("").trim();
        if cmd.is_empty() {
            continue;
        }
        let Some(cmd) = expand_arith(cmd) else {
            out.push(Applied::Skipped(format!(
                "shell arithmetic synack does not do: {cmd}"
            )));
            continue;
        };
        let cmd = cmd.as_str();
        let first = cmd.split_whitespace().next().unwrap_or("");
        if first.ends_with(".sh") && depth == 0 {
            if let Some(text) = dir.and_then(|d| std::fs::read_to_string(d.join(first)).ok()) {
                out.push(Applied::Set(format!("reading {first}")));
                out.extend(run_lines(stack, &text, dir, depth + 1));
                continue;
            }
        }
        match sysctls(cmd) {
            Some(settings) => {
                for (name, value) in settings {
                    out.push(match apply_one(stack, &name, &value) {
                        Ok(s) => Applied::Set(s),
                        Err(why) => Applied::Skipped(why),
                    });
                }
            }
            None => out.push(Applied::Skipped(format!("not a sysctl: {cmd}"))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_proto::host::HostConfig;

    #[test]
    fn recognised_and_skipped() {
        let mut s = Stack::new(HostConfig::default());
        let r = run(
            &mut s,
            "sysctl -q net.ipv4.tcp_sack=0; echo 3 > /proc/sys/net/ipv4/tcp_syn_retries; \
             sysctl -q net.ipv4.tcp_congestion_control=reno; ../common/defaults.sh",
        );
        assert_eq!(r[0], Applied::Set("net.ipv4.tcp_sack=0".into()));
        assert_eq!(r[1], Applied::Set("net.ipv4.tcp_syn_retries=3".into()));
        assert!(matches!(&r[2], Applied::Skipped(w) if w.contains("no synack knob")));
        assert!(matches!(&r[3], Applied::Skipped(w) if w.contains("not a sysctl")));
        assert!(!s.defaults_mut().sack);
        assert_eq!(s.defaults_mut().syn_retries, 3);
        let r = run(&mut s, "sysctl -w net.ipv4.tcp_rmem=\"4096 8192 16384\"");
        assert_eq!(
            r,
            vec![Applied::Set("net.ipv4.tcp_rmem=4096 8192 16384".into())]
        );
        assert_eq!(s.defaults_mut().recv_buffer, 8192);
        let r = run(&mut s, "sysctl -q net.ipv4.tcp_syncookies=0");
        assert_eq!(r, vec![Applied::Set("net.ipv4.tcp_syncookies=0".into())]);
        assert!(!s.host().config().syn_cookies);
    }
}
