#!/usr/bin/env python3
"""Compiles the embedded CUDA kernels with NVRTC for sm_90a on a machine without a GPU, as the
backend does (kernels.cu, sampling.cu, flash_prefill.cu as one source, one activation dtype at a
time), and checks that every kernel the backend loads is in each cubin; prints ptxas's registers and
spills of the attention kernels (`--ptxas-options=-v`). Uses the NVRTC and headers of the pip wheels
(`nvidia-cuda-nvrtc`, `nvidia-cuda-runtime`; crt/mma.h from triton's copy); no GPU or driver.

    python3 scripts/gpu/nvrtc_compile_check.py            # the three dtypes
    python3 scripts/gpu/nvrtc_compile_check.py FILE.cu    # one file as is
    python3 scripts/gpu/nvrtc_compile_check.py --all-usage # registers/spills of every kernel
"""
import ctypes, glob, os, re, sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import nvidia  # the pip namespace package

site = list(nvidia.__path__)[0]
base = os.path.join(site, "cu13")
lib = ctypes.CDLL(os.path.join(base, "lib", "libnvrtc.so.13"))
includes = [os.path.join(base, "include")] + glob.glob(os.path.join(os.path.dirname(site), "triton/backends/nvidia/include"))
options = [b"--gpu-architecture=sm_90a", b"--std=c++17", b"-default-device", b"--ptxas-options=-v"]
options += [("-I" + d).encode() for d in includes]
all_usage = "--all-usage" in sys.argv[1:]
arguments = [a for a in sys.argv[1:] if a != "--all-usage"]


def usage(log):
    """ptxas's lines per kernel: 'name: N registers, S bytes spill stores, L bytes spill loads, smem'."""
    lines, name = [], None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            name = m.group(1)
        elif name and "Used" in line and (all_usage or "attention" in name or "flash" in name):
            lines.append(f"  {name}: {line.split('info    : ')[-1].strip()}")
        elif name and "spill" in line and (all_usage or "attention" in name or "flash" in name):
            lines.append(f"  {name}: {line.split('info    : ')[-1].strip()}")
    return lines


def compile_source(text):
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), text.encode(), b"kernels.cu", 0, None, None) == 0
    rc = lib.nvrtcCompileProgram(prog, len(options), (ctypes.c_char_p * len(options))(*options))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    if rc != 0:
        print(log.value.decode(errors="replace"))
        print(f"NVRTC failed ({rc})")
        sys.exit(1)
    lib.nvrtcGetCUBINSize(prog, ctypes.byref(size))
    cubin = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetCUBIN(prog, cubin)
    return cubin.raw, log.value.decode(errors="replace")


def expected(suffix):
    """The kernels CUDAKernels.swift loads for one dtype."""
    names = [f"{k}_{suffix}" for k in (
        "embedding rms_norm add_rms_norm head_rms_norm rotary_write_kv write_kv_cache paged_attention silu_and_mul "
        "gather_rows add_bias to_float from_float argmax_rows sample_rows moe_route moe_gemm moe_combine").split()]
    names += ["adjust_logits", "moe_group"]
    if suffix != "f32":
        names += [f"attention_combine_{suffix}"] + [f"{g}_{suffix}_t{t}" for g in ("gemv", "gemv_swiglu") for t in range(1, 5)]
        names += [f"flash_attention_{suffix}_hd{h}" for h in (64, 128, 256)]
        names += [f"decode_attention_{suffix}_hd{h}" for h in (64, 128)]
        names += [f"flash_prefill_{suffix}_hd{h}_w{w}" for h in (64, 128) for w in (4, 8)]
    return names


if arguments:
    cubin, log = compile_source(open(arguments[0]).read())
    print(f"ok: {arguments[0]}, cubin {len(cubin)} bytes for sm_90a")
    print("\n".join(usage(log)))
    sys.exit(0)
files = ("kernels.cu", "sampling.cu", "flash_prefill.cu", "moe.cu")
kernels = "\n".join(open(os.path.join(root, "Sources/VLLMCUDA/Kernels", f)).read() for f in files)
for define, suffix in (("F32", "f32"), ("BF16", "bf16"), ("F16", "f16")):
    cubin, log = compile_source(f"#define VLLM_DTYPE_{define}\n" + kernels)
    missing = [n for n in expected(suffix) if (n + "\0").encode() not in cubin]
    print(f"{suffix}: cubin {len(cubin)} bytes for sm_90a" + (f", MISSING {missing}" if missing else ", every kernel present"))
    print("\n".join(usage(log)))
    if missing:
        sys.exit(1)
