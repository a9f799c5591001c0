#!/usr/bin/env bash
# Checks docs/openapi.yaml against the running API with schemathesis: runs itself inside a stack of
# its own (scripts/with-stack.sh: DynamoDB Local in memory, the AWS emulator and the local gateway
# with the demo data, a table of its own), as a demo student and as the demo admin.
#
#   scripts/schemathesis.sh [extra `schemathesis run` options]
#
# Needs `cargo build --workspace --bins` and `scripts/install-deps.sh` (the Makefile's `test`
# does both). Environment:
#   SCHEMATHESIS_DYNAMODB_PORT  DynamoDB Local port (default 8002; one already listening is used
#                               as it is and left running)
#   SCHEMATHESIS_AWS_PORT       AWS emulator port (default 5002; the same rule)
#   SCHEMATHESIS_MAX_EXAMPLES   test cases per operation and phase (default 15)
#   SCHEMATHESIS_SEED           random seed (default: a new one each run, printed by schemathesis)
#   SCHEMATHESIS_KEEP           keep the work directory with the gateway log and reports
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=.local/venv

if [ -z "${STACK_WORK:-}" ]; then
  [ -x "$venv/bin/schemathesis" ] || scripts/install-deps.sh
  STACK_LABEL=schemathesis STACK_DYNAMODB_PORT="${SCHEMATHESIS_DYNAMODB_PORT:-8002}" \
    STACK_AWS_PORT="${SCHEMATHESIS_AWS_PORT:-5002}" STACK_KEEP="${SCHEMATHESIS_KEEP:-}" \
    exec scripts/with-stack.sh "$0" "$@"
fi
# Inside the stack: the demo settings are in the environment.
work=$STACK_WORK
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-15}"
api="$HTTP_URL/api/community"

# Objects for the generated requests to reach beyond "not found": a post with a reply, a chat
# message, and the notification the reply gives the post's author.
call() {
  local token=$1 method=$2 path=$3 body=${4:-}
  curl -sf -X "$method" "$api$path" -H "Authorization: Bearer $token" \
    -H 'content-type: application/json' ${body:+-d "$body"}
}
json_id() { python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }
post_id=$(call "$STUDENT_TOKEN" POST /posts/ \
  "{\"community\": \"$COMMUNITY_ID\", \"title\": \"Schemathesis\", \"content\": \"Hello @alex\"}" | json_id)
reply_id=$(call "$INSTRUCTOR_TOKEN" POST /posts/ \
  "{\"community\": \"$COMMUNITY_ID\", \"parent\": \"$post_id\", \"content\": \"Welcome\"}" | json_id)
message_id=$(call "$STUDENT_TOKEN" POST /messages/ \
  "{\"community\": \"$COMMUNITY_ID\", \"message\": \"Hello\"}" | json_id)
notification_id=""
for _ in $(seq 1 50); do
  notification_id=$(call "$STUDENT_TOKEN" GET /notifications/ |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["results"]; print(r[0]["id"] if r else "")')
  [ -n "$notification_id" ] && break
  sleep 0.2
done
notification_id="${notification_id:-01JF6R0000000000000000N0TE}"

# Path and body parameters take the demo objects' ids most of the time, generated ones otherwise.
cat >"$work/schemathesis.toml" <<EOF
[dictionaries.community]
values = ["$COMMUNITY_ID"]
[dictionaries.post]
values = ["$post_id", "$reply_id"]
[dictionaries.message]
values = ["$message_id"]
[dictionaries.notification]
values = ["$notification_id"]
[dictionaries.course]
values = ["demo-course"]
[dictionaries.user]
values = ["demo-student-1", "demo-student-2", "demo-instructor"]

# For the negative_data_rejection check: invalid input may also be too large (413) or be
# refused before it is read (401, 403, 404).
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 409, 413, 415, 422, 429]

[parameters]
"path.community_id" = { dictionary = "community", probability = 0.8 }
"query.community" = { dictionary = "community", probability = 0.8 }
"body.community" = { dictionary = "community", probability = 0.8 }
"path.post_id" = { dictionary = "post", probability = 0.8 }
"body.parent" = { dictionary = "post", probability = 0.5 }
"path.message_id" = { dictionary = "message", probability = 0.8 }
"query.after" = { dictionary = "message", probability = 0.5 }
"body.reply_to" = { dictionary = "message", probability = 0.5 }
"path.notification_id" = { dictionary = "notification", probability = 0.8 }
"path.course_id" = { dictionary = "course", probability = 0.8 }
"path.user_id" = { dictionary = "user", probability = 0.8 }
EOF

# Conformance to the document, no 5xx, and no operation served without the token. Not
# negative_data_rejection: text is trimmed before its length is checked, so a string over
# `maxLength` with blanks around it is rightly accepted.
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks="$checks,response_schema_conformance,ignored_auth"
run() {
  local who=$1 token=$2
  shift 2
  echo "schemathesis: as the demo $who"
  # From the work directory, where schemathesis keeps its cache.
  (cd "$work" && "$root/$venv/bin/schemathesis" --config-file schemathesis.toml \
    run "$root/docs/openapi.yaml" --url "$HTTP_URL" -H "Authorization: Bearer $token" \
    --checks "$checks" --phases examples,coverage,fuzzing \
    --max-examples "$max_examples" --workers 1 --request-timeout 20 --no-shrink \
    --suppress-health-check all --warnings off \
    ${SCHEMATHESIS_SEED:+--seed "$SCHEMATHESIS_SEED"} \
    --report junit --report-dir "reports-$who" "$@")
}
# The student first: the admin's run may remove the student's membership and enrollment.
failed=0
run student "$STUDENT_TOKEN" "$@" || failed=1
run admin "$ADMIN_TOKEN" "$@" || failed=1
exit "$failed"
