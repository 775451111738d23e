# Helpers shared by scripts/dev.sh and scripts/test.sh. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.dev"
mkdir -p "$STATE"

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    # Each service runs in its own process group (setsid), so this stops its children too.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
}

# Reads KEY=VALUE lines (blank lines and # comments skipped) from an env file.
load_env_file() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    export "${line?}"
  done < "$1"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_in_use() {
  python3 -c 'import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# start_dynamo PORT LOGFILE: local DynamoDB-compatible server with the template's tables.
start_dynamo() {
  local port="$1" log="$2" ready="$STATE/dynamo-$1.ready"
  rm -f "$ready"
  setsid python "$ROOT/scripts/local_dynamo.py" --port "$port" \
    --table "UsersTable=$USERS_TABLE" --table "RateLimitTable=$RATE_LIMIT_TABLE" \
    --table "SessionsTable=$SESSIONS_TABLE" \
    --ready-file "$ready" >"$log" 2>&1 &
  PIDS+=("$!")
  local pid=$! i
  for i in $(seq 1 300); do
    [ -f "$ready" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "local DynamoDB server failed to start:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "local DynamoDB server did not become ready in 30 s:" >&2; cat "$log" >&2; return 1
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
ensure_dev_keys() {
  local file="$ROOT/.dev/jwt-keys.json"
  [ -s "$file" ] && return 0
  echo "==> generating a local signing key set in .dev/jwt-keys.json"
  (umask 077 && cargo run --quiet -p keygen -- new dev-key > "$file.tmp") && mv "$file.tmp" "$file"
}
