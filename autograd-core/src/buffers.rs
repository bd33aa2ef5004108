//! A per-thread cache of large tensor buffers.
//!
//! A training loop frees and allocates the same large arrays every
//! iteration. glibc's `malloc` gives free memory at the top of its heap back
//! to the kernel once more than 128 KiB lie there, so such a loop can
//! page-fault its arrays back in on every iteration (ten times slower here:
//! the README's allocator section). The engine keeps the buffers of large
//! tensors it frees and hands them to the next tensors of the same length,
//! so that an iteration's frees and allocations pair up inside the engine.
//! When the cache is full it frees the buffer at the lowest address (the
//! one least likely to border the top of the heap), so what it gives back is
//! reused by the next allocation of that size rather than trimmed.
//!
//! The cache holds at most [`MAX_BUFFERS`] buffers of at least
//! [`MIN_LEN`] elements, [`MAX_BYTES`] in all, per thread;
//! [`cached_bytes`] reports what all threads hold, and
//! [`release_thread_cache`] empties this thread's. While a
//! [`bypass_cache`] guard lives, the thread neither takes from the cache
//! nor gives to it: every buffer is allocated and freed when its tensor
//! is, so that what a computation holds is what the allocator sees (a
//! byte budget's accounting, `autograd_ops::budget`).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The fewest elements a buffer needs to be cached (16 KiB): smaller ones
/// are what allocators recycle well on their own.
pub const MIN_LEN: usize = 2048;
/// The most buffers a thread keeps.
pub const MAX_BUFFERS: usize = 16;
/// The most bytes a thread keeps.
pub const MAX_BYTES: usize = 4 << 20;

/// Bytes held by every thread's cache.
static CACHED: AtomicUsize = AtomicUsize::new(0);

/// One thread's cached buffers.
struct Cache(Vec<Vec<f64>>);

impl Drop for Cache {
    /// A thread's exit frees its buffers: they leave [`CACHED`] too.
    fn drop(&mut self) {
        let held = self.0.iter().map(|b| bytes(b)).sum();
        CACHED.fetch_sub(held, Ordering::Relaxed);
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache(Vec::new())) };
    /// How many [`bypass_cache`] guards this thread holds.
    static BYPASSED: Cell<usize> = const { Cell::new(0) };
}

/// Whether this thread goes around the cache now.
fn bypassed() -> bool {
    BYPASSED.try_with(Cell::get).unwrap_or(0) > 0
}

/// While alive, this thread's tensors allocate and free their buffers
/// directly, leaving the cache as it is (see the module's docs). Guards
/// nest.
#[must_use = "the cache is bypassed only while the guard lives"]
pub struct CacheBypass {
    /// Tied to the thread whose count it raised.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Bypasses this thread's buffer cache until the guard drops.
pub fn bypass_cache() -> CacheBypass {
    BYPASSED.with(|n| n.set(n.get() + 1));
    CacheBypass {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for CacheBypass {
    fn drop(&mut self) {
        let _ = BYPASSED.try_with(|n| n.set(n.get() - 1));
    }
}

impl std::fmt::Debug for CacheBypass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheBypass")
    }
}

fn bytes(buffer: &[f64]) -> usize {
    std::mem::size_of_val(buffer)
}

/// A buffer of exactly `len` elements (contents unspecified): from this
/// thread's cache if it holds one, else newly allocated.
pub(crate) fn take(len: usize) -> Vec<f64> {
    if len >= MIN_LEN && !bypassed() {
        let cached = CACHE
            .try_with(|cache| {
                let cache = &mut cache.borrow_mut().0;
                let index = cache.iter().rposition(|b| b.len() == len)?;
                Some(cache.swap_remove(index))
            })
            .ok()
            .flatten();
        if let Some(buffer) = cached {
            CACHED.fetch_sub(bytes(&buffer), Ordering::Relaxed);
            return buffer;
        }
    }
    vec![0.0; len]
}

/// Takes a buffer back: cached if it is large and exact (its capacity is
/// its length), otherwise freed.
pub(crate) fn give(buffer: Vec<f64>) {
    if buffer.len() < MIN_LEN || buffer.capacity() != buffer.len() || bypassed() {
        return;
    }
    let size = bytes(&buffer);
    let freed = CACHE.try_with(|cache| {
        let cache = &mut cache.borrow_mut().0;
        // Room for every buffer from the start: the list never grows later.
        let room = (MAX_BUFFERS + 1).saturating_sub(cache.len());
        cache.reserve_exact(room);
        cache.push(buffer);
        CACHED.fetch_add(size, Ordering::Relaxed);
        let mut evicted = Vec::new();
        while cache.len() > MAX_BUFFERS || cache.iter().map(|b| bytes(b)).sum::<usize>() > MAX_BYTES
        {
            // The lowest address: the buffer least likely to border the top
            // of the heap, whose freeing would be trimmed.
            let lowest = cache
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.as_ptr() as usize)
                .map_or(0, |(i, _)| i);
            let victim = cache.swap_remove(lowest);
            CACHED.fetch_sub(bytes(&victim), Ordering::Relaxed);
            evicted.push(victim);
        }
        evicted
    });
    // Freed outside the cache's borrow (the thread may be exiting: then the
    // buffer was simply dropped).
    drop(freed);
}

