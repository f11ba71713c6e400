#include "vllm_support.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void vllm_keep_large_allocations_in_heap(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}
