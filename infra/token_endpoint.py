"""A stand-in for Entra ID's token endpoint and for Google's OAuth and STS token
endpoints, for tests only: Azurite checks a token's claims but not its signature,
fake-gcs-server checks no token, and no emulator issues or downscopes tokens.

POST /{tenant}/oauth2/v2.0/token with grant_type=client_credentials answers a token for
the storage audience when client_secret equals $TOKEN_ENDPOINT_CLIENT_SECRET, and Entra
ID's 401 `invalid_client` otherwise.

With client_assertion_type urn:ietf:params:oauth:client-assertion-type:jwt-bearer and a
client_assertion instead (a federated identity credential of the operator's multi-tenant
app, trusting tokens from AWS STS's GetWebIdentityToken), it checks what Entra ID checks,
in its order, and answers its 400s: the tenant is not $AZURE_UNKNOWN_TENANT (else
`invalid_request` AADSTS90002, a tenant Entra ID does not know); client_id is
$AZURE_IDENTITY_CLIENT_ID and the tenant one of $AZURE_CONSENTED_TENANTS (comma-separated)
or $AZURE_KEPT_TOKEN_TENANT, else `unauthorized_client` AADSTS700016 (the app is not in
that directory: its admin has not consented); the JWT parses (else
`invalid_client` AADSTS50027); it is signed RS256 with a key of the issuer's JWKS, fetched
over HTTP from $AZURE_FEDERATION_JWKS_URL once and again for an unknown kid (else
AADSTS700027); now is within its nbf and exp, 5 minutes' skew allowed (else AADSTS700024);
its iss is $AZURE_FEDERATION_ISSUER (else AADSTS700211), its sub one of
$AZURE_FEDERATION_SUBJECTS (comma-separated, else AADSTS700213), and its aud holds
api://AzureADTokenExchange (else AADSTS700212). An assertion type other than jwt-bearer,
or no assertion, is `invalid_request` AADSTS7000218. It then answers the same storage token
as for a secret; GET /azure/assertions answers how many it gave each tenant this way
(`{"<tenant>": n}`). It cannot check the role assignments that decide what a real token
may do in a storage account: Azurite checks no RBAC.

POST /google/token with grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and a
three-part `assertion` answers an opaque access token for an hour (the signature is not
checked: the crate's unit tests hold the signing to Google's published vectors).
POST /google/v1/token, Google STS's token exchange, answers a downscoped token for a
token this stand-in issued, when `options` is a Credential Access Boundary;
GET /google/boundaries/{token} answers the boundary a downscoped token was made with, so
a test can see what the service asked for.

Workload identity federation from AWS, as Google's STS and IAM Credentials check it:
POST /google/v1/token with subject_token_type urn:ietf:params:aws:token-type:aws4_request
decodes the subject token (a signed STS GetCallerIdentity request: a POST to its signing
region's `https://sts.<region>.amazonaws.com`, else refused), recomputes its SigV4
signature with botocore and $GOOGLE_WIF_AWS_KEYS ("access-key:secret-key"), refuses one
older than 15 minutes, checks `audience` and the signed `x-goog-cloud-target-resource`
header against $GOOGLE_WIF_AUDIENCE, and mints a federated token. It cannot call AWS to
learn which role signed: it trusts the keys it was given. POST /google/trust with a form
`audience` trusts that pool provider too from then on, as an operator's fix would, so a
test can see a refusal lifted without a new process; POST /google/revoke with a form
`audience` makes every federated token of that pool provider unaccepted from then on
(IAM Credentials answers them 401), as a revoked or lapsed token is. POST
/google/iam/v1/projects/-/serviceAccounts/{email}:generateAccessToken answers a token
of that service account for a federated bearer token when the e-mail is one of
$GOOGLE_IMPERSONABLE (comma-separated) or $GOOGLE_KEPT_TOKEN_SA, 403 when not; GET /google/impersonations answers
how many tokens each service account was given, so a test can see whose was used.
POST /google/iam/v1/projects/-/serviceAccounts/{email}:signBlob signs the base64 `payload`
(RSASSA-PKCS1-v1_5, SHA-256) with a key made for that service account in this run, for a
federated bearer token when the e-mail is one of $GOOGLE_SIGNABLE, 403 when not (the
missing iam.serviceAccounts.signBlob); GET /google/service_accounts/v1/metadata/jwk/{email}
answers that key's public half as Google publishes a service account's keys, so a test can
verify a URL's signature itself.

Usage: python infra/token_endpoint.py PORT CERT KEY
"""

