#!/usr/bin/env bash
# On the device: .gpu-carry/binaries.tar.xz (scripts/gpu/pack_carry.sh) back to .gpu/*.xz, each
# recompressed at xz's fastest level for run_gpu_checks.sh, which decompresses what it runs.
set -eu
mkdir -p .gpu /tmp/unpack_carry
tar xJf .gpu-carry/binaries.tar.xz -C /tmp/unpack_carry
for f in /tmp/unpack_carry/*; do
    xz -0 -T0 -c "$f" > .gpu/$(basename "$f").xz
done
cp .gpu-carry/kernels.cu.xz .gpu/ 2>/dev/null || true
cp .gpu-carry/ablate_source.cu.xz .gpu/ 2>/dev/null || true
rm -rf /tmp/unpack_carry
