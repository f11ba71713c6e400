// What every kernel file uses: the activation dtypes and the switch that picks one, programmatic
// dependent launch, float conversion with the reference's rounding, and warp and block reductions.
// The backend compiles each file of manifest.json as its own NVRTC program with this one (and the
// other headers listed before the file) in front; VLLM_CUDA_KERNEL_SOURCE joins them all.
//
// Every kernel exists for float, __nv_bfloat16 and __half activations (suffixes f32, bf16, f16) unless
// its file says otherwise; arithmetic is float32. Where transformers rounds an intermediate to the
// activation dtype (RMSNorm before the weight, rotary products, SiLU before the multiply), `rnd`
// rounds the same way, so that bfloat16 outputs follow the reference step by step instead of drifting.
#ifndef VLLM_KERNELS_COMMON
#define VLLM_KERNELS_COMMON
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#define NEG_INF __int_as_float(0xff800000)

// The backend defines the one activation dtype it runs (VLLM_DTYPE_F32, _BF16 or _F16) before
// these files, so that NVRTC compiles a third of the kernels; without a definition, all three.
#if !defined(VLLM_DTYPE_F32) && !defined(VLLM_DTYPE_BF16) && !defined(VLLM_DTYPE_F16)
#define VLLM_DTYPE_F32
#define VLLM_DTYPE_BF16
#define VLLM_DTYPE_F16
#endif

// Likewise the backend may define the model's head dimension (VLLM_HEAD_DIM, so that only its
// attention kernels are instantiated) and VLLM_FP8_KV_CACHE 0 (no kernels for an FP8 KV cache);
// without them, every head dimension and both cache formats (KernelSelection.swift).
#ifndef VLLM_HEAD_DIM
#define VLLM_HEAD_DIM 0
#endif
#ifndef VLLM_FP8_KV_CACHE
#define VLLM_FP8_KV_CACHE 1
#endif
#define VLLM_WANTS_HEAD_DIM(HD) (VLLM_HEAD_DIM == 0 || VLLM_HEAD_DIM == (HD))

// Programmatic dependent launch (Hopper and later): the backend may launch a kernel while the one
// before it still runs. Each kernel first waits until the previous grid has finished and its
// writes are visible, then lets the next grid launch, so only launch latency and work that reads
// no earlier result (the matrix-vector kernel's first weight loads) overlap. The kernels that
// manifest.json marks `waitsForPrevious` start with PDL_ENTER (or wait by hand before reading
// inputs), so launching them that way is safe; launched the ordinary way, both instructions do
// nothing.
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

// 16 bytes from global to shared memory by cp.async (L2 only), awaited by the caller's
// cp.async.wait_group / wait_all.
__device__ __forceinline__ void cp_async16(void* shared, const void* global) {
    const unsigned int address = (unsigned int)__cvta_generic_to_shared(shared);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(address), "l"(global));
}

// The gated MLPs' activations, as functors for the kernels that apply them (activation.cu's
// act_and_mul, gemv.cu's fused gate/up product): SiLU (Llama's SwiGLU) and gelu_pytorch_tanh
// (Gemma's GeGLU): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
struct SiLU {
    __device__ __forceinline__ float operator()(float x) const { return x / (1.f + expf(-x)); }
};

struct GELUTanh {
    __device__ __forceinline__ float operator()(float x) const {
        return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    }
};

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

