import Foundation

/// Turns one request's logits into its next token, as vLLM does: log-probabilities of the raw
/// logits for reporting, then min_tokens, logit_bias and penalties, then greedy choice or
/// temperature, min-p, top-k, top-p and a draw from the request's own generator.
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
        } else if var random = request.random {
            token = Self.draw(&logits, params, using: &random)
            request.random = random
        } else {
            token = Self.draw(&logits, params, using: &unseeded)
        }
        guard let raw, let count = params.logprobs else { return (token, nil) }
        return (token, Self.positionLogprobs(raw, chosen: token, top: count))
    }

    private func applyProcessors(_ logits: inout [Float], _ request: Request) {
        let params = request.params
        if request.numOutputTokens < params.minTokens {
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

    /// Temperature, min-p, top-k and top-p, then one draw from what is left.
    static func draw(_ logits: inout [Float], _ params: SamplingParams, using random: inout some RandomNumberGenerator) -> Int {
        let temperature = Float(params.temperature)
        for i in logits.indices { logits[i] /= temperature }
        var probabilities = softmax(logits)
        if params.minP > 0 {
            let threshold = Float(params.minP) * (probabilities.max() ?? 0)
            for i in probabilities.indices where probabilities[i] < threshold { probabilities[i] = 0 }
        }
        // Only top-k and top-p need the tokens in order; plain sampling draws over the vocabulary as it is.
        var candidates: [Int]
        if params.topK > 0 || params.topP < 1 {
            candidates = probabilities.indices.filter { probabilities[$0] > 0 }
            candidates.sort { probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1) }
            if params.topK > 0, candidates.count > params.topK { candidates.removeLast(candidates.count - params.topK) }
            if params.topP < 1 {
                let total = candidates.reduce(Float(0)) { $0 + probabilities[$1] }
                var kept: Float = 0
                var keep = 0
                for id in candidates {
                    kept += probabilities[id] / total
                    keep += 1
                    if Double(kept) >= params.topP { break }
                }
                candidates.removeLast(candidates.count - keep)
            }
        } else {
            candidates = Array(probabilities.indices)
        }
        let total = candidates.reduce(Float(0)) { $0 + probabilities[$1] }
        let u = Float(Double(random.next() >> 11) / Double(1 << 53)) * total
        var cumulative: Float = 0
        for id in candidates {
            cumulative += probabilities[id]
            if u < cumulative { return id }
        }
        return candidates.last { probabilities[$0] > 0 } ?? argmax(logits)
    }

    static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }

    static func softmax(_ logits: [Float]) -> [Float] {
        let m = logits.max() ?? 0
        var e = logits.map { expf($0 - m) }
        let total = e.reduce(0, +)
        for i in e.indices { e[i] /= total }
        return e
    }

    static func logSoftmax(_ logits: [Float]) -> [Float] {
        let m = logits.max() ?? 0
        let logTotal = logf(logits.reduce(Float(0)) { $0 + expf($1 - m) }) + m
        return logits.map { $0 - logTotal }
    }

    /// The chosen token's log-probability and rank, and the `top` most likely tokens.
    static func positionLogprobs(_ logprobs: [Float], chosen: Int, top: Int) -> PositionLogprobs {
        let value = logprobs[chosen]
        let rank = 1 + logprobs.reduce(0) { $0 + ($1 > value ? 1 : 0) }
        let best = logprobs.indices.sorted { logprobs[$0] > logprobs[$1] || (logprobs[$0] == logprobs[$1] && $0 < $1) }
            .prefix(top)
        return PositionLogprobs(
            chosen: TokenLogprob(tokenID: chosen, logprob: value, rank: rank),
            top: best.enumerated().map { TokenLogprob(tokenID: $1, logprob: logprobs[$1], rank: $0 + 1) })
    }
}
