import Foundation
import VLLMCUDA
import VLLMCore

/// The device sampling part of `vllm-dev kernel-check`: `CUDABackend.sampleRows` against the host's
/// arithmetic (`SamplingMath`, shared with the engine's sampler) on logits already rounded to the
/// compute dtype. Each result is (name, measured value, limit); a check passes when value <= limit.
struct SamplingCheck {
    let gpu: CUDABackend
    let round: (Float) -> Float
    var rng = SplitMixRandom(seed: 1234)

    /// All checks; they stop early (one failing line) when the module has no sampling kernels.
    mutating func run() throws -> [(String, Double, Double)] {
        guard gpu.samplesOnDevice else { return [("sampling kernels loaded", 1, 0)] }
        var results: [(String, Double, Double)] = []
        results += try frequencies()
        results += try seeds()
        results += try adjustments()
        results += try logprobs()
        results += try tokenMasks()
        return results
    }

    private func sample(_ logits: [Float], rows: [DeviceSamplingRow]) throws -> [DeviceSample] {
        let x = try gpu.upload(logits, shape: [rows.count, logits.count / rows.count])
        _ = gpu.prepare(ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: [0])], blockSize: 16))
        return gpu.sampleRows(x, rows: rows)
    }

    private mutating func randomRow(_ n: Int, scale: Float) -> [Float] {
        (0..<n).map { _ in round(Float.random(in: -1...1, using: &rng) * scale) }
    }

    /// The distribution the host sampler draws from for `row` (zero outside the kept tokens).
    private static func expected(_ logits: [Float], _ row: DeviceSamplingRow) -> [Double] {
        var scaled = logits
        SamplingMath.adjust(&scaled, row)
        for i in scaled.indices { scaled[i] /= row.temperature }
        var p = SamplingMath.softmax(scaled)
        let kept = SamplingMath.candidates(&p, minP: row.minP, topK: row.topK, topP: Double(row.topP))
        var result = [Double](repeating: 0, count: logits.count)
        for id in kept { result[id] = Double(p[id]) }
        let total = result.reduce(0, +)
        return result.map { $0 / total }
    }

    /// 6000 unseeded draws per setting from one 64-token row (with ties at the cuts): total variation
    /// distance to the host's filtered distribution, and draws outside the kept set (must be none).
    private mutating func frequencies() throws -> [(String, Double, Double)] {
        var logits = randomRow(64, scale: 4)
        for i in 8..<14 { logits[i] = logits[3] }  // a run of ties, so that the cuts meet some
        let settings: [(String, (inout DeviceSamplingRow) -> Void)] = [
            ("temperature 0.8", { $0.temperature = 0.8 }),
            ("top_k 5", { $0.topK = 5 }),
            ("top_k 9 (ties)", { $0.topK = 9 }),
            ("top_p 0.7", { $0.topP = 0.7 }),
            ("min_p 0.1", { $0.minP = 0.1 }),
            (
                "t 1.3 top_k 20 top_p 0.8 min_p 0.02",
                {
                    $0.temperature = 1.3; $0.topK = 20; $0.topP = 0.8; $0.minP = 0.02
                }
            ),
            (
                "penalties and bias",
                {
                    $0.repetitionPenalty = 1.5; $0.frequencyPenalty = 0.4; $0.presencePenalty = 0.3
                    $0.adjustments = [
                        LogitAdjustment(column: 0, banned: true), LogitAdjustment(column: 5, bias: 3),
                        LogitAdjustment(column: 7, inSequence: true, outputCount: 2),
                    ]
                }
            ),
        ]
        let draws = 6000
        var results: [(String, Double, Double)] = []
        for (name, set) in settings {
            var row = DeviceSamplingRow()
            row.temperature = 1
            set(&row)
            let expected = Self.expected(logits, row)
            let drawn = try sample((0..<draws).flatMap { _ in logits }, rows: Array(repeating: row, count: draws))
            var counts = [Double](repeating: 0, count: 64)
            for s in drawn { counts[s.token] += 1 }
            let distance = zip(counts, expected).reduce(0) { $0 + abs($1.0 / Double(draws) - $1.1) } / 2
            results.append(("sampling \(name) total variation", distance, 0.06))
            let outside = zip(counts, expected).filter { $0.0 > 0 && $0.1 == 0 }.count
            results.append(("sampling \(name) draws outside the kept set", Double(outside), 0))
        }
        return results
    }
}

