// Matrix-vector products of decode steps (1 to 4 tokens, 16-bit activations), plain and with the
// MLP's gated activation fused (SwiGLU for Llama, GeGLU for Gemma); and of verifying steps (5 to 8
// tokens) on the tensor cores.

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// y[t, :] = x[t, :] · Wᵀ for a few tokens (decode steps), one warp per output row through
// gemv_row (common.cuh).
template <typename T, int NT>
__device__ void gemv(T* y, const T* x, const T* w, int n, int k) {
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    float total[NT];
    gemv_row<T, NT>(total, x, w + (long long)row * k, k, row < n);
    if (row >= n || (threadIdx.x & 31) != 0) return;
#pragma unroll
    for (int t = 0; t < NT; ++t) y[(long long)t * n + row] = from_f<T>(total[t]);
}

// y = act(x · Wgᵀ) * (x · Wuᵀ) for W = [gate; up] stacked (2n rows): the MLP's gate/up product
// and its activation in one kernel (Act: SiLU for SwiGLU, GELUTanh for GeGLU; common.cuh). Blocks
// of 8 warps: warps 0-3 take four gate rows, warps 4-7 the same four up rows, and one exchange
// through shared memory pairs them. Each product is rounded to the activation dtype, then the
// activation's result, before the multiply: as the separate gemv and act_and_mul kernels round.
template <typename T, int NT, typename Act>
__device__ void gemv_gated(T* y, const T* x, const T* w, int n, int k) {
    __shared__ float up[4][NT];
    const Act act;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int row = blockIdx.x * 4 + (warp & 3);
    float total[NT];
    gemv_row<T, NT>(total, x, w + (long long)(row + (warp >= 4 ? n : 0)) * k, k, row < n);
    if (warp >= 4 && lane == 0) {
#pragma unroll
        for (int t = 0; t < NT; ++t) up[warp - 4][t] = total[t];
    }
    __syncthreads();
    if (warp >= 4 || lane != 0 || row >= n) return;
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const float gate = rnd<T>(total[t]);
        y[(long long)t * n + row] = from_f<T>(rnd<T>(act(gate)) * rnd<T>(up[warp][t]));
    }
}

// y[t, :] = x[t, :] · Wᵀ for 5 to 8 tokens (a step verifying drafts) on the tensor cores. Still
// bound by the weights' bytes, but gemv's NT multiply-adds a weight on the CUDA cores no longer keep
// up with them past 4 tokens. One m16n8k16 product takes 16 columns of k: W's rows are its 16 rows,
// the tokens its 8 columns (a missing token repeats the last one; its results are not written). A
// block of 8 warps owns 16 rows; warp w takes every 8th run of 32 columns, and the warps' sums meet
// in shared memory. A lane reads 16 bytes of each of its two rows and of its token a run; since a
// dot product may take its terms in any order, those 8 columns become the columns 2q, 2q+1, 2q+8,
// 2q+9 (q: the lane's place in its quad) of two k16 tiles, for W and x alike.
#define GEMV_MMA_DEPTH 4
template <typename T, int NT>
__device__ void gemv_mma(T* y, const T* x, const T* w, int n, int k) {
    __shared__ float sums[8][4][32];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, quad = lane & 3;
    const int row0 = blockIdx.x * 16, runs = k >> 5, col = quad * 8;
    const T* wa = w + (long long)imin(row0 + g, n - 1) * k + col;
    const T* wb = w + (long long)imin(row0 + g + 8, n - 1) * k + col;
    const T* xt = x + (long long)imin(g, NT - 1) * k + col;
    float d[4] = {0.f, 0.f, 0.f, 0.f};
    uint4 va[GEMV_MMA_DEPTH], vb[GEMV_MMA_DEPTH];
    // The two rows' chunks of the batch of runs from `first` on, every 8th.
    const auto load_batch = [&](int first) {
#pragma unroll
        for (int u = 0; u < GEMV_MMA_DEPTH; ++u) {
            const int run = first + 8 * u;
            if (run < runs) { va[u] = load_streaming(wa + run * 32); vb[u] = load_streaming(wb + run * 32); }
        }
    };
    // The weights do not depend on the previous kernel: the first batch is read before waiting for it.
    load_batch(warp);
    PDL_ENTER();
    for (int first = warp; first < runs; first += 8 * GEMV_MMA_DEPTH) {
        if (first != warp) load_batch(first);
        uint4 xv[GEMV_MMA_DEPTH];
#pragma unroll
        for (int u = 0; u < GEMV_MMA_DEPTH; ++u)
            if (first + 8 * u < runs) xv[u] = *(const uint4*)(xt + (first + 8 * u) * 32);
#pragma unroll
        for (int u = 0; u < GEMV_MMA_DEPTH; ++u) {
            if (first + 8 * u >= runs) continue;
            const unsigned lo[4] = {va[u].x, vb[u].x, va[u].y, vb[u].y}, hi[4] = {va[u].z, vb[u].z, va[u].w, vb[u].w};
            fp_mma<T>(d, lo, xv[u].x, xv[u].y);
            fp_mma<T>(d, hi, xv[u].z, xv[u].w);
        }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) sums[warp][i][lane] = d[i];
    __syncthreads();
    if (warp != 0) return;
    // d[0], d[1]: row g, tokens 2q and 2q + 1; d[2], d[3]: row g + 8, the same tokens.
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        float total = 0.f;
#pragma unroll
        for (int v = 0; v < 8; ++v) total += sums[v][i][lane];
        const int row = row0 + g + (i >= 2 ? 8 : 0), t = 2 * quad + (i & 1);
        if (row < n && t < NT) y[(long long)t * n + row] = from_f<T>(total);
    }
}

