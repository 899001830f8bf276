//! TCP options on the wire (RFC 9293 §3.2, RFC 7323, RFC 2018): walking them one by one, and
//! parsing and emitting the set the core works with ([`TcpOptions`]).

use super::{MAX_OPTIONS_LEN, SackBlock, SackList, TcpOptions, Timestamps, kind};
use crate::{Error, get_u32};

/// One option as found on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    EndOfList,
    NoOp,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    Sack(SackList),
    Timestamps(Timestamps),
    /// An option synack does not interpret; `data` excludes kind and length.
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

/// Walks an option list (RFC 9293 §3.2).
///
/// Yields `Err(Error::BadOption)` once for a malformed list and then stops, as it does after
/// EOL; the bytes after EOL are padding and are not examined.
#[derive(Clone, Debug)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    pub fn new(options: &'a [u8]) -> TcpOptionIter<'a> {
        TcpOptionIter { rest: options }
    }

    fn next_option(&mut self) -> Result<Option<TcpOption<'a>>, Error> {
        let b = self.rest;
        let Some(&k) = b.first() else {
            return Ok(None);
        };
        match k {
            kind::EOL => {
                self.rest = &[];
                return Ok(Some(TcpOption::EndOfList));
            }
            kind::NOP => {
                self.rest = &b[1..];
                return Ok(Some(TcpOption::NoOp));
            }
            _ => {}
        }
        // Every other kind has a length octet that counts kind and length themselves
        // (RFC 9293 §3.2), so anything below 2 would never advance.
        let len = usize::from(*b.get(1).ok_or(Error::BadOption)?);
        if len < 2 {
            return Err(Error::BadOption);
        }
        let data = b.get(2..len).ok_or(Error::BadOption)?;
        let opt = match (k, data.len()) {
            (kind::MSS, 2) => TcpOption::Mss(u16::from_be_bytes([data[0], data[1]])),
            (kind::WINDOW_SCALE, 1) => TcpOption::WindowScale(data[0]),
            (kind::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (kind::TIMESTAMPS, 8) => TcpOption::Timestamps(Timestamps {
                tsval: get_u32(data, 0).ok_or(Error::BadOption)?,
                tsecr: get_u32(data, 4).ok_or(Error::BadOption)?,
            }),
            // RFC 2018 §3: 8 bytes per block; at most four fit in 40 bytes of options.
            (kind::SACK, n) if n % 8 == 0 && (8..=32).contains(&n) => {
                let mut list = SackList::new();
                for blk in data.chunks_exact(8) {
                    list.push(SackBlock {
                        left: get_u32(blk, 0).ok_or(Error::BadOption)?,
                        right: get_u32(blk, 4).ok_or(Error::BadOption)?,
                    });
                }
                TcpOption::Sack(list)
            }
            (kind::MSS | kind::WINDOW_SCALE | kind::SACK_PERMITTED | kind::TIMESTAMPS, _)
            | (kind::SACK, _) => return Err(Error::BadOption),
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        self.rest = &b[len..];
        Ok(Some(opt))
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_option() {
            Ok(o) => o.map(Ok),
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl TcpOptions {
    /// Collects the options synack understands from a raw option list. When a kind repeats,
    /// the last occurrence wins.
    pub fn parse(options: &[u8]) -> Result<TcpOptions, Error> {
        // Almost every segment of an established connection carries exactly `NOP NOP TS`
        // (RFC 7323 Appendix A's layout): read it in place of walking the list.
        if let [kind::NOP, kind::NOP, kind::TIMESTAMPS, 10, ts @ ..] = options
            && let Ok(ts) = <[u8; 8]>::try_from(ts)
        {
            let [a, b, c, d, e, f, g, h] = ts;
            return Ok(TcpOptions {
                timestamps: Some(Timestamps {
                    tsval: u32::from_be_bytes([a, b, c, d]),
                    tsecr: u32::from_be_bytes([e, f, g, h]),
                }),
                ..TcpOptions::default()
            });
        }
        let mut out = TcpOptions::default();
        for opt in TcpOptionIter::new(options) {
            match opt? {
                TcpOption::Mss(v) => out.mss = Some(v),
                TcpOption::WindowScale(v) => out.window_scale = Some(v),
                TcpOption::SackPermitted => out.sack_permitted = true,
                TcpOption::Sack(l) => out.sack_blocks = l,
                TcpOption::Timestamps(t) => out.timestamps = Some(t),
                TcpOption::EndOfList | TcpOption::NoOp | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(out)
    }

    /// Bytes [`TcpOptions::emit`] writes, padding included; always a multiple of 4.
    ///
    /// The layout follows Linux's `tcp_options_write`, each item 4-byte aligned:
    /// `MSS` (4) · `SACK-permitted TS` or `NOP NOP TS` (12) · `NOP NOP SACK-permitted` when
    /// there is no TS (4) · `NOP WS` (4) · `NOP NOP SACK` (4 + 8n).
    /// A value above 40 means the options do not fit in a TCP header.
    pub fn wire_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.timestamps.is_some() {
            n += 12;
        } else if self.sack_permitted {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 4;
        }
        if !self.sack_blocks.is_empty() {
            n += 4 + 8 * self.sack_blocks.len();
        }
        n
    }

    /// Writes the options (layout in [`TcpOptions::wire_len`]); returns the bytes written.
    ///
    /// With timestamps, at most three SACK blocks fit (12 + 4 + 3·8 = 40); without, four.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = self.wire_len();
        if len > MAX_OPTIONS_LEN {
            return Err(Error::OptionsTooLong);
        }
        let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let mut w = Writer { buf: out, pos: 0 };
        if let Some(mss) = self.mss {
            w.put(&[kind::MSS, 4]);
            w.put(&mss.to_be_bytes());
        }
        if let Some(ts) = self.timestamps {
            // Sharing the 4-byte slot with SACK-permitted saves the two NOPs (RFC 7323 App. A).
            if self.sack_permitted {
                w.put(&[kind::SACK_PERMITTED, 2]);
            } else {
                w.put(&[kind::NOP, kind::NOP]);
            }
            w.put(&[kind::TIMESTAMPS, 10]);
            w.put(&ts.tsval.to_be_bytes());
            w.put(&ts.tsecr.to_be_bytes());
        } else if self.sack_permitted {
            w.put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]);
        }
        if let Some(ws) = self.window_scale {
            w.put(&[kind::NOP, kind::WINDOW_SCALE, 3, ws]);
        }
        if !self.sack_blocks.is_empty() {
            let n = self.sack_blocks.len() as u8;
            w.put(&[kind::NOP, kind::NOP, kind::SACK, 2 + 8 * n]);
            for b in self.sack_blocks.as_slice() {
                w.put(&b.left.to_be_bytes());
                w.put(&b.right.to_be_bytes());
            }
        }
        debug_assert_eq!(w.pos, len);
        Ok(len)
    }
}

/// Sequential writer over a slice already sized to fit everything written.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }
}
