import Foundation
import Testing
import VLLMCore
import VLLMTestSupport

/// A broken model folder gives one clear error naming the file and the problem.
@Suite struct ModelFolderTests {
    static let source = RepositoryFiles.path("Tests/Fixtures/models/qwen2")

    /// A copy of the qwen2 fixture folder in a temporary directory, changed by `edit`.
    func brokenCopy(_ edit: (String) throws -> Void) throws -> String {
        let folder = NSTemporaryDirectory() + "vllm-broken-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Self.source, toPath: folder)
        try edit(folder)
        return folder
    }

    func loadError(_ folder: String) -> String {
        do {
            let model = try ModelFolder(path: folder)
            _ = try model.weights(format: .auto).tensor(
                "model.layers.0.self_attn.q_proj.weight", shape: [model.config.numHeads * model.config.headDim, model.config.hiddenSize])
            _ = try model.weights(format: .auto).tensor("model.norm.weight", shape: [model.config.hiddenSize])
            _ = try model.weights(format: .auto).tensor(
                "model.layers.0.mlp.up_proj.weight", shape: [model.config.intermediateSize, model.config.hiddenSize])
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func editConfig(_ folder: String, _ change: (inout [String: Any]) -> Void) throws {
        let path = folder + "/config.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        change(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
    }

    @Test func missingFolder() {
        #expect(loadError("/nonexistent/model") == "/nonexistent/model (model folder): file not found")
    }

    @Test func missingConfig() throws {
        let folder = try brokenCopy { try FileManager.default.removeItem(atPath: $0 + "/config.json") }
        #expect(loadError(folder) == "\(folder)/config.json: file not found")
    }

    @Test func badJSON() throws {
        let folder = try brokenCopy { try "{\"architectures\": [".write(toFile: $0 + "/config.json", atomically: true, encoding: .utf8) }
        #expect(loadError(folder).hasPrefix("\(folder)/config.json: invalid JSON"))
    }

    @Test func unknownArchitecture() throws {
        let folder = try brokenCopy { try editConfig($0) { $0["architectures"] = ["GPT2LMHeadModel"] } }
        let supported = ModelRegistry.supportedArchitectures
        #expect(supported.contains("LlamaForCausalLM") && supported.contains("Qwen3MoeForCausalLM") && supported.contains("BertModel"))
        #expect(
            loadError(folder)
                == "\(folder)/config.json: unknown architecture 'GPT2LMHeadModel'; supported: \(supported.joined(separator: ", "))")
    }

    @Test func unsupportedActivation() throws {
        let folder = try brokenCopy { try editConfig($0) { $0["hidden_act"] = "relu" } }
        #expect(
            loadError(folder)
                == "\(folder)/config.json: invalid value for 'hidden_activation': 'relu' is not supported (silu, gelu_pytorch_tanh)")
    }

    @Test func longRopeWithoutLongFactors() throws {
        let folder = try brokenCopy {
            try editConfig($0) {
                $0["rope_parameters"] = [
                    "rope_type": "longrope", "rope_theta": 10000.0, "short_factor": [1.0, 1.0], "original_max_position_embeddings": 32,
                ]
            }
        }
        #expect(loadError(folder) == "\(folder)/config.json: invalid value for 'rope_parameters.long_factor': missing for longrope")
    }

    @Test func layerTypesOfTheWrongLength() throws {
        let folder = try brokenCopy {
            try editConfig($0) {
                $0["use_sliding_window"] = true
                $0["sliding_window"] = 4
                $0["layer_types"] = ["sliding_attention"]
            }
        }
        #expect(loadError(folder) == "\(folder)/config.json: invalid value for 'layer_types': 1 entries for 2 layers")
    }

    @Test func missingConfigField() throws {
        let folder = try brokenCopy { try editConfig($0) { $0["hidden_size"] = nil } }
        #expect(loadError(folder) == "\(folder)/config.json: invalid value for 'hidden_size': missing")
    }

    @Test func missingWeights() throws {
        let folder = try brokenCopy { try FileManager.default.removeItem(atPath: $0 + "/model.safetensors") }
        #expect(loadError(folder).contains("model.safetensors (or model.safetensors.index.json): file not found"))
    }

