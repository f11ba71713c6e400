// Mixture-of-experts kernels.
//
// One MoE block is four launches whose sizes depend only on the token count, so that a decode step
// can be recorded in a CUDA graph:
//   moe_route   one warp per token: softmax of the router logits, top-k in torch.topk's order
//               (ties included), optional renormalisation;
//   moe_group   one block: the (token, choice) entries grouped by expert, tokens in batch order
//               within an expert, and each expert's first row tile (warps over runs of entries);
//   moe_gemm    one grouped product over all experts: a block computes a 16-row tile of one expert's
//               rows against that expert's slice of the stacked weight (gathering the token rows
//               for the first projection); run for gate/up and again for down;
//   moe_combine a block per token and 256 columns: the weighted expert results summed in expert
//               order (as transformers adds them), plus the gated shared expert when there is one.
// Decode steps of a few tokens (16-bit activations) take two launches after moe_route instead:
// moe_gemv_swiglu, and moe_gemv_combine (the down products with moe_combine's sum); 16-bit
// activations take moe_gemm_mma (tensor cores) for the grouped product. Every kernel waits for the
// previous grid itself (PDL_ENTER), so its launch overlaps the kernel before it.

#ifndef VLLM_KERNELS_COMMON  // the backend joins common.cuh before this file; a tool compiling it alone includes it
#include "common.cuh"
#endif

#define MOE_MAX_EXPERTS 256
#define MOE_TILE_ROWS 16
#define MOE_TILE_COLS 64
#define MOE_TILE_DEPTH 32

// torch.topk on the CPU (largest, sorted): std::nth_element then std::sort of the k - 1 before
// the k-th, or std::partial_sort when k * 64 <= n, with libstdc++'s steps, so that equal router
// probabilities pick the experts transformers picks (TorchTopK.swift is the same on the host).
struct MoeQueue {
    float v[MOE_MAX_EXPERTS];
    int i[MOE_MAX_EXPERTS];

    __device__ bool before(int a, int b) const { return (isnan(v[a]) && !isnan(v[b])) || v[a] > v[b]; }
    __device__ static bool before(float va, float vb) { return (isnan(va) && !isnan(vb)) || va > vb; }
    __device__ void swap(int a, int b) {
        const float tv = v[a]; v[a] = v[b]; v[b] = tv;
        const int ti = i[a]; i[a] = i[b]; i[b] = ti;
    }
    __device__ void set(int at, float value, int index) { v[at] = value; i[at] = index; }

