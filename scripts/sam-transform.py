"""Applies the SAM transform (aws-sam-translator, the library CloudFormation's transform runs) to a
template and prints the plain CloudFormation it becomes, as JSON, for cfn-lint to check what
`sam deploy` would create. Fails if the translator is missing, refuses the template, or leaves an
`AWS::Serverless::*` resource behind.

    python scripts/sam-transform.py infra/template.yaml > transformed.json
"""

import json
import os
import sys

try:
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse
except ImportError as e:  # the check is meaningless without the translator
    sys.exit(f"sam-transform: aws-sam-translator is not installed ({e})")


class NoManagedPolicies:
    """Managed policies named by name would be looked up in IAM; the template names none."""

    def load(self):
        return {}


def packaged(template):
    """Local `CodeUri`s point at S3, as `sam package` leaves them."""
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties") or {}
        uri = props.get("CodeUri")
        if res.get("Type") == "AWS::Serverless::Function" and isinstance(uri, str):
            if not uri.startswith("s3://"):
                props["CodeUri"] = f"s3://packaged-code/{name}.zip"
    return template


def main(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path, encoding="utf-8") as f:
        template = packaged(yaml_parse(f.read()))
    try:
        out = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"sam-transform: {cause.message}", file=sys.stderr)
        sys.exit(f"sam-transform: {path} does not transform")
    left = sorted(
        name
        for name, res in out.get("Resources", {}).items()
        if str(res.get("Type", "")).startswith("AWS::Serverless::")
    )
    if left or "Transform" in out:
        sys.exit(f"sam-transform: the transform was not applied (still SAM: {left})")
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)
    print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
