import VLLMCore

/// The functions of `Kernels/quantized.cu` and `Kernels/ggml.cu` for one activation dtype.
struct QuantizedLinearKernels {
    /// Packed-integer matrix-vector products, by bits (4, 8), then by token count (1 to 4).
    let gemvInt: [Int: [Int: CUhandle]]
    /// FP8 matrix-vector products, by token count (1 to 4).
    let gemvFP8: [Int: CUhandle]
    /// SqueezeLLM lookup-table products, by token count (1 to 4), and their dequantization (nil in
    /// a module from before them).
    let gemvLUT: [Int: CUhandle]
    let dequantizeLUT: CUhandle?
    let dequantizeInt, dequantizeFP8, permuteColumns: CUhandle
    /// Per-token FP8 quantization of activations and the scaling of a product of codes (W8A8).
    let quantizeRowsFP8, scaleProduct: CUhandle?
    /// GGUF block products, by ggml type, then by token count (1 to 4); the dequantization by type.
    let gemvGGML: [GGMLType: [Int: CUhandle]]
    let dequantizeGGML: [GGMLType: CUhandle]
    /// GGUF block products with 8-bit activations (`--quantized-activations int8`), by ggml type, then by
    /// token count; the activations' quantization.
    let gemvGGMLInt8: [GGMLType: [Int: CUhandle]]
    let quantizeGGMLInt8: CUhandle?
    /// 4-bit packed-integer products with 8-bit activations (`--quantized-activations int8`), by
    /// token count (1 to 4).
    let gemvInt4Int8: [Int: CUhandle]

    /// Nil when the module lacks any of them (an older kernel source given by `VLLM_CUDA_KERNEL_SOURCE`).
    init?(_ functions: [Kernel: [(values: [KernelParameter: Int], function: CUhandle)]]) {
        guard let dequantizeInt = functions[.dequantizeInt]?.first?.function,
            let dequantizeFP8 = functions[.dequantizeFP8]?.first?.function,
            let permuteColumns = functions[.permuteColumns]?.first?.function
        else { return nil }
        (self.dequantizeInt, self.dequantizeFP8, self.permuteColumns) = (dequantizeInt, dequantizeFP8, permuteColumns)
        quantizeRowsFP8 = functions[.quantizeRowsFP8]?.first?.function
        scaleProduct = functions[.scaleProduct]?.first?.function
        var ints: [Int: [Int: CUhandle]] = [:]
        for instance in functions[.gemvInt] ?? [] {
            ints[instance.values[.bits] ?? 0, default: [:]][instance.values[.tokens] ?? 0] = instance.function
        }
        gemvInt = ints
        func byTypeAndTokens(_ kernel: Kernel) -> [GGMLType: [Int: CUhandle]] {
            var table: [GGMLType: [Int: CUhandle]] = [:]
            for instance in functions[kernel] ?? [] {
                guard let type = instance.values[.ggmlType].flatMap({ GGMLType(rawValue: UInt32($0)) }) else { continue }
                table[type, default: [:]][instance.values[.tokens] ?? 0] = instance.function
            }
            return table
        }
        gemvGGML = byTypeAndTokens(.gemvGGML)
        gemvGGMLInt8 = byTypeAndTokens(.gemvGGMLInt8)
        quantizeGGMLInt8 = functions[.quantizeGGMLInt8]?.first?.function
        dequantizeGGML = byTypeAndTokens(.dequantizeGGML).compactMapValues { $0.values.first }
        func byTokens(_ kernel: Kernel) -> [Int: CUhandle] {
            Dictionary((functions[kernel] ?? []).map { ($0.values[.tokens] ?? 0, $0.function) }, uniquingKeysWith: { a, _ in a })
        }
        gemvFP8 = byTokens(.gemvFP8)
        gemvLUT = byTokens(.gemvLUT)
        gemvInt4Int8 = byTokens(.gemvInt4Int8)
        dequantizeLUT = functions[.dequantizeLUT]?.first?.function
    }
}

