//! A generational slab: the storage behind connection handles, listener handles and compact
//! TIME-WAIT entries. A slot's generation moves on each time it is emptied, so an id naming an
//! old occupant never reaches the new one: every lookup checks it in one place.

use alloc::vec::Vec;

/// Names one occupant of one slot of a [`Slab`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SlabId {
    pub index: u32,
    pub generation: u32,
}

/// `repr(C)`: the generation first, where a lookup by index reads it together with the start
/// of the value (a slot of a connection is ~900 bytes; see `Entry`). `A` only aligns the
/// slot: `[A; 0]` takes no bytes.
#[repr(C)]
struct Slot<T, A> {
    _align: [A; 0],
    generation: u32,
    value: Option<T>,
}

/// Aligns each slot of a `Slab<T, CacheLine>` to a 64-byte cache line. A connection's hot
/// fields then fall on the same lines in every slot, so a segment at a million connections
/// waits for the fewest lines its layout allows, rather than for one more whenever its slot
/// happens to start late in a line; it costs at most 63 bytes of padding per slot (8 for a
/// connection today). TIME-WAIT entries are not aligned: their 88-byte slot would grow to 128.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub(crate) struct CacheLine;

pub(crate) struct Slab<T, A = ()> {
    slots: Vec<Slot<T, A>>,
    /// Empty slots, the most recently emptied last (reused first).
    free: Vec<u32>,
    len: usize,
}

impl<T, A> Default for Slab<T, A> {
    fn default() -> Slab<T, A> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T, A> Slab<T, A> {
    /// Puts `value` into a free slot (the most recently emptied, else a new one at the end);
    /// the slot keeps the generation it was given when last emptied.
    pub fn insert(&mut self, value: T) -> SlabId {
        self.insert_with(|| value)
    }

    /// [`Slab::insert`] of the value `make` returns, made once the slot is chosen so it can be
    /// built where it will lie: a connection is ~900 bytes, and each move of it a copy.
    #[inline]
    pub fn insert_with(&mut self, make: impl FnOnce() -> T) -> SlabId {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    _align: [],
                    generation: 0,
                    value: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.value = Some(make());
        self.len += 1;
        SlabId {
            index,
            generation: slot.generation,
        }
    }

    pub fn get(&self, id: SlabId) -> Option<&T> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)?
            .value
            .as_ref()
    }

    pub fn get_mut(&mut self, id: SlabId) -> Option<&mut T> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)?
            .value
            .as_mut()
    }

    /// The occupant of slot `index`, whatever its generation, with its id.
    pub fn get_at(&self, index: u32) -> Option<(SlabId, &T)> {
        let slot = self.slots.get(index as usize)?;
        let id = SlabId {
            index,
            generation: slot.generation,
        };
        slot.value.as_ref().map(|v| (id, v))
    }

    /// Empties the slot `id` names, moving its generation on.
    pub fn remove(&mut self, id: SlabId) -> Option<T> {
        let slot = self
            .slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)?;
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.len -= 1;
        self.free.push(id.index);
        Some(value)
    }

    /// Empties the slot `id` names like [`Slab::remove`], but drops the occupant where it
    /// lies after `f` has read (or taken) what the caller needs from it: moving a connection's ~900
    /// bytes out only to drop them is a copy for nothing.
    pub fn remove_with<R>(&mut self, id: SlabId, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let slot = self
            .slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)?;
        let r = f(slot.value.as_mut()?);
        slot.value = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.len -= 1;
        self.free.push(id.index);
        Some(r)
    }

    /// Occupied slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every occupant with its id, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (SlabId, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let id = SlabId {
                index: i as u32,
                generation: s.generation,
            };
            s.value.as_ref().map(|v| (id, v))
        })
    }

    /// The occupied slots counted one by one (for `Host::audit`, against `len`).
    pub fn count_occupied(&self) -> usize {
        self.slots.iter().filter(|s| s.value.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use core::mem::{align_of, size_of};

    use super::*;

    #[test]
    fn a_cache_line_slab_starts_every_slot_on_a_line_and_a_plain_one_pads_nothing() {
        assert_eq!(align_of::<Slot<[u8; 100], CacheLine>>(), 64);
        assert_eq!(size_of::<Slot<[u8; 100], CacheLine>>(), 128);
        assert_eq!(size_of::<Slot<u32, ()>>(), 12);
        let mut slab: Slab<[u8; 100], CacheLine> = Slab::default();
        let ids: Vec<SlabId> = (0..5u8).map(|i| slab.insert([i; 100])).collect();
        for (i, id) in ids.iter().enumerate() {
            let v = slab.get(*id).expect("occupied");
            assert_eq!(v[0], i as u8);
            // The value follows the 4-byte generation (and `Option`'s tag) at the start of
            // a line.
            assert!((v.as_ptr() as usize) % 64 < 8);
        }
    }
}
