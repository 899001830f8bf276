use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use synack_cli::i18n::{Lang, Names};
use synack_cli::ladder::View;
use synack_cli::scenario::{self, Params};
use synack_cli::{json, ladder};

mod peer_args;

/// Counts live heap bytes while `synack bench conns` measures memory; otherwise one relaxed
/// load per allocation.
#[global_allocator]
static ALLOC: synack_bench::alloc::CountingAlloc = synack_bench::alloc::CountingAlloc;

/// synack: a userspace TCP/IP stack you can watch at work.
#[derive(Parser)]
#[command(
    name = "synack",
    version,
    about = "synack: a userspace TCP/IP stack you can watch at work",
    after_help = "Start here:\n  synack demo                       the tour: handshake, a loss, the four-way close\n  synack demo --list                every scenario in one line each\n  synack demo -s time-wait --lang zh   one scenario, narrated in Chinese\n  synack states --svg states.svg    the state diagram\n  synack demo -s syn-flood          SYN cookies keep a flooded listener answering\n  synack script tests/scripts/*/*.pkt   our packetdrill suite, state by state"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    En,
    Zh,
}

#[derive(Clone, Copy, ValueEnum)]
enum NamesArg {
    /// RFC 9293's names: SYN-RECEIVED, FIN-WAIT-1, TIME-WAIT.
    Rfc,
    /// Linux netstat's names: SYN_RECV, FIN_WAIT1, TIME_WAIT.
    Netstat,
}

/// The run's link and timers, shared by `demo` and `plot`. Numbers are taken as given, minus
/// signs included, so `--loss -1` gets the same message as `--loss=-1`.
#[derive(Args)]
struct LinkArgs {
    /// Seed of the simulated network's randomness.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    seed: u64,
    /// Extra random packet loss on both directions, a probability from 0 to 1 (e.g. 0.1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    loss: f64,
    /// Random corruption on both directions (one bit flipped), a probability from 0 to 1.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    corrupt: f64,
    /// Round-trip time of the simulated link in milliseconds, 1 to 10000.
    #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
    rtt: f64,
    /// The maximum segment lifetime in seconds; TIME-WAIT lasts twice this.
    #[arg(
        long,
        default_value_t = 5.0,
        allow_negative_numbers = true,
        value_name = "SECONDS"
    )]
    msl: f64,
    /// The congestion controller both hosts run: CUBIC (RFC 9438) or NewReno (RFC 5681).
    #[arg(long, value_enum, default_value_t = CcArg::Cubic)]
    cc: CcArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum CcArg {
    Cubic,
    Newreno,
}

/// The bulk scenario's own options; the others take none of them.
#[derive(Args)]
struct BulkArgs {
    /// bulk: bytes each flow moves (suffixes K, M, G for KiB, MiB, GiB) [default: 10M]
    #[arg(long, value_parser = synack_cli::bench::parse_size)]
    bytes: Option<u64>,
    /// bulk: how many flows share the bottleneck, 1 to 64 [default: 2]
    #[arg(long)]
    flows: Option<usize>,
    /// bulk: the bottleneck's bandwidth in Mbit/s [default: 100]
    #[arg(long, value_name = "MBIT", allow_negative_numbers = true)]
    bandwidth: Option<f64>,
    /// bulk: the bottleneck's queue in bytes (suffixes K, M) [default: one bandwidth-delay
    /// product at the longest round trip]
    #[arg(long, value_name = "BYTES", value_parser = parse_queue)]
    queue: Option<u64>,
    /// bulk: a round trip per flow in milliseconds, e.g. 10,40 (instead of --rtt for all)
    #[arg(
        long,
        value_name = "MS,MS,...",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    flow_rtts: Option<Vec<f64>>,
}

/// A queue size: like `--bytes`, but 0 (no buffer at all) is allowed.
fn parse_queue(s: &str) -> Result<u64, String> {
    if s.trim() == "0" {
        return Ok(0);
    }
    synack_cli::bench::parse_size(s)
}

impl BulkArgs {
    fn any(&self) -> bool {
        self.bytes.is_some()
            || self.flows.is_some()
            || self.bandwidth.is_some()
            || self.queue.is_some()
            || self.flow_rtts.is_some()
    }

