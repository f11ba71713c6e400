import Foundation
import Testing
import VLLMCPU
import VLLMCore

/// The decode path of packed weights (1 to 4 tokens, each row dotted straight from its packed
/// form) against the tile path (rows dequantized into a float tile, dense register tiles), which
/// the same product takes with more tokens, and against a float64 product of the dequantized weights.
@Suite struct PackedDecodeTests {
    /// A weight in its packed format with the matrix it stands for, `[N, K]` in input order.
    struct Packed {
        var weight: HostLinearWeight
        var dense: [Double]
    }

    /// Groups of whole 8-word blocks (64 int4 or 32 int8 values; FP8 blocks of multiples of 32)
    /// take the interleaved path, the others the word-by-word one.
    static let layouts = [
        "int4 g32, 3 groups", "int4 g32, 5 groups, act-order", "int4 per channel, 96 inputs", "int4 g64, 3 groups",
        "int4 g128, 3 groups, act-order", "int4 per channel, 192 inputs", "int8 g32, 3 groups", "int8 g16, 9 groups, act-order",
        "int8 g32, 5 groups, act-order", "int8 per channel, 100 inputs", "fp8 per row", "fp8 blocks of 32, partial last",
        "fp8 blocks of 64, 100 inputs", "fp8 blocks of 128, 320 inputs", "lookup table, 96 inputs", "lookup table, 40 inputs",
        "lookup table, 200 inputs", "lookup table, 520 inputs",
    ]

    /// One fused weight of two parts (37 and 19 rows) in `layout`.
    static func parts(_ layout: String, random: inout SplitMixRandom) -> (K: Int, parts: [Packed]) {
        func both(_ make: (Int, inout SplitMixRandom) -> Packed) -> [Packed] { [make(37, &random), make(19, &random)] }
        switch layout {
        case "int4 g32, 3 groups": return (96, both { packedInt(bits: 4, group: 32, permuted: false, N: $0, K: 96, &$1) })
        case "int4 g32, 5 groups, act-order": return (160, both { packedInt(bits: 4, group: 32, permuted: true, N: $0, K: 160, &$1) })
        case "int4 per channel, 96 inputs": return (96, both { packedInt(bits: 4, group: 96, permuted: false, N: $0, K: 96, &$1) })
        case "int4 g64, 3 groups": return (192, both { packedInt(bits: 4, group: 64, permuted: false, N: $0, K: 192, &$1) })
        case "int4 g128, 3 groups, act-order": return (384, both { packedInt(bits: 4, group: 128, permuted: true, N: $0, K: 384, &$1) })
        case "int4 per channel, 192 inputs": return (192, both { packedInt(bits: 4, group: 192, permuted: false, N: $0, K: 192, &$1) })
        case "int8 g32, 5 groups, act-order": return (160, both { packedInt(bits: 8, group: 32, permuted: true, N: $0, K: 160, &$1) })
        case "int8 g32, 3 groups": return (96, both { packedInt(bits: 8, group: 32, permuted: false, N: $0, K: 96, &$1) })
        case "int8 g16, 9 groups, act-order": return (144, both { packedInt(bits: 8, group: 16, permuted: true, N: $0, K: 144, &$1) })
        case "int8 per channel, 100 inputs": return (100, both { packedInt(bits: 8, group: 100, permuted: false, N: $0, K: 100, &$1) })
        case "fp8 per row": return (96, both { fp8(blockColumns: 96, N: $0, K: 96, &$1) })
        case "fp8 blocks of 32, partial last": return (84, both { fp8(blockColumns: 32, N: $0, K: 84, &$1) })
        case "fp8 blocks of 64, 100 inputs": return (100, both { fp8(blockColumns: 64, N: $0, K: 100, &$1) })
        case "fp8 blocks of 128, 320 inputs": return (320, both { fp8(blockColumns: 128, N: $0, K: 320, &$1) })
        // Lookup tables: blocks of 8 words (64 inputs) and any number of words after them.
        case "lookup table, 40 inputs": return (40, both { lookupTable(N: $0, K: 40, &$1) })
        case "lookup table, 200 inputs": return (200, both { lookupTable(N: $0, K: 200, &$1) })
        case "lookup table, 520 inputs": return (520, both { lookupTable(N: $0, K: 520, &$1) })
        default: return (96, both { lookupTable(N: $0, K: 96, &$1) })
        }
    }

