//! `synack bench`: each workload on synack, on smoltcp and on the Linux kernel in one run,
//! with absolute figures (medians of several runs, in CPU time) and synack's ratios to the
//! other two. smoltcp is linked here only: neither synack-wire nor synack-proto depends on it.
//!
//! - in-process stacks (synack, smoltcp): two stacks in one thread exchanging IP packets over
//!   an in-memory queue ([`link::Link`]) on the real clock;
//! - the kernel: std::net over loopback, two threads, in a network namespace made for the run
//!   (the `kernel` module).

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod alloc;
mod conns;
mod flood;
pub mod instructions;
mod kernel;
mod kernel_conns;
mod kernel_flood;
pub mod link;
pub mod measure;
pub mod report;
mod smol_side;
mod synack_side;
pub mod tun;

use std::path::PathBuf;

pub use conns::memory as conns_memory;
pub use report::{Figure, Stack, table};

use kernel::Place;
use measure::median_of;

/// The workloads `synack bench` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Bulk,
    Crr,
    Rr,
    Conns,
    Flood,
    Tun,
    Instructions,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::Bulk,
        Workload::Crr,
        Workload::Rr,
        Workload::Conns,
        Workload::Flood,
        Workload::Tun,
        Workload::Instructions,
    ];
}

/// What to run and how big.
#[derive(Clone, Debug)]
pub struct Options {
    pub workloads: Vec<Workload>,
    /// Runs per figure; the median is reported.
    pub runs: usize,
    /// Bytes per bulk stream.
    pub bytes: u64,
    /// Lifecycles per crr run.
    pub lifecycles: u64,
    /// Transactions per rr run.
    pub transactions: u64,
    /// Connections for the memory and per-packet figures.
    pub conns: usize,
    /// Legitimate handshakes per flood run, and forged SYNs before each.
    pub handshakes: u64,
    pub syns_per_handshake: u64,
    /// Only the bulk and tun cases whose name contains this (all of them when `None`).
    pub case: Option<String>,
    /// This binary, for callgrind to run again.
    pub exe: Option<PathBuf>,
}

impl Options {
    /// Whether the case named `name` is among those asked for (`case`).
    pub fn wants(&self, name: &str) -> bool {
        self.case.as_ref().is_none_or(|c| name.contains(c.as_str()))
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            workloads: Workload::ALL.to_vec(),
            runs: 3,
            bytes: 1 << 30,
            lifecycles: 50_000,
            transactions: 100_000,
            conns: 1_000_000,
            handshakes: 20_000,
            syns_per_handshake: 100,
            case: None,
            exe: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The stack misbehaved or a system call failed.
    Stack(String),
    /// No progress for a long time.
    Stall(String),
    /// The tool this figure needs is missing.
    Unavailable(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Stack(s) => write!(f, "failed: {s}"),
            Error::Stall(s) => write!(f, "stalled: {s}"),
            Error::Unavailable(s) => write!(f, "not available: {s}"),
        }
    }
}

/// A bulk run of an in-process stack that takes longer than this (wall time) stops there and
/// is measured over the bytes moved so far: a stack that collapses in one case must not hold
/// up the whole run for minutes.
pub const BULK_TIME_CAP: std::time::Duration = std::time::Duration::from_secs(15);

/// What the senders send, over and over: 1 MiB of a pattern that is not all one byte.
pub(crate) fn pattern() -> Vec<u8> {
    (0..1usize << 20).map(|i| (i ^ (i >> 9)) as u8).collect()
}

/// A bulk sender's write into lent room: the next bytes of `data` (repeated) after the `sent`
/// of `bytes`, as many as fit. Returns how many it wrote.
pub(crate) fn fill_from_pattern(data: &[u8], sent: u64, bytes: u64, room: &mut [u8]) -> usize {
    let off = (sent % data.len() as u64) as usize;
    let len = (bytes - sent)
        .min((data.len() - off) as u64)
        .min(room.len() as u64) as usize;
    room[..len].copy_from_slice(&data[off..off + len]);
    len
}

