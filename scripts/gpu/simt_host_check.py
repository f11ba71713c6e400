#!/usr/bin/env python3
"""Runs block-level kernels of Sources/VLLMCUDA/Kernels on the CPU, before a GPU has run them.

common.cuh, norm.cu, rotary.cu, activation.cu, attention.cu, decode_attention.cu, flash_prefill.cu and moe.cu
are compiled as C++ for the host, with small stand-ins for CUDA's headers and built-ins, and each launch
is run thread by thread on a SIMT emulator: every CUDA thread is a ucontext with its own stack,
`__syncthreads` waits for the block and `__shfl_xor_sync` for the warp (each lane leaves its value,
the warp meets, each reads its partner's, the warp meets again), so block reductions and warp
shuffles run as they do on the GPU. The PTX the attention kernels use is emulated (EMULATED_PTX):
cp.async as a plain copy, ldmatrix and mma.sync.m16n8k16 (bfloat16, float16) through the warp by the PTX
ISA's fragment layouts; flash_prefill, which GPUs have checked, runs on the same inputs as a check
of that emulation.

Checks, bit for bit (counts of differing values or bytes, which must be 0):
- rotary_norm_write_kv (q/k head norm inside the rotary kernel) against head_rms_norm, then
  rotary_write_kv: the rows and the cache bytes, caches of bfloat16, float32 and e4m3 codes, partial
  rotary and head sizes 8 to 256 (a missing warp barrier and a skipped key value are caught);
- add_rms_norm_int8 against add_rms_norm (output and residual), and its 8-bit form against the one
  quantize_ggml_int8's body (quantize_int8_block, a warp a block of 32) makes from that output;
- silu_and_mul_int8 against silu_and_mul (its 16-byte path), the same way;
- moe_gemv_combine (the MoE decode step's down products and weighted sum) at one and at eight rows a
  block against a host replay of its arithmetic (each lane's chunks in order, the butterfly sum, the
  expert-order sum rounded as the kernel rounds), with `--define MOE_COMBINE_PIPELINE=1` the pipelined
  form (moe.cu's intrinsics __match_any_sync, __shfl_up_sync, __popc and __clz have host stand-ins);
- attention_combine with the 8-bit outputs (attention_combine_int8) against it without, the same way,
  on random split results (some splits empty) for 1 to 4 tokens and head sizes 64, 128 and 256;
- and the emulator itself: add_rms_norm's block reduction against float64 (relative error under
  1e-5), quantize_int8_block's warp maximum and codes against a plain host loop;
for rows of 1 to 4 tokens and widths of 1024, 1056 (blocks past the row), 4096 and 14336, at the backend's launch shapes
(CUDABackend.threadsFor(row:), gridFor). And against float64 attention (error relative to the
largest output under 1e-2: bfloat16 outputs, P rounded to bfloat16 on the tensor cores), on a
paged bfloat16 or FP8 (e4m3 with per-tensor scales) cache whose unused slots hold NaN:
decode_attention_mma (the unsplit decode kernel), the lane-a-key decode kernel, the split launch
merged by attention_combine (splits of 500 keys or more take the tensor cores too), and
flash_prefill (16-bit caches); head sizes 64, 128 and 256, groups of 2 to 8 query heads, a sliding
window and Gemma 2's soft cap.
Needs clang++ (the Swift toolchain's).

    python3 scripts/gpu/simt_host_check.py
    python3 scripts/gpu/simt_host_check.py --define DA_SPLIT_LANES=8   # a kernel-source variant
"""
import os
import re
import subprocess
import sys
import tempfile

from cuda_host_shim import BUILTINS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNELS = os.path.join(ROOT, "Sources/VLLMCUDA/Kernels")

# Stand-ins for the CUDA headers common.cuh includes: only what host code of these files needs.
FAKE_HEADERS = {
    "cuda_bf16.h": "struct __nv_bfloat16 { unsigned short bits; };\n"
    "inline float __bfloat162float(__nv_bfloat16 h) { unsigned u = (unsigned)h.bits << 16; float f; __builtin_memcpy(&f, &u, 4); return f; }\n"
    "inline __nv_bfloat16 __float2bfloat16_rn(float f) { unsigned u; __builtin_memcpy(&u, &f, 4); u += 0x7FFFu + ((u >> 16) & 1u); return {(unsigned short)(u >> 16)}; }\n"
    "struct __nv_bfloat162 { __nv_bfloat16 x, y; };\n"
    "inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__float2bfloat16_rn(a), __float2bfloat16_rn(b)}; }\n",
    "cuda_fp16.h": "#include <cmath>\n"
    "struct __half { unsigned short bits; }; struct __half2 { __half x, y; };\n"
    "inline __half __ushort_as_half(unsigned short b) { return {b}; }\n"
    "inline float __half2float(__half h) {\n"
    "    const unsigned s = (h.bits >> 15) & 1u, e = (h.bits >> 10) & 31u, m = h.bits & 1023u;\n"
    "    float v = e == 0 ? std::ldexp((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : std::ldexp((float)(m | 1024u), (int)e - 25);\n"
    "    return s ? -v : v;\n"
    "}\n"
    "inline __half __float2half_rn(float f) { _Float16 h = (_Float16)f; __half r; __builtin_memcpy(&r.bits, &h, 2); return r; }\n"
    "inline __half2 __floats2half2_rn(float a, float b) { return {__float2half_rn(a), __float2half_rn(b)}; }\n"
    "inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }\n",
    # Declarations only: the tensor-core kernels must parse, never run here.
    "mma.h": "namespace nvcuda { namespace wmma {\n"
    "struct matrix_a {}; struct matrix_b {}; struct accumulator {}; struct row_major {}; struct col_major {};\n"
    "enum layout_t { mem_row_major, mem_col_major };\n"
    "template <typename U, int M, int N, int K, typename T, typename L = void> struct fragment { T x[8]; };\n"
    "template <typename F, typename P> void load_matrix_sync(F&, const P*, unsigned);\n"
    "template <typename F, typename P> void load_matrix_sync(F&, const P*, unsigned, layout_t);\n"
    "template <typename F, typename V> void fill_fragment(F&, V);\n"
    "template <typename A, typename B, typename C> void mma_sync(C&, const A&, const B&, const C&);\n"
    "template <typename P, typename F> void store_matrix_sync(P*, const F&, unsigned, layout_t);\n"
    "} }\n",
}

