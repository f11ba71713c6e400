// Linear layers with quantized weights (WeightFormat.packedInt and .fp8): matrix-vector products
// that dequantize in registers for decode steps (1 to 4 tokens), and a dequantization into a
// 16-bit scratch matrix that cuBLASLt multiplies for larger batches.
//
// packedInt: row n holds k values of BITS bits, packed low bits first in 32-bit words, with one
// float32 scale and zero point per row and group of `group` inputs: w = (q - zero) * scale.
// fp8: row n holds k e4m3 codes, with one float32 scale per row and block of `block` inputs.

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// An e4m3 code as a float: its sign, exponent and mantissa bits placed in a half (bias 15
// instead of 7) give the value times 2^-8, subnormals included; callers fold the 2^8 into the
// scale. Exact for every finite code.
__device__ __forceinline__ float fp8_times_2m8(unsigned int code) {
    return __half2float(__ushort_as_half((unsigned short)(((code & 0x80u) << 8) | ((code & 0x7Fu) << 7))));
}

__device__ __forceinline__ uint4 load_weights_streaming(const void* p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

// Dots of the 16-byte chunk `wv` (VPC = 128 / BITS values starting at input c) with NT token rows
// of x: acc[t] += scale * (Σ q·x - zero · Σ x), so the zero point costs one multiply per chunk.
// A chunk lies inside one group (callers ensure group % VPC == 0).
template <typename T, int NT, int BITS>
__device__ __forceinline__ void int_chunk(float* acc, const uint4& wv, const T* x, int k, int c, float scale, float zero) {
    constexpr int PER_WORD = 32 / BITS;
    constexpr unsigned int MASK = (1u << BITS) - 1u;
    const unsigned int words[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const T* xr = x + (long long)t * k + c;
        float dot = 0.f, sum = 0.f;
#pragma unroll
        for (int w = 0; w < 4; ++w) {
#pragma unroll
            for (int e = 0; e < PER_WORD; ++e) {
                const float xv = to_f(xr[w * PER_WORD + e]);
                dot += (float)((words[w] >> (e * BITS)) & MASK) * xv;
                sum += xv;
            }
        }
        acc[t] += scale * (dot - zero * sum);
    }
}

// y[t, :n] = x[t, :] · Wᵀ (rows of y ldy apart, so that the parts of a fused weight fill their
// columns) for packed BITS-bit rows: one warp per output row, each lane reading
// 16-byte chunks (VPC inputs) DEPTH at a time before using them. k % VPC == 0.
#define QGEMV_DEPTH 4
template <typename T, int NT, int BITS>
__device__ void gemv_int(T* y, const T* x, const unsigned int* packed, const float* scales, const float* zeros, int n,
                         int k, int group, int ldy) {
    constexpr int VPC = 128 / BITS;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[t] = 0.f;
    if (row >= n) { PDL_ENTER(); return; }
    const unsigned int* wr = packed + (long long)row * (k / (32 / BITS));
    const int groups = k / group;
    const float* sr = scales + (long long)row * groups;
    const float* zr = zeros + (long long)row * groups;
    PDL_ENTER();
    for (int c0 = lane * VPC; c0 < k; c0 += 32 * VPC * QGEMV_DEPTH) {
        uint4 wv[QGEMV_DEPTH];
#pragma unroll
        for (int u = 0; u < QGEMV_DEPTH; ++u) {
            const int c = c0 + u * 32 * VPC;
            if (c < k) wv[u] = load_weights_streaming(wr + c / (32 / BITS));
        }
#pragma unroll
        for (int u = 0; u < QGEMV_DEPTH; ++u) {
            const int c = c0 + u * 32 * VPC;
            if (c < k) int_chunk<T, NT, BITS>(acc, wv[u], x, k, c, sr[c / group], zr[c / group]);
        }
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[t] = warp_sum(acc[t]);
    if (lane != 0) return;
#pragma unroll
    for (int t = 0; t < NT; ++t) y[(long long)t * ldy + row] = from_f<T>(acc[t]);
}

// The same for e4m3 rows: 16 codes a chunk, one scale per block of `block` inputs (block % 16 == 0).
template <typename T, int NT>
__device__ void gemv_fp8(T* y, const T* x, const unsigned char* codes, const float* scales, int n, int k, int block,
                         int ldy) {
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[t] = 0.f;
    if (row >= n) { PDL_ENTER(); return; }
    const unsigned char* wr = codes + (long long)row * k;
    const float* sr = scales + (long long)row * ((k + block - 1) / block);
    PDL_ENTER();
    for (int c0 = lane * 16; c0 < k; c0 += 32 * 16 * QGEMV_DEPTH) {
        uint4 wv[QGEMV_DEPTH];
#pragma unroll
        for (int u = 0; u < QGEMV_DEPTH; ++u) {
            const int c = c0 + u * 32 * 16;
            if (c < k) wv[u] = load_weights_streaming(wr + c);
        }
#pragma unroll
        for (int u = 0; u < QGEMV_DEPTH; ++u) {
            const int c = c0 + u * 32 * 16;
            if (c >= k) continue;
            const unsigned int words[4] = {wv[u].x, wv[u].y, wv[u].z, wv[u].w};
            const float scale = sr[c / block] * 256.f;
#pragma unroll
            for (int t = 0; t < NT; ++t) {
                const T* xr = x + (long long)t * k + c;
                float dot = 0.f;
#pragma unroll
                for (int e = 0; e < 16; ++e) dot += fp8_times_2m8((words[e >> 2] >> ((e & 3) * 8)) & 0xFFu) * to_f(xr[e]);
                acc[t] += scale * dot;
            }
        }
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[t] = warp_sum(acc[t]);
    if (lane != 0) return;
#pragma unroll
    for (int t = 0; t < NT; ++t) y[(long long)t * ldy + row] = from_f<T>(acc[t]);
}

// w[n, k] in the activation dtype from packed rows, one 32-bit word a thread. With `order`
// (act-order), stored column j is input order[j], so the matrix comes out in input order and
// the activations need no gathering.
template <typename T>
__device__ void dequantize_int(T* w, const unsigned int* packed, const float* scales, const float* zeros, const int* order,
                               int n, int k, int group, int bits) {
    PDL_ENTER();
    const int per_word = 32 / bits, words_per_row = k / per_word, groups = k / group;
    const unsigned int mask = (1u << bits) - 1u;
    const long long total = (long long)n * words_per_row;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const int row = (int)(i / words_per_row), first = (int)(i % words_per_row) * per_word;
        const unsigned int word = packed[i];
        for (int e = 0; e < per_word; ++e) {
            const int j = first + e, g = j / group;
            const float v = ((float)((word >> (e * bits)) & mask) - zeros[(long long)row * groups + g]) *
                            scales[(long long)row * groups + g];
            w[(long long)row * k + (order ? order[j] : j)] = from_f<T>(v);
        }
    }
}

template <typename T>
__device__ void dequantize_fp8(T* w, const unsigned char* codes, const float* scales, int n, int k, int block) {
    PDL_ENTER();
    const int blocks = (k + block - 1) / block;
    const long long total = (long long)n * k;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const int row = (int)(i / k), j = (int)(i % k);
        w[i] = from_f<T>(fp8_times_2m8(codes[i]) * 256.f * scales[(long long)row * blocks + j / block]);
    }
}

// y[t, j] = x[t, order[j]]: activations in the stored column order of an act-order weight.
template <typename T>
__device__ void permute_columns(T* y, const T* x, const int* order, int rows, int k) {
    PDL_ENTER();
    const long long total = (long long)rows * k;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const long long t = i / k;
        y[i] = x[t * k + order[i % k]];
    }
}

