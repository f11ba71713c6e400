// swift-vllm CUDA kernels, compiled at run time by NVRTC for the GPU that is present.
//
// Every kernel exists for float, __nv_bfloat16 and __half activations (suffixes f32, bf16, f16);
// arithmetic is float32. Where transformers rounds an intermediate to the activation dtype
// (RMSNorm before the weight, rotary products, SiLU before the multiply), `rnd` rounds the same way,
// so that bfloat16 outputs follow the reference step by step instead of drifting.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#define NEG_INF __int_as_float(0xff800000)

// The backend defines the one activation dtype it runs (VLLM_DTYPE_F32, _BF16 or _F16) before
// this file, so that NVRTC compiles a third of the kernels; without a definition, all three.
#if !defined(VLLM_DTYPE_F32) && !defined(VLLM_DTYPE_BF16) && !defined(VLLM_DTYPE_F16)
#define VLLM_DTYPE_F32
#define VLLM_DTYPE_BF16
#define VLLM_DTYPE_F16
#endif

// Programmatic dependent launch (Hopper and later): the backend may launch a kernel while the one
// before it still runs. Each kernel first waits until the previous grid has finished and its
// writes are visible, then lets the next grid launch, so only launch latency and work that reads
// no earlier result (the matrix-vector kernel's first weight loads) overlap. Every kernel here
// starts with PDL_ENTER (or waits by hand before reading inputs), so launching any of them that
// way is safe; launched the ordinary way, both instructions do nothing.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define PDL_WAIT() asm volatile("griddepcontrol.wait;" ::: "memory")
#define PDL_LAUNCH_DEPENDENTS() asm volatile("griddepcontrol.launch_dependents;" ::: "memory")
#else
#define PDL_WAIT() do {} while (0)
#define PDL_LAUNCH_DEPENDENTS() do {} while (0)
#endif
#define PDL_ENTER() do { PDL_WAIT(); PDL_LAUNCH_DEPENDENTS(); } while (0)

__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }

template <typename T> __device__ __forceinline__ float to_f(T x);
template <> __device__ __forceinline__ float to_f<float>(float x) { return x; }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }
template <> __device__ __forceinline__ float to_f<__half>(__half x) { return __half2float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }

template <typename T> __device__ __forceinline__ float rnd(float x) { return to_f<T>(from_f<T>(x)); }

// Sum over the block; every thread gets the total. Blocks are at most 1024 threads.
__device__ float block_sum(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < warps ? partial[lane] : 0.f;
        for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
        if (lane == 0) partial[0] = t;
    }
    __syncthreads();
    const float total = partial[0];
    __syncthreads();
    return total;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

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

// One row of RMSNorm as transformers computes it: mean of squares in float32, rsqrt, round to the
// activation dtype, times the weight, round again. `x` may alias `out` (each thread rereads only
// what it wrote itself).
template <typename T>
__device__ void rms_norm_row(T* out, const T* x, const T* w, int n, float eps) {
    float squares = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) { const float v = to_f(x[i]); squares += v * v; }
    const float inverse = 1.f / sqrtf(block_sum(squares) / (float)n + eps);
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
template <typename T> __device__ void add_rms_norm(T* out, T* residual, const T* x, const T* w, int n, float eps) {
    const long long r = blockIdx.x;
    T* res = residual + r * n;
    const T* in = x + r * n;
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
    const float inverse = 1.f / sqrtf(block_sum(squares) / (float)n + eps);
    T* o = out + r * n;
#pragma unroll
    for (int e = 0; e < NORM_PER_THREAD; ++e) {
        const int i = threadIdx.x + e * blockDim.x;
        if (i < n) o[i] = from_f<T>(weight[e] * rnd<T>(v[e] * inverse));
    }
}

