// Causal attention over the paged cache for flat batches of prefill chunks and decodes: a CUDA-core
// kernel for every dtype and head size, a tensor-core (WMMA) kernel for 16-bit activations and head
// sizes 64/128/256, and the merge of the split-KV partial results that the 16-bit kernels (this
// file's, decode_attention.cu's and flash_prefill.cu's) write when the keys are split.

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// Causal attention over the paged cache for a flat batch of prefill chunks and decodes.
//
// One block per (query tile, kv head). A tile is up to `tile_tokens` consecutive tokens of one
// sequence (tiles[3 * i] = sequence, [3 * i + 1] = first token, [3 * i + 2] = token count); its
// rows are every (token, query head of this kv head) pair, so that each key and value read from the
// cache serves all of them (grouped-query reuse for decodes, FlashAttention-style reuse for
// prefill chunks). Keys are walked in tiles of 32 with an online softmax; scores and the output
// accumulate in float32 in shared memory. With softcap > 0 each scaled score becomes
// softcap * tanh(score / softcap) before the softmax (Gemma 2); every attention kernel takes it.
// The cache holds activations (C = T) or e4m3 codes (C = unsigned char), read through kv_f; for
// codes, `scale` includes the key scale and the output is multiplied by `value_scale` (both with
// kv_f's 2^8).
#define KEY_TILE 32
template <typename T, typename C>
__device__ void paged_attention(T* out, const T* qkv, const C* key_cache, const C* value_cache, const int* tiles,
                                const int* positions, const int* block_tables, const int* table_width, int width,
                                int num_heads, int kv_heads, int head_dim, int block_size, float scale, int window,
                                float softcap, float value_scale) {
    extern __shared__ float smem[];
    const int seq = tiles[3 * blockIdx.x], first = tiles[3 * blockIdx.x + 1], count = tiles[3 * blockIdx.x + 2];
    const int g = blockIdx.y, group = num_heads / kv_heads;
    const int rows = count * group;
    const int kstride = head_dim + 1;  // padding: threads of a warp read different keys' same column
    float* qs = smem;                             // [rows, head_dim]
    float* ks = qs + rows * head_dim;             // [KEY_TILE, head_dim + 1]
    float* vs = ks + KEY_TILE * kstride;          // [KEY_TILE, head_dim]
    float* ss = vs + KEY_TILE * head_dim;         // [rows, KEY_TILE]
    float* os = ss + rows * KEY_TILE;             // [rows, head_dim]
    float* ms = os + rows * head_dim;             // [rows] running max
    float* ls = ms + rows;                        // [rows] running sum
    float* as = ls + rows;                        // [rows] rescale factor of this key tile
    const int tid = threadIdx.x, threads = blockDim.x;

    for (int i = tid; i < rows * head_dim; i += threads) {
        const int r = i / head_dim, d = i % head_dim;
        const int token = first + r / group, head = g * group + r % group;
        qs[i] = to_f(qkv[(long long)token * width + head * head_dim + d]);
        os[i] = 0.f;
    }
    for (int r = tid; r < rows; r += threads) { ms[r] = NEG_INF; ls[r] = 0.f; }
    const int first_pos = positions[first], last_pos = positions[first + count - 1];
    // Whole key tiles from key 0 (the window's first one), so that a row's keys fall into the same
    // tiles whichever tokens share its query tile (batch invariance; the mask drops the extra keys).
    const int key_start = window > 0 ? imax(0, first_pos - window + 1) / KEY_TILE * KEY_TILE : 0;
    // The width comes from device memory so that a recorded graph replays with any step's tables.
    const int* table = block_tables + (long long)seq * *table_width;
    const int lane = tid & 31, warp = tid >> 5, warps = threads >> 5;
    __syncthreads();

    for (int k0 = key_start; k0 <= last_pos; k0 += KEY_TILE) {
        const int nk = imin(KEY_TILE, last_pos - k0 + 1);
        for (int i = tid; i < KEY_TILE * head_dim; i += threads) {
            const int j = i / head_dim, d = i % head_dim;
            float kv = 0.f, vv = 0.f;
            if (j < nk) {
                const int pos = k0 + j;
                const long long block = table[pos / block_size];
                const long long at = ((block * kv_heads + g) * block_size + pos % block_size) * head_dim + d;
                kv = kv_f(key_cache[at]);
                vv = kv_f(value_cache[at]);
            }
            ks[j * kstride + d] = kv;
            vs[j * head_dim + d] = vv;
        }
        __syncthreads();
        for (int i = tid; i < rows * KEY_TILE; i += threads) {
            const int r = i / KEY_TILE, j = i % KEY_TILE;
            const int qpos = positions[first + r / group], kpos = k0 + j;
            float score = NEG_INF;
            if (j < nk && kpos <= qpos && (window <= 0 || kpos > qpos - window)) {
                const float* q = qs + r * head_dim;
                const float* k = ks + j * kstride;
                float dot = 0.f;
                for (int d = 0; d < head_dim; ++d) dot += q[d] * k[d];
                score = soft_cap_score(dot * scale, softcap);
            }
            ss[i] = score;
        }
        __syncthreads();
        for (int r = warp; r < rows; r += warps) {
            const float s = ss[r * KEY_TILE + lane];
            const float old_max = ms[r];
            const float new_max = fmaxf(old_max, warp_max(s));
            float p = 0.f, alpha = 1.f;
            if (new_max != NEG_INF) {
                p = s == NEG_INF ? 0.f : expf(s - new_max);
                alpha = old_max == NEG_INF ? 0.f : expf(old_max - new_max);
            }
            const float total = warp_sum(p);
            ss[r * KEY_TILE + lane] = p;
            if (lane == 0) { ls[r] = ls[r] * alpha + total; ms[r] = new_max; as[r] = alpha; }
        }
        __syncthreads();
        for (int i = tid; i < rows * head_dim; i += threads) {
            const int r = i / head_dim, d = i % head_dim;
            const float* p = ss + r * KEY_TILE;
            float acc = os[i] * as[r];
            for (int j = 0; j < nk; ++j) acc += p[j] * vs[j * head_dim + d];
            os[i] = acc;
        }
        __syncthreads();
    }
    for (int i = tid; i < rows * head_dim; i += threads) {
        const int r = i / head_dim, d = i % head_dim;
        const int token = first + r / group, head = g * group + r % group;
        const float l = ls[r];
        float o = l > 0.f ? os[i] / l : 0.f;
        if constexpr (is_fp8_cache<C>()) o *= value_scale;
        out[(long long)token * num_heads * head_dim + head * head_dim + d] = from_f<T>(o);
    }
}

