// Prefill attention on the tensor cores with register accumulators (FlashAttention-2 style).
// 16-bit activations, head sizes 64 and 128.
//
// Same arguments and semantics as flash_attention in attention.cu, so the backend swaps one for the
// other: one block per (query tile, kv head, key split). A tile is up to ROWS/group consecutive tokens
// of one sequence (tiles[3i] = sequence, [3i+1] = first token, [3i+2] = token count); its rows are
// the (token, query head of this kv head) pairs, row r = token r / group, head r % group, so that
// every key and value brought into shared memory serves all query heads of the group. Rows past
// count * group are padding: computed on (as copies of the last token, so nothing special happens
// in them) but never written. Keys come from the paged cache through the block table; the causal
// mask is per row by position, with an optional sliding window. With gridDim.z > 1 each z takes a
// run of whole key tiles and writes unnormalized partial results for attention_combine.
//
// Tiling. WARPS warps, each owning 16 query rows (ROWS = 16 * WARPS); keys are walked in tiles of
// 64. Per key tile each warp computes S = Q·Kᵀ (16 x 64) and O += P·V (16 x HD) with
// mma.sync.m16n8k16 (16-bit inputs, float32 accumulators):
//   - Q (ROWS x HD) is copied to shared memory once and each warp keeps its 16 rows as A fragments
//     in registers for the whole loop (HD/16 fragments of 4 registers).
//   - K and V tiles (64 x HD each) are double-buffered in shared memory: cp.async copies tile t+1
//     while the warps compute on tile t, so one barrier a tile is all the block needs. Rows are
//     padded by 8 elements (16 bytes): the 8 row addresses of one ldmatrix 8x8 matrix then fall
//     on 8 different groups of 4 banks, so neither ldmatrix nor the cp.async writes conflict.
//   - S, P and O never leave registers: S is 8 C fragments (64 keys / 8), O is HD/8 C fragments.
//     The C fragment of an m16n8 product has exactly the layout of half an A fragment of the next
//     m16n8k16 product, so P becomes the A operand of P·V by rounding pairs to 16 bits, no shuffle.
//   - Online softmax in registers: each thread holds 2 rows (g and g + 8, below) x 16 keys of S;
//     the row max needs a reduction over the 4 threads of a quad (2 shuffles); the row sum is kept
//     per thread and reduced once at the end. exp2 with the scale premultiplied by log2(e), so a
//     score costs one FMA and one ex2; the max is kept in those base-2 units and converted back to
//     natural units only for split-KV partials (attention_combine uses expf).
//   - Key tiles past the tile's last position are never visited (the loop ends there); the mask is
//     evaluated only on tiles that straddle a row's causal limit, the window's start or the split's
//     end, and a warp skips a tile none of its rows may see.
//
// Fragment layouts of mma.m16n8k16 with 16-bit inputs (PTX ISA, "Matrix Fragments for
// mma.m16n8k16"); lane = 4 g + c (g = lane >> 2 "groupID", c = lane & 3 "threadID_in_group"), each
// 32-bit register holds two consecutive-column elements, the lower column in the low half:
//   A (16 x 16, row major), 4 registers: a0 = (row g,     cols 2c, 2c+1)   a1 = (row g + 8, cols 2c, 2c+1)
//                                        a2 = (row g,     cols 2c+8, 2c+9) a3 = (row g + 8, cols 2c+8, 2c+9)
//   B (16 x 8, k x n, "col"), 2 registers: b0 = (rows k = 2c, 2c+1, col n = g)  b1 = (rows 2c+8, 2c+9, col g)
//   C/D (16 x 8, float), 4 registers: c0, c1 = (row g, cols 2c, 2c+1)  c2, c3 = (row g + 8, cols 2c, 2c+1)
// ldmatrix.m8n8.x4 loads four 8x8 16-bit matrices; lanes 8i..8i+7 give the row addresses of matrix
// i, and each lane receives register i = (row lane >> 2, cols 2 (lane & 3), +1) of matrix i, the
// layout of a0..a3 / b0, b1 above. With .trans it receives (rows 2 (lane & 3), +1, col lane >> 2),
// i.e. the matrix transposed.
//   - Q as A: matrices (rows 0-7, dims 0-7), (rows 8-15, dims 0-7), (rows 0-7, dims 8-15),
//     (rows 8-15, dims 8-15) are a0..a3: lane l points at row l & 15, dim 8 (l >> 4).
//   - K as B of S = Q·Kᵀ: B[k = dim][n = key] = K[key][dim], so a plain load of K rows (key-major)
//     gives b0 (keys 0-7, dims 0-7) and b1 (keys 0-7, dims 8-15); one x4 covers two n-tiles of 8
//     keys: lane l points at key (l & 7) + 8 (l >> 4), dim 8 ((l >> 3) & 1).
//   - V as B of O = P·V: B[k = key][n = dim] = V[key][dim]; b0 needs two consecutive keys of one
//     dim, so V (stored key-major) is loaded transposed; one x4 covers two n-tiles of 8 dims: lane
//     l points at key (l & 7) + 8 ((l >> 3) & 1), dim 8 (l >> 4).
//   - P as A of P·V for keys 16j..16j+15: a0, a1 = C fragment of keys 16j..16j+7 (c0 c1, c2 c3),
//     a2, a3 = that of keys 16j+8..16j+15.
//
// FP8 KV cache (C = unsigned char, the `_fp8` kernels): cp.async brings a tile's e4m3 codes into a
// raw area of shared memory, and once they have landed each thread widens the chunks it copied
// itself to the 16-bit type in the stage (exact: a code's value times 2^-8 is a half and a
// bfloat16), before the barrier that already precedes the tile's use; no barrier is added, and the
// raw area is one tile, since a thread widens its chunks before it copies the next tile's over
// them. `scale` includes the key scale and the output is multiplied by `value_scale` (with the 2^8).
#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

