"""Checks that infra/moto_server.py makes moto check what AWS checks for presigned URLs,
scoped credentials and GetWebIdentityToken, and still does what it did before; and, where
infra/emulators.sh has started it, that infra/token_endpoint.py checks a client assertion
made from the plain moto's web identity token as Entra ID checks it.

Starts its own three wrappers on free loopback ports, as infra/emulators.sh starts them:
plain (no auth), over HTTPS (with a throwaway CA from infra/test_tls.py), and checking IAM
(INITIAL_NO_AUTH_ACTION_COUNT=3, set up by infra/moto_iam.py). They sign web identity
tokens with $AWS_WEB_IDENTITY_SIGNING_KEY as $AWS_WEB_IDENTITY_ISSUER (infra/emulators.sh
exports both), or with a key and an issuer made here when those are unset. Prints one line
per check and exits non-zero when any fails.

Usage: .venv/bin/python infra/check_moto_wrapper.py
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from unittest import mock
from urllib.parse import quote, urlsplit

import boto3
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
V4 = Config(signature_version="s3v4", retries={"max_attempts": 1})
UNRESERVED = "-_.~"
# Keys whose paths S3 encodes in every way that matters: spaces, `+`, `%`, unicode, and
# the sub-delimiters an SDK percent-encodes.
KEYS = [
    "prefix/plain.txt",
    "prefix/with space.txt",
    "prefix/plus+sign.txt",
    "prefix/per%cent and %20 literal.txt",
    "prefix/unicodé ☃ 日本.txt",
    "prefix/odd !'()*&$@=;:,~.txt",
    "prefix/q?mark#hash.txt",
    "prefix/deeper/still/file.mp4",
]
BODY = b"0123456789abcdefghijklmnopqrstuvwxyz"

results = []


def check(name, fn):
    try:
        fn()
    except Exception as e:  # one line per check, whatever failed
        detail = "".join(traceback.format_exception_only(type(e), e)).strip().replace("\n", " | ")
        print(f"FAIL {name}: {detail[:600]}", flush=True)
        results.append(False)
    else:
        print(f"ok   {name}", flush=True)
        results.append(True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Moto:
    def __init__(self, name, logs, env=None, tls=None, endpoint=None):
        self.name = name
        if endpoint is not None:  # already running (in this process)
            self.endpoint, self.verify, self.process = endpoint, None, None
            return
        port = free_port()
        args = [sys.executable, str(ROOT / "infra/moto_server.py"), "-H", "127.0.0.1", "-p", str(port)]
        self.verify = None
        if tls is not None:
            args += ["-c", str(tls / "server.pem"), "-k", str(tls / "server-key.pem")]
            self.verify = str(tls / "ca.pem")
        scheme = "https" if tls else "http"
        self.endpoint = f"{scheme}://127.0.0.1:{port}"
        self.log = logs / f"{name}.log"
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait(self):
        for _ in range(150):
            try:
                status, _, _ = fetch(self, f"{self.endpoint}/moto-api/")
                if status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self, service, keys=None, **extra):
        keys = keys or {"AccessKeyId": "AKIAUNCHECKED0000000", "SecretAccessKey": "unchecked"}
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys.get("SessionToken"),
            verify=self.verify,
            config=V4 if service == "s3" else Config(retries={"max_attempts": 1}),
            **extra,
        )


def fetch(moto, url, method="GET", headers=None, body=None):
    """The request exactly as given (no re-quoting of the path): (status, headers, body)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=moto.verify)
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=30)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def error_of(body):
    """(Code, Message) of an S3 error body, which must be <Error><Code/><Message/></Error>."""
    root = ET.fromstring(body)
    assert root.tag == "Error", f"error body is <{root.tag}>: {body[:300]!r}"
    return root.findtext("Code"), root.findtext("Message")


def expect_error(moto, url, status, code, method="GET", headers=None, body=None, message=None):
    got, _, content = fetch(moto, url, method, headers, body)
    assert got == status, f"{method} answered {got}, not {status}: {content[:400]!r}"
    found, text = error_of(content)
    assert found == code, f"code {found}, not {code}: {content[:400]!r}"
    if message is not None:
        assert text == message, f"message {text!r}, not {message!r}"
    return content


def expect_ok(moto, url, method="GET", headers=None, body=None, status=200):
    got, _, content = fetch(moto, url, method, headers, body)
    assert got == status, f"{method} answered {got}, not {status}: {content[:600]!r}"
    return content


def denied(fn, code="AccessDenied", status=None):
    try:
        fn()
    except ClientError as e:
        found = e.response["Error"]["Code"]
        assert found == code, f"refused with {found}, not {code}: {e}"
        got = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status is None or got == status, f"{code} with status {got}, not {status}"
        return
    raise AssertionError(f"allowed, where AWS refuses with {code}")


