//! Async sockets for tokio: [`TcpListener`] and [`TcpStream`] with `AsyncRead` /
//! `AsyncWrite`, and the driver as a tokio task ([`crate::Stack::new_tokio`]).
//!
//! Readiness comes from wakers: a call that would block leaves its task's waker with the
//! connection, and the driver wakes it when the host reports the connection readable,
//! writable, changed or closed. Nothing polls in a loop or sleeps. Every future here is
//! cancellation-safe: a `read`, `write` or `accept` that is dropped before it completes has
//! taken nothing (the poll functions consume data only in the call that returns it).

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use synack_proto::host::HostConfig;
use synack_socket::{SockOpt, SocketId};

use crate::device::Device;
use crate::driver::{Stack, batches, sleep_for, step};
use crate::stack::{Interest, Shared};

/// The accept queue tokio's `TcpListener::bind` asks for (1024).
const BACKLOG: usize = 1024;

struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// What the driver task owns. Fields drop in order: the reactor registrations before the
/// device and the stack whose descriptors they name.
struct TaskDriver {
    dev: AsyncFd<Fd>,
    kick: AsyncFd<Fd>,
    device: Box<dyn Device>,
    shared: Arc<Shared>,
}

fn register(fd: RawFd) -> io::Result<AsyncFd<Fd>> {
    // SAFETY: `fd` belongs to the device or to the stack's kick eventfd; `TaskDriver` owns
    // both and drops this registration first, so the descriptor stays open and the same for
    // the registration's whole life.
    unsafe { AsyncFd::register_with_interest(Fd(fd), ::tokio::io::Interest::READABLE) }
        .map_err(io::Error::from)
}

impl Stack {
    /// Starts a stack whose driver is a task on the current tokio runtime rather than a
    /// thread: it waits on the device and on kicks through tokio's reactor and on tokio's
    /// timer. Must be called from within a runtime.
    pub fn new_tokio(device: impl Device, config: HostConfig) -> io::Result<Stack> {
        let shared = Arc::new(Shared::new(config, device.capabilities())?);
        spawn_driver(shared.clone(), Box::new(device))?;
        Ok(Stack::driven_by_task(shared))
    }
}

/// Spawns the driver task: it sleeps on the device, the kick eventfd and the host's next
/// deadline through tokio, and does the same work per wakeup as the driver thread.
fn spawn_driver(shared: Arc<Shared>, device: Box<dyn Device>) -> io::Result<()> {
    let mut d = TaskDriver {
        dev: register(device.poll_fd())?,
        kick: register(shared.kick_fd().as_raw_fd())?,
        device,
        shared,
    };
    ::tokio::spawn(async move {
        let (mut rx, mut tx) = batches(&*d.device);
        loop {
            let Some(deadline) = sleep_for(&d.shared, &*d.device) else {
                return;
            };
            let timer = async {
                match deadline {
                    Some(t) => ::tokio::time::sleep(t).await,
                    None => std::future::pending().await,
                }
            };
            // Readiness is cleared before the work, so a packet or kick that comes during
            // it marks the descriptor ready again and is not slept through.
            ::tokio::select! {
                g = d.dev.readable() => if let Ok(mut g) = g { g.clear_ready() },
                g = d.kick.readable() => if let Ok(mut g) = g { g.clear_ready() },
                () = timer => {}
            }
            loop {
                d.shared.take_kick();
                match step(&d.shared, &mut *d.device, &mut rx, &mut tx) {
                    Ok(true) => break,
                    // Packets still waiting: go on after letting other tasks run.
                    Ok(false) => ::tokio::task::yield_now().await,
                    Err(e) => {
                        eprintln!("synack: driver stopped: {e}");
                        d.shared.stop();
                        return;
                    }
                }
            }
        }
    });
    Ok(())
}

/// A listening socket.
pub struct TcpListener {
    shared: Arc<Shared>,
    id: SocketId,
}

impl TcpListener {
    /// Listens on `addr`; port 0 picks a free ephemeral port.
    pub async fn bind(stack: &Stack, addr: SocketAddr) -> io::Result<TcpListener> {
        let id = stack.shared.listen(addr, BACKLOG)?;
        Ok(TcpListener {
            shared: stack.shared.clone(),
            id,
        })
    }

