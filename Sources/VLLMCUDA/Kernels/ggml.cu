// Linear layers with GGUF weights (WeightFormat.ggml): rows of ggml blocks as the file stores them.
// A matrix-vector kernel for decode steps (1 to 4 tokens) decodes the blocks in registers; larger
// batches decode the weight into a scratch matrix of the activation dtype that cuBLASLt multiplies.
//
// Each type is read in chunks: a chunk is what one thread decodes at a time, RUNS runs of 16
// consecutive values (a run: 16 values of one scale, `scale · q + offset`), from a few aligned
// loads. Values are computed as ggml's reference dequantization (and GGMLBlocks on the CPU) does,
// each product and sum rounded on its own (__fmul_rn, __fadd_rn: never fused), so the decoded
// weights are bit for bit the CPU's. The float types are read as blocks of 32 values.

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif
#ifndef VLLM_GGML_BLOCKS
#include "ggml_blocks.cuh"
#endif

// 16 bytes at p as four little-endian words, read with loads of ALIGN bytes (p is ALIGN-aligned).
template <int ALIGN>
__device__ __forceinline__ uint4 ggml_load16(const unsigned char* p) {
    if constexpr (ALIGN >= 16) {
        return load_streaming(p);
    } else if constexpr (ALIGN >= 4) {
        const unsigned int* w = (const unsigned int*)p;
        return make_uint4(__ldg(w), __ldg(w + 1), __ldg(w + 2), __ldg(w + 3));
    } else {
        const unsigned short* h = (const unsigned short*)p;
        unsigned int w[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) w[i] = (unsigned int)__ldg(h + 2 * i) | ((unsigned int)__ldg(h + 2 * i + 1) << 16);
        return make_uint4(w[0], w[1], w[2], w[3]);
    }
}

__device__ __forceinline__ unsigned int ggml_u16(const unsigned char* p) { return __ldg((const unsigned short*)p); }
__device__ __forceinline__ float ggml_half(unsigned int bits) { return __half2float(__ushort_as_half((unsigned short)bits)); }
// Byte i (0..15) of 16 bytes.
__device__ __forceinline__ unsigned int ggml_byte(const uint4& v, int i) {
    const unsigned int w = i < 4 ? v.x : i < 8 ? v.y : i < 12 ? v.z : v.w;
    return (w >> (8 * (i & 3))) & 0xFFu;
}
// A small non-negative integer as a float, exactly, through its bits (2^23 + q has q in the low bits).
__device__ __forceinline__ float ggml_int(unsigned int q) { return __int_as_float(0x4B000000u | q) - 8388608.f; }
// The low (nibble 0) or high (nibble 1) halves of 16 bytes as 16 byte-sized codes in four words.
__device__ __forceinline__ void ggml_nibbles(const uint4& b, int nibble, unsigned int (&v)[4]) {
    v[0] = (b.x >> (4 * nibble)) & 0x0F0F0F0Fu, v[1] = (b.y >> (4 * nibble)) & 0x0F0F0F0Fu;
    v[2] = (b.z >> (4 * nibble)) & 0x0F0F0F0Fu, v[3] = (b.w >> (4 * nibble)) & 0x0F0F0F0Fu;
}
// Bits 0..3 of `bits` as bit 0 of bytes 0..3 (the multiply copies bit i to bit 8i, among others).
__device__ __forceinline__ unsigned int ggml_spread_bits(unsigned int bits) { return ((bits & 0xFu) * 0x00204081u) & 0x01010101u; }

// The 6-bit scale and minimum of sub-block j (0..7) of a Q4_K or Q5_K block, from its 12 scale
// bytes in three words, as sc | m << 8. Bytes are picked by selects, not by indexing, so that the
// words stay in registers.
__device__ __forceinline__ unsigned int ggml_scale_min(unsigned int s0, unsigned int s1, unsigned int s2, int j) {
    auto byte = [&](int i) { return ((i < 4 ? s0 : i < 8 ? s1 : s2) >> (8 * (i & 3))) & 0xFFu; };
    if (j < 4) return (byte(j) & 63u) | ((byte(j + 4) & 63u) << 8);
    return ((byte(j + 4) & 0xFu) | ((byte(j - 4) >> 6) << 4)) | (((byte(j + 4) >> 4) | ((byte(j) >> 6) << 4)) << 8);
}

// One type's chunks. Raw: the bytes of a chunk in registers; load(raw, block, c); start(c, r): the
// first value of run r of chunk c within its block; decode(raw, c, r, q, scale, offset): the run's
// 16 values q (exact) with value = scale · q (+ offset where OFFSET).
template <int TYPE> struct Ggml;

