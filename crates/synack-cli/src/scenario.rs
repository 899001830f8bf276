//! The demo's scenarios: each sets up a client and a server on the simulated network, scripts
//! what their users do and which segments the network loses, runs to completion in virtual
//! time, and returns a [`Run`]: every packet, state change and user action, plus a summary.
//! Rendering (terminal, JSON, SVG) works from the `Run` alone, and so do the tests.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use synack_proto::{Cause, Config, ConnError, Connection, Event, Instant, StateName};
use synack_sim::{ConnNode, Fate, Link, LinkConfig, Side};
use synack_wire::{TcpFlags, TcpRepr};

use crate::node::{HostServer, Node};
use crate::sim::{self, Action, DropRule, Host, Note, SimPair, When, Why};

/// What the user can change about a run.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    /// Extra random loss on both directions, on top of the scenario's own aimed losses.
    pub loss: f64,
    /// Round-trip time of the link (half of it each way).
    pub rtt: Duration,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            seed: 1,
            loss: 0.0,
            rtt: Duration::from_millis(20),
        }
    }
}

/// One entry of `--list`.
pub struct ScenarioInfo {
    pub name: &'static str,
    pub en: &'static str,
    pub zh: &'static str,
}

pub const SCENARIOS: &[ScenarioInfo] = &[
    ScenarioInfo {
        name: "tour",
        en: "handshake, a transfer with one loss and its retransmission, four-way close",
        zh: "三次握手、一次丢包与超时重传的数据传输、四次挥手，一次看全",
    },
    ScenarioInfo {
        name: "handshake",
        en: "the three-way handshake: SYN, SYN-ACK, ACK",
        zh: "三次握手：SYN、SYN-ACK、ACK",
    },
    ScenarioInfo {
        name: "transfer",
        en: "data both ways, every segment acknowledged, then an orderly close",
        zh: "双向数据传输与确认，然后正常关闭",
    },
    ScenarioInfo {
        name: "close",
        en: "four-way close: the client closes actively, the server passively, TIME-WAIT",
        zh: "四次挥手：客户端主动关闭，服务器被动关闭，TIME-WAIT",
    },
    ScenarioInfo {
        name: "half-close",
        en: "the client shuts down writing; the server keeps sending in CLOSE-WAIT",
        zh: "半关闭：客户端关闭写方向，服务器在 CLOSE-WAIT 中继续发送数据",
    },
    ScenarioInfo {
        name: "simultaneous-open",
        en: "both sides send SYN at once and meet in SYN-RECEIVED",
        zh: "同时打开：双方同时发送 SYN，经 SYN-RECEIVED 建立连接",
    },
    ScenarioInfo {
        name: "simultaneous-close",
        en: "both sides close at once: FINs cross, both pass through CLOSING",
        zh: "同时关闭：双方的 FIN 交叉而过，都经过 CLOSING",
    },
    ScenarioInfo {
        name: "refused",
        en: "SYN to a port nobody listens on: answered with RST, connection refused",
        zh: "连接被拒绝：SYN 发往无人监听的端口，对方回 RST",
    },
    ScenarioInfo {
        name: "abort",
        en: "the client aborts: one RST ends it on both sides, no TIME-WAIT",
        zh: "异常终止：客户端发送 RST，双方立即 CLOSED，没有 TIME-WAIT",
    },
    ScenarioInfo {
        name: "lossy",
        en: "one loss repaired by fast retransmit, another by the retransmission timer",
        zh: "丢包：一次由快速重传修复，一次由超时重传（RTO）修复",
    },
    ScenarioInfo {
        name: "zero-window",
        en: "the server stops reading: window 0, the client probes until it reopens",
        zh: "零窗口：服务器不读数据，窗口降为 0，客户端发送零窗口探测直到窗口重新打开",
    },
    ScenarioInfo {
        name: "time-wait",
        en: "the last ACK is lost: the server resends its FIN, TIME-WAIT ACKs it again",
        zh: "TIME-WAIT 的作用：最后的 ACK 丢失，服务器重发 FIN，TIME-WAIT 再次确认",
    },
    ScenarioInfo {
        name: "syn-flood",
        en: "forged SYNs fill the SYN queue; SYN cookies still let a real client in",
        zh: "SYN 洪泛：伪造的 SYN 占满服务器的 SYN 队列，SYN cookie 仍让真实客户端连上",
    },
    ScenarioInfo {
        name: "keepalive",
        en: "an idle connection is probed; when the server vanishes the client gives up",
        zh: "保活：空闲连接被探测；服务器消失后探测无应答，客户端放弃连接",
    },
];

pub fn info(name: &str) -> Option<&'static ScenarioInfo> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// How a packet fared on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Delivered,
    Lost,
    Corrupted,
    Duplicate,
}

/// The TCP header fields the pictures show, with sequence numbers already made relative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub len: u32,
    pub win: u16,
    /// Options worth showing, e.g. `mss 500,ws 0,sackOK`.
    pub options: String,
    /// Absolute sequence number and acknowledgment, for those who want them.
    pub abs_seq: u32,
    pub abs_ack: u32,
}

