//! `synack bench`: the arguments, and what a person (or `--json`'s reader) sees.

use std::io::Write;

use clap::{Args, ValueEnum};
use synack_bench::{Figure, Options, Workload};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WorkloadArg {
    /// One stream, MTU 65535 and 1500, checksums computed and offloaded, 64 KiB and 1 MiB
    /// buffers; at MTU 1500 also segmentation offload (synack's 64 KiB super-segments).
    Bulk,
    /// Full lifecycles per second (connect, 1-byte request, 1-byte response, close), like
    /// netperf TCP_CRR.
    Crr,
    /// Transactions per second on one connection.
    Rr,
    /// Bytes per idle connection and per TIME-WAIT entry; ns per packet at 1 vs many.
    Conns,
    /// Legitimate handshakes per second under a SYN flood.
    Flood,
    /// Kernel ↔ synack over TUN beside kernel ↔ kernel over veth, offloads on and off (needs root).
    Tun,
    /// Instruction count of a fixed workload under callgrind (valgrind).
    Instructions,
    /// Everything above.
    All,
}

/// `synack bench` arguments.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which workload to run.
    #[arg(value_enum, default_value = "all")]
    pub workload: WorkloadArg,
    /// One JSON object per figure per line, instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub runs: u64,
    /// Bytes per bulk stream (suffixes K, M, G for KiB, MiB, GiB).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub bytes: u64,
    /// Lifecycles per crr run.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub lifecycles: u64,
    /// Transactions per rr run.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub transactions: u64,
    /// Connections for the conns figures.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=4_000_000))]
    pub conns: u64,
    /// Legitimate handshakes per flood run.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub handshakes: u64,
    /// Forged SYNs arriving before each legitimate handshake.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub syns_per_handshake: u64,
    /// Only the bulk and tun cases whose name contains this, e.g. `mtu1500`,
    /// `mtu1500-csum-64k` (bulk) or `mtu1500-plain` (tun); the other workloads ignore it.
    #[arg(long)]
    pub case: Option<String>,
    /// Run only the fixed instruction-count workload (what callgrind runs).
    #[arg(long, hide = true)]
    pub fixed_workload: bool,
}

/// "64K", "1M", "1G" or a plain byte count.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (a number, optionally K, M or G)"))?;
    let v = n
        .checked_mul(mul)
        .ok_or_else(|| format!("`{s}` is too big"))?;
    if v == 0 || v > 1 << 40 {
        return Err(format!("`{s}`: bytes must be between 1 and 1T"));
    }
    Ok(v)
}

/// A line about this machine: kernel, CPU model, cores.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown kernel".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores, Linux {kernel}")
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.fixed_workload {
        let data = synack_bench::instructions::fixed_data();
        let n = synack_bench::instructions::fixed_workload(&data);
        println!("{n} bytes");
        return Ok(());
    }
    let workloads = match args.workload {
        WorkloadArg::Bulk => vec![Workload::Bulk],
        WorkloadArg::Crr => vec![Workload::Crr],
        WorkloadArg::Rr => vec![Workload::Rr],
        WorkloadArg::Conns => vec![Workload::Conns],
        WorkloadArg::Flood => vec![Workload::Flood],
        WorkloadArg::Tun => vec![Workload::Tun],
        WorkloadArg::Instructions => vec![Workload::Instructions],
        WorkloadArg::All => Workload::ALL.to_vec(),
    };
    let opts = Options {
        workloads,
        runs: args.runs as usize,
        bytes: args.bytes,
        lifecycles: args.lifecycles,
        transactions: args.transactions,
        conns: args.conns as usize,
        handshakes: args.handshakes,
        syns_per_handshake: args.syns_per_handshake,
        case: args.case,
        exe: std::env::current_exe().ok(),
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let json = args.json;
    let mut stdout = std::io::stdout().lock();
    let mut progress = |f: &Figure| {
        if json {
            let _ = writeln!(stdout, "{}", f.json());
            let _ = stdout.flush();
        } else {
            let v = f.value.map_or("n/a".to_string(), |v| format!("{v:.4}"));
            eprintln!(
                "{} {} {}: {} = {v} {}",
                f.bench,
                f.case,
                f.stack.name(),
                f.metric,
                f.unit
            );
        }
    };
    let figures = synack_bench::run(&opts, &mut progress);
    if !json {
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "machine: {}\ndate: {date}\ncommand: {command}\nmedian of {} runs each\n",
            machine(),
            opts.runs
        );
        let _ = out.write_all(synack_bench::table(&figures).as_bytes());
    }
    Ok(())
}
