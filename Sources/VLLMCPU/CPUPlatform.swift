import VLLMCore

/// The CPU as a platform: runs everywhere; tensor parallelism with one thread per rank and
/// in-process collectives; the KV cache takes `cpuKVCacheBytes` of host memory (vLLM's
/// `VLLM_CPU_KVCACHE_SPACE`).
public struct CPUPlatform: Platform {
    public init() {}

    public var name: String { "cpu" }

    public func unavailableReason() -> String? { nil }

    public func makeBackends(config: ModelConfig, _ options: ModelLoadOptions) throws -> [CPUBackend] {
        let size = options.tensorParallelSize
        let keep = options.cpuKeepBFloat16Weights
        guard size > 1 else { return [CPUBackend(keepsBFloat16: keep)] }
        let group = InProcessGroup(worldSize: size)
        return (0..<size).map { CPUBackend(keepsBFloat16: keep, group: group, rank: $0) }
    }

    /// Activations are allocated per step from the heap; nothing to set aside or profile.
    public func reserveActivations(_ backends: [CPUBackend], config: ModelConfig, _ options: ModelLoadOptions) -> Bool {
        false
    }

    public func kvCacheBudget(_ backends: [CPUBackend], _ options: ModelLoadOptions) -> Int { options.cpuKVCacheBytes }
}
