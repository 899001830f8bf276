//! Network namespaces for tests, examples and tools: a namespace of our own with a TUN
//! interface in it, the Linux kernel on one side (10.x.y.1/24 and fd00:5ac:x:y::1/64) and
//! synack on the other (10.x.y.2, fd00:5ac:x:y::2). Nothing is ever configured in the root namespace: the interface is created
//! from a thread that entered the new namespace, and every `ip` command names the namespace.
//! The namespace is deleted when its [`Netns`] is dropped, on a panic too.
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), `/dev/net/tun` and iproute2's `ip`.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::device::Tun;
use crate::sys;

const PREFIX: &str = "synack-";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace this process created; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    file: File,
    /// Deleted on drop: created here, not merely opened.
    owned: bool,
}

/// A namespace with a TUN interface: the kernel's address is on the interface inside the
/// namespace, synack's is the other end, reached through the device.
#[derive(Debug)]
pub struct TunNetns {
    pub netns: Netns,
    /// The interface's name inside the namespace.
    pub ifname: String,
    /// The kernel's address (on the interface, /24).
    pub kernel: Ipv4Addr,
    /// synack's address: give it to the stack.
    pub synack: Ipv4Addr,
    /// The kernel's IPv6 address (a unique local one, /64 on the interface).
    pub kernel6: Ipv6Addr,
    /// synack's IPv6 address.
    pub synack6: Ipv6Addr,
    pub mtu: usize,
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running `ip`: {e}")))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Why namespaces cannot be made here, if they cannot: not root, no `/dev/net/tun`, no `ip`.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun does not exist".into());
    }
    if Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return Some("iproute2's `ip` is not installed".into());
    }
    None
}

/// Deletes namespaces an earlier run of ours left behind when it was killed before its
/// drop guards ran (their names carry the pid of a process that is gone).
fn remove_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

