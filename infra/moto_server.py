"""moto's server with DynamoDB requests handled one at a time, and IAM trust policies
evaluated as AWS does in two ways moto does not.

- moto's server is threaded and its DynamoDB checks a write's condition and applies the
  write as two steps, so two concurrent conditional writes can both succeed. Real DynamoDB
  applies a conditional write atomically; the tests that race requests on one key rely on
  that, so DynamoDB calls are serialised here.
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

Every other service runs as moto ships it.

Usage: python infra/moto_server.py -H 127.0.0.1 -p PORT
"""

import re
import threading

from moto.core.exceptions import AccessDeniedError
from moto.dynamodb.responses import DynamoHandler
from moto.iam import access_control
from moto.s3 import responses as s3_responses
from moto.server import main
from xmltodict import unparse

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _serialised

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

if __name__ == "__main__":
    main()
