import VLLMCore

// Linear layers whose weights stay quantized in memory on the CPU: GGUF blocks
// (`WeightFormat.ggml`, multiplied by `QuantizedMatMul`) and the packed-integer, FP8 and
// lookup-table layouts that GPTQ, AWQ, compressed-tensors, FP8 and SqueezeLLM checkpoints are
// repacked to (`PackedDecode` for 1 to 4 tokens, `PackedMatMul` for more; packed integers with
// `--quantized-activations int8` take `PackedInt8Decode` in every step).
extension CPUBackend {
    /// Dense parts are stacked as `weight` does; GGUF blocks and the packed-integer, FP8 and lookup-table formats are repacked for the CPU
    /// kernels. Throws `ModelLoadError.unsupportedWeightFormat` for parts that cannot be fused or a format without a kernel.
    public func linearWeight(_ parts: [HostLinearWeight]) throws -> LinearWeight<CPUTensor> {
        let outFeatures = parts.reduce(0) { $0 + $1.outFeatures }
        let inFeatures = parts[0].inFeatures
        guard parts.allSatisfy({ $0.inFeatures == inFeatures }) else {
            preconditionFailure("fused linear parts disagree on input features")
        }
        if parts.allSatisfy({ $0.format == .dense }) {
            return LinearWeight(
                format: .dense, outFeatures: outFeatures, inFeatures: inFeatures, tensors: [try weight(parts.map { $0.tensors[0] })])
        }
        if GGMLParts.contains(parts) {
            return try ggmlWeight(parts, outFeatures: outFeatures, inFeatures: inFeatures)
        }
        return try packedWeight(parts, outFeatures: outFeatures, inFeatures: inFeatures)
    }

    /// Dense weights go to the dense `linear`; quantized ones to the kernel of their format; then the bias.
    public func linear(_ x: CPUTensor, _ weight: LinearWeight<CPUTensor>, bias: CPUTensor?) -> CPUTensor {
        if weight.format == .dense { return linear(x, weight: weight.tensors[0], bias: bias) }
        let (T, K, N) = (x.rows, x.columns, weight.outFeatures)
        precondition(K == weight.inFeatures, "linear: input has \(K) columns, weight \(weight.outFeatures)×\(weight.inFeatures)")
        let out = CPUTensor(shape: [T, N])
        switch weight.format {
        case .dense: preconditionFailure("dense weights are multiplied above")
        case .ggml, .stacked: multiplyGGML(x, weight, out: out)
        case .packedInt, .fp8, .lookupTable: multiplyPacked(x, weight, out: out)
        }
        if let bias { Self.addBias(bias, to: out) }
        return out
    }

    /// The dense `swiGLU`, or `linear`, then `siluAndMul` for a quantized weight.
    public func swiGLU(_ x: CPUTensor, gateUp: LinearWeight<CPUTensor>) -> CPUTensor {
        gateUp.format == .dense ? swiGLU(x, gateUp: gateUp.tensors[0]) : siluAndMul(linear(x, gateUp, bias: nil))
    }
}

// GGUF blocks.
extension CPUBackend {
    /// GGUF parts as rows of blocks, grouped by `GGMLParts` (a dense part beside quantized ones
    /// is a ggml float type).
    private func ggmlWeight(_ parts: [HostLinearWeight], outFeatures: Int, inFeatures: Int) throws -> LinearWeight<CPUTensor> {
        let grouped = try GGMLParts(parts, backend: name)
        let tensors = grouped.groups.map { group in
            let rowBytes = group.type.rowBytes(inFeatures)
            let rows = group.tensors.reduce(0) { $0 + $1.shape[0] }
            let tensor = CPUTensor(shape: [rows, rowBytes], dtype: .uint8)
            var at = tensor.storage
            for part in group.tensors {
                at.copyMemory(from: part.bytes, byteCount: part.shape[0] * rowBytes)
                at += part.shape[0] * rowBytes
            }
            return tensor
        }
        return LinearWeight(format: grouped.format, outFeatures: outFeatures, inFeatures: inFeatures, tensors: tensors)
    }

    private func multiplyGGML(_ x: CPUTensor, _ weight: LinearWeight<CPUTensor>, out: CPUTensor) {
        let formats: [WeightFormat] = if case .stacked(let parts) = weight.format { parts } else { [weight.format] }
        var column = 0
        for (format, tensor) in zip(formats, weight.tensors) {
            guard case .ggml(let type) = format else { preconditionFailure("a stacked part in format \(format)") }
            QuantizedMatMul.multiply(
                x: x.floats, w: tensor.storage, type: type, out: out.floats + column, outStride: out.columns,
                T: x.rows, N: tensor.shape[0], K: x.columns, int8Activations: quantizedActivations.multipliesInt8(gguf: true),
                decodeKernels: !batchInvariant)
            column += tensor.shape[0]
        }
    }
}

