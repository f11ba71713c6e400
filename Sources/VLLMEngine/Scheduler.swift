/// Limits of one engine step.
public struct SchedulerConfig: Sendable, Equatable {
    /// Token budget of one step (prefill chunks plus decodes).
    public var maxNumBatchedTokens: Int
    /// Most requests running at once.
    public var maxNumSeqs: Int
    /// Longest prompt plus output.
    public var maxModelLength: Int
    /// Serve waiting requests by `priority` (lower first), then arrival, instead of arrival alone.
    public var priorityScheduling: Bool

    /// Limits per step and per sequence; arrival order unless `priorityScheduling`.
    public init(maxNumBatchedTokens: Int, maxNumSeqs: Int, maxModelLength: Int, priorityScheduling: Bool = false) {
        self.maxNumBatchedTokens = maxNumBatchedTokens
        self.maxNumSeqs = maxNumSeqs
        self.maxModelLength = maxModelLength
        self.priorityScheduling = priorityScheduling
    }
}

/// What one step runs: each scheduled request with the number of its tokens to compute.
struct ScheduledStep {
    var requests: [(request: Request, numTokens: Int)] = []
    var numPreempted = 0
    var totalTokens: Int { requests.reduce(0) { $0 + $1.numTokens } }
}

/// Decides each step which requests run and how many tokens each computes: running requests
/// first (one decode token each, or the next chunk of a long prompt), then waiting ones while the
/// token budget and the blocks last. When blocks run out, the newest running request is preempted
/// and goes back to the front of the queue to be recomputed later.
final class Scheduler {
    let config: SchedulerConfig
    let cache: KVCacheManager
    private(set) var waiting: [Request] = []
    private(set) var running: [Request] = []
    private(set) var numPreemptions = 0

    init(config: SchedulerConfig, cache: KVCacheManager) {
        self.config = config
        self.cache = cache
    }

    var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }

    func add(_ request: Request) {
        waiting.append(request)
        if config.priorityScheduling { sortWaiting() }
    }

    private func sortWaiting() {
        waiting.sort { ($0.priority, $0.arrival) < ($1.priority, $1.arrival) }
    }

    func schedule() -> ScheduledStep {
        var step = ScheduledStep()
        var budget = config.maxNumBatchedTokens
        var index = 0
        while index < running.count, budget > 0 {
            let request = running[index]
            // Its pending token is its last: nothing more to compute, it ends when that token comes.
            if request.numPendingTokens > 0, request.nextOutputIndex >= request.maxOutputTokens {
                index += 1
                continue
            }
            let numTokens = min(request.numTokensWithPending + request.numDraftSlots - request.numComputedTokens, budget)
            var scheduled = false
            while true {
                if cache.allocateSlots(for: request, numNewTokens: numTokens) {
                    scheduled = true
                    break
                }
                let victim = running.removeLast()
                preempt(victim)
                step.numPreempted += 1
                if victim === request { break }
            }
            guard scheduled else { break }
            step.requests.append((request, numTokens))
            budget -= numTokens
            index += 1
        }
        // New requests only when nothing had to be preempted: there is no room to spare.
        while step.numPreempted == 0, budget > 0, running.count < config.maxNumSeqs, let request = waiting.first {
            // One preempted with a token still coming is recomputed once that token is known.
            guard request.numPendingTokens == 0 else { break }
            let (cachedBlocks, numCached) =
                request.numComputedTokens == 0 && request.pooling == nil ? cache.cachedPrefix(of: request) : ([], 0)
            let numTokens = min(request.numTokens - request.numComputedTokens - numCached, budget)
            // An embedding request runs its whole input in one step, or waits for a step with room.
            if request.pooling != nil, numTokens < request.numTokens { break }
            guard cache.allocateSlots(for: request, numNewTokens: numTokens, cachedBlocks: cachedBlocks) else { break }
            waiting.removeFirst()
            request.numComputedTokens += numCached
            if request.numOutputTokens == 0 { request.numCachedPromptTokens = numCached }
            request.status = .running
            running.append(request)
            step.requests.append((request, numTokens))
            budget -= numTokens
        }
        return step
    }

    private func preempt(_ request: Request) {
        cache.free(request)
        request.numComputedTokens = 0
        request.numDraftSlots = 0
        request.draftTokenIDs = []
        request.draftProbabilities = []
        request.status = .waiting
        waiting.insert(request, at: 0)
        numPreemptions += 1
    }

    /// Removes a finished or aborted request and frees its blocks.
    func finish(_ request: Request, reason: FinishReason) {
        request.status = .finished(reason)
        running.removeAll { $0 === request }
        waiting.removeAll { $0 === request }
        cache.forget(request)
    }
}