/// Most rows of a grid (gridDim.y); the dequantization kernels loop over more (a 128k-row LM head).
private let maxGridRows = 65535

// Linear layers whose weights stay quantized in device memory (WeightFormat.packedInt with 4 or 8
// bits, .fp8, 4-bit .lookupTable, and GGUF blocks: .ggml and .stacked). Decode steps (1 to 4 tokens) dequantize in
// registers inside matrix-vector kernels, reading the stored bytes once; larger products
// dequantize the weight into a scratch matrix of the compute dtype and run cuBLASLt over it, so
// that prefill keeps the tensor cores.
//
// The parts of a fused weight (q, k, v; gate, up) are stacked into one set of tensors, except
// act-order parts (each keeps its own input order, and so its own tensors) and GGUF parts of
// different types (each its own tensor, `GGMLParts`).
extension CUDABackend {
    /// Dense parts are stacked as `weight` does; packed 4- or 8-bit integer, FP8 and 4-bit lookup-table parts stay in their format in
    /// device memory. Throws
    /// `ModelLoadError.unsupportedWeightFormat` for any other format, mixed formats or a kernel module without the quantized kernels.
    public func linearWeight(_ parts: [HostLinearWeight]) throws -> LinearWeight<CUDATensor> {
        let (outFeatures, inFeatures) = (parts.reduce(0) { $0 + $1.outFeatures }, parts[0].inFeatures)
        if parts.allSatisfy({ $0.format == .dense }) {
            return LinearWeight(
                format: .dense, outFeatures: outFeatures, inFeatures: inFeatures, tensors: [try weight(parts.map { $0.tensors[0] })])
        }
        if GGMLParts.contains(parts) {
            try requireKernels([.ggml])
            return try ggmlWeight(parts, outFeatures: outFeatures, inFeatures: inFeatures)
        }
        try requireKernels([.quantized])
        let format = parts[0].format
        guard kernels.quantized != nil, parts.allSatisfy({ $0.format == format }) else {
            throw ModelLoadError.unsupportedWeightFormat(format: parts.first { $0.format != .dense }!.format, backend: name)
        }
        let tensors: [CUDATensor]
        switch format {
        case .packedInt(let bits, _, let permuted) where bits == 4 || bits == 8:
            tensors =
                permuted
                ? try parts.flatMap { part in try part.tensors.map { try storedWeight([$0]) } }
                : try (0..<3).map { i in try storedWeight(parts.map { $0.tensors[i] }) }
        case .fp8:
            tensors = try (0..<2).map { i in try storedWeight(parts.map { $0.tensors[i] }) }
        case .lookupTable(let bits) where bits == 4 && kernels.quantized?.dequantizeLUT != nil:
            tensors = try (0..<2).map { i in try storedWeight(parts.map { $0.tensors[i] }) }
        default:
            throw ModelLoadError.unsupportedWeightFormat(format: format, backend: name)
        }
        try reserveDequantizedScratch(outFeatures * inFeatures * computeDType.byteSize)
        return LinearWeight(format: format, outFeatures: outFeatures, inFeatures: inFeatures, tensors: tensors)
    }

    /// Dense weights go to the dense `linear`; quantized ones to matrix-vector kernels for 1 to 4 tokens, or to a dequantized scratch
    /// matrix and cuBLASLt for more; then the bias.
    public func linear(_ x: CUDATensor, _ weight: LinearWeight<CUDATensor>, bias: CUDATensor?) -> CUDATensor {
        guard weight.format != .dense else { return linear(x, weight: weight.tensors[0], bias: bias) }
        let (t, k, n) = (x.rows, x.columns, weight.outFeatures)
        precondition(k == weight.inFeatures, "linear: input has \(k) columns, weight \(n)x\(weight.inFeatures)")
        checkLive(x)
        let out = allocate([t, n])
        guard t > 0 else { return out }
        let stored = parts(of: weight)
        if useGEMV, let vectors = vectorKernels(stored, tokens: t, inFeatures: k) {
            multiplyVectors(x, stored, vectors: vectors, out: out)
        } else if multiplyFP8(x, weight, bias: bias, out: out) {
            return out
        } else {
            dequantize(stored, inFeatures: k, into: dequantizedScratch.pointer)
            matrixProduct(x, w: dequantizedScratch.pointer, out: out, n: n, k: k, label: "cublaslt \(n)x\(k) (dequantized)")
        }
        addBias(bias, to: out)
        return out
    }

