// Writing keys and values to the paged KV cache (steps whose rotation is done elsewhere).

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// Copies each token's keys and values from its qkv row into its cache slot. The cache of a layer is
// [block, kv head, slot in block, head_dim] of C: the activations themselves (C = T), or e4m3 codes
// of key · key_inverse and value · value_inverse (C = unsigned char; the inverses of the layer's
// scales). A negative slot means "do not store".
template <typename T, typename C>
__device__ void write_kv_cache(const T* qkv, C* keys, C* values, const int* slots, int width, int key_offset,
                               int value_offset, int kv_heads, int head_dim, int block_size, float key_inverse,
                               float value_inverse) {
    const int slot = slots[blockIdx.x];
    if (slot < 0) return;
    const T* row = qkv + (long long)blockIdx.x * width;
    const long long block = slot / block_size, offset = slot % block_size;
    for (int i = threadIdx.x; i < kv_heads * head_dim; i += blockDim.x) {
        const int g = i / head_dim, d = i % head_dim;
        const long long at = ((block * kv_heads + g) * block_size + offset) * head_dim + d;
        kv_store(keys + at, row[key_offset + i], key_inverse);
        kv_store(values + at, row[value_offset + i], value_inverse);
    }
}

#define INSTANTIATE_KV_CACHE(S, T)                                                                                     \
    extern "C" __global__ void write_kv_cache_##S(const T* qkv, T* keys, T* values, const int* slots, int width,       \
                                                  int key_offset, int value_offset, int kv_heads, int head_dim,        \
                                                  int block_size) { PDL_ENTER();                                                    \
        write_kv_cache<T, T>(qkv, keys, values, slots, width, key_offset, value_offset, kv_heads, head_dim, block_size, \
                             1.f, 1.f);                                                                                \
    }
#define INSTANTIATE_KV_CACHE_FP8(S, T)                                                                                 \
    extern "C" __global__ void write_kv_cache_fp8_##S(const T* qkv, unsigned char* keys, unsigned char* values,        \
                                                      const int* slots, int width, int key_offset, int value_offset,   \
                                                      int kv_heads, int head_dim, int block_size, float key_inverse,   \
                                                      float value_inverse) {                                           \
        PDL_ENTER();                                                                                                   \
        write_kv_cache<T, unsigned char>(qkv, keys, values, slots, width, key_offset, value_offset, kv_heads,          \
                                         head_dim, block_size, key_inverse, value_inverse);                            \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_KV_CACHE(f32, float)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_KV_CACHE_FP8(f32, float)
#endif
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_KV_CACHE(bf16, __nv_bfloat16)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_KV_CACHE_FP8(bf16, __nv_bfloat16)
#endif
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_KV_CACHE(f16, __half)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_KV_CACHE_FP8(f16, __half)
#endif
#endif
