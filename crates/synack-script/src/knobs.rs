//! The one table of settings a script or a packetdrill run may give synack: Linux's
//! `net.ipv4.tcp_*` sysctls that have a synack counterpart, and a few of synack's own.
//!
//! A script's sysctl lines ([`crate::shell`]) and the packetdrill library's `--so_flags`
//! both go through [`apply`], so a knob means the same in both and a new one is added once.
//! Names are taken as `net.ipv4.tcp_sack`, `tcp_sack` or the short alias `sack`; a value of
//! several numbers (`tcp_rmem`) is separated by blanks, as in a sysctl, or by `:`, which a
//! comma-separated flags string can carry.

use std::time::Duration;

use synack_proto::Config;
use synack_proto::config::MIN_MSS;

use crate::socket::Stack;

/// Why a knob could not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KnobError {
    /// No knob of that name (the name as given).
    Unknown(String),
    /// The knob exists; the value is not one it takes.
    BadValue { name: String, value: String },
    /// The knob exists but cannot be changed now (e.g. `tcp_syncookies` after sockets exist).
    Refused { name: String, why: String },
}

impl core::fmt::Display for KnobError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KnobError::Unknown(name) => write!(f, "{name} has no synack knob"),
            KnobError::BadValue { name, value } => {
                write!(f, "{name}: cannot read value '{value}'")
            }
            KnobError::Refused { name, why } => write!(f, "{name}: {why}"),
        }
    }
}

/// Where a knob may be given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A script's sysctl line: only Linux's sysctls.
    Sysctl,
    /// packetdrill's `--so_flags`: every knob.
    Flags,
}

type Setter = fn(&mut Stack, &[u64]) -> Result<(), String>;

/// What a knob's numbers set. Most knobs set one field of the defaults new connections take;
/// the rest have a function of their own.
#[derive(Clone, Copy)]
enum Set {
    /// A switch: 0 turns it off, any other number on.
    Flag(fn(&mut Config) -> &mut bool),
    /// A count (retries), at most `u32::MAX`.
    Count(fn(&mut Config) -> &mut u32),
    /// A buffer's `min default [max]` (see [`buffers`]): its initial size and its most.
    Buffer(fn(&mut Config) -> (&mut usize, &mut usize)),
    /// Anything else.
    With(Setter),
}

impl Set {
    fn apply(self, stack: &mut Stack, v: &[u64]) -> Result<(), String> {
        match self {
            Set::Flag(field) => *field(stack.defaults_mut()) = flag(v[0]),
            Set::Count(field) => *field(stack.defaults_mut()) = count(v[0])?,
            Set::Buffer(fields) => {
                let (default, max) = buffers(v)?;
                let (size, most) = fields(stack.defaults_mut());
                *size = default;
                if let Some(max) = max {
                    *most = max;
                }
            }
            Set::With(set) => return set(stack, v),
        }
        Ok(())
    }
}

struct Knob {
    /// Linux's sysctl name under `net.ipv4.` (or synack's own name when `sysctl` is false).
    name: &'static str,
    alias: Option<&'static str>,
    /// A real Linux sysctl (a script's sysctl line may set it).
    sysctl: bool,
    /// How many numbers the value has: `(fewest, most)`.
    arity: (usize, usize),
    set: Set,
}

impl Knob {
    /// A Linux sysctl of one number.
    const fn sysctl(name: &'static str, alias: Option<&'static str>, set: Setter) -> Knob {
        Knob::linux(name, alias, Set::With(set))
    }

    /// A Linux sysctl that switches a setting of the defaults on (non-zero) or off.
    const fn flag(
        name: &'static str,
        alias: Option<&'static str>,
        field: fn(&mut Config) -> &mut bool,
    ) -> Knob {
        Knob::linux(name, alias, Set::Flag(field))
    }

    /// A Linux sysctl that sets a count of the defaults.
    const fn count(name: &'static str, field: fn(&mut Config) -> &mut u32) -> Knob {
        Knob::linux(name, None, Set::Count(field))
    }

    /// A Linux sysctl of a buffer's two or three numbers.
    const fn buffer(
        name: &'static str,
        fields: fn(&mut Config) -> (&mut usize, &mut usize),
    ) -> Knob {
        Knob {
            arity: (2, 3),
            ..Knob::linux(name, None, Set::Buffer(fields))
        }
    }

    const fn linux(name: &'static str, alias: Option<&'static str>, set: Set) -> Knob {
        Knob {
            name,
            alias,
            sysctl: true,
            arity: (1, 1),
            set,
        }
    }

