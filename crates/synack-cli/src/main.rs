use clap::{Parser, Subcommand};

/// synack: a userspace TCP/IP stack you can watch at work.
#[derive(Parser)]
#[command(name = "synack", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run two hosts on a simulated network and show what TCP does between them.
    Demo,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => {
            println!("synack demo: the simulated network and TCP core are still being built.");
        }
    }
}
