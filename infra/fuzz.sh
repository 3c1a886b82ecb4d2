#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ (glob, json_bodies, gcs_form), each for SECONDS (default
# 60), starting from the committed seeds in fuzz/corpus/<target>; new inputs go to a
# temporary folder, crashes to fuzz/artifacts/<target>/. cargo fuzz needs a nightly
# toolchain: without one this says so and exits 0, so that the test command still runs.
# The targets are built once, in the dev profile and without a sanitizer: what they look for
# is a panic (the release build aborts on one), which the dev build's overflow and debug
# checks find more often, and the crate has no unsafe code for AddressSanitizer to watch.
# That build takes a third of an optimised AddressSanitizer one on two cores.
# Usage: bash infra/fuzz.sh [SECONDS] [TARGET...]
#        bash infra/fuzz.sh build   (installs cargo-fuzz and builds the targets, runs none:
#                                    the test command does this in the background early)
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_FUZZ_VERSION="0.13.1"
BUILD_ONLY=0
if [ "${1:-}" = "build" ]; then
  BUILD_ONLY=1
  shift
fi
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(glob json_bodies gcs_form)

if [ "$SECONDS_EACH" = "0" ]; then
  echo "== fuzz: skipped (0 seconds asked)"
  exit 0
fi
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "== fuzz: no nightly toolchain here (cargo fuzz needs one); skipped"
  exit 0
fi
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
FLAGS=(--fuzz-dir fuzz --dev --sanitizer none)
build_log="$(mktemp)"
if ! cargo +nightly fuzz build "${FLAGS[@]}" >"$build_log" 2>&1; then
  tail -40 "$build_log"
  echo "fuzz: the targets did not build"
  exit 1
fi
grep -E "Finished" "$build_log" || true
rm -f "$build_log"
[ "$BUILD_ONLY" = "0" ] || exit 0
for target in "${TARGETS[@]}"; do
  found="$(mktemp -d)"
  log="$(mktemp)"
  echo "== fuzz: $target for ${SECONDS_EACH}s"
  status=0
  cargo +nightly fuzz run "${FLAGS[@]}" "$target" "$found" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -max_len=70000 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done|SUMMARY|thread '|.*panicked)" "$log" || true
  rm -rf "$found"
  if [ "$status" -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz: $target failed (a build error above, or a crashing input in fuzz/artifacts/$target/)"
    exit 1
  fi
  rm -f "$log"
done