    /// The fused dense `swiGLU`, or `linear`, then `siluAndMul` for a quantized weight.
    public func swiGLU(_ x: CUDATensor, gateUp: LinearWeight<CUDATensor>) -> CUDATensor {
        gateUp.format == .dense ? swiGLU(x, gateUp: gateUp.tensors[0]) : siluAndMul(linear(x, gateUp, bias: nil))
    }

    /// FP8 weights with one scale per output row, many tokens: the tokens quantized to FP8 per row
    /// and the codes multiplied on the tensor cores (W8A8, as vLLM runs FP8 checkpoints on Hopper).
    /// False, with nothing done, where that path does not apply: other layouts, 16-bit float
    /// compute (the product of codes could overflow it), GPUs before Ada, or no cuBLASLt algorithm.
    private func multiplyFP8(_ x: CUDATensor, _ weight: LinearWeight<CUDATensor>, bias: CUDATensor?, out: CUDATensor) -> Bool {
        let (t, k, n) = (x.rows, x.columns, weight.outFeatures)
        guard useFP8Products, case .fp8(let blockColumns) = weight.format, blockColumns >= k, computeDType == .bfloat16,
            computeCapability.major * 10 + computeCapability.minor >= 89, k % 16 == 0, n % 16 == 0,
            let quantized = kernels.quantized, let quantize = quantized.quantizeRowsFP8, let scale = quantized.scaleProduct
        else { return false }
        let codes = allocate([t, (k + 1) / 2])  // t·k bytes in 16-bit elements
        let scales = allocate([2 * t])  // t floats
        launch(
            quantize, "quantize_rows_fp8 \(t)x\(k)", grid: (t, 1), block: 256,
            [.pointer(codes.pointer), .pointer(scales.pointer), .pointer(x.pointer), .int32(Int32(k))])
        var product = CUBLASLt.FP8Product.unsupported
        profiled("cublaslt fp8 \(n)x\(k)") {
            product = blas.linearFP8(
                x: codes.pointer, w: weight.tensors[0].pointer, y: out.pointer, xScales: scales.pointer,
                wScales: weight.tensors[1].pointer, tokens: t, outFeatures: n, inFeatures: k, stream: stream)
        }
        switch product {
        case .unsupported:
            return false
        case .scaled:
            addBias(bias, to: out)
        case .unscaled:
            launch(
                scale, "scale_product \(t)x\(n)", grid: (gridFor(t * n), 1), block: 256,
                [
                    .pointer(out.pointer), .pointer(scales.pointer), .pointer(weight.tensors[1].pointer), .pointer(bias?.pointer ?? 0),
                    .int32(Int32(t)), .int32(Int32(n)),
                ])
        }
        return true
    }

    /// The stored parts of a weight, each multiplied (or dequantized) by one launch into its rows.
    private func parts(of weight: LinearWeight<CUDATensor>) -> [StoredPart] {
        switch weight.format {
        case .packedInt(_, _, let permuted):
            let size = permuted ? 4 : 3
            return stride(from: 0, to: weight.tensors.count, by: size).map {
                StoredPart(format: weight.format, tensors: Array(weight.tensors[$0..<($0 + size)]))
            }
        case .fp8, .lookupTable:
            return stride(from: 0, to: weight.tensors.count, by: 2).map {
                StoredPart(format: weight.format, tensors: Array(weight.tensors[$0..<($0 + 2)]))
            }
        case .ggml:
            return [StoredPart(format: weight.format, tensors: weight.tensors)]
        case .stacked(let formats):
            return zip(formats, weight.tensors).map { StoredPart(format: $0, tensors: [$1]) }
        case .dense:
            preconditionFailure("\(weight.format) has no quantized parts on CUDA")
        }
    }

