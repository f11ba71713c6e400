// Rotary position embedding of q and k, optionally writing the rotated keys and the values to the
// paged cache in the same pass.

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// One rotated pair, x1 at d and x2 at half + d, each product rounded as PyTorch rounds it.
template <typename T> __device__ __forceinline__ void rotate_pair(float x1, float x2, float c, float s, T& a, T& b) {
    a = from_f<T>(rnd<T>(x1 * c) + rnd<T>(-x2 * s));
    b = from_f<T>(rnd<T>(x2 * c) + rnd<T>(x1 * s));
}

// 16 bytes of activations into the cache at p: one store, or kv_store's codes one by one.
template <typename T, typename C> __device__ __forceinline__ void store_chunk(C* p, const uint4& v, float inverse) {
    if constexpr (sizeof(C) == sizeof(T)) {
        *(uint4*)p = v;
    } else {
        const T* e = (const T*)&v;
#pragma unroll
        for (int i = 0; i < 16 / (int)sizeof(T); ++i) kv_store(p + i, e[i], inverse);
    }
}

#ifndef ROTARY_VECTORS  // an experiment, off by default (bench/gpu/NOTES.md, stop 33)
#ifndef ROTARY_VECTORS  // a kernel-source override may define it 1 (until a GPU has checked it)
#define ROTARY_VECTORS 0
#endif
#endif

// ROTARY_VECTORS: 16 bytes a load and a store (2-byte accesses ran at about 1 TB/s in prefill steps on
// the H200, 2.2% of the 8B throughput run). The same arithmetic element by element as the loop below.
// Returns false where the widths do not split into 16-byte chunks (the caller then takes the loop).
template <typename T, typename C>
__device__ __forceinline__ bool rotary_write_kv_chunks(T* row, const T* table, long long at, int slot, C* keys, C* values,
                                                       int width, int num_heads, int kv_heads, int head_dim,
                                                       int block_size, int rotary_dim, float key_inverse,
                                                       float value_inverse, int first, int stride) {
    constexpr int PER = 16 / (int)sizeof(T);
    const int half = rotary_dim / 2, heads = num_heads + kv_heads, chunks = half / PER;
    if (half % PER != 0 || width % PER != 0 || head_dim % PER != 0) return false;
    for (int i = first; i < heads * chunks; i += stride) {
        const int h = i / chunks, d = (i % chunks) * PER;
        T* x = row + h * head_dim;
        uint4 lo = *(const uint4*)(x + d), hi = *(const uint4*)(x + half + d);
        const uint4 cv = *(const uint4*)(table + d), sv = *(const uint4*)(table + half + d);
        T *l = (T*)&lo, *u = (T*)&hi;
        const T *c = (const T*)&cv, *s = (const T*)&sv;
#pragma unroll
        for (int e = 0; e < PER; ++e) rotate_pair(to_f(l[e]), to_f(u[e]), to_f(c[e]), to_f(s[e]), l[e], u[e]);
        *(uint4*)(x + d) = lo;
        *(uint4*)(x + half + d) = hi;
        if (slot >= 0 && h >= num_heads) {
            C* k = keys + at + (long long)(h - num_heads) * block_size * head_dim;
            store_chunk<T>(k + d, lo, key_inverse);
            store_chunk<T>(k + half + d, hi, key_inverse);
        }
    }
    if (slot < 0) return true;
    const int per_head = head_dim / PER;
    for (int i = first; i < kv_heads * per_head; i += stride) {
        const int g = i / per_head, d = (i % per_head) * PER;
        const long long to = at + (long long)g * block_size * head_dim + d;
        store_chunk<T>(values + to, *(const uint4*)(row + (heads + g) * head_dim + d), value_inverse);
        if (d >= rotary_dim) store_chunk<T>(keys + to, *(const uint4*)(row + (num_heads + g) * head_dim + d), key_inverse);
    }
    return true;
}

