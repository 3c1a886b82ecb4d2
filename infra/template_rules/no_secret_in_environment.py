"""A cfn-lint rule of this project: no environment variable of a function carries a secret.

Lambda shows a function's environment to anyone who may read its configuration, and keeps
it in every version, so a value there is no secret. The service reads its credentials from
Secrets Manager only; this rule keeps it so. It fails on a variable whose literal value
looks like key material (an AWS access key id, a PEM block, a long random-looking token),
and on one whose name says secret, password, token or private key unless its value is a
reference (`!Ref`, `!GetAtt`, `!Sub` of such) to something that is not a parameter: a
parameter's value is typed in at deploy time and lands in the environment as it is.

Used by the test command: cfn-lint --append-rules infra/template_rules template.yaml
"""

from __future__ import annotations

import re

from cfnlint.rules import CloudFormationLintRule, RuleMatch

ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")
PEM = re.compile(r"-----BEGIN [A-Z ]*(?:PRIVATE KEY|CERTIFICATE)-----")
# 32 or more characters of base64 or hex with both letters and digits, and no separator a
# name, path or ARN would have.
RANDOM_LOOKING = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9+/=_-]{32,}$")
# A name whose last word says it holds a secret (`SECRET_PREFIX` names a prefix: it passes).
SECRET_NAME = re.compile(
    r"(?:^|_)(?:SECRET|SECRET_KEY|SECRET_ACCESS_KEY|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|API_KEY"
    r"|CREDENTIALS?)$",
    re.I,
)


def literal_strings(value):
    """Every literal string in a value, inside intrinsic functions too."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from literal_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from literal_strings(v)


def names_a_parameter(value, parameters):
    """Whether a value is, or substitutes, one of the template's parameters."""
    if isinstance(value, dict):
        for fn, arg in value.items():
            if fn == "Ref" and arg in parameters:
                return True
            if fn == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                if any(f"${{{p}}}" in text for p in parameters):
                    return True
            if names_a_parameter(arg, parameters):
                return True
    elif isinstance(value, list):
        return any(names_a_parameter(v, parameters) for v in value)
    return False


class NoSecretInEnvironment(CloudFormationLintRule):
    """Fails on a function environment variable that carries, or may carry, a secret."""

    id = "E9101"
    shortdesc = "No secret in a function's environment"
    description = (
        "A Lambda function's environment variables are configuration, readable by anyone "
        "who may read the function: credentials belong in Secrets Manager."
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html"
    tags = ["resources", "lambda", "secrets"]

    def match(self, cfn):
        matches = []
        parameters = set(cfn.template.get("Parameters", {}) or {})
        functions = cfn.get_resources(["AWS::Lambda::Function", "AWS::Serverless::Function"])
        for name, resource in functions.items():
            variables = (
                (resource.get("Properties") or {}).get("Environment", {}) or {}
            ).get("Variables", {}) or {}
            for variable, value in variables.items():
                path = ["Resources", name, "Properties", "Environment", "Variables", variable]
                for text in literal_strings(value):
                    if ACCESS_KEY_ID.search(text) or PEM.search(text) or RANDOM_LOOKING.match(text):
                        matches.append(RuleMatch(path, f"{variable} looks like it holds key material"))
                        break
                if SECRET_NAME.search(variable) and (
                    not isinstance(value, dict) or names_a_parameter(value, parameters)
                ):
                    matches.append(
                        RuleMatch(path, f"{variable} is named like a secret and set from a literal or a parameter")
                    )
        return matches
