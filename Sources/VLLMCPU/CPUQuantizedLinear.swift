import VLLMCore

// Linear layers whose weights stay quantized in memory (WeightFormat.packedInt and .fp8): the
// parts of a fused weight keep their own tensors, one after another, and each part's product
// fills its columns of the output.
extension CPUBackend {
    public func linearWeight(_ parts: [HostLinearWeight]) throws -> LinearWeight<CPUTensor> {
        let format = parts[0].format
        guard parts.allSatisfy({ $0.format == format && $0.inFeatures == parts[0].inFeatures }) else {
            throw ModelLoadError.unsupportedWeightFormat(format: parts.first { $0.format != format }!.format, backend: name + " (fused with \(format))")
        }
        let outFeatures = parts.reduce(0) { $0 + $1.outFeatures }
        if format == .dense {
            return LinearWeight(format: .dense, outFeatures: outFeatures, inFeatures: parts[0].inFeatures, tensors: [try weight(parts.map { $0.tensors[0] })])
        }
        return LinearWeight(
            format: format, outFeatures: outFeatures, inFeatures: parts[0].inFeatures,
            tensors: parts.flatMap { $0.tensors.map(Self.copy) })
    }

    public func linear(_ x: CPUTensor, _ weight: LinearWeight<CPUTensor>, bias: CPUTensor?) -> CPUTensor {
        if weight.format == .dense { return linear(x, weight: weight.tensors[0], bias: bias) }
        let (T, K, N) = (x.rows, x.columns, weight.outFeatures)
        precondition(K == weight.inFeatures, "linear: input has \(K) columns, weight \(weight.outFeatures)×\(weight.inFeatures)")
        let out = CPUTensor(shape: [T, N])
        var column = 0
        for part in quantizedParts(weight) {
            multiply(x, part, format: weight.format, out: out.floats + column, outStride: N)
            column += part[1].rows
        }
        if let bias {
            for t in 0..<T { for n in 0..<N { out.floats[t * N + n] += bias.floats[n] } }
        }
        return out
    }

    public func swiGLU(_ x: CPUTensor, gateUp: LinearWeight<CPUTensor>) -> CPUTensor {
        gateUp.format == .dense ? swiGLU(x, gateUp: gateUp.tensors[0]) : siluAndMul(linear(x, gateUp, bias: nil))
    }

    /// The tensors of each fused part: `[packed, scales, zeros(, order)]` or `[codes, scales]`.
    private func quantizedParts(_ weight: LinearWeight<CPUTensor>) -> [[CPUTensor]] {
        let size = switch weight.format {
        case .packedInt(_, _, let permuted): permuted ? 4 : 3
        case .fp8: 2
        case .dense: 1
        }
        return stride(from: 0, to: weight.tensors.count, by: size).map { Array(weight.tensors[$0..<($0 + size)]) }
    }

    /// One part's product into columns of `out`.
    private func multiply(_ x: CPUTensor, _ tensors: [CPUTensor], format: WeightFormat, out: UnsafeMutablePointer<Float>, outStride: Int) {
        let (T, K, N) = (x.rows, x.columns, tensors[1].rows)
        switch format {
        case .packedInt(let bits, let groupSize, let permuted):
            let input = permuted ? Self.permuteColumns(x, order: tensors[3]) : x
            let packed = UnsafePointer(tensors[0].storage.assumingMemoryBound(to: UInt32.self))
            let (scales, zeros) = (UnsafePointer(tensors[1].floats), UnsafePointer(tensors[2].floats))
            QuantizedMatMul.multiply(x: input.floats, T: T, K: K, N: N, out: out, outStride: outStride) { n, row in
                QuantizedMatMul.dequantizePackedInt(
                    row: n, packed: packed, scales: scales, zeros: zeros, bits: bits, groupSize: groupSize, K: K, into: row)
            }
        case .fp8(let blockColumns):
            let codes = UnsafePointer(tensors[0].storage.assumingMemoryBound(to: UInt8.self))
            let scales = UnsafePointer(tensors[1].floats)
            FloatBits.float8E4M3Table.withUnsafeBufferPointer { table in
                QuantizedMatMul.multiply(x: x.floats, T: T, K: K, N: N, out: out, outStride: outStride) { n, row in
                    QuantizedMatMul.dequantizeFP8(
                        row: n, codes: codes, scales: scales, blockColumns: blockColumns, K: K, table: table.baseAddress!, into: row)
                }
            }
        case .dense:
            preconditionFailure("dense parts are multiplied by linear(_:weight:bias:)")
        }
    }

    /// `x` with its columns in act-order: column `k` of the result is column `order[k]` of `x`.
    private static func permuteColumns(_ x: CPUTensor, order: CPUTensor) -> CPUTensor {
        let (T, K) = (x.rows, x.columns)
        let out = CPUTensor(shape: [T, K])
        let indices = order.storage.assumingMemoryBound(to: Int32.self)
        for t in 0..<T {
            for k in 0..<K { out.floats[t * K + k] = x.floats[t * K + Int(indices[k])] }
        }
        return out
    }

    /// A host tensor copied as it is stored (packed integers and FP8 codes keep their bits);
    /// floats become float32.
    private static func copy(_ host: HostTensor) -> CPUTensor {
        let shape = host.shape.count == 1 ? [host.shape[0]] : host.shape
        switch host.dtype {
        case .int32, .float8E4M3, .int64:
            let tensor = CPUTensor(shape: shape, dtype: host.dtype)
            tensor.storage.copyMemory(from: host.bytes, byteCount: host.count * host.dtype.byteSize)
            return tensor
        case .float32, .float16, .bfloat16:
            let tensor = CPUTensor(shape: shape)
            host.convert(to: tensor.floats)
            return tensor
        }
    }
}