    /// The matrix-vector kernel of every part for `tokens` rows, or nil when one part's layout
    /// does not suit it (then the whole product takes the dequantized path).
    private func vectorKernels(_ parts: [StoredPart], tokens: Int, inFeatures k: Int) -> [CUhandle]? {
        let kernels = parts.compactMap { vectorKernel($0.format, tokens: tokens, inFeatures: $0.storedColumns(inFeatures: k)) }
        return kernels.count == parts.count ? kernels : nil
    }

    /// The matrix-vector kernel for `tokens` rows, when the layout suits it: every 16-byte chunk
    /// of a row must fall inside one scale group (GGUF rows are whole blocks, checked at load).
    private func vectorKernel(_ format: WeightFormat, tokens: Int, inFeatures k: Int) -> CUhandle? {
        guard let quantized = kernels.quantized else { return nil }
        switch format {
        case .packedInt(let bits, let groupSize, let permuted):
            let perChunk = 128 / bits
            guard k % perChunk == 0, groupSize % perChunk == 0 else { return nil }
            return int8Kernel(bits: bits, groupSize: groupSize, permuted: permuted, inFeatures: k, tokens: tokens)
                ?? quantized.gemvInt[bits]?[tokens]
        case .fp8(let blockColumns):
            guard k % 16 == 0, blockColumns % 16 == 0 || blockColumns >= k else { return nil }
            return quantized.gemvFP8[tokens]
        case .lookupTable:
            guard k % 32 == 0 else { return nil }
            return quantized.gemvLUT[tokens]
        case .ggml(let type):
            return int8Kernel(type, tokens: tokens) ?? quantized.gemvGGML[type]?[tokens]
        default:
            return nil
        }
    }

    /// The 8-bit-activation kernel of a GGUF type for `tokens` rows, where `--quantized-activations int8`
    /// asks for it and the module has it (not for the float types).
    private func int8Kernel(_ type: GGMLType, tokens: Int) -> CUhandle? {
        guard quantizedActivations.multipliesInt8(gguf: true), let quantized = kernels.quantized, quantized.quantizeGGMLInt8 != nil else {
            return nil
        }
        return quantized.gemvGGMLInt8[type]?[tokens]
    }

    /// The 8-bit-activation kernel of packed integers for `tokens` rows, where `--quantized-activations
    /// int8` asks for it: 4-bit values in groups of a multiple of 32 (a chunk of 32 values keeps one
    /// scale), in input order (act-order parts would need their own quantized activations).
    private func int8Kernel(bits: Int, groupSize: Int, permuted: Bool, inFeatures k: Int, tokens: Int) -> CUhandle? {
        guard quantizedActivations.multipliesInt8(gguf: false), bits == 4, !permuted, groupSize % 32 == 0, k % 32 == 0,
            let quantized = kernels.quantized, quantized.quantizeGGMLInt8 != nil
        else { return nil }
        return quantized.gemvInt4Int8[tokens]
    }

    /// `x` in the 8-bit-activation kernels' form: the one the kernel that made x left
    /// (`prequantized`), else `quantize(x)`.
    private func quantizedActivations(_ x: CUDATensor) -> (codes: CUDATensor, scales: CUDATensor) {
        guard let made = prequantized[QuantizedOutputKey(x)] else { return quantize(x) }
        checkLive(made.codes, made.scales)
        return made
    }

