import VLLMCPU
import VLLMCUDA
import VLLMCore
import VLLMTestSupport

/// The GGUF part of `vllm-dev kernel-check`: `linear` over rows of ggml blocks of every type
/// (`Kernels/ggml.cu`), fused parts of one type and of several, for decode sizes (the
/// matrix-vector kernels) and a prefill size (dequantized, then cuBLASLt), on the GPU and the CPU,
/// each against float64 products of the weights as the CPU decodes them (`GGMLType.dequantize`,
/// bit for bit the `gguf` package's). The GPU's dequantized matrix must equal the CPU's decoding
/// rounded to the compute dtype bit for bit; with `--quantized-activations int8`, the decode sizes
/// against float64 products with the 8-bit activations. Also the decode-shape bandwidth of Q4_K and
/// Q6_K on Llama-3.1-8B's matrices, with either activations.
struct GGMLLinearCheck {
    let gpu: CUDABackend
    let cpu: CPUBackend
    let round: (Float) -> Float
    var rng = SplitMixRandom(seed: 14)

    /// (name, relative error or count of differing values) of each case.
    mutating func run() throws -> [(String, Double)] {
        let k = 512
        var results: [(String, Double)] = []
        for type in GGMLType.allCases {
            // Two parts of odd row counts, as q and k fused.
            results += try check("\(type)", [randomBlocks(type, out: 201, inFeatures: k), randomBlocks(type, out: 135, inFeatures: k)])
        }
        // A Q4_K_M file's attention: q and k in Q4_K, v in Q6_K, each part in its own type.
        results += try check(
            "Q4_K+Q4_K+Q6_K",
            [
                randomBlocks(.q4_K, out: 97, inFeatures: k), randomBlocks(.q4_K, out: 33, inFeatures: k),
                randomBlocks(.q6_K, out: 33, inFeatures: k),
            ])
        // A float tensor of a GGUF file comes as a dense part beside blocks.
        let dense = HostLinearWeight.dense(
            HostTensor(shape: [65, k], dtype: .float16, bits: (0..<(65 * k)).map { _ in Float16(randomUnit() / 8).bitPattern }))
        results += try check("Q8_0+F16 dense", [randomBlocks(.q8_0, out: 63, inFeatures: k), dense])
        return results
    }

    /// The dequantized matrix's differing values, then each token count's relative errors.
    private mutating func check(_ name: String, _ parts: [HostLinearWeight]) throws -> [(String, Double)] {
        let k = parts[0].inFeatures
        let decoded = parts.flatMap(Self.decoded)
        let n = decoded.count / k
        let (g, c) = (try gpu.linearWeight(parts), try cpu.linearWeight(parts))
        let matrix = gpu.toHost(gpu.dequantizedMatrix(g))
        let differing = zip(matrix, decoded).filter { $0.bitPattern != round($1).bitPattern }.count
        var results = [("ggml \(name) dequantized \(n)x\(k): values differing from the CPU's", Double(differing))]
        let reference = decoded.map(Double.init)
        for tokens in [1, 3, 37] {
            let x = (0..<(tokens * k)).map { _ in round(randomUnit()) }
            let (xc, xg) = (try cpu.weight([HostTensor(shape: [tokens, k], values: x)]), try gpu.upload(x, shape: [tokens, k]))
            let expected = Float64Reference.linear(x.map(Double.init), weight: reference, bias: nil, inputs: k)
            let label = "ggml \(name) \(tokens)x\(k)x\(n)"
            results.append((label, Float64Reference.relativeError(gpu.toHost(gpu.linear(xg, g, bias: nil)), expected)))
            results.append((label + " cpu-vs-f64", Float64Reference.relativeError(cpu.linear(xc, c, bias: nil).toArray(), expected)))
        }
        let blockTypes = parts.allSatisfy { if case .ggml(let type) = $0.format { type.floatDType == nil } else { false } }
        if blockTypes { results += try checkInt8(name, parts, gpuWeight: g, reference: reference, n: n) }
        return results
    }

    /// `--quantized-activations int8`: the GPU's decode sizes and the CPU against float64 products with
    /// the activations as both quantize them (`int8Activations`), so only float32 rounding remains.
    /// `g` is the GPU's weight of `parts`, already uploaded (the mode is read when it multiplies).
    private mutating func checkInt8(
        _ name: String, _ parts: [HostLinearWeight], gpuWeight g: LinearWeight<CUDATensor>, reference: [Double], n: Int
    ) throws -> [(String, Double)] {
        let k = parts[0].inFeatures
        let cpu8 = CPUBackend(quantizedActivations: .int8)
        let c = try cpu8.linearWeight(parts)
        var results: [(String, Double)] = []
        gpu.quantizedActivations = .int8
        defer { gpu.quantizedActivations = .float32 }
        for tokens in [1, 3, 4] {
            let x = (0..<(tokens * k)).map { _ in round(randomUnit()) }
            let (xc, xg) = (try cpu8.weight([HostTensor(shape: [tokens, k], values: x)]), try gpu.upload(x, shape: [tokens, k]))
            let expected = Float64Reference.linear(Self.int8Activations(x), weight: reference, bias: nil, inputs: k)
            let label = "ggml int8 \(name) \(tokens)x\(k)x\(n)"
            results.append((label, Float64Reference.relativeError(gpu.toHost(gpu.linear(xg, g, bias: nil)), expected)))
            if cpu8.quantizedActivations == .int8 {
                results.append((label + " cpu-vs-f64", Float64Reference.relativeError(cpu8.linear(xc, c, bias: nil).toArray(), expected)))
            }
        }
        return results
    }

