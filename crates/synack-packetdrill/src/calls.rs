//! The socket calls in Rust terms: what blocks and when, over [`Stack`]'s never-blocking
//! calls. The FFI layer ([`crate::ffi`]) only converts pointers to these arguments.
//!
//! A call blocks when its socket is blocking (no `O_NONBLOCK`, no `MSG_DONTWAIT`) and the
//! stack answers `EAGAIN` (or `EINPROGRESS` for `connect`); it then waits as
//! [`Instance::call`] describes and returns once the stack gives a result.

use std::net::{IpAddr, SocketAddr};

use libc::c_int;
use synack_proto::StateName;
use synack_script::socket::consts::{
    F_GETFL, F_SETFL, O_NONBLOCK, POLLERR, POLLHUP, POLLNVAL, POLLRDHUP,
};
use synack_script::{Errno, OptValue, SockError, Stack};

use crate::fds;
use crate::instance::{Instance, Step, World, errno};
use crate::tcp_info;

/// One `struct pollfd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollFd {
    pub fd: c_int,
    pub events: i16,
    pub revents: i16,
}

/// The `recv` flags that change what a read does (Linux's `MSG_*` meanings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvFlags {
    /// `MSG_DONTWAIT`: this call does not block.
    pub dontwait: bool,
    /// `MSG_PEEK`: copy the queued bytes, leaving them queued.
    pub peek: bool,
    /// `MSG_WAITALL`: block until the whole length arrived.
    pub waitall: bool,
    /// `MSG_TRUNC`: on TCP, the bytes are taken and thrown away (Linux's `tcp_recvmsg`).
    pub trunc: bool,
    /// `MSG_OOB`: the out-of-band byte instead of the stream (Linux's `tcp_recv_urg`).
    pub oob: bool,
}

/// What a read came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// Bytes for the caller's buffer (taken off the receive queue, or copied by a peek).
    Data(Vec<u8>),
    /// How many bytes `MSG_TRUNC` took and threw away, with nothing to copy (TCP's meaning
    /// in Linux's `tcp_recvmsg`).
    Count(usize),
}

/// Whether the peer's FIN arrived or the connection is gone: no more bytes will come.
fn eof(stack: &Stack, fd: c_int) -> bool {
    stack.poll_events(fd) & (POLLRDHUP | POLLHUP | POLLERR) != 0
}

fn would_block(e: &SockError) -> bool {
    *e == SockError::Errno(Errno::EAGAIN)
}

/// Whether an `EAGAIN` on `fd` means waiting.
fn blocks(stack: &Stack, fd: c_int, dontwait: bool) -> bool {
    !dontwait && stack.is_nonblocking(fd) == Ok(false)
}

impl Instance {
    fn e(&self, e: SockError) -> c_int {
        errno(e, self.quiet())
    }

    /// Hands out a descriptor of the library's own for the stack's socket `sfd` (see
    /// [`crate::fds`]); without one, the socket is closed again.
    fn hand_out(&self, w: &mut World, sfd: i32) -> Result<c_int, c_int> {
        match fds::open() {
            Ok(fd) => {
                w.fds.insert(fd, sfd);
                Ok(fd)
            }
            Err(e) => {
                let now = w.instant();
                let _ = w.stack.close(now, sfd);
                Err(e)
            }
        }
    }

    pub fn socket(&self, domain: c_int, ty: c_int, protocol: c_int) -> Result<c_int, c_int> {
        self.simple(|w| {
            let sfd = w
                .stack
                .socket(domain, ty, protocol)
                .map_err(|e| self.e(e))?;
            self.hand_out(w, sfd)
        })
    }

