import Foundation
import Testing
import VLLMCore
import VLLMTestSupport

@testable import VLLMCPU

/// The FP8 KV cache (`--kv-cache-dtype fp8`) on the CPU against the float32 cache, on the fixture
/// models: keys and values go through e4m3 (3 mantissa bits), so logits move by a few percent of
/// the row's largest magnitude and greedy tokens mostly agree; the figures are printed (and
/// recorded in docs/quantization.md).
@Suite struct FP8KVCacheTests {
    static let models = [
        "llama2", "llama3", "llama3-bf16", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "mixtral", "qwen2moe",
        "qwen3moe",
    ]
    static let fp8 = KVCacheFormat(dtype: .fp8)

    static func runner(_ model: String, format: KVCacheFormat, blockSize: Int = 16) throws -> DirectRunner {
        try DirectRunner(folder: TestPaths.fixtureModels + "/" + model, blockSize: blockSize, maxLength: 128, kvCacheFormat: format)
    }

    /// The largest error over all rows, each relative to the largest magnitude of its `reference` row.
    static func worstRelativeError(_ logits: [[Float]], _ reference: [[Float]]) -> Float {
        zip(logits, reference).map { row, want in
            zip(row, want).map { abs($0 - $1) }.max()! / want.map(abs).max()!
        }.max()!
    }

    /// How many rows of `logits` have the same argmax as the `reference` row.
    static func sameTop1(_ logits: [[Float]], _ reference: [[Float]]) -> Int {
        zip(logits, reference).filter { argmax($0) == argmax($1) }.count
    }

    /// How many leading tokens two sequences share.
    static func commonPrefix(_ a: [Int], _ b: [Int]) -> Int {
        zip(a, b).prefix { $0 == $1 }.count
    }

    @Test(arguments: models)
    func logitsAndGreedyTokensStayCloseToTheFloat32Cache(model: String) throws {
        let reference = try TransformersReferenceTests.Reference(TestPaths.fixtureModels + "/" + model)
        let exact = try Self.runner(model, format: .auto), quantized = try Self.runner(model, format: Self.fp8)
        let (got, want) = (quantized.promptLogits(reference.prompt), exact.promptLogits(reference.prompt))
        let error = Self.worstRelativeError(got, want)
        let agreed = Self.commonPrefix(quantized.greedy(reference.prompt, count: 32), exact.greedy(reference.prompt, count: 32))
        print(
            "fp8 KV cache, \(model): worst relative logit error \(error), prompt top-1 \(Self.sameTop1(got, want))/\(got.count), greedy prefix agreement \(agreed)/32"
        )
        // The fixtures' random weights make attention very sensitive (a bfloat16 cache already
        // moves their logits by 0.4 to 1.5%; e4m3 has 4 mantissa bits fewer): the bound only
        // catches garbage. `attentionEqualsFloat64OverDequantizedKeysAndValues` checks exactness.
        #expect(error > 0, "the FP8 cache changes nothing: is it used?")
        #expect(error < 1, "\(model): worst relative logit error \(error)")
    }

