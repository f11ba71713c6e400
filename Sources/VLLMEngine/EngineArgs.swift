import Foundation
import VLLMCore

/// Everything needed to build an engine, with vLLM's argument names and defaults.
public struct EngineArgs: Sendable {
    /// A Hugging Face model folder, or a Hub id (`org/name`) that `SwiftVLLM` resolves through the
    /// Hugging Face cache; the built-in model when nil.
    public var model: String?
    /// The branch, tag or commit of a Hub id (`--revision`); "main" when nil.
    public var revision: String?
    /// The cache folder for Hub downloads (`--download-dir`), instead of `HF_HUB_CACHE`.
    public var downloadDir: String?
    /// A Hugging Face tokenizer folder to use instead of the model's own tokenizer (vLLM's
    /// `--tokenizer`), e.g. for a GGUF model whose file describes no tokenizer we can build.
    public var tokenizer: String?
    /// The branch, tag or commit of a Hub id in `tokenizer` (`--tokenizer-revision`); "main" when nil.
    public var tokenizerRevision: String?
    /// `--load-format`: the folder's safetensors (`auto`, the default) or random weights (`dummy`).
    public var loadFormat: LoadFormat = .auto
    /// `--quantization`: the checkpoint's method (checked against config.json), or `fp8` to
    /// quantize a float checkpoint's linear layers at load; nil follows config.json.
    public var quantization: String?
    /// Tokens per KV cache block.
    public var blockSize = 16
    /// `--kv-cache-dtype`: the backend's own element type (`auto`), or FP8 e4m3 codes with the
    /// checkpoint's per-layer scales (1.0 where it has none), which doubles the blocks per byte
    /// against a 16-bit cache (four times against the CPU's float32 one).
    public var kvCacheDType: KVCacheDType = .auto
    /// Longest prompt plus output; the model's `max_position_embeddings` when nil.
    public var maxModelLength: Int?
    /// `--max-num-seqs`: the most sequences in one step (default 256).
    public var maxNumSeqs = 256
    /// Token budget per step; defaults to max(2048, max_model_len) bounded like vLLM's.
    public var maxNumBatchedTokens: Int?
    /// `--enable-prefix-caching`: reuse the KV cache of shared prompt prefixes (default on).
    public var enablePrefixCaching = true
    /// Exact number of KV cache blocks, overriding the memory budget.
    public var numGPUBlocksOverride: Int?
    /// Bytes of memory for the KV cache on the CPU (vLLM's `VLLM_CPU_KVCACHE_SPACE`, 4 GiB by default).
    public var cpuKVCacheBytes = 4 << 30
    /// Serve by priority instead of arrival.
    public var priorityScheduling = false
    /// Keep bfloat16 weights as bfloat16 on the CPU (less memory traffic) instead of float32.
    public var cpuKeepBFloat16Weights = true
    /// What GGUF blocks and, on the CPU, packed-integer weights (GPTQ, AWQ, compressed-tensors)
    /// are multiplied with: by default (`auto`) 8-bit activations for GGUF blocks, as llama.cpp
    /// and vLLM's GGUF kernels, and the activations as they are for the rest; `float32` keeps the
    /// exact product everywhere, `int8` takes 8-bit activations for packed integers too (faster).
    public var quantizedActivations = ActivationPrecision.auto
    /// Ranks the model is split over (Megatron-style tensor parallelism); on the CPU, threads of
    /// this process with in-process collectives.
    public var tensorParallelSize = 1
    /// Where the model runs: a platform's name ("cpu", "cuda"), or "auto" for the first platform
    /// that is usable here.
    public var device = "auto"
    /// Share of the GPU's memory that weights, activations and the KV cache may take.
    public var gpuMemoryUtilization = 0.9
    /// Run every step eagerly (no CUDA graphs).
    public var enforceEager = false
    /// Schedule each step before the previous one's tokens are back (`EngineCoreConfig.asyncScheduling`).
    public var asyncScheduling = true
    /// Compute dtype on the GPU (`--dtype`); nil: float16 for float16 models, else bfloat16.
    public var dtype: DType?
    /// Speculative decoding (`--speculative-config`); nil decodes one token per step.
    public var speculative: SpeculativeConfig?
    /// Structured-output options every request's grammar follows (`--structured-outputs-config`).
    public var structuredOutputs = StructuredOutputsConfig()
    /// How full blocks are hashed (`--prefix-caching-hash-algo`).
    public var prefixCachingHashAlgorithm: PrefixCachingHashAlgorithm = .builtin
    /// Record KV cache events for a publisher (`--kv-events-config`).
    public var recordsKVCacheEvents = false
    /// `--batch-invariant`: a request's tokens are bitwise the same whatever else runs beside it
    /// (docs/deterministic-mode.md); on by default when `VLLM_BATCH_INVARIANT` is a nonzero integer,
    /// as in vLLM.
    public var batchInvariant = EngineArgs.batchInvariant(environment: ProcessInfo.processInfo.environment)

