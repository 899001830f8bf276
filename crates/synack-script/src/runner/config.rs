//! How a script is run (addresses, ports, tolerance, the host's settings), the script's own
//! `--option=value` lines applied on top, and what a run reports.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use synack_proto::host::HostConfig;

use crate::ast::{Pos, Script};

/// How a script is run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// How far an outbound packet may be from its script time (packetdrill's
    /// `--tolerance_usecs`, default 4000).
    pub tolerance_usecs: u64,
    pub local_ip: Ipv4Addr,
    pub remote_ip: Ipv4Addr,
    /// The local port `bind(..., ...)` uses.
    pub bind_port: u16,
    /// The remote port `connect(..., ...)` uses.
    pub connect_port: u16,
    /// The remote port of flows the script opens towards a listener.
    pub remote_port: u16,
    /// Added to the script's inbound sequence numbers on the wire.
    pub remote_isn: u32,
    /// The host under test (its `local_addrs` are replaced by `local_ip`).
    pub host: HostConfig,
    /// Take MSS-sized segments synack sends at one instant as the single TSO/GSO segment a
    /// Linux script expects there (`synack script --merge-tso`). Off, such a script stops as
    /// unsupported at that line.
    pub merge_tso: bool,
    /// The script's directory: a backquoted line that runs a shell file (packetdrill suites
    /// start with `` `../common/defaults.sh` ``) has the sysctls in that file applied when it
    /// is found relative to here.
    pub script_dir: Option<PathBuf>,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            tolerance_usecs: 4000,
            local_ip: Ipv4Addr::new(192, 168, 0, 1),
            remote_ip: Ipv4Addr::new(192, 0, 2, 1),
            bind_port: 8080,
            connect_port: 8080,
            remote_port: 47001,
            remote_isn: 0x4000_0000,
            host: HostConfig {
                secret: 0x5eed_5eed,
                ..HostConfig::default()
            },
            merge_tso: false,
            script_dir: None,
        }
    }
}

/// Why a script stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// synack did something else than the script says, or the script is malformed.
    Mismatch,
    /// The script uses a feature synack does not have (Fast Open, ECN, TSO-merged segments,
    /// `sendmsg`, ICMP, IPv6, an unknown socket option...): no verdict on synack's behaviour.
    Unsupported,
}

/// Where and why a script failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub pos: Pos,
    pub message: String,
    pub kind: FailureKind,
}

/// The outcome of one script.
#[derive(Clone, Debug)]
pub struct Report {
    pub failure: Option<Failure>,
    /// Things reported and skipped (shell commands without a synack knob, options).
    pub notes: Vec<String>,
    /// Events run (all of them when the script passed).
    pub events_run: usize,
    /// Virtual time at the end.
    pub virtual_time: Duration,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// Stopped at a feature synack lacks rather than at a behaviour difference.
    pub fn unsupported(&self) -> bool {
        self.failure
            .as_ref()
            .is_some_and(|f| f.kind == FailureKind::Unsupported)
    }
}

pub(super) fn parse_and_configure(
    src: &str,
    config: &RunConfig,
) -> Result<(Script, RunConfig, Vec<String>), Failure> {
    let script = crate::parser::parse(src).map_err(|e| Failure {
        pos: e.pos,
        message: format!("parse error: {}", e.msg),
        kind: FailureKind::Mismatch,
    })?;
    let mut config = config.clone();
    let mut notes = Vec::new();
    for (name, value, pos) in &script.options {
        let fail = |m: String| Failure {
            pos: *pos,
            message: m,
            kind: FailureKind::Mismatch,
        };
        let num = || {
            value
                .parse::<u64>()
                .map_err(|_| fail(format!("--{name}: '{value}' is not a number")))
        };
        let ip = || {
            value
                .parse::<Ipv4Addr>()
                .map_err(|_| fail(format!("--{name}: '{value}' is not an IPv4 address")))
        };
        match name.as_str() {
            "tolerance_usecs" => {
                config.tolerance_usecs = num()?;
                if config.tolerance_usecs > 3_600_000_000 {
                    return Err(fail(format!(
                        "--{name}: more than an hour is not a tolerance"
                    )));
                }
            }
            "local_ip" => config.local_ip = ip()?,
            "remote_ip" => config.remote_ip = ip()?,
            "bind_port" => config.bind_port = num()? as u16,
            "connect_port" => config.connect_port = num()? as u16,
            "ip_version" if value == "ipv4" => {}
            "ip_version" => {
                return Err(Failure {
                    pos: *pos,
                    message: format!(
                        "unsupported: --ip_version={value} (synack scripts run over IPv4)"
                    ),
                    kind: FailureKind::Unsupported,
                });
            }
            _ => notes.push(format!(
                "{pos}: option --{name} has no meaning here; ignored"
            )),
        }
    }
    Ok((script, config, notes))
}