/// A bulk receiver's read of lent bytes: it takes them all, touching each 64-byte line once
/// (a sum the optimiser cannot drop), as a parser of the stream would read them in place; the
/// same on every stack's side.
pub(crate) fn read_in_place(lent: &[u8]) -> usize {
    let touched = lent.iter().step_by(64).fold(0u8, |a, b| a ^ b);
    std::hint::black_box(touched);
    lent.len()
}

/// One bulk case.
#[derive(Clone, Copy, Debug)]
pub struct BulkCase {
    pub mtu: usize,
    /// Checksums left to the device (both ends) instead of computed and verified.
    pub offload: bool,
    /// The sender's device segments (`HostConfig::segmentation_offload`, checksums left to
    /// the device too): it sends super-segments of up to 64 KiB, which the link delivers
    /// whole, as the kernel's loopback and a receiver's GRO hand them over.
    pub tso: bool,
    /// Send and receive buffer, each end.
    pub buffer: usize,
}

impl BulkCase {
    pub fn name(&self) -> String {
        format!(
            "mtu{}-{}-{}",
            self.mtu,
            if self.tso {
                "tso"
            } else if self.offload {
                "offload"
            } else {
                "csum"
            },
            if self.buffer >= 1 << 20 {
                format!("{}m", self.buffer >> 20)
            } else {
                format!("{}k", self.buffer >> 10)
            }
        )
    }

    pub fn all() -> Vec<BulkCase> {
        let mut v = Vec::new();
        for mtu in [65535, 1500] {
            for offload in [false, true] {
                for buffer in [64 << 10, 1 << 20] {
                    v.push(BulkCase {
                        mtu,
                        offload,
                        buffer,
                        tso: false,
                    });
                }
            }
        }
        // Segmentation offload only pays below the 64 KiB a segment can carry anyway.
        for buffer in [64 << 10, 1 << 20] {
            v.push(BulkCase {
                mtu: 1500,
                offload: true,
                buffer,
                tso: true,
            });
        }
        v
    }
}

/// A figure from a measurement, or the reason it failed, as a figure without a value.
fn figure(
    bench: &'static str,
    case: &str,
    stack: Stack,
    metric: &'static str,
    unit: &'static str,
    r: Result<f64, Error>,
) -> Figure {
    match r {
        Ok(v) => Figure::new(bench, case, stack, metric, v, unit),
        Err(e) => Figure::missing(bench, case, stack, metric, unit, e.to_string()),
    }
}