extension SamplingCheck {
    /// 48 seeded rows of a 131072-token vocabulary with top-k and top-p, run twice in opposite
    /// orders with unseeded rows between: each (seed, output index) must give the same token both
    /// times; and the host's Gumbel-max with the same random numbers should mostly agree (it differs
    /// only where float rounding of exp and log reorders near-equal scores).
    fileprivate mutating func seeds() throws -> [(String, Double, Double)] {
        let n = 131_072, count = 48
        let logits = (0..<count).map { _ in randomRow(n, scale: 6) }
        let rows = (0..<count).map { i -> DeviceSamplingRow in
            var row = DeviceSamplingRow()
            row.temperature = 1
            row.seed = UInt64(1000 + i % 7)
            row.outputIndex = i
            row.topK = i % 3 == 0 ? 0 : 50 + i
            row.topP = i % 2 == 0 ? 0.9 : 1
            return row
        }
        let forward = try sample(logits.flatMap { $0 }, rows: rows)
        var filler = DeviceSamplingRow()
        filler.temperature = 1
        var mixed: [[Float]] = [], mixedRows: [DeviceSamplingRow] = []
        for i in (0..<count).reversed() {
            mixed += [logits[(i + 1) % count], logits[i]]
            mixedRows += [filler, rows[i]]
        }
        let backward = try sample(mixed.flatMap { $0 }, rows: mixedRows)
        var moved = 0, host = 0
        for i in 0..<count {
            if backward[2 * (count - 1 - i) + 1].token != forward[i].token { moved += 1 }
            let key = rows[i].seededKey!
            if SamplingMath.sample(logits[i][...], rows[i], key: key).token == forward[i].token { host += 1 }
        }
        let distinct = Set(forward.map(\.token)).count
        return [
            ("sampling seeded rows differ alone and batched", Double(moved), 0),
            ("sampling seeded draws vary (distinct tokens short of 40)", Double(max(0, 40 - distinct)), 0),
            ("sampling seeded draws differ from host Gumbel-max", Double(count - host), Double(count / 10)),
        ]
    }

    /// 200 greedy rows of 1000 tokens with a ban, biases and penalties on 40 tokens each, set so that
    /// the adjusted argmax moves: the device's token must be the host's adjusted argmax (the float
    /// arithmetic is the same, so exactly); and a sampled row never draws its banned tokens.
    fileprivate mutating func adjustments() throws -> [(String, Double, Double)] {
        let n = 1000, count = 200
        var logits: [[Float]] = [], rows: [DeviceSamplingRow] = []
        for _ in 0..<count {
            logits.append(randomRow(n, scale: 3))
            var row = DeviceSamplingRow()
            row.repetitionPenalty = Float.random(in: 0.5...2, using: &rng)
            row.frequencyPenalty = Float.random(in: -1...1, using: &rng)
            row.presencePenalty = Float.random(in: -1...1, using: &rng)
            let columns = (0..<n).shuffled(using: &rng).prefix(40).sorted()
            row.adjustments = columns.map { c in
                LogitAdjustment(
                    column: Int32(c), banned: Int.random(in: 0..<8, using: &rng) == 0,
                    bias: Float.random(in: -3...3, using: &rng), inSequence: Bool.random(using: &rng),
                    outputCount: Int32.random(in: 0...3, using: &rng))
            }
            rows.append(row)
        }
        let device = try sample(logits.flatMap { $0 }, rows: rows)
        var wrong = 0
        for i in 0..<count {
            var adjusted = logits[i]
            SamplingMath.adjust(&adjusted, rows[i])
            if device[i].token != SamplingMath.argmax(adjusted) { wrong += 1 }
        }
        var banned = rows[0]
        banned.temperature = 5
        let bannedColumns = Set(banned.adjustments.filter(\.banned).map { Int($0.column) })
        let drawn = try sample((0..<2000).flatMap { _ in logits[0] }, rows: Array(repeating: banned, count: 2000))
        return [
            ("sampling adjusted argmax differs from host", Double(wrong), 0),
            ("sampling banned tokens drawn", Double(drawn.filter { bannedColumns.contains($0.token) }.count), 0),
        ]
    }

