//! An instruction count of one fixed workload — a handshake, 1 MiB one way, the close from
//! both ends — on virtual time, so the count repeats to the instruction on a noisy machine and
//! catches regressions that timings cannot. `valgrind --tool=callgrind` runs this same binary
//! with `bench --fixed-workload` and counts only inside [`fixed_workload`].

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use synack_proto::Instant;
use synack_proto::host::{Host, HostConfig, HostEvent};

use crate::Error;

/// Bytes the fixed workload moves.
pub const FIXED_BYTES: usize = 1 << 20;

/// The bytes the fixed workload sends, made outside the counted function.
pub fn fixed_data() -> Vec<u8> {
    (0..FIXED_BYTES)
        .map(|i| (i * 31 + (i >> 11)) as u8)
        .collect()
}

/// Handshake, `data` from client to server, close from both ends, every packet through the
/// IP layer with checksums, on a virtual clock advanced 10 µs per step. Returns the bytes the
/// server read.
#[inline(never)]
pub fn fixed_workload(data: &[u8]) -> usize {
    let config = HostConfig {
        secret: 0x1c0de,
        ..HostConfig::default()
    };
    let (mut a, mut b) = (Host::new(config.clone()), Host::new(config));
    let to: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let from: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let listener = b.listen(to, 16).expect("listen");
    let mut now = Instant::from_millis(1);
    let c = a.connect(now, from, to).expect("connect");
    let (mut buf, mut read) = (vec![0u8; 65536], vec![0u8; 65536]);
    let (mut sent, mut got) = (0, 0);
    let mut server = None;
    let (mut a_closed, mut b_closed) = (false, false);
    for _ in 0..1_000_000 {
        now += Duration::from_micros(10);
        if sent < data.len() {
            sent += a.send(c, &data[sent..]).unwrap_or(0);
        } else if !a_closed {
            a.close(now, c).expect("close");
            a_closed = true;
        }
        let mut moved = false;
        while let Some(n) = a.poll_transmit(now, &mut buf).map(|t| t.len) {
            b.handle_packet(now, &buf[..n]);
            moved = true;
        }
        while let Some(e) = b.poll_event() {
            if let HostEvent::Accepted { .. } = e {
                server = b.accept(listener);
            }
        }
        if let Some(s) = server {
            loop {
                match b.recv(s, &mut read) {
                    Ok(n @ 1..) => got += n,
                    Ok(_) if got == data.len() && !b_closed => {
                        b.close(now, s).expect("close");
                        b_closed = true;
                        break;
                    }
                    _ => break,
                }
            }
        }
        while let Some(n) = b.poll_transmit(now, &mut buf).map(|t| t.len) {
            a.handle_packet(now, &buf[..n]);
            moved = true;
        }
        while a.poll_event().is_some() {}
        if a_closed && b_closed && !moved && b.connection_count() == 0 {
            break;
        }
        for h in [&mut a, &mut b] {
            if h.poll_timeout().is_some_and(|t| t <= now) {
                h.handle_timeout(now);
            }
        }
    }
    got
}

/// Instructions executed inside [`fixed_workload`], counted by callgrind running `exe`.
pub fn count(exe: &Path) -> Result<u64, Error> {
    let out = std::env::temp_dir().join(format!("synack-callgrind.{}", std::process::id()));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--toggle-collect=*fixed_workload*")
        .arg(exe)
        .args(["bench", "--fixed-workload"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let status = match status {
        Ok(s) => s,
        Err(e) => return Err(Error::Unavailable(format!("valgrind not runnable: {e}"))),
    };
    let text = std::fs::read_to_string(&out);
    let _ = std::fs::remove_file(&out);
    if !status.success() {
        return Err(Error::Stack(format!("valgrind exited with {status}")));
    }
    let text = text.map_err(|e| Error::Stack(format!("callgrind output: {e}")))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| Error::Stack("no totals in callgrind output".into()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixed_workload_moves_every_byte_and_closes() {
        assert_eq!(
            super::fixed_workload(&super::fixed_data()),
            super::FIXED_BYTES
        );
    }
}