// Packed integers and FP8: the parts of a fused weight keep their own tensors, one after
// another, and each part's product fills its columns of the output.
extension CPUBackend {
    private func packedWeight(_ parts: [HostLinearWeight], outFeatures: Int, inFeatures: Int) throws -> LinearWeight<CPUTensor> {
        let format = parts[0].format
        guard parts.allSatisfy({ $0.format == format }) else {
            throw ModelLoadError.unsupportedWeightFormat(
                format: parts.first { $0.format != format }!.format, backend: name + " (fused with \(format))")
        }
        let tensors = parts.flatMap { $0.tensors.map(Self.copy) }
        if case .packedInt(let bits, let groupSize, _) = format {
            for first in stride(from: 0, to: tensors.count, by: Self.tensorsPerPart(format)) {
                let (codes, scales, zeros) = (tensors[first], tensors[first + 1], tensors[first + 2])
                guard multipliesInt8(bits: bits, groupSize: groupSize, K: codes.columns * 32 / bits) else { continue }
                PackedInt8Decode.prepare(
                    codes: codes.storage, codeBytes: codes.count * 4, scales: scales.floats, zeros: zeros.floats,
                    groups: scales.count, bits: bits)
            }
        }
        return LinearWeight(format: format, outFeatures: outFeatures, inFeatures: inFeatures, tensors: tensors)
    }

    /// Whether packed integers of `bits` bits in groups of `groupSize` over `K` stored inputs meet
    /// 8-bit activations (`PackedInt8Decode`, in steps of every size) rather than float ones;
    /// their codes and zero points are rewritten for it at load (`PackedInt8Decode.prepare`).
    private func multipliesInt8(bits: Int, groupSize: Int, K: Int) -> Bool {
        quantizedActivations.multipliesInt8(gguf: false) && PackedInt8Decode.supports(bits: bits, groupSize: groupSize, K: K)
    }

    private func multiplyPacked(_ x: CPUTensor, _ weight: LinearWeight<CPUTensor>, out: CPUTensor) {
        // Packed integers in input order share one pass over all the parts (`PackedIntParts`);
        // act-order parts each gather the activations in their own order.
        if case .packedInt(let bits, let groupSize, permuted: false) = weight.format {
            let tensors = weight.tensors
            let starts = stride(from: 0, to: tensors.count, by: Self.tensorsPerPart(weight.format))
            let stacked = PackedIntParts(parts: starts.map { Self.packedIntPart(tensors, at: $0) })
            multiplyInt(x, stacked, bits: bits, groupSize: groupSize, out: out.floats, outStride: out.columns)
            return
        }
        var column = 0
        for part in packedParts(weight) {
            multiply(x, part, format: weight.format, out: out.floats + column, outStride: out.columns)
            column += part[1].rows
        }
    }

    /// The part whose `[packed, scales, zeros(, order)]` start at `tensors[first]`, as the kernels read it.
    private static func packedIntPart(_ tensors: [CPUTensor], at first: Int) -> PackedIntParts.Part {
        let (packed, scales, zeros) = (tensors[first], tensors[first + 1], tensors[first + 2])
        return PackedIntParts.Part(
            packed: UnsafePointer(packed.storage.assumingMemoryBound(to: UInt32.self)), scales: UnsafePointer(scales.floats),
            zeros: UnsafePointer(zeros.floats), rows: scales.rows)
    }

    /// The product of packed-integer parts in stored column order (`input`, whose columns may be
    /// more than the layer's inputs for a padded act-order shard) into columns of `out`: 8-bit
    /// activations in steps of every size where asked for (a token's sums do not depend on the
    /// step), the decode kernels for a few tokens, the dequantized tiles otherwise.
    private func multiplyInt(
        _ input: CPUTensor, _ parts: PackedIntParts, bits: Int, groupSize: Int, out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        let (T, stored) = (input.rows, input.columns)
        if multipliesInt8(bits: bits, groupSize: groupSize, K: stored) {
            PackedInt8Decode.multiply(
                x: input.floats, T: T, K: stored, parts: parts, bits: bits, groupSize: groupSize, out: out, outStride: outStride)
            return
        }
        if decodes(T) {
            PackedDecode.multiplyInt(
                x: input.floats, T: T, K: stored, parts: parts, bits: bits, groupSize: groupSize, out: out, outStride: outStride)
            return
        }
        var column = 0
        for part in parts.parts {
            PackedMatMul.multiply(x: input.floats, T: T, K: stored, N: part.rows, out: out + column, outStride: outStride) { n, row in
                PackedMatMul.dequantizePackedInt(
                    row: n, packed: part.packed, scales: part.scales, zeros: part.zeros, bits: bits, groupSize: groupSize, K: stored,
                    into: row)
            }
            column += part.rows
        }
    }

