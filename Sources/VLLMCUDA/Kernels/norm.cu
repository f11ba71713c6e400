// RMSNorm as transformers computes it: of whole rows, fused with the residual add, and per head
// (Qwen3's q/k norm); and an encoder's LayerNorm (BERT), with its residual add.

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// 1 / RMS of a row of n values whose squares each thread summed into `squares` (block-wide).
__device__ __forceinline__ float block_inverse_rms(float squares, int n, float eps) {
    return 1.f / sqrtf(block_sum(squares) / (float)n + eps);
}

// One row of RMSNorm as transformers computes it: mean of squares in float32, rsqrt, round to the
// activation dtype, times the weight, round again. `x` may alias `out` (each thread rereads only
// what it wrote itself).
template <typename T>
__device__ void rms_norm_row(T* out, const T* x, const T* w, int n, float eps) {
    float squares = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) { const float v = to_f(x[i]); squares += v * v; }
    const float inverse = block_inverse_rms(squares, n, eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        out[i] = from_f<T>(to_f(w[i]) * rnd<T>(to_f(x[i]) * inverse));
}

template <typename T> __device__ void rms_norm(T* out, const T* x, const T* w, int n, float eps) {
    const long long r = blockIdx.x;
    rms_norm_row(out + r * n, x + r * n, w, n, eps);
}

// residual += x (rounded to the activation dtype, like a bf16 add in PyTorch), then RMSNorm of it.
// Rows of up to 8 elements a thread (the backend's launch) stay in registers: one read of each
// input instead of rereading the residual after the sum, which matters for the one-row blocks of
// decode steps, where each read is a full memory round trip.
#define NORM_PER_THREAD 8

// quantize_int8_block's bytes for the eight blocks of 32 a warp holds (lane l's value r[e] is
// element w + l + e·blockDim.x of its block e, w = the warp's first thread; blocks at or past n are
// left out), all eight at once: each round of shuffles carries a value of a different block, so the
// maxima take 9 shuffles (xor 16, 8, 4 halve the blocks a lane keeps, xor 2 and 1 finish) and the
// half-block sums 8, instead of 5 and 4 for each block in turn, and each lane divides for one block
// only (int8_block_scale). At batch 1 the norm is one block, and quantizing block by block made add_rms_norm_int8
// 10.5 us a call against add_rms_norm's 7.7 (H100, 2026-12-06). Same arithmetic, so the same bytes.
__device__ __forceinline__ void quantize_held_blocks(const float (&r)[NORM_PER_THREAD], signed char* xq, float2* xs, int n) {
    static_assert(NORM_PER_THREAD == 8, "three halving rounds over the eight blocks");
    const int lane = threadIdx.x & 31, base = threadIdx.x & ~31;
    const int b4 = (lane >> 4) & 1, b3 = (lane >> 3) & 1, b2 = (lane >> 2) & 1, b1 = (lane >> 1) & 1;
    // The lane that ends the maximum rounds holding block e: bits 4, 3, 2 are e's bits 2, 1, 0.
    auto holder = [](int e) { return ((e >> 2) << 4) | (((e >> 1) & 1) << 3) | ((e & 1) << 2); };
    float m4[4], m2[2];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const float keep = fabsf(b4 ? r[4 + j] : r[j]), give = fabsf(b4 ? r[j] : r[4 + j]);
        m4[j] = fmaxf(keep, __shfl_xor_sync(0xffffffffu, give, 16));
    }
#pragma unroll
    for (int k = 0; k < 2; ++k) {
        const float keep = b3 ? m4[2 + k] : m4[k], give = b3 ? m4[k] : m4[2 + k];
        m2[k] = fmaxf(keep, __shfl_xor_sync(0xffffffffu, give, 8));
    }
    float amax = fmaxf(b2 ? m2[1] : m2[0], __shfl_xor_sync(0xffffffffu, b2 ? m2[0] : m2[1], 4));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
    const float2 scale = int8_block_scale(amax);  // of block 4·b4 + 2·b3 + b2
    int q[NORM_PER_THREAD];
#pragma unroll
    for (int e = 0; e < NORM_PER_THREAD; ++e) {
        q[e] = int8_code(r[e], __shfl_sync(0xffffffffu, scale.y, holder(e)));
        const int first = base + e * blockDim.x;  // warp-uniform; n is a multiple of 32
        if (first < n) xq[first + lane] = (signed char)q[e];
    }
    // Sums over each half block (16 lanes): xor 8, 4, 2 leave lane l block 4·b3 + 2·b2 + b1 of its
    // half (bit 4), xor 1 finishes it.
    int s4[4], s2[2];
#pragma unroll
    for (int j = 0; j < 4; ++j) s4[j] = (b3 ? q[4 + j] : q[j]) + __shfl_xor_sync(0xffffffffu, b3 ? q[j] : q[4 + j], 8);