// Q4_0 (d, 16 bytes of nibbles): (q − 8) · d; Q4_1 (d, m, nibbles): q · d + m. Low nibbles are
// values 0..15, high nibbles 16..31.
template <bool MIN> struct GgmlQ4 {
    static constexpr int VALUES = MIN ? GGML_Q4_1_VALUES : GGML_Q4_0_VALUES, BYTES = MIN ? GGML_Q4_1_BYTES : GGML_Q4_0_BYTES;
    static constexpr int CHUNKS = 1, RUNS = 2;
    static constexpr bool OFFSET = MIN;
    struct Raw { unsigned int dm; uint4 qs; };
    __device__ static void load(Raw& raw, const unsigned char* b, int) {
        raw.dm = MIN ? __ldg((const unsigned int*)b) : ggml_u16(b);
        raw.qs = ggml_load16<MIN ? 4 : 2>(b + (MIN ? 4 : 2));
    }
    __device__ static int start(int, int r) { return 16 * r; }
    __device__ static void decode(const Raw& raw, int, int r, float* q, float& scale, float& offset) {
        scale = ggml_half(raw.dm & 0xFFFFu);
        offset = MIN ? ggml_half(raw.dm >> 16) : 0.f;
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            const unsigned int v = (ggml_byte(raw.qs, i) >> (4 * r)) & 0xFu;
            q[i] = MIN ? ggml_int(v) : __int_as_float(0x4B000000u | v) - 8388616.f;
        }
    }
    __device__ static void codes(const Raw& raw, int, int r, unsigned int (&v)[4], float& scale, float& offset) {
        scale = ggml_half(raw.dm & 0xFFFFu);
        offset = MIN ? ggml_half(raw.dm >> 16) : -8.f * scale;
        ggml_nibbles(raw.qs, r, v);
    }
};
template <> struct Ggml<GGML_TYPE_Q4_0> : GgmlQ4<false> {};
template <> struct Ggml<GGML_TYPE_Q4_1> : GgmlQ4<true> {};

// Q5_0 (d, 32 fifth bits, nibbles): (q − 16) · d; Q5_1 (d, m, fifth bits, nibbles): q · d + m.
// Bit j of the fifth bits belongs to value j.
template <bool MIN> struct GgmlQ5 {
    static constexpr int VALUES = MIN ? GGML_Q5_1_VALUES : GGML_Q5_0_VALUES, BYTES = MIN ? GGML_Q5_1_BYTES : GGML_Q5_0_BYTES;
    static constexpr int CHUNKS = 1, RUNS = 2;
    static constexpr bool OFFSET = MIN;
    struct Raw { unsigned int dm, qh; uint4 qs; };
    __device__ static void load(Raw& raw, const unsigned char* b, int) {
        if (MIN) {
            raw.dm = __ldg((const unsigned int*)b);
            raw.qh = __ldg((const unsigned int*)(b + 4));
            raw.qs = ggml_load16<4>(b + 8);
        } else {
            raw.dm = ggml_u16(b);
            raw.qh = ggml_u16(b + 2) | (ggml_u16(b + 4) << 16);
            raw.qs = ggml_load16<2>(b + 6);
        }
    }
    __device__ static int start(int, int r) { return 16 * r; }
    __device__ static void decode(const Raw& raw, int, int r, float* q, float& scale, float& offset) {
        scale = ggml_half(raw.dm & 0xFFFFu);
        offset = MIN ? ggml_half(raw.dm >> 16) : 0.f;
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            const unsigned int v = ((ggml_byte(raw.qs, i) >> (4 * r)) & 0xFu) | (((raw.qh >> (16 * r + i)) & 1u) << 4);
            q[i] = MIN ? ggml_int(v) : __int_as_float(0x4B000000u | v) - 8388624.f;
        }
    }
    __device__ static void codes(const Raw& raw, int, int r, unsigned int (&v)[4], float& scale, float& offset) {
        scale = ggml_half(raw.dm & 0xFFFFu);
        offset = MIN ? ggml_half(raw.dm >> 16) : -16.f * scale;
        ggml_nibbles(raw.qs, r, v);
#pragma unroll
        for (int i = 0; i < 4; ++i) v[i] |= ggml_spread_bits(raw.qh >> (16 * r + 4 * i)) << 4;
    }
};
template <> struct Ggml<GGML_TYPE_Q5_0> : GgmlQ5<false> {};
template <> struct Ggml<GGML_TYPE_Q5_1> : GgmlQ5<true> {};

