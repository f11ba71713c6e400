// Matrix-vector products of decode steps (1 to 4 tokens, 16-bit activations), plain and with the
// MLP's gated activation fused (SwiGLU for Llama, GeGLU for Gemma).

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

#define INSTANTIATE_GEMV(S, T, NT)                                                                                     \
    extern "C" __global__ void __launch_bounds__(256) gemv_##S##_t##NT(T* y, const T* x, const T* w, int n, int k) {  \
        gemv<T, NT>(y, x, w, n, k);                                                                                    \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) gemv_swiglu_##S##_t##NT(T* y, const T* x, const T* w, int n,    \
                                                                            int k) {                                   \
        gemv_gated<T, NT, SiLU>(y, x, w, n, k);                                                                        \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) gemv_geglu_##S##_t##NT(T* y, const T* x, const T* w, int n,     \
                                                                           int k) {                                    \
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
