//! The demux table's storage: an open-addressed array of 8-byte buckets, each a slot reference
//! beside the top half of its tuple's hash, probed linearly.
//!
//! Why not a general hash table: a lookup at a million connections is a chain of cache misses,
//! and every link counts. Here a probe reads one bucket line (eight buckets), compares the
//! stored hash half, and goes to the slot only on a match, so a hit costs the bucket line and
//! the slot, nothing more; a table with its control bytes apart from its values costs a line
//! more on every lookup.
//!
//! The home of a bucket is the top bits of the stored hash half, so growing the table re-homes
//! every bucket without hashing any tuple again, and neighbouring homes are neighbouring
//! buckets (a probe run stays within a line or two). Removal shifts the run behind the hole
//! back (no tombstones), so a run never outlives its members.

use alloc::vec;
use alloc::vec::Vec;

/// The least number of buckets once anything is stored.
const MIN_BUCKETS: usize = 8;

/// A value stored with its hash; `0` never is one (see [`tag`]).
pub(super) trait Packed: Copy + Eq {
    fn to_u32(self) -> u32;
    fn from_u32(v: u32) -> Self;
}

/// The part of a 64-bit hash a bucket keeps: its top half, with the lowest bit set so that a
/// bucket in use is never all zeros (the empty bucket).
pub(super) fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32 | 1
}

pub(super) struct TagTable<V: Packed> {
    /// `tag << 32 | value`, or 0 for an empty bucket. A power of two long, or empty.
    buckets: Vec<u64>,
    /// log2 of `buckets.len()` (0 while empty).
    bits: u32,
    len: usize,
    _v: core::marker::PhantomData<V>,
}

