#!/usr/bin/env bash
# Builds the static vllm binary for the GPU machine and packs it as .gpu/vllm.xz (git-ignored
# through .git/info/exclude; name `.gpu` in the device call's carry).
set -eu
swift build -c release --static-swift-stdlib --scratch-path .build-cuda
mkdir -p .gpu
strip -o .gpu/vllm .build-cuda/release/vllm
xz -T2 -6 -f .gpu/vllm
ls -l .gpu
