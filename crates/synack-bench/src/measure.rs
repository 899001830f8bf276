//! Clocks, medians, and the bound on a wait for the in-memory link to go quiet.

use std::time::{Duration, Instant as Wall};

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used are always present on
    // Linux.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of the calling thread: what one stack's single event loop costs, however busy
/// the machine is with other work.
pub fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of every thread of this process, user and kernel: the kernel benches run a
/// client and a server thread and their TCP work happens inside their system calls.
pub fn process_cpu() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Bounds a wait on the in-memory link, which only a bug makes last (not a slow machine), while
/// reading the wall clock only every 1,024 rounds: a reading costs some 20 ns of CPU (a vDSO
/// call; more in some VMs), as much as a good part of a small segment's handling, and a
/// lifecycle waits a few dozen rounds. Read every round, it would bill the harness to the
/// stack; both in-process stacks' harnesses wait through this.
pub struct Stall {
    limit: Duration,
    rounds: u32,
    deadline: Option<Wall>,
}

impl Stall {
    pub fn new(limit: Duration) -> Stall {
        Stall {
            limit,
            rounds: 0,
            deadline: None,
        }
    }

    /// Counts a round; whether the wait has gone on past the limit (counted from the
    /// 1,024th round).
    pub fn expired(&mut self) -> bool {
        self.rounds = self.rounds.wrapping_add(1);
        if self.rounds % 1024 != 0 {
            return false;
        }
        let now = Wall::now();
        now > *self.deadline.get_or_insert(now + self.limit)
    }
}

/// Runs `f` `runs` times and returns the median of what it measured, or the first error.
pub fn median_of<E>(runs: usize, mut f: impl FnMut() -> Result<f64, E>) -> Result<f64, E> {
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        v.push(f()?);
    }
    Ok(median(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_declared_only_once_the_limit_has_passed() {
        let mut quick = Stall::new(Duration::from_secs(3600));
        assert!((0..10_000).all(|_| !quick.expired()));
        let mut zero = Stall::new(Duration::ZERO);
        let rounds = (1..=1_000_000).find(|_| zero.expired());
        // The clock is first read at round 1,024 (the deadline starts there) and next at 2,048.
        assert_eq!(rounds, Some(2048));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        let mut k = 0.0;
        let m: Result<f64, ()> = median_of(3, || {
            k += 1.0;
            Ok(k * 10.0)
        });
        assert_eq!(m, Ok(20.0));
    }
}
