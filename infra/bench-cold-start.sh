#!/usr/bin/env bash
# Cold start, binary and zip sizes: builds the release binary, packages it as Lambda's
# `bootstrap` in a zip, and runs infra/bench_cold_start.py against it and a boto3 handler.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=".venv"
BOTO3_VERSION="$(grep -E '^boto3==' infra/python-constraints.txt | cut -d= -f3)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" show boto3 >/dev/null 2>&1 || "$VENV/bin/pip" install --quiet "boto3==$BOTO3_VERSION"

cargo build --release --locked
BIN="target/release/connectors"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp "$BIN" "$WORK/bootstrap"
(cd "$WORK" && "$OLDPWD/$VENV/bin/python" -c 'import zipfile; z = zipfile.ZipFile("bootstrap.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9); z.write("bootstrap"); z.close()')
echo "stripped binary: $(stat -c %s "$BIN") bytes ($(uname -m)); zip: $(stat -c %s "$WORK/bootstrap.zip") bytes"
"$VENV/bin/python" infra/bench_cold_start.py "$BIN" "$VENV/bin/python" "${1:-15}"
