import Foundation
import VLLMCore
import VLLMStructuredOutputs

/// Turns one request's logits into its next token, as vLLM does: log-probabilities of the raw
/// logits for reporting, then min_tokens, logit_bias and penalties, then greedy choice or
/// temperature, min-p, top-k, top-p and a Gumbel-max draw whose random numbers come from a hash of
/// (seed, output index, token id) for a seeded request, from the system generator otherwise.
///
/// The rules themselves live in one place, `SamplingMath`, over the request's `DeviceSamplingRow`:
/// the host sampler, a backend's host fallback and the device kernels' reference all run them, so
/// that host and device agree exactly.
struct Sampler {
    /// Ids that end a sequence unless `ignore_eos`.
    let eosTokenIDs: Set<Int>
    /// Random keys for requests without a seed.
    var unseeded = SystemRandomNumberGenerator()

    /// Samples the next token of `request` from `logits` (one row), which are left as the
    /// processors and the temperature made them.
    mutating func sample(_ logits: inout [Float], for request: Request) -> (token: Int, logprobs: PositionLogprobs?) {
        var row = samplingRow(for: request)
        row.tokenMask = Self.tokenMask(for: request)
        let sample = SamplingMath.sample(&logits, row, key: row.seededKey ?? unseeded.next())
        return (sample.token, sample.logprobs.map { PositionLogprobs($0, chosen: sample.token) })
    }

    /// Verifies `draft` as the request's next token against `logits` (`SamplingMath.verify`): the
    /// draft when accepted, else the token drawn in its place.
    /// `draftProbabilities` is the distribution the draft was drawn from (nil: a point mass).
    mutating func verify(
        _ logits: inout [Float], for request: Request, draft: Int, draftProbabilities: [Float]? = nil
    ) -> (token: Int, logprobs: PositionLogprobs?) {
        var row = samplingRow(for: request)
        row.tokenMask = Self.tokenMask(for: request)
        let sample = SamplingMath.verify(
            &logits, row, draft: draft, draftProbabilities: draftProbabilities, key: row.seededKey ?? unseeded.next())
        return (sample.token, sample.logprobs.map { PositionLogprobs($0, chosen: sample.token) })
    }

    /// The request's sampling as a backend row, or nil when only the host can do it (more top
    /// logprobs than a device row reports). A grammar's mask is added when the row is launched
    /// (`StepRunner.addMasks`), once the request's tokens before it are known.
    func deviceRow(for request: Request) -> DeviceSamplingRow? {
        if let count = request.params.logprobs, count > DeviceSamplingRow.maxLogprobs { return nil }
        return samplingRow(for: request)
    }

    /// The mask of the tokens the request's grammar allows next, nil when no grammar constrains
    /// its next token (none, or one still waiting for its start marker). Banned before logprobs,
    /// as vLLM applies xgrammar's bitmask to the logits before its sampler.
    static func tokenMask(for request: Request) -> [UInt32]? {
        guard request.grammar != nil, !request.grammarWaits else { return nil }
        if request.grammarMaskedAt != request.numTokens { fillMasks([request]) }
        return request.grammarMask
    }

    /// Fills the grammar masks the requests' next tokens need, in parallel over the requests
    /// (`GrammarMatcher.fillNextTokenBitmasks`); `tokenMask` then finds them.
    static func fillMasks(_ requests: [Request]) {
        let stale = requests.filter { $0.grammar != nil && !$0.grammarWaits && $0.grammarMaskedAt != $0.numTokens }
        guard !stale.isEmpty else { return }
        // Moved out of the requests and back, so that neither matchers nor masks are copied.
        var matchers: [GrammarMatcher] = [], masks: [[UInt32]] = []
        for request in stale {
            matchers.append(request.grammar!)
            request.grammar = nil
            let words = matchers.last!.grammar.vocabulary.maskWords
            masks.append(request.grammarMask.count == words ? request.grammarMask : [UInt32](repeating: 0, count: words))
            request.grammarMask = []
        }
        GrammarMatcher.fillNextTokenBitmasks(&matchers, into: &masks)
        for (i, request) in stale.enumerated() {
            request.grammar = matchers[i]
            request.grammarMask = masks[i]
            request.grammarMaskedAt = request.numTokens
        }
    }

