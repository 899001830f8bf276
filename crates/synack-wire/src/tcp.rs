//! TCP header (RFC 9293 §3.1) and options (RFC 9293 §3.2, RFC 7323, RFC 2018).

use core::fmt;

/// The control bits of a TCP header, laid out as in byte 13 of the header (RFC 9293 §3.1,
/// RFC 3168 for ECE/CWR).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);
    pub const NONE: TcpFlags = TcpFlags(0);

    pub const fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags(bits)
    }
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }
    pub const fn without(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    pub const fn urg(self) -> bool {
        self.contains(Self::URG)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        *self = self.union(rhs);
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prints the set flags joined by `|` in header order of importance, e.g. `SYN|ACK`, or `-`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// One SACK block (RFC 2018 §3): the sequence space `[left, right)` received out of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SackBlock {
    pub left: u32,
    pub right: u32,
}

/// Up to four SACK blocks, the most a 40-byte option space can carry (RFC 2018 §3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackList {
    blocks: [SackBlock; SackList::CAPACITY],
    len: u8,
}

impl SackList {
    pub const CAPACITY: usize = 4;

    pub const fn new() -> SackList {
        SackList {
            blocks: [SackBlock { left: 0, right: 0 }; SackList::CAPACITY],
            len: 0,
        }
    }
    /// Appends a block; returns `false` (and changes nothing) when the list is full.
    pub fn push(&mut self, block: SackBlock) -> bool {
        if usize::from(self.len) == Self::CAPACITY {
            return false;
        }
        self.blocks[usize::from(self.len)] = block;
        self.len += 1;
        true
    }
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..usize::from(self.len)]
    }
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl fmt::Debug for SackList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The timestamps option (RFC 7323 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Timestamps {
    pub tsval: u32,
    pub tsecr: u32,
}

/// The TCP options synack understands. Unknown options are skipped on parse and never emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TcpOptions {
    /// Maximum segment size (RFC 9293 §3.7.1); only meaningful on SYN segments.
    pub mss: Option<u16>,
    /// Window scale shift count (RFC 7323 §2.2); only meaningful on SYN segments.
    pub window_scale: Option<u8>,
    /// SACK-permitted (RFC 2018 §2); only meaningful on SYN segments.
    pub sack_permitted: bool,
    /// SACK blocks (RFC 2018 §3).
    pub sack_blocks: SackList,
    /// Timestamps (RFC 7323 §3).
    pub timestamps: Option<Timestamps>,
}

/// A TCP segment as plain data: what the protocol core consumes and produces.
///
/// Sequence and acknowledgment numbers are raw `u32`s here; arithmetic modulo 2^32 belongs to the
/// protocol core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent_ptr: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}
