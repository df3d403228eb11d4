//! `ivmd`: the box. See `ivmd --help`.

/// jemalloc with background purging instead of glibc's malloc (issue 10, item 7). Under
/// glibc, what a burst freed stayed with the process: 300 concurrent `*7` recordings left ivmd
/// at 213 MB afterwards against 63 MB at rest, and 1,000 closed web sessions gave nothing
/// back. glibc returns memory only from the top of each arena (one arena per thread that ever
/// allocated, up to 8 per core) and, after large buffers are freed, raises its mmap threshold
/// so later ones come from the arenas too. jemalloc's background thread (the
/// `background_threads` feature) returns freed pages to the system over about ten seconds
/// (`dirty_decay_ms`) even when the box is idle afterwards, which a purge on the next
/// allocation alone would not. Measured with `scripts/bench-memory`: docs/benchmarks.md,
/// "Memory".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    ivm_appliance::cli::main()
}