// Qwen3's per-head RMSNorm of q and k inside the fused qkv rows, in place. Grid (tokens, q heads +
// kv heads), one warp per head.
template <typename T>
__device__ void head_rms_norm(T* qkv, const T* qw, const T* kw, int width, int num_heads, int head_dim, float eps) {
    const int head = blockIdx.y;
    T* x = qkv + (long long)blockIdx.x * width + (long long)head * head_dim;
    const T* w = head < num_heads ? qw : kw;
    float squares = 0.f;
    for (int i = threadIdx.x; i < head_dim; i += 32) { const float v = to_f(x[i]); squares += v * v; }
    const float inverse = 1.f / sqrtf(warp_sum(squares) / (float)head_dim + eps);
    __syncwarp();
    for (int i = threadIdx.x; i < head_dim; i += 32) x[i] = from_f<T>(to_f(w[i]) * rnd<T>(to_f(x[i]) * inverse));
}

// Rotary embedding (rotate-half convention) of each token's q and k heads, in place; with `slots`,
// the rotated keys and the values also go to the token's cache slot (layout of write_kv_cache), so
// that a step rotates and fills the cache in one pass. `rope` rows hold head_dim/2 cosines then
// head_dim/2 sines, already in the activation dtype (transformers casts cos and sin to it), and
// each product is rounded as PyTorch rounds it.
template <typename T>
__device__ void rotary_write_kv(T* qkv, const T* rope, const int* positions, const int* slots, T* keys, T* values,
                                int width, int num_heads, int kv_heads, int head_dim, int block_size) {
    const int half = head_dim / 2, heads = num_heads + kv_heads;
    T* row = qkv + (long long)blockIdx.x * width;
    const T* table = rope + (long long)positions[blockIdx.x] * head_dim;
    const int slot = slots ? slots[blockIdx.x] : -1;
    // Where this token's head 0 lives in a layer's cache; head g is g * block_size rows further.
    const long long at = slot < 0 ? 0 : ((long long)(slot / block_size) * kv_heads * block_size + slot % block_size) * head_dim;
    for (int i = threadIdx.x; i < heads * half; i += blockDim.x) {
        const int h = i / half, d = i % half;
        T* x = row + h * head_dim;
        const float c = to_f(table[d]), s = to_f(table[half + d]);
        const float x1 = to_f(x[d]), x2 = to_f(x[half + d]);
        const T a = from_f<T>(rnd<T>(x1 * c) + rnd<T>(-x2 * s)), b = from_f<T>(rnd<T>(x2 * c) + rnd<T>(x1 * s));
        x[d] = a;
        x[half + d] = b;
        if (slot >= 0 && h >= num_heads) {
            T* k = keys + at + (long long)(h - num_heads) * block_size * head_dim;
            k[d] = a;
            k[half + d] = b;
        }
    }
    if (slot < 0) return;
    for (int i = threadIdx.x; i < kv_heads * head_dim; i += blockDim.x) {
        const int g = i / head_dim, d = i % head_dim;
        values[at + (long long)g * block_size * head_dim + d] = row[heads * head_dim + i];
    }
}

// Copies each token's keys and values from its qkv row into its cache slot. The cache of a layer is
// [block, kv head, slot in block, head_dim]. A negative slot means "do not store".
template <typename T>
__device__ void write_kv_cache(const T* qkv, T* keys, T* values, const int* slots, int width, int key_offset,
                               int value_offset, int kv_heads, int head_dim, int block_size) {
    const int slot = slots[blockIdx.x];
    if (slot < 0) return;
    const T* row = qkv + (long long)blockIdx.x * width;
    const long long block = slot / block_size, offset = slot % block_size;
    for (int i = threadIdx.x; i < kv_heads * head_dim; i += blockDim.x) {
        const int g = i / head_dim, d = i % head_dim;
        const long long at = ((block * kv_heads + g) * block_size + offset) * head_dim + d;
        keys[at] = row[key_offset + i];
        values[at] = row[value_offset + i];
    }
}