    pub fn bind(&self, fd: c_int, addr: SocketAddr) -> Result<(), c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            w.stack.bind(fd, addr).map_err(|e| self.e(e))
        })
    }

    pub fn listen(&self, fd: c_int, backlog: c_int) -> Result<(), c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            w.stack.listen(fd, backlog).map_err(|e| self.e(e))
        })
    }

    pub fn accept(&self, fd: c_int) -> Result<(c_int, SocketAddr), c_int> {
        self.call(|w| {
            let fd = match w.sfd(fd) {
                Ok(fd) => fd,
                Err(e) => return Step::Done(Err(e)),
            };
            match w.stack.accept(fd) {
                Ok((sfd, peer)) => Step::Done(self.hand_out(w, sfd).map(|fd| (fd, peer))),
                Err(e) if would_block(&e) && blocks(&w.stack, fd, false) => {
                    Step::Wait { until: None }
                }
                Err(e) => Step::Done(Err(self.e(e))),
            }
        })
    }

    /// Gives a socket that has no local address one to open from. Needed only when no
    /// `local=` flag named synack's addresses: then synack accepts packets for any address
    /// (so a listener works whatever `--local_ip` packetdrill picked) but has no address of
    /// its own to start an active open from, so the library binds the socket to
    /// [`crate::instance::DEFAULT_SOURCE_V4`] (or v6) and the next free port of the ephemeral
    /// range.
    fn bind_source(&self, w: &mut World, fd: c_int, remote: SocketAddr) -> Result<(), c_int> {
        if !w.stack.host().config().local_addrs.is_empty()
            || w.stack.local_addr(fd).map_err(|e| self.e(e))?.is_some()
        {
            return Ok(());
        }
        let ip: IpAddr = self.default_source(remote.is_ipv6());
        let (lo, hi) = self.ephemeral();
        let span = u32::from(hi.saturating_sub(lo)) + 1;
        for _ in 0..span {
            let port = w.next_port;
            w.next_port = if port >= hi || port < lo {
                lo
            } else {
                port + 1
            };
            match w.stack.bind(fd, SocketAddr::new(ip, port)) {
                Ok(()) => return Ok(()),
                Err(SockError::Errno(Errno::EADDRINUSE)) => continue,
                Err(e) => return Err(self.e(e)),
            }
        }
        Err(libc::EADDRNOTAVAIL)
    }

    pub fn connect(&self, fd: c_int, remote: SocketAddr) -> Result<(), c_int> {
        let mut started = false;
        self.call(|w| {
            let fd = match w.sfd(fd) {
                Ok(fd) => fd,
                Err(e) => return Step::Done(Err(e)),
            };
            if started {
                return match w.stack.connect_result(fd) {
                    Ok(None) => Step::Wait { until: None },
                    Ok(Some(Ok(()))) => Step::Done(Ok(())),
                    Ok(Some(Err(e))) => Step::Done(Err(e.code())),
                    Err(e) => Step::Done(Err(self.e(e))),
                };
            }
            started = true;
            if let Err(e) = self.bind_source(w, fd, remote) {
                return Step::Done(Err(e));
            }
            let now = w.instant();
            match w.stack.connect(now, fd, remote) {
                Ok(()) => Step::Done(Ok(())),
                Err(SockError::Errno(Errno::EINPROGRESS)) if blocks(&w.stack, fd, false) => {
                    Step::Wait { until: None }
                }
                Err(e) => Step::Done(Err(self.e(e))),
            }
        })
    }

    /// Reads up to `len` bytes as `recv` with `flags` does; empty is end of stream.
    /// `MSG_WAITALL` on a blocking socket waits until all `len` bytes came, returning short
    /// only at the end of the stream or an error (Linux's `tcp_recvmsg` target); `MSG_PEEK`
    /// copies the bytes and leaves them queued; `MSG_TRUNC` leaves nothing to copy.
    pub fn recv(&self, fd: c_int, len: usize, flags: RecvFlags) -> Result<Received, c_int> {
        let mut got: Vec<u8> = Vec::new();
        self.call(|w| {
            let fd = match w.sfd(fd) {
                Ok(fd) => fd,
                Err(e) => return Step::Done(Err(e)),
            };
            let waits = blocks(&w.stack, fd, flags.dontwait);
            if flags.oob {
                // Never waits, whatever the socket's mode (Linux's `tcp_recv_urg`).
                return Step::Done(match w.stack.read_urgent(fd, len, flags.peek) {
                    Ok(v) if flags.trunc => Ok(Received::Count(v.len())),
                    Ok(v) => Ok(Received::Data(v)),
                    Err(e) => Err(self.e(e)),
                });
            }
            if flags.peek {
                return match w.stack.peek(fd, len) {
                    // A MSG_WAITALL peek waits for the whole length too, short of the end of
                    // the stream.
                    Ok(v)
                        if flags.waitall
                            && waits
                            && !v.is_empty()
                            && v.len() < len
                            && !eof(&w.stack, fd) =>
                    {
                        Step::Wait { until: None }
                    }
                    Ok(v) if flags.trunc => Step::Done(Ok(Received::Count(v.len()))),
                    Ok(v) => Step::Done(Ok(Received::Data(v))),
                    Err(e) if would_block(&e) && waits => Step::Wait { until: None },
                    Err(e) => Step::Done(Err(self.e(e))),
                };
            }
            loop {
                match w.stack.read(fd, len - got.len()) {
                    Ok(v) if v.is_empty() => break,
                    Ok(v) => {
                        got.extend_from_slice(&v);
                        if got.len() >= len || !(flags.waitall && waits) {
                            break;
                        }
                    }
                    Err(e) if would_block(&e) && waits && (got.is_empty() || flags.waitall) => {
                        return Step::Wait { until: None };
                    }
                    Err(_) if !got.is_empty() => break,
                    Err(e) => return Step::Done(Err(self.e(e))),
                }
            }
            let data = std::mem::take(&mut got);
            Step::Done(Ok(if flags.trunc {
                Received::Count(data.len())
            } else {
                Received::Data(data)
            }))
        })
    }

    /// Writes `data`. A blocking socket takes all of it, waiting for room as Linux's
    /// `sk_stream_wait_memory` does, and returns short only when an error cuts it off; a
    /// non-blocking one takes what fits. `more` is `MSG_MORE`: a short tail waits for more.
    pub fn write(
        &self,
        fd: c_int,
        data: &[u8],
        dontwait: bool,
        more: bool,
    ) -> Result<usize, c_int> {
        self.write_marked(fd, data, dontwait, more, false)
    }

    /// `send(MSG_OOB)`: [`Instance::write`], each part taken ending the urgent data, so
    /// the whole of it does once all is taken.
    pub fn write_urgent(&self, fd: c_int, data: &[u8], dontwait: bool) -> Result<usize, c_int> {
        self.write_marked(fd, data, dontwait, false, true)
    }

    fn write_marked(
        &self,
        fd: c_int,
        data: &[u8],
        dontwait: bool,
        more: bool,
        urgent: bool,
    ) -> Result<usize, c_int> {
        let mut done = 0usize;
        self.call(|w| {
            let fd = match w.sfd(fd) {
                Ok(fd) => fd,
                Err(_) if done > 0 => return Step::Done(Ok(done)),
                Err(e) => return Step::Done(Err(e)),
            };
            loop {
                let written = if urgent {
                    w.stack.write_urgent(fd, &data[done..])
                } else {
                    w.stack.write_more(fd, &data[done..], more)
                };
                match written {
                    Ok(n) => {
                        done += n;
                        if done >= data.len() || !blocks(&w.stack, fd, dontwait) {
                            return Step::Done(Ok(done));
                        }
                        if n == 0 {
                            return Step::Wait { until: None };
                        }
                    }
                    Err(e) if would_block(&e) => {
                        return if blocks(&w.stack, fd, dontwait) {
                            Step::Wait { until: None }
                        } else if done > 0 {
                            Step::Done(Ok(done))
                        } else {
                            Step::Done(Err(libc::EAGAIN))
                        };
                    }
                    Err(_) if done > 0 => return Step::Done(Ok(done)),
                    Err(e) => return Step::Done(Err(self.e(e))),
                }
            }
        })
    }

    /// The peer of a connected socket (`recvfrom`'s source address).
    pub fn peer(&self, fd: c_int) -> Result<SocketAddr, c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            w.stack.addrs(fd).map(|(_, r)| r).map_err(|e| self.e(e))
        })
    }

    pub fn shutdown(&self, fd: c_int, how: c_int) -> Result<(), c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            w.stack.shutdown(fd, how).map_err(|e| self.e(e))
        })
    }

    /// Closes the socket and the library's descriptor behind `fd`; like Linux's, the
    /// descriptor is gone even when the socket reports an error.
    pub fn close(&self, fd: c_int) -> Result<(), c_int> {
        self.simple(|w| {
            // Whatever the descriptor, it leaves every epoll interest list it was on.
            if w.epolls.close(fd) {
                fds::close(fd);
                return Ok(());
            }
            let sfd = w.fds.remove(&fd).ok_or(libc::EBADF)?;
            fds::close(fd);
            let now = w.instant();
            w.stack.close(now, sfd).map_err(|e| self.e(e))
        })
    }

    pub fn fcntl(&self, fd: c_int, cmd: c_int, arg: c_int) -> Result<c_int, c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            w.stack.fcntl(fd, cmd, arg).map_err(|e| self.e(e))
        })
    }

    /// `ioctl(FIONBIO)`: the same switch as `fcntl(F_SETFL, O_NONBLOCK)`.
    pub fn set_nonblocking(&self, fd: c_int, on: bool) -> Result<(), c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            let fl = w.stack.fcntl(fd, F_GETFL, 0).map_err(|e| self.e(e))?;
            let fl = if on {
                fl | O_NONBLOCK
            } else {
                fl & !O_NONBLOCK
            };
            w.stack.fcntl(fd, F_SETFL, fl).map_err(|e| self.e(e))?;
            Ok(())
        })
    }

    /// `(bytes readable, bytes sent but unacknowledged or unsent)`: `FIONREAD`/`SIOCINQ` and
    /// `SIOCOUTQ`. Linux refuses both on a listening socket and answers 0 for a socket with
    /// no connection.
    pub fn queues(&self, fd: c_int) -> Result<(usize, usize), c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            if w.stack.state(fd).map_err(|e| self.e(e))? == StateName::Listen {
                return Err(libc::EINVAL);
            }
            Ok(w.stack
                .tcp_info(fd)
                .map_or((0, 0), |i| (i.recv_buffered, i.send_buffered)))
        })
    }

    /// `SIOCATMARK`: whether the next read starts at the urgent mark.
    pub fn at_urgent_mark(&self, fd: c_int) -> Result<bool, c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            w.stack.at_urgent_mark(fd).map_err(|e| self.e(e))
        })
    }

    /// `EBADF` unless `fd` is a socket the library handed out and has not closed.
    pub fn check_fd(&self, fd: c_int) -> Result<(), c_int> {
        self.lock()?.sfd(fd).map(|_| ())
    }

    /// `getsockopt(TCP_INFO)`: Linux's `struct tcp_info` for the socket.
    pub fn tcp_info(&self, fd: c_int) -> Result<[u8; tcp_info::LEN], c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            let state = w.stack.state(fd).map_err(|e| self.e(e))?;
            let info = w.stack.tcp_info(fd).ok();
            Ok(tcp_info::encode(info.as_ref(), state))
        })
    }

    pub fn getsockopt(&self, fd: c_int, level: c_int, name: c_int) -> Result<OptValue, c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            w.stack.getsockopt(fd, level, name).map_err(|e| self.e(e))
        })
    }

    pub fn setsockopt(
        &self,
        fd: c_int,
        level: c_int,
        name: c_int,
        value: OptValue,
    ) -> Result<(), c_int> {
        self.simple(|w| {
            let fd = w.sfd(fd)?;
            w.stack
                .setsockopt(fd, level, name, value)
                .map_err(|e| self.e(e))
        })
    }

    /// `poll`: fills `revents` and returns how many descriptors have any. `timeout_ms` < 0
    /// waits for ever, 0 not at all; otherwise the call returns 0 once that much virtual
    /// time has passed.
    pub fn poll(&self, fds: &mut [PollFd], timeout_ms: c_int) -> Result<c_int, c_int> {
        let mut until: Option<Option<u64>> = None;
        self.call(|w| {
            let mut ready = 0;
            for p in fds.iter_mut() {
                p.revents = if p.fd < 0 {
                    0
                } else {
                    match w.sfd(p.fd) {
                        Ok(fd) => {
                            w.stack.poll_events(fd) & (p.events | POLLERR | POLLHUP | POLLNVAL)
                        }
                        Err(_) if w.epolls.contains(p.fd) => w.epoll_poll_events(p.fd) & p.events,
                        Err(_) => POLLNVAL,
                    }
                };
                if p.revents != 0 {
                    ready += 1;
                }
            }
            if ready > 0 || timeout_ms == 0 {
                return Step::Done(Ok(ready));
            }
            timed_wait(&mut until, w.now, timeout_ms, 0)
        })
    }
}

/// A call with a timeout (`poll`, `epoll_wait`) that found nothing ready: wait, or return
/// `nothing` once `timeout_ms` of virtual time has passed since the first attempt (`until`
/// keeps that deadline across attempts; a negative timeout has none).
pub(crate) fn timed_wait<T>(
    until: &mut Option<Option<u64>>,
    now: u64,
    timeout_ms: c_int,
    nothing: T,
) -> Step<T> {
    let deadline = *until.get_or_insert_with(|| {
        u64::try_from(timeout_ms)
            .ok()
            .map(|ms| now.saturating_add(ms * 1000))
    });
    match deadline {
        Some(d) if now >= d => Step::Done(Ok(nothing)),
        d => Step::Wait { until: d },
    }
}
