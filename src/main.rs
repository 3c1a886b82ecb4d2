//! The one binary: Lambda under the Lambda runtime, `serve` locally, `keys` for operators.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    connectors::cli::run().await
}
