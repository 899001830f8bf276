//! One packetdrill run: synack's socket [`Stack`], the virtual clock the library owns, the
//! queue of packets synack sent, and the machinery that lets a call block.
//!
//! ## Threads
//!
//! packetdrill calls the netdev and clock hooks (and calls the script does not expect to
//! block) from its main thread, and hands a call the script marks as blocking (`...` in its
//! time) to a second, syscall thread, then waits until that thread sleeps. Everything here
//! sits behind one `Mutex`; a call that would block registers itself as a *waiter* and sleeps
//! on a `Condvar` (a real sleep, which is what packetdrill looks for in
//! `/proc/.../task/TID/stat`), retrying whenever the world changes.
//!
//! ## Time
//!
//! The clock is virtual and only moves when packetdrill's hooks move it: `usleep` by the
//! amount asked, `gettimeofday` by [`Settings::tick_us`], and `netdev_receive` to the next
//! timer when nothing is queued. While it moves, every synack timer on the way fires at its
//! own deadline, in order, and every packet synack sends is stamped with the time it left.
//!
//! Every change (a packet in, a clock step, a call finishing) bumps a *generation*. Before
//! the clock moves on and before `netdev_receive` decides nothing is queued, the library
//! waits until each waiter has retried at the current generation, so a blocked call sees
//! each event at the virtual time it happened, never later. And once a blocked call has
//! returned, the clock also waits (briefly, in real time) for that thread's next call into
//! the library: packetdrill's syscall thread reads the clock right after a blocking call
//! returns (`end_syscall` in run_system_call.c) to check the call's end time, and the main
//! thread must not have moved the clock on in the meantime.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant as RealInstant};

use libc::c_int;
use synack_proto::Instant;
use synack_script::socket::epoll::Epolls;
use synack_script::{SockError, Stack};

use crate::flags::Settings;

/// Source of active opens when `local=` named no address of the family: inside the
/// address ranges packetdrill's defaults use for the local side (192.168.0.0/16 and
/// fd3d:fa7b:d17d::/48). packetdrill learns the source of an active open from its SYN, so any
/// address works; these just look like what a packetdrill user expects to see.
pub const DEFAULT_SOURCE_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
pub const DEFAULT_SOURCE_V6: Ipv6Addr = Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0, 1);

/// How long (real time) the clock waits for blocked calls to retry before moving on anyway.
/// A waiter only needs the mutex to retry, so this bound is reached only if a thread is
/// starved; it keeps a bug from turning into a hang.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(2);

/// How long (real time) the clock waits for a thread whose blocked call returned to call
/// into the library again (to read the clock). packetdrill does so at once; the bound only
/// has to outlast a descheduled thread on a loaded machine. A caller that never calls back
/// costs this once per blocked call.
const RETURN_LIMIT: Duration = Duration::from_secs(1);

/// Timer firings one clock move may take before it gives up stepping and jumps (a timer
/// that keeps re-arming at the same instant must not spin forever).
const MAX_STEPS: usize = 100_000;

/// The largest datagram synack may hand us.
const MAX_DATAGRAM: usize = 65_535;

/// A packet synack sent, with the virtual time (µs) it left.
#[derive(Clone, Debug)]
pub struct Outbound {
    pub at_us: u64,
    pub bytes: Vec<u8>,
}

/// A call waiting for the world to change.
#[derive(Clone, Copy, Debug)]
struct Waiter {
    /// The generation it last retried at.
    seen: u64,
    /// Virtual time it gives up at (`poll`'s timeout).
    until: Option<u64>,
}

/// Everything behind the lock.
pub struct World {
    pub stack: Stack,
    /// Virtual time, µs.
    pub now: u64,
    pub out: VecDeque<Outbound>,
    generation: u64,
    waiters: BTreeMap<u64, Waiter>,
    next_waiter: u64,
    /// Threads whose blocked call returned and which have not called in since, with the
    /// real time the call returned.
    returning: HashMap<ThreadId, RealInstant>,
    /// Next port tried for an active open the library binds itself (no `local=`).
    pub next_port: u16,
    /// The descriptors handed out (see [`crate::fds`]) → the stack's own numbers.
    pub fds: BTreeMap<c_int, i32>,
    /// The epoll instances handed out, by descriptor (see [`crate::epoll`]).
    pub epolls: Epolls,
    scratch: Vec<u8>,
}

