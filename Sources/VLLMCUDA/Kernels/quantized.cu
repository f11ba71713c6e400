// Linear layers with quantized weights (WeightFormat.packedInt, .fp8 and .lookupTable):
// matrix-vector products that dequantize in registers for decode steps (1 to 4 tokens), and a
// dequantization into a 16-bit scratch matrix that cuBLASLt multiplies for larger batches.
//
// packedInt: row n holds k values of BITS bits, packed low bits first in 32-bit words, with one
// float32 scale and zero point per row and group of `group` inputs: w = (q - zero) * scale.
// fp8: row n holds k e4m3 codes, with one float32 scale per row and block of `block` inputs.
// lookupTable (SqueezeLLM): row n holds k 4-bit indices packed as packedInt's, into the row's
// table of 16 float32 values: w = table[n][q].

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// 16 bytes of packed BITS-bit values (VPC = 128 / BITS of them) as floats q − zero; q becomes a
// float through its bits (2^23 + q has q in the low mantissa bits) instead of an integer conversion.
template <int BITS>
__device__ __forceinline__ void unpack_int(float* w, const uint4& wv, float zero) {
    constexpr int PER_WORD = 32 / BITS, VPC = 4 * PER_WORD;
    constexpr unsigned int MASK = (1u << BITS) - 1u;
    const unsigned int words[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
    for (int i = 0; i < VPC; ++i) {
        const unsigned int q = (words[i / PER_WORD] >> ((i % PER_WORD) * BITS)) & MASK;
        w[i] = (__int_as_float(0x4B000000u | q) - 8388608.f) - zero;
    }
}

// QGEMV_INT_CLASSES 1 (the default): packed integers unpack in three instructions a value
// (unpack_int_classes); 0: the older four to five (unpack_int), for comparing the two through a
// kernel-source override.
#ifndef QGEMV_INT_CLASSES
#define QGEMV_INT_CLASSES 1
#endif

// 16 bytes of packed BITS-bit values with each value left in place within its 16-bit half of a
// word: value j of a half is (q − zero) · 2^(BITS·j), exact (the mask keeps q · 2^(BITS·j) below
// 2^16, and 2^23 + zero · 2^(BITS·j) is exact), in one LOP3 (mask, then the 2^23 exponent) and
// one FADD. Value i of the chunk is in class i % CLASSES (its j), whose products gemv_codes sums
// apart and scales by 2^(−BITS·j) once per chunk, instead of a shift per value.
template <int BITS>
__device__ __forceinline__ void unpack_int_classes(float* w, const uint4& wv, float zero) {
    constexpr int PER_WORD = 32 / BITS, PER_HALF = PER_WORD / 2;
    constexpr unsigned int MASK = (1u << BITS) - 1u;
    float base[PER_HALF];
#pragma unroll
    for (int j = 0; j < PER_HALF; ++j) base[j] = fmaf(zero, (float)(1u << (BITS * j)), 8388608.f);
    const unsigned int words[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
    for (int i = 0; i < 4 * PER_WORD; ++i) {
        const int e = i % PER_WORD, j = e % PER_HALF;
        const unsigned int half = e < PER_HALF ? words[i / PER_WORD] : words[i / PER_WORD] >> 16;
        w[i] = __int_as_float(0x4B000000u | (half & (MASK << (BITS * j)))) - base[j];
    }
}

// y[t, :n] = x[t, :] · Wᵀ (rows of y ldy apart, so that the parts of a fused weight fill their
// columns) for rows of BYTES_PER_VALUE-wide codes read 16 bytes (VPC values) at a time: each warp
// takes ROWS rows; per round a lane loads DEPTH chunks of each row (qgemv_depth), then per chunk
// reads the tokens' VPC activations once, unpacks each row's chunk once for all tokens (Unpack:
// q − zero, e4m3 · 2^-8, or the row's table entries; it gets the row) and adds scale · Σ w·x.
// Scale (and zero) per row and group of `group` inputs, group % VPC == 0, k % VPC == 0; without
// scales, the scale is scale_factor. CLASS_BITS > 0: Unpack leaves value i scaled by
// 2^(CLASS_BITS · (i % CLASSES)) (unpack_int_classes), undone per chunk on the class sums.
// A chunk's scale group c / group is c >> qgemv_group_shift(group, k) where that is not negative:
// log2(group) for a power of two, 31 where one group spans the row. The division it saves (about 20
// instructions a chunk) was a fifth of the one-token FP8 kernel's instructions.
#ifndef QGEMV_GROUP_SHIFT  // 0: the division a chunk, as before 2026-12-06 (for comparing through a kernel-source override)
#define QGEMV_GROUP_SHIFT 1
#endif
__device__ __forceinline__ int qgemv_group_shift(int group, int k) {
    if (!QGEMV_GROUP_SHIFT) return -1;
    return group >= k ? 31 : (group & (group - 1)) == 0 ? __ffs(group) - 1 : -1;
}
// The scale group of the chunk at column c, with `shift` from qgemv_group_shift.
__device__ __forceinline__ int qgemv_group(int c, int group, int shift) { return shift >= 0 ? c >> shift : c / group; }
template <typename T, int NT, int VPC, int CLASSES = 1, int CLASS_BITS = 0, typename Code, typename Unpack>
__device__ __forceinline__ void gemv_codes(T* y, const T* x, const Code* codes, int codes_per_row, const float* scales,
                                           const float* zeros, float scale_factor, int n, int k, int group, int ldy,
                                           Unpack unpack) {
    constexpr int ROWS = QGEMV_ROWS(NT), DEPTH = qgemv_depth(ROWS, 16), CODES_PER_CHUNK = 16 / (int)sizeof(Code);
    constexpr int STEP = 32 * VPC;  // values one chunk of each lane covers
    const int lane = threadIdx.x & 31;
    const int row0 = (blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5)) * ROWS;
    float acc[ROWS][NT];
    qgemv_clear(acc);
    if (row0 >= n) { PDL_ENTER(); return; }
    const int groups = (k + group - 1) / group;
    const int gshift = qgemv_group_shift(group, k);
    // Rows past n read row n - 1 and are never written.
    long long row[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) row[r] = imin(row0 + r, n - 1);
    bool waited = false;
    for (int c0 = lane * VPC; c0 < k; c0 += DEPTH * STEP) {
        uint4 wv[DEPTH][ROWS];
        float scale[DEPTH][ROWS], zero[DEPTH][ROWS];
#pragma unroll
        for (int u = 0; u < DEPTH; ++u) {
            const int c = c0 + u * STEP;
            if (c >= k) continue;
            const int gc = qgemv_group(c, group, gshift);
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
                const long long gi = row[r] * groups + gc;
                wv[u][r] = load_streaming(codes + row[r] * codes_per_row + c / VPC * CODES_PER_CHUNK);
                scale[u][r] = scales ? scales[gi] * scale_factor : scale_factor;
                zero[u][r] = zeros ? zeros[gi] : 0.f;
            }
        }
        // The weights do not depend on the previous kernel: the first round is read before waiting for it.
        if (!waited) { PDL_ENTER(); waited = true; }
#pragma unroll
        for (int u = 0; u < DEPTH; ++u) {
            const int c = c0 + u * STEP;
            if (c >= k) continue;
            float xv[NT][VPC];
#pragma unroll
            for (int t = 0; t < NT; ++t) load_floats<T, VPC>(xv[t], x + (long long)t * k + c);
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
                float w[VPC];
                unpack(w, wv[u][r], zero[u][r], row[r]);
#pragma unroll
                for (int t = 0; t < NT; ++t) {
                    // At least two chains of sums for the FMAs' latency; one per class.
                    constexpr int CHAINS = CLASSES > 2 ? CLASSES : 2;
                    float part[CHAINS];
#pragma unroll
                    for (int h = 0; h < CHAINS; ++h) part[h] = 0.f;
#pragma unroll
                    for (int i = 0; i < VPC; ++i) part[i % CHAINS] = fmaf(w[i], xv[t][i], part[i % CHAINS]);
                    float sum = 0.f;
#pragma unroll
                    for (int h = CHAINS - 1; h >= 0; --h) {
                        const float unscale = CLASS_BITS > 0 ? 1.f / (float)(1u << (CLASS_BITS * (h % CLASSES))) : 1.f;
                        sum = fmaf(part[h], unscale, sum);
                    }
                    acc[r][t] = fmaf(scale[u][r], sum, acc[r][t]);
                }
            }
        }
    }
    if (!waited) PDL_ENTER();
    qgemv_store<T, ROWS, NT>(y, acc, row0, n, ldy, lane);
}

