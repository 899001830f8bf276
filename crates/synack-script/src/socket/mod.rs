//! BSD sockets over a [`Host`]: file descriptors and errno values over
//! [`synack_socket::SocketTable`], which holds the socket semantics the runtime shares. This
//! layer only translates: descriptors to socket ids, Linux's constants and integer option
//! values to typed calls, and [`SocketError`]s to the errno Linux returns.
//!
//! The layer never waits. A call that would block returns `EAGAIN` (or `EINPROGRESS` for
//! `connect`); whoever drives time decides what blocking means: the script runner keeps the
//! call pending and retries it as virtual time moves, a C shim could loop on its clock hook.
//! [`Stack::is_nonblocking`] tells which behaviour the socket asked for.
//!
//! An option synack has no knob for answers [`SockError::Unsupported`], so a caller never
//! believes it took effect.

use std::fmt;
use std::net::SocketAddr;

use synack_proto::host::{Host, HostConfig};
use synack_proto::{CallError, Config, ConnError, Info, Instant, Keepalive, StateName};
use synack_socket::{Readiness, SocketError, SocketId, SocketTable, Wakeups};

use crate::errno::Errno;

/// Linux's numbers for the constants the calls take, so a C-ABI shim passes them through.
pub mod consts;
pub mod epoll;
mod options;

use consts::*;
pub use options::option_by_name;

/// Why a socket call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockError {
    /// What Linux would return as `-1` with this errno.
    Errno(Errno),
    /// The call or option is meaningful on Linux but synack has no knob for it; the text says
    /// which. Nothing was changed.
    Unsupported(String),
}

impl From<Errno> for SockError {
    fn from(e: Errno) -> SockError {
        SockError::Errno(e)
    }
}

impl From<SocketError> for SockError {
    fn from(e: SocketError) -> SockError {
        match e {
            SocketError::Unsupported(what) => SockError::Unsupported(what),
            e => SockError::Errno(errno_of_socket(&e)),
        }
    }
}

impl fmt::Display for SockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockError::Errno(e) => write!(f, "{e}"),
            SockError::Unsupported(what) => write!(f, "unsupported by synack: {what}"),
        }
    }
}

pub type SockResult<T> = Result<T, SockError>;

fn unsupported<T>(what: impl Into<String>) -> SockResult<T> {
    Err(SockError::Unsupported(what.into()))
}

/// A socket option's value: an integer for most, `struct linger` for `SO_LINGER`, a name
/// for `TCP_CONGESTION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptValue {
    Int(i64),
    Linger { onoff: i32, linger: i32 },
    Text(OptText),
}

/// A short string option value, held inline (Linux's `TCP_CA_NAME_MAX` is 16 bytes, the
/// terminating NUL included).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OptText {
    bytes: [u8; OptText::MAX],
    len: u8,
}

impl OptText {
    pub const MAX: usize = 16;

