#!/usr/bin/env bash
# Runs a command against a local stack of its own (the repository's scripts/with-stack.sh) on the
# client tests' ports:
#
#   web/client/scripts/with-stack.sh node --test dist-test/test/
#
# Environment:
#   CLIENT_TEST_DYNAMODB_PORT  DynamoDB Local port (default 8010; one already listening is used)
#   CLIENT_TEST_AWS_PORT       AWS emulator port (default 5010; the same rule)
#   CLIENT_TEST_HTTP_PORT      HTTP API port (default 3010)
#   CLIENT_TEST_WS_PORT        WebSocket API port (default 3011)
#   CLIENT_TEST_KEEP           keep the work directory with the gateway log
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
STACK_LABEL=client-tests \
  STACK_DYNAMODB_PORT="${CLIENT_TEST_DYNAMODB_PORT:-8010}" \
  STACK_AWS_PORT="${CLIENT_TEST_AWS_PORT:-5010}" \
  STACK_HTTP_PORT="${CLIENT_TEST_HTTP_PORT:-3010}" \
  STACK_WS_PORT="${CLIENT_TEST_WS_PORT:-3011}" \
  STACK_KEEP="${CLIENT_TEST_KEEP:-}" \
  exec "$root/scripts/with-stack.sh" "$@"
