import Foundation
import VLLMCore

/// The operations of the Gemma and Phi-3 families on the CPU.
extension CPUBackend {
    /// All of them: GeGLU with tanh GELU, soft-capping and scaling, attention soft-capping and partial rotary.
    public var familyOperations: FamilyOperations { [.geluTanh, .elementwise, .attentionSoftCap, .partialRotary] }

    /// `gelu_tanh(x[:, :n]) * x[:, n:]`, rows spread over the cores.
    public func geluTanhAndMul(_ x: CPUTensor) -> CPUTensor {
        let n = x.columns / 2
        let out = CPUTensor(shape: [x.rows, n])
        // gelu_pytorch_tanh: 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))).
        let k = Float((2 / Double.pi).squareRoot())
        ParallelFor.run(x.rows, costPerItem: n * 12) { rows in
            for r in rows {
                let gate = x.floats + r * 2 * n, up = gate + n, o = out.floats + r * n
                for i in 0..<n {
                    let g = gate[i]
                    o[i] = 0.5 * g * (1 + tanhf(k * (g + 0.044715 * g * g * g))) * up[i]
                }
            }
        }
        return out
    }

    /// In place: `x = cap * tanh(x / cap)`.
    public func softCap(_ x: CPUTensor, cap: Float) {
        for i in 0..<(x.rows * x.columns) { x.floats[i] = tanhf(x.floats[i] / cap) * cap }
    }

    /// In place: `x *= factor`.
    public func scale(_ x: CPUTensor, by factor: Float) {
        for i in 0..<(x.rows * x.columns) { x.floats[i] *= factor }
    }

    /// `rotary`, then cached attention whose scores are soft-capped when `logitSoftCap` is set.
    public func rotaryAttention(
        _ qkv: CPUTensor, layout: QKVLayout, rope: CPUTensor, cache: CPUKVCache, layer: Int, batch: CPUBatch,
        scale: Float, slidingWindow: Int?, logitSoftCap: Float?
    ) -> CPUTensor {
        rotary(qkv, layout: layout, rope: rope, batch: batch)
        return attention(
            qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale, slidingWindow: slidingWindow,
            softCap: logitSoftCap)
    }
}
