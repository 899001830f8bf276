//! The stack: a [`SocketTable`] (the host and its sockets) behind a mutex, the real clock, and
//! who waits for what. What `connect`, `recv`, `shutdown` and `close` mean (Linux's answers:
//! an error reported once, then end of stream) is the table's, shared with the script runner;
//! this file adds the waiting, and turns the table's errors into `io::Error`s.
//!
//! Waiting is device-independent: a blocked thread sleeps on its connection's `Condvar`, a
//! task leaves its `Waker`; the driver, after feeding the host, turns host events into
//! wakeups. Both sides hold the mutex while they check and while they wake, so no wakeup is
//! lost between a check and a sleep.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use synack_proto::host::HostConfig;
use synack_proto::{CongestionControl, ConnError, Info, Instant};
use synack_socket::{SockOpt, SocketError, SocketEvent, SocketId, SocketTable};

use crate::device::{Batch, Capabilities};
use crate::error::{socket_error, stopped};
use crate::sys::EventFd;

/// What a task waits for.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
    Accept,
}

/// Who waits on one socket: threads on the condition variable, tasks by their wakers.
#[derive(Default)]
struct Waiters {
    cv: Arc<Condvar>,
    /// Threads asleep on `cv`, counted under the stack's lock, and how many of them a notify
    /// has already woken (they have not yet taken the lock back). A notify costs a system
    /// call even with nobody to wake, and the driver would otherwise pay it for every
    /// segment that makes a socket readable or writable.
    sleepers: usize,
    woken: usize,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
    /// Every task waiting in `accept` (several may share a listener).
    accept_wakers: Vec<Waker>,
}

impl Waiters {
    fn notify_sleepers(&mut self) {
        if self.sleepers > self.woken {
            self.cv.notify_all();
            self.woken = self.sleepers;
        }
    }

    /// A sleeper has the lock back, notified or not (a timeout, a spurious wakeup): `woken`
    /// may undercount then, which costs a needless notify, never a missed one.
    fn awake(&mut self) {
        self.sleepers -= 1;
        self.woken = self.woken.saturating_sub(1).min(self.sleepers);
    }

    fn wake(&mut self) {
        self.notify_sleepers();
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
        for w in self.accept_wakers.drain(..) {
            w.wake();
        }
    }
}

pub(crate) struct Inner {
    table: SocketTable,
    waiters: HashMap<SocketId, Waiters>,
    stopped: bool,
    /// Callers of `wait_idle`, woken when the host holds no connection.
    idle: Arc<Condvar>,
    idle_waiters: usize,
    /// Who is told of every state change (see [`crate::Stack::on_state_change`]).
    observer: Option<crate::observe::Observer>,
}

fn io<T>(r: Result<T, SocketError>) -> io::Result<T> {
    r.map_err(socket_error)
}

/// What the driver and the sockets share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the driver so what a user call queued goes out now, not at the next timer.
    kick: EventFd,
    kicked: AtomicBool,
    epoch: std::time::Instant,
}

