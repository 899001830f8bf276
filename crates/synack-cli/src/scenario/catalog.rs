//! The demo's scenarios, one table entry each: the name, the line `--list` and `--help` show,
//! the story told above the ladder, and the setup that scripts the run. `--list`, `--help`, the
//! runner and the tests all read this one table, so they cannot disagree.

use std::net::SocketAddr;
use std::time::Duration;

use synack_proto::{Config, Connection, StateName};
use synack_sim::Side;

use super::Params;
use super::plan::{
    CLIENT_PORT, FLOOD_SYNS, Plan, SERVER_PORT, action, after, close_action, conn_node, flood, ips,
    is_data, iss, payload, when,
};
use crate::node::{HostServer, Node};
use crate::sim::{DropRule, When};

/// One scenario.
pub struct Scenario {
    pub name: &'static str,
    /// One line for `--list` and `demo --help`.
    pub en: &'static str,
    pub zh: &'static str,
    /// The story above the ladder: what the scenario sets up and why it matters. What really
    /// happened in a run (random losses, retransmissions, timers) is told from the run itself.
    pub story_en: &'static str,
    pub story_zh: &'static str,
    /// Scripts the run: hosts, applications, user actions, aimed faults.
    pub setup: fn(&mut Plan, &Params) -> Result<(), String>,
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "tour",
        en: "handshake, a transfer with one loss and its retransmission, four-way close",
        zh: "三次握手、一次丢包与重传的数据传输、四次挥手，一次看全",
        story_en: "A whole connection in one go. The server's application opens a listening \
             socket and the client's connects: the three-way handshake (SYN, SYN-ACK, ACK). The \
             client sends three segments and the scenario has the network lose the second; the \
             server's duplicate ACK says which byte it is still waiting for, and its SACK block \
             says the third segment arrived. Since the third was sent after the second, RACK \
             (RFC 8985) judges the second lost once a reordering window (a quarter of a round \
             trip) has passed, and the client resends it without waiting for its retransmission \
             timer. (The receiver keeps the third segment; once the hole is filled, one ACK \
             covers both.) How much the client may send at once is bounded by the server's \
             window (win) and by its own congestion window, which grows with every ACK (slow \
             start) and shrinks after a loss: congestion control (RFC 5681; the congestion scenario, \
             synack demo -s congestion, shows it round by round). Then the four-way \
             close: each side sends its own FIN and ACKs the other's, and the active closer (the \
             client) waits in TIME-WAIT for 2MSL before CLOSED.",
        story_zh: "一次看全一条连接的一生。服务器应用打开监听套接字，客户端发起连接：三次握手（SYN、\
             SYN-ACK、ACK）。客户端发送三个报文段，本场景让网络丢掉第二个；服务器的重复 ACK 指出它还在等\
             哪个字节，其中的 SACK 块说明第三个报文段已到达。第三个在第二个之后发送，因此过了一个重排序窗口（四分之一个\
             往返时间）后，RACK（RFC 8985）判定第二个丢失，客户端无需等待重传定时器就重传它，补上空洞。（服务器\
             保存了乱序到达的第三个报文段；空洞补上后，一个 ACK 同时确认两者。）客户端一次能发多少，既受服务器通告的\
             窗口（win）限制，也受自己的拥塞窗口限制：拥塞窗口随每个 ACK 增长（慢启动），丢包后缩小，\
             这就是拥塞控制（RFC 5681；congestion 场景，即 synack demo -s congestion，逐个往返地展示它）。最后是四次挥手：双方各发一个 FIN、各确认对方的 FIN，主动关闭的\
             一方（客户端）在 TIME-WAIT 中等待 2MSL 才进入 CLOSED。",
        setup: tour,
    },
    Scenario {
        name: "handshake",
        en: "the three-way handshake: SYN, SYN-ACK, ACK",
        zh: "三次握手：SYN、SYN-ACK、ACK",
        story_en: "The three-way handshake. The server's application creates a socket, binds it \
             to a port and listens; only then can the client connect. Each side picks an initial \
             sequence number (ISN) and must learn the other's: the SYN carries the client's, the \
             SYN-ACK acknowledges it and carries the server's, the final ACK acknowledges that. \
             Three segments, because each SYN needs an ACK and the middle one does both jobs. \
             Options (MSS, window scale, SACK) are agreed on the SYNs only.",
        story_zh: "三次握手。服务器应用先创建套接字、绑定端口并开始监听，客户端随后才能发起连接。双方\
             各自选定初始序列号（ISN），并且必须得知对方的 ISN：SYN 携带客户端的 ISN，SYN-ACK 确认它并\
             携带服务器的 ISN，最后的 ACK 确认服务器的 ISN。之所以是三次，是因为每个 SYN 都需要一个 ACK，\
             而中间那个报文段同时完成了两件事。MSS、窗口扩大、SACK 等选项只在 SYN 上协商。",
        setup: handshake,
    },
    Scenario {
        name: "transfer",
        en: "data both ways, every segment acknowledged, then an orderly close",
        zh: "双向数据传输与确认，然后正常关闭",
        story_en: "Data both ways after the handshake. The sequence number counts bytes: a \
             segment with seq=1 len=500 carries bytes 1..500, and the ACK that answers it says \
             ack=501, the next byte expected. win is how much more the receiver will take.",
        story_zh: "握手之后的双向数据传输。序列号按字节计数：seq=1 len=500 的报文段携带第 1..500 \
             字节，对它的确认是 ack=501，即期望的下一个字节。win 是接收方还愿意接收多少字节。",
        setup: transfer,
    },
    Scenario {
        name: "close",
        en: "four-way close: the client closes actively, the server passively, TIME-WAIT",
        zh: "四次挥手：客户端主动关闭，服务器被动关闭，TIME-WAIT",
        story_en: "The four-way close. TCP is full duplex, so each direction is closed on its \
             own: the client's FIN ends the client→server stream and the server ACKs it at once. \
             The server's FIN cannot ride on that ACK because the server's application has not \
             finished yet (it may still have data to send): CLOSE-WAIT lasts until it calls \
             close(). The active closer ends in TIME-WAIT for 2MSL, long enough to resend the \
             last ACK if it is lost and for stray old segments to die out before the same \
             4-tuple can be used again.",
        story_zh: "四次挥手。TCP 是全双工的，两个方向分别关闭：客户端的 FIN 结束客户端→服务器方向，\
             服务器立即确认。服务器的 FIN 不能和这个 ACK 合并，因为服务器的应用还没结束（可能还有数据要\
             发）：CLOSE-WAIT 一直持续到它调用 close()。主动关闭方最后在 TIME-WAIT 等待 2MSL，足以在\
             最后的 ACK 丢失时重发它，并让网络中残留的旧报文段消亡，之后同一个四元组才能再次使用。",
        setup: close,
    },
    Scenario {
        name: "half-close",
        en: "the client shuts down writing; the server keeps sending in CLOSE-WAIT",
        zh: "半关闭：客户端关闭写方向，服务器在 CLOSE-WAIT 中继续发送数据",
        story_en: "A half-close: shutdown(SHUT_WR) ends only the sending direction. The client \
             sends its request and a FIN, then sits in FIN-WAIT-2 still receiving. The server \
             sees end-of-stream, and from CLOSE-WAIT sends its whole reply before its own FIN. \
             This is why the middle two steps of the four-way close are separate segments.",
        story_zh: "半关闭：shutdown(SHUT_WR) 只关闭发送方向。客户端发送请求和 FIN 后停在 \
             FIN-WAIT-2，仍然接收数据。服务器读到 EOF，在 CLOSE-WAIT 中发完全部回复，然后才发自己的 \
             FIN。这正是四次挥手中间两步不能合并的原因。",
        setup: half_close,
    },
    Scenario {
        name: "simultaneous-open",
        en: "both sides send SYN at once and meet in SYN-RECEIVED",
        zh: "同时打开：双方同时发送 SYN，经 SYN-RECEIVED 建立连接",
        story_en: "A simultaneous open: two peers connect to each other at the same moment and \
             their SYNs cross. Each receives a SYN while in SYN-SENT, answers with SYN-ACK and \
             moves to SYN-RECEIVED; each SYN-ACK completes the other's handshake. Four segments, \
             one connection, no listener.",
        story_zh: "同时打开：两端在同一时刻互相发起连接，SYN 在网络中交叉。双方都在 SYN-SENT 状态\
             收到 SYN，回复 SYN-ACK 并进入 SYN-RECEIVED；对方的 SYN-ACK 完成握手。四个报文段，一条连接，\
             没有监听方。",
        setup: simultaneous_open,
    },
    Scenario {
        name: "simultaneous-close",
        en: "both sides close at once: FINs cross, both pass through CLOSING",
        zh: "同时关闭：双方的 FIN 交叉而过，都经过 CLOSING",
        story_en: "A simultaneous close: both applications call close() at the same instant, so \
             both FINs are in flight at once. Each side receives a FIN while in FIN-WAIT-1 (its \
             own FIN not yet ACKed) and moves to CLOSING; the ACKs then take both to TIME-WAIT. \
             Both sides are active closers, so both wait 2MSL.",
        story_zh: "同时关闭：双方应用在同一时刻调用 close()，两个 FIN 同时在途。双方都在 FIN-WAIT-1\
             （自己的 FIN 尚未被确认）时收到对方的 FIN，进入 CLOSING；随后的 ACK 把双方带入 TIME-WAIT。\
             双方都是主动关闭方，所以都要等待 2MSL。",
        setup: simultaneous_close,
    },
    Scenario {
        name: "refused",
        en: "SYN to a port nobody listens on: answered with RST, connection refused",
        zh: "连接被拒绝：SYN 发往无人监听的端口，对方回 RST",
        story_en: "Connection refused. Nothing listens on the server's port: a closed port \
             answers every segment except a RST with a RST (RFC 9293 §3.10.7.1). The RST \
             acknowledges the SYN, so the client knows it is a real answer to its SYN, and gives \
             up at once: ECONNREFUSED.",
        story_zh: "连接被拒绝。服务器端口上没有监听者：关闭的端口会对除 RST 以外的任何报文段回复 RST\
             （RFC 9293 §3.10.7.1）。这个 RST 确认了 SYN，客户端据此确认它是对自己 SYN 的真实回应，\
             立即放弃：ECONNREFUSED。",
        setup: refused,
    },
    Scenario {
        name: "abort",
        en: "the client aborts: one RST ends it on both sides, no TIME-WAIT",
        zh: "异常终止：客户端发送 RST，双方立即 CLOSED，没有 TIME-WAIT",
        story_en: "An abortive close. Instead of a FIN, the client sends a RST: everything still \
             queued is thrown away and both sides go straight to CLOSED, with no TIME-WAIT. The \
             server's application sees ECONNRESET. (close() with unread data does the same.)",
        story_zh: "异常终止。客户端不发 FIN 而是发 RST：尚在队列中的数据全部丢弃，双方直接进入 \
             CLOSED，没有 TIME-WAIT。服务器应用看到 ECONNRESET。（有未读数据时调用 close() 也会这样。）",
        setup: abort,
    },
    Scenario {
        name: "lossy",
        en: "a loss repaired by fast retransmit; a lost tail probed, then timed out",
        zh: "丢包：一次由快速重传修复；尾部丢失先探测，再由超时重传修复",
        story_en: "How TCP repairs a loss. First the scenario has segment 2 of a burst lost: \
             every later segment makes the receiver repeat its ACK (duplicate ACKs, numbered \
             below) with SACK blocks naming what arrived behind the hole. RACK (RFC 8985) \
             declares the segment lost once segments sent after it are SACKed and its reordering \
             window has passed (here at the third duplicate), and it is sent again at once, \
             without waiting for a timer (fast retransmit); the sender also cuts its congestion \
             window (RFC 5681 §3.2). Later a lone segment is lost with nothing behind it: no \
             duplicate ACKs can come. About two round trips later (at most when the timer would \
             fire) the sender sends it again as a tail loss probe (RFC 8985 §7), to draw an ACK \
             that shows what is missing; the scenario loses the probe too, so the retransmission \
             timer (RTO, at least 200 ms) repairs it. (The receiver keeps what arrives behind a \
             hole, so filling the hole moves the ACK past everything at once.) Try --loss 0.1 \
             for random loss on top.",
        story_zh: "TCP 如何修复丢包。首先，本场景让一批报文段中的第 2 个丢失：后续每个报文段都让接收方\
             重复发送同一个 ACK（重复 ACK，下文逐个编号），其中的 SACK 块指明空洞之后收到了什么。当在它\
             之后发送的报文段已被 SACK、且其重排序窗口已过时，RACK（RFC 8985）判定该报文段丢失（此处在\
             第三个重复 ACK 时），并立即重发，无需等待定时器（快速重传）；发送方同时缩小拥塞窗口（RFC \
             5681 §3.2）。随后，一个单独的报文段丢失，后面没有其他报文段：不会有重复 ACK。大约两个往返\
             时间之后（最迟在定时器到期时），发送方把它作为尾部丢失探测（RFC 8985 §7）再发一次，以引出能\
             说明缺失内容的 ACK；本场景让探测也丢失，于是由重传定时器（RTO，至少 200 毫秒）超时重传。\
             （接收方保存空洞之后到达的数据；空洞一补上，ACK 便一次越过全部数据。）可加 --loss 0.1 叠加\
             随机丢包。",
        setup: lossy,
    },
    Scenario {
        name: "congestion",
        en: "slow start doubles cwnd, a loss, fast recovery cuts it, congestion avoidance",
        zh: "拥塞控制：慢启动使 cwnd 翻倍、一次丢包、快速恢复缩小窗口、拥塞避免",
        story_en: "Congestion control (RFC 5681). The receiver's window says how much it can \
             take; the congestion window (cwnd) is the sender's own guess of how much the \
             network can. The client sends 120 000 bytes. It starts in slow start: each ACK \
             grows cwnd by what it acknowledges, so the window doubles every round trip. The \
             scenario has the network lose the 60th data segment; by the third duplicate ACK \
             its SACK blocks let RACK (RFC 8985) mark it lost, which triggers fast retransmit, \
             and the sender lowers ssthresh and cwnd: CUBIC (the default, RFC \
             9438) to 0.7 of the window, NewReno (--cc newreno) to half. After fast recovery it \
             is in congestion avoidance, growing slowly. The lines marked cwnd show the window, \
             ssthresh and phase once per round trip and at each change; synack plot draws them.",
        story_zh: "拥塞控制（RFC 5681）。接收方的窗口说明它能接收多少；拥塞窗口（cwnd）则是发送方\
             自己对网络能承载多少的估计。客户端发送 120000 字节。它从慢启动开始：每个 ACK 确认多少字节，\
             cwnd 就增加多少，所以窗口每个往返时间翻一番。本场景让网络丢掉第 60 个数据报文段；到第三个重复 \
             ACK 时，其 SACK 块让 RACK（RFC 8985）判定它丢失，从而触发快速重传，发送方降低 ssthresh 和 cwnd：CUBIC（默认，RFC 9438）降到原窗口的 0.7，\
             NewReno（--cc newreno）降到一半。快速恢复之后进入拥塞避免，窗口缓慢增长。标有 cwnd 的行\
             每个往返时间以及每次变化时显示窗口、ssthresh 和阶段；synack plot 把它们画成曲线。",
        setup: congestion,
    },
    Scenario {
        name: "checksum",
        en: "a bit flipped in flight: the checksum catches it, a retransmission repairs it",
        zh: "校验和：途中损坏的报文段被接收方的校验和发现并丢弃，由重传修复",
        story_en: "Checksums. Every TCP segment carries a 16-bit checksum over its header, its \
             data and a pseudo-header of the IP addresses (RFC 9293 §3.1). The scenario has the \
             network flip one bit of the client's first data segment. The segment still arrives, \
             but the server computes the checksum over the bytes it received, finds that it \
             differs from the one in the header, and drops the segment as if it had never come: \
             it sends no ACK for it, nor any complaint. To the client a damaged segment looks \
             exactly like a lost one, and the same retransmission repairs it.",
        story_zh: "校验和。每个 TCP 报文段都带有一个 16 位校验和，覆盖首部、数据以及由 IP 地址构成的\
             伪首部（RFC 9293 §3.1）。本场景让网络翻转客户端第一个数据报文段中的一个比特。报文段仍然到达，\
             但服务器对收到的字节重新计算校验和，发现与首部中的不一致，于是把它丢弃，就像它从未到达一样：\
             既不确认，也不报错。在客户端看来，损坏的报文段与丢失的报文段毫无区别，同样由重传修复。",
        setup: checksum,
    },
    Scenario {
        name: "zero-window",
        en: "the server stops reading: window 0, the client probes until it reopens",
        zh: "零窗口：服务器不读数据，窗口降为 0，客户端发送零窗口探测直到窗口重新打开",
        story_en: "Flow control. The server's application stops reading, so its 2000-byte \
             receive buffer fills and it advertises win=0: the client must stop. So that a lost \
             window update cannot deadlock the connection, the client's persist timer sends \
             one-byte zero-window probes, backing off each time, until the server reads and its \
             window reopens.",
        story_zh: "流量控制。服务器应用停止读取，2000 字节的接收缓冲区被填满，通告 win=0：客户端必须\
             停止发送。为防止窗口更新报文丢失造成死锁，客户端的坚持定时器发送 1 字节的零窗口探测，并逐次\
             退避，直到服务器读取数据、窗口重新打开。",
        setup: zero_window,
    },
    Scenario {
        name: "time-wait",
        en: "the last ACK is lost: the server resends its FIN, TIME-WAIT ACKs it again",
        zh: "TIME-WAIT 的作用：最后的 ACK 丢失，服务器重发 FIN，TIME-WAIT 再次确认",
        story_en: "Why TIME-WAIT exists. The scenario has the client's last ACK of the close \
             lost. The server, in LAST-ACK, retransmits its FIN when its timer fires. Because the \
             client is still in TIME-WAIT it can answer with the ACK again, and the server closes \
             cleanly; had the client gone straight to CLOSED it would have answered with RST. \
             TIME-WAIT restarts its 2MSL wait on the retransmitted FIN.",
        story_zh: "TIME-WAIT 为什么存在。本场景让客户端在挥手中的最后一个 ACK 丢失。处于 LAST-ACK 的\
             服务器在定时器到期后重发 FIN。因为客户端仍处于 TIME-WAIT，它能再次回复 ACK，服务器得以正常\
             关闭；如果客户端直接进入 CLOSED，它只能回复 RST。收到重发的 FIN 后，TIME-WAIT 重新开始 2MSL \
             等待。",
        setup: time_wait,
    },
    Scenario {
        name: "syn-flood",
        en: "forged SYNs fill the SYN queue; SYN cookies still let a real client in",
        zh: "SYN 洪泛：伪造的 SYN 占满服务器的 SYN 队列，SYN cookie 仍让真实客户端连上",
        story_en: "SYN flood and SYN cookies (RFC 4987). Each SYN a listener answers normally \
             costs it a half-open connection in its SYN queue (SYN-RECEIVED) until the \
             handshake's ACK comes or its SYN-ACK retries run out. An attacker sends SYNs from \
             forged addresses, which never ACK: the queue (backlog 4 here) fills with ghosts. A \
             full queue would turn real clients away, so the server answers with a SYN cookie \
             instead: its ISN encodes the 4-tuple, a time counter and the client's MSS under a \
             secret hash, and it keeps nothing. The real client's ACK brings the cookie back \
             (ack = ISN + 1); the server checks it and creates the connection straight in \
             ESTABLISHED. Forged SYNs answered with cookies cost nothing: their SYN-ACKs are \
             never retransmitted. Without TCP timestamps the cookie has no room for window \
             scaling and SACK, so this connection goes without them. The price of keeping \
             nothing: should the network lose the client's first ACK, its next segment no longer \
             matches the cookie and is answered with RST (try --loss 0.15 --seed 10).",
        story_zh: "SYN 洪泛与 SYN cookie（RFC 4987）。监听者每正常应答一个 SYN，就要在 SYN 队列中\
             保存一个半连接（SYN-RECEIVED），直到握手的 ACK 到来或 SYN-ACK 重传次数用完。攻击者用伪造的\
             源地址发送 SYN，这些地址永远不会回 ACK：队列（这里 backlog 为 4）被幽灵连接占满。队列满了，\
             真实客户端本会被拒之门外，于是服务器改用 SYN cookie 应答：它的 ISN 用秘密哈希编码了四元组、\
             时间计数和客户端的 MSS，服务器自己什么也不保存。真实客户端的 ACK 把 cookie 带回（ack = ISN \
             + 1）；服务器校验通过，直接在 ESTABLISHED 中建立连接。用 cookie 应答的伪造 SYN 毫无代价：\
             它们的 SYN-ACK 从不重传。没有 TCP 时间戳时，cookie 无处存放窗口扩大和 SACK 选项，所以这条\
             连接不使用它们。不保存状态的代价：如果网络丢失了客户端的第一个 ACK，它的下一个报文段就与 \
             cookie 对不上，只能得到 RST（试试 --loss 0.15 --seed 10）。",
        setup: syn_flood,
    },
    Scenario {
        name: "keepalive",
        en: "an idle connection is probed; when the server vanishes the client gives up",
        zh: "保活：空闲连接被探测；服务器消失后探测无应答，客户端放弃连接",
        story_en: "Keepalive (RFC 1122 §4.2.3.6) finds out whether an idle peer is still there. \
             After the exchange the connection goes quiet; once the idle time (2 s here, 2 hours \
             by default) passes, the client sends a probe: an ACK with a sequence number one \
             below what it has sent, which the server must answer. It does, and the wait starts \
             over. Then the server's host vanishes: the probes (one per interval) go unanswered, \
             and after the third the client gives up with a timed-out error. The server, which \
             has keepalive off, never learns anything and stays ESTABLISHED.",
        story_zh: "保活机制（RFC 1122 §4.2.3.6）用来探知空闲的对端是否还在。数据交换完后连接进入\
             空闲；空闲时间（这里是 2 秒，默认是 2 小时）一到，客户端就发出一个保活探测：序号比已发送\
             数据少 1 的 ACK，服务器收到后必须回复。服务器回复了，空闲计时重新开始。随后服务器所在的主机\
             消失：此后每隔一个探测间隔发出的探测都没有回音，连续三次无应答后，客户端放弃连接，报告超时\
             错误。服务器没有开启保活，对此一无所知，一直停留在 ESTABLISHED。",
        setup: keepalive,
    },
];

