import Foundation
import VLLMCore

// The encoder operations (BERT) on the CPU, in transformers' order of operations.
extension CPUBackend {
    /// True: the CPU has the encoder operations.
    public var runsEncoders: Bool { true }

    /// Word, position and token-type-0 embeddings summed, per token; a position beyond the table traps.
    public func encoderEmbedding(words: CPUTensor, positions: CPUTensor, tokenType: CPUTensor, _ batch: CPUBatch) -> CPUTensor {
        let hidden = words.columns
        let (ids, places) = (batch.batch.tokenIDs, batch.batch.positions)
        precondition(Int(places.max() ?? 0) < positions.rows, "a position beyond max_position_embeddings (\(positions.rows))")
        let out = CPUTensor(shape: [ids.count, hidden])
        let type = Self.row(tokenType, 0)
        for t in 0..<ids.count {
            let (word, place) = (Self.row(words, Int(ids[t])), Self.row(positions, Int(places[t])))
            let o = out.floats + t * hidden
            // transformers adds the token type first, then the position.
            for i in 0..<hidden { o[i] = (word[i] + type[i]) + place[i] }
        }
        return out
    }

    /// Row `r` of a float32 or bfloat16 table as float32.
    static func row(_ table: CPUTensor, _ r: Int) -> [Float] {
        let n = table.columns
        if table.dtype == .bfloat16 { return (0..<n).map { FloatBits.bfloat16ToFloat(table.bfloat16Bits[r * n + $0]) } }
        return Array(UnsafeBufferPointer(start: table.floats + r * n, count: n))
    }

    /// LayerNorm of `x + residual` (of `x` alone without a residual), row by row.
    public func layerNorm(_ x: CPUTensor, residual: CPUTensor?, weight: CPUTensor, bias: CPUTensor, eps: Float) -> CPUTensor {
        let n = x.columns
        let out = CPUTensor(shape: x.shape)
        ParallelFor.run(x.rows, costPerItem: n * 6) { rows in
            var sum = [Float](repeating: 0, count: n)
            for r in rows {
                let input = x.floats + r * n
                for i in 0..<n { sum[i] = residual.map { input[i] + $0.floats[r * n + i] } ?? input[i] }
                let mean = sum.reduce(0, +) / Float(n)
                let variance = sum.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(n)
                let inverse = 1 / (variance + eps).squareRoot()
                let o = out.floats + r * n
                for i in 0..<n { o[i] = (sum[i] - mean) * inverse * weight.floats[i] + bias.floats[i] }
            }
        }
        return out
    }

    /// The erf GELU, elementwise.
    public func gelu(_ x: CPUTensor) -> CPUTensor {
        let out = CPUTensor(shape: x.shape)
        let count = x.count
        ParallelFor.run(x.rows, costPerItem: x.columns * 20) { rows in
            let n = count / max(1, x.rows)
            for i in (rows.lowerBound * n)..<(rows.upperBound * n) {
                let v = x.floats[i]
                out.floats[i] = 0.5 * v * (1 + erf(v * 0.70710678118654752))
            }
        }
        return out
    }

    /// Attention of each token over every token of its sequence in the step, with no mask and no cache.
    public func bidirectionalAttention(_ qkv: CPUTensor, layout: QKVLayout, batch: CPUBatch, scale: Float) -> CPUTensor {
        let (hd, width) = (layout.headDim, layout.width)
        let starts = batch.batch.queryStart
        let out = CPUTensor(shape: [qkv.rows, layout.numHeads * hd])
        let groups = layout.numHeads / layout.numKVHeads
        for s in 0..<(starts.count - 1) {
            let range = Int(starts[s])..<Int(starts[s + 1])
            ParallelFor.run(range.count, costPerItem: range.count * hd * layout.numHeads * 2) { local in
                var scores = [Float](repeating: 0, count: range.count)
                for i in local {
                    let t = range.lowerBound + i
                    for h in 0..<layout.numHeads {
                        let q = qkv.floats + t * width + h * hd
                        let kv = h / groups
                        var top = -Float.infinity
                        for (j, u) in range.enumerated() {
                            let k = qkv.floats + u * width + layout.keyOffset + kv * hd
                            var dot: Float = 0
                            for d in 0..<hd { dot += q[d] * k[d] }
                            scores[j] = dot * scale
                            top = max(top, scores[j])
                        }
                        var total: Float = 0
                        for j in 0..<range.count {
                            scores[j] = expf(scores[j] - top)
                            total += scores[j]
                        }
                        let o = out.floats + t * layout.numHeads * hd + h * hd
                        for d in 0..<hd { o[d] = 0 }
                        for (j, u) in range.enumerated() {
                            let v = qkv.floats + u * width + layout.valueOffset + kv * hd
                            let p = scores[j] / total
                            for d in 0..<hd { o[d] += p * v[d] }
                        }
                    }
                }
            }
        }
        return out
    }
}