// 16 bytes of weights read once: streamed past L1 (not allocated there) so that they do not evict
// the activations every warp reuses.
__device__ __forceinline__ uint4 load_streaming(const void* p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

// An attention score soft-capped as Gemma 2 does before the softmax: cap * tanh(score / cap); a cap
// of 0 or less leaves the score as it is.
__device__ __forceinline__ float soft_cap_score(float score, float cap) { return cap > 0.f ? cap * tanhf(score / cap) : score; }
// N consecutive activations as floats, read 16 bytes at a time (p is 16-byte aligned).
template <typename T, int N>
__device__ __forceinline__ void load_floats(float* out, const T* p) {
    constexpr int PER = 16 / sizeof(T);
#pragma unroll
    for (int v = 0; v < N / PER; ++v) {
        const uint4 raw = *(const uint4*)(p + v * PER);
        const T* e = (const T*)&raw;
#pragma unroll
        for (int i = 0; i < PER; ++i) out[v * PER + i] = to_f(e[i]);
    }
}

// Rows a warp takes in the matrix-vector kernels: the activations a lane reads and converts for
// a chunk serve that many rows (CUDAQuantizedLinear.swift's rowsPerBlock says the same; quantized.cu and ggml.cu).
// Two rather than more for one token: with blocks of 8 warps, a 4096- or 6144-row matrix then
// spreads over about two blocks per SM instead of one or two (an SM with two blocks of four rows
// a warp set the time of the whole launch).
// One row a warp (tried 2026-12-06 with the host's grids to match) made the 8B shape's 8-layer step
// 8% slower in FP8 and 14% in GPTQ int4 on an H100.
#define QGEMV_ROWS(NT) ((NT) == 1 ? 2 : 1)

// Bytes of weights a lane has in flight per round in the quantized matrix-vector kernels: each
// round first issues every load of DEPTH chunks of each of its ROWS rows, then does their
// arithmetic. A decode product is bound by memory latency unless many loads are in flight (one
// chunk at a time reached a third of the copy bandwidth at the 8B's shapes).
#ifndef QGEMV_BUDGET  // a kernel-source override may try another budget
#define QGEMV_BUDGET 128
#endif
__host__ __device__ constexpr int qgemv_depth(int rows, int bytes_per_chunk) {
    return QGEMV_BUDGET / (rows * bytes_per_chunk) > 1 ? QGEMV_BUDGET / (rows * bytes_per_chunk) : 1;
}

// d += a · b for one m16n8k16 tensor-core tile, 16-bit inputs and float32 accumulators (the fragment
// layouts of PTX's mma.m16n8k16; flash_prefill.cu and quantized.cu).
template <typename T> __device__ __forceinline__ void fp_mma(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1);
template <> __device__ __forceinline__ void fp_mma<__nv_bfloat16>(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <> __device__ __forceinline__ void fp_mma<__half>(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The tensor-core helpers of flash_prefill.cu and decode_attention.cu: shared addresses, copies that
// zero-fill, ldmatrix, float pairs packed to 16 bits, 2^x.
__device__ __forceinline__ unsigned fp_shared_address(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

// 16 bytes global -> shared, bypassing L1; with fill false it writes 16 zero bytes and reads nothing
// (source size 0), for keys past the end whose cache slots may hold anything.
__device__ __forceinline__ void fp_copy16(unsigned shared, const void* global, bool fill) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(shared), "l"(global), "r"(fill ? 16 : 0));
}
__device__ __forceinline__ void fp_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
__device__ __forceinline__ void fp_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }
// Every copy group but the last committed one (the values still in flight while the keys are used).
__device__ __forceinline__ void fp_wait_all_but_last() { asm volatile("cp.async.wait_group 1;" ::: "memory"); }

__device__ __forceinline__ void fp_ldmatrix(unsigned (&r)[4], unsigned address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}
__device__ __forceinline__ void fp_ldmatrix_trans(unsigned (&r)[4], unsigned address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

// Two floats rounded to the 16-bit type, `lo` in the low half (the lower column of a fragment register).
template <typename T> __device__ __forceinline__ unsigned fp_pack(float lo, float hi);
template <> __device__ __forceinline__ unsigned fp_pack<__nv_bfloat16>(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(const unsigned*)&v;
}
template <> __device__ __forceinline__ unsigned fp_pack<__half>(float lo, float hi) {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *(const unsigned*)&v;
}

// 2^x; 2^-inf = 0, which the masked scores rely on.
__device__ __forceinline__ float fp_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Qwen3's and Gemma 3's per-head RMSNorm of q or k, in place, by one warp: the head's sum of squares
// over the lanes, then each value times the inverse root, rounded to T, times the weight (the
// rounding of transformers' RMSNorm in 16-bit dtypes). head_rms_norm and rotary_norm_write_kv share it.
template <typename T> __device__ __forceinline__ void warp_head_rms_norm(T* x, const T* w, int head_dim, float eps) {
    const int lane = threadIdx.x & 31;
    float squares = 0.f;
    for (int i = lane; i < head_dim; i += 32) { const float v = to_f(x[i]); squares += v * v; }
    const float inverse = 1.f / sqrtf(warp_sum(squares) / (float)head_dim + eps);
    __syncwarp();
    for (int i = lane; i < head_dim; i += 32) x[i] = from_f<T>(to_f(w[i]) * rnd<T>(to_f(x[i]) * inverse));
}

// The matrix-vector kernels' accumulators, cleared (ROWS rows of a warp, NT tokens).
template <int ROWS, int NT> __device__ __forceinline__ void qgemv_clear(float (&acc)[ROWS][NT]) {
#pragma unroll
    for (int r = 0; r < ROWS; ++r)
#pragma unroll
        for (int t = 0; t < NT; ++t) acc[r][t] = 0.f;
}

// The end of a quantized matrix-vector kernel (quantized.cu, ggml.cu): each of the warp's ROWS
// rows summed over the warp, and lane 0 writes the NT tokens' results of the rows inside n.
template <typename T, int ROWS, int NT>
__device__ __forceinline__ void qgemv_store(T* y, float (&acc)[ROWS][NT], int row0, int n, int ldy, int lane) {
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
#pragma unroll
        for (int t = 0; t < NT; ++t) acc[r][t] = warp_sum(acc[r][t]);
        if (lane == 0 && row0 + r < n) {
#pragma unroll
            for (int t = 0; t < NT; ++t) y[(long long)t * ldy + row0 + r] = from_f<T>(acc[r][t]);
        }
    }
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// The 8-bit activations' arithmetic, each step rounded on its own (round to nearest even, as the
// CPU's int8 mode quantizes, so that both dequantize to the same values): a block of 32 whose largest
// magnitude is amax has the scale d = amax / 127 (.x) and its inverse (.y; 0 for a block of zeros);
// a value's code is round(v · inverse); a half block of 16 whose codes sum to `sum` gets the pair
// (d, d · sum). quantize_int8_block and norm.cu's quantize_held_blocks both take them from here, so
// that both give the same bytes.
__device__ __forceinline__ float2 int8_block_scale(float amax) {
    return make_float2(__fdiv_rn(amax, 127.f), amax > 0.f ? __fdiv_rn(127.f, amax) : 0.f);
}
__device__ __forceinline__ int int8_code(float v, float inverse) { return __float2int_rn(__fmul_rn(v, inverse)); }
__device__ __forceinline__ float2 int8_half_block(float d, int sum) { return make_float2(d, __fmul_rn(d, (float)sum)); }

// One block of 32 activations, a lane a value, as the 8-bit-activation kernels take them: its code
// into xq[lane], and the pairs of its two halves into xs[0] and xs[1]. quantize_ggml_int8,
// silu_and_mul_int8 and attention_combine_int8 call it.
__device__ __forceinline__ void quantize_int8_block(float v, signed char* xq, float2* xs, int lane) {
    const float2 scale = int8_block_scale(warp_max(fabsf(v)));
    const int q = int8_code(v, scale.y);
    xq[lane] = (signed char)q;
    int sum = q;
#pragma unroll
    for (int o = 8; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if ((lane & 15) == 0) xs[lane >> 4] = int8_half_block(scale.x, sum);
}

// The largest value over the block; every thread gets it. Blocks are at most 1024 threads.
__device__ float block_max(float v) {
    __shared__ float partial[32];
    v = warp_max(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < warps ? partial[lane] : NEG_INF;
        t = warp_max(t);
        if (lane == 0) partial[0] = t;
    }
    __syncthreads();
    const float result = partial[0];
    __syncthreads();
    return result;
}

// Whether (v, i) beats (bv, bi) for argmax: the larger value, the lower index on ties.
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }

// The token an argmax search over a row chose, its index starting at 0x7fffffff: where nothing won
// (a row of NaNs, from activations that overflowed) token 0, as the host's argmax gives, rather
// than an id past the vocabulary for the next step's embedding.
__device__ __forceinline__ int chosen_token(int index) { return index == 0x7fffffff ? 0 : index; }

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

// The warp dot products of decode matrix-vector products (gemv.cu, moe.cu): reading W once at
// full bandwidth is all that matters. One warp per output row; each lane issues GEMV_DEPTH 16-byte
// weight loads before using any (so that many bytes are in flight per warp), marked streaming so that they do not
// evict x from L1; float32 accumulation, then a warp sum. k must be a multiple of 8. (Asking for
// the next loads before using the current ones, double-buffered, measured slower on an H100:
// 1.67 against 2.9 TB/s on 4096x4096.)
#ifndef GEMV_DEPTH  // a kernel-source override may try another depth
#define GEMV_DEPTH 8
#endif
#ifndef GEMV_STAGED
#define GEMV_STAGED 0
#endif

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
#if GEMV_STAGED
// An experiment, off by default (kernel-source define GEMV_STAGED 1; bench/gpu/NOTES.md, stop 33):
// the weight loads by cp.async into shared memory. ptxas places the register loads of gemv_row's loop
// among the multiply-adds (after the first batch, three or four of a lane's eight loads are in flight
// at a time, one round trip after another), which a faster memory feels more; copies that need no
// register are issued together, and the next batch's copies go out before this batch's sums.
template <typename T, int NT>
__device__ __forceinline__ void gemv_row(float* total, const T* x, const T* wr, int k, bool live) {
    __shared__ __align__(16) uint4 stage[8][GEMV_DEPTH][32];  // [warp][chunk][lane], blocks of up to 8 warps
    const int lane = threadIdx.x & 31;
    uint4(*mine)[32] = stage[threadIdx.x >> 5];
#pragma unroll
    for (int t = 0; t < NT; ++t) total[t] = 0.f;
    if (!live) { PDL_ENTER(); return; }
    int c = lane * 8;
    // Each lane reads back only the chunks it copied itself: no warp barrier is needed.
#pragma unroll
    for (int u = 0; u < GEMV_DEPTH; ++u)
        if (c + u * 256 < k) cp_async16(&mine[u][lane], wr + c + u * 256);
    asm volatile("cp.async.commit_group;");
    PDL_ENTER();
    for (; c < k; c += GEMV_DEPTH * 256) {
        asm volatile("cp.async.wait_all;" ::: "memory");
        uint4 wv[GEMV_DEPTH];
#pragma unroll
        for (int u = 0; u < GEMV_DEPTH; ++u)
            if (c + u * 256 < k) wv[u] = mine[u][lane];
        const int next = c + GEMV_DEPTH * 256;
#pragma unroll
        for (int u = 0; u < GEMV_DEPTH; ++u)
            if (next + u * 256 < k) cp_async16(&mine[u][lane], wr + next + u * 256);
        asm volatile("cp.async.commit_group;");
#pragma unroll
        for (int u = 0; u < GEMV_DEPTH; ++u)
            if (c + u * 256 < k) gemv_accumulate<T, NT>(total, wv[u], x, k, c + u * 256);
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) total[t] = warp_sum(total[t]);
}
#else
template <typename T, int NT>
__device__ __forceinline__ void gemv_row(float* total, const T* x, const T* wr, int k, bool live) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int t = 0; t < NT; ++t) total[t] = 0.f;
    if (!live) { PDL_ENTER(); return; }
    int c = lane * 8;
    uint4 wv[GEMV_DEPTH];
    // The weights do not depend on the previous kernel: the first batch (a whole batch, or all of a
    // short row's tail) is read before waiting for it.
    const bool full = c + (GEMV_DEPTH - 1) * 256 < k;
#pragma unroll
    for (int u = 0; u < GEMV_DEPTH; ++u) {
        if (full || c + u * 256 < k) wv[u] = load_streaming(wr + c + u * 256);
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
    // The tail (fewer than GEMV_DEPTH chunks): its loads all issued before its sums, as a batch's
    // are; a row without a full batch read it above.
    if (full) {
#pragma unroll
        for (int u = 0; u < GEMV_DEPTH; ++u) {
            if (c + u * 256 < k) wv[u] = load_streaming(wr + c + u * 256);
        }
    }
#pragma unroll
    for (int u = 0; u < GEMV_DEPTH; ++u) {
        if (c + u * 256 < k) gemv_accumulate<T, NT>(total, wv[u], x, k, c + u * 256);
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) total[t] = warp_sum(total[t]);
}
#endif

// FP8 e4m3 (e4m3fn: no infinities, 0x7F and 0xFF are NaN), for FP8 weights and the FP8 KV cache.
// An e4m3 code as a float: its sign, exponent and mantissa bits placed in a half (bias 15
// instead of 7) give the value times 2^-8, subnormals included; callers fold the 2^8 into the
// scale. Exact for every finite code.
__device__ __forceinline__ float fp8_times_2m8(unsigned int code) {
    return __half2float(__ushort_as_half((unsigned short)(((code & 0x80u) << 8) | ((code & 0x7Fu) << 7))));
}

// Two e4m3 codes (bits 0-7 and 16-23 of `pair`) as floats times 2^-8, through a half2 (see
// fp8_times_2m8).
__device__ __forceinline__ float2 fp8x2_times_2m8(unsigned int pair) {
    const unsigned int h = ((pair & 0x00800080u) << 8) | ((pair & 0x007F007Fu) << 7);
    return __half22float2(*(const __half2*)&h);
}

// 16 bytes of e4m3 codes as floats times 2^-8.
__device__ __forceinline__ void unpack_fp8(float* w, const uint4& wv, float) {
    const unsigned int words[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 lo = fp8x2_times_2m8(__byte_perm(words[i], 0, 0x4140));
        const float2 hi = fp8x2_times_2m8(__byte_perm(words[i], 0, 0x4342));
        w[4 * i] = lo.x;
        w[4 * i + 1] = lo.y;
        w[4 * i + 2] = hi.x;
        w[4 * i + 3] = hi.y;
    }
}

// Two e4m3 codes (bits 0-15 of `w`, or 16-31 with `high`; the lower byte the lower half) as a half2
// of their values.
template <bool high> __device__ __forceinline__ unsigned fp8x2_to_half2(unsigned w) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    unsigned h;
    if constexpr (high) asm("{ .reg .b16 lo, hi; mov.b32 {lo, hi}, %1; cvt.rn.f16x2.e4m3x2 %0, hi; }" : "=r"(h) : "r"(w));
    else asm("{ .reg .b16 lo, hi; mov.b32 {lo, hi}, %1; cvt.rn.f16x2.e4m3x2 %0, lo; }" : "=r"(h) : "r"(w));
    return h;
#else
    // The codes' bits placed as halves are their values times 2^-8 (fp8_times_2m8).
    const unsigned spread = __byte_perm(w, 0, high ? 0x4342 : 0x4140);
    const unsigned bits = ((spread & 0x00800080u) << 8) | ((spread & 0x007F007Fu) << 7);
    const __half2 v = __hmul2(*(const __half2*)&bits, __floats2half2_rn(256.f, 256.f));
    return *(const unsigned*)&v;
#endif
}