    /// The next connection. Cancellation-safe: dropped before it completes, it has taken no
    /// connection from the queue.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.shared
            .poll_op(cx, self.id, Interest::Accept, |inner| {
                inner.try_accept(self.id)
            })
            .map_ok(|(id, peer)| (TcpStream::from_id(self.shared.clone(), id), peer))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.lock().listener_addr(self.id)
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.shared.close(self.id);
    }
}

/// What the stream and its owned halves share; the last one gone closes the connection.
struct StreamInner {
    shared: Arc<Shared>,
    id: SocketId,
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        self.shared.close(self.id);
    }
}

impl StreamInner {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        let n = match self.shared.poll_op(cx, id, Interest::Read, |inner| {
            inner.try_read(id, buf.initialize_unfilled())
        }) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let id = self.id;
        self.shared
            .poll_op(cx, id, Interest::Write, |inner| inner.try_write(id, data))
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let r = self.shared.lock().shutdown(self.id, how);
        self.shared.kick();
        r
    }

    fn poll_send_out_of_band(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let id = self.id;
        self.shared.poll_op(cx, id, Interest::Write, |inner| {
            inner.try_write_urgent(id, data)
        })
    }

    fn read_out_of_band(&self, peek: bool) -> io::Result<Option<u8>> {
        let r = self.shared.lock().read_urgent(self.id, peek);
        if !peek {
            // The byte taken may reopen the window.
            self.shared.kick();
        }
        r
    }

    fn at_mark(&self) -> io::Result<bool> {
        self.shared.lock().at_mark(self.id)
    }
}

/// A connected socket. Dropping it (and its owned halves) closes gracefully: a FIN after the
/// queued data, the rest finished by the stack; with `set_linger(Some(Duration::ZERO))` a
/// reset instead.
pub struct TcpStream {
    inner: Arc<StreamInner>,
}

/// Aborts a connect whose future was dropped before the handshake finished.
struct ConnectGuard<'a> {
    shared: &'a Arc<Shared>,
    id: Option<SocketId>,
}

impl Drop for ConnectGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.shared.abort(id);
        }
    }
}

impl TcpStream {
    fn from_id(shared: Arc<Shared>, id: SocketId) -> TcpStream {
        TcpStream {
            inner: Arc::new(StreamInner { shared, id }),
        }
    }

    /// Opens a connection to the first address of `addr` that accepts. Cancelling the
    /// future aborts the handshake in progress.
    pub async fn connect<A: ToSocketAddrs>(stack: &Stack, addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match TcpStream::open(stack, a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidInput)))
    }

    async fn open(stack: &Stack, addr: SocketAddr) -> io::Result<TcpStream> {
        let shared = &stack.shared;
        let id = shared.connect(addr)?;
        let mut guard = ConnectGuard {
            shared,
            id: Some(id),
        };
        poll_fn(|cx| shared.poll_op(cx, id, Interest::Write, |inner| inner.connect_status(id)))
            .await?;
        guard.id = None;
        Ok(TcpStream::from_id(shared.clone(), id))
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn id(&self) -> SocketId {
        self.inner.id
    }

    crate::options::stream_options!();

    /// `Some(Duration::ZERO)`: closing resets the connection (RFC 9293 §3.10.5 ABORT) and
    /// drops queued data. `Some(d)`: [`TcpStream::close`] sends the FIN and waits up to `d`
    /// for it and all data to be acknowledged (SO_LINGER; a drop cannot wait in a task, so
    /// dropping closes gracefully without waiting). `None`: closing is graceful and does not
    /// wait.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.shared()
            .lock()
            .set_option(self.id(), SockOpt::Linger(linger))
    }

    /// Closes the stream as `close(2)` would. With a non-zero linger, the FIN goes out now and
    /// the close waits until it and all data are acknowledged, or the linger time is up (the
    /// connection then goes on closing as usual). Otherwise the same as dropping the stream.
    /// Halves from [`TcpStream::into_split`] are not affected: the connection closes when
    /// the last share goes.
    pub async fn close(self) -> io::Result<()> {
        let id = self.id();
        let linger = self.shared().lock().linger(id)?;
        if let Some(d) = linger.filter(|d| !d.is_zero()) {
            // A stream already shut for writing has sent its FIN: wait for it all the same.
            let _ = self.inner.shutdown(Shutdown::Write);
            let shared = &self.inner.shared;
            let acknowledged = poll_fn(|cx| {
                shared.poll_op(cx, id, Interest::Write, |inner| {
                    match inner.linger_done(id) {
                        Ok(true) => Ok(()),
                        Ok(false) => Err(crate::error::would_block()),
                        Err(e) => Err(e),
                    }
                })
            });
            // Running out of linger time is not an error: the close goes on in the stack.
            let _ = ::tokio::time::timeout(d, acknowledged).await;
        }
        drop(self);
        Ok(())
    }

    /// Writes urgent data (`send(MSG_OOB)`, RFC 9293 §3.10.2): what fits of `data`, whose
    /// last byte written becomes the out-of-band byte the peer reads with
    /// `recv_out_of_band`. Waits for room as a write does; cancellation-safe (dropped
    /// before it completes, it has written nothing).
    pub async fn send_out_of_band(&self, data: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send_out_of_band(cx, data)).await
    }

    pub fn poll_send_out_of_band(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_send_out_of_band(cx, data)
    }

    /// Halves that borrow the stream, for use in one task.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(&self.inner), WriteHalf(&self.inner))
    }

    /// Halves that own a share of the stream, for use in two tasks. Dropping the write half
    /// half-closes the connection (a FIN), as tokio's does.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf(self.inner.clone()),
            OwnedWriteHalf {
                inner: self.inner,
                shutdown_on_drop: true,
            },
        )
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner.poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, data)
    }

    /// Written data is already the stack's to send; nothing is held back here.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Sends a FIN after the queued data (RFC 9293 §3.10.4); reading goes on.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.shutdown(Shutdown::Write))
    }
}

