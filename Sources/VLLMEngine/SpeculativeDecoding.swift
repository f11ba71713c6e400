import Foundation

/// vLLM's `--speculative-config`: how draft tokens are proposed for each decode step, to be
/// verified together in one forward pass of the model.
public struct SpeculativeConfig: Sendable, Equatable {
    /// How drafts are made.
    public enum Method: String, Sendable, Equatable {
        /// Prompt lookup: the tokens that followed the latest earlier occurrence of the sequence's
        /// last n tokens.
        case ngram
        /// A smaller model with the same vocabulary, run autoregressively for the drafts.
        case draftModel = "draft_model"
        /// An EAGLE-3 head: one decoder layer reading the target's hidden states of three layers.
        case eagle3
    }

    /// How the drafts are made.
    public var method: Method
    /// Draft tokens proposed per step.
    public var numSpeculativeTokens: Int
    /// Longest suffix looked up (tried first).
    public var promptLookupMax: Int
    /// Shortest suffix looked up.
    public var promptLookupMin: Int
    /// The draft model of `draftModel` (a folder or a Hugging Face id), or the head folder of `eagle3`.
    public var model: String?
    /// The branch, tag or commit of a Hub id in `model`; "main" when nil.
    public var revision: String?

    /// An n-gram configuration.
    public init(method: Method = .ngram, numSpeculativeTokens: Int, promptLookupMax: Int = 5, promptLookupMin: Int? = nil) {
        self.method = method
        self.numSpeculativeTokens = numSpeculativeTokens
        self.promptLookupMax = promptLookupMax
        self.promptLookupMin = promptLookupMin ?? promptLookupMax
    }

    /// A draft-model configuration: `model` (a folder or a Hub id) proposes `numSpeculativeTokens` per step.
    public init(draftModel model: String, numSpeculativeTokens: Int) {
        self.init(method: .draftModel, numSpeculativeTokens: numSpeculativeTokens)
        self.model = model
    }

    /// An EAGLE-3 configuration: the head in folder `head` proposes `numSpeculativeTokens` per step.
    public init(eagle3Head head: String, numSpeculativeTokens: Int) {
        self.init(method: .eagle3, numSpeculativeTokens: numSpeculativeTokens)
        model = head
    }

    /// Parses vLLM's JSON form, e.g. `{"method": "ngram", "num_speculative_tokens": 4,
    /// "prompt_lookup_max": 4, "prompt_lookup_min": 2}` or `{"method": "draft_model", "model":
    /// "org/small", "num_speculative_tokens": 4}` (a `model` without `method` means `draft_model`, as
    /// vLLM infers it).
    public init(json: String) throws {
        let fail = Self.invalid
        guard let data = json.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw fail("not a JSON object: \(json)") }
        let known: Set = [
            "method", "model", "revision", "draft_tensor_parallel_size", "num_speculative_tokens", "prompt_lookup_max",
            "prompt_lookup_min",
        ]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("unknown key '\(unknown)' (supported: \(known.sorted().joined(separator: ", ")))")
        }
        struct Fields: Decodable {
            var method: String?
            var model: String?
            var revision: String?
            var draft_tensor_parallel_size: Int?
            var num_speculative_tokens: Int?
            var prompt_lookup_max: Int?
            var prompt_lookup_min: Int?
        }
        let fields: Fields
        do { fields = try JSONDecoder().decode(Fields.self, from: data) } catch {
            throw fail("each value must be a string or an integer: \(json)")
        }
        let name = fields.method ?? (fields.model == nil ? "ngram" : "draft_model")
        guard let method = Method(rawValue: name) else {
            throw fail("method '\(name)' is not supported; supported: ngram, draft_model, eagle3")
        }
        guard let count = fields.num_speculative_tokens else { throw fail("'num_speculative_tokens' is required") }
        self.init(
            method: method, numSpeculativeTokens: count, promptLookupMax: fields.prompt_lookup_max ?? 5,
            promptLookupMin: fields.prompt_lookup_min)
        model = fields.model
        revision = fields.revision
        if let size = fields.draft_tensor_parallel_size, size != 1 {
            throw fail("draft_tensor_parallel_size \(size): the draft runs on one rank; use 1")
        }
        try validate()
    }

    /// Checks the ranges.
    public func validate() throws {
        let fail = Self.invalid
        guard (1...32).contains(numSpeculativeTokens) else { throw fail("num_speculative_tokens must be in 1...32") }
        guard promptLookupMin >= 1, promptLookupMin <= promptLookupMax, promptLookupMax <= 64 else {
            throw fail("need 1 <= prompt_lookup_min <= prompt_lookup_max <= 64")
        }
        switch method {
        case .ngram where model != nil: throw fail("'model' is for methods draft_model and eagle3, not ngram")
        case .draftModel where model?.isEmpty ?? true: throw fail("method draft_model needs 'model' (a folder or a Hugging Face id)")
        case .eagle3 where model?.isEmpty ?? true: throw fail("method eagle3 needs 'model' (the EAGLE-3 head's folder)")
        default: break
        }
    }

    /// What is configured, in a few words for logs.
    public var summary: String {
        switch method {
        case .ngram: "ngram, \(numSpeculativeTokens) tokens, lookup \(promptLookupMin)...\(promptLookupMax)"
        case .draftModel: "draft_model \(model ?? "?"), \(numSpeculativeTokens) tokens (its KV cache in every block beside the target's)"
        case .eagle3: "eagle3 head \(model ?? "?"), \(numSpeculativeTokens) tokens (its KV cache in every block beside the target's)"
        }
    }

    private static func invalid(_ detail: String) -> EngineError { .invalidParameter(field: "speculative_config", detail: detail) }

    /// Up to `limit` draft tokens for a sequence of `tokens`: the tokens that followed the latest
    /// earlier occurrence of its last n tokens, for the longest n that occurs.
    func propose(_ tokens: ArraySlice<Int>, limit: Int) -> [Int] {
        let count = min(numSpeculativeTokens, limit)
        guard count > 0 else { return [] }
        let end = tokens.endIndex
        for n in stride(from: promptLookupMax, through: promptLookupMin, by: -1) where n < tokens.count {
            let suffix = tokens[(end - n)..<end]
            // The latest match whose continuation starts before the suffix itself.
            var start = end - n - 1
            while start >= tokens.startIndex {
                if tokens[start..<(start + n)].elementsEqual(suffix) {
                    let from = start + n
                    return Array(tokens[from..<min(from + count, end)])
                }
                start -= 1
            }
        }
        return []
    }
}

