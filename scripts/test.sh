#!/usr/bin/env bash
# `make test` and its narrower loops. Usage: scripts/test.sh [rust|e2e|browser|fuzz|all]
# (default all)
#   rust    (`make test-rust`)   local DynamoDB-compatible server on a free port, every Rust test
#           against it, then the OpenAPI contract check over the responses those tests recorded
#   e2e     (`make e2e`)         local DynamoDB + `cargo lambda watch`, the HTTP tests in
#           tests/e2e.py
#   browser (`make e2e-browser`) local DynamoDB + `cargo lambda watch`, headless Chromium through
#           the pages a mail's link opens (tests/browser.py; installs chromium when missing)
#   fuzz    (`make fuzz`)        local DynamoDB + `cargo lambda watch`, schemathesis against
#           openapi.yaml
#   all     (`make test`)        rust, then e2e and fuzz against one served stack, then the
#           trace-level stack (e2e and the browser tier, then the log check); one DynamoDB for all
# Beside the local DynamoDB runs the local SES v2 (AWS_ENDPOINT_URL_SESV2, a server of its own):
# the tests read the mails it accepted back from it. Stops everything it started, pass or fail.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

TIER="${1:-all}"
case "$TIER" in
  rust|e2e|browser|fuzz|all) ;;
  *) echo "usage: scripts/test.sh [rust|e2e|browser|fuzz|all]   (default all)" >&2; exit 2 ;;
esac
# `make test` keeps its log names (.dev/dynamo-test.log, ...); a narrow tier adds its name, so
# e.g. `make e2e` and `make fuzz` can run side by side.
TAG="test"
[ "$TIER" = all ] || TAG="test-$TIER"

# Rust tests against the local DynamoDB, then the contract check over what they recorded.
run_rust() {
  echo "==> cargo test (unit, handler and integration tests)"
  export CONTRACT_RECORDS="$STATE/contract-records.jsonl"
  [ "$TIER" = all ] || CONTRACT_RECORDS="$STATE/contract-records-$TIER.jsonl"
  rm -f "$CONTRACT_RECORDS"
  # shellcheck disable=SC2086 # CARGO_TEST_ARGS is a list of words
  cargo test --all-targets --no-fail-fast ${CARGO_TEST_ARGS:-}
  # The verify-only functions again, built as they are deployed: RustCrypto alone, no AWS SDK,
  # no aws-lc (the workspace-wide run above unifies features, and aws-lc is then the backend).
  echo "==> cargo test -p protected -p jwks (as deployed: RustCrypto, no AWS SDK)"
  cargo test -p protected -p jwks --no-fail-fast ${CARGO_TEST_ARGS:-}

  echo "==> OpenAPI contract: every handler response the tests saw, against openapi.yaml"
  python3 scripts/contract_check.py "$CONTRACT_RECORDS" --require-all-operations --require-all-events events
}

# The HTTP end-to-end tests against the served stack (start_test_api first).
run_e2e() {
  echo "==> end-to-end over HTTP through cargo lambda watch"
  if ! python3 tests/e2e.py "$API_URL"; then
    echo "--- cargo lambda watch log (last 50 lines) ---" >&2
    tail -n 50 "$STATE/watch-$TAG.log" >&2
    exit 1
  fi
}

# Debian's chromium and chromium-driver for the browser tier, installed when missing (apt-get,
# through sudo when not root): Playwright's own browser download needs the internet, selenium
# drives Debian's (/work/shared/TOOLING.md, "A real browser here").
ensure_browser() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  echo "==> installing Debian's chromium and chromium-driver (the browser tier)"
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
}

# The browser tier against the served stack (start_test_api first): headless Chromium opens the
# links of mails the local SES v2 accepted (tests/browser.py reads them from
# AWS_ENDPOINT_URL_DYNAMODB's /moto-api/data.json), types, submits, and checks the console for
# CSP violations.
run_browser() {
  ensure_browser
  echo "==> the pages a mail's link opens, in headless Chromium (tests/browser.py)"
  if ! python3 tests/browser.py "$API_URL"; then
    echo "--- cargo lambda watch log (last 50 lines) ---" >&2
    tail -n 50 "$1" >&2
    exit 1
  fi
}