// FP8 products of many tokens on the tensor cores (W8A8): each token row of x is quantized to
// e4m3 with its own scale, max|x[t, :]| / 448 (1 for a zero row), rounded to nearest and
// saturating; cuBLASLt multiplies the codes and the scales are applied to the product.
template <typename T>
__device__ void quantize_rows_fp8(unsigned char* q, float* scales, const T* x, int k) {
    __shared__ float part[32];
    PDL_ENTER();
    const T* xr = x + (long long)blockIdx.x * k;
    float m = 0.f;
    for (int j = threadIdx.x; j < k; j += blockDim.x) m = fmaxf(m, fabsf(to_f(xr[j])));
    m = warp_max(m);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) part[warp] = m;
    __syncthreads();
    if (warp == 0) {
        float v = lane < warps ? part[lane] : 0.f;
        v = warp_max(v);
        if (lane == 0) part[0] = v;
    }
    __syncthreads();
    const float scale = part[0] > 0.f ? part[0] / 448.f : 1.f;
    if (threadIdx.x == 0) scales[blockIdx.x] = scale;
    unsigned short* qr = (unsigned short*)(q + (long long)blockIdx.x * k);
    for (int j = threadIdx.x; j < k / 2; j += blockDim.x) {
        unsigned short r = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
        // The first operand lands in the upper byte: element 2j+1, as memory orders the pair.
        asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(to_f(xr[2 * j + 1]) / scale), "f"(to_f(xr[2 * j]) / scale));
#endif
        qr[j] = r;
    }
}

// y[t, n] = y[t, n] · row_scales[t] · column_scales[n] (+ bias[n]): the scales of a product of
// codes, where cuBLASLt cannot apply them itself.
template <typename T>
__device__ void scale_product(T* y, const float* row_scales, const float* column_scales, const T* bias, int rows, int n) {
    PDL_ENTER();
    const long long total = (long long)rows * n;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const int c = (int)(i % n);
        const float v = to_f(y[i]) * row_scales[i / n] * column_scales[c];
        y[i] = from_f<T>(bias ? v + to_f(bias[c]) : v);
    }
}

