import Dispatch
import VLLMCore

/// Random 16-bit weights made on all cores (`--load-format dummy` on the GPU): at 8B parameters the
/// single-threaded `DummyWeights` would take most of a minute, longer than the benchmark it feeds.
/// Values are uniform in ±`scale`, norms are 1, as in `DummyWeights` (the values differ).
public struct ParallelDummyWeights: WeightStore {
    /// The dtype of the tensors made: bfloat16 or float16.
    public let dtype: DType
    /// Values are drawn from [-scale, scale].
    public let scale: Float

    /// Random weights of `dtype` (bfloat16 or float16; float32 traps) with values in ±`scale` (default 0.02).
    public init(dtype: DType, scale: Float = 0.02) {
        precondition(dtype != .float32, "ParallelDummyWeights makes 16-bit weights")
        self.dtype = dtype
        self.scale = scale
    }

    /// Always true: every name gets random values.
    public func contains(_ name: String) -> Bool { true }

    /// Random values of `shape` for tensor `name`, made on all cores; 1 for norm weights. Never throws.
    public func tensor(_ name: String, shape: [Int]) throws -> HostTensor {
        let count = shape.reduce(1, *)
        let one: UInt16 = dtype == .bfloat16 ? 0x3F80 : 0x3C00
        if name.hasSuffix("norm.weight") {
            return HostTensor(shape: shape, dtype: dtype, bits: [UInt16](repeating: one, count: count))
        }
        let seed = KernelCache.fnv1a(name)
        let chunk = 1 << 20
        let chunks = (count + chunk - 1) / chunk
        let scale = self.scale, isBF16 = dtype == .bfloat16
        let bits = [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
            let base = buffer.baseAddress!
            nonisolated(unsafe) let out = base
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                var state = seed &+ UInt64(c) &* 0x9E37_79B9_7F4A_7C15
                for i in (c * chunk)..<min(count, (c + 1) * chunk) {
                    let value = (Float(splitMix(&state) >> 40) / Float(1 << 24) * 2 - 1) * scale
                    #if arch(x86_64) || arch(arm64)
                        out[i] = isBF16 ? FloatBits.floatToBFloat16(value) : Float16(value).bitPattern
                    #else
                        out[i] = FloatBits.floatToBFloat16(value)
                    #endif
                }
            }
            initialized = count
        }
        return HostTensor(shape: shape, dtype: dtype, bits: bits)
    }
}

/// Activation memory the CUDA backend needs for a model and a step size, by a count of the model's
/// intermediate tensors (no profiling run).
public enum CUDAActivationEstimate {
    /// Bytes for the activation ring and for the per-step arena, for steps of up to `tokens` tokens
    /// and `sequences` logit rows.
    public static func bytes(config c: ModelConfig, dtype: DType, tokens: Int, sequences: Int) -> (ring: Int, step: Int) {
        let e = dtype.byteSize
        let qkv = (c.numHeads + 2 * c.numKVHeads) * c.headDim
        // Outputs of one decoder layer per token: norm, qkv, attention, o_proj, norm, gate_up, silu, down.
        // A mixture of experts instead: per token and chosen expert its gathered gate/up, SwiGLU and
        // down rows (and index entries), plus the router logits, the shared expert and the sum.
        let experts =
            c.moe.map { m in
                m.routing.topK * (3 * m.expertIntermediateSize + c.hiddenSize + 8) + m.routing.numExperts
                    + 3 * (m.sharedExpertIntermediateSize ?? 0) + 2 * c.hiddenSize
            } ?? 0
        let perLayer = (c.hiddenSize * 4 + qkv + c.numHeads * c.headDim + max(3 * c.intermediateSize, experts)) * e
        let logits = sequences * c.vocabSize * (e + 4) + sequences * c.hiddenSize * e * 2
        let ring = 5 * tokens * perLayer / 2 + 2 * logits + (32 << 20)
        let step = tokens * c.hiddenSize * e + tokens * 64 + (8 << 20)
        return (ring, step)
    }
}
