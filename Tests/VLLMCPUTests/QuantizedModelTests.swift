import Foundation
import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// Quantized checkpoints in each published layout (scripts/make_quantized_fixtures.py) against
/// transformers run in float32 on the same checkpoint dequantized: the CPU multiplies the packed
/// weights, so logits agree to float32 rounding and greedy tokens are identical.
@Suite struct QuantizedModelTests {
    static let fixtures = [
        "gptq-int4-actorder", "gptq-int8-channel", "awq-int4", "ct-int4-group", "ct-fp8-channel", "fp8-block", "online-fp8",
        "squeezellm", "gptq-int4-lm-head",
    ]
    static let root = RepositoryFiles.path("Tests/Fixtures/quantized")

    /// The runner of a fixture; `online-fp8` is a float checkpoint loaded as `--quantization fp8`.
    static func runner(_ fixture: String) throws -> DirectRunner {
        try DirectRunner(folder: root + "/" + fixture, maxLength: 64, quantization: fixture == "online-fp8" ? "fp8" : nil)
    }

    @Test(arguments: fixtures)
    func promptLogitsMatchDequantizedTransformers(fixture: String) throws {
        let reference = try TransformersReferenceTests.Reference(Self.root + "/" + fixture)
        let logits = try Self.runner(fixture).promptLogits(reference.prompt)
        let expected = reference.logits.floats()
        let vocab = reference.logits.shape[1]
        var worst: Float = 0
        for (position, row) in logits.enumerated() {
            let want = expected[(position * vocab)..<((position + 1) * vocab)]
            let error: Float = zip(row, want).map { Swift.abs($0 - $1) }.max()!
            let scale: Float = want.map { Swift.abs($0) }.max()!
            worst = max(worst, error / scale)
        }
        print("\(fixture): worst relative logit error \(worst)")
        #expect(worst < 1e-4, "\(fixture): worst relative logit error \(worst)")
    }

    @Test(arguments: fixtures)
    func greedyTokensMatchDequantizedTransformers(fixture: String) throws {
        let reference = try TransformersReferenceTests.Reference(Self.root + "/" + fixture)
        #expect(try Self.runner(fixture).greedy(reference.prompt, count: reference.greedy.count) == reference.greedy)
    }

    /// The packed weights stay packed: a 4-bit layer takes about an eighth of its float32 bytes.
    @Test func int4WeightsStayPacked() throws {
        let folder = try ModelFolder(path: Self.root + "/awq-int4")
        let weight = try folder.weights(format: .auto).linear("model.layers.0.mlp.down_proj", out: 96, in: 160)
        #expect(weight.format == .packedInt(bits: 4, groupSize: 32, permuted: false))
        #expect(weight.tensors[0].count * 4 == 96 * 160 / 2)
    }

    /// `--load-format dummy` on a quantized config gives random weights already in the stored
    /// layout (what GPU benchmarks load), and they run.
    @Test(arguments: ["awq-int4", "gptq-int8-channel", "fp8-block", "online-fp8", "squeezellm"])
    func dummyWeightsComeInTheQuantizedLayout(fixture: String) throws {
        let folder = try ModelFolder(path: Self.root + "/" + fixture)
        let quantization = fixture == "online-fp8" ? "fp8" : nil
        let weights = try folder.weights(format: .dummy, quantization: quantization)
        let layer = try weights.linear("model.layers.0.mlp.down_proj", out: 96, in: 160)
        let expected = try #require(try folder.resolvedQuantization(quantization))
        switch expected {
        case .awq, .gptq, .packedInt4: #expect({ if case .packedInt = layer.format { true } else { false } }())
        case .fp8, .onlineFP8: #expect({ if case .fp8 = layer.format { true } else { false } }())
        case .squeezeLLM: #expect(layer.format == .lookupTable(bits: 4))
        }
        let model = try ModelRegistry.load(config: folder.config, weights: weights, backend: CPUBackend(), maxPositions: 64)
        model.allocateKVCache(numBlocks: 4, blockSize: 16)
        let logits = model.execute(
            ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1, 2, 3], numCached: 0, blockTable: [0])], blockSize: 16))
        #expect(!logits.isEmpty && logits.allSatisfy(\.isFinite))
    }

    /// GPTQ's `lm_head: true`: the checkpoint's head is read packed (not the float embeddings), and
    /// dummy weights for such a config quantize the head as well; a config without it keeps the
    /// head dense.
    @Test func quantizedLMHeadStaysPacked() throws {
        let folder = try ModelFolder(path: Self.root + "/gptq-int4-lm-head")
        #expect(folder.config.quantization?.quantizesLMHead == true && !folder.config.tieWordEmbeddings)
        for format in [LoadFormat.auto, .dummy] {
            let head = try folder.weights(format: format).linear("lm_head", out: 256, in: 96)
            #expect(head.format == .packedInt(bits: 4, groupSize: 32, permuted: false), "\(format)")
        }
        let plain = try ModelFolder(path: Self.root + "/awq-int4")
        #expect(try plain.weights(format: .dummy).linear("lm_head", out: 256, in: 96).format == .dense)
    }

    /// `lm_head: true` needs the quantized head in the files and an untied config.
    @Test func quantizedLMHeadErrorsNameTheField() throws {
        let folder = try ModelFolder(path: Self.root + "/gptq-int4-lm-head")
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.root + "/gptq-int4-lm-head/config.json"))
        var json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        json["tie_word_embeddings"] = true
        #expect {
            _ = try ModelConfig(json: json, path: "config.json")
        } throws: { error in
            if case ModelLoadError.invalidConfig(_, let field, _) = error { field == "quantization_config.lm_head" } else { false }
        }
        // A store without lm_head.qweight (a tied checkpoint's) under `lm_head: true`.
        let missing = QuantizedWeights(
            base: try SafetensorsWeights(folder: Self.root + "/awq-int4"), quantization: try #require(folder.config.quantization),
            path: "config.json")
        #expect {
            _ = try missing.linear("lm_head", out: 256, in: 96)
        } throws: { error in
            if case ModelLoadError.invalidConfig(_, let field, _) = error { field == "quantization_config.lm_head" } else { false }
        }
    }

    /// SqueezeLLM's `qweight [in/8, out]` is repacked to rows of `[out, in/8]` words; its fp16
    /// tables become float32.
    @Test func squeezeLLMIsReadFromQuantConfigJSON() throws {
        let folder = try ModelFolder(path: Self.root + "/squeezellm")
        #expect(folder.config.quantization == .squeezeLLM(bits: 4))
        #expect(try folder.resolvedQuantization("squeezellm") == .squeezeLLM(bits: 4))
        let weight = try folder.weights(format: .auto).linear("model.layers.0.mlp.down_proj", out: 96, in: 160)
        #expect(weight.format == .lookupTable(bits: 4))
        #expect(weight.tensors[0].shape == [96, 20] && weight.tensors[1].shape == [96, 16])
        #expect(weight.tensors[1].dtype == .float32)
    }

    @Test func fp8CodesRoundTrip() {
        for code in 0..<256 where code & 0x7F != 0x7F {
            let value = FloatBits.float8E4M3ToFloat(UInt8(code))
            let back = FloatBits.floatToFloat8E4M3(value)
            #expect(back == UInt8(code) || value == 0, "code \(code) -> \(value) -> \(back)")
        }
        #expect(FloatBits.float8E4M3ToFloat(0x7E) == 448)
        #expect(FloatBits.float8E4M3ToFloat(0x01) == 0x1p-9)
        #expect(FloatBits.floatToFloat8E4M3(1000) == 0x7E)
    }
}

