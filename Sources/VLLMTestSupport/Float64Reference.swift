import Foundation
import VLLMCPU
import VLLMCore

/// Plain float64 host implementations of the backend operations, for checking kernels
/// (`vllm-dev kernel-check`) and the CPU backend itself against arithmetic whose own rounding error is
/// far below float32's: a float32 kernel must match these to about 1e-5 relative, a 16-bit one to
/// its dtype's precision.
///
/// Each function follows the contract of the operation in `Backend` and the CPU backend's
/// semantics (rotate-half rotary, RMSNorm as transformers computes it, the first index on argmax
/// ties), written in the most direct way: no tiling, no caches, no fused passes, so that it is easy
/// to read against the contract. Tensors are flat row-major `[Double]` arrays; the caller gives
/// the widths that the shapes need. The code lives in the test-support target (not in the `vllm`
/// product) so that tests can run it without a GPU; the target is optimised even in debug builds,
/// which keeps the large matrix products of kernel-check quick.
public enum Float64Reference {
    /// Relative L2 error `‖got − expected‖ / ‖expected‖`, as kernel-check reports it; infinity when
    /// any difference is NaN or the sizes differ, so that a broken kernel can never pass.
    public static func relativeError(_ got: [Float], _ expected: [Double]) -> Double {
        guard got.count == expected.count else { return .infinity }
        var diff = 0.0, norm = 0.0
        for i in 0..<got.count {
            let d = Double(got[i]) - expected[i]
            diff += d.isNaN ? .infinity : d * d
            norm += expected[i] * expected[i]
        }
        return (diff / max(norm, 1e-30)).squareRoot()
    }

    /// `x * rsqrt(mean(x²) + eps) * weight` for each row of `columns` values.
    public static func rmsNorm(_ x: [Double], weight: [Double], columns n: Int, eps: Double) -> [Double] {
        var out = x
        for r in 0..<(x.count / n) { normalize(&out, at: r * n, weight: weight, count: n, eps: eps) }
        return out
    }

    /// `residual + x` (the residual stream after the in-place update of `addRMSNorm`), and the
    /// RMSNorm of that sum, which is what the operation returns.
    public static func addRMSNorm(
        _ x: [Double], residual: [Double], weight: [Double], columns n: Int, eps: Double
    ) -> (out: [Double], residual: [Double]) {
        let sum = zip(residual, x).map { $0 + $1 }
        return (rmsNorm(sum, weight: weight, columns: n, eps: eps), sum)
    }

    /// `silu(x[:, :n]) * x[:, n:]` for rows of `2n` values (gate then up): `[rows, n]`.
    public static func siluAndMul(_ x: [Double], columns width: Int) -> [Double] {
        let n = width / 2
        var out = [Double](repeating: 0, count: x.count / 2)
        for r in 0..<(x.count / width) {
            for i in 0..<n {
                let gate = x[r * width + i], up = x[r * width + n + i]
                out[r * n + i] = gate / (1 + exp(-gate)) * up
            }
        }
        return out
    }

