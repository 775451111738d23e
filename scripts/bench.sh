#!/usr/bin/env bash
# `make bench`: release-build every function and the floors (bench/), start a local
# DynamoDB-compatible server, and run bench/lambda-bench against the binaries. Extra arguments go
# to lambda-bench (e.g. --check, --invocations 50, --only login,register).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
require_venv
trap cleanup EXIT
trap 'exit 130' INT TERM

load_env_file dev.env
# What is measured: each deployable function (a crate under functions/, named as its folder),
# and the floors every row is compared with.
BINARIES=()
for dir in functions/*/; do BINARIES+=("$(basename "$dir")"); done
BINARIES+=(floor floor-sdk)
DYNAMO_PORT="$(free_port)"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMO_PORT"
echo "==> release build, one function at a time (first time: several minutes)"
# One package per build, as `sam build` / `cargo lambda build --bin` does: a workspace-wide build
# would unify the shared crate's features and link the AWS SDK into every function. The bench
# crates are named like the rest (they are not default members); the harness is built alone
# too, or its tokio features would reach the floor it measures against.
for pkg in "${BINARIES[@]}" lambda-bench; do
  cargo build --release --quiet -p "$pkg"
done
echo "==> local DynamoDB on $AWS_ENDPOINT_URL_DYNAMODB"
start_dynamo "$DYNAMO_PORT" "$STATE/dynamo-bench.log"
echo "==> machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
# Every binary is measured from a fresh copy, as a deployment's unzip writes it, so that all rows
# start from the same page-cache state. How a file's pages were last cached (written by the
# linker, read back from disk, copied) moved its cold start by up to a tenth: one binary read
# 1.70 x the floor, and a fresh copy of it 1.56 x (docs/performance.md#how-it-is-measured).
BIN_DIR="$STATE/bench-bin"
rm -rf "$BIN_DIR"
mkdir -p "$BIN_DIR"
for pkg in "${BINARIES[@]}"; do
  cp --reflink=never "target/release/$pkg" "$BIN_DIR/"
done
target/release/lambda-bench --bin-dir "$BIN_DIR" "$@"