    /// The tensors of each fused part: `[packed, scales, zeros(, order)]`, `[codes, scales]` or `[packed, table]`.
    private func packedParts(_ weight: LinearWeight<CPUTensor>) -> [[CPUTensor]] {
        let size = Self.tensorsPerPart(weight.format)
        return stride(from: 0, to: weight.tensors.count, by: size).map { Array(weight.tensors[$0..<($0 + size)]) }
    }

    /// How many tensors each fused part of a weight in `format` holds (`packedParts`).
    private static func tensorsPerPart(_ format: WeightFormat) -> Int {
        switch format {
        case .packedInt(_, _, let permuted): permuted ? 4 : 3
        case .fp8, .lookupTable: 2
        case .dense, .ggml, .stacked: 1
        }
    }

    /// Whether a product of `T` tokens takes the decode kernels (`PackedDecode`): not in
    /// batch-invariant mode, where every step takes the dequantized tiles (`PackedMatMul`), whose
    /// sums for a token are the same whatever the step's size.
    private func decodes(_ T: Int) -> Bool { !batchInvariant && (1...PackedDecode.maxTokens).contains(T) }

    /// One part's product into columns of `out`.
    private func multiply(_ x: CPUTensor, _ tensors: [CPUTensor], format: WeightFormat, out: UnsafeMutablePointer<Float>, outStride: Int) {
        let (T, K, N) = (x.rows, x.columns, tensors[1].rows)
        switch format {
        case .packedInt(let bits, let groupSize, let permuted):
            // An act-order shard may store more columns than it has inputs (padding), so the
            // products run over the stored columns of the permuted activations.
            let input = permuted ? Self.permuteColumns(x, order: tensors[3]) : x
            let part = PackedIntParts(parts: [Self.packedIntPart(tensors, at: 0)])
            multiplyInt(input, part, bits: bits, groupSize: groupSize, out: out, outStride: outStride)
        case .fp8(let blockColumns):
            let codes = UnsafePointer(tensors[0].storage.assumingMemoryBound(to: UInt8.self))
            let scales = UnsafePointer(tensors[1].floats)
            if decodes(T) {
                PackedDecode.multiplyFP8(
                    x: x.floats, T: T, K: K, N: N, codes: codes, scales: scales, blockColumns: blockColumns, out: out,
                    outStride: outStride)
                return
            }
            FloatBits.float8E4M3Table.withUnsafeBufferPointer { table in
                PackedMatMul.multiply(x: x.floats, T: T, K: K, N: N, out: out, outStride: outStride) { n, row in
                    PackedMatMul.dequantizeFP8(
                        row: n, codes: codes, scales: scales, blockColumns: blockColumns, K: K, table: table.baseAddress!, into: row)
                }
            }
        case .lookupTable(let bits):
            precondition(bits == 4, "\(bits)-bit lookup tables are refused at load")
            let packed = UnsafePointer(tensors[0].storage.assumingMemoryBound(to: UInt32.self))
            let table = UnsafePointer(tensors[1].floats)
            if decodes(T) {
                PackedDecode.multiplyLookup(x: x.floats, T: T, K: K, N: N, packed: packed, table: table, out: out, outStride: outStride)
                return
            }
            PackedMatMul.multiplyLookup(x: x.floats, T: T, K: K, N: N, packed: packed, table: table, out: out, outStride: outStride)
        case .dense, .ggml, .stacked:
            preconditionFailure("\(format) parts are not packed")
        }
    }

    /// `x` with its columns in act-order: column `k` of the result is column `order[k]` of `x`, or
    /// 0 where `order[k]` is -1 (the padding of an act-order shard).
    private static func permuteColumns(_ x: CPUTensor, order: CPUTensor) -> CPUTensor {
        let (T, K, stored) = (x.rows, x.columns, order.count)
        let out = CPUTensor(shape: [T, stored])
        let indices = order.storage.assumingMemoryBound(to: Int32.self)
        for t in 0..<T {
            for k in 0..<stored {
                let source = Int(indices[k])
                out.floats[t * stored + k] = source < 0 ? 0 : x.floats[t * K + source]
            }
        }
        return out
    }

    /// A host tensor copied as it is stored (packed integers and FP8 codes keep their bits);
    /// floats become float32.
    private static func copy(_ host: HostTensor) -> CPUTensor {
        switch host.dtype {
        case .int32, .float8E4M3, .int64, .uint8:
            let tensor = CPUTensor(shape: host.shape, dtype: host.dtype)
            tensor.storage.copyMemory(from: host.bytes, byteCount: host.count * host.dtype.byteSize)
            return tensor
        case .float32, .float16, .bfloat16:
            let tensor = CPUTensor(shape: host.shape)
            host.convert(to: tensor.floats)
            return tensor
        }
    }
}