// The same attention for 16-bit activations and head_dim 64/128/256, on the tensor cores (WMMA,
// 16x16x16 tiles, float accumulators). A block of 4 warps takes up to 64 query rows (token, head of
// this kv head) and walks the keys in tiles of 64, loaded with 16-byte reads; each warp owns 16
// rows: S = Q·Kᵀ into shared memory, an online softmax over its rows (P overwrites S in place, in
// the activation dtype), then O = O·alpha + P·V with O kept in float32 in shared memory. Only the
// key/value tile loads need the whole block to wait.
#define FA_ROWS 64
#define FA_KEYS 64
template <typename T, int HD>
__device__ void flash_attention(T* out, const T* qkv, const T* key_cache, const T* value_cache, const int* tiles,
                                const int* positions, const int* block_tables, const int* table_width, int width,
                                int num_heads, int kv_heads, int block_size, float scale, int window, float softcap,
                                float* partial_o, float* partial_ml, int num_tokens) {
    using namespace nvcuda;
    constexpr int QLD = HD + 8, SLD = FA_KEYS + 4, PLD = 2 * SLD, OLD = HD + 4, CH = HD / 8;
    extern __shared__ __align__(128) unsigned char fa_smem[];
    T* qs = (T*)fa_smem;                          // [FA_ROWS][QLD]
    T* ks = qs + FA_ROWS * QLD;                   // [FA_KEYS][QLD]
    T* vs = ks + FA_KEYS * QLD;                   // [FA_KEYS][QLD]
    float* ss = (float*)(vs + FA_KEYS * QLD);     // [FA_ROWS][SLD]; P (type T, PLD) overwrites it row by row
    float* os = ss + FA_ROWS * SLD;               // [FA_ROWS][OLD]
    float* ms = os + FA_ROWS * OLD;
    float* ls = ms + FA_ROWS;
    float* as = ls + FA_ROWS;
    int* qp = (int*)(as + FA_ROWS);               // position of each row's token; -1 for padding rows
    T* ps = (T*)ss;

    const int seq = tiles[3 * blockIdx.x], first = tiles[3 * blockIdx.x + 1], count = tiles[3 * blockIdx.x + 2];
    const int g = blockIdx.y, group = num_heads / kv_heads, rows = count * group;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);

    for (int i = tid; i < FA_ROWS * CH; i += blockDim.x) {
        const int r = i / CH, c = i % CH;
        uint4 v = zero;
        if (r < rows) {
            const int token = first + r / group, head = g * group + r % group;
            v = *(const uint4*)(qkv + (long long)token * width + head * HD + c * 8);
        }
        *(uint4*)(qs + r * QLD + c * 8) = v;
    }
    for (int i = tid; i < FA_ROWS * OLD; i += blockDim.x) os[i] = 0.f;
    for (int r = tid; r < FA_ROWS; r += blockDim.x) {
        ms[r] = NEG_INF; ls[r] = 0.f; as[r] = 1.f;
        qp[r] = r < rows ? positions[first + r / group] : -1;
    }
    const int first_pos = positions[first], last_pos = positions[first + count - 1];
    // The width comes from device memory so that a recorded graph replays with any step's tables.
    const int* table = block_tables + (long long)seq * *table_width;
    // Split-KV: block z of gridDim.z takes its own run of whole key tiles; the context length is
    // read here, on the device, so that a recorded step serves every length.
    // Whole key tiles from key 0, as paged_attention.
    int key_begin = window > 0 ? imax(0, first_pos - window + 1) / FA_KEYS * FA_KEYS : 0, key_end = last_pos + 1;
    if (gridDim.z > 1) {
        const int per_split = ((key_end - key_begin + gridDim.z - 1) / gridDim.z + FA_KEYS - 1) / FA_KEYS * FA_KEYS;
        key_begin += blockIdx.z * per_split;
        key_end = imin(key_end, key_begin + per_split);
    }
    const int r0 = warp * 16;
    const bool active = r0 < rows;
    __syncthreads();

    for (int k0 = key_begin; k0 < key_end; k0 += FA_KEYS) {
        const int nk = imin(FA_KEYS, key_end - k0);
        // Unrolled with the launch's fixed 128 threads, so that all 16-byte loads are in flight at once.
#pragma unroll
        for (int i = tid; i < FA_KEYS * CH; i += 128) {
            const int j = i / CH, c = i % CH;
            uint4 kv = zero, vv = zero;
            if (j < nk) {
                const int pos = k0 + j;
                const long long block = table[pos / block_size];
                const long long at = ((block * kv_heads + g) * block_size + pos % block_size) * HD + c * 8;
                kv = *(const uint4*)(key_cache + at);
                vv = *(const uint4*)(value_cache + at);
            }
            *(uint4*)(ks + j * QLD + c * 8) = kv;
            *(uint4*)(vs + j * QLD + c * 8) = vv;
        }
        __syncthreads();
        if (active) {
            for (int kc = 0; kc < FA_KEYS / 16; ++kc) {
                wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
                wmma::fill_fragment(acc, 0.f);
#pragma unroll
                for (int dc = 0; dc < HD / 16; ++dc) {
                    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
                    wmma::load_matrix_sync(a, qs + r0 * QLD + dc * 16, QLD);
                    wmma::load_matrix_sync(b, ks + kc * 16 * QLD + dc * 16, QLD);
                    wmma::mma_sync(acc, a, b, acc);
                }
                wmma::store_matrix_sync(ss + r0 * SLD + kc * 16, acc, SLD, wmma::mem_row_major);
            }
            __syncwarp();
            const int live_rows = imin(16, rows - r0);  // decodes fill few of the 16 rows
            for (int rr = 0; rr < live_rows; ++rr) {
                const int r = r0 + rr, qpos = qp[r];
                float s[2];
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int j = lane + 32 * h, kpos = k0 + j;
                    const bool valid = j < nk && kpos <= qpos && (window <= 0 || kpos > qpos - window);
                    s[h] = valid ? soft_cap_score(ss[r * SLD + j] * scale, softcap) : NEG_INF;
                }
                const float old_max = ms[r];
                const float new_max = fmaxf(old_max, warp_max(fmaxf(s[0], s[1])));
                float p0 = 0.f, p1 = 0.f, alpha = 1.f;
                if (new_max != NEG_INF) {
                    p0 = s[0] == NEG_INF ? 0.f : expf(s[0] - new_max);
                    p1 = s[1] == NEG_INF ? 0.f : expf(s[1] - new_max);
                    alpha = old_max == NEG_INF ? 0.f : expf(old_max - new_max);
                }
                const float total = warp_sum(p0 + p1);
                ps[r * PLD + lane] = from_f<T>(p0);
                ps[r * PLD + lane + 32] = from_f<T>(p1);
                if (lane == 0) { ls[r] = ls[r] * alpha + total; ms[r] = new_max; as[r] = alpha; }
            }
            __syncwarp();
            for (int i = lane; i < live_rows * HD; i += 32) {
                const int rr = i / HD, d = i % HD;
                os[(r0 + rr) * OLD + d] *= as[r0 + rr];
            }
            __syncwarp();
#pragma unroll
            for (int dc = 0; dc < HD / 16; ++dc) {
                wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
                wmma::load_matrix_sync(acc, os + r0 * OLD + dc * 16, OLD, wmma::mem_row_major);
                for (int kc = 0; kc < FA_KEYS / 16; ++kc) {
                    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b;
                    wmma::load_matrix_sync(a, ps + r0 * PLD + kc * 16, PLD);
                    wmma::load_matrix_sync(b, vs + kc * 16 * QLD + dc * 16, QLD);
                    wmma::mma_sync(acc, a, b, acc);
                }
                wmma::store_matrix_sync(os + r0 * OLD + dc * 16, acc, OLD, wmma::mem_row_major);
            }
            __syncwarp();
        }
        __syncthreads();
    }
    if (gridDim.z > 1) {
        // Unnormalized partial results; attention_combine merges the splits.
        for (int i = tid; i < rows * HD; i += blockDim.x) {
            const int r = i / HD, d = i % HD;
            const int token = first + r / group, head = g * group + r % group;
            const long long at = ((long long)blockIdx.z * num_tokens + token) * num_heads + head;
            partial_o[at * HD + d] = os[r * OLD + d];
            if (d == 0) { partial_ml[2 * at] = ms[r]; partial_ml[2 * at + 1] = ls[r]; }
        }
        return;
    }
    for (int i = tid; i < rows * HD; i += blockDim.x) {
        const int r = i / HD, d = i % HD;
        const int token = first + r / group, head = g * group + r % group;
        const float l = ls[r];
        out[(long long)token * num_heads * HD + head * HD + d] = from_f<T>(l > 0.f ? os[r * OLD + d] / l : 0.f);
    }
}

