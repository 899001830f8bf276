//! The demux table: which connection or TIME-WAIT entry holds a 4-tuple.
//!
//! The tuple is chosen by whoever sends us packets, so the table is hashed with a secret key (a
//! folded-multiply hash, see `keys::FoldKey`): nobody outside can aim collisions at one bucket.
//! Each bucket holds only a 4-byte reference to the slot that owns the tuple and half the
//! tuple's hash, not the tuple itself: the owner keeps its tuple anyway (a connection's entry,
//! a TIME-WAIT entry), and a lookup goes on to that owner next, so comparing the tuple there
//! costs no extra memory access, while the table itself is about 16 bytes per connection rather
//! than 110. The hash half beside the reference means a lookup visits only the owner it is
//! after, and a probe reads one line of the table (see `tag_table`).
//!
//! A reference names a slot by index only. That is safe because an owner leaves the table
//! before its slot is emptied (see `Host::demux_remove`): every reference in the table names
//! the slot's current occupant.
//!
//! In front of the table sits the slot that answered the last lookup. A flow of many
//! segments (bulk data one way, its ACKs the other) then costs one comparison of tuples per
//! packet instead of a keyed hash and a probe. Whenever the table changes the cache is
//! dropped, or set to the owner just inserted, so a hit can only name the tuple's current
//! owner; it holds a slot the table named (or was given) for the tuple, so a hostile peer
//! gains nothing from it that the table would not give it anyway.

use super::keys::FoldKey;
use super::slot::{CacheLine, Slab};
use super::tag_table::{Packed, TagTable};
use super::time_wait::TimeWaitEntry;
use super::tuple::Tuple;
use super::{ConnId, Entry, Host, Target};

/// A connection slot or a TIME-WAIT slot, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SlotRef(u32);

const TIME_WAIT: u32 = 1 << 31;

impl SlotRef {
    pub fn conn(index: u32) -> SlotRef {
        debug_assert!(index < TIME_WAIT, "slot index {index} out of range");
        SlotRef(index)
    }

    pub fn time_wait(index: u32) -> SlotRef {
        debug_assert!(index < TIME_WAIT, "slot index {index} out of range");
        SlotRef(index | TIME_WAIT)
    }

    /// The slot index, and whether it is a TIME-WAIT slot.
    pub fn get(self) -> (u32, bool) {
        (self.0 & !TIME_WAIT, self.0 & TIME_WAIT != 0)
    }
}

impl Packed for SlotRef {
    fn to_u32(self) -> u32 {
        self.0
    }
    fn from_u32(v: u32) -> SlotRef {
        SlotRef(v)
    }
}

/// The first owner the table held under a tuple's hash (see [`TagTable::guess`]), and the
/// table's [`Demux::changes`] when it was read: while the table has not changed since, that
/// owner is the tuple's if it holds the tuple (see `Host::handle_packets`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Found {
    owner: Option<SlotRef>,
    changes: u32,
}

pub(super) struct Demux {
    table: TagTable<SlotRef>,
    /// Counts the table's changes (wrapping): an answer given at one count stands while the
    /// count is the same, as no owner came or went.
    changes: u32,
    key: FoldKey,
    /// The owner the last lookup through [`Host::demux_get_cached`] found, or the last
    /// inserted, until the table next changes.
    last: Option<SlotRef>,
}

impl Demux {
    pub fn new(key: FoldKey) -> Demux {
        Demux {
            table: TagTable::new(),
            changes: 0,
            key,
            last: None,
        }
    }

    /// `tuple`'s hash, for the calls below: computed once when a call needs more than one.
    /// Two multiplications: cheaper than remembering the last tuple hashed and comparing.
    /// Out of line: a dozen callers each with their own copy of the tuple's packing would
    /// put more code on a connection's life than the call costs.
    #[inline(never)]
    pub fn hash(&self, tuple: &Tuple) -> u64 {
        let (words, n) = tuple.hash_words();
        self.key.hash_words(&words[..n])
    }

