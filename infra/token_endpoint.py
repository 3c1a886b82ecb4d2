"""A stand-in for Entra ID's token endpoint and for Google's OAuth and STS token
endpoints, for tests only: Azurite checks a token's claims but not its signature,
fake-gcs-server checks no token, and no emulator issues or downscopes tokens.

POST /{tenant}/oauth2/v2.0/token with grant_type=client_credentials answers a token for
the storage audience when client_secret equals $TOKEN_ENDPOINT_CLIENT_SECRET, and Entra
ID's 401 `invalid_client` otherwise.

POST /google/token with grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and a
three-part `assertion` answers an opaque access token for an hour (the signature is not
checked: the crate's unit tests hold the signing to Google's published vectors).
POST /google/v1/token, Google STS's token exchange, answers a downscoped token for a
token this stand-in issued, when `options` is a Credential Access Boundary;
GET /google/boundaries/{token} answers the boundary a downscoped token was made with, so
a test can see what the service asked for.

Usage: python infra/token_endpoint.py PORT CERT KEY
"""

import base64
import json
import os
import secrets
import ssl
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["TOKEN_ENDPOINT_CLIENT_SECRET"]


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


def google(path: str, field) -> tuple:
    """Google's OAuth token endpoint and STS token exchange."""
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
        self.answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        parts = self.path.strip("/").split("/")
        length = int(self.headers.get("content-length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        field = lambda k: form.get(k, [""])[0]
        if parts[0] == "google":
            return self.answer(*google("/".join(parts), field))
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            return self.answer(404, {"error": "not_found"})
        if field("grant_type") != "client_credentials":
            return self.answer(400, {"error": "unsupported_grant_type"})
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