/// Runs what `opts` asks for, handing each figure to `out` as soon as it is measured (the
/// progress of a long run), and returns them all.
pub fn run(opts: &Options, out: &mut dyn FnMut(&Figure)) -> Vec<Figure> {
    let mut all = Vec::new();
    let mut emit = |f: Figure| {
        out(&f);
        all.push(f);
    };
    let runs = opts.runs.max(1);
    let place = Place::detect();
    // Every kernel figure says where it ran; one without a value keeps its reason first.
    let kernel_note = |f: Figure| {
        let note = match &f.note {
            Some(why) => format!("{why} ({})", place.note()),
            None => place.note().to_string(),
        };
        f.with_note(note)
    };
    for w in &opts.workloads {
        match w {
            Workload::Bulk => {
                for case in BulkCase::all() {
                    let name = case.name();
                    if !opts.wants(&name) {
                        continue;
                    }
                    let (b, m, u) = ("bulk", "throughput", "Gbit/s");
                    let r = median_of(runs, || synack_side::bulk(&case, opts.bytes));
                    emit(figure(b, &name, Stack::Synack, m, u, r).with_note(IN_PROCESS));
                    let r = median_of(runs, || smol_side::bulk(&case, opts.bytes));
                    let f = figure(b, &name, Stack::Smoltcp, m, u, r);
                    emit(if f.value.is_some() {
                        f.with_note(IN_PROCESS)
                    } else {
                        f
                    });
                    // Loopback never checksums: the kernel's csum and offload cases are the
                    // same configuration, measured twice.
                    let r = if place == Place::CurrentNamespace && case.mtu != 65535 {
                        Err(Error::Unavailable(
                            "not root: loopback's MTU cannot be set in the current namespace"
                                .into(),
                        ))
                    } else {
                        let mtu = case.mtu + if case.mtu == 65535 { 1 } else { 0 };
                        median_of(runs, || {
                            kernel::in_place(place, Some(mtu), {
                                let (case, bytes) = (case, opts.bytes);
                                move || kernel::bulk(&case, bytes)
                            })
                        })
                    };
                    emit(kernel_note(figure(b, &name, Stack::Kernel, m, u, r)));
                }
            }
            Workload::Crr => {
                let (b, c, m, u) = ("crr", "1b-request-response", "lifecycles_per_sec", "1/s");
                let n = opts.lifecycles;
                emit(figure(
                    b,
                    c,
                    Stack::Synack,
                    m,
                    u,
                    median_of(runs, || synack_side::crr(n)),
                ));
                emit(
                    figure(
                        b,
                        c,
                        Stack::Smoltcp,
                        m,
                        u,
                        median_of(runs, || smol_side::crr(n)),
                    )
                    .with_note(
                        "smoltcp: TIME-WAIT is a 10 s socket, so the client socket is \
                             aborted once in TIME-WAIT and reused (no TIME-WAIT state kept)",
                    ),
                );
                let r = median_of(runs, || {
                    kernel::in_place(place, None, move || kernel::crr(n))
                });
                emit(kernel_note(figure(b, c, Stack::Kernel, m, u, r)));
            }
            Workload::Rr => {
                let (b, c, m, u) = ("rr", "1b-request-response", "transactions_per_sec", "1/s");
                let n = opts.transactions;
                emit(figure(
                    b,
                    c,
                    Stack::Synack,
                    m,
                    u,
                    median_of(runs, || synack_side::rr(n)),
                ));
                emit(figure(
                    b,
                    c,
                    Stack::Smoltcp,
                    m,
                    u,
                    median_of(runs, || smol_side::rr(n)),
                ));
                let r = median_of(runs, || {
                    kernel::in_place(place, None, move || kernel::rr(n))
                });
                emit(kernel_note(figure(b, c, Stack::Kernel, m, u, r)));
            }
            Workload::Conns => conns(opts, &mut emit),
            Workload::Flood => {
                let b = "flood";
                let c = format!("{}-syns-per-handshake", opts.syns_per_handshake);
                let (m, u) = ("legit_handshakes_per_sec", "1/s");
                let r = median_of(runs, || {
                    flood::synack(opts.handshakes, opts.syns_per_handshake)
                });
                let rate = r.as_ref().ok().map(|v| v * opts.syns_per_handshake as f64);
                let f = figure(b, &c, Stack::Synack, m, u, r);
                emit(match rate {
                    Some(rate) => f.with_note(format!(
                        "synack: backlog 128, SYN cookies on; forged SYNs handled at {:.2} M/s \
                         of CPU alongside",
                        rate / 1e6
                    )),
                    None => f,
                });
                smol_flood_figure(opts, &c, &mut emit);
                kernel_flood_figure(opts, &c, &mut emit);
            }
            Workload::Tun => tun_figures(opts, &mut emit),
            Workload::Instructions => {
                let r = match &opts.exe {
                    Some(exe) => instructions::count(exe).map(|n| n as f64),
                    None => Err(Error::Unavailable(
                        "no binary to run under callgrind".into(),
                    )),
                };
                emit(
                    figure(
                        "instructions",
                        "handshake-1MiB-close",
                        Stack::Synack,
                        "instructions",
                        "Ir",
                        r,
                    )
                    .with_note("callgrind instruction count of a fixed workload on virtual time"),
                );
            }
        }
    }
    all
}

/// A note on a measured figure; a missing one keeps the reason it is missing.
fn noted(f: Figure, note: &str) -> Figure {
    if f.value.is_some() {
        f.with_note(note)
    } else {
        f
    }
}

