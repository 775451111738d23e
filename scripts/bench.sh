#!/usr/bin/env bash
# `make bench`: release-build every function, start a local DynamoDB-compatible server, and run
# tools/lambda-bench against the binaries. Extra arguments go to lambda-bench (e.g. --check,
# --invocations 50, --only login,register).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
require_venv
trap cleanup EXIT
trap 'exit 130' INT TERM

load_env_file dev.env
DYNAMO_PORT="$(free_port)"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMO_PORT"
echo "==> release build, one function at a time (first time: several minutes)"
# One package per build, as `sam build` / `cargo lambda build --bin` does: a workspace-wide build
# would unify the shared crate's features and link the AWS SDK into every function.
for dir in functions/*/; do
  cargo build --release --quiet -p "$(basename "$dir")"
done
cargo build --release --quiet -p lambda-bench
echo "==> local DynamoDB on $AWS_ENDPOINT_URL_DYNAMODB"
start_dynamo "$DYNAMO_PORT" "$STATE/dynamo-bench.log"
echo "==> machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
target/release/lambda-bench "$@"
