import VLLMCore
import VLLMStructuredOutputs

/// Why a request stopped generating.
public enum FinishReason: String, Sendable, Codable {
    /// An end-of-sequence token, a stop token or a stop string.
    case stop
    /// `max_tokens` or the model's context length.
    case length
    /// Aborted by the caller (or a disconnected client).
    case abort
}

/// A log-probability of one token.
public struct TokenLogprob: Sendable, Equatable, Codable {
    /// The token's id.
    public var tokenID: Int
    /// Its natural-log probability.
    public var logprob: Float
    /// Rank of the token among the vocabulary (1 = most likely).
    public var rank: Int

    /// A token's log-probability and rank.
    public init(tokenID: Int, logprob: Float, rank: Int) {
        self.tokenID = tokenID
        self.logprob = logprob
        self.rank = rank
    }
}

/// The log-probabilities reported for one position: the chosen token first, then the top ones.
public struct PositionLogprobs: Sendable, Equatable, Codable {
    /// The token that was generated (or, for a prompt, given).
    public var chosen: TokenLogprob
    /// The most likely tokens at the position, best first (as many as the request asked for).
    public var top: [TokenLogprob]
}

/// One sequence being generated: its tokens, its progress through the cache and its sampling state.
/// The scheduler, the KV cache manager and the engine core share it; only the engine core changes
/// its tokens.
final class Request {
    enum Status: Equatable {
        case waiting
        case running
        case finished(FinishReason)
    }

    let id: String
    let params: SamplingParams
    let priority: Int
    /// Order of arrival, for first-come-first-served.
    let arrival: Int
    let cacheSalt: String?
    /// How an embedding request pools its hidden states; nil for a generating request.
    let pooling: PoolingParams?
    let numPromptTokens: Int
    /// The most tokens this request may generate (max_tokens, bounded by the context length).
    let maxOutputTokens: Int
    /// Prompt then output token ids.
    private(set) var tokenIDs: [Int]
    /// Tokens whose keys and values are in the cache (or being computed by a launched step).
    var numComputedTokens = 0
    /// Tokens that launched steps sample for this request and that are not in `tokenIDs` yet
    /// (async scheduling): the next step may already compute the first of them, as a placeholder.
    var numPendingTokens = 0
    /// The row, among the sampled rows of the last launched step, of this request's newest pending token.
    var pendingRow = 0
    /// Draft tokens the next step makes room for (speculative decoding): the scheduler reserves
    /// their slots and budget, and the proposer fills `draftTokenIDs` within what was granted.
    var numDraftSlots = 0
    /// Tokens proposed to follow its last token (speculative decoding), verified by the next step
    /// that computes them; cleared once that step's tokens are in.
    var draftTokenIDs: [Int] = []
    /// The distribution each draft token was drawn from (a sampling draft model), for the
    /// rejection rule; empty for point-mass drafts.
    var draftProbabilities: [[Float]] = []
    /// Prompt tokens that came from the prefix cache when the request was first scheduled.
    var numCachedPromptTokens = 0
    var status: Status = .waiting
    /// Why it stopped, when a stop token or string did it.
    var stopReason: StopReason?
    var logprobs: [PositionLogprobs] = []
    /// Log-probabilities of prompt tokens 1..., as far as computed (position p predicts token p + 1).
    var promptLogprobs: [PositionLogprobs] = []
    var cumulativeLogprob: Double = 0
    /// Where the output stands in its structured-output grammar; advanced with each accepted token.
    var grammar: GrammarMatcher?
    /// Set while the output has not yet reached `params.structuredOutputsStartAfter`: the grammar
    /// waits, and neither masks nor advances. The request is never launched ahead meanwhile, so
    /// that the first constrained token is never sampled without its mask.
    var grammarWait: TextMarkerWatch?
    /// True while the grammar waits for its start marker.
    var grammarWaits: Bool { grammarWait != nil }
    /// The grammar's mask of allowed next tokens (`Sampler.tokenMask`), kept between steps so that
    /// a step allocates nothing for it; valid while `numTokens` equals `grammarMaskedAt`.
    var grammarMask: [UInt32] = []
    var grammarMaskedAt = -1
    /// Output tokens seen per id, for frequency and presence penalties.
    var outputCounts: [Int: Int] = [:]
    /// When it was added and when it was first scheduled, for the queue-time metric.
    let addedAt = ContinuousClock.now
    var firstScheduledAt: ContinuousClock.Instant?

    init(
        id: String, promptTokenIDs: [Int], params: SamplingParams, arrival: Int, priority: Int = 0,
        cacheSalt: String? = nil, maxModelLength: Int, pooling: PoolingParams? = nil
    ) {
        self.id = id
        self.pooling = pooling
        self.params = params
        self.arrival = arrival
        self.priority = priority
        self.cacheSalt = cacheSalt
        tokenIDs = promptTokenIDs
        numPromptTokens = promptTokenIDs.count
        let room = maxModelLength - promptTokenIDs.count
        maxOutputTokens = min(params.maxTokens ?? room, room)
    }

    var promptTokenIDs: ArraySlice<Int> { tokenIDs[..<numPromptTokens] }
    var outputTokenIDs: ArraySlice<Int> { tokenIDs[numPromptTokens...] }
    var numTokens: Int { tokenIDs.count }
    var numOutputTokens: Int { tokenIDs.count - numPromptTokens }
    /// Known tokens plus pending ones: what the scheduler plans with.
    var numTokensWithPending: Int { numTokens + numPendingTokens }
    /// Index among the outputs of the token that the next sampling of this request gives.
    var nextOutputIndex: Int { numOutputTokens + numPendingTokens }
    var isFinished: Bool { if case .finished = status { true } else { false } }

    func append(_ token: Int) {
        tokenIDs.append(token)
        outputCounts[token, default: 0] += 1
    }

    /// Drops output tokens from `count` on (a stop string ended the text earlier).
    func truncateOutput(to count: Int) {
        tokenIDs.removeLast(numOutputTokens - count)
    }
}

/// What stopped a request early.
public enum StopReason: Sendable, Equatable, Codable {
    case token(Int)
    case string(String)
}
