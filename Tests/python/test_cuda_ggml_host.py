"""The CUDA GGUF kernels' arithmetic without a GPU: scripts/gpu/ggml_host_check.py compiles
Sources/VLLMCUDA/Kernels/ggml.cu for the host and runs whole launches of its matrix-vector kernel
(every thread of every block) and its dequantization on blocks of every ggml type, against the gguf
package's dequantization (bit for bit) and float64 products."""
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("clang++") is None, reason="needs clang++ (the Swift toolchain has one)")
def test_ggml_kernels_run_on_the_host():
    run = subprocess.run([sys.executable, str(ROOT / "scripts/gpu/ggml_host_check.py")], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.rstrip().endswith("all passed"), run.stdout + run.stderr