PRELUDE = BUILTINS + r"""
#include <algorithm>
#include <functional>
#include <string>
#include <type_traits>
#include <ucontext.h>
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static
inline unsigned __byte_perm(unsigned a, unsigned b, unsigned s) {
    const unsigned long long v = ((unsigned long long)b << 32) | a; unsigned r = 0;
    for (int i = 0; i < 4; ++i) r |= (unsigned)((v >> (8 * ((s >> (4 * i)) & 7))) & 0xFF) << (8 * i);
    return r;
}
// Shared addresses as offsets from one static byte (every array here is static; they lie within 2 GB).
static char shared_origin;
inline unsigned __cvta_generic_to_shared(const void* p) { return (unsigned)((const char*)p - &shared_origin); }
inline char* shared_at(unsigned address) { return &shared_origin + (int)address; }
struct Dim3 { unsigned x, y, z; };
static Dim3 threadIdx, blockIdx, blockDim, gridDim;

// The SIMT emulator: one block at a time, a ucontext a thread.
namespace simt {
enum Wait { running, block_barrier, warp_barrier, done };
struct Thread { ucontext_t context; std::vector<char> stack; unsigned index; Wait wait; };
static std::vector<Thread> threads;
static ucontext_t scheduler;
static unsigned current;
static std::function<void()> body;
static long long exchange[1024];
inline void yield(Wait kind) {
    threads[current].wait = kind;
    swapcontext(&threads[current].context, &scheduler);
}
static void trampoline() {
    body();
    threads[current].wait = done;
    swapcontext(&threads[current].context, &scheduler);
}
// Runs `kernel` for every thread of every block of a grid of `grid` × `grid_y` × `grid_z` blocks of `block` threads.
inline void launch(unsigned grid, unsigned block, std::function<void()> kernel, unsigned grid_y = 1, unsigned grid_z = 1) {
    body = kernel;
    gridDim = {grid, grid_y, grid_z}, blockDim = {block, 1, 1};
    for (unsigned b = 0; b < grid * grid_y * grid_z; ++b) {
        blockIdx = {b % grid, b / grid % grid_y, b / (grid * grid_y)};
        threads.assign(block, Thread{});
        for (unsigned t = 0; t < block; ++t) {
            Thread& th = threads[t];
            th.index = t, th.wait = running, th.stack.resize(256 * 1024);
            getcontext(&th.context);
            th.context.uc_stack.ss_sp = th.stack.data(), th.context.uc_stack.ss_size = th.stack.size();
            th.context.uc_link = nullptr;
            makecontext(&th.context, trampoline, 0);
        }
        for (;;) {
            bool ran = false;
            for (unsigned t = 0; t < block; ++t) {
                if (threads[t].wait != running) continue;
                current = t, threadIdx = {t, 0, 0};
                swapcontext(&scheduler, &threads[t].context);
                ran = true;
            }
            if (ran) continue;
            bool all_done = true, all_at_block = true, released = false;
            for (auto& th : threads) {
                all_done &= th.wait == done;
                all_at_block &= th.wait == done || th.wait == block_barrier;
            }
            if (all_done) break;
            if (all_at_block) {
                for (auto& th : threads) if (th.wait == block_barrier) th.wait = running;
                continue;
            }
            for (unsigned w = 0; w < block; w += 32) {
                bool at_warp = true, any = false;
                for (unsigned t = w; t < w + 32 && t < block; ++t) {
                    at_warp &= threads[t].wait == warp_barrier || threads[t].wait == done;
                    any |= threads[t].wait == warp_barrier;
                }
                if (at_warp && any) {
                    for (unsigned t = w; t < w + 32 && t < block; ++t) if (threads[t].wait == warp_barrier) threads[t].wait = running;
                    released = true;
                }
            }
            if (!released) { std::fprintf(stderr, "simt: deadlock in block %u\n", b); std::exit(3); }
        }
    }
}
}  // namespace simt
inline void __syncthreads() { simt::yield(simt::block_barrier); }
inline void __syncwarp(unsigned = 0xffffffffu) { simt::yield(simt::warp_barrier); }
using std::isnan;
using std::signbit;
// Other PTX (cache hints, FP8 and 8-bit conversions) is left out: these checks do not run it; EMULATED_PTX
// replaces the copies, ldmatrix and mma.sync.
#define host_asm_left_out(...) ((void)0)
template <typename V> inline V shuffle_from(V v, unsigned partner) {
    long long slot = 0; std::memcpy(&slot, &v, sizeof(V));
    simt::exchange[threadIdx.x] = slot;
    simt::yield(simt::warp_barrier);
    V r; std::memcpy(&r, &simt::exchange[partner], sizeof(V));
    simt::yield(simt::warp_barrier);
    return r;
}
template <typename V> inline V __shfl_xor_sync(unsigned, V v, int o) {
    return shuffle_from(v, (threadIdx.x & ~31u) | ((threadIdx.x & 31u) ^ (unsigned)o));
}
template <typename V> inline V __shfl_sync(unsigned, V v, int lane) { return shuffle_from(v, (threadIdx.x & ~31u) | ((unsigned)lane & 31u)); }
template <typename V> inline V __shfl_up_sync(unsigned, V v, unsigned delta) {
    const unsigned lane = threadIdx.x & 31u;
    return shuffle_from(v, (threadIdx.x & ~31u) | (lane >= delta ? lane - delta : lane));
}
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __clz(unsigned v) { return v ? __builtin_clz(v) : 32; }
// The lanes of the warp whose value equals this lane's (moe.cu's grouping; every lane takes part).
inline unsigned __match_any_sync(unsigned, int value) {
    unsigned same = 0;
    for (unsigned lane = 0; lane < 32; ++lane) same |= (unsigned)(shuffle_from(value, (threadIdx.x & ~31u) | lane) == value) << lane;
    return same;
}
#define VLLM_DTYPE_F32 1
"""

