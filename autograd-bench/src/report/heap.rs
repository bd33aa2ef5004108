//! The one way the report reads the heap: a [`HeapMark`] taken before a
//! workload and read after it ("the heap since"), and a [`Peak`] for the
//! largest heap in between. Every section measures through these, each
//! saying which allocations it counts ([`Counted`]) and what it does with the
//! engine's buffer cache ([`Cache`]).

use autograd_core::buffers::{cached_bytes, release_thread_cache};

use crate::alloc;

/// Which allocations a reading counts (see [`alloc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Every allocation of the process ([`alloc::live_bytes`]).
    Process,
    /// Allocations made inside [`alloc::scoped`] on any thread
    /// ([`alloc::scoped_bytes`]): a workload's, not the thread pool's around it.
    Scoped,
    /// Allocations made inside [`alloc::scoped`] on the calling thread
    /// ([`alloc::thread_scoped_bytes`]).
    ThreadScoped,
}

/// What a reading does with the engine's buffer cache: freed value buffers
/// kept for reuse, not what a workload keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// This thread's cache is emptied before the reading.
    Emptied,
    /// What every thread's cache holds is subtracted from the reading.
    LeftOut,
    /// The cache counts like any other allocation.
    Counted,
}

/// A heap reading to measure from: [`since`](HeapMark::since) is the heap
/// above it, read the same way.
#[derive(Debug, Clone, Copy)]
pub struct HeapMark {
    counted: Counted,
    cache: Cache,
    bytes: i64,
}

impl HeapMark {
    /// Reads the heap now.
    pub fn now(counted: Counted, cache: Cache) -> HeapMark {
        HeapMark {
            counted,
            cache,
            bytes: read(counted, cache),
        }
    }

    /// The heap now above the mark (negative if less).
    pub fn since(&self) -> i64 {
        read(self.counted, self.cache) - self.bytes
    }
}

fn read(counted: Counted, cache: Cache) -> i64 {
    if cache == Cache::Emptied {
        release_thread_cache();
    }
    let bytes = match counted {
        Counted::Process => alloc::live_bytes() as i64,
        Counted::Scoped => alloc::scoped_bytes() as i64,
        Counted::ThreadScoped => alloc::thread_scoped_bytes() as i64,
    };
    match cache {
        Cache::LeftOut => bytes - cached_bytes() as i64,
        Cache::Emptied | Cache::Counted => bytes,
    }
}

/// The largest process heap since a start, above the heap then (the counting
/// allocator keeps one peak for the process: one `Peak` at a time).
#[derive(Debug, Clone, Copy)]
pub struct Peak {
    start: i64,
}

impl Peak {
    /// Starts a new peak from the heap now.
    pub fn start() -> Peak {
        alloc::reset_peak();
        Peak {
            start: alloc::live_bytes() as i64,
        }
    }

    /// Starts the peak over from the heap now, still measured above the
    /// heap at [`start`](Peak::start): for the largest heap of each stretch
    /// of a run.
    pub fn restart(&self) {
        alloc::reset_peak();
    }

    /// The largest heap since [`start`](Peak::start) (or the last
    /// [`restart`](Peak::restart)), above the heap at the start.
    pub fn bytes(&self) -> i64 {
        alloc::peak_bytes() as i64 - self.start
    }
}