    /// One of synack's own settings, of one number.
    const fn own(name: &'static str, set: Setter) -> Knob {
        Knob {
            name,
            alias: None,
            sysctl: false,
            arity: (1, 1),
            set: Set::With(set),
        }
    }
}

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

fn count(v: u64) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| "too large".to_string())
}

fn flag(v: u64) -> bool {
    v != 0
}

/// A 16-bit size of at least `least`.
fn at_least(v: u64, least: u16, what: &str) -> Result<u16, String> {
    u16::try_from(v)
        .ok()
        .filter(|x| *x >= least)
        .ok_or_else(|| format!("{what} must be {least}..=65535"))
}

/// `min default [max]`: a new socket's buffer starts at the default and may grow to the max
/// (the receive maximum also sets the window scale synack offers). The minimum has no synack
/// counterpart: buffers never shrink under memory pressure.
fn buffers(v: &[u64]) -> Result<(usize, Option<usize>), String> {
    let size = |n: u64| usize::try_from(n).map_err(|_| "too large".to_string());
    let default = size(v[1])?;
    let max = v.get(2).copied().map(size).transpose()?;
    if max.is_some_and(|m| m < default) {
        return Err("the maximum is below the default".into());
    }
    Ok((default, max))
}

const KNOBS: &[Knob] = &[
    Knob::count("tcp_syn_retries", |c| &mut c.syn_retries),
    Knob::count("tcp_synack_retries", |c| &mut c.synack_retries),
    Knob::count("tcp_retries2", |c| &mut c.data_retries),
    Knob::flag("tcp_sack", Some("sack"), |c| &mut c.sack),
    Knob::flag("tcp_timestamps", Some("timestamps"), |c| &mut c.timestamps),
    // Linux: 0 turns tail loss probes (and RACK's early marking with them) off; any
    // other mode leaves them on.
    Knob::flag("tcp_early_retrans", None, |c| &mut c.congestion.rack_tlp),
    Knob::flag("tcp_frto", Some("frto"), |c| &mut c.congestion.frto),
    Knob::flag("tcp_window_scaling", Some("wscale"), |c| {
        &mut c.window_scaling
    }),
    Knob::sysctl("tcp_fin_timeout", None, |s, v| {
        s.defaults_mut().fin_wait2_timeout = secs(v[0]);
        Ok(())
    }),
    Knob::sysctl("tcp_rto_min_us", None, |s, v| {
        s.defaults_mut().rto_min = Duration::from_micros(v[0]);
        Ok(())
    }),
    Knob::buffer("tcp_rmem", |c| (&mut c.recv_buffer, &mut c.recv_buffer_max)),
    Knob::buffer("tcp_wmem", |c| (&mut c.send_buffer, &mut c.send_buffer_max)),
    // Linux's default, UINT_MAX, means no limit.
    Knob::sysctl("tcp_notsent_lowat", None, |s, v| {
        s.defaults_mut().notsent_lowat = (v[0] < u64::from(u32::MAX)).then_some(v[0] as usize);
        Ok(())
    }),
    Knob::sysctl("tcp_keepalive_time", None, |s, v| {
        s.keepalive_defaults_mut().idle = secs(v[0]);
        Ok(())
    }),
    Knob::sysctl("tcp_keepalive_intvl", None, |s, v| {
        s.keepalive_defaults_mut().interval = secs(v[0]);
        Ok(())
    }),
    Knob::sysctl("tcp_keepalive_probes", None, |s, v| {
        s.keepalive_defaults_mut().count = count(v[0])?;
        Ok(())
    }),
    Knob::sysctl("tcp_syncookies", Some("syncookies"), |s, v| {
        let mut config = s.host().config().clone();
        config.syn_cookies = flag(v[0]);
        config.tcp = s.defaults_mut().clone();
        s.rebuild(config).map_err(|e| e.to_string())
    }),
    // synack's own, for --so_flags: Linux has no sysctl for these.
    // The link's MTU; the MSS announced is what it leaves per address family.
    Knob::own("mtu", |s, v| {
        // Every IPv4 host takes datagrams of 576 bytes (RFC 791); less is no link here.
        s.defaults_mut().mtu = at_least(v[0], 576, "the MTU")?;
        Ok(())
    }),
    Knob::own("mss", |s, v| {
        s.defaults_mut().mss = at_least(v[0], MIN_MSS, "the MSS")?;
        Ok(())
    }),
    Knob::own("rto_min_ms", |s, v| {
        s.defaults_mut().rto_min = Duration::from_millis(v[0]);
        Ok(())
    }),
    Knob::own("rto_initial_ms", |s, v| {
        s.defaults_mut().rto_initial = Duration::from_millis(v[0]);
        Ok(())
    }),
];