// Q8_0: d, then 32 signed bytes: q · d.
template <> struct Ggml<GGML_TYPE_Q8_0> {
    static constexpr int VALUES = GGML_Q8_0_VALUES, BYTES = GGML_Q8_0_BYTES, CHUNKS = 1, RUNS = 2;
    static constexpr bool OFFSET = false;
    struct Raw { unsigned int d; uint4 qs[2]; };
    __device__ static void load(Raw& raw, const unsigned char* b, int) {
        raw.d = ggml_u16(b);
        raw.qs[0] = ggml_load16<2>(b + 2);
        raw.qs[1] = ggml_load16<2>(b + 18);
    }
    __device__ static int start(int, int r) { return 16 * r; }
    __device__ static void decode(const Raw& raw, int, int r, float* q, float& scale, float& offset) {
        scale = ggml_half(raw.d);
        offset = 0.f;
        // q + 128 as an unsigned byte, then the 128 taken off with the 2^23.
#pragma unroll
        for (int i = 0; i < 16; ++i) q[i] = __int_as_float(0x4B000000u | (ggml_byte(raw.qs[r], i) ^ 0x80u)) - 8388736.f;
    }
    __device__ static void codes(const Raw& raw, int, int r, unsigned int (&v)[4], float& scale, float& offset) {
        scale = ggml_half(raw.d);
        offset = 0.f;
        v[0] = raw.qs[r].x, v[1] = raw.qs[r].y, v[2] = raw.qs[r].z, v[3] = raw.qs[r].w;
    }
};

// Q4_K: d, dmin, 12 bytes of 6-bit scales and minima of 8 sub-blocks of 32, 128 bytes of nibbles,
// each 32 bytes two sub-blocks (low nibbles, then high): (d·sc) · q − (dmin·m). Q5_K: the same with
// 32 bytes of fifth bits before the nibbles, sub-block j taking bit j of each. Chunk c = 2·pair +
// half: 16 bytes of nibbles, runs 64·pair + 16·half (sub-block 2·pair) and 32 further (2·pair + 1).
template <bool FIFTH> struct GgmlK {
    static constexpr int VALUES = FIFTH ? GGML_Q5_K_VALUES : GGML_Q4_K_VALUES, BYTES = FIFTH ? GGML_Q5_K_BYTES : GGML_Q4_K_BYTES;
    static constexpr int CHUNKS = 8, RUNS = 2;
    static constexpr bool OFFSET = true;
    // sm[r]: the scale and minimum of run r's sub-block (ggml_scale_min).
    struct Raw { unsigned int dm, sm[2]; uint4 qs, qh; };
    __device__ static void load(Raw& raw, const unsigned char* b, int c) {
        // The header (d, dmin, 12 scale bytes) in one load that stays in L1 for the block's other chunks.
        const uint4 header = __ldg((const uint4*)b);
        raw.dm = header.x;
        const unsigned int s0 = header.y, s1 = header.z, s2 = header.w;
        const int pair = c >> 1, half = c & 1;
        raw.sm[0] = ggml_scale_min(s0, s1, s2, 2 * pair);
        raw.sm[1] = ggml_scale_min(s0, s1, s2, 2 * pair + 1);
        raw.qs = ggml_load16<16>(b + (FIFTH ? 48 : 16) + 32 * pair + 16 * half);
        if (FIFTH) raw.qh = ggml_load16<16>(b + 16 + 16 * half);
    }
    __device__ static int start(int c, int r) { return 64 * (c >> 1) + 16 * (c & 1) + 32 * r; }
    __device__ static void decode(const Raw& raw, int c, int r, float* q, float& scale, float& offset) {
        const int j = 2 * (c >> 1) + r;
        scale = __fmul_rn(ggml_half(raw.dm & 0xFFFFu), ggml_int(raw.sm[r] & 0xFFu));
        offset = -__fmul_rn(ggml_half(raw.dm >> 16), ggml_int(raw.sm[r] >> 8));
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            unsigned int v = (ggml_byte(raw.qs, i) >> (4 * r)) & 0xFu;
            if (FIFTH) v |= ((ggml_byte(raw.qh, i) >> j) & 1u) << 4;
            q[i] = ggml_int(v);
        }
    }
    __device__ static void codes(const Raw& raw, int c, int r, unsigned int (&v)[4], float& scale, float& offset) {
        const int j = 2 * (c >> 1) + r;
        scale = __fmul_rn(ggml_half(raw.dm & 0xFFFFu), ggml_int(raw.sm[r] & 0xFFu));
        offset = -__fmul_rn(ggml_half(raw.dm >> 16), ggml_int(raw.sm[r] >> 8));
        ggml_nibbles(raw.qs, r, v);
        if (FIFTH) {
            const unsigned int h[4] = {raw.qh.x, raw.qh.y, raw.qh.z, raw.qh.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) v[i] |= ((h[i] >> j) & 0x01010101u) << 4;
        }
    }
};
template <> struct Ggml<GGML_TYPE_Q4_K> : GgmlK<false> {};
template <> struct Ggml<GGML_TYPE_Q5_K> : GgmlK<true> {};

// Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 signed 8-bit scales (one per
// 16 values), then d: (d·sc) · (q − 32). Chunk c = 2·part + l/16 reads 16 bytes of each of
// ql[l], ql[32 + l], qh[l] of its half and makes 4 runs, 32 values apart.
template <> struct Ggml<GGML_TYPE_Q6_K> {
    static constexpr int VALUES = GGML_Q6_K_VALUES, BYTES = GGML_Q6_K_BYTES, CHUNKS = 4, RUNS = 4;
    static constexpr bool OFFSET = false;
    struct Raw { uint4 a, b, h; unsigned int d; int scales[4]; };
    __device__ static void load(Raw& raw, const unsigned char* b, int c) {
        const int part = c >> 1, l = 16 * (c & 1);
        raw.a = ggml_load16<2>(b + 64 * part + l);
        raw.b = ggml_load16<2>(b + 64 * part + 32 + l);
        raw.h = ggml_load16<2>(b + 128 + 32 * part + l);
        raw.d = ggml_u16(b + 208);
        const signed char* s = (const signed char*)(b + 192 + 8 * part + (c & 1));
#pragma unroll
        for (int r = 0; r < 4; ++r) raw.scales[r] = __ldg(s + 2 * r);
    }
    __device__ static int start(int c, int r) { return 128 * (c >> 1) + 16 * (c & 1) + 32 * r; }
    __device__ static void decode(const Raw& raw, int, int r, float* q, float& scale, float& offset) {
        scale = __fmul_rn(ggml_half(raw.d), (float)raw.scales[r]);
        offset = 0.f;
        const uint4& low = (r & 1) ? raw.b : raw.a;
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            const unsigned int v = ((ggml_byte(low, i) >> (4 * (r >> 1))) & 0xFu) | (((ggml_byte(raw.h, i) >> (2 * r)) & 3u) << 4);
            q[i] = __int_as_float(0x4B000000u | v) - 8388640.f;
        }
    }
    __device__ static void codes(const Raw& raw, int, int r, unsigned int (&v)[4], float& scale, float& offset) {
        scale = __fmul_rn(ggml_half(raw.d), (float)raw.scales[r]);
        offset = -32.f * scale;
        ggml_nibbles((r & 1) ? raw.b : raw.a, r >> 1, v);
        const unsigned int h[4] = {raw.h.x, raw.h.y, raw.h.z, raw.h.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) v[i] |= ((h[i] >> (2 * r)) & 0x03030303u) << 4;
    }
};

// F32, F16, BF16: blocks of 32 values (64 or 128 bytes), two runs of 16, scale 1.
template <int TYPE, int SIZE> struct GgmlFloat {
    static constexpr int VALUES = 32, BYTES = 32 * SIZE, CHUNKS = 1, RUNS = 2;
    static constexpr bool OFFSET = false;
    struct Raw { uint4 v[2 * SIZE]; };
    __device__ static void load(Raw& raw, const unsigned char* b, int) {
#pragma unroll
        for (int i = 0; i < 2 * SIZE; ++i) raw.v[i] = ggml_load16<16>(b + 16 * i);
    }
    __device__ static int start(int, int r) { return 16 * r; }
    __device__ static void decode(const Raw& raw, int, int r, float* q, float& scale, float& offset) {
        scale = 1.f;
        offset = 0.f;
        const unsigned int* w = (const unsigned int*)&raw.v[r * SIZE];
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            if constexpr (SIZE == 4) {
                q[i] = __uint_as_float(w[i]);
            } else {
                const unsigned int bits = (w[i / 2] >> (16 * (i & 1))) & 0xFFFFu;
                q[i] = TYPE == GGML_TYPE_BF16 ? __uint_as_float(bits << 16) : ggml_half(bits);
            }
        }
    }
};
template <> struct Ggml<GGML_TYPE_F32> : GgmlFloat<GGML_TYPE_F32, GGML_F32_BYTES> {};
template <> struct Ggml<GGML_TYPE_F16> : GgmlFloat<GGML_TYPE_F16, GGML_F16_BYTES> {};
template <> struct Ggml<GGML_TYPE_BF16> : GgmlFloat<GGML_TYPE_BF16, GGML_BF16_BYTES> {};

