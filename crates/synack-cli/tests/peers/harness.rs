//! The harness for the real-peer tests: namespaces named with our pid, the `synack` binary
//! as a child process, kernel-side programs run with `ip netns exec`, and every wait bounded.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// How long any one program may run before the test calls it hung.
pub const PATIENCE: Duration = Duration::from_secs(120);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether the test can run: root, /dev/net/tun and `ip`. Without them it skips loudly,
/// unless SYNACK_REQUIRE_NETNS=1 (CI), where it fails.
pub fn netns_available(test: &str) -> bool {
    let Some(why) = synack::netns::unavailable() else {
        return true;
    };
    if std::env::var("SYNACK_REQUIRE_NETNS").as_deref() == Ok("1") {
        panic!("{test}: SYNACK_REQUIRE_NETNS=1 but network namespaces are unavailable: {why}");
    }
    eprintln!("SKIPPED {test}: needs root and network namespaces ({why})");
    false
}

/// A namespace name unique to this process and test.
pub fn ns_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("sk{}-{n}-{tag}", std::process::id())
}

pub fn ns_exists(name: &str) -> bool {
    Path::new(&format!("/run/netns/{name}")).exists()
}

/// Deletes the namespace on drop if it still exists (a test that failed half-way).
pub struct NsGuard(pub String);

impl NsGuard {
    /// Creates the namespace with `ip netns add`, loopback up.
    pub fn create(name: &str) -> NsGuard {
        let g = NsGuard(name.to_string());
        let out = Command::new("ip")
            .args(["netns", "add", name])
            .output()
            .expect("run ip");
        assert!(out.status.success(), "ip netns add: {out:?}");
        let out = Command::new("ip")
            .args(["-n", name, "link", "set", "lo", "up"])
            .output()
            .expect("run ip");
        assert!(out.status.success(), "ip link set lo up: {out:?}");
        g
    }
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        if ns_exists(&self.0) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
}

/// Runs `cmd` to completion with `stdin` fed to it, failing the test after `PATIENCE`.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = input.write_all(&data);
    });
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(PATIENCE) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            kill(pid, libc::SIGKILL);
            panic!("{cmd:?} did not finish within {PATIENCE:?}");
        }
    };
    let _ = feeder.join();
    out
}

/// Runs a Python program inside namespace `ns`; fails the test unless it exits 0.
/// Returns its stdout.
pub fn python(ns: &str, program: &str, stdin: &[u8]) -> String {
    let out = run(
        Command::new("ip").args(["netns", "exec", ns, "python3", "-c", program]),
        stdin,
    );
    assert!(
        out.status.success(),
        "python in {ns} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn kill(pid: u32, sig: i32) {
    // SAFETY: kill takes a pid and a signal; the pid is our own child's.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// A process whose output lines are read as they come, so a test waits for one.
pub struct Watched {
    pub child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
    stderr: Receiver<String>,
}

impl Watched {
    pub fn spawn(cmd: &mut Command) -> Watched {
        Watched::start(cmd.stdin(Stdio::null()))
    }

    /// Like `spawn`, with a pipe to the process's stdin in `child.stdin`.
    pub fn spawn_with_stdin(cmd: &mut Command) -> Watched {
        Watched::start(cmd.stdin(Stdio::piped()))
    }

    fn start(cmd: &mut Command) -> Watched {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let lines = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        Watched {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// Writes `line` to the process's stdin (the pipe of `spawn_with_stdin`) and closes it.
    pub fn say(&mut self, line: &str) {
        use std::io::Write;
        let mut stdin = self.child.stdin.take().expect("stdin");
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a stdout line containing `text`; returns it.
    pub fn wait_for(&mut self, text: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {text:?} within {timeout:?}; stdout so far:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.stderr_so_far()
                ),
            }
        }
    }

    /// The stderr lines written so far (without waiting).
    pub fn stderr_so_far(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Every stderr line, once the process has ended.
    pub fn stderr_all(&self) -> String {
        let mut all = Vec::new();
        while let Ok(l) = self.stderr.recv_timeout(PATIENCE) {
            all.push(l);
        }
        all.join("\n")
    }
}

fn lines_of(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// `synack serve` running in its own namespace.
pub struct Serve {
    pub proc: Watched,
    pub ns: String,
    _guard: NsGuard,
    stopped: bool,
}

impl Serve {
    /// Starts `synack serve --netns NS ARGS…` and waits until it is serving.
    pub fn start(tag: &str, args: &[&str]) -> Serve {
        Serve::command("serve", tag, args)
    }

    /// Starts `synack COMMAND --netns NS ARGS…` (serve or relay) and waits until it runs.
    pub fn command(command: &str, tag: &str, args: &[&str]) -> Serve {
        let ns = ns_name(tag);
        let mut proc = Watched::spawn(
            Command::new(env!("CARGO_BIN_EXE_synack"))
                .args([command, "--netns", &ns])
                .args(args),
        );
        // The guard only after the process is there: it made the namespace.
        let guard = NsGuard(ns.clone());
        proc.wait_for("Ctrl-C", Duration::from_secs(30));
        assert!(ns_exists(&ns), "serve did not create {ns}");
        Serve {
            proc,
            ns,
            _guard: guard,
            stopped: false,
        }
    }

    /// Ctrl-C: waits for the process to close its connections, delete its namespace and
    /// exit 0. Returns its stderr (the state log).
    pub fn stop(mut self) -> String {
        self.stopped = true;
        kill(self.proc.child.id(), libc::SIGINT);
        let ns = self.ns.clone();
        self.proc.wait_for(&format!("{ns} deleted"), PATIENCE);
        let status = self.proc.child.wait().expect("wait for serve");
        let log = self.proc.stderr_all();
        assert!(status.success(), "serve exited with {status}:\n{log}");
        assert!(!ns_exists(&ns), "serve left namespace {ns} behind");
        log
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if !self.stopped {
            kill(self.proc.child.id(), libc::SIGKILL);
            let _ = self.proc.child.wait();
        }
    }
}

pub fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()))
}

/// The body `/bytes/N` serves.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