    /// vLLM's reading of `VLLM_BATCH_INVARIANT`: an integer, on unless 0 (unset: off).
    public static func batchInvariant(environment: [String: String]) -> Bool {
        guard let value = environment["VLLM_BATCH_INVARIANT"]?.trimmingCharacters(in: .whitespaces), let number = Int(value) else {
            return false
        }
        return number != 0
    }

    /// Arguments with vLLM's defaults for `model` (the built-in model when nil).
    public init(model: String? = nil) {
        self.model = model
    }

    /// Where the built-in model lives: `$VLLM_DEFAULT_MODEL`, `Models/stories260K` under the current
    /// directory, or beside the executable's build folder.
    public static func builtinModelPath() -> String {
        if let path = ProcessInfo.processInfo.environment["VLLM_DEFAULT_MODEL"] { return path }
        let relative = "Models/stories260K"
        if FileManager.default.fileExists(atPath: relative + "/config.json") { return relative }
        var folder = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent(relative).path
            if FileManager.default.fileExists(atPath: candidate + "/config.json") { return candidate }
            folder.deleteLastPathComponent()
        }
        return relative
    }
}

/// A model loaded on a platform, ready for an engine core.
public struct LoadedModel {
    /// The model's folder: config, tokenizer and weights.
    public let folder: ModelFolder
    /// The loaded model, as the engine core drives it.
    public let executor: any ModelExecutor
    /// The draft model of `draft_model` speculative decoding, on the same platform.
    public let draftExecutor: (any ModelExecutor)?
    /// The head of `eagle3` speculative decoding, on the same platform.
    public let eagle3Head: (any Eagle3HeadExecutor)?
    /// The engine core's settings, sized for this model and platform (KV cache blocks included).
    public let coreConfig: EngineCoreConfig
    /// The ids that end generation: generation_config.json's, else config.json's.
    public let eosTokenIDs: [Int]
    /// The platform the model runs on.
    public let platformName: String