// QGEMV_INT4_MMA / QGEMV_FP8_MMA 1: one token's product with 4-bit weights in groups of a multiple
// of 128 (gemv_int4_mma), or with e4m3 weights in blocks of a multiple of 64 columns
// (gemv_fp8_mma), runs on the tensor cores; 0: in float32 lanes (gemv_codes), whose three to four
// instructions a value leave the product bound by instruction issue below the copy bandwidth.
// QGEMV_MMA_TILES: 16-row tiles a block takes in turn, each tile's weights loaded while the one
// before is summed (the launch has a block a tile: the others return at once).
#ifndef QGEMV_INT4_MMA
#define QGEMV_INT4_MMA 0
#endif
#ifndef QGEMV_FP8_MMA
#define QGEMV_FP8_MMA 0
#endif
#ifndef QGEMV_MMA_TILES
#define QGEMV_MMA_TILES 1
#endif

// The driver of the tensor-core matrix-vector kernels, y[0, :n] = x[0, :] · Wᵀ for one token: a
// block's 8 warps share a tile of 16 rows (one m16n8k16 A operand: lane (g, t) = (lane / 4,
// lane % 4) holds rows g and g + 8) and split the row's spans of SPAN columns, each lane loading
// 16 bytes of both rows per span (DEPTH spans a round: 128 bytes a lane, as QGEMV_BUDGET).
// `row_bytes(r, s)` is the address of lane t's 16 bytes of span s in row r; `span_sum(s, a, b, ra,
// rb)` returns the span's contribution to rows ra and rb (meaningful in lanes t = 0). The rows'
// sums meet over the warps in shared memory and are multiplied by `unscale`.
template <typename T, int SPAN, typename RowBytes, typename SpanSum>
__device__ __forceinline__ void gemv_mma_tiles(T* y, int n, int k, float unscale, RowBytes row_bytes, SpanSum span_sum) {
    constexpr int WARPS = 8, DEPTH = 4;
    __shared__ float partial[WARPS][16];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2;
    const int tiles = (n + 15) / 16;
    if (blockIdx.x % QGEMV_MMA_TILES != 0) { PDL_ENTER(); return; }  // the whole block
    const int first = blockIdx.x, spans = k / SPAN;
    const int rounds = ((spans + WARPS - 1) / WARPS + DEPTH - 1) / DEPTH;  // the same for every warp
    const int total = (imin(first + QGEMV_MMA_TILES, tiles) - first) * rounds;
    // Round i: tile first + i / rounds, spans warp + (i % rounds · DEPTH + u) · WARPS.
    const auto rows = [&](int i, long long& ra, long long& rb) {
        ra = imin((first + i / rounds) * 16 + g, n - 1);
        rb = imin((int)ra + 8, n - 1);
    };
    const auto span = [&](int i, int u) { return warp + ((i % rounds) * DEPTH + u) * WARPS; };
    const auto load = [&](int i, uint4 (&wa)[DEPTH], uint4 (&wb)[DEPTH]) {
        long long ra, rb;
        rows(i, ra, rb);
#pragma unroll
        for (int u = 0; u < DEPTH; ++u) {
            const int s = span(i, u);
            if (s < spans) { wa[u] = load_streaming(row_bytes(ra, s)); wb[u] = load_streaming(row_bytes(rb, s)); }
        }
    };
    float acc[2] = {0.f, 0.f};  // rows g and g + 8
    const auto sum = [&](int i, const uint4 (&wa)[DEPTH], const uint4 (&wb)[DEPTH]) {
        long long ra, rb;
        rows(i, ra, rb);
#pragma unroll
        for (int u = 0; u < DEPTH; ++u) {
            const int s = span(i, u);
            if (s >= spans) continue;  // the same for the whole warp
            const float2 v = span_sum(s, wa[u], wb[u], ra, rb);
            acc[0] += v.x;
            acc[1] += v.y;
        }
        if (i % rounds != rounds - 1) return;
        // The tile's last round: the warps' sums of its 16 rows meet in shared memory.
        const int row0 = (first + i / rounds) * 16;
        if ((lane & 3) == 0) { partial[warp][g] = acc[0]; partial[warp][g + 8] = acc[1]; }
        acc[0] = acc[1] = 0.f;
        __syncthreads();
        if (threadIdx.x < 16 && row0 + threadIdx.x < n) {
            float v = 0.f;
#pragma unroll
            for (int w = 0; w < WARPS; ++w) v += partial[w][threadIdx.x];
            y[row0 + threadIdx.x] = from_f<T>(v * unscale);
        }
        __syncthreads();
    };
    uint4 wa0[DEPTH], wb0[DEPTH], wa1[DEPTH], wb1[DEPTH];
    if (total > 0) load(0, wa0, wb0);
    // The weights do not depend on the previous kernel: the first round is read before waiting for it.
    PDL_ENTER();
    for (int i = 0; i < total; i += 2) {
        if (i + 1 < total) load(i + 1, wa1, wb1);
        sum(i, wa0, wb0);
        if (i + 1 < total) {
            if (i + 2 < total) load(i + 2, wa0, wb0);
            sum(i + 1, wa1, wb1);
        }
    }
}