impl World {
    /// The stack's descriptor behind one the library handed out; `ENOTSOCK` for an epoll
    /// instance, `EBADF` for any other number (packetdrill's own descriptors among them).
    pub fn sfd(&self, fd: c_int) -> Result<i32, c_int> {
        match self.fds.get(&fd) {
            Some(&sfd) => Ok(sfd),
            None if self.epolls.contains(fd) => Err(libc::ENOTSOCK),
            None => Err(libc::EBADF),
        }
    }

    pub fn instant(&self) -> Instant {
        Instant::from_micros(self.now)
    }

    /// Queues what synack sends now, stamped with the current time.
    pub fn flush(&mut self) {
        let now = self.instant();
        while let Some(n) = self.stack.poll_transmit(now, &mut self.scratch) {
            let n = n.min(self.scratch.len());
            self.out.push_back(Outbound {
                at_us: self.now,
                bytes: self.scratch[..n].to_vec(),
            });
        }
    }

    /// Records that the world changed, so waiters retry.
    pub fn bump(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Whether every blocked call has seen the current generation and every thread whose
    /// blocked call returned has called back in (or took too long to).
    fn caught_up(&mut self) -> bool {
        let now = RealInstant::now();
        self.returning
            .retain(|_, at| now.saturating_duration_since(*at) < RETURN_LIMIT);
        self.returning.is_empty() && self.waiters.values().all(|w| w.seen == self.generation)
    }

    fn earliest_until(&self) -> Option<u64> {
        self.waiters.values().filter_map(|w| w.until).min()
    }

    /// The next virtual time something is scheduled: a synack timer or a waiter's timeout.
    pub fn next_event(&self) -> Option<u64> {
        let timer = self.stack.poll_timeout().map(Instant::as_micros);
        match (timer, self.earliest_until()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What one attempt of a call came to.
pub enum Step<T> {
    Done(Result<T, c_int>),
    /// Would block: retry when the world changes, or give up at virtual time `until`.
    Wait {
        until: Option<u64>,
    },
}

/// Maps the socket layer's refusal to an errno, saying why when synack lacks the feature.
pub fn errno(e: SockError, quiet: bool) -> c_int {
    match e {
        SockError::Errno(e) => e.code(),
        SockError::Unsupported(what) => {
            if !quiet {
                eprintln!("synack-packetdrill: unsupported by synack: {what}");
            }
            libc::EOPNOTSUPP
        }
    }
}

/// One run, as `userdata` points to it.
pub struct Instance {
    world: Mutex<World>,
    changed: Condvar,
    /// The thread that called `packetdrill_interface_init`: packetdrill's main thread.
    main_thread: ThreadId,
    pub settings: Settings,
    /// Why the run cannot work (bad `--so_flags`); every call then fails with `EINVAL`.
    pub broken: Option<String>,
}

impl Instance {
    pub fn new(settings: Settings) -> Instance {
        let (stack, broken) = match settings.stack() {
            Ok(stack) => (stack, None),
            Err(why) => (Stack::new(settings.host.clone()), Some(why)),
        };
        let world = World {
            stack,
            now: 0,
            out: VecDeque::new(),
            generation: 0,
            waiters: BTreeMap::new(),
            next_waiter: 0,
            returning: HashMap::new(),
            next_port: *settings.host.ephemeral_ports.start(),
            fds: BTreeMap::new(),
            epolls: Epolls::new(),
            scratch: vec![0; MAX_DATAGRAM],
        };
        Instance {
            world: Mutex::new(world),
            changed: Condvar::new(),
            main_thread: thread::current().id(),
            settings,
            broken,
        }
    }

    /// An instance every call of which fails: `packetdrill_interface_init` has no way to
    /// report an error, so a bad flag surfaces at the script's first call.
    pub fn broken(why: String) -> Instance {
        let mut i = Instance::new(Settings::default());
        i.broken = Some(why);
        i
    }

    pub fn lock(&self) -> Result<MutexGuard<'_, World>, c_int> {
        if self.broken.is_some() {
            return Err(libc::EINVAL);
        }
        // A panic while the lock was held (caught at the FFI boundary) may have left the
        // stack half-updated: refuse to go on rather than guess.
        let mut w = self.world.lock().map_err(|_| libc::EIO)?;
        if w.returning.remove(&thread::current().id()).is_some() {
            // The clock may be waiting for this thread to call back in.
            self.changed.notify_all();
        }
        Ok(w)
    }

    fn wait<'a>(&self, w: MutexGuard<'a, World>) -> Result<MutexGuard<'a, World>, c_int> {
        self.changed.wait(w).map_err(|_| libc::EIO)
    }

    fn wait_timeout<'a>(
        &self,
        w: MutexGuard<'a, World>,
        d: Duration,
    ) -> Result<MutexGuard<'a, World>, c_int> {
        self.changed
            .wait_timeout(w, d)
            .map(|(w, _)| w)
            .map_err(|_| libc::EIO)
    }

    /// Bumps the generation and wakes everyone waiting on it.
    pub fn changed(&self, w: &mut World) {
        w.bump();
        self.changed.notify_all();
    }

    /// Waits (real time, bounded) until every blocked call has retried at the current
    /// generation.
    fn catch_up<'a>(&self, mut w: MutexGuard<'a, World>) -> Result<MutexGuard<'a, World>, c_int> {
        let give_up = RealInstant::now() + CATCH_UP_LIMIT;
        while !w.caught_up() {
            let left = give_up.saturating_duration_since(RealInstant::now());
            if left.is_zero() {
                break;
            }
            // Wake at least when a returning thread's grace runs out.
            w = self.wait_timeout(w, left.min(RETURN_LIMIT))?;
        }
        Ok(w)
    }

    /// Moves the clock to `target`, stopping at every synack timer and waiter timeout on the
    /// way: each fires at its own deadline, what it sends is stamped with that time, and
    /// blocked calls see it before the clock moves further.
    pub fn advance<'a>(
        &self,
        mut w: MutexGuard<'a, World>,
        target: u64,
    ) -> Result<MutexGuard<'a, World>, c_int> {
        for _ in 0..MAX_STEPS {
            w = self.catch_up(w)?;
            match w.next_event() {
                Some(t) if t <= target => {
                    w.now = w.now.max(t);
                    let now = w.instant();
                    w.stack.handle_timeout(now);
                    w.flush();
                    self.changed(&mut w);
                }
                _ => break,
            }
        }
        if target > w.now {
            w.now = target;
            self.changed(&mut w);
        }
        self.catch_up(w)
    }

    /// Runs a call that may block. `attempt` is retried under the lock until it is done;
    /// between attempts the caller sleeps until the world changes. On packetdrill's main
    /// thread nobody else can deliver a packet or move the clock, so there a blocked call
    /// lets virtual time run to the next scheduled event, as the kernel's clock keeps running
    /// while a process sleeps; with nothing scheduled it could never return, and fails with
    /// `EDEADLK` instead of hanging.
    pub fn call<T>(&self, mut attempt: impl FnMut(&mut World) -> Step<T>) -> Result<T, c_int> {
        let mut w = self.lock()?;
        let mut me: Option<u64> = None;
        let on_main = thread::current().id() == self.main_thread;
        let mut idle_steps = 0usize;
        loop {
            let step = attempt(&mut w);
            w.flush();
            match step {
                Step::Done(r) => {
                    if let Some(id) = me {
                        w.waiters.remove(&id);
                        w.returning
                            .insert(thread::current().id(), RealInstant::now());
                    }
                    self.changed(&mut w);
                    return r;
                }
                Step::Wait { until } => {
                    if on_main {
                        // Nobody else runs while this thread waits, so it needs no waiter
                        // entry: it moves the clock itself, to its own timeout or the next
                        // scheduled event, whichever comes first.
                        let next = match (w.next_event(), until) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        let Some(t) = next.filter(|_| idle_steps < MAX_STEPS) else {
                            return Err(libc::EDEADLK);
                        };
                        idle_steps += 1;
                        let target = t.max(w.now);
                        w = self.advance(w, target)?;
                        continue;
                    }
                    let id = match me {
                        Some(id) => id,
                        None => {
                            let id = w.next_waiter;
                            w.next_waiter += 1;
                            me = Some(id);
                            id
                        }
                    };
                    let seen = w.generation;
                    w.waiters.insert(id, Waiter { seen, until });
                    // The clock or netdev_receive may be waiting for us to catch up.
                    self.changed.notify_all();
                    while w.generation == seen {
                        w = self.wait(w)?;
                    }
                }
            }
        }
    }

    /// `usleep`: the clock moves by `us`.
    pub fn sleep(&self, us: u64) -> Result<(), c_int> {
        let w = self.lock()?;
        let target = w.now.saturating_add(us);
        drop(self.advance(w, target)?);
        Ok(())
    }

    /// `gettimeofday`: the clock moves by one tick and reports where it is. packetdrill
    /// sleeps until just short of an event and then spins on the clock for the last
    /// stretch (`wait_for_event` in run.c; the first event it reaches by spinning alone), so a
    /// clock that only `usleep` moved would keep it spinning forever.
    pub fn now_ticking(&self) -> Result<u64, c_int> {
        let w = self.lock()?;
        let target = w.now.saturating_add(self.settings.tick_us);
        let w = self.advance(w, target)?;
        Ok(w.now)
    }

    /// `netdev_send`: one IP datagram into synack.
    pub fn inject(&self, packet: &[u8]) -> Result<(), c_int> {
        let mut w = self.lock()?;
        let now = w.instant();
        w.stack.handle_packet(now, packet);
        w.flush();
        self.changed(&mut w);
        Ok(())
    }

    /// `netdev_receive`: the next packet synack sent, taken off the queue if it fits in
    /// `capacity` bytes. With nothing queued the clock runs to the next scheduled event
    /// (packetdrill asks for an outbound packet without sleeping first, so nothing else would
    /// move it). `Ok(None)` means nothing can ever be sent: no packet queued, nothing
    /// scheduled, and no call changed anything for [`Settings::idle`] of real time.
    pub fn next_outbound(&self, capacity: usize) -> Result<Option<Outbound>, c_int> {
        let mut w = self.lock()?;
        let mut idle_since: Option<RealInstant> = None;
        for _ in 0..MAX_STEPS {
            w = self.catch_up(w)?;
            if let Some(p) = w.out.front() {
                if p.bytes.len() > capacity {
                    return Err(libc::EINVAL);
                }
                return Ok(w.out.pop_front());
            }
            if let Some(t) = w.next_event() {
                idle_since = None;
                let target = t.max(w.now);
                w = self.advance(w, target)?;
                continue;
            }
            // Nothing scheduled: only a call that has not reached the library yet (packetdrill
            // hands a blocking call to its syscall thread and moves on once that thread
            // sleeps) could still make synack send.
            let since = *idle_since.get_or_insert_with(RealInstant::now);
            let left = self.settings.idle.saturating_sub(since.elapsed());
            if left.is_zero() {
                return Ok(None);
            }
            let before = w.generation;
            w = self.wait_timeout(w, left)?;
            if w.generation != before {
                idle_since = None;
            }
        }
        // Timers kept firing without sending anything; let the caller ask again.
        Err(libc::EAGAIN)
    }

    /// A socket call that never blocks.
    pub fn simple<T>(&self, f: impl FnOnce(&mut World) -> Result<T, c_int>) -> Result<T, c_int> {
        let mut w = self.lock()?;
        let r = f(&mut w);
        w.flush();
        self.changed(&mut w);
        r
    }

    /// The address an active open from a socket with no local address starts from.
    pub fn default_source(&self, ipv6: bool) -> IpAddr {
        if ipv6 {
            IpAddr::V6(DEFAULT_SOURCE_V6)
        } else {
            IpAddr::V4(DEFAULT_SOURCE_V4)
        }
    }

    /// The port range the library's own bind for an active open walks.
    pub fn ephemeral(&self) -> (u16, u16) {
        let r = &self.settings.host.ephemeral_ports;
        (*r.start(), *r.end())
    }

    pub fn quiet(&self) -> bool {
        self.settings.quiet
    }

    /// For tests: the packets queued and the clock, without moving anything.
    pub fn peek(&self) -> Result<(usize, u64), c_int> {
        let w = self.lock()?;
        Ok((w.out.len(), w.now))
    }
}
