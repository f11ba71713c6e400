// The ggml block formats as GGMLType defines them (Sources/VLLMCore/GGMLQuantization.swift): each
// type's id, values per block, bytes per block, and bytes per block in the kernels' copy (kernelRows).
// Written by GGMLType.kernelHeader; KernelManifestTests fails when this file is not that text, so the
// CPU and the kernels read one definition.
#ifndef VLLM_GGML_BLOCKS
#define VLLM_GGML_BLOCKS
#define GGML_TYPE_F32 0
#define GGML_F32_VALUES 1
#define GGML_F32_BYTES 4
#define GGML_F32_KERNEL_BYTES 4
#define GGML_TYPE_F16 1
#define GGML_F16_VALUES 1
#define GGML_F16_BYTES 2
#define GGML_F16_KERNEL_BYTES 2
#define GGML_TYPE_Q4_0 2
#define GGML_Q4_0_VALUES 32
#define GGML_Q4_0_BYTES 18
#define GGML_Q4_0_KERNEL_BYTES 18
#define GGML_TYPE_Q4_1 3
#define GGML_Q4_1_VALUES 32
#define GGML_Q4_1_BYTES 20
#define GGML_Q4_1_KERNEL_BYTES 20
#define GGML_TYPE_Q5_0 6
#define GGML_Q5_0_VALUES 32
#define GGML_Q5_0_BYTES 22
#define GGML_Q5_0_KERNEL_BYTES 22
#define GGML_TYPE_Q5_1 7
#define GGML_Q5_1_VALUES 32
#define GGML_Q5_1_BYTES 24
#define GGML_Q5_1_KERNEL_BYTES 24
#define GGML_TYPE_Q8_0 8
#define GGML_Q8_0_VALUES 32
#define GGML_Q8_0_BYTES 34
#define GGML_Q8_0_KERNEL_BYTES 34
#define GGML_TYPE_Q4_K 12
#define GGML_Q4_K_VALUES 256
#define GGML_Q4_K_BYTES 144
#define GGML_Q4_K_KERNEL_BYTES 144
#define GGML_TYPE_Q5_K 13
#define GGML_Q5_K_VALUES 256
#define GGML_Q5_K_BYTES 176
#define GGML_Q5_K_KERNEL_BYTES 176
#define GGML_TYPE_Q6_K 14
#define GGML_Q6_K_VALUES 256
#define GGML_Q6_K_BYTES 210
#define GGML_Q6_K_KERNEL_BYTES 224
#define GGML_TYPE_BF16 30
#define GGML_BF16_VALUES 1
#define GGML_BF16_BYTES 2
#define GGML_BF16_KERNEL_BYTES 2
#endif  // VLLM_GGML_BLOCKS