    /// `x · weightᵀ + bias` for `x` of rows of `inputs` values and `weight` of shape `[out, inputs]`.
    public static func linear(_ x: [Double], weight: [Double], bias: [Double]?, inputs k: Int) -> [Double] {
        let rows = x.count / k, outputs = weight.count / k
        var out = [Double](repeating: 0, count: rows * outputs)
        // Rows in parallel: kernel-check multiplies up to 129 x 4096 x 1024, half a billion products.
        x.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { o in
                    ParallelFor.run(rows, costPerItem: outputs * k) { range in
                        for t in range {
                            for m in 0..<outputs {
                                var sum = 0.0
                                for i in 0..<k { sum += x[t * k + i] * w[m * k + i] }
                                o[t * outputs + m] = sum + (bias?[m] ?? 0)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// `siluAndMul(linear(x, gateUp))` for the gate and up projections stacked as rows `[gate; up]`
    /// of one weight: `silu(x·Wgᵀ) * (x·Wuᵀ)`.
    public static func swiGLU(_ x: [Double], gateUp: [Double], inputs k: Int) -> [Double] {
        siluAndMul(linear(x, weight: gateUp, bias: nil, inputs: k), columns: gateUp.count / k)
    }

    /// RMSNorm of each query head (with `qWeight`) and each key head (with `kWeight`) inside fused
    /// qkv rows of `layout`; the values are left as they are.
    public static func headRMSNorm(
        _ qkv: [Double], layout: QKVLayout, qWeight: [Double], kWeight: [Double], eps: Double
    ) -> [Double] {
        var out = qkv
        let hd = layout.headDim
        for t in 0..<(qkv.count / layout.width) {
            let row = t * layout.width
            for h in 0..<layout.numHeads { normalize(&out, at: row + h * hd, weight: qWeight, count: hd, eps: eps) }
            for g in 0..<layout.numKVHeads {
                normalize(&out, at: row + layout.keyOffset + g * hd, weight: kWeight, count: hd, eps: eps)
            }
        }
        return out
    }

    /// Rotary embedding (rotate-half) of every query and key head of fused qkv rows, token `t` at
    /// `positions[t]`; `rope` rows hold `rotaryDim / 2` cosines then as many sines per position.
    /// Only the first `rotaryDim` values of each head turn (partial rotary; the whole head by default).
    public static func rotary(
        _ qkv: [Double], layout: QKVLayout, rope: [Double], positions: [Int32], rotaryDim: Int? = nil
    ) -> [Double] {
        var out = qkv
        let hd = layout.headDim, width = rotaryDim ?? hd, half = width / 2
        for t in 0..<(qkv.count / layout.width) {
            let table = Int(positions[t]) * width
            precondition(table + width <= rope.count, "position \(positions[t]) beyond the rotary table")
            // Query heads and key heads lie next to each other at the start of the row.
            for head in 0..<(layout.numHeads + layout.numKVHeads) {
                let x = t * layout.width + head * hd
                for i in 0..<half {
                    let (c, s) = (rope[table + i], rope[table + half + i])
                    let (x1, x2) = (qkv[x + i], qkv[x + half + i])
                    out[x + i] = x1 * c - x2 * s
                    out[x + half + i] = x2 * c + x1 * s
                }
            }
        }
        return out
    }

    /// The keys and values that attention has seen, per sequence, in position order: what a paged
    /// KV cache holds, without the paging. Each position holds `numKVHeads * headDim` keys and as
    /// many values.
    public struct AttentionHistory: Sendable {
        /// Keys per sequence id, position after position.
        public var keys: [Int: [Double]] = [:]
        /// Values per sequence id, position after position.
        public var values: [Int: [Double]] = [:]
        /// An empty history (no sequence seen yet).
        public init() {}
    }

    /// Causal attention of `batch`'s tokens, like `Backend.attention`: first the step's keys and
    /// values join their sequence's history (`sequences[s]` names the sequence of the batch's
    /// sequence `s`; its history must hold exactly the positions before the step's first token),
    /// then each query head attends, with `softmax(q·kᵀ·scale)·v`, over its kv head's keys at
    /// positions `0...position` (only the last `slidingWindow` of them when set); with `softCap`,
    /// each score becomes `softCap * tanh(score / softCap)` before the softmax. Returns
    /// `[numTokens, numHeads * headDim]`.
    public static func attention(
        _ qkv: [Double], layout: QKVLayout, batch: ForwardBatch, sequences: [Int], history: inout AttentionHistory,
        scale: Double, slidingWindow: Int?, softCap: Double? = nil
    ) -> [Double] {
        let hd = layout.headDim, heads = layout.numHeads, kvWidth = layout.numKVHeads * hd
        let group = heads / layout.numKVHeads
        var out = [Double](repeating: 0, count: batch.numTokens * heads * hd)
        for s in 0..<batch.numSequences {
            let id = sequences[s]
            let start = Int(batch.queryStart[s]), end = Int(batch.queryStart[s + 1])
            var keys = history.keys[id] ?? [], values = history.values[id] ?? []
            precondition(
                start == end || keys.count == Int(batch.positions[start]) * kvWidth,
                "sequence \(id): history of \(keys.count / kvWidth) positions, step starts at \(batch.positions[start])")
            for t in start..<end {
                let row = t * layout.width
                keys += qkv[(row + layout.keyOffset)..<(row + layout.keyOffset + kvWidth)]
                values += qkv[(row + layout.valueOffset)..<(row + layout.valueOffset + kvWidth)]
            }
            for t in start..<end {
                let position = Int(batch.positions[t])
                let first = slidingWindow.map { max(0, position - $0 + 1) } ?? 0
                for h in 0..<heads {
                    let q = t * layout.width + h * hd, g = h / group
                    var scores = [Double](repeating: 0, count: position - first + 1)
                    for j in first...position {
                        var dot = 0.0
                        for d in 0..<hd { dot += qkv[q + d] * keys[j * kvWidth + g * hd + d] }
                        scores[j - first] = softCap.map { tanh(dot * scale / $0) * $0 } ?? dot * scale
                    }
                    let weights = softmax(scores)
                    let o = t * heads * hd + h * hd
                    for j in first...position {
                        for d in 0..<hd { out[o + d] += weights[j - first] * values[j * kvWidth + g * hd + d] }
                    }
                }
            }
            history.keys[id] = keys
            history.values[id] = values
        }
        return out
    }

    /// The rows of `table` (rows of `columns` values) for `tokenIDs`.
    public static func embedding(_ table: [Double], columns n: Int, tokenIDs: [Int32]) -> [Double] {
        gatherRows(table, columns: n, indices: tokenIDs)
    }

    /// The rows of `x` (rows of `columns` values) at `indices`, in that order (the batch's logit rows).
    public static func gatherRows(_ x: [Double], columns n: Int, indices: [Int32]) -> [Double] {
        indices.flatMap { x[(Int($0) * n)..<((Int($0) + 1) * n)] }
    }

    /// The index of the largest value of each of `rows` rows of `x`; the lowest index on ties
    /// (greedy sampling must be deterministic).
    public static func argmaxRows(_ x: [Double], rows: Int) -> [Int32] {
        let n = x.count / rows
        return (0..<rows).map { r in
            var best = 0
            for i in 1..<n where x[r * n + i] > x[r * n + best] { best = i }
            return Int32(best)
        }
    }

    /// Softmax after subtracting the largest score, so that exp cannot overflow.
    static func softmax(_ scores: [Double]) -> [Double] {
        let largest = scores.max() ?? 0
        let weights = scores.map { exp($0 - largest) }
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    /// RMSNorm of `x[at..<at + count]` in place, in transformers' order: mean of squares, rsqrt,
    /// scale, then weight.
    static func normalize(_ x: inout [Double], at: Int, weight: [Double], count n: Int, eps: Double) {
        var squares = 0.0
        for i in 0..<n { squares += x[at + i] * x[at + i] }
        let inverse = 1 / (squares / Double(n) + eps).squareRoot()
        for i in 0..<n { x[at + i] = weight[i] * (x[at + i] * inverse) }
    }
}
