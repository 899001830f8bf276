//! What a scenario's setup fills in before the run: the two sides, their applications, the
//! user actions with what to say about them, and the faults aimed at chosen segments; and the
//! small helpers every setup uses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack_proto::{Config, CongestionSettings, Connection, Instant, StateName};
use synack_sim::{App, ConnNode, Side};
use synack_wire::{TcpFlags, TcpRepr};

use super::Params;
use crate::node::Node;
use crate::sim::{self, Action, DropRule, SimPair, When};

/// The client's port.
pub const CLIENT_PORT: u16 = 40_000;
/// The server's port: one no Wireshark dissector claims, so a capture's payload is shown as
/// the opaque bytes it is (on port 80 tshark would parse the test text as HTTP and report
/// every retransmission as a reassembly error).
pub const SERVER_PORT: u16 = 7777;

/// Forged SYNs in the syn-flood: enough to fill its SYN queue and then some.
pub const FLOOD_SYNS: usize = 6;

/// A scenario before it runs.
pub struct Plan {
    pub client: Node,
    pub server: Node,
    pub hosts: [&'static str; 2],
    pub client_app: App,
    pub server_app: App,
    pub actions: Vec<Action>,
    /// Faults aimed at segments each side sends: `[client, server]`.
    pub drops: [Vec<DropRule>; 2],
    /// Packets others on the client's network send, with when.
    pub injected: Vec<(Instant, Vec<u8>)>,
    /// The connection settings of this run (the demo's, with the user's MSL).
    pub config: Config,
    /// Whether the server side is a listening socket (the narration of socket calls).
    pub listens: bool,
    /// The server's listen backlog, as narrated.
    pub backlog: usize,
    /// The client calls connect() in a scripted action rather than at time zero.
    pub connects_later: bool,
    /// Follow each sender's congestion window and show it on the ladder.
    pub follow_window: bool,
}

impl Plan {
    /// The usual start: a client about to connect and a server listening, both reading.
    pub fn standard(params: &Params) -> Plan {
        let config = Config {
            congestion: CongestionSettings {
                controller: params.cc,
                ..CongestionSettings::default()
            },
            ..demo_config(params.msl)
        };
        let reading = App {
            reads: true,
            ..Default::default()
        };
        Plan {
            client: conn_node(
                Connection::connect(&config, CLIENT_PORT, SERVER_PORT, iss(params.seed, Side::A)),
                Side::A,
            ),
            server: conn_node(
                Connection::listen(&config, SERVER_PORT, iss(params.seed, Side::B)),
                Side::B,
            ),
            hosts: ["client", "server"],
            client_app: reading.clone(),
            server_app: reading,
            actions: Vec::new(),
            drops: [Vec::new(), Vec::new()],
            injected: Vec::new(),
            config,
            listens: true,
            // A lone passive-open connection serves one client.
            backlog: 1,
            connects_later: false,
            follow_window: false,
        }
    }

    /// A connection that is simply CLOSED, whose events of getting there are dropped. RFC 9293
    /// §3.10.7.1 has it answer everything with RST. There is no constructor for one, so it
    /// listens and closes at once.
    pub fn closed_connection(&self, port: u16, iss: u32) -> Connection {
        let mut conn = Connection::listen(&self.config, port, iss);
        let _ = conn.close(Instant::ZERO);
        while conn.poll_event().is_some() {}
        conn
    }
}

/// The demo's connection settings: small, round numbers so the pictures stay readable.
pub fn demo_config(msl: Duration) -> Config {
    Config {
        mss: 500,
        recv_buffer: 64_000,
        send_buffer: 64_000,
        // Fixed buffers: no auto-tuning, and so no window scaling to round the windows shown.
        recv_buffer_max: 64_000,
        send_buffer_max: 64_000,
        // Timestamps would add 12 bytes to every segment and a column of numbers to every line;
        // the demo is about the state machine, so it leaves them off.
        timestamps: false,
        msl,
        ..Config::default()
    }
}

pub fn ips() -> (IpAddr, IpAddr) {
    (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    )
}

pub fn iss(seed: u64, side: Side) -> u32 {
    // Any value works; derived from the seed so runs differ only when the seed does.
    let x = seed
        .wrapping_add(super::idx(side) as u64 + 1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 32) as u32
}

/// A side that is one connection on its own.
pub fn conn_node(conn: Connection, side: Side) -> Node {
    let (a, b) = ips();
    Node::Conn(Box::new(match side {
        Side::A => ConnNode::new(conn, a, b),
        Side::B => ConnNode::new(conn, b, a),
    }))
}

/// Readable bytes whose position shows, so a misplaced byte would be noticed.
pub fn payload(len: usize, tag: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0;
    while out.len() < len {
        out.extend_from_slice(format!("{tag}{i:05} ").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// The attacker's forged SYNs, one per millisecond from time zero, each from a different
/// address of TEST-NET-2 (RFC 5737), which no real host has.
pub fn flood(seed: u64, server: SocketAddr) -> Vec<(Instant, Vec<u8>)> {
    (0..FLOOD_SYNS)
        .filter_map(|k| {
            let src = IpAddr::V4(Ipv4Addr::new(198, 51, 100, k as u8 + 1));
            let syn = TcpRepr {
                src_port: 41_000 + k as u16,
                dst_port: server.port(),
                seq: iss(seed.wrapping_add(100 + k as u64), Side::A),
                ack: 0,
                flags: TcpFlags::SYN,
                window: 64_240,
                urgent_ptr: 0,
                options: synack_wire::TcpOptions {
                    mss: Some(1460),
                    ..Default::default()
                },
                payload: &[],
            };
            let mut packet = vec![0u8; synack_wire::tcp_packet_len(&syn, false)];
            let n = synack_wire::emit_tcp(&mut packet, src, server.ip(), 64, &syn).ok()?;
            packet.truncate(n);
            Some((Instant::from_millis(k as u64), packet))
        })
        .collect()
}

pub fn after(host: Side, state: StateName, ms: u64) -> When {
    When::AfterState {
        host,
        state,
        delay: Duration::from_millis(ms),
    }
}

/// `ms` after `cond` first holds.
pub fn when(cond: impl Fn(&SimPair) -> bool + 'static, ms: u64) -> When {
    When::Cond {
        cond: Box::new(cond),
        delay: Duration::from_millis(ms),
        since: None,
    }
}

pub fn action(
    when: When,
    host: Side,
    en: &str,
    zh: &str,
    act: impl FnMut(&mut SimPair, Instant) + 'static,
) -> Action {
    Action {
        when,
        host,
        en: en.to_string(),
        zh: zh.to_string(),
        act: Box::new(act),
    }
}

pub fn close_action(when: When, host: Side, en: &str, zh: &str) -> Action {
    action(when, host, en, zh, move |pair, now| {
        sim::host_mut(pair, host).node.close(now)
    })
}

pub fn is_data(seg: &TcpRepr<'_>) -> bool {
    !seg.payload.is_empty()
}
