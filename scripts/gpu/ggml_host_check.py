#!/usr/bin/env python3
"""Runs the chunk code of Sources/VLLMCUDA/Kernels/ggml.cu on the CPU, before a GPU has run it.

The kernel file is compiled as C++ for the host with a small stand-in for CUDA's built-ins (the
vector types, __ldg, __half2float, __dp4a, the rounded float operations; its one line of inline PTX,
ggml_dp4a, is replaced by the same arithmetic). A harness then takes each ggml type's blocks as the
kernels' copy of a weight lays them out (GGMLType.kernelRows: Q6_K padded to 224 bytes), chunk by
chunk as gemv_ggml and dequantize_ggml do, and checks:

- the decoded weights (each chunk's runs through the type's `decode`, as dequantize_ggml writes
  them) bit for bit against `gguf.quants.dequantize` of the same blocks;
- the float-activation product (GgmlFloatActivations::chunk) against a float64 product of the
  decoded weights, for 1 and 2 tokens and 1 and 2 rows a chunk call;
- the 8-bit-activation product (GgmlInt8<TYPE>::X::chunk) against a float64 product of the decoded
  weights and the decoded 8-bit activations (quantized as quantize_ggml_int8 does).

The blocks are Tests/Fixtures/gguf/blocks.gguf's (written with the gguf package; the K-quants cut
from real files). It checks the types' arithmetic, not the kernels' launch geometry (which lanes take
which chunks), which only a GPU run (`vllm-dev kernel-check`) checks. Needs clang++ (the Swift
toolchain's) and `pip install gguf numpy`.

    python3 scripts/gpu/ggml_host_check.py [--define 'NAME VALUE' ...]

--define puts `#define NAME VALUE` before the kernel source, as a kernel-source variant does on the
GPU (scripts/gpu/ggml_int8_variants.sh): e.g. --define 'GGML_INT8_ROWS(NT) 1' --define 'GGML_PIPELINE 1'.
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import gguf

from cuda_host_shim import BUILTINS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNELS = os.path.join(ROOT, "Sources/VLLMCUDA/Kernels")
FIXTURE = os.path.join(ROOT, "Tests/Fixtures/gguf/blocks.gguf")

SHIM = BUILTINS + r"""
#define VLLM_KERNELS_COMMON 1
inline uint4 load_streaming(const void* p) { uint4 v; std::memcpy(&v, p, 16); return v; }
struct half_bits { unsigned short bits; };
inline half_bits __ushort_as_half(unsigned short b) { return {b}; }
inline float __half2float(half_bits h) {
    const unsigned s = (h.bits >> 15) & 1u, e = (h.bits >> 10) & 31u, m = h.bits & 1023u;
    float v = e == 0 ? std::ldexp((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : std::ldexp((float)(m | 1024u), (int)e - 25);
    return s ? -v : v;
}
inline int __dp4a(int a, int b, int c) {
    for (int i = 0; i < 4; ++i) c += (int)(signed char)(a >> (8 * i)) * (int)(signed char)(b >> (8 * i));
    return c;
}
template <typename T> inline float to_f(T v) { return (float)v; }
template <typename T> inline T from_f(float v) { return (T)v; }
template <typename T, int N> inline void load_floats(float* out, const T* p) { for (int i = 0; i < N; ++i) out[i] = to_f(p[i]); }
inline int imin(int a, int b) { return a < b ? a : b; }
#ifndef QGEMV_BUDGET
#define QGEMV_BUDGET 128
#endif
constexpr int qgemv_depth(int rows, int bytes_per_chunk) {
    return QGEMV_BUDGET / (rows * bytes_per_chunk) > 1 ? QGEMV_BUDGET / (rows * bytes_per_chunk) : 1;
}
#define QGEMV_ROWS(NT) ((NT) == 1 ? 2 : 1)
#define PDL_ENTER()
struct dim3_t { unsigned x, y, z; };
static dim3_t threadIdx, blockIdx, blockDim, gridDim;
template <int ROWS, int NT> inline void qgemv_clear(float (&acc)[ROWS][NT]) {
    for (int r = 0; r < ROWS; ++r) for (int t = 0; t < NT; ++t) acc[r][t] = 0.f;
}
// Every lane adds its partial sums: the warp's sum that lane 0 writes on the GPU.
template <typename T, int ROWS, int NT> inline void qgemv_store(T* y, float (&acc)[ROWS][NT], int row0, int n, int ldy, int) {
    for (int r = 0; r < ROWS; ++r)
        if (row0 + r < n) for (int t = 0; t < NT; ++t) y[(long long)t * ldy + row0 + r] += acc[r][t];
}
"""

HARNESS = r"""
// Reads: type, n, k, t (4), then the blocks (n rows at the kernel stride), x [t, k] floats, xq [t, k]
// bytes, xs [t, k / 16] float2. Writes: the decoded weights [n, k] (dequantize_ggml's values), then
// for NT = 1..4 the float-activation product [NT, n], then the same with 8-bit activations.
// A launch of gemv_ggml: every thread of every block of 256, one after another.
template <int TYPE, int NT, int ROWS, typename X>
void launch(const X& x, const unsigned char* w, int n, int k, std::vector<float>& out) {
    std::vector<float> y((size_t)NT * n, 0.f);
    blockDim = {256, 1, 1};
    for (unsigned b = 0; b < (unsigned)((n + 8 * ROWS - 1) / (8 * ROWS)); ++b)
        for (unsigned thread = 0; thread < 256; ++thread) {
            blockIdx = {b, 0, 0}, threadIdx = {thread, 0, 0};
            gemv_ggml<float, TYPE, NT, ROWS>(y.data(), x, w, n, k, n);
        }
    out.insert(out.end(), y.begin(), y.end());
}
template <int TYPE, int NT>
void products(const float* x, const signed char* xq, const float2* xs, const unsigned char* w, int n, int k, std::vector<float>& out,
              bool int8) {
    if (!int8) {
        launch<TYPE, NT, QGEMV_ROWS(NT)>(GgmlFloatActivations<float, Ggml<TYPE>>{x, k}, w, n, k, out);
    } else if constexpr (TYPE != GGML_TYPE_F32 && TYPE != GGML_TYPE_F16 && TYPE != GGML_TYPE_BF16) {
        launch<TYPE, NT, GGML_INT8_ROWS(NT)>(typename GgmlInt8<TYPE>::X{xq, xs, k}, w, n, k, out);
    }
}
template <int TYPE>
int run(FILE* in, FILE* out, int n, int k, int t) {
    using B = Ggml<TYPE>;
    const size_t wbytes = (size_t)n * (k / B::VALUES) * B::BYTES;
    std::vector<unsigned char> w(wbytes);
    std::vector<float> x((size_t)t * k);
    std::vector<signed char> xq((size_t)t * k);
    std::vector<float2> xs((size_t)t * k / 16);
    if (fread(w.data(), 1, wbytes, in) != wbytes || fread(x.data(), 4, x.size(), in) != x.size() ||
        fread(xq.data(), 1, xq.size(), in) != xq.size() || fread(xs.data(), 8, xs.size(), in) != xs.size()) return 2;
    std::vector<float> decoded((size_t)n * k);
    for (int row = 0; row < n; ++row)
        for (int block = 0; block < k / B::VALUES; ++block)
            for (int c = 0; c < B::CHUNKS; ++c) {
                typename B::Raw raw;
                B::load(raw, w.data() + ((size_t)row * (k / B::VALUES) + block) * B::BYTES, c);
                for (int run = 0; run < B::RUNS; ++run) {
                    float q[16], scale, offset;
                    B::decode(raw, c, run, q, scale, offset);
                    for (int i = 0; i < 16; ++i)
                        decoded[(size_t)row * k + block * B::VALUES + B::start(c, run) + i] =
                            B::OFFSET ? __fadd_rn(__fmul_rn(scale, q[i]), offset) : __fmul_rn(scale, q[i]);
                }
            }
    fwrite(decoded.data(), 4, decoded.size(), out);
    std::vector<float> y;
    for (int int8 = 0; int8 < 2; ++int8) {
        products<TYPE, 1>(x.data(), xq.data(), xs.data(), w.data(), n, k, y, int8);
        products<TYPE, 2>(x.data(), xq.data(), xs.data(), w.data(), n, k, y, int8);
        products<TYPE, 3>(x.data(), xq.data(), xs.data(), w.data(), n, k, y, int8);
        products<TYPE, 4>(x.data(), xq.data(), xs.data(), w.data(), n, k, y, int8);
    }
    fwrite(y.data(), 4, y.size(), out);
    return 0;
}
int main(int argc, char** argv) {
    FILE* in = fopen(argv[1], "rb");
    FILE* out = fopen(argv[2], "wb");
    int h[4];
    if (fread(h, 4, 4, in) != 4) return 2;
    switch (h[0]) {
#define CASE(T) case T: return run<T>(in, out, h[1], h[2], h[3]);
        CASE(GGML_TYPE_Q4_0) CASE(GGML_TYPE_Q4_1) CASE(GGML_TYPE_Q5_0) CASE(GGML_TYPE_Q5_1) CASE(GGML_TYPE_Q8_0)
        CASE(GGML_TYPE_Q4_K) CASE(GGML_TYPE_Q5_K) CASE(GGML_TYPE_Q6_K)
    }
    return 3;
}
"""

# The one line of inline PTX, as the same arithmetic (unsigned weight bytes, signed activations).
DP4A_PTX = re.compile(r'asm\("dp4a\.u32\.s32[^;]*;"[^;]*;')
DP4A_HOST = ("out = sum; for (int i = 0; i < 4; ++i) out += (int)((codes >> (8 * i)) & 0xFFu) * "
             "(int)(signed char)(activations >> (8 * i));")


def build(workdir, defines):
    kernel = open(os.path.join(KERNELS, "ggml.cu")).read()
    kernel, count = DP4A_PTX.subn(DP4A_HOST, kernel)
    if count != 1:
        sys.exit(f"expected one dp4a asm statement in ggml.cu, found {count}")
    source = "".join(f"#define {d}\n" for d in defines) + SHIM + open(os.path.join(KERNELS, "ggml_blocks.cuh")).read() + kernel + HARNESS
    path = os.path.join(workdir, "ggml_host.cpp")
    open(path, "w").write(source)
    binary = os.path.join(workdir, "ggml_host")
    subprocess.run(["clang++", "-std=c++17", "-O1", "-ffp-contract=off", "-w", path, "-o", binary], check=True)
    return binary


def kernel_block_bytes(name):
    defines = open(os.path.join(KERNELS, "ggml_blocks.cuh")).read()
    return int(re.search(rf"#define GGML_{name}_KERNEL_BYTES (\d+)", defines).group(1))


def quantize_int8(x):
    """quantize_ggml_int8's codes and per-16 (d, d·Σq), in float32 as the kernel rounds them."""
    t, k = x.shape
    blocks = x.reshape(t, k // 32, 32).astype(np.float32)
    amax = np.abs(blocks).max(axis=2)
    d = (amax / np.float32(127)).astype(np.float32)
    inverse = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, 1), 0).astype(np.float32)
    q = np.rint((blocks * inverse[:, :, None]).astype(np.float32)).astype(np.int32)
    halves = q.reshape(t, k // 16, 16).sum(axis=2).astype(np.float32)
    d16 = np.repeat(d, 2, axis=1)
    xs = np.stack([d16, (d16 * halves).astype(np.float32)], axis=2).astype(np.float32)
    return q.reshape(t, k).astype(np.int8), xs, (q.astype(np.float64) * d[:, :, None]).reshape(t, k)


def main():
    defines = [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--define"]
    reader = gguf.GGUFReader(FIXTURE)
    tensors = {t.name: t for t in reader.tensors}
    failures = 0
    with tempfile.TemporaryDirectory() as workdir:
        binary = build(workdir, defines)
        rng = np.random.default_rng(0)
        for name in sorted(n[:-4] for n in tensors if n.endswith(".raw")):
            raw = tensors[name + ".raw"]
            qtype = gguf.GGMLQuantizationType(int(raw.tensor_type))
            if qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.BF16):
                continue  # read as plain floats, blocks of 32
            values_per_block, stored_bytes = gguf.GGML_QUANT_SIZES[qtype]
            stride = kernel_block_bytes(qtype.name)
            # 37 rows (more than a block of 8 warps takes with 2 rows each) of 23 blocks drawn from
            # the fixture's: several rounds of a warp's loop, and a last round and block partly past
            # the matrix.
            pool = np.asarray(raw.data, dtype=np.uint8).reshape(-1, stored_bytes)
            n, blocks_per_row = 37, 23
            chosen = pool[rng.integers(0, len(pool), n * blocks_per_row)]
            k = blocks_per_row * values_per_block
            expected = gguf.quants.dequantize(chosen.reshape(n, -1), qtype).astype(np.float32).reshape(n, k)
            padded = np.zeros((n * blocks_per_row, stride), dtype=np.uint8)
            padded[:, :stored_bytes] = chosen
            t = 4
            x = rng.standard_normal((t, k)).astype(np.float32)
            xq, xs, x8 = quantize_int8(x)
            case = os.path.join(workdir, "case.bin")
            with open(case, "wb") as f:
                f.write(np.array([qtype.value, n, k, t], dtype=np.int32).tobytes())
                f.write(padded.tobytes() + x.tobytes() + xq.tobytes() + xs.tobytes())
            result = os.path.join(workdir, "out.bin")
            subprocess.run([binary, case, result], check=True)
            out = np.fromfile(result, dtype=np.float32)
            decoded, rest = out[: n * k].reshape(n, k), out[n * k:]
            exact = int((decoded.view(np.uint32) != expected.view(np.uint32)).sum())
            failures += exact != 0
            lines = [f"{name} ({qtype.name}, {n}x{k}, blocks of {stride} bytes): decoded values differing from gguf: {exact}"]
            w = expected.astype(np.float64)
            for label, reference in (("float", x.astype(np.float64) @ w.T), ("int8", x8 @ w.T)):
                errors = []
                for nt in (1, 2, 3, 4):
                    y, rest = rest[: n * nt].reshape(nt, n), rest[n * nt:]
                    errors.append(float(np.abs(y - reference[:nt]).max() / np.abs(reference[:nt]).max()))
                ok = max(errors) < 1e-5
                failures += not ok
                lines.append(f"  {label} activations, 1 to 4 tokens: max error / max |y| = "
                             + ", ".join(f"{e:.1e}" for e in errors) + ("" if ok else "  FAIL"))
            print("\n".join(lines))
    print("FAILED" if failures else "all passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
