import Foundation

/// How rotary position embeddings are computed (config.json `rope_scaling` / `rope_parameters`).
public enum RopeScaling: Sendable, Equatable {
    case none
    /// Positions divided by `factor`.
    case linear(factor: Double)
    /// Llama 3.x frequency-dependent scaling.
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
    /// LongRoPE (Phi-3, Phi-4-mini): inverse frequencies divided by `shortFactor` for sequences up
    /// to `originalMaxPositions`, by `longFactor` past it; cos and sin multiplied by `attentionFactor`.
    case longrope(shortFactor: [Double], longFactor: [Double], originalMaxPositions: Int, attentionFactor: Double)
}

/// The parts of a Hugging Face `config.json` that the Llama family needs, read from either
/// generation of the format (top-level `rope_theta`/`rope_scaling` before transformers 5,
/// `rope_parameters` after).
public struct ModelConfig: Sendable, Equatable {
    /// The first of `architectures` (e.g. `LlamaForCausalLM`); it picks the model code.
    public var architecture: String
    /// `model_type` (e.g. `llama`); empty when absent.
    public var modelType: String
    /// `hidden_size`: the width of the residual stream.
    public var hiddenSize: Int
    /// `intermediate_size`: the width of the feed-forward layer.
    public var intermediateSize: Int
    /// `num_hidden_layers`.
    public var numLayers: Int
    /// `num_attention_heads`: query heads.
    public var numHeads: Int
    /// `num_key_value_heads`: key and value heads (default `numHeads`).
    public var numKVHeads: Int
    /// `head_dim`: values per head (default `hiddenSize / numHeads`).
    public var headDim: Int
    /// `vocab_size`: rows of the embedding table and columns of the logits.
    public var vocabSize: Int
    /// `rms_norm_eps`: added to the mean square in RMSNorm (default 1e-6).
    public var rmsNormEps: Float
    /// `rope_theta`: the base of the rotary frequencies.
    public var ropeTheta: Double
    /// How rotary positions are scaled (`rope_scaling` / `rope_parameters`).
    public var ropeScaling: RopeScaling
    /// `max_position_embeddings`: the longest sequence the model was trained for (default 2048).
    public var maxPositionEmbeddings: Int
    /// `tie_word_embeddings`: the output projection reuses the embedding table (default false).
    public var tieWordEmbeddings: Bool
    /// Bias on the q, k and v projections (Qwen2, or `attention_bias`).
    public var qkvBias: Bool
    /// Bias on the output projection (`attention_bias` in Llama).
    public var outputBias: Bool
    /// RMSNorm over each head of q and k before the rotary embedding (Qwen3).
    public var qkNorm: Bool
    /// Keys older than this many positions are not attended to (Mistral v0.1); nil for full attention.
    public var slidingWindow: Int?
    /// The dtype the weights were saved in, when the config says.
    public var dtype: DType?
    /// `bos_token_id`, when the config has one.
    public var bosTokenID: Int?
    /// `eos_token_id`: one id or a list; generation stops at any of them.
    public var eosTokenIDs: [Int]
    /// `quantization_config`: how the checkpoint's linear layers are quantized (nil: not at all).
    public var quantization: QuantizationConfig?
    /// The experts of a mixture-of-experts model (Mixtral, Qwen2/3-MoE); nil for a dense one.
    public var moe: MixtureOfExpertsConfig?
    /// The settings of a bidirectional encoder (BERT); nil for a decoder.
    public var encoder: EncoderConfig?
    /// The MLP activation (`hidden_activation`, else `hidden_act`): "silu" or "gelu_pytorch_tanh".
    public var activation: String
    /// Gemma and Phi-3 switches (`FamilyConfig.swift`).
    public var family: FamilyConfig

