#ifndef VLLM_SUPPORT_H
#define VLLM_SUPPORT_H

/// Keeps large activation buffers in the malloc heap instead of fresh mmaps, whose pages the
/// kernel would zero again on every engine step. Does nothing where malloc has no such knobs.
void vllm_keep_large_allocations_in_heap(void);

/// Atomic operations on a 64-bit word, for the CPU worker pool (`ParallelFor`): sequentially
/// consistent, so that a sleeping worker and the thread that wakes it cannot miss each other.
static inline long long vllm_atomic_load(long long *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void vllm_atomic_store(long long *p, long long value) { __atomic_store_n(p, value, __ATOMIC_SEQ_CST); }
static inline long long vllm_atomic_add(long long *p, long long value) {
    return __atomic_fetch_add(p, value, __ATOMIC_SEQ_CST);
}
/// Replaces `*p` by `desired` when it holds `expected`; true when it did.
static inline _Bool vllm_atomic_compare_exchange(long long *p, long long expected, long long desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
/// A hint to the core that this thread is spinning (x86 `pause`, Arm `yield`).
static inline void vllm_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
/// Asks for the cache line at `p` ahead of its use (a hint; never faults).
static inline void vllm_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
}

/// Asks for the cache line at `p` ahead of its use (a hint; never faults).
static inline void vllm_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
