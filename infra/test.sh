#!/usr/bin/env bash
# The test command: installs the pinned emulators into ignored folders (and Debian's
# chromium when missing), starts them on free loopback ports, runs the whole suite (lint
# included), and stops them whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step is announced with the time the command has run so far, so a run's log says
# where the time goes.
step() { printf '== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# Headless Chromium for tests/api/browser.rs: Debian's package (security-maintained, so
# the version is the distribution's current one; printed below).
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "== $(chromium --version 2>/dev/null | tail -1)"

# The shipped build (fat LTO, one codegen unit) spends most of its time in one thread, and
# the fuzz targets build with another toolchain into fuzz/target: both start now, in the
# background, and fill the cores the emulators' installs and the lint steps leave idle.
# Each writes its own log, printed when the step that needs it waits for it; the release
# build, which the tests wait for, runs ahead of the fuzz build.
mkdir -p target
background() { # name niceness log command...: lower priority, so the steps in front keep their pace
  local name="$1" niceness="$2" log="$3"
  shift 3
  (nice -n "$niceness" "$@" >"$log" 2>&1; echo $? >"$log.rc") &
  echo "== [background] $name"
}
await() { # name log
  local name="$1" log="$2"
  while [ ! -f "$log.rc" ]; do sleep 2; done
  cat "$log"
  if [ "$(cat "$log.rc")" != "0" ]; then
    echo "== $name failed"
    exit 1
  fi
}
rm -f target/release-build.log* target/fuzz-build.log*
step "cargo build --release, in the background (the shipped build, which aborts on a panic: tests/api/abort.rs drives it)"
background "cargo build --release" 5 target/release-build.log cargo build --release --locked --bin connectors
if [ "${FUZZ_SECONDS:-20}" != "0" ]; then
  background "the fuzz targets' build" 15 target/fuzz-build.log bash infra/fuzz.sh build
fi

step "the pinned emulators: installed where missing, started on free loopback ports"
source infra/emulators.sh

step "template.yaml: cfn-lint with the project's rule (no secret in the environment), and checkov"
"$VENV/bin/cfn-lint" --append-rules infra/template_rules -- template.yaml
python3 infra/check_template_rules.py "$VENV/bin/cfn-lint"
bash infra/checkov.sh

step "moto's wrapper checks what AWS checks: presigned URLs' signatures and expiry, session policies (its own motos)"
"$VENV/bin/python" infra/check_moto_wrapper.py

step "events/: writing the GCS multipart event (its throwaway key is never committed)"
python3 infra/make-events.py

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --all-targets --locked --features emulators -- -D warnings
step "waiting for cargo build --release"
await "cargo build --release" target/release-build.log
export CONNECTORS_RELEASE_BIN="$PWD/target/release/connectors"
step "cargo test --features emulators (the hermetic suites and the emulator-backed ones)"
cargo test --locked --all-targets --features emulators 2>&1
step "schemathesis: the generated contract tests against the release binary on the emulators"
bash infra/schemathesis.sh
step "a client generated from infra/openapi.json (openapi-python-client, pinned) drives every operation against the release binary"
bash infra/generated-client.sh
step "the API reference page: rebuilt from infra/openapi.json, compared with docs/reference.html, opened in headless Chromium"
bash infra/reference.sh check
step "fuzz targets, ${FUZZ_SECONDS:-20} s each (skipped where no nightly toolchain is installed, or with FUZZ_SECONDS=0)"
if [ "${FUZZ_SECONDS:-20}" != "0" ]; then
  await "the fuzz targets' build" target/fuzz-build.log
fi
bash infra/fuzz.sh "${FUZZ_SECONDS:-20}"
step "done"
