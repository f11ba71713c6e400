import Foundation
import SwiftVLLM
import Testing
import VLLMCore

@testable import VLLMEngine

/// Speculative sampling leaves the output distribution as it is: chi-squared tests, seeded so
/// that they give the same verdict every run, of the rejection rule alone and of whole engines.
@Suite struct SpeculativeDistributionTests {
    /// Upper 0.1% points of the chi-squared distribution by degrees of freedom.
    static let chiSquared999: [Int: Double] = [3: 16.27, 5: 20.52, 7: 24.32, 9: 27.88, 11: 31.26]

    /// A random probability vector over `count` tokens with about a third of them zero.
    static func randomDistribution(_ count: Int, _ random: inout SplitMixRandom) -> [Float] {
        var values = (0..<count).map { _ in Float(random.next() % 1000) / 1000 }
        for i in values.indices where random.next() % 3 == 0 { values[i] = 0 }
        values[Int(random.next() % UInt64(count))] += 0.1
        let total = values.reduce(0, +)
        return values.map { $0 / total }
    }

    /// Draft tokens drawn from random q, verified against random p (logits of a row with top-k,
    /// so that p is zero where q may not be): accepted-or-recovered tokens follow p.
    @Test func acceptedOrRecoveredTokensFollowTheTarget() {
        var random = SplitMixRandom(seed: 17)
        let vocab = 10
        var row = DeviceSamplingRow()
        row.temperature = 1
        row.topK = 8
        for trial in 0..<4 {
            let logits = (0..<vocab).map { _ in Float(random.next() % 4000) / 1000 - 2 }
            var scratch = logits
            let p = SamplingMath.probabilities(&scratch, row)
            let q = Self.randomDistribution(vocab, &random)
            let draws = 20000
            var counts = [Int](repeating: 0, count: vocab)
            for i in 0..<draws {
                let draft = SamplingMath.draw(from: q, key: SamplingMath.mix(UInt64(trial * draws + i) ^ 0xABCD))!
                var values = logits
                let key = SamplingMath.mix(UInt64(trial * draws + i) &+ 99)
                counts[SamplingMath.verify(&values, row, draft: draft, draftProbabilities: q, key: key).token] += 1
            }
            let kept = p.indices.filter { p[$0] > 0 }
            #expect(p.indices.allSatisfy { p[$0] > 0 || counts[$0] == 0 }, "trial \(trial): \(counts)")
            let statistic = kept.reduce(0.0) { sum, id in
                let e = Double(p[id]) * Double(draws)
                return sum + (Double(counts[id]) - e) * (Double(counts[id]) - e) / e
            }
            #expect(statistic < Self.chiSquared999[kept.count - 1]!, "trial \(trial): counts \(counts), p \(p), q \(q)")
        }
    }

    /// Two-sample chi-squared statistic of equally many draws `a` and `b`, over the `buckets - 1`
    /// values most frequent in both together plus one bucket for the rest.
    static func homogeneity<T: Hashable>(_ a: [T], _ b: [T], buckets: Int) -> Double {
        var together: [T: Int] = [:]
        for x in a + b { together[x, default: 0] += 1 }
        let top = together.sorted { $0.value > $1.value }.prefix(buckets - 1).map(\.key)
        func histogram(_ xs: [T]) -> [Int] {
            var counts = [Int](repeating: 0, count: buckets)
            for x in xs { counts[top.firstIndex(of: x) ?? buckets - 1] += 1 }
            return counts
        }
        return zip(histogram(a), histogram(b)).reduce(0.0) { sum, pair in
            let total = Double(pair.0 + pair.1)
            return total == 0 ? sum : sum + Double((pair.0 - pair.1) * (pair.0 - pair.1)) / total
        }
    }

    /// The first `tokens` sampled tokens of `draws` seeded requests of one prompt.
    static func firstTokens(_ llm: LLM, _ prompt: [Int], draws: Int, seeds: Int, tokens: Int = 5) throws -> [[Int]] {
        let params = (0..<draws).map { i -> SamplingParams in
            var p = SamplingParams()
            p.temperature = 1
            p.seed = UInt64(seeds + i)
            p.maxTokens = tokens
            p.ignoreEOS = true
            return p
        }
        let outputs = try llm.generate(Array(repeating: .tokens(prompt), count: draws), params: params, showProgress: false)
        return outputs.map { $0.outputs[0].tokenIDs }
    }

    /// The first five sampled tokens of a prompt that repeats itself (so n-gram lookup drafts)
    /// have the same distribution with and without speculation: each position alone and the
    /// drafted positions two by two, for n-gram, the target without its middle layer as the
    /// draft (q near p: many kept, many recovered from max(0, p − q)), a random draft and a random
    /// EAGLE-3 head (almost all rejected: the recovered tokens carry the distribution).
    @Test func sampledTokensHaveTheDistributionOfPlainDecoding() throws {
        let plain = try makeLLM()
        let prompt = try SpeculativeDecodingTests.repeatingPrompts(plain, count: 1)[0]
        let draws = 800
        let reference = try Self.firstTokens(plain, prompt, draws: draws, seeds: 0)
        let configurations: [(String, SpeculativeConfig)] = [
            ("ngram", SpeculativeConfig(numSpeculativeTokens: 3, promptLookupMax: 3, promptLookupMin: 1)),
            ("four-layer draft", SpeculativeConfig(draftModel: DraftModelSpeculationTests.layerDraft, numSpeculativeTokens: 3)),
            ("random draft", SpeculativeConfig(draftModel: DraftModelSpeculationTests.randomDraft, numSpeculativeTokens: 3)),
            ("random EAGLE-3 head", SpeculativeConfig(eagle3Head: Eagle3SpeculationTests.head, numSpeculativeTokens: 3)),
        ]
        for (name, config) in configurations {
            let llm = try makeLLM { $0.speculative = config }
            let sampled = try Self.firstTokens(llm, prompt, draws: draws, seeds: 1_000_000)
            let stats = llm.engine.stats.speculative
            #expect(stats.numDraftTokens > 2 * draws, "\(name): \(stats)")
            #expect(stats.numAcceptedTokens > 0 && stats.numAcceptedTokens < stats.numDraftTokens, "\(name): \(stats)")
            for position in 0..<5 {
                let statistic = Self.homogeneity(sampled.map { $0[position] }, reference.map { $0[position] }, buckets: 8)
                #expect(statistic < Self.chiSquared999[7]!, "\(name), token \(position): \(statistic)")
            }
            for first in 1..<4 {
                let pair = { (tokens: [Int]) in tokens[first] * 1000 + tokens[first + 1] }
                let statistic = Self.homogeneity(sampled.map(pair), reference.map(pair), buckets: 12)
                #expect(statistic < Self.chiSquared999[11]!, "\(name), tokens \(first) and \(first + 1): \(statistic)")
            }
        }
    }
}
