#!/usr/bin/env python3
"""Writes events/: one API Gateway HTTP API (payload 2.0) event per endpoint and per
interesting case, numbered in the order tests/api/lambda_events.rs replays them.

The events name a fixture the replay test sets up first: tenant `acme` with an admin key,
tenant `globex` with a read key, and connector FIXTURE_ID of acme on an S3 bucket.
The GCS key file inside 03-create-gcs-multipart.json is a throwaway RSA key generated on
each run, so that no private key is ever committed: that one event is not in git, and the
test command writes it before the suite runs.
Run: python3 infra/make-events.py  (needs openssl)
"""
import base64
import json
import pathlib
import subprocess

ACME_KEY = "sk_live_example_acme_admin_events_0000000001"
GLOBEX_KEY = "sk_live_example_globex_read_events_000000001"
FIXTURE_ID = "conn_01jd8x0k6m3q4r5s6t7v8w9xyz"
HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"
OUT = pathlib.Path(__file__).resolve().parent.parent / "events"


def event(method, path, key=ACME_KEY, body=None, query="", headers=None, b64=False):
    h = {"host": HOST, "user-agent": "curl/8.5.0", "accept": "application/json"}
    if key:
        h["x-api-key"] = key
    if body is not None and not b64:
        h["content-type"] = "application/json"
    h.update(headers or {})
    e = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": h,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "domainName": HOST,
            "domainPrefix": "abc123defg",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "Ev7ntAbCdEfGhIjK=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795428000000,
        },
        "isBase64Encoded": b64,
    }
    if query:
        e["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if body is not None:
        e["body"] = body if isinstance(body, str) else json.dumps(body)
    return e


def service_account(private_key):
    return json.dumps({
        "type": "service_account",
        "project_id": "media-prod-1",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": private_key,
        "client_email": "importer@media-prod-1.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    })


def multipart(boundary, fields, key_file):
    out = b""
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"credentials_file\"; "
            "filename=\"key.json\"\r\nContent-Type: application/json\r\n\r\n").encode()
    out += key_file.encode() + b"\r\n" + f"--{boundary}--\r\n".encode()
    return base64.b64encode(out).decode()


def main():
    pem = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        check=True, capture_output=True, text=True).stdout
    boundary = "----videovector-events"
    gcs_fields = [("name", "Media GCS"), ("bucket", "media_archive"),
                  ("scopes", "import"), ("scopes", "export"), ("export_base_path", "exports")]
    mp = {"content-type": f"multipart/form-data; boundary={boundary}"}
    conn = f"/api/v2/connectors/{FIXTURE_ID}"
    events = {
        "01-create-s3": event("POST", "/api/v2/connectors/s3", body={
            "name": "Archive S3", "bucket": "media-archive", "region": "eu-west-1",
            "aws_access_key_id": "ASIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "scopes": ["import", "export"], "export_base_path": "exports/videovector"},
            headers={"idempotency-key": "events-create-s3"}),
        "02-create-azure": event("POST", "/api/v2/connectors/azure", body={
            "name": "Footage", "storage_account": "mediastore01", "container": "raw-footage",
            "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "client_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "client_secret": "example-client-secret-value", "scopes": ["import"]}),
        "03-create-gcs-multipart": event(
            "POST", "/api/v2/connectors/gcs", headers=mp, b64=True,
            body=multipart(boundary, gcs_fields, service_account(pem))),
        "04-create-gcs-bad-key": event(
            "POST", "/api/v2/connectors/gcs", headers=mp, b64=True,
            body=multipart(boundary, gcs_fields, service_account("not a key"))),
        "05-create-invalid-bucket": event("POST", "/api/v2/connectors/s3", body={
            "name": "Bad", "bucket": "Not_A_Bucket", "region": "eu-west-1",
            "aws_access_key_id": "ASIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}),
        "06-list": event("GET", "/api/v2/connectors"),
        "07-list-filtered": event("GET", "/api/v2/connectors", query="provider=gcs&limit=10"),
        "08-get": event("GET", conn),
        "09-get-foreign-tenant": event("GET", conn, key=GLOBEX_KEY),
        "10-patch": event("PATCH", conn, body={"name": "Archive (renamed)"},
                          headers={"if-match": "\"1\""}),
        "11-patch-stale-if-match": event("PATCH", conn, body={"name": "Too late"},
                                         headers={"if-match": "\"1\""}),
        "12-test": event("POST", f"{conn}/test"),
        "13-browse": event("POST", f"{conn}/browse", body={
            "prefix": "footage/", "pattern": "*.mp4", "recursive": True}),
        "14-read-key-may-not-delete": event("DELETE", conn, key=GLOBEX_KEY),
        "15-unauthenticated": event("GET", "/api/v2/connectors", key=None),
        "16-unknown-route": event("GET", "/api/v2/nothing-here"),
        "17-wrong-method": event("PUT", conn),
        "18-malformed-json": event("POST", "/api/v2/connectors/s3", body="{\"name\": "),
        "19-delete": event("DELETE", conn),
        "20-get-deleted": event("GET", conn),
    }
    OUT.mkdir(exist_ok=True)
    for name, e in events.items():
        (OUT / f"{name}.json").write_text(json.dumps(e, indent=2) + "\n")


if __name__ == "__main__":
    main()
