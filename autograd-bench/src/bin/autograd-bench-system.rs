//! The main job on the system allocator (glibc's `malloc` on Linux, with its
//! defaults), whatever the features: what a user who sets no global
//! allocator gets. `autograd-bench --compare-allocators` runs it beside
//! itself.

use std::process::ExitCode;

use autograd_bench::alloc::CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc<std::alloc::System> = CountingAlloc(std::alloc::System);

fn main() -> ExitCode {
    autograd_bench::cli::main("system")
}