#define INSTANTIATE_QGEMV_INT(S, T, BITS, NT)                                                                       \
    extern "C" __global__ void __launch_bounds__(256)                                                              \
        gemv_int_##S##_b##BITS##_t##NT(T* y, const T* x, const unsigned int* packed, const float* scales,          \
                                       const float* zeros, int n, int k, int group, int ldy) {                     \
        gemv_int<T, NT, BITS>(y, x, packed, scales, zeros, n, k, group, ldy);                                      \
    }
#define INSTANTIATE_QGEMV_FP8(S, T, NT)                                                                            \
    extern "C" __global__ void __launch_bounds__(256)                                                              \
        gemv_fp8_##S##_t##NT(T* y, const T* x, const unsigned char* codes, const float* scales, int n, int k,       \
                             int block, int ldy) {                                                                 \
        gemv_fp8<T, NT>(y, x, codes, scales, n, k, block, ldy);                                                    \
    }
#define INSTANTIATE_DEQUANTIZE(S, T)                                                                               \
    extern "C" __global__ void dequantize_int_##S(T* w, const unsigned int* packed, const float* scales,           \
                                                  const float* zeros, const int* order, int n, int k, int group,   \
                                                  int bits) {                                                      \
        dequantize_int<T>(w, packed, scales, zeros, order, n, k, group, bits);                                     \
    }                                                                                                              \
    extern "C" __global__ void dequantize_fp8_##S(T* w, const unsigned char* codes, const float* scales, int n,    \
                                                  int k, int block) {                                              \
        dequantize_fp8<T>(w, codes, scales, n, k, block);                                                          \
    }                                                                                                              \
    extern "C" __global__ void permute_columns_##S(T* y, const T* x, const int* order, int rows, int k) {          \
        permute_columns<T>(y, x, order, rows, k);                                                                  \
    }                                                                                                              \
    extern "C" __global__ void quantize_rows_fp8_##S(unsigned char* q, float* scales, const T* x, int k) {         \
        quantize_rows_fp8<T>(q, scales, x, k);                                                                     \
    }                                                                                                              \
    extern "C" __global__ void scale_product_##S(T* y, const float* row_scales, const float* column_scales,       \
                                                 const T* bias, int rows, int n) {                                 \
        scale_product<T>(y, row_scales, column_scales, bias, rows, n);                                             \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 4, 1)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 4, 2)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 4, 3)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 4, 4)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 8, 1)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 8, 2)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 8, 3)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 8, 4)
INSTANTIATE_QGEMV_FP8(bf16, __nv_bfloat16, 1)
INSTANTIATE_QGEMV_FP8(bf16, __nv_bfloat16, 2)
INSTANTIATE_QGEMV_FP8(bf16, __nv_bfloat16, 3)
INSTANTIATE_QGEMV_FP8(bf16, __nv_bfloat16, 4)
INSTANTIATE_DEQUANTIZE(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_QGEMV_INT(f16, __half, 4, 1)
INSTANTIATE_QGEMV_INT(f16, __half, 4, 2)
INSTANTIATE_QGEMV_INT(f16, __half, 4, 3)
INSTANTIATE_QGEMV_INT(f16, __half, 4, 4)
INSTANTIATE_QGEMV_INT(f16, __half, 8, 1)
INSTANTIATE_QGEMV_INT(f16, __half, 8, 2)
INSTANTIATE_QGEMV_INT(f16, __half, 8, 3)
INSTANTIATE_QGEMV_INT(f16, __half, 8, 4)
INSTANTIATE_QGEMV_FP8(f16, __half, 1)
INSTANTIATE_QGEMV_FP8(f16, __half, 2)
INSTANTIATE_QGEMV_FP8(f16, __half, 3)
INSTANTIATE_QGEMV_FP8(f16, __half, 4)
INSTANTIATE_DEQUANTIZE(f16, __half)
#endif
#ifdef VLLM_DTYPE_F32
INSTANTIATE_QGEMV_INT(f32, float, 4, 1)
INSTANTIATE_QGEMV_INT(f32, float, 4, 2)
INSTANTIATE_QGEMV_INT(f32, float, 4, 3)
INSTANTIATE_QGEMV_INT(f32, float, 4, 4)
INSTANTIATE_QGEMV_INT(f32, float, 8, 1)
INSTANTIATE_QGEMV_INT(f32, float, 8, 2)
INSTANTIATE_QGEMV_INT(f32, float, 8, 3)
INSTANTIATE_QGEMV_INT(f32, float, 8, 4)
INSTANTIATE_QGEMV_FP8(f32, float, 1)
INSTANTIATE_QGEMV_FP8(f32, float, 2)
INSTANTIATE_QGEMV_FP8(f32, float, 3)
INSTANTIATE_QGEMV_FP8(f32, float, 4)
INSTANTIATE_DEQUANTIZE(f32, float)
#endif
