//! A thread (or task) waiting on a socket wakes when another handle of the same socket
//! changes what it waits for: a shutdown from a clone, a close of the last other handle.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

mod common;
#[path = "common/pair.rs"]
mod pair;

use pair::connected;

/// Longer than any wakeup takes, short enough that a missed one fails the test rather than
/// hanging it.
const PATIENCE: Duration = Duration::from_secs(10);

/// Waits until the thread whose `stat` file this is sleeps in the kernel (state `S`: for a
/// call blocked on a socket, its condition-variable wait), within `PATIENCE`. Were it asleep
/// somewhere on the way there instead, the call must still see what `other` changed when it
/// gets there, so the test holds either way; waiting for the state makes the wakeup itself
/// the usual case.
fn asleep(stat: &Path) {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        let line = fs::read_to_string(stat).expect("the blocked thread's stat");
        // `pid (comm) S ...`: the state follows the last ')', as comm may hold one.
        let state = line.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        if state == Some(Some('S')) {
            return;
        }
        thread::yield_now();
    }
    panic!("the blocked call never went to sleep");
}

/// Runs `blocked` on a thread of its own, lets it fall asleep, then runs `other`; the
/// blocked call must return within `PATIENCE`, and its result is handed back.
fn wakes<T: Send + 'static>(
    blocked: impl FnOnce() -> T + Send + 'static,
    other: impl FnOnce(),
) -> T {
    let (tid_tx, tid_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tid_tx.send(fs::read_link("/proc/thread-self").ok());
        let _ = tx.send(blocked());
    });
    let thread = tid_rx.recv().unwrap().expect("/proc/thread-self");
    asleep(&Path::new("/proc").join(thread).join("stat"));
    other();
    rx.recv_timeout(PATIENCE)
        .expect("the blocked call was never woken")
}

#[test]
fn a_read_wakes_when_a_clone_shuts_reading() {
    let (c, _s, _stacks) = connected(80);
    let mut reader = c.try_clone().unwrap();
    let n = wakes(
        move || reader.read(&mut [0; 64]).map_err(|e| e.kind()),
        || c.shutdown(Shutdown::Read).unwrap(),
    );
    assert_eq!(n, Ok(0), "end of stream after shutdown(Read)");
}

#[test]
fn a_read_wakes_when_a_clone_shuts_both_ways() {
    let (c, mut s, _stacks) = connected(81);
    let mut reader = c.try_clone().unwrap();
    let n = wakes(
        move || reader.read(&mut [0; 64]).map_err(|e| e.kind()),
        || c.shutdown(Shutdown::Both).unwrap(),
    );
    assert_eq!(n, Ok(0));
    // The peer sees our FIN.
    assert_eq!(s.read(&mut [0; 64]).unwrap(), 0);
}

#[test]
fn a_write_wakes_when_a_clone_shuts_writing() {
    let (c, _s, _stacks) = connected(82);
    c.set_send_buffer_size(4096).unwrap();
    let mut writer = c.try_clone().unwrap();
    // The peer never reads: its window and our send buffer fill, and the write sleeps.
    let r = wakes(
        move || {
            let chunk = [7u8; 16 * 1024];
            loop {
                if let Err(e) = writer.write(&chunk) {
                    return e.kind();
                }
            }
        },
        || c.shutdown(Shutdown::Write).unwrap(),
    );
    assert_eq!(r, ErrorKind::BrokenPipe);
}
