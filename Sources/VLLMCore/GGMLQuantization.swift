/// The tensor types of ggml (the element types of GGUF files): plain floats and the block formats
/// of llama.cpp's quantizations. A row of a block-quantized tensor is a sequence of blocks, each
/// holding `blockSize` values in `blockBytes` bytes; rows are independent, so rows can be sliced
/// and reordered as whole byte ranges.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case bf16 = 30

    /// The name llama.cpp uses ("Q4_K").
    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        }
    }

    /// The name of a ggml type id, also for the types this project does not decode (for errors).
    public static func name(of raw: UInt32) -> String {
        if let known = GGMLType(rawValue: raw) { return known.description }
        let others: [UInt32: String] = [
            9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
            20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
            29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
        ]
        return others[raw].map { "\($0) (type \(raw))" } ?? "unknown type \(raw)"
    }

    /// Values per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: 32
        case .q4_K, .q5_K, .q6_K: 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q8_0: 34
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        }
    }

    /// Bytes a block takes in the CUDA kernels' copy of a weight (`kernelRows`): Q6_K's 210 padded
    /// to 224, so that every block starts 16-byte aligned and the kernels read it with 16-byte loads
    /// (the file's blocks allow 2-byte loads only; 6.7% more memory); the others as stored.
    public var kernelBlockBytes: Int { self == .q6_K ? 224 : blockBytes }

    /// The plain float type this type is, or nil for a block format.
    public var floatDType: DType? {
        switch self {
        case .f32: .float32
        case .f16: .float16
        case .bf16: .bfloat16
        default: nil
        }
    }

    /// Bytes of a row of `count` values (`count` a multiple of `blockSize`).
    public func rowBytes(_ count: Int) -> Int { count / blockSize * blockBytes }

    /// `rows` (`uint8 [n, rowBytes]` rows of blocks of this type) with each block padded to
    /// `kernelBlockBytes` with zeros, or `rows` itself where the type needs no padding.
    public func kernelRows(_ rows: HostTensor) -> HostTensor {
        guard kernelBlockBytes != blockBytes else { return rows }
        let blocks = rows.count / blockBytes
        let buffer = OwnedBuffer(byteCount: blocks * kernelBlockBytes)
        buffer.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: blocks * kernelBlockBytes)
        for block in 0..<blocks {
            (buffer.pointer + block * kernelBlockBytes).copyMemory(from: rows.bytes + block * blockBytes, byteCount: blockBytes)
        }
        let shape = [rows.shape[0], rows.shape[1] / blockBytes * kernelBlockBytes]
        return HostTensor(dtype: .uint8, shape: shape, bytes: UnsafeRawPointer(buffer.pointer), owner: buffer)
    }

    /// Decodes the `count` values (a multiple of `blockSize`) that start at `source` into
    /// `destination`, exactly as ggml's reference dequantization does.
    @inlinable
    public func dequantize(_ source: UnsafeRawPointer, count: Int, to destination: UnsafeMutablePointer<Float>) {
        var (block, out) = (source, destination)
        for _ in 0..<(count / blockSize) {
            decodeBlock(block, to: out)
            block += blockBytes
            out += blockSize
        }
    }

    /// Decodes one block (`blockSize` values).
    @inlinable @inline(__always)
    public func decodeBlock(_ block: UnsafeRawPointer, to out: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32: out[0] = block.loadUnaligned(as: Float.self)
        case .f16: out[0] = FloatBits.float16ToFloat(block.loadUnaligned(as: UInt16.self))
        case .bf16: out[0] = FloatBits.bfloat16ToFloat(block.loadUnaligned(as: UInt16.self))
        case .q4_0: GGMLBlocks.q4(block, out, hasMin: false)
        case .q4_1: GGMLBlocks.q4(block, out, hasMin: true)
        case .q5_0: GGMLBlocks.q5(block, out, hasMin: false)
        case .q5_1: GGMLBlocks.q5(block, out, hasMin: true)
        case .q8_0: GGMLBlocks.q8_0(block, out)
        case .q4_K: GGMLBlocks.q4_K(block, out)
        case .q5_K: GGMLBlocks.q5_K(block, out)
        case .q6_K: GGMLBlocks.q6_K(block, out)
        }
    }
}

