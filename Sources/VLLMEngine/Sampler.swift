import Foundation
import VLLMCore

/// Turns one request's logits into its next token, as vLLM does: log-probabilities of the raw
/// logits for reporting, then min_tokens, logit_bias and penalties, then greedy choice or
/// temperature, min-p, top-k, top-p and a draw: by inverse CDF from the system generator, or for a
/// seeded request by Gumbel-max from a hash of (seed, output index, token id).
struct Sampler {
    /// Ids that end a sequence unless `ignore_eos`.
    let eosTokenIDs: Set<Int>
    /// Draws for requests without a seed.
    var unseeded = SystemRandomNumberGenerator()

    /// Samples the next token of `request` from `logits` (one row, changed in place).
    mutating func sample(_ logits: inout [Float], for request: Request) -> (token: Int, logprobs: PositionLogprobs?) {
        let params = request.params
        let raw = params.logprobs.map { _ in Self.logSoftmax(logits) }
        applyProcessors(&logits, request)
        let token: Int
        if params.isGreedy {
            token = Self.argmax(logits)
        } else if let key = Self.seededKey(request) {
            // A pure function of (seed, output index, logits), as on the device: the same tokens
            // whether a step samples here or on the backend, and after a preemption.
            token = SamplingMath.draw(
                &logits, temperature: Float(params.temperature), minP: Float(params.minP), topK: params.topK,
                topP: params.topP, key: key)
        } else {
            token = Self.draw(&logits, params, using: &unseeded)
        }
        guard let raw, let count = params.logprobs else { return (token, nil) }
        return (token, Self.positionLogprobs(raw, chosen: token, top: count))
    }

    private func applyProcessors(_ logits: inout [Float], _ request: Request) {
        let params = request.params
        if request.nextOutputIndex < params.minTokens {
            for id in params.stopTokenIDs where id < logits.count { logits[id] = -.infinity }
            if !params.ignoreEOS { for id in eosTokenIDs where id < logits.count { logits[id] = -.infinity } }
        }
        for (id, bias) in params.logitBias where id < logits.count { logits[id] += Float(bias) }
        if params.repetitionPenalty != 1 {
            let penalty = Float(params.repetitionPenalty)
            for id in Set(request.tokenIDs) where id < logits.count {
                logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty
            }
        }
        if params.frequencyPenalty != 0 || params.presencePenalty != 0 {
            for (id, count) in request.outputCounts where id < logits.count {
                logits[id] -= Float(params.frequencyPenalty) * Float(count) + Float(params.presencePenalty)
            }
        }
    }

    /// The request's sampling as a backend row, or nil when only the host can do it (more top
    /// logprobs than a device row reports).
    func deviceRow(for request: Request) -> DeviceSamplingRow? {
        let p = request.params
        if let count = p.logprobs, count > DeviceSamplingRow.maxLogprobs { return nil }
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

    /// `applyProcessors` as one entry per touched token id, for a backend to apply.
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

    private static func seededKey(_ request: Request) -> UInt64? {
        var row = DeviceSamplingRow()
        row.seed = request.params.seed
        row.outputIndex = request.nextOutputIndex
        return row.seededKey
    }

    /// Temperature, min-p, top-k and top-p, then one draw from what is left.
    static func draw(_ logits: inout [Float], _ params: SamplingParams, using random: inout some RandomNumberGenerator) -> Int {
        let temperature = Float(params.temperature)
        for i in logits.indices { logits[i] /= temperature }
        var probabilities = softmax(logits)
        let candidates = SamplingMath.candidates(
            &probabilities, minP: Float(params.minP), topK: params.topK, topP: params.topP)
        let total = candidates.reduce(Float(0)) { $0 + probabilities[$1] }
        let u = Float(Double(random.next() >> 11) / Double(1 << 53)) * total
        var cumulative: Float = 0
        for id in candidates {
            cumulative += probabilities[id]
            if u < cumulative { return id }
        }
        return candidates.last { probabilities[$0] > 0 } ?? argmax(logits)
    }

    static func argmax(_ values: [Float]) -> Int { SamplingMath.argmax(values) }

    static func softmax(_ logits: [Float]) -> [Float] { SamplingMath.softmax(logits) }

    static func logSoftmax(_ logits: [Float]) -> [Float] { SamplingMath.logSoftmax(logits) }

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