/// The bulk scenario: K flows sharing one bottleneck, measured rather than drawn as a ladder
/// (`crate::bulk` runs it). Listed with the others by [`listed`], so `--list` and `--help`
/// show it; kept out of [`SCENARIOS`], whose entries all run as ladders.
pub const BULK: Scenario = Scenario {
    name: "bulk",
    en: "K flows share one bottleneck: goodput, recoveries and fairness per flow",
    zh: "多条流共享一条瓶颈链路：每条流的有效吞吐、丢包恢复与公平性",
    story_en: "Congestion control at work. Each of --flows connections moves --bytes bytes \
         through one bottleneck link of --bandwidth Mbit/s, whose queue (--queue, one \
         bandwidth-delay product by default) drops what does not fit. No sender knows the link's \
         speed or how many others share it: each grows its congestion window until the queue \
         overflows, takes the loss as a sign of congestion, cuts its window (CUBIC, the default, \
         to 0.7; NewReno, --cc newreno, to half) and grows again. Over many such cycles the flows \
         settle near equal shares; Jain's index says how equal (1 is perfectly fair). --loss adds \
         random loss, which the senders cannot tell from congestion; --flow-rtts 10,40 gives each \
         flow its own round trip, and the shorter one, growing faster, takes more. synack plot \
         -s bulk draws each flow's window over time.",
    story_zh: "拥塞控制的实际效果。--flows 条连接各自传输 --bytes 字节，共同经过一条 --bandwidth \
         Mbit/s 的瓶颈链路；链路的队列（--queue，默认为一个带宽时延积）装不下的报文被丢弃。发送方既不\
         知道链路有多快，也不知道有多少条流与它共享：每条流不断增大拥塞窗口，直到队列溢出；它把丢包\
         视为拥塞的信号，缩小窗口（默认的 CUBIC 缩到 0.7，--cc newreno 的 NewReno 缩到一半），然后\
         再次增长。经过许多次这样的循环，各条流趋于平分带宽；Jain 指数说明分得有多均匀（1 表示完全\
         公平）。--loss 叠加随机丢包，发送方无法把它与拥塞区分开；--flow-rtts 10,40 让每条流有各自的\
         往返时间，往返时间短的流窗口增长更快，分得更多。synack plot -s bulk 画出每条流的拥塞窗口\
         随时间的变化。",
    setup: measured_only,
};

