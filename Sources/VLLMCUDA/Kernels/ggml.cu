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

// One type's chunks. Raw: the bytes of a chunk in registers; load(raw, block, c); start(c, r): the
// first value of run r of chunk c within its block; decode(raw, c, r, q, scale, offset): the run's
// 16 values q (exact) with value = scale · q (+ offset where OFFSET).
template <int TYPE> struct Ggml;

// Q4_0 (d, 16 bytes of nibbles): (q − 8) · d; Q4_1 (d, m, nibbles): q · d + m. Low nibbles are
// values 0..15, high nibbles 16..31.
template <bool MIN> struct GgmlQ4 {
    static constexpr int VALUES = MIN ? GGML_Q4_1_VALUES : GGML_Q4_0_VALUES, BYTES = MIN ? GGML_Q4_1_KERNEL_BYTES : GGML_Q4_0_KERNEL_BYTES;
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
    static constexpr int VALUES = MIN ? GGML_Q5_1_VALUES : GGML_Q5_0_VALUES, BYTES = MIN ? GGML_Q5_1_KERNEL_BYTES : GGML_Q5_0_KERNEL_BYTES;
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
    static constexpr int VALUES = GGML_Q8_0_VALUES, BYTES = GGML_Q8_0_KERNEL_BYTES, CHUNKS = 1, RUNS = 2;
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
// The eight lanes of a block read its nibbles in one 128-byte span and its header once from L1.
template <bool FIFTH> struct GgmlK {
    static constexpr int VALUES = FIFTH ? GGML_Q5_K_VALUES : GGML_Q4_K_VALUES, BYTES = FIFTH ? GGML_Q5_K_KERNEL_BYTES : GGML_Q4_K_KERNEL_BYTES;
    static constexpr int CHUNKS = 8, RUNS = 2;
    static constexpr bool OFFSET = true;
    // header: d and dmin, then the 12 scale bytes; qs: the chunk's nibbles; qh: its fifth bits.
    struct Raw { uint4 header, qs, qh; };
    __device__ static void load(Raw& raw, const unsigned char* b, int c) {
        raw.header = __ldg((const uint4*)b);  // stays in L1 for the block's other chunks
        raw.qs = ggml_load16<16>(b + (FIFTH ? 48 : 16) + 16 * c);
        if constexpr (FIFTH) raw.qh = ggml_load16<16>(b + 16 + 16 * (c & 1));
    }
    // The 6-bit scales (sc) and minima (m) of sub-blocks 2·pair (byte 0) and 2·pair + 1 (byte 1), as
    // ggml's get_scale_min_k4 unpacks them: the pair's sit in bytes 2·(pair & 1) and up of each word.
    __device__ static void scales_mins(const Raw& raw, int pair, unsigned int& sc, unsigned int& m) {
        const int shift = 16 * (pair & 1);
        const unsigned int a = raw.header.y >> shift, b = raw.header.z >> shift, e = raw.header.w >> shift;
        if (pair < 2) {
            sc = a & 0x3F3Fu, m = b & 0x3F3Fu;
        } else {
            sc = (e & 0x0F0Fu) | ((a >> 2) & 0x3030u), m = ((e >> 4) & 0x0F0Fu) | ((b >> 2) & 0x3030u);
        }
    }
    __device__ static int start(int c, int r) { return 64 * (c >> 1) + 16 * (c & 1) + 32 * r; }
    __device__ static void decode(const Raw& raw, int c, int r, float* q, float& scale, float& offset) {
        unsigned int sc, m;
        scales_mins(raw, c >> 1, sc, m);
        scale = __fmul_rn(ggml_half(raw.header.x & 0xFFFFu), ggml_int((sc >> (8 * r)) & 0xFFu));
        offset = -__fmul_rn(ggml_half(raw.header.x >> 16), ggml_int((m >> (8 * r)) & 0xFFu));
        const int j = 2 * (c >> 1) + r;
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            unsigned int v = (ggml_byte(raw.qs, i) >> (4 * r)) & 0xFu;
            if (FIFTH) v |= ((ggml_byte(raw.qh, i) >> j) & 1u) << 4;
            q[i] = ggml_int(v);
        }
    }
    // Run r's 16 codes as bytes of v, in value order, times 2^shift: Q4_K's high nibbles stay in
    // place (16 × the code), which saves a shift a word.
    __device__ static void codes16(const Raw& raw, int c, int r, unsigned int (&v)[4], int& shift) {
        const unsigned int w[4] = {raw.qs.x, raw.qs.y, raw.qs.z, raw.qs.w};
        if constexpr (FIFTH) {
            const unsigned int h[4] = {raw.qh.x, raw.qh.y, raw.qh.z, raw.qh.w};
            const int j = 2 * (c >> 1) + r;
#pragma unroll
            for (int i = 0; i < 4; ++i) v[i] = ((w[i] >> (4 * r)) & 0x0F0F0F0Fu) | (((h[i] >> j) & 0x01010101u) << 4);
            shift = 0;
        } else {
#pragma unroll
            for (int i = 0; i < 4; ++i) v[i] = w[i] & (r ? 0xF0F0F0F0u : 0x0F0F0F0Fu);
            shift = 4 * r;
        }
    }
};
template <> struct Ggml<GGML_TYPE_Q4_K> : GgmlK<false> {};
template <> struct Ggml<GGML_TYPE_Q5_K> : GgmlK<true> {};

// Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 signed 8-bit scales (one per
// 16 values), then d: (d·sc) · (q − 32). In the kernels' copy a block takes 224 bytes
// (GGML_Q6_K_KERNEL_BYTES, GGMLType.kernelRows), so that every part of it is read with aligned
// 16-byte loads (the file's 210-byte blocks allow 2-byte loads only). Chunk c = 2·part + l/16 reads
// 16 bytes of each of ql[l], ql[32 + l], qh[l] of its half and makes 4 runs, 32 values apart.
template <> struct Ggml<GGML_TYPE_Q6_K> {
    static constexpr int VALUES = GGML_Q6_K_VALUES, BYTES = GGML_Q6_K_KERNEL_BYTES, CHUNKS = 4, RUNS = 4;
    static constexpr bool OFFSET = false;
    // scales: the 8 scale bytes of the chunk's part (run r's is byte (c & 1) + 2r).
    struct Raw { uint4 a, b, h; uint2 scales; unsigned int d; };
    __device__ static void load(Raw& raw, const unsigned char* b, int c) {
        const int part = c >> 1, l = 16 * (c & 1);
        raw.a = ggml_load16<16>(b + 64 * part + l);
        raw.b = ggml_load16<16>(b + 64 * part + 32 + l);
        raw.h = ggml_load16<16>(b + 128 + 32 * part + l);
        raw.scales = __ldg((const uint2*)(b + 192 + 8 * part));  // stays in L1 for the part's other chunk
        raw.d = ggml_u16(b + 208);
    }
    __device__ static int start(int c, int r) { return 128 * (c >> 1) + 16 * (c & 1) + 32 * r; }
    __device__ static float run_scale(const Raw& raw, int c, int r) {
        const unsigned int word = r < 2 ? raw.scales.x : raw.scales.y;
        const int sc = (signed char)((word >> (8 * ((c & 1) + 2 * (r & 1)))) & 0xFFu);
        return __fmul_rn(ggml_half(raw.d), (float)sc);
    }
    __device__ static void decode(const Raw& raw, int c, int r, float* q, float& scale, float& offset) {
        scale = run_scale(raw, c, r);
        offset = 0.f;
        const uint4& low = (r & 1) ? raw.b : raw.a;
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            const unsigned int v = ((ggml_byte(low, i) >> (4 * (r >> 1))) & 0xFu) | (((ggml_byte(raw.h, i) >> (2 * r)) & 3u) << 4);
            q[i] = __int_as_float(0x4B000000u | v) - 8388640.f;
        }
    }
    __device__ static void codes(const Raw& raw, int c, int r, unsigned int (&v)[4], float& scale, float& offset) {
        scale = run_scale(raw, c, r);
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

// A chunk of ROWS rows' blocks (raw) times the activations of NT tokens, run by run: a run's
// activations are read once (X::load) and each row adds its product (X::add).
template <typename B, typename X, int NT, int ROWS>
__device__ __forceinline__ void ggml_runs(const X& x, float (&acc)[ROWS][NT], const typename B::Raw (&raw)[ROWS], int block, int c) {
#pragma unroll
    for (int run = 0; run < B::RUNS; ++run) {
        const int first = block * B::VALUES + B::start(c, run);
        typename X::Run xr[NT];
#pragma unroll
        for (int t = 0; t < NT; ++t) x.load(xr[t], t, first);
#pragma unroll
        for (int r = 0; r < ROWS; ++r) X::template add<NT>(acc[r], raw[r], c, run, xr);
    }
}

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
    template <int NT, int ROWS>
    __device__ void chunk(float (&acc)[ROWS][NT], const typename B::Raw (&raw)[ROWS], int block, int c) const {
        ggml_runs<B, GgmlFloatActivations, NT, ROWS>(*this, acc, raw, block, c);
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
    template <int NT, int ROWS>
    __device__ void chunk(float (&acc)[ROWS][NT], const typename B::Raw (&raw)[ROWS], int block, int c) const {
        ggml_runs<B, GgmlInt8Activations, NT, ROWS>(*this, acc, raw, block, c);
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

// dp4a of unsigned weight bytes (0..255) and signed activation bytes.
__device__ __forceinline__ int ggml_dp4a(unsigned int codes, int activations, int sum) {
    int out;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(out) : "r"(codes), "r"(activations), "r"(sum));
    return out;
}

// 8-bit activations for Q4_K and Q5_K, run by run with the block's arithmetic taken out of the
// runs: a run's four dp4a give Σ code·q, the integer sc · Σ code·q is exact and becomes a float in
// two instructions (it stays below 2^22: 63 · 16 · 31 · 127 for 5-bit codes), and a row adds
// dk · Σ d·sc·Σcode·q − dmink · Σ m · (d·Σq) once a chunk (d, Σq: the activations' scale and code
// sum per 16), where the generic run-by-run path took half again the instructions.
template <typename B>
struct GgmlInt8SubBlocks {
    const signed char* xq;  // [t, k]
    const float2* xs;       // [t, k / 16]: per 16 values (d, d · Σ q)
    int k;
    template <int NT, int ROWS>
    __device__ void chunk(float (&acc)[ROWS][NT], const typename B::Raw (&raw)[ROWS], int block, int c) const {
        int4 q[NT][B::RUNS];
        float2 s[NT][B::RUNS];
#pragma unroll
        for (int t = 0; t < NT; ++t)
#pragma unroll
            for (int run = 0; run < B::RUNS; ++run) {
                const int first = block * B::VALUES + B::start(c, run);
                q[t][run] = __ldg((const int4*)(xq + (long long)t * k + first));
                s[t][run] = __ldg(xs + (long long)t * (k / 16) + first / 16);
            }
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
            unsigned int sc, m;
            B::scales_mins(raw[r], c >> 1, sc, m);
            float scaled[NT], minima[NT];
#pragma unroll
            for (int t = 0; t < NT; ++t) scaled[t] = 0.f, minima[t] = 0.f;
#pragma unroll
            for (int run = 0; run < B::RUNS; ++run) {
                unsigned int v[4];
                int shift;
                B::codes16(raw[r], c, run, v, shift);
                const int sc_run = (int)((sc >> (8 * run)) & 0xFFu);
                const float m_run = ggml_int((m >> (8 * run)) & 0xFFu);
#pragma unroll
                for (int t = 0; t < NT; ++t) {
                    int dot = ggml_dp4a(v[0], q[t][run].x, 0);
                    dot = ggml_dp4a(v[1], q[t][run].y, dot), dot = ggml_dp4a(v[2], q[t][run].z, dot);
                    dot = ggml_dp4a(v[3], q[t][run].w, dot);
                    const float product = __int_as_float(0x4B400000 + sc_run * (dot >> shift)) - 12582912.f;
                    scaled[t] = fmaf(s[t][run].x, product, scaled[t]);
                    minima[t] = fmaf(m_run, s[t][run].y, minima[t]);
                }
            }
            const float dk = ggml_half(raw[r].header.x & 0xFFFFu), dmink = ggml_half(raw[r].header.x >> 16);
#pragma unroll
            for (int t = 0; t < NT; ++t) acc[r][t] = fmaf(dk, scaled[t], fmaf(-dmink, minima[t], acc[r][t]));
        }
    }
};

// The 8-bit-activation arithmetic of a type: GgmlInt8SubBlocks for Q4_K and Q5_K, the generic
// run-by-run one for the others.
template <int TYPE> struct GgmlInt8 { using X = GgmlInt8Activations<Ggml<TYPE>>; };
template <> struct GgmlInt8<GGML_TYPE_Q4_K> { using X = GgmlInt8SubBlocks<Ggml<GGML_TYPE_Q4_K>>; };
template <> struct GgmlInt8<GGML_TYPE_Q5_K> { using X = GgmlInt8SubBlocks<Ggml<GGML_TYPE_Q5_K>>; };

#ifndef GGML_PIPELINE  // 1: each round's loads go out before the previous round's arithmetic
#define GGML_PIPELINE 0
#endif
#ifndef GGML_INT8_ROWS  // a kernel-source override may try another
#define GGML_INT8_ROWS(NT) QGEMV_ROWS(NT)
#endif

// y[t, :n] = x[t, :] · Wᵀ for rows of blocks (rows of y ldy apart, so that the parts of a fused
// weight fill their columns): each warp takes QGEMV_ROWS rows, a lane one chunk of each at a time,
// which X::chunk multiplies with the tokens' activations.
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
    const int blocks = k / B::VALUES;
    const long long row_bytes = (long long)blocks * B::BYTES;
    // A warp covers SPAN blocks a step, and a lane takes the same chunk c of each (32 is a
    // multiple of CHUNKS), so that c and the offsets it sets stay in registers.
    static_assert(32 % B::CHUNKS == 0, "a warp's 32 lanes cover whole blocks");
    constexpr int SPAN = 32 / B::CHUNKS;
    const int c = lane % B::CHUNKS;
    float acc[ROWS][NT];
    qgemv_clear(acc);
    if (row0 >= n) { PDL_ENTER(); return; }
    // Rows past n read row n - 1 and are never written.
    const unsigned char* rows[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) rows[r] = w + imin(row0 + r, n - 1) * row_bytes;
    using Round = typename B::Raw[DEPTH][ROWS];
    // Chunk c of DEPTH blocks SPAN apart, from block b0 on, of each row (blocks past the row are skipped).
    auto load = [&](Round& raw, int b0) {
#pragma unroll
        for (int u = 0; u < DEPTH; ++u) {
            const int block = b0 + SPAN * u;
            if (block >= blocks) continue;
#pragma unroll
            for (int r = 0; r < ROWS; ++r) B::load(raw[u][r], rows[r] + (long long)block * B::BYTES, c);
        }
    };
    auto multiply = [&](const Round& raw, int b0) {
#pragma unroll
        for (int u = 0; u < DEPTH; ++u) {
            const int block = b0 + SPAN * u;
            if (block >= blocks) continue;
            x.template chunk<NT, ROWS>(acc, raw[u], block, c);
        }
    };
    Round raw;
    load(raw, lane / B::CHUNKS);
    // The weights do not depend on the previous kernel: the first round is read before waiting for it.
    PDL_ENTER();
    for (int b0 = lane / B::CHUNKS; b0 < blocks; b0 += SPAN * DEPTH) {
        const int next = b0 + SPAN * DEPTH;
        if constexpr (GGML_PIPELINE) {
            // The next round's loads go out before this round's arithmetic.
            Round ahead;
            if (next < blocks) load(ahead, next);
            multiply(raw, b0);
#pragma unroll
            for (int u = 0; u < DEPTH; ++u)
#pragma unroll
                for (int r = 0; r < ROWS; ++r) raw[u][r] = ahead[u][r];
        } else {
            multiply(raw, b0);
            if (next < blocks) load(raw, next);
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
        gemv_ggml<T, GT, NT, GGML_INT8_ROWS(NT)>(y, typename GgmlInt8<GT>::X{xq, xs, k}, w, n, k, ldy);       \
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