/// One packet offered to the link.
#[derive(Clone, Debug)]
pub struct Packet {
    pub from: Side,
    pub sent_at: Instant,
    pub arrival: Option<Instant>,
    pub outcome: Outcome,
    /// `None` when the bytes are not a TCP segment we can parse.
    pub seg: Option<Segment>,
    pub why: Why,
    /// Carries sequence space (data, SYN or FIN) sent before by the same host.
    pub retransmission: bool,
    /// A one-byte probe into a window the peer announced as zero.
    pub probe: bool,
    /// A keepalive probe (RFC 1122 §4.2.3.6): one below everything sent, no data.
    pub keepalive: bool,
    /// A machine other than the two hosts: the forged source of a packet from side A, or
    /// where a packet from side B went instead of to side A.
    pub third_party: Option<IpAddr>,
    pub bytes: Vec<u8>,
}

impl Packet {
    pub fn lost(&self) -> bool {
        self.arrival.is_none()
    }
}

/// A state change on one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub at: Instant,
    pub host: Side,
    pub from: StateName,
    pub to: StateName,
    pub cause: Cause,
}

/// The figures the closing summary and `--json` report.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Every byte either application wrote arrived at the other intact, in order, exactly once.
    pub verified: bool,
    pub fast_retransmits: u64,
    pub rto_retransmits: u64,
    pub segments_retransmitted: u64,
    pub packets: u64,
    pub packets_lost: u64,
    pub syncookies_sent: u64,
    pub syncookies_validated: u64,
    /// Per host, the states visited in order, starting with the initial one.
    pub states: BTreeMap<String, Vec<String>>,
    pub final_states: BTreeMap<String, String>,
    /// Per host, why the connection ended when it did not end in an orderly way.
    pub errors: BTreeMap<String, String>,
    pub duration_us: u64,
}

/// Everything that happened in one scenario run.
pub struct Run {
    pub scenario: &'static str,
    pub params: Params,
    /// Names of side A and side B ("client", "server").
    pub hosts: [String; 2],
    pub ports: [u16; 2],
    /// Each host's state before anything happened.
    pub initial: [StateName; 2],
    pub packets: Vec<Packet>,
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
    pub final_states: [StateName; 2],
    pub errors: [Option<ConnError>; 2],
    pub summary: Summary,
    /// Virtual time at which the run ended.
    pub end: Instant,
    /// The demo's MSL (TIME-WAIT lasts twice this).
    pub msl: Duration,
    /// Built from a capture taken at one point rather than from the simulator: arrival times
    /// and losses are unknown, and states are inferred from the flags.
    pub observed: bool,
    /// Sequence numbers are shown as on the wire rather than relative to each ISN.
    pub absolute: bool,
    /// Bytes each host's application wrote and read.
    pub app_sent: [u64; 2],
    pub app_received: [u64; 2],
}

impl Run {
    pub fn host_name(&self, side: Side) -> &str {
        &self.hosts[idx(side)]
    }

    /// The states `side` went through, the initial one first.
    pub fn visited(&self, side: Side) -> Vec<StateName> {
        let mut v = vec![self.initial[idx(side)]];
        v.extend(self.changes.iter().filter(|c| c.host == side).map(|c| c.to));
        v
    }

    /// Whether a run made this (from, to, cause) move on either host.
    pub fn made(&self, from: StateName, to: StateName, cause: Cause) -> bool {
        self.changes
            .iter()
            .any(|c| c.from == from && c.to == to && c.cause == cause)
    }

    /// Shows sequence numbers as on the wire instead of relative to each side's ISN.
    pub fn use_absolute(&mut self) {
        self.absolute = true;
        for p in &mut self.packets {
            let Some(seg) = &mut p.seg else { continue };
            seg.seq = seg.abs_seq;
            seg.ack = if seg.flags.ack() { seg.abs_ack } else { 0 };
            if let Some(raw) = sim::decode(&p.bytes) {
                seg.options = options(&raw, 0);
            }
        }
    }

    /// Every packet as pcap bytes (LINKTYPE_RAW), stamped with its send time.
    pub fn pcap_bytes(&self) -> Vec<u8> {
        let Ok(mut w) = synack_sim::PcapWriter::new(Vec::new()) else {
            return Vec::new();
        };
        for p in self
            .packets
            .iter()
            .filter(|p| p.outcome != Outcome::Duplicate)
        {
            if w.write_packet(p.sent_at, &p.bytes).is_err() {
                return Vec::new();
            }
        }
        w.into_inner()
    }
}

pub fn idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

/// The demo's connection settings: small, round numbers so the pictures stay readable.
pub fn demo_config() -> Config {
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
        msl: Duration::from_secs(5),
        ..Config::default()
    }
}

const CLIENT_PORT: u16 = 40_000;
const SERVER_PORT: u16 = 80;

/// The syn-flood server's listen backlog: its SYN queue holds this many half-open connections.
const FLOOD_BACKLOG: usize = 4;
/// Forged SYNs in the flood: enough to fill the SYN queue and then some.
const FLOOD_SYNS: usize = 6;