#define FP_KEYS 64

// Dynamic shared memory of flash_prefill (the backend computes the same): Q, then two stages of K and
// V, then for an FP8 cache the raw codes of one K and V tile.
template <int HD, int WARPS, bool FP8> constexpr int fp_shared_bytes() {
    return (16 * WARPS + 4 * FP_KEYS) * (HD + 8) * 2 + (FP8 ? 2 * FP_KEYS * HD : 0);
}

template <typename T, typename C, int HD, int WARPS>
__device__ void flash_prefill(T* out, const T* qkv, const C* key_cache, const C* value_cache, const int* tiles,
                              const int* positions, const int* block_tables, const int* table_width, int width,
                              int num_heads, int kv_heads, int block_size, float scale, int window, float softcap,
                              float* partial_o, float* partial_ml, int num_tokens, float value_scale) {
    static_assert(HD == 64 || HD == 128, "flash_prefill takes head sizes 64 and 128");
    constexpr int ROWS = 16 * WARPS, KEYS = FP_KEYS, THREADS = 32 * WARPS;
    constexpr int LD = HD + 8;   // padded shared row (elements)
    constexpr int CH = HD / 8;   // 16-byte chunks of a row
    constexpr int NT = KEYS / 8; // n-tiles of S (8 keys each)
    constexpr int DT = HD / 8;   // n-tiles of O (8 dims each)
    constexpr bool FP8 = is_fp8_cache<C>();
    constexpr int RCH = HD / 16;  // 16-byte chunks of a row of codes
    static_assert((KEYS * CH) % THREADS == 0 && (ROWS * CH) % THREADS == 0 && (KEYS * RCH) % THREADS == 0,
                  "whole copy rounds");
    extern __shared__ __align__(128) unsigned char fp_smem[];
    T* qs = (T*)fp_smem;                 // [ROWS][LD]
    T* stages = qs + ROWS * LD;          // stage s: keys [KEYS][LD] at 2s, values at 2s + 1
    unsigned char* raw = (unsigned char*)(stages + 4 * KEYS * LD);  // FP8: codes of keys [KEYS][HD], then values

    const int seq = tiles[3 * blockIdx.x], first = tiles[3 * blockIdx.x + 1], count = tiles[3 * blockIdx.x + 2];
    const int g = blockIdx.y, group = num_heads / kv_heads, rows = count * group;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int quad_row = lane >> 2, quad_col = lane & 3;  // g and c of the fragment layouts
    const int first_pos = positions[first], last_pos = positions[first + count - 1];
    // The width comes from device memory so that a recorded graph replays with any step's tables.
    const int* table = block_tables + (long long)seq * *table_width;
    // Whole key tiles from key 0, so that a row's keys fall into the same tiles whichever tokens share
    // its query tile (batch invariance; the window's mask drops the extra keys of the first tile).
    int key_begin = window > 0 ? imax(0, first_pos - window + 1) / KEYS * KEYS : 0, key_end = last_pos + 1;
    if (gridDim.z > 1) {
        // The same runs of whole key tiles as flash_attention (FP_KEYS == FA_KEYS).
        const int per_split = ((key_end - key_begin + gridDim.z - 1) / gridDim.z + KEYS - 1) / KEYS * KEYS;
        key_begin += blockIdx.z * per_split;
        key_end = imin(key_end, key_begin + per_split);
    }
    const int key_tiles = key_end > key_begin ? (key_end - key_begin + KEYS - 1) / KEYS : 0;

    // Q rows to shared memory; padding rows are zeros.
#pragma unroll
    for (int u = 0; u < ROWS * CH / THREADS; ++u) {
        const int i = tid + u * THREADS, r = i / CH, c = i % CH;
        const bool live = r < rows;
        const int token = first + (live ? r / group : 0), head = g * group + (live ? r % group : 0);
        fp_copy16(fp_shared_address(qs + r * LD + c * 8), qkv + (long long)token * width + head * HD + c * 8, live);
    }
    // Key tile at k0 (keys k0 .. key_end - 1 of it are real, the rest zeros) into stage `stage`
    // (FP8: into the raw area, which `widen_tile` then widens into the stage).
    auto load_tile = [&](int k0, int stage) {
        T* ks = stages + 2 * stage * KEYS * LD;
        T* vs = ks + KEYS * LD;
        const int real = key_end - k0;
        if constexpr (FP8) {
#pragma unroll
            for (int u = 0; u < KEYS * RCH / THREADS; ++u) {
                const int i = tid + u * THREADS, j = i / RCH, c = i % RCH;
                const bool live = j < real;
                const int pos = k0 + (live ? j : 0);
                const long long at = (((long long)table[pos / block_size] * kv_heads + g) * block_size + pos % block_size) * HD + c * 16;
                fp_copy16(fp_shared_address(raw + j * HD + c * 16), key_cache + at, live);
                fp_copy16(fp_shared_address(raw + (KEYS + j) * HD + c * 16), value_cache + at, live);
            }
        } else {
#pragma unroll
            for (int u = 0; u < KEYS * CH / THREADS; ++u) {
                const int i = tid + u * THREADS, j = i / CH, c = i % CH;
                const bool live = j < real;
                const int pos = k0 + (live ? j : 0);
                const long long at = (((long long)table[pos / block_size] * kv_heads + g) * block_size + pos % block_size) * HD + c * 8;
                fp_copy16(fp_shared_address(ks + j * LD + c * 8), key_cache + at, live);
                fp_copy16(fp_shared_address(vs + j * LD + c * 8), value_cache + at, live);
            }
        }
    };
    // FP8: this thread's raw chunks of the tile that has landed, widened into stage `stage`.
    auto widen_tile = [&](int stage) {
        if constexpr (FP8) {
            T* ks = stages + 2 * stage * KEYS * LD;
#pragma unroll
            for (int u = 0; u < 2 * KEYS * RCH / THREADS; ++u) {
                const int i = tid + (u % (KEYS * RCH / THREADS)) * THREADS, j = i / RCH, c = i % RCH;
                const int part = u / (KEYS * RCH / THREADS);  // 0: keys, 1: values
                float w[16];
                unpack_fp8(w, *(const uint4*)(raw + (part * KEYS + j) * HD + c * 16), 0.f);
                unsigned packed[8];
#pragma unroll
                for (int e = 0; e < 8; ++e) packed[e] = fp_pack<T>(w[2 * e], w[2 * e + 1]);
                uint4* dst = (uint4*)(ks + (part * KEYS + j) * LD + c * 16);
                dst[0] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
                dst[1] = make_uint4(packed[4], packed[5], packed[6], packed[7]);
            }
        }
    };
    if (key_tiles > 0) load_tile(key_begin, 0);
    fp_commit();

    // This warp's rows: positions of the thread's two rows (g and g + 8) and the range of the warp's.
    const int r0 = warp * 16;
    const bool active = r0 < rows;  // decodes in a mixed step fill only `group` rows of their tile
    const int row_pos0 = positions[first + imin((r0 + quad_row) / group, count - 1)];
    const int row_pos1 = positions[first + imin((r0 + quad_row + 8) / group, count - 1)];
    const int warp_first = positions[first + imin(r0 / group, count - 1)];
    const int warp_last = positions[first + imin((r0 + 15) / group, count - 1)];
    // Soft-capped scores are scaled before the cap, so the exponent then only converts to base 2.
    const float scale_log2 = (softcap > 0.f ? 1.f : scale) * 1.4426950408889634f;
    // Under the 128-register cap (head size 64, 8 warps) the soft cap divides once, not per score:
    // the division per score spilled there (FP8 cache: 12 bytes); elsewhere hoisting it costs 13 to
    // 22 registers (ptxas), and for head size 64 with 4 warps a block a multiprocessor.
    constexpr bool CAPPED = HD == 64 && WARPS == 8;
    const float cap_scale = softcap > 0.f ? scale / softcap : 0.f;

    float o[DT][4];
#pragma unroll
    for (int n = 0; n < DT; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float row_max[2] = {NEG_INF, NEG_INF};  // base-2 units: max of score * scale * log2(e)
    float row_sum[2] = {0.f, 0.f};          // this thread's columns only until the end
    unsigned qf[HD / 16][4];

    fp_wait_all();
    if (key_tiles > 0) widen_tile(0);
    __syncthreads();
    if (active) {
#pragma unroll
        for (int d = 0; d < HD / 16; ++d)
            fp_ldmatrix(qf[d], fp_shared_address(qs + (r0 + (lane & 15)) * LD + d * 16 + (lane >> 4) * 8));
    }

    for (int t = 0; t < key_tiles; ++t) {
        const int k0 = key_begin + t * KEYS;
        if (t > 0) {
            // Tile t has landed, and every warp is done with tile t - 1, whose stage is refilled next.
            fp_wait_all();
            widen_tile(t & 1);
            __syncthreads();
        }
        if (t + 1 < key_tiles) load_tile(k0 + KEYS, (t + 1) & 1);
        fp_commit();
        if (!active) continue;
        // Nothing here for this warp: every key after its last row, or before its first row's window.
        if (k0 > warp_last || (window > 0 && k0 + KEYS - 1 <= warp_first - window)) continue;
        const T* ks = stages + 2 * (t & 1) * KEYS * LD;
        const T* vs = ks + KEYS * LD;

        float s[NT][4];
#pragma unroll
        for (int n = 0; n < NT; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
        for (int d = 0; d < HD / 16; ++d) {
#pragma unroll
            for (int kp = 0; kp < KEYS / 16; ++kp) {
                unsigned b[4];
                fp_ldmatrix(b, fp_shared_address(ks + (kp * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD + d * 16 + ((lane >> 3) & 1) * 8));
                fp_mma<T>(s[2 * kp], qf[d], b[0], b[1]);
                fp_mma<T>(s[2 * kp + 1], qf[d], b[2], b[3]);
            }
        }
        // Soft-capping (Gemma 2) before the mask, which then leaves -inf where it applies.
        if (softcap > 0.f) {
#pragma unroll
            for (int n = 0; n < NT; ++n) {
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    s[n][e] = CAPPED ? softcap * tanhf(s[n][e] * cap_scale) : soft_cap_score(s[n][e] * scale, softcap);
            }
        }
        // The mask, only where some key of the tile is invisible to some row of the warp: past the
        // first row's position (causal), past the split's end, or before the last row's window.
        if (k0 + KEYS - 1 > warp_first || k0 + KEYS > key_end || (window > 0 && k0 <= warp_last - window)) {
#pragma unroll
            for (int n = 0; n < NT; ++n) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int key = k0 + n * 8 + 2 * quad_col + (e & 1), pos = e < 2 ? row_pos0 : row_pos1;
                    if (key >= key_end || key > pos || (window > 0 && key <= pos - window)) s[n][e] = NEG_INF;
                }
            }
        }
        // Online softmax of rows g (h = 0: elements 0, 1) and g + 8 (h = 1: elements 2, 3).
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float top = NEG_INF;
#pragma unroll
            for (int n = 0; n < NT; ++n) top = fmaxf(top, fmaxf(s[n][2 * h], s[n][2 * h + 1]));
            top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, 1));
            top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, 2));
            const float new_max = fmaxf(row_max[h], top * scale_log2);
            // A row with nothing visible yet keeps max -inf; subtracting 0 then keeps p = 0, alpha = 0.
            const float base = new_max == NEG_INF ? 0.f : new_max;
            const float alpha = fp_exp2(row_max[h] - base);
            row_max[h] = new_max;
            float total = 0.f;
