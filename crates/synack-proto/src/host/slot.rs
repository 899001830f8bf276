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
/// of the value (a slot of a connection is ~900 bytes; see `Entry`).
#[repr(C)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// Empty slots, the most recently emptied last (reused first).
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
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