    fn params(&self, link: &LinkArgs) -> Result<synack_cli::bulk::BulkParams, String> {
        if link.corrupt != 0.0 {
            return Err(
                "--corrupt is not for the bulk scenario (its bottleneck only loses)".into(),
            );
        }
        let p = link.params()?;
        let defaults = synack_cli::bulk::BulkParams::default();
        let mut flow_rtts = Vec::new();
        for &ms in self.flow_rtts.iter().flatten() {
            // Out of range is said by `BulkParams::check`; only what is no time at all here.
            if ms.is_nan() || ms < 0.0 {
                return Err(format!("--flow-rtts {ms} ms is not a round trip"));
            }
            flow_rtts.push(Duration::from_secs_f64(
                (ms / 1e3).min(scenario::MAX_RTT.as_secs_f64() * 2.0),
            ));
        }
        let params = synack_cli::bulk::BulkParams {
            bytes: self.bytes.unwrap_or(defaults.bytes),
            flows: self.flows.unwrap_or(if flow_rtts.is_empty() {
                defaults.flows
            } else {
                flow_rtts.len()
            }),
            rtt: p.rtt,
            flow_rtts,
            loss: p.loss,
            bandwidth_mbit: self.bandwidth.unwrap_or(defaults.bandwidth_mbit),
            queue: self.queue.map(|q| usize::try_from(q).unwrap_or(usize::MAX)),
            cc: p.cc,
            seed: p.seed,
        };
        params.check()?;
        Ok(params)
    }
}

/// Why a command failed: a usage error (bad arguments, exit status 2, as for the ones the
/// parser itself rejects) or a failure of the work itself (exit status 1).
enum Failure {
    Usage(String),
    Failed(String),
}

impl From<String> for Failure {
    fn from(msg: String) -> Failure {
        Failure::Failed(msg)
    }
}

const NOT_BULK: &str =
    "--bytes, --flows, --bandwidth and --queue belong to the bulk scenario (-s bulk)";

