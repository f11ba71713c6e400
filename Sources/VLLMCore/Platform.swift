/// The engine's settings that loading a model and sizing its KV cache depend on (vLLM's names).
public struct ModelLoadOptions: Sendable {
    /// How weights are obtained.
    public var loadFormat: LoadFormat = .auto
    /// Longest prompt plus output.
    public var maxModelLength: Int
    /// Tokens per KV cache block.
    public var blockSize = 16
    /// Token budget of the largest step.
    public var maxNumBatchedTokens: Int
    /// Most sequences in a step.
    public var maxNumSeqs = 256
    /// Ranks the model is split over.
    public var tensorParallelSize = 1
    /// Exact number of KV cache blocks, overriding the memory budget.
    public var numBlocksOverride: Int?
    /// Compute dtype (`--dtype`); nil lets the platform choose from the checkpoint.
    public var dtype: DType?
    /// Share of a GPU's memory that weights, activations and the KV cache may take.
    public var gpuMemoryUtilization = 0.9
    /// Bytes of host memory for the KV cache of a CPU platform.
    public var cpuKVCacheBytes = 4 << 30
    /// Keep bfloat16 weights as bfloat16 on the CPU instead of widening them to float32.
    public var cpuKeepBFloat16Weights = true
    /// What GGUF blocks and, on the CPU, packed-integer weights are multiplied with
    /// (`--quantized-activations`; by default 8-bit activations for GGUF blocks only).
    public var quantizedActivations = ActivationPrecision.auto
    /// `--quantization`: the checkpoint's method, or `fp8` to quantize a float checkpoint at load.
    public var quantization: String?
    /// `--kv-cache-dtype`: the backend's own element type, or FP8 with the checkpoint's scales.
    public var kvCacheDType: KVCacheDType = .auto
    /// `--batch-invariant`: every token's result computed in an order that does not depend on the
    /// other tokens of its step (docs/deterministic-mode.md).
    public var batchInvariant = false

    /// Options with the two limits that have no default.
    public init(maxModelLength: Int, maxNumBatchedTokens: Int) {
        self.maxModelLength = maxModelLength
        self.maxNumBatchedTokens = maxNumBatchedTokens
    }

    /// Blocks that every sequence at full length would fill, plus one; more only slow down the block pool.
    public var usefulBlocks: Int { maxNumSeqs * ((maxModelLength + blockSize - 1) / blockSize) + 1 }
}

/// What the quantized-weight kernels multiply the weights with (`--quantized-activations`, or its
/// older names `--gguf-activations` and `--cpu-gguf-activations`): on the CPU, GGUF blocks and
/// packed integers (GPTQ, AWQ, compressed-tensors pack-quantized, groups of 32·2ⁿ or per channel);
/// on CUDA, in decode steps only, GGUF blocks and 4-bit packed integers (groups of a multiple of 32,
/// without act-order).
public enum ActivationPrecision: String, CaseIterable, Sendable {
    /// `int8` for GGUF blocks, as llama.cpp and vLLM's GGUF kernels multiply them (8-bit
    /// activations per 32 values), and `float32` for every other format: the default. Where
    /// `int8` has no kernel (the CPU off x86-64) GGUF blocks take float32 too.
    case auto
    /// The activations as they are (float32 on the CPU, the compute dtype on CUDA): the exact
    /// product with the dequantized weights, the reference.
    case float32
    /// Activations quantized to 8 bits per block of 32, as llama.cpp does: integer dot products,
    /// faster. The CPU (x86-64) takes them in prompt and decode steps, for GGUF blocks and packed
    /// integers; CUDA for GGUF blocks and 4-bit packed integers in decode steps (1 to 4 tokens;
    /// larger products dequantize the weights for cuBLASLt). A decode step's logits moved by 0.9–3.2% of their scale on the
    /// real GGUF models of the tests.
    case int8

    /// Whether weights of a GGUF block type (`gguf`) or of another quantized format are
    /// multiplied with 8-bit activations.
    public func multipliesInt8(gguf: Bool) -> Bool { self == .int8 || self == .auto && gguf }
}