// Merges the splits of split-KV attention: one block per (token, head) of at least 32 threads, one
// thread per element of the head: out = sum_z e^(m_z - M) o_z / sum_z e^(m_z - M) l_z with M the
// largest m_z, summed in split order. Why the first warp reads every split's (m, l) at once and each
// thread issues all its splits' loads before adding: a loop of one split at a time waited for
// each load in turn, about 6.7 us a layer of a batch-1 8B step (H100, 2026-12-05), more than the
// attention itself. At most 32 splits (the backend makes at most 16).
#define COMBINE_UNROLLED_SPLITS 16
template <typename T>
__device__ void attention_combine(T* out, const float* partial_o, const float* partial_ml, int splits, int num_tokens,
                                  int num_heads, int head_dim, signed char* xq = nullptr, float2* xs = nullptr) {
    __shared__ float weights[32];  // e^(m_z - M) of each split
    __shared__ bool present[32];   // whether split z saw any key (m_z finite)
    __shared__ float total;
    const long long first = (long long)blockIdx.x * num_heads + blockIdx.y, stride = (long long)num_tokens * num_heads;
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        const long long at = first + lane * stride;
        const float m = lane < splits ? partial_ml[2 * at] : NEG_INF;
        const float l = lane < splits ? partial_ml[2 * at + 1] : 0.f;
        const float big = warp_max(m);
        const float w = m == NEG_INF ? 0.f : expf(m - big);
        weights[lane] = w;
        present[lane] = m != NEG_INF;
        float sum = 0.f;
        for (int z = 0; z < splits; ++z) {
            const float wz = __shfl_sync(0xffffffffu, w, z), lz = __shfl_sync(0xffffffffu, l, z);
            if (__shfl_sync(0xffffffffu, m, z) != NEG_INF) sum += wz * lz;
        }
        if (lane == 0) total = sum;
    }
    __syncthreads();
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float v[COMBINE_UNROLLED_SPLITS];
#pragma unroll
        for (int z = 0; z < COMBINE_UNROLLED_SPLITS; ++z)
            if (z < splits) v[z] = partial_o[(first + z * stride) * head_dim + d];
        float o = 0.f;
