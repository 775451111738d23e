#!/usr/bin/env python3
"""Checks recorded HTTP responses against the OpenAPI contract (openapi.yaml).

Usage: python scripts/contract_check.py RECORDS.jsonl [--spec openapi.yaml] [--require-all-operations]
                                       [--require-all-events events/]

Each line of RECORDS.jsonl is one exchange:
    {"method": "POST", "path": "/login", "status": 200,
     "headers": {"content-type": "application/json", ...}, "body": "<raw body text>"}
(a query string on `path` is ignored; header names are matched case-insensitively).
A line `{"event": "<name>"}` notes that a test loaded `events/<name>.json`; with
--require-all-events DIR, every sample in DIR that no test loaded counts as failed and is named.

For each record:
- the operation is found by exact path and method. A path the spec does not list must answer
  404 as `components/responses/NotFound`; a listed path called with an unlisted method must
  answer 405 as `components/responses/MethodNotAllowed`, with `Allow` naming the path's methods;
- the status must be documented for the operation;
- a documented `application/json` response needs `content-type: application/json` exactly and a
  body that parses and validates (JSON Schema 2020-12, `$ref`s resolved inside the spec);
  a response documented without content (204) needs an empty body;
- every header marked `required: true` must be present, and every documented header that is
  present must match its schema (`const`, `enum`, `pattern`, ...).

Prints one line per violation (`METHOD path status: what`) and closes with
`contract: N passed, M failed` (records; with --require-all-operations every operation of the
spec that no record exercised also counts as failed and is named). Exit status 1 if anything
failed, 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

try:
    import yaml
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError as e:  # pragma: no cover - environment problem, not a contract failure
    sys.exit(f"contract_check: missing Python package ({e}); use the project's .venv")

SPEC_URI = "urn:auth-api:openapi"
JSON = "application/json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"


def escape(token: str) -> str:
    """One JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


class Spec:
    def __init__(self, document: dict):
        self.doc = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}
        self.paths: dict = document.get("paths") or {}
        self._templates = [
            (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(p)) + "$"), p)
            for p in self.paths
            if "{" in p
        ]

    def pointer(self, ptr: str):
        """The node at a local JSON Pointer (`#/a/b` or `/a/b`)."""
        node = self.doc
        ptr = ptr[1:] if ptr.startswith("#") else ptr
        if ptr in ("", "/"):
            return node
        for token in ptr.lstrip("/").split("/"):
            token = unescape(token)
            node = node[int(token)] if isinstance(node, list) else node[token]
        return node

    def deref(self, node, ptr: str, depth: int = 0):
        """Follows OpenAPI (non-schema) `$ref`s such as response and header references."""
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#") or depth > 20:
                raise ValueError(f"unsupported or circular $ref {ref!r} at {ptr}")
            ptr, node, depth = ref[1:], self.pointer(ref), depth + 1
        return node, ptr

    def validator(self, schema_ptr: str) -> Draft202012Validator:
        if schema_ptr not in self._validators:
            self._validators[schema_ptr] = Draft202012Validator(
                {"$ref": f"{SPEC_URI}#{schema_ptr}"}, registry=self.registry
            )
        return self._validators[schema_ptr]

    def path_item(self, path: str):
        if path in self.paths:
            return path
        for regex, template in self._templates:
            if regex.match(path):
                return template
        return None

    def operations(self):
        for path, item in self.paths.items():
            for method in METHODS:
                if isinstance(item, dict) and method in item:
                    yield method.upper(), path


def schema_errors(spec: Spec, schema_ptr: str, instance) -> list[str]:
    out = []
    errors = sorted(spec.validator(schema_ptr).iter_errors(instance), key=lambda e: list(e.path))
    for error in errors:
        # For oneOf/anyOf/allOf failures, name the most relevant nested cause.
        if error.context:
            error = best_match(error.context) or error
        where = error.json_path
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        out.append(f"{where}: {message}")
    return out


def status_key(responses: dict, status: int):
    if str(status) in responses:
        return str(status)
    ranged = f"{status // 100}XX"
    for key in responses:
        if str(key).upper() == ranged:
            return key
    return "default" if "default" in responses else None


def check_response(spec: Spec, response_ptr: str, status: int, headers: dict, body: str) -> list[str]:
    """Violations of one documented response object (at `response_ptr`, `$ref`s followed)."""
    problems = []
    response, response_ptr = spec.deref(spec.pointer(response_ptr), response_ptr)

    for name, header in (response.get("headers") or {}).items():
        header_ptr = f"{response_ptr}/headers/{escape(name)}"
        header, header_ptr = spec.deref(header, header_ptr)
        if name.lower() == "content-type":
            continue  # OpenAPI ignores a Content-Type header definition; checked below
        value = headers.get(name.lower())
        if value is None:
            if header.get("required") is True:
                problems.append(f"missing required header {name}")
            continue
        if "schema" in header:
            for e in schema_errors(spec, f"{header_ptr}/schema", value):
                problems.append(f"header {name}: {e.split(': ', 1)[1]}")

    content = response.get("content") or {}
    content_type = headers.get("content-type")
    if not content:
        if body:
            problems.append(f"documented without content, but the body has {len(body)} characters")
        return problems
    if JSON in content:
        if content_type != JSON:
            problems.append(f"content-type is {content_type!r}, expected exactly {JSON!r}")
        try:
            instance = json.loads(body)
        except ValueError as e:
            problems.append(f"body is not valid JSON ({e}): {body[:80]!r}")
            return problems
        if "schema" in content[JSON]:
            schema_ptr = f"{response_ptr}/content/{escape(JSON)}/schema"
            problems.extend(f"body {e}" for e in schema_errors(spec, schema_ptr, instance))
    else:
        media = (content_type or "").split(";")[0].strip().lower()
        if media not in {m.lower() for m in content}:
            problems.append(f"content-type is {content_type!r}, expected one of {sorted(content)}")
    return problems


