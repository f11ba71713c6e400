import VLLMCore

/// The CPU as a platform: runs everywhere; tensor parallelism with one thread per rank and
/// in-process collectives; the KV cache takes `cpuKVCacheBytes` of host memory (vLLM's
/// `VLLM_CPU_KVCACHE_SPACE`).
public struct CPUPlatform: Platform {
    /// The CPU platform; it runs everywhere.
    public init() {}

    /// `"cpu"`.
    public var name: String { "cpu" }

    /// Always nil: the CPU runs everywhere.
    public func unavailableReason() -> String? { nil }

    /// One backend, or one per rank of an in-process group for tensor parallelism; bfloat16 weights stay bfloat16 unless the options say
    /// otherwise.
    public func makeBackends(config: ModelConfig, _ options: ModelLoadOptions) throws -> [CPUBackend] {
        let size = options.tensorParallelSize
        let keep = options.cpuKeepBFloat16Weights
        let (invariant, activations) = (options.batchInvariant, options.quantizedActivations)
        guard activations != .int8 || GGMLInt8Decode.available else {
            throw PlatformError.unsupported(field: "quantized_activations", detail: "int8 needs an x86-64 CPU; use float32")
        }
        guard size > 1 else { return [CPUBackend(keepsBFloat16: keep, batchInvariant: invariant, quantizedActivations: activations)] }
        let group = InProcessGroup(worldSize: size)
        return (0..<size).map {
            CPUBackend(keepsBFloat16: keep, group: group, rank: $0, batchInvariant: invariant, quantizedActivations: activations)
        }
    }

    /// Activations are allocated per step from the heap; nothing to set aside or profile.
    public func reserveActivations(_ backends: [CPUBackend], config: ModelConfig, _ options: ModelLoadOptions) -> Bool {
        false
    }

    /// `cpuKVCacheBytes` (vLLM's `VLLM_CPU_KVCACHE_SPACE`).
    public func kvCacheBudget(_ backends: [CPUBackend], _ options: ModelLoadOptions) -> Int { options.cpuKVCacheBytes }
}