#pragma unroll
    for (int k = 0; k < 2; ++k) s2[k] = (b2 ? s4[2 + k] : s4[k]) + __shfl_xor_sync(0xffffffffu, b2 ? s4[k] : s4[2 + k], 4);
    int sum = (b1 ? s2[1] : s2[0]) + __shfl_xor_sync(0xffffffffu, b1 ? s2[0] : s2[1], 2);
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    const int block = 4 * b3 + 2 * b2 + b1, first = base + block * blockDim.x;
    const float block_d = __shfl_sync(0xffffffffu, scale.x, holder(block));
    if ((lane & 1) == 0 && first < n) xs[first / 16 + b4] = int8_half_block(block_d, sum);
}

// The row a thread holds (v[e] = element threadIdx.x + e·blockDim.x, zero past n; `squares`: the
// sum of their squares) normed with its weights into o. With xq (add_rms_norm_int8; n a multiple of
// 32), the outputs (as rounded to T) are also quantized in blocks of 32 for the 8-bit-activation
// products (quantize_held_blocks): the next product's quantization launch and its read of the row
// are saved.
template <typename T>
__device__ __forceinline__ void store_held_rms_norm(T* o, const float (&v)[NORM_PER_THREAD], const float (&weight)[NORM_PER_THREAD],
                                                    float squares, int n, float eps, signed char* xq = nullptr, float2* xs = nullptr) {
    const float inverse = block_inverse_rms(squares, n, eps);
#pragma unroll
    for (int e = 0; e < NORM_PER_THREAD; ++e) {
        const int i = threadIdx.x + e * blockDim.x;
        if (i < n) o[i] = from_f<T>(weight[e] * rnd<T>(v[e] * inverse));
    }
    if (xq == nullptr) return;
    // Each output again (eight products) rather than kept from the loop above, which then compiles
    // for add_rms_norm as it did before this path existed.
    float r[NORM_PER_THREAD];
#pragma unroll
    for (int e = 0; e < NORM_PER_THREAD; ++e) r[e] = to_f(from_f<T>(weight[e] * rnd<T>(v[e] * inverse)));
    quantize_held_blocks(r, xq, xs, n);
}
template <typename T>
__device__ void add_rms_norm(T* out, T* residual, const T* x, const T* w, int n, float eps, signed char* xq = nullptr, float2* xs = nullptr) {
    const long long r = blockIdx.x;
    T* res = residual + r * n;
    const T* in = x + r * n;
    // (The backend quantizes here only rows that a thread's 8 elements hold.)
    if (n > NORM_PER_THREAD * (int)blockDim.x) {
        for (int i = threadIdx.x; i < n; i += blockDim.x) res[i] = from_f<T>(to_f(res[i]) + to_f(in[i]));
        rms_norm_row(out + r * n, (const T*)res, w, n, eps);
        return;
    }
    float v[NORM_PER_THREAD], weight[NORM_PER_THREAD], squares = 0.f;
#pragma unroll
    for (int e = 0; e < NORM_PER_THREAD; ++e) {
        const int i = threadIdx.x + e * blockDim.x;
        v[e] = 0.f;
        weight[e] = 0.f;
        if (i < n) {
            v[e] = rnd<T>(to_f(res[i]) + to_f(in[i]));
            weight[e] = to_f(w[i]);
        }
    }
#pragma unroll
    for (int e = 0; e < NORM_PER_THREAD; ++e) {
        const int i = threadIdx.x + e * blockDim.x;
        if (i < n) res[i] = from_f<T>(v[e]);
        squares += v[e] * v[e];
    }
    store_held_rms_norm<T>(out + r * n, v, weight, squares, n, eps, xq == nullptr ? nullptr : xq + r * n,
                           xs == nullptr ? nullptr : xs + r * n / 16);
}