/// Every scenario `--list` and `--help` show: the ladders, then the measurements.
pub fn listed() -> impl Iterator<Item = &'static Scenario> {
    SCENARIOS.iter().chain(std::iter::once(&BULK))
}

pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// What asking for the bulk scenario's ladder gets.
pub const BULK_HAS_NO_LADDER: &str = "the bulk scenario measures goodput and has no ladder: run \
     synack demo -s bulk, or synack plot -s bulk for the windows";

fn measured_only(_: &mut Plan, _: &Params) -> Result<(), String> {
    Err(BULK_HAS_NO_LADDER.into())
}

fn handshake(_: &mut Plan, _: &Params) -> Result<(), String> {
    Ok(())
}

fn tour(plan: &mut Plan, _: &Params) -> Result<(), String> {
    use Side::{A, B};
    plan.client_app.to_send = payload(1500, "c");
    plan.client_app.close_on_eof = false;
    plan.drops[0].push(DropRule::new(2, |_, s| is_data(s)));
    plan.actions.push(action(
        after(B, StateName::Established, 1),
        B,
        "the server's application writes a 300-byte reply",
        "服务器应用写入 300 字节的回复",
        |pair, _| pair.b.node.app_mut().to_send.extend(payload(300, "s")),
    ));
    plan.actions.push(close_action(
        // Once the whole reply is read: data arriving after close() would be answered with RST
        // (RFC 1122 §4.2.2.13), which is the abort scenario, not this one.
        when(
            |p| p.a.node.app().received.len() >= 300 && p.a.node.unacked() == 0,
            300,
        ),
        A,
        "the client's application calls close(): a FIN goes out (active close)",
        "客户端应用调用 close()：发出 FIN（主动关闭）",
    ));
    plan.actions.push(close_action(
        // Later than the 40 ms an interactive connection's ACK of a FIN may wait for its own
        // FIN, and than that ACK's arrival: the tour shows the four-way close, not the
        // three-segment one.
        after(B, StateName::CloseWait, 60),
        B,
        "the server's application has read the end of the stream and calls close()",
        "服务器应用读到数据流的结尾，调用 close()",
    ));
    Ok(())
}

