#!/usr/bin/env python3
"""Drives every operation of infra/openapi.json through a client that openapi-python-client
generated from it, against the real binary on the emulators.

1. Mints an admin key on a fresh data directory and starts `connectors serve` on a free
   loopback port, reaching moto's S3, fake-gcs-server and Azurite (infra/schemathesis.py's
   `Server`), and checks that it serves the committed document the client was made from.
2. Makes a bucket with objects in moto and in fake-gcs-server and a container with blobs in
   Azurite (infra/schemathesis.py's helpers), then, through the generated client only:
   creates an S3, a GCS (multipart, with a freshly generated service-account key file) and
   an Azure connector, lists, gets, updates, tests and browses them, asks the S3 role
   setup, deletes them, reads the S3 connector's history after its delete, and reads
   a 404, a 400 and a 422 as the error envelope.
3. Prints one line per operation of the document with what it answered, and fails unless
   each was driven and answered as expected.

Usage (with the variables infra/emulators.sh exports; the generated client installed):
    python infra/generated_client.py BINARY PACKAGE
"""

import datetime
import importlib
import importlib.util
import io
import json
import os
import pathlib
import pkgutil
import secrets
import sys
import traceback
import urllib.parse

import httpx

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "infra" / "openapi.json"
# The service's principal, as infra/schemathesis.py's Server sets SERVICE_PRINCIPAL_ARN.
PRINCIPAL = "arn:aws:iam::111122223333:role/videovector-connectors-access"


