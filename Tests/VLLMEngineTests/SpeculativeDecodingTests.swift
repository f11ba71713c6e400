import Foundation
import SwiftVLLM
import Testing
import VLLMCore

@testable import VLLMEngine

/// n-gram speculative decoding: the same greedy tokens as decoding one token per step, however the
/// requests are batched; sampling that follows the target distribution exactly.
@Suite struct SpeculativeDecodingTests {
    static let ngram = SpeculativeConfig(numSpeculativeTokens: 4, promptLookupMax: 3, promptLookupMin: 1)

    /// Prompts whose continuation repeats them: a prompt, then the model's own greedy continuation
    /// of it, then the prompt again (the model goes on as it did before, so lookups hit).
    static func repeatingPrompts(_ llm: LLM, count: Int) throws -> [[Int]] {
        let starts = ["Once upon a time", "The little dog", "Tom and Lily went", "One day, a bird", "The sun was"]
        let seeds = (0..<count).map {
            llm.tokenizer!.encode(starts[$0 % starts.count] + String(repeating: " the", count: $0 / starts.count))
        }
        let continuations = try llm.generate(seeds.map(Prompt.tokens), greedyParams(24), showProgress: false)
        return zip(seeds, continuations).map { $0 + $1.outputs[0].tokenIDs + $0 }
    }

    static func greedy(_ llm: LLM, _ prompts: [[Int]], _ params: SamplingParams = greedyParams(24)) throws -> [CompletionOutput] {
        try llm.generate(prompts.map(Prompt.tokens), params, showProgress: false).map { $0.outputs[0] }
    }

    @Test func greedyTokensAreThoseOfPlainDecoding() throws {
        let plain = try makeLLM()
        let prompts = try Self.repeatingPrompts(plain, count: 16) + mixedPrompts(count: 16)
        let reference = try Self.greedy(plain, prompts).map(\.tokenIDs)
        for configure in [
            { (a: inout EngineArgs) in a.speculative = Self.ngram },
            {
                $0.speculative = Self.ngram; $0.maxNumSeqs = 3
            },
            {
                $0.speculative = Self.ngram; $0.maxNumBatchedTokens = 7
            },
            {
                $0.speculative = Self.ngram; $0.numGPUBlocksOverride = 12
            },
        ] {
            let llm = try makeLLM(configure)
            #expect(try Self.greedy(llm, prompts).map(\.tokenIDs) == reference)
            #expect(llm.engine.numFreeBlocks == llm.engine.config.numBlocks)
        }
    }

    @Test func repeatedTextIsMostlyAccepted() throws {
        let llm = try makeLLM { $0.speculative = Self.ngram }
        let prompts = try Self.repeatingPrompts(llm, count: 8)
        _ = try Self.greedy(llm, prompts)
        let stats = llm.engine.stats.speculative
        #expect(stats.numDrafts > 0)
        #expect(stats.acceptanceRate > 0.5)
        #expect(stats.meanAcceptedLength > 2)
        #expect(stats.acceptedPerPosition.count == 4)
        #expect(stats.acceptedPerPosition == stats.acceptedPerPosition.sorted(by: >))
        // Fewer steps than tokens: several tokens came out of one step.
        #expect(llm.engine.stats.numSteps < 8 * 24)
    }

    /// A benchmark's measured runs: the statistics after a snapshot (`since`) are the later
    /// requests' alone, and the periods add up to the whole (`add`).
    @Test func statisticsOfPeriodsAddUpToTheWhole() throws {
        let llm = try makeLLM { $0.speculative = Self.ngram }
        let prompts = try Self.repeatingPrompts(llm, count: 4)
        let start = llm.engine.stats.speculative
        _ = try Self.greedy(llm, Array(prompts[..<2]))
        let middle = llm.engine.stats.speculative
        _ = try Self.greedy(llm, Array(prompts[2...]))
        let end = llm.engine.stats.speculative
        let first = middle.since(start), second = end.since(middle)
        #expect(first.numDrafts > 0 && second.numDrafts > 0)
        var sum = first
        sum.add(second)
        #expect(sum == end.since(start))
        #expect(sum.numAcceptedTokens == end.numAcceptedTokens - start.numAcceptedTokens)
        #expect(SpeculativeStats().since(SpeculativeStats()) == SpeculativeStats())
    }

