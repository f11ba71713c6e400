import Foundation

/// The model configuration that a GGUF file's metadata describes.
extension GGUFCheckpoint {
    /// GGUF's `general.architecture` names and the Hugging Face architecture each loads as.
    public static let architectures = ["llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"]

    /// The architecture's hyperparameters as a `ModelConfig`: the metadata is translated to the
    /// keys of a config.json, so that one reader validates both.
    public func modelConfig() throws -> ModelConfig {
        guard let arch = try required("general.architecture").string else {
            throw ModelLoadError.invalidGGUF(path: path, detail: "general.architecture is not a string")
        }
        guard let architecture = Self.architectures[arch] else {
            throw ModelLoadError.unknownArchitecture(path: path, name: arch, supported: Self.architectures.keys.sorted())
        }
        var json: [String: Any] = ["architectures": [architecture], "model_type": arch]
        let keys = [
            ("hidden_size", "embedding_length"), ("intermediate_size", "feed_forward_length"),
            ("num_hidden_layers", "block_count"), ("num_attention_heads", "attention.head_count"),
            ("num_key_value_heads", "attention.head_count_kv"), ("head_dim", "attention.key_length"),
            ("rms_norm_eps", "attention.layer_norm_rms_epsilon"), ("rope_theta", "rope.freq_base"),
            ("max_position_embeddings", "context_length"), ("vocab_size", "vocab_size"),
        ]
        for (configKey, ggufKey) in keys {
            guard let value = metadata[arch + "." + ggufKey] else { continue }
            guard let number = value.double else {
                throw ModelLoadError.invalidGGUF(path: path, detail: "\(arch).\(ggufKey) is \(value), not a number")
            }
            // Numbers as JSONSerialization makes them, which is what ModelConfig reads.
            json[configKey] = value.int.map { NSNumber(value: $0) } ?? NSNumber(value: number)
        }
        if json["vocab_size"] == nil {
            json["vocab_size"] = tensor("token_embd.weight")?.info.shape.first ?? metadata["tokenizer.ggml.tokens"]?.array?.count
        }
        json["tie_word_embeddings"] = tensor("output.weight") == nil
        json["attention_bias"] = tensor("blk.0.attn_q.bias") != nil
        json["bos_token_id"] = metadata["tokenizer.ggml.bos_token_id"]?.int
        json["eos_token_id"] = metadata["tokenizer.ggml.eos_token_id"]?.int
        json["rope_scaling"] = try ropeScaling(arch)
        let config = try ModelConfig(json: json, path: path)
        if let rotary = metadata[arch + ".rope.dimension_count"]?.int, rotary != config.headDim {
            throw ModelLoadError.invalidGGUF(
                path: path,
                detail:
                    "\(arch).rope.dimension_count \(rotary) differs from the head size \(config.headDim) (partial rotary is not supported)")
        }
        return config
    }

    private func ropeScaling(_ arch: String) throws -> [String: Any]? {
        if tensor("rope_freqs.weight") != nil {
            throw ModelLoadError.invalidGGUF(path: path, detail: "rope_freqs.weight (Llama 3.1 rope scaling) is not supported yet")
        }
        switch metadata[arch + ".rope.scaling.type"]?.string {
        case nil, "none": return nil
        case "linear":
            guard let factor = metadata[arch + ".rope.scaling.factor"]?.double else {
                throw ModelLoadError.invalidGGUF(path: path, detail: "\(arch).rope.scaling.factor is missing for linear rope scaling")
            }
            return ["rope_type": "linear", "factor": factor]
        case let other?:
            throw ModelLoadError.invalidGGUF(path: path, detail: "rope scaling '\(other)' is not supported (none, linear)")
        }
    }
}
