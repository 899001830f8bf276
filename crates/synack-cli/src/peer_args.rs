//! The arguments of `synack serve` and `synack connect`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use synack_cli::peers::apps::App;
use synack_cli::peers::connect::ConnectOptions;
use synack_cli::peers::queues::Queues;
use synack_cli::peers::relay::{self, RelayOptions};
use synack_cli::peers::serve::ServeOptions;
use synack_cli::peers::setup::{Cidr, parse_cidr};
use synack_cli::peers::{Faults, connect, serve};

#[derive(Clone, Copy, ValueEnum)]
pub enum AppArg {
    Echo,
    Discard,
    Chargen,
    Http,
}

/// Faults the TUN driver injects, both directions, drawn from a seeded generator.
#[derive(Args)]
pub struct FaultArgs {
    /// Probability of losing each packet, from 0 to 1 (e.g. 0.05).
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    loss: f64,
    /// Delay added to every packet, in milliseconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    delay: u64,
    /// Up to this much more delay per packet, uniformly drawn, in milliseconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    jitter: u64,
    /// Probability of holding a packet back so the next ones overtake it, from 0 to 1.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    reorder: f64,
    /// Seed of the fault draws: the same seed, the same faults for the same packets.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("'{s}' is not a probability from 0 to 1")),
    }
}

impl FaultArgs {
    fn faults(&self) -> Faults {
        Faults {
            loss: self.loss,
            delay: Duration::from_millis(self.delay),
            jitter: Duration::from_millis(self.jitter),
            reorder: self.reorder,
            seed: self.seed,
        }
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// The network namespace to create (it must not exist; it is deleted on exit).
    #[arg(long)]
    netns: String,
    /// synack's address and prefix, private IPv4 or unique local IPv6 (e.g. fd00:5ac::2/64);
    /// the kernel takes the subnet's first host.
    #[arg(long, default_value = "10.77.0.2/24", value_parser = parse_cidr)]
    addr: Cidr,
    /// The port to listen on (default: the application's own: echo 7, discard 9, chargen
    /// 19, http 80 and 8080). Every other port is refused with a reset.
    #[arg(long)]
    port: Option<u16>,
    #[arg(long, value_enum)]
    app: AppArg,
    /// Serve the files under DIR (http only); without it, `/bytes/N` returns N bytes.
    #[arg(long, value_name = "DIR")]
    http_root: Option<PathBuf>,
    /// Record every packet that crosses the TUN device.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Queues of the TUN interface (IFF_MULTI_QUEUE), 1 to 256: the kernel spreads the flows
    /// it sends over them; synack sends each flow on the queue its addresses and ports pick.
    #[arg(long, value_name = "N", default_value_t = Queues::ONE)]
    queues: Queues,
    #[command(flatten)]
    faults: FaultArgs,
}

pub fn serve(args: ServeArgs) -> Result<(), String> {
    let app = match args.app {
        AppArg::Echo => App::Echo,
        AppArg::Discard => App::Discard,
        AppArg::Chargen => App::Chargen,
        AppArg::Http => App::Http {
            root: args.http_root.clone(),
        },
    };
    if args.http_root.is_some() && !matches!(app, App::Http { .. }) {
        return Err("--http-root goes with --app http".into());
    }
    if let Some(root) = &args.http_root {
        if !root.is_dir() {
            return Err(format!("--http-root {}: not a directory", root.display()));
        }
    }
    let ports = match args.port {
        Some(0) => return Err("--port 0: give a port from 1 to 65535".into()),
        Some(p) => vec![p],
        None => app.default_ports().to_vec(),
    };
    serve::run(ServeOptions {
        netns: args.netns,
        addr: args.addr,
        ports,
        app,
        pcap: args.pcap,
        queues: args.queues,
        faults: args.faults.faults(),
    })
    .map_err(|e| e.to_string())
}

#[derive(Args)]
pub struct ConnectArgs {
    /// The network namespace: used if it exists (and left in place), else created and
    /// deleted on exit.
    #[arg(long)]
    netns: String,
    /// The kernel server to connect to, e.g. 10.77.0.1:8000.
    to: SocketAddr,
    /// synack's address and prefix, private IPv4 or unique local IPv6 (e.g. fd00:5ac::2/64);
    /// the kernel takes the subnet's first host.
    #[arg(long, default_value = "10.77.0.2/24", value_parser = parse_cidr)]
    addr: Cidr,
    /// Send this file's bytes, then close our side (a FIN); without it, close at once.
    #[arg(long, value_name = "FILE")]
    send: Option<PathBuf>,
    /// Check that the response is exactly N bytes long (and do not print it).
    #[arg(long, value_name = "N")]
    expect_bytes: Option<u64>,
    /// Record every packet that crosses the TUN device.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Queues of the TUN interface (IFF_MULTI_QUEUE), 1 to 256: the kernel spreads the flows
    /// it sends over them; synack sends each flow on the queue its addresses and ports pick.
    #[arg(long, value_name = "N", default_value_t = Queues::ONE)]
    queues: Queues,
    /// Do not log state changes.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    faults: FaultArgs,
}

pub fn connect(args: ConnectArgs) -> Result<(), String> {
    if !args.addr.contains(args.to.ip()) {
        return Err(format!(
            "{} is not in {}: synack connects only to the kernel inside its namespace",
            args.to.ip(),
            args.addr
        ));
    }
    connect::run(ConnectOptions {
        netns: args.netns,
        addr: args.addr,
        to: args.to,
        send: args.send,
        expect_bytes: args.expect_bytes,
        pcap: args.pcap,
        queues: args.queues,
        faults: args.faults.faults(),
        quiet: args.quiet,
    })
    .map(drop)
    .map_err(|e| e.to_string())
}

#[derive(Args)]
pub struct RelayArgs {
    /// The network namespace to create (it must not exist; it is deleted on exit).
    #[arg(long)]
    netns: String,
    /// Where every relayed connection goes: a port on the host's loopback.
    #[arg(long, value_name = "ADDR:PORT")]
    to: SocketAddr,
    /// The TUN link's subnet, private IPv4 or unique local IPv6: the kernel takes its first
    /// host, synack this address.
    #[arg(long, default_value = "10.77.0.2/24", value_parser = parse_cidr)]
    addr: Cidr,
    /// The private subnet routed to the TUN device inside the namespace; connections to any
    /// address in it are relayed. Of --addr's family; by default 10.78.0.1/24, or
    /// fd00:5ad::1/64 with an IPv6 --addr.
    #[arg(long, value_parser = parse_cidr)]
    route: Option<Cidr>,
    /// Record every packet that crosses the TUN device.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Queues of the TUN interface (IFF_MULTI_QUEUE), 1 to 256: the kernel spreads the flows
    /// it sends over them; synack sends each flow on the queue its addresses and ports pick.
    #[arg(long, value_name = "N", default_value_t = Queues::ONE)]
    queues: Queues,
    #[command(flatten)]
    faults: FaultArgs,
}

pub fn relay(args: RelayArgs) -> Result<(), String> {
    relay::check_target(args.to)?;
    let default_route = if args.addr.is_ipv6() {
        "fd00:5ad::1/64"
    } else {
        "10.78.0.1/24"
    };
    let route = match args.route {
        Some(r) => r,
        None => parse_cidr(default_route)?,
    };
    relay::run(RelayOptions {
        netns: args.netns,
        addr: args.addr,
        route,
        to: args.to,
        pcap: args.pcap,
        queues: args.queues,
        faults: args.faults.faults(),
    })
    .map_err(|e| e.to_string())
}
