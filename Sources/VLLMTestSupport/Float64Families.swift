import Foundation
import VLLMCore

/// Float64 references of the Gemma/Phi-3 family operations and the encoder (BERT) operations, in the
/// same plain style as `Float64Reference` and following the contracts in `Backend`.
extension Float64Reference {
    /// `gelu_tanh(x[:, :n]) * x[:, n:]` for rows of `2n` values (gate then up): `[rows, n]`.
    public static func geluTanhAndMul(_ x: [Double], columns width: Int) -> [Double] {
        let n = width / 2
        var out = [Double](repeating: 0, count: x.count / 2)
        for r in 0..<(x.count / width) {
            for i in 0..<n {
                let g = x[r * width + i]
                out[r * n + i] = 0.5 * g * (1 + tanh((2 / Double.pi).squareRoot() * (g + 0.044715 * g * g * g))) * x[r * width + n + i]
            }
        }
        return out
    }

    /// `geluTanhAndMul(linear(x, gateUp))` for the gate and up projections stacked as rows
    /// `[gate; up]` of one weight: `gelu_tanh(x·Wgᵀ) * (x·Wuᵀ)`.
    public static func geluTanhGLU(_ x: [Double], gateUp: [Double], inputs k: Int) -> [Double] {
        geluTanhAndMul(linear(x, weight: gateUp, bias: nil, inputs: k), columns: gateUp.count / k)
    }

    /// `cap * tanh(x / cap)`, elementwise.
    public static func softCap(_ x: [Double], cap: Double) -> [Double] { x.map { tanh($0 / cap) * cap } }

    /// `x * Φ(x)` with the normal distribution's Φ (the erf GELU), elementwise.
    public static func gelu(_ x: [Double]) -> [Double] { x.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) } }

    /// LayerNorm of each row of `x + residual` (of `x` without one) with `weight` and `bias`: mean and
    /// biased variance of the row.
    public static func layerNorm(
        _ x: [Double], residual: [Double]?, weight: [Double], bias: [Double], columns n: Int, eps: Double
    ) -> [Double] {
        let sum = residual.map { zip(x, $0).map { $0 + $1 } } ?? x
        var out = sum
        for r in 0..<(x.count / n) {
            let row = sum[(r * n)..<((r + 1) * n)]
            let mean = row.reduce(0, +) / Double(n)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
            let inverse = 1 / (variance + eps).squareRoot()
            for i in 0..<n { out[r * n + i] = (sum[r * n + i] - mean) * inverse * weight[i] + bias[i] }
        }
        return out
    }

    /// An encoder's embedding: `words[id] + tokenType[0] + positionTable[position]` for each token,
    /// tables of rows of `columns` values.
    public static func encoderEmbedding(
        words: [Double], positionTable: [Double], tokenType: [Double], columns n: Int, tokenIDs: [Int32], positions: [Int32]
    ) -> [Double] {
        zip(tokenIDs, positions).flatMap { id, position in
            (0..<n).map { i in words[Int(id) * n + i] + tokenType[i] + positionTable[Int(position) * n + i] }
        }
    }

    /// Attention of every token over all tokens of its sequence (`queryStart[s] ..< queryStart[s + 1]`),
    /// no mask and no cache: `softmax(q·kᵀ·scale)·v` per query head over its kv head. Returns
    /// `[numTokens, numHeads * headDim]`.
    public static func bidirectionalAttention(_ qkv: [Double], layout: QKVLayout, queryStart: [Int32], scale: Double) -> [Double] {
        let hd = layout.headDim, heads = layout.numHeads, group = heads / layout.numKVHeads
        var out = [Double](repeating: 0, count: Int(queryStart.last ?? 0) * heads * hd)
        for s in 0..<(queryStart.count - 1) {
            let tokens = Int(queryStart[s])..<Int(queryStart[s + 1])
            for t in tokens {
                for h in 0..<heads {
                    let q = t * layout.width + h * hd, g = h / group
                    let scores = tokens.map { u in
                        let k = u * layout.width + layout.keyOffset + g * hd
                        return (0..<hd).reduce(0.0) { $0 + qkv[q + $1] * qkv[k + $1] } * scale
                    }
                    let weights = softmax(scores)
                    for (j, u) in tokens.enumerated() {
                        let v = u * layout.width + layout.valueOffset + g * hd
                        for d in 0..<hd { out[t * heads * hd + h * hd + d] += weights[j] * qkv[v + d] }
                    }
                }
            }
        }
        return out
    }
}
