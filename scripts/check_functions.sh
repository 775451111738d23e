#!/usr/bin/env bash
# `make lint`'s per-function gate: every deployable function (functions/*/) checked with clippy
# on its own, as `sam build` builds it (`cargo lambda build --bin <fn>` in its folder): only its
# own features, so each `#[cfg(not(feature = ...))]` branch a deployed build takes is compiled
# and linted. A workspace-wide build unifies the shared crate's features and never compiles
# those branches. Warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
for dir in functions/*/; do
  fn="$(basename "$dir")"
  echo "==> $fn, as deployed"
  # Default targets (library and binary), not the tests: dev-dependencies would add features.
  cargo clippy --quiet -p "$fn" -- -D warnings
done
