#!/usr/bin/env bash
# The API reference page: docs/reference.html, one self-contained file that Redocly's CLI
# builds from infra/openapi.json (Redoc's scripts inlined: no CDN, no network at view time).
#
#   bash infra/reference.sh build   rewrites docs/reference.html (and docs/reference.png)
#   bash infra/reference.sh check   (the test command) builds it afresh, fails when the
#                                   committed page differs, and opens it in headless
#                                   Chromium with the network refused: every operation must
#                                   render, and no request may leave the page.
# Versions are pinned in infra/reference/package-lock.json (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-check}"
stamp=infra/reference/node_modules/.installed-from
if ! cmp -s infra/reference/package-lock.json "$stamp" 2>/dev/null; then
  echo "== installing the reference page's tools (infra/reference/package-lock.json)"
  npm ci --prefix infra/reference --no-audit --no-fund --silent
  cp infra/reference/package-lock.json "$stamp"
fi

# The page forbids itself every network request with a Content-Security-Policy: Redoc's
# scripts and styles are inline, fonts and images are data: URLs, and what Redoc 3 would
# fetch (its attribution logo from Redocly's CDN, and usage traces, which
# REDOCLY_TELEMETRY=off also turns off, for the CLI and the page) is never asked for.
CSP="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:; worker-src blob:"

build() {
  if ! REDOCLY_TELEMETRY=off infra/reference/node_modules/.bin/redocly build-docs infra/openapi.json --inlineBundle \
      --title "VideoVector Connectors API reference" \
      -o "$1" >"$1.log" 2>&1; then
    cat "$1.log"; exit 1
  fi
  rm -f "$1.log"
  python3 - "$1" "$CSP" <<'PY'
import sys
path, csp = sys.argv[1], sys.argv[2]
html = open(path, encoding="utf-8").read()
head = '<meta charset="utf8" />'
if head not in html:
    sys.exit(f"{path}: no {head} to put the Content-Security-Policy after")
tag = f'<meta http-equiv="Content-Security-Policy" content="{csp}" />'
open(path, "w", encoding="utf-8").write(html.replace(head, head + "\n  " + tag, 1))
PY
}

case "$mode" in
  build)
    build docs/reference.html
    node infra/reference/check.mjs docs/reference.html infra/openapi.json docs/reference.png
    ;;
  check)
    mkdir -p target/reference
    build target/reference/reference.html
    if ! cmp -s target/reference/reference.html docs/reference.html; then
      echo "docs/reference.html is not built from the current infra/openapi.json: run bash infra/reference.sh build"
      exit 1
    fi
    node infra/reference/check.mjs docs/reference.html infra/openapi.json target/reference/reference.png
    ;;
  *)
    echo "usage: bash infra/reference.sh [build|check]"; exit 2 ;;
esac
