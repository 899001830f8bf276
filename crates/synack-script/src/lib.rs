//! packetdrill-format scripts run against synack on virtual time.
//!
//! - [`socket`]: BSD sockets emulated over a `synack_proto::host::Host` (file descriptors,
//!   errno values, socket options mapped to synack's knobs). The script runner uses it, and so
//!   can a C-ABI shim.
//! - [`errno`]: Linux's errno names and numbers.
//! - [`parser`] and [`ast`]: the packetdrill script language.
//! - [`knobs`]: the settings (sysctls and synack's own) that sysctl lines and the
//!   packetdrill library's `--so_flags` share.

pub mod assert;
pub mod ast;
pub mod errno;
pub mod knobs;
pub mod packet;
pub mod parser;
pub mod runner;
pub mod shell;
pub mod socket;
pub mod symbols;

pub use errno::Errno;
pub use parser::{ParseError, parse};
pub use runner::{Failure, FailureKind, IpVersion, Report, RunConfig, run_script};
pub use socket::{OptText, OptValue, SockError, SockResult, Stack};

/// The `.pkt` files under `dir` and its subdirectories, sorted: a suite such as
/// `tests/scripts/`, which groups its scripts by topic.
pub fn scripts_under(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "pkt") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