impl Shared {
    pub(crate) fn new(mut config: HostConfig, caps: Capabilities) -> io::Result<Shared> {
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).map_err(|e| io::Error::other(e.to_string()))?;
        // The keyed hashes (demux, ISNs, ports, cookies) need a secret no peer can guess
        // (RFC 6528 §3); the core never draws it, the runtime does.
        config.secret = u128::from_le_bytes(secret);
        // Each connection announces the MSS the device's MTU leaves for its address family
        // (`Config::mss_for`).
        config.tcp.mtu = u16::try_from(caps.mtu).unwrap_or(u16::MAX);
        // The device, not the caller, knows whether it cuts super-segments: where nothing
        // would, the host must send none.
        config.segmentation_offload = caps.segmentation_offload;
        // Likewise the checksums: a device that finishes them on send and checks (or
        // vouches for) them on receive spares the host a pass over every byte both ways.
        config.checksum_offload = caps.checksum_offload;
        let mut table = SocketTable::new(config);
        table.keep_events();
        Ok(Shared {
            inner: Mutex::new(Inner {
                table,
                waiters: HashMap::new(),
                stopped: false,
                idle: Arc::default(),
                idle_waiters: 0,
                observer: None,
            }),
            kick: EventFd::new()?,
            kicked: AtomicBool::new(false),
            epoch: std::time::Instant::now(),
        })
    }

    /// The host's clock: microseconds since the stack started.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the host as consistent as after any
        // call: keep serving the other sockets.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the driver (once per batch of calls).
    pub(crate) fn kick(&self) {
        if !self.kicked.swap(true, Ordering::AcqRel) {
            self.kick.signal();
        }
    }

    pub(crate) fn kick_fd(&self) -> &EventFd {
        &self.kick
    }

    /// The driver calls this before it looks at the host, so a kick after that is seen.
    pub(crate) fn take_kick(&self) {
        self.kicked.store(false, Ordering::Release);
        self.kick.clear();
    }

    /// Waits until the host holds no connection (every one closed, those in TIME-WAIT kept
    /// as compact entries only) or `timeout` passes; returns whether it did.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut inner = self.lock();
        inner.idle_waiters += 1;
        let idle = loop {
            if inner.table.host().connection_count() == 0 {
                break true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || inner.stopped {
                break false;
            }
            let cv = inner.idle.clone();
            inner = cv
                .wait_timeout(inner, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        inner.idle_waiters -= 1;
        idle
    }

    pub(crate) fn stop(&self) {
        let mut inner = self.lock();
        inner.stopped = true;
        inner.idle.notify_all();
        for w in inner.waiters.values_mut() {
            w.wake();
        }
        drop(inner);
        self.kick.signal();
    }

    /// Runs `op` until it stops answering `WouldBlock`, sleeping on the socket between
    /// tries; `deadline` turns a long wait into `WouldBlock` (what std's socket timeouts
    /// give on Unix), `nonblocking` returns the first `WouldBlock` as is.
    pub(crate) fn block_on<T>(
        &self,
        id: SocketId,
        deadline: Option<std::time::Instant>,
        nonblocking: bool,
        mut op: impl FnMut(&mut Inner) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut inner = self.lock();
        loop {
            if inner.stopped {
                return Err(stopped());
            }
            match op(&mut inner) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !nonblocking => {}
                r => {
                    drop(inner);
                    self.kick();
                    return r;
                }
            }
            let left = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(crate::error::would_block());
                    }
                    Some(left)
                }
            };
            let Some(w) = inner.waiters.get_mut(&id) else {
                return Err(io::Error::from(io::ErrorKind::NotConnected));
            };
            w.sleepers += 1;
            let cv = w.cv.clone();
            inner = match left {
                None => cv.wait(inner).unwrap_or_else(|p| p.into_inner()),
                Some(left) => {
                    cv.wait_timeout(inner, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
            if let Some(w) = inner.waiters.get_mut(&id) {
                w.awake();
            }
        }
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    /// One try of `op` for a task: `Pending` (with the task's waker left for the driver)
    /// where a blocking caller would sleep.
    pub(crate) fn poll_op<T>(
        &self,
        cx: &mut Context<'_>,
        id: SocketId,
        interest: Interest,
        op: impl FnOnce(&mut Inner) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        let mut inner = self.lock();
        if inner.stopped {
            return Poll::Ready(Err(stopped()));
        }
        match op(&mut inner) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let Some(w) = inner.waiters.get_mut(&id) else {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::NotConnected)));
                };
                match interest {
                    Interest::Read | Interest::Write => {
                        let slot = if interest == Interest::Read {
                            &mut w.read_waker
                        } else {
                            &mut w.write_waker
                        };
                        match slot {
                            Some(old) if old.will_wake(cx.waker()) => {}
                            _ => *slot = Some(cx.waker().clone()),
                        }
                    }
                    Interest::Accept => {
                        if !w.accept_wakers.iter().any(|old| old.will_wake(cx.waker())) {
                            w.accept_wakers.push(cx.waker().clone());
                        }
                    }
                }
                Poll::Pending
            }
            r => {
                drop(inner);
                self.kick();
                Poll::Ready(r)
            }
        }
    }

    // ------------------------------------------------------------------ opening and closing

    /// Passive open. Port 0 takes a free ephemeral port, as std's `bind` does.
    pub(crate) fn listen(&self, addr: SocketAddr, backlog: usize) -> io::Result<SocketId> {
        self.lock()
            .open_listener(addr.is_ipv6(), backlog, |t, id| t.bind(id, addr))
    }

    /// Listens on every port of `ip` (every address of its family when unspecified): a
    /// transparent endpoint that terminates whatever the device hands it.
    pub(crate) fn listen_all_ports(&self, ip: IpAddr, backlog: usize) -> io::Result<SocketId> {
        self.lock()
            .open_listener(ip.is_ipv6(), backlog, |t, id| t.bind_every_port(id, ip))
    }

    /// Active open; the handshake runs on (see [`Inner::connect_status`]).
    pub(crate) fn connect(&self, remote: SocketAddr) -> io::Result<SocketId> {
        let now = self.now();
        let mut inner = self.lock();
        if inner.stopped {
            return Err(stopped());
        }
        let id = inner.socket(remote.is_ipv6());
        match inner.table.connect(now, id, remote) {
            Err(SocketError::InProgress) => {}
            Ok(()) => {}
            Err(e) => {
                let _ = inner.table.abort(id);
                return Err(socket_error(e));
            }
        }
        inner.waiters.insert(id, Waiters::default());
        drop(inner);
        self.kick();
        Ok(id)
    }

    /// Gives a socket up: a connection sends a FIN after the queued data, the rest of the
    /// close and TIME-WAIT done by the host on its own; with linger 0 (or unread data, as
    /// Linux does, RFC 1122 §4.2.2.13) a reset. A listener resets what waits in its queues.
    pub(crate) fn close(&self, id: SocketId) {
        let now = self.now();
        let mut inner = self.lock();
        // Whoever still waits on the socket learns it is gone rather than sleeping on.
        if let Some(mut w) = inner.waiters.remove(&id) {
            w.wake();
        }
        // A socket already gone (stack stopped, handle stale) has nothing left to close.
        let _ = inner.table.close(now, id);
        drop(inner);
        self.kick();
    }

    pub(crate) fn abort(&self, id: SocketId) {
        let mut inner = self.lock();
        if let Some(mut w) = inner.waiters.remove(&id) {
            w.wake();
        }
        let _ = inner.table.abort(id);
        drop(inner);
        self.kick();
    }
}

