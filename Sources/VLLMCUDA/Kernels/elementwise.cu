// Element-wise passes: a bias added to rows, conversion between the activation dtype and float,
// Gemma's in-place soft-capping (final logits) and scaling (embeddings), and a copy into a column
// range (hidden states put side by side for EAGLE-3).

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

template <typename T> __device__ void add_bias(T* y, const T* bias, long long rows, int n) {
    const long long total = rows * n;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x)
        y[i] = from_f<T>(to_f(y[i]) + to_f(bias[i % n]));
}

template <typename T> __device__ void to_float(float* out, const T* x, long long count) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x)
        out[i] = to_f(x[i]);
}

template <typename T> __device__ void from_float(T* out, const float* x, long long count) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x)
        out[i] = from_f<T>(x[i]);
}

// In place x = cap * tanh(x / cap), each step rounded to the activation dtype as transformers'
// Gemma 2 computes its final logits (divide, tanh, multiply).
template <typename T> __device__ void soft_cap(T* x, long long count, float cap) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x)
        x[i] = from_f<T>(rnd<T>(tanhf(rnd<T>(to_f(x[i]) / cap))) * cap);
}

// In place x *= factor, the factor rounded to the activation dtype first: Gemma multiplies its
// embeddings by sqrt(hidden_size) made a tensor of the activations' dtype.
template <typename T> __device__ void scale_values(T* x, long long count, float factor) {
    const float f = rnd<T>(factor);
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x)
        x[i] = from_f<T>(to_f(x[i]) * f);
}

// x ([rows, columns]) into columns offset ..< offset + columns of out ([rows, out_columns]).
template <typename T>
__device__ void copy_columns(T* out, const T* x, long long rows, int columns, int out_columns, int offset) {
    const long long total = rows * columns;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x)
        out[(i / columns) * out_columns + offset + i % columns] = x[i];
}

#define INSTANTIATE_ELEMENTWISE(S, T)                                                                                  \
    extern "C" __global__ void add_bias_##S(T* y, const T* bias, long long rows, int n) { PDL_ENTER(); add_bias<T>(y, bias, rows, n); } \
    extern "C" __global__ void to_float_##S(float* out, const T* x, long long count) { PDL_ENTER(); to_float<T>(out, x, count); }  \
    extern "C" __global__ void from_float_##S(T* out, const float* x, long long count) { PDL_ENTER(); from_float<T>(out, x, count); } \
    extern "C" __global__ void soft_cap_##S(T* x, long long count, float cap) { PDL_ENTER(); soft_cap<T>(x, count, cap); } \
    extern "C" __global__ void scale_##S(T* x, long long count, float factor) { PDL_ENTER(); scale_values<T>(x, count, factor); } \
    extern "C" __global__ void copy_columns_##S(T* out, const T* x, long long rows, int columns, int out_columns, int offset) { \
        PDL_ENTER(); copy_columns<T>(out, x, rows, columns, out_columns, offset); }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_ELEMENTWISE(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_ELEMENTWISE(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_ELEMENTWISE(f16, __half)
#endif
