// swift-vllm CUDA kernels, compiled at run time by NVRTC for the GPU that is present.