    /// Loads the model of `args` on the platform `args.device` names among `platforms` and sizes
    /// its KV cache.
    public init(_ args: EngineArgs, platforms: [any Platform], progress: ((Int, Int) -> Void)? = nil) throws {
        let folder = try ModelFolder(path: args.model ?? EngineArgs.builtinModelPath())
        let config = folder.config
        let maxModelLength = args.maxModelLength ?? config.maxPositionEmbeddings
        if let requested = args.maxModelLength, requested <= 0 {
            throw EngineError.invalidParameter(field: "max_model_len", detail: "must be positive, got \(requested)")
        }
        if let requested = args.maxModelLength, requested > config.maxPositionEmbeddings {
            throw EngineError.invalidParameter(
                field: "max_model_len", detail: "\(requested) exceeds the model's max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        // At most 1024 (vLLM's largest is 256): the KV bytes of a block are a product of it.
        guard args.blockSize > 0, args.blockSize % 8 == 0 || args.blockSize < 8, args.blockSize <= 1024 else {
            throw EngineError.invalidParameter(
                field: "block_size", detail: "must be a positive multiple of 8 up to 1024, got \(args.blockSize)")
        }
        let budget = args.maxNumBatchedTokens ?? max(2048, min(maxModelLength, 8192))
        let platform = try Self.platform(args.device, among: platforms)
        let speculative = Self.resolvedMethod(args.speculative)
        let draft = try Self.draftFolder(speculative, target: config, maxModelLength: maxModelLength)
        let head = try Self.eagle3Head(speculative, target: config)
        let loaded = try platform.load(
            folder, args.loadOptions(maxModelLength: maxModelLength, budget: budget), draft: draft, head: head, progress: progress)
        executor = loaded.executor
        draftExecutor = loaded.draft
        eagle3Head = loaded.head
        var core = args.coreConfig(numBlocks: loaded.numBlocks, maxModelLength: maxModelLength, budget: budget)
        core.speculative = speculative
        core.weightBytes = loaded.weightBytes
        core.kvCacheFormat = loaded.kvCache
        core.loadTimes = loaded.times
        coreConfig = core
        platformName = platform.name
        self.folder = folder
        eosTokenIDs = folder.eosTokenIDs
    }

    /// `speculative` with a `draft_model` whose config.json names an EAGLE-3 head taken as `eagle3`,
    /// as vLLM infers the method from the draft's architecture.
    static func resolvedMethod(_ speculative: SpeculativeConfig?) -> SpeculativeConfig? {
        guard var speculative, speculative.method == .draftModel, let path = speculative.model,
            Eagle3HeadConfig.isEagle3(folder: path)
        else { return speculative }
        speculative.method = .eagle3
        return speculative
    }

    /// The EAGLE-3 head's configuration when `speculative` asks for one, checked against the target.
    static func eagle3Head(_ speculative: SpeculativeConfig?, target: ModelConfig) throws -> Eagle3HeadConfig? {
        guard let speculative, speculative.method == .eagle3, let path = speculative.model else { return nil }
        let head: Eagle3HeadConfig
        do { head = try Eagle3HeadConfig(folder: path) } catch let error as ModelLoadError {
            throw EngineError.invalidParameter(field: "speculative_config", detail: "eagle3 head: \(error)")
        }
        try checkEagle3Head(head, target: target)
        return head
    }

    /// The draft model's folder when `speculative` asks for one, checked against the target: the
    /// same vocabulary, and room for `maxModelLength` positions.
    static func draftFolder(_ speculative: SpeculativeConfig?, target: ModelConfig, maxModelLength: Int) throws -> ModelFolder? {
        guard let speculative, speculative.method == .draftModel, let path = speculative.model else { return nil }
        let folder = try ModelFolder(path: path)
        try checkDraftVocabulary(folder.config, target: target)
        guard folder.config.maxPositionEmbeddings >= maxModelLength else {
            throw EngineError.invalidParameter(
                field: "speculative_config",
                detail:
                    "the draft model holds \(folder.config.maxPositionEmbeddings) positions, fewer than max_model_len \(maxModelLength); lower --max-model-len"
            )
        }
        return folder
    }

    /// The platform called `name`, or for "auto" the first usable one.
    public static func platform(_ name: String, among platforms: [any Platform]) throws -> any Platform {
        if name == "auto" {
            guard let usable = platforms.first(where: { $0.unavailableReason() == nil }) else {
                throw EngineError.invalidParameter(field: "device", detail: "no platform is usable here")
            }
            return usable
        }
        guard let named = platforms.first(where: { $0.name == name }) else {
            throw EngineError.invalidParameter(
                field: "device", detail: "'\(name)' is not one of auto, \(platforms.map(\.name).joined(separator: ", "))")
        }
        return named
    }
}

extension EngineArgs {
    /// What the platform needs of these arguments.
    func loadOptions(maxModelLength: Int, budget: Int) -> ModelLoadOptions {
        var options = ModelLoadOptions(maxModelLength: maxModelLength, maxNumBatchedTokens: budget)
        options.loadFormat = loadFormat
        options.blockSize = blockSize
        options.maxNumSeqs = maxNumSeqs
        options.tensorParallelSize = tensorParallelSize
        options.numBlocksOverride = numGPUBlocksOverride
        options.dtype = dtype
        options.gpuMemoryUtilization = gpuMemoryUtilization
        options.cpuKVCacheBytes = cpuKVCacheBytes
        options.cpuKeepBFloat16Weights = cpuKeepBFloat16Weights
        options.quantizedActivations = quantizedActivations
        options.quantization = quantization
        options.kvCacheDType = kvCacheDType
        options.batchInvariant = batchInvariant
        return options
    }

    /// The engine core's settings for a model of `numBlocks` KV cache blocks.
    func coreConfig(numBlocks: Int, maxModelLength: Int, budget: Int) -> EngineCoreConfig {
        var config = EngineCoreConfig(
            blockSize: blockSize, numBlocks: numBlocks, enablePrefixCaching: enablePrefixCaching,
            scheduler: SchedulerConfig(
                maxNumBatchedTokens: budget, maxNumSeqs: maxNumSeqs, maxModelLength: maxModelLength,
                priorityScheduling: priorityScheduling),
            graphBatchSizes: enforceEager ? [] : EngineCoreConfig.graphBatchSizes(maxNumSeqs: maxNumSeqs),
            asyncScheduling: asyncScheduling, speculative: speculative)
        config.prefixCachingHashAlgorithm = prefixCachingHashAlgorithm
        config.hashSeed = ProcessInfo.processInfo.environment["PYTHONHASHSEED"]
        config.recordsKVCacheEvents = recordsKVCacheEvents
        return config
    }
}