/// Why a platform could not load a model.
public enum PlatformError: Error, CustomStringConvertible, Equatable {
    /// The platform cannot run on this machine.
    case unavailable(platform: String, reason: String)
    /// An engine setting the platform does not support.
    case unsupported(field: String, detail: String)
    /// No memory is left for the KV cache.
    case notEnoughMemory(detail: String)

    /// The message for the user: what is wrong and which flag or setting to change.
    public var description: String {
        switch self {
        case .unavailable(let platform, let reason): "\(platform) is not usable here: \(reason)"
        case .unsupported(let field, let detail): "invalid value for '\(field)': \(detail)"
        case .notEnoughMemory(let detail): "not enough memory for the KV cache: \(detail)"
        }
    }
}

/// A kind of device that models run on. Each backend module provides one; the engine picks one by
/// name and knows no concrete backend, so a new backend is a new module and a line where the
/// platforms are listed (`SwiftVLLM`'s `Platforms.builtIn`).
public protocol Platform: Sendable {
    /// The backend of one rank.
    associatedtype B: Backend

    /// The name `--device` takes ("cpu", "cuda").
    var name: String { get }
    /// Why the platform cannot run on this machine, or nil when it can.
    func unavailableReason() -> String?
    /// The backends of one model, one per tensor-parallel rank.
    func makeBackends(config: ModelConfig, _ options: ModelLoadOptions) throws -> [B]
    /// Where the weights come from (a platform may make dummy weights its own way).
    func weights(of folder: ModelFolder, _ options: ModelLoadOptions) throws -> WeightStore
    /// Sets aside the activation memory of the largest step, once the weights are loaded; true
    /// when a profile run should then bring activations to their high-water mark.
    func reserveActivations(_ backends: [B], config: ModelConfig, _ options: ModelLoadOptions) throws -> Bool
    /// Bytes the KV cache may take, with weights and activations in place.
    func kvCacheBudget(_ backends: [B], _ options: ModelLoadOptions) throws -> Int
}

extension Platform {
    /// Default: the folder's weights as `loadFormat` and `quantization` say.
    public func weights(of folder: ModelFolder, _ options: ModelLoadOptions) throws -> WeightStore {
        try folder.weights(format: options.loadFormat, quantization: options.quantization)
    }

    /// Loads the model of `folder` on this platform and sizes its KV cache: as many blocks as the
    /// budget holds, no more than every sequence could use, or exactly `numBlocksOverride`; the
    /// cache's format (`--kv-cache-dtype`, FP8 scales from the checkpoint) comes back for logs.
    public func load(
        _ folder: ModelFolder, _ options: ModelLoadOptions, progress: ((Int, Int) -> Void)? = nil
    ) throws -> (executor: any ModelExecutor, numBlocks: Int, weightBytes: Int, kvCache: KVCacheFormat) {
        let loaded = try load(folder, options, draft: nil, head: nil, progress: progress)
        return (loaded.executor, loaded.numBlocks, loaded.weightBytes, loaded.kvCache)
    }

