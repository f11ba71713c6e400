#!/usr/bin/env python3
"""Compiles the embedded CUDA kernels with NVRTC for sm_90a on a machine without a GPU, to catch
compile errors before spending device time. Uses the NVRTC and headers of the pip wheels
`nvidia-cuda-nvrtc` / `nvidia-cuda-runtime` (CUDA 13); no GPU or driver is needed.

    python3 scripts/gpu/nvrtc_compile_check.py [Sources/VLLMCUDA/Kernels/*.cu]
"""
import ctypes, glob, os, sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import nvidia  # the pip namespace package
base = os.path.join(list(nvidia.__path__)[0], "cu13")
lib = ctypes.CDLL(os.path.join(base, "lib", "libnvrtc.so.13"))
files = sys.argv[1:] or sorted(glob.glob(os.path.join(root, "Sources/VLLMCUDA/Kernels/*.cu")))
# The kernels are compiled as one source, as CUDAKernels does.
source = "\n".join(open(f).read() for f in files).encode()
prog = ctypes.c_void_p()
assert lib.nvrtcCreateProgram(ctypes.byref(prog), source, b"kernels.cu", 0, None, None) == 0
# The options of NVRTCCompiler.swift; crt/mma.h is missing from the nvrtc wheel, triton's copy has it.
includes = [os.path.join(base, "include")] + glob.glob(os.path.join(os.path.dirname(list(nvidia.__path__)[0]), "triton/backends/nvidia/include"))
opts = [b"--gpu-architecture=sm_90a", b"--std=c++17", b"-default-device"] + [("-I" + d).encode() for d in includes]
arr = (ctypes.c_char_p * len(opts))(*opts)
rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
size = ctypes.c_size_t()
lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
log = ctypes.create_string_buffer(size.value)
lib.nvrtcGetProgramLog(prog, log)
print(log.value.decode(errors="replace"))
if rc != 0:
    print(f"NVRTC failed ({rc})")
    sys.exit(1)
cubin = ctypes.c_size_t()
lib.nvrtcGetCUBINSize(prog, ctypes.byref(cubin))
print(f"ok: {len(files)} file(s), cubin {cubin.value} bytes for sm_90a")
