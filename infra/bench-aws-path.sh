#!/usr/bin/env bash
# The AWS-path benchmark: starts the pinned emulators (as the test command does), builds the
# release binary, and runs `cargo bench --bench aws_path -- [parts]` (latency, cold-start,
# memory, concurrency, roles, keyless; all by default). The memory part puts 100,000 objects into moto's S3 first.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/emulators.sh
cargo build --release --locked
BIN_DIR="$(mktemp -d)"
trap 'rm -rf "$BIN_DIR"; cleanup' EXIT
# A copy: `cargo bench` rebuilds target/release with the bench profile's symbols.
cp target/release/connectors "$BIN_DIR/connectors"
export CONNECTORS_RELEASE_BIN="$BIN_DIR/connectors"
export BENCH_PYTHON="$PWD/$VENV/bin/python"
cargo bench --locked --bench aws_path -- "$@"
