//! How a script is run (addresses, ports, tolerance, the host's settings), the script's own
//! `--option=value` lines applied on top, and what a run reports.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use synack_proto::host::HostConfig;

use crate::ast::{Pos, Script};

/// The address family a script runs over (packetdrill's `--ip_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IpVersion {
    #[default]
    V4,
    V6,
    /// AF_INET6 sockets talking IPv4 on the wire through IPv4-mapped addresses (RFC 4291
    /// §2.5.5.2). synack's sockets are of one family each, so the runner opens an AF_INET
    /// socket where the script asks for AF_INET6 and maps the addresses; the wire is the same.
    V4MappedV6,
}

impl IpVersion {
    /// As `--ip_version` spells it.
    pub fn name(self) -> &'static str {
        match self {
            IpVersion::V4 => "ipv4",
            IpVersion::V6 => "ipv6",
            IpVersion::V4MappedV6 => "ipv4-mapped-ipv6",
        }
    }

    pub fn from_name(name: &str) -> Option<IpVersion> {
        Some(match name {
            "ipv4" => IpVersion::V4,
            "ipv6" => IpVersion::V6,
            "ipv4-mapped-ipv6" => IpVersion::V4MappedV6,
            _ => return None,
        })
    }
}

/// How a script is run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// How far an outbound packet may be from its script time (packetdrill's
    /// `--tolerance_usecs`, default 4000).
    pub tolerance_usecs: u64,
    /// The family of the wire and of the sockets; a script's `--ip_version` line wins.
    pub ip_version: IpVersion,
    /// synack's and the script's addresses over IPv4 (and IPv4-mapped IPv6).
    pub local_ip: Ipv4Addr,
    pub remote_ip: Ipv4Addr,
    /// synack's and the script's addresses over IPv6.
    pub local_ip6: Ipv6Addr,
    pub remote_ip6: Ipv6Addr,
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
    /// The device under synack offloads segmentation (TSO/GSO), as packetdrill's tun device
    /// does on Linux: one segment of several MSS that a script expects is the MSS-sized
    /// segments synack sent at that instant, which such a device would have put on the wire
    /// the same way. On by default; a script's `ethtool -K ... tso off` (or `gso off`), or
    /// `synack script --no-offload`, turns it off, and such a line then stops as unsupported.
    pub merge_tso: bool,
    /// packetdrill's `--tcp_ts_ecr_scaled`: an inbound TS ecr that names no TSval the
    /// script saw synack send is taken relative to the first one; without it, such a
    /// script fails, as under packetdrill.
    pub tcp_ts_ecr_scaled: bool,
    /// synack's `--ts_ecr_as_written`: such an echo goes on the wire as the script wrote
    /// it. packetdrill has no way to send an echo of a TSval synack never sent (a peer's
    /// SYN-ACK offering timestamps to a SYN without them); scripts that need one use this,
    /// and live outside the packetdrill-valid suite.
    pub ts_ecr_as_written: bool,
    /// The script's directory: a backquoted line that runs a shell file (packetdrill suites
    /// start with `` `../common/defaults.sh` ``) has the sysctls in that file applied when it
    /// is found relative to here.
    pub script_dir: Option<PathBuf>,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            tolerance_usecs: 4000,
            ip_version: IpVersion::V4,
            local_ip: Ipv4Addr::new(192, 168, 0, 1),
            remote_ip: Ipv4Addr::new(192, 0, 2, 1),
            // A unique-local address for synack and the documentation prefix (RFC 3849) for
            // the peer, as the IPv4 pair is a private and a documentation address.
            local_ip6: Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0, 1),
            remote_ip6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            bind_port: 8080,
            connect_port: 8080,
            remote_port: 47001,
            remote_isn: 0x4000_0000,
            host: HostConfig {
                secret: 0x5eed_5eed,
                ..HostConfig::default()
            },
            merge_tso: true,
            tcp_ts_ecr_scaled: false,
            ts_ecr_as_written: false,
            script_dir: None,
        }
    }
}

impl RunConfig {
    /// synack's address on the wire.
    pub fn local_addr(&self) -> IpAddr {
        match self.ip_version {
            IpVersion::V6 => IpAddr::V6(self.local_ip6),
            _ => IpAddr::V4(self.local_ip),
        }
    }

    /// The script's (the peer's) address on the wire.
    pub fn remote_addr(&self) -> IpAddr {
        match self.ip_version {
            IpVersion::V6 => IpAddr::V6(self.remote_ip6),
            _ => IpAddr::V4(self.remote_ip),
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

impl Failure {
    /// For an unsupported script, the missing feature in a few words, to group scripts by
    /// (`unknown symbol TCP_CORK`, `TSO/GSO-merged segment`, `ICMP packets`); `None` for a
    /// mismatch.
    pub fn reason(&self) -> Option<String> {
        if self.kind != FailureKind::Unsupported {
            return None;
        }
        let text = self.message.lines().next().unwrap_or("");
        let text = text.strip_prefix("unsupported: ").unwrap_or(text);
        for marker in [
            crate::symbols::UNKNOWN_SYMBOL,
            super::wait::UNSUPPORTED_CALL,
        ] {
            if let Some(k) = text.find(marker) {
                return Some(text[k..].to_string());
            }
        }
        // `setsockopt(...): socket option level 6 name 3`: the call and what it lacked.
        if let Some((call, what)) = text.split_once("(...): ") {
            return Some(format!("{call}: {what}"));
        }
        let head = text.split(": ").next().unwrap_or(text);
        // `ICMP packets (icmp unreachable ...)`: the line's text is not the reason; an RFC
        // reference is.
        Some(match head.split_once(" (") {
            Some((what, rest)) if !rest.starts_with("RFC") => what.to_string(),
            _ => head.to_string(),
        })
    }
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
                .parse::<IpAddr>()
                .map_err(|_| fail(format!("--{name}: '{value}' is not an IP address")))
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
            "local_ip" => match ip()? {
                IpAddr::V4(a) => config.local_ip = a,
                IpAddr::V6(a) => config.local_ip6 = a,
            },
            "remote_ip" => match ip()? {
                IpAddr::V4(a) => config.remote_ip = a,
                IpAddr::V6(a) => config.remote_ip6 = a,
            },
            "tcp_ts_ecr_scaled" => config.tcp_ts_ecr_scaled = true,
            "ts_ecr_as_written" => config.ts_ecr_as_written = true,
            "bind_port" => config.bind_port = num()? as u16,
            "connect_port" => config.connect_port = num()? as u16,
            "ip_version" => {
                config.ip_version = IpVersion::from_name(value).ok_or_else(|| {
                    fail(format!(
                        "--ip_version={value}: not ipv4, ipv6 or ipv4-mapped-ipv6"
                    ))
                })?;
            }
            _ => notes.push(format!(
                "{pos}: option --{name} has no meaning here; ignored"
            )),
        }
    }
    Ok((script, config, notes))
}