# The same verifier's view with RS256 tokens: a second stack with JWT_ALG=RS256 and a local RSA
# key set, where PyJWT verifies a login token from the discovery document as API Gateway's JWT
# authorizer does.
#
# Its functions log at RUST_LOG=trace, and the tests that send passwords and receive tokens run
# there too, and with `make test` the browser tier (every link token of a mail passes through
# its functions): once the stack is stopped, scripts/check_logs.py finds none of those
# passwords, tokens, link tokens mailed, hashes or private key parts in what the functions
# printed.
run_e2e_rs256() {
  echo "==> end-to-end with JWT_ALG=RS256 and RUST_LOG=trace (a second stack)"
  export JWT_ALG=RS256 FUNCTION_RUST_LOG=trace
  export E2E_SECRETS_FILE="$STATE/e2e-secrets-$TAG.txt"
  TEMP_FILES+=("$E2E_SECRETS_FILE")
  ensure_dev_keys
  local log="$STATE/watch-$TAG-rs256.log"
  start_test_api "$log"
  if ! python3 tests/e2e.py "$API_URL" test_the_token_verifies_from_its_issuers_discovery_document_alone \
      test_login_returns_a_bearer_token_and_a_refresh_token test_wrong_password_returns_401 \
      test_refresh_rotates_and_reuse_revokes_the_family test_logout_ends_the_session \
      test_a_password_change_then_an_account_deletion_frees_the_name; then
    tail -n 50 "$log" >&2
    exit 1
  fi
  if [ "$TIER" = all ]; then run_browser "$log"; fi
  stop_test_api
  echo "==> the functions' trace-level output holds no password, token, link token, hash or key"
  python3 scripts/check_logs.py "$log" --secrets "$E2E_SECRETS_FILE" \
    --key-file "$JWT_KEYS_FILE" --secret-file "$MFA_KEY_FILE" --expect-level DEBUG --expect-metrics \
    --mails "$AWS_ENDPOINT_URL_SESV2"
}

# schemathesis against the served stack (start_test_api first).
run_fuzz() {
  echo "==> fuzzing the local stack against openapi.yaml (schemathesis)"
  local log="$STATE/schemathesis-$TAG.log" junit="$STATE/schemathesis-junit-$TAG.xml"
  if [ "$TIER" = all ]; then
    log="$STATE/schemathesis.log" junit="$STATE/schemathesis-junit.xml"
  fi
  # Tokens for the routes behind a bearer token (schemathesis.toml reads them).
  local credentials="$STATE/fuzz-credentials-$TAG.sh"
  TEMP_FILES+=("$credentials")
  python3 scripts/fuzz_credentials.py "$API_URL" >"$credentials"
  # shellcheck disable=SC1090 # written just above
  source "$credentials"
  # Every check but positive_data_acceptance (an auth API rightly refuses most well-formed
  # credentials). A fixed seed keeps runs comparable; SCHEMATHESIS_EXAMPLES raises the budget.
  SCHEMATHESIS_HOOKS=scripts.schemathesis_hooks schemathesis run openapi.yaml \
    --url "$API_URL" \
    --checks all --exclude-checks positive_data_acceptance \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" --seed 20261127 \
    --generation-codec utf-8 --generation-database none --request-timeout 30 \
    --report junit --report-junit-path "$junit" >"$log" 2>&1 || {
      cat "$log"
      exit 1
    }
  grep -E "generated|passed|failures|errors" "$log" | tail -n 3
  python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
print(f"schemathesis: {tests - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
}

require_venv
trap cleanup EXIT
trap 'exit 130' INT TERM

load_env_file dev.env
ensure_dev_keys
start_test_dynamo "$STATE/dynamo-$TAG.log"

case "$TIER" in
  rust)    run_rust ;;
  e2e)     start_test_api "$STATE/watch-$TAG.log"; run_e2e; run_e2e_rs256 ;;
  browser) start_test_api "$STATE/watch-$TAG.log"; run_browser "$STATE/watch-$TAG.log" ;;
  fuzz)    start_test_api "$STATE/watch-$TAG.log"; run_fuzz ;;
  all)     run_rust; start_test_api "$STATE/watch-$TAG.log"; run_e2e; run_fuzz; run_e2e_rs256 ;;
esac
