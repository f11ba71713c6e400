import Foundation

/// Defaults for generation from `generation_config.json`: EOS ids and sampling defaults.
public struct GenerationConfig: Sendable, Equatable {
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int] = []
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var minP: Double?
    public var repetitionPenalty: Double?
    public var maxNewTokens: Int?
    public var doSample: Bool?

    public init() {}

    /// Reads `path`; a missing file is not an error (the folder may have none), bad JSON is.
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
    }
}