// What a matrix-vector product multiplies the blocks with. Float activations: a run's 16 values
// as floats (and their sum, for the types with an offset); each row adds
// scale · Σ q·x (+ offset · Σ x), the integers q exact floats from their bits.
template <typename T, typename B>
struct GgmlFloatActivations {
    const T* x;
    int k;
    struct Run { float v[16], sum; };
    __device__ void load(Run& run, int t, int first) const {
        load_floats<T, 16>(run.v, x + (long long)t * k + first);
        if (B::OFFSET) {
            run.sum = 0.f;
#pragma unroll
            for (int i = 0; i < 16; ++i) run.sum += run.v[i];
        }
    }
    template <int NT>
    __device__ static void add(float (&acc)[NT], const typename B::Raw& raw, int c, int r, const Run (&xr)[NT]) {
        float q[16], scale, offset;
        B::decode(raw, c, r, q, scale, offset);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            float even = 0.f, odd = 0.f;
#pragma unroll
            for (int i = 0; i < 16; i += 2) {
                even = fmaf(q[i], xr[t].v[i], even);
                odd = fmaf(q[i + 1], xr[t].v[i + 1], odd);
            }
            acc[t] = fmaf(scale, even + odd, acc[t]);
            if (B::OFFSET) acc[t] = fmaf(offset, xr[t].sum, acc[t]);
        }
    }
};

// 8-bit activations (CUDA's `--quantized-activations int8`, as llama.cpp multiplies GGUF blocks), made
// by quantize_ggml_int8: a run's 16 codes (`codes`: value = scale · code + offset) meet its 16
// activation bytes in four dp4a, and the row adds d · (scale · Σ code·q + offset · Σ q). No weight
// value becomes a float, and a run's activations are 24 bytes instead of 16 floats.
template <typename B>
struct GgmlInt8Activations {
    const signed char* xq;  // [t, k]
    const float2* xs;       // [t, k / 16]: per 16 values (d, d · Σ q)
    int k;
    struct Run { int4 q; float2 m; };
    __device__ void load(Run& run, int t, int first) const {
        run.q = __ldg((const int4*)(xq + (long long)t * k + first));
        run.m = __ldg(xs + (long long)t * (k / 16) + first / 16);
    }
    template <int NT>
    __device__ static void add(float (&acc)[NT], const typename B::Raw& raw, int c, int r, const Run (&xr)[NT]) {
        unsigned int v[4];
        float scale, offset;
        B::codes(raw, c, r, v, scale, offset);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            int dot = __dp4a((int)v[0], xr[t].q.x, 0);
            dot = __dp4a((int)v[1], xr[t].q.y, dot);
            dot = __dp4a((int)v[2], xr[t].q.z, dot);
            dot = __dp4a((int)v[3], xr[t].q.w, dot);
            acc[t] = fmaf(xr[t].m.x * scale, (float)dot, fmaf(offset, xr[t].m.y, acc[t]));
        }
    }
};

#ifndef GGML_PIPELINE  // 1: each round's loads go out before the previous round's arithmetic
#define GGML_PIPELINE 0
#endif
#ifndef GGML_INT8_ROWS  // a kernel-source override may try another
#define GGML_INT8_ROWS(NT) QGEMV_ROWS(NT)
#endif