impl Inner {
    /// A new socket; its MSS follows its family (`Config::mss_for`).
    fn socket(&mut self, ipv6: bool) -> SocketId {
        self.table.socket(ipv6)
    }

    fn open_listener(
        &mut self,
        ipv6: bool,
        backlog: usize,
        bind: impl FnOnce(&mut SocketTable, SocketId) -> Result<(), SocketError>,
    ) -> io::Result<SocketId> {
        if self.stopped {
            return Err(stopped());
        }
        let id = self.socket(ipv6);
        if let Err(e) = bind(&mut self.table, id).and_then(|()| self.table.listen(id, backlog)) {
            let _ = self.table.abort(id);
            return Err(socket_error(e));
        }
        self.waiters.insert(id, Waiters::default());
        Ok(id)
    }

    /// The next connection from the accept queue, with its peer; `WouldBlock` when none
    /// waits.
    pub(crate) fn try_accept(&mut self, id: SocketId) -> io::Result<(SocketId, SocketAddr)> {
        let (child, remote) = io(self.table.accept(id))?;
        if let (Some(o), Some(conn)) = (&mut self.observer, self.table.conn_of(child)) {
            o.learn(self.table.host(), conn);
        }
        self.waiters.insert(child, Waiters::default());
        Ok((child, remote))
    }

    /// How an active open stands: `WouldBlock` while the handshake runs, then its outcome.
    pub(crate) fn connect_status(&mut self, id: SocketId) -> io::Result<()> {
        io(self.table.connect_status(id))
    }

    /// The socket's pending error, now reported (`SO_ERROR`).
    pub(crate) fn take_error(&mut self, id: SocketId) -> io::Result<Option<ConnError>> {
        io(self.table.take_error(id))
    }

    /// RECEIVE: `Ok(0)` is end of stream, `WouldBlock` nothing yet.
    pub(crate) fn try_read(&mut self, id: SocketId, buf: &mut [u8]) -> io::Result<usize> {
        io(self.table.read(id, buf))
    }