fn transfer(plan: &mut Plan, _: &Params) -> Result<(), String> {
    plan.client_app.to_send = payload(2000, "c");
    plan.server_app.to_send = payload(1200, "s");
    plan.actions.push(close_action(
        when(|p| p.a.node.app().received.len() >= 1200, 150),
        Side::A,
        "the client's application is done and calls close()",
        "客户端应用发送完毕，调用 close()",
    ));
    plan.server_app.close_on_eof = true;
    Ok(())
}

fn close(plan: &mut Plan, _: &Params) -> Result<(), String> {
    plan.client_app.to_send = payload(100, "c");
    plan.actions.push(close_action(
        after(Side::A, StateName::Established, 100),
        Side::A,
        "the client's application calls close(): a FIN goes out (active close)",
        "客户端应用调用 close()：发出 FIN（主动关闭）",
    ));
    plan.actions.push(close_action(
        after(Side::B, StateName::CloseWait, 50),
        Side::B,
        "the server's application finishes its work, then calls close(): its own FIN",
        "服务器应用处理完剩余工作后调用 close()：发出自己的 FIN",
    ));
    Ok(())
}

fn half_close(plan: &mut Plan, _: &Params) -> Result<(), String> {
    use Side::{A, B};
    plan.client_app.to_send = payload(200, "q");
    plan.actions.push(action(
        after(A, StateName::Established, 1),
        A,
        "the client's application calls shutdown(SHUT_WR): a FIN after the request, but it \
         keeps reading",
        "客户端应用调用 shutdown(SHUT_WR)：请求之后发出 FIN，但仍继续读取",
        |pair, now| pair.a.node.shutdown_write(now),
    ));
    plan.actions.push(action(
        after(B, StateName::CloseWait, 20),
        B,
        "the server has the whole request (end of stream) and now writes a 1500-byte reply",
        "服务器已收到完整的请求（读到数据流结尾），开始写入 1500 字节的回复",
        |pair, _| pair.b.node.app_mut().to_send.extend(payload(1500, "r")),
    ));
    plan.actions.push(close_action(
        after(B, StateName::CloseWait, 60),
        B,
        "the server's reply is written: it calls close()",
        "服务器的回复已写完，调用 close()",
    ));
    Ok(())
}

