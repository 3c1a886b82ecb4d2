#!/usr/bin/env python3
"""What the deployed service costs: dollars per million requests of each operation and per
connector-month, from the calls and durations `infra/bench-aws-path.sh` measured.

Usage: python3 infra/cost.py BENCH_LOG [--connectors N] [--list-size N]
       python3 infra/cost.py --template-only   (the template's options alone: access logs, KMS)
BENCH_LOG is the output of `bash infra/bench-aws-path.sh` (its latency table gives each
operation's warm calls and warm p50, its memory part the log bytes per request). Prints
markdown tables for docs/benchmarks.md.

Prices: AWS us-east-1 list prices, as published on the AWS pricing pages and last checked
in November 2024 (DynamoDB on-demand after its 1 November 2024 reduction). They change:
check them before you rely on the figures. Free tiers are left out.
"""
import argparse
import re
import sys

PRICES_DATE = "November 2024"
PRICE = {
    # Lambda, arm64 (the template's architecture)
    "lambda_gb_second": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    # API Gateway HTTP API, first 300 million requests a month
    "http_api_request": 1.00 / 1e6,
    # DynamoDB on-demand
    "dynamodb_rru": 0.125 / 1e6,
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_gb_month": 0.25,
    # Secrets Manager
    "secret_month": 0.40,
    "secrets_api_call": 0.05 / 10_000,
    # KMS: each GetSecretValue is one Decrypt, each CreateSecret/PutSecretValue one
    # GenerateDataKey. Counted as if charged, which is exact for a customer-managed key
    # (KMS_KEY_ID); that key also costs $1 a month.
    "kms_request": 0.03 / 10_000,
    # CloudWatch Logs ingestion (access lines and EMF metrics)
    "logs_gb": 0.50,
}

# What each operation's warm DynamoDB calls are, in request units: items are under 1 KB
# (one write unit) and reads are strongly consistent under 4 KB (one read unit), except
# the list, a Query whose units grow with the account's connectors (about 470 bytes each).
# A record write is a transaction with its history event: two items at two write units
# each (DynamoDB bills transactional writes double).
TRANSACTION_WRU = 2 * 2
WRITES = {  # each operation's DynamoDB write calls and their write units (the rest are reads)
    "GET /connectors/{id}": (0, 0),
    "GET /connectors": (0, 0),
    "POST /connectors/{id}/browse": (1, 1),  # the limit counter
    "POST /connectors/{id}/test": (2, 1 + TRANSACTION_WRU),  # the counter, the outcome + event
    # counter, claim, record + event, completion
    "POST /connectors/s3 (keyed)": (4, 3 + TRANSACTION_WRU),
}
CONNECTOR_BYTES = 470
# An event as stored (`serde_dynamo` item with its keys and TTL), about: a credential
# change with two hints, the largest kind.
EVENT_BYTES = 450


def parse(log):
    """Operation → (warm p50 ms, DynamoDB, Secrets Manager, STS calls); log bytes/request."""
    ops = {}
    row = re.compile(
        r"^(?P<op>(GET|POST) \S+(?: \(keyed\))?)\s+[\d.]+ ms\s+[\d.]+ ms\s+(?P<p50>[\d.]+) ms\s+"
        r"[\d.]+ ms\s+\S+\s+(?P<ddb>\d+)/(?P<sm>\d+)/(?P<sts>\d+)/(?P<s3>\d+)")
    log_bytes = None
    memory = None
    for line in log.splitlines():
        m = row.match(line)
        if m:
            ops[m["op"]] = (float(m["p50"]), int(m["ddb"]), int(m["sm"]), int(m["sts"]))
        m = re.search(r"log bytes per request\s+(\d+)", line)
        if m:
            log_bytes = int(m[1])
        m = re.search(r"32 concurrent browses.*?([\d.]+) MiB", line)
        if m:
            memory = float(m[1])
    if not ops:
        sys.exit("no latency table in the log: run `bash infra/bench-aws-path.sh` first")
    return ops, log_bytes, memory