#pragma unroll
            for (int n = 0; n < NT; ++n) {
#pragma unroll
                for (int e = 2 * h; e < 2 * h + 2; ++e) {
                    const float p = fp_exp2(fmaf(s[n][e], scale_log2, -base));
                    s[n][e] = p;
                    total += p;
                }
            }
            row_sum[h] = row_sum[h] * alpha + total;
#pragma unroll
            for (int n = 0; n < DT; ++n) { o[n][2 * h] *= alpha; o[n][2 * h + 1] *= alpha; }
        }
        // O += P·V, P rounded to the activation dtype.
#pragma unroll
        for (int kp = 0; kp < KEYS / 16; ++kp) {
            const unsigned a[4] = {fp_pack<T>(s[2 * kp][0], s[2 * kp][1]), fp_pack<T>(s[2 * kp][2], s[2 * kp][3]),
                                   fp_pack<T>(s[2 * kp + 1][0], s[2 * kp + 1][1]), fp_pack<T>(s[2 * kp + 1][2], s[2 * kp + 1][3])};
#pragma unroll
            for (int dp = 0; dp < HD / 16; ++dp) {
                unsigned b[4];
                fp_ldmatrix_trans(b, fp_shared_address(vs + (kp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + dp * 16 + (lane >> 4) * 8));
                fp_mma<T>(o[2 * dp], a, b[0], b[1]);
                fp_mma<T>(o[2 * dp + 1], a, b[2], b[3]);
            }
        }
    }
    if (!active) return;

