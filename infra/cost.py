#!/usr/bin/env python3
"""What the deployed service costs: dollars per million requests of each operation and per
connector-month, from the calls and durations `infra/bench-aws-path.sh` measured.

Usage: python3 infra/cost.py BENCH_LOG [--connectors N] [--list-size N]
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
WRITES = {  # DynamoDB calls of each operation that are writes (the rest are reads)
    "GET /connectors/{id}": 0,
    "GET /connectors": 0,
    "POST /connectors/{id}/browse": 1,  # the limit counter
    "POST /connectors/{id}/test": 2,  # the limit counter, the outcome
    "POST /connectors/s3 (keyed)": 4,  # counter, claim, record, completion
}
CONNECTOR_BYTES = 470


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
    writes = WRITES.get(op, 0)
    reads = ddb - writes
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("--connectors", type=int, default=100_000)
    parser.add_argument("--list-size", type=int, default=20,
                        help="connectors an account lists (sets a list's read units)")
    parser.add_argument("--memory-mb", type=int, default=128)
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
