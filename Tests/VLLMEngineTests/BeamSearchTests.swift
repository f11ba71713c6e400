import Foundation
import SwiftVLLM
import Testing
import VLLMCore

@testable import VLLMEngine

@Suite struct BeamSearchTests {
    /// Log-probabilities of the next token after `tokens`, straight from the model.
    static func nextLogprobs(_ executor: any ModelExecutor, _ tokens: [Int]) -> [Double] {
        let blocks = (tokens.count + 15) / 16
        let logits = executor.execute(
            ForwardBatch(
                chunks: [SequenceChunk(tokenIDs: tokens.map(Int32.init), numCached: 0, blockTable: (0..<blocks).map(Int32.init))],
                blockSize: 16))
        let m = Double(logits.max()!)
        let logTotal = log(logits.reduce(0.0) { $0 + exp(Double($1) - m) }) + m
        return logits.map { Double($0) - logTotal }
    }

    /// A plain re-statement of the algorithm over the model's own logits, no engine involved.
    static func reference(prompt: [Int], width: Int, steps: Int, eos: Int, ignoreEOS: Bool) throws -> [([Int], Double)] {
        var args = EngineArgs(model: EnginePaths.builtinModel)
        args.maxModelLength = 64
        let executor = try LoadedModel(args).executor
        executor.allocateKVCache(numBlocks: 4, blockSize: 16)
        var live: [([Int], Double)] = [(prompt, 0)]
        var done: [([Int], Double)] = []
        for _ in 0..<steps {
            var extended: [([Int], Double)] = []
            for (tokens, total) in live {
                let lp = nextLogprobs(executor, tokens)
                let top = lp.indices.sorted { lp[$0] > lp[$1] }.prefix(2 * width)
                for t in top {
                    let beam = (tokens + [t], total + lp[t])
                    if !ignoreEOS && t == eos { done.append(beam) } else { extended.append(beam) }
                }
            }
            live = Array(extended.sorted { $0.1 > $1.1 }.prefix(width))
        }
        func score(_ b: ([Int], Double)) -> Double { b.1 / Double(b.0.last == eos ? b.0.count - 1 : b.0.count) }
        return Array((done + live).sorted { score($0) > score($1) }.prefix(width))
    }

    @Test(arguments: [(2, false), (3, true)])
    func matchesAPlainReference(width: Int, ignoreEOS: Bool) throws {
        let prompt = [1, 403, 407]
        let llm = try makeLLM()
        let result = try llm.beamSearch([.tokens(prompt)], BeamSearchParams(beamWidth: width, maxTokens: 5, ignoreEOS: ignoreEOS))[0]
        let expected = try Self.reference(prompt: prompt, width: width, steps: 5, eos: 1, ignoreEOS: ignoreEOS)
        #expect(result.sequences.map(\.tokens) == expected.map(\.0))
        for (got, want) in zip(result.sequences, expected) { #expect(abs(got.cumulativeLogprob - want.1) < 1e-4) }
    }

    @Test func widthOneIsGreedy() throws {
        let llm = try makeLLM()
        let prompt = [1, 403, 407]
        let beam = try llm.beamSearch([.tokens(prompt)], BeamSearchParams(beamWidth: 1, maxTokens: 8, ignoreEOS: true))[0]
        let greedy = try llm.generate([.tokens(prompt)], greedyParams(8), showProgress: false)[0].outputs[0].tokenIDs
        #expect(Array(beam.sequences[0].tokens.dropFirst(prompt.count)) == greedy)
    }

    @Test func longPromptsShareCachedBlocks() throws {
        let llm = try makeLLM()
        let prompt = [1] + Array(10..<50)
        _ = try llm.beamSearch([.tokens(prompt)], BeamSearchParams(beamWidth: 2, maxTokens: 4, ignoreEOS: true))
        #expect(llm.engine.stats.prefixCacheHits >= 2 * 32)
    }
}
