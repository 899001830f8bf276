//! The data calls: `read`, `recv`, `recvfrom`, `recvmsg`, `readv` and `write`, `send`,
//! `sendto`, `sendmsg`, `writev`, with the `MSG_` flags that change what they do (`MSG_OOB`
//! for urgent data among them).
//!
//! The script's buffers are `...`: only lengths matter (an iovec is `{..., len}`). The
//! address arguments of `sendto`/`recvfrom` are ignored on a connected socket, as Linux does
//! for TCP.

use crate::ast::*;
use crate::errno::Errno;
use crate::socket::{SockError, Stack, consts};
use crate::symbols::eval_int;

use super::Runner;
use super::wait::{Step, UNSUPPORTED_CALL, Wait};

const MSG_OOB: i64 = consts::MSG_OOB as i64;
const MSG_PEEK: i64 = consts::MSG_PEEK as i64;
const MSG_DONTWAIT: i64 = consts::MSG_DONTWAIT as i64;
const MSG_WAITALL: i64 = consts::MSG_WAITALL as i64;
const MSG_NOSIGNAL: i64 = consts::MSG_NOSIGNAL as i64;
const MSG_MORE: i64 = consts::MSG_MORE as i64;

/// A read in progress.
#[derive(Clone, Debug)]
pub(super) struct Read {
    fd: i32,
    /// Bytes asked for.
    want: usize,
    /// Bytes read so far (`MSG_WAITALL` reads until `want`).
    got: usize,
    peek: bool,
    waitall: bool,
    dontwait: bool,
    /// `MSG_OOB`: the out-of-band byte, never waited for.
    oob: bool,
}

/// A write in progress.
#[derive(Clone, Debug)]
pub(super) struct Write {
    fd: i32,
    left: usize,
    done: usize,
    dontwait: bool,
    /// `MSG_MORE`.
    more: bool,
    /// `MSG_OOB`: the data written ends the urgent data.
    oob: bool,
}

impl Runner {
    pub(super) fn call_read(&mut self, call: &Syscall) -> Result<Step, String> {
        let fd = self.fd_arg(call, 0)?;
        let (want, flags) = match call.name.as_str() {
            "recvmsg" => {
                let (len, msg_flags) = msghdr(call.args.get(1))?;
                // synack returns no msg_flags: TCP never truncates, and there is no control
                // data.
                if let Some(f) = msg_flags.filter(|f| *f != 0) {
                    return Err(format!("recvmsg msg_flags 0, expected {f:#x}"));
                }
                (len, flag_arg(call, 2)?)
            }
            "readv" => (iov_len(call.args.get(1))?, 0),
            "read" => (Self::len_arg(call, 2)?, 0),
            _ => (Self::len_arg(call, 2)?, flag_arg(call, 3)?),
        };
        check_flags(
            flags,
            MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_OOB,
            &call.name,
        )?;
        self.step(&Wait::Read(Read {
            fd,
            want,
            got: 0,
            peek: flags & MSG_PEEK != 0,
            waitall: flags & MSG_WAITALL != 0,
            dontwait: flags & MSG_DONTWAIT != 0,
            oob: flags & MSG_OOB != 0,
        }))
    }

    pub(super) fn call_write(&mut self, call: &Syscall) -> Result<Step, String> {
        let fd = self.fd_arg(call, 0)?;
        let (left, flags) = match call.name.as_str() {
            "sendmsg" => (msghdr(call.args.get(1))?.0, flag_arg(call, 2)?),
            "writev" => (iov_len(call.args.get(1))?, 0),
            "write" => (Self::len_arg(call, 2)?, 0),
            _ => (Self::len_arg(call, 2)?, flag_arg(call, 3)?),
        };
        // synack raises no SIGPIPE: EPIPE is what every write sees, so MSG_NOSIGNAL is what
        // it already does.
        check_flags(
            flags,
            MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE | MSG_OOB,
            &call.name,
        )?;
        self.step(&Wait::Write(Write {
            fd,
            left,
            done: 0,
            dontwait: flags & MSG_DONTWAIT != 0,
            more: flags & MSG_MORE != 0,
            oob: flags & MSG_OOB != 0,
        }))
    }

    fn len_arg(call: &Syscall, k: usize) -> Result<usize, String> {
        usize::try_from(Self::int_arg(call, k)?).map_err(|_| "negative length".into())
    }