    __device__ void adjust_heap(int first, int hole, int count, float value, int index) {
        const int top = hole;
        int child = hole;
        while (child < (count - 1) / 2) {
            child = 2 * (child + 1);
            if (before(first + child, first + child - 1)) child--;
            set(first + hole, v[first + child], i[first + child]);
            hole = child;
        }
        if ((count & 1) == 0 && child == (count - 2) / 2) {
            child = 2 * (child + 1);
            set(first + hole, v[first + child - 1], i[first + child - 1]);
            hole = child - 1;
        }
        int parent = (hole - 1) / 2;
        while (hole > top && before(v[first + parent], value)) {
            set(first + hole, v[first + parent], i[first + parent]);
            hole = parent;
            parent = (hole - 1) / 2;
        }
        set(first + hole, value, index);
    }
    __device__ void make_heap(int first, int last) {
        const int count = last - first;
        if (count < 2) return;
        for (int parent = (count - 2) / 2;; parent--) {
            adjust_heap(first, parent, count, v[first + parent], i[first + parent]);
            if (parent == 0) return;
        }
    }
    __device__ void pop_heap(int first, int last, int result) {
        const float value = v[result];
        const int index = i[result];
        set(result, v[first], i[first]);
        adjust_heap(first, 0, last - first, value, index);
    }
    __device__ void heap_select(int first, int middle, int last) {
        make_heap(first, middle);
        for (int at = middle; at < last; at++)
            if (before(at, first)) pop_heap(first, middle, at);
    }
    __device__ void sort_heap(int first, int last) {
        while (last - first > 1) {
            last--;
            pop_heap(first, last, last);
        }
    }
    __device__ int partition_around_pivot(int first, int last) {
        const int a = first + 1, b = first + (last - first) / 2, c = last - 1;
        int median;
        if (before(a, b)) median = before(b, c) ? b : (before(a, c) ? c : a);
        else median = before(a, c) ? a : (before(b, c) ? c : b);
        swap(first, median);
        int low = first + 1, high = last;
        while (true) {
            while (before(low, first)) low++;
            high--;
            while (before(first, high)) high--;
            if (!(low < high)) return low;
            swap(low, high);
            low++;
        }
    }
    __device__ void linear_insert(int position) {
        const float value = v[position];
        const int index = i[position];
        int hole = position;
        while (before(value, v[hole - 1])) {
            set(hole, v[hole - 1], i[hole - 1]);
            hole--;
        }
        set(hole, value, index);
    }
    __device__ void insertion_sort(int first, int last) {
        if (first == last) return;
        for (int at = first + 1; at < last; at++) {
            if (before(at, first)) {
                const float value = v[at];
                const int index = i[at];
                for (int j = at; j > first; j--) set(j, v[j - 1], i[j - 1]);
                set(first, value, index);
            } else {
                linear_insert(at);
            }
        }
    }
    __device__ static int log2_floor(int n) { return 31 - __clz(n); }
    __device__ void nth_element(int first, int nth, int last) {
        if (first == last || nth == last) return;
        int depth = log2_floor(last - first) * 2;
        while (last - first > 3) {
            if (depth == 0) {
                heap_select(first, nth + 1, last);
                swap(first, nth);
                return;
            }
            depth--;
            const int cut = partition_around_pivot(first, last);
            if (cut <= nth) first = cut; else last = cut;
        }
        insertion_sort(first, last);
    }
    // std::sort: the introsort loop over a stack of parts (each part's steps touch only its own
    // elements, so the order the parts are done in is immaterial), then the final insertion sort.
    __device__ void sort(int first, int last) {
        if (first == last) return;
        int firsts[32], lasts[32], depths[32], pending = 1;
        firsts[0] = first; lasts[0] = last; depths[0] = log2_floor(last - first) * 2;
        while (pending > 0) {
            pending--;
            int f = firsts[pending], l = lasts[pending], depth = depths[pending];
            while (l - f > 16) {
                if (depth == 0) { heap_select(f, l, l); sort_heap(f, l); break; }
                depth--;
                const int cut = partition_around_pivot(f, l);
                firsts[pending] = cut; lasts[pending] = l; depths[pending] = depth; pending++;
                l = cut;
            }
        }
        if (last - first > 16) {
            insertion_sort(first, first + 16);
            for (int at = first + 16; at < last; at++) linear_insert(at);
        } else {
            insertion_sort(first, last);
        }
    }
};

// A warp per token (blocks of MOE_ROUTE_TOKENS warps). Softmax over the lanes, then k rounds of
// the warp's largest remaining probability: without equal probabilities that is torch.topk's
// order. A round that finds its value more than once hands the token to lane 0, which redoes the
// selection with MoeQueue's exact steps over the same probabilities (the serial steps cost tens
// of microseconds a token, most of a decode step's MoE block, so they run only for ties).
#define MOE_ROUTE_TOKENS 4
// MOE_ROUTE_SET_TIES 1 (the default; a kernel-source define of 0 restores the hand-over at every tie): lane 0's serial
// steps run only when the equal probabilities straddle the k-th place, where torch.topk's order
// decides which experts run. Equal ones that all fall within the top k are chosen whatever their
// order, and nothing after routing depends on the order of a token's entries (moe_group gives each
// expert its entries in token order, moe_combine adds in expert order, the renormalising sum sees
// the same values in the same order), so the block's output keeps its bits. Why: with bf16 router
// logits, equal top probabilities are common (random-weight Qwen3-30B-A3B shape: moe_route 16.7 us a
// layer in an H200 profile, against 5 to 6 us for the other one-warp kernels). Also: the taken
// expert is marked through an unrolled compare, which keeps p in registers. scripts/gpu/moe_route_emulate.py
// replays both rules on torch.topk's tie-heavy fixture cases. On an H100 (kernel-check and the MoE
// fixtures passed with it) it took the Qwen3-30B-A3B shape's batch-1 token from 4.72 to 4.35 ms.
#ifndef MOE_ROUTE_SET_TIES
#define MOE_ROUTE_SET_TIES 1
#endif
// A round's warp-wide steps as single redux.sync instructions (Ampere and later) instead of five
// shuffles each; k rounds of three of them are most of moe_route's dependent chain. The largest
// probability: a lane's best is a probability (>= 0, whose bits order as integers) or -1 (none
// left), so the integer maximum of the bits is the float maximum.
__device__ __forceinline__ float route_round_max(float best) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const int top = __reduce_max_sync(0xffffffffu, best >= 0.f ? __float_as_int(best) : -1);
    return top < 0 ? -1.f : __int_as_float(top);
#else
    return warp_max(best);