// y[t, :n] = x[t, :] · Wᵀ for rows of blocks (rows of y ldy apart, so that the parts of a fused
// weight fill their columns): each warp takes QGEMV_ROWS rows, a lane one chunk of each at a time;
// per run it reads the tokens' activations once (X::load) and adds each row's product (X::add).
// k is a multiple of the type's block. The float kernels take QGEMV_ROWS rows a warp; the 8-bit ones
// GGML_INT8_ROWS, whose grid the backend sizes for one row a warp (warps past n return at once), so
// that a kernel source may set it.
template <typename T, int TYPE, int NT, int ROWS, typename X>
__device__ void gemv_ggml(T* y, const X& x, const unsigned char* w, int n, int k, int ldy) {
    using B = Ggml<TYPE>;
    // About half of a chunk's registers hold its block's header (scales), read from L1 by each chunk.
    constexpr int DEPTH = qgemv_depth(ROWS, (int)sizeof(typename B::Raw) / 2);
    const int lane = threadIdx.x & 31;
    const int row0 = (blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5)) * ROWS;
    const long long row_bytes = (long long)(k / B::VALUES) * B::BYTES;
    const int chunks = k / B::VALUES * B::CHUNKS;
    float acc[ROWS][NT];
    qgemv_clear(acc);
    if (row0 >= n) { PDL_ENTER(); return; }
    // Rows past n read row n - 1 and are never written.
    const unsigned char* rows[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) rows[r] = w + imin(row0 + r, n - 1) * row_bytes;
    using Round = typename B::Raw[DEPTH][ROWS];
    // DEPTH chunks of each row from chunk c0 on (chunks past the row are skipped).
    auto load = [&](Round& raw, int c0) {
#pragma unroll
        for (int u = 0; u < DEPTH; ++u) {
            const int ci = c0 + 32 * u;
            if (ci >= chunks) continue;
#pragma unroll
            for (int r = 0; r < ROWS; ++r) B::load(raw[u][r], rows[r] + (long long)(ci / B::CHUNKS) * B::BYTES, ci % B::CHUNKS);
        }
    };
    auto multiply = [&](const Round& raw, int c0) {
#pragma unroll
        for (int u = 0; u < DEPTH; ++u) {
            const int ci = c0 + 32 * u;
            if (ci >= chunks) continue;
            const int block = ci / B::CHUNKS, c = ci % B::CHUNKS;
#pragma unroll
            for (int run = 0; run < B::RUNS; ++run) {
                const int first = block * B::VALUES + B::start(c, run);
                typename X::Run xr[NT];
#pragma unroll
                for (int t = 0; t < NT; ++t) x.load(xr[t], t, first);
#pragma unroll
                for (int r = 0; r < ROWS; ++r) X::template add<NT>(acc[r], raw[u][r], c, run, xr);
            }
        }
    };
    Round raw;
    load(raw, lane);
    // The weights do not depend on the previous kernel: the first round is read before waiting for it.
    PDL_ENTER();
    for (int c0 = lane; c0 < chunks; c0 += 32 * DEPTH) {
        const int next = c0 + 32 * DEPTH;
        if constexpr (GGML_PIPELINE) {
            // The next round's loads go out before this round's arithmetic.
            Round ahead;
            if (next < chunks) load(ahead, next);
            multiply(raw, c0);
#pragma unroll
            for (int u = 0; u < DEPTH; ++u)
#pragma unroll
                for (int r = 0; r < ROWS; ++r) raw[u][r] = ahead[u][r];
        } else {
            multiply(raw, c0);
            if (next < chunks) load(raw, next);
        }
    }
    qgemv_store<T, ROWS, NT>(y, acc, row0, n, ldy, lane);
}


// w[n, k] in the activation dtype: rows blockIdx.y + i·gridDim.y (at most 65535 grid rows), a chunk a thread. Each value is ggml's
// (scale · q, plus the offset where the type has one, rounded apart), then rounded to T.
template <typename T, int TYPE>
__device__ void dequantize_ggml(T* w, const unsigned char* blocks, int n, int k) {
    using B = Ggml<TYPE>;
    PDL_ENTER();
    const int chunks = k / B::VALUES * B::CHUNKS;
    for (int row = blockIdx.y; row < n; row += gridDim.y) {
    const unsigned char* br = blocks + (long long)row * (k / B::VALUES) * B::BYTES;
    T* wr = w + (long long)row * k;
    for (int ci = blockIdx.x * blockDim.x + threadIdx.x; ci < chunks; ci += gridDim.x * blockDim.x) {
        const int block = ci / B::CHUNKS, c = ci % B::CHUNKS;
        typename B::Raw raw;
        B::load(raw, br + (long long)block * B::BYTES, c);
#pragma unroll
        for (int run = 0; run < B::RUNS; ++run) {
            float q[16], scale, offset;
            B::decode(raw, c, run, q, scale, offset);
            union { T v[16]; uint4 u[16 * sizeof(T) / 16]; } out;
#pragma unroll
            for (int i = 0; i < 16; ++i) {
                const float value = B::OFFSET ? __fadd_rn(__fmul_rn(scale, q[i]), offset) : __fmul_rn(scale, q[i]);
                out.v[i] = from_f<T>(value);
            }
            uint4* dst = (uint4*)(wr + block * B::VALUES + B::start(c, run));
#pragma unroll
            for (int u = 0; u < 16 * (int)sizeof(T) / 16; ++u) dst[u] = out.u[u];
        }
    }
    }
}