    /// Plain greedy requests have their drafts verified by the backend's argmax of each draft
    /// position, so their logits never come to the host; seeded sampling still brings them (the
    /// rejection rule reads the distribution). Tokens are those of plain decoding either way.
    @Test func greedyDraftsAreVerifiedOnTheBackend() throws {
        let prompts = try Self.repeatingPrompts(makeLLM(), count: 6)
        func run(_ speculative: SpeculativeConfig?, seeded: Bool) throws -> (tokens: [String: [Int]], executor: LoggingExecutor) {
            let (engine, executor) = try AsyncSchedulingTests.loggedEngine(async: true, speculative: speculative)
            for (i, prompt) in prompts.enumerated() {
                var params = greedyParams(16)
                if seeded { (params.temperature, params.seed) = (0.8, UInt64(i)) }
                try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: params)
            }
            return (engine.generatedTokensUntilDone(), executor)
        }
        let plain = try run(nil, seeded: false), drafted = try run(Self.ngram, seeded: false)
        #expect(drafted.tokens == plain.tokens)
        #expect(drafted.executor.hostLogitSteps == 0)
        // Some step sampled more rows than it had requests: draft positions.
        #expect(drafted.executor.sampledRows.contains { $0 > 6 })
        let seeded = try run(Self.ngram, seeded: true)
        #expect(seeded.executor.hostLogitSteps > 0)
    }

    @Test func logprobsStopsAndLengthsAreThoseOfPlainDecoding() throws {
        let plain = try makeLLM()
        let prompts = try Self.repeatingPrompts(plain, count: 6)
        var params = greedyParams(30)
        params.logprobs = 3
        params.ignoreEOS = false
        let reference = try Self.greedy(plain, prompts, params)
        // Stop at the text of some token that the outputs produce, inside a draft.
        params.stop = [plainText(plain, reference[0].tokenIDs[5...7])]
        let stopped = try Self.greedy(plain, prompts, params)
        let llm = try makeLLM { $0.speculative = Self.ngram }
        params.stop = []
        let speculative = try Self.greedy(llm, prompts, params)
        #expect(speculative.map(\.tokenIDs) == reference.map(\.tokenIDs))
        #expect(speculative.map(\.logprobs) == reference.map(\.logprobs))
        #expect(speculative.map(\.finishReason) == reference.map(\.finishReason))
        params.stop = [plainText(plain, reference[0].tokenIDs[5...7])]
        let speculativeStopped = try Self.greedy(llm, prompts, params)
        #expect(speculativeStopped.map(\.tokenIDs) == stopped.map(\.tokenIDs))
        #expect(speculativeStopped.map(\.text) == stopped.map(\.text))
    }

    @Test func seededSamplingRunsWithDrafts() throws {
        let llm = try makeLLM { $0.speculative = Self.ngram }
        let prompts = try Self.repeatingPrompts(llm, count: 4)
        var params = SamplingParams()
        params.temperature = 0.3
        params.seed = 5
        params.maxTokens = 20
        params.ignoreEOS = true
        let first = try Self.greedy(llm, prompts, params).map(\.tokenIDs)
        let second = try Self.greedy(llm, prompts, params).map(\.tokenIDs)
        #expect(first == second)
        #expect(first.allSatisfy { $0.count == 20 })
        #expect(llm.engine.stats.speculative.numAcceptedTokens > 0)
    }

    /// The rejection rule gives the row's distribution whatever the draft: 20000 draws for a likely
    /// draft, an unlikely one and one that top-k removes, against the filtered probabilities.
    @Test func verifiedTokensFollowTheTargetDistribution() {
        var row = DeviceSamplingRow()
        row.temperature = 0.8
        row.topK = 4
        let logits: [Float] = [1.0, 2.0, 0.5, -1.0, 1.5, -3.0]
        var probabilities = SamplingMath.softmax(logits.map { $0 / 0.8 })
        let kept = SamplingMath.candidates(&probabilities, minP: 0, topK: 4, topP: 1)
        let total = kept.reduce(Float(0)) { $0 + probabilities[$1] }
        let expected = logits.indices.map { kept.contains($0) ? Double(probabilities[$0] / total) : 0 }
        let draws = 20000
        for draft in [1, 2, 5] {
            var counts = [Int](repeating: 0, count: logits.count)
            for i in 0..<draws {
                var values = logits
                counts[SamplingMath.verify(&values, row, draft: draft, key: SamplingMath.mix(UInt64(i) &+ 77)).token] += 1
            }
            #expect(counts[3] == 0 && counts[5] == 0)
            // Chi-squared over the three degrees of freedom of the four kept tokens; 16.3 is p = 0.001.
            let chiSquared = kept.reduce(0.0) { sum, id in
                let e = expected[id] * Double(draws)
                return sum + (Double(counts[id]) - e) * (Double(counts[id]) - e) / e
            }
            #expect(chiSquared < 16.3, "draft \(draft): counts \(counts), expected \(expected)")
        }
    }

    @Test func proposalsComeFromTheLatestEarlierMatch() {
        let config = SpeculativeConfig(numSpeculativeTokens: 3, promptLookupMax: 2, promptLookupMin: 1)
        #expect(config.propose([1, 2, 3, 9, 1, 2, 4, 5, 6, 1, 2][...], limit: 10) == [4, 5, 6])
        #expect(config.propose([7, 8, 9, 8][...], limit: 10) == [9, 8])
        #expect(config.propose([1, 2, 3][...], limit: 10) == [])
        #expect(config.propose([5, 6, 5][...], limit: 1) == [6])
    }

    @Test func badConfigurationsAreRejectedWithTheField() throws {
        #expect(
            try SpeculativeConfig(json: #"{"method": "ngram", "num_speculative_tokens": 4}"#) == SpeculativeConfig(numSpeculativeTokens: 4))
        for bad in [
            #"{"method": "eagle", "num_speculative_tokens": 4}"#, #"{"num_speculative_tokens": 0}"#,
            #"{"method": "ngram"}"#, #"{"num_speculative_tokens": 2, "bogus": 1}"#, "[1]", "{",
            #"{"num_speculative_tokens": 2, "prompt_lookup_min": 4, "prompt_lookup_max": 2}"#,
            #"{"num_speculative_tokens": 2.5}"#,
        ] {
            #expect(throws: EngineError.self, "\(bad)") { try SpeculativeConfig(json: bad) }
        }
    }
}

/// The text of `tokens` with the built-in model's tokenizer.
private func plainText(_ llm: LLM, _ tokens: ArraySlice<Int>) -> String {
    llm.tokenizer!.decode(Array(tokens))
}
