import Foundation

/// The rules of sampling, in one place: the engine's host sampler and the host implementation of
/// `Backend.sampleRows` both run them, and `sampling.cu` follows them, so that every path bans,
/// biases, penalises, filters, draws and reports in exactly the same way.
public enum SamplingMath {
    /// Index of the largest value, the first on ties.
    public static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }

    /// Probabilities of `logits` (max-subtracted for stability).
    public static func softmax(_ logits: [Float]) -> [Float] {
        let m = logits.max() ?? 0
        var e = logits.map { expf($0 - m) }
        let total = e.reduce(0, +)
        for i in e.indices { e[i] /= total }
        return e
    }

    /// Natural-log probabilities of `logits`.
    public static func logSoftmax(_ logits: [Float]) -> [Float] {
        let m = logits.max() ?? 0
        let logTotal = logf(logits.reduce(Float(0)) { $0 + expf($1 - m) }) + m
        return logits.map { $0 - logTotal }
    }

    /// The tokens min-p, top-k and top-p leave to draw from; `probabilities` loses those below the
    /// min-p threshold. Top-k and top-p take the tokens by decreasing probability, the lower id first
    /// on ties; top-p keeps the shortest such prefix whose share of what top-k kept reaches `topP`.
    public static func candidates(_ probabilities: inout [Float], minP: Float, topK: Int, topP: Double) -> [Int] {
        if minP > 0 {
            let threshold = minP * (probabilities.max() ?? 0)
            for i in probabilities.indices where probabilities[i] < threshold { probabilities[i] = 0 }
        }
        // Only top-k and top-p need the tokens in order; plain sampling draws over the vocabulary as it is.
        guard topK > 0 || topP < 1 else { return Array(probabilities.indices) }
        let p = probabilities
        var candidates = p.indices.filter { p[$0] > 0 }
        candidates.sort { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }
        if topK > 0, candidates.count > topK { candidates.removeLast(candidates.count - topK) }
        if topP < 1 {
            let total = candidates.reduce(Float(0)) { $0 + p[$1] }
            var kept: Float = 0
            var keep = 0
            for id in candidates {
                kept += p[id] / total
                keep += 1
                if Double(kept) >= topP { break }
            }
            candidates.removeLast(candidates.count - keep)
        }
        return candidates
    }

    /// Bans every column whose bit is clear in `mask` (bit i of word i / 32 allows column i; a
    /// structured-output grammar's allowed tokens), columns past the mask included. The one
    /// definition of a token mask on the host: the engine's sampler and a backend's host sampling
    /// both come here, and `sampling.cu`'s `apply_token_bitmask` does the same on the device.
    public static func applyTokenBitmask(_ logits: inout [Float], _ mask: [UInt32]) {
        logits.withUnsafeMutableBufferPointer { row in
            mask.withUnsafeBufferPointer { applyTokenBitmask(row, $0) }
        }
    }

    /// `applyTokenBitmask` on a row in memory; whole words at a time, since a grammar's mask is
    /// mostly all-clear words (nothing to keep) and all-set ones (nothing to ban).
    public static func applyTokenBitmask(_ row: UnsafeMutableBufferPointer<Float>, _ mask: UnsafeBufferPointer<UInt32>) {
        let n = row.count
        var w = 0
        while w * 32 < n {
            let start = w * 32, end = min(n, start + 32)
            let bits = w < mask.count ? mask[w] : 0
            if bits == 0 {
                for i in start..<end { row[i] = -.infinity }
            } else if bits != .max {
                for i in start..<end where bits >> UInt32(i - start) & 1 == 0 { row[i] = -.infinity }
            }
            w += 1
        }
    }

    /// Applies a row's ban, bias and penalties to its logits, in the host sampler's order.
    public static func adjust(_ logits: inout [Float], _ row: DeviceSamplingRow) {
        for a in row.adjustments where a.column >= 0 && Int(a.column) < logits.count {
            var v = logits[Int(a.column)]
            if a.banned { v = -.infinity }
            v += a.bias
            if a.inSequence { v = v > 0 ? v / row.repetitionPenalty : v * row.repetitionPenalty }
            if a.outputCount > 0 { v -= row.frequencyPenalty * Float(a.outputCount) + row.presencePenalty }
            logits[Int(a.column)] = v
        }
    }

    /// The SplitMix64 finaliser: a counter-based hash, the same on the host and in `sampling.cu`.
    /// Inlinable: `splitMix` draws every random weight through it.
    @inlinable public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The Gumbel noise of column `column` for a row of random key `key`: -log(-log(u)) with u
    /// uniform in (0, 1) on 24 bits, as `sampling.cu` computes it.
    public static func gumbel(key: UInt64, column: Int) -> Float {
        let h = mix(key &+ UInt64(column + 1) &* 0x9E37_79B9_7F4A_7C15)
        let u = (Float(h >> 40) + 0.5) * 0x1p-24
        return -logf(-logf(u))
    }

    /// Samples one row on the host as the device does: the host sampler's processing and filters,
    /// then a Gumbel-max draw with the random numbers of `key` (argmax of logit / temperature plus
    /// noise over the candidates; the same distribution as the host sampler's inverse CDF).
    public static func sample(_ values: ArraySlice<Float>, _ row: DeviceSamplingRow, key: UInt64) -> DeviceSample {
        var logits = Array(values)
        return sample(&logits, row, key: key)
    }

    /// `sample`, leaving `logits` as the row's processing and temperature made them.
    public static func sample(_ logits: inout [Float], _ row: DeviceSamplingRow, key: UInt64) -> DeviceSample {
        if let mask = row.tokenMask { applyTokenBitmask(&logits, mask) }
        let raw = row.logprobs.map { _ in logSoftmax(logits) }
        adjust(&logits, row)
        let token = row.temperature == 0 ? argmax(logits) : draw(&logits, row, key: key)
        guard let raw, let count = row.logprobs else { return DeviceSample(token: token) }
        return DeviceSample(token: token, logprobs: logprobs(raw, chosen: token, top: count))
    }

    /// The row's distribution after its processing (ban, bias, penalties, temperature) and its
    /// filters (min-p, top-k, top-p), renormalised over the kept tokens; zero elsewhere. `logits`
    /// are left processed and divided by the temperature (which must be above 0).
    public static func probabilities(_ logits: inout [Float], _ row: DeviceSamplingRow) -> [Float] {
        adjust(&logits, row)
        for i in logits.indices { logits[i] /= row.temperature }
        var probabilities = softmax(logits)
        let kept = candidates(&probabilities, minP: row.minP, topK: row.topK, topP: Double(row.topP))
        var filtered = [Float](repeating: 0, count: probabilities.count)
        let total = kept.reduce(Float(0)) { $0 + probabilities[$1] }
        for id in kept where total > 0 { filtered[id] = probabilities[id] / total }
        return filtered
    }

    /// A token drawn from `probabilities` by Gumbel-max with the random numbers of `key` (the
    /// lower id on ties); nil when every probability is zero.
    public static func draw(from probabilities: [Float], key: UInt64) -> Int? {
        var best: Int?
        var bestScore = -Float.infinity
        for id in probabilities.indices where probabilities[id] > 0 {
            let score = logf(probabilities[id]) + gumbel(key: key, column: id)
            if best == nil || score > bestScore { (best, bestScore) = (id, score) }
        }
        return best
    }

    /// Verifies a draft token against the row's distribution p by the exact rejection rule of
    /// speculative sampling. `draftProbabilities` is the distribution q the draft was drawn from
    /// (a draft model's); nil means a point mass on the draft (n-gram lookup). Greedy keeps the
    /// draft when it is the argmax and else takes the argmax. Sampling keeps it with probability
    /// min(1, p(draft) / q(draft)), and else draws from the residual max(0, p - q), normalised
    /// (for a point mass: p without the draft). Either way the token returned follows p exactly.
    /// `logits` are left processed.
    public static func verify(
        _ logits: inout [Float], _ row: DeviceSamplingRow, draft: Int, draftProbabilities q: [Float]? = nil, key: UInt64
    ) -> DeviceSample {
        guard row.temperature > 0 else { return sample(&logits, row, key: key) }
        if let mask = row.tokenMask { applyTokenBitmask(&logits, mask) }
        let raw = row.logprobs.map { _ in logSoftmax(logits) }
        let p = probabilities(&logits, row)
        let token = rejectionSample(p: p, q: q, draft: draft, key: key)
        guard let raw, let count = row.logprobs else { return DeviceSample(token: token) }
        return DeviceSample(token: token, logprobs: logprobs(raw, chosen: token, top: count))
    }

    /// The rejection rule over target probabilities `p` and draft probabilities `q` (nil: a point
    /// mass on `draft`): the draft, or the token recovered from the residual in its place.
    public static func rejectionSample(p: [Float], q: [Float]?, draft: Int, key: UInt64) -> Int {
        let u = (Float(mix(key ^ 0x5851_F42D_4C95_7F2D) >> 40) + 0.5) * 0x1p-24
        let qDraft = q.map { $0[draft] } ?? 1
        // Accept when u < p / q, written without the division (q(draft) > 0: the draft was drawn from q).
        if u * qDraft < p[draft] { return draft }
        var residual = p
        if let q {
            for i in residual.indices { residual[i] = max(0, p[i] - q[i]) }
        } else {
            residual[draft] = 0
        }
        // The residual is empty only when p equals q (rejection then has probability zero) or p is
        // all on the draft; rounding can still get here, and p itself is then the right law.
        return draw(from: residual, key: key) ?? draw(from: p, key: key) ?? draft
    }

    /// Samples each row of `logits` (`rows.count` rows side by side) on the host; unseeded rows draw
    /// from the system generator.
    public static func sampleRows(_ logits: [Float], rows: [DeviceSamplingRow]) -> [DeviceSample] {
        guard !rows.isEmpty else { return [] }
        let n = logits.count / rows.count
        var random = SystemRandomNumberGenerator()
        return rows.enumerated().map { r, row in
            sample(logits[(r * n)..<((r + 1) * n)], row, key: row.seededKey ?? random.next())
        }
    }

    private static func draw(_ logits: inout [Float], _ row: DeviceSamplingRow, key: UInt64) -> Int {
        draw(&logits, temperature: row.temperature, minP: row.minP, topK: row.topK, topP: Double(row.topP), key: key)
    }

    /// Divides `logits` by the temperature, filters with min-p, top-k and top-p as `candidates`
    /// does, and draws by Gumbel-max with the random numbers of `key`.
    public static func draw(
        _ logits: inout [Float], temperature: Float, minP: Float, topK: Int, topP: Double, key: UInt64
    ) -> Int {
        for i in logits.indices { logits[i] /= temperature }
        var probabilities = softmax(logits)
        let kept = candidates(&probabilities, minP: minP, topK: topK, topP: topP)
        var best: Int?
        var bestScore = -Float.infinity
        for id in kept where probabilities[id] > 0 {
            let score = logits[id] + gumbel(key: key, column: id)
            if best == nil || score > bestScore || (score == bestScore && id < best!) { (best, bestScore) = (id, score) }
        }
        return best ?? argmax(logits)
    }

    /// The chosen token's log-probability and rank, and the `top` most likely tokens.
    public static func logprobs(_ logprobs: [Float], chosen: Int, top: Int) -> DeviceLogprobs {
        let value = logprobs[chosen]
        let rank = 1 + logprobs.reduce(0) { $0 + ($1 > value ? 1 : 0) }
        let best = logprobs.indices.sorted { logprobs[$0] > logprobs[$1] || (logprobs[$0] == logprobs[$1] && $0 < $1) }
            .prefix(top)
        return DeviceLogprobs(chosen: value, rank: rank, topTokens: Array(best), topLogprobs: best.map { logprobs[$0] })
    }
}
