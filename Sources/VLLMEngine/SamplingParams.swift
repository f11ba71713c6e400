import VLLMCore
import VLLMStructuredOutputs

/// How to sample the output of one request, with vLLM's field names and defaults.
public struct SamplingParams: Sendable, Equatable {
    /// Number of outputs to return for the prompt.
    public var n: Int = 1
    /// 0 means greedy; otherwise logits are divided by it.
    public var temperature: Double = 1.0
    /// Nucleus sampling: smallest set of tokens whose probability reaches `topP`.
    public var topP: Double = 1.0
    /// Keep the `topK` most likely tokens; 0 or -1 keeps all.
    public var topK: Int = 0
    /// Drop tokens whose probability is below `minP` times the top one's.
    public var minP: Double = 0
    /// Seed of this request's random generator: the same seed gives the same tokens whatever else runs.
    public var seed: UInt64?
    /// Subtracted from the logit of every token already in the output (default 0).
    public var presencePenalty: Double = 0
    /// Subtracted from a token's logit once for each time it is in the output (default 0).
    public var frequencyPenalty: Double = 0
    /// > 1 discourages tokens of the prompt and the output so far.
    public var repetitionPenalty: Double = 1
    /// Added to the logits of the given token ids.
    public var logitBias: [Int: Double] = [:]
    /// Stop when the text contains one of these; it is removed unless `includeStopStringInOutput`.
    public var stop: [String] = []
    /// Stop when one of these tokens is generated (kept in the token ids).
    public var stopTokenIDs: [Int] = []
    /// Keep a matched stop string at the end of the text (default false: it is cut off).
    public var includeStopStringInOutput = false
    /// Go on after end-of-sequence tokens.
    public var ignoreEOS = false
    /// Maximum tokens to generate; nil means up to the model's length limit.
    public var maxTokens: Int? = 16
    /// End-of-sequence and stop tokens are not allowed before this many tokens.
    public var minTokens: Int = 0
    /// Number of top log-probabilities to return per generated token (plus the sampled one); nil for none.
    public var logprobs: Int?
    /// Number of top log-probabilities to return per prompt token; nil for none.
    public var promptLogprobs: Int?
    /// Leave special tokens out of the text (default true).
    public var skipSpecialTokens = true
    /// Constrains the output to a JSON schema, any JSON object, a regex, a choice or a grammar
    /// (vLLM's `structured_outputs`); each sample follows the grammar token by token.
    public var structuredOutputs: StructuredOutputSpec?
    /// Text after which `structuredOutputs` starts to apply: the output is unconstrained until its
    /// text (decoded with special tokens) contains it (a reasoning model's end of thinking,
    /// `</think>`), whatever tokens spell it, and follows the grammar from the next token on. Nil
    /// or empty: the grammar applies from the first token.
    public var structuredOutputsStartAfter: String?
    /// How many of the prompt's last tokens are output already written under `structuredOutputs`
    /// (the tokens of a beam that beam search extends): the grammar reads them before the first
    /// new token, so that it goes on from where that output stands. A token it refuses is an
    /// invalid parameter.
    public var structuredOutputsPromptTail = 0
    /// JSON grammars allow any whitespace between tokens (xgrammar's `any_whitespace`, vLLM's
    /// default); false writes compact JSON (`", "` and `": "` as separators), which a model cannot
    /// stretch with endless newlines (vLLM's `disable_any_whitespace`).
    public var structuredOutputsAnyWhitespace = true
    /// Put spaces around special tokens in the text (default true).
    public var spacesBetweenSpecialTokens = true

    /// vLLM's defaults: one sample at temperature 1 with no filters, penalties or stops, up to the model's length limit.
    public init() {}

    /// Greedy decoding of `maxTokens` tokens.
    public static func greedy(maxTokens: Int?) -> SamplingParams {
        var params = SamplingParams()
        params.temperature = 0
        params.maxTokens = maxTokens
        return params
    }

    /// Whether sampling picks the most likely token.
    public var isGreedy: Bool { temperature < 1e-5 }

    /// Checks every field; the error names the first bad one.
    public func validate() throws {
        func bad(_ field: String, _ detail: String) -> EngineError { .invalidParameter(field: field, detail: detail) }
        guard n >= 1 else { throw bad("n", "must be at least 1, got \(n)") }
        guard SamplingRanges.temperature(temperature) else { throw bad("temperature", "must be non-negative, got \(temperature)") }
        guard SamplingRanges.topP(topP) else { throw bad("top_p", "must be in (0, 1], got \(topP)") }
        guard SamplingRanges.topK(topK) else { throw bad("top_k", "must be -1, 0 (disable) or positive, got \(topK)") }
        guard SamplingRanges.minP(minP) else { throw bad("min_p", "must be in [0, 1], got \(minP)") }
        guard presencePenalty >= -2, presencePenalty <= 2 else {
            throw bad("presence_penalty", "must be in [-2, 2], got \(presencePenalty)")
        }
        guard frequencyPenalty >= -2, frequencyPenalty <= 2 else {
            throw bad("frequency_penalty", "must be in [-2, 2], got \(frequencyPenalty)")
        }
        guard SamplingRanges.repetitionPenalty(repetitionPenalty) else {
            throw bad("repetition_penalty", "must be positive, got \(repetitionPenalty)")
        }
        if let maxTokens, maxTokens < 1 { throw bad("max_tokens", "must be at least 1, got \(maxTokens)") }
        guard minTokens >= 0 else { throw bad("min_tokens", "must be non-negative, got \(minTokens)") }
        if let maxTokens, minTokens > maxTokens {
            throw bad("min_tokens", "must not exceed max_tokens (\(maxTokens)), got \(minTokens)")
        }
        if let logprobs, logprobs < 0 { throw bad("logprobs", "must be non-negative, got \(logprobs)") }
        if let promptLogprobs, promptLogprobs < 0 { throw bad("prompt_logprobs", "must be non-negative, got \(promptLogprobs)") }
        if stop.contains("") { throw bad("stop", "must not contain an empty string") }
        for (token, bias) in logitBias where !bias.isFinite || abs(bias) > 100 {
            throw bad("logit_bias", "bias of token \(token) must be in [-100, 100], got \(bias)")
        }
    }

    /// Checks the token ids against the vocabulary.
    func validate(vocabularySize: Int) throws {
        for token in logitBias.keys where token < 0 || token >= vocabularySize {
            throw EngineError.invalidParameter(
                field: "logit_bias", detail: "token id \(token) is outside the vocabulary (size \(vocabularySize))")
        }
        for token in stopTokenIDs where token < 0 || token >= vocabularySize {
            throw EngineError.invalidParameter(
                field: "stop_token_ids", detail: "token id \(token) is outside the vocabulary (size \(vocabularySize))")
        }
    }
}

/// Errors of the engine that a caller can act on.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case invalidParameter(field: String, detail: String)
    case promptTooLong(length: Int, maxModelLength: Int)
    case invalidPrompt(String)
    case duplicateRequestID(String)
    case notEnoughCache(detail: String)

    /// The message for the client: the field or prompt at fault and what to change.
    public var description: String {
        switch self {
        case .invalidParameter(let field, let detail): "invalid value for '\(field)': \(detail)"
        case .promptTooLong(let length, let max):
            "the prompt has \(length) tokens, but the model's context length is \(max) (prompt plus output); shorten the prompt"
        case .invalidPrompt(let detail): "invalid prompt: \(detail)"
        case .duplicateRequestID(let id): "a request with id '\(id)' is already running"
        case .notEnoughCache(let detail): "not enough KV cache: \(detail)"
        }
    }
}
