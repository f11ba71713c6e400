#ifndef VLLM_SUPPORT_H
#define VLLM_SUPPORT_H

/// Keeps large activation buffers in the malloc heap instead of fresh mmaps, whose pages the
/// kernel would zero again on every engine step. Does nothing where malloc has no such knobs.
void vllm_keep_large_allocations_in_heap(void);

#endif