// Rotary embedding (rotate-half convention) of each token's q and k heads, in place; with `slots`,
// the rotated keys and the values also go to the token's cache slot (layout of write_kv_cache), so
// that a step rotates and fills the cache in one pass. Only the first `rotary_dim` values of each
// head turn (partial rotary, Phi-3/Phi-4-mini; rotary_dim == head_dim otherwise). `rope` rows hold
// rotary_dim/2 cosines then rotary_dim/2 sines, already in the activation dtype (transformers casts
// cos and sin to it), and each product is rounded as PyTorch rounds it. A cache of e4m3 codes (C =
// unsigned char) stores them as write_kv_cache does, with the inverses of the layer's scales.
// Grid (tokens, parts): a token's items are spread over gridDim.y blocks so that a decode step's
// one token is not one block walking 20 dependent rounds of loads (12 us a layer on the 8B shape).
// With q_norm/k_norm weights (Qwen3, Gemma 3): each q and k head first takes the per-head RMSNorm
// head_rms_norm takes (warp_head_rms_norm), so the two kernels' work is one launch. A warp a head: it
// normalizes the head in place, then rotates it, and a key head's warp also stores its whole row in
// the cache (the block-wide value loop then leaves the keys alone). Same bits as the two kernels apart
// (kernel-check on a GPU; simt_host_check.py).
template <typename T, typename C>
__device__ void rotary_norm_heads(T* row, const T* table, long long at, int slot, C* keys, const T* qw, const T* kw,
                                  float eps, int num_heads, int kv_heads, int head_dim, int block_size, int rotary_dim,
                                  float key_inverse) {
    const int half = rotary_dim / 2, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    for (int h = blockIdx.y * warps + (threadIdx.x >> 5); h < num_heads + kv_heads; h += gridDim.y * warps) {
        T* x = row + h * head_dim;
        warp_head_rms_norm(x, h < num_heads ? qw : kw, head_dim, eps);
        __syncwarp();  // the rotation reads values other lanes normed
        C* k = h >= num_heads && slot >= 0 ? keys + at + (long long)(h - num_heads) * block_size * head_dim : nullptr;
        for (int d = lane; d < half; d += 32) {
            T a, b;
            rotate_pair(to_f(x[d]), to_f(x[half + d]), to_f(table[d]), to_f(table[half + d]), a, b);
            x[d] = a;
            x[half + d] = b;
            if (k) { kv_store(k + d, a, key_inverse); kv_store(k + half + d, b, key_inverse); }
        }
        if (k)
            for (int d = rotary_dim + lane; d < head_dim; d += 32) kv_store(k + d, x[d], key_inverse);
    }
}

template <typename T, typename C, bool NORMED>
__device__ void rotary_write_kv(T* qkv, const T* rope, const int* positions, const int* slots, C* keys, C* values,
                                int width, int num_heads, int kv_heads, int head_dim, int block_size, int rotary_dim,
                                float key_inverse, float value_inverse, const T* q_norm, const T* k_norm, float eps) {
    const int half = rotary_dim / 2, heads = num_heads + kv_heads;
    T* row = qkv + (long long)blockIdx.x * width;
    const T* table = rope + (long long)positions[blockIdx.x] * rotary_dim;
    const int slot = slots ? slots[blockIdx.x] : -1;
    // Where this token's head 0 lives in a layer's cache; head g is g * block_size rows further.
    const long long at = slot < 0 ? 0 : ((long long)(slot / block_size) * kv_heads * block_size + slot % block_size) * head_dim;
    const int first = blockIdx.y * blockDim.x + threadIdx.x, stride = gridDim.y * blockDim.x;
    if constexpr (NORMED) {
        rotary_norm_heads(row, table, at, slot, keys, q_norm, k_norm, eps, num_heads, kv_heads, head_dim, block_size,
                          rotary_dim, key_inverse);
    } else {
        if (ROTARY_VECTORS && rotary_write_kv_chunks(row, table, at, slot, keys, values, width, num_heads, kv_heads,
                                                     head_dim, block_size, rotary_dim, key_inverse, value_inverse, first,
                                                     stride))
            return;
        for (int i = first; i < heads * half; i += stride) {
            const int h = i / half, d = i % half;
            T* x = row + h * head_dim;
            const float c = to_f(table[d]), s = to_f(table[half + d]);
            T a, b;
            rotate_pair(to_f(x[d]), to_f(x[half + d]), c, s, a, b);
            x[d] = a;
            x[half + d] = b;
            if (slot >= 0 && h >= num_heads) {
                C* k = keys + at + (long long)(h - num_heads) * block_size * head_dim;
                kv_store(k + d, a, key_inverse);
                kv_store(k + half + d, b, key_inverse);
            }
        }
    }
    if (slot < 0) return;
    // The values, and the keys' values past the rotary part (which the loop above never touches).
    for (int i = first; i < kv_heads * head_dim; i += stride) {
        const int g = i / head_dim, d = i % head_dim;
        const long long to = at + (long long)g * block_size * head_dim + d;
        kv_store(values + to, row[heads * head_dim + i], value_inverse);
        if (!NORMED && d >= rotary_dim) kv_store(keys + to, row[num_heads * head_dim + i], key_inverse);
    }
}