import base64
import datetime
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["TOKEN_ENDPOINT_CLIENT_SECRET"]
WIF_AUDIENCES = {os.environ.get("GOOGLE_WIF_AUDIENCE", "")} - {""}
WIF_KEYS = os.environ.get("GOOGLE_WIF_AWS_KEYS", ":").split(":", 1)
IMPERSONABLE = set(filter(None, os.environ.get("GOOGLE_IMPERSONABLE", "").split(","))) | (
    {os.environ.get("GOOGLE_KEPT_TOKEN_SA", "")} - {""}
)
SIGNABLE = set(filter(None, os.environ.get("GOOGLE_SIGNABLE", "").split(",")))
AWS4_REQUEST = "urn:ietf:params:aws:token-type:aws4_request"
CLIENT_ID = os.environ.get("AZURE_IDENTITY_CLIENT_ID", "")
UNKNOWN_TENANT = os.environ.get("AZURE_UNKNOWN_TENANT", "").lower()
CONSENTED = set(filter(None, os.environ.get("AZURE_CONSENTED_TENANTS", "").lower().split(","))) | (
    {os.environ.get("AZURE_KEPT_TOKEN_TENANT", "").lower()} - {""}
)
FEDERATION_ISSUER = os.environ.get("AZURE_FEDERATION_ISSUER", "")
FEDERATION_SUBJECTS = set(filter(None, os.environ.get("AZURE_FEDERATION_SUBJECTS", "").split(",")))
FEDERATION_JWKS_URL = os.environ.get("AZURE_FEDERATION_JWKS_URL", "")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "api://AzureADTokenExchange"
SKEW = 300  # seconds of clock skew Entra ID allows an assertion


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def token(tenant: str, client_id: str) -> str:
    now = int(time.time())
    claims = {
        "aud": "https://storage.azure.com",
        "iss": f"https://sts.windows.net/{tenant}/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
        "tid": tenant,
        "appid": client_id,
        "oid": client_id,
        "sub": client_id,
    }
    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJl"


ISSUED = set()
BOUNDARIES = {}
FEDERATED = {}  # federated token -> the audience it was made for
IMPERSONATIONS = {}
ASSERTIONS = {}
SIGNING_KEYS = {}  # service account e-mail -> (kid, RSA private key), made on first use
JWKS = {}  # kid -> JWK, from $AZURE_FEDERATION_JWKS_URL
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
LOCK = threading.Lock()


def entra_error(error: str, code: int, text: str) -> tuple:
    """A 400 as Entra ID words it."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    return 400, {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: {trace} "
        f"Correlation ID: {correlation} Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


def unpadded(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def issuer_key(kid: str):
    """The RSA public key `kid` names in the issuer's JWKS (fetched once, and again for a
    kid not in it), or None."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    with LOCK:
        if kid not in JWKS:
            with DIRECT.open(FEDERATION_JWKS_URL, timeout=10) as response:
                keys = json.load(response).get("keys", [])
            JWKS.clear()
            JWKS.update({jwk.get("kid"): jwk for jwk in keys})
        jwk = JWKS.get(kid)
    if jwk is None or jwk.get("kty") != "RSA":
        return None
    n, e = (int.from_bytes(unpadded(jwk[name]), "big") for name in ("n", "e"))
    return rsa.RSAPublicNumbers(e, n).public_key()


def moment(seconds: float) -> str:
    when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


NO_RECORD = (
    "No matching federated identity record found for presented assertion {} '{}'. Please check "
    "your federated identity credential Subject, Audience and Issuer against the presented "
    "assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
)


