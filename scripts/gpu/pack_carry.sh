#!/usr/bin/env bash
# Packs the GPU binaries of .gpu (vllm, vllm-dev and, if there, vllm-base: the previous build for
# side-by-side speed) as one solid xz archive in .gpu-carry/ (git-ignored), about 26 MB where the
# separate .xz files take 58: builds share most of their bytes, and one 256 MB dictionary sees all
# three. The device call's working tree and carry must stay under 64 MiB. On the device,
# `bash scripts/gpu/unpack_carry.sh` puts .gpu/*.xz back as run_gpu_checks.sh expects them.
set -eu
mkdir -p .gpu-carry /tmp/pack_carry
names=""
for b in vllm vllm-base vllm-dev; do
    [ -f .gpu/$b.xz ] || continue
    xz -dc .gpu/$b.xz > /tmp/pack_carry/$b
    names="$names $b"
done
tar cf - -C /tmp/pack_carry $names | xz -T1 --lzma2=preset=6,dict=256MiB > .gpu-carry/binaries.tar.xz
cp .gpu/kernels.cu.xz .gpu-carry/ 2>/dev/null || true
cp .gpu/ablate_source.cu.xz .gpu-carry/ 2>/dev/null || true  # make_ablate_source.py, for attnablate
rm -rf /tmp/pack_carry
ls -l .gpu-carry
