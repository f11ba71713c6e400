// The MLP's activation of prefill-sized rows: SiLU of the gate times the up projection.

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// out = silu(x[:, :n]) * x[:, n:], rounding silu's result first as PyTorch does. Rows whose width
// is a multiple of 16 bytes (every model's intermediate size) go 16 bytes a load: large prefill
// steps read and write hundreds of megabytes here.
template <typename T> __device__ void silu_and_mul(T* out, const T* x, long long rows, int n) {
    constexpr int E = 16 / sizeof(T);
    if (n % E == 0) {
        const int chunks = n / E;
        const long long total = rows * chunks;
        for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
            const long long r = i / chunks;
            const int c = (int)(i - r * chunks) * E;
            const uint4 gv = *(const uint4*)(x + r * 2 * n + c), uv = *(const uint4*)(x + r * 2 * n + n + c);
            const T* gp = (const T*)&gv;
            const T* up = (const T*)&uv;
            uint4 ov;
            T* op = (T*)&ov;
#pragma unroll
            for (int e = 0; e < E; ++e) {
                const float gate = to_f(gp[e]);
                op[e] = from_f<T>(rnd<T>(gate / (1.f + expf(-gate))) * to_f(up[e]));
            }
            *(uint4*)(out + r * n + c) = ov;
        }
        return;
    }
    const long long total = rows * n;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const long long r = i / n, c = i % n;
        const float gate = to_f(x[r * 2 * n + c]), up = to_f(x[r * 2 * n + n + c]);
        out[i] = from_f<T>(rnd<T>(gate / (1.f + expf(-gate))) * up);
    }
}

#define INSTANTIATE_ACTIVATION(S, T)                                                                                   \
    extern "C" __global__ void silu_and_mul_##S(T* out, const T* x, long long rows, int n) { PDL_ENTER();                          \
        silu_and_mul<T>(out, x, rows, n);                                                                              \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_ACTIVATION(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_ACTIVATION(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_ACTIVATION(f16, __half)
#endif
