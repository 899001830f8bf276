//! The one error type every parser and emitter in this crate returns.

use core::fmt;

/// Why a packet could not be parsed or emitted.
///
/// Parsers never panic; every way an untrusted byte sequence can be malformed maps to one of
/// these variants. New variants may be added, hence `#[non_exhaustive]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before a header (or a length field) says it should.
    Truncated,
    /// The IP version nibble is not the one expected (or neither 4 nor 6).
    BadVersion,
    /// A header-length field is below its minimum or past the end of the buffer.
    BadHeaderLength,
    /// The IP total/payload length is inconsistent with the header.
    BadTotalLength,
    /// A checksum did not verify.
    BadChecksum,
    /// The TCP option list is malformed.
    BadOption,
    /// The TCP options to emit need more than the 40 bytes a header can hold.
    OptionsTooLong,
    /// The IP packet is a fragment; synack does not reassemble.
    Fragmented,
    /// The IP packet does not carry TCP.
    NotTcp,
    /// The IP packet does not carry ICMP (ICMPv4 for IPv4, ICMPv6 for IPv6).
    NotIcmp,
    /// Source and destination addresses are not of the same family, or not of the family the
    /// header requires.
    AddressFamilyMismatch,
    /// The output buffer is too small for what is being emitted.
    BufferTooSmall,
    /// The packet to emit is longer than its length field can express.
    TooLong,
    /// An IPv6 extension header is malformed or out of place.
    BadExtensionHeader,
    /// More IPv6 extension headers than synack is willing to walk.
    TooManyExtensionHeaders,
    /// An ICMP message is malformed for its type (e.g. too short to quote a header).
    BadIcmp,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::Truncated => "packet truncated",
            Error::BadVersion => "bad IP version",
            Error::BadHeaderLength => "bad header length",
            Error::BadTotalLength => "bad IP total length",
            Error::BadChecksum => "bad checksum",
            Error::BadOption => "malformed TCP option",
            Error::OptionsTooLong => "TCP options exceed 40 bytes",
            Error::Fragmented => "IP fragment",
            Error::NotTcp => "not a TCP packet",
            Error::NotIcmp => "not an ICMP packet",
            Error::AddressFamilyMismatch => "address family mismatch",
            Error::BufferTooSmall => "buffer too small",
            Error::TooLong => "packet too long for its length field",
            Error::BadExtensionHeader => "malformed IPv6 extension header",
            Error::TooManyExtensionHeaders => "too many IPv6 extension headers",
            Error::BadIcmp => "malformed ICMP message",
        };
        f.write_str(s)
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    struct Buf([u8; 64], usize);
    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.1 + s.len();
            self.0
                .get_mut(self.1..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }

    #[test]
    fn displays_and_is_an_error() {
        let mut b = Buf([0; 64], 0);
        write!(b, "{}", Error::Fragmented).unwrap();
        assert_eq!(&b.0[..b.1], b"IP fragment");
        let e: &dyn core::error::Error = &Error::BadChecksum;
        assert!(e.source().is_none());
    }
}
