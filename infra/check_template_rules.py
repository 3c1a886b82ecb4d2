#!/usr/bin/env python3
"""Shows that the rule in infra/template_rules/no_secret_in_environment.py fails a template whose function
environment carries a secret, and passes template.yaml: each case is template.yaml with one
variable added, linted by cfn-lint with the project's rules. The key-like values are made at
run time, so none is committed.

Usage: python3 infra/check_template_rules.py CFN_LINT
"""
import os
import secrets
import subprocess
import sys
import tempfile

CFN_LINT = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = os.path.join(ROOT, "infra", "template_rules")
TEMPLATE = open(os.path.join(ROOT, "template.yaml"), encoding="utf-8").read()
ANCHOR = "          RUST_LOG: info\n"
assert ANCHOR in TEMPLATE, "template.yaml no longer sets RUST_LOG where this check adds variables"


def lint(extra):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(TEMPLATE.replace(ANCHOR, ANCHOR + extra))
    try:
        run = subprocess.run([CFN_LINT, "--append-rules", RULES, "--", f.name],
                             capture_output=True, text=True)
        return run.stdout + run.stderr
    finally:
        os.unlink(f.name)


key_id = "AKIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
cases = {
    "an access key id": f"          UPSTREAM_ID: {key_id}\n",
    "a random-looking token": f"          UPSTREAM: {secrets.token_urlsafe(30)}x1\n",
    "a PEM block": "          UPSTREAM: \"-----BEGIN PRIVATE" + " KEY-----\\nMIIE\"\n",
    "a secret's name set from a literal": "          CLIENT_SECRET: hunter\n",
    "a secret's name set from a parameter": "          DB_PASSWORD: !Ref SecretPrefix\n",
}
failed = False
for what, extra in cases.items():
    out = lint(extra)
    if "E9101" not in out:
        print(f"template rule: {what} in the environment was not refused:\n{out}")
        failed = True
out = lint("")
if out.strip():
    print(f"template rule: template.yaml itself does not pass:\n{out}")
    failed = True
if failed:
    sys.exit(1)
print(f"== template rule E9101 (no secret in a function's environment): refuses {len(cases)} "
      "kinds of secret, passes template.yaml")
