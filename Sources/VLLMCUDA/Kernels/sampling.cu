// Sampling on the device: a grammar's token mask, ban, bias, penalties, filters and the draw, and the
// log-probabilities to report.
//
// The host sampler (Sources/VLLMEngine/Sampler.swift, SamplingMath.swift) is the reference; each step
// here follows it so that the kept tokens and the reported log-probabilities are the same:
//   token mask -> raw log-softmax for logprobs -> ban, bias, penalties -> argmax, or temperature -> softmax ->
//   min-p -> top-k -> top-p -> draw.
// A row is one block. Top-k and top-p never sort: the probabilities are non-negative floats, so their
// bit patterns order like the values, and the k-th largest probability (or the one where the mass
// reaches top_p) is found by bisection over those 32-bit keys, each step one block reduction over the
// row. Ties at the cut keep the lower token ids, as the host's sort does. The draw is Gumbel-max:
// argmax(z / t + g) over the kept tokens, g from a counter hash of (row key, token id), which does
// not depend on the row's position in the batch.

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

// Per-row parameters; CUDASampling.swift writes them as 12 32-bit words.
struct SampleRow {
    float temperature;
    int top_k;
    float top_p;
    float min_p;
    unsigned int key_lo, key_hi;
    int num_logprobs;  // -1: none
    float repetition, frequency, presence;
    int unused0, unused1;
};

// One column change: flags 1 = banned, 2 = in the prompt or output (repetition penalty).
struct SampleAdjustment {
    int row, column, flags, count;
    float bias;
};

#define INT_MAX_VALUE 0x7fffffff

__device__ __forceinline__ unsigned long long mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// As SamplingMath.gumbel: 24 random bits make u, so the host can reproduce it exactly.
__device__ __forceinline__ float gumbel(unsigned long long key, int column) {
    const unsigned long long h = mix64(key + (unsigned long long)(column + 1) * 0x9E3779B97F4A7C15ull);
    const float u = __fmul_rn((float)(h >> 40) + 0.5f, 1.f / 16777216.f);
    return -logf(-logf(u));
}

// In place on float logits. The _rn intrinsics stop fused multiply-adds, so that the arithmetic
// rounds as the host's does.
extern "C" __global__ void adjust_logits(float* logits, int n, const SampleAdjustment* entries, int count,
                                         const SampleRow* rows) {
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < count; e += gridDim.x * blockDim.x) {
        const SampleAdjustment a = entries[e];
        if (a.column < 0 || a.column >= n) continue;
        const SampleRow r = rows[a.row];
        float* slot = logits + (long long)a.row * n + a.column;
        float v = *slot;
        if (a.flags & 1) v = NEG_INF;
        v = __fadd_rn(v, a.bias);
        if (a.flags & 2) v = v > 0.f ? __fdiv_rn(v, r.repetition) : __fmul_rn(v, r.repetition);
        if (a.count > 0) v = __fsub_rn(v, __fadd_rn(__fmul_rn(r.frequency, (float)a.count), r.presence));
        *slot = v;
    }
}

// A structured-output grammar's mask, in place on the logits before any sampling: row
// `mask_rows[m]` of `x` keeps column i only where bit i % 32 of word i / 32 of mask m is set
// (xgrammar's layout); columns past the mask's `words` words are banned, as SamplingMath.applyTokenBitmask
// does on the host. Banned logits become -inf in the compute dtype, so the argmax, the draw and
// the logprobs that follow never see them. One thread per column; only banned columns are written.
template <typename T> __device__ void apply_token_bitmask(T* x, int n, const unsigned int* masks, int words,
                                                          const int* mask_rows, int count) {
    const long long total = (long long)count * n;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)gridDim.x * blockDim.x) {
        const int m = (int)(e / n), i = (int)(e - (long long)m * n), w = i >> 5;
        const bool allowed = w < words && ((masks[(long long)m * words + w] >> (i & 31)) & 1u);
        if (!allowed) x[(long long)mask_rows[m] * n + i] = from_f<T>(NEG_INF);
    }
}

// Keeps a token when its probability key is above `key`, or equal with an id of at most `index`.
struct Cut {
    unsigned int key;
    int index;
};

__device__ __forceinline__ bool passes(unsigned int bits, int i, Cut c) {
    return bits > c.key || (bits == c.key && i <= c.index);
}