// 4-bit codes as 16-bit pairs OFFSET + q, exactly: MAGIC's exponent bits make the pair's value
// OFFSET and q fills the low mantissa bits (bf16 has 7 of them, f16 10). ONES is the pair (1, 1).
template <typename T> struct Int4Pairs;
template <> struct Int4Pairs<__nv_bfloat16> {
    static constexpr unsigned MAGIC = 0x43004300u, ONES = 0x3F803F80u;
    static constexpr float OFFSET = 128.f;
};
template <> struct Int4Pairs<__half> {
    static constexpr unsigned MAGIC = 0x64006400u, ONES = 0x3C003C00u;
    static constexpr float OFFSET = 1024.f;
};

// 4-bit rows with a scale and zero per row and group (a multiple of 128 inputs), k % 128 == 0, on
// gemv_mma_tiles with spans of 128 columns: lane t's four words cover columns 32t..32t+31 of the
// span, and word j's nibbles (0, 4) and (1, 5) are its A registers of one k-tile, (2, 6) and (3, 7)
// of the next. So a k-tile's 16 columns come in an order of their own, the same for every row,
// and the B registers (lanes g = 0: the token) take the activations in that order: (x0, x4),
// (x1, x5) and (x2, x6), (x3, x7) of the 8 the word covers. A tile holds OFFSET + q, so a span
// adds s · (Σ (OFFSET + q) x − (OFFSET + zero) Σ x), with Σ x from a tile of ones; the
// cancellation costs about OFFSET / |q − zero| float32 roundings, far below the output's.
template <typename T>
__device__ void gemv_int4_mma(T* y, const T* x, const unsigned int* packed, const float* scales, const float* zeros,
                              int n, int k, int group) {
    constexpr unsigned MAGIC = Int4Pairs<T>::MAGIC, LOW = 0x000F000Fu, ONE = Int4Pairs<T>::ONES;
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, groups = k / group, words = k / 8;
    const unsigned ones[4] = {ONE, ONE, ONE, ONE};
    const auto row_bytes = [=](long long row, int s) { return (const void*)(packed + row * words + s * 16 + t * 4); };
    const auto span_sum = [&](int s, const uint4& wa, const uint4& wb, long long ra, long long rb) {
        float d[4] = {0.f, 0.f, 0.f, 0.f}, dx[4] = {0.f, 0.f, 0.f, 0.f};
        const unsigned a_words[4] = {wa.x, wa.y, wa.z, wa.w}, b_words[4] = {wb.x, wb.y, wb.z, wb.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            uint4 xv = make_uint4(0u, 0u, 0u, 0u);
            if (g == 0) xv = *(const uint4*)(x + s * 128 + t * 32 + j * 8);
            const unsigned b00 = __byte_perm(xv.x, xv.z, 0x5410), b01 = __byte_perm(xv.x, xv.z, 0x7632);
            const unsigned b10 = __byte_perm(xv.y, xv.w, 0x5410), b11 = __byte_perm(xv.y, xv.w, 0x7632);
            const unsigned p = a_words[j], q = b_words[j];
            const unsigned tile0[4] = {(p & LOW) | MAGIC, (q & LOW) | MAGIC, ((p >> 4) & LOW) | MAGIC, ((q >> 4) & LOW) | MAGIC};
            const unsigned tile1[4] = {((p >> 8) & LOW) | MAGIC, ((q >> 8) & LOW) | MAGIC, ((p >> 12) & LOW) | MAGIC,
                                       ((q >> 12) & LOW) | MAGIC};
            fp_mma<T>(d, tile0, b00, b01);
            fp_mma<T>(d, tile1, b10, b11);
            fp_mma<T>(dx, ones, b00, b01);
            fp_mma<T>(dx, ones, b10, b11);
        }
        const long long gi = s * 128 / group;
        const float za = zeros ? zeros[ra * groups + gi] : 0.f, zb = zeros ? zeros[rb * groups + gi] : 0.f;
        return make_float2(scales[ra * groups + gi] * (d[0] - (Int4Pairs<T>::OFFSET + za) * dx[0]),
                           scales[rb * groups + gi] * (d[2] - (Int4Pairs<T>::OFFSET + zb) * dx[2]));
    };
    gemv_mma_tiles<T, 128>(y, n, k, 1.f, row_bytes, span_sum);
}

// Two e4m3 codes (bits 0-7 and 16-23 of `p`) as a 16-bit pair times 2^-SHIFT_SCALE: the code's
// exponent and mantissa bits go below the pair's sign bit, in f16 (value · 2^-8, as fp8_times_2m8)
// or bf16 (value · 2^-120), exactly, subnormal codes included.
template <typename T> struct FP8Pairs;
template <> struct FP8Pairs<__nv_bfloat16> { static constexpr int SHIFT = 4, SCALE_LOG2 = 120; };
template <> struct FP8Pairs<__half> { static constexpr int SHIFT = 7, SCALE_LOG2 = 8; };
template <typename T>
__device__ __forceinline__ unsigned fp8_pair(unsigned p) {
    return ((p & 0x00800080u) << 8) | ((p & 0x007F007Fu) << FP8Pairs<T>::SHIFT);
}

