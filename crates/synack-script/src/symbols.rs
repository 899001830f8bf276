//! The values a script's socket calls speak in: symbols (`SOCK_STREAM`, `O_NONBLOCK`,
//! errno names), integer expressions (`A|B`, `htons(x)`, `[x]`), option values, and how they
//! print in messages.

use crate::ast::Expr;
use crate::errno::Errno;
use crate::socket::{self, OptText, OptValue, consts::*};

/// How the error for a name synack does not know starts (the runner reports it as an
/// unsupported feature: in a packetdrill script it is a real Linux constant).
pub const UNKNOWN_SYMBOL: &str = "unknown symbol";

pub fn show_poll(v: i16) -> String {
    let names = [
        (POLLIN, "POLLIN"),
        (POLLPRI, "POLLPRI"),
        (POLLOUT, "POLLOUT"),
        (POLLERR, "POLLERR"),
        (POLLHUP, "POLLHUP"),
        (POLLNVAL, "POLLNVAL"),
        (POLLRDNORM, "POLLRDNORM"),
        (POLLWRNORM, "POLLWRNORM"),
        (POLLRDHUP, "POLLRDHUP"),
    ];
    let parts: Vec<&str> = names
        .iter()
        .filter(|(b, _)| v & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join("|")
    }
}

pub fn show_opt(v: OptValue) -> String {
    match v {
        OptValue::Int(i) => format!("[{i}]"),
        OptValue::Linger { onoff, linger } => format!("{{onoff={onoff}, linger={linger}}}"),
        OptValue::Text(t) => format!("{t:?}"),
    }
}

pub fn opt_value(e: &Expr) -> Result<OptValue, String> {
    match e {
        Expr::List(xs) if xs.len() == 1 => Ok(OptValue::Int(eval_int(&xs[0])?)),
        Expr::Struct(fields) => {
            let get = |n: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| eval_int(v))
                    .transpose()
                    .map(|v| v.unwrap_or(0) as i32)
            };
            Ok(OptValue::Linger {
                onoff: get("onoff")?,
                linger: get("linger")?,
            })
        }
        Expr::Str(text) => OptText::new(text.as_bytes())
            .map(OptValue::Text)
            .ok_or_else(|| format!("the option value {text:?} is longer than 16 bytes")),
        other => Ok(OptValue::Int(eval_int(other)?)),
    }
}

/// The value of a symbol a script may use as an argument or result.
pub fn symbol(name: &str) -> Option<i64> {
    // An option's name stands for its number; its level is spelled separately in the call.
    if let Some((_, opt)) = socket::option_by_name(name) {
        return Some(i64::from(opt));
    }
    if let Some(e) = Errno::from_name(name) {
        return Some(i64::from(e.code()));
    }
    Some(match name {
        "AF_INET" | "PF_INET" => i64::from(AF_INET),
        "AF_INET6" | "PF_INET6" => i64::from(AF_INET6),
        "SOCK_STREAM" => i64::from(SOCK_STREAM),
        "SOCK_NONBLOCK" => i64::from(SOCK_NONBLOCK),
        "SOCK_CLOEXEC" => i64::from(SOCK_CLOEXEC),
        "IPPROTO_TCP" | "SOL_TCP" => i64::from(IPPROTO_TCP),
        "IPPROTO_IP" | "SOL_IP" => i64::from(IPPROTO_IP),
        "IPPROTO_IPV6" | "SOL_IPV6" => i64::from(IPPROTO_IPV6),
        "SOL_SOCKET" => i64::from(SOL_SOCKET),
        // ioctl requests (Linux numbers): bytes readable, bytes not yet acknowledged, at the
        // urgent mark.
        "SIOCINQ" | "FIONREAD" => 0x541B,
        "SIOCOUTQ" | "TIOCOUTQ" => 0x5411,
        "SIOCATMARK" => 0x8905,
        "TCP_INFO" => i64::from(TCP_INFO),
        "F_GETFL" => i64::from(F_GETFL),
        "F_SETFL" => i64::from(F_SETFL),
        "O_RDONLY" => i64::from(O_RDONLY),
        "O_WRONLY" => i64::from(O_WRONLY),
        "O_RDWR" => i64::from(O_RDWR),
        "O_NONBLOCK" => i64::from(O_NONBLOCK),
        "SHUT_RD" => i64::from(SHUT_RD),
        "SHUT_WR" => i64::from(SHUT_WR),
        "SHUT_RDWR" => i64::from(SHUT_RDWR),
        "POLLIN" => i64::from(POLLIN),
        "POLLPRI" => i64::from(POLLPRI),
        "POLLOUT" => i64::from(POLLOUT),
        "POLLERR" => i64::from(POLLERR),
        "POLLHUP" => i64::from(POLLHUP),
        "POLLNVAL" => i64::from(POLLNVAL),
        "POLLRDNORM" => i64::from(POLLRDNORM),
        "POLLWRNORM" => i64::from(POLLWRNORM),
        "POLLRDHUP" => i64::from(POLLRDHUP),
        "MSG_OOB" => i64::from(MSG_OOB),
        "MSG_PEEK" => i64::from(MSG_PEEK),
        "MSG_DONTWAIT" => i64::from(MSG_DONTWAIT),
        "MSG_WAITALL" => i64::from(MSG_WAITALL),
        "MSG_NOSIGNAL" => i64::from(MSG_NOSIGNAL),
        "MSG_MORE" => i64::from(MSG_MORE),
        // epoll(7): the event bits are poll's.
        "EPOLLIN" => i64::from(POLLIN),
        "EPOLLPRI" => i64::from(POLLPRI),
        "EPOLLOUT" => i64::from(POLLOUT),
        "EPOLLERR" => i64::from(POLLERR),
        "EPOLLHUP" => i64::from(POLLHUP),
        "EPOLLRDNORM" => i64::from(POLLRDNORM),
        "EPOLLWRNORM" => i64::from(POLLWRNORM),
        "EPOLLRDHUP" => i64::from(POLLRDHUP),
        "EPOLLONESHOT" => 1 << 30,
        "EPOLLET" => 1 << 31,
        "EPOLL_CTL_ADD" => 1,
        "EPOLL_CTL_DEL" => 2,
        "EPOLL_CTL_MOD" => 3,
        "EPOLL_CLOEXEC" => 0o2000000,
        "NULL" => 0,
        _ => return None,
    })
}

/// An integer argument: a number, a symbol, `A|B`, `htons(x)`, `[x]`.
pub fn eval_int(e: &Expr) -> Result<i64, String> {
    match e {
        Expr::Int(i) => Ok(*i),
        Expr::Word(w) => symbol(w).ok_or_else(|| format!("{UNKNOWN_SYMBOL} {w}")),
        Expr::Or(xs) => xs.iter().try_fold(0i64, |acc, x| Ok(acc | eval_int(x)?)),
        Expr::Call(f, args) if (f == "htons" || f == "htonl") && args.len() == 1 => {
            eval_int(&args[0])
        }
        Expr::List(xs) if xs.len() == 1 => eval_int(&xs[0]),
        other => Err(format!("expected an integer, found {other}")),
    }
}