    /// 64 rows of 32000 tokens (with many ties, as 16-bit values have): the chosen token's logprob and
    /// rank and the top 20 against the host's log-softmax of the raw row, also with penalties set
    /// (logprobs are of the raw logits).
    fileprivate mutating func logprobs() throws -> [(String, Double, Double)] {
        let n = 32000, count = 64
        let logits = (0..<count).map { _ in randomRow(n, scale: 8) }
        let rows = (0..<count).map { i -> DeviceSamplingRow in
            var row = DeviceSamplingRow()
            row.temperature = i % 2 == 0 ? 0 : 0.7
            row.logprobs = i % 4 == 0 ? 0 : 20
            row.adjustments = i % 3 == 0 ? [LogitAdjustment(column: Int32(i), bias: 50)] : []
            return row
        }
        let device = try sample(logits.flatMap { $0 }, rows: rows)
        var worst = 0.0, wrongIDs = 0, wrongRanks = 0
        for i in 0..<count {
            guard let got = device[i].logprobs else { wrongIDs += 1; continue }
            let want = SamplingMath.logprobs(SamplingMath.logSoftmax(logits[i]), chosen: device[i].token, top: rows[i].logprobs!)
            if got.topTokens != want.topTokens { wrongIDs += 1 }
            if got.rank != want.rank { wrongRanks += 1 }
            for (a, b) in zip(got.topLogprobs + [got.chosen], want.topLogprobs + [want.chosen]) {
                worst = max(worst, abs(Double(a) - Double(b)))
            }
        }
        return [
            ("sampling logprobs largest difference", worst, 1e-4),
            ("sampling top logprob ids differ", Double(wrongIDs), 0),
            ("sampling chosen ranks differ", Double(wrongRanks), 0),
        ]
    }
}

extension SamplingCheck {
    /// 96 rows of 128,300 tokens (a 128,256-token grammar vocabulary and a padded model head), most
    /// with a grammar's token mask (a few hundred allowed ids, never the raw argmax): greedy rows
    /// through `launchSampling` (mask, then the argmax kernel) and sampled, seeded and logprob rows
    /// through `sampleRows`, against `SamplingMath.sample` on the host with the same mask and keys.
    fileprivate mutating func tokenMasks() throws -> [(String, Double, Double)] {
        let n = 128_300, words = (128_256 + 31) / 32, count = 96
        var logits: [[Float]] = [], rows: [DeviceSamplingRow] = []
        for i in 0..<count {
            let values = randomRow(n, scale: 6)
            var row = DeviceSamplingRow()
            if i % 6 != 5 {
                var mask = [UInt32](repeating: 0, count: words)
                for _ in 0..<300 {
                    let id = Int.random(in: 0..<128_256, using: &rng)
                    mask[id >> 5] |= 1 << UInt32(id & 31)
                }
                let top = SamplingMath.argmax(values)
                if top < 128_256 { mask[top >> 5] &= ~(1 << UInt32(top & 31)) }
                row.tokenMask = mask
            }
            logits.append(values)
            rows.append(row)
        }
        // Greedy through the launched (async) path: the masked argmax, exactly.
        let x = try gpu.upload(logits.flatMap { $0 }, shape: [count, n])
        _ = gpu.prepare(ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: [0])], blockSize: 16))
        let greedy = gpu.launchSampling(x, rows: rows).wait()
        var wrongGreedy = 0
        for i in 0..<count where greedy[i].token != SamplingMath.sample(logits[i][...], rows[i], key: 0).token { wrongGreedy += 1 }
        // Sampled rows (seeded, some with top-k/top-p, some with logprobs) through `sampleRows`.
        for i in rows.indices {
            rows[i].temperature = i % 3 == 0 ? 0 : 0.9
            rows[i].seed = UInt64(77 + i)
            rows[i].outputIndex = i
            rows[i].topK = i % 4 == 1 ? 40 : 0
            rows[i].topP = i % 4 == 2 ? 0.9 : 1
            rows[i].logprobs = i % 2 == 0 ? 5 : nil
        }
        let sampled = try sample(logits.flatMap { $0 }, rows: rows)
        var outside = 0, differ = 0, worst = 0.0, wrongIDs = 0
        for i in 0..<count {
            let host = SamplingMath.sample(logits[i][...], rows[i], key: rows[i].seededKey!)
            if let mask = rows[i].tokenMask {
                let t = sampled[i].token
                if t >= 128_256 || mask[t >> 5] >> UInt32(t & 31) & 1 == 0 { outside += 1 }
            }
            if host.token != sampled[i].token { differ += 1 }
            guard let want = host.logprobs else { continue }
            guard let got = sampled[i].logprobs, got.topTokens == want.topTokens else {
                wrongIDs += 1
                continue
            }
            for (a, b) in zip(got.topLogprobs, want.topLogprobs) { worst = max(worst, abs(Double(a) - Double(b))) }
        }
        return [
            ("token mask greedy (launched) differs from host", Double(wrongGreedy), 0),
            ("token mask draws outside the mask", Double(outside), 0),
            ("token mask seeded draws differ from host", Double(differ), Double(count / 10)),
            ("token mask top logprob ids differ", Double(wrongIDs), 0),
            ("token mask logprobs largest difference", worst, 1e-4),
        ]
    }
}