fn simultaneous_open(plan: &mut Plan, params: &Params) -> Result<(), String> {
    let c = plan.config.clone();
    plan.client = conn_node(
        Connection::connect(&c, CLIENT_PORT, SERVER_PORT, iss(params.seed, Side::A)),
        Side::A,
    );
    plan.server = conn_node(
        Connection::connect(&c, SERVER_PORT, CLIENT_PORT, iss(params.seed, Side::B)),
        Side::B,
    );
    plan.hosts = ["peer-a", "peer-b"];
    plan.listens = false;
    plan.client_app.to_send = payload(300, "a");
    plan.server_app.to_send = payload(300, "b");
    plan.actions.push(close_action(
        when(
            |p| p.a.node.app().received.len() >= 300 && p.a.node.unacked() == 0,
            100,
        ),
        Side::A,
        "peer-a's application calls close()",
        "peer-a 的应用调用 close()",
    ));
    plan.server_app.close_on_eof = true;
    Ok(())
}

fn simultaneous_close(plan: &mut Plan, _: &Params) -> Result<(), String> {
    plan.client_app.to_send = payload(300, "c");
    plan.server_app.to_send = payload(300, "s");
    // Exactly the same instant on both sides (the same condition, checked on the same step),
    // once both have read what the other sent: the FINs cross on the wire.
    let both_done = |p: &crate::sim::SimPair| {
        p.a.node.app().received.len() >= 300
            && p.b.node.app().received.len() >= 300
            && p.a.node.unacked() == 0
            && p.b.node.unacked() == 0
    };
    plan.actions.push(close_action(
        when(both_done, 200),
        Side::A,
        "the client's application calls close()",
        "客户端应用调用 close()",
    ));
    plan.actions.push(close_action(
        when(both_done, 200),
        Side::B,
        "the server's application calls close() at the same instant",
        "服务器应用在同一时刻调用 close()",
    ));
    Ok(())
}

