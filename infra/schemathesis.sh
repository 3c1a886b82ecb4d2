#!/usr/bin/env bash
# schemathesis against the release binary on the emulators, with live fixtures (see
# infra/schemathesis.py). Run by infra/test.sh after the suite, with the emulators that
# infra/emulators.sh started; on its own: `source infra/emulators.sh; bash infra/schemathesis.sh`
# (builds the release binary first if CONNECTORS_RELEASE_BIN is not set). After schemathesis's
# own output it prints, per operation, how many requests generated as valid were accepted
# (2xx) and rejected (4xx) and what they were rejected as, then the warnings it raised; its
# reports (JUnit, JSON, NDJSON) and caches are in target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="4.32.5"
ST_VENV=".venv-schemathesis"
if [ "$("$ST_VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $ST_VENV"
  python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install --quiet --disable-pip-version-check \
    -c infra/schemathesis-constraints.txt "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ -z "${CONNECTORS_RELEASE_BIN:-}" ]; then
  cargo build --release --locked --bin connectors
  CONNECTORS_RELEASE_BIN="$PWD/target/release/connectors"
fi
"${VENV:-.venv}/bin/python" infra/schemathesis.py "$CONNECTORS_RELEASE_BIN" "$ST_VENV/bin/schemathesis"