impl<V: Packed> TagTable<V> {
    pub fn new() -> TagTable<V> {
        TagTable {
            buckets: Vec::new(),
            bits: 0,
            len: 0,
            _v: core::marker::PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// The bucket a tag is placed at when nothing is in the way.
    fn home(&self, tag: u32) -> usize {
        (tag >> (32 - self.bits)) as usize
    }

    fn unpack(b: u64) -> (u32, V) {
        ((b >> 32) as u32, V::from_u32(b as u32))
    }

    /// The index of the first bucket holding `tag` whose value passes `eq`.
    fn position(&self, tag: u32, mut eq: impl FnMut(V) -> bool) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(tag);
        loop {
            let b = self.buckets[i];
            if b == 0 {
                return None;
            }
            let (t, v) = Self::unpack(b);
            if t == tag && eq(v) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Reads the bucket a lookup of `hash` starts at, and nothing else: no branch on what it
    /// holds, so the reads of many lookups go out together (see `Host::handle_packets`).
    pub fn touch(&self, hash: u64) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        self.buckets[self.home(tag(hash))]
    }

    /// The first value stored under `hash`'s tag, found without comparing any key: almost
    /// always the value a lookup finds (tags are 31 bits), which the caller then confirms
    /// (see `Host::handle_packets`).
    pub fn guess(&self, hash: u64) -> Option<V> {
        let i = self.position(tag(hash), |_| true)?;
        Some(Self::unpack(self.buckets[i]).1)
    }

    /// The first value stored under `hash` that passes `eq`.
    pub fn find(&self, hash: u64, eq: impl FnMut(V) -> bool) -> Option<V> {
        let i = self.position(tag(hash), eq)?;
        Some(Self::unpack(self.buckets[i]).1)
    }

    /// Puts `v` in place of the first value under `hash` that passes `eq`; returns whether
    /// there was one.
    pub fn replace(&mut self, hash: u64, eq: impl FnMut(V) -> bool, v: V) -> bool {
        let tag = tag(hash);
        match self.position(tag, eq) {
            Some(i) => {
                self.buckets[i] = u64::from(tag) << 32 | u64::from(v.to_u32());
                true
            }
            None => false,
        }
    }

    /// Stores `v` under `hash`, beside whatever is there already.
    pub fn insert(&mut self, hash: u64, v: V) {
        // At most three quarters full: a lookup of an absent tuple (every SYN of a flood)
        // then ends within a line or two on average.
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        self.place(u64::from(tag(hash)) << 32 | u64::from(v.to_u32()));
        self.len += 1;
    }

    fn place(&mut self, b: u64) {
        let mask = self.mask();
        let mut i = self.home((b >> 32) as u32);
        while self.buckets[i] != 0 {
            i = (i + 1) & mask;
        }
        self.buckets[i] = b;
    }

    fn grow(&mut self) {
        let n = (self.buckets.len() * 2).max(MIN_BUCKETS);
        let old = core::mem::replace(&mut self.buckets, vec![0; n]);
        self.bits = n.trailing_zeros();
        for b in old.into_iter().filter(|&b| b != 0) {
            self.place(b);
        }
    }

    /// Removes the first value under `hash` that passes `eq`; returns whether there was one.
    pub fn remove(&mut self, hash: u64, eq: impl FnMut(V) -> bool) -> bool {
        let Some(mut hole) = self.position(tag(hash), eq) else {
            return false;
        };
        self.len -= 1;
        // Backward shift: each later member of the run that may sit at the hole (its home is
        // not between the hole and where it sits now) moves into it, leaving a new hole.
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let b = self.buckets[j];
            if b == 0 {
                break;
            }
            let home = self.home((b >> 32) as u32);
            // Distances along the ring from the member's home: it may move back to the hole
            // when the hole is no further from home than where it sits.
            if (hole.wrapping_sub(home) & mask) < (j.wrapping_sub(home) & mask) {
                self.buckets[hole] = b;
                hole = j;
            }
        }
        self.buckets[hole] = 0;
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = V> + '_ {
        self.buckets
            .iter()
            .filter(|&&b| b != 0)
            .map(|&b| Self::unpack(b).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Packed for u32 {
        fn to_u32(self) -> u32 {
            self
        }
        fn from_u32(v: u32) -> u32 {
            v
        }
    }

    /// A hash that piles many keys onto few homes, so runs are long and wrap around the end.
    fn crowded(k: u32) -> u64 {
        u64::from(k % 5) << 61 | u64::from(k) << 20
    }

    #[test]
    fn finds_what_was_stored_and_nothing_after_removal_under_collisions() {
        let mut t: TagTable<u32> = TagTable::new();
        assert_eq!(t.find(crowded(1), |v| v == 1), None);
        for k in 0..300 {
            t.insert(crowded(k), k);
        }
        assert_eq!(t.len(), 300);
        for k in 0..300 {
            assert_eq!(t.find(crowded(k), |v| v == k), Some(k), "{k}");
        }
        // Remove every third key; the rest must still be found (backward shift kept runs whole).
        for k in (0..300).step_by(3) {
            assert!(t.remove(crowded(k), |v| v == k));
            assert!(!t.remove(crowded(k), |v| v == k));
        }
        assert_eq!(t.len(), 200);
        for k in 0..300 {
            let want = (k % 3 != 0).then_some(k);
            assert_eq!(t.find(crowded(k), |v| v == k), want, "{k}");
        }
        let mut all: Vec<u32> = t.iter().collect();
        all.sort_unstable();
        assert_eq!(all, (0..300).filter(|k| k % 3 != 0).collect::<Vec<_>>());
    }

    #[test]
    fn replace_swaps_the_value_in_place() {
        let mut t: TagTable<u32> = TagTable::new();
        t.insert(crowded(7), 7);
        t.insert(crowded(12), 12);
        assert!(t.replace(crowded(7), |v| v == 7, 70));
        assert!(!t.replace(crowded(7), |v| v == 7, 71));
        assert_eq!(t.find(crowded(7), |v| v == 70), Some(70));
        assert_eq!(t.find(crowded(12), |v| v == 12), Some(12));
        assert_eq!(t.len(), 2);
        // 7 and 12 share their tag (`crowded` keeps the key below the tag's bits): a guess
        // names the first under it, and only the caller's comparison tells them apart.
        assert_eq!(t.guess(crowded(7)), Some(70));
        assert_eq!(t.guess(crowded(12)), Some(70));
        assert_eq!(t.guess(crowded(13)), None);
        // A tag of its own on the same run is found past the others, still uncompared.
        let own = 2 << 61 | 99 << 33;
        t.insert(own, 99);
        assert_eq!(t.guess(own), Some(99));
    }

    #[test]
    fn agrees_with_a_model_through_random_churn() {
        // A deterministic walk of inserts and removals checked against a plain list.
        let mut t: TagTable<u32> = TagTable::new();
        let mut model: Vec<u32> = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 2000) as u32;
            let h = u64::from(k).wrapping_mul(0x2545_f491_4f6c_dd1d) & 0xfff0_0000_ffff_ffff;
            if model.contains(&k) {
                assert!(t.remove(h, |v| v == k));
                model.retain(|&m| m != k);
            } else {
                t.insert(h, k);
                model.push(k);
            }
        }
        assert_eq!(t.len(), model.len());
        for k in 0..2000 {
            let h = u64::from(k).wrapping_mul(0x2545_f491_4f6c_dd1d) & 0xfff0_0000_ffff_ffff;
            assert_eq!(t.find(h, |v| v == k).is_some(), model.contains(&k), "{k}");
        }
    }
}