fn refused(plan: &mut Plan, params: &Params) -> Result<(), String> {
    plan.server = conn_node(
        plan.closed_connection(SERVER_PORT, iss(params.seed, Side::B)),
        Side::B,
    );
    plan.listens = false;
    Ok(())
}

fn abort(plan: &mut Plan, _: &Params) -> Result<(), String> {
    plan.client_app.to_send = payload(500, "c");
    plan.server_app.to_send = payload(1000, "s");
    plan.actions.push(action(
        // After both streams are through, so the demo shows the RST and nothing else (data
        // still in flight would simply be thrown away).
        when(
            |p| p.a.node.app().received.len() >= 1000 && p.a.node.unacked() == 0,
            100,
        ),
        Side::A,
        "the client's application aborts the connection (SO_LINGER 0, then close()): a RST, \
         no goodbye",
        "客户端应用中止连接（SO_LINGER 设为 0 后调用 close()）：直接发出 RST",
        |pair, now| pair.a.node.abort(now),
    ));
    Ok(())
}

fn lossy(plan: &mut Plan, _: &Params) -> Result<(), String> {
    use Side::A;
    plan.client_app.to_send = payload(4000, "c");
    // Segment 2 of 8 is lost with six behind it: their SACKs let RACK find it lost. Segment 9
    // goes out alone later and is lost with nothing behind it: no duplicate ACKs come; the
    // tail loss probe that resends it is lost too, so the retransmission timer repairs it.
    plan.drops[0].push(DropRule::new(2, |_, s| is_data(s)));
    plan.drops[0].push(DropRule::new(1, |_, s| s.payload.len() == 400));
    // (Each rule counts only what the rules before it let through.)
    plan.drops[0].push(DropRule::new(1, |_, s| s.payload.len() == 400));
    plan.actions.push(action(
        after(A, StateName::Established, 300),
        A,
        "the client's application writes 400 more bytes (one segment)",
        "客户端应用再写入 400 字节（一个报文段）",
        |pair, _| pair.a.node.app_mut().to_send.extend(payload(400, "d")),
    ));
    plan.actions.push(close_action(
        after(A, StateName::Established, 2000),
        A,
        "the client's application calls close()",
        "客户端应用调用 close()",
    ));
    plan.server_app.close_on_eof = true;
    Ok(())
}