/// Counters of speculative decoding, with the meanings of vLLM's `vllm:spec_decode_*` metrics.
public struct SpeculativeStats: Sendable, Equatable {
    /// Steps of a request that verified at least one draft token.
    public var numDrafts = 0
    /// Draft tokens verified.
    public var numDraftTokens = 0
    /// Draft tokens accepted.
    public var numAcceptedTokens = 0
    /// Accepted draft tokens by their position in the draft (0 first).
    public var acceptedPerPosition: [Int] = []

    /// Accepted over verified draft tokens.
    public var acceptanceRate: Double { numDraftTokens == 0 ? 0 : Double(numAcceptedTokens) / Double(numDraftTokens) }
    /// Tokens each verifying step produced on average: the accepted drafts plus the one sampled.
    public var meanAcceptedLength: Double { numDrafts == 0 ? 0 : 1 + Double(numAcceptedTokens) / Double(numDrafts) }

    /// No steps yet.
    public init() {}

    /// What was recorded after `earlier`, a copy of these statistics taken before.
    public func since(_ earlier: SpeculativeStats) -> SpeculativeStats {
        var period = SpeculativeStats()
        period.numDrafts = numDrafts - earlier.numDrafts
        period.numDraftTokens = numDraftTokens - earlier.numDraftTokens
        period.numAcceptedTokens = numAcceptedTokens - earlier.numAcceptedTokens
        period.acceptedPerPosition = acceptedPerPosition.enumerated().map {
            $0.element - ($0.offset < earlier.acceptedPerPosition.count ? earlier.acceptedPerPosition[$0.offset] : 0)
        }
        return period
    }

    /// Adds another period's statistics (`since`) to these.
    public mutating func add(_ other: SpeculativeStats) {
        numDrafts += other.numDrafts
        numDraftTokens += other.numDraftTokens
        numAcceptedTokens += other.numAcceptedTokens
        for (i, n) in other.acceptedPerPosition.enumerated() {
            if i < acceptedPerPosition.count { acceptedPerPosition[i] += n } else { acceptedPerPosition.append(n) }
        }
    }

    mutating func record(drafted: Int, accepted: Int) {
        guard drafted > 0 else { return }
        numDrafts += 1
        numDraftTokens += drafted
        numAcceptedTokens += accepted
        if acceptedPerPosition.count < drafted { acceptedPerPosition += Array(repeating: 0, count: drafted - acceptedPerPosition.count) }
        for i in 0..<accepted { acceptedPerPosition[i] += 1 }
    }
}
