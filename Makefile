# The project's index of commands. `make dev` and `make test` are the two that matter.

SHELL := bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

HTTP_PORT ?= 3000
WS_PORT ?= 3001
# The template's stage (its `Stage` parameter): both local APIs are served under it, as on AWS.
STAGE ?= dev
DYNAMODB_PORT ?= 8000
TEST_DYNAMODB_PORT ?= 8001
# The AWS service emulator (moto's server: S3, SES v2, SNS, Secrets Manager) of `make dev` and `make test`.
AWS_EMULATOR_PORT ?= 5000
TEST_AWS_EMULATOR_PORT ?= 5001
# Template parameters for the local gateway, as `sam deploy --parameter-overrides` takes them,
# e.g. PARAMETER_OVERRIDES='LogLevel=debug'.
PARAMETER_OVERRIDES ?=
LOAD_DYNAMODB_PORT ?= 8002
# The web app: its local server, and the stack of its browser tests (DynamoDB Local, HTTP, WebSocket).
WEB_PORT ?= 3002
WEB_TEST_DYNAMODB_PORT ?= 8004
WEB_TEST_HTTP_PORT ?= 3004
WEB_TEST_WS_PORT ?= 3005
WEB_TEST_PORT ?= 3006
# `make smoke-local` (part of `make test`): the local stack the smoke test runs against.
SMOKE_DYNAMODB_PORT ?= 8006
SMOKE_AWS_EMULATOR_PORT ?= 5006
# `make deploy-web`: the CloudFormation stack `sam deploy` created.
STACK_NAME ?= course-community
# Local JWT settings (HS256, as the LMS issues tokens). Override for anything but local use.
export JWT_SECRET ?= local-development-secret-change-me-0123456789
export JWT_ISSUER ?= https://lms.local
export JWT_AUDIENCE ?= course-community
export CURSOR_SECRET ?= local-cursor-secret
export RUST_LOG ?= info

VENV := .local/venv
PY := $(VENV)/bin/python

.PHONY: help dev deps build stop test lint cfn-lint bench load package clean smoke smoke-local \
  web-deps web web-serve web-test email-now digest-now emails web-screenshots chromium deploy-web redrive

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

deps: ## Install what the local stack needs (Java if missing, DynamoDB Local, cfn-lint, checkov)
	@scripts/install-deps.sh

build: ## Build every function and the local gateway (debug)
	cargo build --workspace --bins

dev: deps build web ## Start DynamoDB Local, the AWS emulator, the local API Gateway with demo data and the web app (ports 8000, 5000, 3000, 3001, 3002)
	scripts/dynamodb-local.sh start --port $(DYNAMODB_PORT) --db-path .local/dynamodb
	scripts/aws-emulator.sh start --port $(AWS_EMULATOR_PORT)
	node web/app/server/serve.mjs --port $(WEB_PORT) --api http://127.0.0.1:$(HTTP_PORT)/$(STAGE) \
	  --ws ws://127.0.0.1:$(WS_PORT)/$(STAGE) --demo-env .local/demo.env &
	web_pid=$$!
	trap 'kill $$web_pid 2>/dev/null || true' EXIT
	DYNAMODB_ENDPOINT=http://127.0.0.1:$(DYNAMODB_PORT) HTTP_PORT=$(HTTP_PORT) WS_PORT=$(WS_PORT) \
	  AWS_EMULATOR_ENDPOINT=http://127.0.0.1:$(AWS_EMULATOR_PORT) PARAMETER_OVERRIDES="WebAppUrl=http://127.0.0.1:$(WEB_PORT) $$(scripts/vapid-key.sh .local/vapid.env) $(PARAMETER_OVERRIDES)" target/debug/local-gateway serve --seed

email-now: ## With `make dev` running: send the notification emails that are due now (the every-minute schedule)
	@curl -sS -X POST http://127.0.0.1:$(WS_PORT)/@gateway/schedules/EmailFunction.Due; echo

