#!/usr/bin/env bash
# Runs a command against a local stack of its own: DynamoDB Local in memory, the AWS emulator
# (S3, SES v2, SNS, Secrets Manager) and the local gateway with the demo data, on ports that do not
# collide with `make dev` / `make test`, with a table of its own; stops what it started after.
#
#   scripts/with-stack.sh node --test dist-test/test/
#
# The command sees the demo settings (HTTP_URL, WS_URL, COMMUNITY_ID, *_TOKEN), the JWT settings
# (to mint tokens for users it creates), DYNAMODB_ENDPOINT, TABLE_NAME, AWS_EMULATOR_ENDPOINT, and
# STACK_WORK (a work directory of its own, removed after unless kept).
# Environment:
#   STACK_DYNAMODB_PORT  DynamoDB Local port (default 8010; one already listening is used as it is
#                        and left running)
#   STACK_AWS_PORT       AWS emulator port (default 5010; the same rule)
#   STACK_HTTP_PORT      HTTP API port (default: a free one)
#   STACK_WS_PORT        WebSocket API port (default: a free one)
#   STACK_LABEL          prefix of the table name and the work directory (default `stack`)
#   STACK_KEEP           keep the work directory (gateway and function logs) even on success
# Needs `cargo build --workspace --bins` (the Makefile's `build`) and `scripts/install-deps.sh`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

label="${STACK_LABEL:-stack}"
ddb_port="${STACK_DYNAMODB_PORT:-8010}"
aws_port="${STACK_AWS_PORT:-5010}"
http_port="${STACK_HTTP_PORT:-$(free_port)}"
ws_port="${STACK_WS_PORT:-$(free_port)}"
gateway="$root/target/debug/local-gateway"
if [ ! -x "$gateway" ]; then
  echo "with-stack: $gateway is missing; run cargo build --workspace --bins" >&2
  exit 2
fi

# The documented local JWT settings unless the caller set others (the Makefile exports them).
export JWT_SECRET="${JWT_SECRET:-local-development-secret-change-me-0123456789}"
export JWT_ISSUER="${JWT_ISSUER:-https://lms.local}"
export JWT_AUDIENCE="${JWT_AUDIENCE:-course-community}"
export CURSOR_SECRET="${CURSOR_SECRET:-local-cursor-secret}"
export JWKS_URL=""

work=$(mktemp -d "${TMPDIR:-/tmp}/$label.XXXXXX")
gateway_pid=""
started_ddb=false
started_aws=false
cleanup() {
  local status=$?
  if [ -n "$gateway_pid" ]; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  if [ "$started_ddb" = true ]; then
    "$root/scripts/dynamodb-local.sh" stop --port "$ddb_port" >/dev/null || true
  fi
  if [ "$started_aws" = true ]; then
    "$root/scripts/aws-emulator.sh" stop --port "$aws_port" >/dev/null || true
  fi
  if [ -n "${STACK_KEEP:-}" ] || [ "$status" -ne 0 ]; then
    echo "with-stack: gateway log and work files kept in $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT

if ! listening "$ddb_port"; then
  "$root/scripts/dynamodb-local.sh" start --port "$ddb_port" --in-memory >&2
  started_ddb=true
fi
if ! listening "$aws_port"; then
  "$root/scripts/aws-emulator.sh" start --port "$aws_port" >&2
  started_aws=true
fi
for port in "$http_port" "$ws_port"; do
  if listening "$port"; then
    echo "with-stack: something already listens on 127.0.0.1:$port" >&2
    exit 1
  fi
done

export DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port"
export AWS_EMULATOR_ENDPOINT="http://127.0.0.1:$aws_port"
export TABLE_NAME="$label-$(date +%s)-$RANDOM"
export STACK_WORK="$work"
# Email on, with links to the web app (STACK_WEB_APP_URL), and Web Push on with a key of this
# stack's own, as a deployed stack has them.
vapid=$("$root/scripts/vapid-key.sh")
(cd "$root" && HTTP_PORT="$http_port" WS_PORT="$ws_port" DEMO_ENV_FILE="$work/demo.env" RUST_LOG=warn \
  PARAMETER_OVERRIDES="WebAppUrl=${STACK_WEB_APP_URL:-http://127.0.0.1:3002} $vapid ${PARAMETER_OVERRIDES:-}" \
  exec "$gateway" serve --seed --log-file "$work/functions.log") >"$work/gateway.log" 2>&1 &
gateway_pid=$!

for _ in $(seq 1 240); do
  [ -s "$work/demo.env" ] && break
  if ! kill -0 "$gateway_pid" 2>/dev/null; then
    cat "$work/gateway.log" >&2
    echo "with-stack: the local gateway exited before the demo data was seeded" >&2
    exit 1
  fi
  sleep 0.5
done
[ -s "$work/demo.env" ] || { echo "with-stack: no demo data after 120 s" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
source "$work/demo.env"
set +a
echo "with-stack: HTTP $HTTP_URL, WebSocket $WS_URL, DynamoDB Local $DYNAMODB_ENDPOINT (table $TABLE_NAME), AWS emulator $AWS_EMULATOR_ENDPOINT" >&2
"$@"
