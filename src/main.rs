//! The one binary: Lambda under the Lambda runtime, `serve` locally, `keys` for operators.

/// mimalloc rather than the system allocator: a request allocates and frees many small
/// strings, often on different worker threads (see `docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    connectors::cli::run().await
}
