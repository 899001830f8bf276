//! The stack: one [`Host`] behind a mutex, the real clock, and who waits for what. Every call
//! into the host is in this file, so the socket APIs (blocking and tokio) and the driver share
//! one implementation of socket semantics: what `connect`, `recv`, `shutdown` and `close`
//! mean on a host, with Linux's answers (an error reported once, then end of stream).
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

use synack_proto::host::{ConnId, Host, HostConfig, HostError, HostEvent, ListenerId};
use synack_proto::{CallError, ConnError, Info, Instant, Keepalive, StateName};

use crate::device::Batch;
use crate::error::{call_error, conn_error, host_error, stopped, would_block};
use crate::sys::EventFd;

/// What a task waits for.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// Per-connection socket state the host does not keep.
#[derive(Default)]
struct ConnSlot {
    cv: Arc<Condvar>,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
    /// The error that ended the connection, not yet reported (Linux's `sk_err`).
    error: Option<ConnError>,
    /// The error was reported: reads now see end of stream, writes a broken pipe.
    reported: bool,
    shut_rd: bool,
    shut_wr: bool,
    /// `SO_LINGER`: `Some(ZERO)` resets on close; `Some(d)` makes a blocking close wait up
    /// to `d` for the data and FIN to be acknowledged.
    linger: Option<Duration>,
    nodelay: bool,
}