// One row being sampled: its processed logits divided by the temperature, and their softmax.
template <typename T> struct SampledRow {
    const T* raw;
    const float* adjusted;
    int n;
    float temperature, max_z, sum;
    Cut min_p, top_k, top_p;

    __device__ float logit(int i) const { return adjusted ? adjusted[i] : to_f(raw[i]); }
    __device__ float z(int i) const { return __fdiv_rn(logit(i), temperature); }
    __device__ unsigned int key(int i) const { return __float_as_uint(__fdiv_rn(expf(z(i) - max_z), sum)); }
    __device__ bool kept(unsigned int bits, int i) const {
        return bits > 0u && passes(bits, i, min_p) && passes(bits, i, top_k) && passes(bits, i, top_p);
    }

    // Count (or probability mass) of the kept tokens with key >= `at` and, among those equal to
    // `at`, id <= `last`.
    __device__ float measure(bool mass, unsigned int at, int last) const {
        float total = 0.f;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const unsigned int bits = key(i);
            if (kept(bits, i) && passes(bits, i, Cut{at, last})) total += mass ? __uint_as_float(bits) : 1.f;
        }
        return block_sum(total);
    }

    // The largest key whose kept tokens at or above it reach `target` (as a share of `total` for mass).
    __device__ unsigned int find_key(bool mass, float target, float total, unsigned int top) const {
        unsigned int lo = 1u, hi = top + 1u;
        while (hi - lo > 1u) {
            const unsigned int mid = lo + (hi - lo) / 2u;
            const float m = measure(mass, mid, INT_MAX_VALUE);
            if ((mass ? __fdiv_rn(m, total) : m) >= target) lo = mid; else hi = mid;
        }
        return lo;
    }

    // The smallest id such that `need` kept tokens of key `at` have an id at most it.
    __device__ int find_index(unsigned int at, float need) const {
        int lo = -1, hi = n - 1;
        while (hi - lo > 1) {
            const int mid = lo + (hi - lo) / 2;
            const float c = measure(false, at, mid) - measure(false, at + 1u, INT_MAX_VALUE);
            if (c >= need) hi = mid; else lo = mid;
        }
        return hi;
    }
};

// Top-k: the k-th largest kept key, and at that key the ids that fill k.
template <typename T> __device__ void apply_top_k(SampledRow<T>& r, int k, unsigned int top) {
    if (k <= 0 || r.measure(false, 1u, INT_MAX_VALUE) <= (float)k) return;
    const unsigned int cut = r.find_key(false, (float)k, 0.f, top);
    const float above = r.measure(false, cut + 1u, INT_MAX_VALUE);
    const float ties = r.measure(false, cut, INT_MAX_VALUE) - above;
    const float need = (float)k - above;
    r.top_k = Cut{cut, need < ties ? r.find_index(cut, need) : INT_MAX_VALUE};
}

// Top-p over what top-k kept: the highest key where the kept share reaches p, and at that key as
// many of the lowest ids as the host would add one by one.
template <typename T> __device__ void apply_top_p(SampledRow<T>& r, float p, unsigned int top) {
    if (!(p < 1.f)) return;
    const float total = r.measure(true, 1u, INT_MAX_VALUE);
    const unsigned int cut = r.find_key(true, p, total, top);
    const float above = r.measure(true, cut + 1u, INT_MAX_VALUE);
    const float ties = r.measure(false, cut, INT_MAX_VALUE) - r.measure(false, cut + 1u, INT_MAX_VALUE);
    const float need = fminf(ties, fmaxf(1.f, ceilf((p * total - above) / __uint_as_float(cut))));
    r.top_p = Cut{cut, need < ties ? r.find_index(cut, need) : INT_MAX_VALUE};
}

// Temperature, softmax, min-p, top-k, top-p, then Gumbel-max over the kept tokens.
template <typename T> __device__ int draw(SampledRow<T>& r, const SampleRow& params) {
    float m = NEG_INF;
    for (int i = threadIdx.x; i < r.n; i += blockDim.x) m = fmaxf(m, r.z(i));
    r.max_z = block_max(m);
    float s = 0.f;
    for (int i = threadIdx.x; i < r.n; i += blockDim.x) s += expf(r.z(i) - r.max_z);
    r.sum = block_sum(s);
    const float most = __fdiv_rn(1.f, r.sum);
    if (params.min_p > 0.f) r.min_p = Cut{__float_as_uint(__fmul_rn(params.min_p, most)), INT_MAX_VALUE};
    apply_top_k(r, params.top_k, __float_as_uint(most));
    apply_top_p(r, params.top_p, __float_as_uint(most));
    const unsigned long long key = ((unsigned long long)params.key_hi << 32) | params.key_lo;
    float best = NEG_INF;
    int index = INT_MAX_VALUE;
    for (int i = threadIdx.x; i < r.n; i += blockDim.x) {
        if (!r.kept(r.key(i), i)) continue;
        const float score = r.z(i) + gumbel(key, i);
        if (index == INT_MAX_VALUE || better(score, i, best, index)) { best = score; index = i; }
    }
    block_argmax(best, index);
    return chosen_token(index);
}

