//! Which socket options exist, and which synack takes, so `getsockopt`/`setsockopt` answer
//! with Linux's errno before looking at the buffer: an option Linux does not have on a TCP
//! socket is `ENOPROTOOPT`, one synack has no counterpart for is `EOPNOTSUPP`, whatever the
//! length the caller passed (a 1-byte `IP_MTU_DISCOVER` is not `EINVAL`).

use libc::c_int;
use synack_script::socket::consts::*;

/// The options `synack_script::socket::Stack` maps onto synack (its `setsockopt` and
/// `getsockopt`); a test checks the stack takes each of them.
pub const HANDLED: &[(c_int, c_int)] = &[
    (SOL_SOCKET, SO_REUSEADDR),
    (SOL_SOCKET, SO_ERROR),
    (SOL_SOCKET, SO_SNDBUF),
    (SOL_SOCKET, SO_RCVBUF),
    (SOL_SOCKET, SO_KEEPALIVE),
    (SOL_SOCKET, SO_LINGER),
    (SOL_SOCKET, SO_OOBINLINE),
    (IPPROTO_TCP, TCP_NODELAY),
    (IPPROTO_TCP, TCP_MAXSEG),
    (IPPROTO_TCP, TCP_KEEPIDLE),
    (IPPROTO_TCP, TCP_KEEPINTVL),
    (IPPROTO_TCP, TCP_KEEPCNT),
    (IPPROTO_TCP, TCP_USER_TIMEOUT),
    (IPPROTO_TCP, TCP_NOTSENT_LOWAT),
    (IPPROTO_TCP, TCP_CONGESTION),
    (IPPROTO_TCP, TCP_CORK),
    (IPPROTO_IP, IP_TOS),
    (IPPROTO_IP, IP_TTL),
    (IPPROTO_IPV6, IPV6_TCLASS),
    (IPPROTO_IPV6, IPV6_UNICAST_HOPS),
    (IPPROTO_IPV6, IPV6_V6ONLY),
];

/// What an option is to this library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// synack takes it; the buffer must hold its value.
    Handled,
    /// `TCP_INFO`: `getsockopt` fills Linux's struct ([`crate::tcp_info`]); `setsockopt` is
    /// `ENOPROTOOPT`, as Linux's `do_tcp_setsockopt` answers it.
    Info,
    /// Linux has it, synack does not: `EOPNOTSUPP`.
    Unsupported,
    /// Not an option of a TCP socket on Linux: `ENOPROTOOPT`.
    Unknown,
}

/// The highest option number Linux 6.x defines at each level a TCP socket answers to
/// (`SO_DEVMEM_DONTNEED` 80, `TCP_RTO_MIN_US` 45 and its neighbours, `IP_PROTOCOL` 52,
/// `IPV6_FREEBIND` 78, with room for a few more).
fn highest(level: c_int) -> Option<c_int> {
    match level {
        SOL_SOCKET => Some(82),
        IPPROTO_TCP => Some(48),
        IPPROTO_IP => Some(54),
        IPPROTO_IPV6 => Some(80),
        _ => None,
    }
}

pub fn kind(level: c_int, name: c_int) -> Kind {
    if HANDLED.contains(&(level, name)) {
        Kind::Handled
    } else if (level, name) == (IPPROTO_TCP, TCP_INFO) {
        Kind::Info
    } else if highest(level).is_some_and(|h| (1..=h).contains(&name)) {
        Kind::Unsupported
    } else {
        Kind::Unknown
    }
}

/// Whether the option's value is a string (`TCP_CONGESTION`'s controller name).
pub fn is_text(level: c_int, name: c_int) -> bool {
    (level, name) == (IPPROTO_TCP, TCP_CONGESTION)
}

/// Bytes the value of a handled option takes at least.
pub fn value_len(level: c_int, name: c_int) -> usize {
    if (level, name) == (SOL_SOCKET, SO_LINGER) {
        8
    } else if is_text(level, name) {
        1
    } else {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_proto::host::HostConfig;
    use synack_script::{SockError, Stack};

    #[test]
    fn every_handled_option_is_one_the_stack_takes() {
        let mut s = Stack::new(HostConfig::default());
        let fd = s.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).unwrap();
        for &(level, name) in HANDLED {
            let r = s.getsockopt(fd, level, name);
            assert!(
                !matches!(r, Err(SockError::Unsupported(_))),
                "({level}, {name}): {r:?}"
            );
        }
    }

    #[test]
    fn linux_options_synack_lacks_are_unsupported_others_unknown() {
        assert_eq!(kind(IPPROTO_IP, libc::IP_MTU_DISCOVER), Kind::Unsupported);
        assert_eq!(kind(IPPROTO_TCP, libc::TCP_FASTOPEN), Kind::Unsupported);
        assert_eq!(kind(IPPROTO_TCP, libc::TCP_CONGESTION), Kind::Handled);
        assert_eq!(kind(IPPROTO_TCP, TCP_INFO), Kind::Info);
        assert_eq!(kind(IPPROTO_IP, IP_TOS), Kind::Handled);
        assert_eq!(kind(IPPROTO_IPV6, IPV6_TCLASS), Kind::Handled);
        assert_eq!(kind(IPPROTO_TCP, 999), Kind::Unknown);
        // Linux's 8 is TCP_WINDOW_CLAMP, not FreeBSD's TCP_NOOPT; FreeBSD's options have
        // numbers of synack's own that no Linux caller passes.
        assert_eq!(kind(IPPROTO_TCP, libc::TCP_WINDOW_CLAMP), Kind::Unsupported);
        assert_eq!(kind(IPPROTO_TCP, TCP_NOOPT), Kind::Unknown);
        assert_eq!(kind(IPPROTO_TCP, TCP_KEEPINIT), Kind::Unknown);
        assert_eq!(kind(12345, 1), Kind::Unknown);
        assert_eq!(kind(SOL_SOCKET, 0), Kind::Unknown);
    }
}
