# Helpers shared by scripts/dev.sh, scripts/test.sh and scripts/bench.sh. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.dev"
VENV="$ROOT/.venv"
mkdir -p "$STATE"

# The venv's tools first (python3 with the dev packages, cargo-lambda, schemathesis), whether a
# script runs under make or on its own. Every script calls the interpreter `python3`: with this
# PATH that is the venv's, and a plain system python3 still serves the helpers below without one.
[ "${PATH%%:*}" = "$VENV/bin" ] || PATH="$VENV/bin:$PATH"
export PATH

# require_venv: stops with a hint when the dev tools are not installed (any make target that
# depends on `tools` installs them).
require_venv() {
  if [ ! -f "$VENV/.installed" ]; then
    echo "the dev tools are not installed in $VENV; run 'make tools' first" >&2
    exit 1
  fi
}

PIDS=()
TEMP_FILES=()
cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    # Each service runs in its own process group (setsid), so this stops its children too.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
  done
  local file
  for file in "${TEMP_FILES[@]:-}"; do
    if [ -n "$file" ]; then rm -f "$file"; fi
  done
  return 0
}

# Reads KEY=VALUE lines (blank lines and # comments skipped) from an env file. A variable
# already set in the environment wins (`JWT_ISSUER=... make dev`).
load_env_file() {
  local line name
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    name="${line%%=*}"
    [ -n "${!name+x}" ] && continue
    export "${line?}"
  done < "$1"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_in_use() {
  python3 -c 'import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# write_env_file FILE: every variable of dev.env with its current value (the environment wins,
# see load_env_file), for `cargo lambda watch --env-file`.
write_env_file() {
  local line name
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    name="${line%%=*}"
    echo "$name=${!name}"
  done < "$ROOT/dev.env" > "$1"
}

# The sender the Rust tests mail as (shared::testing::mail::TEST_MAIL_FROM): verified on every
# local server, beside dev.env's MAIL_FROM.
TEST_MAIL_FROM="no-reply@auth-api.test"

# start_dynamo PORT LOGFILE [print-mail]: local DynamoDB-compatible server with the template's
# tables, and beside it a second local server that is the local SES v2 (AWS_ENDPOINT_URL_SESV2
# is pointed at it): MAIL_FROM (dev.env) and TEST_MAIL_FROM are verified senders there (SES
# refuses any other, as its sandbox does). Two servers, because reading the mails back
# (moto's /moto-api/data.json) dumps the whole server's state: on the DynamoDB server, with a
# test run's thousands of items, that held the single-threaded server for seconds and timed out
# every request behind it. With print-mail (`make dev`), every mail the SES server accepts is
# printed on this script's standard output: recipient, subject and link.
start_dynamo() {
  local port="$1" log="$2" print="${3:-}" mail_port
  start_local_server "$port" "$log" || return 1
  # `make dev` keeps dev.env's SES port (its functions read dev.env); tests take a free one.
  mail_port="${AWS_ENDPOINT_URL_SESV2:-}"; mail_port="${mail_port##*:}"
  if [ -z "${AWS_ENDPOINT_URL_SESV2:-}" ] || [ "$mail_port" = "$port" ] || port_in_use "$mail_port"; then
    mail_port="$(free_port)"
    while [ "$mail_port" = "$port" ]; do mail_port="$(free_port)"; done
  fi
  local args=(--verify-sender "$TEST_MAIL_FROM")
  if [ -n "${MAIL_FROM:-}" ]; then args+=(--verify-sender "$MAIL_FROM"); fi
  # fd 3 is this script's standard output, kept apart from the server's log below.
  if [ "$print" = print-mail ]; then args+=(--print-mail /dev/fd/3); fi
  start_local_server "$mail_port" "${log%.log}-ses.log" "${args[@]}" || return 1
  export AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$mail_port"
}

# start_local_server PORT LOGFILE [ARGS...]: one local server (scripts/local_dynamo.py) with the
# template's tables and ARGS, its PID added to PIDS; returns once it is ready.
start_local_server() {
  local port="$1" log="$2" ready="$STATE/dynamo-$1.ready"
  shift 2
  rm -f "$ready"
  setsid python3 "$ROOT/scripts/local_dynamo.py" --port "$port" \
    --table "UsersTable=$USERS_TABLE" --table "RateLimitTable=$RATE_LIMIT_TABLE" \
    --table "SessionsTable=$SESSIONS_TABLE" "$@" \
    --ready-file "$ready" 3>&1 >"$log" 2>&1 &
  PIDS+=("$!")
  local pid=$! _
  for _ in $(seq 1 300); do
    [ -f "$ready" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "local server failed to start:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "local server did not become ready in 30 s:" >&2; cat "$log" >&2; return 1
}

# start_test_dynamo LOGFILE: start_dynamo on a free port, exported as AWS_ENDPOINT_URL_DYNAMODB
# and AWS_ENDPOINT_URL_SESV2 (dev.env must be loaded first, for the table names).
start_test_dynamo() {
  local port
  port="$(free_port)"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
  echo "==> local DynamoDB on $AWS_ENDPOINT_URL_DYNAMODB"
  # A free port for the local SES v2 too, not dev.env's (a `make dev` may hold it).
  unset AWS_ENDPOINT_URL_SESV2
  start_dynamo "$port" "$1"
  echo "==> local SES v2 on $AWS_ENDPOINT_URL_SESV2"
}

# start_test_api LOGFILE: builds the functions and serves them with `cargo lambda watch` on a free
# port against the local DynamoDB started before; sets API_URL once it answers. Its settings are
# dev.env with that DynamoDB endpoint, in a file of this run's own (removed on exit).
start_test_api() {
  local log="$1" env_file port
  port="$(free_port)"
  env_file="$STATE/test-$$-$port.env"
  API_URL="http://127.0.0.1:$port"
  TEMP_FILES+=("$env_file")
  # The issuer is this stack's base URL, so its discovery document resolves; the links in its
  # mails open its own pages.
  export JWT_ISSUER="$API_URL" PUBLIC_BASE_URL="$API_URL"
  write_env_file "$env_file"
  # Every request through `cargo lambda watch` comes from 127.0.0.1, and each end-to-end test
  # logs in on its own: more than the default 5 logins and 30 refreshes per minute per IP. The
  # stacks of one run share the local DynamoDB, and the limits are exact rolling windows, so a
  # stack started right after the fuzzer finds its last minute of requests still counted: the
  # per-IP limits are the largest allowed here (dev.env wins if it sets one).
  grep -q '^LOGIN_IP_LIMIT=' "$env_file" || echo "LOGIN_IP_LIMIT=1000" >> "$env_file"
  grep -q '^REFRESH_IP_LIMIT=' "$env_file" || echo "REFRESH_IP_LIMIT=1000" >> "$env_file"
  grep -q '^FORGOT_IP_LIMIT=' "$env_file" || echo "FORGOT_IP_LIMIT=1000" >> "$env_file"
  # JWT_ALG=RS256 (with ensure_dev_keys' RSA key file) is passed on when set.
  if [ -n "${JWT_ALG:-}" ]; then echo "JWT_ALG=$JWT_ALG" >> "$env_file"; fi
  # FUNCTION_RUST_LOG sets the functions' RUST_LOG alone (cargo lambda's own stays as it is).
  if [ -n "${FUNCTION_RUST_LOG:-}" ]; then
    sed -i "s/^RUST_LOG=.*/RUST_LOG=$FUNCTION_RUST_LOG/" "$env_file"
    grep -q '^RUST_LOG=' "$env_file" || echo "RUST_LOG=$FUNCTION_RUST_LOG" >> "$env_file"
  fi
  cargo build --bins
  # --ignore-changes: the fuzzer writes files into the tree, and a hot reload mid-request would
  # drop that request.
  setsid cargo lambda watch -A 127.0.0.1 -P "$port" --env-file "$env_file" --ignore-changes \
    >"$log" 2>&1 &
  PIDS+=("$!")
  if ! wait_http "$API_URL/" 120; then
    echo "cargo lambda watch did not answer on port $port:" >&2
    cat "$log" >&2
    return 1
  fi
  echo "==> functions served on $API_URL"
}

# stop_test_api: stops the stack start_test_api started last and waits for it, so its log is
# complete.
stop_test_api() {
  local pid="${PIDS[${#PIDS[@]}-1]}"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset 'PIDS[${#PIDS[@]}-1]'
}

# wait_http URL SECONDS: until something answers HTTP at URL.
wait_http() {
  python3 - "$1" "$2" <<'PY'
import sys, time, urllib.request, urllib.error
url, limit = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # any HTTP answer means the server is up
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PY
}

# ensure_dev_keys: a local signing key set in .dev/jwt-keys.json (never committed), made once.
# With JWT_ALG=RS256 (`JWT_ALG=RS256 make dev`) an RSA key set in .dev/jwt-keys-rs256.json
# instead, and JWT_KEYS_FILE points at it. The key that seals TOTP secrets comes with it
# (ensure_dev_mfa_key).
ensure_dev_keys() {
  ensure_dev_mfa_key
  local file="$ROOT/.dev/jwt-keys.json" args=(new dev-key)
  if [ "${JWT_ALG:-EdDSA}" = RS256 ]; then
    file="$ROOT/.dev/jwt-keys-rs256.json" args=(new --alg RS256 dev-rsa-key)
    export JWT_KEYS_FILE="$file"
  fi
  [ -s "$file" ] && return 0
  echo "==> generating a local ${JWT_ALG:-EdDSA} signing key set in ${file#"$ROOT"/}"
  (umask 077 && cargo run --quiet -p keygen -- "${args[@]}" > "$file.tmp") && mv "$file.tmp" "$file"
}

# ensure_dev_mfa_key: the local key material that seals TOTP secrets (dev.env's MFA_KEY_FILE,
# .dev/mfa-key; never committed: .dev is git-ignored), made once: 64 random URL-safe characters.
# Deployed functions read theirs from the stack's MfaKeySecret instead. Replacing the file makes
# every TOTP enrolled locally unreadable (the local DynamoDB is in memory, so that is only the
# users of a running `make dev`).
ensure_dev_mfa_key() {
  local file="$ROOT/.dev/mfa-key"
  [ -s "$file" ] && return 0
  echo "==> generating a local TOTP sealing key in ${file#"$ROOT"/}"
  (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(48))' > "$file.tmp") \
    && mv "$file.tmp" "$file"
}
