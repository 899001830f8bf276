//! The words the demo says, in English and Chinese, and the names of the states. State names
//! stay as RFC 9293 spells them in both languages unless `--names netstat` asks for the ones
//! `netstat` prints; [`STATE_NAMES`] maps between the spellings a reader meets elsewhere.

use synack_proto::{Cause, ConnError, StateName};

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
        (Lang::En, TimeWait) => "waiting 2MSL before the 4-tuple may be used again",
        (Lang::Zh, Closed) => "没有连接",
        (Lang::Zh, Listen) => "等待任意客户端的 SYN",
        (Lang::Zh, SynSent) => "已发送 SYN，等待 SYN-ACK",
        (Lang::Zh, SynReceived) => "已回应 SYN，等待对方的 ACK",
        (Lang::Zh, Established) => "连接已建立，数据可双向传输",
        (Lang::Zh, FinWait1) => "已发送 FIN，等待对方确认",
        (Lang::Zh, FinWait2) => "本端的 FIN 已被确认，对方仍可发送",
        (Lang::Zh, CloseWait) => "对方已发送完毕，本端仍可发送",
        (Lang::Zh, Closing) => "双方都已发出 FIN，本端的 FIN 尚未被确认",
        (Lang::Zh, LastAck) => "本端也已发出 FIN，等待最后的 ACK",
        (Lang::Zh, TimeWait) => "等待 2MSL，之后同一个四元组才能再次使用",
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

/// Which spelling of the state names to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Names {
    /// RFC 9293's: SYN-RECEIVED, FIN-WAIT-1, TIME-WAIT.
    #[default]
    Rfc,
    /// Linux `netstat`'s (from the kernel's own names): SYN_RECV, FIN_WAIT1, TIME_WAIT.
    Netstat,
}

/// One state under the names the tools use: RFC 9293, Linux `netstat`, Linux `ss`, and the
/// BSD family's `netstat` (FreeBSD, macOS; Windows spells them the same way).
pub struct StateNames {
    pub state: StateName,
    pub netstat: &'static str,
    pub ss: &'static str,
    pub bsd: &'static str,
}

pub const STATE_NAMES: [StateNames; 11] = {
    use StateName::*;
    const fn n(
        state: StateName,
        netstat: &'static str,
        ss: &'static str,
        bsd: &'static str,
    ) -> StateNames {
        StateNames {
            state,
            netstat,
            ss,
            bsd,
        }
    }
    [
        n(Closed, "CLOSE", "UNCONN", "CLOSED"),
        n(Listen, "LISTEN", "LISTEN", "LISTEN"),
        n(SynSent, "SYN_SENT", "SYN-SENT", "SYN_SENT"),
        n(SynReceived, "SYN_RECV", "SYN-RECV", "SYN_RCVD"),
        n(Established, "ESTABLISHED", "ESTAB", "ESTABLISHED"),
        n(FinWait1, "FIN_WAIT1", "FIN-WAIT-1", "FIN_WAIT_1"),
        n(FinWait2, "FIN_WAIT2", "FIN-WAIT-2", "FIN_WAIT_2"),
        n(CloseWait, "CLOSE_WAIT", "CLOSE-WAIT", "CLOSE_WAIT"),
        n(Closing, "CLOSING", "CLOSING", "CLOSING"),
        n(LastAck, "LAST_ACK", "LAST-ACK", "LAST_ACK"),
        n(TimeWait, "TIME_WAIT", "TIME-WAIT", "TIME_WAIT"),
    ]
};

/// A state's name in the chosen spelling.
pub fn state_name(state: StateName, names: Names) -> &'static str {
    match names {
        Names::Rfc => state.as_str(),
        Names::Netstat => STATE_NAMES
            .iter()
            .find(|n| n.state == state)
            .map_or(state.as_str(), |n| n.netstat),
    }
}

/// The table of names, for `synack states` and the README.
pub fn names_table(lang: Lang) -> String {
    let mut out = String::new();
    out.push_str(lang.pick(
        "The same states under the names other tools print:\n",
        "同一组状态在其他工具中的名字：\n",
    ));
    let head = [
        "RFC 9293",
        lang.pick("netstat (Linux)", "netstat（Linux）"),
        "ss (Linux)",
        lang.pick(
            "netstat (BSD, macOS, Windows)",
            "netstat（BSD、macOS、Windows）",
        ),
    ];
    let row = |cells: [&str; 4]| {
        let mut line = String::from(" ");
        for (k, c) in cells.iter().enumerate() {
            if k < 3 {
                line.push_str(&crate::text::pad_to(c, 18));
            } else {
                line.push_str(c);
            }
        }
        line.trim_end().to_string() + "\n"
    };
    out.push_str(&row(head));
    for n in &STATE_NAMES {
        out.push_str(&row([n.state.as_str(), n.netstat, n.ss, n.bsd]));
    }
    out
}

/// The name a socket programmer knows for an error, and what it means.
pub fn error_name(e: ConnError, lang: Lang) -> String {
    let (code, en, zh) = match e {
        ConnError::ConnectionRefused => ("ECONNREFUSED", "connection refused", "连接被拒绝"),
        ConnError::ConnectionReset => ("ECONNRESET", "connection reset by peer", "连接被对方重置"),
        ConnError::TimedOut => ("ETIMEDOUT", "connection timed out", "连接超时"),
        ConnError::ConnectionAborted => ("", "aborted by the local user", "被本端用户中止"),
        ConnError::HostUnreachable => ("EHOSTUNREACH", "no route to host", "主机不可达"),
        ConnError::NetworkUnreachable => ("ENETUNREACH", "network is unreachable", "网络不可达"),
        _ => ("", "error", "错误"),
    };
    let what = lang.pick(en, zh);
    match (code, lang) {
        ("", _) => what.to_string(),
        (_, Lang::En) => format!("{code}, {what}"),
        (_, Lang::Zh) => format!("{code}，{what}"),
    }
}
