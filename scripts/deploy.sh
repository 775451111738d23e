#!/usr/bin/env bash
# `make deploy` (after `sam build`): deploys the stack, and gives the verify-only functions the
# public half of its key set (the `PublicKeySet` parameter), which `sam deploy --guided` alone
# cannot: the key set lives in a secret, and on a first deploy the stack itself creates it.
#
# - The stack does not exist yet: `sam deploy --guided` (or plain `sam deploy` when a
#   samconfig.toml exists) creates it, with its generated secret; the verify-only functions
#   read that secret for now. Then a second deploy passes the secret's public half.
# - The stack exists: the public half of the secret as it is now is passed with the one deploy,
#   so after each rotation step (`put_keys` then `make deploy`, see docs/keys.md) verifiers get
#   the new public keys in the same deploy that restarts the signers.
#
# The public half is computed by `keygen public --secret ARN`, which reads the secret as a
# function does; the private part never leaves that process. DERIVE_PUBLIC_KEYS=0 skips all
# this (the verify-only functions then keep reading the private secret).
set -euo pipefail
cd "$(dirname "$0")/.."

config=samconfig.toml
setting() { # setting NAME: a deploy setting saved by `sam deploy --guided`, if any
  [ -f "$config" ] || return 0
  python3 - "$config" "$1" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    params = tomllib.load(f).get("default", {}).get("deploy", {}).get("parameters", {})
value = params.get(sys.argv[2], "")
print(" ".join(value) if isinstance(value, list) else value)
PY
}

secret_arn() { # secret_arn STACK REGION: the stack's SigningKeysSecretArn output, if it exists
  sam list stack-outputs --stack-name "$1" --region "$2" --output json 2>/dev/null | python3 -c '
import json, sys
try:
    outputs = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
print(next((o["OutputValue"] for o in outputs if o["OutputKey"] == "SigningKeysSecretArn"), ""))'
}

# The saved parameter overrides with PublicKeySet set to $1 (replacing a saved one).
overrides_with_public_set() {
  python3 - "$1" "$(setting parameter_overrides)" <<'PY'
import json, shlex, sys
public, saved = sys.argv[1], sys.argv[2]
def quoted(name, value):  # SAM's own syntax: Name="value", with " escaped (SAM keeps \ as is)
    return name + '="' + value.replace('"', '\\"') + '"'
kept = [p.split("=", 1) for p in shlex.split(saved) if "=" in p]
pairs = [quoted(k, v) for k, v in kept if k != "PublicKeySet"]
pairs.append(quoted("PublicKeySet", json.dumps(json.loads(public), separators=(",", ":"))))
print(" ".join(pairs))
PY
}

deploy_with_public_set() { # deploy_with_public_set STACK REGION
  local arn public
  arn="$(secret_arn "$1" "$2")"
  if [ -z "$arn" ]; then
    echo "deploy: no SigningKeysSecretArn output on stack $1: the public key set is not passed" >&2
    return 1
  fi
  echo "==> deriving the public key set of $arn"
  public="$(AWS_REGION="$2" cargo run --quiet --release -p keygen -- public --secret "$arn")"
  echo "==> deploying with PublicKeySet (verify-only functions lose GetSecretValue)"
  sam deploy --no-fail-on-empty-changeset --parameter-overrides "$(overrides_with_public_set "$public")"
}

stack="$(setting stack_name)"
region="$(setting region)"
if [ "${DERIVE_PUBLIC_KEYS:-1}" = 0 ]; then
  if [ -f "$config" ]; then sam deploy; else sam deploy --guided; fi
  exit 0
fi
if [ -n "$stack" ] && [ -n "$(secret_arn "$stack" "$region")" ]; then
  deploy_with_public_set "$stack" "$region"
  exit 0
fi
# First deploy: the stack creates its secret; then pass its public half.
if [ -f "$config" ]; then sam deploy; else sam deploy --guided; fi
deploy_with_public_set "$(setting stack_name)" "$(setting region)"
