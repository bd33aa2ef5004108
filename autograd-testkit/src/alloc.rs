//! [`CountingAlloc`]: a global allocator wrapper that measures live and peak
//! heap bytes, and what a workload alone keeps (see [`scoped`]). The only
//! module of the workspace allowed `unsafe`: implementing `GlobalAlloc`
//! requires it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Whether allocations are counted at all (see [`set_counting`]).
static COUNTING: AtomicBool = AtomicBool::new(true);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Bytes allocated and not freed by code running inside [`scoped`].
static SCOPED: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    // `const` and without `Drop`: reading them never allocates, so the
    // allocator may use them.
    static IN_SCOPE: Cell<bool> = const { Cell::new(false) };
    /// This thread's share of [`SCOPED`].
    static THREAD_SCOPED: Cell<isize> = const { Cell::new(0) };
    /// The most [`THREAD_SCOPED`] since [`ThreadMeter`]'s last reset.
    static THREAD_PEAK: Cell<isize> = const { Cell::new(0) };
}

fn in_scope() -> bool {
    IN_SCOPE.try_with(Cell::get).unwrap_or(false)
}

/// Runs `f` with its allocations and frees counted in [`scoped_bytes`].
///
/// What a workload leaks is what it allocates and does not free. Counting only
/// inside the workload keeps out what the thread pool around it allocates
/// lazily (work-stealing buffers, epoch records), which would otherwise show
/// up as a few hundred bytes of noise.
pub fn scoped<R>(f: impl FnOnce() -> R) -> R {
    let previous = IN_SCOPE.with(|c| c.replace(true));
    let result = f();
    IN_SCOPE.with(|c| c.set(previous));
    result
}

/// Net bytes allocated inside [`scoped`] calls and not yet freed, on all
/// threads.
pub fn scoped_bytes() -> isize {
    SCOPED.load(Ordering::Relaxed)
}

/// Net bytes allocated inside [`scoped`] calls on this thread and not yet
/// freed by it: what tests running side by side measure.
pub fn thread_scoped_bytes() -> isize {
    THREAD_SCOPED.try_with(Cell::get).unwrap_or(0)
}

/// Wraps allocator `A`, counting the bytes requested and not yet freed.
///
/// Install it in a binary with `#[global_allocator]`; read the counts with
/// [`live_bytes`] and [`peak_bytes`]. The counts are process-wide: two atomic
/// operations per allocation, cheap next to the allocation itself.
#[derive(Debug, Default)]
pub struct CountingAlloc<A>(pub A);

// SAFETY: every call is forwarded unchanged to `A`, which upholds the
// `GlobalAlloc` contract; the wrapper only updates counters.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { self.0.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { self.0.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.0.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        new
    }
}

fn grew(size: usize) {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    let live = LIVE.fetch_add(size, Ordering::Relaxed).wrapping_add(size);
    if live > PEAK.load(Ordering::Relaxed) {
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
    if in_scope() {
        SCOPED.fetch_add(size as isize, Ordering::Relaxed);
        let _ = THREAD_SCOPED.try_with(|n| {
            let now = n.get() + size as isize;
            n.set(now);
            let _ = THREAD_PEAK.try_with(|p| p.set(p.get().max(now)));
        });
    }
}

fn shrank(size: usize) {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    LIVE.fetch_sub(size, Ordering::Relaxed);
    if in_scope() {
        SCOPED.fetch_sub(size as isize, Ordering::Relaxed);
        let _ = THREAD_SCOPED.try_with(|n| n.set(n.get() - size as isize));
    }
}

/// Stops (`false`) or resumes counting: for measurements that two threads
/// would otherwise contend on the shared counters for. Blocks allocated
/// while counting and freed while not (or the reverse) leave the live count
/// off by their size, so stop counting only around work that frees what it
/// allocates.
pub fn set_counting(on: bool) {
    COUNTING.store(on, Ordering::Relaxed);
}

/// Heap bytes allocated through [`CountingAlloc`] and not yet freed.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The largest [`live_bytes`] seen since the last [`reset_peak`].
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Starts a new peak measurement from the current live bytes.
pub fn reset_peak() {
    PEAK.store(live_bytes(), Ordering::Relaxed);
}

/// `true` once anything was allocated through [`CountingAlloc`]: whether the
/// running binary installed it.
pub fn is_counting() -> bool {
    live_bytes() > 0
}

/// [`live_bytes`] and [`peak_bytes`] as a byte budget's
/// [`Meter`](autograd_ops::budget::Meter): every thread's allocations.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingMeter;

impl autograd_ops::budget::Meter for CountingMeter {
    fn live(&self) -> usize {
        live_bytes()
    }

    fn peak(&self) -> usize {
        peak_bytes()
    }

    fn reset_peak(&self) {
        reset_peak();
    }
}

/// The calling thread's allocations inside [`scoped`] as a byte budget's
/// [`Meter`](autograd_ops::budget::Meter): what tests running side by side
/// measure. Its live bytes are [`thread_scoped_bytes`] (which may start
/// below zero: use differences).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadMeter;

/// Offsets [`thread_scoped_bytes`] into `usize` (it may go below zero).
const THREAD_BASE: isize = isize::MAX / 2;

impl autograd_ops::budget::Meter for ThreadMeter {
    fn live(&self) -> usize {
        (thread_scoped_bytes() + THREAD_BASE) as usize
    }

    fn peak(&self) -> usize {
        let peak = THREAD_PEAK.try_with(Cell::get).unwrap_or(0);
        (peak.max(thread_scoped_bytes()) + THREAD_BASE) as usize
    }

    fn reset_peak(&self) {
        let now = thread_scoped_bytes();
        let _ = THREAD_PEAK.try_with(|p| p.set(now));
    }
}
