/// One generated sequence of a request, as vLLM reports it.
public struct CompletionOutput: Sendable, Equatable {
    /// Which of the request's `n` outputs this is.
    public var index: Int
    /// The text so far (or the new text only, for delta outputs).
    public var text: String
    /// The token ids so far (or the new ones only, for delta outputs).
    public var tokenIDs: [Int]
    /// Sum of the log-probabilities of the tokens, when logprobs were asked for.
    public var cumulativeLogprob: Double?
    /// Per generated token, when asked for.
    public var logprobs: [PositionLogprobs]?
    /// Why it finished; nil while running.
    public var finishReason: FinishReason?
    /// The stop token or string that ended it, if any.
    public var stopReason: StopReason?
    /// Seconds the sequence waited before it was first scheduled (nil until it was).
    public var queueTime: Double? = nil

    /// Whether the sequence has finished.
    public var finished: Bool { finishReason != nil }
}

/// The state of a request's outputs after an engine step.
public struct RequestOutput: Sendable, Equatable {
    /// The id the request was added with.
    public var requestID: String
    /// The prompt text, when the request was given as text.
    public var prompt: String?
    /// The prompt's token ids.
    public var promptTokenIDs: [Int]
    /// Log-probabilities of the prompt tokens (nil for the first), when asked for.
    public var promptLogprobs: [PositionLogprobs?]?
    /// One output per sample (`n` of them), in sample order.
    public var outputs: [CompletionOutput]
    /// Whether every output has finished.
    public var finished: Bool
    /// Prompt tokens that were found in the prefix cache.
    public var numCachedTokens: Int
}