    @Test func truncatedSafetensors() throws {
        let folder = try brokenCopy { folder in
            let path = folder + "/model.safetensors"
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: path))
        }
        let error = loadError(folder)
        #expect(error.hasPrefix("\(folder)/model.safetensors: not a valid safetensors file"), "\(error)")
        #expect(error.contains("truncated"))
    }

    @Test func garbageSafetensors() throws {
        let folder = try brokenCopy { try Data([1, 2, 3]).write(to: URL(fileURLWithPath: $0 + "/model.safetensors")) }
        #expect(loadError(folder).contains("shorter than the 8-byte header length"))
    }

    @Test func wrongShape() throws {
        let folder = try brokenCopy { try editConfig($0) { $0["intermediate_size"] = ($0["intermediate_size"] as! Int) + 8 } }
        let error = loadError(folder)
        #expect(error.hasPrefix("\(folder)/model.safetensors: tensor 'model.layers.0.mlp.up_proj.weight' has shape"), "\(error)")
    }

    @Test func missingTensor() throws {
        let folder = try brokenCopy { folder in
            let file = try SafetensorsFile(path: folder + "/model.safetensors")
            let kept = try file.tensorNames.filter { $0 != "model.norm.weight" }.map { ($0, try file.tensor($0)) }
            try SafetensorsFile.write(kept, to: folder + "/model.safetensors.tmp")
            try FileManager.default.removeItem(atPath: folder + "/model.safetensors")
            try FileManager.default.moveItem(atPath: folder + "/model.safetensors.tmp", toPath: folder + "/model.safetensors")
        }
        #expect(loadError(folder) == "\(folder)/model.safetensors: tensor 'model.norm.weight' is missing")
    }

    @Test func unsupportedRopeType() throws {
        let folder = try brokenCopy { try editConfig($0) { $0["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0] } }
        #expect(loadError(folder).contains("rope type 'yarn' is not supported"))
    }

    /// Sizes no model has are refused before the loader allocates per layer or multiplies shapes.
    @Test func hugeSizes() throws {
        let layers = try brokenCopy { try editConfig($0) { $0["num_hidden_layers"] = 1_000_000_000_000 } }
        #expect(loadError(layers) == "\(layers)/config.json: invalid value for 'num_hidden_layers': 1000000000000 is larger than 65536")
        let hidden = try brokenCopy { try editConfig($0) { $0["hidden_size"] = 1 << 40 } }
        #expect(loadError(hidden) == "\(hidden)/config.json: invalid value for 'hidden_size': \(1 << 40) is larger than \(1 << 31)")
    }

    /// A sliding window of no positions trapped in the attention; a negative epsilon made NaN norms.
    @Test func windowAndEpsilonOutOfRange() throws {
        let window = try brokenCopy {
            try editConfig($0) {
                $0["use_sliding_window"] = true
                $0["sliding_window"] = 0
            }
        }
        #expect(loadError(window) == "\(window)/config.json: invalid value for 'sliding_window': 0 is not a positive number of positions")
        let epsilon = try brokenCopy { try editConfig($0) { $0["rms_norm_eps"] = -1 } }
        #expect(loadError(epsilon) == "\(epsilon)/config.json: invalid value for 'rms_norm_eps': -1.0 is not a finite number at least 0")
    }

    /// A sampling default no request could use names generation_config.json (each request failed
    /// with the parameter's name alone); a `tie_word_embeddings` that is not a boolean is named
    /// (it was read as false, and the error that followed was a missing lm_head.weight).
    @Test func badGenerationDefaultsAndTying() throws {
        for (key, value, rule) in [
            ("temperature", -1.0, "0 or more"), ("top_p", 1.5, "in (0, 1]"), ("min_p", -0.1, "in [0, 1]"),
            ("repetition_penalty", 0.0, "positive"),
        ] {
            let folder = try brokenCopy {
                try JSONSerialization.data(withJSONObject: [key: value]).write(to: URL(fileURLWithPath: $0 + "/generation_config.json"))
            }
            #expect(loadError(folder) == "\(folder)/generation_config.json: invalid value for '\(key)': \(value) is not \(rule)")
        }
        let tied = try brokenCopy { try editConfig($0) { $0["tie_word_embeddings"] = "yes" } }
        #expect(loadError(tied) == "\(tied)/config.json: invalid value for 'tie_word_embeddings': yes is not true or false")
    }

    /// Rope factors that would divide by zero or trap in an Int conversion are named.
    @Test func badRopeFactors() throws {
        let zero = try brokenCopy { try editConfig($0) { $0["rope_scaling"] = ["rope_type": "linear", "factor": 0] } }
        #expect(loadError(zero) == "\(zero)/config.json: invalid value for 'rope_scaling.factor': 0.0 is not a positive number")
        let llama3: [String: Any] = [
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 1e300,
        ]
        let huge = try brokenCopy { try editConfig($0) { $0["rope_scaling"] = llama3 } }
        #expect(
            loadError(huge).hasSuffix("invalid value for 'rope_scaling.original_max_position_embeddings': 1e+300 is not a positive number"))
        var equal = llama3
        equal["original_max_position_embeddings"] = 8192
        equal["high_freq_factor"] = 1.0
        let flat = try brokenCopy { try editConfig($0) { $0["rope_scaling"] = equal } }
        #expect(loadError(flat).hasSuffix("invalid value for 'rope_scaling.high_freq_factor': 1.0 is not above low_freq_factor 1.0"))
        let theta = try brokenCopy { try editConfig($0) { $0["rope_theta"] = -1 } }
        #expect(loadError(theta) == "\(theta)/config.json: invalid value for 'rope_theta': -1.0 is not a positive number")
    }

    /// LongRoPE factors of the wrong count are a config error, not a failed precondition in the table.
    @Test func longRopeFactorsOfTheWrongCount() throws {
        let folder = try brokenCopy {
            try editConfig($0) {
                $0["rope_scaling"] = [
                    "rope_type": "longrope", "short_factor": [1.0, 1.0], "long_factor": [1.0, 1.0],
                    "original_max_position_embeddings": 4096,
                ]
            }
        }
        #expect(
            loadError(folder)
                == "\(folder)/config.json: invalid value for 'rope_scaling.short_factor': 2 values for a rotary dimension of 8 (4 expected)"
        )
    }

    /// A compressed-tensors FP8 block of zero rows would divide by zero when the scales are indexed.
    @Test func zeroSizedFP8Block() {
        let weights: [String: Any] = ["num_bits": 8, "type": "float", "strategy": "block", "block_structure": [0, 128]]
        let config: [String: Any] = [
            "quantization_config": [
                "quant_method": "compressed-tensors", "format": "float-quantized",
                "config_groups": ["group_0": ["targets": ["Linear"], "weights": weights]],
            ]
        ]
        #expect(
            throws: ModelLoadError.invalidConfig(
                path: "c.json", field: "quantization_config.config_groups.group_0.weights.block_structure",
                detail: "missing or not two positive sizes for strategy block")
        ) { _ = try QuantizationConfig(json: config, path: "c.json") }
    }

    /// Both generations of config.json give the same configuration.
    @Test func oldAndNewRopeConfigKeys() throws {
        let old = try ModelConfig(
            json: [
                "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "vocab_size": 100, "rope_theta": 500000.0,
                "rope_scaling": [
                    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 8192,
                ],
            ], path: "old")
        let new = try ModelConfig(
            json: [
                "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "vocab_size": 100,
                "rope_parameters": [
                    "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
                ],
            ], path: "new")
        #expect(old == new)
        #expect(old.ropeScaling == .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192))
    }

    @Test func dummyWeightsHaveTheRequestedShape() throws {
        let weights = DummyWeights(dtype: .bfloat16)
        let t = try weights.tensor("model.layers.0.mlp.up_proj.weight", shape: [48, 32])
        #expect(t.shape == [48, 32] && t.dtype == .bfloat16)
        #expect(try weights.tensor("model.norm.weight", shape: [32]).floats().allSatisfy { $0 == 1 })
    }
}