    /// The FP8 cache is exactly its definition: attention over three steps (prefills, a chunk
    /// after cached tokens, decodes; GQA; a sliding window) equals float64 attention whose keys
    /// and values were first rounded to `e4m3(x / scale) · scale`, to float32 rounding.
    @Test(arguments: [(8, 2, 16, 0), (6, 2, 12, 5), (4, 4, 8, 3)])
    func attentionEqualsFloat64OverDequantizedKeysAndValues(heads: Int, kvHeads: Int, hd: Int, window: Int) throws {
        let cpu = CPUBackend(keepsBFloat16: false)
        let layout = QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd)
        let scales = KVCacheScales(key: 0.5, value: 0x1p-3)
        let format = KVCacheFormat(dtype: .fp8, scales: [.one, scales])
        let cache = cpu.makeKVCache(
            KVCacheShape(numLayers: 2, numBlocks: 16, blockSize: 4, numKVHeads: kvHeads, headDim: hd, format: format))
        let tables: [[Int32]] = [[3, 9, 1, 4, 0], [7, 2, 5]]
        let steps: [[SequenceChunk]] = [
            [SequenceChunk(tokenIDs: Array(repeating: 1, count: 9), numCached: 0, blockTable: tables[0])],
            [
                SequenceChunk(tokenIDs: [1], numCached: 9, blockTable: tables[0]),
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 10), numCached: 0, blockTable: tables[1]),
            ],
            [
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 3), numCached: 10, blockTable: tables[0]),
                SequenceChunk(tokenIDs: [1], numCached: 10, blockTable: tables[1]),
            ],
        ]
        let sequences = [[0], [0, 1], [0, 1]]
        var random = SplitMixRandom(seed: 5)
        var history = Float64Reference.AttentionHistory()
        for (i, chunks) in steps.enumerated() {
            let batch = ForwardBatch(chunks: chunks, blockSize: 4)
            let qkv = (0..<(batch.numTokens * layout.width)).map { _ in Float.random(in: -3...3, using: &random) }
            var rounded = qkv.map(Double.init)
            for t in 0..<batch.numTokens {
                for d in 0..<(kvHeads * hd) {
                    let k = t * layout.width + layout.keyOffset + d, v = t * layout.width + layout.valueOffset + d
                    rounded[k] = Double(FloatBits.float8E4M3ToFloat(FloatBits.floatToFloat8E4M3(qkv[k] / scales.key)) * scales.key)
                    rounded[v] = Double(FloatBits.float8E4M3ToFloat(FloatBits.floatToFloat8E4M3(qkv[v] / scales.value)) * scales.value)
                }
            }
            let w: Int? = window > 0 ? window : nil
            let expected = Float64Reference.attention(
                rounded, layout: layout, batch: batch, sequences: sequences[i], history: &history, scale: 0.25, slidingWindow: w)
            let got = cpu.attention(
                try cpu.weight([HostTensor(shape: [batch.numTokens, layout.width], values: qkv)]), layout: layout, cache: cache,
                layer: 1, batch: cpu.prepare(batch), scale: 0.25, slidingWindow: w)
            #expect(Float64Reference.relativeError(got.toArray(), expected) <= 1e-5, "step \(i)")
        }
    }

    /// The built-in model (trained weights, unlike the random fixtures): prompt logits and the
    /// greedy story from BOS against the float32 cache.
    @Test func builtinModelStaysCloseToTheFloat32Cache() throws {
        let expected =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: TestPaths.builtinModel + "/expected_greedy.json"))) as! [String: Any]
        let story = expected["generated_ids"] as! [Int]
        let prompt = [1] + story.prefix(63)
        let exact = try DirectRunner(folder: TestPaths.builtinModel, maxLength: 512)
        let quantized = try DirectRunner(folder: TestPaths.builtinModel, maxLength: 512, kvCacheFormat: Self.fp8)
        let (got, want) = (quantized.promptLogits(prompt), exact.promptLogits(prompt))
        let error = Self.worstRelativeError(got, want), top1 = Self.sameTop1(got, want)
        let agreed = Self.commonPrefix(quantized.greedy([1], count: 200), story)
        print(
            "fp8 KV cache, stories260K: worst relative logit error \(error), prompt top-1 \(top1)/\(got.count), greedy prefix agreement \(agreed)/200"
        )
        #expect(error > 0 && error < 0.3)
        #expect(top1 >= got.count - 4)
        #expect(agreed >= 32)
    }

    /// The attention's eight-at-a-time widening of codes gives every code's value, subnormals,
    /// ±0, ±448 and NaN included.
    @Test func everyCodeWidensExactly() {
        let codes = (0..<256).map { Float8E4M3Code(bits: UInt8($0)) }
        codes.withUnsafeBufferPointer { p in
            for start in stride(from: 0, to: 256, by: 8) {
                let wide = Float8E4M3Code.load8(p.baseAddress! + start)
                for i in 0..<8 {
                    let want = FloatBits.float8E4M3ToFloat(UInt8(start + i))
                    #expect(wide[i].bitPattern == want.bitPattern || (wide[i].isNaN && want.isNaN), "code \(start + i)")
                    #expect(Float8E4M3Code.load1(p.baseAddress! + start + i).bitPattern == want.bitPattern || want.isNaN)
                }
            }
        }
    }

    /// The cache's contents do not depend on how tokens fall into blocks: every block size gives
    /// the same greedy tokens, decoded together with other sequences.
    @Test(arguments: ["llama3", "gemma3", "qwen3"])
    func everyBlockSizeGivesTheSameTokens(model: String) throws {
        let prompts = [Array(3..<40), [5, 9, 12], Array((20..<60).reversed())]
        let expected = try Self.runner(model, format: Self.fp8).greedyBatch(prompts, count: 12)
        for blockSize in [1, 2, 8, 32, 64] {
            let tokens = try Self.runner(model, format: Self.fp8, blockSize: blockSize).greedyBatch(prompts, count: 12)
            #expect(tokens == expected, "block size \(blockSize)")
        }
    }

    /// Bytes per block: a quarter of the float32 cache's (half a 16-bit cache's).
    @Test func fp8BlocksTakeAQuarterOfTheFloat32Bytes() {
        let cpu = CPUBackend()
        let shape = KVCacheShape(numLayers: 3, numBlocks: 1, blockSize: 16, numKVHeads: 2, headDim: 12)
        var fp8 = shape
        fp8.format = Self.fp8
        #expect(cpu.kvCacheBytesPerBlock(shape) == 2 * 3 * 16 * 2 * 12 * 4)
        #expect(cpu.kvCacheBytesPerBlock(fp8) * 4 == cpu.kvCacheBytesPerBlock(shape))
    }

    /// Values are stored as `e4m3(x / scale)` and read as `code · scale`: with a scale of 2^-8 the
    /// keys and values saturate at 448 · 2^-8 = 1.75, so the logits move much further than with 1.
    @Test func scalesApplyOnWriteAndRead() throws {
        let reference = try TransformersReferenceTests.Reference(TestPaths.fixtureModels + "/llama3")
        let exact = try Self.runner("llama3", format: .auto).promptLogits(reference.prompt)
        let one = try Self.runner("llama3", format: Self.fp8).promptLogits(reference.prompt)
        let tiny = KVCacheFormat(dtype: .fp8, scales: Array(repeating: KVCacheScales(key: 0x1p-8, value: 0x1p-8), count: 2))
        let saturated = try Self.runner("llama3", format: tiny).promptLogits(reference.prompt)
        #expect(Self.worstRelativeError(saturated, exact) > 3 * Self.worstRelativeError(one, exact))
    }
}

