#!/usr/bin/env bash
# Uploads the built web app (web/app/dist) to the S3 bucket of a deployed stack, writes its
# config.json from the stack's outputs (the API endpoints are given at run time, not built in), and
# invalidates CloudFront's copy of the files that keep their names.
#
#   web/app/scripts/deploy.sh <stack-name>      (make deploy-web STACK_NAME=...)
#
# Needs the AWS CLI with credentials for the stack's account and region (AWS_REGION / AWS_PROFILE).
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:?usage: deploy.sh <stack-name>}"
[ -f dist/index.html ] || { echo "deploy: dist/ is missing; run make web first" >&2; exit 2; }
command -v aws >/dev/null || { echo "deploy: the AWS CLI (aws) is needed" >&2; exit 2; }

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
bucket=$(output WebAppBucketName)
distribution=$(output WebAppDistributionId)
http_url=$(output HttpApiUrl)
ws_url=$(output WebSocketUrl)
app_url=$(output WebAppUrl)
for v in bucket distribution http_url ws_url app_url; do
  if [ -z "${!v}" ] || [ "${!v}" = "None" ]; then
    echo "deploy: stack $stack has no output for $v (was it deployed from this template?)" >&2
    exit 1
  fi
done

config=$(mktemp)
trap 'rm -f "$config"' EXIT
printf '{"httpUrl": "%s", "wsUrl": "%s"}\n' "$http_url" "$ws_url" >"$config"

# Hashed assets first (cached for a year), then the files that keep their names (never cached stale).
aws s3 sync dist/assets "s3://$bucket/assets" --delete --exclude "*.map" \
  --cache-control "public, max-age=31536000, immutable"
aws s3 cp dist/index.html "s3://$bucket/index.html" --cache-control "no-cache" --content-type "text/html; charset=utf-8"
aws s3 cp dist/sw.js "s3://$bucket/sw.js" --cache-control "no-cache" --content-type "text/javascript; charset=utf-8"
aws s3 cp "$config" "s3://$bucket/config.json" --cache-control "no-cache" --content-type "application/json"
aws cloudfront create-invalidation --distribution-id "$distribution" --paths /index.html /config.json >/dev/null
echo "web app: $app_url (API $http_url, WebSocket $ws_url)"