# The PTX helpers of common.cuh, emulated: each definition below replaces the one of that name.
# cp.async copies at once (so its waits have nothing to wait for); ldmatrix and mma.sync go through
# the warp: each lane leaves its row address or operand registers, the warp meets, each lane takes
# its registers by the fragment layouts of the PTX ISA (flash_prefill.cu writes them out), and the
# warp meets again before anyone leaves new ones.
EMULATED_PTX = {
    "void cp_async16(": r"""inline void cp_async16(void* shared, const void* global) { std::memcpy(shared, global, 16); }""",
    "uint4 load_streaming(": r"""inline uint4 load_streaming(const void* p) { uint4 v; std::memcpy(&v, p, 16); return v; }""",
    "void fp_copy16(": r"""inline void fp_copy16(unsigned shared, const void* global, bool fill) {
    if (fill) std::memcpy(shared_at(shared), global, 16); else std::memset(shared_at(shared), 0, 16);
}""",
    "void fp_commit(": "inline void fp_commit() {}",
    "void fp_wait_all(": "inline void fp_wait_all() {}",
    "void fp_ldmatrix(": r"""inline void fp_ldmatrix(unsigned (&r)[4], unsigned address) { simt::ldmatrix(r, address, false); }""",
    "void fp_ldmatrix_trans(": r"""inline void fp_ldmatrix_trans(unsigned (&r)[4], unsigned address) { simt::ldmatrix(r, address, true); }""",
    "void fp_mma<__nv_bfloat16>(": r"""template <> inline void fp_mma<__nv_bfloat16>(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    simt::mma(d, a, b0, b1, false);
}""",
    "void fp_mma<__half>(": r"""template <> inline void fp_mma<__half>(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    simt::mma(d, a, b0, b1, true);
}""",
    "unsigned fp8x2_to_half2(": r"""template <bool high> inline unsigned fp8x2_to_half2(unsigned w) {
    const unsigned pair = high ? w >> 16 : w & 0xFFFFu;
    return simt::e4m3_as_half(pair & 0xFFu) | simt::e4m3_as_half(pair >> 8) << 16;
}""",
    "float fp_exp2(": "inline float fp_exp2(float x) { return std::exp2(x); }",
}

# What EMULATED_PTX calls: the warp-wide parts of ldmatrix and mma.m16n8k16 (bfloat16 in, float32
# accumulators; the products are summed in double, then added to the accumulator).
PTX_WARP = r"""
#include <cuda_bf16.h>
#include <cuda_fp16.h>
namespace simt {
struct Operands { unsigned address, a[4], b[2]; };
static Operands operands[1024];
inline void ldmatrix(unsigned (&r)[4], unsigned address, bool trans) {
    const unsigned base = threadIdx.x & ~31u, lane = threadIdx.x & 31u;
    operands[threadIdx.x].address = address;
    yield(warp_barrier);
    for (int i = 0; i < 4; ++i) {
        if (!trans) {  // row lane / 4 of matrix i, its columns 2 (lane % 4) and + 1
            std::memcpy(&r[i], shared_at(operands[base + 8 * i + lane / 4].address) + 4 * (lane % 4), 4);
        } else {  // rows 2 (lane % 4) and + 1 of matrix i, column lane / 4
            unsigned short lo, hi;
            std::memcpy(&lo, shared_at(operands[base + 8 * i + 2 * (lane % 4)].address) + 2 * (lane / 4), 2);
            std::memcpy(&hi, shared_at(operands[base + 8 * i + 2 * (lane % 4) + 1].address) + 2 * (lane / 4), 2);
            r[i] = lo | (unsigned)hi << 16;
        }
    }
    yield(warp_barrier);
}
// Half `high` of a register as a float: bfloat16, or with `half` float16.
inline float element(unsigned word, int high, bool half) {
    const unsigned short bits = (unsigned short)(high ? word >> 16 : word & 0xFFFFu);
    return half ? __half2float({bits}) : __bfloat162float({bits});
}
// An e4m3 code's value (NaN for the two NaN codes) and its float16 bits.
inline float e4m3(unsigned code) {
    const int e = (code >> 3) & 15, m = code & 7;
    const float v = e == 15 && m == 7 ? NAN : e == 0 ? std::ldexp((float)m, -9) : std::ldexp((float)(8 + m), e - 10);
    return code & 0x80u ? -v : v;
}
inline unsigned e4m3_as_half(unsigned code) { return __float2half_rn(e4m3(code)).bits; }
inline void mma(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1, bool half) {
    const unsigned base = threadIdx.x & ~31u, lane = threadIdx.x & 31u;
    Operands& mine = operands[threadIdx.x];
    for (int i = 0; i < 4; ++i) mine.a[i] = a[i];
    mine.b[0] = b0, mine.b[1] = b1;
    yield(warp_barrier);
    // A (16 x 16): row r, column k is in lane 4 (r % 8) + (k % 8) / 2, register (r / 8) + 2 (k / 8).
    auto A = [&](int r, int k) { return element(operands[base + 4 * (r % 8) + (k % 8) / 2].a[r / 8 + 2 * (k / 8)], k & 1, half); };
    // B (16 x 8): row k, column n is in lane 4 n + (k % 8) / 2, register k / 8.
    auto B = [&](int k, int n) { return element(operands[base + 4 * n + (k % 8) / 2].b[k / 8], k & 1, half); };
    const int g = lane / 4, c = lane % 4;
    for (int i = 0; i < 4; ++i) {
        const int row = g + 8 * (i / 2), column = 2 * c + (i & 1);
        double sum = 0;
        for (int k = 0; k < 16; ++k) sum += (double)A(row, k) * B(k, column);
        d[i] = (float)((double)d[i] + sum);
    }
    yield(warp_barrier);
}
}  // namespace simt
"""