// Causal attention over the paged cache for a flat batch of prefill chunks and decodes.
//
// One block per (query tile, kv head). A tile is up to `tile_tokens` consecutive tokens of one
// sequence (tiles[3 * i] = sequence, [3 * i + 1] = first token, [3 * i + 2] = token count); its
// rows are every (token, query head of this kv head) pair, so that each key and value read from the
// cache serves all of them (grouped-query reuse for decodes, FlashAttention-style reuse for
// prefill chunks). Keys are walked in tiles of 32 with an online softmax; scores and the output
// accumulate in float32 in shared memory.
#define KEY_TILE 32
template <typename T>
__device__ void paged_attention(T* out, const T* qkv, const T* key_cache, const T* value_cache, const int* tiles,
                                const int* positions, const int* block_tables, const int* table_width, int width,
                                int num_heads, int kv_heads, int head_dim, int block_size, float scale, int window) {
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
    const int key_start = window > 0 ? imax(0, first_pos - window + 1) : 0;
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
                kv = to_f(key_cache[at]);
                vv = to_f(value_cache[at]);
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
                score = dot * scale;
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
        out[(long long)token * num_heads * head_dim + head * head_dim + d] = from_f<T>(l > 0.f ? os[i] / l : 0.f);
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
                                int num_heads, int kv_heads, int block_size, float scale, int window,
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
    int key_begin = window > 0 ? imax(0, first_pos - window + 1) : 0, key_end = last_pos + 1;
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
                    s[h] = valid ? ss[r * SLD + j] * scale : NEG_INF;
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

// Merges the splits of split-KV attention: one block per (token, head), one thread per element of
// the head: out = sum_z e^(m_z - M) o_z / sum_z e^(m_z - M) l_z with M the largest m_z.
template <typename T>
__device__ void attention_combine(T* out, const float* partial_o, const float* partial_ml, int splits, int num_tokens,
                                  int num_heads, int head_dim) {
    const int token = blockIdx.x, head = blockIdx.y;
    float big = NEG_INF;
    for (int z = 0; z < splits; ++z)
        big = fmaxf(big, partial_ml[2 * (((long long)z * num_tokens + token) * num_heads + head)]);
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float o = 0.f, l = 0.f;
        for (int z = 0; z < splits; ++z) {
            const long long at = ((long long)z * num_tokens + token) * num_heads + head;
            const float m = partial_ml[2 * at];
            if (m == NEG_INF) continue;
            const float w = expf(m - big);
            o += w * partial_o[at * head_dim + d];
            l += w * partial_ml[2 * at + 1];
        }
        out[((long long)token * num_heads + head) * head_dim + d] = from_f<T>(l > 0.f ? o / l : 0.f);
    }
}

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

// Attention of decode steps (one query token per sequence): memory-bound, so built to keep many
// key/value bytes in flight rather than to use the tensor cores. One block of 4 warps per
// (sequence, kv head, split); each warp takes runs of 32 keys. Lane j reads key j's whole row
// (16-byte loads) and dots it with the group's queries (all query heads of this kv head, kept in
// shared memory), while the 32 value rows stream into shared memory with cp.async; then each lane
// owns HD / 32 output dimensions of every head and walks the 32 keys. Per-warp online softmax,
// merged across warps at the end; with several splits the unnormalized result goes to
// attention_combine. (Merging in the last split to finish, counted with atomics, measured 6 to
// 14 us slower a step on an H100 than the separate kernel.) Head sizes 64 and 128 (larger ones
// use flash_attention).
#define DA_WARPS 4
#define DA_MAX_GROUP 8
__device__ __forceinline__ void cp_async16(void* shared, const void* global) {
    const unsigned int address = (unsigned int)__cvta_generic_to_shared(shared);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(address), "l"(global));
}

