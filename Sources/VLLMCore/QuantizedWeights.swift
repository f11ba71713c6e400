/// The weights of a quantized checkpoint (or of a float one quantized at load): every tensor as the
/// base store holds it, and linear layers in the one layout per family that backends multiply
/// (`WeightFormat.packedInt` for GPTQ, AWQ and compressed-tensors int4; `.fp8` for FP8;
/// `.lookupTable` for SqueezeLLM).
public struct QuantizedWeights: WeightStore {
    /// Where the tensors come from.
    public let base: WeightStore
    /// How the linear layers are quantized.
    public let quantization: QuantizationConfig
    /// Where error messages point (the model folder).
    public let path: String

    /// Wraps `base`, whose linear layers are quantized as `quantization` says.
    public init(base: WeightStore, quantization: QuantizationConfig, path: String) {
        self.base = base
        self.quantization = quantization
        self.path = path
    }

    /// The tensor as the base store holds it.
    public func tensor(_ name: String, shape: [Int]) throws -> HostTensor { try base.tensor(name, shape: shape) }

    /// Whether the base store holds `name`.
    public func contains(_ name: String) -> Bool { base.contains(name) }
    /// The base store's file of `name`.
    public func file(of name: String) -> String? { base.file(of: name) }

    /// The linear layer `prefix` in the format the backends multiply, repacked from the checkpoint's quantized tensors (or quantized to FP8
    /// here for online FP8); a float LM head stays dense. Throws `ModelLoadError` for a missing tensor or a wrong shape.
    public func linear(_ prefix: String, out: Int, in inFeatures: Int) throws -> HostLinearWeight {
        // The checkpoint's formats keep the LM head in its float dtype (compressed-tensors lists
        // it in `ignore`); online FP8 leaves it too, as vLLM does.
        if prefix == "lm_head" && !isQuantized(prefix) {
            guard !quantization.quantizesLMHead else {
                throw ModelLoadError.invalidConfig(
                    path: path, field: "quantization_config.lm_head",
                    detail: "true, but the checkpoint has no lm_head.qweight (a quantized LM head)")
            }
            return .dense(try base.tensor(prefix + ".weight", shape: [out, inFeatures]))
        }
        switch quantization {
        case .onlineFP8: return try Self.quantizeFP8(try base.tensor(prefix + ".weight", shape: [out, inFeatures]))
        case .fp8(let scales): return try fp8(prefix, out, inFeatures, scales)
        case .gptq(let bits, let groupSize, _, let zeroOffset, _):
            let r = try repacking(bits, out, inFeatures, groupSize)
            let groupIndex = try base.contains(prefix + ".g_idx") ? ints(prefix + ".g_idx", [inFeatures]) : nil
            return try r.gptq(
                qweight: words(prefix + ".qweight", [inFeatures / r.perWord, out]),
                qzeros: words(prefix + ".qzeros", [r.groups, out / r.perWord]),
                scales: floats(prefix + ".scales", [r.groups, out]), groupIndex: groupIndex, zeroOffset: zeroOffset)
        case .awq(let groupSize):
            let r = try repacking(4, out, inFeatures, groupSize)
            return r.awq(
                qweight: try words(prefix + ".qweight", [inFeatures, out / 8]),
                qzeros: try words(prefix + ".qzeros", [r.groups, out / 8]),
                scales: try floats(prefix + ".scales", [r.groups, out]))
        case .packedInt4(let groupSize):
            let r = try repacking(4, out, inFeatures, groupSize)
            return r.compressedTensors(
                packed: try words(prefix + ".weight_packed", [out, inFeatures / 8]),
                scales: try floats(prefix + ".weight_scale", [out, r.groups]))
        case .squeezeLLM(let bits):
            guard inFeatures % 8 == 0 else {
                throw ModelLoadError.invalidConfig(
                    path: path, field: "wbits", detail: "a layer's \(inFeatures) inputs do not pack into words of 8 indices")
            }
            let r = PackedIntRepacking(bits: bits, outFeatures: out, inFeatures: inFeatures, groupSize: inFeatures, path: path)
            let qweight = try words(prefix + ".qweight", [inFeatures / r.perWord, out])
            return r.squeezeLLM(qweight: qweight, table: try tensor(prefix + ".lookup_table", shape: [out, 1 << bits]))
        }
    }

    /// Whether the checkpoint stores layer `prefix` quantized.
    private func isQuantized(_ prefix: String) -> Bool {
        switch quantization {
        case .onlineFP8: false
        case .gptq, .awq, .squeezeLLM: base.contains(prefix + ".qweight")
        case .packedInt4: base.contains(prefix + ".weight_packed")
        case .fp8: base.contains(prefix + ".weight_scale") || base.contains(prefix + ".weight_scale_inv")
        }
    }

