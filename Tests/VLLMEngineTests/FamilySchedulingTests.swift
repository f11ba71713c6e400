import Testing
import SwiftVLLM
@testable import VLLMEngine

/// Greedy outputs of one model of each new family (Gemma 3: sliding and global layers with their
/// own rope; Phi-3: fused projections and LongRoPE) are the same alone and batched, with chunked
/// prefills, after preemption and over two tensor-parallel ranks. Prompts run past Gemma's sliding
/// window (7), so chunks meet the window's edge.
@Suite struct FamilySchedulingTests {
    static let models = ["gemma3", "phi3"]
    static let params = greedyParams(12)

X
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
        let preempting = try Self.llm(model) { $0.numGPUBlocksOverride = 6 }
        #expect(try Self.outputs(preempting) == reference, "preempted and recomputed")
        #expect(preempting.engine.stats.numPreemptions > 0)
        #expect(try Self.outputs(Self.llm(model) { $0.tensorParallelSize = 2 }) == reference, "two ranks")
    }
}
