/// Random weights in a quantization's stored layout (`--load-format dummy` on a quantized config,
/// or with `--quantization`): every linear layer comes out already in the format the backends
/// multiply, with random codes and scales that keep the values about as small as
/// `DummyWeights`', so that benchmarks run the real quantized kernels without a checkpoint.
/// Other tensors (norms, embeddings, the LM head unless the config quantizes it) come from the
/// dense dummy store.
public struct DummyQuantizedWeights: WeightStore {
    /// Norms, embeddings and the LM head (a dense dummy store).
    public let base: any WeightStore
    /// The layout of the linear layers.
    public let quantization: QuantizationConfig
    /// Seeds the random codes (with each layer's name).
    public let seed: UInt64
    /// About the largest magnitude of a dequantized weight.
    public let scale: Float

    /// Random linear layers laid out as `quantization` stores them; other tensors from `base`.
    public init(base: any WeightStore, quantization: QuantizationConfig, seed: UInt64 = 0, scale: Float = 0.02) {
        self.base = base
        self.quantization = quantization
        self.seed = seed
        self.scale = scale
    }

    /// The tensor from the dense dummy store.
    public func tensor(_ name: String, shape: [Int]) throws -> HostTensor { try base.tensor(name, shape: shape) }

    /// Always true, as the dense dummy store.
    public func contains(_ name: String) -> Bool { base.contains(name) }

    /// Random codes and scales for the linear layer `prefix` in the quantization's layout; the LM head stays dense unless
    /// the config quantizes it (`QuantizationConfig.quantizesLMHead`). Throws
    /// `ModelLoadError.invalidConfig` when the group size does not divide the layer's inputs.
    public func linear(_ prefix: String, out: Int, in inFeatures: Int) throws -> HostLinearWeight {
        if prefix == "lm_head" && !quantization.quantizesLMHead {
            return .dense(try base.tensor(prefix + ".weight", shape: [out, inFeatures]))
        }
        var state = seed ^ UInt64(truncatingIfNeeded: prefix.hashValueStable)
        switch quantization {
        case .onlineFP8, .fp8:
            let blockColumns = if case .fp8(.block(_, let columns)) = quantization { columns } else { inFeatures }
            let blocks = (inFeatures + blockColumns - 1) / blockColumns
            // Random e4m3 codes with NaN (0x7F, 0xFF) moved to its neighbour; 448 · scale = 0.02.
            let codes = Self.randomWords(count: out * inFeatures / 8 + 1, state: &state)
            let tensor = codes.withUnsafeBytes { raw in
                let bytes = raw.bindMemory(to: UInt8.self)
                var fixed = [UInt8](bytes.prefix(out * inFeatures))
                for i in fixed.indices where fixed[i] & 0x7F == 0x7F { fixed[i] ^= 1 }
                return fixed.withUnsafeBytes { HostTensor(shape: [out, inFeatures], dtype: .float8E4M3, copying: $0.baseAddress!) }
            }
            let scales = HostTensor(shape: [out, blocks], values: [Float](repeating: scale / 448, count: out * blocks))
            return HostLinearWeight(
                format: .fp8(blockColumns: blockColumns), outFeatures: out, inFeatures: inFeatures, tensors: [tensor, scales])
        case .gptq(let bits, let groupSize, _, _, _):
            return try packed(bits: bits, groupSize: groupSize ?? inFeatures, out: out, inFeatures: inFeatures, state: &state)
        case .awq(let groupSize), .packedInt4(let groupSize):
            return try packed(bits: 4, groupSize: groupSize ?? inFeatures, out: out, inFeatures: inFeatures, state: &state)
        case .squeezeLLM(let bits):
            // Random indices into 2^bits values spread evenly over ±`scale` in every row.
            let words = Self.randomWords(count: out * inFeatures * bits / 64, state: &state)
            let levels = 1 << bits, half = Float(levels - 1) / 2
            let table = (0..<(out * levels)).map { scale * (Float($0 % levels) - half) / half }
            return HostLinearWeight(
                format: .lookupTable(bits: bits), outFeatures: out, inFeatures: inFeatures,
                tensors: [
                    words.withUnsafeBytes { HostTensor(shape: [out, inFeatures * bits / 32], dtype: .int32, copying: $0.baseAddress!) },
                    HostTensor(shape: [out, levels], values: table),
                ])
        }
    }

    /// Random packed words, zero points in the middle of the range and scales that map the range
    /// onto about ±`scale`.
    private func packed(bits: Int, groupSize: Int, out: Int, inFeatures: Int, state: inout UInt64) throws -> HostLinearWeight {
        guard inFeatures % groupSize == 0 else {
            throw ModelLoadError.invalidConfig(
                path: "config.json", field: "quantization_config.group_size",
                detail: "\(groupSize) does not divide a layer's \(inFeatures) inputs")
        }
        let words = Self.randomWords(count: out * inFeatures * bits / 64, state: &state)
        let groups = inFeatures / groupSize
        let half = Float(1 << (bits - 1))
        return HostLinearWeight(
            format: .packedInt(bits: bits, groupSize: groupSize, permuted: false), outFeatures: out, inFeatures: inFeatures,
            tensors: [
                words.withUnsafeBytes { HostTensor(shape: [out, inFeatures * bits / 32], dtype: .int32, copying: $0.baseAddress!) },
                HostTensor(shape: [out, groups], values: [Float](repeating: scale / half, count: out * groups)),
                HostTensor(shape: [out, groups], values: [Float](repeating: half, count: out * groups)),
            ])
    }

    private static func randomWords(count: Int, state: inout UInt64) -> [UInt64] {
        var words = [UInt64](repeating: 0, count: count)
        for i in 0..<count { words[i] = splitMix(&state) }
        return words
    }
}
