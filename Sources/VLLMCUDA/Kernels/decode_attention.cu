// Attention of decode steps for 16-bit activations, head sizes 64, 128 and 256: a tensor-core kernel
// (decode_attention_mma, head sizes 64 and 128, wherever a block's keys come in long runs) and a
// lane-a-key kernel (decode_attention: head size 256, and short splits such as the batch-1 decode
// of a short context), chosen per block by decode_attention_by_splits. Their split-KV partial
// results are merged by attention_combine (attention.cu).

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// The lane-a-key kernel (one query token per sequence): memory-bound, so built to keep many
// key/value bytes in flight. One block of 4 warps per
// (sequence, kv head, split); each warp takes runs of 32 / KL keys, KL lanes a key. The run's key
// and value rows stream into shared memory with cp.async; each lane dots its share of a key's row
// (16-byte chunks KL apart) with the group's queries (all query heads of this kv head, kept in shared
// memory), the KL partial sums meet by shuffles; then each lane owns HD / 32 output dimensions of
// every head and walks the run's keys. Per-warp online softmax, merged across warps at the end; with
// several splits the unnormalized result goes to attention_combine. Head size 256 (Gemma) takes at
// least two lanes a key, so that a warp's staged rows stay within about 74 KB a block (DecodeShared).
// (Merging in the last split to finish, counted with atomics, measured 6 to 14 us slower a step on
// an H100 than the separate kernel.) Head sizes 64, 128 and 256 (others use flash_attention). The
// cache holds activations (C = T) or e4m3 codes (C = unsigned char: half the bytes a key, read as
// kv_f gives them; `scale` includes the key scale, the output is multiplied by `value_scale`).
//
// KL, lanes a key: 1 (a lane dots a whole row) when the keys are not split (large batches, where
// head size 256 takes this kernel); DA_SPLIT_LANES (8) when they are (small batches). Why: with a lane
// a key, one warp walks a whole 32-key run alone, HD x group dependent multiply-adds a lane; at batch 1
// on the 8B shape (33 keys, 16 splits) that one warp was the whole kernel, 17.6 us of which the SMs
// were busy a quarter (ncu, H100, 2026-12-05). More lanes a key cut each warp's chain and its runs
// (4 keys with 8 lanes), so the splits share short contexts out among more warps.
#define DA_WARPS 4
#define DA_MAX_GROUP 8
#define DA_HEAD_BLOCK 4
static_assert(DA_MAX_GROUP % DA_HEAD_BLOCK == 0, "the heads loop walks whole blocks");

// 16 bytes of the cache (16-byte aligned) as floats, kv_f's values.
template <typename C> __device__ __forceinline__ void kv_chunk_f(float* out, const C* p) {
    if constexpr (is_fp8_cache<C>()) unpack_fp8(out, *(const uint4*)p, 0.f);
    else load_floats<C, 16 / (int)sizeof(C)>(out, p);
}

// The fewest lanes a key for head size HD: the unsplit kernel's.
template <int HD> constexpr int decode_min_lanes() { return HD > 128 ? 2 : 1; }

// Lanes a key of the unsplit kernel (large batches). A kernel-source override may try more
// (`run_gpu_checks.sh attnvariants`): with one lane a key, a warp's load instruction touches 32
// rows, with four it reads 64 contiguous bytes of each of 8 rows. Clamped to what the head size
// allows (at least decode_min_lanes, at most one 16-byte chunk a lane).
#ifndef DA_UNSPLIT_LANES
#define DA_UNSPLIT_LANES 1
#endif
template <typename C, int HD> constexpr int decode_unsplit_lanes() {
    constexpr int most = HD / (16 / (int)sizeof(C)), fewest = decode_min_lanes<HD>();
    return DA_UNSPLIT_LANES < fewest ? fewest : DA_UNSPLIT_LANES > most ? most : DA_UNSPLIT_LANES;
}

// Lanes a key where the keys are split (small batches): DA_SPLIT_LANES, at most one 16-byte chunk a
// lane. 8 (runs of 4 keys: more of a short split's warps busy, shorter dot products a lane) took
// 0.8 (8B shape), 2.3 (Gemma-2-9B) and 1.0 us (Qwen3-30B-A3B) off a layer of a batch-1 step on an H100
// against 4 lanes (2026-12-06, `run_gpu_checks.sh latencyab`).
#ifndef DA_SPLIT_LANES
#define DA_SPLIT_LANES 8
#endif
// DA_EARLY_KEYS 0 and DA_BLOCK_SOFTMAX 0 (kernel-source overrides) take out two of stop 38's changes
// to the lane-a-key kernel for a measurement apart: the key rows copied before the wait for the
// previous kernel, and the softmax a block of heads at a time.
#ifndef DA_EARLY_KEYS
#define DA_EARLY_KEYS 1
#endif
#ifndef DA_BLOCK_SOFTMAX
#define DA_BLOCK_SOFTMAX 1
#endif
// Heads of a softmax block (DA_HEAD_BLOCK unless overridden): 2 fits a group of 2 (Gemma-2-9B), which
// blocks of 4 make compute two dead heads; not yet measured.
#ifndef DA_SOFTMAX_HEADS
#define DA_SOFTMAX_HEADS DA_HEAD_BLOCK
#endif
template <typename C, int HD> constexpr int decode_split_lanes() {
    constexpr int most = HD / (16 / (int)sizeof(C));
    return DA_SPLIT_LANES > most ? most : DA_SPLIT_LANES;
}

