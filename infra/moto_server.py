"""moto's server with DynamoDB requests handled one at a time, and what AWS checks about
who may do what checked as AWS checks it, where moto does not.

- moto's server is threaded and its DynamoDB checks a write's condition and applies the
  write as two steps, so two concurrent conditional writes can both succeed. Real DynamoDB
  applies a conditional write atomically; the tests that race requests on one key rely on
  that, so DynamoDB calls are serialised here.
- moto rolls a failed TransactWriteItems back by a deep copy of every table it touches,
  made for every transaction: with tables of thousands of items, the tests' transactions
  took seconds each and moto ran out of memory. Here the items a transaction touches are
  kept and put back instead.
- With INITIAL_NO_AUTH_ACTION_COUNT set, moto evaluates a role's trust policy on
  AssumeRole, but (1) a `StringEquals` on `sts:ExternalId` passes when the caller sends no
  ExternalId at all, where AWS refuses (a condition on a key the request lacks is false),
  and (2) a statement naming a role as principal does not match that role's sessions
  (`arn:aws:sts::A:assumed-role/R/S`), where AWS matches them. Both are corrected here, for
  trust policies only, so that the service's `external_id_enforced` check can fail and
  pass against it, and a chain through the service's own role can be tested.
- moto words STS's AccessDenied in another service's error shape (`<Errors><Error>`),
  which the Rust SDK cannot read a code from; it is written as STS writes it. And moto
  authorises S3's HeadBucket as an `s3:HeadBucket` action IAM does not have; AWS asks
  for `s3:ListBucket`.
- Presigned (SigV4 query-signed) requests: moto checks neither their signature nor their
  expiry. On every moto started with this file, a request whose query carries
  `X-Amz-Algorithm`, `X-Amz-Credential` or `X-Amz-Signature` is checked before moto sees
  it, as S3 checks it: its parameters (400 AuthorizationQueryParametersError), its key
  (an IAM user's access key, or temporary credentials from AssumeRole or
  GetFederationToken, with their session token; else 403 InvalidAccessKeyId / 400
  InvalidToken / 400 ExpiredToken), its expiry (403 AccessDenied "Request has expired"),
  that every x-amz-* header sent is signed (403 AccessDenied), and its signature (403
  SignatureDoesNotMatch, with the canonical request S3 expected). For S3 the canonical URI
  is the path URI-encoded once (each byte but A-Z a-z 0-9 - . _ ~ and `/`), which is the
  path as an SDK sends it; the payload is `UNSIGNED-PAYLOAD`. On the IAM-checking moto a
  valid presigned request is then authorised as its key's principal (moto could not read
  query-signed credentials at all).
- Scoped credentials: moto's GetFederationToken returns the same fixed keys every time and
  moto never evaluates session policies. Here GetFederationToken issues new credentials per
  call, remembered with the calling IAM user and the session policy (`Policy`,
  `PolicyArns`); AssumeRole's `PolicyArns` are remembered too. On the IAM-checking moto a
  request is allowed only when no policy denies it, the principal's own policies allow it
  and, for a session with session policies, those allow it too (a federated session
  without one is allowed nothing, and federated users may not call IAM or STS beyond
  GetCallerIdentity, as in AWS). Identity and session policies are evaluated here rather
  than by moto's evaluator, which ignores most conditions and denies on an unmet one:
  Action/NotAction, Resource/NotResource with `*` and `?`, policy variables, and the
  String*, Arn*, Bool, Numeric*, Date*, IpAddress, Null operators with IfExists and
  ForAnyValue/ForAllValues, over keys such as `s3:prefix`, `s3:delimiter`, `s3:max-keys`,
  `aws:username`, `aws:PrincipalArn`, `aws:SecureTransport`, `aws:SourceIp`; an operator
  not known here fails closed. Temporary credentials past their expiry are refused
  (ExpiredToken), and an inactive access key is unknown. STS refuses what AWS refuses of a
  session: DurationSeconds out of range (GetFederationToken 900-129600; AssumeRole
  900-43200, at most the role's MaxSessionDuration, at most 3600 when chained), a name
  too long or with other characters than `[\w+=,.@-]` (Name 32, RoleSessionName 64), and
  an inline session policy longer than 2048 characters or not JSON; GetFederationToken
  with temporary credentials is AccessDenied.
- Outbound identity federation: moto has no GetWebIdentityToken. Here it refuses what STS
  refuses (ValidationError unless 1-10 audiences of 1-1000 characters, SigningAlgorithm
  RS256 or ES384, DurationSeconds 60-3600) and answers a JWT whose `iss` is
  $AWS_WEB_IDENTITY_ISSUER, `sub` the caller's ARN (an IAM user's; for a role session, the
  role's; else who moto's GetCallerIdentity says the caller is), `aud` the audience (a list
  for several), `iat`, `nbf`, `exp` (DurationSeconds later, 300 by default), `jti`, and under
  `https://sts.amazonaws.com/` the account, the region of the credential scope, the ARN
  again and the request's tags. RS256 tokens are signed with the RSA key in the PEM file
  $AWS_WEB_IDENTITY_SIGNING_KEY and ES384 ones with a P-384 key derived from it, so all
  wrappers given one file sign alike; a key's `kid` is the first 16 hex digits of the
  SHA-256 of its public key's DER. A role session's token may not outlive the session
  (SessionDurationEscalationException), a federated user gets AccessDenied, and with either
  variable unset the call is OutboundWebIdentityFederationDisabledException. On the
  IAM-checking moto it is authorised as `sts:GetWebIdentityToken`, with the condition keys
  `sts:IdentityTokenAudience` (one value per audience), `sts:DurationSeconds`,
  `sts:SigningAlgorithm`, `aws:RequestTag/...` and `aws:TagKeys`. GET
  /.well-known/openid-configuration and /.well-known/jwks.json answer the issuer's
  discovery documents on every wrapper, unauthenticated (404 while disabled, 405 for other
  methods), with this server as `jwks_uri`'s host.
- moto answers some refused object requests (anonymous, or denied by a bucket policy) with
  an empty 403; they carry S3's AccessDenied body here. An anonymous S3 request on the
  IAM-checking moto is AccessDenied (moto failed on it with a 500).

Every other service runs as moto ships it.

Usage: python infra/moto_server.py -H 127.0.0.1 -p PORT
"""

import base64
import copy
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import re
import sys
import threading
import time
import uuid
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlsplit
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from moto.core.exceptions import AccessDeniedError
from moto.core.responses import BaseResponse
from moto.dynamodb import models as _dynamodb_models
from moto.dynamodb.models.table import Table as _Table
from moto.dynamodb.responses import DynamoHandler
from moto.iam import access_control
from moto.iam.models import iam_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.s3 import responses as s3_responses
from moto.s3.exceptions import S3ClientError
from moto.server import main
from moto.sts import responses as sts_responses
from moto.sts.models import STSBackend, sts_backends
from moto.sts.utils import random_session_token
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from xmltodict import unparse

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _serialised