#define INSTANTIATE_GEMV_MMA(S, T, NT)                                                                                 \
    extern "C" __global__ void __launch_bounds__(256) gemv_mma_##S##_t##NT(T* y, const T* x, const T* w, int n,       \
                                                                         int k) {                                      \
        gemv_mma<T, NT>(y, x, w, n, k);                                                                                \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GEMV_MMA(bf16, __nv_bfloat16, 5)
INSTANTIATE_GEMV_MMA(bf16, __nv_bfloat16, 6)
INSTANTIATE_GEMV_MMA(bf16, __nv_bfloat16, 7)
INSTANTIATE_GEMV_MMA(bf16, __nv_bfloat16, 8)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GEMV_MMA(f16, __half, 5)
INSTANTIATE_GEMV_MMA(f16, __half, 6)
INSTANTIATE_GEMV_MMA(f16, __half, 7)
INSTANTIATE_GEMV_MMA(f16, __half, 8)
#endif

// GEMV_MIN_BLOCKS and GEMV_GATED_MIN_BLOCKS (overrides for measuring, unset by default): blocks an SM
// the one-token gemv and gemv_swiglu/gemv_geglu kernels must fit. The compiler takes 56 and 60
// registers, 4 blocks of 256 threads; with 5 the gated kernels fit 48 without spilling and gemv spills
// 16 bytes (6 spills about 200 in both). More warps, more loads in flight: for the H200's faster memory.
#ifdef GEMV_MIN_BLOCKS
#define GEMV_MIN_BLOCKS_ARGUMENT_T1 , GEMV_MIN_BLOCKS
#else
#define GEMV_MIN_BLOCKS_ARGUMENT_T1
#endif
#ifdef GEMV_GATED_MIN_BLOCKS
#define GEMV_GATED_MIN_BLOCKS_ARGUMENT_T1 , GEMV_GATED_MIN_BLOCKS
#else
#define GEMV_GATED_MIN_BLOCKS_ARGUMENT_T1
#endif
#define GEMV_MIN_BLOCKS_ARGUMENT_T2
#define GEMV_MIN_BLOCKS_ARGUMENT_T3
#define GEMV_MIN_BLOCKS_ARGUMENT_T4
#define GEMV_GATED_MIN_BLOCKS_ARGUMENT_T2
#define GEMV_GATED_MIN_BLOCKS_ARGUMENT_T3
#define GEMV_GATED_MIN_BLOCKS_ARGUMENT_T4
#define INSTANTIATE_GEMV(S, T, NT)                                                                                     \
    extern "C" __global__ void __launch_bounds__(256 GEMV_MIN_BLOCKS_ARGUMENT_T##NT)                                   \
        gemv_##S##_t##NT(T* y, const T* x, const T* w, int n, int k) {                                                 \
        gemv<T, NT>(y, x, w, n, k);                                                                                    \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256 GEMV_GATED_MIN_BLOCKS_ARGUMENT_T##NT)                             \
        gemv_swiglu_##S##_t##NT(T* y, const T* x, const T* w, int n, int k) {                                          \
        gemv_gated<T, NT, SiLU>(y, x, w, n, k);                                                                        \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256 GEMV_GATED_MIN_BLOCKS_ARGUMENT_T##NT)                             \
        gemv_geglu_##S##_t##NT(T* y, const T* x, const T* w, int n, int k) {                                           \
        gemv_gated<T, NT, GELUTanh>(y, x, w, n, k);                                                                    \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GEMV(bf16, __nv_bfloat16, 1)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GEMV(bf16, __nv_bfloat16, 2)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GEMV(bf16, __nv_bfloat16, 3)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GEMV(bf16, __nv_bfloat16, 4)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GEMV(f16, __half, 1)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GEMV(f16, __half, 2)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GEMV(f16, __half, 3)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GEMV(f16, __half, 4)
#endif