#endif
}
__device__ __forceinline__ int route_round_sum(int v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    return __reduce_add_sync(0xffffffffu, v);
#else
    return (int)warp_sum((float)v);
#endif
}
__device__ __forceinline__ int route_round_min(int v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    return __reduce_min_sync(0xffffffffu, v);
#else
    for (int o = 16; o > 0; o >>= 1) v = imin(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
#endif
}
template <typename T>
__device__ void moe_route(const T* logits, int tokens, int experts, int k, int normalize, int* top_ids, float* top_weights) {
    constexpr int PER = MOE_MAX_EXPERTS / 32;
    const int lane = threadIdx.x & 31, t = blockIdx.x * MOE_ROUTE_TOKENS + (threadIdx.x >> 5);
    if (t >= tokens) return;
    const T* row = logits + (long long)t * experts;
    float p[PER], top = NEG_INF;
#pragma unroll
    for (int i = 0; i < PER; i++) {
        const int e = lane + 32 * i;
        p[i] = e < experts ? to_f<T>(row[e]) : NEG_INF;
        top = fmaxf(top, p[i]);
    }
    top = warp_max(top);
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < PER; i++) {
        p[i] = lane + 32 * i < experts ? expf(p[i] - top) : 0.f;
        sum += p[i];
    }
    sum = warp_sum(sum);
#pragma unroll
    for (int i = 0; i < PER; i++) p[i] = lane + 32 * i < experts ? p[i] / sum : -1.f;  // -1: no expert
    bool tie = false;
    for (int j = 0; j < k && !tie; j++) {
        float best = -1.f;
        int at = MOE_MAX_EXPERTS;
#pragma unroll
        for (int i = 0; i < PER; i++) {
            if (p[i] > best) { best = p[i]; at = lane + 32 * i; }
        }
        const float largest = route_round_max(best);
        int equal = 0;
#pragma unroll
        for (int i = 0; i < PER; i++) equal += p[i] == largest;
#if MOE_ROUTE_SET_TIES
        tie = j + route_round_sum(equal) > k;
#else
        tie = route_round_sum(equal) > 1;
#endif
        const int chosen = route_round_min(best == largest ? at : MOE_MAX_EXPERTS);
#if MOE_ROUTE_SET_TIES
#pragma unroll
        for (int i = 0; i < PER; i++)
            if (lane + 32 * i == chosen) p[i] = -2.f;  // taken
#else
        if (lane == chosen % 32) p[chosen / 32] = -2.f;  // taken
#endif
        if (lane == 0) {
            top_ids[t * k + j] = chosen;
            top_weights[t * k + j] = largest;
        }
    }
    if (lane != 0) return;
    if (tie) {
        MoeQueue q;
        for (int e = 0; e < experts; e++) {
            q.v[e] = expf(to_f<T>(row[e]) - top) / sum;
            q.i[e] = e;
        }
        if (k * 64 <= experts) {
            q.heap_select(0, k, experts);
            q.sort_heap(0, k);
        } else {
            q.nth_element(0, k - 1, experts);
            q.sort(0, k - 1);
        }
        for (int j = 0; j < k; j++) {
            top_ids[t * k + j] = q.i[j];
            top_weights[t * k + j] = q.v[j];
        }
    }
    if (normalize) {
        float total = 0.f;
        for (int j = 0; j < k; j++) total += top_weights[t * k + j];
        for (int j = 0; j < k; j++) top_weights[t * k + j] /= total;
    }
#ifdef MOE_ROUTE_FIXED
    // Timing only (run_gpu_checks.sh ablate, ABLATE_DEFINES=MOE_ROUTE_FIXED=1): k distinct experts
    // spread over the range, whatever the logits, so that a step with a kind of kernel left out
    // (garbage logits) still reads k experts' weights a token; the routing above still runs.
    for (int j = 0; j < k; j++) {
        top_ids[t * k + j] = j * (experts / k);
        top_weights[t * k + j] = 1.f / k;
    }
#endif
}

// One block of up to 1024 threads, at least one per expert. Each warp takes a contiguous run of the
// entries, 32 at a time in entry order: __match_any_sync finds the lanes of one expert, and their
// lowest adds their number to the warp's count of that expert (pass 1). A thread per expert sums its
// column of warp counts, block-wide scans give expert_start and tile_start, and the column becomes
// the slot each warp's first entry of the expert takes. Pass 2 repeats pass 1's walk: an entry's slot
// is its warp's next slot of the expert plus the lanes of that expert below it. So each expert's
// slots hold its entries in entry order, whatever the warps' timing. Ids outside [0, experts) are
// left out, as the serial definition leaves them.
#define MOE_GROUP_WARPS 32
__device__ __forceinline__ int moe_group_id(const int* top_ids, int n, int last, int experts) {
    const int x = n < last ? top_ids[n] : -1;
    return x >= 0 && x < experts ? x : -1;
}