class _TablesKept:
    """Stands for `copy` in moto's DynamoDB models: a deep copy of a whole table (which
    moto makes of every table a TransactWriteItems touches, to roll back by, so memory
    and time grow with the table on every transaction) is the table itself. The items a
    transaction touches are kept and put back by `_transact_rolled_back_by_item` instead,
    which is exact while DynamoDB calls run one at a time (`_serialised`)."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, _Table):
            return value
        return copy.deepcopy(value, memo)


def _touched(backend, transact_items):
    """The table, key and stored item (or None) of every item a transaction writes."""
    touched = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.get_table(op["TableName"])
        if "Key" in op:
            key = op["Key"]
        else:
            names = [table.hash_key_attr, table.range_key_attr]
            key = {n: op["Item"][n] for n in names if n is not None}
        stored = backend.get_item(op["TableName"], key)
        touched.append((op["TableName"], key, stored and copy.deepcopy(stored.to_json()["Attributes"])))
    return touched


def _transact_rolled_back_by_item(self, transact_items):
    touched = _touched(self, transact_items)
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table_name, key, attributes in touched:
            if attributes is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attributes)
        raise


_dynamodb_models.copy = _TablesKept
_transact_write_items = _dynamodb_models.DynamoDBBackend.transact_write_items
_dynamodb_models.DynamoDBBackend.transact_write_items = _transact_rolled_back_by_item

_Statement = access_control.IAMPolicyStatement
_check_conditions = _Statement._check_conditions
_check_principal = _Statement._check_principal
# Condition keys whose absence from an AssumeRole fails the condition.
_REQUEST_KEYS = {"sts:externalid"}
_SESSION = re.compile(r"^arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")


def _absent_key_fails(self, incoming):
    # `incoming` is a dict only when a trust policy is evaluated for AssumeRole.
    if incoming is not None:
        present = {k.lower() for k in incoming}
        for operator, values in (self._statement.get("Condition") or {}).items():
            if operator.endswith("IfExists") or operator == "Null":
                continue
            for key in values:
                if key.lower() in _REQUEST_KEYS and key.lower() not in present:
                    return False
    return _check_conditions(self, incoming)


def _sessions_match_their_role(self, principal):
    if _check_principal(self, principal):
        return True
    session = _SESSION.match(principal)
    if session is None:
        return False
    partition, account, role = session.groups()
    return _check_principal(self, f"arn:{partition}:iam::{account}:role/{role}")


_Statement._check_conditions = _absent_key_fails
_Statement._check_principal = _sessions_match_their_role


class _StsError(HTTPException):
    """An error as STS writes it (`<ErrorResponse><Error>`), which the AWS SDKs read."""

    def __init__(self, code, message, status=403):
        super().__init__()
        self.code = status
        self.message = message
        error = {"Type": "Sender", "Code": code, "Message": message}
        body = {"ErrorResponse": {"Error": error, "RequestId": str(uuid.uuid4())}}
        self.description = unparse(body, full_document=True)

    def get_headers(self, *args, **kwargs):
        return [("Content-Type", "text/xml")]


class _QueryAccessDenied(AccessDeniedError):
    """AccessDenied as STS writes it (`<ErrorResponse><Error>`), which the AWS SDKs read."""

    def __init__(self, user_arn, action):
        super().__init__(user_arn=user_arn, action=action)
        error = {"Type": "Sender", "Code": "AccessDenied", "Message": self.message}
        self.description = unparse({"ErrorResponse": {"Error": error}}, full_document=True)


_raise_access_denied = access_control.IAMRequest._raise_access_denied


def _denied_as_sts_says_it(self):
    if self._service == "sts":
        raise _QueryAccessDenied(user_arn=self._access_key.arn, action=self._action)
    _raise_access_denied(self)


access_control.IAMRequest._raise_access_denied = _denied_as_sts_says_it

# HeadBucket is authorised as s3:ListBucket, as AWS documents it (moto asks for an
# "s3:HeadBucket" action that IAM does not have).
s3_responses.ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"


_key_response = s3_responses.S3Response.key_response


def _refusals_with_a_body(self, request, full_url, headers):
    # moto answers some refusals of an object (an anonymous request for a private one, a
    # bucket policy's Deny) with an empty 403; S3 words them as AccessDenied.
    status, response_headers, body = _key_response(self, request, full_url, headers)
    if status == 403 and not body and request.method != "HEAD":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            "<Message>Access Denied</Message></Error>"
        ).encode()
        response_headers = dict(response_headers or {}, **{"content-type": "application/xml"})
    return status, response_headers, body


s3_responses.S3Response.key_response = _refusals_with_a_body


# ---------------------------------------------------------------------------------------
# What the request being served is (set by the dispatcher below, read by the IAM check).
# moto's server runs each request in one thread, start to end.

_request = threading.local()


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------------------------------
# Credentials moto knows, by access key id.


class _Known:
    """An access key: its secret, its session token (None for an IAM user's key) and when
    it stops working (None: never)."""

    def __init__(self, secret, token=None, expiration=None, active=True):
        self.secret = secret
        self.token = token
        self.expiration = expiration
        self.active = active


class _FederatedSession:
    """Credentials GetFederationToken issued: whose they are and what limits them."""

    def __init__(self, account_id, partition, user_name, name, policy, policy_arns, duration):
        self.account_id = account_id
        self.partition = partition
        self.user_name = user_name
        self.name = name
        self.policy = policy
        self.policy_arns = policy_arns
        self.expiration = _utcnow() + datetime.timedelta(seconds=duration)
        self.access_key_id = None
        self.secret_access_key = None
        self.session_token = random_session_token()

    @property
    def arn(self):
        return f"arn:{self.partition}:sts::{self.account_id}:federated-user/{self.name}"


def _federated_sessions(backend):
    sessions = getattr(backend, "_federated_sessions", None)
    if sessions is None:
        sessions = backend._federated_sessions = {}
    return sessions


def _federated_session(access_key_id):
    for _, _, backend in list(sts_backends.iter_backends()):
        session = _federated_sessions(backend).get(access_key_id)
        if session is not None:
            return session
    return None


def _assumed_role(access_key_id):
    for _, _, backend in list(sts_backends.iter_backends()):
        for role in list(backend.assumed_roles):
            if role.access_key_id == access_key_id:
                return role
    return None


def _user_key(access_key_id):
    """(user, access key) of an IAM user's long-term key, or None."""
    for _, _, backend in list(iam_backends.iter_backends()):
        key = backend.access_keys.get(access_key_id)
        if key is not None and key.user_name is not None and key.user_name in backend.users:
            return backend.users[key.user_name], key
    return None


def _known(access_key_id):
    session = _federated_session(access_key_id)
    if session is not None:
        return _Known(session.secret_access_key, session.session_token, session.expiration)
    role = _assumed_role(access_key_id)
    if role is not None:
        return _Known(role.secret_access_key, role.session_token, _aware(role.expiration))
    found = _user_key(access_key_id)
    if found is not None:
        _, key = found
        return _Known(key.secret_access_key, active=key.status == "Active")
    return None


# ---------------------------------------------------------------------------------------
# Presigned (query-signed) requests, checked before moto sees them.

_QUERY_AUTH = re.compile(r"(?:^|&)X-Amz-(?:Algorithm|Credential|Signature)=")
_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_WEEK = 604800
_SKEW = datetime.timedelta(minutes=15)
_UNRESERVED = "-_.~"  # with A-Z a-z 0-9, which quote never encodes


class _Refusal(Exception):
    def __init__(self, status, code, message, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def _params_error(message):
    return _Refusal(400, "AuthorizationQueryParametersError", message)


def _query_pairs(raw):
    """[(name bytes, value bytes)] of a raw query string, decoded once (`+` is a space)."""
    pairs = []
    for part in raw.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        pairs.append(
            (unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" ")))
        )
    return pairs


