//! Ctrl-C: SIGINT and SIGTERM are blocked in every thread and taken by one waiting thread
//! with `sigwait`, so the process finishes its closes and deletes its namespace instead of
//! dying with them half done.

use std::io;
use std::sync::mpsc;

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards
/// (so call it first), and returns a channel that receives the signal's number once.
pub fn take_interrupts() -> io::Result<mpsc::Receiver<i32>> {
    // SAFETY: the sigset is initialised by sigemptyset before any other use; pthread_sigmask
    // changes only this thread's mask, inherited by threads spawned from here on.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        set
    };
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("synack-signals".into())
        .spawn(move || {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is a valid signal set and `sig` a place for the result.
            let rc = unsafe { libc::sigwait(&set, &mut sig) };
            if rc == 0 {
                let _ = tx.send(sig);
            }
        })?;
    Ok(rx)
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
