//! The main job: the seed's experiment (DeZero step 17, section 17.5) at
//! scale, under every ownership strategy side by side, with the report's
//! other sections. `cargo run --release -p autograd-bench -- --help` lists
//! the options.

use std::process::ExitCode;

use autograd_bench::alloc::CountingAlloc;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: CountingAlloc<mimalloc::MiMalloc> = CountingAlloc(mimalloc::MiMalloc);
#[cfg(feature = "mimalloc")]
const ALLOCATOR: &str = "mimalloc";

#[cfg(not(feature = "mimalloc"))]
#[global_allocator]
static GLOBAL: CountingAlloc<std::alloc::System> = CountingAlloc(std::alloc::System);
#[cfg(not(feature = "mimalloc"))]
const ALLOCATOR: &str = "system";

fn main() -> ExitCode {
    autograd_bench::cli::main(ALLOCATOR)
}
