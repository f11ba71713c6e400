import Foundation

/// How the hidden states of a sequence become one embedding (vLLM's `pooling_type`).
public enum PoolingType: String, Sendable, CaseIterable {
    /// The mean over every token (sentence-transformers' `pooling_mode_mean_tokens`).
    case mean = "MEAN"
    /// The first token's state (BERT's [CLS]).
    case cls = "CLS"
    /// The last token's state (decoder embedding models such as Qwen3-Embedding).
    case last = "LAST"
}

/// How an embedding request is pooled: vLLM's pooler options (`pooling_type`, `normalize`) and
/// the request's `dimensions` (a Matryoshka model's leading dimensions, renormalized).
public struct PoolingParams: Sendable, Equatable {
    /// Which token states are combined.
    public var type: PoolingType
    /// Whether the embedding is divided by its L2 norm.
    public var normalize: Bool
    /// Keep only the first `dimensions` values (then normalize, when `normalize`); nil for all.
    public var dimensions: Int?

    /// A pooling rule.
    public init(type: PoolingType, normalize: Bool = true, dimensions: Int? = nil) {
        self.type = type
        self.normalize = normalize
        self.dimensions = dimensions
    }

    /// The embedding of one sequence from its `tokens` rows of `hidden` values (row-major).
    public func pool(_ states: ArraySlice<Float>, tokens: Int, hidden: Int) -> [Float] {
        precondition(tokens > 0 && states.count == tokens * hidden, "pooling \(states.count) values as \(tokens)x\(hidden)")
        let base = states.startIndex
        var out: [Float]
        switch type {
        case .cls: out = Array(states[base..<(base + hidden)])
        case .last: out = Array(states[(base + (tokens - 1) * hidden)..<(base + tokens * hidden)])
        case .mean:
            // Summed in float64: the mean of a long sequence does not depend on the summation order.
            var sum = [Double](repeating: 0, count: hidden)
            for t in 0..<tokens {
                for i in 0..<hidden { sum[i] += Double(states[base + t * hidden + i]) }
            }
            out = sum.map { Float($0 / Double(tokens)) }
        }
        if let dimensions { out = Array(out.prefix(dimensions)) }
        if normalize {
            let norm = out.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            // As torch.nn.functional.normalize: never divide by less than 1e-12.
            let scale = Float(1 / max(norm, 1e-12))
            out = out.map { $0 * scale }
        }
        return out
    }
}

/// What a model folder says about embeddings: the default pooling (sentence-transformers'
/// `modules.json` and `1_Pooling/config.json` when present, else the architecture's: CLS for
/// BERT, last token for decoders; normalized as vLLM's embed task does) and whether the model
/// accepts `dimensions` (config.json `is_matryoshka` or `matryoshka_dimensions`).
public struct EmbeddingSettings: Sendable, Equatable {
    /// The pooling a request gets unless it says otherwise.
    public var pooling: PoolingParams
    /// Whether a request may ask for fewer `dimensions`.
    public var matryoshka: Bool

    /// Reads the settings of the model folder at `path` whose config is `config`.
    public init(folder path: String, config: ModelConfig) throws {
        let encoder = config.architecture == "BertModel"
        var type: PoolingType = encoder ? .cls : .last
        var normalize = true
        let modulesPath = path + "/modules.json"
        if FileManager.default.fileExists(atPath: modulesPath) {
            let data = try Data(contentsOf: URL(fileURLWithPath: modulesPath))
            let modules = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
            normalize = modules.contains { ($0["type"] as? String)?.hasSuffix(".Normalize") == true }
            if let pooling = modules.first(where: { ($0["type"] as? String)?.hasSuffix(".Pooling") == true }),
                let folder = pooling["path"] as? String
            {
                let settings = try readJSONObject(path: path + "/" + folder + "/config.json")
                if settings["pooling_mode_mean_tokens"] as? Bool == true { type = .mean }
                if settings["pooling_mode_cls_token"] as? Bool == true { type = .cls }
                if settings["pooling_mode_lasttoken"] as? Bool == true { type = .last }
            }
        }
        pooling = PoolingParams(type: type, normalize: normalize)
        let raw = try readJSONObject(path: path + "/config.json")
        matryoshka = raw["is_matryoshka"] as? Bool == true || raw["matryoshka_dimensions"] is [Int]
    }
}
