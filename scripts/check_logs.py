#!/usr/bin/env python3
"""Checks that the functions' output holds no secret: run by `make test` over the log of a stack
served with RUST_LOG=trace, after the end-to-end tests ran against it and it was stopped (so
every line is written).

Usage: check_logs.py LOG --secrets FILE [--key-file FILE ...] [--secret-file FILE ...]
                     [--mails SERVER] [--expect-level LEVEL]

Looks in LOG for every line of the secrets file (each password the tests sent and each access
and refresh token they received), for any argon2 hash, for the private parts of each key
file (every key's `d`, the `refresh_secret`), and for the whole content of each secret file
(the key material that seals TOTP secrets, `MFA_KEY_FILE`). With `--mails SERVER` (the local
SES v2, `AWS_ENDPOINT_URL_SESV2`), also for the token of every link in every mail that server
accepted (verification and reset links: they reach a function as a body field, and must never
reach a log). `--expect-level DEBUG` also requires a line at that level, which shows that the
verbose setting reached the functions. `--expect-metrics` also requires a metric (EMF) line,
and every metric line must be well-formed EMF whose keys are only its metric and declared
dimensions (no username, address or id rides along).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request

# A link's token, in its fragment (`#token=...`) or, should a link ever carry it so, its query.
LINK_TOKEN = re.compile(r"[#?&]token=([A-Za-z0-9._~%-]+)")


def private_parts(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    # Every private part: an Ed25519 seed, an RSA key's exponent and CRT parts (RFC 7518).
    parts = [k[p] for k in doc.get("keys", []) for p in ("d", "p", "q", "dp", "dq", "qi") if k.get(p)]
    if doc.get("refresh_secret"):
        parts.append(doc["refresh_secret"])
    return parts


def mailed_tokens(server: str) -> list[str]:
    """The token of every link in every mail the local SES v2 at `server` accepted, read from
    moto's record of them (`/moto-api/data.json`, `ses.Message`)."""
    url = server.rstrip("/") + "/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - a loopback URL
        data = json.load(response)
    tokens: list[str] = []
    stack = [data.get("ses", {}).get("Message", {})]
    while stack:
        node = stack.pop()
        if isinstance(node, dict) and "destinations" in node:
            tokens.extend(LINK_TOKEN.findall(str(node.get("body", ""))))
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return tokens


# The only keys a metric document has beside `_aws` and its metric: dimensions, never who.
EMF_DIMENSIONS = {"Action", "Outcome", "Reason", "Policy", "Dependency"}


def emf_problems(line: str) -> list[str]:
    """What is wrong with one EMF line: not JSON, no namespace or metric, a key that is not a
    declared dimension or metric."""
    try:
        doc = json.loads(line)
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        names = {m["Name"] for m in directive["Metrics"]}
        declared = {d for dims in directive["Dimensions"] for d in dims}
        assert directive["Namespace"] and isinstance(doc["_aws"]["Timestamp"], int)
    except (ValueError, KeyError, IndexError, TypeError, AssertionError) as e:
        return [f"a malformed metric line ({type(e).__name__}): {line[:80]}"]
    problems = []
    extra = set(doc) - {"_aws"} - names - declared
    if extra or not declared <= EMF_DIMENSIONS:
        problems.append(f"a metric line with keys beyond its dimensions: {sorted(extra | (declared - EMF_DIMENSIONS))}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("--secrets", required=True)
    parser.add_argument("--key-file", action="append", default=[])
    parser.add_argument("--secret-file", action="append", default=[])
    parser.add_argument("--mails", metavar="SERVER", help="the local SES v2 whose mails' link tokens to look for")
    parser.add_argument("--expect-level")
    parser.add_argument("--expect-metrics", action="store_true", help="require an EMF line")
    args = parser.parse_args()

    with open(args.log, encoding="utf-8", errors="replace") as f:
        log = f.read()
    with open(args.secrets, encoding="utf-8") as f:
        secrets = [line.rstrip("\n") for line in f if line.strip()]
    kinds = {"a password or token the tests used": secrets}
    kinds["a private key part"] = [p for path in args.key_file for p in private_parts(path)]
    kinds["a secret key's material"] = []
    kinds["a link token mailed"] = mailed_tokens(args.mails) if args.mails else []
    for path in args.secret_file:
        with open(path, encoding="utf-8") as f:
            kinds["a secret key's material"].append(f.read().strip())

    problems = []
    if len(secrets) < 3:
        problems.append(f"only {len(secrets)} secrets recorded: did the tests run?")
    for kind, values in kinds.items():
        # A part of a token is a leak too: look for each one's longest segment as well.
        for value in values:
            pieces = {value} | {max(value.split("."), key=len)}
            if any(len(p) >= 12 and p in log for p in pieces):
                problems.append(f"the log holds {kind} ({value[:4]}...)")
    if "$argon2" in log:
        problems.append("the log holds an argon2 hash")
    if args.expect_level and f'"level":"{args.expect_level}"' not in log:
        problems.append(f"no {args.expect_level} line: the functions did not log at that level")

    # The metric documents (EMF, `shared::metrics`) are lines of the same output, so every check
    # above covered them; they must also be there, and say nothing of who.
    metric_lines = [line for line in log.splitlines() if '"_aws":' in line]
    if args.expect_metrics and not metric_lines:
        problems.append("no metric (EMF) line: the functions emitted no metric")
    for line in metric_lines:
        problems.extend(emf_problems(line))

    lines = log.count("\n")
    if problems:
        for p in problems:
            print(f"log check: {p}", file=sys.stderr)
        print(f"log check: 0 passed, {len(problems)} failed ({lines} lines)")
        return 1
    keys = len(kinds["a private key part"]) + len(kinds["a secret key's material"])
    links = len(kinds["a link token mailed"])
    print(
        f"log check: {len(secrets)} secrets, {links} link tokens and {keys} key parts absent from "
        f"{lines} lines ({len(metric_lines)} of them metrics)"
    )
    print("log check: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
