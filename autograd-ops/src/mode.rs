//! Training or evaluation: [`eval_mode`], [`train_mode`], [`is_training`]
//! and [`with_eval_mode`], the switch that ops which behave differently at
//! evaluation ([`dropout`](crate::dropout)) read.
//!
//! The mode is a scope on the calling thread, as [`no_grad`](crate::no_grad)
//! is, not a flag inside a module (PyTorch's `module.eval()`): a module that
//! does not care never mentions it, and a forward pass under
//! `with_eval_mode(|| model.forward(x))` evaluates whatever layers it
//! reaches. The design follows `autograd-core/src/no_grad.rs`: a per-thread
//! stack of scopes, not a saved flag, so scopes nest (the innermost live one
//! wins), a guard dropped out of order only marks its scope ended, and the
//! mode after the last guard drops is always the mode before the first,
//! also after an early return or a panic.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

/// One live scope: its mode, and whether its guard is still alive.
#[derive(Clone, Copy)]
struct Scope {
    training: bool,
    alive: bool,
}

thread_local! {
    /// This thread's scopes, innermost last.
    static SCOPES: RefCell<Vec<Scope>> = const { RefCell::new(Vec::new()) };
    /// What the innermost live scope says (`true`, training, when there is
    /// none): the one read on every dropout.
    static TRAINING: Cell<bool> = const { Cell::new(true) };
}

/// Opens a scope; returns its place on the stack.
fn enter(training: bool) -> usize {
    TRAINING.with(|mode| mode.set(training));
    SCOPES
        .try_with(|scopes| {
            let mut scopes = scopes.borrow_mut();
            scopes.push(Scope {
                training,
                alive: true,
            });
            scopes.len() - 1
        })
        .unwrap_or(usize::MAX)
}

/// Ends the scope at `index`; the mode becomes the innermost live scope's.
fn leave(index: usize) {
    let innermost = SCOPES.try_with(|scopes| {
        let mut scopes = scopes.borrow_mut();
        if let Some(scope) = scopes.get_mut(index) {
            scope.alive = false;
        }
        while scopes.last().is_some_and(|scope| !scope.alive) {
            scopes.pop();
        }
        scopes.last().is_none_or(|scope| scope.training)
    });
    // Once the stack is gone (thread-local destructors), back to training.
    TRAINING.with(|mode| mode.set(innermost.unwrap_or(true)));
}

/// `true` (training) unless the innermost mode scope on this thread is an
/// [`eval_mode`] one. A thread starts in training, as a PyTorch module does.
#[inline]
pub fn is_training() -> bool {
    TRAINING.with(Cell::get)
}

/// The guard of a mode scope ([`eval_mode`], [`train_mode`]): the scope
/// ends when it is dropped.
///
/// Guards nest and may be dropped in any order: the mode is the innermost
/// live scope's, and training again once the last one is gone, also after
/// an early return through `?` or a panic. The guard is neither `Send` nor
/// `Sync`: the mode is per thread, and rayon workers do not inherit it.
///
/// ```compile_fail
/// let guard = autograd_ops::eval_mode();
/// std::thread::spawn(move || drop(guard));
/// ```
#[must_use = "the scope ends when the guard is dropped"]
#[derive(Debug)]
pub struct ModeGuard {
    /// The scope's place on this thread's stack.
    scope: usize,
    /// Per-thread state: the guard must not move to another thread.
    _not_send: PhantomData<*const ()>,
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        leave(self.scope);
    }
}

/// A scope in `training` mode (`true`) or evaluation (`false`).
pub(crate) fn mode_scope(training: bool) -> ModeGuard {
    ModeGuard {
        scope: enter(training),
        _not_send: PhantomData,
    }
}

/// While the guard lives, this thread evaluates: [`dropout`](crate::dropout)
/// is the identity (PyTorch's `module.eval()`, as a scope).
///
/// ```
/// use autograd_ops::{eval_mode, is_training};
///
/// let a = eval_mode();
/// let b = eval_mode();
/// drop(a); // out of order: b still holds the scope
/// assert!(!is_training());
/// drop(b);
/// assert!(is_training());
/// ```
pub fn eval_mode() -> ModeGuard {
    mode_scope(false)
}

/// While the guard lives, this thread trains again, also inside an
/// [`eval_mode`] scope (as [`enable_grad`](crate::enable_grad) inside
/// `no_grad`); scopes nest as `eval_mode`'s do.
///
/// ```
/// use autograd_ops::{eval_mode, is_training, train_mode};
///
/// let _eval = eval_mode();
/// let train = train_mode();
/// assert!(is_training());
/// drop(train);
/// assert!(!is_training());
/// ```
pub fn train_mode() -> ModeGuard {
    mode_scope(true)
}

/// Runs `f` in evaluation mode (see [`eval_mode`]) and returns its result.
pub fn with_eval_mode<R>(f: impl FnOnce() -> R) -> R {
    let _guard = eval_mode();
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_the_innermost_wins() {
        assert!(is_training());
        let outer = eval_mode();
        assert!(!is_training());
        {
            let _inner = train_mode();
            assert!(is_training());
            let _innermost = eval_mode();
            assert!(!is_training());
        }
        assert!(!is_training());
        drop(outer);
        assert!(is_training());
        assert!(!with_eval_mode(is_training));
        assert!(is_training());
    }

    #[test]
    fn guards_dropped_out_of_order_restore_the_mode_before_the_first() {
        let a = eval_mode();
        let b = train_mode();
        let c = eval_mode();
        drop(b); // the middle one: c, innermost, still decides
        assert!(!is_training());
        drop(a);
        assert!(!is_training(), "c is alive");
        drop(c);
        assert!(is_training());
        // And the other way round: the innermost dropped first.
        let a = train_mode();
        let b = eval_mode();
        drop(a);
        assert!(!is_training());
        drop(b);
        assert!(is_training());
    }

    #[test]
    fn a_panic_or_an_early_return_restores_the_mode() {
        let caught = std::panic::catch_unwind(|| {
            let _eval = eval_mode();
            panic!("inside an eval scope");
        });
        assert!(caught.is_err());
        assert!(is_training());
        fn early() -> Result<(), ()> {
            let _eval = eval_mode();
            Err(())?;
            Ok(())
        }
        assert!(early().is_err());
        assert!(is_training());
    }

    #[test]
    fn the_mode_is_per_thread() {
        let _eval = eval_mode();
        let other = std::thread::spawn(is_training).join().unwrap();
        assert!(other, "a new thread trains");
        assert!(!is_training());
    }
}
