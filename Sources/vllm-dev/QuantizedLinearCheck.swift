import VLLMCPU
import VLLMCUDA
import VLLMCore
import VLLMTestSupport

/// The quantized part of `vllm-dev kernel-check`: `linear` over packed-integer (4 and 8 bits, with
/// and without act-order, fused parts), FP8 (per channel and 128-column blocks) and SqueezeLLM
/// lookup-table weights, for
/// decode sizes (the matrix-vector kernels) and prefill sizes (dequantized, then cuBLASLt), on the
/// GPU and the CPU, each against float64 products with the same weights dequantized in float64.
/// Also the decode-shape bandwidth of each kernel family on Llama-3.1-8B's matrices.
struct QuantizedLinearCheck {
    let gpu: CUDABackend
    let cpu: CPUBackend
    let round: (Float) -> Float
    var rng = SplitMixRandom(seed: 91)

    /// (name, relative error) of each case: the CUDA result and the CPU backend's.
    mutating func run() throws -> [(String, Double)] {
        var results: [(String, Double)] = []
        // Weight-only paths here (matrix-vector kernels, dequantized products); W8A8 in `w8a8`.
        gpu.useFP8Products = false
        let formats: [(String, WeightFormat)] = [
            ("int4 g128", .packedInt(bits: 4, groupSize: 128, permuted: false)),
            ("int4 g32 act-order", .packedInt(bits: 4, groupSize: 32, permuted: true)),
            ("int4 channel", .packedInt(bits: 4, groupSize: 512, permuted: false)),
            ("int8 g64", .packedInt(bits: 8, groupSize: 64, permuted: false)),
            ("fp8 channel", .fp8(blockColumns: 512)),
            ("fp8 block128", .fp8(blockColumns: 128)),
            ("squeezellm 4-bit", .lookupTable(bits: 4)),
        ]
        for (name, format) in formats {
            // Two parts (as q and k fused), 200 and 136 rows, 512 inputs.
            let parts = [randomWeight(format, out: 200, inFeatures: 512), randomWeight(format, out: 136, inFeatures: 512)]
            results += try products(name, parts)
        }
        // Row-parallel shards of act-order weights (tensor parallelism): each rank's inputs are
        // spread over all groups, so the shards store padded groups (order -1).
        for (name, format) in [
            ("int4 g128 act-order shard", WeightFormat.packedInt(bits: 4, groupSize: 128, permuted: true)),
            ("int8 g64 act-order shard", .packedInt(bits: 8, groupSize: 64, permuted: true)),
        ] {
            let parts = [
                try randomWeight(format, out: 200, inFeatures: 1024).columns(512..<1024),
                try randomWeight(format, out: 136, inFeatures: 1024).columns(0..<512),
            ]
            results += try products(name, parts)
        }
        results += try w8a8()
        results += try int4Int8Activations()
        return results
    }

    /// `--quantized-activations int8` on 4-bit packed weights (groups of 128 and per channel; two
    /// parts as q and k fused): the GPU's decode sizes against float64 products with the activations
    /// as the 8-bit kernels quantize them (`GGMLLinearCheck.int8Activations`), so only float32
    /// rounding remains; act-order weights keep the float path and meet the plain reference.
    private mutating func int4Int8Activations() throws -> [(String, Double)] {
        var results: [(String, Double)] = []
        gpu.quantizedActivations = .int8
        defer { gpu.quantizedActivations = .float32 }
        for (name, format) in [
            ("int4 g128", WeightFormat.packedInt(bits: 4, groupSize: 128, permuted: false)),
            ("int4 channel", .packedInt(bits: 4, groupSize: 512, permuted: false)),
            ("int4 g32 act-order", .packedInt(bits: 4, groupSize: 32, permuted: true)),
        ] {
            let parts = [randomWeight(format, out: 200, inFeatures: 512), randomWeight(format, out: 136, inFeatures: 512)]
            let reference = parts.flatMap(QuantizedReference.dequantized)
            let weight = try gpu.linearWeight(parts)
            let takesInt8: Bool = if case .packedInt(_, _, let permuted) = format { !permuted } else { false }
            for tokens in [1, 3, 4] {
                let x = random(tokens * 512, scale: 1)
                let xg = try gpu.upload(x, shape: [tokens, 512])
                let activations = takesInt8 ? GGMLLinearCheck.int8Activations(x) : x.map(Double.init)
                let expected = Float64Reference.linear(activations, weight: reference, bias: nil, inputs: 512)
                results.append(
                    (
                        "quantized int8-activations \(name) \(tokens)x512x336",
                        Float64Reference.relativeError(gpu.toHost(gpu.linear(xg, weight, bias: nil)), expected)
                    ))
            }
        }
        return results
    }