extern "C" __global__ void __launch_bounds__(1024) moe_group(const int* top_ids, int entries, int experts,
                                                             int* expert_start, int* tile_start, int* slot_entry,
                                                             int* entry_slot) {
    PDL_ENTER();
    __shared__ int next[MOE_GROUP_WARPS][MOE_MAX_EXPERTS];  // per warp and expert: a count, then a slot
    __shared__ int warp_slots[MOE_GROUP_WARPS], warp_tiles[MOE_GROUP_WARPS];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int at = threadIdx.x; at < warps * MOE_MAX_EXPERTS; at += blockDim.x)
        next[at / MOE_MAX_EXPERTS][at % MOE_MAX_EXPERTS] = 0;
    __syncthreads();
    const int span = (entries + warps * 32 - 1) / (warps * 32) * 32;
    const int first = imin(warp * span, entries), last = imin(first + span, entries);
    const unsigned below = (1u << lane) - 1u;
    int x = moe_group_id(top_ids, first + lane, last, experts);
    for (int n0 = first; n0 < last; n0 += 32) {
        const int following = moe_group_id(top_ids, n0 + 32 + lane, last, experts);  // loaded while this round runs
        const unsigned peers = __match_any_sync(0xffffffffu, x);
        if (x >= 0 && (peers & below) == 0) next[warp][x] += __popc(peers);
        __syncwarp();
        x = following;
    }
    __syncthreads();
    // Exclusive scans over the experts of the slot and tile counts: within warps, then over warps.
    const int e = threadIdx.x;
    int count = 0;
    if (e < experts)
        for (int w = 0; w < warps; w++) count += next[w][e];
    const int tiles = (count + MOE_TILE_ROWS - 1) / MOE_TILE_ROWS;
    int slots_through = count, tiles_through = tiles;
    for (int o = 1; o < 32; o <<= 1) {
        const int s = __shfl_up_sync(0xffffffffu, slots_through, o), t = __shfl_up_sync(0xffffffffu, tiles_through, o);
        if (lane >= o) { slots_through += s; tiles_through += t; }
    }
    if (lane == 31) { warp_slots[warp] = slots_through; warp_tiles[warp] = tiles_through; }
    __syncthreads();
    if (e < experts) {
        int slot = slots_through - count, tile = tiles_through - tiles;
        for (int w = 0; w < warp; w++) { slot += warp_slots[w]; tile += warp_tiles[w]; }
        expert_start[e] = slot;
        tile_start[e] = tile;
        for (int w = 0; w < warps; w++) {
            const int c = next[w][e];
            next[w][e] = slot;
            slot += c;
        }
        if (e == experts - 1) { expert_start[experts] = slot; tile_start[experts] = tile + tiles; }
    }
    __syncthreads();
    x = moe_group_id(top_ids, first + lane, last, experts);
    for (int n0 = first; n0 < last; n0 += 32) {
        const int following = moe_group_id(top_ids, n0 + 32 + lane, last, experts);
        const unsigned peers = __match_any_sync(0xffffffffu, x);
        if (x >= 0) {
            const int slot = next[warp][x] + __popc(peers & below);
            slot_entry[slot] = n0 + lane;
            entry_slot[n0 + lane] = slot;
        }
        __syncwarp();
        if (x >= 0 && (peers & below) == 0) next[warp][x] += __popc(peers);
        __syncwarp();
        x = following;
    }
}

// Grouped row tile `tile` as moe_group lays them out (each expert's tiles in a row): its expert e,
// first slot row0 and row count; false for the launch's spare tiles past the last one. e is the one
// expert with tile_start[e] <= tile < tile_start[e + 1], found by bisection (tile_start does not
// decrease) in log2(experts) reads rather than up to `experts` dependent ones.
__device__ __forceinline__ bool moe_tile(int tile, const int* expert_start, const int* tile_start, int experts, int& e,
                                         int& row0, int& rows) {
    if (tile >= tile_start[experts]) return false;
    int low = 0, high = experts;  // tile_start[low] <= tile < tile_start[high]
    while (high - low > 1) {
        const int middle = (low + high) / 2;
        if (tile_start[middle] <= tile) low = middle; else high = middle;
    }
    e = low;
    row0 = expert_start[e] + (tile - tile_start[e]) * MOE_TILE_ROWS;
    rows = imin(MOE_TILE_ROWS, expert_start[e + 1] - row0);
    return true;
}