template <typename T, int HD>
__device__ void decode_attention(T* out, const T* qkv, const T* key_cache, const T* value_cache, const int* tiles,
                                 const int* positions, const int* block_tables, const int* table_width, int width,
                                 int num_heads, int kv_heads, int block_size, float scale, int window,
                                 float* partial_o, float* partial_ml, int num_tokens) {
    constexpr int DPL = HD / 32, VLD = HD + 8;  // output dimensions per lane; padded value row
    static_assert(DPL == 2 || DPL == 4, "decode_attention takes head sizes 64 and 128");
    __shared__ float qs[DA_MAX_GROUP][HD];
    // Value rows while the loop runs; the warps' partial results after it.
    constexpr int STAGE_BYTES = DA_WARPS * 32 * VLD * (int)sizeof(T);
    constexpr int MERGE_BYTES = DA_WARPS * DA_MAX_GROUP * (HD + 2) * 4;
    __shared__ __align__(16) unsigned char scratch[STAGE_BYTES > MERGE_BYTES ? STAGE_BYTES : MERGE_BYTES];
    const int seq = tiles[3 * blockIdx.x], token = tiles[3 * blockIdx.x + 1];
    const int g = blockIdx.y, group = num_heads / kv_heads;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    T* vs = (T*)scratch + warp * 32 * VLD;
    for (int i = threadIdx.x; i < group * HD; i += blockDim.x) {
        const int h = i / HD, d = i % HD;
        qs[h][d] = to_f(qkv[(long long)token * width + (g * group + h) * HD + d]) * scale;
    }
    const int pos = positions[token];
    const int* table = block_tables + (long long)seq * *table_width;
    int key_begin = window > 0 ? imax(0, pos - window + 1) : 0, key_end = pos + 1;
    if (gridDim.z > 1) {
        const int per_split = ((key_end - key_begin + gridDim.z - 1) / gridDim.z + 31) / 32 * 32;
        key_begin += blockIdx.z * per_split;
        key_end = imin(key_end, key_begin + per_split);
    }
    __syncthreads();

    float m[DA_MAX_GROUP], l[DA_MAX_GROUP], acc[DA_MAX_GROUP][DPL];
#pragma unroll
    for (int h = 0; h < DA_MAX_GROUP; ++h) {
        m[h] = NEG_INF; l[h] = 0.f;
#pragma unroll
        for (int e = 0; e < DPL; ++e) acc[h][e] = 0.f;
    }
    for (int k0 = key_begin + warp * 32; k0 < key_end; k0 += DA_WARPS * 32) {
        const int key = k0 + lane, count = imin(32, key_end - k0);
        const bool valid = lane < count;
        float s[DA_MAX_GROUP];
#pragma unroll
        for (int h = 0; h < DA_MAX_GROUP; ++h) s[h] = 0.f;
        if (valid) {
            const long long at = ((long long)table[key / block_size] * kv_heads + g) * block_size + key % block_size;
            const T* krow = key_cache + at * HD;
            const T* vrow = value_cache + at * HD;
#pragma unroll
            for (int c = 0; c < HD / 8; ++c) cp_async16(vs + lane * VLD + c * 8, vrow + c * 8);
            uint4 kv[HD / 8];
#pragma unroll
            for (int c = 0; c < HD / 8; ++c) kv[c] = *(const uint4*)(krow + c * 8);
#pragma unroll
            for (int c = 0; c < HD / 8; ++c) {
                const T* kp = (const T*)&kv[c];
#pragma unroll
                for (int e = 0; e < 8; ++e) {
                    const float kf = to_f(kp[e]);
#pragma unroll
                    for (int h = 0; h < DA_MAX_GROUP; ++h)
                        if (h < group) s[h] += qs[h][c * 8 + e] * kf;
                }
            }
        }
        asm volatile("cp.async.commit_group;");
        float p[DA_MAX_GROUP];
#pragma unroll
        for (int h = 0; h < DA_MAX_GROUP; ++h) {
            p[h] = 0.f;
            if (h >= group) continue;
            const float new_max = fmaxf(m[h], warp_max(valid ? s[h] : NEG_INF));
            p[h] = valid ? expf(s[h] - new_max) : 0.f;
            const float alpha = m[h] == NEG_INF ? 0.f : expf(m[h] - new_max);
            l[h] = l[h] * alpha + warp_sum(p[h]);
            m[h] = new_max;
#pragma unroll
            for (int e = 0; e < DPL; ++e) acc[h][e] *= alpha;
        }
        asm volatile("cp.async.wait_all;" ::: "memory");
        __syncwarp();
        for (int j = 0; j < count; ++j) {
            float v[DPL];
            const T* vp = vs + j * VLD + lane * DPL;
#pragma unroll
            for (int e = 0; e < DPL; ++e) v[e] = to_f(vp[e]);
#pragma unroll
            for (int h = 0; h < DA_MAX_GROUP; ++h) {
                if (h >= group) continue;
                const float pj = __shfl_sync(0xffffffffu, p[h], j);
#pragma unroll
                for (int e = 0; e < DPL; ++e) acc[h][e] += pj * v[e];
            }
        }
        __syncwarp();  // the next run's copies overwrite this run's rows
    }
    __syncthreads();  // the staging memory becomes the merge area
    float* merge = (float*)scratch;  // [warp][head][HD + 2]: output, then max and sum
    for (int h = 0; h < group; ++h) {
        float* row = merge + (warp * DA_MAX_GROUP + h) * (HD + 2);
#pragma unroll
        for (int e = 0; e < DPL; ++e) row[lane * DPL + e] = acc[h][e];
        if (lane == 0) { row[HD] = m[h]; row[HD + 1] = l[h]; }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < group * HD; i += blockDim.x) {
        const int h = i / HD, d = i % HD;
        float big = NEG_INF;
        for (int w = 0; w < DA_WARPS; ++w) big = fmaxf(big, merge[(w * DA_MAX_GROUP + h) * (HD + 2) + HD]);
        float o = 0.f, total = 0.f;
        for (int w = 0; w < DA_WARPS; ++w) {
            const float* row = merge + (w * DA_MAX_GROUP + h) * (HD + 2);
            if (row[HD] == NEG_INF) continue;
            const float f = expf(row[HD] - big);
            o += f * row[d];
            total += f * row[HD + 1];
        }
        const int head = g * group + h;
        if (gridDim.z > 1) {
            const long long at = ((long long)blockIdx.z * num_tokens + token) * num_heads + head;
            partial_o[at * HD + d] = o;
            if (d == 0) { partial_ml[2 * at] = big; partial_ml[2 * at + 1] = total; }
        } else {
            out[((long long)token * num_heads + head) * HD + d] = from_f<T>(total > 0.f ? o / total : 0.f);
        }
    }
}

