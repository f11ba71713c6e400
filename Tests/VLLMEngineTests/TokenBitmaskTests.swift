import Foundation
import SwiftVLLM
import Testing
import VLLMCore
import VLLMStructuredOutputs

@testable import VLLMEngine

/// A grammar's packed token mask as a sampling row carries it (`DeviceSamplingRow.tokenMask`):
/// `SamplingMath` applies it (the host sampler and a backend's host sampling alike), masks are
/// filled in parallel, and the backend path samples constrained rows as the engine's sampler does.
@Suite struct TokenBitmaskTests {
    /// A random mask of `words` words with all-clear and all-set words among them.
    static func randomMask(words: Int, _ random: inout SplitMixRandom) -> [UInt32] {
        (0..<words).map { w in
            switch w % 5 {
            case 0: 0
            case 1: .max
            default: UInt32.random(in: 0...UInt32.max, using: &random)
            }
        }
    }

    /// Bit by bit, the plain definition: column i is kept when bit i % 32 of word i / 32 is set.
    static func allowed(_ mask: [UInt32], _ i: Int) -> Bool {
        i / 32 < mask.count && (mask[i / 32] >> UInt32(i % 32)) & 1 == 1
    }

    @Test func theMaskBansExactlyTheClearBitsAndEverythingPastIt() {
        var random = SplitMixRandom(seed: 3)
        // 1000 columns, 31 words (992 columns): the last 8 have no bits and are banned.
        let logits = (0..<1000).map { _ in Float.random(in: -4...4, using: &random) }
        let mask = Self.randomMask(words: 31, &random)
        var masked = logits
        SamplingMath.applyTokenBitmask(&masked, mask)
        for i in logits.indices {
            #expect(masked[i] == (Self.allowed(mask, i) ? logits[i] : -.infinity), "column \(i)")
        }
    }

    /// A masked row samples as the plain reference does: greedy is the argmax over the allowed
    /// ids; a seeded draw and its logprobs equal those of the row banned by hand.
    @Test func aMaskedRowSamplesAsTheRowBannedByHand() {
        var random = SplitMixRandom(seed: 8)
        for trial in 0..<40 {
            let n = 700 + trial
            let logits = (0..<n).map { _ in Float.random(in: -6...6, using: &random) }
            var row = DeviceSamplingRow()
            row.tokenMask = Self.randomMask(words: (n + 31) / 32, &random)
            let greedy = SamplingMath.sample(logits[...], row, key: 0).token
            let best = logits.indices.filter { Self.allowed(row.tokenMask!, $0) }.max { logits[$0] < logits[$1] }
            #expect(greedy == best)

            row.temperature = 0.8
            row.topK = trial % 3 == 0 ? 20 : 0
            row.topP = trial % 2 == 0 ? 0.9 : 1
            row.seed = UInt64(trial)
            row.logprobs = 4
            let sample = SamplingMath.sample(logits[...], row, key: row.seededKey!)
            var banned = logits
            for i in banned.indices where !Self.allowed(row.tokenMask!, i) { banned[i] = -.infinity }
            var plain = row
            plain.tokenMask = nil
            #expect(sample == SamplingMath.sample(banned[...], plain, key: row.seededKey!))
            #expect(Self.allowed(row.tokenMask!, sample.token))
        }
    }

    /// `Sampler.fillMasks` fills many requests' masks at once (in parallel), each equal to its own
    /// matcher's mask, and `tokenMask` reuses it until the request's next token.
    @Test func masksFilledInParallelAreEachRequestsOwn() throws {
        let llm = try makeLLM()
        let compiler = makeGrammarCompiler(llm.tokenizer!, eosTokenIDs: [llm.tokenizer!.eosTokenID!])
        let grammar = try compiler.compile(.jsonSchema(StructuredOutputEngineTests.schema))
        var random = SplitMixRandom(seed: 21)
        var requests: [Request] = []
        for i in 0..<24 {
            let request = Request(id: "\(i)", promptTokenIDs: [1], params: greedyParams(50), arrival: i, maxModelLength: 100)
            var matcher = GrammarMatcher(grammar: grammar)
            // Walk each grammar a different number of allowed tokens, so that the states differ.
            for _ in 0..<(i % 8) {
                let mask = matcher.nextTokenBitmask()
                let ids = (0..<(mask.count * 32)).filter { Self.allowed(mask, $0) && $0 != llm.tokenizer!.eosTokenID }
                guard let id = ids.randomElement(using: &random) else { break }
                _ = matcher.acceptToken(id)
                request.append(id)
            }
            request.grammar = matcher
            requests.append(request)
        }
        Sampler.fillMasks(requests)
        for request in requests {
            var matcher = request.grammar!
            #expect(request.grammarMaskedAt == request.numTokens)
            #expect(Sampler.tokenMask(for: request) == matcher.nextTokenBitmask())
        }
    }

    /// JSON Schema requests, greedy with logprobs and seeded samples, give the same tokens and
    /// logprobs whether the backend samples them (the mask in the row) or the engine's sampler.
    @Test func constrainedRowsSampleTheSameOnTheBackendPath() throws {
        let spec = StructuredOutputSpec.jsonSchema(StructuredOutputEngineTests.schema)
        var greedy = SamplingParams.greedy(maxTokens: 40)
        greedy.structuredOutputs = spec
        greedy.logprobs = 3
        var sampled = SamplingParams()
        sampled.maxTokens = 40
        sampled.n = 3
        sampled.seed = 5
        sampled.structuredOutputs = spec
        var outputs: [[CompletionOutput]] = []
        for backend in [false, true] {
            let llm = try makeLLM()
            llm.engine.runner.samplesOnBackend = backend
            let results = try llm.generate([.text("Once upon a time"), .text("Tom")], params: [greedy, sampled], showProgress: false)
            outputs.append(results.flatMap(\.outputs))
            try StructuredOutputEngineTests.checkFollowsGrammar(outputs.last!, spec, llm)
        }
        #expect(outputs[0].map(\.tokenIDs) == outputs[1].map(\.tokenIDs))
        #expect(outputs[0].map(\.logprobs) == outputs[1].map(\.logprobs))
    }
}