    /// SEND: what fits; `WouldBlock` when nothing does or the handshake still runs.
    pub(crate) fn try_write(&mut self, id: SocketId, data: &[u8]) -> io::Result<usize> {
        io(self.table.write(id, data))
    }

    /// SEND with URGENT set (`send(MSG_OOB)`, RFC 9293 §3.10.2): what fits, its last byte
    /// taken the urgent mark; `WouldBlock` as `try_write`.
    pub(crate) fn try_write_urgent(&mut self, id: SocketId, data: &[u8]) -> io::Result<usize> {
        io(self.table.write_urgent(id, data))
    }

    /// `recv(MSG_OOB)`, with `peek` leaving the byte: `None` is end of stream; never waits
    /// (`WouldBlock` when the byte is announced but not here, `InvalidInput` when there is
    /// none to read).
    pub(crate) fn read_urgent(&mut self, id: SocketId, peek: bool) -> io::Result<Option<u8>> {
        io(self.table.read_urgent(id, peek))
    }

    /// `SIOCATMARK`: whether the next read starts at the urgent mark.
    pub(crate) fn at_mark(&self, id: SocketId) -> io::Result<bool> {
        io(self.table.at_urgent_mark(id))
    }

    pub(crate) fn out_of_band_inline(&self, id: SocketId) -> io::Result<bool> {
        Ok(io(self.table.options(id))?.config.urgent_inline)
    }

    /// Whether everything written has been acknowledged (what `flush` can wait for).
    pub(crate) fn all_acked(&mut self, id: SocketId) -> io::Result<bool> {
        io(self.table.all_acked(id))
    }

    /// `shutdown(2)`: `Write` sends a FIN after the queued data (RFC 9293 §3.10.4); `Read`
    /// makes further reads see end of stream.
    pub(crate) fn shutdown(&mut self, id: SocketId, how: Shutdown) -> io::Result<()> {
        io(self
            .table
            .shutdown(id, how != Shutdown::Write, how != Shutdown::Read))?;
        if let Some(w) = self.waiters.get_mut(&id) {
            w.wake();
        }
        Ok(())
    }

    pub(crate) fn addrs(&self, id: SocketId) -> io::Result<(SocketAddr, SocketAddr)> {
        io(self.table.addrs(id))
    }

    pub(crate) fn info(&self, id: SocketId) -> io::Result<Info> {
        io(self.table.info(id))
    }

    pub(crate) fn set_option(&mut self, id: SocketId, opt: SockOpt) -> io::Result<()> {
        io(self.table.set_option(id, opt))
    }

    /// The receive (`recv`) or send buffer's size now: the connection's, which auto-tuning
    /// may have grown from the size set, or before it opens the size it will open with.
    pub(crate) fn buffer_size(&self, id: SocketId, recv: bool) -> io::Result<usize> {
        let o = &io(self.table.options(id))?.config;
        let configured = if recv { o.recv_buffer } else { o.send_buffer };
        Ok(match self.table.info(id) {
            Ok(i) if recv && i.recv_buffer > 0 => i.recv_buffer,
            Ok(i) if !recv && i.send_buffer > 0 => i.send_buffer,
            _ => configured,
        })
    }

    pub(crate) fn congestion(&self, id: SocketId) -> io::Result<CongestionControl> {
        Ok(io(self.table.options(id))?.config.congestion.controller)
    }

    pub(crate) fn nodelay(&self, id: SocketId) -> io::Result<bool> {
        Ok(io(self.table.options(id))?.config.nodelay)
    }

    /// Keepalive probes after `idle` without traffic, with the default interval and count;
    /// `None` turns them off.
    pub(crate) fn set_keepalive(&mut self, id: SocketId, idle: Option<Duration>) -> io::Result<()> {
        if let Some(idle) = idle {
            self.set_option(id, SockOpt::KeepIdle(idle))?;
        }
        self.set_option(id, SockOpt::KeepAlive(idle.is_some()))
    }

    pub(crate) fn linger(&self, id: SocketId) -> io::Result<Option<Duration>> {
        Ok(io(self.table.options(id))?.linger)
    }

    /// Whether a lingering close is over: everything sent, our FIN included, has been
    /// acknowledged.
    pub(crate) fn linger_done(&mut self, id: SocketId) -> io::Result<bool> {
        io(self.table.linger_done(id))
    }