def normalise_headers(raw) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (raw or {}).items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        out[str(name).lower()] = str(value)
    return out


def check_record(spec: Spec, record: dict, seen: set) -> tuple[str, list[str]]:
    """(label, violations) of one record."""
    method = str(record.get("method", "")).upper()
    raw_path = str(record.get("path", ""))
    status = record.get("status")
    label = f"{method or '?'} {raw_path or '?'} {status if status is not None else '?'}"
    missing = [k for k in ("method", "path", "status") if k not in record]
    if missing:
        return label, [f"record lacks {', '.join(missing)}"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool):
        return label, [f"status {status!r} is not an integer"]
    body = record.get("body")
    body = "" if body is None else body if isinstance(body, str) else json.dumps(body)
    headers = normalise_headers(record.get("headers"))
    path = urlsplit(raw_path).path or raw_path

    template = spec.path_item(path)
    if template is None:
        if status != 404:
            return label, [f"path is not in the spec, so the answer must be 404, not {status}"]
        if "NotFound" not in (spec.doc.get("components", {}).get("responses") or {}):
            return label, ["the spec has no components/responses/NotFound"]
        return label, check_response(spec, "/components/responses/NotFound", status, headers, body)

    item, item_ptr = spec.deref(spec.paths[template], f"/paths/{escape(template)}")
    if method.lower() not in item:
        allowed = [m.upper() for m in METHODS if m in item]
        if status != 405:
            return label, [f"{method} is not documented for {template} ({', '.join(allowed)}), "
                           f"so the answer must be 405, not {status}"]
        if "MethodNotAllowed" not in (spec.doc.get("components", {}).get("responses") or {}):
            return label, ["the spec has no components/responses/MethodNotAllowed"]
        problems = check_response(spec, "/components/responses/MethodNotAllowed", status, headers, body)
        allow = headers.get("allow")
        if allow is not None:
            given = sorted(m.strip().upper() for m in allow.split(",") if m.strip())
            if given != sorted(allowed):
                problems.append(f"Allow is {allow!r}, but the spec documents {', '.join(allowed)} for {template}")
        return label, problems

    seen.add((method, template))
    responses_ptr = f"{item_ptr}/{method.lower()}/responses"
    responses = spec.pointer(responses_ptr)
    key = status_key(responses, status)
    if key is None:
        return label, [f"status {status} is not documented (documented: {', '.join(map(str, responses))})"]
    return label, check_response(spec, f"{responses_ptr}/{escape(str(key))}", status, headers, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("records", help="JSON Lines file of recorded responses")
    parser.add_argument("--spec", default=str(DEFAULT_SPEC), help="OpenAPI document (default: openapi.yaml at the repo root)")
    parser.add_argument("--require-all-operations", action="store_true",
                        help="also fail for every operation of the spec that no record exercised")
    parser.add_argument("--require-all-events", metavar="DIR",
                        help="also fail for every sample event in DIR that no test loaded")
    args = parser.parse_args(argv)

    try:
        document = yaml.safe_load(Path(args.spec).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        print(f"contract_check: cannot read the spec {args.spec}: {e}", file=sys.stderr)
        return 1
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3.1"):
        print(f"contract_check: {args.spec} is not an OpenAPI 3.1 document", file=sys.stderr)
        return 1
    spec = Spec(document)

    try:
        lines = Path(args.records).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        print(f"contract_check: cannot read the records {args.records}: {e.strerror or e}", file=sys.stderr)
        return 1
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        print(f"contract_check: {args.records} holds no records", file=sys.stderr)
        return 1

    passed = failed = 0
    seen: set = set()
    events_used: set = set()
    for number, line in numbered:
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            print(f"line {number}: not a record ({e})")
            failed += 1
            continue
        if set(record) == {"event"}:
            events_used.add(record["event"])
            continue
        try:
            label, problems = check_record(spec, record, seen)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            # A broken spec (dangling $ref and the like), reported against the record.
            label, problems = f"line {number}", [f"cannot check against the spec: {type(e).__name__}: {e}"]
        if problems:
            failed += 1
            for p in problems:
                print(f"{label}: {p}")
        else:
            passed += 1

    if args.require_all_operations:
        for method, path in spec.operations():
            if (method, path) not in seen:
                failed += 1
                print(f"{method} {path}: operation never exercised by the records")

    if args.require_all_events:
        for sample in sorted(Path(args.require_all_events).glob("*.json")):
            if sample.stem not in events_used:
                failed += 1
                print(f"events/{sample.name}: no test loads this sample event")

    print(f"contract: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