#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float total = row_sum[h];
        total += __shfl_xor_sync(0xffffffffu, total, 1);
        total += __shfl_xor_sync(0xffffffffu, total, 2);
        const int r = r0 + quad_row + 8 * h;
        if (r >= rows) continue;
        const int token = first + r / group, head = g * group + r % group;
        if constexpr (FP8) {
#pragma unroll
            for (int n = 0; n < DT; ++n) { o[n][2 * h] *= value_scale; o[n][2 * h + 1] *= value_scale; }
        }
        if (gridDim.z > 1) {
            // Unnormalized partial results; attention_combine merges the splits (max in natural units).
            const long long at = ((long long)blockIdx.z * num_tokens + token) * num_heads + head;
#pragma unroll
            for (int n = 0; n < DT; ++n)
                *(float2*)(partial_o + at * HD + n * 8 + 2 * quad_col) = make_float2(o[n][2 * h], o[n][2 * h + 1]);
            if (quad_col == 0) {
                partial_ml[2 * at] = row_max[h] * 0.6931471805599453f;
                partial_ml[2 * at + 1] = total;
            }
        } else {
            const float inverse = total > 0.f ? 1.f / total : 0.f;
            T* row = out + ((long long)token * num_heads + head) * HD;
#pragma unroll
            for (int n = 0; n < DT; ++n)
                *(unsigned*)(row + n * 8 + 2 * quad_col) = fp_pack<T>(o[n][2 * h] * inverse, o[n][2 * h + 1] * inverse);
        }
    }
}