    private func repacking(_ bits: Int, _ out: Int, _ inFeatures: Int, _ groupSize: Int?) throws -> PackedIntRepacking {
        let group = groupSize ?? inFeatures
        guard inFeatures % group == 0 else {
            throw ModelLoadError.invalidConfig(
                path: path, field: "quantization_config.group_size",
                detail: "\(group) does not divide a layer's \(inFeatures) inputs")
        }
        guard out % (32 / bits) == 0, inFeatures % (32 / bits) == 0 else {
            throw ModelLoadError.invalidConfig(
                path: path, field: "quantization_config.bits",
                detail: "a \(out)×\(inFeatures) layer does not pack into words of \(32 / bits) values")
        }
        return PackedIntRepacking(bits: bits, outFeatures: out, inFeatures: inFeatures, groupSize: group, path: path)
    }

    /// A tensor whose dtype the quantization cannot take, named with the file that holds it.
    private func wrongDType(_ name: String, _ t: HostTensor, expected: String) -> ModelLoadError {
        .wrongDType(name: name, path: base.file(of: name) ?? path, dtype: t.dtype.safetensorsTag, expected: expected)
    }

    /// Packed integers: read as int32 words whatever the header says, so another dtype (a float
    /// tagged `qweight`) would unpack silently into garbage instead of failing.
    private func words(_ name: String, _ shape: [Int]) throws -> HostTensor {
        let t = try tensor(name, shape: shape)
        guard t.dtype == .int32 else {
            throw wrongDType(name, t, expected: "I32")
        }
        return t
    }

    /// Scales, which the repacking converts from any float dtype; integers would convert silently.
    private func floats(_ name: String, _ shape: [Int]) throws -> HostTensor {
        let t = try tensor(name, shape: shape)
        guard [.float32, .float16, .bfloat16].contains(t.dtype) else {
            throw wrongDType(name, t, expected: "F32, F16 or BF16")
        }
        return t
    }

    /// An int32 tensor's values (act-order's `g_idx`).
    private func ints(_ name: String, _ shape: [Int]) throws -> [Int32] {
        let t = try words(name, shape)
        return Array(UnsafeBufferPointer(start: t.bytes.assumingMemoryBound(to: Int32.self), count: t.count))
    }

    /// A pre-quantized FP8 layer: `weight` e4m3 and its scales, spread to one per row and block.
    private func fp8(_ prefix: String, _ out: Int, _ inFeatures: Int, _ layout: FP8Scales) throws -> HostLinearWeight {
        let weight = try tensor(prefix + ".weight", shape: [out, inFeatures])
        guard weight.dtype == .float8E4M3 else {
            throw wrongDType(prefix + ".weight", weight, expected: "F8_E4M3")
        }
        let (blockRows, blockColumns): (Int, Int)
        let scales: [Float]
        switch layout {
        case .perTensor:
            (blockRows, blockColumns) = (out, inFeatures)
            scales = try tensor(prefix + ".weight_scale", shape: [out, 1].suffix(scaleRank(prefix + ".weight_scale"))).floats()
        case .perChannel:
            (blockRows, blockColumns) = (1, inFeatures)
            scales = try tensor(prefix + ".weight_scale", shape: [out, 1]).floats()
        case .block(let rows, let columns):
            (blockRows, blockColumns) = (rows, columns)
            let name = base.contains(prefix + ".weight_scale_inv") ? ".weight_scale_inv" : ".weight_scale"
            scales = try tensor(prefix + name, shape: [(out + rows - 1) / rows, (inFeatures + columns - 1) / columns]).floats()
        }
        let blocks = (inFeatures + blockColumns - 1) / blockColumns
        var perRow = [Float](repeating: 0, count: out * blocks)
        for n in 0..<out {
            for b in 0..<blocks { perRow[n * blocks + b] = scales[scales.count == 1 ? 0 : (n / blockRows) * blocks + b] }
        }
        return HostLinearWeight(
            format: .fp8(blockColumns: blockColumns), outFeatures: out, inFeatures: inFeatures,
            tensors: [weight, HostTensor(shape: [out, blocks], values: perRow)])
    }

    /// How many dimensions a per-tensor scale has: 0 (a scalar) or 1 (`[1]`).
    private func scaleRank(_ name: String) -> Int {
        (try? base.tensor(name, shape: [])) != nil ? 0 : 1
    }

    /// FP8 e4m3 with one scale per output row (the row's largest magnitude maps to 448), made from
    /// a float matrix at load: `--quantization fp8`.
    public static func quantizeFP8(_ matrix: HostTensor) throws -> HostLinearWeight {
        let (out, inFeatures) = (matrix.shape[0], matrix.shape[1])
        let values = matrix.floats()
        var codes = [UInt8](repeating: 0, count: values.count)
        var scales = [Float](repeating: 1, count: out)
        for n in 0..<out {
            let row = values[(n * inFeatures)..<((n + 1) * inFeatures)]
            let largest = row.reduce(0) { max($0, abs($1)) }
            let scale = largest > 0 ? largest / 448 : 1
            scales[n] = scale
            for (k, v) in row.enumerated() { codes[n * inFeatures + k] = FloatBits.floatToFloat8E4M3(v / scale) }
        }
        return HostLinearWeight(
            format: .fp8(blockColumns: inFeatures), outFeatures: out, inFeatures: inFeatures,
            tensors: [
                codes.withUnsafeBytes { HostTensor(shape: [out, inFeatures], dtype: .float8E4M3, copying: $0.baseAddress!) },
                HostTensor(shape: [out, 1], values: scales),
            ])
    }
}