/// The attacker's forged SYNs, one per millisecond from time zero, each from a different
/// address of TEST-NET-2 (RFC 5737), which no real host has.
fn flood(seed: u64, server: SocketAddr) -> Vec<(Instant, Vec<u8>)> {
    (0..FLOOD_SYNS)
        .filter_map(|k| {
            let src = IpAddr::V4(Ipv4Addr::new(198, 51, 100, k as u8 + 1));
            let syn = TcpRepr {
                src_port: 1024 + k as u16,
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

fn ips() -> (IpAddr, IpAddr) {
    (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    )
}

fn iss(seed: u64, side: Side) -> u32 {
    // Any value works; derived from the seed so runs differ only when the seed does.
    let x = seed
        .wrapping_add(idx(side) as u64 + 1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 32) as u32
}

struct Setup {
    client: Node,
    server: Node,
    hosts: [&'static str; 2],
}

/// A side that is one connection on its own.
fn conn_node(conn: Connection, side: Side) -> Node {
    let (a, b) = ips();
    Node::Conn(Box::new(match side {
        Side::A => ConnNode::new(conn, a, b),
        Side::B => ConnNode::new(conn, b, a),
    }))
}

/// A connection that is simply CLOSED, whose events of getting there are dropped.
/// RFC 9293 §3.10.7.1 has it answer everything with RST. There is no constructor for one, so
/// it listens and closes at once.
fn closed_connection(port: u16, iss: u32) -> Connection {
    let mut conn = Connection::listen(&demo_config(), port, iss);
    let _ = conn.close(Instant::ZERO);
    while conn.poll_event().is_some() {}
    conn
}

fn standard(params: &Params) -> Setup {
    let c = demo_config();
    Setup {
        client: conn_node(
            Connection::connect(&c, CLIENT_PORT, SERVER_PORT, iss(params.seed, Side::A)),
            Side::A,
        ),
        server: conn_node(
            Connection::listen(&c, SERVER_PORT, iss(params.seed, Side::B)),
            Side::B,
        ),
        hosts: ["client", "server"],
    }
}

fn after(host: Side, state: StateName, ms: u64) -> When {
    When::AfterState {
        host,
        state,
        delay: Duration::from_millis(ms),
    }
}

/// `ms` after `cond` first holds.
fn when(cond: impl Fn(&SimPair) -> bool + 'static, ms: u64) -> When {
    When::Cond {
        cond: Box::new(cond),
        delay: Duration::from_millis(ms),
        since: None,
    }
}

fn action(
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

fn close_action(when: When, host: Side, en: &str, zh: &str) -> Action {
    action(when, host, en, zh, move |pair, now| {
        sim::host_mut(pair, host).node.close(now)
    })
}

fn is_data(seg: &TcpRepr<'_>) -> bool {
    !seg.payload.is_empty()
}

/// Runs a scenario by name. Errors are messages for the user (unknown scenario,
/// bad parameters, a run that did not finish).
pub fn run(name: &str, params: &Params) -> Result<Run, String> {
    let Some(info) = info(name) else {
        return Err(format!(
            "unknown scenario `{name}`; `synack demo --list` shows them all"
        ));
    };
    if !(0.0..=1.0).contains(&params.loss) {
        return Err(format!(
            "--loss {} is not a probability in [0, 1]",
            params.loss
        ));
    }
    if params.loss >= 1.0 {
        return Err("--loss 1 would lose every packet; nothing could ever connect".into());
    }
    if params.rtt > Duration::from_secs(10) {
        return Err("--rtt above 10000 ms is not supported by the demo".into());
    }
    let mut setup = standard(params);
    let c = demo_config();
    let mut client_app = synack_sim::App {
        reads: true,
        ..Default::default()
    };
    let mut server_app = client_app.clone();
    let mut actions = Vec::new();
    let mut drops: [Vec<DropRule>; 2] = [Vec::new(), Vec::new()];
    let mut injected: Vec<(Instant, Vec<u8>)> = Vec::new();
    use Side::{A, B};
    use StateName as S;
    match info.name {
        "handshake" => {}
        "tour" => {
            client_app.to_send = payload(1500, "c");
            client_app.close_on_eof = false;
            server_app.to_send = Vec::new();
            drops[0].push(DropRule::new(2, |_, s| is_data(s)));
            actions.push(action(
                after(B, S::Established, 1),
                B,
                "server app writes a 300-byte reply",
                "服务器应用写入 300 字节的回复",
                |pair, _| pair.b.node.app_mut().to_send.extend(payload(300, "s")),
            ));
            actions.push(close_action(
                // Once the whole reply is read: data arriving after close() would be answered
                // with RST (RFC 1122 §4.2.2.13), which is the abort scenario, not this one.
                when(
                    |p| p.a.node.app().received.len() >= 300 && p.a.node.unacked() == 0,
                    300,
                ),
                A,
                "client app calls close(): FIN goes out (active close)",
                "客户端调用 close()：发出 FIN（主动关闭）",
            ));
            actions.push(close_action(
                after(B, S::CloseWait, 30),
                B,
                "server app has read the end of stream and calls close()",
                "服务器应用读到 EOF 后调用 close()",
            ));
        }
        "transfer" => {
            client_app.to_send = payload(2000, "c");
            server_app.to_send = payload(1200, "s");
            actions.push(close_action(
                when(|p| p.a.node.app().received.len() >= 1200, 150),
                A,
                "client app is done and calls close()",
                "客户端应用发送完毕，调用 close()",
            ));
            server_app.close_on_eof = true;
        }
        "close" => {
            client_app.to_send = payload(100, "c");
            actions.push(close_action(
                after(A, S::Established, 100),
                A,
                "client app calls close(): FIN (active close)",
                "客户端调用 close()：发送 FIN（主动关闭）",
            ));
            actions.push(close_action(
                after(B, S::CloseWait, 50),
                B,
                "server app finishes its work, then calls close(): its own FIN",
                "服务器应用处理完剩余工作后调用 close()：发送自己的 FIN",
            ));
        }
        "half-close" => {
            client_app.to_send = payload(200, "q");
            actions.push(action(
                after(A, S::Established, 1),
                A,
                "client app calls shutdown(SHUT_WR): FIN after the request, but it keeps reading",
                "客户端调用 shutdown(SHUT_WR)：请求之后发 FIN，但继续读取",
                |pair, now| pair.a.node.shutdown_write(now),
            ));
            actions.push(action(
                after(B, S::CloseWait, 20),
                B,
                "server has the whole request (EOF) and now writes a 1500-byte reply",
                "服务器收到完整请求（EOF），开始写 1500 字节的回复",
                |pair, _| pair.b.node.app_mut().to_send.extend(payload(1500, "r")),
            ));
            actions.push(close_action(
                after(B, S::CloseWait, 60),
                B,
                "server's reply is written: it calls close()",
                "服务器回复写完，调用 close()",
            ));
        }
        "simultaneous-open" => {
            setup.client = conn_node(
                Connection::connect(&c, CLIENT_PORT, SERVER_PORT, iss(params.seed, A)),
                A,
            );
            setup.server = conn_node(
                Connection::connect(&c, SERVER_PORT, CLIENT_PORT, iss(params.seed, B)),
                B,
            );
            setup.hosts = ["peer-a", "peer-b"];
            client_app.to_send = payload(300, "a");
            server_app.to_send = payload(300, "b");
            actions.push(close_action(
                when(
                    |p| p.a.node.app().received.len() >= 300 && p.a.node.unacked() == 0,
                    100,
                ),
                A,
                "peer-a closes",
                "peer-a 关闭连接",
            ));
            server_app.close_on_eof = true;
        }
        "simultaneous-close" => {
            client_app.to_send = payload(300, "c");
            server_app.to_send = payload(300, "s");
            // Exactly the same instant on both sides (the same condition, checked on the same
            // step), once both have read what the other sent: the FINs cross on the wire.
            let both_done = |p: &SimPair| {
                p.a.node.app().received.len() >= 300
                    && p.b.node.app().received.len() >= 300
                    && p.a.node.unacked() == 0
                    && p.b.node.unacked() == 0
            };
            actions.push(close_action(
                when(both_done, 200),
                A,
                "client calls close()",
                "客户端调用 close()",
            ));
            actions.push(close_action(
                when(both_done, 200),
                B,
                "server calls close() at the same instant",
                "服务器在同一时刻调用 close()",
            ));
        }
        "refused" => {
            setup.server = conn_node(closed_connection(SERVER_PORT, iss(params.seed, B)), B);
        }
        "abort" => {
            client_app.to_send = payload(500, "c");
            server_app.to_send = payload(1000, "s");
            actions.push(action(
                // After both streams are through, so the demo shows the RST and nothing else
                // (data still in flight would simply be thrown away).
                when(
                    |p| p.a.node.app().received.len() >= 1000 && p.a.node.unacked() == 0,
                    100,
                ),
                A,
                "client app calls abort(): RST, no goodbye",
                "客户端调用 abort()：直接发送 RST",
                |pair, now| pair.a.node.abort(now),
            ));
        }
        "lossy" => {
            client_app.to_send = payload(4000, "c");
            // Segment 2 of 8 is lost with six behind it: their duplicate ACKs trigger fast
            // retransmit. Segment 9 goes out alone later and is lost with nothing behind it:
            // no duplicate ACKs come, only the retransmission timer can repair it.
            drops[0].push(DropRule::new(2, |_, s| is_data(s)));
            drops[0].push(DropRule::new(1, |_, s| s.payload.len() == 400));
            actions.push(action(
                after(A, S::Established, 300),
                A,
                "client app writes 400 more bytes (one segment)",
                "客户端应用再写 400 字节（一个报文段）",
                |pair, _| pair.a.node.app_mut().to_send.extend(payload(400, "d")),
            ));
            actions.push(close_action(
                after(A, S::Established, 2000),
                A,
                "client calls close()",
                "客户端调用 close()",
            ));
            server_app.close_on_eof = true;
        }
        "zero-window" => {
            let small = Config {
                recv_buffer: 2000,
                ..demo_config()
            };
            setup.server = conn_node(
                Connection::listen(&small, SERVER_PORT, iss(params.seed, B)),
                B,
            );
            client_app.to_send = payload(3000, "c");
            server_app.reads = false;
            actions.push(action(
                after(B, S::Established, 1500),
                B,
                "server app finally reads: its buffer empties, the window reopens",
                "服务器应用终于开始读数据：缓冲区腾空，窗口重新打开",
                |pair, _| pair.b.node.app_mut().reads = true,
            ));
            actions.push(close_action(
                after(B, S::Established, 2500),
                A,
                "client calls close()",
                "客户端调用 close()",
            ));
            server_app.close_on_eof = true;
        }
        "keepalive" => {
            // Keepalive on the client only, with short timers so the picture stays small
            // (Linux's defaults are 7200 s, 75 s and 9 probes).
            let c = Config {
                keepalive: Some(synack_proto::Keepalive {
                    idle: Duration::from_secs(2),
                    interval: Duration::from_secs(1),
                    count: 3,
                }),
                ..demo_config()
            };
            setup.client = conn_node(
                Connection::connect(&c, CLIENT_PORT, SERVER_PORT, iss(params.seed, A)),
                A,
            );
            client_app.to_send = payload(200, "c");
            client_app.close_on_eof = false;
            server_app.to_send = payload(200, "s");
            server_app.close_on_eof = false;
            // The client last hears the server when the server's 200 bytes arrive; its first
            // probe leaves one idle time later and is answered one RTT after that. The power
            // cut comes half an interval after the answer, whatever the RTT.
            let cut = 2000 + params.rtt.as_millis() as u64 + 500;
            actions.push(action(
                when(|p| p.a.node.app().received.len() >= 200, cut),
                B,
                "the server's host vanishes (power cut): nothing it sends or receives gets through",
                "服务器所在主机突然消失（断电）：它收发的一切都无法到达",
                |pair, _| pair.link.set_partitioned(true),
            ));
        }
        "time-wait" => {
            client_app.to_send = payload(100, "c");
            // The client's last ACK: the first pure ACK it sends in TIME-WAIT.
            drops[0].push(DropRule::new(1, |n, s| {
                n.state() == S::TimeWait && s.flags.ack() && !s.flags.fin() && !is_data(s)
            }));
            actions.push(close_action(
                after(A, S::Established, 100),
                A,
                "client calls close()",
                "客户端调用 close()",
            ));
            actions.push(close_action(
                after(B, S::CloseWait, 20),
                B,
                "server calls close()",
                "服务器调用 close()",
            ));
        }
        "syn-flood" => {
            // A real listener with a SYN queue: the multi-connection host, backlog 4, SYN
            // cookies on (Linux's tcp_syncookies=1). Three SYN-ACK retries instead of Linux's
            // five keep the picture short, while the ghosts' half-open entries (15 s) still
            // outlive the client's handshake at any --rtt up to 10 s: were the queue to empty
            // first, a SYN the client retransmitted would get a normal SYN-ACK with another
            // ISN than the cookie it already took, and its ACK would be answered with RST
            // (RFC 9293 §3.10.7.4), as Linux would.
            let (client_ip, server_ip) = ips();
            let server_addr = SocketAddr::new(server_ip, SERVER_PORT);
            let host = synack_proto::host::Host::new(synack_proto::host::HostConfig {
                secret: u128::from(params.seed),
                tcp: Config {
                    synack_retries: 3,
                    ..demo_config()
                },
                local_addrs: vec![server_ip],
                ..Default::default()
            });
            let peer = SocketAddr::new(client_ip, CLIENT_PORT);
            setup.server = Node::Server(Box::new(HostServer::new(
                host,
                server_addr,
                FLOOD_BACKLOG,
                peer,
            )?));
            // The client is idle until its user connects, after the flood has begun.
            setup.client = conn_node(closed_connection(CLIENT_PORT, iss(params.seed, A)), A);
            injected = flood(params.seed, server_addr);
            actions.push(action(
                When::At(Instant::ZERO),
                A,
                &format!(
                    "an attacker next to the client sends {FLOOD_SYNS} SYNs with forged source \
                     addresses; their SYN-ACKs will go nowhere"
                ),
                &format!("攻击者（与客户端同一网络）发送 {FLOOD_SYNS} 个伪造源地址的 SYN；服务器的 SYN-ACK 将无处可达"),
                |_, _| {},
            ));
            let seed = params.seed;
            actions.push(action(
                When::At(Instant::from_millis(20)),
                A,
                "client app calls connect(): its SYN reaches a full SYN queue",
                "客户端应用调用 connect()：它的 SYN 到达时 SYN 队列已满",
                move |pair, now| {
                    if let Node::Conn(n) = &mut pair.a.node {
                        n.conn = Connection::connect(
                            &demo_config(),
                            CLIENT_PORT,
                            SERVER_PORT,
                            iss(seed, A),
                        );
                    }
                    pair.a.node.collect(now);
                },
            ));
            client_app.to_send = payload(1000, "c");
            client_app.close_on_eof = false;
            server_app.to_send = payload(500, "s");
            server_app.close_on_eof = true;
            actions.push(close_action(
                when(
                    |p| p.a.node.app().received.len() >= 500 && p.a.node.unacked() == 0,
                    100,
                ),
                A,
                "client app has its reply and calls close()",
                "客户端应用收到回复，调用 close()",
            ));
            // What the server sends to the forged addresses never arrives: nobody is there.
            drops[1].push(DropRule::every(move |_, ip, _| ip.dst != client_ip));
        }
        other => return Err(format!("scenario `{other}` has no script")),
    }

    let (a, mut b) = (setup.client, setup.server);
    let mut a = a;
    *a.app_mut() = client_app;
    *b.app_mut() = server_app;
    let initial = [a.initial_state(), b.initial_state()];
    let mut ha = Host::new(a);
    let mut hb = Host::new(b);
    for (at, packet) in injected {
        ha.inject(at, packet);
    }
    for r in std::mem::take(&mut drops[0]) {
        ha.drop_rule(r);
    }
    for r in std::mem::take(&mut drops[1]) {
        hb.drop_rule(r);
    }
    let link_config = LinkConfig::new()
        .delay(params.rtt / 2)
        .bandwidth_bps(10_000_000)
        .loss(params.loss);
    let mut link = Link::new(params.seed, link_config).map_err(|e| e.to_string())?;
    let rec = sim::recorder();
    link.add_tap(rec.clone());
    let mut pair = SimPair::new(ha, hb, link);
    // Virtual time is free: allow for RTO backoff under heavy --loss.
    let notes = sim::drive(&mut pair, actions, Instant::from_millis(4 * 3_600_000))?;
    let end = pair.now();
    let sent = std::mem::take(&mut rec.borrow_mut().sent);
    let ports = [pair.a.node.local_port(), pair.b.node.local_port()];
    let packets = packets(
        &sent,
        [&pair.a.why, &pair.b.why],
        [Some(ips().0), Some(ips().1)],
    );
    let changes = changes(&pair);
    let backlog = match &pair.b.node {
        Node::Server(s) => Some(s.backlog),
        Node::Conn(_) => None,
    };
    let mut all_notes = opening_notes(&setup.hosts, ports, initial, backlog, &changes);
    all_notes.extend(notes);
    if let Node::Server(s) = &pair.b.node {
        all_notes.extend(queue_notes(s));
    }
    all_notes.sort_by_key(|n| n.at);
    let notes = all_notes;
    Ok(finish(
        info.name,
        params,
        setup.hosts,
        ports,
        initial,
        packets,
        changes,
        notes,
        &pair,
        end,
    ))
}

/// What each user did before the first packet, said in words: the connections were opened
/// when the scenario was set up, so no scripted action narrates it.
fn opening_notes(
    hosts: &[&str; 2],
    ports: [u16; 2],
    initial: [StateName; 2],
    backlog: Option<usize>,
    changes: &[Change],
) -> Vec<Note> {
    let mut notes = Vec::new();
    for side in [Side::A, Side::B] {
        let name = hosts[idx(side)];
        let port = ports[idx(side)];
        let first = changes
            .iter()
            .find(|c| c.host == side)
            .filter(|c| c.at == Instant::ZERO);
        let (en, zh) = match (first.map(|c| c.to), initial[idx(side)], side) {
            (Some(StateName::SynSent), _, _) => (
                format!("{name} app calls connect(): a SYN goes out"),
                format!("{name} 应用调用 connect()：发出 SYN"),
            ),
            (Some(StateName::Listen), _, _) => (
                format!("{name} app calls listen() on port {port}"),
                format!("{name} 应用调用 listen()，在端口 {port} 上等待连接"),
            ),
            // A host's listener, open before the story starts.
            (None, StateName::Listen, _) => match backlog {
                Some(b) => (
                    format!(
                        "{name} app calls listen() on port {port} with backlog {b}: at most {b} \
                         half-open connections in its SYN queue"
                    ),
                    format!(
                        "{name} 应用调用 listen()，端口 {port}，backlog 为 {b}：SYN 队列最多容纳 {b} 个半连接"
                    ),
                ),
                None => (
                    format!("{name} app calls listen() on port {port}"),
                    format!("{name} 应用调用 listen()，在端口 {port} 上等待连接"),
                ),
            },
            // A client that has not connected yet: its first action will say so.
            (None, _, Side::A) => continue,
            (None, _, Side::B) => (
                format!("nothing listens on port {port}: it is CLOSED"),
                format!("端口 {port} 上无人监听：它处于 CLOSED"),
            ),
            (Some(_), _, _) => continue,
        };
        notes.push(Note {
            at: Instant::ZERO,
            host: side,
            en,
            zh,
        });
    }
    notes
}

/// What a listening host's SYN queue did with everyone but the followed client.
fn queue_notes(server: &HostServer) -> Vec<Note> {
    let cap = server.backlog;
    let retries = server.host.config().tcp.synack_retries;
    server
        .syn_queue
        .iter()
        .map(|m| {
            let who = m
                .remote
                .map_or_else(|| "?".to_string(), |r| r.ip().to_string());
            let (en, zh) = match (m.joined, m.len >= cap) {
                (true, false) => (
                    format!("half-open connection for {who} kept: SYN queue {}/{cap}", m.len),
                    format!("为 {who} 保存半连接：SYN 队列 {}/{cap}", m.len),
                ),
                (true, true) => (
                    format!(
                        "half-open connection for {who} kept: SYN queue {}/{cap}, full. From now \
                         on a SYN is answered with a SYN cookie as the ISN, and nothing is kept",
                        m.len
                    ),
                    format!(
                        "为 {who} 保存半连接：SYN 队列 {}/{cap}，已满。此后的 SYN 以 SYN cookie 作为 ISN 应答，\
                         服务器不保存任何状态",
                        m.len
                    ),
                ),
                (false, _) => (
                    format!(
                        "no ACK from {who} after {retries} SYN-ACK retries: its half-open \
                         connection is dropped, SYN queue {}/{cap}",
                        m.len
                    ),
                    format!(
                        "{who} 在 {retries} 次 SYN-ACK 重传后仍无 ACK：丢弃该半连接，SYN 队列 {}/{cap}",
                        m.len
                    ),
                ),
            };
            Note {
                at: m.at,
                host: Side::B,
                en,
                zh,
            }
        })
        .collect()
}

fn changes(pair: &SimPair) -> Vec<Change> {
    let mut out = Vec::new();
    for (side, h) in [(Side::A, &pair.a), (Side::B, &pair.b)] {
        for (at, e) in h.node.events() {
            if let Event::StateChanged { from, to, cause } = e {
                out.push(Change {
                    at: *at,
                    host: side,
                    from: *from,
                    to: *to,
                    cause: *cause,
                });
            }
        }
    }
    out.sort_by_key(|c| c.at);
    out
}

/// Per direction of one connection, what numbering and marking need.
#[derive(Default)]
struct Flow {
    /// The sequence number shown as 0: the sender's first SYN, else its first segment.
    base: Option<u32>,
    /// Highest sequence space sent so far, relative to `base`.
    high: Option<u32>,
    /// The window the receiver of this direction last announced.
    peer_wnd: Option<u16>,
    synack_sent: bool,
}

type FlowKey = (SocketAddr, SocketAddr);

/// Turns the link's log into display packets: relative numbers (per connection, as Wireshark
/// numbers each TCP stream), retransmission and probe marks, the reason each host recorded when
/// it sent the packet, and, given each side's own address, the third parties (forged sources,
/// destinations elsewhere).
pub fn packets(
    sent: &[synack_sim::LinkEvent],
    why: [&Vec<Why>; 2],
    own: [Option<IpAddr>; 2],
) -> Vec<Packet> {
    let key = |ip: &synack_wire::IpHeader, s: &TcpRepr<'_>| -> FlowKey {
        (
            SocketAddr::new(ip.src, s.src_port),
            SocketAddr::new(ip.dst, s.dst_port),
        )
    };
    // First pass: each direction's base, its first SYN, else its first segment.
    let mut first: HashMap<FlowKey, (bool, u32)> = HashMap::new();
    for (ip, s) in sent.iter().filter_map(|e| sim::decode_ip(&e.packet)) {
        let k = key(&ip, &s);
        match first.get(&k) {
            Some((true, _)) => {}
            Some((false, _)) if !s.flags.syn() => {}
            _ => {
                first.insert(k, (s.flags.syn(), s.seq));
            }
        }
    }
    let mut flows: HashMap<FlowKey, Flow> = first
        .into_iter()
        .map(|(k, (_, base))| {
            let flow = Flow {
                base: Some(base),
                ..Flow::default()
            };
            (k, flow)
        })
        .collect();
    let mut counts = [0usize; 2];
    let mut out = Vec::new();
    for e in sent {
        let i = idx(e.from);
        let dup = matches!(e.fate, Fate::Duplicate { .. });
        let why_here = if dup {
            Why::Normal
        } else {
            let w = why[i].get(counts[i]).copied().unwrap_or_default();
            counts[i] += 1;
            w
        };
        let outcome = match e.fate {
            Fate::Delivered { .. } => Outcome::Delivered,
            Fate::Corrupted { .. } => Outcome::Corrupted,
            Fate::Duplicate { .. } => Outcome::Duplicate,
            _ => Outcome::Lost,
        };
        let mut retransmission = false;
        let mut probe = false;
        let mut keepalive = false;
        let mut third_party = None;
        let seg = sim::decode_ip(&e.packet).map(|(ip, s)| {
            // A packet from side A not from A's address was forged; one from side B not to
            // A's address went somewhere else on B's network.
            third_party = match e.from {
                Side::A => own[0].filter(|a| *a != ip.src).map(|_| ip.src),
                Side::B => own[0].filter(|a| *a != ip.dst).map(|_| ip.dst),
            };
            let k = key(&ip, &s);
            let theirs = flows.get(&(k.1, k.0)).and_then(|f| f.base).unwrap_or(0);
            let flow = flows.entry(k).or_default();
            let mine = flow.base.unwrap_or(s.seq);
            let len = s.payload.len() as u32;
            let space = len + u32::from(s.flags.syn()) + u32::from(s.flags.fin());
            let rel = s.seq.wrapping_sub(mine);
            if space > 0 && !dup {
                let end = rel.wrapping_add(space);
                // The SYN-ACK of a simultaneous open repeats our SYN on purpose: first time
                // with ACK set is not a retransmission.
                let first_synack = s.flags.syn() && s.flags.ack() && !flow.synack_sent;
                if s.flags.syn() && s.flags.ack() {
                    flow.synack_sent = true;
                }
                match flow.high {
                    Some(h) if rel < h && !first_synack => retransmission = true,
                    _ => {}
                }
                flow.high = Some(flow.high.map_or(end, |h| h.max(end)));
                probe = len == 1 && flow.peer_wnd == Some(0);
            }
            // A keepalive probe: no sequence space, one below everything sent so far.
            if space == 0 && !s.flags.rst() && !dup {
                keepalive = flow.high.is_some_and(|h| rel.wrapping_add(1) == h);
            }
            if !s.flags.rst() {
                flows.entry((k.1, k.0)).or_default().peer_wnd = Some(s.window);
            }
            Segment {
                flags: s.flags,
                seq: rel,
                ack: if s.flags.ack() {
                    s.ack.wrapping_sub(theirs)
                } else {
                    0
                },
                len,
                win: s.window,
                options: options(&s, theirs),
                abs_seq: s.seq,
                abs_ack: s.ack,
            }
        });
        out.push(Packet {
            from: e.from,
            sent_at: e.sent_at,
            arrival: e.fate.arrival(),
            outcome,
            seg,
            why: why_here,
            retransmission,
            probe,
            keepalive,
            third_party,
            bytes: e.packet.clone(),
        });
    }
    out
}

fn options(s: &TcpRepr<'_>, peer_base: u32) -> String {
    let o = &s.options;
    let mut parts = Vec::new();
    if let Some(m) = o.mss {
        parts.push(format!("mss {m}"));
    }
    if let Some(w) = o.window_scale {
        parts.push(format!("ws {w}"));
    }
    if o.sack_permitted {
        parts.push("sackOK".to_string());
    }
    if o.timestamps.is_some() && s.flags.syn() {
        parts.push("ts".to_string());
    }
    for b in o.sack_blocks.as_slice() {
        parts.push(format!(
            "sack {}-{}",
            b.left.wrapping_sub(peer_base),
            b.right.wrapping_sub(peer_base)
        ));
    }
    parts.join(",")
}

#[allow(clippy::too_many_arguments)]
fn finish(
    name: &'static str,
    params: &Params,
    hosts: [&'static str; 2],
    ports: [u16; 2],
    initial: [StateName; 2],
    packets: Vec<Packet>,
    changes: Vec<Change>,
    notes: Vec<Note>,
    pair: &SimPair,
    end: Instant,
) -> Run {
    let (a, b) = (&pair.a.node, &pair.b.node);
    let sent_ok =
        |from: &Node, to: &Node| to.app().received == from.app().to_send[..from.app().sent];
    let verified = sent_ok(a, b) && sent_ok(b, a);
    let (ia, ib) = (a.counts(), b.counts());
    let mut states = BTreeMap::new();
    let mut final_states = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (side, node) in [(Side::A, a), (Side::B, b)] {
        let name = hosts[idx(side)].to_string();
        let mut v = vec![initial[idx(side)].as_str().to_string()];
        v.extend(
            changes
                .iter()
                .filter(|c| c.host == side)
                .map(|c| c.to.as_str().to_string()),
        );
        states.insert(name.clone(), v);
        final_states.insert(name.clone(), node.state().as_str().to_string());
        if let Some(e) = node.error() {
            errors.insert(name, format!("{e:?}"));
        }
    }
    let summary = Summary {
        scenario: name.to_string(),
        seed: params.seed,
        bytes_sent: (a.app().sent + b.app().sent) as u64,
        bytes_received: (a.app().received.len() + b.app().received.len()) as u64,
        verified,
        fast_retransmits: ia.fast_retransmits + ib.fast_retransmits,
        rto_retransmits: ia.rto_retransmits + ib.rto_retransmits,
        segments_retransmitted: ia.segs_retransmitted + ib.segs_retransmitted,
        packets: packets.len() as u64,
        packets_lost: packets.iter().filter(|p| p.lost()).count() as u64,
        syncookies_sent: ia.syncookies_sent + ib.syncookies_sent,
        syncookies_validated: ia.syncookies_validated + ib.syncookies_validated,
        states,
        final_states,
        errors,
        duration_us: end.as_micros(),
    };
    Run {
        scenario: name,
        params: params.clone(),
        hosts: hosts.map(String::from),
        ports,
        initial,
        packets,
        changes,
        notes,
        final_states: [a.state(), b.state()],
        errors: [a.error(), b.error()],
        summary,
        end,
        msl: demo_config().msl,
        observed: false,
        absolute: false,
        app_sent: [a.app().sent as u64, b.app().sent as u64],
        app_received: [a.app().received.len() as u64, b.app().received.len() as u64],
    }
}