    /// One attempt at a read: as much as is there now.
    pub(super) fn step_read(&mut self, r: &Read) -> Step {
        let blocking = !r.dontwait && is_blocking(&self.stack, r.fd);
        if r.oob {
            // Linux never blocks a read of urgent data (`tcp_recv_urg`).
            let res = self.stack.read_urgent(r.fd, r.want, r.peek);
            return Step::Done(res.map(|d| d.len() as i64));
        }
        if r.peek {
            return match self.stack.peek(r.fd, r.want) {
                Err(SockError::Errno(Errno::EAGAIN)) if blocking => {
                    Step::Block(Wait::Read(r.clone()))
                }
                res => Step::Done(res.map(|d| d.len() as i64)),
            };
        }
        let mut got = r.got;
        // Bounded by the length asked for: each turn reads at least one byte or ends.
        loop {
            match self.stack.read(r.fd, r.want - got).map(|d| d.len()) {
                // End of stream.
                Ok(0) => return Step::Done(Ok(got as i64)),
                Ok(n) => {
                    got += n;
                    if !r.waitall || got >= r.want {
                        return Step::Done(Ok(got as i64));
                    }
                }
                Err(SockError::Errno(Errno::EAGAIN)) if blocking => {
                    return Step::Block(Wait::Read(Read { got, ..r.clone() }));
                }
                // A MSG_WAITALL read cut short reports what it had.
                Err(_) if got > 0 => return Step::Done(Ok(got as i64)),
                Err(e) => return Step::Done(Err(e)),
            }
        }
    }

    /// One attempt at a write.
    pub(super) fn step_write(&mut self, w: &Write) -> Step {
        let blocking = !w.dontwait && is_blocking(&self.stack, w.fd);
        // Bounded: no send buffer takes more than this at once.
        let chunk = vec![0u8; w.left.min(16 << 20)];
        let written = if w.oob {
            self.stack.write_urgent(w.fd, &chunk)
        } else {
            self.stack.write_more(w.fd, &chunk, w.more)
        };
        match written {
            Ok(n) if n < w.left && blocking => Step::Block(Wait::Write(Write {
                left: w.left - n,
                done: w.done + n,
                ..w.clone()
            })),
            Ok(n) => Step::Done(Ok((w.done + n) as i64)),
            Err(SockError::Errno(Errno::EAGAIN)) if blocking => Step::Block(Wait::Write(w.clone())),
            // A blocking write that had written some reports that much.
            Err(_) if w.done > 0 => Step::Done(Ok(w.done as i64)),
            Err(e) => Step::Done(Err(e)),
        }
    }
}

fn is_blocking(s: &Stack, fd: i32) -> bool {
    !s.is_nonblocking(fd).unwrap_or(true)
}

/// The flags argument at `k` (0 when absent).
fn flag_arg(call: &Syscall, k: usize) -> Result<i64, String> {
    match call.args.get(k) {
        None | Some(Expr::Ellipsis) => Ok(0),
        Some(e) => eval_int(e),
    }
}

/// Flags outside `known` are a feature synack lacks, named.
fn check_flags(flags: i64, known: i64, call: &str) -> Result<(), String> {
    let other = flags & !known;
    if other == 0 {
        return Ok(());
    }
    Err(format!("{UNSUPPORTED_CALL} the {call} flag {other:#x}"))
}

/// The total length of an iovec list, `[{..., 10}, {..., 20}]`.
fn iov_len(e: Option<&Expr>) -> Result<usize, String> {
    let Some(Expr::List(iovs)) = e else {
        return Err("expected an iovec list [{..., len}, ...]".into());
    };
    let mut total = 0usize;
    for iov in iovs {
        // `{..., 10}` (base and length by position) or `{iov_base=..., iov_len=10}`.
        let len = match iov {
            Expr::Struct(fields) if fields.len() == 2 => {
                match fields.iter().find(|(k, _)| k == "iov_len") {
                    Some((_, v)) => v,
                    None => &fields[1].1,
                }
            }
            other => return Err(format!("an iovec is {{..., len}}, not {other}")),
        };
        let n = usize::try_from(eval_int(len)?).map_err(|_| "negative iovec length")?;
        total = total.saturating_add(n);
    }
    Ok(total)
}

/// A `struct msghdr`: its iovecs' total length and the `msg_flags` it names. Control data
/// (`msg_control`) is a feature synack lacks.
fn msghdr(e: Option<&Expr>) -> Result<(usize, Option<i64>), String> {
    let Some(Expr::Struct(fields)) = e else {
        return Err("expected a struct msghdr {msg_iov(N)=[...], ...}".into());
    };
    let mut len = None;
    let mut flags = None;
    for (name, v) in fields {
        match name.split('(').next().unwrap_or("") {
            "msg_iov" => len = Some(iov_len(Some(v))?),
            "msg_flags" => flags = Some(eval_int(v)?),
            "msg_name" | "msg_namelen" | "msg_iovlen" | "msg_controllen" => {}
            "msg_control" if matches!(v, Expr::List(l) if l.is_empty()) => {}
            "msg_control" => {
                return Err(format!("{UNSUPPORTED_CALL} control messages (msg_control)"));
            }
            other => return Err(format!("unknown msghdr field {other}")),
        }
    }
    Ok((len.ok_or("a msghdr without msg_iov")?, flags))
}
