#!/usr/bin/env python3
"""Local DynamoDB-compatible server for development and tests (moto, in memory).

    python scripts/local_dynamo.py --port 8000 \
        --table UsersTable=auth-api-users --table RateLimitTable=auth-api-rate-limits \
        [--verify-sender no-reply@auth-api.local] [--print-mail PATH] \
        [--host 127.0.0.1] [--template template.yaml] [--ready-file PATH]

Each --table LogicalId=name creates table `name` exactly as resource `LogicalId`
is defined in the SAM template (key schema, attribute definitions, billing
mode, secondary indexes, TTL), so local runs cannot drift from the deployment.

The same server is the local Amazon SES v2 (`AWS_ENDPOINT_URL_SESV2`): each
--verify-sender address is made a verified identity (SES v2 CreateEmailIdentity)
before the server reports ready; a message from any other sender is refused
(MessageRejected), as SES's sandbox refuses an unverified one. Every message
accepted is kept in memory and listed by `GET /moto-api/data.json` under
`ses.Message`. With --print-mail PATH (`make dev` passes its terminal), each one is
also printed there as it is sent: its recipient, its subject and its link lines,
so that a reset or verification can be finished from the terminal.

moto is served single-threaded on purpose: its default threaded server loses
concurrent conditional updates (50 racing `ADD c :one IF c < :five` let 7-9
through), which would make the login rate limiter look broken. One request at
a time, every conditional write is atomic, as in DynamoDB.

Once the tables exist it prints one line to stdout,
    local dynamodb ready on http://127.0.0.1:8000 (tables: ...)
and writes the URL to --ready-file (created atomically, removed on exit), which
is what the Makefile and tests wait for. Data lives in memory only, and, as
with DynamoDB Local, expired TTL items are never deleted.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

# Dummy credentials before boto3 / moto are imported, so nothing ever looks
# for (or signs with) real AWS credentials, profiles or instance metadata.
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_var, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="local",
    AWS_SECRET_ACCESS_KEY="local",
    AWS_REGION="us-east-1",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
)

import boto3  # noqa: E402
import yaml  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto.moto_server.threaded_moto_server import MotoRequestHandler  # noqa: E402
from moto.server import DomainDispatcherApplication, create_backend_app  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

REGION = "us-east-1"
DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
SEED_TIMEOUT_SECONDS = 30.0


class QuietRequestHandler(MotoRequestHandler):
    """moto's handler without the per-request access log line."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _CfnTag:
    """Placeholder for a CloudFormation short-form tag (!Ref, !Sub, ...)."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value

    def __repr__(self) -> str:
        return f"{self.tag} {self.value!r}"


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _CfnTag:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return _CfnTag("!" + suffix, value)


_CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_table_definitions(template: Path, wanted: dict[str, str]) -> list[dict[str, Any]]:
    """Build create_table arguments (plus TTL) for each LogicalId -> table name."""
    with template.open(encoding="utf-8") as f:
        doc = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    resources = (doc or {}).get("Resources") or {}
    tables = []
    for logical_id, table_name in wanted.items():
        resource = resources.get(logical_id)
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::DynamoDB::Table":
            raise ValueError(f"{template}: no AWS::DynamoDB::Table resource named {logical_id!r}")
        props = resource.get("Properties") or {}
        args: dict[str, Any] = {
            "TableName": table_name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        provisioned = args["BillingMode"] == "PROVISIONED"
        if provisioned:
            args["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            indexes = props.get(key)
            if not indexes:
                continue
            args[key] = []
            for index in indexes:
                item = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
                if key == "GlobalSecondaryIndexes" and provisioned:
                    item["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"))
                args[key].append(item)
        _reject_intrinsics(args, f"{logical_id}")
        ttl = props.get("TimeToLiveSpecification") or {}
        ttl_attribute = ttl.get("AttributeName") if ttl.get("Enabled") is True else None
        _reject_intrinsics(ttl_attribute, f"{logical_id}.TimeToLiveSpecification")
        tables.append({"logical_id": logical_id, "create": args, "ttl_attribute": ttl_attribute})
    return tables


def _throughput(value: Any) -> dict[str, int]:
    # Capacity is meaningless locally; keep literal values, default the rest.
    value = value if isinstance(value, dict) else {}
    return {
        k: value[k] if isinstance(value.get(k), int) else 5
        for k in ("ReadCapacityUnits", "WriteCapacityUnits")
    }


def _reject_intrinsics(value: Any, where: str) -> None:
    if isinstance(value, _CfnTag) or (isinstance(value, dict) and any(k.startswith("Fn::") or k == "Ref" for k in value)):
        raise ValueError(f"{where}: intrinsic function {value!r} cannot be resolved locally")
    if isinstance(value, dict):
        for k, v in value.items():
            _reject_intrinsics(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _reject_intrinsics(v, f"{where}[{i}]")


def wait_for_port(host: str, port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not start listening on {host}:{port}") from None
            time.sleep(0.05)


def local_client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=10),
    )


def seed(
    endpoint: str,
    host: str,
    port: int,
    tables: list[dict[str, Any]],
    senders: list[str],
    ready_file: Path | None,
) -> None:
    """Runs in a background thread once run_simple is (about to be) serving."""
    try:
        deadline = time.monotonic() + SEED_TIMEOUT_SECONDS
        wait_for_port(host, port, deadline)
        client = local_client("dynamodb", endpoint)
        for table in tables:
            name = table["create"]["TableName"]
            client.create_table(**table["create"])
            while client.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"table {name} did not become ACTIVE")
                time.sleep(0.05)
            if table["ttl_attribute"]:
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": table["ttl_attribute"], "Enabled": True},
                )
        # The senders, verified as SES would verify them (an identity per address).
        ses = local_client("sesv2", endpoint)
        for sender in senders:
            ses.create_email_identity(EmailIdentity=sender)
        names = ", ".join(t["create"]["TableName"] for t in tables) or "none"
        if ready_file is not None:
            tmp = ready_file.with_name(ready_file.name + ".tmp")
            tmp.write_text(endpoint + "\n", encoding="utf-8")
            os.replace(tmp, ready_file)
        verified = ", ".join(senders) or "none"
        print(f"local dynamodb ready on {endpoint} (tables: {names}; verified senders: {verified})", flush=True)
    except Exception as exc:  # noqa: BLE001 - any failure must take the server down
        print(f"local_dynamo: seeding failed: {exc}", file=sys.stderr, flush=True)
        os._exit(1)


def link_lines(body: str) -> list[str]:
    """The lines of a mail's body that hold a link."""
    return [line.strip() for line in body.splitlines() if "://" in line]