#define INSTANTIATE_ROTARY(S, T)                                                                                       \
    extern "C" __global__ void rotary_write_kv_##S(T* qkv, const T* rope, const int* positions, const int* slots,      \
                                                   T* keys, T* values, int width, int num_heads, int kv_heads,         \
                                                   int head_dim, int block_size, int rotary_dim) { PDL_ENTER();        \
        rotary_write_kv<T, T, false>(qkv, rope, positions, slots, keys, values, width, num_heads, kv_heads, head_dim,   \
                                     block_size, rotary_dim, 1.f, 1.f, nullptr, nullptr, 0.f);                         \
    }                                                                                                                  \
    extern "C" __global__ void rotary_norm_write_kv_##S(T* qkv, const T* rope, const int* positions, const int* slots, \
                                                        T* keys, T* values, int width, int num_heads, int kv_heads,    \
                                                        int head_dim, int block_size, int rotary_dim, const T* q_norm, \
                                                        const T* k_norm, float eps) { PDL_ENTER();                     \
        rotary_write_kv<T, T, true>(qkv, rope, positions, slots, keys, values, width, num_heads, kv_heads, head_dim,    \
                                    block_size, rotary_dim, 1.f, 1.f, q_norm, k_norm, eps);                            \
    }
#define INSTANTIATE_ROTARY_FP8(S, T)                                                                                   \
    extern "C" __global__ void rotary_write_kv_fp8_##S(T* qkv, const T* rope, const int* positions, const int* slots,  \
                                                       unsigned char* keys, unsigned char* values, int width,          \
                                                       int num_heads, int kv_heads, int head_dim, int block_size,      \
                                                       int rotary_dim, float key_inverse, float value_inverse) {       \
        PDL_ENTER();                                                                                                   \
        rotary_write_kv<T, unsigned char, false>(qkv, rope, positions, slots, keys, values, width, num_heads,          \
                                                 kv_heads, head_dim, block_size, rotary_dim, key_inverse,              \
                                                 value_inverse, nullptr, nullptr, 0.f);                                \
    }                                                                                                                  \
    extern "C" __global__ void rotary_norm_write_kv_fp8_##S(T* qkv, const T* rope, const int* positions,               \
                                                            const int* slots, unsigned char* keys,                     \
                                                            unsigned char* values, int width, int num_heads,           \
                                                            int kv_heads, int head_dim, int block_size,                \
                                                            int rotary_dim, const T* q_norm, const T* k_norm,          \
                                                            float eps, float key_inverse, float value_inverse) {       \
        PDL_ENTER();                                                                                                   \
        rotary_write_kv<T, unsigned char, true>(qkv, rope, positions, slots, keys, values, width, num_heads, kv_heads, \
                                                head_dim, block_size, rotary_dim, key_inverse, value_inverse, q_norm,  \
                                                k_norm, eps);                                                          \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_ROTARY(f32, float)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_ROTARY_FP8(f32, float)
#endif
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_ROTARY(bf16, __nv_bfloat16)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_ROTARY_FP8(bf16, __nv_bfloat16)
#endif
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_ROTARY(f16, __half)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_ROTARY_FP8(f16, __half)
#endif
#endif
