import SwiftVLLM
import Testing
import VLLMCPU
import VLLMCore

@testable import VLLMEngine

/// Greedy outputs of one model of each new family (Gemma 3: sliding and global layers with their
/// own rope; Phi-3: fused projections and LongRoPE) are the same alone and batched, with chunked
/// prefills, after preemption and over two tensor-parallel ranks. Prompts run past Gemma's sliding
/// window (7), so chunks meet the window's edge.
@Suite struct FamilySchedulingTests {
    static let models = ["gemma3", "phi3"]
    static let params = greedyParams(12)

    /// Prompts of 1 to 41 tokens within the fixtures' vocabularies (199 tokens and more).
    static let prompts: [[Int]] = {
        var random = SplitMixRandom(seed: 11)
        return (0..<16).map { _ in (0...Int(random.next() % 40)).map { _ in 3 + Int(random.next() % 190) } }
    }()

    static func llm(_ model: String, _ configure: (inout EngineArgs) -> Void = { _ in }) throws -> LLM {
        var args = EngineArgs(model: EnginePaths.fixtureModels + "/" + model)
        args.maxModelLength = 128
        args.cpuKVCacheBytes = 16 << 20
        configure(&args)
        return try LLM(args: args)
    }

    static func outputs(_ llm: LLM) throws -> [[Int]] {
        try llm.generate(prompts.map(Prompt.tokens), params, showProgress: false).map { $0.outputs[0].tokenIDs }
    }

    static func alone(_ model: String) throws -> [[Int]] {
        let llm = try llm(model)
        return try prompts.map { try llm.generate([.tokens($0)], params, showProgress: false)[0].outputs[0].tokenIDs }
    }

    @Test(arguments: models)
    func batchedChunkedAndPreemptedMatchAlone(model: String) throws {
        let reference = try Self.alone(model)
        #expect(try Self.outputs(Self.llm(model)) == reference, "all at once")
        let chunked = try Self.llm(model) { $0.maxNumBatchedTokens = 7 }
        #expect(try Self.outputs(chunked) == reference, "chunked prefills")
        let preempting = try Self.llm(model) { $0.numGPUBlocksOverride = 8 }
        #expect(try Self.outputs(preempting) == reference, "preempted and recomputed")
        #expect(preempting.engine.stats.numPreemptions > 0)
        #expect(try Self.outputs(Self.llm(model) { $0.tensorParallelSize = 2 }) == reference, "two ranks")
    }
}

/// The CPU backend without the family operations, as a backend that lacks them.
final class NoFamilyOperationsBackend: CPUWrappingBackend {
    let cpu = CPUBackend()
    var name: String { "no-family-cpu" }
    var familyOperations: FamilyOperations { [] }
}

/// A backend that lacks an operation a model needs is refused at load, with the operations named.
@Suite struct FamilyOperationRefusalTests {
    func loadError(_ model: String) -> String {
        do {
            let folder = try ModelFolder(path: EnginePaths.fixtureModels + "/" + model)
            _ = try ModelRegistry.load(
                config: folder.config, weights: folder.weights(format: .auto), backend: NoFamilyOperationsBackend(),
                maxPositions: 64)
            return "loaded"
        } catch {
            return "\(error)"
        }
    }

    @Test func gemma2NeedsGeluSoftCapAndAttentionSoftCap() {
        #expect(
            loadError("gemma2")
                == "Gemma2ForCausalLM needs gelu-tanh-and-mul, soft-cap/scale, attention logit soft-capping, which the no-family-cpu backend does not implement yet"
        )
    }

    @Test func phi4MiniPartialRotaryIsRefusedButLlamaLoads() {
        #expect(loadError("phi3") == "Phi3ForCausalLM needs partial rotary, which the no-family-cpu backend does not implement yet")
        #expect(loadError("llama3") == "loaded")
    }
}