// e4m3 rows with a scale per row and block (a multiple of 64 columns, or the whole row), k % 64 ==
// 0, on gemv_mma_tiles with spans of 64 columns: lane t's 16 bytes are columns 16t..16t+15, and
// word j's code pairs (0, 1) and (2, 3) are its A registers of k-tile j, so the B registers take
// the activations' own pairs, (x[4j], x[4j+1]) and (x[4j+2], x[4j+3]) of the lane's 16.
template <typename T>
__device__ void gemv_fp8_mma(T* y, const T* x, const unsigned char* codes, const float* scales, int n, int k, int block) {
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, blocks = (k + block - 1) / block;
    const auto row_bytes = [=](long long row, int s) { return (const void*)(codes + row * k + s * 64 + t * 16); };
    const auto span_sum = [&](int s, const uint4& wa, const uint4& wb, long long ra, long long rb) {
        float d[4] = {0.f, 0.f, 0.f, 0.f};
        uint4 x0 = make_uint4(0u, 0u, 0u, 0u), x1 = x0;
        if (g == 0) {
            x0 = *(const uint4*)(x + s * 64 + t * 16);
            x1 = *(const uint4*)(x + s * 64 + t * 16 + 8);
        }
        const unsigned a_words[4] = {wa.x, wa.y, wa.z, wa.w}, b_words[4] = {wb.x, wb.y, wb.z, wb.w};
        const unsigned xs[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const unsigned p = a_words[j], q = b_words[j];
            const unsigned tile[4] = {fp8_pair<T>(__byte_perm(p, 0, 0x4140)), fp8_pair<T>(__byte_perm(q, 0, 0x4140)),
                                      fp8_pair<T>(__byte_perm(p, 0, 0x4342)), fp8_pair<T>(__byte_perm(q, 0, 0x4342))};
            fp_mma<T>(d, tile, xs[2 * j], xs[2 * j + 1]);
        }
        const long long bi = s * 64 / block;
        return make_float2(scales[ra * blocks + bi] * d[0], scales[rb * blocks + bi] * d[2]);
    };
    gemv_mma_tiles<T, 64>(y, n, k, exp2f((float)FP8Pairs<T>::SCALE_LOG2), row_bytes, span_sum);
}

template <typename T, int NT, int BITS>
__device__ void gemv_int(T* y, const T* x, const unsigned int* packed, const float* scales, const float* zeros, int n,
                         int k, int group, int ldy) {
#if QGEMV_INT4_MMA
    if constexpr (BITS == 4 && NT == 1 && sizeof(T) == 2) {
        // The launch's grid (CUDAQuantizedLinear.swift) has a block of 8 warps for 16 rows, the tile.
        if (group % 128 == 0 && k % 128 == 0) return gemv_int4_mma<T>(y, x, packed, scales, zeros, n, k, group);
    }
#endif
#if QGEMV_INT_CLASSES
    gemv_codes<T, NT, 128 / BITS, 16 / BITS, BITS>(
        y, x, packed, k / (32 / BITS), scales, zeros, 1.f, n, k, group, ldy,
        [](float* w, const uint4& wv, float zero, long long) { unpack_int_classes<BITS>(w, wv, zero); });
#else
    gemv_codes<T, NT, 128 / BITS>(y, x, packed, k / (32 / BITS), scales, zeros, 1.f, n, k, group, ldy,
                                  [](float* w, const uint4& wv, float zero, long long) { unpack_int<BITS>(w, wv, zero); });
#endif
}

// QGEMV_FP8_CVT 1 (the default since 2026-12-06: kernel-check passed, the 8B shape's FP8 batch-1
// step 0.4% faster on an H100): the codes become floats through the hardware's pair conversion
// (unpack_fp8_values), with their true values, so the scale factor is 1; 0: through their bits
// (unpack_fp8, values times 2^-8, folded into the scale as 256). Every product and partial sum is
// then the same float times 2^8, exactly, and the scaled results are the same bits; the conversion
// takes one instruction a pair where the bits take four, and in float32 lanes this kernel is bound
// by instruction issue (about 5 instructions a byte of codes against 1.5 for bf16 weights).
#ifndef QGEMV_FP8_CVT
#define QGEMV_FP8_CVT 1
#endif
template <typename T, int NT>
__device__ void gemv_fp8(T* y, const T* x, const unsigned char* codes, const float* scales, int n, int k, int block,
                         int ldy) {
#if QGEMV_FP8_MMA
    if constexpr (NT == 1 && sizeof(T) == 2) {
        // The launch's grid has a block of 8 warps for 16 rows (as gemv_int's).
        if (k % 64 == 0 && (block % 64 == 0 || block >= k)) return gemv_fp8_mma<T>(y, x, codes, scales, n, k, block);
    }
#endif
#if QGEMV_FP8_CVT
    gemv_codes<T, NT, 16>(y, x, codes, k, scales, nullptr, 1.f, n, k, block, ldy,
                          [](float* w, const uint4& wv, float, long long) { unpack_fp8_values(w, wv); });
#else
    gemv_codes<T, NT, 16>(y, x, codes, k, scales, nullptr, 256.f, n, k, block, ldy,
                          [](float* w, const uint4& wv, float zero, long long) { unpack_fp8(w, wv, zero); });
#endif
}

// 16 bytes of 4-bit indices (32 of them) as their row's table entries; a warp's lanes all read
// the same rows' 64-byte tables, which stay in L1.
__device__ __forceinline__ void unpack_lut(float* w, const uint4& wv, const float* table) {
    const unsigned int words[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
    for (int i = 0; i < 32; ++i) w[i] = __ldg(table + ((words[i / 8] >> ((i % 8) * 4)) & 15u));
}

template <typename T, int NT>
__device__ void gemv_lut(T* y, const T* x, const unsigned int* packed, const float* table, int n, int k, int ldy) {
    gemv_codes<T, NT, 32>(y, x, packed, k / 8, nullptr, nullptr, 1.f, n, k, k, ldy,
                          [table](float* w, const uint4& wv, float, long long row) { unpack_lut(w, wv, table + row * 16); });
}

// w[n, k] in the activation dtype from packed rows: rows blockIdx.y + i·gridDim.y (a grid has at
// most 65535 rows, an LM head more), one 32-bit word a thread.
// With `order` (act-order), stored column j is input order[j], so the matrix comes out in input
// order and the activations need no gathering; without it, each word's values go out in one store.
// `stored` columns per row are packed: k, or more in an act-order shard, whose padding columns
// (order -1) are skipped.
// Value(row, first, q) is the weight of index or integer q in the word whose first column is `first`.
template <typename T, int BITS, typename Value>
__device__ __forceinline__ void dequantize_words(T* w, const unsigned int* packed, const int* order, int n, int k, int stored,
                                                 Value value) {
    constexpr int PER_WORD = 32 / BITS, BYTES = (int)sizeof(T) * PER_WORD;
    constexpr unsigned int MASK = (1u << BITS) - 1u;
    const int words_per_row = stored / PER_WORD;
    for (int row = blockIdx.y; row < n; row += gridDim.y) {
    const unsigned int* pr = packed + (long long)row * words_per_row;
    T* wr = w + (long long)row * k;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < words_per_row; i += gridDim.x * blockDim.x) {
        const int first = i * PER_WORD;
        const unsigned int word = pr[i];
        union { T v[PER_WORD]; uint2 u[BYTES / 8]; } out;
#pragma unroll
        for (int e = 0; e < PER_WORD; ++e) out.v[e] = from_f<T>(value(row, first, (word >> (e * BITS)) & MASK));
        if (order) {
#pragma unroll
            for (int e = 0; e < PER_WORD; ++e) {
                const int column = order[first + e];
                if (column >= 0) wr[column] = out.v[e];
            }
        } else {
#pragma unroll
            for (int b = 0; b < BYTES / 8; ++b) ((uint2*)(wr + first))[b] = out.u[b];
        }
    }
    }
}