// The block's shared memory (dynamic: more than 48 KB; CUDABackend.decodeAttentionSharedBytes gives
// its size), sized for the fewest lanes a key (the largest staging) so that both KL instantiations
// use the same bytes.
template <typename C, int HD> struct DecodeShared {
    static constexpr int VLD = HD + 16 / (int)sizeof(C);  // a value row padded by 16 bytes
    static constexpr int STAGE_BYTES = DA_WARPS * (32 / decode_min_lanes<HD>()) * VLD * (int)sizeof(C);
    static constexpr int MERGE_BYTES = DA_WARPS * DA_MAX_GROUP * (HD + 2) * 4;
    __align__(16) float qs[DA_MAX_GROUP][HD];
    // Each warp's key rows, then each warp's value rows while the loop runs; the warps' partial
    // results after it.
    __align__(16) unsigned char scratch[2 * STAGE_BYTES > MERGE_BYTES ? 2 * STAGE_BYTES : MERGE_BYTES];
};

// The keys of a block's (sequence, kv head, split): the window's, cut into gridDim.z splits of whole
// runs of RUN keys.
template <int RUN> __device__ __forceinline__ void decode_key_range(int pos, int window, int& key_begin, int& key_end) {
    key_begin = window > 0 ? imax(0, pos - window + 1) : 0, key_end = pos + 1;
    if (gridDim.z > 1) {
        const int per_split = ((key_end - key_begin + gridDim.z - 1) / gridDim.z + RUN - 1) / RUN * RUN;
        key_begin += blockIdx.z * per_split;
        key_end = imin(key_end, key_begin + per_split);
    }
}

// What both kernels know of their block before anything else: its token, kv head, block table and
// keys, and the warp's staged key rows, then its value rows. The step's tiles, positions and block
// tables were written before its first kernel, so these dependent reads run while the previous
// kernel (rotary_write_kv, which writes q and the cache) finishes; only q and the cache wait for it
// (the kernels' PDL_ENTER comes after).
template <typename C, int HD, int RUN> struct DecodeBlock {
    int token, g, group, key_begin, key_end;
    // The first key this step wrote for the sequence (or later): a tile's third value is its
    // sequence's token count in the step, and those tokens' keys end at this token's.
    int fresh_begin;
    const int* table;
    C *ks, *vs;
    __device__ __forceinline__ DecodeBlock(DecodeShared<C, HD>& shared, const int* tiles, const int* positions,
                                           const int* block_tables, const int* table_width, int num_heads,
                                           int kv_heads, int window) {
        const int seq = tiles[3 * blockIdx.x], warp = threadIdx.x >> 5;
        token = tiles[3 * blockIdx.x + 1], g = blockIdx.y, group = num_heads / kv_heads;
        table = block_tables + (long long)seq * *table_width;
        decode_key_range<RUN>(positions[token], window, key_begin, key_end);
        fresh_begin = positions[token] + 1 - tiles[3 * blockIdx.x + 2];
        ks = (C*)shared.scratch + warp * RUN * DecodeShared<C, HD>::VLD;
        vs = (C*)shared.scratch + (DA_WARPS + warp) * RUN * DecodeShared<C, HD>::VLD;
    }
};

// The end of both kernels below: each warp has written its heads' unnormalized outputs, maximum
// (natural units) and sum to `merge` ([warp][head][HD + 2]); merged here into the output, or with
// several splits into the unnormalized partial result for attention_combine.
template <typename T, typename C, int HD>
__device__ void decode_merge_warps(const float* merge, T* out, float* partial_o, float* partial_ml, int g, int group,
                                   int token, int num_heads, int num_tokens, float value_scale) {
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
        if constexpr (is_fp8_cache<C>()) o *= value_scale;
        if (gridDim.z > 1) {
            const long long at = ((long long)blockIdx.z * num_tokens + token) * num_heads + head;
            partial_o[at * HD + d] = o;
            if (d == 0) { partial_ml[2 * at] = big; partial_ml[2 * at + 1] = total; }
        } else {
            out[((long long)token * num_heads + head) * HD + d] = from_f<T>(total > 0.f ? o / total : 0.f);
        }
    }
}