    /// The slot holding `tuple` (whose hash is `hash`); `tuple_of` reads the tuple an owner
    /// holds.
    pub fn find<'a>(
        &self,
        hash: u64,
        tuple: &Tuple,
        tuple_of: impl Fn(SlotRef) -> Option<&'a Tuple>,
    ) -> Option<SlotRef> {
        self.table.find(hash, |r| tuple_of(r) == Some(tuple))
    }

    /// Makes `r` the owner of `tuple` (which the slot `r` already holds), in place of any
    /// owner it had.
    pub fn insert<'a>(
        &mut self,
        tuple: &Tuple,
        r: SlotRef,
        tuple_of: impl Fn(SlotRef) -> Option<&'a Tuple>,
    ) {
        let hash = self.hash(tuple);
        self.changes = self.changes.wrapping_add(1);
        if !self.table.replace(hash, |o| tuple_of(o) == Some(tuple), r) {
            self.table.insert(hash, r);
        }
        // The new owner is the one a lookup of `tuple` finds: the next packet of the
        // connection being opened is most likely for it.
        self.last = Some(r);
    }

    /// Makes `r` the owner of `tuple` (which the slot `r` already holds), which has none: one
    /// probe for a free place instead of a search for an owner first.
    pub fn insert_absent(&mut self, tuple: &Tuple, r: SlotRef) {
        let hash = self.hash(tuple);
        self.changes = self.changes.wrapping_add(1);
        self.table.insert(hash, r);
        self.last = Some(r);
    }

    /// Removes `r`, the owner of the tuple whose hash is `hash`, from the table; returns
    /// whether it was there.
    pub fn remove(&mut self, hash: u64, r: SlotRef) -> bool {
        self.last = None;
        self.changes = self.changes.wrapping_add(1);
        self.table.remove(hash, |o| o == r)
    }

    /// Hands the tuple whose hash is `hash` from its owner `old` to `new`; returns whether
    /// `old` was in the table.
    pub fn replace(&mut self, hash: u64, old: SlotRef, new: SlotRef) -> bool {
        self.last = None;
        self.changes = self.changes.wrapping_add(1);
        self.table.replace(hash, |o| o == old, new)
    }

    /// Whether the cached last hit, if any, is an owner in the table (for `Host::audit`).
    pub fn last_is_owner(&self) -> bool {
        self.last.is_none_or(|l| self.table.iter().any(|r| r == l))
    }

    /// The first owner stored under `hash`'s tag (see [`TagTable::guess`]).
    pub fn guess(&self, hash: u64) -> Option<SlotRef> {
        self.table.guess(hash)
    }

    /// Reads the table's line a lookup of `hash` starts at.
    pub fn touch(&self, hash: u64) -> u64 {
        self.table.touch(hash)
    }

    /// Every owner (for `Host::audit`).
    pub fn iter(&self) -> impl Iterator<Item = SlotRef> + '_ {
        self.table.iter()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }
}

/// The tuple the owner of slot `r` holds.
fn owner_tuple<'a>(
    conns: &'a Slab<Entry, CacheLine>,
    time_wait: &'a Slab<TimeWaitEntry>,
    r: SlotRef,
) -> Option<&'a Tuple> {
    match r.get() {
        (i, false) => conns.get_at(i).map(|(_, e)| &e.tuple),
        (i, true) => time_wait.get_at(i).map(|(_, e)| &e.tuple),
    }
}

/// Whatever holds `tuple`, by full handle.
pub(super) fn lookup(
    demux: &Demux,
    conns: &Slab<Entry, CacheLine>,
    time_wait: &Slab<TimeWaitEntry>,
    tuple: &Tuple,
) -> Option<Target> {
    lookup_hashed(demux, conns, time_wait, demux.hash(tuple), tuple)
}

/// [`lookup`] with the tuple's hash already known.
fn lookup_hashed(
    demux: &Demux,
    conns: &Slab<Entry, CacheLine>,
    time_wait: &Slab<TimeWaitEntry>,
    hash: u64,
    tuple: &Tuple,
) -> Option<Target> {
    let r = demux.find(hash, tuple, |r| owner_tuple(conns, time_wait, r))?;
    target_of(conns, time_wait, r)
}

/// The occupant of slot `r`, by full handle.
fn target_of(
    conns: &Slab<Entry, CacheLine>,
    time_wait: &Slab<TimeWaitEntry>,
    r: SlotRef,
) -> Option<Target> {
    match r.get() {
        (i, false) => conns.get_at(i).map(|(id, _)| Target::Conn(ConnId(id))),
        (i, true) => time_wait.get_at(i).map(|(id, _)| Target::TimeWait(id)),
    }
}

impl Target {
    fn slot_ref(self) -> SlotRef {
        match self {
            Target::Conn(id) => SlotRef::conn(id.0.index),
            Target::TimeWait(tw) => SlotRef::time_wait(tw.index),
        }
    }
}

impl Host {
    /// Whatever holds the 4-tuple `tuple`.
    pub(super) fn demux_get(&self, tuple: &Tuple) -> Option<Target> {
        lookup(&self.demux, &self.conns, &self.time_wait, tuple)
    }

    /// [`Host::demux_get`] for a packet: the owner the last such lookup found answers first
    /// when it holds `tuple`, and is remembered otherwise. `hash` is `tuple`'s hash when the
    /// caller has it already (see [`Host::demux_hash`]), and `found` the owner an earlier
    /// guess named (see [`Host::demux_guess`]), taken if the table has not changed since and
    /// the owner holds `tuple`.
    pub(super) fn demux_get_cached(
        &mut self,
        tuple: &Tuple,
        hash: Option<u64>,
        found: Option<Found>,
    ) -> Option<Target> {
        let (conns, time_wait) = (&self.conns, &self.time_wait);
        // The guess if the table has not changed since it was made, else the last hit: either
        // answers when it holds `tuple` (one comparison, one place in the code).
        let candidate = match found {
            Some(f) if f.changes == self.demux.changes => f.owner,
            _ => self.demux.last,
        };
        if let Some(r) = candidate
            && owner_tuple(conns, time_wait, r) == Some(tuple)
        {
            self.demux.last = Some(r);
            return target_of(conns, time_wait, r);
        }
        let hash = hash.unwrap_or_else(|| self.demux.hash(tuple));
        let r = self
            .demux
            .find(hash, tuple, |r| owner_tuple(conns, time_wait, r))?;
        self.demux.last = Some(r);
        target_of(conns, time_wait, r)
    }

