#!/usr/bin/env bash
# Smoke test of a running stack: a short real flow through both APIs, then clean-up, then a report.
#
#   scripts/smoke.sh --stack <cloudformation stack name>     # a deployed stack (its outputs)
#   scripts/smoke.sh --http <HTTP API URL> --ws <WebSocket URL>
#   scripts/smoke.sh --local                                  # inside scripts/with-stack.sh
#
# Tokens (HS256 JWTs the stack trusts; the operator supplies them):
#   SMOKE_ADMIN_TOKEN        an admin (LMS sync, export, erasure)
#   SMOKE_INSTRUCTOR_TOKEN   the course's instructor: a smoke-test account, erased at the end
#   SMOKE_STUDENT_TOKEN      a student: a smoke-test account, erased at the end
# With --local the three are minted for fresh users with JWT_SECRET / JWT_ISSUER / JWT_AUDIENCE
# (and HTTP_URL / WS_URL are the ones scripts/with-stack.sh exports).
#
# The flow: LMS sync (users, a course `smoke-<run>`, an enrollment), join, a post, chat over
# WebSocket (node + the `ws` package of web/), a reply that must reach the instructor as a
# `notification` event, the instructor's notification list; then clean-up: the enrollment ended,
# both users erased (their content stays as "Deleted user"), checked through the export. The
# community of the smoke course stays (the API deletes no community), with no member left.
# Needs bash, curl, jq, node (and, for --stack, the aws CLI). Exit status 0 only if every check passed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

stack="" http="" ws="" local_mode=false
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) stack="$2"; shift 2 ;;
    --http) http="$2"; shift 2 ;;
    --ws) ws="$2"; shift 2 ;;
    --local) local_mode=true; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "smoke: unknown argument $1" >&2; exit 2 ;;
  esac
done

for tool in curl jq node; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool is required" >&2; exit 2; }
done
[ -d "$root/web/node_modules/ws" ] || { echo "smoke: web/node_modules/ws is missing: make web-deps" >&2; exit 2; }

run="$(date -u +%Y%m%d%H%M%S)-$RANDOM"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
# mint <sub> <role> <name>: an HS256 token of the local JWT settings, valid for an hour.
mint() {
  local now header payload sig
  now=$(date +%s)
  header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  payload=$(jq -cn --arg sub "$1" --arg role "$2" --arg name "$3" --arg iss "$JWT_ISSUER" \
    --arg aud "$JWT_AUDIENCE" --argjson now "$now" \
    '{sub: $sub, role: $role, name: $name, preferred_username: $sub,
      iss: $iss, aud: $aud, iat: $now, exp: ($now + 3600)}' | b64url)
  sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | b64url)
  printf '%s.%s.%s' "$header" "$payload" "$sig"
}
# claim <token> <name>: a claim of a token's payload.
claim() {
  local p
  p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
  while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done
  openssl base64 -d -A <<<"$p" | jq -r --arg k "$2" '.[$k]'
}