impl Netns {
    /// Creates a namespace named `synack-PID-N` with its loopback up.
    pub fn new() -> io::Result<Netns> {
        if let Some(why) = unavailable() {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
        }
        remove_stale();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        let file = match File::open(format!("/run/netns/{name}")) {
            Ok(f) => f,
            Err(e) => {
                let _ = ip(&["netns", "del", &name]);
                return Err(e);
            }
        };
        let ns = Netns {
            name,
            file,
            owned: true,
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Creates namespace `name` (a tool's, named by its user) with its loopback up; an
    /// existing namespace of that name is refused, so dropping deletes only what we made.
    pub fn create(name: &str) -> io::Result<Netns> {
        if let Some(why) = unavailable() {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
        }
        check_name(name)?;
        if std::path::Path::new(&format!("/run/netns/{name}")).exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("network namespace {name} already exists"),
            ));
        }
        ip(&["netns", "add", name])?;
        let file = match File::open(format!("/run/netns/{name}")) {
            Ok(f) => f,
            Err(e) => {
                let _ = ip(&["netns", "del", name]);
                return Err(e);
            }
        };
        let ns = Netns {
            name: name.to_string(),
            file,
            owned: true,
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Opens an existing namespace; dropping the handle leaves the namespace in place.
    pub fn open(name: &str) -> io::Result<Netns> {
        check_name(name)?;
        let file = File::open(format!("/run/netns/{name}"))
            .map_err(|e| io::Error::new(e.kind(), format!("network namespace {name}: {e}")))?;
        Ok(Netns {
            name: name.to_string(),
            file,
            owned: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS…`: a command on this namespace only.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `f` on a thread inside the namespace and returns its result. Sockets `f` opens
    /// (std::net: the kernel's TCP) belong to the namespace for their whole life, wherever
    /// they are used afterwards.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let fd = self.file.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                sys::enter_netns(fd)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Spawns a thread inside the namespace (for a kernel-side server or client that runs
    /// alongside the test).
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<std::thread::JoinHandle<io::Result<T>>> {
        let file = self.file.try_clone()?;
        Ok(std::thread::spawn(move || {
            sys::enter_netns(file.as_raw_fd())?;
            Ok(f())
        }))
    }
}

/// A namespace name as `ip netns` takes it: a file name under /run/netns.
fn check_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad namespace name {name:?}: use 1 to 64 of A-Z a-z 0-9 - _ ."),
        ))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!(
                "synack: could not delete network namespace {}: {e}",
                self.name
            );
        }
    }
}

impl TunNetns {
    /// A new namespace with TUN interface `tun0` of `mtu` bytes inside it: the kernel at
    /// 10.x.y.1/24, synack at 10.x.y.2 (x, y from this process and a counter, so parallel
    /// tests do not share a subnet, though their namespaces would keep them apart anyway).
    pub fn new(mtu: usize) -> io::Result<(TunNetns, Tun)> {
        TunNetns::with_options(mtu, false)
    }

    /// [`TunNetns::new`], with the virtio-net header and offloads on the TUN interface when
    /// `offload` (see [`Tun::create_with_offload`]).
    pub fn with_options(mtu: usize, offload: bool) -> io::Result<(TunNetns, Tun)> {
        TunNetns::with_queues(mtu, offload, 1)
    }

    /// [`TunNetns::with_options`] with a TUN interface of `queues` queues (see
    /// [`Tun::create_multi_queue`]).
    pub fn with_queues(mtu: usize, offload: bool, queues: usize) -> io::Result<(TunNetns, Tun)> {
        let netns = Netns::new()?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let x = (std::process::id() % 200) as u8 + 20;
        let y = (n % 250) as u8;
        let kernel = Ipv4Addr::new(10, x, y, 1);
        let synack = Ipv4Addr::new(10, x, y, 2);
        let ifname = "tun0".to_string();
        let tun = netns.run(|| Tun::create_multi_queue("tun0", mtu, offload, queues))??;
        let cidr = format!("{kernel}/24");
        netns.ip(&["addr", "add", &cidr, "dev", &ifname])?;
        // RFC 4193 unique local addresses; `nodad` so the address is usable at once
        // (duplicate address detection has nobody else to ask on a point-to-point TUN).
        let prefix = [0xfd00, 0x5ac, u16::from(x), u16::from(y), 0, 0, 0];
        let [a, b, c, d, e, f, g] = prefix;
        let kernel6 = Ipv6Addr::new(a, b, c, d, e, f, g, 1);
        let synack6 = Ipv6Addr::new(a, b, c, d, e, f, g, 2);
        let cidr6 = format!("{kernel6}/64");
        netns.ip(&["addr", "add", &cidr6, "dev", &ifname, "nodad"])?;
        netns.ip(&["link", "set", "dev", &ifname, "mtu", &mtu.to_string(), "up"])?;
        Ok((
            TunNetns {
                netns,
                ifname,
                kernel,
                synack,
                kernel6,
                synack6,
                mtu,
            },
            tun,
        ))
    }

    /// A TUN interface `ifname` in `netns` with the kernel at `kernel/prefix` on it and
    /// synack at `synack` behind it (a tool's own addresses; [`TunNetns::new`] picks them).
    /// The IPv6 pair is a unique local /64 derived from the IPv4 subnet.
    pub fn with_addrs(
        netns: Netns,
        ifname: &str,
        kernel: Ipv4Addr,
        synack: Ipv4Addr,
        prefix: u8,
        mtu: usize,
    ) -> io::Result<(TunNetns, Tun)> {
        let name = ifname.to_string();
        let tun = netns.run(move || Tun::create(&name, mtu))??;
        netns.ip(&["addr", "add", &format!("{kernel}/{prefix}"), "dev", ifname])?;
        let [_, b, c, _] = kernel.octets();
        let (kernel6, synack6) = (
            Ipv6Addr::new(0xfd00, 0x5ac, u16::from(b), u16::from(c), 0, 0, 0, 1),
            Ipv6Addr::new(0xfd00, 0x5ac, u16::from(b), u16::from(c), 0, 0, 0, 2),
        );
        netns.ip(&[
            "addr",
            "add",
            &format!("{kernel6}/64"),
            "dev",
            ifname,
            "nodad",
        ])?;
        netns.ip(&["link", "set", "dev", ifname, "mtu", &mtu.to_string(), "up"])?;
        Ok((
            TunNetns {
                netns,
                ifname: ifname.to_string(),
                kernel,
                synack,
                kernel6,
                synack6,
                mtu,
            },
            tun,
        ))
    }

    /// How a person reaches a synack server at `port` from the kernel's side.
    pub fn curl_command(&self, port: u16) -> String {
        format!(
            "ip netns exec {} curl http://{}:{port}/",
            self.netns.name(),
            self.synack
        )
    }
}
