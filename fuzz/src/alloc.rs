//! A counting global allocator, so a harness can check how much a decoder holds at once.
//!
//! A binary opts in with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: stockade_fuzz::alloc::Counting = stockade_fuzz::alloc::Counting;
//! ```
//!
//! and then measures a call with [`Watch::start`] / [`Watch::peak`]: the largest number of bytes
//! allocated at one time during the call, beyond what was live when it started. Binaries without
//! it get `None` from [`Watch::peak`], and the property is not checked. The counters are global
//! atomics: the fuzzers are single-threaded.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The system allocator, counting live bytes and their high-water mark.
pub struct Counting;

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Relaxed);
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Relaxed);
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the pointer came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Count the moment both blocks may exist as the larger of the two.
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

/// A measurement in progress.
pub struct Watch {
    base: usize,
}

impl Watch {
    /// Start measuring: the high-water mark restarts from what is live now.
    #[must_use]
    pub fn start() -> Watch {
        let base = LIVE.load(Relaxed);
        PEAK.store(base, Relaxed);
        Watch { base }
    }

    /// The most bytes allocated at one time since [`Watch::start`], beyond what was live then;
    /// None when the counting allocator is not this binary's global allocator.
    #[must_use]
    pub fn peak(&self) -> Option<usize> {
        INSTALLED
            .load(Relaxed)
            .then(|| PEAK.load(Relaxed).saturating_sub(self.base))
    }
}
