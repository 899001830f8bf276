//! `--so_flags`: the one string packetdrill passes to `packetdrill_interface_init`.
//!
//! It is a list of `key=value` items separated by commas or spaces, e.g.
//! `--so_flags="secret=7,local=192.168.0.1,sack=0"`. Since in shared-object mode packetdrill
//! runs a script's backquoted shell lines (sysctls) on the real host, not on synack, these
//! flags are how a run sets what those sysctls would have set.
//!
//! The run's own keys:
//!
//! | key | value | default | meaning |
//! | --- | --- | --- | --- |
//! | `secret` | integer (decimal or `0x` hex) | 0 | key of synack's keyed hashes: ISNs, ports, cookies |
//! | `local` | IP address, may repeat | none | synack's own addresses (`--local_ip`); without any, every address is ours |
//! | `tick_us` | integer ≥ 1 | 1 | how far each `gettimeofday` moves the virtual clock |
//! | `idle_ms` | integer | 1000 | real time `netdev_receive` waits when nothing can ever be sent |
//! | `quiet` | 0 or 1 | 0 | do not print why a call was refused as unsupported |
//!
//! Every other key is a knob of [`synack_script::knobs`], the table a script's sysctl lines
//! use too: each `net.ipv4.tcp_*` sysctl synack has a counterpart for, under its own name
//! with or without `net.ipv4.` (`tcp_syn_retries=3`, `tcp_rmem=4096:87380:6291456` with `:`
//! between the numbers), the short aliases `sack`, `timestamps`, `wscale` and `syncookies`,
//! and synack's `mtu` (the link MTU, which sets the MSS announced per address family), `mss` (a
//! cap on it), `rto_min_ms` and `rto_initial_ms`.

use std::net::IpAddr;
use std::time::Duration;

use synack_proto::host::HostConfig;
use synack_script::Stack;
use synack_script::knobs::{self, Origin};

/// What a run was configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub host: HostConfig,
    /// Virtual microseconds each `gettimeofday` moves the clock by.
    pub tick_us: u64,
    /// How long (real time) `netdev_receive` waits for something to happen when nothing is
    /// queued and no timer is armed, before reporting an empty packet.
    pub idle: Duration,
    /// Do not print why a call was refused as unsupported.
    pub quiet: bool,
    /// Knobs of the shared table, in the order given, applied to the run's stack.
    pub knobs: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            host: HostConfig::default(),
            tick_us: 1,
            idle: Duration::from_millis(1000),
            quiet: false,
            knobs: Vec::new(),
        }
    }
}

impl Settings {
    /// The stack this run starts with: the host configuration, then every knob.
    pub fn stack(&self) -> Result<Stack, String> {
        let mut stack = Stack::new(self.host.clone());
        for (name, value) in &self.knobs {
            knobs::apply(&mut stack, Origin::Flags, name, value)
                .map_err(|e| format!("so_flags: {e}"))?;
        }
        Ok(stack)
    }
}

fn int(key: &str, v: &str) -> Result<u128, String> {
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u128::from_str_radix(hex, 16),
        None => v.parse::<u128>(),
    };
    parsed.map_err(|_| format!("so_flags: {key}={v}: not a non-negative integer"))
}

fn small(key: &str, v: &str) -> Result<u64, String> {
    u64::try_from(int(key, v)?).map_err(|_| format!("so_flags: {key}={v}: too large"))
}

fn boolean(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!("so_flags: {key}={v}: expected 0 or 1")),
    }
}