/// Bytes the congestion scenario sends: enough for slow start, a loss, recovery and several
/// round trips of congestion avoidance.
pub const CONGESTION_BYTES: usize = 120_000;

fn congestion(plan: &mut Plan, _: &Params) -> Result<(), String> {
    plan.follow_window = true;
    plan.client_app.to_send = payload(CONGESTION_BYTES, "c");
    // The 60th data segment is lost in the third flight of slow start, with many behind it:
    // their duplicate ACKs bring fast retransmit rather than a timeout.
    plan.drops[0].push(DropRule::new(60, |_, s| is_data(s)));
    plan.actions.push(close_action(
        when(
            |p| p.b.node.app().received.len() >= CONGESTION_BYTES && p.a.node.unacked() == 0,
            100,
        ),
        Side::A,
        "the client's application calls close()",
        "客户端应用调用 close()",
    ));
    plan.server_app.close_on_eof = true;
    Ok(())
}

fn checksum(plan: &mut Plan, _: &Params) -> Result<(), String> {
    plan.client_app.to_send = payload(1500, "c");
    plan.drops[0].push(DropRule::corrupt(1, |_, s| is_data(s)));
    plan.actions.push(close_action(
        when(
            |p| p.b.node.app().received.len() >= 1500 && p.a.node.unacked() == 0,
            100,
        ),
        Side::A,
        "the client's application calls close()",
        "客户端应用调用 close()",
    ));
    plan.server_app.close_on_eof = true;
    Ok(())
}

fn zero_window(plan: &mut Plan, params: &Params) -> Result<(), String> {
    use Side::{A, B};
    let small = Config {
        recv_buffer: 2000,
        ..plan.config.clone()
    };
    plan.server = conn_node(
        Connection::listen(&small, SERVER_PORT, iss(params.seed, B)),
        B,
    );
    plan.client_app.to_send = payload(3000, "c");
    plan.server_app.reads = false;
    plan.actions.push(action(
        after(B, StateName::Established, 1500),
        B,
        "the server's application finally reads: its buffer empties, the window reopens",
        "服务器应用终于开始读数据：缓冲区腾空，窗口重新打开",
        |pair, _| pair.b.node.app_mut().reads = true,
    ));
    plan.actions.push(close_action(
        after(B, StateName::Established, 2500),
        A,
        "the client's application calls close()",
        "客户端应用调用 close()",
    ));
    plan.server_app.close_on_eof = true;
    Ok(())
}

