import Foundation
import VLLMCPU
import VLLMCUDA
import VLLMCore

/// Where the model runs (`--device`).
public enum Device: String, Sendable, CaseIterable {
    /// CUDA when a usable GPU is present (`CUDAAvailability.problem() == nil`), else the CPU.
    case auto
    case cpu
    case cuda

    /// `auto` decided for this machine.
    public var resolved: Device {
        self == .auto ? (CUDAAvailability.problem() == nil ? .cuda : .cpu) : self
    }
}

/// Everything needed to build an engine, with vLLM's argument names and defaults.
public struct EngineArgs: Sendable {
    /// A Hugging Face model folder; the built-in model when nil.
    public var model: String?
    public var loadFormat: LoadFormat = .auto
    /// Tokens per KV cache block.
    public var blockSize = 16
    /// Longest prompt plus output; the model's `max_position_embeddings` when nil.
    public var maxModelLength: Int?
    public var maxNumSeqs = 256
    /// Token budget per step; defaults to max(2048, max_model_len) bounded like vLLM's.
    public var maxNumBatchedTokens: Int?
    public var enablePrefixCaching = true
    /// Exact number of KV cache blocks, overriding the memory budget.
    public var numGPUBlocksOverride: Int?
    /// Bytes of memory for the KV cache on the CPU (vLLM's `VLLM_CPU_KVCACHE_SPACE`, 4 GiB by default).
    public var cpuKVCacheBytes = 4 << 30
    /// Serve by priority instead of arrival.
    public var priorityScheduling = false
    /// Keep bfloat16 weights as bfloat16 on the CPU (less memory traffic) instead of float32.
    public var cpuKeepBFloat16Weights = true
    /// Ranks the model is split over (Megatron-style tensor parallelism); on the CPU, threads of
    /// this process with in-process collectives.
    public var tensorParallelSize = 1
    /// Where the model runs.
    public var device: Device = .auto
    /// Share of the GPU's memory that weights, activations and the KV cache may take.
    public var gpuMemoryUtilization = 0.9
    /// Run every step eagerly (no CUDA graphs).
    public var enforceEager = false
    /// Schedule each step before the previous one's tokens are back (`EngineCoreConfig.asyncScheduling`).
    public var asyncScheduling = true
    /// Compute dtype on the GPU (`--dtype`); nil: float16 for float16 models, else bfloat16.
    public var dtype: DType?

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

/// A model loaded on a backend, ready for an engine core.
public struct LoadedModel {
    public let folder: ModelFolder
    public let executor: any ModelExecutor
    public let coreConfig: EngineCoreConfig
    public let eosTokenIDs: [Int]

