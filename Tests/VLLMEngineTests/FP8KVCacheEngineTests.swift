import SwiftVLLM
import Testing
import VLLMCPU
import VLLMCore

@testable import VLLMEngine

/// `--kv-cache-dtype fp8` through the engine on the CPU: the block count at the same cache space,
/// greedy outputs that do not depend on batching, chunking, preemption, prefix caching, tensor
/// parallelism or the block size (FP8 codes are made element by element, so recomputed and cached keys are the same
/// codes), and clear errors for values and backends that do not take it.
@Suite struct FP8KVCacheEngineTests {
    static let params = greedyParams(12)
    static let prompts = mixedPrompts(count: 12, seed: 19, maxLength: 50)

    static func llm(_ model: String? = nil, _ configure: (inout EngineArgs) -> Void = { _ in }) throws -> LLM {
        try makeLLM {
            if let model { $0.model = EnginePaths.fixtureModels + "/" + model }
            $0.kvCacheDType = .fp8
            configure(&$0)
        }
    }

    /// Prompts within every fixture's vocabulary (199 tokens and more).
    static func prompts(for model: String?) -> [[Int]] {
        model == nil ? prompts : prompts.map { $0.map { 3 + $0 % 190 } }
    }

    static func outputs(_ llm: LLM, _ prompts: [[Int]]) throws -> [[Int]] {
        try llm.generate(prompts.map(Prompt.tokens), params, showProgress: false).map { $0.outputs[0].tokenIDs }
    }

    @Test func fp8HoldsFourTimesTheFloat32Blocks() throws {
        let perBlock = try LoadedModel(EngineArgs(model: EnginePaths.builtinModel)).executor.kvCacheBytesPerBlock(blockSize: 16)
        let float32 = try makeLLM { $0.cpuKVCacheBytes = 10 * perBlock }
        let fp8 = try Self.llm { $0.cpuKVCacheBytes = 10 * perBlock }
        #expect(float32.engine.config.numBlocks == 10)
        #expect(fp8.engine.config.numBlocks == 40)
        #expect(fp8.engine.config.kvCacheFormat.dtype == .fp8)
        #expect(fp8.summary.contains("fp8 (e4m3), k/v scales 1.0"))
    }

    /// The built-in model, Gemma 3 (sliding window 7, so chunks meet the window's edge) and Qwen3.
    @Test(arguments: [nil, "gemma3", "qwen3"] as [String?])
    func batchedChunkedPreemptedAndCachedMatchAlone(model: String?) throws {
        let prompts = Self.prompts(for: model)
        let single = try Self.llm(model)
        let reference = try prompts.map { try single.generate([.tokens($0)], Self.params, showProgress: false)[0].outputs[0].tokenIDs }
        #expect(try Self.outputs(Self.llm(model), prompts) == reference, "all at once")
        #expect(try Self.outputs(Self.llm(model) { $0.maxNumBatchedTokens = 7 }, prompts) == reference, "chunked prefills")
        let preempting = try Self.llm(model) { $0.numGPUBlocksOverride = 9 }
        #expect(try Self.outputs(preempting, prompts) == reference, "preempted and recomputed")
        #expect(preempting.engine.stats.numPreemptions > 0)
        // The second pass finds every prompt's full blocks in the prefix cache.
        let cached = try Self.llm(model)
        _ = try Self.outputs(cached, prompts)
        #expect(try Self.outputs(cached, prompts) == reference, "prefix-cached")
        #expect(try Self.outputs(Self.llm(model) { $0.tensorParallelSize = 2 }, prompts) == reference, "two ranks")
        for blockSize in [1, 8, 32] {
            #expect(try Self.outputs(Self.llm(model) { $0.blockSize = blockSize }, prompts) == reference, "block size \(blockSize)")
        }
    }

    @Test func flagValues() throws {
        #expect(try KVCacheDType(flag: "auto") == .auto)
        #expect(try KVCacheDType(flag: "fp8") == .fp8)
        #expect(try KVCacheDType(flag: "fp8_e4m3") == .fp8)
        func message(_ flag: String) -> String {
            do {
                _ = try KVCacheDType(flag: flag)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(
            message("fp8_e5m2")
                == "invalid value for 'kv_cache_dtype': --kv-cache-dtype fp8_e5m2 is not supported: the FP8 KV cache stores e4m3 (use fp8 or fp8_e4m3)"
        )
        #expect(message("int8") == "invalid value for 'kv_cache_dtype': --kv-cache-dtype 'int8' is not one of auto, fp8, fp8_e4m3")
    }

    /// A backend without the FP8 cache (the CUDA backend today) is refused at load, before any
    /// weight is read, with the flag and the backend named.
    @Test func backendWithoutFP8IsRefused() throws {
        var args = EngineArgs(model: EnginePaths.builtinModel)
        args.kvCacheDType = .fp8
        args.device = "no-fp8"
        let error = #expect(throws: PlatformError.self) { try LoadedModel(args, platforms: [NoFP8Platform()]) }
        #expect(
            "\(error!)"
                == "invalid value for 'kv_cache_dtype': --kv-cache-dtype fp8 is not supported by the no-fp8-cpu backend (it takes auto); use --kv-cache-dtype auto or --device cpu"
        )
        args.kvCacheDType = .auto
        #expect(try LoadedModel(args, platforms: [NoFP8Platform()]).coreConfig.kvCacheFormat == .auto)
    }
}

/// The CPU backend with only its float32 KV cache.
final class NoFP8Backend: CPUWrappingBackend {
    let cpu = CPUBackend()
    var name: String { "no-fp8-cpu" }
    var kvCacheDTypes: [KVCacheDType] { [.auto] }
}

/// A platform of `NoFP8Backend`s.
struct NoFP8Platform: Platform {
    var name: String { "no-fp8" }
    func unavailableReason() -> String? { nil }
    func makeBackends(config: ModelConfig, _ options: ModelLoadOptions) throws -> [NoFP8Backend] { [NoFP8Backend()] }
    func reserveActivations(_ backends: [NoFP8Backend], config: ModelConfig, _ options: ModelLoadOptions) -> Bool { false }
    func kvCacheBudget(_ backends: [NoFP8Backend], _ options: ModelLoadOptions) -> Int { 1 << 20 }
}
