//! The IP header fields a packet line may name before its flags, in brackets or parentheses:
//! `[ect0]`, `(tos 0x10)`, `(ttl 3)`, `(hlim 3)`, `(class 0x20)`, `(flowlabel 0x12345)`,
//! `(ecn ce)`, or several separated by commas (`[ect0, flowlabel 0x1]`).

use super::{PResult, Parser};
use crate::ast::IpInfo;

const ECN_NAMES: [&str; 5] = ["noecn", "ect0", "ect1", "ce", "ect01"];

impl Parser {
    pub(super) fn ip_info(&mut self) -> PResult<IpInfo> {
        let mut info = IpInfo::default();
        let close = match self.peek() {
            Some('[') => ']',
            Some('(') => ')',
            _ => return Ok(info),
        };
        self.bump();
        loop {
            self.ws()?;
            let pos = self.pos();
            let w = self.word();
            match w.as_str() {
                e if ECN_NAMES.contains(&e) => info.ecn = Some(w.clone()),
                "ecn" => {
                    self.ws()?;
                    let vpos = self.pos();
                    let e = self.word();
                    if !ECN_NAMES.contains(&e.as_str()) {
                        return self.err(
                            vpos,
                            format!("unknown ECN field '{e}' (noecn, ect0, ect1, ce, ect01)"),
                        );
                    }
                    info.ecn = Some(e);
                }
                "tos" | "class" => info.tos = Some(self.byte(&w)?),
                "ttl" | "hlim" => info.ttl = Some(self.byte(&w)?),
                "flowlabel" => {
                    let vpos = self.pos();
                    let v = self.integer("flow label")?;
                    if !(0..=0xf_ffff).contains(&v) {
                        return self.err(vpos, format!("flowlabel {v:#x} does not fit in 20 bits"));
                    }
                    info.flow_label = Some(v as u32);
                }
                _ => {
                    return self.err(
                        pos,
                        format!(
                            "unknown IP header field '{w}' (noecn, ect0, ect1, ce, ect01, ecn, \
                             tos, class, ttl, hlim, flowlabel)"
                        ),
                    );
                }
            }
            if !self.eat(',')? {
                self.expect(close, "after the IP header fields")?;
                return Ok(info);
            }
        }
    }

    fn byte(&mut self, what: &str) -> PResult<u8> {
        let pos = self.pos();
        let v = self.integer(what)?;
        u8::try_from(v).or_else(|_| self.err(pos, format!("{what} {v} does not fit in 8 bits")))
    }
}