    /// Reads and validates `config.json`. Without a `quantization_config`, a SqueezeLLM
    /// `quant_config.json` beside it (`wbits`) gives the quantization, as vLLM read it.
    public init(contentsOf path: String) throws {
        let object = try readJSONObject(path: path)
        try self.init(json: object, path: path)
        let quantConfig = (path as NSString).deletingLastPathComponent + "/quant_config.json"
        if quantization == nil, FileManager.default.fileExists(atPath: quantConfig) {
            quantization = try QuantizationConfig(quantConfigJSON: readJSONObject(path: quantConfig), path: quantConfig)
        }
    }

    /// Reads a parsed `config.json` object; `path` is used in error messages.
    public init(json top: [String: Any], path: String) throws {
        guard let architectures = top["architectures"] as? [String], let first = architectures.first else {
            throw ModelLoadError.invalidConfig(path: path, field: "architectures", detail: "missing or empty")
        }
        // A multimodal checkpoint (Gemma3ForConditionalGeneration) keeps the language model's fields
        // in text_config; the text model is what runs.
        var c = top["text_config"] as? [String: Any] ?? top
        for key in ["dtype", "torch_dtype", "bos_token_id", "eos_token_id"] where c[key] == nil { c[key] = top[key] }
        let reader = ConfigReader(json: c, path: path)
        architecture = first
        modelType = c["model_type"] as? String ?? ""
        hiddenSize = try reader.positiveInt("hidden_size")
        intermediateSize = try reader.positiveInt("intermediate_size")
        numLayers = try reader.positiveInt("num_hidden_layers", maximum: 1 << 16)
        numHeads = try reader.positiveInt("num_attention_heads")
        numKVHeads = try reader.positiveInt("num_key_value_heads", default: numHeads)
        headDim = try reader.positiveInt("head_dim", default: hiddenSize / numHeads)
        vocabSize = try reader.positiveInt("vocab_size")
        rmsNormEps = Float(try reader.double("rms_norm_eps", default: 1e-6))
        // The rotary table holds a row per position: past 2^24 (16M, beyond any released model's
        // context) it alone would take gigabytes before the KV cache is sized.
        maxPositionEmbeddings = try reader.positiveInt("max_position_embeddings", default: 2048, maximum: 1 << 24)
        guard c["tie_word_embeddings"] == nil || c["tie_word_embeddings"] is NSNull || c["tie_word_embeddings"] is Bool else {
            throw ModelLoadError.invalidConfig(
                path: path, field: "tie_word_embeddings", detail: "\(c["tie_word_embeddings"]!) is not true or false")
        }
        tieWordEmbeddings = c["tie_word_embeddings"] as? Bool ?? false
        let attentionBias = c["attention_bias"] as? Bool ?? false
        let isQwen2 = first == "Qwen2ForCausalLM" || first == "Qwen2MoeForCausalLM"
        qkvBias = isQwen2 ? c["qkv_bias"] as? Bool ?? true : attentionBias
        outputBias = isQwen2 ? false : attentionBias
        qkNorm = first == "Qwen3ForCausalLM" || first == "Qwen3MoeForCausalLM"
        if isQwen2 || qkNorm {
            let use = c["use_sliding_window"] as? Bool ?? false
            slidingWindow = use ? c["sliding_window"] as? Int : nil
        } else {
            slidingWindow = c["sliding_window"] as? Int
        }
        dtype = ((c["dtype"] ?? c["torch_dtype"]) as? String).flatMap(DType.init(configName:))
        bosTokenID = c["bos_token_id"] as? Int
        eosTokenIDs = tokenIDList(c["eos_token_id"])
        quantization = try QuantizationConfig(json: c, path: path)
        let rope = try Self.readRopeParameters(c, reader: reader)
        (ropeTheta, ropeScaling) = try Self.readRope(
            rope.global, reader: reader, field: rope.field, maxPositions: maxPositionEmbeddings)
        moe = try MixtureOfExpertsConfig(json: c, architecture: first, reader: reader)
        encoder = try EncoderConfig(json: c, architecture: first, reader: reader)
        activation = (c["hidden_activation"] ?? c["hidden_act"]) as? String ?? (encoder == nil ? "silu" : "gelu")
        family = try FamilyConfig(c, reader: reader, numLayers: numLayers, slidingWindow: slidingWindow, rope: rope)

        // A window of no positions masks every key (the attention kernels divide by the sum), and a
        // negative epsilon turns RMSNorm's square root NaN: both ran on to garbage or a trap.
        if let window = slidingWindow, window <= 0 {
            throw ModelLoadError.invalidConfig(
                path: path, field: "sliding_window", detail: "\(window) is not a positive number of positions")
        }
        guard rmsNormEps >= 0, rmsNormEps.isFinite else {
            throw ModelLoadError.invalidConfig(path: path, field: "rms_norm_eps", detail: "\(rmsNormEps) is not a finite number at least 0")
        }
        guard numHeads % numKVHeads == 0 else {
            throw ModelLoadError.invalidConfig(
                path: path, field: "num_key_value_heads",
                detail: "\(numKVHeads) does not divide num_attention_heads \(numHeads)")
        }
        guard headDim % 2 == 0 || encoder != nil else {
            throw ModelLoadError.invalidConfig(path: path, field: "head_dim", detail: "\(headDim) is odd; rotary needs pairs")
        }
        // The rotary table indexes one factor per pair of rotated values (a precondition there).
        if case .longrope(let short, _, _, _) = ropeScaling, short.count != rotaryDim / 2 {
            throw ModelLoadError.invalidConfig(
                path: path, field: rope.field + ".short_factor",
                detail: "\(short.count) values for a rotary dimension of \(rotaryDim) (\(rotaryDim / 2) expected)")
        }
        // A tied head is the float embedding matrix; a quantized one would be a second matrix that
        // the config says is not there, so the two cannot both hold.
        guard !(tieWordEmbeddings && quantization?.quantizesLMHead == true) else {
            throw ModelLoadError.invalidConfig(
                path: path, field: "quantization_config.lm_head",
                detail: "true with tie_word_embeddings true: a quantized LM head needs an untied one")
        }
        let supported = encoder == nil ? ["silu", "gelu_pytorch_tanh"] : ["gelu"]
        guard supported.contains(activation) else {
            throw ModelLoadError.invalidConfig(
                path: path, field: "hidden_activation",
                detail: "'\(activation)' is not supported (\(supported.joined(separator: ", ")))")
        }
    }

