//! Blocking sockets shaped like `std::net`: a [`TcpListener`] and a [`TcpStream`] on a
//! [`Stack`], with the same calls, the same `io::ErrorKind`s and the same timeouts, so code
//! written for std moves over by adding the stack argument. Beyond std, a stream takes
//! urgent data as socket2 names the calls (`send_out_of_band`, `recv_out_of_band`,
//! `at_mark`, `set_out_of_band_inline`).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use synack_socket::{SockOpt, SocketId};

use crate::driver::Stack;
use crate::stack::Shared;

/// The accept queue std's `TcpListener::bind` asks for.
const BACKLOG: usize = 128;

/// Tries `f` on each address `addr` resolves to, like std: the first success, else the last
/// error.
fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

fn check_timeout(t: Option<Duration>) -> io::Result<()> {
    if t == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

/// A listening socket.
pub struct TcpListener {
    shared: Arc<Shared>,
    id: SocketId,
    nonblocking: AtomicBool,
}

impl TcpListener {
    /// Listens on `addr`; port 0 picks a free ephemeral port (see [`TcpListener::local_addr`]).
    pub fn bind<A: ToSocketAddrs>(stack: &Stack, addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| {
            let id = stack.shared.listen(a, BACKLOG)?;
            Ok(TcpListener {
                shared: stack.shared.clone(),
                id,
                nonblocking: AtomicBool::new(false),
            })
        })
    }

    /// Listens on every port of `ip` (every address of its family when unspecified): the
    /// tun2socks shape, where the stack terminates whatever connection the device brings.
    /// `accept` then reports each connection's original destination as its `local_addr`.
    pub fn bind_all_ports(stack: &Stack, ip: IpAddr) -> io::Result<TcpListener> {
        let id = stack.shared.listen_all_ports(ip, BACKLOG)?;
        Ok(TcpListener {
            shared: stack.shared.clone(),
            id,
            nonblocking: AtomicBool::new(false),
        })
    }

    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let nonblocking = self.nonblocking.load(Ordering::Relaxed);
        let (id, peer) = self.shared.block_on(self.id, None, nonblocking, |inner| {
            inner.try_accept(self.id)
        })?;
        Ok((TcpStream::from_id(self.shared.clone(), id), peer))
    }

    /// Accepted connections, forever (each item as `accept` returns it).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.lock().listener_addr(self.id)
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for TcpListener {
    /// Connections not yet accepted are reset, as Linux does on closing a listener.
    fn drop(&mut self) {
        self.shared.close(self.id);
    }
}

/// The iterator of [`TcpListener::incoming`].
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// What every handle of one stream shares; the last one gone closes the connection.
struct StreamInner {
    shared: Arc<Shared>,
    id: SocketId,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
    nonblocking: AtomicBool,
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        let id = self.id;
        let linger = self.shared.lock().linger(id).ok().flatten();
        if let Some(d) = linger.filter(|d| !d.is_zero()) {
            // SO_LINGER with a timeout: the FIN goes out now and the close waits until it
            // and all data are acknowledged, or the time is up (then it closes as usual).
            let shut = self.shared.lock().shutdown(id, Shutdown::Write);
            self.shared.kick();
            if shut.is_ok() {
                let deadline = std::time::Instant::now() + d;
                let _ = self.shared.block_on(id, Some(deadline), false, |inner| {
                    match inner.linger_done(id) {
                        Ok(true) => Ok(()),
                        Ok(false) => Err(crate::error::would_block()),
                        Err(e) => Err(e),
                    }
                });
            }
        }
        self.shared.close(id);
    }
}

/// A connected socket. Dropping the last handle closes it gracefully: a FIN follows the data
/// still queued, and the stack finishes the close (and TIME-WAIT) on its own; with
/// `set_linger(Some(Duration::ZERO))` it is reset instead, and with another linger time the
/// drop waits up to that long for everything to be acknowledged.
pub struct TcpStream {
    inner: Arc<StreamInner>,
}

impl TcpStream {
    fn from_id(shared: Arc<Shared>, id: SocketId) -> TcpStream {
        TcpStream {
            inner: Arc::new(StreamInner {
                shared,
                id,
                read_timeout: Mutex::new(None),
                write_timeout: Mutex::new(None),
                nonblocking: AtomicBool::new(false),
            }),
        }
    }

