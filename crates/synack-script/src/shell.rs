//! Backquoted shell lines. synack runs no shell: it recognises the sysctl settings that have a
//! synack knob (`sysctl -q net.ipv4.tcp_sack=0`, `echo 0 > /proc/sys/net/ipv4/tcp_sack`) and
//! reports everything else as skipped.

use std::time::Duration;

use crate::socket::Stack;

/// What became of one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A sysctl mapped onto a synack knob.
    Set(String),
    /// A command synack does not run, with the reason.
    Skipped(String),
}

/// Splits a command line into `(sysctl name, value)` settings, or `None` for anything else.
fn sysctls(cmd: &str) -> Option<Vec<(String, String)>> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    match words.first().copied()? {
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
            let gt = words.iter().position(|w| *w == ">")?;
            let path = words.get(gt + 1)?.strip_prefix("/proc/sys/")?;
            let value = words[1..gt].join(" ").trim_matches('"').to_string();
            Some(vec![(path.replace('/', "."), value)])
        }
        _ => None,
    }
}

fn num(v: &str) -> Option<u64> {
    v.trim().parse().ok()
}

/// Applies one sysctl to the stack's defaults for sockets made from now on.
fn apply_one(stack: &mut Stack, name: &str, value: &str) -> Result<String, String> {
    let short = name
        .strip_prefix("net.ipv4.")
        .or_else(|| name.strip_prefix("net.ipv6."))
        .unwrap_or(name);
    let bad = || format!("{name}: cannot read value '{value}'");
    let flag = |v: &str| num(v).map(|n| n != 0).ok_or_else(bad);
    let d = stack.defaults_mut();
    match short {
        "tcp_syn_retries" => d.syn_retries = num(value).ok_or_else(bad)? as u32,
        "tcp_synack_retries" => d.synack_retries = num(value).ok_or_else(bad)? as u32,
        "tcp_retries2" => d.data_retries = num(value).ok_or_else(bad)? as u32,
        "tcp_sack" => d.sack = flag(value)?,
        "tcp_timestamps" => d.timestamps = flag(value)?,
        "tcp_window_scaling" => d.window_scaling = flag(value)?,
        "tcp_fin_timeout" => d.fin_wait2_timeout = Duration::from_secs(num(value).ok_or_else(bad)?),
        "tcp_rto_min_us" => d.rto_min = Duration::from_micros(num(value).ok_or_else(bad)?),
        "tcp_rmem" | "tcp_wmem" => {
            // "min default max": a new socket's buffer is the default.
            let default = value
                .split_whitespace()
                .nth(1)
                .and_then(num)
                .ok_or_else(bad)? as usize;
            if short == "tcp_rmem" {
                d.recv_buffer = default;
            } else {
                d.send_buffer = default;
            }
        }
        "tcp_keepalive_time" => {
            stack.keepalive_defaults_mut().idle = Duration::from_secs(num(value).ok_or_else(bad)?)
        }
        "tcp_keepalive_intvl" => {
            stack.keepalive_defaults_mut().interval =
                Duration::from_secs(num(value).ok_or_else(bad)?)
        }
        "tcp_keepalive_probes" => {
            stack.keepalive_defaults_mut().count = num(value).ok_or_else(bad)? as u32
        }
        "tcp_syncookies" => {
            let mut config = stack.host().config().clone();
            config.syn_cookies = flag(value)?;
            config.tcp = stack.defaults_mut().clone();
            stack.rebuild(config).map_err(|e| format!("{name}: {e}"))?;
        }
        _ => return Err(format!("{name} has no synack knob")),
    }
    Ok(format!("{name}={value}"))
}

/// Runs what synack understands of a backquoted command line.
pub fn run(stack: &mut Stack, line: &str) -> Vec<Applied> {
    let mut out = Vec::new();
    for cmd in line.split([';', '\n']).flat_map(|c| c.split("&&")) {
        let cmd = cmd.trim();
        if cmd.is_empty() {
            continue;
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
