"""CUDA kernels run without a GPU, compiled for the host from Sources/VLLMCUDA/Kernels:
scripts/gpu/ggml_host_check.py runs whole launches of ggml.cu's matrix-vector kernel and its
dequantization on blocks of every ggml type, against the gguf package's dequantization (bit for
bit) and float64 products; scripts/gpu/simt_host_check.py runs norm.cu's and activation.cu's
kernels thread by thread on a SIMT emulator (block barriers, warp shuffles), the 8-bit-activation
variants against the plain kernels and quantize_ggml_int8, bit for bit, and the decode and prefill
attention kernels (tensor-core PTX emulated) against float64 attention."""
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
needs_clang = pytest.mark.skipif(shutil.which("clang++") is None, reason="needs clang++ (the Swift toolchain has one)")


def run(script):
    done = subprocess.run([sys.executable, str(ROOT / "scripts/gpu" / script)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.rstrip().endswith("all passed"), done.stdout + done.stderr


@needs_clang
def test_ggml_kernels_run_on_the_host():
    run("ggml_host_check.py")


@needs_clang
def test_norm_and_activation_kernels_run_on_a_simt_emulator():
    run("simt_host_check.py")
