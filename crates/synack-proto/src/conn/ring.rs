//! A byte ring for the send and receive buffers: the stream's bytes in order, with the filled
//! part and the free room each reachable as (at most) two slices, so bytes can be written into
//! the room, summed or read where they lie, and committed or consumed afterwards.
//!
//! The first few bytes live in the ring itself: a short exchange (a request or a reply of a few
//! bytes, the whole of many connections' lives) allocates nothing. Beyond them the storage is
//! allocated, and grows by doubling toward the size the caller allows, as a `VecDeque` would:
//! an idle connection holds no heap, and one that only ever sends a few dozen bytes holds a
//! few dozen. Once allocated it is kept, since a buffer that empties now usually fills again
//! soon. The header is the size of a `VecDeque<u8>`.

use alloc::boxed::Box;
use alloc::vec::Vec;

use synack_wire::copy::copy_payload;

/// Bytes a ring holds in place before it allocates. Eight fit beside the heap pointer's
/// niche, so the storage takes no more room than a boxed slice (`tests::the_header_*`).
const INLINE: usize = 8;

/// Where the bytes are: in place while they fit, else on the heap.
#[derive(Debug)]
enum Storage {
    Inline([u8; INLINE]),
    Heap(Box<[u8]>),
}

impl Default for Storage {
    fn default() -> Storage {
        Storage::Inline([0; INLINE])
    }
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Inline(b) => b,
            Storage::Heap(b) => b,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Storage::Inline(b) => b,
            Storage::Heap(b) => b,
        }
    }
}

/// `repr(C)`, the length first: an acknowledgment reads only how much is filled, and here
/// that sits next to the sequence variables before it (`Sender`, `Receiver`).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Ring {
    /// Filled bytes start at `head` and run for `len`, wrapping past the end to index 0.
    len: usize,
    head: usize,
    storage: Storage,
}

impl Ring {
    pub fn new() -> Ring {
        Ring::default()
    }

    /// Bytes filled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of storage on the heap (filled or free).
    #[cfg(test)]
    pub fn allocated(&self) -> usize {
        match &self.storage {
            Storage::Inline(_) => 0,
            Storage::Heap(b) => b.len(),
        }
    }

    /// Bytes of storage, in place or allocated (filled or free).
    fn capacity(&self) -> usize {
        self.storage.bytes().len()
    }