/// The reading half of [`TcpStream::split`].
pub struct ReadHalf<'a>(&'a StreamInner);
/// The writing half of [`TcpStream::split`].
pub struct WriteHalf<'a>(&'a StreamInner);
/// The reading half of [`TcpStream::into_split`].
pub struct OwnedReadHalf(Arc<StreamInner>);
/// The writing half of [`TcpStream::into_split`].
pub struct OwnedWriteHalf {
    inner: Arc<StreamInner>,
    shutdown_on_drop: bool,
}

impl OwnedWriteHalf {
    /// Drops the half without sending a FIN.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // Already shut or closed: nothing more to send.
            let _ = self.inner.shutdown(Shutdown::Write);
        }
    }
}

impl AsyncRead for ReadHalf<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.poll_read(cx, buf)
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.poll_read(cx, buf)
    }
}

macro_rules! write_half {
    ($t:ty, $inner:tt) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.$inner.poll_write(cx, data)
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.$inner.shutdown(Shutdown::Write))
            }
        }
    };
}

write_half!(WriteHalf<'_>, 0);
write_half!(OwnedWriteHalf, inner);

/// The urgent-data calls of a half: sending on the write halves, reading the out-of-band
/// byte and the mark on the read halves, each the same as the whole stream's.
macro_rules! urgent_half {
    (write $t:ty, $inner:tt) => {
        impl $t {
            /// As [`TcpStream::send_out_of_band`].
            pub async fn send_out_of_band(&self, data: &[u8]) -> io::Result<usize> {
                poll_fn(|cx| self.$inner.poll_send_out_of_band(cx, data)).await
            }

            pub fn poll_send_out_of_band(
                &self,
                cx: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.$inner.poll_send_out_of_band(cx, data)
            }
        }
    };
    (read $t:ty) => {
        impl $t {
            /// As [`TcpStream::recv_out_of_band`]: never waits.
            pub fn recv_out_of_band(&self) -> io::Result<Option<u8>> {
                self.0.read_out_of_band(false)
            }

            /// As [`TcpStream::peek_out_of_band`].
            pub fn peek_out_of_band(&self) -> io::Result<Option<u8>> {
                self.0.read_out_of_band(true)
            }

            /// As [`TcpStream::at_mark`] (`SIOCATMARK`).
            pub fn at_mark(&self) -> io::Result<bool> {
                self.0.at_mark()
            }
        }
    };
}

urgent_half!(write WriteHalf<'_>, 0);
urgent_half!(write OwnedWriteHalf, inner);
urgent_half!(read ReadHalf<'_>);
urgent_half!(read OwnedReadHalf);

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