impl LinkArgs {
    fn params(&self) -> Result<Params, String> {
        // Out of range is said by `Params::check`, in one wording for every spelling; only
        // what cannot even be a duration is caught here.
        let duration = |flag: &str, v: f64, unit: f64, max: Duration| -> Result<Duration, String> {
            if v.is_nan() {
                return Err(format!("{flag} {v} is not a number"));
            }
            Ok(Duration::from_secs_f64(
                (v * unit).clamp(0.0, max.as_secs_f64() * 2.0),
            ))
        };
        for (flag, v, unit) in [("--rtt", self.rtt, "ms"), ("--msl", self.msl, "s")] {
            if v < 0.0 {
                return Err(format!(
                    "{flag} {v} {unit} is out of range: a time cannot be negative"
                ));
            }
        }
        let params = Params {
            seed: self.seed,
            loss: self.loss,
            corrupt: self.corrupt,
            rtt: duration("--rtt", self.rtt, 1e-3, scenario::MAX_RTT)?,
            msl: duration("--msl", self.msl, 1.0, scenario::MAX_MSL)?,
            cc: match self.cc {
                CcArg::Cubic => synack_proto::CongestionControl::Cubic,
                CcArg::Newreno => synack_proto::CongestionControl::NewReno,
            },
        };
        params.check()?;
        Ok(params)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a client and a server on a simulated network and draw what TCP does between them.
    ///
    /// With no options this runs the tour: handshake, a transfer with one lost segment and
    /// its retransmission, and the four-way close. No root, no real network: everything runs
    /// in virtual time and the same seed always gives the same run.
    Demo(DemoArgs),
    /// Show TCP's state diagram, drawn from the transition table the code itself enforces.
    ///
    /// Prints the table by default; --dot prints Graphviz DOT, --svg draws the diagram in the
    /// classic RFC 9293 layout (no Graphviz needed). With --scenario, the edges that scenario
    /// takes are highlighted.
    States(StatesArgs),
    /// Draw the ladder diagram of a pcap capture, with each side's states inferred from flags.
    ///
    /// Reads classic pcap files with raw IP, Ethernet (VLAN tags allowed) or Linux cooked
    /// frames, and draws the first TCP connection in them. The states are inferred by a
    /// textbook observer: timers and user calls are invisible on the wire.
    Trace(TraceArgs),
    /// Draw a scenario's time-sequence graph (sequence number against time) as SVG.
    Plot(PlotArgs),
    /// Run packetdrill-format scripts against synack on virtual time.
    ///
    /// Prints one line per script and ends with `N passed, M failed, K unsupported`; the exit
    /// status is non-zero if any script failed. A mismatch shows the expected and the actual
    /// packet; a script that needs a feature synack lacks is a SKIP, not a failure.
    Script(ScriptArgs),
    /// Serve echo, discard, chargen or HTTP on synack, reached by the Linux kernel.
    ///
    /// Creates network namespace NAME with a TUN interface in it (the kernel at 10.77.0.1,
    /// synack at 10.77.0.2 by default), serves until Ctrl-C, then closes every connection
    /// gracefully and deletes the namespace. Needs root.
    Serve(peer_args::ServeArgs),
    /// Connect synack, as a client, to a kernel server inside a network namespace.
    ///
    /// Sends --send FILE (if given), closes its side, and prints what the server sends until
    /// it closes (or checks its length with --expect-bytes). Needs root.
    Connect(peer_args::ConnectArgs),
    /// Relay every TCP connection made inside a namespace to a server on the loopback.
    ///
    /// tun2socks-style: creates namespace NAME, routes --route (10.78.0.0/24) to a TUN
    /// interface there, accepts every connection to it on synack whatever its address and
    /// port, and copies the bytes both ways (with half-close) to --to on 127.0.0.1. Logs
    /// each connection's original destination. Needs root.
    Relay(peer_args::RelayArgs),
    /// Measure synack beside smoltcp and the Linux kernel, in one run.
    ///
    /// Each workload runs on all three stacks (the kernel over loopback in a network
    /// namespace made for the run: needs root, else the current loopback, as the output
    /// says); figures are medians of --runs runs, in CPU time, with synack's ratio to each
    /// other stack. `--bytes 16M --runs 1` gives a quick look.
    Bench(synack_cli::bench::BenchArgs),
}

#[derive(Args)]
struct ScriptArgs {
    /// The scripts to run; a directory stands for every .pkt file under it.
    #[arg(required = true)]
    files: Vec<std::path::PathBuf>,
    /// One JSON object per script, then one with the counts.
    #[arg(long)]
    json: bool,
    /// How far an outbound packet may be from its script time, in microseconds (a script's
    /// own --tolerance_usecs line wins).
    #[arg(long, default_value_t = 4000)]
    tolerance_usecs: u64,
    /// Also print what was skipped (shell commands without a synack knob).
    #[arg(short, long)]
    verbose: bool,
    /// Run without the device's segmentation offload: where a Linux script expects one
    /// TSO/GSO segment of several MSS, the MSS-sized segments synack sent at that instant
    /// are no longer taken for it and the script stops there as unsupported. (With offload,
    /// the default, they are, as a TSO device would have put them on the wire.)
    #[arg(long)]
    no_offload: bool,
    /// The address family: ipv4, ipv6 or ipv4-mapped-ipv6 (a script's own --ip_version line
    /// wins).
    #[arg(long, default_value = "ipv4", value_parser = parse_ip_version)]
    ip_version: synack_script::IpVersion,
}

fn parse_ip_version(s: &str) -> Result<synack_script::IpVersion, String> {
    synack_script::IpVersion::from_name(s)
        .ok_or_else(|| format!("'{s}' is not ipv4, ipv6 or ipv4-mapped-ipv6"))
}

fn script(args: ScriptArgs) -> Result<(), String> {
    let config = synack_script::RunConfig {
        tolerance_usecs: args.tolerance_usecs,
        merge_tso: !args.no_offload,
        ip_version: args.ip_version,
        ..Default::default()
    };
    let out = synack_cli::script::run(&args.files, &config, args.json, args.verbose);
    let _ = std::io::stdout().lock().write_all(out.text.as_bytes());
    if out.all_passed {
        Ok(())
    } else {
        Err("some scripts failed".into())
    }
}

#[derive(Args)]
struct TraceArgs {
    /// The capture to read (the first TCP connection in it is drawn).
    file: std::path::PathBuf,
    /// Also write the ladder diagram as SVG.
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
    #[arg(long, value_enum, default_value = "en")]
    lang: LangArg,
}

#[derive(Args)]
struct PlotArgs {
    /// Which scenario to run (see `synack demo --list`).
    #[arg(long, short, default_value = "lossy")]
    scenario: String,
    /// Where to write the SVG.
    #[arg(long, short, value_name = "FILE.svg")]
    out: std::path::PathBuf,
    #[command(flatten)]
    link: LinkArgs,
    #[command(flatten)]
    bulk: BulkArgs,
    #[arg(long, value_enum, default_value = "en")]
    lang: LangArg,
}

#[derive(Args)]
struct StatesArgs {
    /// Print Graphviz DOT instead of the table.
    #[arg(long)]
    dot: bool,
    /// Write the diagram as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
    /// Highlight the transitions this scenario makes (see `synack demo --list`).
    #[arg(long, short)]
    scenario: Option<String>,
    /// Seed for the highlighted run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Language of the descriptions and cause labels.
    #[arg(long, value_enum, default_value = "en")]
    lang: LangArg,
}

/// The help line for `--scenario`, from the one table of scenarios.
fn scenario_help() -> String {
    let mut out = String::from("Which scenario to run:\n");
    for s in scenario::listed() {
        out.push_str(&format!("  {:<19} {}\n", s.name, s.en));
    }
    out.trim_end().to_string()
}

#[derive(Args)]
struct DemoArgs {
    /// Which scenario to run (--list describes them all).
    #[arg(long, short, default_value = "tour")]
    scenario: String,
    #[command(flatten)]
    link: LinkArgs,
    #[command(flatten)]
    bulk: BulkArgs,
    /// Also write the packets as a pcap file (opens in Wireshark or tcpdump).
    #[arg(long, value_name = "FILE")]
    pcap: Option<std::path::PathBuf>,
    /// Also write the ladder diagram as an SVG picture.
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
    /// Also write a time-sequence graph (sequence number against time, tcptrace-style) as SVG.
    #[arg(long, value_name = "FILE")]
    plot: Option<std::path::PathBuf>,
    /// Show sequence and acknowledgment numbers as on the wire instead of relative to each
    /// side's initial sequence number.
    #[arg(long)]
    absolute: bool,
    /// Print one JSON object per line (state changes, packets, then a summary) instead of the
    /// diagram.
    #[arg(long)]
    json: bool,
    /// Language of the narration; state names stay as RFC 9293 spells them.
    #[arg(long, value_enum, default_value = "en")]
    lang: LangArg,
    /// Which names the states go by on the ladder and in the summary.
    #[arg(long, value_enum, default_value = "rfc")]
    names: NamesArg,
    /// List the scenarios with a one-line description each.
    #[arg(long)]
    list: bool,
}

fn lang(l: LangArg) -> Lang {
    match l {
        LangArg::En => Lang::En,
        LangArg::Zh => Lang::Zh,
    }
}

/// Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org).
fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The width to draw at: `COLUMNS` when set (shells keep it up to date), else 100.
fn columns() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .map_or(ladder::WIDTH, |c| c.clamp(ladder::MIN_WIDTH, 400))
}

