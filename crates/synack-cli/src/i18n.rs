//! The words the demo says, in English and Chinese. State names stay as RFC 9293 spells them
//! in both languages: they are what a reader will meet in the RFC, in `ss` and in Wireshark.

use synack_proto::{Cause, StateName};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub fn pick<'a>(self, en: &'a str, zh: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }
}

/// One line on what a connection in this state is doing.
pub fn describe(state: StateName, lang: Lang) -> &'static str {
    use StateName::*;
    match (lang, state) {
        (Lang::En, Closed) => "no connection",
        (Lang::En, Listen) => "waiting for a SYN from any client",
        (Lang::En, SynSent) => "SYN sent, waiting for SYN-ACK",
        (Lang::En, SynReceived) => "SYN answered, waiting for its ACK",
        (Lang::En, Established) => "open: data flows both ways",
        (Lang::En, FinWait1) => "our FIN sent, waiting for its ACK",
        (Lang::En, FinWait2) => "our FIN ACKed; the peer may still send",
        (Lang::En, CloseWait) => "peer is done sending; we may still send",
        (Lang::En, Closing) => "both FINs sent, ours not yet ACKed",
        (Lang::En, LastAck) => "our FIN sent too, waiting for the last ACK",
        (Lang::En, TimeWait) => "waiting 2MSL before the port pair is free",
        (Lang::Zh, Closed) => "没有连接",
        (Lang::Zh, Listen) => "等待任意客户端的 SYN",
        (Lang::Zh, SynSent) => "已发送 SYN，等待 SYN-ACK",
        (Lang::Zh, SynReceived) => "已回应 SYN，等待对方的 ACK",
        (Lang::Zh, Established) => "连接已建立，双向传输数据",
        (Lang::Zh, FinWait1) => "已发送 FIN，等待对方确认",
        (Lang::Zh, FinWait2) => "FIN 已被确认，对方仍可发送",
        (Lang::Zh, CloseWait) => "对方已发完；本端仍可发送",
        (Lang::Zh, Closing) => "双方都发了 FIN，本端的未被确认",
        (Lang::Zh, LastAck) => "本端也发了 FIN，等待最后的 ACK",
        (Lang::Zh, TimeWait) => "等待 2MSL，之后端口对才可复用",
    }
}

/// The cause of a transition, as a short phrase.
pub fn cause(c: Cause, lang: Lang) -> &'static str {
    match lang {
        Lang::En => c.label(),
        Lang::Zh => match c {
            Cause::UserConnect => "connect",
            Cause::UserListen => "listen",
            Cause::UserClose => "close",
            Cause::UserAbort => "abort",
            Cause::RecvSyn => "收到 SYN",
            Cause::RecvSynAck => "收到 SYN+ACK",
            Cause::RecvAck => "收到 ACK",
            Cause::RecvFin => "收到 FIN",
            Cause::RecvRst => "收到 RST",
            Cause::RetransmitTimeout => "重传超时",
            Cause::KeepaliveTimeout => "保活探测无应答",
            Cause::TimeWaitExpired => "2MSL 超时",
            Cause::FinWait2Timeout => "FIN-WAIT-2 超时",
            Cause::DataAfterClose => "关闭后收到数据",
            Cause::RecvCookieAck => "收到带 SYN cookie 的 ACK",
        },
    }
}