def _raw_path(environ):
    """The request's path exactly as the client sent it, as bytes."""
    raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").encode("latin-1")
    if b"://" in raw.split(b"?", 1)[0]:
        raw = urlsplit(raw).path
    path = raw.split(b"?", 1)[0]
    if not path:
        path = environ.get("PATH_INFO", "/").encode("latin-1")
    return path if path.startswith(b"/") else b"/" + path


def _canonical_uri(path, service):
    if service == "s3":
        # S3: the path URI-encoded once, never normalised.
        return quote(unquote_to_bytes(path), safe="/" + _UNRESERVED)
    # Every other service: the normalised path, URI-encoded again.
    segments = []
    for segment in path.split(b"/"):
        if segment == b".":
            continue
        if segment == b"..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    normalised = b"/".join(segments)
    if not normalised.startswith(b"/"):
        normalised = b"/" + normalised
    if path.endswith(b"/") and not normalised.endswith(b"/"):
        normalised += b"/"
    return quote(normalised, safe="/" + _UNRESERVED)


def _header(environ, name):
    key = name.upper().replace("-", "_")
    if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        key = "HTTP_" + key
    return environ.get(key)


def _signing_key(secret, date, region, service):
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _body(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    import io

    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _check_query_signature(environ):
    """None when the request is not query-signed; raises _Refusal when S3 would refuse it;
    else the credential parts moto's IAM check needs."""
    raw_query = environ.get("QUERY_STRING", "").encode("latin-1")
    if not _QUERY_AUTH.search(raw_query.decode("latin-1")):
        return None
    if environ.get("HTTP_AUTHORIZATION"):
        raise _Refusal(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            ArgumentName="Authorization",
            ArgumentValue=environ["HTTP_AUTHORIZATION"],
        )
    pairs = _query_pairs(raw_query)
    params = {}
    for name, value in pairs:
        params.setdefault(name.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
    if any(name not in params for name in _REQUIRED):
        raise _params_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            "X-Amz-Expires parameters."
        )
    if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise _params_error('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    credential = params["X-Amz-Credential"].split("/")
    if len(credential) != 5 or not all(credential):
        raise _params_error(
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
            'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    access_key_id, date, region, service, terminal = credential
    _request.service = service
    if terminal != "aws4_request":
        raise _params_error(
            f'Error parsing the X-Amz-Credential parameter; incorrect terminal "{terminal}". '
            'This endpoint uses "aws4_request".'
        )
    amz_date = params["X-Amz-Date"]
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc
        )
    except ValueError:
        raise _params_error(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        ) from None
    if date != amz_date[:8]:
        raise _params_error("Invalid credential date. Date is not the same as X-Amz-Date.")
    expires = params["X-Amz-Expires"]
    if not re.fullmatch(r"-?\d+", expires):
        raise _params_error("X-Amz-Expires should be a number")
    if int(expires) < 0:
        raise _params_error("X-Amz-Expires must be non-negative")
    if int(expires) > _WEEK:
        raise _params_error(
            f"X-Amz-Expires must be less than a week (in seconds) that is; {_WEEK}"
        )

    known = _known(access_key_id)
    token = params.get("X-Amz-Security-Token")
    unknown = _Refusal(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
        AWSAccessKeyId=access_key_id,
    )
    if known is None or not known.active:
        raise unknown
    if known.token is None:
        if token is not None:
            raise _Refusal(400, "InvalidToken", "The provided token is malformed or otherwise invalid.", **{"Token-0": token})
    else:
        if token is None:
            raise unknown
        if not hmac.compare_digest(token, known.token):
            raise _Refusal(400, "InvalidToken", "The provided token is malformed or otherwise invalid.", **{"Token-0": token})
        if known.expiration is not None and _utcnow() > known.expiration:
            raise _Refusal(400, "ExpiredToken", "The provided token has expired.", **{"Token-0": token})

    now = _utcnow()
    server_time = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    expiry = signed_at + datetime.timedelta(seconds=int(expires))
    if now > expiry:
        raise _Refusal(
            403,
            "AccessDenied",
            "Request has expired",
            **{
                "X-Amz-Expires": expires,
                "Expires": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServerTime": server_time,
            },
        )
    if signed_at > now + _SKEW:
        raise _Refusal(403, "AccessDenied", "Request is not valid yet")

    signed_headers = params["X-Amz-SignedHeaders"].split(";")
    names = [h.strip().lower() for h in signed_headers]
    unsigned = sorted(
        key[5:].lower().replace("_", "-")
        for key in environ
        if key.startswith("HTTP_X_AMZ_") and key[5:].lower().replace("_", "-") not in names
    )
    if "host" not in names:
        unsigned = ["host"] + unsigned
    if unsigned:
        raise _Refusal(
            403,
            "AccessDenied",
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )

    query = sorted(
        (quote(name, safe=_UNRESERVED), quote(value, safe=_UNRESERVED))
        for name, value in pairs
        if name != b"X-Amz-Signature"
    )
    canonical_query = "&".join(f"{name}={value}" for name, value in query)
    canonical_headers = ""
    for name in names:
        value = _header(environ, name) or ""
        canonical_headers += f"{name}:{' '.join(value.split())}\n"
    payload = "UNSIGNED-PAYLOAD" if service == "s3" else hashlib.sha256(_body(environ)).hexdigest()
    canonical_request = "\n".join(
        [
            environ.get("REQUEST_METHOD", "GET"),
            _canonical_uri(_raw_path(environ), service),
            canonical_query,
            canonical_headers,
            ";".join(names),
            payload,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    expected = hmac.new(
        _signing_key(known.secret, date, region, service),
        string_to_sign.encode("utf-8"),
        hashlib.sha256,
    ).hexdigest()
    provided = params["X-Amz-Signature"]
    if not hmac.compare_digest(expected, provided.lower()) or provided != provided.lower():
        raise _Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            AWSAccessKeyId=access_key_id,
            StringToSign=string_to_sign,
            SignatureProvided=provided,
            CanonicalRequest=canonical_request,
        )
    return {
        "credential": params["X-Amz-Credential"],
        "signed_headers": ";".join(names),
        "signature": provided,
        "token": token,
        "signed_at": signed_at,
    }


def _refusal_body(refusal, service):
    request_id = uuid.uuid4().hex[:16].upper()
    if service in (None, "s3"):
        extra = "".join(
            f"<{name}>{escape(str(value))}</{name}>"
            for name, value in refusal.extra.items()
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(refusal.code)}</Code><Message>{escape(refusal.message)}</Message>"
            f"{extra}<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(refusal.code)}</Code>"
        f"<Message>{escape(refusal.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )


_dispatch = DomainDispatcherApplication.__call__


def _checked_dispatch(self, environ, start_response):
    _request.__dict__.clear()
    if environ.get("PATH_INFO") in _WELL_KNOWN:
        return _well_known(environ, start_response)
    _request.secure = environ.get("wsgi.url_scheme") == "https"
    _request.source_ip = environ.get("REMOTE_ADDR")
    try:
        _request.presigned = _check_query_signature(environ)
    except _Refusal as refusal:
        body = _refusal_body(refusal, getattr(_request, "service", None)).encode("utf-8")
        start_response(
            f"{refusal.status} {HTTP_STATUS_CODES.get(refusal.status, '')}",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _checked_dispatch

_infer_service_region_host = DomainDispatcherApplication.infer_service_region_host


def _routed_by_query_credential(self, environ, path):
    # moto routes a request by its Authorization header; a query-signed one by its scope.
    presigned = getattr(_request, "presigned", None)
    if presigned is not None and not environ.get("HTTP_AUTHORIZATION"):
        signed = dict(environ)
        signed["HTTP_AUTHORIZATION"] = (
            f"AWS4-HMAC-SHA256 Credential={presigned['credential']}, "
            f"SignedHeaders={presigned['signed_headers']}, Signature={presigned['signature']}"
        )
        try:
            return _infer_service_region_host(self, signed, path)
        except Exception:
            pass
    return _infer_service_region_host(self, environ, path)


DomainDispatcherApplication.infer_service_region_host = _routed_by_query_credential

_get_access_key = BaseResponse.get_access_key


def _access_key_of_query_signed(self):
    # moto takes the account from the key; a query-signed request names it in the query.
    presigned = getattr(_request, "presigned", None)
    if presigned is not None and "Authorization" not in self.headers:
        return presigned["credential"].split("/")[0]
    return _get_access_key(self)


BaseResponse.get_access_key = _access_key_of_query_signed


# ---------------------------------------------------------------------------------------
# Identity and session policies, evaluated as IAM evaluates them.

_ALLOW, _DENY, _NEUTRAL = "Allow", "Deny", "Neutral"


class _Unsupported(Exception):
    pass


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _variable(name, context):
    if name in ("*", "?", "$"):
        return name
    values = context.get(name.strip().lower())
    if values is None or len(values) != 1:
        return None
    return values[0]


def _literal(text, context, versioned):
    """`text` with its policy variables replaced; None when one has no value."""
    if not versioned or "${" not in text:
        return text
    missing = []

    def value(match):
        found = _variable(match.group(1), context)
        if found is None:
            missing.append(match.group(1))
            return ""
        return found

    replaced = re.sub(r"\$\{([^}]*)\}", value, text)
    return None if missing else replaced


def _pattern(text, context, versioned, ignore_case=False):
    """A compiled regex for a policy pattern (`*`, `?`, policy variables); None when a
    variable has no value (then nothing matches)."""
    out = []
    i = 0
    while i < len(text):
        if versioned and text.startswith("${", i) and "}" in text[i:]:
            end = text.index("}", i)
            found = _variable(text[i + 2 : end], context)
            if found is None:
                return None
            out.append(re.escape(found))
            i = end + 1
            continue
        c = text[i]
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches(pattern, value, context, versioned, ignore_case=False):
    compiled = _pattern(str(pattern), context, versioned, ignore_case)
    return compiled is not None and compiled.fullmatch(value) is not None


def _number(text):
    return float(text)


def _date(text):
    text = str(text)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _compare(convert, compare):
    def test(expected, actual, context, versioned):
        try:
            return compare(convert(actual), convert(expected))
        except (TypeError, ValueError):
            return False

    return test


def _string_equals(ignore_case):
    def test(expected, actual, context, versioned):
        wanted = _literal(str(expected), context, versioned)
        if wanted is None:
            return False
        return actual.lower() == wanted.lower() if ignore_case else actual == wanted

    return test


def _like(expected, actual, context, versioned):
    return _matches(expected, actual, context, versioned)


def _bool(expected, actual, context, versioned):
    return str(actual).lower() == str(expected).lower()


def _ip(expected, actual, context, versioned):
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(str(expected), strict=False)
    except ValueError:
        return False


# operator: (positive test, negated)
_OPERATORS = {
    "StringEquals": (_string_equals(False), False),
    "StringNotEquals": (_string_equals(False), True),
    "StringEqualsIgnoreCase": (_string_equals(True), False),
    "StringNotEqualsIgnoreCase": (_string_equals(True), True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_like, False),
    "ArnLike": (_like, False),
    "ArnNotEquals": (_like, True),
    "ArnNotLike": (_like, True),
    "Bool": (_bool, False),
    "NumericEquals": (_compare(_number, lambda a, e: a == e), False),
    "NumericNotEquals": (_compare(_number, lambda a, e: a == e), True),
    "NumericLessThan": (_compare(_number, lambda a, e: a < e), False),
    "NumericLessThanEquals": (_compare(_number, lambda a, e: a <= e), False),
    "NumericGreaterThan": (_compare(_number, lambda a, e: a > e), False),
    "NumericGreaterThanEquals": (_compare(_number, lambda a, e: a >= e), False),
    "DateEquals": (_compare(_date, lambda a, e: a == e), False),
    "DateNotEquals": (_compare(_date, lambda a, e: a == e), True),
    "DateLessThan": (_compare(_date, lambda a, e: a < e), False),
    "DateLessThanEquals": (_compare(_date, lambda a, e: a <= e), False),
    "DateGreaterThan": (_compare(_date, lambda a, e: a > e), False),
    "DateGreaterThanEquals": (_compare(_date, lambda a, e: a >= e), False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
}


def _condition_holds(operator, block, context, versioned):
    qualifier = None
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            raise _Unsupported(f"{qualifier}:{operator}")
    if_exists = operator.endswith("IfExists") and operator != "IfExists"
    base = operator[: -len("IfExists")] if if_exists else operator
    for key, expected in block.items():
        actual = context.get(key.lower())
        expected = [str(e).lower() if isinstance(e, bool) else e for e in _as_list(expected)]
        if base == "Null":
            if (actual is None) != (str(expected[0]).lower() == "true"):
                return False
            continue
        if base not in _OPERATORS:
            raise _Unsupported(operator)
        test, negated = _OPERATORS[base]
        if not actual:
            # A key the request lacks: true only for IfExists, ForAllValues and negations.
            if if_exists or qualifier == "ForAllValues" or negated:
                continue
            return False

        def one(value):
            hit = any(test(e, value, context, versioned) for e in expected)
            return not hit if negated else hit

        held = all(map(one, actual)) if qualifier == "ForAllValues" else any(map(one, actual))
        if not held:
            return False
    return True


def _statement_applies(statement, action, resource, context, versioned):
    if "Action" in statement:
        if not any(_matches(a, action, {}, False, True) for a in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_matches(a, action, {}, False, True) for a in _as_list(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(_matches(r, resource, context, versioned) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(_matches(r, resource, context, versioned) for r in _as_list(statement["NotResource"])):
            return False
    try:
        for operator, block in (statement.get("Condition") or {}).items():
            if not _condition_holds(operator, block, context, versioned):
                return False
    except _Unsupported as e:
        # Fails closed: an Allow it guards does not apply, a Deny does.
        print(f"moto_server.py: condition operator {e} is not evaluated here", file=sys.stderr)
        return statement.get("Effect") == "Deny"
    return True


def _document(policy):
    """A policy as moto holds it (text, a dict naming its document, a managed policy, or
    the document itself) -> the document as a dict."""
    if isinstance(policy, dict) and "Statement" in policy:
        return policy
    if isinstance(policy, dict):
        policy = policy["policy_document"]
    if not isinstance(policy, (str, bytes, dict)):
        policy = next(v.document for v in policy.versions if v.is_default)
    return policy if isinstance(policy, dict) else json.loads(policy)


def _evaluate(policies, action, resource, context):
    """Deny when a statement denies, Allow when one allows, else Neutral."""
    result = _NEUTRAL
    for policy in policies:
        document = _document(policy)
        versioned = document.get("Version") == "2012-10-17"
        for statement in _as_list(document.get("Statement", [])):
            if not _statement_applies(statement, action, resource, context, versioned):
                continue
            if statement.get("Effect") == "Deny":
                return _DENY
            if statement.get("Effect") == "Allow":
                result = _ALLOW
    return result


def _managed_documents(account_id, partition, arns):
    policies = iam_backends[account_id][partition].managed_policies
    # A session policy that cannot be found allows nothing.
    return [policies.get(arn) or {"Statement": []} for arn in arns]


def _policy_arns(response):
    arns = response._get_param("PolicyArns") or []
    found = []
    for entry in arns:
        if isinstance(entry, dict):
            arn = entry.get("arn") or entry.get("Arn")
        else:
            arn = entry
        if arn:
            found.append(arn)
    return found


# ---------------------------------------------------------------------------------------
# Federated users' keys, for moto's IAM check.


class _FederatedUserAccessKey:
    def __init__(self, session):
        self.session = session
        self.account_id = session.account_id
        self.partition = session.partition

    @property
    def arn(self):
        return self.session.arn

    def create_credentials(self):
        from botocore.credentials import Credentials

        s = self.session
        return Credentials(s.access_key_id, s.secret_access_key, s.session_token)

    def collect_policies(self):
        if self.session.user_name is None:
            return []
        user = access_control.IAMUserAccessKey.__new__(access_control.IAMUserAccessKey)
        user.account_id = self.account_id
        user.partition = self.partition
        user._owner_user_name = self.session.user_name
        try:
            return user.collect_policies()
        except Exception:
            return []  # the user is gone: nothing is allowed


def _header_value(headers, name):
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


_create_access_key = access_control.create_access_key


def _create_access_key_as_aws(account_id, partition, access_key_id, headers):
    token = _header_value(headers, "X-Amz-Security-Token")
    session = _federated_session(access_key_id)
    if session is not None:
        if token is None:
            raise access_control.CreateAccessKeyFailure(reason="InvalidId")
        if token != session.session_token:
            raise access_control.CreateAccessKeyFailure(reason="InvalidToken")
        if _utcnow() > session.expiration:
            raise access_control.CreateAccessKeyFailure(reason="ExpiredToken")
        return _FederatedUserAccessKey(session)
    key = _create_access_key(account_id, partition, access_key_id, headers)
    if isinstance(key, access_control.AssumedRoleAccessKey):
        role = _assumed_role(access_key_id)
        if role is not None and _utcnow() > _aware(role.expiration):
            raise access_control.CreateAccessKeyFailure(reason="ExpiredToken")
    else:
        found = _user_key(access_key_id)
        if found is not None and found[1].status != "Active":
            raise access_control.CreateAccessKeyFailure(reason="InvalidId")
    return key


access_control.create_access_key = _create_access_key_as_aws


_raise_invalid_access_key = {
    cls: cls._raise_invalid_access_key for cls in (access_control.IAMRequest, access_control.S3IAMRequest)
}


def _invalid_access_key_as_aws(cls):
    def raise_it(self, reason):
        if reason == "ExpiredToken":
            if cls is access_control.S3IAMRequest:
                raise S3ClientError("ExpiredToken", "The provided token has expired.")
            raise _StsError("ExpiredToken", "The security token included in the request is expired")
        if self._service == "sts":  # in STS's error shape, which the SDKs read
            raise _StsError("InvalidClientTokenId", "The security token included in the request is invalid.")
        _raise_invalid_access_key[cls](self, reason)

    return raise_it


for _cls in _raise_invalid_access_key:
    _cls._raise_invalid_access_key = _invalid_access_key_as_aws(_cls)

_raise_signature_does_not_match = access_control.IAMRequest._raise_signature_does_not_match


def _signature_mismatch_as_sts_says_it(self):
    if self._service == "sts":
        raise _StsError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.",
        )
    _raise_signature_does_not_match(self)


access_control.IAMRequest._raise_signature_does_not_match = _signature_mismatch_as_sts_says_it

_request_init = access_control.IAMRequestBase.__init__


def _init_reading_query_credentials(self, account_id, method, path, data, body, headers, action):
    # moto reads credentials from the Authorization header only; a presigned request (whose
    # signature the dispatcher has checked) carries them in its query.
    presigned = getattr(_request, "presigned", None)
    self._presigned = presigned is not None and _header_value(headers, "Authorization") is None
    if self._presigned:
        synthetic = {
            k: v for k, v in headers.items() if k.lower() not in ("authorization", "x-amz-security-token")
        }
        synthetic["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={presigned['credential']}, "
            f"SignedHeaders={presigned['signed_headers']}, Signature={presigned['signature']}"
        )
        if presigned["token"] is not None:
            synthetic["X-Amz-Security-Token"] = presigned["token"]
        headers = synthetic
    elif _header_value(headers, "Authorization") is None and isinstance(
        self, access_control.S3IAMRequest
    ):
        # An anonymous S3 request (moto would fail on the missing header with a 500).
        from moto.s3.exceptions import S3AccessDeniedError

        raise S3AccessDeniedError()
    _request_init(self, account_id, method, path, data, body, headers, action)


access_control.IAMRequestBase.__init__ = _init_reading_query_credentials

_check_signature = access_control.IAMRequestBase.check_signature


def _check_signature_unless_presigned(self):
    if getattr(self, "_presigned", False):
        return  # checked by the dispatcher, as S3 checks a query signature
    _check_signature(self)


access_control.IAMRequestBase.check_signature = _check_signature_unless_presigned


def _context(request, key):
    """The condition keys of the request being authorised (lower-cased) -> [values]."""
    context = {}
    now = _utcnow()
    context["aws:currenttime"] = [now.strftime("%Y-%m-%dT%H:%M:%SZ")]
    context["aws:epochtime"] = [str(int(now.timestamp()))]
    context["aws:securetransport"] = ["true" if getattr(_request, "secure", False) else "false"]
    if getattr(_request, "source_ip", None):
        context["aws:sourceip"] = [_request.source_ip]
    context["aws:requestedregion"] = [request._region]
    context["aws:principalaccount"] = [key.account_id]
    context["aws:principalarn"] = [key.arn]
    if isinstance(key, _FederatedUserAccessKey):
        context["aws:principaltype"] = ["FederatedUser"]
        context["aws:userid"] = [f"{key.account_id}:{key.session.name}"]
    elif isinstance(key, access_control.AssumedRoleAccessKey):
        context["aws:principaltype"] = ["AssumedRole"]
        context["aws:principalarn"] = [
            f"arn:{key.partition}:iam::{key.account_id}:role/{key._owner_role_name}"
        ]
        role = _assumed_role(key._access_key_id)
        if role is not None:
            context["aws:userid"] = [role.user_id]
    else:
        context["aws:principaltype"] = ["User"]
        context["aws:username"] = [key._owner_user_name]
        user = key.backend.users.get(key._owner_user_name)
        if user is not None:
            context["aws:userid"] = [user.id]
    if request._action.lower() == "sts:getwebidentitytoken":
        context.update(_web_identity_condition_keys(request._data or {}))
    if request._service == "s3":
        query = {}
        for name, value in parse_qsl(request._path.partition("?")[2], keep_blank_values=True):
            query.setdefault(name, value)
        for name in ("prefix", "delimiter", "max-keys"):
            if name in query:
                context[f"s3:{name}"] = [query[name]]
        presigned = getattr(request, "_presigned", False)
        context["s3:authtype"] = ["REST-QUERY-STRING" if presigned else "REST-HEADER"]
        context["s3:signatureversion"] = ["AWS4-HMAC-SHA256"]
        if presigned and getattr(_request, "presigned", None):
            age = now - _request.presigned["signed_at"]
            context["s3:signatureage"] = [str(int(age.total_seconds() * 1000))]
        for name in (
            "x-amz-content-sha256",
            "x-amz-acl",
            "x-amz-server-side-encryption",
            "x-amz-storage-class",
            "x-amz-copy-source",
            "x-amz-metadata-directive",
        ):
            value = _header_value(request._headers, name)
            if value is not None:
                context[f"s3:{name}"] = [value]
    return context


def _session_policies(key):
    """The session policies limiting `key` ([] with none), and whether it has any."""
    if isinstance(key, _FederatedUserAccessKey):
        s = key.session
        documents = [s.policy] if s.policy else []
        documents += _managed_documents(s.account_id, s.partition, s.policy_arns)
        return documents, True  # federated: no session policy, nothing allowed
    if isinstance(key, access_control.AssumedRoleAccessKey):
        role = _assumed_role(key._access_key_id)
        if role is None:
            return [], False
        documents = [role.policy] if role.policy else []
        arns = getattr(role, "policy_arns", [])
        documents += _managed_documents(key.account_id, key.partition, arns)
        return documents, bool(documents)
    return [], False


def _check_action_permitted_as_aws(self, resource):
    if self._action == "sts:GetCallerIdentity":
        return  # always allowed, even with an explicit Deny
    key = self._access_key
    if isinstance(key, _FederatedUserAccessKey) and self._action.split(":")[0].lower() in ("iam", "sts"):
        self._raise_access_denied()  # federated users may call neither IAM nor STS
    context = _context(self, key)
    identity = _evaluate(key.collect_policies(), self._action, resource, context)
    if identity == _DENY:
        self._raise_access_denied()
    permitted = identity == _ALLOW
    documents, limited = _session_policies(key)
    if limited:
        session = _evaluate(documents, self._action, resource, context)
        if session == _DENY:
            self._raise_access_denied()
        permitted = permitted and session == _ALLOW
    if self._is_assuming_role_operation(resource):
        permitted = permitted and self._check_role_trust_relationship(resource)
    if not permitted:
        self._raise_access_denied()


access_control.IAMRequestBase.check_action_permitted = _check_action_permitted_as_aws


# ---------------------------------------------------------------------------------------
# STS: GetFederationToken issues real credentials; AssumeRole remembers its PolicyArns.

_get_federation_token = sts_responses.TokenResponse.get_federation_token


def _temporary_caller(access_key_id):
    return _federated_session(access_key_id) is not None or _assumed_role(access_key_id) is not None


def _duration(self, least, most):
    """DurationSeconds, refused as STS refuses it outside [least, most]."""
    value = self._get_param("DurationSeconds")
    if value is None:
        return None
    value = int(value)
    for wrong, side, bound in ((value < least, "greater", least), (value > most, "less", most)):
        if wrong:
            raise _StsError(
                "ValidationError",
                f"1 validation error detected: Value '{value}' at 'durationSeconds' failed to "
                f"satisfy constraint: Member must have value {side} than or equal to {bound}",
                400,
            )
    return value


def _validation_error(value, field, constraint):
    return _StsError(
        "ValidationError",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: {constraint}",
        400,
    )


def _check_session_parameters(self, name_param, field, longest):
    """The session's name and inline policy, refused as STS refuses them."""
    name = self._get_param(name_param)
    if name is not None:
        if len(name) > longest:
            raise _validation_error(name, field, f"Member must have length less than or equal to {longest}")
        if len(name) < 2:
            raise _validation_error(name, field, "Member must have length greater than or equal to 2")
        if not re.fullmatch(r"[\w+=,.@-]*", name, re.ASCII):
            raise _validation_error(name, field, r"Member must satisfy regular expression pattern: [\w+=,.@-]*")
    session_policy = self._get_param("Policy")
    if session_policy is not None:
        if len(session_policy) > 2048:
            raise _validation_error(
                '{"Version": "2012-10-17", "Statement": [...]}',
                "policy",
                "Member must have length less than or equal to 2048",
            )
        try:
            document = json.loads(session_policy)
        except ValueError:
            document = None
        if not isinstance(document, dict) or "Statement" not in document:
            raise _StsError("MalformedPolicyDocument", "The policy is not in the valid JSON format.", 400)


def _issue_federation_token(self):
    caller = self.get_access_key()
    if _temporary_caller(caller):
        raise _StsError("AccessDenied", "Cannot call GetFederationToken with session credentials")
    _duration(self, 900, 129600)
    _check_session_parameters(self, "Name", "name", 32)
    result = _get_federation_token(self)
    found = _user_key(caller)
    user = found[0] if found is not None else None
    account_id = user.account_id if user is not None else self.current_account
    partition = self.partition
    session = _FederatedSession(
        account_id=account_id,
        partition=partition,
        user_name=user.name if user is not None else None,
        name=self._get_param("Name"),
        policy=self._get_param("Policy"),
        policy_arns=_policy_arns(self),
        duration=self._get_int_param("DurationSeconds", 43200),
    )
    key = iam_backends[account_id][partition].create_temp_access_key()
    session.access_key_id = key.access_key_id
    session.secret_access_key = key.secret_access_key
    _federated_sessions(sts_backends[account_id][partition])[key.access_key_id] = session
    answer = result.result
    answer["Credentials"]["AccessKeyId"] = session.access_key_id
    answer["Credentials"]["SecretAccessKey"] = session.secret_access_key
    answer["Credentials"]["SessionToken"] = session.session_token
    answer["Credentials"]["Expiration"] = session.expiration.replace(tzinfo=None)
    answer["FederatedUser"] = {
        "FederatedUserId": f"{account_id}:{session.name}",
        "Arn": session.arn,
    }
    return result


sts_responses.TokenResponse.get_federation_token = _issue_federation_token

_determine_resource = sts_responses.TokenResponse._determine_resource


def _federated_user_resource(self):
    # AWS authorises GetFederationToken on the federated user's ARN.
    if "GetFederationToken" in self.querystring.get("Action", []):
        name = (self.querystring.get("Name") or [""])[0]
        return f"arn:{self.partition}:sts::{self.current_account}:federated-user/{name}"
    return _determine_resource(self)


sts_responses.TokenResponse._determine_resource = _federated_user_resource

_assume_role = sts_responses.TokenResponse.assume_role


def _assume_role_remembering_policy_arns(self):
    _check_session_parameters(self, "RoleSessionName", "roleSessionName", 64)
    duration = _duration(self, 900, 43200)
    if duration is not None:
        if duration > 3600 and _assumed_role(self.get_access_key()) is not None:
            raise _StsError(
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                "assumed by role chaining.",
                400,
            )
        arn = self._get_param("RoleArn") or ""
        account = arn.split(":")[4] if arn.count(":") >= 5 else self.current_account
        try:
            role = iam_backends[account][self.partition].get_role_by_arn(arn)
        except Exception:
            role = None
        if role is not None and duration > int(role.max_session_duration or 3600):
            raise _StsError(
                "ValidationError",
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                400,
            )
    result = _assume_role(self)
    result.result["Credentials"].policy_arns = _policy_arns(self)
    return result


sts_responses.TokenResponse.assume_role = _assume_role_remembering_policy_arns

_get_caller_identity = STSBackend.get_caller_identity


def _caller_identity_of_federated_users(self, access_key_id, region):
    session = _federated_session(access_key_id)
    if session is not None:
        return f"{session.account_id}:{session.name}", session.arn, session.account_id
    return _get_caller_identity(self, access_key_id, region)


STSBackend.get_caller_identity = _caller_identity_of_federated_users


# ---------------------------------------------------------------------------------------
# STS: GetWebIdentityToken (outbound identity federation), signed with the run's key, and
# the issuer's discovery documents.

_TOKEN_NAMESPACE = "https://sts.amazonaws.com/"
_WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/jwks.json")
# The order of P-384, for the ES384 key derived from the RSA one.
_P384_ORDER = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
)
_issuer_keys = {}


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _kid(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def _issuer():
    """(issuer, {"RS256": (kid, key), "ES384": (kid, key)}), or None when outbound identity
    federation is off here ($AWS_WEB_IDENTITY_SIGNING_KEY or $AWS_WEB_IDENTITY_ISSUER unset)."""
    path = os.environ.get("AWS_WEB_IDENTITY_SIGNING_KEY")
    issuer = os.environ.get("AWS_WEB_IDENTITY_ISSUER")
    if not path or not issuer:
        return None
    keys = _issuer_keys.get(path)
    if keys is None:
        with open(path, "rb") as f:
            rsa_key = serialization.load_pem_private_key(f.read(), password=None)
        if not isinstance(rsa_key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} is not an RSA private key")
        der = rsa_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Every wrapper reads the same RSA key, so this one is the same everywhere too.
        scalar = int.from_bytes(hashlib.sha384(b"ES384" + der).digest(), "big") % (_P384_ORDER - 1) + 1
        ec_key = ec.derive_private_key(scalar, ec.SECP384R1())
        keys = {
            "RS256": (_kid(rsa_key.public_key()), rsa_key),
            "ES384": (_kid(ec_key.public_key()), ec_key),
        }
        _issuer_keys[path] = keys
    return issuer, keys


def _jwks(keys):
    kid, rsa_key = keys["RS256"]
    numbers = rsa_key.public_key().public_numbers()
    rsa_jwk = {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }
    kid, ec_key = keys["ES384"]
    point = ec_key.public_key().public_numbers()
    ec_jwk = {
        "kty": "EC",
        "use": "sig",
        "alg": "ES384",
        "kid": kid,
        "crv": "P-384",
        "x": _b64url(point.x.to_bytes(48, "big")),
        "y": _b64url(point.y.to_bytes(48, "big")),
    }
    return {"keys": [rsa_jwk, ec_jwk]}


def _well_known(environ, start_response):
    """The issuer's OpenID configuration and JWKS, unauthenticated (404 while disabled)."""
    path = environ.get("PATH_INFO", "")
    found = _issuer()
    status, headers = "200 OK", [("Content-Type", "application/json")]
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        status, body = "405 METHOD NOT ALLOWED", {"message": "Method Not Allowed"}
        headers.append(("Allow", "GET, HEAD"))
    elif found is None:
        status, body = "404 NOT FOUND", {"message": "Outbound identity federation is not enabled"}
    elif path == _WELL_KNOWN[1]:
        body = _jwks(found[1])
    else:
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
        body = {
            "issuer": found[0],
            "jwks_uri": f"{environ.get('wsgi.url_scheme', 'http')}://{host}{_WELL_KNOWN[1]}",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES384"],
            "claims_supported": ["iss", "sub", "aud", "iat", "nbf", "exp", "jti", _TOKEN_NAMESPACE],
        }
    data = json.dumps(body).encode("utf-8")
    headers.append(("Content-Length", str(len(data))))
    start_response(status, headers)
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [data]


def _members(query, name):
    """The values of the query list `name` (`name.member.N`), in N's order."""
    prefix = f"{name}.member."
    found = []
    for key, values in query.items():
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            found.append((int(key[len(prefix) :]), values[0] if isinstance(values, list) else values))
    return [value for _, value in sorted(found)]


def _request_tags(query):
    """[(Key, Value)] of `Tags.member.N.Key` / `.Value`, in N's order."""
    tags = {}
    for key, values in query.items():
        match = re.fullmatch(r"Tags\.member\.(\d+)\.(Key|Value)", key)
        if match:
            value = values[0] if isinstance(values, list) else values
            tags.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [(tag.get("Key"), tag.get("Value")) for _, tag in sorted(tags.items())]


def _first(query, name):
    values = query.get(name)
    if isinstance(values, list):
        return values[0] if values else None
    return values


def _web_identity_condition_keys(query):
    """The request condition keys of GetWebIdentityToken (lower-cased) -> [values]."""
    keys = {}
    audiences = _members(query, "Audience")
    if audiences:
        keys["sts:identitytokenaudience"] = audiences
    for name in ("DurationSeconds", "SigningAlgorithm"):
        value = _first(query, name)
        if value is not None:
            keys[f"sts:{name.lower()}"] = [value]
    tags = _request_tags(query)
    for key, value in tags:
        if key is not None and value is not None:
            keys[f"aws:requesttag/{key.lower()}"] = [value]
    if tags:
        keys["aws:tagkeys"] = [key for key, _ in tags if key is not None]
    return keys


def _web_identity_errors(query):
    """STS's validation of a GetWebIdentityToken request: the failed constraints."""
    errors = []

    def failed(value, field, constraint):
        shown = "null" if value is None else f"'{value}'"
        errors.append(f"Value {shown} at '{field}' failed to satisfy constraint: {constraint}")

    audiences = _members(query, "Audience")
    listed = "[" + ", ".join(audiences) + "]"
    if not audiences and "Audience" not in query:
        failed(None, "audience", "Member must not be null")
    elif not audiences:
        failed(listed, "audience", "Member must have length greater than or equal to 1")
    elif len(audiences) > 10:
        failed(listed, "audience", "Member must have length less than or equal to 10")
    elif any(not 1 <= len(a) <= 1000 for a in audiences):
        failed(
            listed,
            "audience",
            "Member must satisfy constraint: [Member must have length less than or equal to 1000, "
            "Member must have length greater than or equal to 1]",
        )
    duration = _first(query, "DurationSeconds")
    if duration is not None:
        if not re.fullmatch(r"-?\d+", duration):
            failed(duration, "durationSeconds", "Member must be an integer")
        elif int(duration) < 60:
            failed(duration, "durationSeconds", "Member must have value greater than or equal to 60")
        elif int(duration) > 3600:
            failed(duration, "durationSeconds", "Member must have value less than or equal to 3600")
    algorithm = _first(query, "SigningAlgorithm")
    if algorithm is None:
        failed(None, "signingAlgorithm", "Member must not be null")
    elif algorithm not in ("RS256", "ES384"):
        failed(algorithm, "signingAlgorithm", "Member must satisfy enum value set: [RS256, ES384]")
    tags = _request_tags(query)
    if len(tags) > 50:
        failed(f"[{len(tags)} tags]", "tags", "Member must have length less than or equal to 50")
    pattern = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]"
    for key, value in tags:
        if key is None or not 1 <= len(key) <= 128 or not re.fullmatch(r"[\w\s.:/=+\-@]+", key):
            failed(key, "tags.member.key", f"Member must satisfy regular expression pattern: {pattern}+")
        if value is None or len(value) > 256 or not re.fullmatch(r"[\w\s.:/=+\-@]*", value):
            failed(value, "tags.member.value", f"Member must satisfy regular expression pattern: {pattern}*")
    return errors


def _sign(algorithm, kid, key, claims):
    header = {"alg": algorithm, "typ": "JWT", "kid": kid}
    compact = lambda part: _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
    signing_input = f"{compact(header)}.{compact(claims)}".encode("ascii")
    if algorithm == "RS256":
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA384())))
        signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    return f"{signing_input.decode('ascii')}.{_b64url(signature)}"


def _get_web_identity_token(self):
    access_key_id = self.get_access_key()
    session = _federated_session(access_key_id)
    if session is not None:  # federated users may call no STS action but GetCallerIdentity
        raise _StsError(
            "AccessDenied", f"User: {session.arn} is not authorized to perform: sts:GetWebIdentityToken"
        )
    query = self.querystring
    errors = _web_identity_errors(query)
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected"
        raise _StsError("ValidationError", f"{count}: " + "; ".join(errors), 400)
    found = _issuer()
    if found is None:
        raise _StsError(
            "OutboundWebIdentityFederationDisabledException",
            "The outbound web identity federation feature is not enabled for this account. To use "
            "this feature, you must first enable it through the AWS Management Console or API.",
        )
    issuer, keys = found
    audiences = _members(query, "Audience")
    duration = int(_first(query, "DurationSeconds") or 300)
    algorithm = _first(query, "SigningAlgorithm")
    issued = int(time.time())
    expires = issued + duration
    role = _assumed_role(access_key_id)
    if role is not None:
        # A role session's token: its subject is the role, and it may not outlive the session.
        if expires > _aware(role.expiration).timestamp():
            raise _StsError(
                "SessionDurationEscalationException",
                "The requested token duration would extend the session beyond its original "
                "expiration time.",
            )
        subject, account = role.role_arn, role.account_id
    else:  # as GetCallerIdentity names the caller: an IAM user, or moto's default identity
        _, subject, account = self.backend.get_caller_identity(access_key_id, self.region)
    credential = _header_value(self.headers, "Authorization") or ""
    scope = re.search(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/", credential)
    aws = {
        "aws_account": account,
        "source_region": scope.group(1) if scope else self.region,
        "principal_id": subject,
    }
    tags = _request_tags(query)
    if tags:
        aws["request_tags"] = dict(tags)
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": audiences[0] if len(audiences) == 1 else audiences,
        "iat": issued,
        "nbf": issued,
        "exp": expires,
        "jti": str(uuid.uuid4()),
        _TOKEN_NAMESPACE: aws,
    }
    kid, key = keys[algorithm]
    self._web_identity_request_id = str(uuid.uuid4())
    expiration = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
    body = (
        '<GetWebIdentityTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<GetWebIdentityTokenResult>"
        f"<WebIdentityToken>{_sign(algorithm, kid, key, claims)}</WebIdentityToken>"
        f"<Expiration>{expiration.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</Expiration>"
        "</GetWebIdentityTokenResult>"
        f"<ResponseMetadata><RequestId>{self._web_identity_request_id}</RequestId></ResponseMetadata>"
        "</GetWebIdentityTokenResponse>"
    )
    # As bytes, so that moto leaves its RequestId alone (the header is set to it below).
    return body.encode("utf-8"), {"status": 200, "Content-Type": "text/xml"}


sts_responses.TokenResponse.get_web_identity_token = _get_web_identity_token

_sts_call_action = sts_responses.TokenResponse.call_action


def _request_id_as_in_the_body(self):
    status, headers, body = _sts_call_action(self)
    request_id = getattr(self, "_web_identity_request_id", None)
    if request_id is not None:
        headers["x-amzn-requestid"] = request_id
    return status, headers, body


sts_responses.TokenResponse.call_action = _request_id_as_in_the_body


if __name__ == "__main__":
    main()