    @Test(arguments: layouts)
    func decodePathMatchesTilePathAndFloat64(layout: String) throws {
        var random = SplitMixRandom(seed: 19)
        let (K, parts) = Self.parts(layout, random: &random)
        let backend = CPUBackend()
        let weight = try backend.linearWeight(parts.map(\.weight))
        let N = weight.outFeatures
        let dense = parts.flatMap(\.dense)
        // Six tokens take the tile path; the first T of them, alone, the decode path.
        let x = (0..<(6 * K)).map { _ in Float.random(in: -1...1, using: &random) }
        let tiled = backend.toHost(backend.linear(try backend.weight([HostTensor(shape: [6, K], values: x)]), weight, bias: nil))
        for T in 1...4 {
            let input = try backend.weight([HostTensor(shape: [T, K], values: Array(x.prefix(T * K)))])
            let decoded = backend.toHost(backend.linear(input, weight, bias: nil))
            var worst = 0.0
            for t in 0..<T {
                for n in 0..<N {
                    var exact = 0.0, magnitude = 0.0
                    for k in 0..<K {
                        exact += dense[n * K + k] * Double(x[t * K + k])
                        magnitude += Swift.abs(dense[n * K + k] * Double(x[t * K + k]))
                    }
                    let bound = 1e-5 * magnitude + 1e-7
                    let (d, tile) = (Double(decoded[t * N + n]), Double(tiled[t * N + n]))
                    worst = max(worst, Swift.abs(d - exact) / bound, Swift.abs(tile - exact) / bound)
                    #expect(
                        Swift.abs(d - exact) <= bound && Swift.abs(d - tile) <= bound,
                        "\(layout), T \(T), token \(t), row \(n): decode \(d), tile \(tile), float64 \(exact)")
                }
            }
            #expect(worst <= 1, "\(layout), T \(T): worst error \(worst) of the bound")
        }
    }

    /// Random `bits`-bit codes, scales and zero points; act-order stores the inputs shuffled.
    static func packedInt(bits: Int, group: Int, permuted: Bool, N: Int, K: Int, _ random: inout SplitMixRandom) -> Packed {
        let (perWord, groups) = (32 / bits, K / group)
        let order: [Int32] = permuted ? (0..<Int32(K)).shuffled(using: &random) : (0..<Int32(K)).map { $0 }
        var words = [Int32](repeating: 0, count: N * K / perWord)
        var dense = [Double](repeating: 0, count: N * K)
        let scales = (0..<(N * groups)).map { _ in Float.random(in: 0.005...0.03, using: &random) }
        let zeros = (0..<(N * groups)).map { _ in Float(Int.random(in: 0..<(1 << bits), using: &random)) }
        for n in 0..<N {
            for k in 0..<K {
                let q = UInt32.random(in: 0..<(1 << UInt32(bits)), using: &random)
                words[n * (K / perWord) + k / perWord] |= Int32(bitPattern: q << UInt32((k % perWord) * bits))
                let g = n * groups + k / group
                dense[n * K + Int(order[k])] = (Double(q) - Double(zeros[g])) * Double(scales[g])
            }
        }
        var tensors = [
            words.withUnsafeBytes { HostTensor(shape: [N, K / perWord], dtype: .int32, copying: $0.baseAddress!) },
            HostTensor(shape: [N, groups], values: scales), HostTensor(shape: [N, groups], values: zeros),
        ]
        if permuted { tensors.append(order.withUnsafeBytes { HostTensor(shape: [K], dtype: .int32, copying: $0.baseAddress!) }) }
        let format = WeightFormat.packedInt(bits: bits, groupSize: group, permuted: permuted)
        return Packed(weight: HostLinearWeight(format: format, outFeatures: N, inFeatures: K, tensors: tensors), dense: dense)
    }

    /// Random e4m3 codes (every one but NaN, subnormals included) and scales per row and block.
    static func fp8(blockColumns: Int, N: Int, K: Int, _ random: inout SplitMixRandom) -> Packed {
        let blocks = (K + blockColumns - 1) / blockColumns
        let codes = (0..<(N * K)).map { _ in
            let c = UInt8.random(in: 0...255, using: &random)
            return c & 0x7F == 0x7F ? c ^ 1 : c
        }
        let scales = (0..<(N * blocks)).map { _ in Float.random(in: 1e-4...1e-3, using: &random) }
        let dense = (0..<(N * K)).map { i in
            Double(FloatBits.float8E4M3ToFloat(codes[i])) * Double(scales[(i / K) * blocks + (i % K) / blockColumns])
        }
        let tensors = [
            codes.withUnsafeBytes { HostTensor(shape: [N, K], dtype: .float8E4M3, copying: $0.baseAddress!) },
            HostTensor(shape: [N, blocks], values: scales),
        ]
        return Packed(
            weight: HostLinearWeight(format: .fp8(blockColumns: blockColumns), outFeatures: N, inFeatures: K, tensors: tensors),
            dense: dense)
    }

    /// Random 4-bit indices into a random table of 16 values per row.
    static func lookupTable(N: Int, K: Int, _ random: inout SplitMixRandom) -> Packed {
        let table = (0..<(N * 16)).map { _ in Float.random(in: -0.05...0.05, using: &random) }
        var words = [Int32](repeating: 0, count: N * K / 8)
        var dense = [Double](repeating: 0, count: N * K)
        for n in 0..<N {
            for k in 0..<K {
                let q = Int.random(in: 0..<16, using: &random)
                words[n * (K / 8) + k / 8] |= Int32(bitPattern: UInt32(q) << UInt32((k % 8) * 4))
                dense[n * K + k] = Double(table[n * 16 + q])
            }
        }
        let tensors = [
            words.withUnsafeBytes { HostTensor(shape: [N, K / 8], dtype: .int32, copying: $0.baseAddress!) },
            HostTensor(shape: [N, 16], values: table),
        ]
        return Packed(
            weight: HostLinearWeight(format: .lookupTable(bits: 4), outFeatures: N, inFeatures: K, tensors: tensors), dense: dense)
    }
}

