import Foundation
import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// Tensor-parallel shards of quantized weights: a row or column slice of each format, dequantized,
/// equals the dequantized weight sliced; slices that cut a packed word, a group or a scale block are
/// one clear error; and quantized models split over 2 and 4 ranks give the logits of one rank.
@Suite struct QuantizedTensorParallelTests {
    /// Each format as a model's linear layers (the model tests) and in the slicing tests.
    static let formats: [(String, WeightFormat)] = [
        ("int4 g32", .packedInt(bits: 4, groupSize: 32, permuted: false)),
        ("int4 channel", .packedInt(bits: 4, groupSize: 1 << 20, permuted: false)),
        ("int8 g64", .packedInt(bits: 8, groupSize: 64, permuted: false)),
        ("int4 g32 act-order", .packedInt(bits: 4, groupSize: 32, permuted: true)),
        ("int8 g32 act-order", .packedInt(bits: 8, groupSize: 32, permuted: true)),
        ("fp8 channel", .fp8(blockColumns: 1 << 20)),
        ("fp8 block128", .fp8(blockColumns: 128)),
        ("4-bit lookup table", .lookupTable(bits: 4)),
    ]

    /// Row-parallel slices of each format that fall on its boundaries: the shards of 192 inputs
    /// over 2, 3 and 6 ranks for groups of 32 (3 groups per half: odd counts), over 3 and 6 for
    /// groups of 64 (a sixth lies inside one group), over 2, 4 and 8 per channel; FP8's blocks of
    /// 128 over 320 inputs (two and a half blocks): fifths inside one block, and a slice from a
    /// block boundary to the end of the short last block.
    static let slices: [String: (inFeatures: Int, ranges: [Range<Int>])] = [
        "int4 g32": (192, shards(192, over: [2, 3, 6])),
        "int4 channel": (192, shards(192, over: [2, 4, 8])),
        "int8 g64": (192, shards(192, over: [3, 6])),
        "int4 g32 act-order": (192, shards(192, over: [2, 3, 6])),
        "int8 g32 act-order": (192, shards(192, over: [2, 3, 6])),
        "fp8 channel": (192, shards(192, over: [2, 4, 8])),
        "fp8 block128": (320, shards(320, over: [5]) + [128..<320]),
        "4-bit lookup table": (192, shards(192, over: [2, 4, 8])),
    ]

    static func shards(_ count: Int, over worlds: [Int]) -> [Range<Int>] {
        worlds.flatMap { world in (0..<world).map { TensorParallelShard(rank: $0, worldSize: world).evenPart(of: count) } }
    }

    static func weight(_ format: WeightFormat, out: Int = 20, inFeatures: Int = 192, seed: UInt64 = 5) -> HostLinearWeight {
        var rng = SplitMixRandom(seed: seed)
        return QuantizedReference.randomWeight(format, out: out, inFeatures: inFeatures, using: &rng)
    }

    /// Columns `range` of a row-major `[rows, width]` matrix.
    static func columns(_ matrix: [Double], width: Int, _ range: Range<Int>) -> [Double] {
        stride(from: 0, to: matrix.count, by: width).flatMap { matrix[($0 + range.lowerBound)..<($0 + range.upperBound)] }
    }

    @Test(arguments: formats.map(\.0))
    func columnSlicesDequantizeToTheSlicedMatrix(name: String) throws {
        let format = Self.formats.first { $0.0 == name }!.1
        let (inFeatures, ranges) = Self.slices[name]!
        let whole = Self.weight(format, inFeatures: inFeatures)
        let matrix = QuantizedReference.dequantized(whole)
        for range in ranges {
            let shard = try whole.columns(range)
            #expect(shard.inFeatures == range.count && shard.outFeatures == 20)
            #expect(QuantizedReference.dequantized(shard) == Self.columns(matrix, width: inFeatures, range), "\(name) inputs \(range)")
        }
    }