    /// `x` quantized by `quantize_ggml_int8`: the codes, `[t, k]` bytes, and per 16 values the pair
    /// (scale, scale · Σ codes).
    private func quantize(_ x: CUDATensor) -> (codes: CUDATensor, scales: CUDATensor) {
        let (t, k) = (x.rows, x.columns)
        let (codes, scales) = allocateInt8Activations(rows: t, columns: k)
        let blocks = t * k / 32
        launch(
            kernels.quantized!.quantizeGGMLInt8!, "quantize_ggml_int8 \(t)x\(k)", grid: ((blocks + 7) / 8, 1), block: 256,
            [.pointer(codes.pointer), .pointer(scales.pointer), .pointer(x.pointer), .int32(Int32(blocks))])
        return (codes, scales)
    }

    /// The bytes of `x`'s 8-bit form (the codes, then the per-16 pairs), copied to the host: the one
    /// the kernel that made x left, or with `fresh` one `quantize_ggml_int8` makes now (for
    /// `vllm-dev kernel-check`, which compares the two).
    public func int8ActivationBytes(_ x: CUDATensor, fresh: Bool) -> (codes: [UInt8], pairs: [UInt8]) {
        let form = fresh ? quantize(x) : quantizedActivations(x)
        return (
            hostBytes(form.codes.pointer, count: x.count, "int8 activations"),
            hostBytes(form.scales.pointer, count: x.count / 16 * 8, "int8 activations")
        )
    }

    /// Decode products: one launch per stored part, each filling its columns of `out`; blocks of 8
    /// warps, each warp taking 2 rows for one token and 1 for more (QGEMV_ROWS in common.cuh).
    private func multiplyVectors(_ x: CUDATensor, _ parts: [StoredPart], vectors: [CUhandle], out: CUDATensor) {
        let (t, k, n) = (x.rows, x.columns, out.columns)
        let rowsPerBlock = 8 * (t == 1 ? 2 : 1)
        // One quantization of x serves every part that takes 8-bit activations.
        let takesInt8 = parts.map { part -> Bool in
            switch part.format {
            case .ggml(let type): int8Kernel(type, tokens: t) != nil
            case .packedInt(let bits, let groupSize, let permuted):
                int8Kernel(bits: bits, groupSize: groupSize, permuted: permuted, inFeatures: k, tokens: t) != nil
            default: false
            }
        }
        let x8 = takesInt8.contains(true) ? quantizedActivations(x) : nil
        var column = 0
        for (index, (part, kernel)) in zip(parts, vectors).enumerated() {
            let rows = part.rows
            let y = out.pointer + UInt64(column * computeDType.byteSize)
            // The 8-bit GGUF kernels' grid has a warp for every row, whatever rows a warp takes
            // (GGML_INT8_ROWS in ggml.cu): the warps past the matrix return at once.
            var perBlock = rowsPerBlock
            if takesInt8[index], case .ggml = part.format { perBlock = 8 }
            let grid = ((rows + perBlock - 1) / perBlock, 1)
            var arguments: [KernelArgument]
            switch part.format {
            case .packedInt(let bits, let groupSize, let permuted):
                let stored = part.storedColumns(inFeatures: k)
                var input = x
                if permuted {
                    input = allocate([t, stored])
                    launch(
                        kernels.quantized!.permuteColumns, "permute_columns", grid: (gridFor(t * stored), 1), block: 256,
                        [
                            .pointer(input.pointer), .pointer(x.pointer), .pointer(part.tensors[3].pointer), .int32(Int32(t)),
                            .int32(Int32(k)), .int32(Int32(stored)),
                        ])
                }
                if takesInt8[index], let x8 {
                    arguments = [.pointer(y), .pointer(x8.codes.pointer), .pointer(x8.scales.pointer)]
                } else {
                    arguments = [.pointer(y), .pointer(input.pointer)]
                }
                arguments += part.tensors.prefix(3).map { .pointer($0.pointer) }
                arguments += [.int32(Int32(rows)), .int32(Int32(stored)), .int32(Int32(groupSize)), .int32(Int32(n))]
                launch(kernel, "gemv_int\(bits)\(takesInt8[index] ? "_int8" : "") \(rows)x\(stored)", grid: grid, block: 256, arguments)
            case .fp8(let blockColumns):
                arguments = [.pointer(y), .pointer(x.pointer)] + part.tensors.prefix(2).map { .pointer($0.pointer) }
                arguments += [.int32(Int32(rows)), .int32(Int32(k)), .int32(Int32(min(blockColumns, k))), .int32(Int32(n))]
                launch(kernel, "gemv_fp8 \(rows)x\(k)", grid: grid, block: 256, arguments)
            case .lookupTable:
                arguments = [.pointer(y), .pointer(x.pointer)] + part.tensors.map { .pointer($0.pointer) }
                arguments += [.int32(Int32(rows)), .int32(Int32(k)), .int32(Int32(n))]
                launch(kernel, "gemv_lut \(rows)x\(k)", grid: grid, block: 256, arguments)
            case .ggml(let type):
                if takesInt8[index], let x8 {
                    arguments = [.pointer(y), .pointer(x8.codes.pointer), .pointer(x8.scales.pointer), .pointer(part.tensors[0].pointer)]
                } else {
                    arguments = [.pointer(y), .pointer(x.pointer), .pointer(part.tensors[0].pointer)]
                }
                arguments += [.int32(Int32(rows)), .int32(Int32(k)), .int32(Int32(n))]
                launch(kernel, "gemv_ggml\(takesInt8[index] ? "_int8" : "") \(type) \(rows)x\(k)", grid: grid, block: 256, arguments)
            default:
                preconditionFailure("\(part.format) is not a quantized format")
            }
            column += rows
        }
    }