HARNESS = r"""
// The backend's launch shapes (CUDABackend.threadsFor(row:), gridFor).
static unsigned threads_for(int n) { int t = ((n + 7) / 8 + 31) / 32 * 32; return (unsigned)(t < 32 ? 32 : t > 1024 ? 1024 : t); }
static unsigned grid_for(long long count) { long long g = (count + 255) / 256; return (unsigned)(g < 1 ? 1 : g > 132 * 16 ? 132 * 16 : g); }
// quantize_ggml_int8's body (quantized.cu): a warp a block of 32, a lane a value.
static void quantize_reference(signed char* xq, float2* xs, const float* x, int blocks) {
    simt::launch((unsigned)((blocks + 7) / 8), 256, [=] {
        const int block = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
        if (block >= blocks) return;
        quantize_int8_block(to_f(x[(long long)block * 32 + lane]), xq + (long long)block * 32, xs + 2 * (long long)block, lane);
    });
}
static unsigned state = 12345;
static float uniform() { state = state * 1664525u + 1013904223u; return (float)(state >> 8) / 16777216.f * 2.f - 1.f; }
// The emulator itself, against plain host loops: add_rms_norm's rows against float64 (relative
// error), and quantize_ggml_int8's codes against a block's max and rounding done here.
static double norm_error(const std::vector<float>& out, const std::vector<float>& x, const std::vector<float>& residual,
                         const std::vector<float>& w, int rows, int n) {
    double worst = 0, largest = 0;
    for (int r = 0; r < rows; ++r) {
        double squares = 0;
        for (int i = 0; i < n; ++i) { const double v = (double)x[r * n + i] + residual[r * n + i]; squares += v * v; }
        const double inverse = 1 / std::sqrt(squares / n + 1e-6);
        for (int i = 0; i < n; ++i) {
            const double want = w[i] * ((double)x[r * n + i] + residual[r * n + i]) * inverse;
            worst = std::fmax(worst, std::fabs(want - out[r * n + i])), largest = std::fmax(largest, std::fabs(want));
        }
    }
    return worst / largest;
}
static int codes_differing(const std::vector<signed char>& q, const std::vector<float>& v) {
    int count = 0;
    for (size_t b = 0; b < v.size() / 32; ++b) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(v[b * 32 + i]));
        const float inverse = amax > 0 ? __fdiv_rn(127.f, amax) : 0.f;
        for (int i = 0; i < 32; ++i) count += q[b * 32 + i] != (signed char)__float2int_rn(__fmul_rn(v[b * 32 + i], inverse));
    }
    return count;
}
static int differing(const void* a, const void* b, size_t bytes) {
    int count = 0;
    for (size_t i = 0; i < bytes; ++i) count += ((const unsigned char*)a)[i] != ((const unsigned char*)b)[i];
    return count;
}

// decode_attention.cu on a paged cache of bfloat16: the tensor-core kernel (decode_attention_mma, the
// unsplit launch's) and the lane-a-key kernel (decode_attention with one lane a key, its former
// unsplit path; and the whole launch with splits, merged by attention_combine) against float64
// attention of the same bfloat16 values. Cache slots that no key uses hold NaN, so that a key past
// the end that leaked in would show. Returns the failures.
using bf16 = __nv_bfloat16;
static float bf(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }
template <int HD, bool FP8 = false>
static int check_decode_attention(int kv_heads, int group, int block_size, std::vector<int> lengths, int window, float softcap,
                                  int splits = 3) {
    // The cache's element: bfloat16, or e4m3 codes (values up to 3.75, both signs, subnormals too)
    // with per-tensor scales, which the kernels take as the FP8 instantiations pass them.
    using C = typename std::conditional<FP8, unsigned char, bf16>::type;
    const float key_scale = FP8 ? 0.75f : 1.f, value_scale = FP8 ? 1.25f : 1.f;
    auto element = [&](float scaled) -> C {
        if constexpr (FP8) {
            state = state * 1664525u + 1013904223u;
            return (unsigned char)(((state >> 8) & 0x80u) | (((state >> 12) % 9) << 3) | ((state >> 20) & 7u));
        } else {
            return __float2bfloat16_rn(scaled);
        }
    };
    auto value = [&](C c, float cache_scale) -> double {
        if constexpr (FP8) return (double)simt::e4m3(c) * cache_scale;
        else return __bfloat162float(c);
    };
    const int num_heads = kv_heads * group, width = (num_heads + 2 * kv_heads) * HD, tokens = (int)lengths.size();
    int table_width = 0, blocks = 0;
    for (int n : lengths) table_width = std::max(table_width, (n + block_size - 1) / block_size), blocks += (n + block_size - 1) / block_size;
    std::vector<int> order(blocks);
    for (int i = 0; i < blocks; ++i) order[i] = i;
    for (int i = blocks - 1; i > 0; --i) std::swap(order[i], order[(state = state * 1664525u + 1013904223u) % (i + 1)]);
    std::vector<int> tables(tokens * table_width, 0), tiles(3 * tokens), positions(tokens);
    const size_t slots = (size_t)blocks * kv_heads * block_size * HD;
    C nan_bits;
    if constexpr (FP8) nan_bits = 0x7F; else nan_bits = bf16{0x7FC0};
    std::vector<C> key_cache(slots, nan_bits), value_cache(slots, nan_bits);
    std::vector<bf16> qkv((size_t)tokens * width);
    int next = 0;
    for (int t = 0; t < tokens; ++t) {
        for (int b = 0; b * block_size < lengths[t]; ++b) tables[t * table_width + b] = order[next++];
        tiles[3 * t] = t, tiles[3 * t + 1] = t, tiles[3 * t + 2] = 1, positions[t] = lengths[t] - 1;
        for (int j = 0; j < lengths[t]; ++j)
            for (int h = 0; h < kv_heads; ++h)
                for (int d = 0; d < HD; ++d) {
                    const size_t at = (((size_t)tables[t * table_width + j / block_size] * kv_heads + h) * block_size + j % block_size) * HD + d;
                    key_cache[at] = element(uniform()), value_cache[at] = element(uniform());
                }
    }
    for (auto& v : qkv) v = __float2bfloat16_rn(2 * uniform());
    const float scale = 1.f / std::sqrt((float)HD);
    // float64 attention of the same values.
    std::vector<double> want((size_t)tokens * num_heads * HD);
    double largest = 0;
    for (int t = 0; t < tokens; ++t)
        for (int h = 0; h < num_heads; ++h) {
            const int kh = h / group, first = window > 0 ? std::max(0, lengths[t] - window) : 0;
            std::vector<double> p(lengths[t], 0.0);
            double top = -INFINITY, total = 0;
            for (int j = first; j < lengths[t]; ++j) {
                const size_t at = (((size_t)tables[t * table_width + j / block_size] * kv_heads + kh) * block_size + j % block_size) * HD;
                double dot = 0;
                for (int d = 0; d < HD; ++d) dot += (double)__bfloat162float(qkv[(size_t)t * width + h * HD + d]) * value(key_cache[at + d], key_scale);
                p[j] = dot * scale;
                if (softcap > 0) p[j] = softcap * std::tanh(p[j] / softcap);
                top = std::max(top, p[j]);
            }
            for (int j = first; j < lengths[t]; ++j) total += p[j] = std::exp(p[j] - top);
            for (int d = 0; d < HD; ++d) {
                double o = 0;
                for (int j = first; j < lengths[t]; ++j)
                    o += p[j] * value(value_cache[(((size_t)tables[t * table_width + j / block_size] * kv_heads + kh) * block_size + j % block_size) * HD + d], value_scale);
                want[((size_t)t * num_heads + h) * HD + d] = o / total;
                largest = std::max(largest, std::fabs(o / total));
            }
        }
    alignas(16) static unsigned char shared_bytes[sizeof(DecodeShared<bf16, 256>)];
    DecodeShared<C, HD>& shared = *reinterpret_cast<DecodeShared<C, HD>*>(shared_bytes);
    // The FP8 instantiations' arguments: the codes' 2^8 in both scales (decode_attention.cu).
    const float kernel_scale = FP8 ? scale * key_scale * 256.f : scale, kernel_value_scale = FP8 ? value_scale * 256.f : 1.f;
    std::vector<bf16> out_mma(want.size()), out_lanes(want.size()), out_split(want.size());
    if constexpr (decode_mma<C, HD>()) simt::launch(tokens, 128, [&] {
        decode_attention_mma<bf16, C, HD>(shared, out_mma.data(), qkv.data(), key_cache.data(), value_cache.data(), tiles.data(),
                                          positions.data(), tables.data(), &table_width, width, num_heads, kv_heads, block_size,
                                          kernel_scale, window, softcap, nullptr, nullptr, tokens, kernel_value_scale);
    }, kv_heads);
    simt::launch(tokens, 128, [&] {
        decode_attention<bf16, C, HD, decode_unsplit_lanes<C, HD>()>(
            shared, out_lanes.data(), qkv.data(), key_cache.data(), value_cache.data(), tiles.data(), positions.data(),
            tables.data(), &table_width, width, num_heads, kv_heads, block_size, kernel_scale, window, softcap, nullptr, nullptr,
            tokens, kernel_value_scale);
    }, kv_heads);
    std::vector<float> partial_o((size_t)splits * want.size()), partial_ml((size_t)splits * tokens * num_heads * 2);
    // The split launch and the combine after it, as the backend runs them, on the tiles `step_tiles`.
    auto split_launch = [&](std::vector<bf16>& out, const std::vector<int>& step_tiles) {
        simt::launch(tokens, 128, [&] {
            decode_attention_by_splits<bf16, C, HD>(out.data(), qkv.data(), key_cache.data(), value_cache.data(), step_tiles.data(),
                                                    positions.data(), tables.data(), &table_width, width, num_heads, kv_heads,
                                                    block_size, kernel_scale, window, softcap, partial_o.data(), partial_ml.data(),
                                                    tokens, kernel_value_scale);
        }, kv_heads, splits);
        simt::launch(tokens, (unsigned)std::max(32, std::min(256, HD)), [&] {
            attention_combine<bf16>(out.data(), partial_o.data(), partial_ml.data(), splits, tokens, num_heads, HD, nullptr, nullptr);
        }, num_heads);
    };
    split_launch(out_split, tiles);
    // The split launch again with each tile's sequence holding 3 tokens of the step (a verifying
    // step's tiles): a block then copies fewer keys before waiting for the previous kernel and the
    // rest after it; every key must still be read once, so the bits must not change.
    std::vector<int> verify_tiles = tiles;
    for (int t = 0; t < tokens; ++t) verify_tiles[3 * t + 2] = std::min(3, lengths[t]);
    std::vector<bf16> out_verify(want.size());
    split_launch(out_verify, verify_tiles);
    int verify_differing = 0;
    for (size_t i = 0; i < want.size(); ++i) verify_differing += std::memcmp(&out_verify[i], &out_split[i], sizeof(bf16)) != 0;
    // flash_prefill on the same tiles (a token each): the emulator's ldmatrix and mma against a kernel
    // that GPUs have checked (kernel-check).
    std::vector<bf16> out_flash(want.size());
    if constexpr (HD <= 128 && !FP8) simt::launch(tokens, 128, [&] {
        flash_prefill<bf16, bf16, HD, 4>(out_flash.data(), qkv.data(), key_cache.data(), value_cache.data(), tiles.data(),
                                         positions.data(), tables.data(), &table_width, width, num_heads, kv_heads, block_size,
                                         scale, window, softcap, nullptr, nullptr, tokens, 1.f);
    }, kv_heads);
    else out_flash = out_lanes;
    auto error = [&](const std::vector<bf16>& got) {
        double worst = 0;
        for (size_t i = 0; i < want.size(); ++i) {
            const double e = std::fabs(__bfloat162float(got[i]) - want[i]);
            worst = std::isnan(e) ? INFINITY : std::max(worst, e);
        }
        return worst / largest;
    };
    if constexpr (!decode_mma<C, HD>()) out_mma = out_lanes;
    const double e_mma = error(out_mma), e_lanes = error(out_lanes), e_split = error(out_split), e_flash = error(out_flash);
    // The output is rounded to bfloat16 (2^-9 relative) and P·V takes P rounded to bfloat16.
    const bool ok = e_mma < 1e-2 && e_lanes < 1e-2 && e_split < 1e-2 && e_flash < 1e-2 && verify_differing == 0;
    std::printf("decode_attention%s head size %d, %d kv heads x %d, blocks of %d, window %d, softcap %g, %d sequences up to %d keys: "
                "error against float64 %.2e (tensor cores), %.2e (a lane a key), %.2e (%d splits), flash_prefill %s; "
                "verifying-step tiles: %d values differing%s\n",
                FP8 ? " fp8 cache" : "", HD, kv_heads, group, block_size, window, softcap, tokens, *std::max_element(lengths.begin(), lengths.end()),
                e_mma, e_lanes, e_split, splits, HD <= 128 && !FP8 ? std::to_string(e_flash).c_str() : "not run", verify_differing,
                ok ? "" : "  FAILED");
    return ok ? 0 : 1;
}
// rotary_norm_write_kv (the q/k head norm inside the rotary kernel) against head_rms_norm, then
// rotary_write_kv, at the backend's launch shapes: the rows and both caches' bytes must agree bit for
// bit, for a cache of T and of e4m3 codes (C = unsigned char), partial rotary included.
template <typename T, typename C>
static int check_rotary_norm(int heads, int kv_heads, int hd, int rotary_dim) {
    const int tokens = 3, block_size = 16, blocks = 4, width = (heads + 2 * kv_heads) * hd;
    std::vector<T> qkv(tokens * width), table(64 * rotary_dim), qw(hd), kw(hd);
    auto value = [](float x) { T t; if constexpr (sizeof(T) == 4) t = x; else t = from_f<T>(x); return t; };
    for (auto& v : qkv) v = value(2 * uniform());
    for (int p = 0; p < 64; ++p)
        for (int d = 0; d < rotary_dim / 2; ++d) {
            const float angle = p * std::pow(10000.f, -2.f * d / rotary_dim);
            table[p * rotary_dim + d] = value(std::cos(angle)), table[p * rotary_dim + rotary_dim / 2 + d] = value(std::sin(angle));
        }
    for (auto& v : qw) v = value(1 + uniform() / 4);
    for (auto& v : kw) v = value(1 + uniform() / 4);
    const std::vector<int> positions = {5, 17, 40}, slots = {3, 20, 33};
    const size_t cache = (size_t)blocks * kv_heads * block_size * hd;
    std::vector<C> keys_a(cache), values_a(cache), keys_b(cache), values_b(cache);
    std::vector<T> rows_a = qkv, rows_b = qkv;
    const float key_inverse = 1 / 0.75f, value_inverse = 1 / 1.5f;
    const int items = std::max((heads + kv_heads) * rotary_dim / 2, kv_heads * hd), parts = (items + 127) / 128;
    simt::launch(tokens, 32, [&] { head_rms_norm<T>(rows_a.data(), qw.data(), kw.data(), width, heads, hd, 1e-6f); }, heads + kv_heads);
    simt::launch(tokens, 128, [&] {
        rotary_write_kv<T, C, false>(rows_a.data(), table.data(), positions.data(), slots.data(), keys_a.data(), values_a.data(), width,
                                     heads, kv_heads, hd, block_size, rotary_dim, key_inverse, value_inverse, nullptr, nullptr, 0.f);
    }, parts);
    simt::launch(tokens, 128, [&] {
        rotary_write_kv<T, C, true>(rows_b.data(), table.data(), positions.data(), slots.data(), keys_b.data(), values_b.data(), width,
                                    heads, kv_heads, hd, block_size, rotary_dim, key_inverse, value_inverse, qw.data(), kw.data(), 1e-6f);
    }, parts);
    const int rows = differing(rows_a.data(), rows_b.data(), rows_a.size() * sizeof(T));
    const int bytes = differing(keys_a.data(), keys_b.data(), cache * sizeof(C)) + differing(values_a.data(), values_b.data(), cache * sizeof(C));
    std::printf("rotary_norm_write_kv%s %s h%d/%dx%d rotary %d: row bytes differing from head_rms_norm + rotary_write_kv %d, cache bytes %d\n",
                sizeof(C) == 1 ? " fp8 cache" : "", sizeof(T) == 4 ? "f32" : "bf16", heads, kv_heads, hd, rotary_dim, rows, bytes);
    return rows != 0 || bytes != 0;
}
// moe_gemv_combine (the MoE down products and the weighted sum of a decode step) at one row a block
// and at eight, against a host replay of its arithmetic: each lane adds its 16-byte chunks of the row
// in ascending order, the warp's butterfly sum (lane 0's), then the token's k results in expert order,
// each step rounded to bf16. With MOE_COMBINE_PIPELINE 1 the pipelined pairs must give the same bits.
static int check_moe_gemv_combine(int tokens, int k, int experts, int hidden, int kdim) {
    std::vector<bf16> act((size_t)tokens * k * kdim), w((size_t)experts * hidden * kdim);
    for (auto& v : act) v = __float2bfloat16_rn(uniform());
    for (auto& v : w) v = __float2bfloat16_rn(uniform() / 8);
    std::vector<int> ids(tokens * k);
    std::vector<float> weights(tokens * k);
    for (int t = 0; t < tokens; ++t)
        for (int j = 0; j < k; ++j) ids[t * k + j] = (t * 7 + j * 5) % experts, weights[t * k + j] = (1.f + uniform()) / k;
    std::vector<bf16> want((size_t)tokens * hidden);
    for (int t = 0; t < tokens; ++t)
        for (int row = 0; row < hidden; ++row) {
            float part[64];
            for (int j = 0; j < k; ++j) {
                const bf16* wr = w.data() + ((size_t)ids[t * k + j] * hidden + row) * kdim;
                const bf16* x = act.data() + (size_t)(t * k + j) * kdim;
                float lanes[32];
                for (int lane = 0; lane < 32; ++lane) {
                    float acc = 0.f;
                    for (int c = lane * 8; c < kdim; c += 256)
                        for (int e = 0; e < 8; ++e) acc += __bfloat162float(wr[c + e]) * __bfloat162float(x[c + e]);
                    lanes[lane] = acc;
                }
                for (int o = 16; o > 0; o >>= 1) {
                    float next[32];
                    for (int lane = 0; lane < 32; ++lane) next[lane] = lanes[lane] + lanes[lane ^ o];
                    std::memcpy(lanes, next, sizeof(lanes));
                }
                part[j] = lanes[0];
            }
            float acc = 0.f;
            for (int step = 0; step < k; ++step) {
                int j = 0;
                for (int c = 0; c < k; ++c) {
                    int place = 0;
                    for (int i = 0; i < k; ++i) place += ids[t * k + i] < ids[t * k + c];
                    if (place == step) j = c;
                }
                acc = rnd<bf16>(acc + rnd<bf16>(rnd<bf16>(part[j]) * weights[t * k + j]));
            }
            want[(size_t)t * hidden + row] = __float2bfloat16_rn(acc);
        }
    int differing[2] = {0, 0};
    const int rows_per_block[2] = {std::max(1, MOE_GEMV_COMBINE_WARPS / k), 8};
    for (int v = 0; v < 2; ++v) {
        std::vector<bf16> out(want.size());
        const int r = rows_per_block[v];
        simt::launch((unsigned)((hidden + r - 1) / r), 32 * MOE_GEMV_COMBINE_WARPS, [&] {
            moe_gemv_combine<bf16>(out.data(), act.data(), ids.data(), weights.data(), k, w.data(), hidden, kdim, r, nullptr, nullptr);
        }, tokens);
        for (size_t i = 0; i < want.size(); ++i) differing[v] += std::memcmp(&out[i], &want[i], sizeof(bf16)) != 0;
    }
    std::printf("moe_gemv_combine %d tokens, k %d of %d experts, %dx%d%s: values differing from the host replay %d (%d rows a block), %d (8 rows a block)%s\n",
                tokens, k, experts, hidden, kdim, MOE_COMBINE_PIPELINE ? " (pipelined)" : "", differing[0], rows_per_block[0], differing[1],
                differing[0] + differing[1] ? "  FAILED" : "");
    return differing[0] + differing[1] ? 1 : 0;
}

int main() {
    int failures = 0;
    for (auto [heads, kv_heads, hd, rotary_dim] : std::vector<std::array<int, 4>>{{8, 2, 64, 64}, {16, 4, 128, 96}, {4, 2, 256, 256}, {6, 6, 8, 8}}) {
        failures += check_rotary_norm<__nv_bfloat16, __nv_bfloat16>(heads, kv_heads, hd, rotary_dim);
        failures += check_rotary_norm<__nv_bfloat16, unsigned char>(heads, kv_heads, hd, rotary_dim);
        failures += check_rotary_norm<float, float>(heads, kv_heads, hd, rotary_dim);
    }
    for (int rows = 1; rows <= 4; ++rows)
        for (int n : {1024, 1056, 4096, 14336}) {
            const size_t count = (size_t)rows * n;
            std::vector<float> x(count), residual(count), w(n), gate_up(2 * count);
            for (auto& v : x) v = 3 * uniform();
            for (auto& v : residual) v = 2 * uniform();
            for (auto& v : w) v = 1 + uniform() / 4;
            for (auto& v : gate_up) v = 4 * uniform();
            std::vector<float> out_a(count), out_b(count), res_a = residual, res_b = residual;
            std::vector<signed char> q_made(count), q_ref(count);
            std::vector<float2> s_made(count / 16), s_ref(count / 16);
            const unsigned threads = threads_for(n);
            if (n <= 8 * (int)threads) {
                simt::launch(rows, threads, [&] { add_rms_norm_f32(out_a.data(), res_a.data(), x.data(), w.data(), n, 1e-6f); });
                simt::launch(rows, threads, [&] {
                    add_rms_norm_int8_f32(out_b.data(), res_b.data(), x.data(), w.data(), n, 1e-6f, q_made.data(), s_made.data());
                });
                quantize_reference(q_ref.data(), s_ref.data(), out_b.data(), (int)(count / 32));
                const double error = norm_error(out_a, x, residual, w, rows, n);
                const int codes = codes_differing(q_ref, out_b);
                if (error > 1e-5 || codes != 0) {
                    std::printf("the emulator: add_rms_norm %dx%d error %.2e against float64, %d codes differing from a host loop\n", rows, n, error, codes);
                    ++failures;
                }
                const int outputs = differing(out_a.data(), out_b.data(), count * 4) + differing(res_a.data(), res_b.data(), count * 4);
                const int bytes = differing(q_made.data(), q_ref.data(), count) + differing(s_made.data(), s_ref.data(), count / 16 * 8);
                std::printf("add_rms_norm_int8 %dx%d: outputs differing from add_rms_norm's %d, 8-bit bytes differing %d\n", rows, n, outputs, bytes);
                failures += outputs != 0 || bytes != 0;
            }
            std::fill(q_made.begin(), q_made.end(), 0), std::fill(s_made.begin(), s_made.end(), float2{0, 0});
            simt::launch(grid_for(count / 4), 256, [&] { silu_and_mul_f32(out_a.data(), gate_up.data(), rows, n); });
            simt::launch(grid_for(count), 256, [&] {
                silu_and_mul_int8_f32(out_b.data(), gate_up.data(), rows, n, q_made.data(), s_made.data());
            });
            quantize_reference(q_ref.data(), s_ref.data(), out_b.data(), (int)(count / 32));
            const int outputs = differing(out_a.data(), out_b.data(), count * 4);
            const int bytes = differing(q_made.data(), q_ref.data(), count) + differing(s_made.data(), s_ref.data(), count / 16 * 8);
            std::printf("silu_and_mul_int8 %dx%d: outputs differing from silu_and_mul's %d, 8-bit bytes differing %d\n", rows, n, outputs, bytes);
            failures += outputs != 0 || bytes != 0;
        }
    // attention_combine_int8: splits of random partial results (some splits saw no key), the
    // backend's launch (a block per token and head, max(32, min(256, head_dim)) threads).
    for (int tokens = 1; tokens <= 4; ++tokens)
        for (int hd : {64, 128, 256}) {
            const int heads = 8, splits = 5;
            const size_t count = (size_t)tokens * heads * hd;
            std::vector<float> partial_o(splits * count), partial_ml(splits * tokens * heads * 2);
            for (auto& v : partial_o) v = 4 * uniform();
            for (size_t i = 0; i < partial_ml.size(); i += 2) {
                partial_ml[i] = uniform() < -0.6f ? -INFINITY : 3 * uniform();
                partial_ml[i + 1] = 1 + uniform() / 2;
            }
            std::vector<float> out_a(count), out_b(count);
            std::vector<signed char> q_made(count), q_ref(count);
            std::vector<float2> s_made(count / 16), s_ref(count / 16);
            const unsigned block = (unsigned)std::max(32, std::min(256, hd));
            auto combine = [&](std::vector<float>& out, signed char* xq, float2* xs) {
                simt::launch(tokens, block, [&, xq, xs] {
                    attention_combine<float>(out.data(), partial_o.data(), partial_ml.data(), splits, tokens, heads, hd, xq, xs);
                }, heads);
            };
            combine(out_a, nullptr, nullptr);
            combine(out_b, q_made.data(), s_made.data());
            quantize_reference(q_ref.data(), s_ref.data(), out_b.data(), (int)(count / 32));
            const int outputs = differing(out_a.data(), out_b.data(), count * 4);
            const int bytes = differing(q_made.data(), q_ref.data(), count) + differing(s_made.data(), s_ref.data(), count / 16 * 8);
            const int codes = codes_differing(q_ref, out_b);
            // The emulator's shuffles, against the merge written as plain loops (float64).
            double worst = 0, largest = 0;
            for (int t = 0; t < tokens; ++t)
                for (int h = 0; h < heads; ++h) {
                    const size_t row = (size_t)t * heads + h;
                    double big = -INFINITY, total = 0;
                    for (int z = 0; z < splits; ++z) big = std::fmax(big, partial_ml[2 * (row + z * tokens * heads)]);
                    std::vector<double> weight(splits);
                    for (int z = 0; z < splits; ++z) {
                        const double m = partial_ml[2 * (row + z * tokens * heads)];
                        weight[z] = m == -INFINITY ? 0 : std::exp(m - big);
                        total += weight[z] * partial_ml[2 * (row + z * tokens * heads) + 1];
                    }
                    for (int d = 0; d < hd; ++d) {
                        double o = 0;
                        for (int z = 0; z < splits; ++z) o += weight[z] * partial_o[(row + z * tokens * heads) * hd + d];
                        const double want = total > 0 ? o / total : 0;
                        worst = std::fmax(worst, std::fabs(want - out_a[row * hd + d])), largest = std::fmax(largest, std::fabs(want));
                    }
                }
            if (worst / largest > 1e-5) {
                std::printf("the emulator: attention_combine %d tokens, head size %d: error %.2e against float64\n", tokens, hd, worst / largest);
                ++failures;
            }
            std::printf("attention_combine_int8 %d tokens, head size %d: outputs differing from attention_combine's %d, 8-bit bytes differing %d\n",
                        tokens, hd, outputs, bytes);
            failures += outputs != 0 || bytes != 0 || codes != 0;
        }
    const std::vector<int> lengths = {1, 2, 31, 32, 33, 64, 97, 160};
    failures += check_decode_attention<128>(2, 4, 16, lengths, 0, 0.f);
    failures += check_decode_attention<64>(2, 4, 16, lengths, 0, 0.f);
    failures += check_decode_attention<128>(1, 8, 32, lengths, 0, 0.f);
    failures += check_decode_attention<128>(2, 3, 16, lengths, 40, 0.f);
    failures += check_decode_attention<64>(4, 2, 16, lengths, 0, 30.f);
    failures += check_decode_attention<256>(2, 2, 16, lengths, 0, 30.f);  // no tensor cores there: the lane-a-key kernels
    failures += check_decode_attention<128, true>(2, 4, 16, lengths, 0, 0.f);
    failures += check_decode_attention<64, true>(2, 3, 16, lengths, 40, 0.f);
    failures += check_decode_attention<128, true>(1, 8, 32, lengths, 0, 30.f);
    // Splits of at least DA_SPLIT_MMA_KEYS keys take the tensor cores too (the two longest here).
    failures += check_decode_attention<128>(2, 4, 16, {1, 40, 600, 1030}, 0, 0.f, 2);
    failures += check_decode_attention<64, true>(2, 4, 16, {1, 40, 600, 1030}, 0, 0.f, 2);
    // Qwen3-30B-A3B's down rows (768), a width past the pipelined rows' 1024, and hidden sizes that
    // leave the last block short.
    failures += check_moe_gemv_combine(2, 8, 16, 72, 768);
    failures += check_moe_gemv_combine(1, 2, 4, 37, 1408);
    failures += check_moe_gemv_combine(3, 4, 8, 20, 264);
    std::printf(failures ? "FAILED\n" : "all passed\n");
    return failures ? 1 : 0;
}
"""