def assertion_checked(tenant: str, field) -> tuple:
    """Entra ID's checks of a client assertion from a federated identity, in its order."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    client_id = field("client_id")
    if UNKNOWN_TENANT and tenant.lower() == UNKNOWN_TENANT:
        return entra_error(
            "invalid_request",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
            "and are signing into the correct cloud.",
        )
    if not CLIENT_ID or client_id.lower() != CLIENT_ID.lower() or tenant.lower() not in CONSENTED:
        return entra_error(
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant}'. This can happen if the application has not been installed by the "
            "administrator of the tenant or consented to by any user in the tenant. You may have "
            "sent your authentication request to the wrong tenant.",
        )
    try:
        header_part, claims_part, signature_part = field("client_assertion").split(".")
        header, claims = json.loads(unpadded(header_part)), json.loads(unpadded(claims_part))
        signature = unpadded(signature_part)
        expires = int(claims["exp"])
        not_before = int(claims.get("nbf", claims.get("iat", 0)))
    except (ValueError, KeyError, TypeError, AttributeError):
        return entra_error("invalid_client", 50027, "JWT token is invalid or malformed.")
    bad_signature = "Client assertion failed signature validation."
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        return entra_error("invalid_client", 700027, bad_signature)
    try:
        key = issuer_key(str(header.get("kid")))
    except (OSError, ValueError) as e:
        return entra_error("invalid_client", 700027, f"{bad_signature} The issuer's keys: {e}")
    try:
        if key is None:
            raise InvalidSignature()
        signed = f"{header_part}.{claims_part}".encode()
        key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return entra_error("invalid_client", 700027, bad_signature)
    now = time.time()
    if not not_before - SKEW <= now <= expires + SKEW:
        return entra_error(
            "invalid_client",
            700024,
            f"Client assertion is not within its valid time range. Current time: {moment(now)}, "
            f"assertion valid from {moment(not_before)}, expiry time of assertion "
            f"{moment(expires)}. Review the documentation at "
            "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        )
    if claims.get("iss") != FEDERATION_ISSUER:
        return entra_error("invalid_client", 700211, NO_RECORD.format("issuer", claims.get("iss")))
    if claims.get("sub") not in FEDERATION_SUBJECTS:
        return entra_error("invalid_client", 700213, NO_RECORD.format("subject", claims.get("sub")))
    audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    if TOKEN_EXCHANGE not in audiences:
        audience = claims.get("aud")
        return entra_error("invalid_client", 700212, NO_RECORD.format("audience", audience))
    with LOCK:
        ASSERTIONS[tenant] = ASSERTIONS.get(tenant, 0) + 1
    return 200, {
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": token(tenant, client_id),
    }


def refused(description: str) -> tuple:
    return 400, {"error": "invalid_grant", "error_description": description}


def federate(field) -> tuple:
    """Google STS's exchange of a signed AWS GetCallerIdentity request."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    try:
        signed = json.loads(urllib.parse.unquote(field("subject_token")))
        headers = {h["key"]: h["value"] for h in signed["headers"]}
        authorization = headers.pop("Authorization")
        url, method = signed["url"], signed["method"]
    except (ValueError, KeyError, TypeError):
        return refused("The subject token is not a signed AWS request.")
    with LOCK:
        trusted = field("audience") in WIF_AUDIENCES
    if not trusted:
        return refused(f"Invalid audience: {field('audience')}")
    if headers.get("x-goog-cloud-target-resource") != field("audience"):
        return refused("The signed request's x-goog-cloud-target-resource is not the audience.")
    try:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
        key_id, date, region, service, _ = credential.split("/")
        signature = authorization.split("Signature=", 1)[1].strip()
        when = datetime.datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    except (IndexError, ValueError, KeyError):
        return refused("The signed request's Authorization header cannot be read.")
    age = datetime.datetime.utcnow() - when
    if abs(age.total_seconds()) > 15 * 60:
        return refused("The signed request has expired.")
    target = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(target.query)
    if (
        key_id != WIF_KEYS[0]
        or service != "sts"
        or method != "POST"
        or target.scheme != "https"
        or target.hostname != f"sts.{region}.amazonaws.com"
        or query.get("Action") != ["GetCallerIdentity"]
    ):
        return refused("The subject token is not the trusted AWS identity's GetCallerIdentity "
                       "at its region's STS.")
    request = AWSRequest(method=method, url=url, headers=headers, data=signed.get("body", ""))
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(
        Credentials(WIF_KEYS[0], WIF_KEYS[1], headers.get("x-amz-security-token")),
        service,
        region,
    )
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if not secrets.compare_digest(expected, signature):
        return refused("The AWS signature of the subject token does not match.")
    token = "ya29.federated-" + secrets.token_hex(16)
    with LOCK:
        FEDERATED[token] = field("audience")
    return 200, {
        "access_token": token,
        "expires_in": 3599,
        "token_type": "Bearer",
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }


def impersonate(path: str, bearer: str, body: str) -> tuple:
    """IAM Credentials' generateAccessToken (or signBlob) for a federated caller."""
    name = path.rsplit("/", 1)[-1]
    email, _, method = name.partition(":")
    if method not in ("generateAccessToken", "signBlob"):
        return 404, {"error": {"code": 404, "status": "NOT_FOUND"}}
    if bearer not in FEDERATED:
        return 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}
    if method == "signBlob":
        return sign_blob(email, body)
    if email not in IMPERSONABLE:
        return 403, {"error": {"code": 403, "status": "PERMISSION_DENIED",
                               "message": "Permission 'iam.serviceAccounts.getAccessToken' denied"}}
    token = "ya29.sa-" + secrets.token_hex(16)
    ISSUED.add(token)
    with LOCK:
        IMPERSONATIONS[email] = IMPERSONATIONS.get(email, 0) + 1
    expires = datetime.datetime.utcnow() + datetime.timedelta(hours=1)
    return 200, {"accessToken": token, "expireTime": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def signing_key(email: str):
    """The service account's signing key of this run: (kid, private key)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    with LOCK:
        if email not in SIGNING_KEYS:
            SIGNING_KEYS[email] = (secrets.token_hex(20), rsa.generate_private_key(65537, 2048))
        return SIGNING_KEYS[email]


def sign_blob(email: str, body: str) -> tuple:
    """IAM Credentials' signBlob for a federated caller (its bearer checked already)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    if email not in SIGNABLE:
        return 403, {"error": {"code": 403, "status": "PERMISSION_DENIED",
                               "message": "Permission 'iam.serviceAccounts.signBlob' denied"}}
    try:
        payload = base64.b64decode(json.loads(body)["payload"], validate=True)
    except (ValueError, KeyError, TypeError):
        return 400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}}
    kid, key = signing_key(email)
    signature = key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    return 200, {"keyId": kid, "signedBlob": base64.b64encode(signature).decode()}