    /// Opens a connection, waiting for the handshake as long as the stack retries its SYN
    /// (`syn_retries` with exponential backoff; then `TimedOut`).
    pub fn connect<A: ToSocketAddrs>(stack: &Stack, addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::open(stack, a, None))
    }

    /// Opens a connection, giving up with `TimedOut` after `timeout`.
    pub fn connect_timeout(
        stack: &Stack,
        addr: &SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        check_timeout(Some(timeout))?;
        TcpStream::open(stack, *addr, Some(timeout))
    }

    fn open(stack: &Stack, addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let shared = &stack.shared;
        let id = shared.connect(addr)?;
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        match shared.block_on(id, deadline, false, |inner| inner.connect_status(id)) {
            Ok(()) => Ok(TcpStream::from_id(shared.clone(), id)),
            Err(e) => {
                shared.abort(id);
                if e.kind() == io::ErrorKind::WouldBlock {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection timed out",
                    ));
                }
                Err(e)
            }
        }
    }

    fn id(&self) -> SocketId {
        self.inner.id
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn deadline(timeout: &Mutex<Option<Duration>>) -> Option<std::time::Instant> {
        let t = *timeout.lock().unwrap_or_else(|p| p.into_inner());
        t.map(|t| std::time::Instant::now() + t)
    }

    crate::options::stream_options!();

    /// `Write` sends a FIN after what is queued (the peer reads end of stream), `Read` makes
    /// further reads return end of stream, `Both` does both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let r = self.shared().lock().shutdown(self.id(), how);
        self.shared().kick();
        r
    }

    /// Another handle to the same connection; the connection closes when the last goes.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.clone(),
        })
    }

    /// `None` waits forever; on expiry a read fails with `WouldBlock`, as std's does on Unix.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        *self
            .inner
            .read_timeout
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = timeout;
        Ok(())
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self
            .inner
            .read_timeout
            .lock()
            .unwrap_or_else(|p| p.into_inner()))
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        *self
            .inner
            .write_timeout
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = timeout;
        Ok(())
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self
            .inner
            .write_timeout
            .lock()
            .unwrap_or_else(|p| p.into_inner()))
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// `Some(Duration::ZERO)`: closing resets the connection (RFC 9293 §3.10.5 ABORT) and
    /// drops queued data. `Some(d)`: dropping the stream waits up to `d` for the data and the
    /// FIN to be acknowledged (SO_LINGER). `None`: closing is graceful and does not wait.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.shared()
            .lock()
            .set_option(self.id(), SockOpt::Linger(linger))
    }

    fn read_impl(&self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = TcpStream::deadline(&self.inner.read_timeout);
        let nonblocking = self.inner.nonblocking.load(Ordering::Relaxed);
        let id = self.id();
        self.shared()
            .block_on(id, deadline, nonblocking, |inner| inner.try_read(id, buf))
    }

    fn write_impl(&self, data: &[u8]) -> io::Result<usize> {
        let deadline = TcpStream::deadline(&self.inner.write_timeout);
        let nonblocking = self.inner.nonblocking.load(Ordering::Relaxed);
        let id = self.id();
        self.shared()
            .block_on(id, deadline, nonblocking, |inner| inner.try_write(id, data))
    }

    /// Writes urgent data (`send(MSG_OOB)`, RFC 9293 §3.10.2): what fits of `data`, whose
    /// last byte written becomes the out-of-band byte the peer reads with
    /// `recv_out_of_band` (and the urgent pointer marks the end of). Waits for room as
    /// `write` does, with the write timeout and non-blocking mode.
    pub fn send_out_of_band(&self, data: &[u8]) -> io::Result<usize> {
        let deadline = TcpStream::deadline(&self.inner.write_timeout);
        let nonblocking = self.inner.nonblocking.load(Ordering::Relaxed);
        let id = self.id();
        self.shared().block_on(id, deadline, nonblocking, |inner| {
            inner.try_write_urgent(id, data)
        })
    }

    /// Waits until the peer has acknowledged every byte written so far (or the write timeout
    /// passes: `WouldBlock`). `flush` does not wait: like std's, it has nothing to push.
    pub fn wait_acknowledged(&self) -> io::Result<()> {
        let deadline = TcpStream::deadline(&self.inner.write_timeout);
        let id = self.id();
        self.shared().block_on(id, deadline, false, |inner| {
            if inner.all_acked(id)? {
                Ok(())
            } else {
                Err(crate::error::would_block())
            }
        })
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs = self.shared().lock().addrs(self.id()).ok();
        f.debug_struct("TcpStream").field("addrs", &addrs).finish()
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}
