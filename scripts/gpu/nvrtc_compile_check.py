#!/usr/bin/env python3
"""Compiles the embedded CUDA kernels with NVRTC for sm_90a on a machine without a GPU, as the
backend does (the files of Kernels/manifest.json joined in its order, one activation dtype at a
time), and checks that each cubin holds exactly the kernels the manifest lists for that dtype;
prints ptxas's registers and spills of the attention kernels (`--ptxas-options=-v`). Uses the NVRTC and headers of the pip wheels
(`nvidia-cuda-nvrtc`, `nvidia-cuda-runtime`; crt/mma.h from triton's copy); no GPU or driver.

    python3 scripts/gpu/nvrtc_compile_check.py            # the three dtypes
    python3 scripts/gpu/nvrtc_compile_check.py FILE.cu    # one file as is
    python3 scripts/gpu/nvrtc_compile_check.py --machine-code FILE.cu
        # and each kernel's machine-code size and hash: equal hashes before and after a refactor
        # (`python3 scripts/gpu/kernel_source.py > FILE.cu` each time) mean no instruction changed
    python3 scripts/gpu/nvrtc_compile_check.py --cubin OUT.cubin FILE.cu
        # and the cubin written out, for the wheel's cuobjdump -sass (nvidia/cu13/bin)
    python3 scripts/gpu/nvrtc_compile_check.py --all-usage # registers/spills of every kernel
    python3 scripts/gpu/nvrtc_compile_check.py --each-file # each file alone, including common.cuh (bf16)
    python3 scripts/gpu/nvrtc_compile_check.py --times [--head-dim 128] [--threads N]
        # each kernel file as the backend compiles it for a dense bf16 model (its head dimension
        # only, no FP8 cache; the MoE, quantized, GGUF and encoder files too, timed apart): seconds
        # per file, checked for exactly the expected kernels, then all at once on N threads
"""
import hashlib, ctypes, glob, os, re, struct, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_source

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import nvidia  # the pip namespace package

site = list(nvidia.__path__)[0]
base = os.path.join(site, "cu13")
lib = ctypes.CDLL(os.path.join(base, "lib", "libnvrtc.so.13"))
includes = [os.path.join(base, "include")] + glob.glob(os.path.join(os.path.dirname(site), "triton/backends/nvidia/include"))
options = [b"--gpu-architecture=sm_90a", b"--std=c++17", b"-default-device", b"--ptxas-options=-v"]
options += [("-I" + d).encode() for d in includes]
all_usage = "--all-usage" in sys.argv[1:]
each_file = "--each-file" in sys.argv[1:]
times = "--times" in sys.argv[1:]
machine_code = "--machine-code" in sys.argv[1:]
arguments = [a for a in sys.argv[1:] if a not in ("--all-usage", "--each-file", "--times", "--machine-code")]
head_dim, threads, cubin_out = 128, os.cpu_count(), None
if "--cubin" in arguments:
    i = arguments.index("--cubin")
    cubin_out = arguments[i + 1]
    del arguments[i:i + 2]
for flag in ("--head-dim", "--threads"):
    if flag in arguments:
        i = arguments.index(flag)
        value = int(arguments[i + 1])
        del arguments[i:i + 2]
        head_dim, threads = (value, threads) if flag == "--head-dim" else (head_dim, value)


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


