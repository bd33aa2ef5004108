//! A scope in which ops compute values but build no graph.

use std::cell::Cell;
use std::marker::PhantomData;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// `true` unless the current thread is inside a [`no_grad`] scope.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(Cell::get)
}

/// While alive, ops on this thread build no graph: their outputs are leaves
/// and no function node is allocated (DeZero step 18, `torch.no_grad`).
///
/// The previous state comes back when the guard drops, also on an early
/// return through `?` or a panic, so scopes nest. The guard is neither `Send`
/// nor `Sync`: the setting is per thread, and rayon workers do not inherit it.
///
/// ```
/// use autograd_core::{no_grad, Variable, is_grad_enabled};
///
/// let x = Variable::scalar(3.0);
/// {
///     let _guard = no_grad();
///     assert!(!is_grad_enabled());
/// }
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
    previous: bool,
    /// Per-thread state: the guard must not move to another thread.
    _not_send: PhantomData<*const ()>,
}

/// Enters a scope without graph building; see [`NoGradGuard`].
pub fn no_grad() -> NoGradGuard {
    let previous = GRAD_ENABLED.with(|enabled| enabled.replace(false));
    NoGradGuard {
        previous,
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
        GRAD_ENABLED.with(|enabled| enabled.set(self.previous));
    }
}