def presign(moto, keys, method, path_as_sent, canonical_path, expires=60, when=None, signed=None):
    """A SigV4 query-signed URL made here rather than by botocore, so that the path sent
    and the path signed can differ on purpose."""
    host = urlsplit(moto.endpoint).netloc
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    params = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{keys['AccessKeyId']}/{date}/{REGION}/s3/aws4_request"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if keys.get("SessionToken"):
        params.append(("X-Amz-Security-Token", keys["SessionToken"]))
    query = "&".join(
        f"{quote(k, safe=UNRESERVED)}={quote(v, safe=UNRESERVED)}" for k, v in sorted(params)
    )
    canonical = "\n".join(
        [method, canonical_path, query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    scope = f"{date}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + keys["SecretAccessKey"]).encode()
    for part in (date, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{moto.endpoint}{path_as_sent}?{query}&X-Amz-Signature={signature}"


def encoded(bucket, key):
    return f"/{bucket}/" + quote(key.encode(), safe="/" + UNRESERVED)


def sts_raw(moto, keys, params):
    """An STS query call signed here: (status, body), for reading the error's XML shape."""
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    request = AWSRequest(
        method="POST",
        url=moto.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(keys["AccessKeyId"], keys["SecretAccessKey"]), "sts", REGION).add_auth(
        request
    )
    headers = dict(request.headers.items())
    status, _, content = fetch(moto, moto.endpoint + "/", "POST", headers, body.encode())
    return status, content


def made_user(moto, name, permissions=None, env=None):
    """An IAM user and its key pair, made with `infra/moto_iam.py user` as tests make them."""
    args = [sys.executable, str(ROOT / "infra/moto_iam.py"), "user", moto.endpoint, name]
    if permissions:
        args.append(permissions)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOTO_IAM_ADMIN_")}
    if moto.verify:
        environ["AWS_CA_BUNDLE"] = moto.verify
    out = subprocess.run(
        args, capture_output=True, text=True, check=True, cwd=ROOT, env={**environ, **(env or {})}
    )
    return json.loads(out.stdout)


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resources, condition=None):
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def reads(bucket, prefix):
    """The session policy the service hands out for reading under `prefix`."""
    return policy(
        allow("s3:GetObject", f"arn:aws:s3:::{bucket}/{prefix}*"),
        allow("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"StringLike": {"s3:prefix": f"{prefix}*"}}),
    )


def writes(bucket, prefix):
    return policy(allow("s3:PutObject", f"arn:aws:s3:::{bucket}/{prefix}*"))


def bucket_name():
    return f"check-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------------------------
# Presigned requests, on a moto that checks no IAM (plain, and over HTTPS).


def presigned_checks(moto):
    n = moto.name
    iam = moto.client("iam")
    user = f"presigner-{uuid.uuid4().hex[:6]}"
    keys = made_user(moto, user)
    s3 = moto.client("s3", keys)
    bucket = bucket_name()
    s3.create_bucket(Bucket=bucket)
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=BODY)

    def url(key, method="get_object", expires=60, **params):
        return s3.generate_presigned_url(
            method, Params={"Bucket": bucket, "Key": key, **params}, ExpiresIn=expires
        )

    def get_every_key():
        for key in KEYS:
            got = expect_ok(moto, url(key))
            assert got == BODY, f"{key!r}: {got[:60]!r}"

    check(f"{n}: presigned GET returns the object, for keys with spaces, +, %, unicode, sub-delims", get_every_key)

    def ranged():
        got, headers, content = fetch(moto, url(KEYS[1]), headers={"Range": "bytes=0-9"})
        assert got == 206, f"answered {got}: {content[:300]!r}"
        assert content == BODY[:10], content

    check(f"{n}: presigned GET with Range: bytes=0-9 answers 206 with 10 bytes", ranged)

    def put():
        key = "prefix/uploaded é+ .bin"
        expect_ok(moto, url(key, "put_object"), "PUT", body=b"written through a URL")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"written through a URL"

    check(f"{n}: presigned PUT writes the object", put)

    def put_signed_content_type():
        key = "prefix/typed.mp4"
        signed = url(key, "put_object", ContentType="video/mp4")
        expect_ok(moto, signed, "PUT", {"Content-Type": "video/mp4"}, b"video")
        expect_error(moto, signed, 403, "SignatureDoesNotMatch", "PUT", {"Content-Type": "text/html"}, b"x")

    check(f"{n}: a presigned PUT with a signed Content-Type refuses another one", put_signed_content_type)

    def altered_key():
        good = url("prefix/plain.txt")
        expect_error(moto, good.replace("prefix/plain.txt", "prefix/other.txt"), 403, "SignatureDoesNotMatch")
        expect_error(moto, good.replace("/prefix/", "/Prefix/"), 403, "SignatureDoesNotMatch")

    check(f"{n}: the URL with its key altered is refused with 403 SignatureDoesNotMatch", altered_key)

    def altered_query():
        good = url("prefix/plain.txt")
        expect_error(moto, good.replace("X-Amz-Expires=60", "X-Amz-Expires=600"), 403, "SignatureDoesNotMatch")
        expect_error(moto, good + "&response-content-type=text%2Fhtml", 403, "SignatureDoesNotMatch")
        expect_error(moto, url("prefix/plain.txt"), 403, "SignatureDoesNotMatch", "PUT", body=b"x")

    check(f"{n}: the URL with its query or method altered is refused (SignatureDoesNotMatch)", altered_query)

    def path_encoding():
        key = "prefix/with space+plus%pct é.txt"
        s3.put_object(Bucket=bucket, Key=key, Body=BODY)
        sent = encoded(bucket, key)
        assert expect_ok(moto, presign(moto, keys, "GET", sent, sent)) == BODY
        double = quote(sent, safe="/" + UNRESERVED)
        expect_error(moto, presign(moto, keys, "GET", sent, double), 403, "SignatureDoesNotMatch")
        raw = f"/{bucket}/{key}"
        expect_error(moto, presign(moto, keys, "GET", sent, raw), 403, "SignatureDoesNotMatch")

    check(f"{n}: the canonical URI is the path encoded once (a double-encoded or raw one is refused)", path_encoding)

    def expired_by_date():
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)
        with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: past.replace(tzinfo=None)):
            old = url("prefix/plain.txt", expires=3600)
        content = expect_error(moto, old, 403, "AccessDenied", message="Request has expired")
        assert b"<X-Amz-Expires>3600</X-Amz-Expires>" in content, content

    check(f"{n}: a URL signed 2 h ago for 1 h is refused with 403 AccessDenied 'Request has expired'", expired_by_date)

    def expired_by_waiting():
        short = url("prefix/plain.txt", expires=1)
        time.sleep(2.1)
        expect_error(moto, short, 403, "AccessDenied", message="Request has expired")

    check(f"{n}: a URL signed with ExpiresIn=1 is refused 2 s later", expired_by_waiting)

    def too_long():
        expect_error(moto, url("prefix/plain.txt", expires=604801), 400, "AuthorizationQueryParametersError")
        expect_ok(moto, url("prefix/plain.txt", expires=604800))

    check(f"{n}: X-Amz-Expires over 604800 is 400 AuthorizationQueryParametersError (604800 passes)", too_long)

    def unknown_key():
        stranger = moto.client("s3", {"AccessKeyId": "AKIAUNKNOWN000000000", "SecretAccessKey": "x" * 40})
        signed = stranger.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": KEYS[0]})
        expect_error(moto, signed, 403, "InvalidAccessKeyId")

    check(f"{n}: an unknown access key is refused with 403 InvalidAccessKeyId", unknown_key)

    def wrong_secret():
        forged = moto.client("s3", {"AccessKeyId": keys["AccessKeyId"], "SecretAccessKey": "y" * 40})
        signed = forged.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": KEYS[0]})
        expect_error(moto, signed, 403, "SignatureDoesNotMatch")

    check(f"{n}: a known key signed with the wrong secret is refused (SignatureDoesNotMatch)", wrong_secret)

    def inactive_key():
        other = iam.create_access_key(UserName=user)["AccessKey"]
        signed = moto.client("s3", other).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": KEYS[0]}
        )
        expect_ok(moto, signed)
        iam.update_access_key(UserName=user, AccessKeyId=other["AccessKeyId"], Status="Inactive")
        expect_error(moto, signed, 403, "InvalidAccessKeyId")
        iam.delete_access_key(UserName=user, AccessKeyId=other["AccessKeyId"])
        expect_error(moto, signed, 403, "InvalidAccessKeyId")

    check(f"{n}: an inactive or deleted key is refused (InvalidAccessKeyId)", inactive_key)

    def unsigned_amz_header():
        expect_error(moto, url(KEYS[0]), 403, "AccessDenied", headers={"x-amz-acl": "public-read"})

    check(f"{n}: an x-amz-* header sent but not signed is refused (403 AccessDenied)", unsigned_amz_header)

    def malformed():
        good = url(KEYS[0])
        without = "&".join(p for p in good.split("&") if not p.startswith("X-Amz-Date="))
        expect_error(moto, without, 400, "AuthorizationQueryParametersError")
        expect_error(moto, good, 400, "InvalidArgument", headers={"Authorization": "AWS4-HMAC-SHA256 x"})

    check(f"{n}: a URL missing a parameter, or with an Authorization header too, is 400", malformed)

    def federated():
        sts = moto.client("sts", keys)
        first = sts.get_federation_token(Name="reader", Policy=reads(bucket, "prefix/"))["Credentials"]
        second = sts.get_federation_token(Name="reader", Policy=reads(bucket, "prefix/"))["Credentials"]
        assert first["AccessKeyId"] != second["AccessKeyId"], "the same key twice"
        assert first["SecretAccessKey"] != second["SecretAccessKey"], "the same secret twice"
        assert first["SessionToken"] != second["SessionToken"], "the same token twice"
        signed = moto.client("s3", first).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": KEYS[2]}
        )
        assert expect_ok(moto, signed) == BODY
        without = "&".join(p for p in signed.split("&") if not p.startswith("X-Amz-Security-Token="))
        expect_error(moto, without, 403, "InvalidAccessKeyId")
        other = dict(first, SessionToken=second["SessionToken"])
        signed = moto.client("s3", other).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": KEYS[2]}
        )
        expect_error(moto, signed, 400, "InvalidToken")

    check(f"{n}: GetFederationToken issues distinct credentials, which presign (the token is required)", federated)

    def assumed():
        role = iam.create_role(
            RoleName=f"presigner-{uuid.uuid4().hex[:6]}",
            AssumeRolePolicyDocument=policy(
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ),
        )["Role"]
        creds = moto.client("sts", keys).assume_role(
            RoleArn=role["Arn"], RoleSessionName="presigner", Policy=reads(bucket, "prefix/")
        )["Credentials"]
        signed = moto.client("s3", creds).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": KEYS[3]}
        )
        assert expect_ok(moto, signed) == BODY

    check(f"{n}: AssumeRole credentials presign", assumed)

    def durations():
        loose = Config(parameter_validation=False, retries={"max_attempts": 1})
        sts = boto3.client(
            "sts",
            endpoint_url=moto.endpoint,
            region_name=REGION,
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            verify=moto.verify,
            config=loose,
        )
        denied(lambda: sts.get_federation_token(Name="short", DurationSeconds=899), "ValidationError")
        denied(lambda: sts.get_federation_token(Name="long", DurationSeconds=129601), "ValidationError")
        role = iam.create_role(
            RoleName=f"hour-{uuid.uuid4().hex[:6]}",
            AssumeRolePolicyDocument=policy(
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ),
        )["Role"]
        denied(
            lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="long", DurationSeconds=7200),
            "ValidationError",
        )
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="hour", DurationSeconds=3600)
        denied(lambda: sts.get_federation_token(Name="n" * 33), "ValidationError")
        denied(lambda: sts.get_federation_token(Name="no/slash"), "ValidationError")
        sts.get_federation_token(Name="n" * 32)
        denied(lambda: sts.get_federation_token(Name="bad-policy", Policy="{not json"), "MalformedPolicyDocument")
        denied(lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="a b"), "ValidationError")
        denied(
            lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="big", Policy="x" * 2049),
            "ValidationError",
        )

    check(f"{n}: STS refuses a DurationSeconds, name or session policy that AWS refuses", durations)

    def presigned_head():
        got, headers, _ = fetch(moto, url(KEYS[0], "head_object"), "HEAD")
        assert got == 200, got
        assert headers.get("Content-Length") == str(len(BODY)), headers
        got, _, _ = fetch(moto, url(KEYS[0], "head_object").replace("plain", "plane"), "HEAD")
        assert got == 403, got

    check(f"{n}: presigned HEAD answers 200, and 403 when altered", presigned_head)

    def header_signed_still_served():
        # A plain moto still takes any header-signed request (it checks no auth).
        anyone = moto.client("s3")
        assert anyone.get_object(Bucket=bucket, Key=KEYS[0])["Body"].read() == BODY

    check(f"{n}: header-signed requests are served as before (no auth on this moto)", header_signed_still_served)


