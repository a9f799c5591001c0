#!/usr/bin/env bash
# Prints each function's bootstrap size and the size of its zipped deployment package.
set -euo pipefail
build_dir="${1:-infra/.aws-sam/build}"
python3 - "$build_dir" <<'PY'
import io, pathlib, sys, zipfile
print(f"{'function':<24} {'binary':>12} {'package':>12}")
for boot in sorted(pathlib.Path(sys.argv[1]).glob("*/bootstrap")):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(boot, "bootstrap")
    print(f"{boot.parent.name:<24} {boot.stat().st_size / 2**20:>8.2f} MiB {len(buf.getvalue()) / 2**20:>8.2f} MiB")
PY