    /// The filled bytes in order: the run up to the end of the storage, then the run that
    /// wrapped to its start (empty when none did).
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        let storage = self.storage.bytes();
        let first = self.len.min(storage.len() - self.head);
        let (wrapped, rest) = storage.split_at(self.head);
        (&rest[..first], &wrapped[..self.len - first])
    }

    /// The `len` filled bytes from `offset` on, as one or two slices. `offset + len` must be
    /// within what is filled.
    pub fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        debug_assert!(offset + len <= self.len);
        let (a, b) = self.as_slices();
        if offset >= a.len() {
            let start = offset - a.len();
            return (&b[start..start + len], &[]);
        }
        let first = len.min(a.len() - offset);
        (&a[offset..offset + first], &b[..len - first])
    }

    /// The filled byte at `offset`, if there is one.
    pub fn get(&self, offset: usize) -> Option<u8> {
        if offset >= self.len {
            return None;
        }
        let storage = self.storage.bytes();
        Some(storage[(self.head + offset) % storage.len()])
    }

    /// Copies filled bytes from `offset` on into `out` (as many as both have); returns how
    /// many.
    pub fn copy_out(&self, offset: usize, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len.saturating_sub(offset));
        let (a, b) = self.slices(offset.min(self.len), n);
        copy_payload(&mut out[..a.len()], a);
        copy_payload(&mut out[a.len()..n], b);
        n
    }

    /// Drops the first `n` filled bytes (at most all of them).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        // An empty ring starts again at the front, so the free room is one slice.
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % self.capacity()
        };
    }

    /// Makes the free room at least `wanted` bytes. Storage grows to the next power of two
    /// that holds what is filled and `wanted`, though not past `limit` when `limit` is
    /// enough. What fits in place allocates nothing.
    // Inlined: every arriving segment asks, and the storage nearly always has the room.
    #[inline]
    pub fn reserve(&mut self, wanted: usize, limit: usize) {
        let need = self.len + wanted;
        if need > self.capacity() {
            self.grow(need, limit);
        }
    }

    /// Reallocates to hold `need` bytes, doubling toward `limit` (see `reserve`).
    #[cold]
    #[inline(never)]
    fn grow(&mut self, need: usize, limit: usize) {
        let size = need
            .checked_next_power_of_two()
            .unwrap_or(need)
            .min(limit)
            .max(need);
        let mut grown = Vec::with_capacity(size);
        let (a, b) = self.as_slices();
        grown.extend_from_slice(a);
        grown.extend_from_slice(b);
        // The room is zeroed only because safe code hands out no uninitialized bytes. Zeroed
        // here rather than asked of the allocator: glibc's calloc skips its per-thread cache,
        // which doubles the price of the few-byte buffers of short connections.
        grown.resize(size, 0);
        self.storage = Storage::Heap(grown.into_boxed_slice());
        self.head = 0;
    }

    /// The free room after the filled bytes, in the order bytes are appended: the run up to
    /// the end of the storage (or up to `head`), then the run from the start to `head`.
    pub fn room_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let head = self.head;
        let tail = head + self.len;
        let storage = self.storage.bytes_mut();
        let size = storage.len();
        if tail >= size {
            // The filled bytes wrapped (or fill it all): the room is the one run between
            // their two ends.
            let tail = tail - size;
            return (&mut storage[tail..head], &mut []);
        }
        let (front, back) = storage.split_at_mut(tail);
        (back, &mut front[..head])
    }

    /// Appends the first `n` bytes of the free room (written through `room_mut`) to what is
    /// filled.
    pub fn commit(&mut self, n: usize) {
        let capacity = self.capacity();
        debug_assert!(self.len + n <= capacity);
        self.len = (self.len + n).min(capacity);
    }

    /// Appends `data`, growing the storage as `reserve` does.
    pub fn extend(&mut self, data: &[u8], limit: usize) {
        self.reserve(data.len(), limit);
        let (a, b) = self.room_mut();
        // One copy unless the bytes wrap: a segment's worth nearly always fits the first run.
        if let Some(a) = a.get_mut(..data.len()) {
            copy_payload(a, data);
        } else {
            let (head, rest) = data.split_at(a.len());
            copy_payload(a, head);
            copy_payload(&mut b[..rest.len()], rest);
        }
        self.commit(data.len());
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;

    use super::*;

    fn filled(r: &Ring) -> Vec<u8> {
        let (a, b) = r.as_slices();
        [a, b].concat()
    }

    #[test]
    fn an_unused_ring_allocates_nothing() {
        let r = Ring::new();
        assert_eq!(r.allocated(), 0);
        assert_eq!(r.as_slices(), (&[][..], &[][..]));
        assert_eq!(r.get(0), None);
    }

    #[test]
    fn the_header_is_no_bigger_than_a_vecdeque_of_bytes() {
        assert!(core::mem::size_of::<Ring>() <= core::mem::size_of::<VecDeque<u8>>());
    }

    #[test]
    fn a_few_bytes_stay_in_place_and_more_go_to_the_heap() {
        let mut r = Ring::new();
        r.extend(b"abcdefg", 1 << 16);
        r.consume(6);
        r.extend(b"hijkl", 1 << 16);
        // Eight bytes fit in place, wrapped or not.
        assert_eq!(r.allocated(), 0);
        assert_eq!(filled(&r), b"ghijkl");
        assert_eq!(r.get(5), Some(b'l'));
        r.extend(b"mnop", 1 << 16);
        assert_eq!(r.allocated(), 16);
        assert_eq!(filled(&r), b"ghijklmnop");
    }

    #[test]
    fn storage_grows_by_doubling_within_the_limit() {
        let mut r = Ring::new();
        r.extend(b"abc", 1 << 16);
        assert_eq!(r.allocated(), 0);
        r.extend(&[7; 10], 1 << 16);
        assert_eq!(r.allocated(), 16);
        r.extend(&[7; 100], 100);
        // 113 bytes do not fit the limit of 100: the ring holds them anyway.
        assert_eq!(r.allocated(), 113);
        assert_eq!(r.len(), 113);
    }

    #[test]
    fn wrapped_bytes_read_back_in_order_and_room_is_split_around_them() {
        let mut r = Ring::new();
        r.extend(&[1, 2, 3, 4, 5, 6], 8);
        r.consume(4);
        r.extend(&[7, 8, 9, 10], 8);
        assert_eq!(r.capacity(), 8);
        assert_eq!(r.as_slices(), (&[5, 6, 7, 8][..], &[9, 10][..]));
        assert_eq!(r.slices(3, 2), (&[8][..], &[9][..]));
        assert_eq!(r.slices(4, 2), (&[9, 10][..], &[][..]));
        assert_eq!(r.get(5), Some(10));
        let mut out = [0; 4];
        assert_eq!(r.copy_out(3, &mut out), 3);
        assert_eq!(out[..3], [8, 9, 10]);
        let (a, b) = r.room_mut();
        assert_eq!((a.len(), b.len()), (2, 0));
        r.consume(3);
        let (a, b) = r.room_mut();
        assert_eq!((a.len(), b.len()), (5, 0));
    }

    #[test]
    fn bytes_written_into_the_room_count_only_once_committed() {
        let mut r = Ring::new();
        r.extend(&[1, 2, 3, 4, 5], 8);
        r.consume(3);
        let (a, b) = r.room_mut();
        assert_eq!((a.len(), b.len()), (3, 3));
        a.copy_from_slice(&[6, 7, 8]);
        b[0] = 9;
        assert_eq!(filled(&r), [4, 5]);
        r.commit(4);
        assert_eq!(filled(&r), [4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn an_emptied_ring_keeps_its_storage_and_starts_at_the_front() {
        let mut r = Ring::new();
        r.extend(&[1; 12], 16);
        r.consume(12);
        assert_eq!(r.len(), 0);
        assert_eq!(r.allocated(), 16);
        assert_eq!(r.room_mut().0.len(), 16);
    }

    #[test]
    fn growing_a_wrapped_ring_keeps_the_order() {
        let mut r = Ring::new();
        r.extend(&[1, 2, 3, 4, 5, 6, 7, 8], 8);
        r.consume(5);
        r.extend(&[9, 10, 11], 64);
        r.extend(&[12, 13, 14, 15], 64);
        assert_eq!(filled(&r), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(r.allocated(), 16);
    }
}