    /// `linear` over `parts` (512 inputs, 336 rows in all) for decode and prefill token counts, on
    /// the GPU and the CPU, against float64.
    private mutating func products(_ name: String, _ parts: [HostLinearWeight]) throws -> [(String, Double)] {
        var results: [(String, Double)] = []
        let reference = parts.flatMap(QuantizedReference.dequantized)
        let (g, c) = (try gpu.linearWeight(parts), try cpu.linearWeight(parts))
        for tokens in [1, 3, 4, 37] {
            let x = random(tokens * 512, scale: 1)
            let (xc, xg) = (try cpu.weight([HostTensor(shape: [tokens, 512], values: x)]), try gpu.upload(x, shape: [tokens, 512]))
            let expected = Float64Reference.linear(x.map(Double.init), weight: reference, bias: nil, inputs: 512)
            let label = "quantized \(name) \(tokens)x512x336"
            results.append((label, Float64Reference.relativeError(gpu.toHost(gpu.linear(xg, g, bias: nil)), expected)))
            results.append((label + " cpu-vs-f64", Float64Reference.relativeError(cpu.linear(xc, c, bias: nil).toArray(), expected)))
        }
        return results
    }

    /// FP8 per-channel weights times many tokens on the FP8 tensor cores (bf16 compute only): the
    /// activations are quantized per token, so the reference quantizes them the same way (e4m3,
    /// round to nearest even, scale max|x|/448); with the path turned off, the same product
    /// dequantized against the plain reference. A GPU or cuBLASLt without the FP8 path falls back
    /// to dequantizing and then misses the W8A8 reference by the activations' rounding (~1e-2).
    /// Rows of 20480 inputs pass the 16384 that `FP8_ROW_VECTORS` keeps in registers, with a bias.
    private mutating func w8a8() throws -> [(String, Double)] {
        guard gpu.computeDType == .bfloat16 else { return [] }
        var results: [(String, Double)] = []
        for (n, k, counts, hasBias) in [(336, 512, [5, 37, 129], false), (48, 20480, [37], true)] {
            let host = randomWeight(.fp8(blockColumns: k), out: n, inFeatures: k)
            let reference = QuantizedReference.dequantized(host)
            let weight = try gpu.linearWeight([host])
            let biasValues = hasBias ? random(n, scale: 1) : nil
            let bias = try biasValues.map { try gpu.upload($0, shape: [n]) }
            let biasReference = biasValues?.map(Double.init)
            let name = hasBias ? "+bias" : ""
            for tokens in counts {
                let x = random(tokens * k, scale: 2)
                let xg = try gpu.upload(x, shape: [tokens, k])
                gpu.useFP8Products = true
                let w8a8 = gpu.toHost(gpu.linear(xg, weight, bias: bias))
                results.append(
                    (
                        "quantized fp8 w8a8\(name) \(tokens)x\(k)x\(n)",
                        Float64Reference.relativeError(
                            w8a8, Float64Reference.linear(Self.fp8Rows(x, k: k), weight: reference, bias: biasReference, inputs: k))
                    ))
                gpu.useFP8Products = false
                let dequantized = gpu.toHost(gpu.linear(xg, weight, bias: bias))
                results.append(
                    (
                        "quantized fp8 dequantized\(name) \(tokens)x\(k)x\(n)",
                        Float64Reference.relativeError(
                            dequantized,
                            Float64Reference.linear(x.map(Double.init), weight: reference, bias: biasReference, inputs: k))
                    ))
            }
        }
        gpu.useFP8Products = true
        return results
    }