    /// The text, cut at its first NUL as C reads it; `None` when longer than [`OptText::MAX`].
    pub fn new(text: &[u8]) -> Option<OptText> {
        let text = text.split(|&b| b == 0).next().unwrap_or_default();
        if text.len() > OptText::MAX {
            return None;
        }
        let mut bytes = [0u8; OptText::MAX];
        bytes[..text.len()].copy_from_slice(text);
        Some(OptText {
            bytes,
            len: text.len() as u8,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The text as UTF-8 (empty when it is not).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl fmt::Debug for OptText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Maps why a connection ended to the errno a Linux socket reports for it.
pub fn errno_of(e: ConnError) -> Errno {
    match e {
        ConnError::ConnectionRefused => Errno::ECONNREFUSED,
        ConnError::ConnectionReset => Errno::ECONNRESET,
        ConnError::TimedOut => Errno::ETIMEDOUT,
        ConnError::ConnectionAborted => Errno::ECONNABORTED,
        _ => Errno::EIO,
    }
}

/// Maps a refused call to the errno a Linux socket reports for it.
pub fn call_errno(e: CallError) -> Errno {
    errno_of_socket(&e.into())
}

/// The errno Linux returns where the socket table answers `e`.
fn errno_of_socket(e: &SocketError) -> Errno {
    match e {
        SocketError::BadSocket | SocketError::StaleHandle => Errno::EBADF,
        SocketError::InvalidInput | SocketError::InvalidAddress => Errno::EINVAL,
        SocketError::FamilyNotSupported | SocketError::FamilyMismatch => Errno::EAFNOSUPPORT,
        SocketError::NoSuchOption => Errno::ENOPROTOOPT,
        SocketError::AddrInUse => Errno::EADDRINUSE,
        SocketError::AddrNotAvailable => Errno::EADDRNOTAVAIL,
        SocketError::ConnectionLimit | SocketError::WouldBlock => Errno::EAGAIN,
        SocketError::InProgress => Errno::EINPROGRESS,
        SocketError::AlreadyConnecting => Errno::EALREADY,
        SocketError::IsConnected => Errno::EISCONN,
        SocketError::NotConnected => Errno::ENOTCONN,
        SocketError::BrokenPipe => Errno::EPIPE,
        SocketError::Ended(e) => errno_of(*e),
        _ => Errno::EIO,
    }
}

/// The socket table over one host, by descriptor. Every call takes the time it happens at
/// when time matters to it.
pub struct Stack {
    table: SocketTable,
}

/// First descriptor handed out; 0-2 stand for stdio as in a process.
const FIRST_FD: i32 = 3;

fn id_of(fd: i32) -> SockResult<SocketId> {
    fd.checked_sub(FIRST_FD)
        .and_then(|raw| u32::try_from(raw).ok())
        .map(SocketId::from_raw)
        .ok_or(SockError::Errno(Errno::EBADF))
}

fn fd_of(id: SocketId) -> i32 {
    i32::try_from(id.raw()).map_or(i32::MAX, |raw| raw.saturating_add(FIRST_FD))
}

impl Stack {
    pub fn new(config: HostConfig) -> Stack {
        Stack {
            table: SocketTable::new(config),
        }
    }

    pub fn host(&self) -> &Host {
        self.table.host()
    }

    /// The host, for what sockets do not cover (counters, listener queues).
    pub fn host_mut(&mut self) -> &mut Host {
        self.table.host_mut()
    }

    /// The socket table under the descriptors.
    pub fn table(&self) -> &SocketTable {
        &self.table
    }

    /// Settings new sockets start with (what sysctls change).
    pub fn defaults_mut(&mut self) -> &mut Config {
        self.table.defaults_mut()
    }

    /// Keepalive timings new sockets start with (`tcp_keepalive_time` and friends).
    pub fn keepalive_defaults_mut(&mut self) -> &mut Keepalive {
        self.table.keepalive_defaults_mut()
    }

    /// Whether no socket exists: host-wide settings can still be replaced.
    pub fn is_idle(&self) -> bool {
        self.table.is_idle()
    }

    /// Replaces the host (a host-wide setting such as SYN cookies changed before any socket
    /// existed).
    pub fn rebuild(&mut self, config: HostConfig) -> SockResult<()> {
        Ok(self.table.rebuild(config)?)
    }

    // ------------------------------------------------------------------ packets and time

    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.table.handle_packet(now, packet);
    }

    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.table.poll_transmit(now, buf).map(|t| t.len)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.table.handle_timeout(now);
    }

    // ------------------------------------------------------------------ the calls

    pub fn socket(&mut self, domain: i32, ty: i32, protocol: i32) -> SockResult<i32> {
        let ipv6 = match domain {
            AF_INET => false,
            AF_INET6 => true,
            _ => return Err(Errno::EAFNOSUPPORT.into()),
        };
        if ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != SOCK_STREAM {
            return unsupported("socket types other than SOCK_STREAM");
        }
        if protocol != 0 && protocol != IPPROTO_TCP {
            return Err(Errno::EPROTONOSUPPORT.into());
        }
        let id = self.table.socket(ipv6);
        self.table.set_nonblocking(id, ty & SOCK_NONBLOCK != 0)?;
        Ok(fd_of(id))
    }

    pub fn is_nonblocking(&self, fd: i32) -> SockResult<bool> {
        Ok(self.table.is_nonblocking(id_of(fd)?)?)
    }

    pub fn bind(&mut self, fd: i32, addr: SocketAddr) -> SockResult<()> {
        Ok(self.table.bind(id_of(fd)?, addr)?)
    }

    pub fn listen(&mut self, fd: i32, backlog: i32) -> SockResult<()> {
        let backlog = usize::try_from(backlog.max(0)).unwrap_or(0);
        Ok(self.table.listen(id_of(fd)?, backlog)?)
    }

    pub fn accept(&mut self, fd: i32) -> SockResult<(i32, SocketAddr)> {
        let (id, remote) = self.table.accept(id_of(fd)?)?;
        Ok((fd_of(id), remote))
    }

    /// Starts an active open. Returns `EINPROGRESS` when the SYN is on its way, blocking
    /// socket or not: a blocking caller then waits on [`Stack::connect_result`].
    pub fn connect(&mut self, now: Instant, fd: i32, remote: SocketAddr) -> SockResult<()> {
        Ok(self.table.connect(now, id_of(fd)?, remote)?)
    }

    /// How an active open stands: `None` while the handshake runs, then its outcome (an
    /// error is reported once, as Linux's `sk_err`).
    pub fn connect_result(&mut self, fd: i32) -> SockResult<Option<Result<(), Errno>>> {
        match self.table.connect_status(id_of(fd)?) {
            Ok(()) => Ok(Some(Ok(()))),
            Err(SocketError::WouldBlock) => Ok(None),
            Err(SocketError::Ended(e)) => Ok(Some(Err(errno_of(e)))),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads up to `len` bytes; an empty result is end of stream.
    pub fn read(&mut self, fd: i32, len: usize) -> SockResult<Vec<u8>> {
        let id = id_of(fd)?;
        // Never more than the receive buffer can hold, whatever the caller asks for.
        let cap = self.table.options(id)?.config.recv_buffer.max(1);
        let mut buf = vec![0u8; len.min(cap)];
        let n = self.table.read(id, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// `MSG_PEEK`: up to `len` bytes a read would return now, leaving them queued; as
    /// [`Stack::read`] when nothing is queued (end of stream, an error, or `EAGAIN`).
    pub fn peek(&mut self, fd: i32, len: usize) -> SockResult<Vec<u8>> {
        let id = id_of(fd)?;
        let cap = self.table.options(id)?.config.recv_buffer.max(1);
        let mut buf = vec![0u8; len.min(cap)];
        let n = self.table.peek(id, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// `recv(MSG_OOB)`: the out-of-band byte (an empty result is end of stream); `EINVAL`
    /// when there is none to read or `SO_OOBINLINE` is set, `EAGAIN` while it is announced
    /// but has not arrived (see `SocketTable::read_urgent`).
    pub fn read_urgent(&mut self, fd: i32, len: usize, peek: bool) -> SockResult<Vec<u8>> {
        let byte = self.table.read_urgent(id_of(fd)?, peek)?;
        // Linux gives the byte to a read of at least one byte; a read of none learns only
        // that there is one.
        Ok(byte.into_iter().take(len).collect())
    }

    /// `send(MSG_OOB)`: writes what fits of `data`, its last byte taken ending the urgent
    /// data.
    pub fn write_urgent(&mut self, fd: i32, data: &[u8]) -> SockResult<usize> {
        Ok(self.table.write_urgent(id_of(fd)?, data)?)
    }

    /// `ioctl(SIOCATMARK)`: whether the next read starts at the urgent mark.
    pub fn at_urgent_mark(&self, fd: i32) -> SockResult<bool> {
        Ok(self.table.at_urgent_mark(id_of(fd)?)?)
    }

    /// Writes what fits of `data`; `EAGAIN` when nothing does, and while the handshake is
    /// still running (Linux's `sk_stream_wait_connect`).
    pub fn write(&mut self, fd: i32, data: &[u8]) -> SockResult<usize> {
        self.write_more(fd, data, false)
    }

    /// Writes what fits of `data`; `more` is `MSG_MORE` (see `TCP_CORK`).
    pub fn write_more(&mut self, fd: i32, data: &[u8], more: bool) -> SockResult<usize> {
        Ok(self.table.write_more(id_of(fd)?, data, more)?)
    }

    pub fn shutdown(&mut self, fd: i32, how: i32) -> SockResult<()> {
        let id = id_of(fd)?;
        if self.table.conn_of(id).is_none() {
            self.table.state(id)?;
            return Err(Errno::ENOTCONN.into());
        }
        if !matches!(how, SHUT_RD | SHUT_WR | SHUT_RDWR) {
            return Err(Errno::EINVAL.into());
        }
        Ok(self.table.shutdown(id, how != SHUT_WR, how != SHUT_RD)?)
    }

    /// Closes the descriptor: a connection finishes on its own (FIN, or RST with unread data
    /// or `SO_LINGER` 0), a listener resets what waits in its queues.
    pub fn close(&mut self, now: Instant, fd: i32) -> SockResult<()> {
        Ok(self.table.close(now, id_of(fd)?)?)
    }

    pub fn fcntl(&mut self, fd: i32, cmd: i32, arg: i32) -> SockResult<i32> {
        let id = id_of(fd)?;
        let nonblocking = self.table.is_nonblocking(id)?;
        match cmd {
            F_GETFL => Ok(O_RDWR | if nonblocking { O_NONBLOCK } else { 0 }),
            F_SETFL => {
                if arg & !(O_NONBLOCK | O_RDWR | O_WRONLY) != 0 {
                    return unsupported(format!("fcntl F_SETFL flags {arg:#o}"));
                }
                self.table.set_nonblocking(id, arg & O_NONBLOCK != 0)?;
                Ok(0)
            }
            _ => unsupported(format!("fcntl command {cmd}")),
        }
    }

    /// The events `poll` reports for a descriptor now.
    pub fn poll_events(&self, fd: i32) -> i16 {
        let Ok(r) = id_of(fd).and_then(|id| Ok(self.table.readiness(id)?)) else {
            return POLLNVAL;
        };
        match r {
            Readiness::Unopened => POLLOUT | POLLHUP,
            Readiness::Gone { error } => {
                POLLIN | POLLOUT | POLLHUP | if error { POLLERR } else { 0 }
            }
            Readiness::Open {
                readable,
                writable,
                error,
                hangup,
                peer_closed,
                urgent,
            } => {
                let bit = |on: bool, bits: i16| if on { bits } else { 0 };
                bit(error, POLLERR)
                    | bit(readable, POLLIN | POLLRDNORM)
                    | bit(urgent, POLLPRI)
                    | bit(peer_closed, POLLRDHUP)
                    | bit(writable, POLLOUT | POLLWRNORM)
                    | bit(hangup, POLLHUP)
            }
        }
    }

    /// What renewed the descriptor's readiness since the last call (for `EPOLLET`).
    pub fn take_wakeups(&mut self, fd: i32) -> SockResult<Wakeups> {
        Ok(self.table.take_wakeups(id_of(fd)?)?)
    }

    /// A waiter found no room to write: freed space becomes a wake-up.
    pub fn want_write_space(&mut self, fd: i32) -> SockResult<()> {
        Ok(self.table.want_write_space(id_of(fd)?)?)
    }

    /// The connection's STATUS (RFC 9293 §3.10.6), for `TCP_INFO`.
    pub fn tcp_info(&self, fd: i32) -> SockResult<Info> {
        Ok(self.table.info(id_of(fd)?)?)
    }

    /// The connection state of a descriptor (`LISTEN` for a listener, `CLOSED` before open).
    pub fn state(&self, fd: i32) -> SockResult<StateName> {
        Ok(self.table.state(id_of(fd)?)?)
    }

    /// (local, remote) of a connected descriptor.
    pub fn addrs(&self, fd: i32) -> SockResult<(SocketAddr, SocketAddr)> {
        Ok(self.table.addrs(id_of(fd)?)?)
    }

    /// The address a descriptor is bound to (by `bind`, or by `connect` choosing one).
    pub fn local_addr(&self, fd: i32) -> SockResult<Option<SocketAddr>> {
        Ok(self.table.local_addr(id_of(fd)?)?)
    }

    /// Descriptors in use, lowest first.
    pub fn fds(&self) -> Vec<i32> {
        self.table.ids().map(fd_of).collect()
    }
}
