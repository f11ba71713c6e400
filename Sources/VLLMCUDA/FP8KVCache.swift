import VLLMCore

/// The kernels of an FP8 KV cache (`--kv-cache-dtype fp8`): the `_fp8` instantiations of the cache
/// writes (keys and values quantized to e4m3 with the layer's scales, as the CPU cache does) and of
/// the attention kernels that read codes. Each takes its activation-cache twin's arguments plus two
/// floats of the layer (`CUDAKVCache.writeArguments` / `readArguments`). flash_attention has no FP8
/// twin: the steps only it serves (head size 256, decode groups over 8) take paged_attention.
struct FP8KVCacheKernels {
    let writeKVCache, rotaryWriteKV, pagedAttention: CUhandle
    /// `rotary_write_kv_fp8` with the per-head q/k RMSNorm first; nil in an older kernel source.
    let rotaryNormWriteKV: CUhandle?
    /// Decode attention by head dimension (64, 128; 16-bit activations).
    let decodeAttention: [Int: CUhandle]
    /// Register-accumulator prefill attention by head dimension (64, 128), then warps a block (4, 8).
    let flashPrefill: [Int: [Int: CUhandle]]

    /// Nil when the module lacks the writes or paged_attention (an older `VLLM_CUDA_KERNEL_SOURCE`).
    init?(_ functions: [Kernel: [(values: [KernelParameter: Int], function: CUhandle)]]) {
        guard let write = functions[.writeKVCacheFP8]?.first?.function,
            let rotary = functions[.rotaryWriteKVFP8]?.first?.function,
            let paged = functions[.pagedAttentionFP8]?.first?.function
        else { return nil }
        (writeKVCache, rotaryWriteKV, pagedAttention) = (write, rotary, paged)
        rotaryNormWriteKV = functions[.rotaryNormWriteKVFP8]?.first?.function
        decodeAttention = Dictionary(
            (functions[.decodeAttentionFP8] ?? []).map { ($0.values[.headDim] ?? 0, $0.function) }, uniquingKeysWith: { a, _ in a })
        var prefill: [Int: [Int: CUhandle]] = [:]
        for instance in functions[.flashPrefillFP8] ?? [] {
            prefill[instance.values[.headDim] ?? 0, default: [:]][instance.values[.warps] ?? 0] = instance.function
        }
        flashPrefill = prefill
    }
}

extension CUDAKVCache {
    /// Whether the cache holds e4m3 codes rather than activations.
    var isFP8: Bool { shape.format.dtype == .fp8 }

    /// Bytes of one cache element: the activation's, or 1 for an e4m3 code.
    static func elementSize(_ format: KVCacheFormat, activationBytes: Int) -> Int {
        switch format.dtype {
        case .auto: activationBytes
        case .fp8: 1
        }
    }

    /// The trailing arguments of `layer`'s FP8 cache writes: 1 / key scale and 1 / value scale,
    /// computed in float32 as the CPU cache computes the multiplier it applies, so that both write
    /// the same codes; none for a cache of activations.
    func writeArguments(layer: Int) -> [KernelArgument] {
        guard isFP8 else { return [] }
        let scales = shape.format.scales(layer: layer)
        return [.float(1 / scales.key), .float(1 / scales.value)]
    }

    /// The trailing arguments of `layer`'s FP8 attention kernels: the key and value scales; none
    /// for a cache of activations.
    func readArguments(layer: Int) -> [KernelArgument] {
        guard isFP8 else { return [] }
        let scales = shape.format.scales(layer: layer)
        return [.float(scales.key), .float(scales.value)]
    }
}

extension CUDABackend {
    /// Layer `layer`'s keys and values as the cache stores them (the activations' bytes, or e4m3
    /// codes), copied to the host: for checks.
    public func kvCacheBytes(_ cache: CUDAKVCache, layer: Int) -> (keys: [UInt8], values: [UInt8]) {
        let shape = cache.shape
        let count = kvCacheBytesPerBlock(shape) / (2 * shape.numLayers) * shape.numBlocks
        return (hostBytes(cache.keys[layer], count: count, "KV cache"), hostBytes(cache.values[layer], count: count, "KV cache"))
    }
}
