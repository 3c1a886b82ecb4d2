"""Accounts and roles in the moto that checks IAM (started by infra/emulators.sh with
INITIAL_NO_AUTH_ACTION_COUNT=3), for the tests of IAM role connectors.

`setup ENDPOINT`: makes, with moto's three unchecked calls, an `admin` user that may do
anything, then with its keys the service's user (`connectors-service`, which may assume
roles) and the service's own role (`videovector-connectors-access`, which trusts that user
and may assume roles). Prints shell `export` lines for their keys and ARNs.

`role ENDPOINT NAME TRUST [PERMISSIONS]`: a customer's role, made by the admin user.

`user ENDPOINT NAME [PERMISSIONS]`: an IAM user with those inline permissions (JSON text)
and an access key, made by the admin user where its keys are in the environment (any
keys do on the moto that checks nothing). Prints {"AccessKeyId", "SecretAccessKey",
"Arn"} as JSON: a real key pair, which moto_server.py checks presigned URLs and
GetFederationToken against on every moto.

`subject ENDPOINT`: prints the `sub` of a token from GetWebIdentityToken, asked of that moto
with the AWS keys in the environment (on the moto that checks nothing, who GetCallerIdentity
says the keys are), for the Entra ID stand-in's $AZURE_FEDERATION_SUBJECTS.

Every call after the third is checked against IAM, the setup's own included.
"""

import base64
import json
import sys

import boto3

REGION = "us-east-1"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
MAY_ASSUME = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
}


def client(service, endpoint, keys=None):
    keys = keys or {"AccessKeyId": "AKIAUNCHECKED0000000", "SecretAccessKey": "unchecked"}
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
    )


def setup(endpoint):
    iam = client("iam", endpoint)
    # The three unchecked calls.
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
    admin = iam.create_access_key(UserName="admin")["AccessKey"]

    iam = client("iam", endpoint, admin)
    user = iam.create_user(UserName="connectors-service")["User"]
    iam.put_user_policy(
        UserName="connectors-service", PolicyName="assume", PolicyDocument=json.dumps(MAY_ASSUME)
    )
    service = iam.create_access_key(UserName="connectors-service")["AccessKey"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(
        RoleName="videovector-connectors-access", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    iam.put_role_policy(
        RoleName="videovector-connectors-access",
        PolicyName="assume-customer-roles",
        PolicyDocument=json.dumps(MAY_ASSUME),
    )
    exports = {
        "MOTO_IAM_ADMIN_KEY_ID": admin["AccessKeyId"],
        "MOTO_IAM_ADMIN_SECRET": admin["SecretAccessKey"],
        "MOTO_IAM_SERVICE_KEY_ID": service["AccessKeyId"],
        "MOTO_IAM_SERVICE_SECRET": service["SecretAccessKey"],
        "MOTO_IAM_SERVICE_USER_ARN": user["Arn"],
        "MOTO_IAM_SERVICE_ROLE_ARN": role["Arn"],
    }
    for name, value in exports.items():
        print(f"export {name}={value}")


def role(endpoint, name, trust, permissions):
    """Creates role `name` with the trust policy and inline permissions given as JSON text,
    signed by the admin user (its keys from the environment setup printed). Prints its ARN."""
    import os

    admin = {
        "AccessKeyId": os.environ["MOTO_IAM_ADMIN_KEY_ID"],
        "SecretAccessKey": os.environ["MOTO_IAM_ADMIN_SECRET"],
    }
    iam = client("iam", endpoint, admin)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    if permissions:
        iam.put_role_policy(RoleName=name, PolicyName="bucket", PolicyDocument=permissions)
    print(arn)


def user(endpoint, name, permissions):
    """Creates IAM user `name` with the inline permissions given as JSON text and an access
    key. Prints the key and the user's ARN as JSON."""
    import os

    admin = None
    if os.environ.get("MOTO_IAM_ADMIN_KEY_ID"):
        admin = {
            "AccessKeyId": os.environ["MOTO_IAM_ADMIN_KEY_ID"],
            "SecretAccessKey": os.environ["MOTO_IAM_ADMIN_SECRET"],
        }
    iam = client("iam", endpoint, admin)
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    if permissions:
        iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=permissions)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    print(
        json.dumps(
            {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"], "Arn": arn}
        )
    )


def subject(endpoint):
    """Prints the `sub` of a web identity token issued to the environment's AWS keys."""
    sts = boto3.client("sts", endpoint_url=endpoint, region_name=REGION)
    jwt = sts.get_web_identity_token(Audience=["api://AzureADTokenExchange"], SigningAlgorithm="RS256")
    claims = jwt["WebIdentityToken"].split(".")[1]
    print(json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "setup":
        setup(sys.argv[2])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "role":
        role(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) == 6 else None)
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "user":
        user(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else None)
    elif len(sys.argv) == 3 and sys.argv[1] == "subject":
        subject(sys.argv[2])
    else:
        sys.exit(
            "usage: moto_iam.py setup ENDPOINT | role ENDPOINT NAME TRUST [PERMISSIONS]"
            " | user ENDPOINT NAME [PERMISSIONS] | subject ENDPOINT"
        )
