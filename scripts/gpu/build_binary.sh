#!/usr/bin/env bash
# Builds the static vllm binary for the GPU machine and packs it as .gpu/vllm.xz (git-ignored
# through .git/info/exclude; name `.gpu` in the device call's carry).
set -eu
# Our own modules are always rebuilt: an incremental build once kept the command-line module's
# field offsets of CUDABackend after a private stored property was added to it (the kernel-check
# wrote `useGEMV` into another field), so only the dependencies are reused.
rm -rf .build-cuda/*/release/{VLLMCore,VLLMCPU,VLLMCUDA,VLLMEngine,VLLMTokenizers,VLLMServer,vllm,CVLLMSupport}.build \
    .build-cuda/*/release/Modules/{VLLM,vllm,CVLLM}* .build-cuda/release.yaml
swift build -c release --static-swift-stdlib --scratch-path .build-cuda
mkdir -p .gpu
strip -o .gpu/vllm .build-cuda/release/vllm
xz -T2 -6 -f .gpu/vllm
# The kernels the binary embeds, so that the GPU script can tell when the working tree's differ.
# (the files of Sources/VLLMCUDA/Kernels/manifest.json joined in its order, as the binary joins them)
python3 scripts/gpu/kernel_source.py | xz -c > .gpu/kernels.cu.xz
ls -l .gpu