digest-now: ## With `make dev` running: send the digests due this hour (the hourly schedule; once per user and period)
	@curl -sS -X POST http://127.0.0.1:$(WS_PORT)/@gateway/schedules/EmailFunction.Digest; echo

emails: ## With `make dev` running: the emails sent so far (sender, recipients, subject), from the AWS emulator
	@scripts/sent-emails.py --endpoint http://127.0.0.1:$(AWS_EMULATOR_PORT)

stop: ## Stop the DynamoDB Local and the AWS emulator started by `make dev`
	scripts/dynamodb-local.sh stop --port $(DYNAMODB_PORT)
	scripts/aws-emulator.sh stop --port $(AWS_EMULATOR_PORT)

test: deps build cfn-lint ## Every test: unit, DynamoDB Local, end to end through the local gateway, web (client + browser)
	command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked
	scripts/dynamodb-local.sh start --port $(TEST_DYNAMODB_PORT) --in-memory
	scripts/aws-emulator.sh start --port $(TEST_AWS_EMULATOR_PORT)
	trap 'scripts/dynamodb-local.sh stop --port $(TEST_DYNAMODB_PORT); scripts/aws-emulator.sh stop --port $(TEST_AWS_EMULATOR_PORT)' EXIT
	# Every gateway of the run records the AWS actions each function calls; then each function's
	# policy must allow exactly those (tests/tests/e2e/iam.rs).
	rm -f .local/iam-calls.log
	TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$(TEST_DYNAMODB_PORT) TEST_AWS_ENDPOINT=http://127.0.0.1:$(TEST_AWS_EMULATOR_PORT) \
	  IAM_CALLS_LOG=$(CURDIR)/.local/iam-calls.log cargo nextest run --workspace --no-fail-fast
	IAM_CALLS_LOG=$(CURDIR)/.local/iam-calls.log cargo nextest run -p e2e --run-ignored only \
	  -E 'test(each_policy_allows_exactly_the_actions_its_function_called)'
	TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$(TEST_DYNAMODB_PORT) $(PY) -m pytest -q -p no:cacheprovider scripts/test_redrive.py
	scripts/schemathesis.sh
	$(MAKE) --no-print-directory smoke-local
	$(MAKE) --no-print-directory web-test

smoke: web-deps ## Smoke test of a deployed stack: STACK=<name>, tokens in SMOKE_ADMIN_TOKEN, SMOKE_INSTRUCTOR_TOKEN, SMOKE_STUDENT_TOKEN
	@test -n "$(STACK)" || { echo "make smoke STACK=<stack name> (tokens in SMOKE_*_TOKEN)"; exit 2; }
	scripts/smoke.sh --stack "$(STACK)"

smoke-local: deps build web-deps ## The smoke test against a local stack of its own (tokens minted with the local JWT secret)
	STACK_DYNAMODB_PORT=$(SMOKE_DYNAMODB_PORT) STACK_AWS_PORT=$(SMOKE_AWS_EMULATOR_PORT) STACK_LABEL=smoke \
	  scripts/with-stack.sh scripts/smoke.sh --local

lint: ## rustfmt and clippy, warnings are errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

cfn-lint: deps ## Lint infra/template.yaml (cfn-lint, then checkov), before and after the SAM transform
	scripts/cfn-lint.sh infra/template.yaml
	scripts/checkov.sh infra/template.yaml

bench: deps build ## Benchmarks (release binaries): DynamoDB cost, fan-out, cold start, throughput -> bench/results/
	cargo build --release --workspace --bins
	scripts/dynamodb-local.sh start --port $(TEST_DYNAMODB_PORT) --in-memory
	scripts/aws-emulator.sh start --port $(TEST_AWS_EMULATOR_PORT)
	trap 'scripts/dynamodb-local.sh stop --port $(TEST_DYNAMODB_PORT); scripts/aws-emulator.sh stop --port $(TEST_AWS_EMULATOR_PORT)' EXIT
	ulimit -n 20000 2>/dev/null || ulimit -n $$(ulimit -Hn)
	TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$(TEST_DYNAMODB_PORT) TEST_AWS_ENDPOINT=http://127.0.0.1:$(TEST_AWS_EMULATOR_PORT) cargo bench -p e2e \
	  --bench fanout --bench dynamodb_cost --bench cold_start --bench throughput

