#!/usr/bin/env bash
# `make grant`: runs tools/authctl against the local DynamoDB-compatible server of a running
# `make dev` (its address and table names come from dev.env). Usage: scripts/authctl.sh ARGS...
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
load_env_file dev.env
if [ -z "${2:-}" ]; then
  echo "usage: make grant USER=<username> ROLE=<role>" >&2
  exit 2
fi
if ! port_in_use "${AWS_ENDPOINT_URL_DYNAMODB##*:}"; then
  echo "no local DynamoDB on $AWS_ENDPOINT_URL_DYNAMODB: start 'make dev' first" >&2
  exit 1
fi
cargo run --quiet -p authctl -- "$@"
