//! A scope in which ops compute values but build no graph.
//!
//! The state is two per-thread counters, not a saved flag: how many
//! [`no_grad`] guards are alive, and how many passes of
//! `backward` with `create_graph` are recording. Counters compose whatever
//! order guards are dropped in, and the state after the last guard drops is
//! always the state before the first.

use std::cell::Cell;
use std::marker::PhantomData;

thread_local! {
    /// Live [`NoGradGuard`]s on this thread.
    static NO_GRAD_DEPTH: Cell<usize> = const { Cell::new(0) };
    /// `create_graph` backward passes recording on this thread.
    static RECORDING_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// `true` unless the current thread is inside a [`no_grad`] scope (a
/// `create_graph` backward records even there, as PyTorch's does).
pub fn is_grad_enabled() -> bool {
    RECORDING_DEPTH.with(Cell::get) > 0 || NO_GRAD_DEPTH.with(Cell::get) == 0
}

/// While alive, ops on this thread build no graph: their outputs are leaves
/// and no function node is allocated (DeZero step 18, `torch.no_grad`).
///
/// Guards nest and may be dropped in any order: graphs are built again once
/// the last one is gone, also after an early return through `?` or a panic.
/// The guard is neither `Send` nor `Sync`: the setting is per thread, and
/// rayon workers do not inherit it.
///
/// ```
/// use autograd_core::{no_grad, is_grad_enabled};
///
/// let a = no_grad();
/// let b = no_grad();
/// drop(a); // out of order: b still holds the scope
/// assert!(!is_grad_enabled());
/// drop(b);
/// assert!(is_grad_enabled());
/// ```
///
/// The guard cannot be sent to another thread:
///
/// ```compile_fail
/// let guard = autograd_core::no_grad();
/// std::thread::spawn(move || drop(guard));
/// ```
#[must_use = "the scope ends when the guard is dropped"]
#[derive(Debug)]
pub struct NoGradGuard {
    /// Per-thread state: the guard must not move to another thread.
    _not_send: PhantomData<*const ()>,
}

/// Enters a scope without graph building; see [`NoGradGuard`].
pub fn no_grad() -> NoGradGuard {
    NO_GRAD_DEPTH.with(|depth| depth.set(depth.get() + 1));
    NoGradGuard {
        _not_send: PhantomData,
    }
}

/// Runs `f` without graph building and returns its result.
pub fn with_no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = no_grad();
    f()
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        NO_GRAD_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// While alive, ops record a graph even inside [`no_grad`]: what a
/// `create_graph` backward holds while it runs the ops' variable-level
/// backward.
pub(crate) struct RecordingGuard {
    _not_send: PhantomData<*const ()>,
}

impl RecordingGuard {
    pub(crate) fn new() -> Self {
        RECORDING_DEPTH.with(|depth| depth.set(depth.get() + 1));
        RecordingGuard {
            _not_send: PhantomData,
        }
    }
}

impl Drop for RecordingGuard {
    fn drop(&mut self) {
        RECORDING_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}