impl ConnSlot {
    fn wake(&mut self) {
        self.cv.notify_all();
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

struct ListenSlot {
    cv: Arc<Condvar>,
    /// Every task waiting in `accept` (several may share a listener).
    wakers: Vec<Waker>,
    addr: SocketAddr,
}

pub(crate) struct Inner {
    host: Host,
    conns: HashMap<ConnId, ConnSlot>,
    listeners: HashMap<ListenerId, ListenSlot>,
    stopped: bool,
    /// Callers of `wait_idle`, woken when the host holds no connection.
    idle: Arc<Condvar>,
    idle_waiters: usize,
    /// Who is told of every state change (see [`crate::Stack::on_state_change`]).
    observer: Option<crate::observe::Observer>,
}

/// What the driver and the sockets share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the driver so what a user call queued goes out now, not at the next timer.
    kick: EventFd,
    kicked: AtomicBool,
    epoch: std::time::Instant,
    /// The stack's own addresses, the first of each family used as a connection's source.
    addrs: Vec<IpAddr>,
}

impl Shared {
    pub(crate) fn new(mut config: HostConfig, mtu: usize) -> io::Result<Shared> {
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).map_err(|e| io::Error::other(e.to_string()))?;
        // The keyed hashes (demux, ISNs, ports, cookies) need a secret no peer can guess
        // (RFC 6528 §3); the core never draws it, the runtime does.
        config.secret = u128::from_le_bytes(secret);
        // Each connection announces the MSS the device's MTU leaves for its address family
        // (`Config::mss_for`).
        config.tcp.mtu = u16::try_from(mtu).unwrap_or(u16::MAX);
        let addrs = config.local_addrs.clone();
        Ok(Shared {
            inner: Mutex::new(Inner {
                host: Host::new(config),
                conns: HashMap::new(),
                listeners: HashMap::new(),
                stopped: false,
                idle: Arc::default(),
                idle_waiters: 0,
                observer: None,
            }),
            kick: EventFd::new()?,
            kicked: AtomicBool::new(false),
            epoch: std::time::Instant::now(),
            addrs,
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
            if inner.host.connection_count() == 0 {
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
        for c in inner.conns.values_mut() {
            c.wake();
        }
        for l in inner.listeners.values_mut() {
            l.cv.notify_all();
            for w in l.wakers.drain(..) {
                w.wake();
            }
        }
        drop(inner);
        self.kick.signal();
    }

    fn source_ip(&self, remote: SocketAddr) -> io::Result<IpAddr> {
        self.addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == remote.is_ipv4())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    "the stack has no address of the remote's family",
                )
            })
    }

    /// Runs `op` until it stops answering `WouldBlock`, sleeping on the connection between
    /// tries; `deadline` turns a long wait into `WouldBlock` (what std's socket timeouts
    /// give on Unix), `nonblocking` returns the first `WouldBlock` as is.
    pub(crate) fn block_on<T>(
        &self,
        id: ConnId,
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
            let Some(cv) = inner.conns.get(&id).map(|c| c.cv.clone()) else {
                return Err(io::Error::from(io::ErrorKind::NotConnected));
            };
            inner = match deadline {
                None => cv.wait(inner).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(would_block());
                    }
                    cv.wait_timeout(inner, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// `block_on` for a listener.
    pub(crate) fn block_on_listener<T>(
        &self,
        id: ListenerId,
        nonblocking: bool,
        mut op: impl FnMut(&mut Inner) -> io::Result<Option<T>>,
    ) -> io::Result<T> {
        let mut inner = self.lock();
        loop {
            if inner.stopped {
                return Err(stopped());
            }
            if let Some(t) = op(&mut inner)? {
                drop(inner);
                self.kick();
                return Ok(t);
            }
            if nonblocking {
                return Err(would_block());
            }
            let Some(cv) = inner.listeners.get(&id).map(|l| l.cv.clone()) else {
                return Err(io::Error::from(io::ErrorKind::NotConnected));
            };
            inner = cv.wait(inner).unwrap_or_else(|p| p.into_inner());
        }
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    /// One try of `op` for a task: `Pending` (with the task's waker left for the driver)
    /// where a blocking caller would sleep.
    pub(crate) fn poll_op<T>(
        &self,
        cx: &mut Context<'_>,
        id: ConnId,
        interest: Interest,
        op: impl FnOnce(&mut Inner) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        let mut inner = self.lock();
        if inner.stopped {
            return Poll::Ready(Err(stopped()));
        }
        match op(&mut inner) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let Some(c) = inner.conns.get_mut(&id) else {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::NotConnected)));
                };
                let slot = match interest {
                    Interest::Read => &mut c.read_waker,
                    Interest::Write => &mut c.write_waker,
                };
                match slot {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
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

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    /// `poll_op` for a listener.
    pub(crate) fn poll_listener<T>(
        &self,
        cx: &mut Context<'_>,
        id: ListenerId,
        op: impl FnOnce(&mut Inner) -> io::Result<Option<T>>,
    ) -> Poll<io::Result<T>> {
        let mut inner = self.lock();
        if inner.stopped {
            return Poll::Ready(Err(stopped()));
        }
        match op(&mut inner) {
            Ok(None) => {
                if let Some(l) = inner.listeners.get_mut(&id) {
                    if !l.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                        l.wakers.push(cx.waker().clone());
                    }
                }
                Poll::Pending
            }
            Ok(Some(t)) => {
                drop(inner);
                self.kick();
                Poll::Ready(Ok(t))
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    // ------------------------------------------------------------------ opening

    /// Passive open. Port 0 takes a free ephemeral port, as std's `bind` does.
    pub(crate) fn listen(&self, addr: SocketAddr, backlog: usize) -> io::Result<ListenerId> {
        let mut inner = self.lock();
        if addr.port() != 0 {
            return inner.listen_on(addr, backlog);
        }
        let range = inner.host.config().ephemeral_ports.clone();
        let span = u32::from(range.end() - range.start()) + 1;
        let start = (self.now().as_micros() as u32) % span;
        for i in 0..span {
            let port = *range.start() + ((start + i) % span) as u16;
            match inner.listen_on(SocketAddr::new(addr.ip(), port), backlog) {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                r => return r,
            }
        }
        Err(io::Error::from(io::ErrorKind::AddrInUse))
    }

    /// Listens on every port of `ip` (every address of its family when unspecified): a
    /// transparent endpoint that terminates whatever the device hands it.
    pub(crate) fn listen_all_ports(&self, ip: IpAddr, backlog: usize) -> io::Result<ListenerId> {
        self.lock().listen_on(SocketAddr::new(ip, 0), backlog)
    }

    /// Active open; the handshake runs on (see [`Inner::connect_status`]).
    pub(crate) fn connect(&self, remote: SocketAddr) -> io::Result<ConnId> {
        let ip = self.source_ip(remote)?;
        let now = self.now();
        let mut inner = self.lock();
        if inner.stopped {
            return Err(stopped());
        }
        let config = inner.tcp_config_for(remote.ip());
        let id = inner
            .host
            .connect_with(now, SocketAddr::new(ip, 0), remote, config)
            .map_err(host_error)?;
        let slot = inner.new_slot();
        inner.conns.insert(id, slot);
        drop(inner);
        self.kick();
        Ok(id)
    }

    /// Gives a connection up: a FIN after the queued data, the rest of the close and
    /// TIME-WAIT done by the host on its own; with linger 0 (or unread data, as Linux does,
    /// RFC 1122 §4.2.2.13) a reset.
    pub(crate) fn close(&self, id: ConnId) {
        let now = self.now();
        let mut inner = self.lock();
        let linger_zero = inner
            .conns
            .remove(&id)
            .is_some_and(|c| c.linger == Some(Duration::ZERO));
        // A connection already gone (stack stopped, handle stale) has nothing left to close.
        let _ = if linger_zero {
            inner.host.abort(id)
        } else {
            inner.host.close(now, id)
        };
        drop(inner);
        self.kick();
    }

    pub(crate) fn abort(&self, id: ConnId) {
        let mut inner = self.lock();
        inner.conns.remove(&id);
        let _ = inner.host.abort(id);
        drop(inner);
        self.kick();
    }

    pub(crate) fn close_listener(&self, id: ListenerId) {
        let mut inner = self.lock();
        inner.listeners.remove(&id);
        let _ = inner.host.close_listener(id);
        drop(inner);
        self.kick();
    }
}

impl Inner {
    /// The host's connection settings with the MSS of `ip`'s family: a listener's address
    /// (an unspecified one listens on its family only) or a connection's peer.
    fn tcp_config_for(&self, ip: IpAddr) -> synack_proto::Config {
        self.host.config().tcp.for_family(ip.is_ipv6())
    }

    fn new_slot(&self) -> ConnSlot {
        ConnSlot {
            nodelay: self.host.config().tcp.nodelay,
            ..ConnSlot::default()
        }
    }

    fn listen_on(&mut self, addr: SocketAddr, backlog: usize) -> io::Result<ListenerId> {
        if self.stopped {
            return Err(stopped());
        }
        let config = self.tcp_config_for(addr.ip());
        let id = self
            .host
            .listen_with(addr, backlog, config)
            .map_err(host_error)?;
        self.listeners.insert(
            id,
            ListenSlot {
                cv: Arc::default(),
                wakers: Vec::new(),
                addr,
            },
        );
        Ok(id)
    }

    /// The next connection from the accept queue, with its peer.
    pub(crate) fn try_accept(
        &mut self,
        id: ListenerId,
    ) -> io::Result<Option<(ConnId, SocketAddr)>> {
        if !self.listeners.contains_key(&id) {
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        }
        let Some(c) = self.host.accept(id) else {
            return Ok(None);
        };
        let remote = self.host.peer_addr(c).map_err(host_error)?;
        if let Some(o) = &mut self.observer {
            o.learn(&self.host, c);
        }
        let slot = self.new_slot();
        self.conns.insert(c, slot);
        Ok(Some((c, remote)))
    }

    /// How an active open stands: `WouldBlock` while the handshake runs, then its outcome.
    pub(crate) fn connect_status(&mut self, id: ConnId) -> io::Result<()> {
        match self.host.state(id).map_err(host_error)? {
            StateName::SynSent | StateName::SynReceived => Err(would_block()),
            StateName::Closed => Err(self.take_error(id).map_or_else(
                || io::Error::from(io::ErrorKind::ConnectionAborted),
                conn_error,
            )),
            _ => Ok(()),
        }
    }

    /// The connection's pending error, now reported (`SO_ERROR`).
    pub(crate) fn take_error(&mut self, id: ConnId) -> Option<ConnError> {
        let c = self.conns.get_mut(&id)?;
        let e = c.error.take();
        if e.is_some() {
            c.reported = true;
        }
        e
    }

    fn slot(&mut self, id: ConnId) -> io::Result<&mut ConnSlot> {
        self.conns
            .get_mut(&id)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// RECEIVE: `Ok(0)` is end of stream, `WouldBlock` nothing yet.
    pub(crate) fn try_read(&mut self, id: ConnId, buf: &mut [u8]) -> io::Result<usize> {
        let c = self.slot(id)?;
        if c.shut_rd || buf.is_empty() {
            return Ok(0);
        }
        match self.host.recv(id, buf) {
            Ok(n) => Ok(n),
            Err(HostError::Call(CallError::WouldBlock)) => Err(would_block()),
            Err(HostError::Call(e)) => match self.take_error(id) {
                Some(e) => Err(conn_error(e)),
                None if self.slot(id)?.reported => Ok(0),
                None => {
                    self.slot(id)?.reported = true;
                    Err(call_error(e))
                }
            },
            Err(e) => Err(host_error(e)),
        }
    }

    /// SEND: what fits; `WouldBlock` when nothing does or the handshake still runs.
    pub(crate) fn try_write(&mut self, id: ConnId, data: &[u8]) -> io::Result<usize> {
        if let Some(e) = self.take_error(id) {
            return Err(conn_error(e));
        }
        let c = self.slot(id)?;
        if c.shut_wr || c.reported {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        match self.host.state(id).map_err(host_error)? {
            StateName::SynSent | StateName::SynReceived => return Err(would_block()),
            StateName::Closed => return Err(io::Error::from(io::ErrorKind::BrokenPipe)),
            _ => {}
        }
        if data.is_empty() {
            return Ok(0);
        }
        match self.host.send(id, data) {
            Ok(n) => Ok(n),
            Err(HostError::Call(CallError::Closing)) => {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            Err(e) => Err(host_error(e)),
        }
    }

    /// Whether everything written has been acknowledged (what `flush` can wait for).
    pub(crate) fn all_acked(&mut self, id: ConnId) -> io::Result<bool> {
        let info = self.host.info(id).map_err(host_error)?;
        Ok(info.send_buffered == 0)
    }

    /// `shutdown(2)`: `Write` sends a FIN after the queued data (RFC 9293 §3.10.4); `Read`
    /// makes further reads see end of stream.
    pub(crate) fn shutdown(&mut self, id: ConnId, how: Shutdown) -> io::Result<()> {
        let state = self.host.state(id).map_err(host_error)?;
        if matches!(state, StateName::SynSent | StateName::Closed) {
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        }
        if how != Shutdown::Read {
            self.host.shutdown(id).map_err(host_error)?;
        }
        let c = self.slot(id)?;
        c.shut_rd |= how != Shutdown::Write;
        c.shut_wr |= how != Shutdown::Read;
        c.wake();
        Ok(())
    }

    pub(crate) fn addrs(&self, id: ConnId) -> io::Result<(SocketAddr, SocketAddr)> {
        let local = self.host.local_addr(id).map_err(host_error)?;
        let remote = self.host.peer_addr(id).map_err(host_error)?;
        Ok((local, remote))
    }

    pub(crate) fn info(&self, id: ConnId) -> io::Result<Info> {
        self.host.info(id).map_err(host_error)
    }

    pub(crate) fn set_nodelay(&mut self, id: ConnId, nodelay: bool) -> io::Result<()> {
        self.host
            .conn_mut(id)
            .map_err(host_error)?
            .set_nodelay(nodelay);
        self.slot(id)?.nodelay = nodelay;
        Ok(())
    }

    pub(crate) fn nodelay(&mut self, id: ConnId) -> io::Result<bool> {
        Ok(self.slot(id)?.nodelay)
    }

    pub(crate) fn set_keepalive(&mut self, id: ConnId, idle: Option<Duration>) -> io::Result<()> {
        let keepalive = idle.map(|idle| Keepalive {
            idle,
            ..Keepalive::default()
        });
        self.host
            .conn_mut(id)
            .map_err(host_error)?
            .set_keepalive(keepalive);
        Ok(())
    }

    pub(crate) fn set_linger(&mut self, id: ConnId, linger: Option<Duration>) -> io::Result<()> {
        self.slot(id)?.linger = linger;
        Ok(())
    }

    pub(crate) fn linger(&mut self, id: ConnId) -> io::Result<Option<Duration>> {
        Ok(self.slot(id)?.linger)
    }

    /// Whether a lingering close is over: everything sent, our FIN included, has been
    /// acknowledged (FIN-WAIT-2, TIME-WAIT, or CLOSED after LAST-ACK).
    pub(crate) fn linger_done(&mut self, id: ConnId) -> io::Result<bool> {
        let info = self.host.info(id).map_err(host_error)?;
        Ok(info.send_buffered == 0
            && matches!(
                info.state,
                StateName::FinWait2 | StateName::TimeWait | StateName::Closed
            ))
    }

    pub(crate) fn listener_addr(&self, id: ListenerId) -> io::Result<SocketAddr> {
        self.listeners
            .get(&id)
            .map(|l| l.addr)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    // ------------------------------------------------------------------ the driver's side

    pub(crate) fn counters(&self) -> synack_proto::host::Counters {
        *self.host.counters()
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.host.connection_count()
    }

    pub(crate) fn set_observer(&mut self, observer: crate::observe::Observer) {
        self.observer = Some(observer);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// When the driver must call [`Inner::on_timer`] next.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.host.poll_timeout()
    }

    pub(crate) fn on_packets(&mut self, now: Instant, batch: &Batch) {
        for p in batch.iter() {
            self.host.handle_packet(now, p);
        }
    }

    pub(crate) fn on_timer(&mut self, now: Instant) {
        if self.host.poll_timeout().is_some_and(|t| t <= now) {
            self.host.handle_timeout(now);
        }
    }

    /// Fills `batch` with packets to send; returns whether the host may have more.
    pub(crate) fn transmit(&mut self, now: Instant, batch: &mut Batch) -> bool {
        while let Some(buf) = batch.next_buf() {
            match self.host.poll_transmit(now, buf) {
                Some(sent) => batch.commit(sent.len),
                None => return false,
            }
        }
        true
    }

    /// Turns the host's events into wakeups.
    pub(crate) fn dispatch_events(&mut self) {
        if self.idle_waiters > 0 && self.host.connection_count() == 0 {
            self.idle.notify_all();
        }
        while let Some(ev) = self.host.poll_event() {
            match ev {
                HostEvent::Accepted { listener, .. } => {
                    if let Some(l) = self.listeners.get_mut(&listener) {
                        l.cv.notify_all();
                        for w in l.wakers.drain(..) {
                            w.wake();
                        }
                    }
                }
                HostEvent::Readable(id) => {
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.cv.notify_all();
                        if let Some(w) = c.read_waker.take() {
                            w.wake();
                        }
                    }
                }
                HostEvent::Writable(id) => {
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.cv.notify_all();
                        if let Some(w) = c.write_waker.take() {
                            w.wake();
                        }
                    }
                }
                HostEvent::Closed(id, error) => {
                    if let Some(c) = self.conns.get_mut(&id) {
                        if !c.reported && c.error.is_none() {
                            c.error = error;
                        }
                        c.wake();
                    }
                }
                HostEvent::StateChanged { conn, from, to, .. } => {
                    if let Some(o) = &mut self.observer {
                        o.report(&self.host, conn, from, to);
                    }
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.wake();
                    }
                }
            }
        }
    }
}