// out[s] = x_row(s) · w[e]ᵀ for the slots s of expert e, w stacked as [experts, n, kdim]. The row of
// slot s is x[slot_entry[s] / k] (the token, gathered) when slot_entry is given, else x[s].
template <typename T>
__device__ void moe_gemm(T* out, const T* x, const int* slot_entry, int k, const T* w, const int* expert_start,
                         const int* tile_start, int experts, int n, int kdim) {
    __shared__ float xs[MOE_TILE_ROWS][MOE_TILE_DEPTH + 1];
    __shared__ float ws[MOE_TILE_COLS][MOE_TILE_DEPTH + 1];
    int e, row0, rows;
    if (!moe_tile(blockIdx.x, expert_start, tile_start, experts, e, row0, rows)) return;
    const int col0 = blockIdx.y * MOE_TILE_COLS;
    const T* weight = w + (long long)e * n * kdim;
    const int tid = threadIdx.x, col = tid % MOE_TILE_COLS, group = tid / MOE_TILE_COLS;  // 4 groups of 4 rows
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    for (int d0 = 0; d0 < kdim; d0 += MOE_TILE_DEPTH) {
        for (int at = tid; at < MOE_TILE_ROWS * MOE_TILE_DEPTH; at += blockDim.x) {
            const int r = at / MOE_TILE_DEPTH, d = at % MOE_TILE_DEPTH;
            float value = 0.f;
            if (r < rows && d0 + d < kdim) {
                const int s = row0 + r;
                const long long source = slot_entry ? (long long)(slot_entry[s] / k) : (long long)s;
                value = to_f<T>(x[source * kdim + d0 + d]);
            }
            xs[r][d] = value;
        }
        for (int at = tid; at < MOE_TILE_COLS * MOE_TILE_DEPTH; at += blockDim.x) {
            const int c = at / MOE_TILE_DEPTH, d = at % MOE_TILE_DEPTH;
            ws[c][d] = (col0 + c < n && d0 + d < kdim) ? to_f<T>(weight[(long long)(col0 + c) * kdim + d0 + d]) : 0.f;
        }
        __syncthreads();
#pragma unroll 8
        for (int d = 0; d < MOE_TILE_DEPTH; d++) {
            const float wv = ws[col][d];
#pragma unroll
            for (int r = 0; r < 4; r++) acc[r] += xs[group * 4 + r][d] * wv;
        }
        __syncthreads();
    }
    if (col0 + col >= n) return;
    for (int r = 0; r < 4; r++) {
        const int local = group * 4 + r;
        if (local < rows) out[(long long)(row0 + local) * n + col0 + col] = from_f<T>(acc[r]);
    }
}

// The grouped product on the tensor cores for 16-bit activations: the same 16-row tiles of one
// expert as moe_gemm, 128 columns a block (four warps, two 16x16 fragments each), the depth in
// steps of 32 through shared memory, float32 accumulation. The tiles of one expert run side by
// side (blockIdx.x first), so the weight columns they share come from L2. kdim is a multiple of 8.
#define MOE_MMA_COLS 128
#define MOE_MMA_DEPTH 32
#define MOE_MMA_LD (MOE_MMA_DEPTH + 8)  // padded rows: 80 bytes keep wmma's 32-byte alignment
template <typename T>
__device__ void moe_gemm_mma(T* out, const T* x, const int* slot_entry, int k, const T* w, const int* expert_start,
                             const int* tile_start, int experts, int n, int kdim) {
    using namespace nvcuda;
    __shared__ __align__(32) T xs[MOE_TILE_ROWS * MOE_MMA_LD];
    __shared__ __align__(32) T ws[MOE_MMA_COLS * MOE_MMA_LD];
    __shared__ __align__(32) float cs[4][16 * 32];
    int e, row0, rows;
    if (!moe_tile(blockIdx.x, expert_start, tile_start, experts, e, row0, rows)) return;
    const int col0 = blockIdx.y * MOE_MMA_COLS;
    const T* weight = w + (long long)e * n * kdim;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    // Each thread's x row (the first 64 threads load 8 values of one of the 16 rows).
    const int xr = tid >> 2, xq = (tid & 3) * 8;
    long long source = -1;
    if (tid < 64 && xr < rows) source = slot_entry ? (long long)(slot_entry[row0 + xr] / k) : (long long)(row0 + xr);
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2];
    wmma::fill_fragment(acc[0], 0.f);
    wmma::fill_fragment(acc[1], 0.f);
    const uint4 zero = make_uint4(0, 0, 0, 0);
    for (int d0 = 0; d0 < kdim; d0 += MOE_MMA_DEPTH) {
        if (tid < 64)
            *(uint4*)&xs[xr * MOE_MMA_LD + xq] =
                (source >= 0 && d0 + xq < kdim) ? *(const uint4*)(x + source * kdim + d0 + xq) : zero;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int at = tid + i * 128, c = at >> 2, q = (at & 3) * 8;
            *(uint4*)&ws[c * MOE_MMA_LD + q] = (col0 + c < n && d0 + q < kdim)
                                                   ? load_streaming(weight + (long long)(col0 + c) * kdim + d0 + q)
                                                   : zero;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < MOE_MMA_DEPTH; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
            wmma::load_matrix_sync(a, xs + kk, MOE_MMA_LD);
#pragma unroll
            for (int f = 0; f < 2; f++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
                wmma::load_matrix_sync(b, ws + (warp * 32 + f * 16) * MOE_MMA_LD + kk, MOE_MMA_LD);
                wmma::mma_sync(acc[f], a, b, acc[f]);
            }
        }
        __syncthreads();
    }
    wmma::store_matrix_sync(cs[warp], acc[0], 32, wmma::mem_row_major);
    wmma::store_matrix_sync(cs[warp] + 16, acc[1], 32, wmma::mem_row_major);
    __syncwarp();
    for (int at = lane; at < 16 * 32; at += 32) {
        const int r = at >> 5, col = col0 + warp * 32 + (at & 31);
        if (r < rows && col < n) out[(long long)(row0 + r) * n + col] = from_f<T>(cs[warp][at]);
    }
}