#define INSTANTIATE_GEMV_GGML(S, T, GT, NT)                                                                        \
    extern "C" __global__ void __launch_bounds__(256)                                                              \
        gemv_ggml_##S##_q##GT##_t##NT(T* y, const T* x, const unsigned char* w, int n, int k, int ldy) {           \
        gemv_ggml<T, GT, NT, QGEMV_ROWS(NT)>(y, GgmlFloatActivations<T, Ggml<GT>>{x, k}, w, n, k, ldy);            \
    }
#define INSTANTIATE_DEQUANTIZE_GGML(S, T, GT)                                                                      \
    extern "C" __global__ void dequantize_ggml_##S##_q##GT(T* w, const unsigned char* blocks, int n, int k) {      \
        dequantize_ggml<T, GT>(w, blocks, n, k);                                                                   \
    }
#define INSTANTIATE_GEMV_GGML_INT8(S, T, GT, NT)                                                                   \
    extern "C" __global__ void __launch_bounds__(256) gemv_ggml_int8_##S##_q##GT##_t##NT(                          \
        T* y, const signed char* xq, const float2* xs, const unsigned char* w, int n, int k, int ldy) {            \
        gemv_ggml<T, GT, NT, GGML_INT8_ROWS(NT)>(y, GgmlInt8Activations<Ggml<GT>>{xq, xs, k}, w, n, k, ldy);       \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 0, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 0, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 0, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 0, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 0)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 1, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 1, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 1, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 1, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 30, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 30, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 30, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 30, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 30)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 2, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 2, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 2, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 2, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 3, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 3, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 3, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 3, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 6, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 6, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 6, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 6, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 6)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 7, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 7, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 7, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 7, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 7)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 8, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 8, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 8, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 8, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 8)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 12, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 12, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 12, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 12, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 12)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 13, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 13, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 13, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 13, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 13)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 14, 1)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 14, 2)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 14, 3)
