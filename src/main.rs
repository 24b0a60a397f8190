//! The `lodestar` binary: a thin front over the library's CLI.

// The request path allocates many small, short-lived buffers; mimalloc serves them with less
// CPU than glibc malloc (measured in benches/proxy_load.rs).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lodestar::process_memory::avoid_huge_pages();
    lodestar::cli::main()
}