    /// The rope settings of the global layers and, where a model gives its sliding layers their own
    /// (transformers 5 nests one dictionary per layer type), those of the sliding layers.
    struct RopeParameters {
        var global: [String: Any]
        var sliding: [String: Any]?
        var field: String
    }

    /// Gathers the rope keys of either config generation into flat dictionaries: transformers 5
    /// nests them in rope_parameters (per layer type for Gemma 3); older files have top-level
    /// rope_theta and rope_scaling.
    static func readRopeParameters(_ c: [String: Any], reader: ConfigReader) throws -> RopeParameters {
        if let parameters = c["rope_parameters"] as? [String: Any] {
            if let full = parameters["full_attention"] as? [String: Any] {
                return RopeParameters(
                    global: full, sliding: parameters["sliding_attention"] as? [String: Any],
                    field: "rope_parameters.full_attention")
            }
            return RopeParameters(global: parameters, sliding: nil, field: "rope_parameters")
        }
        var flat = c["rope_scaling"] as? [String: Any] ?? [:]
        flat["rope_theta"] = c["rope_theta"]
        if flat["original_max_position_embeddings"] == nil {
            flat["original_max_position_embeddings"] = c["original_max_position_embeddings"]
        }
        return RopeParameters(global: flat, sliding: nil, field: "rope_scaling")
    }