/// Milliseconds per batch-1 product of the SmolLM2-135M layer shapes in each format (bf16 dense,
/// int4 g64, int8 g64, both also with int8 activations, FP8 per row, SqueezeLLM), printed; runs only with
/// `VLLM_PACKED_DECODE_BENCH=1` (the kernels are optimised in debug builds too).
@Suite struct PackedDecodeSpeed {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["VLLM_PACKED_DECODE_BENCH"] == "1"))
    func printDecodeProductTimes() throws {
        let (float, int8) = (CPUBackend(), CPUBackend(quantizedActivations: .int8))
        var random = SplitMixRandom(seed: 7)
        // q/k/v fused, o, gate/up fused, down of one layer.
        let shapes = [(960, 576), (576, 576), (3072, 576), (576, 1536)]
        for format in ["bf16", "int4 g64", "int4 g64 int8-act", "int8 g64", "int8 g64 int8-act", "fp8", "lookup"] {
            let backend = format.hasSuffix("int8-act") ? int8 : float
            var seconds = 0.0
            for (N, K) in shapes {
                let host: HostLinearWeight =
                    switch format {
                    case "bf16":
                        .dense(
                            HostTensor(
                                shape: [N, K], dtype: .bfloat16,
                                bits: (0..<(N * K)).map { _ in UInt16.random(in: 0x3C00...0x3D00, using: &random) }))
                    case "int4 g64", "int4 g64 int8-act":
                        PackedDecodeTests.packedInt(bits: 4, group: 64, permuted: false, N: N, K: K, &random).weight
                    case "int8 g64", "int8 g64 int8-act":
                        PackedDecodeTests.packedInt(bits: 8, group: 64, permuted: false, N: N, K: K, &random).weight
                    case "fp8": PackedDecodeTests.fp8(blockColumns: K, N: N, K: K, &random).weight
                    default: PackedDecodeTests.lookupTable(N: N, K: K, &random).weight
                    }
                let weight = try backend.linearWeight([host])
                let x = try backend.weight([
                    HostTensor(shape: [1, K], values: (0..<K).map { _ in Float.random(in: -1...1, using: &random) })
                ])
                _ = backend.linear(x, weight, bias: nil)
                let runs = 200
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<runs { _ = backend.linear(x, weight, bias: nil) }
                seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(runs)
            }
            print("decode product, one SmolLM2-135M layer, \(format): \(String(format: "%.3f", seconds * 1e3)) ms")
        }
    }
}