    /// The parts, one after another, as a `[rows, k]` matrix of the compute dtype at `destination`,
    /// in input order.
    private func dequantize(_ parts: [StoredPart], inFeatures k: Int, into destination: CUdeviceptr) {
        var row = 0
        for part in parts {
            dequantize(part, inFeatures: k, into: destination + UInt64(row * k * computeDType.byteSize))
            row += part.rows
        }
    }

    /// One stored part as a `[rows, k]` matrix of the compute dtype at `destination`, in input order.
    private func dequantize(_ part: StoredPart, inFeatures k: Int, into destination: CUdeviceptr) {
        let rows = part.rows
        switch part.format {
        case .packedInt(let bits, let groupSize, let permuted):
            let words = part.tensors[0].shape[1]
            // Rows over grid rows (the kernels loop past the grid's 65535); threads over the row's words.
            launch(
                kernels.quantized!.dequantizeInt, "dequantize_int\(bits) \(rows)x\(k)", grid: ((words + 255) / 256, min(rows, maxGridRows)),
                block: 256,
                [
                    .pointer(destination), .pointer(part.tensors[0].pointer), .pointer(part.tensors[1].pointer),
                    .pointer(part.tensors[2].pointer), .pointer(permuted ? part.tensors[3].pointer : 0),
                    .int32(Int32(rows)), .int32(Int32(k)), .int32(Int32(part.storedColumns(inFeatures: k))), .int32(Int32(groupSize)),
                    .int32(Int32(bits)),
                ])
        case .fp8(let blockColumns):
            launch(
                kernels.quantized!.dequantizeFP8, "dequantize_fp8 \(rows)x\(k)", grid: ((k + 255) / 256, min(rows, maxGridRows)),
                block: 256,
                [
                    .pointer(destination), .pointer(part.tensors[0].pointer), .pointer(part.tensors[1].pointer),
                    .int32(Int32(rows)), .int32(Int32(k)), .int32(Int32(min(blockColumns, k))),
                ])
        case .lookupTable:
            launch(
                kernels.quantized!.dequantizeLUT!, "dequantize_lut \(rows)x\(k)", grid: ((k / 8 + 255) / 256, min(rows, maxGridRows)),
                block: 256,
                [
                    .pointer(destination), .pointer(part.tensors[0].pointer), .pointer(part.tensors[1].pointer), .int32(Int32(rows)),
                    .int32(Int32(k)),
                ])
        case .ggml(let type):
            // Rows over grid rows as above; threads over the row's chunks (at most one per 32 values).
            launch(
                kernels.quantized!.dequantizeGGML[type]!, "dequantize_ggml \(type) \(rows)x\(k)",
                grid: ((k / 32 + 255) / 256, min(rows, maxGridRows)),
                block: 256, [.pointer(destination), .pointer(part.tensors[0].pointer), .int32(Int32(rows)), .int32(Int32(k))])
        default:
            preconditionFailure("\(part.format) is not a quantized format")
        }
    }

