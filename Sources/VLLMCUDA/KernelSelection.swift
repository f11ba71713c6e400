import VLLMCore

/// Which kernels a backend compiles: the kernel files its model can use (manifest.json's `use`)
/// and, inside the attention files, only the model's head dimension and KV cache format. A Llama
/// in bfloat16 compiles about a third of the source this way; the rest never reaches NVRTC.
public struct KernelSelection: Sendable, Equatable, CustomStringConvertible {
    /// The kernel files that only some models need: a file's `use` in manifest.json.
    public enum Use: String, Sendable, CaseIterable, Comparable {
        /// `moe.cu`: fused mixture-of-experts layers.
        case mixtureOfExperts
        /// `quantized.cu`: packed-integer and FP8 weights.
        case quantized
        /// `ggml.cu`: GGUF block weights (with `quantized.cu`, whose dequantization they share).
        case ggml
        /// `encoder_attention.cu`: the bidirectional attention of encoder (embedding) models.
        case encoder

        /// Orders uses by name, for logs and cache keys that do not depend on set order.
        public static func < (a: Use, b: Use) -> Bool { a.rawValue < b.rawValue }
    }

    /// The optional files compiled; files without a `use` are always compiled.
    public private(set) var uses: Set<Use>
    /// The one head dimension whose attention kernels are instantiated; nil: every one.
    public var headDim: Int?
    /// Whether the FP8 KV cache's kernels (the `_fp8` twins) are instantiated.
    public var fp8KVCache: Bool

    /// Every kernel of the manifest (`vllm-dev kernel-check`, tests).
    public static let all = KernelSelection(uses: Set(Use.allCases), headDim: nil, fp8KVCache: true)

    /// A selection of `uses` (`.ggml` brings `.quantized`), one head dimension or all, and the FP8
    /// cache kernels or not.
    public init(uses: Set<Use>, headDim: Int?, fp8KVCache: Bool) {
        self.uses = uses
        self.headDim = headDim
        self.fp8KVCache = fp8KVCache
        if uses.contains(.ggml) { self.uses.insert(.quantized) }
    }

    /// What a model of `config` loaded with `options` can use: the mixture-of-experts kernels for
    /// MoE models, the quantized ones for a `quantization_config` or `--quantization` (and the
    /// GGUF ones for `--quantization gguf`), encoder attention for encoder models, the FP8 cache
    /// kernels for `--kv-cache-dtype fp8`, attention for `config.headDim` only. A GGUF file is not
    /// visible in the config: its first block weight adds `.ggml` (`CUDAKernels.require`).
    public init(config: ModelConfig, options: ModelLoadOptions) {
        var uses: Set<Use> = []
        if config.moe != nil { uses.insert(.mixtureOfExperts) }
        if config.encoder != nil { uses.insert(.encoder) }
        if config.quantization != nil || options.quantization != nil { uses.insert(.quantized) }
        if options.quantization == "gguf" { uses.insert(.ggml) }
        self.init(uses: uses, headDim: config.headDim, fp8KVCache: options.kvCacheDType != .auto)
    }

    /// This selection with `more` uses added.
    func adding(_ more: Set<Use>) -> KernelSelection {
        KernelSelection(uses: uses.union(more), headDim: headDim, fp8KVCache: fp8KVCache)
    }

    /// Whether a file of `use` (nil: a file every model needs) is compiled.
    func compiles(_ use: Use?) -> Bool { use.map(uses.contains) ?? true }

    /// Whether `instance` of `kernel` is instantiated (its file being compiled).
    func instantiates(_ kernel: Kernel, _ instance: KernelManifest.Instance) -> Bool {
        if kernel.isFP8Cache && !fp8KVCache { return false }
        if let headDim, let dimension = instance.values[.headDim], dimension != headDim { return false }
        return true
    }

    /// The definitions in front of each compiled source that leave the other instances out
    /// (`Kernels/common.cuh` reads them; without them it instantiates all).
    var defines: String {
        (headDim.map { "#define VLLM_HEAD_DIM \($0)\n" } ?? "") + (fp8KVCache ? "" : "#define VLLM_FP8_KV_CACHE 0\n")
    }

    /// For logs: "head dim 128, no FP8 cache, +quantized".
    public var description: String {
        ([headDim.map { "head dim \($0)" } ?? "all head dims", fp8KVCache ? "FP8 cache" : "no FP8 cache"]
            + uses.sorted().map { "+" + $0.rawValue }).joined(separator: ", ")
    }
}

extension Kernel {
    /// The `_fp8` twins that read or write an FP8 KV cache.
    var isFP8Cache: Bool {
        [.writeKVCacheFP8, .rotaryWriteKVFP8, .rotaryNormWriteKVFP8, .pagedAttentionFP8, .decodeAttentionFP8, .flashPrefillFP8]
            .contains(self)
    }
}