    @Test(arguments: formats.map(\.0))
    func rowSlicesDequantizeToTheSlicedMatrix(name: String) throws {
        let format = Self.formats.first { $0.0 == name }!.1
        // 300 rows: FP8's 128-row blocks were spread to rows at load, so any rows are exact.
        let whole = Self.weight(format, out: 300)
        let matrix = QuantizedReference.dequantized(whole)
        for range in [0..<151, 151..<300, 3..<70] {
            let shard = try whole.rows(range)
            #expect(
                QuantizedReference.dequantized(shard) == Array(matrix[(range.lowerBound * 192)..<(range.upperBound * 192)]),
                "\(name) rows \(range)")
        }
    }

    /// A shard of an act-order weight keeps every group it touches, padded to one width; a
    /// shuffle that keeps each half's inputs in its own groups needs no padding.
    @Test func actOrderShardsPadTheirGroups() throws {
        let format = WeightFormat.packedInt(bits: 4, groupSize: 32, permuted: true)
        let spread = try Self.weight(format).columns(96..<192)
        let stored = spread.tensors[3].count
        guard case .packedInt(4, let width, true) = spread.format else { Issue.record("\(spread.format)"); return }
        #expect(stored > 96 && width % 32 == 0 && stored % width == 0 && spread.tensors[0].shape == [20, stored / 8])
        #expect(spread.tensors[1].shape == [20, stored / width])

        var whole = Self.weight(format)
        var rng = SplitMixRandom(seed: 8)
        let order = Array(0..<Int32(96)).shuffled(using: &rng) + Array(96..<Int32(192)).shuffled(using: &rng)
        whole.tensors[3] = order.withUnsafeBytes { HostTensor(shape: [192], dtype: .int32, copying: $0.baseAddress!) }
        let matrix = QuantizedReference.dequantized(whole)
        for range in [0..<96, 96..<192] {
            let shard = try whole.columns(range)
            #expect(shard.format == format && shard.tensors[3].count == 96 && shard.tensors[1].shape == [20, 3])
            #expect(QuantizedReference.dequantized(shard) == Self.columns(matrix, width: 192, range))
        }
    }

    /// The CPU multiplies padded act-order shards (decode and prefill kernels, fused parts) to
    /// float32 round-off of the float64 product.
    @Test func cpuMultipliesActOrderShards() throws {
        let backend = CPUBackend()
        for format in [WeightFormat.packedInt(bits: 4, groupSize: 32, permuted: true), .packedInt(bits: 8, groupSize: 64, permuted: true)] {
            let parts = [
                try Self.weight(format, out: 24, inFeatures: 256, seed: 1).columns(128..<256),
                try Self.weight(format, out: 40, inFeatures: 256, seed: 2).columns(0..<128),
            ]
            let reference = parts.flatMap(QuantizedReference.dequantized)
            let weight = try backend.linearWeight(parts)
            var rng = SplitMixRandom(seed: 3)
            for tokens in [1, 3, 37] {
                let x = (0..<(tokens * 128)).map { _ in Float.random(in: -1...1, using: &rng) }
                let got = backend.linear(try backend.weight([HostTensor(shape: [tokens, 128], values: x)]), weight, bias: nil).toArray()
                let expected = Float64Reference.linear(x.map(Double.init), weight: reference, bias: nil, inputs: 128)
                let error = Float64Reference.relativeError(got, expected)
                #expect(error < 1e-5, "\(format) \(tokens) tokens: relative error \(error)")
            }
        }
    }

    /// The detail of the error a slice gives, or nil when it is cut.
    static func sliceError(_ format: WeightFormat, inFeatures: Int, _ range: Range<Int>) -> String? {
        do {
            _ = try weight(format, inFeatures: inFeatures).columns(range)
            return nil
        } catch ModelLoadError.invalidConfig(let path, let field, let detail) {
            return path == "config.json" && field == "tensor_parallel_size" ? detail : "wrong path or field: \(path) \(field)"
        } catch { return "\(error)" }
    }

    @Test func slicesOffBoundariesNameWhatTheyCut() {
        let cases: [(WeightFormat, Int, Range<Int>, String)] = [
            (.packedInt(bits: 4, groupSize: 32, permuted: false), 96, 48..<96, "groups of 32 inputs (group_size)"),
            (.packedInt(bits: 4, groupSize: 1 << 20, permuted: false), 96, 0..<44, "int32 words of 8 4-bit values"),
            (.packedInt(bits: 8, groupSize: 64, permuted: false), 192, 0..<30, "int32 words of 4 8-bit values"),
            (.packedInt(bits: 4, groupSize: 32, permuted: true), 96, 0..<48, "whole number of groups of 32 inputs (group_size)"),
            (.fp8(blockColumns: 128), 160, 80..<160, "scale blocks of 128 inputs (weight_block_size)"),
            (.lookupTable(bits: 4), 96, 0..<44, "int32 words of 8 4-bit indices"),
        ]
        for (format, inFeatures, range, what) in cases {
            let detail = Self.sliceError(format, inFeatures: inFeatures, range)
            #expect(detail?.contains(what) == true && detail?.contains("\(range)") == true, "\(format) \(range): \(detail ?? "no error")")
        }
        #expect(Self.sliceError(.packedInt(bits: 4, groupSize: 32, permuted: true), inFeatures: 96, 0..<48)?.contains("g_idx") == true)
    }
}

