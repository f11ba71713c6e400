import Foundation
import VLLMCore

/// One NVIDIA GPU as a platform: our kernels and cuBLASLt, loaded at run time. The KV cache gets
/// what is left of `gpuMemoryUtilization` of the GPU's memory after the weights and the
/// activations of the largest step: `free - total * (1 - gpuMemoryUtilization)`.
public struct CUDAPlatform: Platform {
    /// The CUDA platform; the device is checked when backends are made.
    public init() {}

    /// `"cuda"`.
    public var name: String { "cuda" }

    /// Why CUDA cannot run here (the driver library, an old driver, no device), or nil.
    public func unavailableReason() -> String? { CUDAAvailability.problem() }

    /// The compute dtype: `--dtype`, else float16 for float16 checkpoints and bfloat16 for the rest.
    private func dtype(_ config: ModelConfig, _ options: ModelLoadOptions) -> DType {
        options.dtype ?? (config.dtype == .float16 ? .float16 : .bfloat16)
    }

    /// One backend on the current device, computing in `--dtype` (else float16 for float16 checkpoints, bfloat16 for the rest). Throws
    /// `PlatformError.unsupported` for tensor parallelism and `.unavailable` when CUDA cannot run.
    public func makeBackends(config: ModelConfig, _ options: ModelLoadOptions) throws -> [CUDABackend] {
        guard options.tensorParallelSize == 1 else {
            throw PlatformError.unsupported(
                field: "tensor_parallel_size",
                detail: "tensor parallelism on CUDA (NCCL) is not built yet; use 1, or --device cpu (got \(options.tensorParallelSize))")
        }
        if let problem = unavailableReason() { throw PlatformError.unavailable(platform: "CUDA", reason: problem) }
        // The kernels compile while the weights load; `Platform.load` waits for them (`waitForKernels`).
        let backend = try CUDABackend(
            computeDType: dtype(config, options), batchInvariant: options.batchInvariant,
            kernelSelection: KernelSelection(config: config, options: options))
        backend.quantizedActivations = options.quantizedActivations
        if options.batchInvariant { FileHandle.standardError.write(Data("CUDA: batch-invariant mode\n".utf8)) }
        if options.batchInvariant && options.quantizedActivations == .int8 {
            // Batch-invariant mode takes no matrix-vector kernel, and only those quantize activations.
            FileHandle.standardError.write(Data("CUDA: --quantized-activations int8 changes nothing in batch-invariant mode\n".utf8))
        }
        return [backend]
    }

    /// Dummy weights are made on all cores, already in the compute dtype (linear layers in the
    /// quantized layout where config.json or `--quantization` asks for one).
    public func weights(of folder: ModelFolder, _ options: ModelLoadOptions) throws -> WeightStore {
        let dtype = dtype(folder.config, options)
        if options.loadFormat == .dummy && dtype != .float32 {
            return try folder.dummyWeights(dense: ParallelDummyWeights(dtype: dtype), quantization: options.quantization)
        }
        return try folder.weights(format: options.loadFormat, quantization: options.quantization)
    }

    /// Reserves the estimated activation memory of the largest step (`maxNumBatchedTokens` over `maxNumSeqs` sequences); returns true, so
    /// that a profile run follows. Throws when the memory cannot be allocated.
    public func reserveActivations(_ backends: [CUDABackend], config: ModelConfig, _ options: ModelLoadOptions) throws -> Bool {
        let activations = CUDAActivationEstimate.bytes(
            config: config, dtype: dtype(config, options), tokens: options.maxNumBatchedTokens, sequences: options.maxNumSeqs)
        try backends[0].reserveActivations(ringBytes: activations.ring, stepBytes: activations.step)
        return true
    }

    /// Free memory minus the share that `gpuMemoryUtilization` leaves unused; throws `PlatformError.notEnoughMemory` when nothing is left.
    public func kvCacheBudget(_ backends: [CUDABackend], _ options: ModelLoadOptions) throws -> Int {
        let memory = backends[0].memoryInfo()
        let usable = memory.free - Int(Double(memory.total) * (1 - options.gpuMemoryUtilization))
        guard usable > 0 else {
            throw PlatformError.notEnoughMemory(
                detail:
                    "no GPU memory left for the KV cache (\(memory.free >> 20) MiB free of \(memory.total >> 20) MiB after weights and activations); raise --gpu-memory-utilization or lower --max-num-batched-tokens"
            )
        }
        return usable
    }
}