extension GGMLType {
    /// The block sizes as C definitions, for the CUDA kernels (`Kernels/ggml_blocks.cuh` is this
    /// text; `KernelManifestTests` checks it), so that the CPU and the GPU read one definition:
    /// each type's id, values per block, bytes per block, and bytes per block in the kernels' copy.
    public static var kernelHeader: String {
        var lines = [
            "// The ggml block formats as GGMLType defines them (Sources/VLLMCore/GGMLQuantization.swift): each",
            "// type's id, values per block, bytes per block, and bytes per block in the kernels' copy (kernelRows).",
            "// Written by GGMLType.kernelHeader; KernelManifestTests fails when this file is not that text, so the",
            "// CPU and the kernels read one definition.",
            "#ifndef VLLM_GGML_BLOCKS", "#define VLLM_GGML_BLOCKS",
        ]
        for type in allCases {
            lines += [
                "#define GGML_TYPE_\(type) \(type.rawValue)", "#define GGML_\(type)_VALUES \(type.blockSize)",
                "#define GGML_\(type)_BYTES \(type.blockBytes)", "#define GGML_\(type)_KERNEL_BYTES \(type.kernelBlockBytes)",
            ]
        }
        return (lines + ["#endif  // VLLM_GGML_BLOCKS", ""]).joined(separator: "\n")
    }

    /// The ggml float type of a dense tensor's dtype (a float tensor of a GGUF file), nil for others.
    public init?(floatDType dtype: DType) {
        switch dtype {
        case .float32: self = .f32
        case .float16: self = .f16
        case .bfloat16: self = .bf16
        case .uint8, .float8E4M3, .int32, .int64: return nil
        }
    }
}

/// The parts of one fused GGUF weight (q, k, v; gate, up) as rows of ggml blocks, grouped as a
/// backend keeps them: one group for each run of adjacent parts of one type (`WeightFormat.stacked`
/// where there are several), so that each product runs in one type.
public struct GGMLParts {
    /// The format of the fused weight: `.ggml(type)` for one group, `.stacked` of each group's otherwise.
    public let format: WeightFormat
    /// Each group's type and tensors: `uint8 [rows, rowBytes]` rows of blocks (float parts as their
    /// bytes), for the backend to stack along the rows.
    public let groups: [(type: GGMLType, tensors: [HostTensor])]

    /// Groups `parts`; a dense part beside quantized ones (a float tensor of a GGUF file) is its
    /// ggml float type. Other formats cannot be fused with GGUF blocks.
    public init(_ parts: [HostLinearWeight], backend: String) throws {
        let typed = try parts.map { part -> (GGMLType, HostTensor) in
            let type: GGMLType
            switch part.format {
            case .ggml(let stored): type = stored
            case .dense:
                guard let float = GGMLType(floatDType: part.tensors[0].dtype) else {
                    throw ModelLoadError.unsupportedWeightFormat(format: part.format, backend: backend + " (fused with GGUF blocks)")
                }
                type = float
            case .stacked, .packedInt, .fp8, .lookupTable:
                throw ModelLoadError.unsupportedWeightFormat(format: part.format, backend: backend + " (fused with GGUF blocks)")
            }
            let tensor = part.tensors[0]
            let rows = HostTensor(
                dtype: .uint8, shape: [part.outFeatures, type.rowBytes(part.inFeatures)], bytes: tensor.bytes, owner: tensor.owner)
            return (type, rows)
        }
        // Adjacent parts of one type share a group: one product instead of one a part (Q4_K_M's q
        // and k beside a Q6_K v), the output columns still in the parts' order.
        var merged: [(type: GGMLType, tensors: [HostTensor])] = []
        for (type, rows) in typed {
            if merged.last?.type == type { merged[merged.count - 1].tensors.append(rows) } else { merged.append((type, [rows])) }
        }
        groups = merged
        format = merged.count == 1 ? .ggml(merged[0].type) : .stacked(merged.map { .ggml($0.type) })
    }

    /// Whether any of `parts` is GGUF blocks.
    public static func contains(_ parts: [HostLinearWeight]) -> Bool {
        parts.contains { if case .ggml = $0.format { true } else { false } }
    }
}

