//! `getsockopt(TCP_INFO)`: Linux's `struct tcp_info` (include/uapi/linux/tcp.h) laid out
//! byte for byte, filled from the values synack's own runner answers `%{ }%` lines and
//! `TCP_INFO` calls with ([`synack_script::assert::tcpi_fields`]), so both read a connection
//! the same way. A field synack does not keep stays 0, as a field an older kernel lacks
//! reads in a newer program.

use synack_proto::{Info, StateName};
use synack_script::assert::tcpi_fields;

/// Bytes filled: the struct up to and including `tcpi_rcv_wnd`, the last field synack has a
/// value for. Linux copies `min(optlen, sizeof(struct tcp_info))` and reports that length;
/// a caller with a longer struct sees the length it got, as under an older kernel.
pub const LEN: usize = 236;

/// `(field, byte offset, width)` of every field synack fills, in Linux's layout.
const LAYOUT: &[(&str, usize, usize)] = &[
    ("tcpi_state", 0, 1),
    ("tcpi_ca_state", 1, 1),
    ("tcpi_retransmits", 2, 1),
    ("tcpi_backoff", 4, 1),
    ("tcpi_options", 5, 1),
    // Byte 6: tcpi_snd_wscale in the low four bits, tcpi_rcv_wscale in the high four.
    ("tcpi_rto", 8, 4),
    ("tcpi_snd_mss", 16, 4),
    ("tcpi_unacked", 24, 4),
    ("tcpi_sacked", 28, 4),
    ("tcpi_lost", 32, 4),
    ("tcpi_rtt", 68, 4),
    ("tcpi_rttvar", 72, 4),
    ("tcpi_snd_ssthresh", 76, 4),
    ("tcpi_snd_cwnd", 80, 4),
    ("tcpi_total_retrans", 100, 4),
    ("tcpi_bytes_acked", 120, 8),
    ("tcpi_bytes_received", 128, 8),
    ("tcpi_dsack_dups", 216, 4),
    ("tcpi_reord_seen", 220, 4),
    ("tcpi_snd_wnd", 228, 4),
    ("tcpi_rcv_wnd", 232, 4),
];

/// Where the two window-scale shifts share a byte.
const WSCALE_BYTE: usize = 6;

/// The struct for a socket in `state` with connection `info` (none for a listener or a
/// socket never opened), in the host's byte order as the kernel writes it.
pub fn encode(info: Option<&Info>, state: StateName) -> [u8; LEN] {
    encode_fields(&tcpi_fields(info, state))
}

/// The struct holding `(name, value)` pairs named as `tcpi_fields` names them.
fn encode_fields(fields: &[(&str, i64)]) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    let mut wscale = [0u8; 2];
    for &(name, value) in fields {
        match name {
            "tcpi_snd_wscale" => wscale[0] = value.clamp(0, 15) as u8,
            "tcpi_rcv_wscale" => wscale[1] = value.clamp(0, 15) as u8,
            _ => {
                if let Some(&(_, at, width)) = LAYOUT.iter().find(|(n, _, _)| *n == name) {
                    // Linux's fields are unsigned: a value too big saturates the field.
                    let max = if width == 8 {
                        u64::MAX
                    } else {
                        (1u64 << (8 * width)) - 1
                    };
                    let v = u64::try_from(value).unwrap_or(0).min(max);
                    let bytes = v.to_ne_bytes();
                    let low = if cfg!(target_endian = "little") {
                        &bytes[..width]
                    } else {
                        &bytes[8 - width..]
                    };
                    out[at..at + width].copy_from_slice(low);
                }
            }
        }
    }
    out[WSCALE_BYTE] = wscale[0] | (wscale[1] << 4);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use synack_proto::Instant;
    use synack_proto::host::HostConfig;
    use synack_script::Stack;

    /// Names `tcpi_fields` gives that Linux's struct has no slot for: FreeBSD's counters,
    /// which synack's runner answers under FreeBSD's names.
    const NOT_IN_LINUX: &[&str] = &["tcpi_total_tlp", "tcpi_snd_rexmitpack"];

    /// A field the runner learns to report must find its slot here too (or be named as one
    /// Linux lacks), so `%{ }%` and this struct never drift apart.
    #[test]
    fn every_field_the_runner_reports_has_a_place() {
        let mut s = Stack::new(HostConfig::default());
        let fd = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        let local: SocketAddr = "192.168.0.1:40000".parse().unwrap();
        s.bind(fd, local).unwrap();
        let _ = s.connect(Instant::ZERO, fd, "192.0.2.1:80".parse().unwrap());
        let info = s.tcp_info(fd).unwrap();
        for (name, _) in tcpi_fields(Some(&info), StateName::SynSent) {
            let placed = LAYOUT.iter().any(|(n, _, _)| *n == name)
                || name.ends_with("wscale")
                || NOT_IN_LINUX.contains(&name);
            assert!(placed, "{name} has no place in struct tcp_info");
        }
        assert_eq!(
            encode(Some(&info), StateName::SynSent)[0],
            2,
            "TCP_SYN_SENT"
        );
    }

    #[test]
    fn fields_land_at_linux_offsets() {
        let b = encode_fields(&[
            ("tcpi_state", 1),
            ("tcpi_snd_wscale", 6),
            ("tcpi_rcv_wscale", 7),
            ("tcpi_rto", 300_000),
            ("tcpi_snd_mss", 1000),
            ("tcpi_retransmits", 300),
            ("tcpi_bytes_acked", 0x1_0000_0001),
            ("tcpi_rcv_wnd", 65535),
        ]);
        let u32_at = |at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().unwrap());
        assert_eq!(b[0], 1);
        assert_eq!(b[2], 255, "a u8 field saturates");
        assert_eq!(b[6], 6 | (7 << 4));
        assert_eq!(u32_at(8), 300_000);
        assert_eq!(u32_at(16), 1000);
        assert_eq!(u32_at(232), 65535);
        assert_eq!(
            u64::from_ne_bytes(b[120..128].try_into().unwrap()),
            0x1_0000_0001
        );
        let l = encode(None, StateName::Listen);
        assert_eq!(l[0], 10, "TCP_LISTEN");
        assert!(l[1..].iter().all(|&x| x == 0));
    }
}
