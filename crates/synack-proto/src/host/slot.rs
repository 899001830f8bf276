//! Slots with generations: the storage behind connection handles and compact TIME-WAIT
//! entries. A slot's generation moves on each time it is emptied, so a handle naming an old
//! occupant never reaches the new one.

use alloc::vec::Vec;

pub(crate) struct Slot<T> {
    pub generation: u32,
    pub entry: Option<T>,
}

/// Puts `value` into a free slot (the most recently freed, else a new one at the end) and
/// returns its index; the slot keeps the generation it was given when last emptied.
pub(crate) fn claim<T>(slots: &mut Vec<Slot<T>>, free: &mut Vec<u32>, value: T) -> u32 {
    let index = match free.pop() {
        Some(i) => i,
        None => {
            slots.push(Slot {
                generation: 0,
                entry: None,
            });
            (slots.len() - 1) as u32
        }
    };
    slots[index as usize].entry = Some(value);
    index
}