/// The decoders of ggml's block formats, one block each. Products and sums are in the order of
/// ggml's reference code (`dequantize_row_*`), each rounded to float32 on its own (no fused
/// multiply-add), so that the values are bit-identical to it. They are `@inlinable` so that the
/// CPU kernels, compiled with optimisation, inline them into their loops.
public enum GGMLBlocks {
    /// The float16 at byte `offset` of `p`, as float32 (exact; one `vcvtph2ps` where the
    /// standard library has `Float16`).
    @inlinable @inline(__always)
    public static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        let bits = p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        #if os(macOS) && arch(x86_64)
            return FloatBits.float16ToFloat(bits)
        #else
            return Float(Float16(bitPattern: bits))
        #endif
    }

    // The conversions below are written lane by lane, which the optimiser turns into one vector
    // instruction each: the standard library's generic `SIMD8<Int32>(truncatingIfNeeded:)` and
    // `SIMD8<Float>(_:)` stay out-of-line calls in release builds (a call, a `vzeroupper` and the
    // vector split in two per eight values: 8% of a SmolLM2 decode step, 1% of a Qwen2.5 prompt).

    /// Eight bytes widened to 32-bit lanes (`vpmovzxbd`).
    @inlinable @inline(__always)
    public static func widened(_ p: UnsafeRawPointer) -> SIMD8<Int32> {
        let b = p.loadUnaligned(as: SIMD8<UInt8>.self)
        return SIMD8(Int32(b[0]), Int32(b[1]), Int32(b[2]), Int32(b[3]), Int32(b[4]), Int32(b[5]), Int32(b[6]), Int32(b[7]))
    }

    /// Eight signed bytes widened to 32-bit lanes (`vpmovsxbd`).
    @inlinable @inline(__always)
    public static func widenedSigned(_ p: UnsafeRawPointer) -> SIMD8<Int32> {
        let b = p.loadUnaligned(as: SIMD8<Int8>.self)
        return SIMD8(Int32(b[0]), Int32(b[1]), Int32(b[2]), Int32(b[3]), Int32(b[4]), Int32(b[5]), Int32(b[6]), Int32(b[7]))
    }

    /// Small integers as floats (`vcvtdq2ps`, exact).
    @inlinable @inline(__always)
    public static func float(_ v: SIMD8<Int32>) -> SIMD8<Float> {
        SIMD8(Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3]), Float(v[4]), Float(v[5]), Float(v[6]), Float(v[7]))
    }

    /// Sixteen bytes widened to 32-bit lanes.
    @inlinable @inline(__always)
    static func widened16(_ p: UnsafeRawPointer) -> SIMD16<Int32> { SIMD16(lowHalf: widened(p), highHalf: widened(p + 8)) }

    /// Sixteen small integers as floats.
    @inlinable @inline(__always)
    static func float(_ v: SIMD16<Int32>) -> SIMD16<Float> { SIMD16(lowHalf: float(v.lowHalf), highHalf: float(v.highHalf)) }

    /// The low and high nibbles of 16 bytes, widened.
    @inlinable @inline(__always)
    static func nibbles(_ p: UnsafeRawPointer) -> (low: SIMD16<Int32>, high: SIMD16<Int32>) {
        let bytes = widened16(p)
        return (bytes & 0xF, bytes &>> 4)
    }

    @inlinable @inline(__always)
    static func store(_ values: SIMD16<Float>, _ out: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(out).storeBytes(of: values, as: SIMD16<Float>.self)
    }

    /// Q4_0 (`d`, 16 bytes of nibbles: `(q - 8) * d`) and Q4_1 (`d`, `m`, nibbles: `q * d + m`).
    /// Values 0..15 are the low nibbles, 16..31 the high ones.
    @inlinable @inline(__always)
    static func q4(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, hasMin: Bool) {
        let d = half(block, 0)
        let (low, high) = nibbles(block + (hasMin ? 4 : 2))
        if hasMin {
            let m = half(block, 2)
            store(float(low) * d + m, out)
            store(float(high) * d + m, out + 16)
        } else {
            store(float(low &- 8) * d, out)
            store(float(high &- 8) * d, out + 16)
        }
    }

    /// Q5_0 (`d`, 32 high bits, nibbles: `(q - 16) * d`) and Q5_1 (`d`, `m`, high bits, nibbles:
    /// `q * d + m`). Bit j of the high bits is the fifth bit of value j.
    @inlinable @inline(__always)
    static func q5(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, hasMin: Bool) {
        let d = half(block, 0)
        let at = hasMin ? 4 : 2
        let highBits = Int32(bitPattern: block.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        let (low, high) = nibbles(block + at + 4)
        let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let fifthLow = ((SIMD16(repeating: highBits) &>> lanes) & 1) &<< 4
        let fifthHigh = ((SIMD16(repeating: highBits) &>> (lanes &+ 16)) & 1) &<< 4
        if hasMin {
            let m = half(block, 2)
            store(float(low | fifthLow) * d + m, out)
            store(float(high | fifthHigh) * d + m, out + 16)
        } else {
            store(float((low | fifthLow) &- 16) * d, out)
            store(float((high | fifthHigh) &- 16) * d, out + 16)
        }
    }

    /// Q8_0: `d`, then 32 signed bytes: `q * d`.
    @inlinable @inline(__always)
    static func q8_0(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        for i in stride(from: 0, to: 32, by: 16) {
            let q = SIMD16(lowHalf: widenedSigned(block + 2 + i), highHalf: widenedSigned(block + 10 + i))
            store(float(q) * d, out + i)
        }
    }

    /// The 6-bit scale and minimum of sub-block `j` (0..<8) of a Q4_K or Q5_K block, packed in 12 bytes.
    @inlinable @inline(__always)
    public static func scaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (Float, Float) {
        let q = scales.assumingMemoryBound(to: UInt8.self)
        if j < 4 { return (Float(q[j] & 63), Float(q[j + 4] & 63)) }
        let scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)
        let minimum = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
        return (Float(scale), Float(minimum))
    }

    /// Q4_K: `d`, `dmin`, 12 bytes of 6-bit scales and minima for 8 sub-blocks of 32, 128 bytes of
    /// nibbles; each 32 bytes hold two sub-blocks (low nibbles, then high): `(d·sc) q - (dmin·m)`.
    @inlinable @inline(__always)
    static func q4_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0), dmin = half(block, 2)
        for pair in 0..<4 {
            let (sc1, m1) = scaleMin(block + 4, 2 * pair), (sc2, m2) = scaleMin(block + 4, 2 * pair + 1)
            let (d1, min1, d2, min2) = (d * sc1, dmin * m1, d * sc2, dmin * m2)
            for half in 0..<2 {
                let (low, high) = nibbles(block + 16 + 32 * pair + 16 * half)
                let o = out + 64 * pair + 16 * half
                store(float(low) * d1 - min1, o)
                store(float(high) * d2 - min2, o + 32)
            }
        }
    }

    /// Q5_K: as Q4_K, with 32 bytes of fifth bits before the nibbles; sub-block j takes bit j of each.
    @inlinable @inline(__always)
    static func q5_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0), dmin = half(block, 2)
        let fifth = block + 16
        for pair in 0..<4 {
            let (sc1, m1) = scaleMin(block + 4, 2 * pair), (sc2, m2) = scaleMin(block + 4, 2 * pair + 1)
            let (d1, min1, d2, min2) = (d * sc1, dmin * m1, d * sc2, dmin * m2)
            for half in 0..<2 {
                let (low, high) = nibbles(block + 48 + 32 * pair + 16 * half)
                let bits = widened16(fifth + 16 * half)
                let o = out + 64 * pair + 16 * half
                store(float(low | (((bits &>> Int32(2 * pair)) & 1) &<< 4)) * d1 - min1, o)
                store(float(high | (((bits &>> Int32(2 * pair + 1)) & 1) &<< 4)) * d2 - min2, o + 32)
            }
        }
    }

    /// Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 signed 8-bit scales (one
    /// per 16 values), then `d`: `(d·sc) (q - 32)`. Each half of 128 values takes 64 low bytes and 32 high.
    @inlinable @inline(__always)
    static func q6_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 208)
        let scales = (block + 192).assumingMemoryBound(to: Int8.self)
        for part in 0..<2 {
            let ql = block + 64 * part, qh = block + 128 + 32 * part
            for l in stride(from: 0, to: 32, by: 16) {
                let (a, b) = nibbles(ql + l)
                let (c, e) = nibbles(ql + 32 + l)
                let h = widened16(qh + l)
                let o = out + 128 * part + l
                let s = scales + 8 * part + l / 16
                store(float((a | ((h & 3) &<< 4)) &- 32) * (d * Float(s[0])), o)
                store(float((c | (((h &>> 2) & 3) &<< 4)) &- 32) * (d * Float(s[2])), o + 32)
                store(float((b | (((h &>> 4) & 3) &<< 4)) &- 32) * (d * Float(s[4])), o + 64)
                store(float((e | (((h &>> 6) & 3) &<< 4)) &- 32) * (d * Float(s[6])), o + 96)
            }
        }
    }
}