/// Frees this thread's cached buffers (the list keeps its room).
pub fn release_thread_cache() {
    while let Some(buffer) = CACHE
        .try_with(|cache| cache.borrow_mut().0.pop())
        .ok()
        .flatten()
    {
        CACHED.fetch_sub(bytes(&buffer), Ordering::Relaxed);
        drop(buffer);
    }
}

/// Bytes held by every thread's cache: heap the engine keeps for reuse, not
/// graph memory.
pub fn cached_bytes() -> usize {
    CACHED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests here read the process-wide count: one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn large_buffers_are_reused_and_the_cache_is_bounded() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        release_thread_cache();
        let before = cached_bytes();
        let a = take(MIN_LEN);
        let address = a.as_ptr();
        give(a);
        assert_eq!(cached_bytes() - before, MIN_LEN * 8);
        let b = take(MIN_LEN);
        assert_eq!(b.as_ptr(), address, "the cached buffer comes back");
        give(vec![0.0; 8]); // small: freed
        for _ in 0..MAX_BUFFERS + 4 {
            give(vec![0.0; MIN_LEN]);
        }
        CACHE.with(|c| assert!(c.borrow().0.len() <= MAX_BUFFERS));
        release_thread_cache();
        assert_eq!(cached_bytes(), before);
        drop(b);
    }

    #[test]
    fn a_bypassed_thread_neither_takes_nor_gives() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        release_thread_cache();
        let before = cached_bytes();
        give(vec![0.0; MIN_LEN]);
        assert_eq!(cached_bytes() - before, MIN_LEN * 8);
        {
            let _outer = bypass_cache();
            let _inner = bypass_cache();
            let fresh = take(MIN_LEN);
            assert_eq!(cached_bytes() - before, MIN_LEN * 8, "the cached one stays");
            give(fresh);
            give(vec![0.0; MIN_LEN]);
            assert_eq!(cached_bytes() - before, MIN_LEN * 8, "nothing given");
        }
        give(vec![0.0; MIN_LEN]);
        assert_eq!(
            cached_bytes() - before,
            2 * MIN_LEN * 8,
            "the guards are gone"
        );
        release_thread_cache();
    }

    #[test]
    fn threads_that_exit_take_their_cached_bytes_out_of_the_count() {
        // Issue 14, defect 10: each exited thread's buffers stayed counted.
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let before = cached_bytes();
        for _ in 0..100 {
            std::thread::spawn(move || {
                give(vec![0.0; MIN_LEN]);
                assert_eq!(cached_bytes(), MIN_LEN * 8 + before);
            })
            .join()
            .expect("no panic");
        }
        assert_eq!(cached_bytes(), before);
    }
}
