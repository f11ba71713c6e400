#!/usr/bin/env bash
# Builds the static vllm and vllm-dev (kernel-check) binaries for the GPU machine and packs them as
# .gpu/vllm.xz and .gpu/vllm-dev.xz (git-ignored through .git/info/exclude; name `.gpu` in the
# device call's carry).
set -eu
# Our own modules are always rebuilt: an incremental build once kept the command-line module's
# field offsets of CUDABackend after a private stored property was added to it (the kernel-check
# wrote `useGEMV` into another field), so only the dependencies are reused.
rm -rf .build-cuda/*/release/{VLLM*,SwiftVLLM,vllm*,CVLLMSupport}.build \
    .build-cuda/*/release/Modules/{VLLM,SwiftVLLM,vllm,CVLLM}* .build-cuda/release.yaml
swift build -c release --static-swift-stdlib --scratch-path .build-cuda
mkdir -p .gpu
for binary in vllm vllm-dev; do
    strip -o .gpu/$binary .build-cuda/release/$binary
    xz -T2 -6 -f .gpu/$binary
done
# The kernels the binary embeds, so that the GPU script can tell when the working tree's differ.
# (the files of Sources/VLLMCUDA/Kernels/manifest.json joined in its order, as the binary joins them)
python3 scripts/gpu/kernel_source.py | xz -c > .gpu/kernels.cu.xz
ls -l .gpu