/// Random linear layers in one quantized format (random scales and zero points per group, so a
/// slice that took the wrong group's scales would show), the LM head included; other tensors
/// from the dense dummy store.
struct RandomQuantizedWeights: WeightStore {
    let format: WeightFormat
    let base = DummyWeights(dtype: .float32, seed: 11, scale: 0.25)

    func tensor(_ name: String, shape: [Int]) throws -> HostTensor { try base.tensor(name, shape: shape) }
    func contains(_ name: String) -> Bool { base.contains(name) }
    func linear(_ prefix: String, out: Int, in inFeatures: Int) throws -> HostLinearWeight {
        var rng = SplitMixRandom(seed: prefix.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 })
        return QuantizedReference.randomWeight(format, out: out, inFeatures: inFeatures, using: &rng)
    }
}

/// Quantized models split over ranks: logits within float32 round-off of one rank's, the same
/// greedy tokens.
@Suite struct QuantizedTensorParallelModelTests {
    static func compare(_ whole: any ModelExecutor, _ split: any ModelExecutor, vocab: Int, label: String) {
        let prompt = (0..<40).map { 3 + ($0 * 37) % (vocab - 6) }
        let expected = TensorParallelTests.prefill(whole, prompt), got = TensorParallelTests.prefill(split, prompt)
        let scale = expected.map(abs).max()!
        let error = zip(got, expected).map { abs($0 - $1) }.max()! / scale
        print("\(label): relative logit error \(error), largest logit \(scale)")
        #expect(error < 1e-5, "\(label): relative logit error \(error)")
        #expect(
            TensorParallelTests.greedy(split, prompt, count: 16) == TensorParallelTests.greedy(whole, prompt, count: 16), "\(label)")
    }

    /// Shapes that every format divides at 2 and 4 ranks: 128 and 256 inputs, groups of 32.
    @Test(arguments: [2, 4])
    func randomQuantizedModelsMatchOneRank(ranks: Int) throws {
        let config = try TensorParallelTests.config([
            "architectures": ["LlamaForCausalLM"], "hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 4,
            "num_key_value_heads": 2,
        ])
        for (name, format) in QuantizedTensorParallelTests.formats {
            let weights = RandomQuantizedWeights(format: format)
            let whole = try TensorParallelTests.load(config, ranks: 1, weights: weights)
            let split = try TensorParallelTests.load(config, ranks: ranks, weights: weights)
            Self.compare(whole, split, vocab: 301, label: "\(name) at \(ranks) ranks")
        }
    }

    /// The layouts whose fixtures cannot split, made again in a shape that splits over 2 and 4
    /// ranks (Tests/Fixtures/quantized-tp, `make_quantized_fixtures.py --tensor-parallel`; real
    /// GPTQ act-order `g_idx`, AWQ's packed output columns, 128×128 FP8 blocks): every split
    /// matches one rank to 1e-5 and transformers on the dequantized checkpoint to 1e-4 (as the
    /// unsplit fixtures do), with its greedy tokens.
    @Test(arguments: ["gptq-int4-actorder", "awq-int4", "ct-int4-group", "fp8-block"])
    func tensorParallelFixturesMatchTransformers(fixture: String) throws {
        let path = RepositoryFiles.path("Tests/Fixtures/quantized-tp") + "/" + fixture
        let folder = try ModelFolder(path: path)
        let reference = try TransformersReferenceTests.Reference(path)
        let weights = try folder.weights(format: .auto)
        let whole = try TensorParallelTests.load(folder.config, ranks: 1, weights: weights)
        let vocab = reference.logits.shape[1], expected = reference.logits.floats()
        for ranks in [2, 4] {
            let split = try TensorParallelTests.load(folder.config, ranks: ranks, weights: weights)
            Self.compare(whole, split, vocab: vocab, label: "\(fixture) at \(ranks) ranks")
            let logits = TensorParallelTests.prefill(split, reference.prompt)
            var worst: Float = 0
            for position in reference.prompt.indices {
                let range = (position * vocab)..<((position + 1) * vocab)
                let error = zip(logits[range], expected[range]).map { abs($0 - $1) }.max()!
                worst = max(worst, error / expected[range].map(abs).max()!)
            }
            print("\(fixture) at \(ranks) ranks: worst relative logit error against transformers \(worst)")
            #expect(worst < 1e-4, "\(fixture) at \(ranks) ranks: worst relative logit error \(worst)")
            #expect(TensorParallelTests.greedy(split, reference.prompt, count: reference.greedy.count) == reference.greedy)
        }
    }

    /// The checkpoints of tests/Fixtures/quantized (96 hidden, 160 intermediate, 4 heads): the
    /// per-channel and lookup-table layouts split over 2 and 4 ranks; the layouts with groups of
    /// 32 or 128-wide FP8 blocks cannot split 48 or 80 inputs per rank, and say so.
    @Test(arguments: QuantizedModelTests.fixtures)
    func fixturesMatchOneRankOrNameTheBoundary(fixture: String) throws {
        let folder = try ModelFolder(path: QuantizedModelTests.root + "/" + fixture)
        let weights = try folder.weights(format: .auto, quantization: fixture == "online-fp8" ? "fp8" : nil)
        let whole = try TensorParallelTests.load(folder.config, ranks: 1, weights: weights)
        for ranks in [2, 4] {
            let splits = ["gptq-int8-channel", "ct-fp8-channel", "online-fp8", "squeezellm"].contains(fixture)
            if splits {
                Self.compare(
                    whole, try TensorParallelTests.load(folder.config, ranks: ranks, weights: weights), vocab: 256,
                    label: "\(fixture) at \(ranks) ranks")
                continue
            }
            let error = #expect(throws: ModelLoadError.self) {
                try TensorParallelTests.load(folder.config, ranks: ranks, weights: weights)
            }
            let boundary = fixture == "fp8-block" ? "scale blocks of 128 inputs" : "groups of 32 inputs"
            guard case .invalidConfig("config.json", "tensor_parallel_size", let detail) = error else {
                Issue.record("\(fixture) at \(ranks) ranks: \(String(describing: error))")
                continue
            }
            #expect(detail.contains(boundary), "\(fixture) at \(ranks) ranks: \(detail)")
        }
    }
}