def replace_definition(source, signature, definition):
    """The function whose definition holds `signature` (its name and opening parenthesis), from its
    line's start to its closing brace, replaced by `definition`."""
    at = source.index(signature)
    start = source.rindex("\n", 0, at) + 1
    depth, i = 0, source.index("{", at)
    while True:
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        i += 1
        if depth == 0:
            return source[:start] + definition + source[i:]


def main():
    with tempfile.TemporaryDirectory() as work:
        for name, text in FAKE_HEADERS.items():
            open(os.path.join(work, name), "w").write("#pragma once\n" + text)
        files = ["common.cuh", "norm.cu", "rotary.cu", "activation.cu", "attention.cu", "decode_attention.cu", "flash_prefill.cu", "moe.cu"]
        kernels = "".join(open(os.path.join(KERNELS, f)).read() + "\n" for f in files)
        for signature, definition in EMULATED_PTX.items():
            kernels = replace_definition(kernels, signature, definition)
        kernels = kernels.replace("asm volatile(", "host_asm_left_out(").replace("asm(", "host_asm_left_out(")
        # Dynamic shared memory as a static array of the most a block may have.
        kernels = re.sub(r"extern __shared__ (?:__align__\(\d+\) )?([\w ]+?) (\w+)\[\];", r"alignas(16) static \1 \2[232448 / sizeof(\1)];", kernels)
        # `static alignas(n) T x` does not parse as C++: the alignment goes first.
        kernels = re.sub(r"__shared__ __align__\((\d+)\)", r"alignas(\1) static", kernels)
        source = PRELUDE + PTX_WARP + kernels + HARNESS
        path = os.path.join(work, "simt.cpp")
        open(path, "w").write(source)
        binary = os.path.join(work, "simt")
        # --define NAME=VALUE (repeatable): a kernel-source variant, as run_gpu_checks.sh's overrides make.
        defines = [f"-D{a}" for flag, a in zip(sys.argv[1:], sys.argv[2:]) if flag == "--define"]
        subprocess.run(["clang++", "-std=c++17", "-O1", "-ffp-contract=off", "-w", *defines, "-I", work, path, "-o", binary], check=True)
        sys.exit(subprocess.run([binary]).returncode)


if __name__ == "__main__":
    main()