// 16 bytes of e4m3 codes as floats of their values (unpack_fp8's times 2^8), a pair of codes a
// conversion instruction (fp8x2_to_half2) instead of four bit operations.
__device__ __forceinline__ void unpack_fp8_values(float* w, const uint4& wv) {
    const unsigned int words[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const unsigned lo = fp8x2_to_half2<false>(words[i]), hi = fp8x2_to_half2<true>(words[i]);
        const float2 a = __half22float2(*(const __half2*)&lo), b = __half22float2(*(const __half2*)&hi);
        w[4 * i] = a.x;
        w[4 * i + 1] = a.y;
        w[4 * i + 2] = b.x;
        w[4 * i + 3] = b.y;
    }
}

// float32 to e4m3, rounding to nearest even and saturating at ±448: the steps of the CPU's
// FloatBits.floatToFloat8E4M3, so that both backends write the same codes (every operation here
// is exact but the one rounding).
__device__ __forceinline__ unsigned char e4m3_encode(float x) {
    if (isnan(x)) return 0x7F;
    const unsigned char sign = signbit(x) ? 0x80 : 0;
    const float a = fminf(fabsf(x), 448.f);
    // The spacing of representable values: 2^(e-3) for normals, 2^-9 for subnormals.
    const int e = a > 0.f ? imax(ilogbf(a), -6) : -6;
    const float rounded = ldexpf(rintf(ldexpf(a, 3 - e)), e - 3);
    if (rounded < 0.015625f) return sign | (unsigned char)(rounded * 512.f);
    const int re = ilogbf(rounded);
    return sign | (unsigned char)(((re + 7) << 3) | ((int)(ldexpf(rounded, -re) * 8.f) - 8));
}

// The KV cache holds activations (C = T) or e4m3 codes (C = unsigned char, `--kv-cache-dtype fp8`).
template <typename C> constexpr bool is_fp8_cache() { return sizeof(C) == 1; }

// Stores an activation in the cache: as it is, or as the e4m3 code of x · inverse (1 / the layer's scale).
template <typename T> __device__ __forceinline__ void kv_store(T* p, T x, float) { *p = x; }
template <typename T> __device__ __forceinline__ void kv_store(unsigned char* p, T x, float inverse) {
    *p = e4m3_encode(to_f(x) * inverse);
}

// A cache element as a float: an activation's value, or an e4m3 code's value times 2^-8 (the
// attention kernels fold the 2^8 into the layer's scales).
template <typename C> __device__ __forceinline__ float kv_f(C x) { return to_f(x); }
template <> __device__ __forceinline__ float kv_f<unsigned char>(unsigned char x) { return fp8_times_2m8(x); }

#endif  // VLLM_KERNELS_COMMON
