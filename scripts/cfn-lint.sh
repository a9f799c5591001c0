#!/usr/bin/env bash
# Lints a SAM template (default infra/template.yaml) as `sam deploy` would deploy it:
#   1. cfn-lint on the template itself (SAM resources against SAM's schemas);
#   2. the SAM transform (aws-sam-translator, what CloudFormation runs) turns it into plain
#      CloudFormation, and cfn-lint checks that: the generated roles, permissions, routes,
#      integrations and stages.
# Fails if the transform did not run: a template it must refuse (scripts/sam-canary.yaml) is tried
# first, and the transformed template must have no AWS::Serverless::* resource left.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.local/venv
template="${1:-infra/template.yaml}"

"$venv/bin/cfn-lint" "$template"

if canary=$("$venv/bin/python" scripts/sam-transform.py scripts/sam-canary.yaml 2>&1 >/dev/null); then
  echo "cfn-lint: the SAM transform accepted scripts/sam-canary.yaml: it is not applied" >&2
  exit 1
elif ! grep -q "ApiId must be a valid reference" <<<"$canary"; then
  echo "cfn-lint: the SAM transform did not run: $canary" >&2
  exit 1
fi

mkdir -p .local
transformed=".local/$(basename "${template%.*}").transformed.json"
"$venv/bin/python" scripts/sam-transform.py "$template" >"$transformed"
"$venv/bin/cfn-lint" "$transformed"
echo "cfn-lint: $template passes, before and after the SAM transform ($transformed)"
