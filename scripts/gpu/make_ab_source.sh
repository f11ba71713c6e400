#!/usr/bin/env bash
# The other side of `run_gpu_checks.sh sourceab`: the working tree's joined kernel source with some
# kernel files as they are at another commit, written to .gpu/ab_source.cu.xz (carried with .gpu).
#   bash scripts/gpu/make_ab_source.sh REV FILE...   e.g.  main decode_attention.cu
# The files' launches must be the same at both commits (sourceab runs one binary with either source).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 REV FILE..." >&2; exit 2; }
rev=$1; shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r Sources/VLLMCUDA/Kernels "$work/"
for file in "$@"; do git show "$rev:Sources/VLLMCUDA/Kernels/$file" > "$work/Kernels/$file"; done
mkdir -p .gpu
python3 -c 'import sys; sys.path.insert(0, "scripts/gpu"); import kernel_source; print(kernel_source.source(kernels=sys.argv[1]))' \
    "$work/Kernels" | xz -c > .gpu/ab_source.cu.xz
echo ".gpu/ab_source.cu.xz: the working tree's kernels with $* from $rev"
