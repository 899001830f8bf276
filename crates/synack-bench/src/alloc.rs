//! A counting global allocator for the memory figures. The `synack` binary installs it; it
//! counts only while a measurement has switched it on, so the other benchmarks pay one
//! relaxed load per allocation and nothing more.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// Counts live heap bytes (as requested; the allocator's own overhead is not included) while
/// switched on.
pub struct CountingAlloc;

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Allocations and reallocations made by this thread, always counted: other threads
    /// (tests running beside one) do not disturb a count.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    if ON.load(Ordering::Relaxed) {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

fn count_allocation() {
    // `try_with`: the slot is gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations from this size up are mapped apart, on transparent huge pages (see `huge`).
pub const HUGE_FROM: usize = 4 << 20;

/// Allocations of [`HUGE_FROM`] bytes or more, each its own anonymous mapping, 2 MiB-aligned,
/// rounded up to whole 2 MiB pages and advised `MADV_HUGEPAGE` (with THP in `madvise` mode,
/// as on many distributions, nothing is huge without that). A table of a million connections
/// spans ~1 GiB: in 4 KiB pages each lookup of a connection far from the last misses the TLB
/// and walks the page tables; in 2 MiB pages the whole table needs ~500 TLB entries, which
/// a second-level TLB holds. Through `malloc` the advice would not hold: its big blocks are not aligned, and
/// each time a growing block is reallocated the kernel may move its pages to an address that
/// is not aligned either, splitting the huge pages. Here a block is whole huge pages on a
/// 2 MiB boundary, and a reallocation that must move it moves it onto another such boundary.
/// This is the process's allocator, so every stack measured in it (synack and smoltcp)
/// gets the same. Advice only: a kernel without THP refuses it and the memory stays in small
/// pages.
mod huge {
    const PAGE: usize = 2 << 20;

    pub(super) fn fits(size: usize, align: usize) -> bool {
        size >= super::HUGE_FROM && align <= PAGE
    }

    fn len(size: usize) -> usize {
        size.next_multiple_of(PAGE)
    }

    /// A fresh, zeroed mapping of at least `size` bytes, or null.
    pub(super) fn map(size: usize) -> *mut u8 {
        let len = len(size);
        // SAFETY: an anonymous private mapping of our own; the slack before and after the
        // aligned part is unmapped and never handed out.
        unsafe {
            let p = libc::mmap(
                core::ptr::null_mut(),
                len + PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return core::ptr::null_mut();
            }
            let base = p as usize;
            let start = base.next_multiple_of(PAGE);
            if start > base {
                libc::munmap(p, start - base);
            }
            let tail = base + len + PAGE - (start + len);
            if tail > 0 {
                libc::munmap((start + len) as *mut libc::c_void, tail);
            }
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            start as *mut u8
        }
    }

    /// Unmaps what [`map`] or [`remap`] returned for `size` bytes.
    ///
    /// # Safety
    /// `p` came from [`map`] or [`remap`] with this `size` and is not used again.
    pub(super) unsafe fn unmap(p: *mut u8, size: usize) {
        // SAFETY: the caller's contract: `p` is the start of our mapping of this length.
        unsafe {
            libc::munmap(p.cast(), len(size));
        }
    }

    /// Grows or shrinks a mapping from [`map`] (contents kept, still 2 MiB-aligned), or null.
    ///
    /// # Safety
    /// `p` came from [`map`] or [`remap`] with `old` bytes and is not used again unless null
    /// is returned.
    pub(super) unsafe fn remap(p: *mut u8, old: usize, new: usize) -> *mut u8 {
        let (from, to) = (len(old), len(new));
        // SAFETY: the caller's contract: `p` is the start of our mapping of `from` bytes;
        // every range unmapped or moved below lies within it, or within `dst`, which is ours.
        unsafe {
            if to <= from {
                // Shrinking in whole huge pages: the tail goes, the head stays where it is.
                if to < from {
                    libc::munmap(p.add(to).cast(), from - to);
                }
                return p;
            }
            // Growing: in place when the range after the mapping is free.
            if libc::mremap(p.cast(), from, to, 0) != libc::MAP_FAILED {
                return p;
            }
            // Else onto a fresh aligned mapping: `MREMAP_FIXED` moves the pages there (no
            // copy) and replaces what `map` put there; a plain `MREMAP_MAYMOVE` could
            // land on any 4 KiB boundary and split the huge pages.
            let dst = map(new);
            if dst.is_null() {
                return core::ptr::null_mut();
            }
            let q = libc::mremap(
                p.cast(),
                from,
                to,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                dst.cast::<libc::c_void>(),
            );
            if q == libc::MAP_FAILED {
                libc::munmap(dst.cast(), to);
                return core::ptr::null_mut();
            }
            // The advice moves with the mapping; repeated for the part that was `dst`'s.
            libc::madvise(q, to, libc::MADV_HUGEPAGE);
            q.cast()
        }
    }
}

impl CountingAlloc {
    /// Allocates without counting: a mapping of its own for a big block, else `System`.
    ///
    /// # Safety
    /// `GlobalAlloc::alloc`'s contract.
    unsafe fn get(layout: Layout, zeroed: bool) -> *mut u8 {
        if huge::fits(layout.size(), layout.align()) {
            huge::map(layout.size())
        } else if zeroed {
            // SAFETY: the caller upholds `alloc_zeroed`'s contract, which is `System`'s.
            unsafe { System.alloc_zeroed(layout) }
        } else {
            // SAFETY: the caller upholds `alloc`'s contract, which is `System`'s.
            unsafe { System.alloc(layout) }
        }
    }

    /// Frees what [`CountingAlloc::get`] returned for `layout`.
    ///
    /// # Safety
    /// `GlobalAlloc::dealloc`'s contract.
    unsafe fn put(ptr: *mut u8, layout: Layout) {
        if huge::fits(layout.size(), layout.align()) {
            // SAFETY: a block of this size was mapped by `huge::map` or `huge::remap`.
            unsafe { huge::unmap(ptr, layout.size()) }
        } else {
            // SAFETY: `ptr` came from `System` with this `layout`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}

// SAFETY: small blocks are `System`'s, unchanged; big ones are mappings of their own, aligned
// to 2 MiB (more than any `Layout` they are used for asks), zeroed, freed only by `put`.
// The counter has no effect on memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { CountingAlloc::get(layout, false) };
        if !p.is_null() {
            count(layout.size() as isize);
            count_allocation();
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with this `layout`.
        unsafe { CountingAlloc::put(ptr, layout) };
        count(-(layout.size() as isize));
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc_zeroed`'s contract.
        let p = unsafe { CountingAlloc::get(layout, true) };
        if !p.is_null() {
            count(layout.size() as isize);
            count_allocation();
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (was, will) = (
            huge::fits(layout.size(), layout.align()),
            huge::fits(new_size, layout.align()),
        );
        let p = match (was, will) {
            // SAFETY: `ptr` came from `System` with `layout`; the caller upholds `realloc`'s
            // contract on `new_size`.
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            // SAFETY: `ptr` is our mapping of `layout.size()` bytes, not used again on success.
            (true, true) => unsafe { huge::remap(ptr, layout.size(), new_size) },
            _ => {
                // Across the threshold: a new block, the contents copied, the old one freed.
                // SAFETY: `new_size` is non-zero and fits `layout.align()` (the caller's
                // contract); the copy stays within both blocks; `ptr` is freed once.
                unsafe {
                    let new = Layout::from_size_align_unchecked(new_size, layout.align());
                    let q = CountingAlloc::get(new, false);
                    if !q.is_null() {
                        core::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                        CountingAlloc::put(ptr, layout);
                    }
                    q
                }
            }
        };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
            count_allocation();
        }
        p
    }
}

/// Net heap bytes allocated while `f` ran (what it built and kept, minus what it freed), or
/// `None` when the counting allocator is not this process's global allocator.
pub fn live_bytes_of<T>(f: impl FnOnce() -> T) -> (T, Option<isize>) {
    ON.store(true, Ordering::Relaxed);
    let before = LIVE.load(Ordering::Relaxed);
    let probe = std::hint::black_box(Box::new([0u8; 64]));
    let installed = LIVE.load(Ordering::Relaxed) - before >= 64;
    drop(probe);
    let before = LIVE.load(Ordering::Relaxed);
    let out = f();
    let after = LIVE.load(Ordering::Relaxed);
    ON.store(false, Ordering::Relaxed);
    (out, installed.then_some(after - before))
}

/// Allocations (reallocations included) this thread made while `f` ran, or `None` when the
/// counting allocator is not this process's global allocator.
pub fn allocations_of<T>(f: impl FnOnce() -> T) -> (T, Option<usize>) {
    let now = || ALLOCATIONS.with(Cell::get);
    let before = now();
    drop(std::hint::black_box(Box::new([0u8; 64])));
    let installed = now() > before;
    let before = now();
    let out = f();
    let n = now() - before;
    (out, installed.then_some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    /// Whether any mapping of this process covers `addr` (from /proc/self/maps).
    fn mapped(addr: usize) -> bool {
        std::fs::read_to_string("/proc/self/maps")
            .expect("/proc/self/maps")
            .lines()
            .filter_map(|l| l.split_whitespace().next()?.split_once('-'))
            .filter_map(|(a, b)| {
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            })
            .any(|(a, b)| (a..b).contains(&addr))
    }

    fn fill(p: *mut u8, n: usize) {
        for i in (0..n).step_by(4093) {
            // SAFETY: `i < n`, inside the block.
            unsafe { *p.add(i) = (i % 251) as u8 };
        }
    }

    fn check(p: *mut u8, n: usize) {
        for i in (0..n).step_by(4093) {
            // SAFETY: `i < n`, inside the block.
            assert_eq!(unsafe { *p.add(i) }, (i % 251) as u8, "byte {i}");
        }
    }

    #[test]
    fn big_blocks_are_aligned_zeroed_and_unmapped_when_freed() {
        let a = CountingAlloc;
        let layout = Layout::from_size_align(HUGE_FROM + 12_345, 64).unwrap();
        // SAFETY: a non-zero layout; the block is freed once with the same layout.
        unsafe {
            let p = a.alloc_zeroed(layout);
            assert!(!p.is_null());
            assert_eq!(p as usize % (2 * MIB), 0);
            let s = std::slice::from_raw_parts(p, layout.size());
            assert!(s.iter().all(|&b| b == 0));
            fill(p, layout.size());
            check(p, layout.size());
            assert!(mapped(p as usize + layout.size() - 1));
            a.dealloc(p, layout);
            assert!(!mapped(p as usize));
        }
    }

    #[test]
    fn reallocation_keeps_contents_and_alignment_across_sizes() {
        let a = CountingAlloc;
        // Small → big → bigger (with a neighbour in the way, so it must move) → smaller
        // big → small, the first bytes checked at each step.
        let sizes = [MIB, HUGE_FROM + 1, 9 * HUGE_FROM + 7, HUGE_FROM, 3 * MIB];
        // SAFETY: each block is reallocated from the layout it has, and freed once.
        unsafe {
            let mut layout = Layout::from_size_align(sizes[0], 16).unwrap();
            let mut p = a.alloc(layout);
            assert!(!p.is_null());
            fill(p, layout.size());
            let mut neighbour = None;
            for &n in &sizes[1..] {
                let keep = layout.size().min(n);
                p = a.realloc(p, layout, n);
                assert!(!p.is_null());
                layout = Layout::from_size_align(n, 16).unwrap();
                check(p, keep);
                if huge::fits(n, 16) {
                    assert_eq!(p as usize % (2 * MIB), 0, "{n} bytes at {p:?}");
                    assert!(mapped(p as usize + n - 1));
                }
                fill(p, n);
                if neighbour.is_none() && huge::fits(n, 16) {
                    // Take the range right after the block, if free, so that growing it
                    // cannot happen in place.
                    let after = p as usize + n.next_multiple_of(2 * MIB);
                    let q = libc::mmap(
                        after as *mut libc::c_void,
                        2 * MIB,
                        libc::PROT_READ,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                        -1,
                        0,
                    );
                    assert!(q != libc::MAP_FAILED || mapped(after));
                    neighbour = (q != libc::MAP_FAILED).then_some(q);
                }
            }
            a.dealloc(p, layout);
            if let Some(q) = neighbour {
                libc::munmap(q, 2 * MIB);
            }
        }
    }
}
