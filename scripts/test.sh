#!/usr/bin/env bash
# `make test`: starts a local DynamoDB-compatible server on a free port, runs every Rust test
# against it, then serves the functions with `cargo lambda watch` and runs the end-to-end HTTP
# tests. Stops everything it started, pass or fail.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap cleanup EXIT
trap 'exit 130' INT TERM

load_env_file dev.env
ensure_dev_keys
DYNAMO_PORT="$(free_port)"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMO_PORT"

echo "==> local DynamoDB on $AWS_ENDPOINT_URL_DYNAMODB"
start_dynamo "$DYNAMO_PORT" "$STATE/dynamo-test.log"

echo "==> cargo test (unit, handler and integration tests)"
export CONTRACT_RECORDS="$STATE/contract-records.jsonl"
rm -f "$CONTRACT_RECORDS"
cargo test --workspace --all-targets --no-fail-fast ${CARGO_TEST_ARGS:-}

echo "==> OpenAPI contract: every handler response the tests saw, against openapi.yaml"
python scripts/contract_check.py "$CONTRACT_RECORDS" --require-all-operations

echo "==> end-to-end over HTTP through cargo lambda watch"
API_PORT="$(free_port)"
grep -v '^AWS_ENDPOINT_URL_DYNAMODB=' dev.env > "$STATE/test.env"
echo "AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB" >> "$STATE/test.env"
cargo build --workspace --bins
# --ignore-changes: the fuzzer writes files into the tree, and a hot reload mid-request would
# drop that request.
setsid cargo lambda watch -A 127.0.0.1 -P "$API_PORT" --env-file "$STATE/test.env" --ignore-changes \
  >"$STATE/watch-test.log" 2>&1 &
PIDS+=("$!")
if ! wait_http "http://127.0.0.1:$API_PORT/" 120; then
  echo "cargo lambda watch did not answer on port $API_PORT:" >&2
  cat "$STATE/watch-test.log" >&2
  exit 1
fi
if ! python tests/e2e.py "http://127.0.0.1:$API_PORT"; then
  echo "--- cargo lambda watch log (last 50 lines) ---" >&2
  tail -n 50 "$STATE/watch-test.log" >&2
  exit 1
fi

echo "==> fuzzing the local stack against openapi.yaml (schemathesis)"
# Every check but positive_data_acceptance (an auth API rightly refuses most well-formed
# credentials). A fixed seed keeps runs comparable; SCHEMATHESIS_EXAMPLES raises the budget.
SCHEMATHESIS_HOOKS=scripts.schemathesis_hooks schemathesis run openapi.yaml \
  --url "http://127.0.0.1:$API_PORT" \
  --checks all --exclude-checks positive_data_acceptance \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" --seed 20261127 \
  --generation-codec utf-8 --generation-database none --request-timeout 30 \
  --report junit --report-junit-path "$STATE/schemathesis-junit.xml" >"$STATE/schemathesis.log" 2>&1 || {
    cat "$STATE/schemathesis.log"
    exit 1
  }
grep -E "generated|passed|failures|errors" "$STATE/schemathesis.log" | tail -n 3
python - "$STATE/schemathesis-junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
print(f"schemathesis: {tests - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
