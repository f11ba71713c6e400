#!/usr/bin/env python3
"""The CUDA kernel source as the backend compiles it: the files of Sources/VLLMCUDA/Kernels/manifest.json
joined in the manifest's order (CUDAKernels.swift does the same), and the kernel names the manifest
promises for one activation dtype. Run as a script, prints the joined source.

    python3 scripts/gpu/kernel_source.py > kernels.cu   # for VLLM_CUDA_KERNEL_SOURCE or nvcc
"""
import itertools, json, os, sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
directory = os.path.join(root, "Sources/VLLMCUDA/Kernels")


def manifest(kernels=directory):
    with open(os.path.join(kernels, "manifest.json")) as f:
        return json.load(f)


def source(files=None, kernels=directory):
    """The named files (default: all of the manifest), in the manifest's order, joined by newlines;
    `kernels`: another copy of the kernel directory (make_ab_source.sh)."""
    names = [entry["file"] for entry in manifest(kernels)["files"] if files is None or entry["file"] in files]
    return "\n".join(open(os.path.join(kernels, name)).read() for name in names)


# The kernels of an FP8 KV cache, which the backend leaves out without --kv-cache-dtype fp8
# (Kernel.isFP8Cache in KernelSelection.swift).
FP8_CACHE_IDS = {"writeKVCacheFP8", "rotaryWriteKVFP8", "pagedAttentionFP8", "decodeAttentionFP8", "flashPrefillFP8"}


def unit_source(file):
    """The source the backend compiles for one kernel file: the .cuh files listed before it, then the file."""
    names = [entry["file"] for entry in manifest()["files"]]
    before = names[:names.index(file)]
    return source([n for n in before if n.endswith(".cuh")] + [file])


def kernel_names(suffix, files=None, head_dim=None, fp8_cache=True):
    """Every kernel name the manifest lists for the activation dtype `suffix` (f32, bf16, f16), of
    `files` (default: all), for one head dimension (default: all) and with or without the FP8
    cache's kernels, as KernelSelection picks them."""
    names = []
    for entry in manifest()["files"]:
        if files is not None and entry["file"] not in files:
            continue
        for kernel in entry["kernels"]:
            if not fp8_cache and kernel["id"] in FP8_CACHE_IDS:
                continue
            parameters = dict(kernel["parameters"])
            if head_dim is not None and "HD" in parameters:
                parameters["HD"] = [v for v in parameters["HD"] if v == str(head_dim)]
            if "S" in parameters:
                if suffix not in parameters["S"]:
                    continue
                parameters["S"] = [suffix]
            keys = sorted(parameters)
            for values in itertools.product(*(parameters[k] for k in keys)):
                name = kernel["name"]
                for key, value in zip(keys, values):
                    name = name.replace("{" + key + "}", value)
                names.append(name)
    return names


if __name__ == "__main__":
    sys.stdout.write(source())