// The largest of a warp's values where each key's KL lanes hold the same one: only the key slots'
// lanes take part (log2(32 / KL) shuffles instead of 5).
template <int KL> __device__ __forceinline__ float slot_max(float v) {
#pragma unroll
    for (int o = KL; o < 32; o <<= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

template <typename T, typename C, int HD, int KL>
__device__ void decode_attention(DecodeShared<C, HD>& shared, T* out, const T* qkv, const C* key_cache,
                                 const C* value_cache, const int* tiles, const int* positions, const int* block_tables,
                                 const int* table_width, int width, int num_heads, int kv_heads, int block_size,
                                 float scale, int window, float softcap, float* partial_o, float* partial_ml,
                                 int num_tokens, float value_scale) {
    // Output dimensions per lane; cache elements per 16 bytes; keys a run; 16-byte chunks a lane.
    constexpr int DPL = HD / 32, PER = 16 / (int)sizeof(C), VLD = DecodeShared<C, HD>::VLD, RUN = 32 / KL;
    constexpr int CHUNKS = HD / PER / KL;
    static_assert(DPL == 2 || DPL == 4 || DPL == 8, "decode_attention takes head sizes 64, 128 and 256");
    static_assert(KL >= decode_min_lanes<HD>(), "the staging memory holds runs of 32 / decode_min_lanes keys");
    static_assert(CHUNKS * KL * PER == HD, "a key's row splits evenly over its lanes");
    float (*qs)[HD] = shared.qs;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, slot = lane / KL, part = lane % KL;
    const DecodeBlock<C, HD, RUN> block(shared, tiles, positions, block_tables, table_width, num_heads, kv_heads, window);
    const int token = block.token, g = block.g, group = block.group, key_begin = block.key_begin, key_end = block.key_end;
    const int* table = block.table;
    C *ks = block.ks, *vs = block.vs;
    // A lane's copies of its key's row of `cache` (the key's cache slot `at`) into `rows`.
    const auto copy_row = [&](C* rows, const C* cache, long long at) {
#pragma unroll
        for (int i = 0; i < CHUNKS; ++i) {
            const int c = part + i * KL;
            cp_async16(rows + slot * VLD + c * PER, cache + at * HD + c * PER);
        }
    };
    const auto slot_of = [&](int key) {
        return ((long long)table[key / block_size] * kv_heads + g) * block_size + key % block_size;
    };
    // Keys before the step's own (block.fresh_begin) were written by earlier steps: the warp's first
    // run copies theirs before waiting for the previous kernel, so only the step's own rows (and q)
    // are read after it. Their copies are one group, awaited with the run's keys.
    const int first = key_begin + warp * RUN, early_end = DA_EARLY_KEYS ? imin(key_end, block.fresh_begin) : key_begin;
    if (first + slot < early_end) {
        const long long at = slot_of(first + slot);
        copy_row(ks, key_cache, at);
        copy_row(vs, value_cache, at);
    }
    asm volatile("cp.async.commit_group;");
    PDL_ENTER();
    // Rows past the group are zeros: the heads loop walks whole blocks of DA_HEAD_BLOCK.
    for (int i = threadIdx.x; i < DA_MAX_GROUP * HD; i += blockDim.x) {
        const int h = i / HD, d = i % HD;
        qs[h][d] = h < group ? to_f(qkv[(long long)token * width + (g * group + h) * HD + d]) * scale : 0.f;
    }
    __syncthreads();

    float m[DA_MAX_GROUP], l[DA_MAX_GROUP], acc[DA_MAX_GROUP][DPL];
#pragma unroll
    for (int h = 0; h < DA_MAX_GROUP; ++h) {
        m[h] = NEG_INF; l[h] = 0.f;
#pragma unroll
        for (int e = 0; e < DPL; ++e) acc[h][e] = 0.f;
    }
    for (int k0 = first; k0 < key_end; k0 += DA_WARPS * RUN) {
        const int key = k0 + slot, count = imin(RUN, key_end - k0);
        const bool valid = slot < count;
        // The run's key rows and value rows both go to shared memory by cp.async, every copy issued
        // before any is awaited: loaded into registers, the compiler spread the key loads through
        // the dot products (one 16-byte load, then its multiplies, then the next), so a warp waited
        // for its row's loads one after another.
        const bool copy = valid && (k0 != first || key >= early_end);
        const long long at = copy ? slot_of(key) : 0;
        if (copy) copy_row(ks, key_cache, at);
        asm volatile("cp.async.commit_group;");
        if (copy) copy_row(vs, value_cache, at);
        asm volatile("cp.async.commit_group;");
        float s[DA_MAX_GROUP];
#pragma unroll
        for (int h = 0; h < DA_MAX_GROUP; ++h) s[h] = 0.f;
        // The keys only (each lane reads back the chunks it copied itself).
        fp_wait_all_but_last();
        if (valid) {
#pragma unroll
            for (int i = 0; i < CHUNKS; ++i) {
                const int c = part + i * KL;
                float kf[PER];
                kv_chunk_f(kf, ks + slot * VLD + c * PER);
                // Heads in blocks of DA_HEAD_BLOCK, left at the first block past the group: a test
                // per head became a select after computing all DA_MAX_GROUP heads.
#pragma unroll
                for (int hb = 0; hb < DA_MAX_GROUP; hb += DA_HEAD_BLOCK) {
                    if (hb >= group) break;
#pragma unroll
                    for (int e = 0; e < PER; ++e) {
#pragma unroll
                        for (int h = hb; h < hb + DA_HEAD_BLOCK; ++h) s[h] += qs[h][c * PER + e] * kf[e];
                    }
                }
            }
        }
        // The key's KL partial dot products (every lane of the warp takes part in the shuffles).
#pragma unroll
        for (int o = 1; o < KL; o *= 2) {
#pragma unroll
            for (int hb = 0; hb < DA_MAX_GROUP; hb += DA_HEAD_BLOCK) {
                if (hb >= group) break;
#pragma unroll
                for (int h = hb; h < hb + DA_HEAD_BLOCK; ++h) s[h] += __shfl_xor_sync(0xffffffffu, s[h], o);
            }
        }
        if (softcap > 0.f) {
#pragma unroll
            for (int h = 0; h < DA_MAX_GROUP; ++h) s[h] = soft_cap_score(s[h], softcap);
        }
        // The run's softmax step, a block of heads at a time with no test per head, so that the
        // heads' shuffle chains overlap (heads past the group hold zeros and are never written).
        // The maximum needs only the key slots' lanes (a key's KL lanes hold the same score); the
        // sum stays per lane (the key's first lane counts it) and meets the warp's once, at the end.
        constexpr int SB = DA_BLOCK_SOFTMAX ? DA_SOFTMAX_HEADS : 1;
        static_assert(DA_MAX_GROUP % SB == 0, "the softmax walks whole blocks of heads");
        float p[DA_MAX_GROUP] = {};
#pragma unroll
        for (int hb = 0; hb < DA_MAX_GROUP; hb += SB) {
            if (hb >= group) break;
#pragma unroll
            for (int h = hb; h < hb + SB; ++h) {
                const float new_max = fmaxf(m[h], slot_max<KL>(valid ? s[h] : NEG_INF));
                p[h] = valid ? expf(s[h] - new_max) : 0.f;
                const float alpha = m[h] == NEG_INF ? 0.f : expf(m[h] - new_max);
                l[h] = l[h] * alpha + (part == 0 ? p[h] : 0.f);
                m[h] = new_max;
#pragma unroll
                for (int e = 0; e < DPL; ++e) acc[h][e] *= alpha;
            }
        }
        asm volatile("cp.async.wait_all;" ::: "memory");
        __syncwarp();
#pragma unroll
        for (int hb = 0; hb < DA_MAX_GROUP; hb += DA_HEAD_BLOCK) {
            if (hb >= group) break;
            for (int j = 0; j < count; ++j) {
                float v[DPL];
                const C* vp = vs + j * VLD + lane * DPL;
#pragma unroll
                for (int e = 0; e < DPL; ++e) v[e] = kv_f(vp[e]);
#pragma unroll
                for (int h = hb; h < hb + DA_HEAD_BLOCK; ++h) {
                    const float pj = __shfl_sync(0xffffffffu, p[h], j * KL);
#pragma unroll
                    for (int e = 0; e < DPL; ++e) acc[h][e] += pj * v[e];
                }
            }
        }
        __syncwarp();  // the next run's copies overwrite this run's rows
    }
    __syncthreads();  // the staging memory becomes the merge area
    float* merge = (float*)shared.scratch;  // [warp][head][HD + 2]: output, then max and sum
    // Unrolled with constant indices: a loop to `group` would index acc, m and l at run time and put
    // them in local memory for the whole kernel (192 bytes of stack a thread, read and written on
    // every key).
#pragma unroll
    for (int h = 0; h < DA_MAX_GROUP; ++h) {
        if (h >= group) break;
        float* row = merge + (warp * DA_MAX_GROUP + h) * (HD + 2);
#pragma unroll
        for (int e = 0; e < DPL; ++e) row[lane * DPL + e] = acc[h][e];
        const float total = warp_sum(l[h]);
        if (lane == 0) { row[HD] = m[h]; row[HD + 1] = total; }
    }
    decode_merge_warps<T, C, HD>(merge, out, partial_o, partial_ml, g, group, token, num_heads, num_tokens, value_scale);
}

// Whether decode_attention_mma (the tensor cores) serves head sizes 64 and 128, 16-bit and FP8
// caches: unsplit (large batches), and split where each split holds at least DA_SPLIT_MMA_KEYS keys
// (medium batches of long contexts). A kernel-source override DA_MMA 0 keeps the lane-a-key
// kernels everywhere (`run_gpu_checks.sh attnvariants`).
#ifndef DA_MMA
#define DA_MMA 1
#endif
#ifndef DA_SPLIT_MMA_KEYS
#define DA_SPLIT_MMA_KEYS 256
#endif
template <typename C, int HD> constexpr bool decode_mma() { return DA_MMA && HD <= 128; }

// The tensor cores' input type: the activations' for a 16-bit cache; half for an FP8 cache, whose
// codes convert exactly to halves (and whose queries, times 2^-8, do too, short of 2^24).
template <typename T, typename C> struct DecodeMMAType { using type = T; };
template <typename T> struct DecodeMMAType<T, unsigned char> { using type = __half; };

// The unsplit kernel on the tensor cores. With a lane a key, each lane did a run's 2 x HD x group
// multiply-adds one by one, q read from shared memory for each, and the kernel was bound by
// instruction issue at about a third of the copy bandwidth (27% of the 8B throughput run on the
// H200). Here a warp's run of 32 keys is two products by mma.m16n8k16 (fragment layouts as
// flash_prefill.cu writes them out), transposed so that the group's query heads are the 8 columns
// (n) and nothing is wasted on padding rows:
//   - Sᵀ = K·Qᵀ: A = 16 keys x 16 dims of the staged key rows, B = Qᵀ (dims x heads, registers for
//     the whole kernel; heads past the group are zeros). A lane's C holds keys g and g + 8 of heads
//     2c and 2c + 1.
//   - Oᵀ += Vᵀ·Pᵀ: A = 16 dims x 16 keys of the staged value rows, B = Pᵀ (keys x heads), which four
//     shuffles a 16 keys move from Sᵀ's layout (key g, heads 2c, 2c + 1) to B's (keys 2c, 2c + 1,
//     head g), P rounded to the input type as in flash_prefill.
// A 16-bit cache's fragments come by ldmatrix (.trans for Vᵀ). An FP8 cache's codes are read and
// converted by each lane itself, in orders that make its bytes adjacent (a product's sum does not
// depend on which dims or keys its k index walks, nor Oᵀ's rows on which dims they are, as long as
// both operands agree): in Sᵀ, k step d takes dims 64 (d / 4) + 16c + 4 (d % 4) + 0..3 (one 16-byte
// load of a key row serves four steps, Qᵀ is read in the same order); in Oᵀ, tile t's rows g and
// g + 8 are dims 64 (t / 4) + 8g + 2 (t % 4) and the next (one 8-byte load of a value row serves
// four tiles). Each lane keeps the online softmax (base 2, as flash_prefill) of its two heads, the
// maxima met over the 8 lanes of a column; the block's warps take alternate runs and meet in
// decode_merge_warps.
template <typename T, typename C, int HD>
__device__ void decode_attention_mma(DecodeShared<C, HD>& shared, T* out, const T* qkv, const C* key_cache,
                                     const C* value_cache, const int* tiles, const int* positions,
                                     const int* block_tables, const int* table_width, int width, int num_heads,
                                     int kv_heads, int block_size, float scale, int window, float softcap,
                                     float* partial_o, float* partial_ml, int num_tokens, float value_scale) {
    using M = typename DecodeMMAType<T, C>::type;
    constexpr bool FP8 = is_fp8_cache<C>();
    constexpr int VLD = DecodeShared<C, HD>::VLD, RUN = 32, PER = 16 / (int)sizeof(C), CH = HD / PER;
    static_assert(HD == 64 || HD == 128, "runs of 32 keys fit the staging of head sizes 64 and 128");
    static_assert(DA_MAX_GROUP <= 8, "a group's query heads are the 8 columns of the products");
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, quad_row = lane >> 2, quad_col = lane & 3;
    const DecodeBlock<C, HD, RUN> block(shared, tiles, positions, block_tables, table_width, num_heads, kv_heads, window);
    const int token = block.token, g = block.g, group = block.group, key_begin = block.key_begin, key_end = block.key_end;
    const int* table = block.table;
    C *ks = block.ks, *vs = block.vs;
    PDL_ENTER();
    // Qᵀ as B, head quad_row (zeros past the group): b0 and b1 of each k step.
    const bool head_column = quad_row < group;
    const T* q = qkv + (long long)token * width + (g * group + (head_column ? quad_row : 0)) * HD;
    unsigned qf[HD / 16][2];
#pragma unroll
    for (int d = 0; d < HD / 16; ++d) {
        if constexpr (FP8) {
            // Dims 64 (d / 4) + 16c + 4 (d % 4) + 0..3, times 2^-8 (S comes out times 2^-8, as
            // `scale` expects it: it carries the codes' 2^8).
            const T* p = q + 64 * (d / 4) + 16 * quad_col + 4 * (d % 4);
            qf[d][0] = head_column ? fp_pack<M>(to_f(p[0]) * 0.00390625f, to_f(p[1]) * 0.00390625f) : 0u;
            qf[d][1] = head_column ? fp_pack<M>(to_f(p[2]) * 0.00390625f, to_f(p[3]) * 0.00390625f) : 0u;
        } else {
            qf[d][0] = head_column ? *(const unsigned*)(q + d * 16 + 2 * quad_col) : 0u;
            qf[d][1] = head_column ? *(const unsigned*)(q + d * 16 + 8 + 2 * quad_col) : 0u;
        }
    }
    // Soft-capped scores are scaled before the cap, so the exponent then only converts to base 2.
    const float scale_log2 = (softcap > 0.f ? 1.f : scale) * 1.4426950408889634f;
    // Oᵀ: rows g (elements 0, 1) and g + 8 (2, 3) of each tile, heads 2c (0, 2) and 2c + 1 (1, 3).
    float o[HD / 16][4];
#pragma unroll
    for (int t = 0; t < HD / 16; ++t) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.f;
    // Heads 2c and 2c + 1: maximum (base-2 units) and this lane's share of the sum.
    float row_max[2] = {NEG_INF, NEG_INF}, row_sum[2] = {0.f, 0.f};
    // The lanes that hold keys 2c and 2c + 1 of head quad_row in Sᵀ's layout.
    const int from_even = 4 * (2 * quad_col) + quad_row / 2, from_odd = from_even + 4;
    const unsigned pick = quad_row & 1 ? 0x7632u : 0x5410u;  // head quad_row's halves of both

    for (int k0 = key_begin + warp * RUN; k0 < key_end; k0 += DA_WARPS * RUN) {
        const int count = imin(RUN, key_end - k0);
        // The run's key rows, then its value rows, into the warp's staging, two lanes a row (each
        // copy instruction fills whole 32-byte sectors of 16 rows; one cache slot lookup a row);
        // zeros past the run's end, whose slots may hold anything (a NaN would survive a zero weight).
        long long at[2];
        bool live[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const int j = (lane >> 1) + 16 * r;
            live[r] = j < count;
            const int key = k0 + (live[r] ? j : 0);
            at[r] = (((long long)table[key / block_size] * kv_heads + g) * block_size + key % block_size) * HD;
        }
#pragma unroll
        for (int part = 0; part < 2; ++part) {
            const C* cache = part ? value_cache : key_cache;
            C* stage = part ? vs : ks;
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                const int j = (lane >> 1) + 16 * r;
#pragma unroll
                for (int i = 0; i < CH / 2; ++i) {
                    const int c = 2 * i + (lane & 1);
                    fp_copy16(fp_shared_address(stage + j * VLD + c * PER), cache + at[r] + c * PER, live[r]);
                }
            }
            fp_commit();
        }
        fp_wait_all_but_last();  // the keys
        __syncwarp();
        // Sᵀ, keys 16m + g (elements 0, 1) and 16m + g + 8 (2, 3).
        float s[RUN / 16][4];
#pragma unroll
        for (int m = 0; m < RUN / 16; ++m) {
            s[m][0] = s[m][1] = s[m][2] = s[m][3] = 0.f;
            if constexpr (FP8) {
#pragma unroll
                for (int e = 0; e < HD / 64; ++e) {
                    const uint4 near = *(const uint4*)(ks + (m * 16 + quad_row) * VLD + 64 * e + 16 * quad_col);
                    const uint4 far = *(const uint4*)(ks + (m * 16 + quad_row + 8) * VLD + 64 * e + 16 * quad_col);
                    const unsigned nw[4] = {near.x, near.y, near.z, near.w}, fw[4] = {far.x, far.y, far.z, far.w};
#pragma unroll
                    for (int j = 0; j < 4; ++j) {
                        const unsigned a[4] = {fp8x2_to_half2<false>(nw[j]), fp8x2_to_half2<false>(fw[j]),
                                               fp8x2_to_half2<true>(nw[j]), fp8x2_to_half2<true>(fw[j])};
                        fp_mma<M>(s[m], a, qf[4 * e + j][0], qf[4 * e + j][1]);
                    }
                }
            } else {
#pragma unroll
                for (int d = 0; d < HD / 16; ++d) {
                    unsigned a[4];
                    fp_ldmatrix(a, fp_shared_address(ks + (m * 16 + (lane & 15)) * VLD + d * 16 + (lane >> 4) * 8));
                    fp_mma<M>(s[m], a, qf[d][0], qf[d][1]);
                }
            }
        }
        float top[2] = {NEG_INF, NEG_INF};
#pragma unroll
        for (int m = 0; m < RUN / 16; ++m) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                if (softcap > 0.f) s[m][e] = soft_cap_score(s[m][e] * scale, softcap);
                if (m * 16 + quad_row + (e >> 1) * 8 >= count) s[m][e] = NEG_INF;
                top[e & 1] = fmaxf(top[e & 1], s[m][e]);
            }
        }
        float alpha[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
#pragma unroll
            for (int x = 4; x < 32; x *= 2) top[h] = fmaxf(top[h], __shfl_xor_sync(0xffffffffu, top[h], x));
            const float new_max = fmaxf(row_max[h], top[h] * scale_log2);  // a run has a key: finite
            alpha[h] = fp_exp2(row_max[h] - new_max);
            row_max[h] = new_max;
            row_sum[h] *= alpha[h];
        }
#pragma unroll
        for (int m = 0; m < RUN / 16; ++m) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                s[m][e] = fp_exp2(fmaf(s[m][e], scale_log2, -row_max[e & 1]));
                row_sum[e & 1] += s[m][e];
            }
        }