// y[t, :] = x[t, :] · Wᵀ for a few tokens (decode steps): reading W once at full bandwidth is all
// that matters. One warp per output row; each lane issues GEMV_DEPTH 16-byte weight loads before
// using any (so that many bytes are in flight per warp), marked streaming so that they do not
// evict x from L1; float32 accumulation, then a warp sum. k must be a multiple of 8. (Asking for
// the next loads before using the current ones, double-buffered, measured slower on an H100:
// 1.67 against 2.9 TB/s on 4096x4096.)
#ifndef GEMV_DEPTH  // a kernel-source override may try another depth
#define GEMV_DEPTH 8
#endif
__device__ __forceinline__ uint4 load_streaming(const void* p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

template <typename T, int NT>
__device__ __forceinline__ void gemv_accumulate(float* acc, const uint4& wv, const T* x, int k, int c) {
    const T* wp = (const T*)&wv;
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const uint4 xv = *(const uint4*)(x + (long long)t * k + c);
        const T* xp = (const T*)&xv;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[t] += to_f(wp[e]) * to_f(xp[e]);
    }
}

// The dot products of weight row `wr` with the NT rows of x, summed over the warp (every lane
// gets them); a dead warp (`live` false) only takes part in the launch protocol and gets zeros.
template <typename T, int NT>
__device__ __forceinline__ void gemv_row(float* total, const T* x, const T* wr, int k, bool live) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int t = 0; t < NT; ++t) total[t] = 0.f;
    if (!live) { PDL_ENTER(); return; }
    int c = lane * 8;
    uint4 wv[GEMV_DEPTH];
    // The weights do not depend on the previous kernel: the first batch is read before waiting for it.
    const bool full = c + (GEMV_DEPTH - 1) * 256 < k;
    if (full) {
#pragma unroll
        for (int u = 0; u < GEMV_DEPTH; ++u) wv[u] = load_streaming(wr + c + u * 256);
    }
    PDL_ENTER();
    for (bool first = true; c + (GEMV_DEPTH - 1) * 256 < k; c += GEMV_DEPTH * 256, first = false) {
        if (!first) {
#pragma unroll
            for (int u = 0; u < GEMV_DEPTH; ++u) wv[u] = load_streaming(wr + c + u * 256);
        }
#pragma unroll
        for (int u = 0; u < GEMV_DEPTH; ++u) gemv_accumulate<T, NT>(total, wv[u], x, k, c + u * 256);
    }
    for (; c < k; c += 256) gemv_accumulate<T, NT>(total, load_streaming(wr + c), x, k, c);