def kernel_code(cubin):
    """Each kernel's machine code in a cubin, by name: its ELF section `.text.<name>`."""
    shoff, = struct.unpack_from("<Q", cubin, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", cubin, 0x3A)
    def section(i):
        name, _, _, _, offset, size = struct.unpack_from("<IIQQQQ", cubin, shoff + i * shentsize)
        return name, offset, size
    _, strings, _ = section(shstrndx)
    code = {}
    for i in range(shnum):
        name, offset, size = section(i)
        name = cubin[strings + name:].split(b"\0", 1)[0].decode()
        if name.startswith(".text."):
            code[name[len(".text."):]] = cubin[offset:offset + size]
    return code


def kernels_in(cubin):
    """The kernel names of a cubin."""
    return list(kernel_code(cubin))


if times:
    # The files a dense model skips (KernelSelection.swift): timed too, apart.
    optional = {e["file"] for e in kernel_source.manifest()["files"] if "use" in e}
    files = [e["file"] for e in kernel_source.manifest()["files"] if e["file"].endswith(".cu")]
    defines = f"#define VLLM_DTYPE_BF16\n#define VLLM_HEAD_DIM {head_dim}\n#define VLLM_FP8_KV_CACHE 0\n"
    seconds = {}
    for name in files:
        start = time.monotonic()
        cubin, _ = compile_source(defines + kernel_source.unit_source(name))
        seconds[name] = time.monotonic() - start
        expected = set(kernel_source.kernel_names("bf16", files={name}, head_dim=head_dim, fp8_cache=False))
        present = set(kernels_in(cubin))
        if present != expected:
            print(f"{name}: MISSING {sorted(expected - present)}, UNEXPECTED {sorted(present - expected)}")
            sys.exit(1)
        print(f"{name:22s} {seconds[name]:6.2f} s  {len(present):3d} kernels{'  (not for a dense model)' if name in optional else ''}")
    dense = [n for n in files if n not in optional]
    print(f"dense model, serial: {sum(seconds[n] for n in dense):.2f} s over {len(dense)} files "
          f"(longest {max(dense, key=seconds.get)}: {max(seconds[n] for n in dense):.2f} s); "
          f"the other files: {sum(seconds[n] for n in optional):.2f} s")
    # The backend's way: one program per file, all at once (ctypes lets go of the GIL in NVRTC).
    pending, lock = sorted(dense, key=seconds.get, reverse=True), threading.Lock()
    def worker():
        while True:
            with lock:
                if not pending:
                    return
                name = pending.pop(0)
            compile_source(defines + kernel_source.unit_source(name))
    start = time.monotonic()
    workers = [threading.Thread(target=worker) for _ in range(min(threads, len(dense)))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(f"dense model, {len(workers)} threads: {time.monotonic() - start:.2f} s wall")
    sys.exit(0)
if arguments:
    cubin, log = compile_source(open(arguments[0]).read())
    print(f"ok: {arguments[0]}, cubin {len(cubin)} bytes for sm_90a")
    if cubin_out:
        with open(cubin_out, "wb") as f:
            f.write(cubin)
    if machine_code:
        # A refactor that leaves every kernel's hash as it was changed no instruction.
        for name, code in sorted(kernel_code(cubin).items()):
            print(f"  {name}: {len(code)} bytes, md5 {hashlib.md5(code).hexdigest()}")
    print("\n".join(usage(log)))
    sys.exit(0)
if each_file:
    # Each file compiles alone, including common.cuh itself: no file leans on another's helpers.
    options.append(("-I" + kernel_source.directory).encode())
    for entry in kernel_source.manifest()["files"][1:]:
        compile_source("#define VLLM_DTYPE_BF16\n" + kernel_source.source({entry["file"]}))
        print(f"ok: {entry['file']} alone")
    sys.exit(0)
kernels = kernel_source.source()
for define, suffix in (("F32", "f32"), ("BF16", "bf16"), ("F16", "f16")):
    cubin, log = compile_source(f"#define VLLM_DTYPE_{define}\n" + kernels)
    expected, present = kernel_source.kernel_names(suffix), kernels_in(cubin)
    missing = [n for n in expected if n not in present]
    unlisted = [n for n in present if n not in expected]
    print(f"{suffix}: cubin {len(cubin)} bytes for sm_90a, {len(present)} kernels"
          + (f", MISSING {missing}" if missing else "") + (f", NOT IN THE MANIFEST {unlisted}" if unlisted else "")
          + ("" if missing or unlisted else ", exactly the manifest's"))
    print("\n".join(usage(log)))
    if missing or unlisted:
        sys.exit(1)
