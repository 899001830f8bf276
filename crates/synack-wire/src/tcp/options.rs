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
    #[inline]
    pub fn parse(options: &[u8]) -> Result<TcpOptions, Error> {
        // Almost every segment of an established connection carries exactly `NOP NOP TS`
        // (RFC 7323 Appendix A's layout): read it in place of walking the list.
        if let [
            kind::NOP,
            kind::NOP,
            kind::TIMESTAMPS,
            10,
            a,
            b,
            c,
            d,
            e,
            f,
            g,
            h,
        ] = *options
        {
            return Ok(TcpOptions {
                timestamps: Some(Timestamps {
                    tsval: u32::from_be_bytes([a, b, c, d]),
                    tsecr: u32::from_be_bytes([e, f, g, h]),
                }),
                ..TcpOptions::default()
            });
        }
        // A SYN or SYN-ACK from Linux, or from us, lays out all four of its options as
        // `MSS, SACK-permitted TS, NOP WS` (see `wire_len`): read that in place too.
        if let Ok(
            &[
                kind::MSS,
                4,
                m0,
                m1,
                kind::SACK_PERMITTED,
                2,
                kind::TIMESTAMPS,
                10,
                a,
                b,
                c,
                d,
                e,
                f,
                g,
                h,
                kind::NOP,
                kind::WINDOW_SCALE,
                3,
                ws,
            ],
        ) = <&[u8; 20]>::try_from(options)
        {
            return Ok(TcpOptions {
                mss: Some(u16::from_be_bytes([m0, m1])),
                window_scale: Some(ws),
                sack_permitted: true,
                sack_blocks: SackList::new(),
                timestamps: Some(Timestamps {
                    tsval: u32::from_be_bytes([a, b, c, d]),
                    tsecr: u32::from_be_bytes([e, f, g, h]),
                }),
            });
        }
        Self::walk(options)
    }

    /// [`TcpOptions::parse`] the long way, one option at a time: what every layout the
    /// shortcuts above recognise must also give.
    fn walk(options: &[u8]) -> Result<TcpOptions, Error> {
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
        self.write(out);
        Ok(len)
    }

    /// [`TcpOptions::emit`] into `out`, exactly [`TcpOptions::wire_len`] bytes long.
    pub(super) fn write(&self, out: &mut [u8]) {
        // An established connection's segments carry the timestamps alone (`NOP NOP TS`):
        // written whole, not option by option.
        if let (Some(ts), None, None, false, true, Ok(out)) = (
            self.timestamps,
            self.mss,
            self.window_scale,
            self.sack_permitted,
            self.sack_blocks.is_empty(),
            <&mut [u8; 12]>::try_from(&mut *out),
        ) {
            let [a, b, c, d] = ts.tsval.to_be_bytes();
            let [e, f, g, h] = ts.tsecr.to_be_bytes();
            *out = [
                kind::NOP,
                kind::NOP,
                kind::TIMESTAMPS,
                10,
                a,
                b,
                c,
                d,
                e,
                f,
                g,
                h,
            ];
            return;
        }
        self.write_each(out);
    }

    /// [`TcpOptions::write`] one option at a time, the layout of [`TcpOptions::wire_len`].
    fn write_each(&self, out: &mut [u8]) {
        let len = out.len();
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

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Option lists near the layouts [`TcpOptions::parse`] reads in place: each one emitted
    /// from random values (the two recognised, and their neighbours with SACK blocks or
    /// without an option), then up to three bytes overwritten with values the shortcuts
    /// test for, a random byte or a length change, so that many almost match.
    /// Options with the handshake's fields set as drawn and no SACK blocks yet.
    fn handshake_options(
        mss: Option<u16>,
        ws: Option<u8>,
        sp: bool,
        ts: Option<(u32, u32)>,
    ) -> TcpOptions {
        TcpOptions {
            mss,
            window_scale: ws,
            sack_permitted: sp,
            timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
            ..TcpOptions::default()
        }
    }

    fn near_layouts() -> impl Strategy<Value = Vec<u8>> {
        let opts = (
            prop::option::of(any::<u16>()),
            prop::option::of(any::<u8>()),
            any::<bool>(),
            prop::option::of((any::<u32>(), any::<u32>())),
            0usize..4,
        );
        let pokes = prop::collection::vec(
            (
                0usize..40,
                prop_oneof![
                    Just(0u8),
                    Just(1),
                    Just(2),
                    Just(3),
                    Just(4),
                    Just(8),
                    Just(10),
                    any::<u8>()
                ],
            ),
            0..4,
        );
        (opts, pokes, -2isize..3).prop_map(|((mss, ws, sp, ts, sacks), pokes, trim)| {
            let mut o = handshake_options(mss, ws, sp, ts);
            for i in 0..sacks as u32 {
                o.sack_blocks.push(SackBlock {
                    left: i * 1000,
                    right: i * 1000 + 500,
                });
            }
            let mut buf = [0u8; 48];
            let n = o.emit(&mut buf).unwrap_or(0);
            let n = n.saturating_add_signed(trim).min(buf.len());
            let mut v = buf[..n].to_vec();
            for (at, byte) in pokes {
                if let Some(b) = v.get_mut(at) {
                    *b = byte;
                }
            }
            v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn the_shortcuts_agree_with_the_walk(opts in near_layouts()) {
            prop_assert_eq!(TcpOptions::parse(&opts), TcpOptions::walk(&opts));
        }

        #[test]
        fn the_shortcuts_agree_with_the_walk_on_any_bytes(
            opts in prop::collection::vec(any::<u8>(), 0..=40)
        ) {
            prop_assert_eq!(TcpOptions::parse(&opts), TcpOptions::walk(&opts));
        }
    }

    /// Any set of options the core can hand over, within what fits.
    fn any_options() -> impl Strategy<Value = TcpOptions> {
        (
            prop::option::of(any::<u16>()),
            prop::option::of(any::<u8>()),
            any::<bool>(),
            prop::option::of((any::<u32>(), any::<u32>())),
            prop::collection::vec((any::<u32>(), any::<u32>()), 0..=4),
        )
            .prop_map(|(mss, ws, sp, ts, blocks)| {
                let mut o = handshake_options(mss, ws, sp, ts);
                for (left, right) in blocks {
                    o.sack_blocks.push(SackBlock { left, right });
                }
                o
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_written_shortcut_agrees_with_writing_each_option(o in any_options()) {
            let len = o.wire_len();
            prop_assume!(len <= MAX_OPTIONS_LEN);
            let (mut fast, mut each) = ([0xa5u8; MAX_OPTIONS_LEN], [0x5au8; MAX_OPTIONS_LEN]);
            o.write(&mut fast[..len]);
            o.write_each(&mut each[..len]);
            prop_assert_eq!(&fast[..len], &each[..len]);
            prop_assert_eq!(TcpOptions::parse(&fast[..len]), Ok(o));
        }
    }

    #[test]
    fn the_syn_layout_is_read_in_place_as_the_walk_reads_it() {
        let o = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            sack_blocks: SackList::new(),
            timestamps: Some(Timestamps {
                tsval: 0x0102_0304,
                tsecr: 0x0506_0708,
            }),
        };
        let mut buf = [0u8; 20];
        assert_eq!(o.emit(&mut buf), Ok(20));
        assert_eq!(TcpOptions::parse(&buf), Ok(o));
        assert_eq!(TcpOptions::walk(&buf), Ok(o));
        // A window scale option of the wrong length in the same place is still refused.
        let mut bad = buf;
        bad[18] = 4;
        assert_eq!(TcpOptions::parse(&bad), Err(Error::BadOption));
    }
}
