import VLLMCore

/// Linear layers whose weights stay in their GGUF block format (`WeightFormat.ggml`) on the CPU.
extension CPUBackend {
    public func linearWeight(_ parts: [HostLinearWeight]) throws -> LinearWeight<CPUTensor> {
        let outFeatures = parts.reduce(0) { $0 + $1.outFeatures }
        let inFeatures = parts[0].inFeatures
        if parts.allSatisfy({ $0.format == .dense }) {
            return LinearWeight(
                format: .dense, outFeatures: outFeatures, inFeatures: inFeatures, tensors: [try weight(parts.map { $0.tensors[0] })])
        }
        // A dense part beside quantized ones (a float tensor of a GGUF file) is a ggml float type.
        let typed = try parts.map { part -> (GGMLType, HostTensor) in
            switch part.format {
            case .ggml(let type): return (type, part.tensors[0])
            case .dense:
                let tensor = part.tensors[0]
                let type: GGMLType = switch tensor.dtype {
                case .float32: .f32
                case .float16: .f16
                case .bfloat16: .bf16
                case .uint8: preconditionFailure("a dense weight of raw bytes")
                }
                return (type, tensor)
            case .stacked: throw ModelLoadError.unsupportedWeightFormat(format: part.format, backend: name)
            }
        }
        // Parts of one type are kept as one matrix, so that a product splits evenly over the threads.
        let types = typed.map(\.0)
        let groups: [[HostTensor]] = types.allSatisfy({ $0 == types[0] }) ? [typed.map(\.1)] : typed.map { [$0.1] }
        let tensors = groups.map { group in
            let rowBytes = group[0].count / group[0].shape[0] * group[0].dtype.byteSize
            let rows = group.reduce(0) { $0 + $1.shape[0] }
            let tensor = CPUTensor(shape: [rows, rowBytes], dtype: .uint8)
            var at = tensor.storage
            for part in group {
                at.copyMemory(from: part.bytes, byteCount: part.shape[0] * rowBytes)
                at += part.shape[0] * rowBytes
            }
            return tensor
        }
        let format: WeightFormat = groups.count == 1 ? .ggml(types[0]) : .stacked(types.map { .ggml($0) })
        return LinearWeight(format: format, outFeatures: outFeatures, inFeatures: inFeatures, tensors: tensors)
    }

    public func linear(_ x: CPUTensor, _ weight: LinearWeight<CPUTensor>, bias: CPUTensor?) -> CPUTensor {
        let formats: [WeightFormat]
        switch weight.format {
        case .dense: return linear(x, weight: weight.tensors[0], bias: bias)
        case .ggml: formats = [weight.format]
        case .stacked(let parts): formats = parts
        }
        let (T, K, N) = (x.rows, x.columns, weight.outFeatures)
        precondition(K == weight.inFeatures, "linear: input has \(K) columns, weight \(weight.inFeatures)")
        let out = CPUTensor(shape: [T, N])
        var column = 0
        for (format, tensor) in zip(formats, weight.tensors) {
            guard case .ggml(let type) = format else { preconditionFailure("a stacked part in format \(format)") }
            QuantizedMatMul.multiply(
                x: x.floats, w: tensor.storage, type: type, out: out.floats + column, outStride: N, T: T, N: tensor.shape[0], K: K)
            column += tensor.shape[0]
        }
        if let bias { Self.addBias(bias, to: out) }
        return out
    }

    public func swiGLU(_ x: CPUTensor, gateUp: LinearWeight<CPUTensor>) -> CPUTensor {
        switch gateUp.format {
        case .dense: swiGLU(x, gateUp: gateUp.tensors[0])
        case .ggml, .stacked: siluAndMul(linear(x, gateUp, bias: nil))
        }
    }
}