/// FreeBSD's sysctls for the same settings, under their full names and with FreeBSD's
/// meanings and units (its packetdrill suite, freebsd-net/tcp-testsuite, sets them at the top
/// of each script). Settings of FreeBSD's without a synack counterpart stay unknown.
const FREEBSD_KNOBS: &[Knob] = &[
    // The buffers a new socket starts with (`SO_RCVBUF`/`SO_SNDBUF` read them back).
    Knob::sysctl("net.inet.tcp.recvspace", None, |s, v| {
        s.defaults_mut().recv_buffer = usize::try_from(v[0]).map_err(|e| e.to_string())?;
        Ok(())
    }),
    Knob::sysctl("net.inet.tcp.sendspace", None, |s, v| {
        s.defaults_mut().send_buffer = usize::try_from(v[0]).map_err(|e| e.to_string())?;
        Ok(())
    }),
    // The most a socket buffer may hold: the bound of auto-tuning and, for the receive
    // side, what the window scale offered must cover (FreeBSD derives it from `sb_max`).
    Knob::sysctl("kern.ipc.maxsockbuf", None, |s, v| {
        let max = usize::try_from(v[0]).map_err(|e| e.to_string())?;
        let d = s.defaults_mut();
        d.recv_buffer_max = max;
        d.send_buffer_max = max;
        Ok(())
    }),
    Knob::sysctl("net.inet.tcp.sack.enable", None, |s, v| {
        s.defaults_mut().sack = flag(v[0]);
        Ok(())
    }),
    // RFC 1323's options: 1 both, 2 window scaling only, 3 timestamps only, 0 neither.
    Knob::sysctl("net.inet.tcp.rfc1323", None, |s, v| {
        let d = s.defaults_mut();
        d.window_scaling = matches!(v[0], 1 | 2);
        d.timestamps = matches!(v[0], 1 | 3);
        Ok(())
    }),
    Knob::sysctl("net.inet.tcp.rexmit_initial", None, |s, v| {
        s.defaults_mut().rto_initial = Duration::from_millis(v[0]);
        Ok(())
    }),
    Knob::sysctl("net.inet.tcp.rexmit_min", None, |s, v| {
        s.defaults_mut().rto_min = Duration::from_millis(v[0]);
        Ok(())
    }),
];

fn find(name: &str, origin: Origin) -> Option<&'static Knob> {
    if origin == Origin::Sysctl && (name.starts_with("net.inet.") || name.starts_with("kern.")) {
        return FREEBSD_KNOBS.iter().find(|k| k.name == name);
    }
    let bare = name
        .strip_prefix("net.ipv4.")
        .or_else(|| name.strip_prefix("net.ipv6."))
        .unwrap_or(name);
    let qualified = bare.len() != name.len();
    KNOBS.iter().find(|k| match origin {
        Origin::Sysctl => k.sysctl && k.name == bare,
        // A qualified name must be a real sysctl; a bare one may be any knob or alias.
        Origin::Flags if qualified => k.sysctl && k.name == bare,
        Origin::Flags => k.name == bare || k.alias == Some(bare),
    })
}

/// Every name [`apply`] takes from `origin`, aliases included (for messages and docs).
pub fn names(origin: Origin) -> Vec<&'static str> {
    let mut out = Vec::new();
    for k in KNOBS {
        match origin {
            Origin::Sysctl if k.sysctl => out.push(k.name),
            Origin::Sysctl => {}
            Origin::Flags => {
                out.push(k.name);
                out.extend(k.alias);
            }
        }
    }
    out
}