/// Parses `--so_flags`. An unknown key or a bad value is an error: a run that silently
/// ignored a setting would test something other than what its author asked for.
pub fn parse(flags: &str) -> Result<Settings, String> {
    let mut s = Settings::default();
    let mut locals: Vec<IpAddr> = Vec::new();
    for item in flags
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|i| !i.is_empty())
    {
        let (key, v) = item
            .split_once('=')
            .ok_or_else(|| format!("so_flags: '{item}' is not key=value"))?;
        match key {
            "secret" => s.host.secret = int(key, v)?,
            "local" => locals.push(
                v.parse()
                    .map_err(|_| format!("so_flags: local={v}: not an IP address"))?,
            ),
            "tick_us" => {
                s.tick_us = small(key, v)?;
                if s.tick_us == 0 {
                    // A clock that gettimeofday never moves lets packetdrill spin forever.
                    return Err("so_flags: tick_us must be at least 1".into());
                }
            }
            "idle_ms" => s.idle = Duration::from_millis(small(key, v)?),
            "quiet" => s.quiet = boolean(key, v)?,
            _ => s.knobs.push((key.to_string(), v.to_string())),
        }
    }
    s.host.local_addrs = locals;
    // A knob that does not exist or takes no such value is an error now, not at the first
    // call.
    s.stack()?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_flags_give_the_defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.host.secret, 0);
        assert!(s.host.local_addrs.is_empty());
        assert_eq!(s.tick_us, 1);
        assert!(s.host.tcp.sack);
    }

    #[test]
    fn keys_set_their_knobs() {
        let s = parse(
            "secret=0x10, local=192.168.0.1,local=fd3d::1 tick_us=5,idle_ms=20,sack=0,\
             timestamps=0,wscale=0,mss=1000,rto_min_ms=300,rto_initial_ms=3000,syncookies=0,quiet=1",
        )
        .unwrap();
        assert_eq!(s.host.secret, 16);
        assert_eq!(
            s.host.local_addrs,
            vec![
                "192.168.0.1".parse::<IpAddr>().unwrap(),
                "fd3d::1".parse().unwrap()
            ]
        );
        assert_eq!(s.tick_us, 5);
        assert_eq!(s.idle, Duration::from_millis(20));
        assert!(s.quiet);
        let mut stack = s.stack().unwrap();
        assert!(!stack.host().config().syn_cookies);
        let t = stack.defaults_mut();
        assert!(!t.sack && !t.timestamps && !t.window_scaling);
        assert_eq!(t.mss, 1000);
        assert_eq!(t.rto_min, Duration::from_millis(300));
        assert_eq!(t.rto_initial, Duration::from_secs(3));
    }

    /// Every sysctl a script's sysctl line may set, under its own name, as the issue's
    /// packetdrill runs pass them.
    #[test]
    fn sysctl_names_are_knobs_too() {
        let s = parse(
            "tcp_syn_retries=3,net.ipv4.tcp_synack_retries=2,tcp_retries2=4,tcp_fin_timeout=30,\
             tcp_sack=0,tcp_timestamps=0,tcp_window_scaling=0,tcp_rmem=4096:8192:65536,\
             tcp_wmem=4096:16384:131072,tcp_keepalive_time=60,tcp_keepalive_intvl=5,\
             tcp_keepalive_probes=2,tcp_syncookies=0,tcp_notsent_lowat=1000,tcp_rto_min_us=50000",
        )
        .unwrap();
        let mut stack = s.stack().unwrap();
        assert!(!stack.host().config().syn_cookies);
        let k = *stack.keepalive_defaults_mut();
        assert_eq!(
            (k.idle, k.interval, k.count),
            (Duration::from_secs(60), Duration::from_secs(5), 2)
        );
        let t = stack.defaults_mut();
        assert_eq!((t.syn_retries, t.synack_retries, t.data_retries), (3, 2, 4));
        assert_eq!(t.fin_wait2_timeout, Duration::from_secs(30));
        assert!(!t.sack && !t.timestamps && !t.window_scaling);
        assert_eq!((t.recv_buffer, t.recv_buffer_max), (8192, 65536));
        assert_eq!((t.send_buffer, t.send_buffer_max), (16384, 131072));
        assert_eq!(t.notsent_lowat, Some(1000));
        assert_eq!(t.rto_min, Duration::from_millis(50));
    }

    #[test]
    fn mistakes_are_errors_not_ignored() {
        for bad in [
            "bogus=1",
            "secret",
            "secret=-1",
            "local=300.1.1.1",
            "sack=yes",
            "tick_us=0",
            "mss=20",
            "mss=70000",
            "tcp_rmem=4096",
            "net.ipv4.mss=1000",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
        let e = parse("tcp_syn_retries=3,tcp_ecn=1").unwrap_err();
        assert!(e.contains("tcp_ecn"), "{e}");
    }
}
