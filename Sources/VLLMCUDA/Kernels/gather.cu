// Rows copied by index: the embedding lookup (with async scheduling's placeholders for tokens not
// yet sampled), an encoder's embedding (word + token type + position rows), and the selection of
// rows (the last token of each sequence before the LM head).

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// out[t, :] = table[ids[t], :]; one block per token.
// A negative id is a placeholder for a token the step launched before sampled (async scheduling):
// -(r + 1) stands for row r of `sampled`, which that step's sampling filled on the device.
template <typename T> __device__ void embedding(T* out, const T* table, const int* ids, const int* sampled, int hidden) {
    int id = ids[blockIdx.x];
    if (id < 0) id = sampled[-id - 1];
    const T* row = table + (long long)id * hidden;
    T* o = out + (long long)blockIdx.x * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = row[i];
}

template <typename T> __device__ void gather_rows(T* out, const T* x, const int* indices, int n) {
    const T* row = x + (long long)indices[blockIdx.x] * n;
    T* o = out + (long long)blockIdx.x * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) o[i] = row[i];
}

// An encoder's (BERT's) embedding: out[t, :] = (words[ids[t]] + type_row) + position_table[positions[t]],
// in transformers' order, each sum rounded to the activation dtype; one block per token.
template <typename T>
__device__ void encoder_embedding(T* out, const T* words, const T* position_table, const T* type_row, const int* ids,
                                  const int* positions, int hidden) {
    const T* word = words + (long long)ids[blockIdx.x] * hidden;
    const T* place = position_table + (long long)positions[blockIdx.x] * hidden;
    T* o = out + (long long)blockIdx.x * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x)
        o[i] = from_f<T>(rnd<T>(to_f(word[i]) + to_f(type_row[i])) + to_f(place[i]));
}

#define INSTANTIATE_GATHER(S, T)                                                                                       \
    extern "C" __global__ void embedding_##S(T* out, const T* table, const int* ids, const int* sampled, int hidden) { PDL_ENTER(); \
        embedding<T>(out, table, ids, sampled, hidden);                                                                \
    }                                                                                                                  \
    extern "C" __global__ void gather_rows_##S(T* out, const T* x, const int* indices, int n) { PDL_ENTER();                       \
        gather_rows<T>(out, x, indices, n);                                                                            \
    }                                                                                                                  \
    extern "C" __global__ void encoder_embedding_##S(T* out, const T* words, const T* position_table,                  \
                                                     const T* type_row, const int* ids, const int* positions,          \
                                                     int hidden) { PDL_ENTER();                                        \
        encoder_embedding<T>(out, words, position_table, type_row, ids, positions, hidden);                            \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_GATHER(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GATHER(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GATHER(f16, __half)
#endif
