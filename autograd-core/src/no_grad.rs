//! A scope in which ops compute values but build no graph.
//!
//! Two kinds of scope nest on a thread: a [`no_grad`] scope, and the scope
//! of a `create_graph` backward pass, which records the gradients' graph
//! even inside `no_grad` (as PyTorch's does). The innermost live scope
//! decides, so a `no_grad` inside an op's `backward_graph` makes constants
//! again. The state is a per-thread stack, not a saved flag: a guard
//! dropped out of order only marks its scope ended, and ended scopes leave
//! the stack once every scope inside them has ended, so the state after the
//! last guard drops is always the state before the first.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

/// One live scope: whether it records, and whether its guard is still alive.
#[derive(Clone, Copy)]
struct Scope {
    records: bool,
    alive: bool,
}

thread_local! {
    /// This thread's scopes, innermost last.
    static SCOPES: RefCell<Vec<Scope>> = const { RefCell::new(Vec::new()) };
    /// What the innermost live scope says (`true` when there is none): the
    /// one read on every op.
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Opens a scope; returns its place on the stack.
fn enter(records: bool) -> usize {
    ENABLED.with(|enabled| enabled.set(records));
    SCOPES
        .try_with(|scopes| {
            let mut scopes = scopes.borrow_mut();
            scopes.push(Scope {
                records,
                alive: true,
            });
            scopes.len() - 1
        })
        .unwrap_or(usize::MAX)
}

/// Ends the scope at `index`; the state becomes the innermost live scope's.
fn leave(index: usize) {
    let innermost = SCOPES.try_with(|scopes| {
        let mut scopes = scopes.borrow_mut();
        if let Some(scope) = scopes.get_mut(index) {
            scope.alive = false;
        }
        while scopes.last().is_some_and(|scope| !scope.alive) {
            scopes.pop();
        }
        scopes.last().is_none_or(|scope| scope.records)
    });
    // Once the stack is gone (thread-local destructors), back to recording.
    ENABLED.with(|enabled| enabled.set(innermost.unwrap_or(true)));
}

/// `true` unless the innermost scope on this thread is a [`no_grad`] one
/// (a `create_graph` backward records even inside `no_grad`, and a
/// `no_grad` inside it builds no graph again).
#[inline]
pub fn is_grad_enabled() -> bool {
    ENABLED.with(Cell::get)
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
/// use autograd_ops::{no_grad, is_grad_enabled};
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
/// let guard = autograd_ops::no_grad();
/// std::thread::spawn(move || drop(guard));
/// ```
#[must_use = "the scope ends when the guard is dropped"]
#[derive(Debug)]
pub struct NoGradGuard {
    /// The scope's place on this thread's stack.
    scope: usize,
    /// Per-thread state: the guard must not move to another thread.
    _not_send: PhantomData<*const ()>,
}

/// Enters a scope without graph building, for as long as the returned guard
/// lives; see [`NoGradGuard`].
///
/// Bind the guard to a name: `let _guard = no_grad();`. Written `let _ =
/// no_grad();` it is dropped at once and the scope ends before the next
/// line, so ops record graphs as before (Rust drops a value bound to `_`
/// at once; `_guard` lives to the end of the block). [`with_no_grad`] takes
/// the scope as a closure and cannot be misused so:
///
/// ```
/// use autograd_ops::{is_grad_enabled, no_grad, with_no_grad, Variable};
///
/// let _ = no_grad(); // dropped at once: no scope
/// assert!(is_grad_enabled());
/// let y = with_no_grad(|| {
///     assert!(!is_grad_enabled());
///     &Variable::scalar(2.0) * &Variable::scalar(3.0)
/// });
/// assert!(y.is_leaf() && is_grad_enabled());
/// ```
#[must_use = "the scope ends when the guard is dropped: bind it to a name, or use with_no_grad"]
pub fn no_grad() -> NoGradGuard {
    NoGradGuard {
        scope: enter(false),
        _not_send: PhantomData,
    }
}

/// Runs `f` without graph building and returns its result: the closure form
/// of [`no_grad`], whose scope is exactly `f`'s body (also when `f` returns
/// early or panics).
pub fn with_no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = no_grad();
    f()
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        leave(self.scope);
    }
}

/// While alive, ops record a graph even inside [`no_grad`] (unless a
/// `no_grad` scope opens inside it): what a `create_graph` backward holds
/// while it runs the ops' variable-level backward.
pub(crate) struct RecordingGuard {
    scope: usize,
    _not_send: PhantomData<*const ()>,
}

impl RecordingGuard {
    pub(crate) fn new() -> Self {
        RecordingGuard {
            scope: enter(true),
            _not_send: PhantomData,
        }
    }
}

impl Drop for RecordingGuard {
    fn drop(&mut self) {
        leave(self.scope);
    }
}

/// While alive, ops on this thread build graphs again, also inside a
/// [`no_grad`] scope or a first-order backward (`torch.enable_grad`): what a
/// checkpoint's recomputation in backward needs. Scopes nest as
/// [`no_grad`]'s do.
///
/// ```
/// use autograd_ops::{enable_grad, is_grad_enabled, no_grad};
///
/// let _off = no_grad();
/// let on = enable_grad();
/// assert!(is_grad_enabled());
/// drop(on);
/// assert!(!is_grad_enabled());
/// ```
#[must_use = "the scope ends when the guard is dropped"]
pub fn enable_grad() -> EnableGradGuard {
    EnableGradGuard {
        _scope: RecordingGuard::new(),
    }
}

/// The guard [`enable_grad`] returns; neither `Send` nor `Sync`.
pub struct EnableGradGuard {
    /// Ends the scope when dropped.
    _scope: RecordingGuard,
}

impl std::fmt::Debug for EnableGradGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnableGradGuard").finish_non_exhaustive()
    }
}