    pub(crate) fn listener_addr(&self, id: SocketId) -> io::Result<SocketAddr> {
        io(self.table.local_addr(id))?.ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    // ------------------------------------------------------------------ the driver's side

    pub(crate) fn counters(&self) -> synack_proto::host::Counters {
        *self.table.host().counters()
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.table.host().connection_count()
    }

    pub(crate) fn set_observer(&mut self, observer: crate::observe::Observer) {
        self.observer = Some(observer);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// When the driver must call [`Inner::on_timer`] next.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.table.poll_timeout()
    }

    pub(crate) fn on_packets(&mut self, now: Instant, batch: &Batch) {
        self.table.handle_packets(now, batch.iter());
    }

    pub(crate) fn on_timer(&mut self, now: Instant) {
        if self.table.poll_timeout().is_some_and(|t| t <= now) {
            self.table.handle_timeout(now);
        }
    }

    /// Fills `batch` with packets to send; returns whether the host may have more.
    pub(crate) fn transmit(&mut self, now: Instant, batch: &mut Batch) -> bool {
        while let Some(buf) = batch.next_buf() {
            match self.table.poll_transmit(now, buf) {
                Some(sent) => batch.commit_segmented(sent.len, sent.segment_size),
                None => return false,
            }
        }
        true
    }

    /// Turns the table's events into wakeups.
    pub(crate) fn dispatch_events(&mut self) {
        if self.idle_waiters > 0 && self.table.host().connection_count() == 0 {
            self.idle.notify_all();
        }
        while let Some(ev) = self.table.poll_event() {
            match ev {
                SocketEvent::Acceptable(id) => {
                    if let Some(w) = self.waiters.get_mut(&id) {
                        w.notify_sleepers();
                        for w in w.accept_wakers.drain(..) {
                            w.wake();
                        }
                    }
                }
                SocketEvent::Readable(id) => {
                    if let Some(w) = self.waiters.get_mut(&id) {
                        w.notify_sleepers();
                        if let Some(w) = w.read_waker.take() {
                            w.wake();
                        }
                    }
                }
                SocketEvent::Writable(id) => {
                    if let Some(w) = self.waiters.get_mut(&id) {
                        w.notify_sleepers();
                        if let Some(w) = w.write_waker.take() {
                            w.wake();
                        }
                    }
                }
                SocketEvent::Closed(id) => {
                    if let Some(w) = self.waiters.get_mut(&id) {
                        w.wake();
                    }
                }
                SocketEvent::StateChanged {
                    socket,
                    conn,
                    from,
                    to,
                } => {
                    if let Some(o) = &mut self.observer {
                        o.report(self.table.host(), conn, from, to);
                    }
                    if let Some(w) = socket.and_then(|id| self.waiters.get_mut(&id)) {
                        w.wake();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Waiters;

    #[test]
    fn a_notify_is_skipped_only_when_every_sleeper_was_already_woken() {
        let mut w = Waiters::default();
        // Nobody asleep: nothing to wake.
        w.notify_sleepers();
        assert_eq!(w.woken, 0);
        // A sleeps and is woken; further notifies before it runs are not needed.
        w.sleepers = 1;
        w.notify_sleepers();
        assert_eq!((w.sleepers, w.woken), (1, 1));
        // B falls asleep meanwhile: it has not been woken, so the next notify must go out.
        w.sleepers += 1;
        assert!(w.sleepers > w.woken);
        w.notify_sleepers();
        assert_eq!(w.woken, 2);
        // A takes the lock back; B is still on its way.
        w.awake();
        assert_eq!((w.sleepers, w.woken), (1, 1));
        // B leaves, C sleeps: C is owed a notify.
        w.awake();
        w.sleepers += 1;
        assert_eq!((w.sleepers, w.woken), (1, 0));
        // A sleeper back by timeout, not by a notify, may leave `woken` short, never over.
        let mut w = Waiters {
            sleepers: 2,
            ..Waiters::default()
        };
        w.notify_sleepers();
        w.sleepers += 1;
        w.awake();
        assert!(
            w.sleepers > w.woken,
            "the newest sleeper still gets its notify"
        );
    }
}