template <typename T>
__device__ void dequantize_int(T* w, const unsigned int* packed, const float* scales, const float* zeros, const int* order,
                               int n, int k, int stored, int group, int bits) {
    PDL_ENTER();
    const int groups = stored / group;
    const auto value = [=](int row, int first, unsigned int q) {
        const int g = row * groups + first / group;
        return ((__int_as_float(0x4B000000u | q) - 8388608.f) - zeros[g]) * scales[g];
    };
    if (bits == 4) dequantize_words<T, 4>(w, packed, order, n, k, stored, value);
    else dequantize_words<T, 8>(w, packed, order, n, k, stored, value);
}

// SqueezeLLM rows: each index's table entry.
template <typename T>
__device__ void dequantize_lut(T* w, const unsigned int* packed, const float* table, int n, int k) {
    PDL_ENTER();
    dequantize_words<T, 4>(w, packed, nullptr, n, k, k,
                           [=](int row, int, unsigned int q) { return __ldg(table + (long long)row * 16 + q); });
}

// The same for e4m3 rows: rows as above, one code a thread.
template <typename T>
__device__ void dequantize_fp8(T* w, const unsigned char* codes, const float* scales, int n, int k, int block) {
    PDL_ENTER();
    const int blocks = (k + block - 1) / block;
    for (int row = blockIdx.y; row < n; row += gridDim.y) {
        const unsigned char* cr = codes + (long long)row * k;
        const float* sr = scales + (long long)row * blocks;
        T* wr = w + (long long)row * k;
        for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < k; j += gridDim.x * blockDim.x) {
            wr[j] = from_f<T>(fp8_times_2m8(cr[j]) * 256.f * sr[j / block]);
        }
    }
}

// y[t, j] = x[t, order[j]]: activations in the stored column order of an act-order weight; y has
// `stored` columns and x `k` (more stored columns in an act-order shard: order -1 gives 0).
template <typename T>
__device__ void permute_columns(T* y, const T* x, const int* order, int rows, int k, int stored) {
    PDL_ENTER();
    const long long total = (long long)rows * stored;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const long long t = i / stored;
        const int column = order[i % stored];
        y[i] = column >= 0 ? x[t * k + column] : from_f<T>(0.f);
    }
}

// FP8 products of many tokens on the tensor cores (W8A8): each token row of x is quantized to
// e4m3 with its own scale, max|x[t, :]| / 448 (1 for a zero row), rounded to nearest and
// saturating; cuBLASLt multiplies the codes and the scales are applied to the product.
//
// FP8_ROW_VECTORS 1 (a kernel-source override until a GPU has measured it; same launches, same
// arithmetic in the same order, so the same bits): each thread moves 16 bytes a load and keeps its
// share of the row in registers between the maximum and the quantization, and scale_product reads
// and writes 16 bytes a thread with one division a vector instead of one a value. Why: in a profile
// of the 8B shape's throughput (H200, 2026-12-05, gpu_h200_profile_throughput_8b_200.txt) both ran
// at about a third of the copy bandwidth, 20% of an FP8 run's device time, with 2-byte loads (a few
// KB in flight a multiprocessor) and a 64-bit division a value.
#ifndef FP8_ROW_VECTORS
#define FP8_ROW_VECTORS 0
#endif
#if FP8_ROW_VECTORS
#define FP8_ROW_KERNEL(name) name##_vectors
#else
#define FP8_ROW_KERNEL(name) name
#endif
#define FP8_ROW_HELD 8  // 16-byte vectors a thread keeps between the two passes (rows up to 16384 bf16 values)

// Two values as an e4m3 pair, the first operand in the upper byte (element 2j+1, as memory orders the pair).
__device__ __forceinline__ unsigned short fp8_pair(float even, float odd) {
    unsigned short r = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(odd), "f"(even));
#endif
    return r;
}

// One 16-byte vector of a row as E codes, stored at q (E bytes, 4- or 8-byte aligned).
template <typename T>
__device__ __forceinline__ void quantize_vector_fp8(unsigned char* q, const uint4& v, float scale) {
    constexpr int E = 16 / (int)sizeof(T);
    const T* e = (const T*)&v;
    union { unsigned short pair[E / 2]; unsigned int word[(E + 3) / 4]; } out;
#pragma unroll
    for (int j = 0; j < E / 2; ++j) out.pair[j] = fp8_pair(to_f(e[2 * j]) / scale, to_f(e[2 * j + 1]) / scale);
    if constexpr (E == 8) *(uint2*)q = make_uint2(out.word[0], out.word[1]);
    else *(unsigned int*)q = out.word[0];
}

// FP8_ROW_VECTORS: quantize_rows_fp8 vectorized; k a multiple of 16 (the backend's guard).
template <typename T>
__device__ void quantize_rows_fp8_vectors(unsigned char* q, float* scales, const T* x, int k) {
    constexpr int E = 16 / (int)sizeof(T);
    PDL_ENTER();
    const T* xr = x + (long long)blockIdx.x * k;
    q += (long long)blockIdx.x * k;
    const int vectors = k / E;
    uint4 held[FP8_ROW_HELD];
    float m = 0.f;
    auto add = [&](const uint4& v) {
        const T* e = (const T*)&v;
#pragma unroll
        for (int i = 0; i < E; ++i) m = fmaxf(m, fabsf(to_f(e[i])));
    };
#pragma unroll
    for (int h = 0; h < FP8_ROW_HELD; ++h) {
        const int v = threadIdx.x + h * blockDim.x;
        if (v < vectors) { held[h] = *(const uint4*)(xr + (long long)v * E); add(held[h]); }
    }
    for (int v = threadIdx.x + FP8_ROW_HELD * blockDim.x; v < vectors; v += blockDim.x) add(*(const uint4*)(xr + (long long)v * E));
    const float big = block_max(m);
    const float scale = big > 0.f ? big / 448.f : 1.f;
    if (threadIdx.x == 0) scales[blockIdx.x] = scale;
#pragma unroll
    for (int h = 0; h < FP8_ROW_HELD; ++h) {
        const int v = threadIdx.x + h * blockDim.x;
        if (v < vectors) quantize_vector_fp8<T>(q + (long long)v * E, held[h], scale);
    }
    for (int v = threadIdx.x + FP8_ROW_HELD * blockDim.x; v < vectors; v += blockDim.x)
        quantize_vector_fp8<T>(q + (long long)v * E, *(const uint4*)(xr + (long long)v * E), scale);
}

