//! The cross-crate tests: one module per promise of the README's
//! Guarantees table, in one test binary (one link of the workspace, not
//! one per promise). Run one promise with `cargo test -p autograd-tests
//! --test guarantees no_leaks::`, one test with its full path.
//!
//! The binary counts its heap ([`CountingAlloc`]): the memory promises
//! measure per thread, so that tests running side by side do not see each
//! other's allocations.

use autograd_testkit::alloc::CountingAlloc;

#[global_allocator]
static HEAP: CountingAlloc<std::alloc::System> = CountingAlloc(std::alloc::System);

mod all_or_nothing;
mod bad_input;
mod budget;
mod concurrency;
mod gradients;
mod needed_gradients;
mod no_grad;
mod no_leaks;
mod no_stack_overflow;
mod recurrent;
mod second_cycle;
mod thread_exit;
mod training;
mod value_memory;
