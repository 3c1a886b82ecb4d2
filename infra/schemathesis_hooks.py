"""schemathesis hooks for `bash infra/schemathesis.sh` (loaded through SCHEMATHESIS_HOOKS).

The service bounds some strings in UTF-8 bytes (`export_base_path` and `subpath`, a browse's
`prefix` and `pattern`, an Azure `client_secret`, a key file's `client_email` and
`private_key_id`), which JSON Schema cannot say: `maxLength` counts characters. The document
states a bound every value it admits meets (all ASCII, or at most a quarter as many
characters as bytes), so a client generated from it never sends what the service refuses
(the OpenAPI tests hold every pattern to its parser). Between that bound and the bytes lies a
gap the document forbids and the service accepts: a negative case drawn there (non-ASCII,
longer than a quarter of the bytes, within the bytes) is accepted, as the contract says it
must be. Only that failure is dropped: a `negative_data_rejection` failure whose sole
invalid component is such a field's byte bound, with its value in the gap.
"""

import re

import schemathesis

# The bytes each field may take, by its name in the document.
BYTE_BOUNDS = {
    "export_base_path": 1023,  # stored with one trailing `/`: 1024 bytes
    "subpath": 1023,
    "prefix": 1024,
    "pattern": 1024,
    "client_secret": 256,
    "client_email": 254,
    "private_key_id": 128,
}

VIOLATION = re.compile(r"violates `anyOf` at (/\S*)")


def in_gap(name, value):
    if name not in BYTE_BOUNDS or not isinstance(value, str) or value.isascii():
        return False
    return len(value.encode("utf-8", "surrogatepass")) <= BYTE_BOUNDS[name]


def values_named(data, name):
    """Every value under key `name`, anywhere in a JSON document or query."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == name:
                yield value
            yield from values_named(value, name)
    elif isinstance(data, list):
        for item in data:
            yield from values_named(item, name)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if getattr(failure, "code", None) != "ST201":
        return True
    found = VIOLATION.search(failure.message or "")
    if not found:
        return True
    names = re.findall(r"/properties/([^/]+)", found.group(1))
    name = names[-1] if names else found.group(1).strip("/").split("/")[0]
    if name not in BYTE_BOUNDS:
        return True
    values = list(values_named(case.body, name)) + list(values_named(case.query or {}, name))
    return not any(in_gap(name, v) for v in values)
