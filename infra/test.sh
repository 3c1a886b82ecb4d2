#!/usr/bin/env bash
# The test command: installs the pinned emulators into ignored folders, starts them on free
# loopback ports, runs the whole suite (lint included), and stops them whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.5"
CFN_LINT_VERSION="1.58.0"
CARGO_LAMBDA_VERSION="1.9.2"
VENV=".venv"

installed() { "$VENV/bin/pip" show "$1" 2>/dev/null | grep -qx "Version: $2"; }
if ! installed moto "$MOTO_VERSION" || ! installed cfn-lint "$CFN_LINT_VERSION" \
  || ! installed cargo-lambda "$CARGO_LAMBDA_VERSION"; then
  echo "== installing moto[server]==$MOTO_VERSION, cfn-lint==$CFN_LINT_VERSION and cargo-lambda==$CARGO_LAMBDA_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    -c infra/python-constraints.txt "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
    "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
# cargo-lambda is a cargo subcommand: the suite runs `cargo lambda watch` and `invoke`.
export PATH="$PWD/$VENV/bin:$PATH"

echo "== cfn-lint template.yaml"
"$VENV/bin/cfn-lint" template.yaml

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

LOGS="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

MOTO_PORT="$(free_port)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$LOGS/moto.log" 2>&1 &
PIDS+=($!)
export MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
for _ in $(seq 1 100); do
  if curl -fsS "$MOTO_ENDPOINT/moto-api/" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "$MOTO_ENDPOINT/moto-api/" >/dev/null || { echo "moto did not start:"; cat "$LOGS/moto.log"; exit 1; }
echo "== moto listening on $MOTO_ENDPOINT"

echo "== events/: writing the GCS multipart event (its throwaway key is never committed)"
python3 infra/make-events.py

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --locked --all-targets 2>&1
