import Foundation
import SwiftVLLM
import Testing
import VLLMCore

@testable import VLLMEngine

@Suite struct SamplingTests {
    static let prompt = [1, 403, 407, 261, 378]

    func sampled(_ params: SamplingParams, others: Int = 0) throws -> [Int] {
        try firstOutput(Self.prompt, params, others: others, llm: makeLLM()).tokenIDs
    }

    @Test func seededSamplingIgnoresTheRestOfTheBatch() throws {
        var params = SamplingParams()
        params.temperature = 1.2
        params.seed = 42
        params.maxTokens = 30
        params.ignoreEOS = true
        let alone = try sampled(params)
        #expect(try sampled(params, others: 9) == alone)
        params.seed = 43
        #expect(try sampled(params) != alone)
    }

    @Test func parallelSamplingSharesThePromptAndDiffers() throws {
        var params = SamplingParams()
        params.n = 4
        params.temperature = 1
        params.seed = 7
        params.maxTokens = 12
        params.ignoreEOS = true
        let llm = try makeLLM()
        let prompt = [1] + Array(20..<60)
        let output = try llm.generate([.tokens(prompt)], params, showProgress: false)[0]
        #expect(output.outputs.map(\.index) == [0, 1, 2, 3])
        #expect(output.outputs.allSatisfy { $0.tokenIDs.count == 12 })
        #expect(Set(output.outputs.map(\.tokenIDs)).count > 1)
        // Samples 1...3 found the two full prompt blocks that sample 0 cached.
        #expect(llm.engine.stats.prefixCacheHits == 3 * 32)
    }

    @Test func logitBiasForcesAToken() throws {
        var params = greedyParams(8)
        params.logitBias = [77: 100]
        #expect(try sampled(params) == [Int](repeating: 77, count: 8))
    }

    @Test func minTokensDelaysStopTokens() throws {
        let greedy = try sampled(greedyParams(10))
        var params = greedyParams(10)
        params.stopTokenIDs = [greedy[0]]
        params.ignoreEOS = false
        #expect(try sampled(params) == [greedy[0]])
        params.minTokens = 3
        let delayed = try sampled(params)
        #expect(delayed.count >= 3)
        #expect(!delayed.prefix(2).contains(greedy[0]))
    }

    @Test func repetitionPenaltyAndFrequencyPenaltyChangeLogits() {
        let request = Request(
            id: "x", promptTokenIDs: [1, 2],
            params: {
                var p = SamplingParams.greedy(maxTokens: 4)
                p.repetitionPenalty = 2
                p.frequencyPenalty = 0.5
                p.presencePenalty = 0.25
                return p
            }(), arrival: 0, maxModelLength: 100)
        request.append(3)
        request.append(3)
        var sampler = Sampler(eosTokenIDs: [])
        var logits: [Float] = [0, 4, -2, 6, 5]
        _ = sampler.sample(&logits, for: request)
        // 1 (prompt): 4 / 2; 2 (prompt): -2 * 2; 3 (output twice): 6 / 2 - 2 * 0.5 - 0.25.
        #expect(logits == [0, 2, -4, 1.75, 5])
    }

    @Test func topKOneIsGreedy() throws {
        var params = SamplingParams()
        params.topK = 1
        params.maxTokens = 10
        params.ignoreEOS = true
        #expect(try sampled(params) == sampled(greedyParams(10)))
    }

    @Test func logprobsAreTheLogSoftmaxOfTheLogits() throws {
        let loaded = try LoadedModel(
            {
                var a = EngineArgs(model: EnginePaths.builtinModel); a.maxModelLength = 64; a.numGPUBlocksOverride = 8; return a
            }())
        loaded.executor.allocateKVCache(numBlocks: 8, blockSize: 16)
        let logits = loaded.executor.execute(
            ForwardBatch(
                chunks: [SequenceChunk(tokenIDs: Self.prompt.map(Int32.init), numCached: 0, blockTable: [0])], blockSize: 16))
        let m = logits.max()!
        let logTotal = log(logits.reduce(0.0) { $0 + exp(Double($1 - m)) }) + Double(m)

        var params = greedyParams(1)
        params.logprobs = 3
        let output = try makeLLM().generate([.tokens(Self.prompt)], params, showProgress: false)[0].outputs[0]
        let position = output.logprobs![0]
        let best = logits.indices.max { logits[$0] < logits[$1] }!
        #expect(position.chosen.tokenID == best && position.chosen.rank == 1)
        #expect(abs(Double(position.chosen.logprob) - (Double(logits[best]) - logTotal)) < 1e-5)
        #expect(position.top.count == 3)
        for entry in position.top { #expect(abs(Double(entry.logprob) - (Double(logits[entry.tokenID]) - logTotal)) < 1e-5) }
        #expect(abs(output.cumulativeLogprob! - Double(position.chosen.logprob)) < 1e-9)
    }

    @Test func invalidParametersNameTheField() {
        var p = SamplingParams()
        p.topP = 1.5
        #expect(throws: EngineError.invalidParameter(field: "top_p", detail: "must be in (0, 1], got 1.5")) { try p.validate() }
        p = SamplingParams()
        p.n = 0
        #expect(throws: EngineError.invalidParameter(field: "n", detail: "must be at least 1, got 0")) { try p.validate() }
        p = SamplingParams()
        p.maxTokens = 0
        #expect(throws: EngineError.invalidParameter(field: "max_tokens", detail: "must be at least 1, got 0")) { try p.validate() }
    }

    /// Prompt logprobs are the log-softmax of each position's logits at the next prompt token, also
    /// when the prompt is prefilled in several chunks.
    @Test(arguments: [nil, 5] as [Int?])
    func promptLogprobsMatchTheLogits(budget: Int?) throws {
        let prompt = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315]
        var args = EngineArgs(model: EnginePaths.builtinModel)
        args.maxModelLength = 64
        let executor = try LoadedModel(args).executor
        executor.allocateKVCache(numBlocks: 4, blockSize: 16)
        var batch = ForwardBatch(
            chunks: [SequenceChunk(tokenIDs: prompt.map(Int32.init), numCached: 0, blockTable: [0])], blockSize: 16)
        batch.logitIndices = (0..<prompt.count).map(Int32.init)
        let logits = executor.execute(batch)
        let vocab = 512

        var params = greedyParams(2)
        params.promptLogprobs = 2
        let output = try makeLLM { $0.maxNumBatchedTokens = budget }.generate([.tokens(prompt)], params, showProgress: false)[0]
        let reported = try #require(output.promptLogprobs)
        #expect(reported.count == prompt.count)
        #expect(reported[0] == nil)
        for p in 1..<prompt.count {
            let row = logits[((p - 1) * vocab)..<(p * vocab)]
            let m = Double(row.max()!)
            let logTotal = log(row.reduce(0.0) { $0 + exp(Double($1) - m) }) + m
            let entry = try #require(reported[p])
            #expect(entry.chosen.tokenID == prompt[p])
            #expect(abs(Double(entry.chosen.logprob) - (Double(row[row.startIndex + prompt[p]]) - logTotal)) < 1e-4)
            #expect(entry.top.count == 2)
        }
    }
}