/// Kernel → synack and synack → kernel over TUN, each case beside kernel → kernel over veth
/// at the same MTU (measured once per MTU and shown on both rows).
fn tun_figures(opts: &Options, emit: &mut dyn FnMut(Figure)) {
    use tun::TunCase;
    const IN: &str = "throughput_kernel_to_synack";
    const OUT: &str = "throughput_synack_to_kernel";
    const UNIT: &str = "Gbit/s";
    let cases: Vec<TunCase> = TunCase::all()
        .into_iter()
        .filter(|c| opts.wants(&c.name()))
        .collect();
    if let Some(why) = synack::netns::unavailable() {
        for case in &cases {
            for metric in [IN, OUT] {
                for s in [Stack::Synack, Stack::Kernel] {
                    emit(Figure::missing(
                        "tun",
                        case.name(),
                        s,
                        metric,
                        UNIT,
                        format!("needs root for a network namespace of its own: {why}"),
                    ));
                }
            }
        }
        return;
    }
    let (runs, bytes) = (opts.runs, opts.bytes);
    let kernel_note = "kernel: kernel → kernel over a veth pair between two namespaces of the \
                       bench's own, same MTU, the kernel's default offloads (TSO/GSO/GRO); \
                       wall-clock goodput";
    // veth runs only at the MTUs of the cases asked for.
    let mut veth: Vec<(usize, Result<f64, Error>)> = Vec::new();
    for case in cases {
        let v = match veth.iter().find(|(mtu, _)| *mtu == case.mtu) {
            Some((_, v)) => v.clone(),
            None => {
                let v = median_of(runs, || tun::kernel_to_kernel_veth(case.mtu, bytes));
                veth.push((case.mtu, v.clone()));
                v
            }
        };
        let synack_note = if case.offload {
            "synack: TUN with the virtio-net header (the kernel's 64 KiB segments in, \
             checksums left partial both ways; synack's own 64 KiB super-segments out, cut by the \
             kernel); wall-clock goodput from connect to end of stream, both in one namespace \
             of the bench's own"
        } else {
            "synack: plain TUN, one packet per read or write, checksums computed; wall-clock \
             goodput from connect to end of stream, both in one namespace of the bench's own"
        };
        let name = case.name();
        let r = median_of(runs, || tun::kernel_to_synack(case, bytes));
        emit(noted(
            figure("tun", &name, Stack::Synack, IN, UNIT, r),
            synack_note,
        ));
        emit(noted(
            figure("tun", &name, Stack::Kernel, IN, UNIT, v.clone()),
            kernel_note,
        ));
        let r = median_of(runs, || tun::synack_to_kernel(case, bytes));
        emit(noted(
            figure("tun", &name, Stack::Synack, OUT, UNIT, r),
            synack_note,
        ));
        emit(noted(
            figure("tun", &name, Stack::Kernel, OUT, UNIT, v),
            kernel_note,
        ));
    }
}