#define INSTANTIATE_MOE_MMA(S, T)                                                                                      \
    extern "C" __global__ void __launch_bounds__(128) moe_gemm_mma_##S(T* out, const T* x, const int* slot_entry,     \
        int k, const T* w, const int* expert_start, const int* tile_start, int experts, int n, int kdim) {             \
        PDL_ENTER();                                                                                                   \
        moe_gemm_mma<T>(out, x, slot_entry, k, w, expert_start, tile_start, experts, n, kdim);                         \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_MOE_MMA(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_MOE_MMA(f16, __half)
#endif

// Decode steps (a few tokens): each entry's expert as matrix-vector products through gemv_row, one
// warp per output row, so that the chosen experts' weights stream at the bandwidth of gemv.cu
// (moe_gemm's 16-row tiles would hold one row each). They need no grouping: an entry t·k + j keeps
// its row of the activations at index t·k + j. 16-bit activations only (gemv_row reads 8 values a
// load); the dimensions are multiples of 8. The expert ids come from the previous kernel, so no
// weight can be read before waiting for it (PDL_ENTER first).
// moe_gemv_swiglu: act[entry] = silu(x_t · Wgᵀ) * (x_t · Wuᵀ) for the entry's expert's stacked
// [gate; up] rows; grid.y is the entry. Blocks of 8 warps as in gemv.cu's gemv_gated (warps 0-3 four
// gate rows, 4-7 the same up rows), rounded as moe_gemm then silu_and_mul round.
template <typename T>
__device__ void moe_gemv_swiglu(T* act, const T* x, const int* top_ids, int k, const T* w, int n, int kdim) {
    __shared__ float up[4];
    const int entry = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int expert = top_ids[entry];
    const int row = blockIdx.x * 4 + (warp & 3);
    const T* rows = w + (long long)expert * 2 * n * kdim;
    float total[1];
    gemv_row<T, 1>(total, x + (long long)(entry / k) * kdim, rows + (long long)(row + (warp >= 4 ? n : 0)) * kdim, kdim,
                   row < n);
    if (warp >= 4 && lane == 0) up[warp - 4] = total[0];
    __syncthreads();
    if (warp >= 4 || lane != 0 || row >= n) return;
    const float gate = rnd<T>(total[0]);
    act[(long long)entry * n + row] = from_f<T>(rnd<T>(SiLU()(gate)) * rnd<T>(up[warp]));
}

// moe_gemv_combine: the down products and moe_combine's weighted sum in one kernel. Grid
// (hidden / rows_per_block, tokens), blocks of MOE_GEMV_COMBINE_WARPS warps: the block's
// rows_per_block × k (row, choice) pairs go to the warps in turn, a warp streaming one expert's row,
// and one thread a row then adds the token's k results in expert order. Each product is rounded to
// T as the separate down kernel (moe_gemv, until 2026-12-06) stored it, and each step as moe_combine
// rounds it, so the bits are those of the two kernels apart, without the second launch and the
// [entries, hidden] round trip. rows_per_block × k is at most MOE_MAX_EXPERTS (the host takes
// max(1, warps / k) rows).
#define MOE_GEMV_COMBINE_WARPS 8
// MOE_COMBINE_PIPELINE 1 (the default since 2026-12-06; 0: as before, for comparing through a
// kernel-source override): the kernel no longer waits for the previous one at its entry, so each
// warp's first weight row is read before the wait (the expert ids were written two kernels back, by
// moe_route); and, for blocks of several rows, a warp keeps its next pair's row in registers while
// it sums the current one, so the block's loads stay in flight across its pairs (rows of up to 1024
// values, 4 chunks a lane). The chunks are added in ascending order, as gemv_row adds them: the same
// bits. On an H100, Qwen3-30B-A3B's shape cut to 8 layers: 0.8824 ms a token without, 0.8623 with,
// 0.8540 with 4 rows a block (the host's default for rows this short).
#ifndef MOE_COMBINE_PIPELINE
#define MOE_COMBINE_PIPELINE 1
#endif
#if MOE_COMBINE_PIPELINE
template <typename T>
__device__ void moe_combine_pairs_pipelined(float* part, const T* act_t, const int* ids, const T* w, int hidden, int kdim,
                                            int k, int row0, int pairs) {
    constexpr int CH = 4;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, c0 = lane * 8;
    uint4 cur[CH], next[CH];
    // Rows past `hidden` read the last row (their sums are not used).
    const auto load = [&](uint4(&v)[CH], int pair) {
        const T* wr = w + ((long long)ids[pair % k] * hidden + imin(row0 + pair / k, hidden - 1)) * kdim;
#pragma unroll
        for (int u = 0; u < CH; ++u)
            if (c0 + u * 256 < kdim) v[u] = load_streaming(wr + c0 + u * 256);
    };
    if (warp < pairs) load(cur, warp);
    PDL_ENTER();
    for (int pair = warp; pair < pairs; pair += MOE_GEMV_COMBINE_WARPS) {
        if (pair + MOE_GEMV_COMBINE_WARPS < pairs) load(next, pair + MOE_GEMV_COMBINE_WARPS);
        float total[1] = {0.f};
        const T* x = act_t + (long long)(pair % k) * kdim;
#pragma unroll
        for (int u = 0; u < CH; ++u)
            if (c0 + u * 256 < kdim) gemv_accumulate<T, 1>(total, cur[u], x, kdim, c0 + u * 256);
        total[0] = warp_sum(total[0]);
        if (lane == 0) part[pair] = total[0];
#pragma unroll
        for (int u = 0; u < CH; ++u) cur[u] = next[u];
    }
}
#endif
template <typename T>
__device__ void moe_gemv_combine(T* out, const T* act, const int* top_ids, const float* top_weights, int k, const T* w,
                                 int hidden, int kdim, int rows_per_block, const T* shared, const T* shared_gate) {
    __shared__ float part[MOE_MAX_EXPERTS];
    __shared__ int by_expert[MOE_MAX_EXPERTS];
    const long long t = blockIdx.y;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, row0 = blockIdx.x * rows_per_block;
    const int* ids = top_ids + t * k;
#if MOE_COMBINE_PIPELINE
    if (kdim <= 1024) moe_combine_pairs_pipelined<T>(part, act + t * k * kdim, ids, w, hidden, kdim, k, row0, rows_per_block * k);
    else
#endif
    for (int pair = warp; pair < rows_per_block * k; pair += MOE_GEMV_COMBINE_WARPS) {
        const int row = row0 + pair / k, j = pair % k;
        float total[1];
        gemv_row<T, 1>(total, act + (t * k + j) * kdim, w + ((long long)ids[j] * hidden + row) * kdim, kdim, row < hidden);
        if (lane == 0) part[pair] = total[0];
    }
#if MOE_COMBINE_PIPELINE
    PDL_ENTER();  // warps without a pair waited nowhere else (the kernel's entry does not wait)
#endif
    // A choice's place in expert order: the number of the token's experts below its own (routing
    // picks distinct experts).
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        int place = 0;
        for (int i = 0; i < k; i++) place += ids[i] < ids[j];
        by_expert[place] = j;
    }
    __syncthreads();
    const int r = threadIdx.x, row = row0 + r;
    if (r >= rows_per_block || row >= hidden) return;
    float acc = 0.f;
    for (int step = 0; step < k; step++) {
        const int j = by_expert[step];
        acc = rnd<T>(acc + rnd<T>(rnd<T>(part[r * k + j]) * top_weights[t * k + j]));
    }
    if (shared) {
        const float gate = 1.f / (1.f + expf(-to_f<T>(shared_gate[t])));
        acc = rnd<T>(acc + rnd<T>(gate * to_f<T>(shared[t * hidden + row])));
    }
    out[t * hidden + row] = from_f<T>(acc);
}

#if MOE_COMBINE_PIPELINE
#define MOE_COMBINE_ENTRY() do {} while (0)  // moe_gemv_combine waits itself, after its first weight loads
#else
#define MOE_COMBINE_ENTRY() PDL_ENTER()
#endif
#define INSTANTIATE_MOE_GEMV(S, T)                                                                                     \
    extern "C" __global__ void __launch_bounds__(256) moe_gemv_swiglu_##S(T* act, const T* x, const int* top_ids,     \
        int k, const T* w, int n, int kdim) {                                                                          \
        PDL_ENTER();                                                                                                   \
        moe_gemv_swiglu<T>(act, x, top_ids, k, w, n, kdim);                                                            \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(32 * MOE_GEMV_COMBINE_WARPS) moe_gemv_combine_##S(T* out,             \
        const T* act, const int* top_ids, const float* top_weights, int k, const T* w, int hidden, int kdim,            \
        int rows_per_block, const T* shared, const T* shared_gate) {                                                   \
        MOE_COMBINE_ENTRY();                                                                                           \
        moe_gemv_combine<T>(out, act, top_ids, top_weights, k, w, hidden, kdim, rows_per_block, shared, shared_gate);  \
    }
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_MOE_GEMV(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_MOE_GEMV(f16, __half)
#endif

// out[t, c] = Σ over t's experts in expert order of weight · down[slot, c], then
// + sigmoid(shared_gate[t]) · shared[t, c] when shared is given; rounded to T after each step as
// transformers' tensors of that dtype are. A block per token and MOE_COMBINE_COLUMNS columns: the
// token's entries are put in expert order once (an entry's place is the number of the token's
// experts below its own; routing picks distinct experts), then a thread per column.
#define MOE_COMBINE_COLUMNS 256
template <typename T>
__device__ void moe_combine(T* out, const T* down, const int* top_ids, const float* top_weights, const int* entry_slot,
                            int k, int hidden, const T* shared, const T* shared_gate) {
    __shared__ int slots[MOE_MAX_EXPERTS];
    __shared__ float weights[MOE_MAX_EXPERTS];
    const long long t = blockIdx.x, first = t * k;
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        const int expert = top_ids[first + j];
        int place = 0;
        for (int i = 0; i < k; i++) place += top_ids[first + i] < expert;
        slots[place] = entry_slot[first + j];
        weights[place] = top_weights[first + j];
    }
    __syncthreads();
    const int c = blockIdx.y * MOE_COMBINE_COLUMNS + threadIdx.x;
    if (c >= hidden) return;
    float acc = 0.f;
    for (int step = 0; step < k; step++)
        acc = rnd<T>(acc + rnd<T>(to_f<T>(down[(long long)slots[step] * hidden + c]) * weights[step]));
    if (shared) {
        const float gate = 1.f / (1.f + expf(-to_f<T>(shared_gate[t])));
        acc = rnd<T>(acc + rnd<T>(gate * to_f<T>(shared[t * hidden + c])));
    }
    out[t * hidden + c] = from_f<T>(acc);
}