/// Scales from a checkpoint: the names vLLM accepts, the fallback to 1.0, and bad tensors.
@Suite struct FP8KVCacheScaleTests {
    static let source = TestPaths.fixtureModels + "/llama3"

    /// A copy of the llama3 fixture (2 layers) in a temporary folder, with `extra` tensors added.
    static func fixture(with extra: [(String, HostTensor)]) throws -> String {
        let folder = NSTemporaryDirectory() + "llama3-kv-scales-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in ["config.json", "generation_config.json"] {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: folder + "/" + name)
        }
        let file = try SafetensorsFile(path: source + "/model.safetensors")
        let tensors = try file.tensorNames.sorted().map { ($0, try file.tensor($0)) }
        try writeSafetensors(tensors + extra, to: folder + "/model.safetensors")
        return folder
    }

    static func scalar(_ value: Float, shape: [Int] = []) -> HostTensor { HostTensor(shape: shape, values: [value]) }

    static func read(_ extra: [(String, HostTensor)], dtype: KVCacheDType = .fp8) throws -> KVCacheFormat {
        let folder = try fixture(with: extra)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        return try KVCacheFormat.read(dtype, numLayers: 2, from: ModelFolder(path: folder).weights(format: .auto))
    }

    @Test func llmCompressorNamesGiveEachLayerItsScales() throws {
        let format = try Self.read([
            ("model.layers.0.self_attn.k_scale", Self.scalar(0.5)), ("model.layers.0.self_attn.v_scale", Self.scalar(0.25)),
            ("model.layers.1.self_attn.k_scale", Self.scalar(2, shape: [1])), ("model.layers.1.self_attn.v_scale", Self.scalar(4)),
        ])
        #expect(format.scales == [KVCacheScales(key: 0.5, value: 0.25), KVCacheScales(key: 2, value: 4)])
        #expect(format.scalesFromCheckpoint && format.summary == "fp8 (e4m3), k/v scales from the checkpoint")
    }

    @Test func vllmAndCompressedTensorsVariantsAreRead() throws {
        let format = try Self.read([
            ("model.layers.0.self_attn.attn.k_scale", Self.scalar(0.5)), ("model.layers.0.self_attn.attn.v_scale", Self.scalar(3)),
            ("model.layers.1.self_attn.k_proj.output_scale", Self.scalar(2)),
            ("model.layers.1.self_attn.v_proj.output_scale", Self.scalar(8)),
        ])
        #expect(format.scales == [KVCacheScales(key: 0.5, value: 3), KVCacheScales(key: 2, value: 8)])
    }

    /// The deprecated `kv_scale` serves both; a layer with only a key scale uses it for values
    /// too (vLLM duplicates the one it has); a layer with none takes 1.
    @Test func sharedAndMissingScales() throws {
        let format = try Self.read([
            ("model.layers.0.self_attn.kv_scale", Self.scalar(0.75)), ("model.layers.1.self_attn.k_scale", Self.scalar(1.5)),
        ])
        #expect(format.scales == [KVCacheScales(key: 0.75, value: 0.75), KVCacheScales(key: 1.5, value: 1.5)])
        let partial = try Self.read([("model.layers.1.self_attn.v_scale", Self.scalar(2))])
        #expect(partial.scales == [.one, KVCacheScales(key: 2, value: 2)])
    }

    @Test func noScalesMeanOneAndAutoIgnoresThem() throws {
        let none = try KVCacheFormat.read(.fp8, numLayers: 2, from: ModelFolder(path: Self.source).weights(format: .auto))
        #expect(none.scales.isEmpty && !none.scalesFromCheckpoint && none.scales(layer: 1) == .one)
        #expect(none.summary == "fp8 (e4m3), k/v scales 1.0 (none in the checkpoint)")
        let auto = try Self.read([("model.layers.0.self_attn.k_scale", Self.scalar(0.5))], dtype: .auto)
        #expect(auto == .auto)
    }

    @Test func perHeadAndNonPositiveScalesAreRefused() throws {
        let perHead = #expect(throws: ModelLoadError.self) {
            try Self.read([("model.layers.0.self_attn.k_scale", HostTensor(shape: [2], values: [1, 2]))])
        }
        #expect(
            "\(perHead!)".contains(
                "'model.layers.0.self_attn.k_scale': a KV cache scale must be one number per layer; per-head scales (shape [2]) are not supported"
            ))
        let negative = #expect(throws: ModelLoadError.self) {
            try Self.read([("model.layers.1.self_attn.v_scale", Self.scalar(-1))])
        }
        #expect("\(negative!)".contains("'model.layers.1.self_attn.v_scale': a KV cache scale must be positive and finite, got -1.0"))
    }

    /// Loaded through the platform with `--kv-cache-dtype fp8`, the checkpoint's scales reach the
    /// cache: logits equal those of a runner given the same scales, and differ from scales of 1.
    @Test func platformLoadUsesTheCheckpointScales() throws {
        let scales = [KVCacheScales(key: 0x1p-7, value: 0x1p-6), KVCacheScales(key: 0x1p-6, value: 0x1p-7)]
        let folder = try Self.fixture(
            with: (0..<2).flatMap { layer in
                [
                    ("model.layers.\(layer).self_attn.k_scale", Self.scalar(scales[layer].key)),
                    ("model.layers.\(layer).self_attn.v_scale", Self.scalar(scales[layer].value)),
                ]
            })
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var options = ModelLoadOptions(maxModelLength: 128, maxNumBatchedTokens: 256)
        options.kvCacheDType = .fp8
        options.numBlocksOverride = 64
        let loaded = try CPUPlatform().load(ModelFolder(path: folder), options)
        #expect(loaded.kvCache == KVCacheFormat(dtype: .fp8, scales: scales, scalesFromCheckpoint: true))
        loaded.executor.allocateKVCache(numBlocks: 64, blockSize: 16)
        let prompt = Array(3..<40)
        var batch = ForwardBatch(
            chunks: [SequenceChunk(tokenIDs: prompt.map(Int32.init), numCached: 0, blockTable: [0, 1, 2])], blockSize: 16)
        batch.logitIndices = (0..<Int32(prompt.count)).map { $0 }
        let logits = loaded.executor.execute(batch)
        let given = try DirectRunner(folder: folder, maxLength: 128, kvCacheFormat: loaded.kvCache).promptLogits(prompt)
        let one = try DirectRunner(folder: folder, maxLength: 128, kvCacheFormat: KVCacheFormat(dtype: .fp8)).promptLogits(prompt)
        #expect(logits == given.flatMap { $0 })
        #expect(logits != one.flatMap { $0 })
    }
}