#pragma unroll
    for (int t = 0; t < NT; ++t) total[t] = warp_sum(total[t]);
}

template <typename T, int NT>
__device__ void gemv(T* y, const T* x, const T* w, int n, int k) {
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    float total[NT];
    gemv_row<T, NT>(total, x, w + (long long)row * k, k, row < n);
    if (row >= n || (threadIdx.x & 31) != 0) return;
#pragma unroll
    for (int t = 0; t < NT; ++t) y[(long long)t * n + row] = from_f<T>(total[t]);
}

// y = silu(x · Wgᵀ) * (x · Wuᵀ) for W = [gate; up] stacked (2n rows): the MLP's gate/up product
// and its activation in one kernel. Blocks of 8 warps: warps 0-3 take four gate rows, warps 4-7
// the same four up rows, and one exchange through shared memory pairs them. Each product is
// rounded to the activation dtype before the activation, as the separate kernels round it.
template <typename T, int NT>
__device__ void gemv_swiglu(T* y, const T* x, const T* w, int n, int k) {
    __shared__ float up[4][NT];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int row = blockIdx.x * 4 + (warp & 3);
    float total[NT];
    gemv_row<T, NT>(total, x, w + (long long)(row + (warp >= 4 ? n : 0)) * k, k, row < n);
    if (warp >= 4 && lane == 0) {
#pragma unroll
        for (int t = 0; t < NT; ++t) up[warp - 4][t] = total[t];
    }
    __syncthreads();
    if (warp >= 4 || lane != 0 || row >= n) return;
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const float gate = rnd<T>(total[t]);
        y[(long long)t * n + row] = from_f<T>(rnd<T>(gate / (1.f + expf(-gate))) * rnd<T>(up[warp][t]));
    }
}

// out = silu(x[:, :n]) * x[:, n:], rounding silu's result first as PyTorch does. Rows whose width
// is a multiple of 16 bytes (every model's intermediate size) go 16 bytes a load: large prefill
// steps read and write hundreds of megabytes here.
template <typename T> __device__ void silu_and_mul(T* out, const T* x, long long rows, int n) {
    constexpr int E = 16 / sizeof(T);
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
            for (int e = 0; e < E; ++e) {
                const float gate = to_f(gp[e]);
                op[e] = from_f<T>(rnd<T>(gate / (1.f + expf(-gate))) * to_f(up[e]));
            }
            *(uint4*)(out + r * n + c) = ov;
        }
        return;
    }
    const long long total = rows * n;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const long long r = i / n, c = i % n;
        const float gate = to_f(x[r * 2 * n + c]), up = to_f(x[r * 2 * n + n + c]);
        out[i] = from_f<T>(rnd<T>(gate / (1.f + expf(-gate))) * up);
    }
}

template <typename T> __device__ void gather_rows(T* out, const T* x, const int* indices, int n) {
    const T* row = x + (long long)indices[blockIdx.x] * n;
    T* o = out + (long long)blockIdx.x * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) o[i] = row[i];
}

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

// Whether (v, i) beats (bv, bi) for argmax: the larger value, the lower index on ties.
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }

