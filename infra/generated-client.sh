#!/usr/bin/env bash
# A client generated from the committed infra/openapi.json, as integrators generate theirs,
# driving every operation of the document against the release binary on the emulators (see
# infra/generated_client.py). The generator is openapi-python-client, pinned with its
# dependencies in infra/generated-client-constraints.txt and installed into ./.venv-client;
# the client is generated into a temporary directory, installed into that venv, and never
# kept. Run by the test command with the emulators infra/emulators.sh started; on its own:
# `source infra/emulators.sh; bash infra/generated-client.sh` (builds the release binary
# first when CONNECTORS_RELEASE_BIN is not set and target/release/connectors is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

GENERATOR_VERSION="0.29.1"
CLIENT_VENV=".venv-client"
CONSTRAINTS="infra/generated-client-constraints.txt"
PACKAGE="connectors_client"
started=$SECONDS

# Reinstalled whenever the constraints change (the copy in the venv says what it holds).
if ! cmp -s "$CONSTRAINTS" "$CLIENT_VENV/constraints.txt"; then
  echo "== installing openapi-python-client $GENERATOR_VERSION into $CLIENT_VENV"
  rm -rf "$CLIENT_VENV"
  python3 -m venv "$CLIENT_VENV"
  # Beside the generator: what the driver's fixtures import (infra/schemathesis.py's
  # helpers: boto3, requests, cryptography), and what installs the generated setup.py.
  "$CLIENT_VENV/bin/pip" install --quiet --disable-pip-version-check -c "$CONSTRAINTS" \
    "openapi-python-client==$GENERATOR_VERSION" boto3 requests cryptography setuptools wheel
  cp "$CONSTRAINTS" "$CLIENT_VENV/constraints.txt"
fi

BIN="${CONNECTORS_RELEASE_BIN:-target/release/connectors}"
if [ -z "${CONNECTORS_RELEASE_BIN:-}" ] && [ ! -x "$BIN" ]; then
  cargo build --release --locked --bin connectors
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A fixed package name, whatever the document's title; the generator's own post-hooks
# (ruff, one of its dependencies) run from the venv.
cat >"$work/config.json" <<EOF
{"project_name_override": "connectors-client", "package_name_override": "$PACKAGE"}
EOF
echo "== openapi-python-client $GENERATOR_VERSION: generating a client from infra/openapi.json"
PATH="$PWD/$CLIENT_VENV/bin:$PATH" "$CLIENT_VENV/bin/openapi-python-client" generate \
  --path infra/openapi.json --config "$work/config.json" --meta setup \
  --output-path "$work/connectors-client" --fail-on-warning
# Offline: the generated client's dependencies (httpx, attrs) are the generator's own.
"$CLIENT_VENV/bin/pip" uninstall --quiet --disable-pip-version-check --yes connectors-client \
  >/dev/null 2>&1 || true
"$CLIENT_VENV/bin/pip" install --quiet --disable-pip-version-check --no-index \
  --no-build-isolation -c "$CONSTRAINTS" "$work/connectors-client"

status=0
"$CLIENT_VENV/bin/python" infra/generated_client.py "$BIN" "$PACKAGE" || status=$?
"$CLIENT_VENV/bin/pip" uninstall --quiet --disable-pip-version-check --yes connectors-client \
  >/dev/null 2>&1 || true
echo "== generated client: $((SECONDS - started)) s (install, generate, run)"
exit "$status"
