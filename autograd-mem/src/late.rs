//! State that must outlive a thread's own thread-locals.
//!
//! A thread destroys its thread-locals in an order nobody chooses, so a
//! graph kept in a user's thread-local may be dropped after the engine's
//! state is gone. What such a drop still needs is made here on first use
//! and leaked: it lives in a `const`-initialised thread-local without a
//! destructor, which stays readable to the thread's last destructor.

use std::cell::Cell;
use std::thread::LocalKey;

/// The value behind `key`, made (and leaked) on first use. `key` must be a
/// `const`-initialised thread-local, so that it has no destructor.
#[doc(hidden)]
pub fn leaked_once<T: Default + 'static>(
    key: &'static LocalKey<Cell<Option<&'static T>>>,
) -> &'static T {
    key.with(|late| {
        late.get().unwrap_or_else(|| {
            let value: &'static T = Box::leak(Box::default());
            late.set(Some(value));
            value
        })
    })
}
