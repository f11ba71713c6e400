import Foundation
import VLLMCore

/// The operations of the Gemma and Phi-3 families on the CPU.
extension CPUBackend {
    /// All of them: GeGLU with tanh GELU, soft-capping and scaling, attention soft-capping, partial
    /// rotary, and the hidden-state copies of EAGLE-3.
    public var familyOperations: FamilyOperations {
        [.geluTanh, .elementwise, .attentionSoftCap, .partialRotary, .hiddenStates]
    }

    /// The parts side by side, row by row.
    public func concatColumns(_ parts: [CPUTensor]) -> CPUTensor {
        let rows = parts[0].rows
        precondition(parts.allSatisfy { $0.rows == rows }, "concatColumns needs parts of equal rows")
        let width = parts.reduce(0) { $0 + $1.columns }
        let out = CPUTensor(shape: [rows, width])
        var at = 0
        for part in parts {
            let n = part.columns
            for r in 0..<rows { (out.floats + r * width + at).update(from: part.floats + r * n, count: n) }
            at += n
        }
        return out
    }

    /// A float32 tensor holding a copy of `values`.
    public func activation(_ values: [Float], rows: Int, columns: Int) -> CPUTensor {
        precondition(values.count == rows * columns, "\(values.count) values for [\(rows), \(columns)]")
        let out = CPUTensor(shape: [rows, columns])
        guard !values.isEmpty else { return out }
        values.withUnsafeBufferPointer { out.floats.update(from: $0.baseAddress!, count: values.count) }
        return out
    }

    /// `gelu_tanh(x[:, :n]) * x[:, n:]`, rows spread over the cores.
    public func geluTanhAndMul(_ x: CPUTensor) -> CPUTensor {
        let n = x.columns / 2
        let out = CPUTensor(shape: [x.rows, n])
        ParallelFor.run(x.rows, costPerItem: n * 12) { rows in
            for r in rows {
                let gate = x.floats + r * 2 * n
                VectorMath.geluTanhAndMul(gate: gate, up: gate + n, out: out.floats + r * n, count: n)
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