#pragma unroll
        for (int t = 0; t < HD / 16; ++t) {
#pragma unroll
            for (int e = 0; e < 4; ++e) o[t][e] *= alpha[e & 1];
        }
        fp_wait_all();  // the values
        __syncwarp();
#pragma unroll
        for (int m = 0; m < RUN / 16; ++m) {
            // Pᵀ as B for keys 16m .. 16m + 15.
            const unsigned near = fp_pack<M>(s[m][0], s[m][1]), far = fp_pack<M>(s[m][2], s[m][3]);
            const unsigned b0 = __byte_perm(__shfl_sync(0xffffffffu, near, from_even), __shfl_sync(0xffffffffu, near, from_odd), pick);
            const unsigned b1 = __byte_perm(__shfl_sync(0xffffffffu, far, from_even), __shfl_sync(0xffffffffu, far, from_odd), pick);
            if constexpr (FP8) {
#pragma unroll
                for (int u = 0; u < HD / 64; ++u) {
                    // Dims 64u + 8g + 0..7 of keys 2c, 2c + 1, 2c + 8 and 2c + 9 of the block.
                    uint2 rows[4];
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        rows[r] = *(const uint2*)(vs + (m * 16 + 2 * quad_col + (r & 1) + (r >> 1) * 8) * VLD + 64 * u + 8 * quad_row);
#pragma unroll
                    for (int j = 0; j < 4; ++j) {
                        // Tile 4u + j: dims 2j and 2j + 1 of the lane's 8, the two keys of each register interleaved.
                        const unsigned order = j & 1 ? 0x7362u : 0x5140u;
                        const unsigned first = __byte_perm(j < 2 ? rows[0].x : rows[0].y, j < 2 ? rows[1].x : rows[1].y, order);
                        const unsigned second = __byte_perm(j < 2 ? rows[2].x : rows[2].y, j < 2 ? rows[3].x : rows[3].y, order);
                        const unsigned a[4] = {fp8x2_to_half2<false>(first), fp8x2_to_half2<true>(first),
                                               fp8x2_to_half2<false>(second), fp8x2_to_half2<true>(second)};
                        fp_mma<M>(o[4 * u + j], a, b0, b1);
                    }
                }
            } else {
#pragma unroll
                for (int t = 0; t < HD / 16; ++t) {
                    unsigned a[4];
                    fp_ldmatrix_trans(a, fp_shared_address(vs + (m * 16 + (lane & 7) + (lane >> 4) * 8) * VLD + t * 16 + ((lane >> 3) & 1) * 8));
                    fp_mma<M>(o[t], a, b0, b1);
                }
            }
        }
        __syncwarp();  // the next run's copies overwrite this run's rows
    }
    __syncthreads();  // the staging memory becomes the merge area
    float* merge = (float*)shared.scratch;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int x = 4; x < 32; x *= 2) row_sum[h] += __shfl_xor_sync(0xffffffffu, row_sum[h], x);
        const int head = 2 * quad_col + h;
        if (head >= group) continue;
        float* row = merge + (warp * DA_MAX_GROUP + head) * (HD + 2);