// out = RMSNorm(residual += RMSNorm(x) with w1) with w2: a block's output normed before it joins the
// residual stream, then the next norm (Gemma's post-attention and post-feedforward norms with the
// norm that follows each), in one pass with the row in registers. The same arithmetic in the same
// order as rms_norm then add_rms_norm at the backend's launch (the first norm's output rounded to
// the activation dtype, the sum rounded), so the same bits; why: at decode each of those kernels
// is a launch and a memory round trip of its own, twice a Gemma layer.
template <typename T>
__device__ void norm_add_rms_norm(T* out, T* residual, const T* x, const T* w1, const T* w2, int n, float eps) {
    const long long r = blockIdx.x;
    T* res = residual + r * n;
    const T* in = x + r * n;
    T* o = out + r * n;
    if (n > NORM_PER_THREAD * (int)blockDim.x) {
        // The two kernels' rows one after the other: each thread rereads only the elements it wrote
        // itself, so `out` can hold the first norm as add_rms_norm's input.
        rms_norm_row(o, in, w1, n, eps);
        add_rms_norm<T>(out, residual, out, w2, n, eps);
        return;
    }
    float v[NORM_PER_THREAD], weight[NORM_PER_THREAD], squares = 0.f;
#pragma unroll
    for (int e = 0; e < NORM_PER_THREAD; ++e) {
        const int i = threadIdx.x + e * blockDim.x;
        v[e] = i < n ? to_f(in[i]) : 0.f;
        weight[e] = i < n ? to_f(w2[i]) : 0.f;
        squares += v[e] * v[e];
    }
    const float first = block_inverse_rms(squares, n, eps);
    squares = 0.f;
#pragma unroll
    for (int e = 0; e < NORM_PER_THREAD; ++e) {
        const int i = threadIdx.x + e * blockDim.x;
        if (i < n) {
            // __fmul_rn: in float32 the product must not fuse into the add (rms_norm stores it first).
            v[e] = rnd<T>(to_f(res[i]) + rnd<T>(__fmul_rn(to_f(w1[i]), rnd<T>(v[e] * first))));
            res[i] = from_f<T>(v[e]);
        }
        squares += v[e] * v[e];
    }
    store_held_rms_norm<T>(o, v, weight, squares, n, eps);
}

// Qwen3's per-head RMSNorm of q and k inside the fused qkv rows, in place. Grid (tokens, q heads +
// kv heads), one warp per head.
template <typename T>
__device__ void head_rms_norm(T* qkv, const T* qw, const T* kw, int width, int num_heads, int head_dim, float eps) {
    const int head = blockIdx.y;
    warp_head_rms_norm(qkv + (long long)blockIdx.x * width + (long long)head * head_dim, head < num_heads ? qw : kw,
                       head_dim, eps);
}

// LayerNorm of x + residual (of x alone when residual is null), one block per row, with weight and
// bias: the sum rounded to the activation dtype (a 16-bit add in PyTorch), then mean and biased
// variance in float32 and one rounding of the output, as PyTorch's layer_norm of 16-bit input does.
template <typename T>
__device__ void layer_norm(T* out, const T* x, const T* residual, const T* w, const T* b, int n, float eps) {
    const long long r = blockIdx.x;
    const T* in = x + r * n;
    const T* res = residual ? residual + r * n : nullptr;
    auto value = [&](int i) { return res ? rnd<T>(to_f(in[i]) + to_f(res[i])) : to_f(in[i]); };
    float sum = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) sum += value(i);
    const float mean = block_sum(sum) / (float)n;
    float squares = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) { const float d = value(i) - mean; squares += d * d; }
    const float inverse = 1.f / sqrtf(block_sum(squares) / (float)n + eps);
    T* o = out + r * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) o[i] = from_f<T>((value(i) - mean) * inverse * to_f(w[i]) + to_f(b[i]));
}

// The row kernels are launched with up to 1024 threads (CUDABackend.threadsFor(row:)): at most 64
// registers a thread, or a wide row's launch fails (add_rms_norm held its row in 72 registers, and
// rows of 8192 columns, Llama-3-70B's, could not launch).
#define INSTANTIATE_NORM(S, T)                                                                                         \
    extern "C" __global__ void __launch_bounds__(1024) rms_norm_##S(T* out, const T* x, const T* w, int n, float eps) { PDL_ENTER();                        \
        rms_norm<T>(out, x, w, n, eps);                                                                                \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(1024) add_rms_norm_##S(T* out, T* residual, const T* x, const T* w, int n, float eps) { PDL_ENTER();       \
        add_rms_norm<T>(out, residual, x, w, n, eps);                                                                  \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(1024) add_rms_norm_int8_##S(T* out, T* residual, const T* x, const T* w, int n, float eps, \
                                                                           signed char* xq, float2* xs) { PDL_ENTER(); \
        add_rms_norm<T>(out, residual, x, w, n, eps, xq, xs);                                                          \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(1024) norm_add_rms_norm_##S(T* out, T* residual, const T* x, const T* w1, const T* w2, int n,  \
                                                     float eps) { PDL_ENTER();                                         \
        norm_add_rms_norm<T>(out, residual, x, w1, w2, n, eps);                                                        \
    }                                                                                                                  \
    extern "C" __global__ void head_rms_norm_##S(T* qkv, const T* qw, const T* kw, int width, int num_heads,           \
                                                 int head_dim, float eps) { PDL_ENTER();                                            \
        head_rms_norm<T>(qkv, qw, kw, width, num_heads, head_dim, eps);                                                \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(1024) layer_norm_##S(T* out, const T* x, const T* residual, const T* w, const T* b, int n,    \
                                              float eps) { PDL_ENTER();                                                \
        layer_norm<T>(out, x, residual, w, b, n, eps);                                                                 \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_NORM(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_NORM(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_NORM(f16, __half)
#endif
