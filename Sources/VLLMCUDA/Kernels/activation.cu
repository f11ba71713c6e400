// The MLP's activations: SiLU or GELU (tanh) of the gate times the up projection, for prefill-sized
// rows, and the erf GELU of an encoder's MLP (BERT).

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// out = act(x[:, :n]) * x[:, n:] (Act: SiLU or GELUTanh, common.cuh), rounding the activation's
// result first as PyTorch does. Rows whose width is a multiple of 16 bytes (every model's
// intermediate size) go 16 bytes a load: large prefill steps read and write hundreds of megabytes here.
template <typename T, typename Act> __device__ void act_and_mul(T* out, const T* x, long long rows, int n) {
    constexpr int E = 16 / sizeof(T);
    const Act act;
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
            for (int e = 0; e < E; ++e) op[e] = from_f<T>(rnd<T>(act(to_f(gp[e]))) * to_f(up[e]));
            *(uint4*)(out + r * n + c) = ov;
        }
        return;
    }
    const long long total = rows * n;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const long long r = i / n, c = i % n;
        out[i] = from_f<T>(rnd<T>(act(to_f(x[r * 2 * n + c]))) * to_f(x[r * 2 * n + n + c]));
    }
}

// act_and_mul for the input of 8-bit-activation products (decode steps of GGUF models): one
// element a thread, the same arithmetic as above, n a multiple of 32 so that each warp's 32
// consecutive outputs are also quantized as quantize_ggml_int8 would quantize them
// (quantize_int8_block): the down product then needs no quantization launch.
template <typename T, typename Act>
__device__ void act_and_mul_int8(T* out, const T* x, long long rows, int n, signed char* xq, float2* xs) {
    const Act act;
    const long long total = rows * n;
    // Warp-uniform: a warp's indices are 32 consecutive ones from a multiple of 32, and so is total.
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const long long r = i / n, c = i % n, first = i & ~31LL;
        const T value = from_f<T>(rnd<T>(act(to_f(x[r * 2 * n + c]))) * to_f(x[r * 2 * n + n + c]));
        out[i] = value;
        quantize_int8_block(to_f(value), xq + first, xs + first / 16, (int)(i & 31));
    }
}

// out = x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), elementwise (BERT's "gelu").
template <typename T> __device__ void gelu(T* out, const T* x, long long count) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x) {
        const float v = to_f(x[i]);
        out[i] = from_f<T>(0.5f * v * (1.f + erff(v * 0.7071067811865476f)));
    }
}

#define INSTANTIATE_ACTIVATION(S, T)                                                                                   \
    extern "C" __global__ void silu_and_mul_##S(T* out, const T* x, long long rows, int n) { PDL_ENTER();                          \
        act_and_mul<T, SiLU>(out, x, rows, n);                                                                         \
    }                                                                                                                  \
    extern "C" __global__ void silu_and_mul_int8_##S(T* out, const T* x, long long rows, int n, signed char* xq,      \
                                                     float2* xs) { PDL_ENTER();                                       \
        act_and_mul_int8<T, SiLU>(out, x, rows, n, xq, xs);                                                            \
    }                                                                                                                  \
    extern "C" __global__ void gelu_tanh_and_mul_##S(T* out, const T* x, long long rows, int n) { PDL_ENTER();         \
        act_and_mul<T, GELUTanh>(out, x, rows, n);                                                                     \
    }                                                                                                                  \
    extern "C" __global__ void gelu_##S(T* out, const T* x, long long count) { PDL_ENTER(); gelu<T>(out, x, count); }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_ACTIVATION(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_ACTIVATION(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_ACTIVATION(f16, __half)
#endif