    /// The random key of a draft model's draw for the request's output `outputIndex`: for a
    /// seeded request a function of the seed, apart from the keys of the target's own draws (the
    /// rejection rule needs the draft independent of them); fresh otherwise.
    mutating func draftKey(for request: Request, outputIndex: Int) -> UInt64 {
        guard let seed = request.params.seed else { return unseeded.next() }
        var row = DeviceSamplingRow()
        row.seed = seed
        row.outputIndex = outputIndex
        return SamplingMath.mix(row.seededKey! ^ 0xA076_1D64_78BD_642F)
    }

    /// Everything the request's sampling needs, as one row for `SamplingMath` or a backend, but
    /// the grammar's mask (`tokenMask`).
    func samplingRow(for request: Request) -> DeviceSamplingRow {
        let p = request.params
        var row = DeviceSamplingRow()
        row.temperature = p.isGreedy ? 0 : Float(p.temperature)
        row.topK = max(p.topK, 0)
        row.topP = Float(p.topP)
        row.minP = Float(p.minP)
        row.seed = p.seed
        row.outputIndex = request.nextOutputIndex
        row.repetitionPenalty = Float(p.repetitionPenalty)
        row.frequencyPenalty = Float(p.frequencyPenalty)
        row.presencePenalty = Float(p.presencePenalty)
        row.logprobs = p.logprobs
        row.adjustments = adjustments(request)
        return row
    }

    /// The min_tokens ban, logit_bias and the penalties as one entry per touched token id, in the
    /// form `SamplingMath.adjust` and the device kernels apply them.
    private func adjustments(_ request: Request) -> [LogitAdjustment] {
        let p = request.params
        var byColumn: [Int: LogitAdjustment] = [:]
        func edit(_ id: Int, _ change: (inout LogitAdjustment) -> Void) {
            var entry = byColumn[id] ?? LogitAdjustment(column: Int32(id))
            change(&entry)
            byColumn[id] = entry
        }
        if request.nextOutputIndex < p.minTokens {
            for id in p.stopTokenIDs { edit(id) { $0.banned = true } }
            if !p.ignoreEOS { for id in eosTokenIDs { edit(id) { $0.banned = true } } }
        }
        for (id, bias) in p.logitBias { edit(id) { $0.bias = Float(bias) } }
        if p.repetitionPenalty != 1 { for id in Set(request.tokenIDs) { edit(id) { $0.inSequence = true } } }
        if p.frequencyPenalty != 0 || p.presencePenalty != 0 {
            for (id, count) in request.outputCounts { edit(id) { $0.outputCount = Int32(clamping: count) } }
        }
        return byColumn.values.sorted { $0.column < $1.column }
    }

    /// The chosen token's log-probability and rank, and the `top` most likely tokens.
    static func positionLogprobs(_ logprobs: [Float], chosen: Int, top: Int) -> PositionLogprobs {
        PositionLogprobs(SamplingMath.logprobs(logprobs, chosen: chosen, top: top), chosen: chosen)
    }
}

extension PositionLogprobs {
    /// The engine's form of log-probabilities computed by `SamplingMath` or a backend.
    init(_ values: DeviceLogprobs, chosen: Int) {
        self.init(
            chosen: TokenLogprob(tokenID: chosen, logprob: values.chosen, rank: values.rank),
            top: zip(values.topTokens, values.topLogprobs).enumerated().map {
                TokenLogprob(tokenID: $1.0, logprob: $1.1, rank: $0 + 1)
            })
    }
}