    /// The `[out, in]` matrix of a quantized weight in the compute dtype, as products of many
    /// tokens multiply it (for `vllm-dev kernel-check`, which compares it with the CPU's decoding).
    public func dequantizedMatrix(_ weight: LinearWeight<CUDATensor>) -> CUDATensor {
        let matrix = allocate([weight.outFeatures, weight.inFeatures])
        dequantize(parts(of: weight), inFeatures: weight.inFeatures, into: matrix.pointer)
        return matrix
    }
}

// GGUF blocks.
extension CUDABackend {
    /// GGUF parts uploaded as the file stores them, grouped by `GGMLParts`. Rows must be whole
    /// kernel blocks (the float types are read in blocks of 32 values).
    private func ggmlWeight(_ parts: [HostLinearWeight], outFeatures: Int, inFeatures: Int) throws -> LinearWeight<CUDATensor> {
        let grouped = try GGMLParts(parts, backend: name)
        for group in grouped.groups {
            guard let quantized = kernels.quantized, quantized.dequantizeGGML[group.type] != nil else {
                throw ModelLoadError.unsupportedWeightFormat(format: .ggml(group.type), backend: name + " (kernel module without ggml.cu)")
            }
            guard inFeatures % group.type.kernelBlockValues == 0 else {
                throw ModelLoadError.unsupportedWeightFormat(
                    format: .ggml(group.type),
                    backend: name + " (rows of \(inFeatures) values; its kernels take multiples of \(group.type.kernelBlockValues))")
            }
        }
        let tensors = try grouped.groups.map { group in try storedWeight(group.tensors.map(group.type.kernelRows)) }
        // Decode steps' kernels then leave their outputs' 8-bit form for these products.
        if !batchInvariant, quantizedActivations.multipliesInt8(gguf: true), hasPrequantizingKernels { prequantizes = true }
        try reserveDequantizedScratch(outFeatures * inFeatures * computeDType.byteSize)
        return LinearWeight(format: grouped.format, outFeatures: outFeatures, inFeatures: inFeatures, tensors: tensors)
    }
}

/// One stored part of a quantized weight: its format and tensors.
private struct StoredPart {
    let format: WeightFormat
    let tensors: [CUDATensor]

    /// Output rows: the scales' rows of packed and FP8 parts, the block rows of GGUF parts.
    var rows: Int {
        if case .ggml = format { return tensors[0].shape[0] }
        return tensors[1].shape[0]
    }

    /// Columns the packed values of a row hold: the `k` inputs, or more in a padded act-order shard.
    func storedColumns(inFeatures k: Int) -> Int {
        if case .packedInt(let bits, _, _) = format { return tensors[0].shape[1] * 32 / bits }
        return k
    }
}

extension GGMLType {
    /// Values of the blocks `Kernels/ggml.cu` reads: the type's block, or 32 for the float types.
    var kernelBlockValues: Int { floatDType == nil ? blockSize : 32 }
}
