import Foundation

/// Defaults for generation from `generation_config.json`: EOS ids and sampling defaults.
public struct GenerationConfig: Sendable, Equatable {
    /// `bos_token_id`, when the file has one.
    public var bosTokenID: Int?
    /// `eos_token_id`: one id or a list; empty when absent.
    public var eosTokenIDs: [Int] = []
    /// `temperature`: the request's default when it sends none.
    public var temperature: Double?
    /// `top_p`: the request's default when it sends none.
    public var topP: Double?
    /// `top_k`: the request's default when it sends none.
    public var topK: Int?
    /// `min_p`: the request's default when it sends none.
    public var minP: Double?
    /// `repetition_penalty`: the request's default when it sends none.
    public var repetitionPenalty: Double?
    /// `max_new_tokens`: the model's default output length (read; the server does not apply it).
    public var maxNewTokens: Int?
    /// `do_sample`: false makes greedy decoding (temperature 0) the default when the file gives no temperature.
    public var doSample: Bool?

    /// An empty config: no defaults.
    public init() {}

    /// Reads `path`; a missing file is not an error (the folder may have none), bad JSON is, and so
    /// is a sampling default that no request could use (an `invalidConfig` naming the file and the
    /// key), which would otherwise fail every request that takes it with no word of the file.
    public init(contentsOf path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let c = try readJSONObject(path: path)
        bosTokenID = c["bos_token_id"] as? Int
        eosTokenIDs = tokenIDList(c["eos_token_id"])
        temperature = (c["temperature"] as? NSNumber)?.doubleValue
        topP = (c["top_p"] as? NSNumber)?.doubleValue
        topK = c["top_k"] as? Int
        minP = (c["min_p"] as? NSNumber)?.doubleValue
        repetitionPenalty = (c["repetition_penalty"] as? NSNumber)?.doubleValue
        maxNewTokens = c["max_new_tokens"] as? Int
        doSample = c["do_sample"] as? Bool
        try validate(path: path)
    }

    private func validate(path: String) throws {
        func check<V>(_ field: String, _ value: V?, _ valid: (V) -> Bool, _ rule: String) throws {
            guard let value, !valid(value) else { return }
            throw ModelLoadError.invalidConfig(path: path, field: field, detail: "\(value) is not \(rule)")
        }
        try check("temperature", temperature, SamplingRanges.temperature, "0 or more")
        try check("top_p", topP, SamplingRanges.topP, "in (0, 1]")
        try check("min_p", minP, SamplingRanges.minP, "in [0, 1]")
        try check("repetition_penalty", repetitionPenalty, SamplingRanges.repetitionPenalty, "positive")
        try check("top_k", topK, SamplingRanges.topK, "-1 (off), 0 (off) or a positive count")
    }
}