def fixtures_module():
    """infra/schemathesis.py, for its fixtures (the server, buckets with objects, a key)."""
    spec = importlib.util.spec_from_file_location(
        "schemathesis_fixtures", ROOT / "infra" / "schemathesis.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = fixtures_module()


class Failed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Failed(message)


def answered(response, status, kind, what):
    """The parsed body of a response that must have `status` and parse as `kind`."""
    expect(
        response.status_code == status,
        f"{what}: expected {status}, got {int(response.status_code)} {response.content[:300]!r}",
    )
    expect(
        isinstance(response.parsed, kind),
        f"{what}: parsed as {type(response.parsed).__name__}, not {kind.__name__}",
    )
    return response.parsed


class Driver:
    def __init__(self, package, server):
        self.c = importlib.import_module(package)
        # One module per operation, named by its operationId, in a folder per tag.
        api = importlib.import_module(f"{package}.api")
        self.api = {
            module.name.rpartition(".")[2]: importlib.import_module(module.name)
            for module in pkgutil.walk_packages(api.__path__, f"{package}.api.")
            if not module.ispkg
        }
        self.m = importlib.import_module(f"{package}.models")
        self.types = importlib.import_module(f"{package}.types")
        # The generated client's own authentication (Authorization: Bearer), and an
        # undocumented status is an error (errors.UnexpectedStatus), not a None.
        self.client = self.c.AuthenticatedClient(
            base_url=server.url,
            token=server.key,
            raise_on_unexpected_status=True,
            timeout=httpx.Timeout(30.0),
        )
        self.ids = {}

    def id(self, provider):
        """The connector made by this run's create of `provider`."""
        if provider not in self.ids:
            raise Failed(f"needs the {provider} connector, which its create did not make")
        return self.ids[provider]

    def envelope(self, response, status, code, what):
        """A response that must be the error envelope with `status` and `code`."""
        body = answered(response, status, self.m.ErrorEnvelope, what)
        expect(body.error.code == code, f"{what}: code {body.error.code}, expected {code}")
        expect(
            body.error.request_id == response.headers.get("x-request-id"),
            f"{what}: request_id {body.error.request_id} is not X-Request-Id",
        )
        return body.error

    # One method per operation, named by its operationId; each answers a summary.

    def create_s3(self):
        self.s3_bucket = fx.s3_bucket()
        body = self.m.S3ConnectorCreate(
            name="Generated S3",
            bucket=self.s3_bucket,
            region="us-east-1",
            aws_access_key_id=fx.S3_KEY_ID,
            aws_secret_access_key=fx.S3_SECRET,
            scopes=[self.m.ScopesItem.IMPORT, self.m.ScopesItem.EXPORT],
            export_base_path="exports",
        )
        key = f"generated-client-s3-{secrets.token_hex(8)}"
        first = self.api["create_s3"].sync_detailed(client=self.client, body=body,
                                                    idempotency_key=key)
        made = answered(first, 201, self.m.Connector, "create")
        expect(made.provider == self.m.Provider.S3, f"provider {made.provider}")
        expect(made.bucket == self.s3_bucket and made.region == "us-east-1", "bucket/region")
        expect(made.export_base_path == "exports/", f"export_base_path {made.export_base_path}")
        expect(made.status == self.m.Status.ACTIVE, f"status {made.status}")
        expect(fx.S3_SECRET not in first.content.decode(), "the secret is in the answer")
        expect(first.headers.get("location", "").endswith(made.connector_id), "Location")
        self.ids["s3"] = made.connector_id

        again = self.api["create_s3"].sync_detailed(client=self.client, body=body,
                                                    idempotency_key=key)
        replayed = answered(again, 201, self.m.Connector, "keyed retry")
        expect(replayed.connector_id == made.connector_id, "a keyed retry made another connector")
        expect(again.headers.get("idempotent-replayed") == "true", "Idempotent-Replayed")

        bad = self.m.S3ConnectorCreate(name="Bad", bucket="Not_A_Bucket", region="us-east-1",
                                       aws_access_key_id=fx.S3_KEY_ID,
                                       aws_secret_access_key=fx.S3_SECRET)
        error = self.envelope(
            self.api["create_s3"].sync_detailed(client=self.client, body=bad),
            422, "validation_error", "invalid bucket")
        fields = [f.field for f in error.details.fields]
        expect(fields == ["bucket"], f"422 names {fields}, not bucket")
        return (f"201 {made.connector_id}, keyed retry 201 replayed, "
                f"invalid bucket 422 ErrorEnvelope validation_error {fields}")

    def create_gcs(self):
        self.gcs_bucket = fx.gcs_bucket()
        key_file = fx.service_account_key()
        self.gcs_email = json.loads(key_file)["client_email"]
        body = self.m.GcsConnectorCreate(
            name="Generated GCS",
            bucket=self.gcs_bucket,
            credentials_file=self.types.File(payload=io.BytesIO(key_file),
                                             file_name="key.json",
                                             mime_type="application/json"),
            scopes=[self.m.ScopesItem.IMPORT, self.m.ScopesItem.EXPORT],
            import_mode=self.m.ImportMode.NEW_ONLY,
        )
        response = self.api["create_gcs"].sync_detailed(
            client=self.client, body=body,
            idempotency_key=f"generated-client-gcs-{secrets.token_hex(8)}")
        made = answered(response, 201, self.m.Connector, "create")
        expect(made.provider == self.m.Provider.GCS, f"provider {made.provider}")
        expect(made.bucket == self.gcs_bucket, "bucket")
        expect(made.gcp_project_id == "schemathesis-fixtures",
               f"gcp_project_id {made.gcp_project_id}, not the key file's")
        expect(made.client_email == self.gcs_email, f"client_email {made.client_email}")
        expect(sorted(s.value for s in made.scopes) == ["export", "import"], "scopes")
        expect(made.import_mode == self.m.ImportMode.NEW_ONLY, "import_mode")
        expect(b"PRIVATE KEY" not in response.content, "the key is in the answer")
        self.ids["gcs"] = made.connector_id
        return f"201 {made.connector_id} (multipart, key file of {len(key_file)} bytes)"

    def create_azure(self):
        self.container = fx.azure_container()
        body = self.m.AzureConnectorCreate(
            name="Generated Azure",
            storage_account=fx.AZURITE_ACCOUNT,
            container=self.container,
            tenant_id=fx.AZURE_TENANT,
            client_id=fx.AZURE_CLIENT,
            client_secret=fx.env("TOKEN_ENDPOINT_CLIENT_SECRET"),
        )
        response = self.api["create_azure"].sync_detailed(client=self.client, body=body)
        made = answered(response, 201, self.m.Connector, "create")
        expect(made.provider == self.m.Provider.AZURE, f"provider {made.provider}")
        expect(made.storage_account == fx.AZURITE_ACCOUNT and made.container == self.container,
               "storage_account/container")
        expect([s.value for s in made.scopes] == ["import"], "default scopes")
        expect(made.import_mode == self.m.ImportMode.ALL, "default import_mode")
        self.ids["azure"] = made.connector_id
        return f"201 {made.connector_id}"

    def list_connectors(self):
        op = self.api["list_connectors"]
        response = op.sync_detailed(client=self.client)
        listed = answered(response, 200, list, "list")
        ids = [c.connector_id for c in listed]
        newest_first = [self.id("azure"), self.id("gcs"), self.id("s3")]
        expect(ids == newest_first, f"list {ids}, expected newest first {newest_first}")
        expect(all(isinstance(c, self.m.Connector) for c in listed), "items are not Connector")

        only = answered(op.sync_detailed(client=self.client, provider=self.m.Provider.GCS),
                        200, list, "provider=gcs")
        expect([c.connector_id for c in only] == [self.id("gcs")], "provider=gcs")

        first = op.sync_detailed(client=self.client, limit=2)
        page = answered(first, 200, list, "limit=2")
        expect([c.connector_id for c in page] == newest_first[:2], "first page")
        link = httpx.Response(200, headers=first.headers).links.get("next", {}).get("url")
        expect(link, "no Link rel=next on a short page")
        cursor = httpx.URL(link).params.get("cursor")
        rest = answered(op.sync_detailed(client=self.client, limit=2, cursor=cursor),
                        200, list, "second page")
        expect([c.connector_id for c in rest] == newest_first[2:], "second page")

        self.envelope(op.sync_detailed(client=self.client, cursor="not-a-cursor"),
                      400, "invalid_cursor", "altered cursor")
        return (f"200 {len(listed)} connectors newest first, provider=gcs 200 1, "
                f"limit=2 200 2 + Link, cursor 200 1, bad cursor 400")

    def get_connector(self):
        op = self.api["get_connector"]
        response = op.sync_detailed(self.id("s3"), client=self.client)
        got = answered(response, 200, self.m.Connector, "get")
        expect(got.connector_id == self.id("s3") and got.name == "Generated S3", "get")
        expect(isinstance(got.created_at, datetime.datetime), "created_at")
        expect(response.headers.get("etag"), "no ETag")
        error = self.envelope(op.sync_detailed("conn_00000000000000000000000000",
                                               client=self.client),
                              404, "connector_not_found", "unknown connector")
        return f"200 {got.connector_id} with ETag, unknown 404 ErrorEnvelope {error.code}"

    def update_connector(self):
        op = self.api["update_connector"]
        etag = self.api["get_connector"].sync_detailed(
            self.id("s3"), client=self.client).headers["etag"]
        renamed = op.sync_detailed(
            self.id("s3"), client=self.client, if_match=etag,
            body=self.m.ConnectorUpdate(name="Generated S3, renamed"))
        updated = answered(renamed, 200, self.m.Connector, "rename")
        expect(updated.name == "Generated S3, renamed", f"name {updated.name}")
        expect(renamed.headers.get("etag") != etag, "the ETag did not change")

        self.envelope(
            op.sync_detailed(self.id("s3"), client=self.client, if_match=etag,
                             body=self.m.ConnectorUpdate(name="Stale")),
            412, "precondition_failed", "stale If-Match")

        # The GCS key file rotated as a JSON object (a model of additional properties).
        key = json.loads(fx.service_account_key())
        rotated = answered(
            op.sync_detailed(
                self.id("gcs"), client=self.client,
                body=self.m.ConnectorUpdate(
                    credentials_json=self.m.ConnectorUpdateCredentialsJson.from_dict(key))),
            200, self.m.Connector, "rotate the GCS key")
        expect(rotated.client_email == key["client_email"], "client_email after rotation")

        error = self.envelope(
            op.sync_detailed(self.id("gcs"), client=self.client,
                             body=self.m.ConnectorUpdate()),
            422, "validation_error", "empty PATCH")
        return ("200 renamed with If-Match, stale If-Match 412, GCS key rotated 200, "
                f"empty 422 ErrorEnvelope {error.code}")

    def test_connector(self):
        op = self.api["test_connector"]
        summary = []
        for provider in ["s3", "gcs", "azure"]:
            report = answered(op.sync_detailed(self.id(provider), client=self.client),
                              200, self.m.TestReport, f"test {provider}")
            checks = {c.name: c.ok for c in report.checks}
            expect(report.success and report.error_message is None and all(checks.values()),
                   f"test {provider}: {report.error_message} {checks}")
            summary.append(f"{provider} 200 success ({', '.join(checks)})")
        after = answered(self.api["get_connector"].sync_detailed(self.id("s3"),
                                                                 client=self.client),
                         200, self.m.Connector, "get after test")
        expect(after.last_test_result == self.m.TestResult.SUCCESS, "last_test_result")
        expect(isinstance(after.last_tested_at, datetime.datetime), "last_tested_at")
        return "; ".join(summary)

    def browse_connector(self):
        op = self.api["browse_connector"]
        summary = []
        for provider in ["s3", "gcs", "azure"]:
            files = answered(
                op.sync_detailed(self.id(provider), client=self.client,
                                 body=self.m.BrowseRequest(prefix="incoming/",
                                                           pattern="*.{mp4,mov}")),
                200, list, f"browse {provider}")
            paths = sorted(f.path for f in files)
            expect(paths == ["incoming/2026/04/a.mp4", "incoming/2026/04/b.mov"],
                   f"browse {provider}: {paths}")
            for f in files:
                expect(isinstance(f, self.m.FileEntry), "items are not FileEntry")
                expect(f.size_bytes == len(f.path) and f.extension == f.path[-3:],
                       f"{f.path}: size {f.size_bytes}, extension {f.extension}")
                expect(isinstance(f.last_modified, datetime.datetime), "last_modified")
            shallow = answered(
                op.sync_detailed(self.id(provider), client=self.client,
                                 body=self.m.BrowseRequest(recursive=False)),
                200, list, f"browse {provider} top level")
            expect([f.path for f in shallow] == ["top.mp4"], f"top level {provider}")
            summary.append(f"{provider} 200 {len(files)}+{len(shallow)} files")
        error = self.envelope(
            op.sync_detailed(self.id("s3"), client=self.client,
                             body=self.m.BrowseRequest(pattern="[")),
            422, "validation_error", "unclosed [")
        return "; ".join(summary) + f"; bad pattern 422 {error.code}"

    def role_setup(self):
        bucket = "generated-client-media"  # any bucket: nothing is asked of AWS
        setup = answered(
            self.api["role_setup"].sync_detailed(client=self.client, bucket=bucket,
                                                 scopes="import,export"),
            200, self.m.RoleSetup, "role setup")
        expect(setup.principal_arn == PRINCIPAL, f"principal_arn {setup.principal_arn}")
        expect(setup.external_id, "no external_id")
        expect(setup.external_id in json.dumps(setup.trust_policy.to_dict()),
               "the trust policy does not require the external ID")
        expect(setup.permissions_policy is not None
               and bucket in json.dumps(setup.permissions_policy.to_dict()),
               "no permissions policy for the bucket")
        plain = answered(self.api["role_setup"].sync_detailed(client=self.client),
                         200, self.m.RoleSetup, "role setup without a bucket")
        expect(plain.permissions_policy is None and plain.external_id == setup.external_id,
               "without a bucket")
        error = self.envelope(
            self.api["role_setup"].sync_detailed(client=self.client, scopes="export"),
            422, "validation_error", "scopes without a bucket")
        return ("200 with a bucket (trust + permissions policy), 200 without (trust only), "
                f"scopes without a bucket 422 {error.code}")

    def gcs_identity_setup(self):
        setup = answered(
            self.api["gcs_identity_setup"].sync_detailed(
                client=self.client, bucket=self.gcs_bucket, scopes="import,export",
                gcp_project_id="generated-project"),
            200, self.m.GcsIdentitySetup, "identity setup")
        email = setup.service_account_email
        expect(email in os.environ["GOOGLE_IMPERSONABLE"].split(","), f"e-mail {email}")
        expect(setup.roles.import_ == "roles/storage.objectViewer", f"import {setup.roles.import_}")
        expect(any(f"gs://{self.gcs_bucket}" in c and email in c for c in setup.commands),
               "no gcloud command for the bucket")
        # The keyless create: the same operation as the multipart one, as JSON.
        body = self.m.GcsKeylessConnectorCreate(
            name="Generated keyless GCS", bucket=self.gcs_bucket,
            gcp_project_id="generated-project",
            scopes=[self.m.ScopesItem.IMPORT])
        made = answered(self.api["create_gcs"].sync_detailed(client=self.client, body=body),
                        201, self.m.Connector, "keyless create")
        expect(made.auth_type == self.m.AuthType.WORKLOAD_IDENTITY, f"auth_type {made.auth_type}")
        expect(made.service_account_email == email, "service_account_email")
        report = answered(
            self.api["test_connector"].sync_detailed(made.connector_id, client=self.client),
            200, self.m.TestReport, "keyless test")
        names = [c.name for c in report.checks]
        expect(report.success and names[:2] == ["federation", "impersonation"],
               f"keyless test: {names}, {report.error_message}")
        self.ids["gcs_keyless"] = made.connector_id
        return f"200 {email}; keyless create 201 {made.connector_id}, test {names}"

    def azure_identity_setup(self):
        tenant = os.environ["AZURE_CONSENTED_TENANTS"].split(",")[0]
        setup = answered(
            self.api["azure_identity_setup"].sync_detailed(
                client=self.client, tenant_id=tenant, storage_account=fx.AZURITE_ACCOUNT,
                container=self.container, scopes="import"),
            200, self.m.AzureIdentitySetup, "identity setup")
        expect(setup.client_id == os.environ["AZURE_IDENTITY_CLIENT_ID"], "client_id")
        expect(setup.admin_consent_url.endswith(f"/{tenant}/adminconsent?client_id={setup.client_id}"),
               f"consent URL {setup.admin_consent_url}")
        expect(setup.roles.import_ == "Storage Blob Data Reader", f"import {setup.roles.import_}")
        expect(setup.binding.metadata_name == "videovector_account", "binding name")
        expect(setup.roles.access == "Storage Blob Delegator", f"access {setup.roles.access}")
        expect(len(setup.commands) == 3, f"commands {setup.commands}")
        # The container's owner binds it; the keyless create sends no client_id or secret.
        fx.azure_bind(self.container, setup.binding.metadata_value)
        body = self.m.AzureConnectorCreate(
            name="Generated keyless Azure", storage_account=fx.AZURITE_ACCOUNT,
            container=self.container, tenant_id=tenant)
        made = answered(self.api["create_azure"].sync_detailed(client=self.client, body=body),
                        201, self.m.Connector, "keyless create")
        expect(made.auth_type == self.m.AuthType.WORKLOAD_IDENTITY, f"auth_type {made.auth_type}")
        report = answered(
            self.api["test_connector"].sync_detailed(made.connector_id, client=self.client),
            200, self.m.TestReport, "keyless test")
        names = [c.name for c in report.checks]
        expect(report.success and names[:3] == ["assertion", "token", "binding"],
               f"keyless test: {names}, {report.error_message}")
        self.ids["azure_keyless"] = made.connector_id
        return f"200 for {tenant}; bound, keyless create 201 {made.connector_id}, test {names}"

    def grant_access(self):
        op = self.api["grant_access"]
        grant = answered(
            op.sync_detailed(self.id("s3"), client=self.client,
                             body=self.m.AccessBody(purpose="export", subpath="run-1",
                                                    paths=["cuts.json"], ttl_seconds=120)),
            200, self.m.AccessGrant, "access")
        expect(grant.prefix == "exports/run-1/", f"prefix {grant.prefix}")
        expect(len(grant.urls) == 1 and grant.urls[0].path == "exports/run-1/cuts.json"
               and grant.urls[0].method == "PUT" and "X-Amz-Signature=" in grant.urls[0].url,
               "one PUT URL for the path")
        expect(grant.credentials is None, "credentials with paths")
        error = self.envelope(
            op.sync_detailed(self.id("s3"), client=self.client,
                             body=self.m.AccessBody(purpose="export", subpath="../out",
                                                    paths=["cuts.json"])),
            422, "validation_error", "a subpath leaving the boundary")
        return f"200 one PUT URL under exports/run-1/, subpath '../out' 422 {error.code}"

    def delete_connector(self):
        op = self.api["delete_connector"]
        for provider in ["s3", "gcs", "azure", "gcs_keyless", "azure_keyless"]:
            gone = answered(op.sync_detailed(self.id(provider), client=self.client),
                            200, self.m.Deleted, f"delete {provider}")
            expect(gone.message == f"connector {self.id(provider)} deleted", gone.message)
        self.envelope(op.sync_detailed(self.id("s3"), client=self.client),
                      404, "connector_not_found", "deleted again")
        self.envelope(self.api["get_connector"].sync_detailed(self.id("gcs"),
                                                              client=self.client),
                      404, "connector_not_found", "get a deleted one")
        left = answered(self.api["list_connectors"].sync_detailed(client=self.client),
                        200, list, "list after delete")
        expect(left == [], f"{len(left)} connectors left")
        return "200 x5, again 404 ErrorEnvelope connector_not_found, list 200 []"


    def list_events(self):
        # Read after delete_connector: an admin key still reads a deleted connector's history.
        op = self.api["list_events"]
        events = answered(op.sync_detailed(self.id("s3"), client=self.client),
                          200, list, "history")
        kinds = [e.type_.value for e in events]
        expected = ["deleted", "access_granted", "tested", "updated", "created"]
        expect(kinds == expected, f"history {kinds}, expected {expected}")
        for e in events:
            expect(isinstance(e, self.m.ConnectorEvent), "items are not ConnectorEvent")
            expect(e.connector_id == self.id("s3"), f"{e.event_id}: {e.connector_id}")
            expect(isinstance(e.at, datetime.datetime), "at")
        expect(len({e.key_id for e in events}) == 1 and events[0].key_id.startswith("key_"),
               f"key ids {[e.key_id for e in events]}")
        expect(events[3].fields == ["name"], f"the rename's fields {events[3].fields}")
        expect([e.event_id for e in events] == sorted((e.event_id for e in events),
                                                      reverse=True),
               "event ids do not sort newest first")
        first = op.sync_detailed(self.id("s3"), client=self.client, limit=2)
        page = answered(first, 200, list, "history, limit=2")
        link = first.headers.get("link", "")
        expect(len(page) == 2 and 'rel="next"' in link, f"limit=2: {len(page)}, Link {link!r}")
        query = urllib.parse.urlsplit(link.partition("<")[2].partition(">")[0]).query
        cursor = urllib.parse.parse_qs(query)["cursor"][0]
        rest = answered(op.sync_detailed(self.id("s3"), client=self.client, limit=10,
                                         cursor=cursor),
                        200, list, "history, next page")
        expect([e.event_id for e in page + rest] == [e.event_id for e in events],
               "two pages are not the history")
        self.envelope(op.sync_detailed(self.id("gcs"), client=self.client, cursor=cursor),
                      400, "invalid_cursor", "another connector's cursor")
        return (f"200 {len(events)} events newest first ({', '.join(kinds)}) after the delete, "
                "limit=2 200 2 + Link, cursor 200 3, another connector's cursor 400")

ORDER = ["create_s3", "create_gcs", "create_azure", "list_connectors", "get_connector",
         "update_connector", "test_connector", "browse_connector", "role_setup",
         "gcs_identity_setup", "azure_identity_setup",
         "grant_access", "delete_connector", "list_events"]


def main():
    binary, package = sys.argv[1], sys.argv[2]
    document = json.loads(DOCUMENT.read_text())
    operations = {
        o["operationId"]: f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, o in item.items()
        if isinstance(o, dict) and "operationId" in o
    }
    server = fx.Server(binary)
    failed = 0
    try:
        served = httpx.get(f"{server.url}/api/v2/openapi.json", timeout=10)
        if served.content != DOCUMENT.read_bytes():
            sys.exit("the binary does not serve infra/openapi.json: regenerate it or rebuild")
        print(f"== {server.url} serves infra/openapi.json: {len(operations)} operations")
        driver = Driver(package, server)
        for name in ORDER + sorted(set(operations) - set(ORDER)):
            label = f"{name} ({operations.get(name, 'not in the document')})"
            try:
                if name not in operations:
                    raise Failed("driven here but not an operation of the document")
                if name not in ORDER:
                    raise Failed("an operation of the document this script does not drive")
                if name not in driver.api:
                    raise Failed("the generated client has no module for it")
                print(f"ok    {label}: {getattr(driver, name)()}", flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
                failed += 1
                detail = str(e) if isinstance(e, Failed) else traceback.format_exc()
                print(f"FAIL  {label}: {detail}", flush=True)
        passed = len(ORDER) + len(set(operations) - set(ORDER)) - failed
        print(f"{passed} passed, {failed} failed")
        if failed:
            print("== the server's log, last lines:\n" + server.log_tail())
    finally:
        server.stop()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
