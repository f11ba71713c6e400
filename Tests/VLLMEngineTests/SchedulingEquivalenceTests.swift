import SwiftVLLM
import Testing

@testable import VLLMEngine

/// Greedy outputs are the same however the requests are batched, chunked, preempted or cached.
@Suite struct SchedulingEquivalenceTests {
    static let prompts = mixedPrompts(count: 64)
    static let params = greedyParams(24)

    static func outputs(_ llm: LLM) throws -> [[Int]] {
        try llm.generate(prompts.map(Prompt.tokens), params, showProgress: false).map { $0.outputs[0].tokenIDs }
    }

    /// Each prompt alone: the reference.
    static let reference: [[Int]] = {
        let llm = try! makeLLM()
        return prompts.map { try! llm.generate([.tokens($0)], params, showProgress: false)[0].outputs[0].tokenIDs }
    }()

    @Test func allAtOnce() throws {
        #expect(try Self.outputs(makeLLM()) == Self.reference)
    }

    @Test func fourSequencesAtATime() throws {
        #expect(try Self.outputs(makeLLM { $0.maxNumSeqs = 4 }) == Self.reference)
    }

    @Test func smallTokenBudgetChunksPrefills() throws {
        let llm = try makeLLM { $0.maxNumBatchedTokens = 7 }
        #expect(try Self.outputs(llm) == Self.reference)
        #expect(llm.engine.stats.numSteps > 64 * 24 / 7)
    }

    @Test func fewBlocksPreemptAndRecompute() throws {
        let llm = try makeLLM { $0.numGPUBlocksOverride = 9 }
        #expect(try Self.outputs(llm) == Self.reference)
        #expect(llm.engine.stats.numPreemptions > 0)
        #expect(llm.engine.numFreeBlocks == 9)
    }

    @Test func prefixCachingOff() throws {
        #expect(try Self.outputs(makeLLM { $0.enablePrefixCaching = false }) == Self.reference)
    }

    @Test func blockSizeEight() throws {
        #expect(try Self.outputs(makeLLM { $0.blockSize = 8 }) == Self.reference)
    }

    @Test(arguments: [2, 4])
    func tensorParallelRanks(size: Int) throws {
        #expect(try Self.outputs(makeLLM { $0.tensorParallelSize = size }) == Self.reference)
    }
}
