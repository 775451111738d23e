# Two commands do all set-up: `make dev` (serve the API on http://127.0.0.1:9000) and
# `make test` (every test, against a local DynamoDB-compatible server it starts and stops).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
# One venv at one fixed path: cargo-lambda's build cache is keyed on its install path.
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)

.PHONY: grant dev test test-rust e2e e2e-browser fuzz lint ci fmt build sam-build arm64-target deploy bench argon2-table tools clean

## dev: install what is missing, start local DynamoDB (and SES v2: every mail sent is printed) +
##      cargo lambda watch on :9000
dev: tools
	scripts/dev.sh

## test: unit, handler, integration, fault and property tests (local DynamoDB), the OpenAPI
##       contract check, end-to-end HTTP tests, schemathesis fuzzing of the local stack and the
##       browser tier (installs Debian's chromium and chromium-driver when missing)
test: tools
	scripts/test.sh all

## test-rust: only the unit, handler, integration, fault and property tests (local DynamoDB)
##            and the OpenAPI contract check over the responses they recorded
test-rust: tools
	scripts/test.sh rust

## e2e: only the end-to-end HTTP tests (tests/e2e.py) against cargo lambda watch and a local
##      DynamoDB; the tests run in a shuffled order, E2E_SEED=N repeats one
e2e: tools
	scripts/test.sh e2e

## e2e-browser: only the browser tier (tests/browser.py): headless Chromium opens the links of
##              mails the local SES v2 accepted, against cargo lambda watch and a local DynamoDB
##              (installs Debian's chromium and chromium-driver when missing)
e2e-browser: tools
	scripts/test.sh browser

## fuzz: only the schemathesis run against cargo lambda watch and a local DynamoDB
##       (SCHEMATHESIS_EXAMPLES=100 for a longer run)
fuzz: tools
	scripts/test.sh fuzz

## grant: give USER the role ROLE on the local stack of a running `make dev`
##        (`make grant USER=alice ROLE=admin`; the role applies from the user's next login)
grant: tools
	scripts/authctl.sh grant "$(USER)" "$(ROLE)"

## lint: rustfmt, clippy (warnings are errors) on the workspace, on each function alone as it is
##       deployed (scripts/check_functions.sh) and on the bench; cfn-lint + sam validate on the
##       template, openapi.yaml validity
lint: tools $(VENV)/.sam-installed
	cargo fmt --all --check
	cargo clippy --all-targets -- -D warnings
	scripts/check_functions.sh
	cargo clippy -p lambda-bench -p floor -p floor-sdk --all-targets -- -D warnings
	cfn-lint template.yaml
	cfn-lint template.yaml --parameters GatewayAuthorizer=jwt JwtAlg=RS256 JwtIssuer=https://auth.example.com \
	  SigningKeysSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-keys-AbCdEf \
	  PublicKeySet=public-keys AdminRequireMfa=true ProtectedSessionCheck=true \
	  MailFrom=no-reply@example.com PublicBaseUrl=https://auth.example.com RequireEmail=true
	openapi-spec-validator openapi.yaml
	sam validate --lint --region us-east-1 --template template.yaml

## bench: measure every function under a local Lambda Runtime API against the floor function
##        (BENCH_ARGS="--check" fails on a missed target; "--invocations 50" for a quick run)
bench: tools
	scripts/bench.sh $(BENCH_ARGS)

## argon2-table: argon2id hash time per Lambda memory size (CPU share emulated with a cgroup)
argon2-table:
	scripts/argon2_table.sh

## ci: what .ci/run runs
ci: lint test

fmt:
	cargo fmt --all

## build: release cross-build of every function for Lambda (arm64), as `sam build` does
build: tools arm64-target
	cargo lambda build --release --arm64

## sam-build: what `sam build` does: `cargo lambda build --release --arm64 --bin <fn>` run in each
##            function's folder (CodeUri), so each binary gets only its own features
sam-build: tools arm64-target $(VENV)/.sam-installed
	sam build
	@# The sizes are a convenience: a harness that does not build does not stop a deploy.
	cargo build --release --quiet -p lambda-bench && target/release/lambda-bench --sizes .aws-sam/build \
	  || echo "(sizes not printed: bench/lambda-bench did not build or run)"

arm64-target:
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

## deploy: build and deploy with SAM (asks for stack name and region the first time), then give
##         the verify-only functions the public key set (scripts/deploy.sh, docs/keys.md)
deploy: sam-build
	scripts/deploy.sh

tools: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(VENV)/.sam-installed: requirements-sam.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

clean:
	cargo clean
	rm -rf $(VENV) .aws-sam .dev
