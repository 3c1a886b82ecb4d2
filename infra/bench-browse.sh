#!/usr/bin/env bash
# The browse benchmark: starts the pinned emulators (as the test command does), then runs
# `cargo bench --bench browse_listing`, which puts 100,000 objects into moto's S3 and into
# fake-gcs-server and compares browsing them through the service with a raw listing.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/emulators.sh
cargo bench --locked --bench browse_listing