# ---------------------------------------------------------------------------------------
# Scoped credentials, on the moto that checks IAM.


def iam_checks(moto, env):
    n = moto.name
    admin = {"AccessKeyId": env["MOTO_IAM_ADMIN_KEY_ID"], "SecretAccessKey": env["MOTO_IAM_ADMIN_SECRET"]}
    service = {"AccessKeyId": env["MOTO_IAM_SERVICE_KEY_ID"], "SecretAccessKey": env["MOTO_IAM_SERVICE_SECRET"]}
    iam = moto.client("iam", admin)
    admin_s3 = moto.client("s3", admin)
    bucket, other_bucket = bucket_name(), bucket_name()
    for b in (bucket, other_bucket):
        admin_s3.create_bucket(Bucket=b)
        for key in ("prefix/a.mp4", "prefix/b.mov", "prefix/sub/c.mp4", "other/d.mp4", "prefix-not/e.mp4"):
            admin_s3.put_object(Bucket=b, Key=key, Body=BODY)

    def user(name, *statements):
        name = f"{name}-{uuid.uuid4().hex[:6]}"
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        if statements:
            iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=policy(*statements))
        return dict(iam.create_access_key(UserName=name)["AccessKey"], Arn=arn)

    def get(s3, key, b=bucket):
        return s3.get_object(Bucket=b, Key=key)["Body"].read()

    def listing(s3, prefix=None, b=bucket):
        args = {"Bucket": b, **({"Prefix": prefix} if prefix is not None else {})}
        return [o["Key"] for o in s3.list_objects_v2(**args).get("Contents", [])]

    # Presigned requests are authorised as their key's principal.
    reader = user("reader", allow("s3:GetObject", f"arn:aws:s3:::{bucket}/prefix/*"))
    nobody = user("nobody")

    def presigned_as_principal():
        s3 = moto.client("s3", reader)
        signed = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "prefix/a.mp4"})
        assert expect_ok(moto, signed) == BODY
        got, _, content = fetch(moto, signed, headers={"Range": "bytes=0-9"})
        assert got == 206 and content == BODY[:10], (got, content[:200])
        outside = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "other/d.mp4"})
        expect_error(moto, outside, 403, "AccessDenied")
        put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "prefix/new"})
        expect_error(moto, put, 403, "AccessDenied", "PUT", body=b"x")
        none = moto.client("s3", nobody).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "prefix/a.mp4"}
        )
        expect_error(moto, none, 403, "AccessDenied")

    check(f"{n}: a presigned request is authorised as its key's user (inside 200/206, outside 403)", presigned_as_principal)

    def presigned_still_checked_here():
        signed = moto.client("s3", reader).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "prefix/a.mp4"}
        )
        expect_error(moto, signed.replace("prefix/a.mp4", "prefix/b.mov"), 403, "SignatureDoesNotMatch")
        unsigned = signed.split("?")[0]
        expect_error(moto, unsigned, 403, "AccessDenied")

    check(f"{n}: the signature is checked here too, and a URL without one is refused", presigned_still_checked_here)

    # GetFederationToken.
    federator = made_user(
        moto,
        f"federator-{uuid.uuid4().hex[:6]}",
        policy(
            allow("s3:*", [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]),
            allow("sts:GetFederationToken", "*"),
        ),
        env,
    )
    sts_fed = moto.client("sts", federator)

    def token(session_policy=None, name="reader"):
        args = {"Name": name, **({"Policy": session_policy} if session_policy else {})}
        return sts_fed.get_federation_token(**args)

    def federated_reads():
        answer = token(reads(bucket, "prefix/"))
        s3 = moto.client("s3", answer["Credentials"])
        assert get(s3, "prefix/a.mp4") == BODY
        assert get(s3, "prefix/sub/c.mp4") == BODY
        assert sorted(listing(s3, "prefix/")) == ["prefix/a.mp4", "prefix/b.mov", "prefix/sub/c.mp4"]
        assert listing(s3, "prefix/sub/") == ["prefix/sub/c.mp4"]
        denied(lambda: get(s3, "other/d.mp4"))
        denied(lambda: get(s3, "prefix-not/e.mp4"))
        denied(lambda: listing(s3, "other/"))
        denied(lambda: listing(s3, "prefix"))  # "prefix" is not under "prefix/"
        denied(lambda: listing(s3))
        denied(lambda: s3.put_object(Bucket=bucket, Key="prefix/new", Body=b"x"))
        denied(lambda: s3.delete_object(Bucket=bucket, Key="prefix/a.mp4"))
        signed = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "prefix/b.mov"})
        assert expect_ok(moto, signed) == BODY
        outside = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "other/d.mp4"})
        expect_error(moto, outside, 403, "AccessDenied")

    check(f"{n}: federation-token credentials read inside prefix/ and are refused outside", federated_reads)

    def federated_presigned_listing():
        s3 = moto.client("s3", token(reads(bucket, "prefix/"))["Credentials"])
        inside = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": bucket, "Prefix": "prefix/sub/"})
        assert b"<Key>prefix/sub/c.mp4</Key>" in expect_ok(moto, inside)
        outside = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": bucket, "Prefix": "other/"})
        expect_error(moto, outside, 403, "AccessDenied")
        bare = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": bucket})
        expect_error(moto, bare, 403, "AccessDenied")

    check(f"{n}: a presigned ListBucket is held to the session policy's s3:prefix condition", federated_presigned_listing)

    def federated_writes():
        s3 = moto.client("s3", token(writes(bucket, "prefix/"))["Credentials"])
        s3.put_object(Bucket=bucket, Key="prefix/written", Body=b"x")
        signed = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "prefix/by-url"})
        expect_ok(moto, signed, "PUT", body=b"by url")
        assert get(admin_s3, "prefix/by-url") == b"by url"
        denied(lambda: s3.put_object(Bucket=bucket, Key="other/written", Body=b"x"))
        denied(lambda: get(s3, "prefix/a.mp4"))
        outside = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "other/by-url"})
        expect_error(moto, outside, 403, "AccessDenied", "PUT", body=b"x")

    check(f"{n}: federation-token credentials for PutObject on prefix/ write there only", federated_writes)

    def federated_intersection():
        everything = policy(allow("s3:*", "*"))
        s3 = moto.client("s3", token(everything)["Credentials"])
        assert get(s3, "other/d.mp4") == BODY
        denied(lambda: get(s3, "prefix/a.mp4", other_bucket))  # the user may not
        denied(lambda: listing(s3, None, other_bucket))

    check(f"{n}: federation: the user's own policies bound what a session policy allows", federated_intersection)

    def federated_without_policy():
        s3 = moto.client("s3", token()["Credentials"])
        denied(lambda: get(s3, "prefix/a.mp4"))
        denied(lambda: listing(s3, "prefix/"))

    check(f"{n}: federation without a session policy allows nothing", federated_without_policy)

    def federated_identity_and_limits():
        answer = token(policy(allow("*", "*")), name="who")
        assert answer["FederatedUser"]["Arn"].endswith(":federated-user/who"), answer["FederatedUser"]
        creds = answer["Credentials"]
        me = moto.client("sts", creds).get_caller_identity()
        assert me["Arn"] == answer["FederatedUser"]["Arn"], me
        denied(lambda: moto.client("iam", creds).list_users())
        denied(lambda: moto.client("sts", creds).get_federation_token(Name="again"))
        again = token(policy(allow("*", "*")))["Credentials"]
        assert again["AccessKeyId"] != creds["AccessKeyId"]

    check(f"{n}: federated users are who STS says, and may call neither IAM nor STS", federated_identity_and_limits)

    def federation_permission_checked():
        denied(lambda: moto.client("sts", reader).get_federation_token(Name="not-allowed", Policy=reads(bucket, "prefix/")))
        account = env["MOTO_IAM_SERVICE_USER_ARN"].split(":")[4]
        named = user("named", allow("sts:GetFederationToken", f"arn:aws:sts::{account}:federated-user/grant-*"))
        sts = moto.client("sts", named)
        sts.get_federation_token(Name="grant-1", Policy=reads(bucket, "prefix/"))
        denied(lambda: sts.get_federation_token(Name="other-1", Policy=reads(bucket, "prefix/")))

    check(f"{n}: GetFederationToken needs sts:GetFederationToken on the federated user's ARN", federation_permission_checked)

    # AssumeRole with a session policy.
    assumer = user("assumer", allow("sts:AssumeRole", "*"))
    assumer_arn = assumer["Arn"]
    role_name = f"scoped-{uuid.uuid4().hex[:6]}"
    role_arn = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=policy(
            {"Effect": "Allow", "Principal": {"AWS": assumer_arn}, "Action": "sts:AssumeRole"}
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="bucket",
        PolicyDocument=policy(allow("s3:*", [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])),
    )
    sts_assumer = moto.client("sts", assumer)

    def session(session_policy=None):
        args = {"RoleArn": role_arn, "RoleSessionName": "scoped"}
        if session_policy:
            args["Policy"] = session_policy
        return moto.client("s3", sts_assumer.assume_role(**args)["Credentials"])

    def assumed_reads():
        s3 = session(reads(bucket, "prefix/"))
        assert get(s3, "prefix/a.mp4") == BODY
        assert "prefix/a.mp4" in listing(s3, "prefix/")
        denied(lambda: get(s3, "other/d.mp4"))
        denied(lambda: listing(s3, "other/"))
        denied(lambda: listing(s3))
        denied(lambda: s3.put_object(Bucket=bucket, Key="prefix/new", Body=b"x"))
        signed = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "prefix/a.mp4"})
        assert expect_ok(moto, signed) == BODY
        outside = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "other/d.mp4"})
        expect_error(moto, outside, 403, "AccessDenied")

    check(f"{n}: AssumeRole with a read session policy reads inside prefix/ and is refused outside", assumed_reads)

    def assumed_writes():
        s3 = session(writes(bucket, "prefix/"))
        s3.put_object(Bucket=bucket, Key="prefix/role-written", Body=b"x")
        denied(lambda: s3.put_object(Bucket=bucket, Key="other/role-written", Body=b"x"))
        denied(lambda: get(s3, "prefix/a.mp4"))
        signed = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "prefix/role-url"})
        expect_ok(moto, signed, "PUT", body=b"y")
        outside = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "other/role-url"})
        expect_error(moto, outside, 403, "AccessDenied", "PUT", body=b"y")

    check(f"{n}: AssumeRole with a PutObject session policy writes under prefix/ only", assumed_writes)

    def assumed_without_policy_and_intersection():
        s3 = session()
        assert get(s3, "other/d.mp4") == BODY  # the role's own policy alone
        wide = session(policy(allow("s3:*", "*")))
        denied(lambda: get(wide, "prefix/a.mp4", other_bucket))  # the role may not

    check(f"{n}: AssumeRole: without a session policy the role's apply; with one, both must allow", assumed_without_policy_and_intersection)

    def conditions():
        question = session(
            policy(allow("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"StringLike": {"s3:prefix": "pre?ix/*"}}))
        )
        listing(question, "prefix/")
        denied(lambda: listing(question, "preffix/"))
        exact = session(
            policy(allow("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"StringEquals": {"s3:prefix": "prefix/"}}))
        )
        listing(exact, "prefix/")
        denied(lambda: listing(exact, "prefix/sub/"))
        wildcard = session(policy(allow("s3:Get*", f"arn:aws:s3:::{bucket}/*/sub/*")))
        assert get(wildcard, "prefix/sub/c.mp4") == BODY
        denied(lambda: get(wildcard, "prefix/a.mp4"))
        deny = session(
            policy(
                allow("s3:*", "*"),
                {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/prefix/sub/*"},
            )
        )
        assert get(deny, "prefix/a.mp4") == BODY
        denied(lambda: get(deny, "prefix/sub/c.mp4"))

    check(f"{n}: session policies: StringLike with ?, StringEquals, * in resources, explicit Deny", conditions)

    def role_policy_conditions():
        # A role's own policy with an s3:prefix condition is now evaluated (moto ignored it).
        name = f"listing-{uuid.uuid4().hex[:6]}"
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=policy(
                {"Effect": "Allow", "Principal": {"AWS": assumer_arn}, "Action": "sts:AssumeRole"}
            ),
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName=name,
            PolicyName="list",
            PolicyDocument=policy(
                allow("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"StringLike": {"s3:prefix": ["prefix/*"]}})
            ),
        )
        s3 = moto.client("s3", sts_assumer.assume_role(RoleArn=arn, RoleSessionName="listing")["Credentials"])
        listing(s3, "prefix/")
        denied(lambda: listing(s3, "other/"))
        denied(lambda: s3.head_bucket(Bucket=bucket), "403")  # HeadBucket has no prefix

    check(f"{n}: an identity policy's StringLike s3:prefix condition holds (HeadBucket has no prefix)", role_policy_conditions)

    def assumed_session_cannot_federate():
        iam.put_role_policy(RoleName=role_name, PolicyName="federate", PolicyDocument=policy(allow("sts:*", "*")))
        creds = sts_assumer.assume_role(RoleArn=role_arn, RoleSessionName="federate")["Credentials"]
        denied(lambda: moto.client("sts", creds).get_federation_token(Name="from-session", Policy=reads(bucket, "p/")))

    check(f"{n}: GetFederationToken with session credentials is refused", assumed_session_cannot_federate)

    # What the wrapper corrected before.
    external_id = f"vv-{uuid.uuid4().hex}"
    customer = f"customer-{uuid.uuid4().hex[:6]}"
    customer_arn = iam.create_role(
        RoleName=customer,
        AssumeRolePolicyDocument=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": env["MOTO_IAM_SERVICE_ROLE_ARN"]},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=customer,
        PolicyName="bucket",
        PolicyDocument=policy(allow("s3:ListBucket", f"arn:aws:s3:::{bucket}")),
    )

    def external_id_and_chain():
        hop = moto.client("sts", service).assume_role(
            RoleArn=env["MOTO_IAM_SERVICE_ROLE_ARN"], RoleSessionName="service"
        )["Credentials"]
        sts = moto.client("sts", hop)
        denied(lambda: sts.assume_role(RoleArn=customer_arn, RoleSessionName="customer"))
        denied(lambda: sts.assume_role(RoleArn=customer_arn, RoleSessionName="customer", ExternalId="vv-other"))
        creds = sts.assume_role(RoleArn=customer_arn, RoleSessionName="customer", ExternalId=external_id)["Credentials"]
        s3 = moto.client("s3", creds)
        s3.head_bucket(Bucket=bucket)  # HeadBucket as s3:ListBucket
        listing(s3)
        denied(lambda: get(s3, "prefix/a.mp4"))

    check(f"{n}: external ID required, a role's sessions match it as principal, HeadBucket is ListBucket", external_id_and_chain)

    def sts_error_shape():
        status, content = sts_raw(
            moto,
            service,
            {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": customer_arn, "RoleSessionName": "raw-call"},
        )
        assert status == 403, (status, content[:300])
        root = ET.fromstring(content)
        assert root.tag.endswith("ErrorResponse"), content[:300]
        assert root.find("Error/Code") is not None or root.find("{*}Error/{*}Code") is not None, content[:300]
        assert b"<Errors>" not in content, content[:300]
        call = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
        for keys, code in (
            (dict(service, SecretAccessKey="w" * 40), b"<Code>SignatureDoesNotMatch</Code>"),
            ({"AccessKeyId": "AKIAUNKNOWN000000000", "SecretAccessKey": "w" * 40}, b"<Code>InvalidClientTokenId</Code>"),
        ):
            status, content = sts_raw(moto, keys, call)
            assert status == 403 and code in content and b"<Errors>" not in content, (status, content[:300])

    check(f"{n}: STS's AccessDenied, SignatureDoesNotMatch, InvalidClientTokenId are <ErrorResponse><Error>", sts_error_shape)


# ---------------------------------------------------------------------------------------
# GetWebIdentityToken, and the issuer's discovery documents.

AZURE_EXCHANGE = "api://AzureADTokenExchange"
LOOSE = Config(parameter_validation=False, retries={"max_attempts": 1})
UNCHECKED = {"AccessKeyId": "AKIAUNCHECKED0000000", "SecretAccessKey": "unchecked"}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unpadded(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_parts(token):
    header, claims, signature = token.split(".")
    return json.loads(unpadded(header)), json.loads(unpadded(claims)), unpadded(signature)


def verified(moto, token):
    """The claims of `token`, once its signature verifies with the key its kid names in the
    JWKS that the moto's OpenID configuration points to."""
    status, _, body = fetch(moto, f"{moto.endpoint}/.well-known/openid-configuration")
    assert status == 200, (status, body[:300])
    jwks_uri = json.loads(body)["jwks_uri"]
    status, _, body = fetch(moto, jwks_uri)
    assert status == 200, (status, body[:300])
    header, claims, signature = jwt_parts(token)
    assert header["typ"] == "JWT", header
    jwk = next(k for k in json.loads(body)["keys"] if k["kid"] == header["kid"])
    assert jwk["alg"] == header["alg"], (jwk, header)
    number = lambda name: int.from_bytes(unpadded(jwk[name]), "big")
    signed = token.rsplit(".", 1)[0].encode()
    if header["alg"] == "RS256":
        key = rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
        key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert header["alg"] == "ES384" and jwk["crv"] == "P-384", (header, jwk)
        key = ec.EllipticCurvePublicNumbers(number("x"), number("y"), ec.SECP384R1()).public_key()
        half = len(signature) // 2
        der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
        key.verify(der, signed, ec.ECDSA(hashes.SHA384()))
    return claims


def web_token(sts, *audiences, algorithm="RS256", **extra):
    """The JWT of a GetWebIdentityToken call."""
    answer = sts.get_web_identity_token(Audience=list(audiences), SigningAlgorithm=algorithm, **extra)
    return answer["WebIdentityToken"]


def sts_loose(moto, keys=None, region=REGION):
    """An STS client that sends what botocore would refuse to (AWS's checks are the server's)."""
    keys = keys or UNCHECKED
    return boto3.client(
        "sts",
        endpoint_url=moto.endpoint,
        region_name=region,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys.get("SessionToken"),
        verify=moto.verify,
        config=LOOSE,
    )


def web_identity_checks(moto):
    n = moto.name
    issuer = os.environ["AWS_WEB_IDENTITY_ISSUER"]
    sts = sts_loose(moto)

    def discovery():
        status, headers, body = fetch(moto, f"{moto.endpoint}/.well-known/openid-configuration")
        assert status == 200 and headers.get("Content-Type") == "application/json", (status, headers)
        configuration = json.loads(body)
        assert configuration["issuer"] == issuer, configuration
        assert configuration["jwks_uri"] == f"{moto.endpoint}/.well-known/jwks.json", configuration
        assert "RS256" in configuration["id_token_signing_alg_values_supported"], configuration
        status, _, body = fetch(moto, configuration["jwks_uri"])
        rsa_key = next(k for k in json.loads(body)["keys"] if k["kty"] == "RSA")
        assert {"use": "sig", "alg": "RS256"}.items() <= rsa_key.items(), rsa_key
        assert "=" not in rsa_key["n"] + rsa_key["e"] and rsa_key["e"] == "AQAB", rsa_key
        with open(os.environ["AWS_WEB_IDENTITY_SIGNING_KEY"], "rb") as f:
            public = serialization.load_pem_private_key(f.read(), None).public_key()
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert rsa_key["kid"] == hashlib.sha256(der).hexdigest()[:16], rsa_key["kid"]
        assert int.from_bytes(unpadded(rsa_key["n"]), "big") == public.public_numbers().n
        status, _, _ = fetch(moto, configuration["jwks_uri"], "POST", body=b"x")
        assert status == 405, status

    check(f"{n}: /.well-known/openid-configuration and jwks.json answer the issuer and the signing key", discovery)

    def token_claims():
        before = int(time.time())
        answer = sts.get_web_identity_token(Audience=[AZURE_EXCHANGE], SigningAlgorithm="RS256", DurationSeconds=120)
        header, _, _ = jwt_parts(answer["WebIdentityToken"])
        assert header["alg"] == "RS256" and header["typ"] == "JWT" and header["kid"], header
        claims = verified(moto, answer["WebIdentityToken"])
        caller = moto.client("sts").get_caller_identity()
        assert claims["iss"] == issuer, claims
        assert claims["sub"] == caller["Arn"], (claims, caller)
        assert claims["aud"] == AZURE_EXCHANGE, claims
        assert before <= claims["iat"] <= time.time() and claims["nbf"] == claims["iat"], claims
        assert claims["exp"] == claims["iat"] + 120, claims
        assert answer["Expiration"].timestamp() == claims["exp"], (answer["Expiration"], claims)
        uuid.UUID(claims["jti"])
        assert claims["https://sts.amazonaws.com/"] == {
            "aws_account": caller["Account"],
            "source_region": REGION,
            "principal_id": caller["Arn"],
        }, claims
        again = sts.get_web_identity_token(Audience=["a", "b"], SigningAlgorithm="RS256")
        claims = verified(moto, again["WebIdentityToken"])
        assert claims["aud"] == ["a", "b"] and claims["exp"] - claims["iat"] == 300, claims
        assert claims["jti"] != jwt_parts(answer["WebIdentityToken"])[1]["jti"]

    check(f"{n}: GetWebIdentityToken answers an RS256 JWT the JWKS verifies, with iss/sub/aud/exp as STS sets them", token_claims)

    def other_region_and_tags():
        west = sts_loose(moto, region="eu-west-1")
        answer = west.get_web_identity_token(
            Audience=[AZURE_EXCHANGE], SigningAlgorithm="ES384", Tags=[{"Key": "tenant", "Value": "t-1"}]
        )
        assert jwt_parts(answer["WebIdentityToken"])[0]["alg"] == "ES384"
        aws = verified(moto, answer["WebIdentityToken"])["https://sts.amazonaws.com/"]
        assert aws["source_region"] == "eu-west-1" and aws["request_tags"] == {"tenant": "t-1"}, aws

    check(f"{n}: ES384 tokens verify too; source_region is the credential scope's, tags are request_tags", other_region_and_tags)

    def principals():
        keys = made_user(moto, f"web-identity-{uuid.uuid4().hex[:6]}")
        claims = verified(moto, web_token(moto.client("sts", keys), "x"))
        assert claims["sub"] == keys["Arn"], (claims["sub"], keys["Arn"])
        role = moto.client("iam").create_role(
            RoleName=f"web-identity-{uuid.uuid4().hex[:6]}",
            Path="/federated/",
            AssumeRolePolicyDocument=policy(
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ),
        )["Role"]
        sts = moto.client("sts", keys)
        creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="session", DurationSeconds=900)["Credentials"]
        session = moto.client("sts", creds)
        claims = verified(moto, web_token(session, "x"))
        assert claims["sub"] == role["Arn"] and ":role/federated/" in role["Arn"], (claims["sub"], role["Arn"])
        assert claims["https://sts.amazonaws.com/"]["principal_id"] == role["Arn"], claims
        denied(lambda: web_token(session, "x", DurationSeconds=3600), "SessionDurationEscalationException", 403)
        federated = sts.get_federation_token(Name="fed", Policy=policy(allow("*", "*")))["Credentials"]
        denied(lambda: web_token(moto.client("sts", federated), "x"), "AccessDenied", 403)

    check(f"{n}: sub is a user's ARN, a role session's role ARN (which may not outlive it); federated users are refused", principals)

    def validation():
        ok = {"Audience": [AZURE_EXCHANGE], "SigningAlgorithm": "RS256"}
        for wrong in (
            {"SigningAlgorithm": "RS256"},
            {"Audience": [], "SigningAlgorithm": "RS256"},
            {"Audience": [f"aud-{i}" for i in range(11)], "SigningAlgorithm": "RS256"},
            {"Audience": ["x" * 1001], "SigningAlgorithm": "RS256"},
            {"Audience": [AZURE_EXCHANGE]},
            {**ok, "SigningAlgorithm": "HS256"},
            {**ok, "DurationSeconds": 59},
            {**ok, "DurationSeconds": 3601},
        ):
            denied(lambda: sts.get_web_identity_token(**wrong), "ValidationError", 400)
        for edge in ({**ok, "DurationSeconds": 60}, {**ok, "DurationSeconds": 3600}, {**ok, "Audience": ["x" * 1000] * 10}):
            sts.get_web_identity_token(**edge)
        call = {"Action": "GetWebIdentityToken", "Version": "2011-06-15", "SigningAlgorithm": "RS256"}
        status, content = sts_raw(moto, UNCHECKED, {**call, "DurationSeconds": "59"})
        assert status == 400 and content.startswith(b"<?xml"), (status, content[:300])
        root = ET.fromstring(content)
        assert root.tag == "ErrorResponse" and root.findtext("Error/Type") == "Sender", content[:300]
        assert root.findtext("Error/Code") == "ValidationError", content[:300]
        message = root.findtext("Error/Message")
        assert message.startswith("2 validation errors detected: ") and "'durationSeconds'" in message, message

    check(f"{n}: no audience, 11, 1001 characters, DurationSeconds 59/3601, a bad SigningAlgorithm are ValidationError", validation)

    def wire_shape():
        # The form the Rust SDK sends, and the answer's XML.
        call = {"Action": "GetWebIdentityToken", "Version": "2011-06-15", "Audience.member.1": AZURE_EXCHANGE}
        status, content = sts_raw(moto, UNCHECKED, {**call, "SigningAlgorithm": "RS256", "DurationSeconds": "300"})
        assert status == 200, (status, content[:300])
        ns = "{https://sts.amazonaws.com/doc/2011-06-15/}"
        root = ET.fromstring(content)
        assert root.tag == f"{ns}GetWebIdentityTokenResponse", root.tag
        token = root.findtext(f"{ns}GetWebIdentityTokenResult/{ns}WebIdentityToken")
        expiration = root.findtext(f"{ns}GetWebIdentityTokenResult/{ns}Expiration")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", expiration), expiration
        uuid.UUID(root.findtext(f"{ns}ResponseMetadata/{ns}RequestId"))
        assert verified(moto, token)["aud"] == AZURE_EXCHANGE

    check(f"{n}: the Rust SDK's form (Audience.member.1) is read, and the answer is STS's XML", wire_shape)


def web_identity_iam_checks(moto, env):
    n = moto.name
    account = env["MOTO_IAM_SERVICE_USER_ARN"].split(":")[4]
    azure_only = allow("sts:GetWebIdentityToken", "*", {"StringEquals": {"sts:IdentityTokenAudience": AZURE_EXCHANGE}})
    exchanger = made_user(moto, f"exchanger-{uuid.uuid4().hex[:6]}", policy(azure_only), env)
    nobody = made_user(moto, f"no-tokens-{uuid.uuid4().hex[:6]}", policy(allow("s3:*", "*")), env)

    def audience_condition():
        sts = moto.client("sts", exchanger)
        claims = verified(moto, web_token(sts, AZURE_EXCHANGE))
        assert claims["sub"] == exchanger["Arn"] and claims["aud"] == AZURE_EXCHANGE, claims
        assert claims["https://sts.amazonaws.com/"]["aws_account"] == account, claims
        denied(lambda: web_token(sts, "api://other"), "AccessDenied", 403)
        denied(lambda: web_token(moto.client("sts", nobody), AZURE_EXCHANGE), "AccessDenied", 403)

    check(f"{n}: sts:GetWebIdentityToken with StringEquals sts:IdentityTokenAudience: that audience only; without it, AccessDenied", audience_condition)

    def set_and_numeric_conditions():
        keys = made_user(moto, f"bounded-{uuid.uuid4().hex[:6]}", policy(allow("sts:GetWebIdentityToken", "*", {
            "ForAllValues:StringEquals": {"sts:IdentityTokenAudience": [AZURE_EXCHANGE, "api://second"]},
            "NumericLessThanEquals": {"sts:DurationSeconds": "300"},
            "StringEquals": {"sts:SigningAlgorithm": "RS256"},
        })), env)
        sts = moto.client("sts", keys)
        web_token(sts, AZURE_EXCHANGE, "api://second", DurationSeconds=300)
        denied(lambda: web_token(sts, AZURE_EXCHANGE, "api://third", DurationSeconds=300))
        denied(lambda: web_token(sts, AZURE_EXCHANGE, DurationSeconds=301))
        denied(lambda: web_token(sts, AZURE_EXCHANGE, algorithm="ES384", DurationSeconds=300))
        anyone = made_user(moto, f"any-{uuid.uuid4().hex[:6]}", policy(allow("sts:GetWebIdentityToken", "*", {
            "ForAnyValue:StringEquals": {"sts:IdentityTokenAudience": AZURE_EXCHANGE},
        })), env)
        web_token(moto.client("sts", anyone), "api://x", AZURE_EXCHANGE)
        denied(lambda: web_token(moto.client("sts", anyone), "api://x"))

    check(f"{n}: ForAllValues/ForAnyValue on the audiences, sts:DurationSeconds and sts:SigningAlgorithm are evaluated", set_and_numeric_conditions)

    def sessions():
        admin = {"AccessKeyId": env["MOTO_IAM_ADMIN_KEY_ID"], "SecretAccessKey": env["MOTO_IAM_ADMIN_SECRET"]}
        iam = moto.client("iam", admin)
        name = f"federating-{uuid.uuid4().hex[:6]}"
        trust = {"Effect": "Allow", "Principal": {"AWS": env["MOTO_IAM_SERVICE_USER_ARN"]}, "Action": "sts:AssumeRole"}
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=policy(trust))["Role"]
        iam.put_role_policy(RoleName=name, PolicyName="tokens", PolicyDocument=policy(azure_only))
        service = {"AccessKeyId": env["MOTO_IAM_SERVICE_KEY_ID"], "SecretAccessKey": env["MOTO_IAM_SERVICE_SECRET"]}
        creds = moto.client("sts", service).assume_role(RoleArn=role["Arn"], RoleSessionName="tokens")["Credentials"]
        sts = moto.client("sts", creds)
        claims = verified(moto, web_token(sts, AZURE_EXCHANGE))
        assert claims["sub"] == role["Arn"] == f"arn:aws:iam::{account}:role/{name}", (claims["sub"], role["Arn"])
        denied(lambda: web_token(sts, "api://other"))
        both = policy(allow(["sts:GetFederationToken", "sts:GetWebIdentityToken"], "*"))
        federator = made_user(moto, f"fed-tokens-{uuid.uuid4().hex[:6]}", both, env)
        fed = moto.client("sts", federator).get_federation_token(Name="tokens", Policy=policy(allow("*", "*")))
        denied(lambda: web_token(moto.client("sts", fed["Credentials"]), AZURE_EXCHANGE))
        call = {"Action": "GetWebIdentityToken", "Version": "2011-06-15", "Audience.member.1": AZURE_EXCHANGE}
        status, content = sts_raw(moto, nobody, {**call, "SigningAlgorithm": "RS256"})
        assert status == 403 and b"<ErrorResponse>" in content, (status, content[:300])
        assert b"<Code>AccessDenied</Code>" in content, content[:300]

    check(f"{n}: a role session's token names the role and is held to its policy; federated users are AccessDenied", sessions)


def token_stand_in_checks():
    """The Entra ID stand-in's client assertion path, end to end, where infra/emulators.sh
    started it (with the plain moto whose JWKS it trusts)."""
    names = (
        "AZURE_TOKEN_ENDPOINT",
        "AZURE_CONSENTED_TENANTS",
        "AZURE_UNCONSENTED_TENANT",
        "AZURE_IDENTITY_CLIENT_ID",
        "MOTO_ENDPOINT",
        "TEST_TLS_DIR",
    )
    if not all(os.environ.get(name) for name in names):
        print("skip the Entra ID stand-in's client assertions: infra/emulators.sh has not started it", flush=True)
        return
    endpoint = os.environ["AZURE_TOKEN_ENDPOINT"]
    context = ssl.create_default_context(cafile=os.path.join(os.environ["TEST_TLS_DIR"], "ca.pem"))
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    consented = os.environ["AZURE_CONSENTED_TENANTS"].split(",")
    client_id = os.environ["AZURE_IDENTITY_CLIENT_ID"]
    run_keys = {"AccessKeyId": os.environ["AWS_ACCESS_KEY_ID"], "SecretAccessKey": os.environ["AWS_SECRET_ACCESS_KEY"]}
    moto = Moto("emulators' plain moto", None, endpoint=os.environ["MOTO_ENDPOINT"])
    n = "token stand-in"

    def web_identity_token(audience=AZURE_EXCHANGE):
        return web_token(moto.client("sts", run_keys), audience, DurationSeconds=300)

    def exchange(tenant, assertion, client=client_id, **extra):
        form = {
            "grant_type": "client_credentials",
            "client_id": client,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": "https://storage.azure.com/.default",
            **extra,
        }
        url = f"{endpoint}/{tenant}/oauth2/v2.0/token"
        request = urllib.request.Request(url, urllib.parse.urlencode(form).encode())
        try:
            with direct.open(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def counted():
        with direct.open(f"{endpoint}/azure/assertions", timeout=30) as response:
            return json.load(response)

    def refused_with(answer, error, code):
        status, body = answer
        assert status == 400, (status, body)
        assert body["error"] == error and body["error_codes"] == [code], body
        assert body["error_description"].startswith(f"AADSTS{code}: "), body
        return body["error_description"]

    def forged(claims=None, header=None, key=None):
        """A token as the plain moto makes one, with claims or header changed, signed with the
        run's key (or another)."""
        real_header, real_claims, _ = jwt_parts(web_identity_token())
        header = {**real_header, **(header or {})}
        claims = {**real_claims, **(claims or {})}
        if key is None:
            with open(os.environ["AWS_WEB_IDENTITY_SIGNING_KEY"], "rb") as f:
                key = serialization.load_pem_private_key(f.read(), None)
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    def consented_tenant_gets_a_token():
        before = counted()
        for tenant in consented:
            status, body = exchange(tenant, web_identity_token())
            assert status == 200 and body["token_type"] == "Bearer", (status, body)
            claims = jwt_parts(body["access_token"])[1]
            assert claims["tid"] == tenant and claims["appid"] == client_id, claims
            assert claims["aud"] == "https://storage.azure.com", claims
        after = counted()
        for tenant in consented:
            assert after.get(tenant, 0) == before.get(tenant, 0) + 1, (before, after)

    check(f"{n}: a consented tenant exchanges the plain moto's token for a storage token, counted in /azure/assertions", consented_tenant_gets_a_token)

    def unconsented():
        before = counted()
        tenant = os.environ["AZURE_UNCONSENTED_TENANT"]
        text = refused_with(exchange(tenant, web_identity_token()), "unauthorized_client", 700016)
        assert f"'{client_id}' was not found in the directory '{tenant}'" in text, text
        other_app = exchange(consented[0], web_identity_token(), client=str(uuid.uuid4()))
        refused_with(other_app, "unauthorized_client", 700016)
        assert counted() == before, (before, counted())

    check(f"{n}: the unconsented tenant, or another app, is AADSTS700016", unconsented)

    def federated_credential():
        text = refused_with(exchange(consented[0], web_identity_token("api://other")), "invalid_client", 700212)
        assert "audience 'api://other'" in text, text
        other_issuer = forged({"iss": "https://other.tokens.sts.global.api.aws"})
        refused_with(exchange(consented[0], other_issuer), "invalid_client", 700211)
        other_subject = forged({"sub": "arn:aws:iam::123456789012:role/other"})
        refused_with(exchange(consented[0], other_subject), "invalid_client", 700213)
        status, _ = exchange(consented[0], forged({"aud": ["api://other", AZURE_EXCHANGE]}))
        assert status == 200, status  # an aud list holding it

    check(f"{n}: another audience (AADSTS700212), issuer (700211) or subject (700213) matches no federated credential", federated_credential)

    def signature_and_time():
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        refused_with(exchange(consented[0], forged(key=stranger)), "invalid_client", 700027)
        refused_with(exchange(consented[0], forged(header={"kid": "not-a-key"})), "invalid_client", 700027)
        refused_with(exchange(consented[0], forged(header={"alg": "HS256"})), "invalid_client", 700027)
        refused_with(exchange(consented[0], "not.a-jwt"), "invalid_client", 50027)
        now = int(time.time())
        expired = {"iat": now - 1000, "nbf": now - 1000, "exp": now - 400}
        refused_with(exchange(consented[0], forged(expired)), "invalid_client", 700024)
        refused_with(exchange(consented[0], forged({"nbf": now + 400, "exp": now + 900})), "invalid_client", 700024)
        status, _ = exchange(consented[0], forged({"iat": now - 400, "nbf": now - 400, "exp": now - 100}))
        assert status == 200, status  # within the skew

    check(f"{n}: a bad signature or unknown kid (AADSTS700027), a malformed JWT (50027), out of time (700024)", signature_and_time)

    def secret_unchanged():
        secret = os.environ["TOKEN_ENDPOINT_CLIENT_SECRET"]
        form = {"grant_type": "client_credentials", "client_id": "app", "client_secret": secret}
        url = f"{endpoint}/{consented[0]}/oauth2/v2.0/token"
        request = urllib.request.Request(url, urllib.parse.urlencode(form).encode())
        with direct.open(request, timeout=30) as response:
            assert response.status == 200 and json.load(response)["access_token"]

    check(f"{n}: the client secret path answers as before", secret_unchanged)


def in_process_checks():
    """Temporary credentials past their expiry: STS issues them for 900 s at least, so a
    wrapper in this process is started and their expiry moved into the past."""
    sys.path.insert(0, str(ROOT / "infra"))
    import moto_server  # noqa: F401  (the wrapper's corrections, in this process)
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.server import ThreadedMotoServer
    from moto.sts.models import sts_backends

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    moto = Moto("in-process", None, endpoint=f"http://127.0.0.1:{port}")
    n = moto.name
    try:
        iam = moto.client("iam")
        iam.create_user(UserName="expiring")
        iam.put_user_policy(UserName="expiring", PolicyName="all", PolicyDocument=policy(allow("*", "*")))
        keys = iam.create_access_key(UserName="expiring")["AccessKey"]
        role = iam.create_role(
            RoleName="expiring",
            AssumeRolePolicyDocument=policy(
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ),
        )["Role"]
        iam.put_role_policy(RoleName="expiring", PolicyName="all", PolicyDocument=policy(allow("*", "*")))
        bucket = bucket_name()
        moto.client("s3", keys).create_bucket(Bucket=bucket)
        moto.client("s3", keys).put_object(Bucket=bucket, Key="prefix/a", Body=BODY)
        sts = moto.client("sts", keys)
        federated = sts.get_federation_token(Name="expiring", Policy=policy(allow("*", "*")))["Credentials"]
        assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="expiring")["Credentials"]
        urls = {
            which: moto.client("s3", creds).generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": "prefix/a"}, ExpiresIn=3600
            )
            for which, creds in (("federated", federated), ("assumed", assumed))
        }

        def before():
            for url in urls.values():
                assert expect_ok(moto, url) == BODY

        check(f"{n}: temporary credentials presign while they last", before)
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
        for _, _, backend in sts_backends.iter_backends():
            for session in getattr(backend, "_federated_sessions", {}).values():
                session.expiration = past
            for assumed_role in backend.assumed_roles:
                assumed_role.expiration = past.replace(tzinfo=None)

        def presigned_after():
            for which, url in urls.items():
                expect_error(moto, url, 400, "ExpiredToken")

        check(f"{n}: a presigned URL made with expired temporary credentials is 400 ExpiredToken", presigned_after)

        def header_signed_after():
            settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
            ActionAuthenticatorMixin.request_count = 0
            try:
                for creds in (federated, assumed):
                    denied(lambda: moto.client("s3", creds).get_object(Bucket=bucket, Key="prefix/a"), "ExpiredToken", 400)
                denied(lambda: moto.client("sts", assumed).get_caller_identity(), "ExpiredToken", 403)
                assert moto.client("s3", keys).get_object(Bucket=bucket, Key="prefix/a")["Body"].read() == BODY
            finally:
                settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")

        check(f"{n}: with IAM checked, expired temporary credentials are refused (ExpiredToken)", header_signed_after)

        def federation_disabled():
            sts = moto.client("sts")
            with mock.patch.dict(os.environ):
                del os.environ["AWS_WEB_IDENTITY_SIGNING_KEY"]
                denied(
                    lambda: sts.get_web_identity_token(Audience=[AZURE_EXCHANGE], SigningAlgorithm="RS256"),
                    "OutboundWebIdentityFederationDisabledException",
                    403,
                )
                for path in ("openid-configuration", "jwks.json"):
                    status, _, _ = fetch(moto, f"{moto.endpoint}/.well-known/{path}")
                    assert status == 404, (path, status)
            verified(moto, sts.get_web_identity_token(Audience=["x"], SigningAlgorithm="RS256")["WebIdentityToken"])

        check(f"{n}: without $AWS_WEB_IDENTITY_SIGNING_KEY, OutboundWebIdentityFederationDisabledException (and no JWKS)", federation_disabled)
    finally:
        server.stop()


def main():
    started = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="check-moto-wrapper-"))
    tls = logs / "tls"
    subprocess.run([sys.executable, str(ROOT / "infra/test_tls.py"), str(tls)], check=True)
    if not (os.environ.get("AWS_WEB_IDENTITY_SIGNING_KEY") and os.environ.get("AWS_WEB_IDENTITY_ISSUER")):
        # Without infra/emulators.sh's key and issuer, a key and an issuer of this run's own.
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (logs / "web-identity-key.pem").write_bytes(pem)
        os.environ["AWS_WEB_IDENTITY_SIGNING_KEY"] = str(logs / "web-identity-key.pem")
        os.environ["AWS_WEB_IDENTITY_ISSUER"] = f"https://{uuid.uuid4()}.tokens.sts.global.api.aws"
    motos = [
        Moto("plain", logs),
        Moto("tls", logs, tls=tls),
        Moto("iam", logs, env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"}),
    ]
    try:
        for moto in motos:
            moto.wait()
        plain, over_tls, checking = motos
        setup = subprocess.run(
            [sys.executable, str(ROOT / "infra/moto_iam.py"), "setup", checking.endpoint],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if setup.returncode != 0:
            raise SystemExit(f"infra/moto_iam.py setup failed:\n{setup.stderr}")
        env = {}
        for line in setup.stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
        presigned_checks(plain)
        presigned_checks(over_tls)
        iam_checks(checking, env)
        web_identity_checks(plain)
        web_identity_checks(over_tls)
        web_identity_iam_checks(checking, env)
        token_stand_in_checks()
        in_process_checks()
    finally:
        for moto in motos:
            moto.stop()
    failed = results.count(False)
    print(
        f"{len(results) - failed} passed, {failed} failed in {time.monotonic() - started:.1f} s"
        f" (logs in {logs})"
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