#pragma unroll
        for (int t = 0; t < HD / 16; ++t) {
            // Tile t's rows g and g + 8 as dims (the FP8 order above, or the plain one).
            const int first = FP8 ? 64 * (t / 4) + 8 * quad_row + 2 * (t % 4) : 16 * t + quad_row;
            row[first] = o[t][h];
            row[first + (FP8 ? 1 : 8)] = o[t][2 + h];
        }
        if (quad_row == 0) { row[HD] = row_max[h] * 0.6931471805599453f; row[HD + 1] = row_sum[h]; }
    }
    // An FP8 cache's values went in as themselves, not times 2^-8 as value_scale expects.
    decode_merge_warps<T, C, HD>(merge, out, partial_o, partial_ml, g, group, token, num_heads, num_tokens,
                                 FP8 ? value_scale * 0.00390625f : value_scale);
}

template <int N> struct LanesAKey { static constexpr int value = N; };

// Which kernel a block runs: the tensor cores (head sizes 64 and 128) unless its keys are split
// into short runs, where four lanes a key share them out better (small batches, the batch-1 decode
// of short contexts; the whole grid takes the same branch then, decided by the token's key count
// over the splits, so that all splits of a token cut its keys into runs of the same length).
template <typename T, typename C, int HD>
__device__ void decode_attention_by_splits(T* out, const T* qkv, const C* key_cache, const C* value_cache,
                                           const int* tiles, const int* positions, const int* block_tables,
                                           const int* table_width, int width, int num_heads, int kv_heads,
                                           int block_size, float scale, int window, float softcap, float* partial_o,
                                           float* partial_ml, int num_tokens, float value_scale) {
    extern __shared__ __align__(16) unsigned char da_smem[];
    DecodeShared<C, HD>& shared = *reinterpret_cast<DecodeShared<C, HD>*>(da_smem);
    auto run = [&](auto lanes) {
        decode_attention<T, C, HD, decltype(lanes)::value>(shared, out, qkv, key_cache, value_cache, tiles, positions,
                                                           block_tables, table_width, width, num_heads, kv_heads,
                                                           block_size, scale, window, softcap, partial_o, partial_ml,
                                                           num_tokens, value_scale);
    };
    if constexpr (decode_mma<C, HD>()) {
        const int pos = positions[tiles[3 * blockIdx.x + 1]];
        const int keys = pos + 1 - (window > 0 ? imax(0, pos - window + 1) : 0);
        if (gridDim.z == 1 || keys >= DA_SPLIT_MMA_KEYS * (int)gridDim.z) {
            decode_attention_mma<T, C, HD>(shared, out, qkv, key_cache, value_cache, tiles, positions, block_tables,
                                           table_width, width, num_heads, kv_heads, block_size, scale, window,
                                           softcap, partial_o, partial_ml, num_tokens, value_scale);
            return;
        }
    }
    if (gridDim.z > 1) run(LanesAKey<decode_split_lanes<C, HD>()>());
    else run(LanesAKey<decode_unsplit_lanes<C, HD>()>());
}

