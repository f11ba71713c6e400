import Foundation
import SwiftVLLM
import Testing
import VLLMCore

@testable import VLLMEngine

/// The backend sampling path (`executeSampled(_:rows:)`), run on the CPU through the host
/// implementation of `Backend.sampleRows`, against the engine's own sampler.
@Suite struct DeviceSamplingTests {
    static let prompt = [1, 403, 407, 261, 378]

    /// Generates the first prompt's tokens and logprobs, with the step's sampling on the backend or
    /// in the engine; `others` adds unseeded requests to the batch.
    func generate(_ params: SamplingParams, backend: Bool, others: Int = 0) throws -> CompletionOutput {
        let llm = try makeLLM()
        llm.engine.runner.samplesOnBackend = backend
        return try firstOutput(Self.prompt, params, others: others, llm: llm)
    }

    static func penalised() -> SamplingParams {
        var p = greedyParams(12)
        p.repetitionPenalty = 1.3
        p.frequencyPenalty = 0.4
        p.presencePenalty = 0.2
        p.logitBias = [77: 1.5, 300: -2]
        p.minTokens = 4
        p.stopTokenIDs = [13]
        p.ignoreEOS = false
        return p
    }

    /// What the CUDA kernels' argmax also gives a row of NaNs (overflowed activations): token 0,
    /// an id inside the vocabulary, rather than one the next step's embedding would read past it.
    @Test func greedyOverARowOfNaNsIsTokenZero() {
        #expect(SamplingMath.argmax([.nan, .nan, .nan]) == 0)
        #expect(SamplingMath.argmax([1, .nan, 3]) == 2)
        // Sampling with filters over such a row also stays inside the vocabulary.
        var row = DeviceSamplingRow()
        (row.temperature, row.topK, row.topP, row.minP, row.seed) = (0.8, 2, 0.9, 0.05, 7)
        let token = SamplingMath.sample([Float](repeating: .nan, count: 5)[...], row, key: row.seededKey!).token
        #expect((0..<5).contains(token))
    }

    @Test func aRowAdjustsTheLogitsAsTheSamplerDoes() {
        let request = Request(id: "x", promptTokenIDs: [1, 2, 9, 2], params: Self.penalised(), arrival: 0, maxModelLength: 100)
        for token in [3, 3, 9] { request.append(token) }
        var sampler = Sampler(eosTokenIDs: [2, 600])
        var random = SplitMixRandom(seed: 5)
        let logits = (0..<512).map { _ in Float.random(in: -5...5, using: &random) }
        var reference = logits
        _ = sampler.sample(&reference, for: request)
        let row = sampler.deviceRow(for: request)!
        var adjusted = logits
        SamplingMath.adjust(&adjusted, row)
        #expect(adjusted == reference)
        #expect(row.adjustments.map(\.column) == row.adjustments.map(\.column).sorted())
        #expect(row.adjustments.first { $0.column == 13 }?.banned == true)
        #expect(row.outputIndex == 3)
    }

    @Test func greedyWithPenaltiesAndLogprobsMatchesTheHostPath() throws {
        var params = Self.penalised()
        params.logprobs = 4
        let host = try generate(params, backend: false)
        let backend = try generate(params, backend: true, others: 3)
        #expect(backend.tokenIDs == host.tokenIDs)
        #expect(backend.logprobs == host.logprobs)
        #expect(backend.cumulativeLogprob == host.cumulativeLogprob)
        #expect(backend.logprobs?.first?.top.count == 4)
    }

    @Test func seededFilteredSamplingIsTheSameAloneBatchedAndOnTheHost() throws {
        var params = SamplingParams()
        params.temperature = 1.1
        params.seed = 99
        params.topK = 40
        params.topP = 0.9
        params.minP = 0.02
        params.maxTokens = 20
        params.ignoreEOS = true
        params.logprobs = 2
        let alone = try generate(params, backend: true)
        let batched = try generate(params, backend: true, others: 7)
        #expect(batched.tokenIDs == alone.tokenIDs)
        #expect(batched.logprobs == alone.logprobs)
        #expect(try generate(params, backend: false).tokenIDs == alone.tokenIDs)
        params.seed = 100
        #expect(try generate(params, backend: true).tokenIDs != alone.tokenIDs)
    }

    @Test func moreTopLogprobsThanADeviceRowReportsStayOnTheHost() {
        var params = greedyParams(1)
        params.logprobs = DeviceSamplingRow.maxLogprobs + 1
        let request = Request(id: "x", promptTokenIDs: [1], params: params, arrival: 0, maxModelLength: 10)
        #expect(Sampler(eosTokenIDs: []).deviceRow(for: request) == nil)
        params.logprobs = DeviceSamplingRow.maxLogprobs
        let fits = Request(id: "y", promptTokenIDs: [1], params: params, arrival: 0, maxModelLength: 10)
        #expect(Sampler(eosTokenIDs: []).deviceRow(for: fits) != nil)
    }

    /// The host implementation draws from the filtered distribution: 4000 seeded draws of top-k 3 over
    /// five tokens land only on the three most likely, in about their proportions.
    @Test func gumbelDrawsFollowTheFilteredDistribution() {
        var row = DeviceSamplingRow()
        row.temperature = 1
        row.topK = 3
        let logits: [Float] = [0, log(3), log(1), log(2), -1]
        var counts = [Int](repeating: 0, count: 5)
        for i in 0..<4000 {
            row.seed = UInt64(i)
            counts[SamplingMath.sample(logits[...], row, key: row.seededKey!).token] += 1
        }
        #expect(counts[2] == 0 && counts[4] == 0)
        // Kept: ids 1, 3, 0 with weights 3, 2, 1 (id 2 ties id 0 and loses on its higher id).
        #expect(abs(Double(counts[1]) / 4000 - 0.5) < 0.04)
        #expect(abs(Double(counts[3]) / 4000 - 1.0 / 3) < 0.04)
    }
}
