#!/usr/bin/env bash
# `make dev`: local DynamoDB-compatible server (in memory, seeded with the template's tables; also
# the local SES v2, whose every mail is printed here) plus `cargo lambda watch` serving every
# function on http://127.0.0.1:9000. Ctrl-C stops both.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
require_venv
trap cleanup EXIT
trap 'exit 130' INT TERM

load_env_file dev.env
ensure_dev_keys
API_PORT="${API_PORT:-9000}"
DYNAMO_PORT="${AWS_ENDPOINT_URL_DYNAMODB##*:}"
for p in "$API_PORT" "$DYNAMO_PORT"; do
  if port_in_use "$p"; then
    echo "port $p on 127.0.0.1 is already in use (another 'make dev'?). Stop it first." >&2
    exit 1
  fi
done

echo "==> starting local DynamoDB and SES v2 on $AWS_ENDPOINT_URL_DYNAMODB (sender $MAIL_FROM)"
start_dynamo "$DYNAMO_PORT" "$STATE/dynamo-dev.log" print-mail
echo "==> building functions (first time: a few minutes)"
cargo build --bins

cat <<MSG

  Auth API on http://127.0.0.1:$API_PORT   (Ctrl-C stops it and the local DynamoDB)

  curl -s -X POST http://127.0.0.1:$API_PORT/register -H 'content-type: application/json' \\
       -d '{"username":"alice","password":"correct horse battery","email":"alice@example.com"}'
  TOKEN=\$(curl -s -X POST http://127.0.0.1:$API_PORT/login -H 'content-type: application/json' \\
       -d '{"username":"alice","password":"correct horse battery"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s http://127.0.0.1:$API_PORT/protected -H "Authorization: Bearer \$TOKEN"

  Mail goes to the local SES v2 and is printed here ("mail to ...", with its link): open the
  verification link the registration above mails to alice@example.com, then forget the password
  curl -s -X POST http://127.0.0.1:$API_PORT/password/forgot -H 'content-type: application/json' \\
       -d '{"email":"alice@example.com"}'
  and open the reset link printed below it.

MSG
# dev.env with every value the environment overrides (`JWT_ISSUER=... make dev` wins).
ENV_FILE="$STATE/dev-$$.env"
TEMP_FILES+=("$ENV_FILE")
write_env_file "$ENV_FILE"
if [ -n "${JWT_ALG:-}" ]; then echo "JWT_ALG=$JWT_ALG" >> "$ENV_FILE"; fi
setsid cargo lambda watch -A 127.0.0.1 -P "$API_PORT" --env-file "$ENV_FILE" &
PIDS+=("$!")
wait "$!"