fn view(lang: Lang, names: Names) -> View {
    View {
        lang,
        color: use_color(),
        width: columns(),
        names,
    }
}

fn list(lang: Lang) -> String {
    let mut out = String::new();
    for s in scenario::listed() {
        let desc = lang.pick(s.en, s.zh);
        out.push_str(&format!("  {:<20} {desc}\n", s.name));
    }
    out
}

fn demo(args: DemoArgs) -> Result<(), Failure> {
    let lang = lang(args.lang);
    if args.list {
        print!("{}", list(lang));
        return Ok(());
    }
    if args.scenario == scenario::BULK.name {
        return demo_bulk(&args, lang);
    }
    if args.bulk.any() {
        return Err(Failure::Usage(NOT_BULK.into()));
    }
    let params = args.link.params().map_err(Failure::Usage)?;
    let mut run = scenario::run(&args.scenario, &params)?;
    if args.absolute {
        run.use_absolute();
    }
    if let Some(path) = &args.pcap {
        std::fs::write(path, run.pcap_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        write_file(path, &synack_cli::svg::ladder(&run, lang))?;
    }
    if let Some(path) = &args.plot {
        write_file(path, &synack_cli::plot::svg(&run, lang))?;
    }
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        let mut s = json::lines(&run).join("\n");
        s.push('\n');
        s
    } else {
        let names = match args.names {
            NamesArg::Rfc => Names::Rfc,
            NamesArg::Netstat => Names::Netstat,
        };
        ladder::report(&run, &view(lang, names))
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

/// `synack demo -s bulk`: the flows' table (or JSON lines), and the cwnd plot if asked for.
fn demo_bulk(args: &DemoArgs, lang: Lang) -> Result<(), Failure> {
    for (given, flag) in [
        (args.pcap.is_some(), "--pcap"),
        (args.svg.is_some(), "--svg"),
        (args.absolute, "--absolute"),
    ] {
        if given {
            return Err(Failure::Usage(format!(
                "{flag} is not for the bulk scenario, which draws no ladder (try --plot)"
            )));
        }
    }
    let params = args.bulk.params(&args.link).map_err(Failure::Usage)?;
    let run = synack_cli::bulk::run(&params)?;
    if let Some(path) = &args.plot {
        write_file(path, &synack_cli::bulk::plot::svg(&run, lang))?;
    }
    let text = if args.json {
        let mut s = synack_cli::bulk::report::json_lines(&run).join("\n");
        s.push('\n');
        s
    } else {
        synack_cli::bulk::report::text(&run, lang, columns())
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

fn write_file(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `synack plot`: the time-sequence graph of one scenario.
fn plot(args: PlotArgs) -> Result<(), Failure> {
    if args.scenario == scenario::BULK.name {
        let params = args.bulk.params(&args.link).map_err(Failure::Usage)?;
        let run = synack_cli::bulk::run(&params)?;
        return Ok(write_file(
            &args.out,
            &synack_cli::bulk::plot::svg(&run, lang(args.lang)),
        )?);
    }
    if args.bulk.any() {
        return Err(Failure::Usage(NOT_BULK.into()));
    }
    let params = args.link.params().map_err(Failure::Usage)?;
    let run = scenario::run(&args.scenario, &params)?;
    Ok(write_file(
        &args.out,
        &synack_cli::plot::svg(&run, lang(args.lang)),
    )?)
}

fn trace(args: TraceArgs) -> Result<(), String> {
    let lang = lang(args.lang);
    let t = synack_cli::trace::read(&args.file)?;
    if let Some(path) = &args.svg {
        write_file(path, &synack_cli::svg::ladder(&t.run, lang))?;
    }
    let text = synack_cli::trace::report(
        &t,
        &args.file.display().to_string(),
        &view(lang, Names::Rfc),
    );
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

fn states(args: StatesArgs) -> Result<(), String> {
    let lang = lang(args.lang);
    let mut visited = std::collections::BTreeSet::new();
    let mut title = String::from(lang.pick(
        "TCP connection states (RFC 9293)",
        "TCP 连接状态（RFC 9293）",
    ));
    if let Some(name) = &args.scenario {
        let params = Params {
            seed: args.seed,
            ..Params::default()
        };
        let run = scenario::run(name, &params)?;
        visited.extend(run.changes.iter().map(|c| synack_proto::Transition {
            from: c.from,
            to: c.to,
            cause: c.cause,
        }));
        title = format!(
            "{title} · {} {name}",
            lang.pick("highlighted: scenario", "高亮：场景")
        );
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, synack_cli::states::svg(&visited, lang, &title))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if !args.dot {
            return Ok(());
        }
    }
    let text = if args.dot {
        synack_cli::states::dot(&visited)
    } else {
        let mut text = synack_cli::states::table(&visited, lang);
        if args.scenario.is_some() {
            text = format!("{title}\n\n{text}");
        }
        text.push('\n');
        text.push_str(&synack_cli::i18n::names_table(lang));
        text
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

/// The command line, with `--scenario`'s help filled in from the scenario table so that
/// `--help`, `--list` and the runner read the same list.
fn parse() -> Cli {
    let help = scenario_help();
    let mut command = Cli::command();
    for sub in ["demo", "plot", "states"] {
        let help = help.clone();
        command = command.mut_subcommand(sub, |c| c.mut_arg("scenario", |a| a.long_help(help)));
    }
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    let cli = parse();
    let result = match cli.command {
        Command::Demo(args) => demo(args),
        Command::States(args) => states(args).map_err(Failure::from),
        Command::Plot(args) => plot(args),
        Command::Trace(args) => trace(args).map_err(Failure::from),
        Command::Script(args) => script(args).map_err(Failure::from),
        Command::Serve(args) => peer_args::serve(args).map_err(Failure::from),
        Command::Connect(args) => peer_args::connect(args).map_err(Failure::from),
        Command::Relay(args) => peer_args::relay(args).map_err(Failure::from),
        Command::Bench(args) => synack_cli::bench::run(args).map_err(Failure::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("synack: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("synack: {msg}");
            ExitCode::FAILURE
        }
    }
}