#define INSTANTIATE_MOE(S, T)                                                                                          \
    extern "C" __global__ void moe_route_##S(const T* logits, int tokens, int experts, int k, int normalize,           \
                                             int* top_ids, float* top_weights) {                                       \
        PDL_ENTER();                                                                                                   \
        moe_route<T>(logits, tokens, experts, k, normalize, top_ids, top_weights);                                     \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) moe_gemm_##S(T* out, const T* x, const int* slot_entry, int k,   \
        const T* w, const int* expert_start, const int* tile_start, int experts, int n, int kdim) {                    \
        PDL_ENTER();                                                                                                   \
        moe_gemm<T>(out, x, slot_entry, k, w, expert_start, tile_start, experts, n, kdim);                             \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(MOE_COMBINE_COLUMNS) moe_combine_##S(T* out, const T* down,         \
        const int* top_ids, const float* top_weights, const int* entry_slot, int k, int hidden, const T* shared,       \
        const T* shared_gate) {                                                                                        \
        PDL_ENTER();                                                                                                   \
        moe_combine<T>(out, down, top_ids, top_weights, entry_slot, k, hidden, shared, shared_gate);                   \
    }

#ifdef VLLM_DTYPE_F32
INSTANTIATE_MOE(f32, float)
#endif
#ifdef VLLM_DTYPE_BF16
INSTANTIATE_MOE(bf16, __nv_bfloat16)
#endif
#ifdef VLLM_DTYPE_F16
INSTANTIATE_MOE(f16, __half)
#endif
