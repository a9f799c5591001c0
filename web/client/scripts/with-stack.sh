#!/usr/bin/env bash
# Runs a command against a local stack of its own: DynamoDB Local in memory and the local gateway
# with the demo data, on ports that do not collide with `make dev` / `make test`; stops both after.
#
#   web/client/scripts/with-stack.sh node --test dist-test/test/
#
# The command sees the demo settings (HTTP_URL, WS_URL, COMMUNITY_ID, *_TOKEN), the JWT settings
# (to mint tokens for users it creates), DYNAMODB_ENDPOINT and TABLE_NAME.
# Environment:
#   CLIENT_TEST_DYNAMODB_PORT  DynamoDB Local port (default 8010; one already listening is used as
#                              it is and left running)
#   CLIENT_TEST_HTTP_PORT      HTTP API port (default 3010)
#   CLIENT_TEST_WS_PORT        WebSocket API port (default 3011)
#   CLIENT_TEST_KEEP           keep the work directory with the gateway log
# Needs `cargo build --workspace --bins` (the Makefile's `build`).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)

ddb_port="${CLIENT_TEST_DYNAMODB_PORT:-8010}"
http_port="${CLIENT_TEST_HTTP_PORT:-3010}"
ws_port="${CLIENT_TEST_WS_PORT:-3011}"
gateway="$root/target/debug/local-gateway"
if [ ! -x "$gateway" ]; then
  echo "with-stack: $gateway is missing; run cargo build --workspace --bins" >&2
  exit 2
fi

export JWT_SECRET="${JWT_SECRET:-local-development-secret-change-me-0123456789}"
export JWT_ISSUER="${JWT_ISSUER:-https://lms.local}"
export JWT_AUDIENCE="${JWT_AUDIENCE:-course-community}"
export CURSOR_SECRET="${CURSOR_SECRET:-local-cursor-secret}"
export JWKS_URL=""

work=$(mktemp -d "${TMPDIR:-/tmp}/client-tests.XXXXXX")
gateway_pid=""
started_ddb=false
cleanup() {
  local status=$?
  if [ -n "$gateway_pid" ]; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  if [ "$started_ddb" = true ]; then
    "$root/scripts/dynamodb-local.sh" stop --port "$ddb_port" >/dev/null || true
  fi
  if [ -n "${CLIENT_TEST_KEEP:-}" ] || [ "$status" -ne 0 ]; then
    echo "with-stack: gateway log kept in $work/gateway.log" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT

if ! (exec 3<>"/dev/tcp/127.0.0.1/$ddb_port") 2>/dev/null; then
  "$root/scripts/dynamodb-local.sh" start --port "$ddb_port" --in-memory >&2
  started_ddb=true
fi
for port in "$http_port" "$ws_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "with-stack: something already listens on 127.0.0.1:$port" >&2
    exit 1
  fi
done

export DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port"
export TABLE_NAME="client-tests-$(date +%s)-$RANDOM"
(cd "$root" && HTTP_PORT="$http_port" WS_PORT="$ws_port" DEMO_ENV_FILE="$work/demo.env" RUST_LOG=warn \
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
echo "with-stack: HTTP $HTTP_URL, WebSocket $WS_URL, DynamoDB Local $DYNAMODB_ENDPOINT (table $TABLE_NAME)" >&2
"$@"