template <typename T> __device__ int row_argmax(const SampledRow<T>& r) {
    float best = NEG_INF;
    int index = INT_MAX_VALUE;
    for (int i = threadIdx.x; i < r.n; i += blockDim.x) {
        const float v = r.logit(i);
        if (better(v, i, best, index)) { best = v; index = i; }
    }
    block_argmax(best, index);
    return chosen_token(index);
}

// The raw log-softmax of the chosen token, its rank, and the `count` best tokens (lower id first on
// ties), each found by one pass that excludes those already reported.
template <typename T> __device__ void report(const T* raw, int n, int chosen, int count, float* chosen_logprob,
                                             int* rank, int* top_ids, float* top_logprobs) {
    float m = NEG_INF;
    for (int i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, to_f(raw[i]));
    m = block_max(m);
    float s = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += expf(to_f(raw[i]) - m);
    const float log_total = logf(block_sum(s)) + m;
    const float value = to_f(raw[chosen]);
    float above = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) above += to_f(raw[i]) > value ? 1.f : 0.f;
    above = block_sum(above);
    if (threadIdx.x == 0) { *chosen_logprob = value - log_total; *rank = 1 + (int)above; }
    float previous = __int_as_float(0x7f800000);
    int previous_index = -1;
    for (int j = 0; j < count; ++j) {
        float best = NEG_INF;
        int index = INT_MAX_VALUE;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const float v = to_f(raw[i]);
            const bool after = v < previous || (v == previous && i > previous_index);
            if (after && better(v, i, best, index)) { best = v; index = i; }
        }
        block_argmax(best, index);
        if (threadIdx.x == 0) {
            top_ids[j] = index == INT_MAX_VALUE ? -1 : index;
            top_logprobs[j] = best - log_total;
        }
        previous = best;
        previous_index = index;
    }
}

// One block per row. `adjusted`, when present, holds the rows after ban, bias and penalties (float);
// the logprobs always come from the raw `x`.
template <typename T> __device__ void sample_rows(int* tokens, float* chosen_logprobs, int* ranks, int* top_ids,
                                                  float* top_logprobs, int max_top, const T* x,
                                                  const float* adjusted, int n, const SampleRow* rows) {
    const int row = blockIdx.x;
    const SampleRow params = rows[row];
    const Cut all{0u, INT_MAX_VALUE};
    SampledRow<T> r{x + (long long)row * n, adjusted ? adjusted + (long long)row * n : nullptr, n,
                    params.temperature, 0.f, 1.f, all, all, all};
    int token = params.temperature > 0.f ? draw(r, params) : row_argmax(r);
    if (token == INT_MAX_VALUE) token = row_argmax(r);
    if (threadIdx.x == 0) tokens[row] = token;
    if (params.num_logprobs >= 0)
        report(r.raw, n, token, min(params.num_logprobs, max_top), chosen_logprobs + row, ranks + row,
               top_ids + (long long)row * max_top, top_logprobs + (long long)row * max_top);
}

#define INSTANTIATE_SAMPLING(S, T)                                                                                     \
    extern "C" __global__ void __launch_bounds__(1024)                                                                 \
        sample_rows_##S(int* tokens, float* chosen_logprobs, int* ranks, int* top_ids, float* top_logprobs,           \
                        int max_top, const T* x, const float* adjusted, int n, const SampleRow* rows) {               \
        sample_rows<T>(tokens, chosen_logprobs, ranks, top_ids, top_logprobs, max_top, x, adjusted, n, rows);         \
    }

#define INSTANTIATE_TOKEN_BITMASK(S, T)                                                                                \
    extern "C" __global__ void apply_token_bitmask_##S(T* x, int n, const unsigned int* masks, int words,             \
                                                       const int* mask_rows, int count) {                             \
        apply_token_bitmask<T>(x, n, masks, words, mask_rows, count);                                                 \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_TOKEN_BITMASK(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_TOKEN_BITMASK(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_TOKEN_BITMASK(f16, __half)
#endif

#ifdef VLLM_DTYPE_F32
INSTANTIATE_SAMPLING(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_SAMPLING(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_SAMPLING(f16, __half)
#endif