fn keepalive(plan: &mut Plan, params: &Params) -> Result<(), String> {
    // Keepalive on the client only, with short timers so the picture stays small (Linux's
    // defaults are 7200 s, 75 s and 9 probes). A probe interval of at least one RTT lets an
    // answer come back before the client gives up, at any RTT.
    let interval = Duration::from_secs(1).max(params.rtt);
    let c = Config {
        keepalive: Some(synack_proto::Keepalive {
            idle: Duration::from_secs(2),
            interval,
            count: 3,
        }),
        ..plan.config.clone()
    };
    plan.client = conn_node(
        Connection::connect(&c, CLIENT_PORT, SERVER_PORT, iss(params.seed, Side::A)),
        Side::A,
    );
    plan.client_app.to_send = payload(200, "c");
    plan.client_app.close_on_eof = false;
    plan.server_app.to_send = payload(200, "s");
    plan.server_app.close_on_eof = false;
    // The client last hears the server when the server's 200 bytes arrive; its first probe
    // leaves one idle time later and is answered one RTT after that. The power cut comes half
    // an interval after the answer, whatever the RTT.
    let cut = 2000 + params.rtt.as_millis() as u64 + interval.as_millis() as u64 / 2;
    plan.actions.push(action(
        when(|p| p.a.node.app().received.len() >= 200, cut),
        Side::B,
        "the server's host vanishes (power cut): nothing it sends or receives gets through",
        "服务器所在的主机突然消失（断电）：它收发的一切都无法送达",
        |pair, _| pair.link.set_partitioned(true),
    ));
    Ok(())
}

fn time_wait(plan: &mut Plan, _: &Params) -> Result<(), String> {
    plan.client_app.to_send = payload(100, "c");
    // The client's last ACK: the first pure ACK it sends in TIME-WAIT.
    plan.drops[0].push(DropRule::new(1, |n, s| {
        n.state() == StateName::TimeWait && s.flags.ack() && !s.flags.fin() && !is_data(s)
    }));
    plan.actions.push(close_action(
        after(Side::A, StateName::Established, 100),
        Side::A,
        "the client's application calls close()",
        "客户端应用调用 close()",
    ));
    plan.actions.push(close_action(
        after(Side::B, StateName::CloseWait, 20),
        Side::B,
        "the server's application calls close()",
        "服务器应用调用 close()",
    ));
    Ok(())
}

fn syn_flood(plan: &mut Plan, params: &Params) -> Result<(), String> {
    // A real listener with a SYN queue: the multi-connection host, backlog 4, SYN cookies on
    // (Linux's tcp_syncookies=1). Three SYN-ACK retries instead of Linux's five keep the
    // picture short, while the ghosts' half-open entries (15 s) still outlive the client's
    // handshake at any --rtt up to 10 s: were the queue to empty first, a SYN the client
    // retransmitted would get a normal SYN-ACK with another ISN than the cookie it already
    // took, and its ACK would be answered with RST (RFC 9293 §3.10.7.4), as Linux would.
    const BACKLOG: usize = 4;
    let (client_ip, server_ip) = ips();
    let server_addr = SocketAddr::new(server_ip, SERVER_PORT);
    let host = synack_proto::host::Host::new(synack_proto::host::HostConfig {
        secret: u128::from(params.seed),
        tcp: Config {
            synack_retries: 3,
            ..plan.config.clone()
        },
        local_addrs: vec![server_ip],
        ..Default::default()
    });
    let peer = SocketAddr::new(client_ip, CLIENT_PORT);
    plan.server = Node::Server(Box::new(HostServer::new(host, server_addr, BACKLOG, peer)?));
    plan.backlog = BACKLOG;
    // The client is idle until its user connects, after the flood has begun.
    plan.client = conn_node(
        plan.closed_connection(CLIENT_PORT, iss(params.seed, Side::A)),
        Side::A,
    );
    plan.connects_later = true;
    plan.injected = flood(params.seed, server_addr);
    plan.actions.push(action(
        When::At(synack_proto::Instant::ZERO),
        Side::A,
        &format!(
            "an attacker next to the client sends {FLOOD_SYNS} SYNs with forged source \
             addresses; their SYN-ACKs will go nowhere"
        ),
        &format!(
            "与客户端同一网络的攻击者发出 {FLOOD_SYNS} 个伪造源地址的 SYN；服务器回复的 SYN-ACK \
             将无处可达"
        ),
        |_, _| {},
    ));
    let seed = params.seed;
    let config = plan.config.clone();
    plan.actions.push(action(
        When::At(synack_proto::Instant::from_millis(20)),
        Side::A,
        "the client's application calls socket(), then connect(): its SYN reaches a full SYN \
         queue",
        "客户端应用调用 socket()，再调用 connect()：它的 SYN 到达时 SYN 队列已满",
        move |pair, now| {
            if let Node::Conn(n) = &mut pair.a.node {
                n.conn = Connection::connect(&config, CLIENT_PORT, SERVER_PORT, iss(seed, Side::A));
            }
            pair.a.node.collect(now);
        },
    ));
    plan.client_app.to_send = payload(1000, "c");
    plan.client_app.close_on_eof = false;
    plan.server_app.to_send = payload(500, "s");
    plan.server_app.close_on_eof = true;
    plan.actions.push(close_action(
        when(
            |p| p.a.node.app().received.len() >= 500 && p.a.node.unacked() == 0,
            100,
        ),
        Side::A,
        "the client's application has its reply and calls close()",
        "客户端应用收到回复，调用 close()",
    ));
    // What the server sends to the forged addresses never arrives: nobody is there.
    plan.drops[1].push(DropRule::every(move |_, ip, _| ip.dst != client_ip));
    Ok(())
}
