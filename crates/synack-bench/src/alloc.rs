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

// SAFETY: every call forwards to `System` unchanged; the counter has no effect on memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
            count_allocation();
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is `System`, with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc_zeroed`'s contract, which is `System`'s.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
            count_allocation();
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds `realloc`'s
        // contract on `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
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
