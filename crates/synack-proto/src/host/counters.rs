//! Host-wide counters, named after Linux's TCP-MIB (RFC 4022) and TcpExt, so numbers compare
//! directly with `nstat` output.

/// Everything the host counts. Monotonic except `curr_estab`, a gauge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// CLOSED → SYN-SENT (RFC 4022 tcpActiveOpens).
    pub active_opens: u64,
    /// LISTEN → SYN-RECEIVED, and connections made from a SYN cookie (tcpPassiveOpens).
    pub passive_opens: u64,
    /// SYN-SENT/SYN-RECEIVED → CLOSED, and SYN-RECEIVED → LISTEN (tcpAttemptFails).
    pub attempt_fails: u64,
    /// ESTABLISHED/CLOSE-WAIT → CLOSED (tcpEstabResets).
    pub estab_resets: u64,
    /// Connections now in ESTABLISHED or CLOSE-WAIT (tcpCurrEstab).
    pub curr_estab: u64,
    /// Segments received, including those in error (tcpInSegs).
    pub in_segs: u64,
    /// Segments sent, not counting retransmissions (tcpOutSegs).
    pub out_segs: u64,
    /// Segments retransmitted (tcpRetransSegs).
    pub retrans_segs: u64,
    /// Datagrams that carried several segments for the device to cut
    /// (`HostConfig::segmentation_offload`); their segments count in `out_segs` and
    /// `retrans_segs` one by one.
    pub out_super_segments: u64,
    /// Packets dropped because they did not parse: bad checksum, truncated, not TCP
    /// (tcpInErrs).
    pub in_errs: u64,
    /// Segments sent with RST (tcpOutRsts).
    pub out_rsts: u64,
    /// SYN-ACKs sent with a cookie instead of keeping state (TcpExt SyncookiesSent).
    pub syncookies_sent: u64,
    /// ACKs whose cookie was valid (TcpExt SyncookiesRecv).
    pub syncookies_recv: u64,
    /// ACKs to a listener that had sent cookies, whose cookie was not valid
    /// (TcpExt SyncookiesFailed).
    pub syncookies_failed: u64,
    /// SYNs or handshake-completing ACKs dropped because the accept queue was full
    /// (TcpExt ListenOverflows).
    pub listen_overflows: u64,
    /// Everything a listener dropped: overflows plus SYNs dropped for lack of room or the
    /// connection limit (TcpExt ListenDrops).
    pub listen_drops: u64,
    /// Opens refused because the host is at `HostConfig::max_connections` (no Linux twin).
    pub conn_limit_drops: u64,
    /// Packets for an address that is not ours (IP-MIB ipInAddrErrors), dropped.
    pub in_addr_errors: u64,
    /// Control segments (resets, cookie SYN-ACKs) dropped because too many were waiting for
    /// `poll_transmit` (no Linux twin).
    pub control_drops: u64,
    /// Compact TIME-WAIT entries whose 2MSL wait ran out (TcpExt TW).
    pub time_wait_expired: u64,
    /// TIME-WAIT entries ended early by a reset in sequence (RFC 1337's assassination,
    /// allowed as Linux allows it by default).
    pub time_wait_killed: u64,
    /// TIME-WAIT 4-tuples reopened by a new SYN (RFC 1122 §4.2.2.13, RFC 6191).
    pub time_wait_reopened: u64,
    /// Connections forgotten at once instead of entering a full TIME-WAIT table
    /// (TcpExt TCPTimeWaitOverflow).
    pub time_wait_overflow: u64,
    /// ICMP messages that did not parse, quoted too little, or were about a TCP 4-tuple we
    /// have no connection for (ICMP-MIB icmpInErrors, as Linux counts them).
    pub icmp_in_errs: u64,
    /// ICMP errors whose quoted sequence number was not in flight, ignored as likely blind
    /// attacks (RFC 5927 §4.1; TcpExt OutOfWindowIcmps).
    pub out_of_window_icmps: u64,
    /// Destination-unreachable messages recorded as soft errors (RFC 1122 §4.2.3.9).
    pub icmp_soft_errors: u64,
    /// Path MTU reports below the protocol minimum (68 / 1280), ignored.
    pub icmp_mtu_ignored: u64,
    /// Path MTU reports that lowered a connection's send MSS (RFC 1191, RFC 8201).
    pub pmtu_lowered: u64,
    /// `send` calls refused because the host's buffer memory was used up.
    pub send_memory_refusals: u64,
    /// Segments whose data was dropped because the host's buffer memory was (nearly) used up
    /// (TcpExt TCPRcvQDrop / OfoPruned in spirit).
    pub rcv_memory_drops: u64,
}