def per_million(op, p50_ms, ddb, sm, sts, memory_mb, log_bytes, list_size):
    write_calls, writes = WRITES.get(op, (0, 0))
    reads = ddb - write_calls
    if op == "GET /connectors":
        reads = max(1, -(-list_size * CONNECTOR_BYTES // 4096))
    billed_ms = max(1, round(p50_ms))
    parts = {
        "Lambda": billed_ms / 1000 * memory_mb / 1024 * PRICE["lambda_gb_second"]
        + PRICE["lambda_request"],
        "HTTP API": PRICE["http_api_request"],
        "DynamoDB": reads * PRICE["dynamodb_rru"] + writes * PRICE["dynamodb_wru"],
        "Secrets Manager + KMS": sm * (PRICE["secrets_api_call"] + PRICE["kms_request"]),
        "Logs": log_bytes / 1e9 * PRICE["logs_gb"],
    }
    return {k: v * 1e6 for k, v in parts.items()}


# One access-log line of a warm GET as API Gateway writes it: the template's Format with
# values of the shapes API Gateway fills in ("-" for what a request does not have).
ACCESS_LOG_VALUES = {
    "requestId": "Jx1f3hT5oAMEbQw=",
    "requestTime": "02/Dec/2026:02:30:00 +0000",
    "httpMethod": "GET",
    "routeKey": "ANY /api/v2/{proxy+}",
    "path": "/api/v2/connectors/conn_01jd8x0k6m3q4r5s6t7v8w9xyz",
    "status": "200",
    "responseLatency": "12",
    "integrationLatency": "11",
    "integrationStatus": "200",
    "integrationErrorMessage": "-",
    "error.responseType": "-",
    "error.message": "-",
    "identity.sourceIp": "203.0.113.7",
    "responseLength": "570",
}
# CloudWatch Logs bills each event's bytes plus 26 bytes of its own.
LOG_EVENT_OVERHEAD = 26
# KMS, with the stack key on the table and the logs: the key itself is already paid for
# the secrets. DynamoDB asks KMS for the table key at most once per five minutes of use per
# caller, and CloudWatch Logs for a data key about as often per log group (both services'
# documented caching): an upper bound of 12 requests an hour for each.
KMS_CALLS_PER_MONTH_EACH = 12 * 24 * 30


def template_options(template_path):
    """Markdown rows for what the template's options add to the bill."""
    text = open(template_path, encoding="utf-8").read()
    m = re.search(r"Format: >-\n\s+(\{.*\})\n", text)
    if not m:
        sys.exit("no access log Format in template.yaml")
    line = re.sub(r"\$context\.([A-Za-z.]+)", lambda v: ACCESS_LOG_VALUES[v[1]], m[1])
    line_bytes = len(line.encode()) + LOG_EVENT_OVERHEAD
    access_per_million = line_bytes * 1e6 / 1e9 * PRICE["logs_gb"]
    kms_month = KMS_CALLS_PER_MONTH_EACH * PRICE["kms_request"]
    print("| template option | what it adds | cost |")
    print("|---|---|---|")
    print(f"| API access logs (always on) | one JSON line per request, {line_bytes} bytes "
          f"billed for a warm GET (its line and CloudWatch's 26 bytes) | "
          f"**${access_per_million:.3f} per million requests** ingested, "
          f"${line_bytes * 1e6 / 1e9 * 0.03:.4f} per million a month stored (at $0.03/GB) |")
    print(f"| `EncryptWithStackKey=true` (default) | the table and both log groups under the "
          f"stack's key, which exists for the secrets already ($0 more a month) | at most "
          f"{KMS_CALLS_PER_MONTH_EACH:,} KMS requests a month for the table per active "
          f"instance and as many per log group: **${kms_month:.3f} each a month** |")
    print(f"| `ReservedConcurrency` | a ceiling, not a reservation that is billed | $0 |")


def history_costs(retention_days=90):
    """Markdown rows for what each connector's history adds to the bill."""
    wru, rru = PRICE["dynamodb_wru"] * 1e6, PRICE["dynamodb_rru"] * 1e6
    page_units = -(-50 * EVENT_BYTES // 4096)
    months = retention_days / 30
    stored = EVENT_BYTES * 1e6 / 1e9 * PRICE["dynamodb_gb_month"] * months
    print("| what | DynamoDB request units | added $ per million |")
    print("|---|---|---|")
    print(f"| a create, PATCH or delete | the record's write becomes a transaction with "
          f"its event: {TRANSACTION_WRU} write units instead of 1 | "
          f"**{(TRANSACTION_WRU - 1) * wru:.3f}** |")
    print(f"| a test | the same, for its outcome | **{(TRANSACTION_WRU - 1) * wru:.3f}** |")
    print(f"| an access grant | one more item written (1 write unit) | **{wru:.3f}** |")
    print(f"| a browse | none (no event) | **0** |")
    print(f"| `GET /connectors/{{id}}/events` (50 events) | {page_units} read units for the "
          f"page, 1 for the record | **{(page_units + 1) * rru:.3f}** (plus the request's "
          f"HTTP API, Lambda and logs, as a GET) |")
    print(f"| keeping a million events {retention_days} days | {EVENT_BYTES} bytes each "
          f"(TTL deletes are free) | **{stored:.3f}** over their life |")


def keyless_costs(connectors, keyless_share):
    """What stored secrets cost when a share of the connectors store none (S3 roles, GCS and
    Azure workload identity): Google's STS and IAM Credentials, AWS STS's
    GetWebIdentityToken and Entra ID's token endpoint charge nothing per call, and an
    instance keeps each token for most of its hour."""
    secret = PRICE["secret_month"]
    keyless = round(connectors * keyless_share)
    keyed = connectors - keyless
    print(f"| connectors | with a stored secret | keyless | secrets a month | saved against all keyed |")
    print("|---|---|---|---|---|")
    print(f"| {connectors:,} | {keyed:,} | {keyless:,} | **${keyed * secret:,.0f}** | "
          f"${keyless * secret:,.0f} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("log", nargs="?")
    parser.add_argument("--template-only", action="store_true")
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--connectors", type=int, default=100_000)
    parser.add_argument("--list-size", type=int, default=20,
                        help="connectors an account lists (sets a list's read units)")
    parser.add_argument("--memory-mb", type=int, default=128)
    parser.add_argument("--keyless-share", type=float, default=0.5,
                        help="the share of connectors that store no secret")
    args = parser.parse_args()
    if args.template_only or not args.log:
        template_options(args.template)
        print()
        history_costs()
        print()
        keyless_costs(args.connectors, args.keyless_share)
        return
    with open(args.log, encoding="utf-8") as f:
        ops, log_bytes, peak = parse(f.read())
    log_bytes = log_bytes or 1000
    print(f"Prices: us-east-1 list prices as of {PRICES_DATE}; Lambda arm64 at "
          f"{args.memory_mb} MB (peak RSS measured: {peak} MiB); {log_bytes} log bytes per "
          f"request; warm calls and warm p50 from the bench log; a list of "
          f"{args.list_size} connectors.\n")
    cols = ["Lambda", "HTTP API", "DynamoDB", "Secrets Manager + KMS", "Logs"]
    print("| operation (warm) | " + " | ".join(cols) + " | total $ per million |")
    print("|---|" + "---|" * (len(cols) + 1))
    for op, (p50, ddb, sm, sts) in ops.items():
        parts = per_million(op, p50, ddb, sm, sts, args.memory_mb, log_bytes, args.list_size)
        print(f"| `{op}` | " + " | ".join(f"{parts[c]:.3f}" for c in cols)
              + f" | **{sum(parts.values()):.2f}** |")

    n = args.connectors
    secret = PRICE["secret_month"]
    storage = 1500 / 1e9 * PRICE["dynamodb_gb_month"]  # record + its share of keys, ~1.5 KB
    print(f"\nPer connector-month (stored, before any request): Secrets Manager "
          f"${secret:.2f} (one secret per key-based connector), DynamoDB storage "
          f"${storage:.7f}.")
    print(f"At {n:,} connectors: ${n * secret:,.0f} a month in secrets and "
          f"${n * storage:,.2f} in DynamoDB storage. The same ${n * secret:,.0f} buys "
          f"{n * secret / sum(per_million('GET /connectors/{id}', *ops['GET /connectors/{id}'], args.memory_mb, log_bytes, args.list_size).values()):,.0f} "
          f"million warm GETs.")
    print()
    template_options(args.template)
    print()
    history_costs()
    print()
    keyless_costs(n, args.keyless_share)


if __name__ == "__main__":
    main()
