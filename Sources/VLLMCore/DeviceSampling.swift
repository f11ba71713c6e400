/// A change to one column of a row's logits before sampling: the min_tokens ban, logit_bias and the
/// repetition, frequency and presence penalties of one token id, applied in vLLM's order.
public struct LogitAdjustment: Sendable, Equatable {
    /// The token id.
    public var column: Int32
    /// Set to -infinity first (end-of-sequence and stop tokens before `min_tokens`).
    public var banned: Bool
    /// Added after the ban.
    public var bias: Float
    /// Whether the token occurs in the prompt or the output (the repetition penalty applies).
    public var inSequence: Bool
    /// How often the token occurs in the output (frequency and presence penalties apply when above 0).
    public var outputCount: Int32

    /// An adjustment of `column`; by default it changes nothing.
    public init(column: Int32, banned: Bool = false, bias: Float = 0, inSequence: Bool = false, outputCount: Int32 = 0) {
        self.column = column
        self.banned = banned
        self.bias = bias
        self.inSequence = inSequence
        self.outputCount = outputCount
    }
}

/// How to sample one row of logits on the backend: everything the host sampler does for a request,
/// except prompt logprobs and beam search.
public struct DeviceSamplingRow: Sendable, Equatable {
    /// 0: the argmax (the filters below are then ignored, as on the host).
    public var temperature: Float = 0
    /// Keep the `topK` most likely tokens; 0 keeps all.
    public var topK: Int = 0
    /// Keep the smallest set of most likely tokens whose probability reaches `topP`; 1 keeps all.
    public var topP: Float = 1
    /// Drop tokens below `minP` times the most likely one's probability; 0 keeps all.
    public var minP: Float = 0
    /// The request's seed; nil draws from the backend's own random numbers.
    public var seed: UInt64?
    /// Index of the output token being sampled: with the seed, it fixes the random numbers, so that a
    /// seeded request draws the same whatever else is in the batch and wherever its row lies.
    public var outputIndex: Int = 0
    /// Divides positive logits of tokens in the prompt or the output by this and multiplies negative ones (1: none).
    public var repetitionPenalty: Float = 1
    /// Subtracted once for each time a token occurs in the output (0: none).
    public var frequencyPenalty: Float = 0
    /// Subtracted once from every token that occurs in the output (0: none).
    public var presencePenalty: Float = 0
    /// At most one entry per column.
    public var adjustments: [LogitAdjustment] = []
    /// Number of top log-probabilities to report (0: only the chosen token's); nil reports none.
    public var logprobs: Int?
    /// The tokens allowed next as a packed bitmask (bit i % 32 of word i / 32 allows id i; ids past
    /// its end are banned): a structured-output grammar's mask, applied before everything else
    /// (the logprobs too); nil allows every token.
    public var tokenMask: [UInt32]?

    /// A greedy row (temperature 0) with no filters, penalties or logprobs.
    public init() {}

    /// The most top log-probabilities a device row reports; requests asking for more are sampled on the host.
    public static let maxLogprobs = 32

    /// Whether the row only takes the argmax of the raw logits (the greedy fast path).
    public var isPlainGreedy: Bool { takesArgmax && tokenMask == nil }

    /// Whether the row only takes the argmax of its logits after `tokenMask` (no bans, penalties or logprobs).
    public var takesArgmax: Bool { temperature == 0 && adjustments.isEmpty && logprobs == nil }

    /// The key of the row's random numbers for a seeded row: a hash of the seed and the output index.
    public var seededKey: UInt64? {
        seed.map { SamplingMath.mix(SamplingMath.mix($0) &+ UInt64(truncatingIfNeeded: outputIndex) &* 0xD1B5_4A32_D192_ED03) }
    }
}

/// Log-probabilities of one sampled position, of the raw logits (before penalties, bias and temperature).
public struct DeviceLogprobs: Sendable, Equatable {
    /// The chosen token's log-probability.
    public var chosen: Float
    /// 1 + the number of tokens strictly more likely than the chosen one.
    public var rank: Int
    /// The most likely tokens, best first, the lower id first on ties.
    public var topTokens: [Int]
    /// The log-probabilities of `topTokens`, in the same order.
    public var topLogprobs: [Float]

    /// The log-probabilities of one position.
    public init(chosen: Float, rank: Int, topTokens: [Int], topLogprobs: [Float]) {
        self.chosen = chosen
        self.rank = rank
        self.topTokens = topTokens
        self.topLogprobs = topLogprobs
    }
}

/// What one row's sampling gives back.
public struct DeviceSample: Sendable, Equatable {
    /// The sampled token id.
    public var token: Int
    /// Present when the row asked for logprobs.
    public var logprobs: DeviceLogprobs?

    /// A sample of `token`, with its logprobs when the row asked for them.
    public init(token: Int, logprobs: DeviceLogprobs? = nil) {
        self.token = token
        self.logprobs = logprobs
    }
}