template <typename T>
__device__ void quantize_rows_fp8(unsigned char* q, float* scales, const T* x, int k) {
    __shared__ float part[32];
    PDL_ENTER();
    const T* xr = x + (long long)blockIdx.x * k;
    float m = 0.f;
    for (int j = threadIdx.x; j < k; j += blockDim.x) m = fmaxf(m, fabsf(to_f(xr[j])));
    m = warp_max(m);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) part[warp] = m;
    __syncthreads();
    if (warp == 0) {
        float v = lane < warps ? part[lane] : 0.f;
        v = warp_max(v);
        if (lane == 0) part[0] = v;
    }
    __syncthreads();
    const float scale = part[0] > 0.f ? part[0] / 448.f : 1.f;
    if (threadIdx.x == 0) scales[blockIdx.x] = scale;
    unsigned short* qr = (unsigned short*)(q + (long long)blockIdx.x * k);
    for (int j = threadIdx.x; j < k / 2; j += blockDim.x) {
        const float odd = to_f(xr[2 * j + 1]) / scale;  // first, as before fp8_pair: the same machine code
        qr[j] = fp8_pair(to_f(xr[2 * j]) / scale, odd);
    }
}

// One value of a product of codes with its row's and column's scales (and column c's bias).
template <typename T>
__device__ __forceinline__ T scaled_product(float value, float row_scale, const float* column_scales, const T* bias, int c) {
    const float v = value * row_scale * column_scales[c];
    return from_f<T>(bias ? v + to_f(bias[c]) : v);
}

// y[t, n] = y[t, n] · row_scales[t] · column_scales[n] (+ bias[n]): the scales of a product of
// codes, where cuBLASLt cannot apply them itself.
template <typename T>
__device__ void scale_product(T* y, const float* row_scales, const float* column_scales, const T* bias, int rows, int n) {
    PDL_ENTER();
    const long long total = (long long)rows * n;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const int c = (int)(i % n);  // before the row's division, as before scaled_product: the same machine code
        y[i] = scaled_product(to_f(y[i]), row_scales[i / n], column_scales, bias, c);
    }
}

// FP8_ROW_VECTORS: the same products, 16 bytes a thread (n a multiple of 16, the backend's guard).
template <typename T>
__device__ void scale_product_vectors(T* y, const float* row_scales, const float* column_scales, const T* bias, int rows, int n) {
    constexpr int E = 16 / (int)sizeof(T);
    PDL_ENTER();
    const int vectors = n / E;
    const long long total = (long long)rows * vectors;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const long long t = i / vectors;
        const int c0 = (int)(i - t * vectors) * E;
        uint4* at = (uint4*)(y + t * n + c0);
        uint4 v = *at;
        T* e = (T*)&v;
        const float row = row_scales[t];
#pragma unroll
        for (int j = 0; j < E; ++j) e[j] = scaled_product(to_f(e[j]), row, column_scales, bias, c0 + j);
        *at = v;
    }
}

// The activations of the 8-bit kernels (quantize_int8_block): each block of 32 values of x[t, k]
// as 8-bit codes, and per half block of 16 the pair (d, d · Σ q), which the weights' offsets
// multiply. A warp a block of 32, a lane a value.
template <typename T>
__device__ void quantize_ggml_int8(signed char* xq, float2* xs, const T* x, int blocks) {
    PDL_ENTER();
    const int block = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (block >= blocks) return;
    quantize_int8_block(to_f(x[(long long)block * 32 + lane]), xq + (long long)block * 32, xs + 2 * (long long)block, lane);
}

// QGEMV with 8-bit activations: y[t, :n] = x[t, :] · Wᵀ for 4-bit packed rows (GPTQ/AWQ layout:
// value j of a word at bits 4j, float32 scale and zero per row and group, group % 32 == 0) and the
// activations as quantize_ggml_int8 leaves them (codes, and per 16 values (d, d · Σ q)). A 16-value
// run of a row is Σ (w − z) · s · d · q = s · (d · Σ w·q − z · d·Σq): four dp4a of the run's
// nibbles (low nibbles, then high, against the activation bytes in the same order, picked by
// byte_perm) and two fmas, about one instruction a value where gemv_int's float path takes three,
// so the product is bound by memory rather than by instruction issue. Warps take QGEMV_ROWS rows,
// lanes 16-byte chunks (32 values) as gemv_codes does.
template <typename T, int NT>
__device__ void gemv_int4_int8(T* y, const signed char* xq, const float2* xs, const unsigned int* packed,
                               const float* scales, const float* zeros, int n, int k, int group, int ldy) {
    constexpr int ROWS = QGEMV_ROWS(NT), DEPTH = qgemv_depth(ROWS, 16);
    const int lane = threadIdx.x & 31;
    const int row0 = (blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5)) * ROWS;
    float acc[ROWS][NT];
    qgemv_clear(acc);
    if (row0 >= n) { PDL_ENTER(); return; }
    const int groups = (k + group - 1) / group, words_per_row = k / 8, gshift = qgemv_group_shift(group, k);
    long long row[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) row[r] = imin(row0 + r, n - 1);
    bool waited = false;
    for (int c0 = lane * 32; c0 < k; c0 += DEPTH * 32 * 32) {
        uint4 wv[DEPTH][ROWS];
        float scale[DEPTH][ROWS], zero[DEPTH][ROWS];
#pragma unroll
        for (int u = 0; u < DEPTH; ++u) {
            const int c = c0 + u * 32 * 32;
            if (c >= k) continue;
            const int gc = qgemv_group(c, group, gshift);
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
                const long long gi = row[r] * groups + gc;
                wv[u][r] = load_streaming(packed + row[r] * words_per_row + c / 8);
                scale[u][r] = scales[gi];
                zero[u][r] = zeros[gi];
            }
        }
        // The weights do not depend on the previous kernel: the first round is read before waiting for it.
        if (!waited) { PDL_ENTER(); waited = true; }