load: deps build ## Soak + faults, 1,000 WebSocket clients for 10 min (loopback only) -> bench/results/load.*
	cargo build --release --workspace --bins
	rm -rf .local/load && mkdir -p .local/load
	scripts/dynamodb-local.sh start --port $(LOAD_DYNAMODB_PORT) --db-path .local/load/dynamodb
	trap 'scripts/dynamodb-local.sh stop --port $(LOAD_DYNAMODB_PORT)' EXIT
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn)
	TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$(LOAD_DYNAMODB_PORT) LOAD_DYNAMODB_PORT=$(LOAD_DYNAMODB_PORT) \
	  LOAD_DYNAMODB_PATH=.local/load/dynamodb LOAD_LOG=$(CURDIR)/.local/load/functions.log \
	  cargo bench -p e2e --bench load

package: ## Cross-compile every function for arm64 with cargo-lambda through `sam build`
	@scripts/install-deps.sh --package
	(cd infra && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam build)
	scripts/package-sizes.sh infra/.aws-sam/build

web-deps: ## Install the web workspace's npm packages (npm ci) when its lock file changed
	@if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then \
	  (cd web && npm ci --no-audit --no-fund --loglevel=error); fi

web: web-deps ## Build the client library and the web app (web/app/dist)
	cd web && npm run build --silent

web-serve: web ## Serve the built web app against a running `make dev` stack (port 3002)
	node web/app/server/serve.mjs --port $(WEB_PORT) --api http://127.0.0.1:$(HTTP_PORT)/$(STAGE) \
	  --ws ws://127.0.0.1:$(WS_PORT)/$(STAGE) --demo-env .local/demo.env

chromium: ## Install Debian's chromium for the browser tests when missing
	@command -v chromium >/dev/null 2>&1 || { \
	  sudo_cmd=""; [ "$$(id -u)" -ne 0 ] && sudo_cmd="sudo"; \
	  echo "installing chromium"; $$sudo_cmd apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo_cmd apt-get install -y -qq chromium >/dev/null; }

web-test: deps build web chromium ## The client library's tests and the browser tests, each against a stack of its own
	cd web && WEB_TEST_DYNAMODB_PORT=$(WEB_TEST_DYNAMODB_PORT) WEB_TEST_HTTP_PORT=$(WEB_TEST_HTTP_PORT) \
	  WEB_TEST_WS_PORT=$(WEB_TEST_WS_PORT) WEB_TEST_PORT=$(WEB_TEST_PORT) npm test --silent

web-screenshots: deps build web chromium ## Screenshots of the main screens -> docs/screenshots/
	cd web/app && CLIENT_TEST_DYNAMODB_PORT=$(WEB_TEST_DYNAMODB_PORT) CLIENT_TEST_HTTP_PORT=$(WEB_TEST_HTTP_PORT) \
	  CLIENT_TEST_WS_PORT=$(WEB_TEST_WS_PORT) WEB_TEST_PORT=$(WEB_TEST_PORT) \
	  ../client/scripts/with-stack.sh node scripts/screenshots.mjs ../../docs/screenshots

deploy-web: web ## Upload the web app to the stack's bucket with its config.json (STACK_NAME=course-community)
	web/app/scripts/deploy.sh "$(STACK_NAME)"

clean: ## Remove build output and local data
	cargo clean
	rm -rf .local .aws-sam web/app/dist web/app/test-results

redrive: deps ## Redrive the notifier's dead letters of a deployed stack (STACK_NAME=course-community, REDRIVE_ARGS=--dry-run)
	$(PY) scripts/redrive.py --stack "$(STACK_NAME)" $(REDRIVE_ARGS)