    /// The activations as the 8-bit kernels see them: per 32 values d = amax / 127 and
    /// q = round(x / d) (x · (127 / amax), to nearest even), dequantized as d · q.
    static func int8Activations(_ x: [Float]) -> [Double] {
        stride(from: 0, to: x.count, by: 32).flatMap { start -> [Double] in
            let block = x[start..<(start + 32)]
            let amax = block.map(abs).max()!
            let (d, inverse) = (amax / 127, amax > 0 ? 127 / amax : 0)
            return block.map { Double(d) * Double(($0 * inverse).rounded(.toNearestOrEven)) }
        }
    }

    /// GB/s of block bytes over the median time of one decode product, at Llama-3.1-8B's shapes.
    mutating func timings() throws -> [String: Double] {
        var timings: [String: Double] = [:]
        for type in [GGMLType.q4_K, .q6_K] {
            for (k, m) in [(4096, 6144), (4096, 28672), (14336, 4096)] {
                let host = randomBlocks(type, out: m, inFeatures: k)
                let weight = try gpu.linearWeight([host])
                let x = try gpu.upload((0..<k).map { _ in randomUnit() }, shape: [1, k])
                _ = gpu.prepare(ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: [0])], blockSize: 16))
                let ms = gpu.timeMilliseconds { _ = gpu.linear(x, weight, bias: nil) }
                timings["ggml \(type) gemv \(k)x\(m) GB/s"] = Double(host.byteCount) / (ms / 1000) / 1e9
                timings["ggml \(type) gemv \(k)x\(m) us"] = ms * 1000
                // With 8-bit activations: the quantization of x and the dp4a kernel.
                gpu.quantizedActivations = .int8
                let ms8 = gpu.timeMilliseconds { _ = gpu.linear(x, weight, bias: nil) }
                gpu.quantizedActivations = .float32
                timings["ggml \(type) gemv int8 \(k)x\(m) GB/s"] = Double(host.byteCount) / (ms8 / 1000) / 1e9
                timings["ggml \(type) gemv int8 \(k)x\(m) us"] = ms8 * 1000
            }
        }
        return timings
    }

    private mutating func randomUnit() -> Float { Float.random(in: -1...1, using: &rng) }

    /// Random blocks of `type` with finite float16 scales of a size that keeps values near ±0.1
    /// (float types: random values of that size).
    private mutating func randomBlocks(_ type: GGMLType, out: Int, inFeatures k: Int) -> HostLinearWeight {
        let rowBytes = type.rowBytes(k)
        var bytes = (0..<(out * rowBytes)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        func setHalf(_ at: Int, _ value: Float) {
            let bits = Float16(value).bitPattern
            (bytes[at], bytes[at + 1]) = (UInt8(bits & 0xFF), UInt8(bits >> 8))
        }
        // Scale fields (byte offsets in a block) and their size.
        let fields: [(Int, Float)] =
            switch type {
            case .q4_0: [(0, 0.02)]
            case .q4_1: [(0, 0.01), (2, 0.05)]
            case .q5_0: [(0, 0.01)]
            case .q5_1: [(0, 0.005), (2, 0.05)]
            case .q8_0: [(0, 0.001)]
            case .q4_K: [(0, 2e-4), (2, 2e-4)]
            case .q5_K: [(0, 1e-4), (2, 1e-4)]
            case .q6_K: [(208, 5e-5)]
            case .f32, .f16, .bf16: []
            }
        for block in 0..<(out * rowBytes / type.blockBytes) {
            for (offset, size) in fields { setHalf(block * type.blockBytes + offset, size * randomUnit()) }
        }
        if type.floatDType != nil {
            for i in 0..<(out * k) {
                let value = randomUnit() / 8
                switch type {
                case .f32: withUnsafeBytes(of: value.bitPattern) { for b in 0..<4 { bytes[4 * i + b] = $0[b] } }
                case .f16: setHalf(2 * i, value)
                default:
                    let bits = FloatBits.floatToBFloat16(value)
                    (bytes[2 * i], bytes[2 * i + 1]) = (UInt8(bits & 0xFF), UInt8(bits >> 8))
                }
            }
        }
        let blocks = bytes.withUnsafeBytes { HostTensor(shape: [out, rowBytes], dtype: .uint8, copying: $0.baseAddress!) }
        return HostLinearWeight(format: .ggml(type), outFeatures: out, inFeatures: k, tensors: [blocks])
    }

    /// The `[out, in]` matrix as the CPU decodes it (a dense part: its values).
    private static func decoded(_ w: HostLinearWeight) -> [Float] {
        guard case .ggml(let type) = w.format else { return w.tensors[0].floats() }
        let (out, k) = (w.outFeatures, w.inFeatures)
        var matrix = [Float](repeating: 0, count: out * k)
        matrix.withUnsafeMutableBufferPointer { target in
            for n in 0..<out {
                type.dequantize(w.tensors[0].bytes + n * type.rowBytes(k), count: k, to: target.baseAddress! + n * k)
            }
        }
        return matrix
    }
}
