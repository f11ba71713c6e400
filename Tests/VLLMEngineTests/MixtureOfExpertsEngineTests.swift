import Foundation
import SwiftVLLM
import Testing
import VLLMCPU
import VLLMCore

@testable import VLLMEngine

/// The CPU backend without its mixture-of-experts operations, so that models run the protocol's
/// defaults (routing and grouping on the host, one product per expert through `linear`).
final class HostGroupingCPUBackend: CPUWrappingBackend {
    let cpu = CPUBackend()
    var name: String { "host-grouping-cpu" }
}

/// Mixture-of-experts models under the engine: the same greedy tokens however requests are
/// batched and chunked, and the same logits from the default MoE operation as from the CPU one.
@Suite struct MixtureOfExpertsEngineTests {
    static let folder = EnginePaths.fixtureModels + "/qwen2moe"
    static let prompts = mixedPrompts(count: 16, seed: 11, maxLength: 40).map { $0.map { $0 % 263 } }
    static let params = greedyParams(12)

    static func llm(_ configure: (inout EngineArgs) -> Void = { _ in }) throws -> LLM {
        var args = EngineArgs(model: folder)
        args.maxModelLength = 128
        args.cpuKVCacheBytes = 32 << 20
        configure(&args)
        return try LLM(args: args)
    }

    static func outputs(_ llm: LLM) throws -> [[Int]] {
        try llm.generate(prompts.map(Prompt.tokens), params, showProgress: false).map { $0.outputs[0].tokenIDs }
    }

    /// Each prompt alone is the reference; all at once, four at a time and chunked prefills
    /// (7 tokens a step) give the same tokens: a token's experts do not depend on its neighbours.
    @Test func greedyTokensDoNotDependOnBatching() throws {
        let alone = try Self.llm()
        let reference = try Self.prompts.map {
            try alone.generate([.tokens($0)], Self.params, showProgress: false)[0].outputs[0].tokenIDs
        }
        #expect(try Self.outputs(Self.llm()) == reference)
        #expect(try Self.outputs(Self.llm { $0.maxNumSeqs = 4 }) == reference)
        #expect(try Self.outputs(Self.llm { $0.maxNumBatchedTokens = 7 }) == reference)
    }

    /// The default `mixtureOfExperts` (host grouping, per-expert weights) and the CPU backend's
    /// (stacked experts) give the same prompt logits on the model with a shared expert.
    @Test func defaultOperationMatchesTheCPUOne() throws {
        let folder = try ModelFolder(path: Self.folder)
        let prompt = Self.prompts[0]
        func logits<B: Backend>(_ backend: B) throws -> [Float] {
            let runner = try ModelRegistry.load(
                config: folder.config, weights: folder.weights(format: .auto), backend: backend, maxPositions: 64)
            runner.allocateKVCache(numBlocks: 4, blockSize: 16)
            var batch = ForwardBatch(
                chunks: [SequenceChunk(tokenIDs: prompt.map(Int32.init), numCached: 0, blockTable: [0, 1, 2, 3])], blockSize: 16)
            batch.logitIndices = (0..<prompt.count).map(Int32.init)
            return runner.execute(batch)
        }
        let cpu = try logits(CPUBackend())
        let host = try logits(HostGroupingCPUBackend())
        let worst = zip(cpu, host).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-5 * cpu.map(abs).max()!, "worst difference \(worst)")
    }
}