INSTANTIATE_GEMV_GGML(bf16, __nv_bfloat16, 14, 4)
INSTANTIATE_DEQUANTIZE_GGML(bf16, __nv_bfloat16, 14)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 2, 1)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 2, 2)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 2, 3)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 2, 4)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 3, 1)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 3, 2)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 3, 3)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 3, 4)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 6, 1)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 6, 2)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 6, 3)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 6, 4)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 7, 1)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 7, 2)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 7, 3)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 7, 4)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 8, 1)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 8, 2)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 8, 3)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 8, 4)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 12, 1)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 12, 2)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 12, 3)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 12, 4)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 13, 1)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 13, 2)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 13, 3)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 13, 4)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 14, 1)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 14, 2)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 14, 3)
INSTANTIATE_GEMV_GGML_INT8(bf16, __nv_bfloat16, 14, 4)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_GEMV_GGML(f16, __half, 0, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 0, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 0, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 0, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 0)
INSTANTIATE_GEMV_GGML(f16, __half, 1, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 1, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 1, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 1, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 30, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 30, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 30, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 30, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 30)
INSTANTIATE_GEMV_GGML(f16, __half, 2, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 2, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 2, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 2, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 3, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 3, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 3, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 3, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 6, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 6, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 6, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 6, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 6)
INSTANTIATE_GEMV_GGML(f16, __half, 7, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 7, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 7, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 7, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 7)
INSTANTIATE_GEMV_GGML(f16, __half, 8, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 8, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 8, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 8, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 8)
INSTANTIATE_GEMV_GGML(f16, __half, 12, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 12, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 12, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 12, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 12)
INSTANTIATE_GEMV_GGML(f16, __half, 13, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 13, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 13, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 13, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 13)
INSTANTIATE_GEMV_GGML(f16, __half, 14, 1)
INSTANTIATE_GEMV_GGML(f16, __half, 14, 2)
INSTANTIATE_GEMV_GGML(f16, __half, 14, 3)
INSTANTIATE_GEMV_GGML(f16, __half, 14, 4)
INSTANTIATE_DEQUANTIZE_GGML(f16, __half, 14)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 2, 1)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 2, 2)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 2, 3)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 2, 4)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 3, 1)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 3, 2)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 3, 3)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 3, 4)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 6, 1)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 6, 2)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 6, 3)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 6, 4)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 7, 1)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 7, 2)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 7, 3)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 7, 4)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 8, 1)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 8, 2)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 8, 3)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 8, 4)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 12, 1)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 12, 2)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 12, 3)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 12, 4)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 13, 1)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 13, 2)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 13, 3)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 13, 4)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 14, 1)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 14, 2)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 14, 3)
INSTANTIATE_GEMV_GGML_INT8(f16, __half, 14, 4)
#endif
#ifdef VLLM_DTYPE_F32
INSTANTIATE_GEMV_GGML(f32, float, 0, 1)
INSTANTIATE_GEMV_GGML(f32, float, 0, 2)
INSTANTIATE_GEMV_GGML(f32, float, 0, 3)
INSTANTIATE_GEMV_GGML(f32, float, 0, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 0)
INSTANTIATE_GEMV_GGML(f32, float, 1, 1)
INSTANTIATE_GEMV_GGML(f32, float, 1, 2)
INSTANTIATE_GEMV_GGML(f32, float, 1, 3)
INSTANTIATE_GEMV_GGML(f32, float, 1, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 1)
INSTANTIATE_GEMV_GGML(f32, float, 30, 1)
INSTANTIATE_GEMV_GGML(f32, float, 30, 2)
INSTANTIATE_GEMV_GGML(f32, float, 30, 3)
INSTANTIATE_GEMV_GGML(f32, float, 30, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 30)
INSTANTIATE_GEMV_GGML(f32, float, 2, 1)
INSTANTIATE_GEMV_GGML(f32, float, 2, 2)
INSTANTIATE_GEMV_GGML(f32, float, 2, 3)
INSTANTIATE_GEMV_GGML(f32, float, 2, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 2)
INSTANTIATE_GEMV_GGML(f32, float, 3, 1)
INSTANTIATE_GEMV_GGML(f32, float, 3, 2)
INSTANTIATE_GEMV_GGML(f32, float, 3, 3)
INSTANTIATE_GEMV_GGML(f32, float, 3, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 3)
INSTANTIATE_GEMV_GGML(f32, float, 6, 1)
INSTANTIATE_GEMV_GGML(f32, float, 6, 2)
INSTANTIATE_GEMV_GGML(f32, float, 6, 3)
INSTANTIATE_GEMV_GGML(f32, float, 6, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 6)
INSTANTIATE_GEMV_GGML(f32, float, 7, 1)
INSTANTIATE_GEMV_GGML(f32, float, 7, 2)
INSTANTIATE_GEMV_GGML(f32, float, 7, 3)
INSTANTIATE_GEMV_GGML(f32, float, 7, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 7)
INSTANTIATE_GEMV_GGML(f32, float, 8, 1)
INSTANTIATE_GEMV_GGML(f32, float, 8, 2)
INSTANTIATE_GEMV_GGML(f32, float, 8, 3)
INSTANTIATE_GEMV_GGML(f32, float, 8, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 8)
INSTANTIATE_GEMV_GGML(f32, float, 12, 1)
INSTANTIATE_GEMV_GGML(f32, float, 12, 2)
INSTANTIATE_GEMV_GGML(f32, float, 12, 3)
INSTANTIATE_GEMV_GGML(f32, float, 12, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 12)
INSTANTIATE_GEMV_GGML(f32, float, 13, 1)
INSTANTIATE_GEMV_GGML(f32, float, 13, 2)
INSTANTIATE_GEMV_GGML(f32, float, 13, 3)
INSTANTIATE_GEMV_GGML(f32, float, 13, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 13)
INSTANTIATE_GEMV_GGML(f32, float, 14, 1)
INSTANTIATE_GEMV_GGML(f32, float, 14, 2)
INSTANTIATE_GEMV_GGML(f32, float, 14, 3)
INSTANTIATE_GEMV_GGML(f32, float, 14, 4)
INSTANTIATE_DEQUANTIZE_GGML(f32, float, 14)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 2, 1)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 2, 2)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 2, 3)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 2, 4)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 3, 1)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 3, 2)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 3, 3)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 3, 4)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 6, 1)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 6, 2)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 6, 3)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 6, 4)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 7, 1)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 7, 2)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 7, 3)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 7, 4)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 8, 1)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 8, 2)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 8, 3)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 8, 4)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 12, 1)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 12, 2)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 12, 3)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 12, 4)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 13, 1)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 13, 2)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 13, 3)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 13, 4)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 14, 1)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 14, 2)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 14, 3)
INSTANTIATE_GEMV_GGML_INT8(f32, float, 14, 4)
#endif