/// Sets knob `name` to `value` for sockets made from now on.
pub fn apply(stack: &mut Stack, origin: Origin, name: &str, value: &str) -> Result<(), KnobError> {
    let knob = find(name, origin).ok_or_else(|| KnobError::Unknown(name.to_string()))?;
    let bad = || KnobError::BadValue {
        name: name.to_string(),
        value: value.to_string(),
    };
    let numbers: Vec<u64> = value
        .split(|c: char| c.is_whitespace() || c == ':')
        .filter(|w| !w.is_empty())
        .map(|w| w.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let (fewest, most) = knob.arity;
    if numbers.len() < fewest || numbers.len() > most {
        return Err(bad());
    }
    knob.set
        .apply(stack, &numbers)
        .map_err(|why| KnobError::Refused {
            name: name.to_string(),
            why,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_proto::host::HostConfig;

    fn stack() -> Stack {
        Stack::new(HostConfig::default())
    }

    #[test]
    fn a_knob_answers_to_its_sysctl_name_its_bare_name_and_its_alias() {
        for name in ["net.ipv4.tcp_sack", "tcp_sack", "sack"] {
            let mut s = stack();
            apply(&mut s, Origin::Flags, name, "0").unwrap();
            assert!(!s.defaults_mut().sack, "{name}");
        }
        // A sysctl line takes Linux's names only.
        let mut s = stack();
        assert_eq!(
            apply(&mut s, Origin::Sysctl, "sack", "0"),
            Err(KnobError::Unknown("sack".into()))
        );
        assert!(apply(&mut s, Origin::Sysctl, "net.ipv4.mss", "1000").is_err());
        assert!(apply(&mut s, Origin::Sysctl, "net.ipv4.tcp_sack", "0").is_ok());
    }

    #[test]
    fn freebsd_sysctls_set_the_same_knobs_with_freebsd_meanings() {
        let mut s = stack();
        for (name, value) in [
            ("net.inet.tcp.recvspace", "65536"),
            ("net.inet.tcp.sendspace", "32768"),
            ("kern.ipc.maxsockbuf", "2097152"),
            ("net.inet.tcp.sack.enable", "0"),
            ("net.inet.tcp.rfc1323", "3"),
            ("net.inet.tcp.rexmit_initial", "1000"),
            ("net.inet.tcp.rexmit_min", "30"),
        ] {
            apply(&mut s, Origin::Sysctl, name, value).unwrap_or_else(|e| panic!("{e}"));
        }
        let d = s.defaults_mut();
        assert_eq!((d.recv_buffer, d.send_buffer), (65536, 32768));
        assert_eq!((d.recv_buffer_max, d.send_buffer_max), (2097152, 2097152));
        assert!(!d.sack && !d.window_scaling && d.timestamps);
        assert_eq!(d.rto_initial, Duration::from_secs(1));
        assert_eq!(d.rto_min, Duration::from_millis(30));
        // Only under their full names, and only on a sysctl line.
        assert!(apply(&mut s, Origin::Sysctl, "recvspace", "1").is_err());
        assert!(apply(&mut s, Origin::Flags, "net.inet.tcp.recvspace", "1").is_err());
        assert!(apply(&mut s, Origin::Sysctl, "net.inet.tcp.blackhole", "0").is_err());
    }

    #[test]
    fn buffer_triples_take_blanks_or_colons() {
        let mut s = stack();
        apply(&mut s, Origin::Flags, "tcp_rmem", "4096:8192:16384").unwrap();
        apply(
            &mut s,
            Origin::Sysctl,
            "net.ipv4.tcp_wmem",
            "4096 10000 20000",
        )
        .unwrap();
        let d = s.defaults_mut();
        assert_eq!((d.recv_buffer, d.recv_buffer_max), (8192, 16384));
        assert_eq!((d.send_buffer, d.send_buffer_max), (10000, 20000));
    }

    #[test]
    fn every_listed_knob_sets_something_and_bad_values_are_errors() {
        for name in names(Origin::Flags) {
            let mut s = stack();
            let value = if name.ends_with("mem") {
                "1:2:3"
            } else if name == "mtu" {
                "9000"
            } else {
                "100"
            };
            apply(&mut s, Origin::Flags, name, value).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                matches!(
                    apply(&mut s, Origin::Flags, name, "x"),
                    Err(KnobError::BadValue { .. })
                ),
                "{name}"
            );
        }
        let mut s = stack();
        assert!(apply(&mut s, Origin::Flags, "tcp_rmem", "1").is_err());
        assert!(apply(&mut s, Origin::Flags, "tcp_rmem", "1:9:3").is_err());
        assert!(apply(&mut s, Origin::Flags, "tcp_syn_retries", "1 2").is_err());
        assert!(apply(&mut s, Origin::Flags, "mss", "20").is_err());
        assert!(apply(&mut s, Origin::Flags, "mtu", "575").is_err());
        assert!(apply(&mut s, Origin::Flags, "mtu", "65536").is_err());
        assert_eq!(
            apply(&mut s, Origin::Flags, "tcp_congestion_control", "1"),
            Err(KnobError::Unknown("tcp_congestion_control".into()))
        );
    }
}