// BLOCKS: blocks a multiprocessor must hold (a register cap for ptxas). Head size 64 with 8 warps
// needs 129 registers uncapped, one too many for two blocks; the others are at 1 (hd128: one block
// of 8 warps or two of 4 fit anyway; hd64 with 4 warps fits three).
#define INSTANTIATE_FLASH_PREFILL(S, T, HD, WARPS, BLOCKS)                                                              \
    extern "C" __global__ void __launch_bounds__(32 * WARPS, BLOCKS) flash_prefill_##S##_hd##HD##_w##WARPS(          \
        T* out, const T* qkv, const T* key_cache, const T* value_cache, const int* tiles, const int* positions,         \
        const int* block_tables, const int* table_width, int width, int num_heads, int kv_heads, int block_size,        \
        float scale, int window, float softcap, float* partial_o, float* partial_ml, int num_tokens) {                 \
        PDL_ENTER();                                                                                                   \
        flash_prefill<T, T, HD, WARPS>(out, qkv, key_cache, value_cache, tiles, positions, block_tables, table_width, \
                                       width, num_heads, kv_heads, block_size, scale, window, softcap, partial_o,     \
                                       partial_ml, num_tokens, 1.f);                                                   \
    }
#define INSTANTIATE_FLASH_PREFILL_FP8(S, T, HD, WARPS, BLOCKS)                                                         \
    extern "C" __global__ void __launch_bounds__(32 * WARPS, BLOCKS) flash_prefill_fp8_##S##_hd##HD##_w##WARPS(      \
        T* out, const T* qkv, const unsigned char* key_cache, const unsigned char* value_cache, const int* tiles,      \
        const int* positions, const int* block_tables, const int* table_width, int width, int num_heads,              \
        int kv_heads, int block_size, float scale, int window, float softcap, float* partial_o, float* partial_ml,     \
        int num_tokens, float key_scale, float value_scale) {                                                          \
        PDL_ENTER();                                                                                                   \
        flash_prefill<T, unsigned char, HD, WARPS>(out, qkv, key_cache, value_cache, tiles, positions, block_tables,  \
                                                   table_width, width, num_heads, kv_heads, block_size,               \
                                                   scale * key_scale * 256.f, window, softcap, partial_o, partial_ml, \
                                                   num_tokens, value_scale * 256.f);                                   \
    }
