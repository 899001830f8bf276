//! Linux's numbers for the constants the calls take, so a C-ABI shim passes them through
//! (and numbers of synack's own for the few options only FreeBSD has).

pub const AF_INET: i32 = 2;
pub const AF_INET6: i32 = 10;
pub const SOCK_STREAM: i32 = 1;
pub const SOCK_NONBLOCK: i32 = 0o4000;
pub const SOCK_CLOEXEC: i32 = 0o2000000;
pub const IPPROTO_IP: i32 = 0;
pub const IPPROTO_TCP: i32 = 6;
pub const SOL_SOCKET: i32 = 1;
pub const SO_REUSEADDR: i32 = 2;
pub const SO_ERROR: i32 = 4;
pub const SO_SNDBUF: i32 = 7;
pub const SO_RCVBUF: i32 = 8;
pub const SO_KEEPALIVE: i32 = 9;
pub const SO_OOBINLINE: i32 = 10;
pub const SO_LINGER: i32 = 13;
pub const TCP_NODELAY: i32 = 1;
pub const TCP_MAXSEG: i32 = 2;
pub const TCP_CORK: i32 = 3;
pub const TCP_KEEPIDLE: i32 = 4;
pub const TCP_KEEPINTVL: i32 = 5;
pub const TCP_KEEPCNT: i32 = 6;
pub const TCP_INFO: i32 = 11;
pub const TCP_CONGESTION: i32 = 13;
pub const TCP_USER_TIMEOUT: i32 = 18;
pub const TCP_NOTSENT_LOWAT: i32 = 25;
/// Options only FreeBSD has. A script names them; their numbers here are FreeBSD's moved past
/// every Linux option by `FREEBSD_ONLY`, since FreeBSD's own clash with Linux's (8, FreeBSD's
/// `TCP_NOOPT`, is Linux's `TCP_WINDOW_CLAMP`): a Linux number never reaches them, and the
/// packetdrill library, which speaks Linux numbers, answers them as Linux would (no such
/// option).
pub const FREEBSD_ONLY: i32 = 0x1_0000;
pub const TCP_NOOPT: i32 = FREEBSD_ONLY + 8;
pub const TCP_KEEPINIT: i32 = FREEBSD_ONLY + 128;
pub const F_GETFL: i32 = 3;
pub const F_SETFL: i32 = 4;
pub const O_RDONLY: i32 = 0;
pub const O_WRONLY: i32 = 1;
pub const O_RDWR: i32 = 2;
pub const O_NONBLOCK: i32 = 0o4000;
pub const SHUT_RD: i32 = 0;
pub const SHUT_WR: i32 = 1;
pub const SHUT_RDWR: i32 = 2;
pub const POLLIN: i16 = 0x1;
pub const POLLPRI: i16 = 0x2;
pub const POLLOUT: i16 = 0x4;
pub const POLLERR: i16 = 0x8;
pub const POLLHUP: i16 = 0x10;
pub const POLLNVAL: i16 = 0x20;
pub const POLLRDNORM: i16 = 0x40;
pub const POLLWRNORM: i16 = 0x100;
pub const POLLRDHUP: i16 = 0x2000;
/// Linux's `tcpi_state` numbering (include/net/tcp_states.h).
pub const TCP_ESTABLISHED: i64 = 1;
pub const TCP_SYN_SENT: i64 = 2;
pub const TCP_SYN_RECV: i64 = 3;
pub const TCP_FIN_WAIT1: i64 = 4;
pub const TCP_FIN_WAIT2: i64 = 5;
pub const TCP_TIME_WAIT: i64 = 6;
pub const TCP_CLOSE: i64 = 7;
pub const TCP_CLOSE_WAIT: i64 = 8;
pub const TCP_LAST_ACK: i64 = 9;
pub const TCP_LISTEN: i64 = 10;
pub const TCP_CLOSING: i64 = 11;
pub const IPPROTO_IPV6: i32 = 41;
/// `IPPROTO_IP` options (Linux numbers).
pub const IP_TOS: i32 = 1;
pub const IP_TTL: i32 = 2;
/// `IPPROTO_IPV6` options (Linux numbers).
pub const IPV6_UNICAST_HOPS: i32 = 16;
pub const IPV6_V6ONLY: i32 = 26;
pub const IPV6_TCLASS: i32 = 67;
/// `send`/`recv` flags (Linux numbers).
pub const MSG_OOB: i32 = 0x1;
pub const MSG_PEEK: i32 = 0x2;
pub const MSG_DONTWAIT: i32 = 0x40;
pub const MSG_WAITALL: i32 = 0x100;
pub const MSG_NOSIGNAL: i32 = 0x4000;
pub const MSG_MORE: i32 = 0x8000;