// The largest value and its index (the lower index on ties) over the block; every thread gets it.
__device__ void block_argmax(float& v, int& i) {
    __shared__ float values[32];
    __shared__ int indices[32];
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (better(ov, oi, v, i)) { v = ov; i = oi; }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) { values[warp] = v; indices[warp] = i; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < warps; ++w)
            if (better(values[w], indices[w], v, i)) { v = values[w]; i = indices[w]; }
        values[0] = v;
        indices[0] = i;
    }
    __syncthreads();
    v = values[0];
    i = indices[0];
    __syncthreads();
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
    if (threadIdx.x == 0) out[blockIdx.x] = bi;
}

#define INSTANTIATE(S, T)                                                                                               \
    extern "C" __global__ void embedding_##S(T* out, const T* table, const int* ids, const int* sampled, int hidden) { PDL_ENTER(); \
        embedding<T>(out, table, ids, sampled, hidden);                                                                \
    }                                                                                                                  \
    extern "C" __global__ void rms_norm_##S(T* out, const T* x, const T* w, int n, float eps) { PDL_ENTER();                        \
        rms_norm<T>(out, x, w, n, eps);                                                                                \
    }                                                                                                                  \
    extern "C" __global__ void add_rms_norm_##S(T* out, T* residual, const T* x, const T* w, int n, float eps) { PDL_ENTER();       \
        add_rms_norm<T>(out, residual, x, w, n, eps);                                                                  \
    }                                                                                                                  \
    extern "C" __global__ void head_rms_norm_##S(T* qkv, const T* qw, const T* kw, int width, int num_heads,           \
                                                 int head_dim, float eps) { PDL_ENTER();                                            \
        head_rms_norm<T>(qkv, qw, kw, width, num_heads, head_dim, eps);                                                \
    }                                                                                                                  \
    extern "C" __global__ void rotary_write_kv_##S(T* qkv, const T* rope, const int* positions, const int* slots,      \
                                                   T* keys, T* values, int width, int num_heads, int kv_heads,         \
                                                   int head_dim, int block_size) { PDL_ENTER();                        \
        rotary_write_kv<T>(qkv, rope, positions, slots, keys, values, width, num_heads, kv_heads, head_dim, block_size); \
    }                                                                                                                  \
    extern "C" __global__ void write_kv_cache_##S(const T* qkv, T* keys, T* values, const int* slots, int width,       \
                                                  int key_offset, int value_offset, int kv_heads, int head_dim,        \
                                                  int block_size) { PDL_ENTER();                                                    \
        write_kv_cache<T>(qkv, keys, values, slots, width, key_offset, value_offset, kv_heads, head_dim, block_size);  \
    }                                                                                                                  \
    extern "C" __global__ void paged_attention_##S(T* out, const T* qkv, const T* key_cache, const T* value_cache,     \
                                                   const int* tiles, const int* positions, const int* block_tables,    \
                                                   const int* table_width, int width, int num_heads, int kv_heads,            \
                                                   int head_dim, int block_size, float scale, int window) { PDL_ENTER();            \
        paged_attention<T>(out, qkv, key_cache, value_cache, tiles, positions, block_tables, table_width, width,      \
                           num_heads, kv_heads, head_dim, block_size, scale, window);                                  \
    }                                                                                                                  \
    extern "C" __global__ void silu_and_mul_##S(T* out, const T* x, long long rows, int n) { PDL_ENTER();                          \
        silu_and_mul<T>(out, x, rows, n);                                                                              \
    }                                                                                                                  \
    extern "C" __global__ void gather_rows_##S(T* out, const T* x, const int* indices, int n) { PDL_ENTER();                       \
        gather_rows<T>(out, x, indices, n);                                                                            \
    }                                                                                                                  \
    extern "C" __global__ void add_bias_##S(T* y, const T* bias, long long rows, int n) { PDL_ENTER(); add_bias<T>(y, bias, rows, n); } \
    extern "C" __global__ void to_float_##S(float* out, const T* x, long long count) { PDL_ENTER(); to_float<T>(out, x, count); }  \
    extern "C" __global__ void from_float_##S(T* out, const float* x, long long count) { PDL_ENTER(); from_float<T>(out, x, count); } \
    extern "C" __global__ void argmax_rows_##S(int* out, const T* x, int n, float* chunk_value, int* chunk_index,     \
                                               int* counters) { PDL_ENTER();                                           \
        argmax_rows<T>(out, x, n, chunk_value, chunk_index, counters);                                                 \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE(f16, __half)
#endif

#define INSTANTIATE_FLASH(S, T, HD)                                                                                    \
    extern "C" __global__ void __launch_bounds__(128) flash_attention_##S##_hd##HD(                                   \
        T* out, const T* qkv, const T* key_cache, const T* value_cache, const int* tiles, const int* positions,         \
        const int* block_tables, const int* table_width, int width, int num_heads, int kv_heads, int block_size,        \
        float scale, int window, float* partial_o, float* partial_ml, int num_tokens) { PDL_ENTER();                                \
        flash_attention<T, HD>(out, qkv, key_cache, value_cache, tiles, positions, block_tables, table_width, width,  \
                               num_heads, kv_heads, block_size, scale, window, partial_o, partial_ml, num_tokens);     \
    }