#define INSTANTIATE_DECODE(S, T, HD)                                                                                   \
    extern "C" __global__ void __launch_bounds__(128, 3) decode_attention_##S##_hd##HD(                                \
        T* out, const T* qkv, const T* key_cache, const T* value_cache, const int* tiles, const int* positions,         \
        const int* block_tables, const int* table_width, int width, int num_heads, int kv_heads, int block_size,        \
        float scale, int window, float softcap, float* partial_o, float* partial_ml, int num_tokens) {                 \
        decode_attention_by_splits<T, T, HD>(out, qkv, key_cache, value_cache, tiles, positions, block_tables,       \
                                             table_width, width, num_heads, kv_heads, block_size, scale, window,      \
                                             softcap, partial_o, partial_ml, num_tokens, 1.f);                         \
    }
#define INSTANTIATE_DECODE_FP8(S, T, HD)                                                                               \
    extern "C" __global__ void __launch_bounds__(128, 3) decode_attention_fp8_##S##_hd##HD(                            \
        T* out, const T* qkv, const unsigned char* key_cache, const unsigned char* value_cache, const int* tiles,      \
        const int* positions, const int* block_tables, const int* table_width, int width, int num_heads,              \
        int kv_heads, int block_size, float scale, int window, float softcap, float* partial_o, float* partial_ml,     \
        int num_tokens, float key_scale, float value_scale) {                                                          \
        decode_attention_by_splits<T, unsigned char, HD>(out, qkv, key_cache, value_cache, tiles, positions,         \
                                                         block_tables, table_width, width, num_heads, kv_heads,       \
                                                         block_size, scale * key_scale * 256.f, window, softcap,      \
                                                         partial_o, partial_ml, num_tokens, value_scale * 256.f);      \
    }
