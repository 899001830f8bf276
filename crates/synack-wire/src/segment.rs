//! TCP segmentation as a device performs it for a sender that hands it one large segment
//! (TSO, or GSO behind a virtio-net header): the super-segment is cut into segments of a
//! fixed payload size, each with the first's IP and TCP headers and options, the sequence
//! number advanced by the bytes before it. FIN and PSH stay on the last segment only and CWR
//! on the first only (RFC 3168 §6.1.2 reduces the window once per CWR; Linux
//! `tcp_gso_segment` does the same).
//!
//! The simulator cuts super-segments with it where its link has an MTU, and tests use it to
//! check that the pieces are what a sender of MSS-sized segments would have sent.

use crate::Error;
use crate::checksum::ChecksumMode;
use crate::ip::{emit_tcp_with, parse_tcp};
use crate::tcp::{TcpFlags, TcpRepr};

/// Cuts the TCP datagram `packet` into segments of `segment_size` payload bytes (the last
/// may be shorter; a payload no longer than one segment gives one), builds each in
/// `scratch` with its checksums under `mode`, and hands it to `each`. The checksum of
/// `packet` itself is not verified (a super-segment carries only its pseudo-header sum).
/// Returns how many segments were handed out.
pub fn segment_tcp(
    packet: &[u8],
    segment_size: usize,
    scratch: &mut [u8],
    mode: ChecksumMode,
    mut each: impl FnMut(&[u8]),
) -> Result<usize, Error> {
    let (ip, seg) = parse_tcp(packet, ChecksumMode::Ignore)?;
    let size = segment_size.max(1);
    let last_only = TcpFlags::FIN | TcpFlags::PSH;
    let mut offset = 0;
    let mut count = 0;
    loop {
        let end = (offset + size).min(seg.payload.len());
        let is_first = offset == 0;
        let is_last = end == seg.payload.len();
        let mut flags = seg.flags;
        if !is_last {
            flags = flags.without(last_only);
        }
        if !is_first {
            flags = flags.without(TcpFlags::CWR);
        }
        let piece = TcpRepr {
            seq: seg.seq.wrapping_add(offset as u32),
            flags,
            payload: &seg.payload[offset..end],
            ..seg
        };
        let n = emit_tcp_with(scratch, ip.src, ip.dst, ip.hop_limit, &piece, mode)?;
        each(&scratch[..n]);
        count += 1;
        if is_last {
            return Ok(count);
        }
        offset = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::{TcpOptions, Timestamps};

    fn super_segment(flags: TcpFlags, len: usize) -> ([u8; 4096], usize) {
        let payload: [u8; 3000] = core::array::from_fn(|i| (i * 7) as u8);
        let repr = TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: u32::MAX - 500,
            ack: 77,
            flags,
            window: 512,
            urgent_ptr: 0,
            options: TcpOptions {
                timestamps: Some(Timestamps { tsval: 5, tsecr: 9 }),
                ..TcpOptions::default()
            },
            payload: &payload[..len],
        };
        let mut buf = [0u8; 4096];
        let n = emit_tcp_with(
            &mut buf,
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            64,
            &repr,
            ChecksumMode::Ignore,
        )
        .unwrap();
        (buf, n)
    }

    #[test]
    fn pieces_carry_consecutive_bytes_and_flags_on_the_right_piece() {
        let (buf, n) = super_segment(
            TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN | TcpFlags::CWR,
            2500,
        );
        let mut scratch = [0u8; 2048];
        let mut next_seq = u32::MAX - 500;
        let mut sizes = [0usize; 4];
        let mut k = 0;
        let count = segment_tcp(&buf[..n], 1000, &mut scratch, ChecksumMode::Verify, |p| {
            let (_, s) = parse_tcp(p, ChecksumMode::Verify).expect("each piece checksums");
            assert_eq!(s.seq, next_seq);
            assert_eq!(s.ack, 77);
            assert_eq!(
                s.options.timestamps,
                Some(Timestamps { tsval: 5, tsecr: 9 })
            );
            let last = k == 2;
            assert_eq!(s.flags.fin(), last);
            assert_eq!(s.flags.psh(), last);
            assert_eq!(s.flags.contains(TcpFlags::CWR), k == 0);
            assert!(s.flags.ack());
            for (i, b) in s.payload.iter().enumerate() {
                assert_eq!(*b, ((k * 1000 + i) * 7) as u8);
            }
            next_seq = next_seq.wrapping_add(s.payload.len() as u32);
            sizes[k] = s.payload.len();
            k += 1;
        })
        .unwrap();
        assert_eq!(count, 3);
        assert_eq!(sizes, [1000, 1000, 500, 0]);
    }

    #[test]
    fn a_segment_within_the_size_is_handed_out_whole_and_bad_input_is_an_error() {
        let (buf, n) = super_segment(TcpFlags::ACK, 1000);
        let mut scratch = [0u8; 2048];
        let mut seen = 0;
        let count = segment_tcp(&buf[..n], 1000, &mut scratch, ChecksumMode::Verify, |p| {
            seen = p.len();
        });
        assert_eq!(count, Ok(1));
        assert_eq!(seen, n);
        assert!(segment_tcp(&buf[..30], 1000, &mut scratch, ChecksumMode::Verify, |_| {}).is_err());
        let mut small = [0u8; 100];
        assert_eq!(
            segment_tcp(&buf[..n], 1000, &mut small, ChecksumMode::Verify, |_| {}),
            Err(Error::BufferTooSmall)
        );
    }
}