def print_mail(path: Path, stop: threading.Event) -> None:
    """Runs in a background thread (`--print-mail`): prints each message the local SES accepts,
    as it is sent, until `stop` is set.

    Reads moto's in-memory record of sent messages in this process (the server and this thread
    share it), so the single-threaded server serves no extra request for it. A message is
    printed once: its recipient, its subject and its link lines, never anything else of it.
    """
    from moto.ses.models import ses_backends

    printed: dict[tuple[str, str], int] = {}
    with path.open("w", encoding="utf-8") as out:
        while not stop.wait(0.5):
            for account_id in list(ses_backends.keys()):
                regions = ses_backends[account_id]
                for region in list(regions.keys()):
                    messages = list(getattr(regions[region], "sent_messages", []))
                    done = printed.get((account_id, region), 0)
                    for message in messages[done:]:
                        destinations = getattr(message, "destinations", {}) or {}
                        to = ", ".join(a for addresses in destinations.values() for a in addresses)
                        subject = getattr(message, "subject", "") or "(no subject)"
                        out.write(f"\n  mail to {to or '(nobody)'}: {subject}\n")
                        for line in link_lines(getattr(message, "body", "") or ""):
                            out.write(f"    {line}\n")
                        out.write("\n")
                    printed[(account_id, region)] = len(messages)
            out.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port (1-65535)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="LOGICAL_ID=NAME",
        help="create table NAME as defined by template resource LOGICAL_ID (repeatable)",
    )
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template (default: repo template.yaml)")
    parser.add_argument("--ready-file", type=Path, help="file written once the tables exist")
    parser.add_argument(
        "--verify-sender",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="make ADDRESS a verified SES identity before reporting ready (repeatable)",
    )
    parser.add_argument(
        "--print-mail",
        type=Path,
        metavar="PATH",
        help="print each mail sent (recipient, subject, link lines) to PATH (make dev: its terminal)",
    )
    args = parser.parse_args(argv)

    if not 1 <= args.port <= 65535:
        parser.error("--port must be between 1 and 65535")
    host = "127.0.0.1" if args.host == "localhost" else args.host
    try:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError
    except ValueError:
        parser.error(f"--host must be a loopback address, got {args.host!r}")
    args.host = host

    wanted: dict[str, str] = {}
    for spec in args.table:
        logical_id, sep, name = spec.partition("=")
        if not sep or not logical_id or not TABLE_NAME_RE.match(name):
            parser.error(f"--table expects LogicalId=table-name, got {spec!r}")
        if logical_id in wanted or name in wanted.values():
            parser.error(f"--table {spec!r} repeats a logical id or table name")
        wanted[logical_id] = name
    args.tables = wanted
    for sender in args.verify_sender:
        local, at, domain = sender.partition("@")
        if not at or not local or "." not in domain or any(c.isspace() for c in sender):
            parser.error(f"--verify-sender expects an email address, got {sender!r}")
    return args


def _stop(signum: int, frame: Any) -> None:
    # werkzeug's serve_forever() treats KeyboardInterrupt as "shut down cleanly".
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        tables = load_table_definitions(args.template, args.tables)
    except (OSError, yaml.YAMLError, ValueError, KeyError) as exc:
        print(f"local_dynamo: cannot read table definitions: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1

    # Fail fast if the port is taken, so the seeder never talks to someone else's server.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((args.host, args.port))
        except OSError as exc:
            print(f"local_dynamo: cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1

    if args.ready_file is not None:
        args.ready_file.unlink(missing_ok=True)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # werkzeug's startup banner and request lines go through this logger; keep errors only.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    url_host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    endpoint = f"http://{url_host}:{args.port}"
    threading.Thread(
        target=seed,
        args=(endpoint, args.host, args.port, tables, args.verify_sender, args.ready_file),
        name="seed-tables",
        daemon=True,
    ).start()
    stop_printing = threading.Event()
    if args.print_mail is not None:
        threading.Thread(
            target=print_mail, args=(args.print_mail, stop_printing), name="print-mail", daemon=True
        ).start()
    try:
        run_simple(
            args.host,
            args.port,
            DomainDispatcherApplication(create_backend_app),
            threaded=False,
            request_handler=QuietRequestHandler,
        )
    except KeyboardInterrupt:
        pass
    finally:
        stop_printing.set()
        if args.ready_file is not None:
            args.ready_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