#define INSTANTIATE_COMBINE(S, T)                                                                                      \
    extern "C" __global__ void attention_combine_##S(T* out, const float* partial_o, const float* partial_ml,          \
                                                     int splits, int num_tokens, int num_heads, int head_dim) { PDL_ENTER();        \
        attention_combine<T>(out, partial_o, partial_ml, splits, num_tokens, num_heads, head_dim);                     \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_COMBINE(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_COMBINE(f16, __half)
#endif

#define INSTANTIATE_DECODE(S, T, HD)                                                                                   \
    extern "C" __global__ void __launch_bounds__(128) decode_attention_##S##_hd##HD(                                  \
        T* out, const T* qkv, const T* key_cache, const T* value_cache, const int* tiles, const int* positions,         \
        const int* block_tables, const int* table_width, int width, int num_heads, int kv_heads, int block_size,        \
        float scale, int window, float* partial_o, float* partial_ml, int num_tokens) { PDL_ENTER();                                \
        decode_attention<T, HD>(out, qkv, key_cache, value_cache, tiles, positions, block_tables, table_width, width, \
                                num_heads, kv_heads, block_size, scale, window, partial_o, partial_ml, num_tokens);    \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_DECODE(bf16, __nv_bfloat16, 64)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_DECODE(bf16, __nv_bfloat16, 128)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_DECODE(f16, __half, 64)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_DECODE(f16, __half, 128)
#endif

#ifdef VLLM_DTYPE_BF16
INSTANTIATE_FLASH(bf16, __nv_bfloat16, 64)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_FLASH(bf16, __nv_bfloat16, 128)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_FLASH(bf16, __nv_bfloat16, 256)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_FLASH(f16, __half, 64)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_FLASH(f16, __half, 128)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_FLASH(f16, __half, 256)
#endif

#define INSTANTIATE_GEMV(S, T, NT)                                                                                     \
    extern "C" __global__ void __launch_bounds__(256) gemv_##S##_t##NT(T* y, const T* x, const T* w, int n, int k) {  \
        gemv<T, NT>(y, x, w, n, k);                                                                                    \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) gemv_swiglu_##S##_t##NT(T* y, const T* x, const T* w, int n,    \
                                                                            int k) {                                   \
        gemv_swiglu<T, NT>(y, x, w, n, k);                                                                             \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GEMV(bf16, __nv_bfloat16, 1)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GEMV(bf16, __nv_bfloat16, 2)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GEMV(bf16, __nv_bfloat16, 3)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GEMV(bf16, __nv_bfloat16, 4)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GEMV(f16, __half, 1)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GEMV(f16, __half, 2)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GEMV(f16, __half, 3)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GEMV(f16, __half, 4)
#endif
