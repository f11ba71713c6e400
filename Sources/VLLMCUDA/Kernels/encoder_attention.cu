// Bidirectional attention of an encoder (BERT): every token over all tokens of its own sequence in
// the step, straight from the fused qkv rows (no cache, no mask).

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// One block per (token, query head). The token's sequence is found by binary search in
// query_start (num_sequences + 1 offsets). Encoder inputs are short (BERT: 512 positions at most),
// so the block keeps all of the sequence's scores in dynamic shared memory (the backend sizes it
// for the step's longest sequence) after the query head: a warp per key for the dot products, the
// softmax over the block, then one thread per output dimension walks the keys. Float32 throughout,
// one rounding of the output.
template <typename T>
__device__ void bidirectional_attention(T* out, const T* qkv, const int* query_start, int num_sequences, int width,
                                        int num_heads, int kv_heads, int head_dim, float scale) {
    extern __shared__ float ba_smem[];
    const int token = blockIdx.x, head = blockIdx.y, kv = head / (num_heads / kv_heads);
    int lo = 0, hi = num_sequences - 1;  // the last sequence whose start is at most `token`
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (query_start[mid] <= token) lo = mid; else hi = mid - 1;
    }
    const int start = query_start[lo], n = query_start[lo + 1] - start;
    float* q = ba_smem;              // [head_dim]
    float* scores = q + head_dim;    // [n]
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) q[d] = to_f(qkv[(long long)token * width + head * head_dim + d]);
    __syncthreads();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const int key_offset = (num_heads + kv) * head_dim, value_offset = (num_heads + kv_heads + kv) * head_dim;
    for (int j = warp; j < n; j += warps) {
        const T* k = qkv + (long long)(start + j) * width + key_offset;
        float dot = 0.f;
        for (int d = lane; d < head_dim; d += 32) dot += q[d] * to_f(k[d]);
        dot = warp_sum(dot);
        if (lane == 0) scores[j] = dot * scale;
    }
    __syncthreads();
    float top = NEG_INF;
    for (int j = threadIdx.x; j < n; j += blockDim.x) top = fmaxf(top, scores[j]);
    top = block_max(top);
    float total = 0.f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float p = expf(scores[j] - top);
        scores[j] = p;
        total += p;
    }
    total = block_sum(total);  // its barriers also make every p visible
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float acc = 0.f;
        for (int j = 0; j < n; ++j) acc += scores[j] * to_f(qkv[(long long)(start + j) * width + value_offset + d]);
        out[((long long)token * num_heads + head) * head_dim + d] = from_f<T>(acc / total);
    }
}

#define INSTANTIATE_ENCODER_ATTENTION(S, T)                                                                            \
    extern "C" __global__ void bidirectional_attention_##S(T* out, const T* qkv, const int* query_start,              \
                                                           int num_sequences, int width, int num_heads, int kv_heads, \
                                                           int head_dim, float scale) { PDL_ENTER();                  \
        bidirectional_attention<T>(out, qkv, query_start, num_sequences, width, num_heads, kv_heads, head_dim, scale); \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_ENCODER_ATTENTION(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_ENCODER_ATTENTION(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_ENCODER_ATTENTION(f16, __half)
#endif