    /// Whether the owner the last lookup found holds `tuple`: a packet of the same flow, whose
    /// lookup needs no hash and whose lines are in cache already.
    pub(super) fn demux_is_last(&self, tuple: &Tuple) -> bool {
        self.demux
            .last
            .is_some_and(|r| owner_tuple(&self.conns, &self.time_wait, r) == Some(tuple))
    }

    /// `tuple`'s hash in the demux table.
    pub(super) fn demux_hash(&self, tuple: &Tuple) -> u64 {
        self.demux.hash(tuple)
    }

    /// The first owner stored under `hash`'s tag, unverified: the owner of a tuple with that
    /// hash but for a tag collision, for [`Host::demux_get_cached`] to check. No tuple is
    /// compared, so nothing here waits for an owner's lines (see `Host::handle_packets`).
    pub(super) fn demux_guess(&self, hash: u64) -> Found {
        Found {
            owner: self.demux.guess(hash),
            changes: self.demux.changes,
        }
    }

    /// Reads what handling a segment for the owner `found` names reads first: for a
    /// connection, its host fields and what `Connection::touch` reads; for a TIME-WAIT
    /// entry, the entry. Nothing changes; the value only keeps the reads from being
    /// optimised away (see `Host::handle_packets`).
    pub(super) fn touch_found(&self, found: Found) -> u64 {
        let Some(r) = found.owner else {
            return 0;
        };
        match r.get() {
            (i, false) => self.conns.get_at(i).map_or(0, |(_, e)| {
                e.conn.touch() ^ e.memory as u64 ^ u64::from(e.ready)
            }),
            (i, true) => self
                .time_wait
                .get_at(i)
                .map_or(0, |(_, e)| e.expires.as_micros()),
        }
    }

    /// Reads the demux table's line a lookup of `hash` starts at (see `Host::handle_packets`).
    pub(super) fn demux_touch(&self, hash: u64) -> u64 {
        self.demux.touch(hash)
    }

    /// Makes `target`, which already holds `tuple`, its owner in the table.
    pub(super) fn demux_insert(&mut self, tuple: &Tuple, target: Target) {
        let (conns, time_wait) = (&self.conns, &self.time_wait);
        self.demux.insert(tuple, target.slot_ref(), |r| {
            owner_tuple(conns, time_wait, r)
        });
    }

    /// [`Host::demux_insert`] for a tuple a lookup found without an owner, the table unchanged
    /// since.
    pub(super) fn demux_insert_absent(&mut self, tuple: &Tuple, target: Target) {
        debug_assert!(
            self.demux_get(tuple).is_none(),
            "{tuple:?} has an owner already"
        );
        self.demux.insert_absent(tuple, target.slot_ref());
    }

    /// Takes `tuple` out of the table if `target` owns it. Must come before `target`'s slot
    /// is emptied (see the module's description).
    pub(super) fn demux_remove(&mut self, tuple: &Tuple, target: Target) -> bool {
        let hash = self.demux.hash(tuple);
        let owner = lookup_hashed(&self.demux, &self.conns, &self.time_wait, hash, tuple);
        owner == Some(target) && self.demux.remove(hash, target.slot_ref())
    }

    /// Hands `tuple` from `old` to `new` (which already holds it) if `old` owns it, else
    /// makes `new` its owner.
    pub(super) fn demux_hand_over(&mut self, tuple: &Tuple, old: Target, new: Target) {
        let hash = self.demux.hash(tuple);
        let owner = lookup_hashed(&self.demux, &self.conns, &self.time_wait, hash, tuple);
        if !(owner == Some(old) && self.demux.replace(hash, old.slot_ref(), new.slot_ref())) {
            self.demux_insert(tuple, new);
        }
    }

    /// The audit's view: every slot the table names, as the handle of its occupant (`None`
    /// for an empty slot, which must never happen), with whether a lookup of the occupant's
    /// tuple finds it again.
    pub(super) fn demux_owners(&self) -> impl Iterator<Item = (Option<Target>, bool)> + '_ {
        self.demux.iter().map(|r| {
            let target = target_of(&self.conns, &self.time_wait, r);
            let tuple = owner_tuple(&self.conns, &self.time_wait, r);
            let found = tuple.is_some_and(|t| self.demux_get(t) == target);
            (target, found)
        })
    }
}