#pragma unroll
        for (int z = 0; z < COMBINE_UNROLLED_SPLITS; ++z)
            if (z < splits && present[z]) o += weights[z] * v[z];
        for (int z = COMBINE_UNROLLED_SPLITS; z < splits; ++z)
            if (present[z]) o += weights[z] * partial_o[(first + z * stride) * head_dim + d];
        out[first * head_dim + d] = from_f<T>(total > 0.f ? o / total : 0.f);
        // attention_combine_int8 (head_dim a multiple of 32): each warp's 32 outputs, consecutive
        // in the [tokens, heads · head_dim] output, also quantized for the o-projection's
        // 8-bit-activation product, as quantize_ggml_int8 would (each lane rereads its own store).
        if (xq != nullptr) {
            const long long i = first * head_dim + d, block = i & ~31LL;
            quantize_int8_block(to_f(out[i]), xq + block, xs + block / 16, (int)(i & 31));
        }
    }
}

#define INSTANTIATE_PAGED_ATTENTION(S, T)                                                                              \
    extern "C" __global__ void paged_attention_##S(T* out, const T* qkv, const T* key_cache, const T* value_cache,     \
                                                   const int* tiles, const int* positions, const int* block_tables,    \
                                                   const int* table_width, int width, int num_heads, int kv_heads,     \
                                                   int head_dim, int block_size, float scale, int window,              \
                                                   float softcap) {                                                    \
        PDL_ENTER();                                                                                                   \
        paged_attention<T, T>(out, qkv, key_cache, value_cache, tiles, positions, block_tables, table_width, width,   \
                              num_heads, kv_heads, head_dim, block_size, scale, window, softcap, 1.f);                 \
    }
