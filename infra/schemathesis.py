#!/usr/bin/env python3
"""Runs schemathesis against the real binary, on the emulators, with live fixtures.

1. Mints an admin key on a fresh data directory and starts `connectors serve` on a free
   loopback port, reaching moto's S3, fake-gcs-server and Azurite (rate limits off, so the
   run measures the contract rather than the limiter).
2. Makes the fixtures a customer would have: a bucket with objects in moto and in
   fake-gcs-server, a container with blobs in Azurite, one connector on each (created over
   the API, so they are real records with real stored credentials), the same again for PATCH
   to change, S3 connectors for DELETE to take, and service-account keys that sign (for the
   GCS create's key file and a PATCH's `credentials_json`, which no schema can describe).
3. Runs `schemathesis run infra/openapi.json` with every check (infra/schemathesis.toml),
   prints per operation how many of the requests generated as valid the service accepted
   (2xx) and rejected (4xx), from schemathesis's own counts in its JSON report, and fails
   unless it passed and generated at least MIN_CASES cases.

Usage (with the variables infra/emulators.sh exports, and the schemathesis CLI to use):
    python infra/schemathesis.py BINARY SCHEMATHESIS_CLI
Environment: SCHEMATHESIS_MAX_EXAMPLES (per operation and phase, default 60),
SCHEMATHESIS_SEED (default: a random one, printed).
"""

import base64
import collections
import json
import os
import pathlib
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import boto3
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = pathlib.Path(__file__).resolve().parent.parent
MIN_CASES = 1000
S3_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AZURE_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AZURE_CLIENT = "0c8a4e7e-2b1d-4b8e-9d2e-5f6a7b8c9d0e"
AZURITE_ACCOUNT = "devstoreaccount1"
OBJECTS = ["incoming/2026/04/a.mp4", "incoming/2026/04/b.mov", "incoming/notes.txt", "top.mp4"]


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run this from infra/schemathesis.sh after infra/emulators.sh")
    return value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh(prefix):
    return f"{prefix}-{secrets.token_hex(6)}"


def s3_bucket():
    s3 = boto3.client(
        "s3",
        endpoint_url=env("MOTO_ENDPOINT"),
        region_name="us-east-1",
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    )
    name = fresh("schemathesis")
    s3.create_bucket(Bucket=name)
    for key in OBJECTS:
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    return name


def gcs_bucket():
    endpoint = env("FAKE_GCS_ENDPOINT")
    name = fresh("schemathesis")
    requests.post(f"{endpoint}/storage/v1/b", json={"name": name}, timeout=10).raise_for_status()
    for key in OBJECTS:
        requests.post(
            f"{endpoint}/upload/storage/v1/b/{name}/o",
            params={"uploadType": "media", "name": key},
            data=key.encode(),
            timeout=10,
        ).raise_for_status()
    return name


def azure_headers():
    """Azurite's headers for the fixtures' service principal."""
    token = requests.post(
        f"{env('AZURE_TOKEN_ENDPOINT')}/{AZURE_TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": AZURE_CLIENT,
            "client_secret": env("TOKEN_ENDPOINT_CLIENT_SECRET"),
            "scope": "https://storage.azure.com/.default",
        },
        timeout=10,
        verify=env("SSL_CERT_FILE"),
    )
    token.raise_for_status()
    return {
        "Authorization": f"Bearer {token.json()['access_token']}",
        "x-ms-version": "2025-01-05",
    }


def azure_container():
    headers = azure_headers()
    name = fresh("schemathesis")
    base = f"{env('AZURITE_BLOB_ENDPOINT')}/{AZURITE_ACCOUNT}/{name}"
    requests.put(
        f"{base}?restype=container", headers=headers, timeout=10, verify=env("SSL_CERT_FILE")
    ).raise_for_status()
    for key in OBJECTS:
        requests.put(
            f"{base}/{urllib.parse.quote(key)}",
            headers={**headers, "x-ms-blob-type": "BlockBlob"},
            data=key.encode(),
            timeout=10,
            verify=env("SSL_CERT_FILE"),
        ).raise_for_status()
    return name