/// The header of a scenario: what it shows and why it matters.
pub fn header(scenario: &str, lang: Lang) -> &'static str {
    match (scenario, lang) {
        ("tour", Lang::En) => {
            "A whole connection in one go. The client opens with the three-way handshake (SYN, \
             SYN-ACK, ACK), sends three segments of which the network loses the second, and \
             repairs it when its retransmission timer (RTO) fires: the server's duplicate ACK \
             (ack=501 again) says which byte it is still waiting for. (The receiver keeps \
             the third segment and says so with a SACK block; once the hole is filled, one ACK \
             covers both.) Then the four-way close: each side sends \
             its own FIN and ACKs the other's. The active closer (the client) waits in \
             TIME-WAIT for 2MSL before CLOSED."
        }
        ("tour", Lang::Zh) => {
            "一次看全一条连接的一生。客户端用三次握手（SYN、SYN-ACK、ACK）建立连接，发送三个报文段，\
             网络丢掉了第二个；服务器的重复 ACK（再次 ack=501）指出它还在等哪个字节，客户端在重传定时器（RTO）\
             到期后超时重传（接收方保存了乱序到达的第三个报文段，并用 SACK 块告知；空洞补上后，一个 ACK 同时确认两者）。最后是四次挥手：双方各发一个 FIN、各确认对方的 FIN。主动关闭的一方\
             （客户端）在 TIME-WAIT 中等待 2MSL 才进入 CLOSED。"
        }
        ("handshake", Lang::En) => {
            "The three-way handshake. Each side picks an initial sequence number (ISN) and \
             must learn the other's: the SYN carries the client's, the SYN-ACK acknowledges it \
             and carries the server's, the final ACK acknowledges that. Three segments, because \
             each SYN needs an ACK and the middle one does both jobs. Options (MSS, window scale, \
             SACK) are agreed on the SYNs only."
        }
        ("handshake", Lang::Zh) => {
            "三次握手。双方各自选定初始序列号（ISN），并且必须得知对方的 ISN：SYN 携带客户端的 ISN，\
             SYN-ACK 确认它并携带服务器的 ISN，最后的 ACK 确认服务器的 ISN。之所以是三次，是因为\
             每个 SYN 都需要一个 ACK，而中间那个报文段同时完成了两件事。MSS、窗口扩大、SACK 等选项\
             只在 SYN 上协商。"
        }
        ("transfer", Lang::En) => {
            "Data both ways after the handshake. The sequence number counts bytes: a segment \
             with seq=1 len=500 carries bytes 1..500, and the ACK that answers it says ack=501, \
             the next byte expected. win is how much more the receiver will take."
        }
        ("transfer", Lang::Zh) => {
            "握手之后的双向数据传输。序列号按字节计数：seq=1 len=500 的报文段携带第 1..500 字节，\
             对它的确认是 ack=501，即期望的下一个字节。win 是接收方还愿意接收多少字节。"
        }
        ("close", Lang::En) => {
            "The four-way close. TCP is full duplex, so each direction is closed on its own: \
             the client's FIN ends the client→server stream and the server ACKs it at once. \
             The server's FIN cannot ride on that ACK because the server's application has not \
             finished yet (it may still have data to send): CLOSE-WAIT lasts until it calls \
             close(). The active closer ends in TIME-WAIT for 2MSL (here MSL is shortened to \
             5 s), long enough to resend the last ACK if it is lost and for stray old segments \
             to die out before the same port pair can be reused."
        }
        ("close", Lang::Zh) => {
            "四次挥手。TCP 是全双工的，两个方向分别关闭：客户端的 FIN 结束客户端→服务器方向，服务器\
             立即确认。服务器的 FIN 不能和这个 ACK 合并，因为服务器的应用还没结束（可能还有数据要发）：\
             CLOSE-WAIT 一直持续到它调用 close()。主动关闭方最后在 TIME-WAIT 等待 2MSL（本演示把 MSL \
             缩短为 5 秒），足以在最后的 ACK 丢失时重发它，并让网络中残留的旧报文段消亡，之后同一对端口\
             才能复用。"
        }
        ("half-close", Lang::En) => {
            "A half-close: shutdown(SHUT_WR) ends only the sending direction. The client sends \
             its request and a FIN, then sits in FIN-WAIT-2 still receiving. The server sees \
             end-of-stream, and from CLOSE-WAIT sends its whole reply before its own FIN. \
             This is why the middle two steps of the four-way close are separate segments."
        }
        ("half-close", Lang::Zh) => {
            "半关闭：shutdown(SHUT_WR) 只关闭发送方向。客户端发送请求和 FIN 后停在 FIN-WAIT-2，\
             仍然接收数据。服务器读到 EOF，在 CLOSE-WAIT 中发完全部回复，然后才发自己的 FIN。\
             这正是四次挥手中间两步不能合并的原因。"
        }
        ("simultaneous-open", Lang::En) => {
            "A simultaneous open: two peers connect to each other at the same moment and their \
             SYNs cross. Each receives a SYN while in SYN-SENT, answers with SYN-ACK and moves \
             to SYN-RECEIVED; each SYN-ACK completes the other's handshake. Four segments, one \
             connection, no listener."
        }
        ("simultaneous-open", Lang::Zh) => {
            "同时打开：两端在同一时刻互相发起连接，SYN 在网络中交叉。双方都在 SYN-SENT 状态收到 SYN，\
             回复 SYN-ACK 并进入 SYN-RECEIVED；对方的 SYN-ACK 完成握手。四个报文段，一条连接，没有监听方。"
        }
        ("simultaneous-close", Lang::En) => {
            "A simultaneous close: both applications call close() at the same instant, so both \
             FINs are in flight at once. Each side receives a FIN while in FIN-WAIT-1 (its own \
             FIN not yet ACKed) and moves to CLOSING; the ACKs then take both to TIME-WAIT. Both \
             sides are active closers, so both wait 2MSL."
        }
        ("simultaneous-close", Lang::Zh) => {
            "同时关闭：双方应用在同一时刻调用 close()，两个 FIN 同时在途。双方都在 FIN-WAIT-1（自己的 \
             FIN 尚未被确认）时收到对方的 FIN，进入 CLOSING；随后的 ACK 把双方带入 TIME-WAIT。\
             双方都是主动关闭方，所以都要等待 2MSL。"
        }
        ("syn-flood", Lang::En) => {
            "SYN flood and SYN cookies (RFC 4987). Each SYN a listener answers normally costs it a \
             half-open connection in its SYN queue (SYN-RECEIVED) until the handshake's ACK comes \
             or its SYN-ACK retries run out. An attacker sends SYNs from forged addresses, which \
             never ACK: the queue (backlog 4 here) fills with ghosts. A full queue would turn real \
             clients away, so the server answers with a SYN cookie instead: its ISN encodes the \
             4-tuple, a time counter and the client's MSS under a secret hash, and it keeps \
             nothing. The real client's ACK brings the cookie back (ack = ISN + 1); the server \
             checks it and creates the connection straight in ESTABLISHED. Forged SYNs answered \
             with cookies cost nothing: their SYN-ACKs are never retransmitted. Without TCP \
             timestamps the cookie has no room for window scaling and SACK, so this connection \
             goes without them. The price of keeping nothing: should the network lose the \
             client's first ACK, its next segment no longer matches the cookie and is answered \
             with RST (try --loss 0.15 --seed 10)."
        }
        ("syn-flood", Lang::Zh) => {
            "SYN 洪泛与 SYN cookie（RFC 4987）。监听者每正常应答一个 SYN，就要在 SYN 队列中保存一个半连接\
             （SYN-RECEIVED），直到握手的 ACK 到来或 SYN-ACK 重传次数用完。攻击者用伪造的源地址发送 SYN，\
             这些地址永远不会回 ACK：队列（这里 backlog 为 4）被幽灵连接占满。队列满了，真实客户端本会被拒之门外，\
             于是服务器改用 SYN cookie 应答：它的 ISN 用秘密哈希编码了四元组、时间计数和客户端的 MSS，\
             服务器自己什么也不保存。真实客户端的 ACK 把 cookie 带回（ack = ISN + 1）；服务器校验通过，\
             直接在 ESTABLISHED 中建立连接。用 cookie 应答的伪造 SYN 毫无代价：它们的 SYN-ACK 从不重传。\
             没有 TCP 时间戳时，cookie 无处存放窗口缩放和 SACK，所以这条连接不使用它们。\
             不保存状态的代价：如果网络丢失了客户端的第一个 ACK，它的下一个报文段就与 cookie 对不上，\
             只能得到 RST（试试 --loss 0.15 --seed 10）。"
        }
        ("refused", Lang::En) => {
            "Connection refused. Nothing listens on the server's port: a closed port answers \
             every segment except a RST with a RST (RFC 9293 §3.10.7.1). The RST acknowledges \
             the SYN, so the client knows it is a real answer to its SYN, and gives up at once: \
             ECONNREFUSED."
        }
        ("refused", Lang::Zh) => {
            "连接被拒绝。服务器端口上没有监听者：关闭的端口对除 RST 外的任何报文段都回复 RST\
             （RFC 9293 §3.10.7.1）。这个 RST 确认了 SYN，客户端据此确认它是对自己 SYN 的真实回应，\
             立即放弃：ECONNREFUSED。"
        }
        ("abort", Lang::En) => {
            "An abortive close. Instead of a FIN, the client sends a RST: everything still \
             queued is thrown away and both sides go straight to CLOSED, with no TIME-WAIT. \
             The server's application sees ECONNRESET. (close() with unread data does the same.)"
        }
        ("abort", Lang::Zh) => {
            "异常终止。客户端不发 FIN 而是发 RST：尚在队列中的数据全部丢弃，双方直接进入 CLOSED，\
             没有 TIME-WAIT。服务器应用看到 ECONNRESET。（有未读数据时调用 close() 也会这样。）"
        }
        ("lossy", Lang::En) => {
            "Two ways TCP repairs a loss. First, segment 2 of a burst is lost: every later \
             segment makes the receiver repeat its ACK (duplicate ACKs), and \
             the third duplicate triggers fast retransmit without waiting for a timer. Later a \
             lone segment is lost with nothing behind it: no duplicate ACKs can come, so only \
             the retransmission timer (RTO, at least 200 ms) repairs it. (The receiver keeps \
             what arrives behind a hole and reports it in SACK blocks, so filling the hole moves \
             the ACK past everything at once.) Try --loss 0.1 for random loss on top."
        }
        ("lossy", Lang::Zh) => {
            "TCP 修复丢包的两种方式。首先，一批报文段中的第 2 个丢失：后续每个报文段都让接收方重复发送 \
             同一个 ACK（重复 ACK），第三个重复 ACK 触发快速重传，无需等待定时器。\
             随后，一个单独的报文段丢失，后面没有其他报文段：不会有重复 ACK，只能由重传定时器\
             （RTO，至少 200 毫秒）超时重传。（接收方保存空洞之后到达的数据，并用 SACK 块告知；\
             空洞一补上，ACK 便一次越过全部数据。）可加 --loss 0.1 叠加随机丢包。"
        }
        ("zero-window", Lang::En) => {
            "Flow control. The server's application stops reading, so its 2000-byte receive \
             buffer fills and it advertises win=0: the client must stop. So that a lost window \
             update cannot deadlock the connection, the client's persist timer sends one-byte \
             zero-window probes, backing off each time, until the server reads and its window \
             reopens."
        }
        ("keepalive", Lang::En) => {
            "Keepalive (RFC 1122 §4.2.3.6) finds out whether an idle peer is still there. After \
             the exchange the connection goes quiet; once the idle time (2 s here, 2 hours by \
             default) passes, the client sends a probe: an ACK with a sequence number one below \
             what it has sent, which the server must answer. It does, and the wait starts over. \
             Then the server's host vanishes: the probes (one per interval) go unanswered, and \
             after the third the client gives up with a timed-out error. The server, which has \
             keepalive off, never learns anything and stays ESTABLISHED."
        }
        ("keepalive", Lang::Zh) => {
            "保活机制（RFC 1122 §4.2.3.6）用来判断空闲的对端是否还在。数据交换完后连接静默；\
             空闲时间（这里是 2 秒，默认 2 小时）一过，客户端发送探测报文：序号比已发送的少一的 ACK，\
             服务器必须回应。它回应了，等待重新开始。随后服务器所在主机消失：每个间隔一次的探测都无人应答，\
             第三次之后客户端放弃连接，报告超时错误。服务器没有开启保活，毫不知情，一直停留在 ESTABLISHED。"
        }
        ("zero-window", Lang::Zh) => {
            "流量控制。服务器应用停止读取，2000 字节的接收缓冲区被填满，通告 win=0：客户端必须停止发送。\
             为防止窗口更新报文丢失造成死锁，客户端的坚持定时器发送 1 字节的零窗口探测，并逐次退避，\
             直到服务器读取数据、窗口重新打开。"
        }
        ("time-wait", Lang::En) => {
            "Why TIME-WAIT exists. The client's last ACK of the close is lost. The server, in \
             LAST-ACK, retransmits its FIN when its timer fires. Because the client is still in \
             TIME-WAIT it can answer with the ACK again, and the server closes cleanly; had the \
             client gone straight to CLOSED it would have answered with RST. TIME-WAIT restarts \
             its 2MSL wait on the retransmitted FIN."
        }
        ("time-wait", Lang::Zh) => {
            "TIME-WAIT 为什么存在。客户端在挥手中的最后一个 ACK 丢失了。处于 LAST-ACK 的服务器在定时器\
             到期后重发 FIN。因为客户端仍处于 TIME-WAIT，它能再次回复 ACK，服务器得以正常关闭；如果\
             客户端直接进入 CLOSED，它只能回复 RST。收到重发的 FIN 后，TIME-WAIT 重新开始 2MSL 等待。"
        }
        _ => "",
    }
}