#pragma unroll
        for (int u = 0; u < DEPTH; ++u) {
            const int c = c0 + u * 32 * 32;
            if (c >= k) continue;
            // Each token's 32 codes as the dp4a operands of the nibbles: per 8 values, the even
            // ones (low nibbles), then the odd ones (high nibbles).
            unsigned int even[NT][4], odd[NT][4];
            float4 m[NT];
#pragma unroll
            for (int t = 0; t < NT; ++t) {
                const uint4 a = *(const uint4*)(xq + (long long)t * k + c);
                const uint4 b = *(const uint4*)(xq + (long long)t * k + c + 16);
                const unsigned int words[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    even[t][i] = __byte_perm(words[2 * i], words[2 * i + 1], 0x6420);
                    odd[t][i] = __byte_perm(words[2 * i], words[2 * i + 1], 0x7531);
                }
                const float2 m0 = xs[((long long)t * k + c) / 16], m1 = xs[((long long)t * k + c) / 16 + 1];
                m[t] = make_float4(m0.x, m0.y, m1.x, m1.y);
            }
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
                const unsigned int w[4] = {wv[u][r].x, wv[u][r].y, wv[u][r].z, wv[u][r].w};
                unsigned int lo[4], hi[4];
#pragma unroll
                for (int i = 0; i < 4; ++i) { lo[i] = w[i] & 0x0F0F0F0Fu; hi[i] = (w[i] >> 4) & 0x0F0F0F0Fu; }
#pragma unroll
                for (int t = 0; t < NT; ++t) {
                    // Nibbles are 0..15, the same as signed bytes: the signed dp4a takes them.
                    int d0 = __dp4a((int)lo[0], (int)even[t][0], 0);
                    d0 = __dp4a((int)hi[0], (int)odd[t][0], d0);
                    d0 = __dp4a((int)lo[1], (int)even[t][1], d0);
                    d0 = __dp4a((int)hi[1], (int)odd[t][1], d0);
                    int d1 = __dp4a((int)lo[2], (int)even[t][2], 0);
                    d1 = __dp4a((int)hi[2], (int)odd[t][2], d1);
                    d1 = __dp4a((int)lo[3], (int)even[t][3], d1);
                    d1 = __dp4a((int)hi[3], (int)odd[t][3], d1);
                    const float run0 = fmaf(m[t].x, (float)d0, -zero[u][r] * m[t].y);
                    const float run1 = fmaf(m[t].z, (float)d1, -zero[u][r] * m[t].w);
                    acc[r][t] = fmaf(scale[u][r], run0 + run1, acc[r][t]);
                }
            }
        }
    }
    if (!waited) PDL_ENTER();
    qgemv_store<T, ROWS, NT>(y, acc, row0, n, ldy, lane);
}

// The packed-integer kernels' launch bounds. ncu on an H100 (2026-12-05) found the int4 products at
// 125 registers, 2 blocks an SM, 27-48% of DRAM and not issue-bound (too few loads in flight), so a
// kernel-source override can ask for QGEMV_MIN_BLOCKS blocks an SM (3: 80 registers, 106 bytes
// spilled; 4: 64 registers, 230 bytes, by NVRTC for bf16); without it, the compiler's own choice.
// (The minimum goes inside the bounds' parentheses, so that the declaration keeps the form the
// manifest tests read.)
#ifdef QGEMV_MIN_BLOCKS
#define QGEMV_MIN_BLOCKS_ARGUMENT , QGEMV_MIN_BLOCKS
#else
#define QGEMV_MIN_BLOCKS_ARGUMENT
#endif
#define INSTANTIATE_QGEMV_INT(S, T, BITS, NT)                                                                       \
    extern "C" __global__ void __launch_bounds__(256 QGEMV_MIN_BLOCKS_ARGUMENT)                                    \
        gemv_int_##S##_b##BITS##_t##NT(T* y, const T* x, const unsigned int* packed, const float* scales,          \
                                       const float* zeros, int n, int k, int group, int ldy) {                     \
        gemv_int<T, NT, BITS>(y, x, packed, scales, zeros, n, k, group, ldy);                                      \
    }
// The one-token FP8 kernel likewise, with a minimum of QGEMV_FP8_MIN_BLOCKS blocks an SM (default 3;
// 0: the compiler's choice). Left alone the compiler takes 84 registers, which an SM holds for only
// 2 blocks of 256 threads (a warp's registers come in units of 256, so 3 blocks need at most 80 a
// thread); with 3 it fits 77 without spilling, and on an H100 the 8B shape's FP8 step at 8 layers
// went from 1.2164/1.2168 to 1.2089/1.2088 ms (2026-12-06).
// The kernels of 2 to 4 tokens would spill and keep the compiler's choice.
#ifndef QGEMV_FP8_MIN_BLOCKS
#define QGEMV_FP8_MIN_BLOCKS 3
#endif
#if QGEMV_FP8_MIN_BLOCKS > 0
#define QGEMV_FP8_MIN_BLOCKS_ARGUMENT_T1 , QGEMV_FP8_MIN_BLOCKS
#else
#define QGEMV_FP8_MIN_BLOCKS_ARGUMENT_T1
#endif
#define QGEMV_FP8_MIN_BLOCKS_ARGUMENT_T2
#define QGEMV_FP8_MIN_BLOCKS_ARGUMENT_T3
#define QGEMV_FP8_MIN_BLOCKS_ARGUMENT_T4
#define INSTANTIATE_QGEMV_FP8(S, T, NT)                                                                            \
    extern "C" __global__ void __launch_bounds__(256 QGEMV_FP8_MIN_BLOCKS_ARGUMENT_T##NT)                          \
        gemv_fp8_##S##_t##NT(T* y, const T* x, const unsigned char* codes, const float* scales, int n, int k,       \
                             int block, int ldy) {                                                                 \
        gemv_fp8<T, NT>(y, x, codes, scales, n, k, block, ldy);                                                    \
    }
#define INSTANTIATE_QGEMV_LUT(S, T, NT)                                                                            \
    extern "C" __global__ void __launch_bounds__(256)                                                              \
        gemv_lut_##S##_t##NT(T* y, const T* x, const unsigned int* packed, const float* table, int n, int k,       \
                             int ldy) {                                                                            \
        gemv_lut<T, NT>(y, x, packed, table, n, k, ldy);                                                           \
    }