#ifdef VLLM_DTYPE_BF16
#if VLLM_WANTS_HEAD_DIM(64)
INSTANTIATE_FLASH_PREFILL(bf16, __nv_bfloat16, 64, 4, 1)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_FLASH_PREFILL_FP8(bf16, __nv_bfloat16, 64, 4, 1)
#endif
#endif
#if VLLM_WANTS_HEAD_DIM(64)
INSTANTIATE_FLASH_PREFILL(bf16, __nv_bfloat16, 64, 8, 2)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_FLASH_PREFILL_FP8(bf16, __nv_bfloat16, 64, 8, 2)
#endif
#endif
#if VLLM_WANTS_HEAD_DIM(128)
INSTANTIATE_FLASH_PREFILL(bf16, __nv_bfloat16, 128, 4, 1)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_FLASH_PREFILL_FP8(bf16, __nv_bfloat16, 128, 4, 1)
#endif
#endif
#if VLLM_WANTS_HEAD_DIM(128)
INSTANTIATE_FLASH_PREFILL(bf16, __nv_bfloat16, 128, 8, 1)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_FLASH_PREFILL_FP8(bf16, __nv_bfloat16, 128, 8, 1)
#endif
#endif
#endif
#ifdef VLLM_DTYPE_F16
#if VLLM_WANTS_HEAD_DIM(64)
INSTANTIATE_FLASH_PREFILL(f16, __half, 64, 4, 1)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_FLASH_PREFILL_FP8(f16, __half, 64, 4, 1)
#endif
#endif
#if VLLM_WANTS_HEAD_DIM(64)
INSTANTIATE_FLASH_PREFILL(f16, __half, 64, 8, 2)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_FLASH_PREFILL_FP8(f16, __half, 64, 8, 2)
#endif
#endif
#if VLLM_WANTS_HEAD_DIM(128)
INSTANTIATE_FLASH_PREFILL(f16, __half, 128, 4, 1)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_FLASH_PREFILL_FP8(f16, __half, 128, 4, 1)
#endif
#endif
#if VLLM_WANTS_HEAD_DIM(128)
INSTANTIATE_FLASH_PREFILL(f16, __half, 128, 8, 1)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_FLASH_PREFILL_FP8(f16, __half, 128, 8, 1)
#endif
#endif
#endif