/// `quantization_config` and `--quantization`: what is not implemented is an error naming the field.
@Suite struct QuantizationConfigTests {
    func config(_ q: [String: Any]) throws -> QuantizationConfig? {
        try QuantizationConfig(json: ["quantization_config": q], path: "config.json")
    }

    func field(of q: [String: Any]) -> String? {
        do {
            _ = try config(q)
            return nil
        } catch ModelLoadError.invalidConfig(_, let field, _) {
            return field
        } catch { return "\(error)" }
    }

    @Test func readsEachMethod() throws {
        #expect(
            try config(["quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": true])
                == .gptq(bits: 4, groupSize: 128, descAct: true, zeroOffset: 1))
        #expect(
            try config(["quant_method": "gptq", "bits": 4, "group_size": 32, "checkpoint_format": "gptq_v2", "lm_head": true])
                == .gptq(bits: 4, groupSize: 32, descAct: false, zeroOffset: 0, lmHead: true))
        #expect(try config(["quant_method": "awq", "bits": 4, "group_size": -1, "version": "GEMM"]) == .awq(groupSize: nil))
        #expect(try config(["quant_method": "fp8", "weight_block_size": [128, 128]]) == .fp8(.block(rows: 128, columns: 128)))
        #expect(try QuantizationConfig(json: [:], path: "config.json") == nil)
        #expect(try QuantizationConfig(quantConfigJSON: ["wbits": 4], path: "quant_config.json") == .squeezeLLM(bits: 4))
        // AutoAWQ's older quant_config.json (w_bit) is not SqueezeLLM's.
        #expect(try QuantizationConfig(quantConfigJSON: ["w_bit": 4, "q_group_size": 128], path: "quant_config.json") == nil)
    }

    @Test func unsupportedVariantsNameTheirField() {
        #expect(field(of: ["quant_method": "bitsandbytes"]) == "quantization_config.quant_method")
        #expect(throws: ModelLoadError.self) { try QuantizationConfig(quantConfigJSON: ["wbits": 3], path: "quant_config.json") }
        #expect(field(of: ["quant_method": "gptq", "bits": 3]) == "quantization_config.bits")
        #expect(field(of: ["quant_method": "gptq", "bits": 4, "group_size": 12]) == "quantization_config.group_size")
        #expect(field(of: ["quant_method": "awq", "bits": 4, "version": "gemv"]) == "quantization_config.version")
        #expect(
            field(of: ["quant_method": "awq", "bits": 4, "modules_to_not_convert": ["visual"]])
                == "quantization_config.modules_to_not_convert")
        #expect(
            field(of: [
                "quant_method": "compressed-tensors", "format": "pack-quantized",
                "config_groups": [
                    "group_0": ["targets": ["Linear"], "weights": ["num_bits": 4, "type": "int", "strategy": "group", "symmetric": false]]
                ],
            ]) == "quantization_config.config_groups.group_0.weights.symmetric")
    }

    @Test func quantizationFlagMustMatchTheCheckpoint() throws {
        let quantized = try ModelFolder(path: QuantizedModelTests.root + "/awq-int4")
        #expect(try quantized.resolvedQuantization("awq") == .awq(groupSize: 32))
        #expect(throws: PlatformError.self) { try quantized.resolvedQuantization("gptq") }
        #expect(throws: PlatformError.self) { try quantized.resolvedQuantization("int3") }
        let float = try ModelFolder(path: QuantizedModelTests.root + "/online-fp8")
        #expect(try float.resolvedQuantization("fp8") == .onlineFP8)
        #expect(throws: PlatformError.self) { try float.resolvedQuantization("awq") }
        #expect(throws: PlatformError.self) { try float.resolvedQuantization("squeezellm") }
        #expect(throws: PlatformError.self) { try quantized.resolvedQuantization("squeezellm") }
    }
}