fn conns(opts: &Options, emit: &mut dyn FnMut(Figure)) {
    let b = "conns";
    let n = opts.conns;
    let c = format!("{n}");
    let packets = 200_000;
    let mut synack = Vec::new();
    for _ in 0..opts.runs.max(1) {
        match conns::synack(n, packets) {
            Ok(r) => synack.push(r),
            Err(e) => {
                for (m, u) in METRICS_CONNS {
                    emit(Figure::missing(b, &c, Stack::Synack, m, u, e.to_string()));
                }
                return;
            }
        }
    }
    let med = |f: &dyn Fn(&conns::Conns) -> Option<f64>| -> Option<f64> {
        let v: Option<Vec<f64>> = synack.iter().map(f).collect();
        v.map(measure::median)
    };
    let values = [
        med(&|r| r.bytes_per_established),
        med(&|r| r.bytes_per_time_wait),
        med(&|r| Some(r.ns_1)),
        med(&|r| Some(r.ns_n)),
    ];
    for ((m, u), v) in METRICS_CONNS.into_iter().zip(values) {
        emit(match v {
            Some(v) => Figure::new(b, &c, Stack::Synack, m, v, u),
            None => Figure::missing(
                b,
                &c,
                Stack::Synack,
                m,
                u,
                "the counting allocator is not this process's allocator",
            ),
        });
    }
    let smol_n = n.min(SMOLTCP_CONNS_MAX);
    let mut smol = Vec::new();
    for _ in 0..opts.runs.max(1) {
        match smol_side::conns(smol_n, packets / 10) {
            Ok(r) => smol.push(r),
            Err(e) => {
                for (m, u) in METRICS_CONNS {
                    emit(Figure::missing(b, &c, Stack::Smoltcp, m, u, e.to_string()));
                }
                smol.clear();
                break;
            }
        }
    }
    if !smol.is_empty() {
        let note = format!(
            "smoltcp at {smol_n} connections (each packet visits every socket, so a million \
             would take hours), {} KiB buffers each way allocated up front; a TIME-WAIT \
             connection keeps its whole socket",
            smol_side::CONNS_BUFFER >> 10
        );
        let bytes: Option<Vec<f64>> = smol.iter().map(|r| r.0).collect();
        let bytes = bytes.map(measure::median);
        let ns_1 = measure::median(smol.iter().map(|r| r.1).collect());
        let ns_n = measure::median(smol.iter().map(|r| r.2).collect());
        for ((m, u), v) in METRICS_CONNS
            .into_iter()
            .zip([bytes, bytes, Some(ns_1), Some(ns_n)])
        {
            emit(match v {
                Some(v) => Figure::new(b, &c, Stack::Smoltcp, m, v, u).with_note(note.clone()),
                None => Figure::missing(b, &c, Stack::Smoltcp, m, u, "no counting allocator"),
            });
        }
    }
    kernel_conns_figures(opts, &c, emit);
}

/// smoltcp under the same flood as synack's (module `smol_side`).
fn smol_flood_figure(opts: &Options, c: &str, emit: &mut dyn FnMut(Figure)) {
    let (b, m, u) = ("flood", "legit_handshakes_per_sec", "1/s");
    let mut done = Vec::new();
    let r = median_of(opts.runs, || {
        smol_side::flood(opts.handshakes, opts.syns_per_handshake).map(|(rate, n)| {
            done.push(n);
            rate
        })
    });
    let f = figure(b, c, Stack::Smoltcp, m, u, r);
    emit(if f.value.is_some() {
        let note = format!(
            "smoltcp: no SYN queue or cookies; {} listening sockets, each held by the first \
             SYN to reach it until its ACK comes (no timeout set); {} of {} legitimate \
             handshakes completed in the median run",
            smol_side::FLOOD_LISTENERS,
            measure::median(done.iter().map(|&n| n as f64).collect()),
            opts.handshakes
        );
        f.with_note(note)
    } else {
        f
    });
}

/// The kernel under the same flood, in a namespace of the bench's own with a route that
/// takes the SYN-ACKs to the forged sources (module `kernel_flood`).
fn kernel_flood_figure(opts: &Options, c: &str, emit: &mut dyn FnMut(Figure)) {
    let (b, m, u) = ("flood", "legit_handshakes_per_sec", "1/s");
    if let Some(why) = synack::netns::unavailable() {
        emit(Figure::missing(
            b,
            c,
            Stack::Kernel,
            m,
            u,
            format!("kernel: needs root for a network namespace of its own: {why}"),
        ));
        return;
    }
    let (handshakes, per_legit) = (opts.handshakes, opts.syns_per_handshake);
    let mut runs = Vec::new();
    for _ in 0..opts.runs.max(1) {
        let r = synack::netns::Netns::new()
            .and_then(|ns| {
                ns.ip(&["route", "add", "198.18.0.0/15", "dev", "lo"])?;
                ns.run(move || kernel_flood::measure(handshakes, per_legit))
            })
            .map_err(|e| Error::Stack(format!("namespace: {e}")))
            .and_then(|r| r);
        match r {
            Ok(r) => runs.push(r),
            Err(e) => {
                emit(Figure::missing(b, c, Stack::Kernel, m, u, e.to_string()));
                return;
            }
        }
    }
    runs.sort_by(|a, b| a.legit_per_sec.total_cmp(&b.legit_per_sec));
    let r = &runs[runs.len() / 2];
    let note = format!(
        "kernel: listener with backlog 128 on the loopback of a fresh network namespace of the bench's own \
         (net.ipv4.tcp_syncookies = {}), forged SYNs from a raw socket there, SYN-ACKs to \
         them routed to lo and lost; one thread, CPU time; median run: {} of {} legitimate \
         handshakes completed, {} SYN cookies sent for {} forged SYNs (a run stops after {} s)",
        r.syncookies,
        r.done,
        handshakes,
        r.cookies_sent,
        r.forged,
        kernel_flood::TIME_CAP.as_secs()
    );
    emit(Figure::new(b, c, Stack::Kernel, m, r.legit_per_sec, u).with_note(note));
}