def public_jwk(email: str) -> dict:
    """The service account's public key, as Google's metadata/jwk endpoint answers it."""
    kid, key = signing_key(email)
    numbers = key.public_key().public_numbers()
    part = lambda n: base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big"))
    return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                      "n": part(numbers.n).rstrip(b"=").decode(),
                      "e": part(numbers.e).rstrip(b"=").decode()}]}


def google(path: str, field) -> tuple:
    """Google's OAuth token endpoint and STS token exchange."""
    if path == "google/trust":
        if not field("audience"):
            return 400, {"error": "invalid_request", "error_description": "no audience"}
        with LOCK:
            WIF_AUDIENCES.add(field("audience"))
        return 200, {"trusted": field("audience")}
    if path == "google/revoke":
        with LOCK:
            revoked = [t for t, a in FEDERATED.items() if a == field("audience")]
            for t in revoked:
                del FEDERATED[t]
        return 200, {"revoked": len(revoked)}
    if path == "google/token":
        if field("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}
        if field("assertion").count(".") != 2:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT."}
        token = "ya29.source-" + secrets.token_hex(16)
        ISSUED.add(token)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
    if path == "google/v1/token":
        if field("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
            return 400, {"error": "unsupported_grant_type"}
        if field("subject_token_type") == AWS4_REQUEST:
            return federate(field)
        if field("subject_token") not in ISSUED:
            return 400, {"error": "invalid_grant", "error_description": "unknown subject token"}
        try:
            rules = json.loads(field("options"))["accessBoundary"]["accessBoundaryRules"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "invalid_request", "error_description": "no access boundary"}
        if not rules:
            return 400, {"error": "invalid_request", "error_description": "empty access boundary"}
        token = "ya29.downscoped-" + secrets.token_hex(16)
        BOUNDARIES[token] = json.loads(field("options"))
        return 200, {
            "access_token": token,
            "expires_in": 3599,
            "token_type": "Bearer",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }
    return 404, {"error": "not_found"}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        prefix = "/google/boundaries/"
        if self.path.startswith(prefix) and self.path[len(prefix):] in BOUNDARIES:
            return self.answer(200, BOUNDARIES[self.path[len(prefix):]])
        jwk = "/google/service_accounts/v1/metadata/jwk/"
        if self.path.startswith(jwk) and self.path[len(jwk):] in SIGNABLE:
            return self.answer(200, public_jwk(self.path[len(jwk):]))
        if self.path == "/google/impersonations":
            with LOCK:
                return self.answer(200, dict(IMPERSONATIONS))
        if self.path == "/azure/assertions":
            with LOCK:
                return self.answer(200, dict(ASSERTIONS))
        self.answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        parts = self.path.strip("/").split("/")
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode()
        if parts[:2] == ["google", "iam"]:
            bearer = self.headers.get("authorization", "").removeprefix("Bearer ")
            return self.answer(*impersonate(self.path, bearer, body))
        form = urllib.parse.parse_qs(body)
        field = lambda k: form.get(k, [""])[0]
        if parts[0] == "google":
            return self.answer(*google("/".join(parts), field))
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            return self.answer(404, {"error": "not_found"})
        if field("grant_type") != "client_credentials":
            return self.answer(400, {"error": "unsupported_grant_type"})
        if field("client_assertion_type") or field("client_assertion"):
            if field("client_assertion_type") != JWT_BEARER or not field("client_assertion"):
                return self.answer(*entra_error(
                    "invalid_request",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' "
                    "or 'client_secret'.",
                ))
            return self.answer(*assertion_checked(parts[0], field))
        if field("client_secret") != SECRET:
            return self.answer(401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7000215],
            })
        self.answer(200, {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token(parts[0], field("client_id")),
        })

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