    /// Rows of `k` values quantized as the W8A8 path quantizes them (e4m3 codes of x / (max|x| / 448)), then dequantized.
    private static func fp8Rows(_ x: [Float], k: Int) -> [Double] {
        var quantized = [Double](repeating: 0, count: x.count)
        for t in 0..<(x.count / k) {
            let row = x[(t * k)..<((t + 1) * k)]
            let largest = row.reduce(0) { max($0, abs($1)) }
            let scale: Float = largest > 0 ? largest / 448 : 1
            for j in 0..<k {
                let code = FloatBits.floatToFloat8E4M3(x[t * k + j] / scale)
                quantized[t * k + j] = Double(FloatBits.float8E4M3ToFloat(code)) * Double(scale)
            }
        }
        return quantized
    }

    /// GB/s of packed bytes over the median time of one decode product, at Llama-3.1-8B's shapes.
    mutating func timings() throws -> [String: Double] {
        var timings: [String: Double] = [:]
        for (name, format) in [
            ("int4 g128", WeightFormat.packedInt(bits: 4, groupSize: 128, permuted: false)), ("fp8 channel", .fp8(blockColumns: 1 << 20)),
            ("int8 g128", .packedInt(bits: 8, groupSize: 128, permuted: false)), ("squeezellm", .lookupTable(bits: 4)),
        ] {
            for (k, m) in [(4096, 6144), (4096, 28672), (14336, 4096)] {
                let host = randomWeight(format, out: m, inFeatures: k)
                let weight = try gpu.linearWeight([host])
                let x = try gpu.upload(random(k, scale: 1), shape: [1, k])
                _ = gpu.prepare(ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: [0])], blockSize: 16))
                let ms = gpu.timeMilliseconds { _ = gpu.linear(x, weight, bias: nil) }
                timings["\(name) gemv \(k)x\(m) GB/s"] = Double(host.byteCount) / (ms / 1000) / 1e9
                timings["\(name) gemv \(k)x\(m) us"] = ms * 1000
                if name == "int4 g128" {
                    // The same product with 8-bit activations (their quantization included).
                    gpu.quantizedActivations = .int8
                    let ms8 = gpu.timeMilliseconds { _ = gpu.linear(x, weight, bias: nil) }
                    gpu.quantizedActivations = .float32
                    timings["int4 g128 int8-activations gemv \(k)x\(m) GB/s"] = Double(host.byteCount) / (ms8 / 1000) / 1e9
                    timings["int4 g128 int8-activations gemv \(k)x\(m) us"] = ms8 * 1000
                }
            }
        }
        // A prefill-sized product (4096 tokens, 4096 -> 14336) in TFLOP/s: dense bf16, FP8 on the
        // FP8 tensor cores, and int4 dequantized into the scratch matrix before cuBLASLt.
        let (k, m) = (4096, 14336)
        let dense = HostLinearWeight.dense(HostTensor(shape: [m, k], values: [Float](repeating: 0.01, count: m * k)))
        for (name, host) in [
            ("bf16", dense), ("fp8 w8a8", randomWeight(.fp8(blockColumns: k), out: m, inFeatures: k)),
            ("int4 g128 dequantized", randomWeight(.packedInt(bits: 4, groupSize: 128, permuted: false), out: m, inFeatures: k)),
        ] {
            let weight = try gpu.linearWeight([host])
            for t in [256, 4096] {
                let x = try gpu.upload(random(t * k, scale: 1), shape: [t, k])
                _ = gpu.prepare(ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: [0])], blockSize: 16))
                let ms = gpu.timeMilliseconds(repeats: 10) { _ = gpu.linear(x, weight, bias: nil) }
                timings["\(name) \(t)x\(k)x\(m) TFLOP/s"] = 2 * Double(t * k * m) / (ms / 1000) / 1e12
            }
        }
        return timings
    }

    private mutating func random(_ count: Int, scale: Float) -> [Float] {
        (0..<count).map { _ in round(Float.random(in: -1...1, using: &rng) * scale) }
    }

    /// Random codes and scales in `format` (`QuantizedReference.randomWeight`).
    private mutating func randomWeight(_ format: WeightFormat, out: Int, inFeatures: Int) -> HostLinearWeight {
        QuantizedReference.randomWeight(format, out: out, inFeatures: inFeatures, using: &rng)
    }
}