def azure_bind(container, account):
    """Binds a container to an account, as its owner does for a keyless connector."""
    requests.put(
        f"{env('AZURITE_BLOB_ENDPOINT')}/{AZURITE_ACCOUNT}/{container}?restype=container&comp=metadata",
        headers={**azure_headers(), "x-ms-meta-videovector_account": account},
        timeout=10,
        verify=env("SSL_CERT_FILE"),
    ).raise_for_status()


def service_account_key():
    """A service-account key file (bytes of JSON) whose private key signs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "schemathesis-fixtures",
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": "fixtures@schemathesis-fixtures.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    ).encode()


def dictionary(values):
    """A schemathesis dictionary file: one quoted entry a line, in libFuzzer's escapes."""
    def quoted(value):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"\n'
    return "".join(quoted(v) for v in values)


class Server:
    """The release binary serving a fresh data directory."""

    def __init__(self, binary):
        self.dir = tempfile.TemporaryDirectory(prefix="schemathesis-")
        data = self.dir.name
        minted = subprocess.run(
            [binary, "--data-dir", data, "keys", "create", "--tenant", "schemathesis",
             "--scopes", "admin"],
            check=True, capture_output=True, text=True,
        ).stdout
        match = re.search(r"^key:\s+(\S+)$", minted, re.MULTILINE)
        if not match:
            sys.exit(f"no key in the output of `keys create`: {minted}")
        self.key = match.group(1)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = open(pathlib.Path(data) / "server.log", "w")
        self.process = subprocess.Popen(
            [binary, "--data-dir", data, "serve", "--bind", self.url.removeprefix("http://")],
            env={
                **os.environ,
                "PROVIDER_S3_ENDPOINT_URL": env("MOTO_ENDPOINT"),
                "PROVIDER_GCS_ENDPOINT_URL": env("FAKE_GCS_ENDPOINT"),
                "PROVIDER_AZURE_ENDPOINT_URL": env("AZURITE_BLOB_ENDPOINT"),
                "PROVIDER_AZURE_AUTHORITY_HOST": env("AZURE_TOKEN_ENDPOINT"),
                # Google's OAuth and STS for GCS credentials: the token stand-in.
                "PROVIDER_GCS_OAUTH_TOKEN_URL": f"{env('AZURE_TOKEN_ENDPOINT')}/google/token",
                "PROVIDER_GCS_STS_TOKEN_URL": f"{env('AZURE_TOKEN_ENDPOINT')}/google/v1/token",
                # The principal customers' roles trust (else STS would be asked), and the
                # STS that role connectors' roles are assumed through: moto, which checks
                # nothing here, so a role connector's test finds that any caller may assume
                # its role (`external_id_not_enforced`).
                "SERVICE_PRINCIPAL_ARN": "arn:aws:iam::111122223333:role/videovector-connectors-access",
                "AWS_ENDPOINT_URL_STS": env("MOTO_ENDPOINT"),
                # The keys the Google STS stand-in trusts (infra/emulators.sh), so that
                # keyless GCS connectors federate; moto's STS takes any.
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "AKIASCHEMATHESIS0000"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "schemathesis"),
                "AWS_REGION": "us-east-1",
                # Keyless GCS: the federation and the service accounts the stand-ins trust.
                "GCS_WORKLOAD_IDENTITY_AUDIENCE": env("GOOGLE_WIF_AUDIENCE"),
                "GCS_SERVICE_ACCOUNTS": env("GOOGLE_IMPERSONABLE"),
                "PROVIDER_GCS_IAM_CREDENTIALS_URL": f"{env('AZURE_TOKEN_ENDPOINT')}/google/iam",
                # Keyless Azure: the app the token stand-in's federated credential names.
                "AZURE_IDENTITY_CLIENT_ID": env("AZURE_IDENTITY_CLIENT_ID"),
                "RATE_LIMIT_TESTS_PER_MINUTE": "0",
                "RATE_LIMIT_BROWSES_PER_MINUTE": "0",
                "RATE_LIMIT_CREATES_PER_MINUTE": "0",
                "RATE_LIMIT_ACCESS_PER_MINUTE": "0",
                "RUST_LOG": "warn",
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            try:
                requests.get(f"{self.url}/api/v2/openapi.json", timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        sys.exit("the server did not start")

    def create(self, provider, **kwargs):
        r = requests.post(
            f"{self.url}/api/v2/connectors/{provider}",
            headers={"X-API-Key": self.key},
            timeout=30,
            **kwargs,
        )
        if r.status_code != 201:
            sys.exit(f"fixture {provider}: {r.status_code} {r.text}")
        return r.json()["connector_id"]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def log_tail(self):
        return (pathlib.Path(self.dir.name) / "server.log").read_text()[-4000:]


def fixtures(server):
    """Connectors on live buckets (an S3 one with keys, one with a role), the same for PATCH,
    S3 connectors for DELETE to take, and keys that sign for what GCS keys the run sends."""
    both = ["import", "export"]

    def live(label):
        return [
            server.create("s3", json={
                "name": f"{label} S3", "bucket": s3_bucket(), "region": "us-east-1",
                "aws_access_key_id": S3_KEY_ID, "aws_secret_access_key": S3_SECRET,
                "scopes": both, "export_base_path": "exports/"}),
            server.create("gcs", data={"name": f"{label} GCS", "bucket": gcs_bucket(),
                                       "scopes": both},
                          files={"credentials_file": ("key.json", service_account_key())}),
            server.create("azure", json={
                "name": f"{label} Azure", "storage_account": AZURITE_ACCOUNT,
                "container": azure_container(), "tenant_id": AZURE_TENANT,
                "client_id": AZURE_CLIENT, "client_secret": env("TOKEN_ENDPOINT_CLIENT_SECRET"),
                "scopes": both}),
            server.create("s3", json={
                "name": f"{label} S3 role", "bucket": s3_bucket(), "region": "us-east-1",
                "role_arn": "arn:aws:iam::111122223333:role/VideoVectorAccess",
                "scopes": both, "export_base_path": "exports/"}),
        ]

    ids = live("Fixture")
    # PATCH changes what it is given (scopes, status, credentials): its own connectors, so
    # that browse and test keep reading the ones above as they were made.
    patchable = live("Patchable")
    deletable = [
        server.create("s3", json={
            "name": f"Deletable {n}", "bucket": "schemathesis-deletable", "region": "us-east-1",
            "aws_access_key_id": S3_KEY_ID, "aws_secret_access_key": S3_SECRET})
        for n in range(8)
    ]
    # Made for this run, never committed: the GCS create's key file, and the private key a
    # PATCH's `credentials_json` carries.
    key_files = [service_account_key().decode() for _ in range(2)]
    out = ROOT / "target" / "schemathesis"
    out.mkdir(parents=True, exist_ok=True)
    for name, values in [
        ("connectors", ids),
        ("patchable", patchable),
        ("deletable", deletable),
        ("gcs-key-files", key_files),
        ("gcs-private-keys", [json.loads(k)["private_key"] for k in key_files]),
    ]:
        (out / f"{name}.dict").write_text(dictionary(values))
    return ids


def rejections(events):
    """Per operation, the error codes of the 4xx answers to requests generated as valid
    (schemathesis's NDJSON events), `validation_error` with the first field it names."""
    found = collections.defaultdict(collections.Counter)
    if not events.exists():
        return found
    with events.open(encoding="utf-8") as lines:
        for line in lines:
            scenario = json.loads(line).get("ScenarioFinished")
            if not scenario:
                continue
            recorder = scenario["recorder"]
            for case_id, node in (recorder.get("cases") or {}).items():
                meta = node["value"].get("meta") or {}
                if (meta.get("generation") or {}).get("mode") != "positive":
                    continue
                response = (recorder["interactions"].get(case_id) or {}).get("response")
                if not response or not 400 <= response["status_code"] < 500:
                    continue
                if response["status_code"] in (401, 403, 429):
                    continue
                try:
                    error = json.loads(base64.b64decode(response["content"]["$base64"]))["error"]
                    fields = (error.get("details") or {}).get("fields") or []
                    code = error["code"] + (f" ({fields[0]['field']})" if fields else "")
                except (KeyError, TypeError, ValueError, IndexError):
                    code = str(response["status_code"])
                found[recorder["label"]][code] += 1
    return found


def summary(report, events):
    """Prints, per operation, the requests generated as valid that the service accepted and
    rejected (schemathesis's counts, from its JSON report), and what the run warned of."""
    run = json.loads(report.read_text(encoding="utf-8"))
    reasons = rejections(events)
    print("== requests generated as valid, per operation: accepted (2xx) / rejected (4xx: 404,"
          " 409, other); auth failures, 429s and 5xx counted in neither")
    for label, phases in sorted((run.get("valid_rates") or {}).items()):
        total = collections.Counter()
        for counts in phases.values():
            total.update(counts)
        rejected = total["unreachable"] + total["conflicts"] + total["rejected"]
        by_phase = ", ".join(
            f"{phase} {c['accepted']}/{c['unreachable'] + c['conflicts'] + c['rejected']}"
            for phase, c in phases.items())
        print(f"   {label:<45} {total['accepted']:>4} accepted / {rejected:>4} rejected"
              f" ({total['unreachable']}, {total['conflicts']}, {total['rejected']})"
              f"   [{by_phase}]")
        common = reasons.get(label)
        if common:
            print("      rejected as: " + ", ".join(f"{code} {n}" for code, n in common.most_common(4)))
    warned = {kind: labels for kind, labels in (run.get("warnings") or {}).items() if labels}
    print("== schemathesis warnings: " + ("; ".join(
        f"{kind} ({', '.join(labels)})" for kind, labels in sorted(warned.items())) or "none"))
    return run


def main():
    # Absolute: schemathesis runs from target/schemathesis.
    binary, cli = sys.argv[1], str(pathlib.Path(sys.argv[2]).resolve())
    server = Server(binary)
    try:
        ids = fixtures(server)
        print(f"== fixtures: {', '.join(ids)} (S3, GCS, Azure, S3 with a role) and 8 connectors to delete")
        seed = os.environ.get("SCHEMATHESIS_SEED") or str(random.randrange(1, 2**31))
        reports = ROOT / "target" / "schemathesis"
        command = [
            cli, "--config-file", str(ROOT / "infra" / "schemathesis.toml"),
            "run", str(ROOT / "infra" / "openapi.json"),
            "--url", server.url,
            "--checks", "all",
            "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "60"),
            "--seed", seed,
            # One worker: CPython 3.11's parser is not thread-safe under hypothesis's
            # lambda descriptions ("AST constructor recursion depth mismatch").
            "--workers", "1",
            "--report", "junit,json,ndjson",
            "--report-junit-path", str(reports / "junit.xml"),
            "--report-json-path", str(reports / "run.json"),
            "--report-ndjson-path", str(reports / "events.ndjson"),
        ]
        for stale in ["run.json", "events.ndjson"]:
            (reports / stale).unlink(missing_ok=True)
        print("== " + " ".join(command[1:]))
        # From target/schemathesis, where schemathesis and hypothesis keep their caches
        # (`.schemathesis/`, `.hypothesis/`), out of the checkout.
        # infra/schemathesis_hooks.py drops the one failure the document's byte bounds
        # cannot avoid (see there).
        hooks = {"SCHEMATHESIS_HOOKS": str(ROOT / "infra" / "schemathesis_hooks.py")}
        run = subprocess.run(command, env={**os.environ, **hooks, "SCHEMATHESIS_API_KEY": server.key},
                             capture_output=True, text=True, cwd=reports)
        print(run.stdout[-20000:])
        print(run.stderr[-4000:], file=sys.stderr)
        generated = 0
        if (reports / "run.json").exists():
            generated = summary(reports / "run.json", reports / "events.ndjson")["test_cases"]["generated"]
        else:
            cases = re.search(r"(\d+) generated", run.stdout)
            generated = int(cases.group(1)) if cases else 0
        print(f"== schemathesis generated {generated} cases (seed {seed}); at least {MIN_CASES} required")
        if run.returncode != 0 or generated < MIN_CASES:
            print("== the server's log, last lines:\n" + server.log_tail())
            sys.exit(1)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