    /// Loads the model of `args` on the CPU backend and sizes its KV cache.
    public init(_ args: EngineArgs, progress: ((Int, Int) -> Void)? = nil) throws {
        let folder = try ModelFolder(path: args.model ?? EngineArgs.builtinModelPath())
        let config = folder.config
        let maxModelLength = args.maxModelLength ?? config.maxPositionEmbeddings
        if let requested = args.maxModelLength, requested > config.maxPositionEmbeddings {
            throw EngineError.invalidParameter(
                field: "max_model_len", detail: "\(requested) exceeds the model's max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        guard args.blockSize > 0, args.blockSize % 8 == 0 || args.blockSize < 8 else {
            throw EngineError.invalidParameter(field: "block_size", detail: "must be a positive multiple of 8, got \(args.blockSize)")
        }
        let budget = args.maxNumBatchedTokens ?? max(2048, min(maxModelLength, 8192))
        let numBlocks: Int
        if args.device.resolved == .cuda {
            guard args.tensorParallelSize == 1 else {
                throw EngineError.invalidParameter(
                    field: "tensor_parallel_size", detail: "tensor parallelism on CUDA (NCCL) is not built yet; use 1, or --device cpu")
            }
            (executor, numBlocks) = try Self.loadOnCUDA(
                args, folder: folder, maxModelLength: maxModelLength, budget: budget, progress: progress)
        } else {
            executor = try Self.loadOnCPU(args, folder: folder, maxPositions: maxModelLength, progress: progress)
            let bytesPerBlock = executor.kvCacheBytesPerBlock(blockSize: args.blockSize)
            numBlocks = args.numGPUBlocksOverride ?? max(1, args.cpuKVCacheBytes / bytesPerBlock)
        }
        coreConfig = EngineCoreConfig(
            blockSize: args.blockSize, numBlocks: numBlocks, enablePrefixCaching: args.enablePrefixCaching,
            scheduler: SchedulerConfig(
                maxNumBatchedTokens: budget, maxNumSeqs: args.maxNumSeqs, maxModelLength: maxModelLength,
                priorityScheduling: args.priorityScheduling),
            graphBatchSizes: args.enforceEager ? [] : EngineCoreConfig.graphBatchSizes(maxNumSeqs: args.maxNumSeqs),
            asyncScheduling: args.asyncScheduling)
        self.folder = folder
        eosTokenIDs = folder.eosTokenIDs
    }

    private static func loadOnCPU(
        _ args: EngineArgs, folder: ModelFolder, maxPositions: Int, progress: ((Int, Int) -> Void)?
    ) throws -> any ModelExecutor {
        let weights = try folder.weights(format: args.loadFormat)
        let size = args.tensorParallelSize
        guard size >= 1 else {
            throw EngineError.invalidParameter(field: "tensor_parallel_size", detail: "must be at least 1, got \(size)")
        }
        guard size > 1 else {
            return try ModelRegistry.load(
                config: folder.config, weights: weights, backend: CPUBackend(keepsBFloat16: args.cpuKeepBFloat16Weights),
                maxPositions: maxPositions, progress: progress)
        }
        let group = InProcessGroup(worldSize: size)
        let ranks = try (0..<size).map { rank in
            try ModelRegistry.load(
                config: folder.config, weights: weights,
                backend: CPUBackend(keepsBFloat16: args.cpuKeepBFloat16Weights, group: group, rank: rank),
                maxPositions: maxPositions, shard: TensorParallelShard(rank: rank, worldSize: size),
                progress: rank == 0 ? progress : nil)
        }
        return TensorParallelExecutor(ranks: ranks)
    }
}

extension LoadedModel {
    /// Loads the model on the GPU and sizes the KV cache from the memory left after the weights and
    /// the activations of the largest step: `free - total * (1 - gpuMemoryUtilization)`.
    static func loadOnCUDA(
        _ args: EngineArgs, folder: ModelFolder, maxModelLength: Int, budget: Int, progress: ((Int, Int) -> Void)?
    ) throws -> (any ModelExecutor, Int) {
        guard args.tensorParallelSize == 1 else {
            throw EngineError.invalidParameter(
                field: "tensor_parallel_size", detail: "the CUDA backend runs on one GPU for now; got \(args.tensorParallelSize)")
        }
        if let problem = CUDAAvailability.problem() {
            throw EngineError.invalidParameter(field: "device", detail: "CUDA is not usable here: \(problem)")
        }
        let config = folder.config
        let dtype = args.dtype ?? (config.dtype == .float16 ? .float16 : .bfloat16)
        let backend = try CUDABackend(computeDType: dtype)
        // Start-up time is mostly weights and kernels; say which way the kernels came.
        FileHandle.standardError.write(Data(String(
            format: "CUDA: %@, kernels %@ in %.2f s\n", backend.deviceName,
            backend.compiledKernels ? "compiled by NVRTC" : "loaded from the cache", backend.kernelSeconds).utf8))
        let weights: WeightStore = args.loadFormat == .dummy && dtype != .float32
            ? ParallelDummyWeights(dtype: dtype) : try folder.weights(format: args.loadFormat)
        let executor = try ModelRegistry.load(
            config: config, weights: weights, backend: backend, maxPositions: maxModelLength, progress: progress)
        let activations = CUDAActivationEstimate.bytes(
            config: config, dtype: dtype, tokens: budget, sequences: args.maxNumSeqs)
        try backend.reserveActivations(ringBytes: activations.ring, stepBytes: activations.step)
        executor.profileRun(tokens: budget, sequences: args.maxNumSeqs, blockSize: args.blockSize)
        let bytesPerBlock = executor.kvCacheBytesPerBlock(blockSize: args.blockSize)
        let memory = backend.memoryInfo()
        let usable = memory.free - Int(Double(memory.total) * (1 - args.gpuMemoryUtilization))
        // More blocks than every sequence at full length could use only slow down the block pool.
        let useful = args.maxNumSeqs * ((maxModelLength + args.blockSize - 1) / args.blockSize) + 1
        let numBlocks = args.numGPUBlocksOverride ?? min(useful, usable / bytesPerBlock)
        guard numBlocks > 0 else {
            throw EngineError.notEnoughCache(
                detail: "no GPU memory left for the KV cache (\(memory.free >> 20) MiB free of \(memory.total >> 20) MiB after weights and activations); raise --gpu-memory-utilization or lower --max-num-batched-tokens")
        }
        return (executor, numBlocks)
    }
}
