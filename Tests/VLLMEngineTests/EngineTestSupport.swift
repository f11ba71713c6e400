import Foundation
import SwiftVLLM
import Testing
import VLLMCore
import VLLMTestSupport

@testable import VLLMEngine

/// Paths of the model folders the tests run, inside the repository (`RepositoryFiles`).
enum EnginePaths {
    static let builtinModel = RepositoryFiles.path("Models/stories260K")
    static let fixtureModels = RepositoryFiles.path("Tests/Fixtures/models")
}

/// Deterministic prompts of mixed lengths for the built-in model (vocabulary 512).
func mixedPrompts(count: Int, seed: UInt64 = 7, maxLength: Int = 60) -> [[Int]] {
    var random = SplitMixRandom(seed: seed)
    return (0..<count).map { _ in
        let length = 1 + Int(random.next() % UInt64(maxLength))
        return [1] + (1..<length).map { _ in 3 + Int(random.next() % 509) }
    }
}

/// An LLM on the built-in model with `configure` applied to its arguments.
func makeLLM(_ configure: (inout EngineArgs) -> Void = { _ in }) throws -> LLM {
    var args = EngineArgs(model: EnginePaths.builtinModel)
    args.maxModelLength = 128
    args.cpuKVCacheBytes = 64 << 20
    configure(&args)
    return try LLM(args: args)
}

func greedyParams(_ maxTokens: Int) -> SamplingParams {
    var params = SamplingParams.greedy(maxTokens: maxTokens)
    params.ignoreEOS = true
    return params
}

/// The speculative tests' mixed batch: eight requests, greedy ones (0, 1, 2, 3, 6, 7) and beside
/// them requests that do not speculate or sample: a grammar (1), a single token (2), prompt
/// logprobs (3), sampled ones (4, 5).
enum MixedSpeculationBatch {
    static let prompts = mixedPrompts(count: 8, seed: 21)
    static let greedy = [0, 1, 2, 3, 6, 7]
    static let params: [SamplingParams] = {
        var params = (0..<8).map { _ in greedyParams(20) }
        params[1].structuredOutputs = .choice(["the cat", "a dog", "an owl"])
        params[1].ignoreEOS = false
        params[2].maxTokens = 1
        params[3].promptLogprobs = 2
        params[4].temperature = 0.7
        params[4].seed = 4
        params[5].temperature = 1
        return params
    }()

    /// The batch without speculation.
    static func reference() throws -> [RequestOutput] {
        try makeLLM().generate(prompts.map(Prompt.tokens), params: params, showProgress: false)
    }

    /// The batch with `speculative` and a 40-token budget: the greedy requests' tokens and the
    /// prompt logprobs as in `reference`, the sampled requests complete and the same again with
    /// their seed, every block returned.
    static func expectSameOutputs(with speculative: SpeculativeConfig, as reference: [RequestOutput]) throws {
        let llm = try makeLLM {
            $0.speculative = speculative; $0.maxNumBatchedTokens = 40
        }
        let outputs = try llm.generate(prompts.map(Prompt.tokens), params: params, showProgress: false)
        for i in greedy {
            #expect(outputs[i].outputs[0].tokenIDs == reference[i].outputs[0].tokenIDs, "request \(i)")
        }
        #expect(outputs[3].promptLogprobs == reference[3].promptLogprobs)
        #expect(outputs[4].outputs[0].tokenIDs.count == 20 && outputs[5].outputs[0].tokenIDs.count == 20)
        let again = try llm.generate([.tokens(prompts[4])], params[4], showProgress: false)
        #expect(again[0].outputs[0].tokenIDs == outputs[4].outputs[0].tokenIDs)
        #expect(llm.engine.numFreeBlocks == llm.engine.config.numBlocks)
    }
}

/// The speculative tests' prefix-cached batch: six prompts sharing a 40-token prefix (later ones
/// take cached blocks the draft filled too), two greedy samples each with logprobs, EOS honoured.
enum PrefixCachedSpeculation {
    /// Twice with `speculative` (the second time on cached prefixes): the tokens, logprobs and
    /// finish reasons of plain decoding, and with a stop string taken from its output, the same
    /// tokens and text as plain decoding with that stop; every block returned.
    static func expectSameOutputs(with speculative: SpeculativeConfig) throws {
        let plain = try makeLLM()
        let shared = mixedPrompts(count: 1, seed: 3, maxLength: 200)[0].prefix(40)
        let prompts = mixedPrompts(count: 6, seed: 9, maxLength: 20).map { Array(shared) + $0.dropFirst() }
        var params = greedyParams(30)
        params.logprobs = 3
        params.n = 2
        params.ignoreEOS = false
        let reference = try plain.generate(prompts.map(Prompt.tokens), params, showProgress: false).flatMap(\.outputs)
        let stop = plain.tokenizer!.decode(Array(reference[0].tokenIDs[5...7]))
        params.stop = [stop]
        let stopped = try plain.generate(prompts.map(Prompt.tokens), params, showProgress: false).flatMap(\.outputs)
        let llm = try makeLLM { $0.speculative = speculative }
        for _ in 0..<2 {
            params.stop = []
            let outputs = try llm.generate(prompts.map(Prompt.tokens), params, showProgress: false).flatMap(\.outputs)
            #expect(outputs.map(\.tokenIDs) == reference.map(\.tokenIDs))
            #expect(outputs.map(\.logprobs) == reference.map(\.logprobs))
            #expect(outputs.map(\.finishReason) == reference.map(\.finishReason))
            params.stop = [stop]
            let outputsStopped = try llm.generate(prompts.map(Prompt.tokens), params, showProgress: false).flatMap(\.outputs)
            #expect(outputsStopped.map(\.tokenIDs) == stopped.map(\.tokenIDs))
            #expect(outputsStopped.map(\.text) == stopped.map(\.text))
        }
        #expect(llm.engine.stats.prefixCacheHits > 0)
        #expect(llm.engine.numFreeBlocks == llm.engine.config.numBlocks)
    }
}

/// The first request's output when `prompt` runs with `params` on `llm`, alone or beside `others`
/// requests of other prompts with the same parameters but no seed and no logprobs (they only fill
/// the batch).
func firstOutput(_ prompt: [Int], _ params: SamplingParams, others: Int = 0, llm: LLM) throws -> CompletionOutput {
    var prompts: [Prompt] = [.tokens(prompt)]
    var all = [params]
    for i in 0..<others {
        prompts.append(.tokens([1] + mixedPrompts(count: 1, seed: UInt64(i + 100))[0]))
        var other = params
        other.seed = nil
        other.logprobs = nil
        all.append(other)
    }
    return try llm.generate(prompts, params: all, showProgress: false)[0].outputs[0]
}

extension EngineCore {
    /// Steps until every request has finished; each request's new tokens, in order, by id.
    func generatedTokensUntilDone() -> [String: [Int]] {
        var tokens = [String: [Int]]()
        while hasUnfinishedRequests {
            for update in step() { tokens[update.requestID, default: []] += update.newTokenIDs }
        }
        return tokens
    }
}