#define INSTANTIATE_PAGED_ATTENTION_FP8(S, T)                                                                          \
    extern "C" __global__ void paged_attention_fp8_##S(                                                                \
        T* out, const T* qkv, const unsigned char* key_cache, const unsigned char* value_cache, const int* tiles,      \
        const int* positions, const int* block_tables, const int* table_width, int width, int num_heads,              \
        int kv_heads, int head_dim, int block_size, float scale, int window, float softcap, float key_scale,           \
        float value_scale) {                                                                                           \
        PDL_ENTER();                                                                                                   \
        paged_attention<T, unsigned char>(out, qkv, key_cache, value_cache, tiles, positions, block_tables,           \
                                          table_width, width, num_heads, kv_heads, head_dim, block_size,              \
                                          scale * key_scale * 256.f, window, softcap, value_scale * 256.f);            \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_PAGED_ATTENTION(f32, float)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_PAGED_ATTENTION_FP8(f32, float)
#endif
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_PAGED_ATTENTION(bf16, __nv_bfloat16)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_PAGED_ATTENTION_FP8(bf16, __nv_bfloat16)
#endif
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_PAGED_ATTENTION(f16, __half)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_PAGED_ATTENTION_FP8(f16, __half)
#endif
#endif

#define INSTANTIATE_FLASH(S, T, HD)                                                                                    \
    extern "C" __global__ void __launch_bounds__(128) flash_attention_##S##_hd##HD(                                   \
        T* out, const T* qkv, const T* key_cache, const T* value_cache, const int* tiles, const int* positions,         \
        const int* block_tables, const int* table_width, int width, int num_heads, int kv_heads, int block_size,        \
        float scale, int window, float softcap, float* partial_o, float* partial_ml, int num_tokens) { PDL_ENTER();                  \
        flash_attention<T, HD>(out, qkv, key_cache, value_cache, tiles, positions, block_tables, table_width, width,  \
                               num_heads, kv_heads, block_size, scale, window, softcap, partial_o, partial_ml, num_tokens); \
    }