#ifdef VLLM_DTYPE_BF16
#if VLLM_WANTS_HEAD_DIM(64)
INSTANTIATE_DECODE(bf16, __nv_bfloat16, 64)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_DECODE_FP8(bf16, __nv_bfloat16, 64)
#endif
#endif
#endif
#ifdef VLLM_DTYPE_BF16
#if VLLM_WANTS_HEAD_DIM(128)
INSTANTIATE_DECODE(bf16, __nv_bfloat16, 128)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_DECODE_FP8(bf16, __nv_bfloat16, 128)
#endif
#endif
#endif
#ifdef VLLM_DTYPE_BF16
#if VLLM_WANTS_HEAD_DIM(256)
INSTANTIATE_DECODE(bf16, __nv_bfloat16, 256)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_DECODE_FP8(bf16, __nv_bfloat16, 256)
#endif
#endif
#endif
#ifdef VLLM_DTYPE_F16
#if VLLM_WANTS_HEAD_DIM(64)
INSTANTIATE_DECODE(f16, __half, 64)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_DECODE_FP8(f16, __half, 64)
#endif
#endif
#endif
#ifdef VLLM_DTYPE_F16
#if VLLM_WANTS_HEAD_DIM(128)
INSTANTIATE_DECODE(f16, __half, 128)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_DECODE_FP8(f16, __half, 128)
#endif
#endif
#endif
#ifdef VLLM_DTYPE_F16
#if VLLM_WANTS_HEAD_DIM(256)
INSTANTIATE_DECODE(f16, __half, 256)
#if VLLM_FP8_KV_CACHE
INSTANTIATE_DECODE_FP8(f16, __half, 256)
#endif
#endif
#endif