    /// Theta and scaling from one flat dictionary of rope keys (see `readRopeParameters`).
    static func readRope(
        _ scaling: [String: Any], reader: ConfigReader, field: String, maxPositions: Int
    ) throws -> (Double, RopeScaling) {
        let theta = (scaling["rope_theta"] as? NSNumber)?.doubleValue ?? 10000
        let type = (scaling["rope_type"] ?? scaling["type"]) as? String ?? "default"
        // Every rope factor divides a frequency or a wavelength: zero, a negative or a value past
        // Int's range would give NaN angles (or trap in the Int conversion), not an error.
        func number(_ key: String) throws -> Double {
            guard let value = (scaling[key] as? NSNumber)?.doubleValue else {
                throw ModelLoadError.invalidConfig(path: reader.path, field: "\(field).\(key)", detail: "missing for rope type \(type)")
            }
            guard value > 0, value < 1e15 else {
                throw ModelLoadError.invalidConfig(path: reader.path, field: "\(field).\(key)", detail: "\(value) is not a positive number")
            }
            return value
        }
        guard theta > 0, theta.isFinite else {
            throw ModelLoadError.invalidConfig(path: reader.path, field: "rope_theta", detail: "\(theta) is not a positive number")
        }
        switch type {
        case "default":
            return (theta, .none)
        case "linear":
            return (theta, .linear(factor: try number("factor")))
        case "llama3":
            let (low, high) = (try number("low_freq_factor"), try number("high_freq_factor"))
            guard high > low else {
                throw ModelLoadError.invalidConfig(
                    path: reader.path, field: "\(field).high_freq_factor", detail: "\(high) is not above low_freq_factor \(low)")
            }
            return (
                theta,
                .llama3(
                    factor: try number("factor"), lowFreqFactor: low, highFreqFactor: high,
                    originalMaxPositions: Int(try number("original_max_position_embeddings")))
            )
        case "longrope":
            return (theta, try readLongRope(scaling, reader: reader, field: field, maxPositions: maxPositions))
        default:
            throw ModelLoadError.invalidConfig(
                path: reader.path, field: field,
                detail: "rope type '\(type)' is not supported (default, linear, llama3, longrope)")
        }
    }
}

/// Typed reads from a JSON object with errors that name the file and the field.
struct ConfigReader {
    let json: [String: Any]
    let path: String

    /// A positive integer at most `maximum`: sizes past it are no model's, and would make the
    /// loader allocate (per layer, per position) or multiply shapes past `Int.max` before failing.
    func positiveInt(_ key: String, default fallback: Int? = nil, maximum: Int = 1 << 31) throws -> Int {
        guard let raw = json[key], !(raw is NSNull) else {
            if let fallback { return fallback }
            throw ModelLoadError.invalidConfig(path: path, field: key, detail: "missing")
        }
        guard let number = raw as? NSNumber, number.doubleValue == Double(number.intValue), number.intValue > 0 else {
            throw ModelLoadError.invalidConfig(path: path, field: key, detail: "expected a positive integer, found \(raw)")
        }
        guard number.intValue <= maximum else {
            throw ModelLoadError.invalidConfig(path: path, field: key, detail: "\(raw) is larger than \(maximum)")
        }
        return number.intValue
    }

    func double(_ key: String, default fallback: Double) throws -> Double {
        guard let raw = json[key], !(raw is NSNull) else { return fallback }
        guard let number = raw as? NSNumber else {
            throw ModelLoadError.invalidConfig(path: path, field: key, detail: "expected a number, found \(raw)")
        }
        return number.doubleValue
    }
}

/// A token id or a list of them (as `eos_token_id` may be) as a list.
func tokenIDList(_ value: Any?) -> [Int] {
    if let one = value as? Int { return [one] }
    return (value as? [Int]) ?? []
}

/// Reads a JSON object from a file, with errors that name the file.
func readJSONObject(path: String) throws -> [String: Any] {
    guard let data = FileManager.default.contents(atPath: path) else { throw ModelLoadError.missingFile(path: path) }
    let object: Any
    do {
        object = try JSONSerialization.jsonObject(with: data)
    } catch {
        throw ModelLoadError.invalidJSON(
            path: path, detail: (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)")
    }
    guard let dictionary = object as? [String: Any] else {
        throw ModelLoadError.invalidJSON(path: path, detail: "the top level is not an object")
    }
    return dictionary
}