#define INSTANTIATE_DEQUANTIZE(S, T)                                                                               \
    extern "C" __global__ void dequantize_int_##S(T* w, const unsigned int* packed, const float* scales,           \
                                                  const float* zeros, const int* order, int n, int k, int stored,  \
                                                  int group, int bits) {                                           \
        dequantize_int<T>(w, packed, scales, zeros, order, n, k, stored, group, bits);                             \
    }                                                                                                              \
    extern "C" __global__ void dequantize_lut_##S(T* w, const unsigned int* packed, const float* table, int n,     \
                                                  int k) {                                                         \
        dequantize_lut<T>(w, packed, table, n, k);                                                                 \
    }                                                                                                              \
    extern "C" __global__ void dequantize_fp8_##S(T* w, const unsigned char* codes, const float* scales, int n,    \
                                                  int k, int block) {                                              \
        dequantize_fp8<T>(w, codes, scales, n, k, block);                                                          \
    }                                                                                                              \
    extern "C" __global__ void permute_columns_##S(T* y, const T* x, const int* order, int rows, int k,            \
                                                   int stored) {                                                   \
        permute_columns<T>(y, x, order, rows, k, stored);                                                          \
    }                                                                                                              \
    extern "C" __global__ void quantize_rows_fp8_##S(unsigned char* q, float* scales, const T* x, int k) {         \
        FP8_ROW_KERNEL(quantize_rows_fp8)<T>(q, scales, x, k);                                                     \
    }                                                                                                              \
    extern "C" __global__ void scale_product_##S(T* y, const float* row_scales, const float* column_scales,       \
                                                 const T* bias, int rows, int n) {                                 \
        FP8_ROW_KERNEL(scale_product)<T>(y, row_scales, column_scales, bias, rows, n);                             \
    }
#define INSTANTIATE_QUANTIZE_GGML_INT8(S, T)                                                                       \
    extern "C" __global__ void quantize_ggml_int8_##S(signed char* xq, float2* xs, const T* x, int blocks) {       \
        quantize_ggml_int8<T>(xq, xs, x, blocks);                                                                  \
    }
#define INSTANTIATE_QGEMV_INT4_INT8(S, T, NT)                                                                      \
    extern "C" __global__ void __launch_bounds__(256 QGEMV_MIN_BLOCKS_ARGUMENT)                                    \
        gemv_int4_int8_##S##_t##NT(T* y, const signed char* xq, const float2* xs, const unsigned int* packed,      \
                                   const float* scales, const float* zeros, int n, int k, int group, int ldy) {    \
        gemv_int4_int8<T, NT>(y, xq, xs, packed, scales, zeros, n, k, group, ldy);                                 \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_QUANTIZE_GGML_INT8(bf16, __nv_bfloat16)
INSTANTIATE_QGEMV_INT4_INT8(bf16, __nv_bfloat16, 1)
INSTANTIATE_QGEMV_INT4_INT8(bf16, __nv_bfloat16, 2)
INSTANTIATE_QGEMV_INT4_INT8(bf16, __nv_bfloat16, 3)
INSTANTIATE_QGEMV_INT4_INT8(bf16, __nv_bfloat16, 4)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 4, 1)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 4, 2)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 4, 3)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 4, 4)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 8, 1)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 8, 2)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 8, 3)
INSTANTIATE_QGEMV_INT(bf16, __nv_bfloat16, 8, 4)
INSTANTIATE_QGEMV_FP8(bf16, __nv_bfloat16, 1)
INSTANTIATE_QGEMV_FP8(bf16, __nv_bfloat16, 2)
INSTANTIATE_QGEMV_FP8(bf16, __nv_bfloat16, 3)
INSTANTIATE_QGEMV_FP8(bf16, __nv_bfloat16, 4)
INSTANTIATE_QGEMV_LUT(bf16, __nv_bfloat16, 1)
INSTANTIATE_QGEMV_LUT(bf16, __nv_bfloat16, 2)
INSTANTIATE_QGEMV_LUT(bf16, __nv_bfloat16, 3)
INSTANTIATE_QGEMV_LUT(bf16, __nv_bfloat16, 4)
INSTANTIATE_DEQUANTIZE(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_QUANTIZE_GGML_INT8(f16, __half)
INSTANTIATE_QGEMV_INT4_INT8(f16, __half, 1)
INSTANTIATE_QGEMV_INT4_INT8(f16, __half, 2)
INSTANTIATE_QGEMV_INT4_INT8(f16, __half, 3)
INSTANTIATE_QGEMV_INT4_INT8(f16, __half, 4)
INSTANTIATE_QGEMV_INT(f16, __half, 4, 1)
INSTANTIATE_QGEMV_INT(f16, __half, 4, 2)
INSTANTIATE_QGEMV_INT(f16, __half, 4, 3)
INSTANTIATE_QGEMV_INT(f16, __half, 4, 4)
INSTANTIATE_QGEMV_INT(f16, __half, 8, 1)
INSTANTIATE_QGEMV_INT(f16, __half, 8, 2)
INSTANTIATE_QGEMV_INT(f16, __half, 8, 3)
INSTANTIATE_QGEMV_INT(f16, __half, 8, 4)
INSTANTIATE_QGEMV_FP8(f16, __half, 1)
INSTANTIATE_QGEMV_FP8(f16, __half, 2)
INSTANTIATE_QGEMV_FP8(f16, __half, 3)
INSTANTIATE_QGEMV_FP8(f16, __half, 4)
INSTANTIATE_QGEMV_LUT(f16, __half, 1)
INSTANTIATE_QGEMV_LUT(f16, __half, 2)
INSTANTIATE_QGEMV_LUT(f16, __half, 3)
INSTANTIATE_QGEMV_LUT(f16, __half, 4)
INSTANTIATE_DEQUANTIZE(f16, __half)
#endif
#ifdef VLLM_DTYPE_F32
INSTANTIATE_QUANTIZE_GGML_INT8(f32, float)
INSTANTIATE_QGEMV_INT4_INT8(f32, float, 1)
INSTANTIATE_QGEMV_INT4_INT8(f32, float, 2)
INSTANTIATE_QGEMV_INT4_INT8(f32, float, 3)
INSTANTIATE_QGEMV_INT4_INT8(f32, float, 4)
INSTANTIATE_QGEMV_INT(f32, float, 4, 1)
INSTANTIATE_QGEMV_INT(f32, float, 4, 2)
INSTANTIATE_QGEMV_INT(f32, float, 4, 3)
INSTANTIATE_QGEMV_INT(f32, float, 4, 4)
INSTANTIATE_QGEMV_INT(f32, float, 8, 1)
INSTANTIATE_QGEMV_INT(f32, float, 8, 2)
INSTANTIATE_QGEMV_INT(f32, float, 8, 3)
INSTANTIATE_QGEMV_INT(f32, float, 8, 4)
INSTANTIATE_QGEMV_FP8(f32, float, 1)
INSTANTIATE_QGEMV_FP8(f32, float, 2)
INSTANTIATE_QGEMV_FP8(f32, float, 3)
INSTANTIATE_QGEMV_FP8(f32, float, 4)
INSTANTIATE_QGEMV_LUT(f32, float, 1)
INSTANTIATE_QGEMV_LUT(f32, float, 2)
INSTANTIATE_QGEMV_LUT(f32, float, 3)
INSTANTIATE_QGEMV_LUT(f32, float, 4)
INSTANTIATE_DEQUANTIZE(f32, float)
#endif