    /// Loads the model of `folder` and, when given, a draft model or an EAGLE-3 head (speculative
    /// decoding, on one rank) on this platform, then sizes the KV cache from what is left. The
    /// caches have the same number of blocks (the draft's are indexed by the target's block
    /// tables), so a block costs the target's bytes plus the draft's: the budget is split in
    /// proportion to each model's KV bytes per token. `kvCache` is the target's cache format;
    /// `times`, the seconds of each phase (both models').
    public func load(
        _ folder: ModelFolder, _ options: ModelLoadOptions, draft: ModelFolder?, head: Eagle3HeadConfig? = nil,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> (
        executor: any ModelExecutor, draft: (any ModelExecutor)?, head: (any Eagle3HeadExecutor)?, numBlocks: Int, weightBytes: Int,
        kvCache: KVCacheFormat, times: StartupTimes
    ) {
        guard options.tensorParallelSize >= 1 else {
            throw PlatformError.unsupported(
                field: "tensor_parallel_size", detail: "must be at least 1, got \(options.tensorParallelSize)")
        }
        let (executor, backends, weightBytes, kvCache, targetTimes) = try loadExecutor(folder, options, progress: progress)
        var draftOptions = options
        draftOptions.tensorParallelSize = 1
        let loadedDraft = try draft.map { try loadExecutor($0, draftOptions, progress: nil) }
        let draftExecutor = loadedDraft?.executor
        let headExecutor = try head.map { try loadEagle3Head($0, target: folder, draftOptions) }
        let allWeightBytes = weightBytes + (loadedDraft?.weightBytes ?? 0)
        let times = targetTimes + (loadedDraft?.times ?? StartupTimes())
        if let exact = options.numBlocksOverride {
            return (executor, draftExecutor, headExecutor, exact, allWeightBytes, kvCache, times)
        }
        let bytesPerBlock =
            executor.kvCacheBytesPerBlock(blockSize: options.blockSize)
            + (draftExecutor?.kvCacheBytesPerBlock(blockSize: options.blockSize) ?? 0)
            + (headExecutor?.kvCacheBytesPerBlock(blockSize: options.blockSize) ?? 0)
        let budget = try kvCacheBudget(backends, options)
        let numBlocks = min(options.usefulBlocks, budget / bytesPerBlock)
        guard numBlocks > 0 else {
            throw PlatformError.notEnoughMemory(
                detail: "\(budget >> 20) MiB left for the KV cache on \(name), one block takes \(bytesPerBlock >> 10) KiB")
        }
        return (executor, draftExecutor, headExecutor, numBlocks, allWeightBytes, kvCache, times)
    }

    /// The EAGLE-3 head of `config` on a backend of its own (one rank), reading the hidden states
    /// of the target in `target`, whose token embeddings it takes when it has none.
    private func loadEagle3Head(
        _ config: Eagle3HeadConfig, target: ModelFolder, _ options: ModelLoadOptions
    ) throws -> any Eagle3HeadExecutor {
        let layers = try config.targetLayers(numLayers: target.config.numLayers)
        let backend = try makeBackends(config: config.model, options)[0]
        let head = try Eagle3Head(
            config, weights: SafetensorsWeights(folder: config.path), targetWeights: weights(of: target, options),
            backend: backend, maxPositions: options.maxModelLength, auxiliaryLayers: layers.count)
        try backend.waitForKernels()
        // Its passes are far smaller than the target's; the reservation sizes its step memory.
        _ = try reserveActivations([backend], config: config.model, options)
        return Eagle3HeadRunner(head: head, targetLayers: layers, backend: backend)
    }

    /// The model of `folder` on new backends (one per rank), with its activations reserved.
    private func loadExecutor(
        _ folder: ModelFolder, _ options: ModelLoadOptions, progress: ((Int, Int) -> Void)?
    ) throws -> (executor: any ModelExecutor, backends: [B], weightBytes: Int, kvCache: KVCacheFormat, times: StartupTimes) {
        let config = folder.config
        var times = StartupTimes()
        let backends = try times.measure(\.backends) { try makeBackends(config: config, options) }
        try backends.first?.requireKVCacheDType(options.kvCacheDType)
        let weights = CountingWeights(try self.weights(of: folder, options))
        // Dummy weights hold every name, so their scales would be random: 1.0 as with none.
        let kvCache = try KVCacheFormat.read(
            options.kvCacheDType, numLayers: config.numLayers, from: options.loadFormat == .dummy ? nil : weights.base,
            path: folder.path)
        let ranks = try times.measure(\.weights) {
            try backends.enumerated().map { rank, backend in
                let runner = try ModelRegistry.load(
                    ModelLoadContext(
                        config: config, weights: weights, backend: backend, maxPositions: options.maxModelLength,
                        shard: TensorParallelShard(rank: rank, worldSize: backends.count), progress: rank == 0 ? progress : nil))
                runner.kvCacheFormat = kvCache
                return runner
            }
        }
        let executor: any ModelExecutor = ranks.count == 1 ? ranks[0] : TensorParallelExecutor(ranks: ranks)
        try times.measure(\.kernelWait) { try backends.forEach { try $0.waitForKernels() } }
        times.kernels = backends.map(\.kernelSeconds).max() ?? 0
        try times.measure(\.profileRun) {
            if try reserveActivations(backends, config: config, options) {
                executor.profileRun(tokens: options.maxNumBatchedTokens, sequences: options.maxNumSeqs, blockSize: options.blockSize)
            }
        }
        return (executor, backends, weights.bytes, kvCache, times)
    }
}