/// The kernel's conns figures, from its slab caches and a ping-pong (module `kernel_conns`),
/// each run in a fresh namespace.
fn kernel_conns_figures(opts: &Options, c: &str, emit: &mut dyn FnMut(Figure)) {
    let b = "conns";
    let place = Place::detect();
    let missing = |emit: &mut dyn FnMut(Figure), why: String| {
        for (m, u) in METRICS_CONNS {
            emit(Figure::missing(b, c, Stack::Kernel, m, u, why.clone()));
        }
    };
    if place != Place::FreshNamespace {
        missing(
            emit,
            "kernel: needs root (/proc/slabinfo, and a fresh namespace of its own)".into(),
        );
        return;
    }
    let n = match kernel_conns::reachable(opts.conns) {
        Ok(n) => n,
        Err(e) => return missing(emit, e.to_string()),
    };
    let mut runs = Vec::new();
    for _ in 0..opts.runs.max(1) {
        match kernel::in_place(place, None, move || kernel_conns::measure(n, 20_000)) {
            Ok(r) => runs.push(r),
            Err(e) => return missing(emit, format!("{e} ({})", place.note())),
        }
    }
    let med = |f: &dyn Fn(&kernel_conns::KernelConns) -> f64| {
        measure::median(runs.iter().map(f).collect())
    };
    let shares: Vec<String> = runs[0]
        .per_cache
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!("{name} {:.0}", med(&|r| r.per_cache[i].1)))
        .collect();
    let memory = format!(
        "kernel at {n} idle loopback connections (the most this process's open-file limit \
         allows, up to {}), in a fresh network namespace: growth of /proc/slabinfo's caches \
         over the 2n sockets, per socket ({}); not counted: the fd table, allocations \
         outside those caches; the slab counts are machine-wide, so other work adds noise",
        kernel_conns::MAX_CONNS,
        shares.join(" + ")
    );
    let time_wait = format!(
        "kernel: growth of the tw_sock_TCP slab cache over {n} connections closed actively, \
         in a fresh network namespace"
    );
    let packet = format!(
        "kernel: 1-byte request and reply over loopback in one thread (so 2 segments, each \
         with its system calls), CPU ns per segment; the many case takes up to 4,096 of {n} \
         connections in turn; in a fresh network namespace"
    );
    let values = [
        (med(&|r| r.bytes_per_socket), memory),
        (med(&|r| r.bytes_per_time_wait), time_wait),
        (med(&|r| r.ns_1), packet.clone()),
        (med(&|r| r.ns_n), packet),
    ];
    for ((m, u), (v, note)) in METRICS_CONNS.into_iter().zip(values) {
        emit(Figure::new(b, c, Stack::Kernel, m, v, u).with_note(note));
    }
}

const IN_PROCESS: &str = "in-process stacks: Gbit/s of one thread's CPU time, both ends in it; \
     a run still going after 15 s stops and counts the bytes moved by then";

/// The most connections smoltcp's conns figures use.
const SMOLTCP_CONNS_MAX: usize = 10_000;

const METRICS_CONNS: [(&str, &str); 4] = [
    ("bytes_per_established_conn", "B"),
    ("bytes_per_time_wait", "B"),
    ("ns_per_packet_1conn", "ns"),
    ("ns_per_packet_1m_conns", "ns"),
];
