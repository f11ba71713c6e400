// Greedy sampling on the device: the index of each row's largest logit, a row split over many blocks.

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// Whether this block is the last of the `count` blocks that share `counter` to get here: each
// block's writes are made visible first, and the last one resets the counter for the next launch
// (so that a buffer of zeros serves every launch, recorded ones included). Saves a merging kernel;
// the merge must read the other blocks' results past L1 (`__ldcg`).
__device__ bool last_to_arrive(int* counter, int count) {
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        last = atomicAdd(counter, 1) == count - 1;
        if (last) *counter = 0;
    }
    __syncthreads();
    if (last) __threadfence();
    return last;
}

// Greedy sampling: index of the largest logit of each row (the first on ties, like argmax). A
// row is cut into gridDim.y chunks, one block each, so that a single row (batch-1 decode) is read
// by many multiprocessors instead of one; the last block of a row to finish picks the best of the
// chunks' candidates.
template <typename T> __device__ void argmax_rows(int* out, const T* x, int n, float* chunk_value, int* chunk_index,
                                                  int* counters) {
    const int chunks = gridDim.y, per = (n + chunks - 1) / chunks;
    const int begin = blockIdx.y * per, end = imin(n, begin + per);
    const T* row = x + (long long)blockIdx.x * n;
    float bv = NEG_INF;
    int bi = 0x7fffffff;
#pragma unroll 4
    for (int i = begin + threadIdx.x; i < end; i += blockDim.x) {
        const float v = to_f(row[i]);
        if (better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    block_argmax(bv, bi);
    if (threadIdx.x == 0) {
        chunk_value[blockIdx.x * chunks + blockIdx.y] = bv;
        chunk_index[blockIdx.x * chunks + blockIdx.y] = bi;
    }
    if (!last_to_arrive(counters + blockIdx.x, chunks)) return;
    bv = NEG_INF;
    bi = 0x7fffffff;
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
        const float v = __ldcg(chunk_value + blockIdx.x * chunks + c);
        const int i = __ldcg(chunk_index + blockIdx.x * chunks + c);
        if (better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    block_argmax(bv, bi);
    if (threadIdx.x == 0) out[blockIdx.x] = chosen_token(bi);
}

#define INSTANTIATE_ARGMAX(S, T)                                                                                       \
    extern "C" __global__ void argmax_rows_##S(int* out, const T* x, int n, float* chunk_value, int* chunk_index,     \
                                               int* counters) { PDL_ENTER();                                           \
        argmax_rows<T>(out, x, n, chunk_value, chunk_index, counters);                                                 \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_ARGMAX(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_ARGMAX(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_ARGMAX(f16, __half)
#endif