if [ -n "$stack" ]; then
  aws_cli=$(command -v aws || echo "$root/.local/venv/bin/aws")
  outputs=$("$aws_cli" cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' --output json)
  http=$(jq -r '.[] | select(.OutputKey == "HttpApiUrl") | .OutputValue' <<<"$outputs")
  ws=$(jq -r '.[] | select(.OutputKey == "WebSocketUrl") | .OutputValue' <<<"$outputs")
fi
if [ "$local_mode" = true ]; then
  http="${http:-$HTTP_URL}" ws="${ws:-$WS_URL}"
  : "${JWT_SECRET:?}" "${JWT_ISSUER:?}" "${JWT_AUDIENCE:?}"
  SMOKE_ADMIN_TOKEN=$(mint "smoke-admin-$run" admin "Smoke Admin")
  SMOKE_INSTRUCTOR_TOKEN=$(mint "smoke-instructor-$run" instructor "Smoke Instructor")
  SMOKE_STUDENT_TOKEN=$(mint "smoke-student-$run" student "Smoke Student")
fi
[ -n "$http" ] && [ -n "$ws" ] || { echo "smoke: give --stack, --http and --ws, or --local" >&2; exit 2; }
: "${SMOKE_ADMIN_TOKEN:?set SMOKE_ADMIN_TOKEN}" "${SMOKE_INSTRUCTOR_TOKEN:?set SMOKE_INSTRUCTOR_TOKEN}" \
  "${SMOKE_STUDENT_TOKEN:?set SMOKE_STUDENT_TOKEN}"
http="${http%/}" ws="${ws%/}"
instructor=$(claim "$SMOKE_INSTRUCTOR_TOKEN" sub)
student=$(claim "$SMOKE_STUDENT_TOKEN" sub)
api="$http/api/community"

passed=0 failed=0
report=()
check() { # check <name> <ok: true|false> <detail>
  if [ "$2" = true ]; then passed=$((passed + 1)); report+=("PASS  $1  $3")
  else failed=$((failed + 1)); report+=("FAIL  $1  $3"); fi
}
# call <method> <path> <token> [json body]: sets $status and $body.
call() {
  local out
  out=$(curl -sS -m 30 -X "$1" "$api$2" -H "Authorization: Bearer $3" -H 'content-type: application/json' \
    ${4:+--data "$4"} -w $'\n%{http_code}') || { status=000; body='{}'; return; }
  status="${out##*$'\n'}" body="${out%$'\n'*}"
  [ -n "$body" ] || body='{}'
}
ms() { date +%s%3N; }

# ---- LMS sync
t=$(ms)
# The username of a token's user: its `preferred_username`, else its id with only the allowed characters.
username_of() {
  local u
  u=$(claim "$1" preferred_username)
  if [ -z "$u" ] || [ "$u" = null ]; then u=$(claim "$1" sub | tr -c 'A-Za-z0-9_.\n-' '_'); fi
  printf '%s' "${u:0:64}"
}
user_body() { jq -cn --arg n "$1" --arg u "$2" '{name: $n, username: $u}'; }
call PUT "/lms/users/$instructor/" "$SMOKE_ADMIN_TOKEN" \
  "$(user_body "$(claim "$SMOKE_INSTRUCTOR_TOKEN" name)" "$(username_of "$SMOKE_INSTRUCTOR_TOKEN")")"; s1=$status
call PUT "/lms/users/$student/" "$SMOKE_ADMIN_TOKEN" \
  "$(user_body "$(claim "$SMOKE_STUDENT_TOKEN" name)" "$(username_of "$SMOKE_STUDENT_TOKEN")")"; s2=$status
call PUT "/lms/courses/smoke-$run/" "$SMOKE_ADMIN_TOKEN" \
  "$(jq -cn --arg i "$instructor" --arg r "$run" '{title: "Smoke test \($r)", description: "Created and emptied by scripts/smoke.sh", instructor_ids: [$i]}')"
s3=$status community=$(jq -r '.community_id // empty' <<<"$body")
call PUT "/lms/courses/smoke-$run/enrollments/$student/" "$SMOKE_ADMIN_TOKEN" '{"is_active": true}'; s4=$status
check lms_sync "$([[ $s1 =~ ^20[01]$ && $s2 =~ ^20[01]$ && $s3 == 201 && $s4 =~ ^20[01]$ && -n $community ]] && echo true || echo false)" \
  "users $s1/$s2, course $s3 (community ${community:-none}), enrollment $s4, $(( $(ms) - t )) ms"

# ---- join
t=$(ms)
call POST "/groups/$community/join/" "$SMOKE_STUDENT_TOKEN" '{}'
check join "$([[ $status =~ ^20[01]$ ]] && echo true || echo false)" "status $status, $(( $(ms) - t )) ms"

# ---- post
t=$(ms)
call POST "/posts/" "$SMOKE_INSTRUCTOR_TOKEN" \
  "$(jq -cn --arg c "$community" --arg r "$run" '{community: $c, title: "Smoke test \($r)", content: "Please reply."}')"
post=$(jq -r '.id // empty' <<<"$body")
check post "$([[ $status == 201 && -n $post ]] && echo true || echo false)" "status $status, $(( $(ms) - t )) ms"
call GET "/posts/?community=$community" "$SMOKE_STUDENT_TOKEN"
check post_listed "$([[ $status == 200 ]] && jq -e --arg p "$post" '.results | any(.id == $p)' <<<"$body" >/dev/null && echo true || echo false)" \
  "the student's listing shows it (status $status)"

# ---- chat over WebSocket and the notification (node)
if ws_out=$(node "$root/scripts/smoke-ws.mjs" "$http" "$ws" "$community" "$post" \
  "$SMOKE_INSTRUCTOR_TOKEN" "$SMOKE_STUDENT_TOKEN" 2>&1); then :; fi
while IFS= read -r line; do
  if jq -e . >/dev/null 2>&1 <<<"$line"; then
    check "$(jq -r .check <<<"$line")" "$(jq -r .ok <<<"$line")" "$(jq -c 'del(.check, .ok)' <<<"$line")"
  else
    check websocket false "$line"
  fi
done <<<"$ws_out"

# The notification is stored too.
call GET "/notifications/" "$SMOKE_INSTRUCTOR_TOKEN"
check notification_listed "$([[ $status == 200 ]] && jq -e '.results | length > 0' <<<"$body" >/dev/null && echo true || echo false)" \
  "status $status, $(jq '.results | length' <<<"$body" 2>/dev/null || echo '?') notification(s)"

# ---- clean-up
t=$(ms)
call DELETE "/lms/courses/smoke-$run/enrollments/$student/" "$SMOKE_ADMIN_TOKEN"; e0=$status
call DELETE "/lms/users/$student/" "$SMOKE_ADMIN_TOKEN"; e1=$status
call DELETE "/lms/users/$instructor/" "$SMOKE_ADMIN_TOKEN"; e2=$status
call GET "/lms/users/$student/export/" "$SMOKE_ADMIN_TOKEN"
left=$(jq -c '.sections | keys' <<<"$body" 2>/dev/null || echo '?')
check cleanup "$([[ $e0 =~ ^20[04]$ && $e1 == 200 && $e2 == 200 && $left == '[]' ]] && echo true || echo false)" \
  "enrollment ended $e0, student erased $e1, instructor erased $e2, left of the student: $left, $(( $(ms) - t )) ms"

echo "Smoke test of $http ($ws), run $run"
printf '  %s\n' "${report[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
