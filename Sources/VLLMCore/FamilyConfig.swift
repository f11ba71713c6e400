import Foundation

/// The config.json switches of the Gemma 2, Gemma 3 and Phi-3 families, read in one place with
/// errors that name the field. Llama-family configs leave them at their neutral values.
public struct FamilyConfig: Sendable, Equatable {
    /// Attention scores are multiplied by `query_pre_attn_scalar^-0.5` instead of `head_dim^-0.5`.
    public var queryPreAttnScalar: Double?
    /// Attention scores become `cap * tanh(score / cap)` before the softmax (Gemma 2).
    public var attentionLogitSoftCap: Float?
    /// Final logits become `cap * tanh(logit / cap)` (Gemma 2).
    public var finalLogitSoftCap: Float?
    /// For each layer, whether it attends through the sliding window (`layer_types`, else
    /// Gemma 2's alternation or Gemma 3's `sliding_window_pattern`, else every layer when a window is set).
    public var slidingLayers: [Bool]
    /// Rope theta of the sliding layers when they have their own (Gemma 3's `rope_local_base_freq`);
    /// those layers use no rope scaling.
    public var slidingRopeTheta: Double?
    /// The fraction of each head that the rotary embedding turns (`partial_rotary_factor`).
    public var partialRotaryFactor: Double

    /// Reads the switches from the text model's config object `c`.
    init(_ c: [String: Any], reader: ConfigReader, numLayers: Int, slidingWindow: Int?, rope: ModelConfig.RopeParameters) throws {
        queryPreAttnScalar = try reader.optionalPositiveDouble("query_pre_attn_scalar")
        attentionLogitSoftCap = try reader.optionalPositiveDouble("attn_logit_softcapping").map(Float.init)
        finalLogitSoftCap = try reader.optionalPositiveDouble("final_logit_softcapping").map(Float.init)
        partialRotaryFactor =
            try (rope.global["partial_rotary_factor"] as? NSNumber)?.doubleValue
            ?? (reader.optionalPositiveDouble("partial_rotary_factor")) ?? 1
        guard partialRotaryFactor > 0, partialRotaryFactor <= 1 else {
            throw ModelLoadError.invalidConfig(
                path: reader.path, field: "partial_rotary_factor", detail: "\(partialRotaryFactor) is not in (0, 1]")
        }
        slidingRopeTheta =
            try (rope.sliding?["rope_theta"] as? NSNumber)?.doubleValue
            ?? (reader.optionalPositiveDouble("rope_local_base_freq"))
        slidingLayers = try Self.readSlidingLayers(c, reader: reader, numLayers: numLayers, slidingWindow: slidingWindow)
    }

    private static func readSlidingLayers(
        _ c: [String: Any], reader: ConfigReader, numLayers: Int, slidingWindow: Int?
    ) throws -> [Bool] {
        guard slidingWindow != nil else { return Array(repeating: false, count: numLayers) }
        if let types = c["layer_types"] as? [String] {
            guard types.count == numLayers else {
                throw ModelLoadError.invalidConfig(
                    path: reader.path, field: "layer_types", detail: "\(types.count) entries for \(numLayers) layers")
            }
            if let bad = types.first(where: { $0 != "sliding_attention" && $0 != "full_attention" }) {
                throw ModelLoadError.invalidConfig(
                    path: reader.path, field: "layer_types",
                    detail: "'\(bad)' is not supported (sliding_attention, full_attention)")
            }
            return types.map { $0 == "sliding_attention" }
        }
        switch c["model_type"] as? String {
        case "gemma2":
            return (0..<numLayers).map { $0 % 2 == 0 }
        case "gemma3_text", "gemma3":
            let pattern = try reader.positiveInt("sliding_window_pattern", default: 6)
            return (0..<numLayers).map { ($0 + 1) % pattern != 0 }
        default:
            return Array(repeating: true, count: numLayers)
        }
    }
}

extension ModelConfig {
    /// The sliding window of layer `layer`, nil where it attends to the whole sequence.
    public func slidingWindow(layer: Int) -> Int? {
        family.slidingLayers[layer] ? slidingWindow : nil
    }

    /// How many leading values of each head the rotary embedding turns (an even number).
    public var rotaryDim: Int {
        let dim = Int(Double(headDim) * family.partialRotaryFactor)
        return dim - dim % 2
    }

    /// LongRoPE from a flat dictionary of rope keys; the attention factor defaults, as in
    /// transformers, to `sqrt(1 + ln(s) / ln(original))` with `s = max_position_embeddings / original`.
    static func readLongRope(
        _ scaling: [String: Any], reader: ConfigReader, field: String, maxPositions: Int
    ) throws -> RopeScaling {
        func factors(_ key: String) throws -> [Double] {
            guard let list = scaling[key] as? [NSNumber], !list.isEmpty else {
                throw ModelLoadError.invalidConfig(path: reader.path, field: "\(field).\(key)", detail: "missing for longrope")
            }
            return list.map(\.doubleValue)
        }
        let short = try factors("short_factor"), long = try factors("long_factor")
        guard short.count == long.count else {
            throw ModelLoadError.invalidConfig(
                path: reader.path, field: "\(field).long_factor",
                detail: "\(long.count) values but short_factor has \(short.count)")
        }
        guard let original = (scaling["original_max_position_embeddings"] as? NSNumber)?.intValue, original > 1 else {
            throw ModelLoadError.invalidConfig(
                path: reader.path, field: "original_max_position_embeddings", detail: "missing or not above 1 for longrope")
        }
        let factor = (scaling["factor"] as? NSNumber)?.doubleValue ?? Double(maxPositions) / Double(original)
        let attention =
            (scaling["attention_factor"] as? NSNumber)?.doubleValue
            ?? (factor <= 1 ? 1 : (1 + log(factor) / log(Double(original))).squareRoot())
        return .longrope(shortFactor: short, longFactor: long, originalMaxPositions: original, attentionFactor: attention)
    }
}

extension ConfigReader {
    /// A positive number, or nil when the key is absent or null.
    func optionalPositiveDouble(_ key: String) throws -> Double? {
        guard let raw = json[key], !(raw is NSNull) else { return nil }
        guard let number = raw as? NSNumber, number.doubleValue > 0 else {
            throw ModelLoadError.invalidConfig(path: path, field: key, detail: "expected a positive number, found \(raw)")
        }
        return number.doubleValue
    }
}
