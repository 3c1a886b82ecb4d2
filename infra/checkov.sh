#!/usr/bin/env bash
# checkov (pinned) on template.yaml, as a customer's security team would run it: fails on
# any failed check, and on a skip without a reason. Skips live in the template itself
# (`Metadata: checkov: skip:`), never on this command line. checkov gets a venv of its own,
# .venv-checkov: it pins boto3==1.35.49, which moto's set (.venv) cannot share.
# Usage: bash infra/checkov.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOV_VERSION="3.3.30"
VENV=".venv-checkov"
if [ "$("$VENV/bin/pip" show checkov 2>/dev/null | sed -n 's/^Version: //p')" != "$CHECKOV_VERSION" ]; then
  started=$SECONDS
  echo "== installing checkov $CHECKOV_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    -c infra/checkov-constraints.txt "checkov==$CHECKOV_VERSION"
  echo "== checkov installed in $((SECONDS - started)) s"
fi
report="$(mktemp)"
# --skip-download: no call to Prisma Cloud for guidelines; the checks are all local.
status=0
"$VENV/bin/checkov" -f template.yaml --framework cloudformation --skip-download \
  --output json >"$report" 2>/dev/null || status=$?
python3 - "$report" "$status" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
results = report["results"]
summary = report["summary"]
failed = results.get("failed_checks", [])
for check in failed:
    print(f"checkov: {check['check_id']} failed for {check['resource']}: {check['check_name']}")
unexplained = [s for s in results.get("skipped_checks", [])
               if not (s.get("check_result", {}).get("suppress_comment") or "").strip()]
for s in unexplained:
    print(f"checkov: {s['check_id']} is skipped for {s['resource']} without a reason")
for s in results.get("skipped_checks", []):
    print(f"   skipped {s['check_id']} ({s['resource']}): {s['check_result']['suppress_comment']}")
reasons = f"{len(unexplained)} without a reason" if unexplained else "each with its reason"
print(f"== checkov {summary.get('checkov_version', '')}: {summary['passed']} passed, "
      f"{summary['failed']} failed, {summary['skipped']} skipped ({reasons})")
if summary.get("parsing_errors"):
    print(f"checkov: {summary['parsing_errors']} parsing errors in template.yaml")
if failed or unexplained or summary.get("parsing_errors") or (sys.argv[2] != "0" and not failed):
    sys.exit(1)
PY
rm -f "$report"
