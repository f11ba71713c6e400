#!/usr/bin/env bash
# Builds the GPU binaries of the checkout as the previous build (.gpu/vllm-base.xz) and of the
# checkout with PATCH applied as this build (.gpu/vllm.xz, vllm-dev.xz, kernels.cu.xz), takes the
# patch out again, and packs the three for a device call (scripts/gpu/pack_carry.sh: carry
# .gpu-carry, start the command with `bash scripts/gpu/unpack_carry.sh`). For a change kept as a patch
# until a GPU has checked it (bench/gpu/pending/, empty since 2026-12-06): `scripts/gpu/build_patch_ab.sh
# bench/gpu/pending/NAME.patch`, then e.g. `kernelcheck quickab`. About 8 minutes
# on two cores.
set -eu
patch=$1
git apply --check "$patch"
bash scripts/gpu/build_binary.sh
mv .gpu/vllm.xz /tmp/vllm-base.xz
git apply "$patch"
trap 'git apply -R "$patch"' EXIT
bash scripts/gpu/build_binary.sh
mv /tmp/vllm-base.xz .gpu/vllm-base.xz
bash scripts/gpu/pack_carry.sh
