#!/usr/bin/env bash
# Static security checks (checkov) on a SAM template (default infra/template.yaml), like
# scripts/cfn-lint.sh before and after the SAM transform: the template as written (its SAM
# resources) and the plain CloudFormation it becomes (the generated roles, permissions, stages and
# mappings). Any finding fails. A suppression is a `checkov: skip:` entry in the resource's
# Metadata with its reason (`comment`); the skipped checks are counted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
checkov=.local/checkov/bin/checkov
template="${1:-infra/template.yaml}"

mkdir -p .local
transformed=".local/$(basename "${template%.*}").transformed.json"
.local/venv/bin/python scripts/sam-transform.py "$template" >"$transformed"

status=0
for file in "$template" "$transformed"; do
  report=".local/checkov-$(basename "$file").json"
  # --skip-download: the checks shipped with the pinned version, nothing fetched from a platform.
  "$checkov" --file "$file" --framework cloudformation --skip-download --output json >"$report" || true
  python3 - "$file" "$report" <<'PY' || status=1
import collections, json, sys
path, report = sys.argv[1:]
data = json.load(open(report))
if not isinstance(data, dict) or "results" not in data:
    sys.exit(f"checkov: {path}: no report ({report})")
results, summary = data["results"], data["summary"]
if summary.get("parsing_errors"):
    sys.exit(f"checkov: {path}: {summary['parsing_errors']} parsing errors")
for c in results.get("failed_checks", []):
    print(f"checkov: {path}:{c['file_line_range'][0]}: {c['check_id']} {c['resource']}: {c['check_name']}")
skipped = collections.Counter(c["check_id"] for c in results.get("skipped_checks", []))
print(f"checkov: {path}: {summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped "
      f"({', '.join(f'{k} x{v}' for k, v in sorted(skipped.items())) or 'none'})")
sys.exit(1 if summary["failed"] else 0)
PY
done
exit $status