#define INSTANTIATE_COMBINE(S, T)                                                                                      \
    extern "C" __global__ void attention_combine_##S(T* out, const float* partial_o, const float* partial_ml,          \
                                                     int splits, int num_tokens, int num_heads, int head_dim) { PDL_ENTER();        \
        attention_combine<T>(out, partial_o, partial_ml, splits, num_tokens, num_heads, head_dim);                     \
    }                                                                                                                  \
    extern "C" __global__ void attention_combine_int8_##S(T* out, const float* partial_o, const float* partial_ml,     \
                                                          int splits, int num_tokens, int num_heads, int head_dim,     \
                                                          signed char* xq, float2* xs) { PDL_ENTER();                  \
        attention_combine<T>(out, partial_o, partial_ml, splits, num_tokens, num_heads, head_dim, xq, xs);             \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_COMBINE(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_COMBINE(f16, __half)
#endif

#ifdef VLLM_DTYPE_BF16
#if VLLM_WANTS_HEAD_DIM(64)
INSTANTIATE_FLASH(bf16, __nv_bfloat16, 64)
#endif
#endif
#ifdef VLLM_DTYPE_BF16
#if VLLM_WANTS_HEAD_DIM(128)
INSTANTIATE_FLASH(bf16, __nv_bfloat16, 128)
#endif
#endif
#ifdef VLLM_DTYPE_BF16
#if VLLM_WANTS_HEAD_DIM(256)
INSTANTIATE_FLASH(bf16, __nv_bfloat16, 256)
#endif
#endif
#ifdef VLLM_DTYPE_F16
#if VLLM_WANTS_HEAD_DIM(64)
INSTANTIATE_FLASH(f16, __half, 64)
#endif
#endif
#ifdef VLLM_DTYPE_F16
#if VLLM_WANTS_HEAD_DIM(128)
INSTANTIATE_FLASH(f16, __half, 128)
#endif
#endif
#ifdef VLLM_DTYPE_F16
#if VLLM_WANTS_HEAD_DIM(256)
INSTANTIATE_FLASH(f16, __half, 256)
#endif
#endif
