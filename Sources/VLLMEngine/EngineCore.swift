import Dispatch
import VLLMCore

/// Settings of the engine core, with vLLM's names.
public struct EngineCoreConfig: Sendable, Equatable {
    public var blockSize: Int
    public var numBlocks: Int
    public var enablePrefixCaching: Bool
    public var scheduler: SchedulerConfig
    /// Decode batch sizes to record as CUDA graphs after the KV cache is made (empty: every step
    /// runs eagerly; backends that cannot record ignore it).
    public var graphBatchSizes: [Int]
    /// Schedule and launch each step before the tokens of the step before are back, so that the
    /// host's work of one step overlaps the device's work of the next (vLLM's async scheduling).
    public var asyncScheduling: Bool

    public init(
        blockSize: Int, numBlocks: Int, enablePrefixCaching: Bool, scheduler: SchedulerConfig, graphBatchSizes: [Int] = [],
        asyncScheduling: Bool = true
    ) {
        self.blockSize = blockSize
        self.numBlocks = numBlocks
        self.enablePrefixCaching = enablePrefixCaching
        self.scheduler = scheduler
        self.graphBatchSizes = graphBatchSizes
        self.asyncScheduling = asyncScheduling
    }

    /// vLLM's capture sizes up to `maxNumSeqs`: 1, 2, 4, then steps of 8 up to 256 and of 16 beyond,
    /// plus the first size at or above `maxNumSeqs`, so that every decode step has a recording.
    public static func graphBatchSizes(maxNumSeqs: Int) -> [Int] {
        let all = [1, 2, 4] + Array(stride(from: 8, through: 256, by: 8)) + Array(stride(from: 272, through: 1024, by: 16))
        let upTo = all.firstIndex { $0 >= maxNumSeqs } ?? (all.count - 1)
        return Array(all[...upTo])
    }
}

/// What one step did to one sequence.
public struct SequenceUpdate: Sendable {
    public var requestID: String
    public var newTokenIDs: [Int]
    public var newText: String
    public var newLogprobs: [PositionLogprobs]
    public var cumulativeLogprob: Double
    public var finishReason: FinishReason?
    public var stopReason: StopReason?
    public var numCachedTokens: Int
    /// Log-probabilities of the prompt tokens (nil for the first), with the first update of a
    /// request that asked for them.
    public var promptLogprobs: [PositionLogprobs?]?
    /// Seconds between the request's arrival and its first scheduling, once it has been scheduled.
    public var queueTime: Double? = nil
}

/// Counters and gauges of the engine, with the meanings of vLLM's metrics.
public struct EngineStats: Sendable, Equatable {
    public var numRunning = 0
    public var numWaiting = 0
    public var kvCacheUsage = 0.0
    public var prefixCacheQueries = 0
    public var prefixCacheHits = 0
    public var numPreemptions = 0
    public var promptTokens = 0
    public var generationTokens = 0
    public var numSteps = 0
}

/// The heart of the engine: requests in, one scheduled and computed step at a time, sequence
/// updates out. Not thread-safe; one owner drives it.
///
/// With async scheduling, each `step()` schedules and launches the next step before it waits for
/// the tokens of the one in flight, assuming that every request in flight gets exactly one token
/// (the next step computes it from a placeholder id that the backend resolves); while the device
/// computes, the host appends the tokens, checks stops and detokenizes. A request that finishes
/// meanwhile has the token of the step ahead dropped.
public final class EngineCore {
    public let config: EngineCoreConfig
    private let scheduler: Scheduler
    private let cache: KVCacheManager
    let runner: ModelRunner
    private var sampler: Sampler
    private let textDecoder: TextDecoderFactory?
    private let vocabularySize: Int
    private var requests: [String: Request] = [:]
    private var texts: [String: OutputText] = [:]
    /// The stop strings of the request added last, built once for all its samples.
    private var lastStops: StopStringAutomaton?
    private var arrivals = 0
    private var counters = EngineStats()
    /// The step launched last, whose tokens the next `step()` processes.
    private var inFlight: ModelRunner.LaunchedStep?

    /// A core over `executor`, whose KV cache it allocates with `config.numBlocks` blocks.
    public init(
        executor: any ModelExecutor, config: EngineCoreConfig, eosTokenIDs: [Int], textDecoder: TextDecoderFactory? = nil
    ) throws {
        let capacity = config.numBlocks * config.blockSize
        guard capacity >= config.scheduler.maxModelLength else {
            throw EngineError.notEnoughCache(
                detail: "\(config.numBlocks) blocks of \(config.blockSize) tokens hold \(capacity) tokens, fewer than max_model_len \(config.scheduler.maxModelLength); lower max_model_len or give the cache more memory")
        }
        self.config = config
        cache = KVCacheManager(numBlocks: config.numBlocks, blockSize: config.blockSize, prefixCaching: config.enablePrefixCaching)
        scheduler = Scheduler(config: config.scheduler, cache: cache)
        executor.allocateKVCache(numBlocks: config.numBlocks, blockSize: config.blockSize)
        let recordStart = DispatchTime.now().uptimeNanoseconds
        graphsRecorded = executor.captureGraphs(batchSizes: config.graphBatchSizes)
        graphRecordingSeconds = Double(DispatchTime.now().uptimeNanoseconds - recordStart) / 1e9
        runner = ModelRunner(executor: executor, blockSize: config.blockSize)
        sampler = Sampler(eosTokenIDs: Set(eosTokenIDs))
        self.textDecoder = textDecoder
        vocabularySize = executor.config.vocabSize
    }

    /// How many decode batch sizes were recorded as CUDA graphs at start, and how long that took.
    public private(set) var graphsRecorded = 0
    public private(set) var graphRecordingSeconds = 0.0

    /// Whether any request is waiting or running (a step in flight holds no other request).
    public var hasUnfinishedRequests: Bool { scheduler.hasWork }

    /// Queues a request; throws for invalid parameters, ids outside the vocabulary or a prompt that cannot fit.
    public func addRequest(
        id: String, promptTokenIDs: [Int], params: SamplingParams, priority: Int = 0, cacheSalt: String? = nil
    ) throws {
        try params.validate()
        try params.validate(vocabularySize: vocabularySize)
        guard requests[id] == nil else { throw EngineError.duplicateRequestID(id) }
        guard !promptTokenIDs.isEmpty else { throw EngineError.invalidPrompt("the prompt is empty") }
        if let bad = promptTokenIDs.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw EngineError.invalidPrompt("token id \(bad) is outside the vocabulary (size \(vocabularySize))")
        }
        let maxLength = config.scheduler.maxModelLength
        guard promptTokenIDs.count < maxLength else {
            throw EngineError.promptTooLong(length: promptTokenIDs.count, maxModelLength: maxLength)
        }
        let request = Request(
            id: id, promptTokenIDs: promptTokenIDs, params: params, arrival: arrivals, priority: priority,
            cacheSalt: cacheSalt, maxModelLength: maxLength)
        arrivals += 1
        requests[id] = request
        if !params.stop.isEmpty, lastStops?.patterns != params.stop { lastStops = StopStringAutomaton(params.stop) }
        texts[id] = OutputText(decoder: textDecoder?(promptTokenIDs, params.skipSpecialTokens), params: params, stops: lastStops)
        scheduler.add(request)
    }

    /// Stops a request at once and frees its blocks; returns its final update, nil if unknown.
    @discardableResult
    public func abort(_ id: String) -> SequenceUpdate? {
        guard let request = requests[id] else { return nil }
        scheduler.finish(request, reason: .abort)
        return close(request, update: update(request, tokens: []))
    }

    /// Processes one step and returns an update for every sequence that produced a token or
    /// finished. With async scheduling the step after it is launched first, so that the device
    /// computes it meanwhile; else the step is launched and waited for here.
    public func step() -> [SequenceUpdate] {
        // Every request of the step in flight finished since it was launched: nothing to wait for.
        if let stale = inFlight, stale.step.requests.allSatisfy({ $0.request.isFinished }) { inFlight = nil }
        if inFlight == nil { inFlight = launchNextStep() }
        let ahead = canScheduleAhead ? launchNextStep() : nil
        guard let current = inFlight else { return [] }
        let updates = process(current)
        inFlight = ahead
        return updates
    }

    /// Whether the next step may be scheduled before the tokens of the one in flight are known:
    /// the executor takes placeholders for them, the step in flight samples on the backend, and no
    /// request needs the host or its full token history to sample (`ModelRunner.canLaunchAhead`).
    /// Otherwise the step in flight is drained first and the next one runs as before.
    private var canScheduleAhead: Bool {
        guard config.asyncScheduling, runner.executor.launchesAhead, let inFlight, inFlight.samplesOnBackend else { return false }
        let launchable = { (request: Request) in self.runner.canLaunchAhead(request, sampler: self.sampler) }
        return scheduler.running.allSatisfy(launchable) && scheduler.waiting.allSatisfy(launchable)
    }

    /// Schedules the next step and launches it; nil when nothing can run.
    private func launchNextStep() -> ModelRunner.LaunchedStep? {
        let step = scheduler.schedule()
        guard !step.requests.isEmpty else { return nil }
        counters.numSteps += 1
        for (request, _) in step.requests where request.firstScheduledAt == nil { request.firstScheduledAt = .now }
        for (request, numTokens) in step.requests where request.numComputedTokens < request.numPromptTokens {
            counters.promptTokens += min(numTokens, request.numPromptTokens - request.numComputedTokens)
        }
        let launched = runner.launch(step, cache: cache, sampler: sampler)
        for (request, numTokens) in step.requests { request.numComputedTokens += numTokens }
        for (row, request) in launched.samplingRequests.enumerated() {
            request.numPendingTokens += 1
            request.pendingRow = row
        }
        return launched
    }

    /// Waits for a launched step and takes in its tokens.
    private func process(_ launched: ModelRunner.LaunchedStep) -> [SequenceUpdate] {
        var updates: [SequenceUpdate] = []
        for result in launched.results(vocabularySize: vocabularySize) {
            let request = result.request
            if result.samples { request.numPendingTokens -= 1 }
            // Finished or aborted after the step was launched: its token is dropped.
            guard !request.isFinished else { continue }
            recordPromptLogprobs(result)
            if let sample = result.deviceSample {
                let logprobs = sample.logprobs.map { PositionLogprobs($0, chosen: sample.token) }
                updates.append(accept(sample.token, logprobs: logprobs, for: request))
                continue
            }
            guard var row = result.sampleLogits else { continue }
            let (token, logprobs) = sampler.sample(&row, for: request)
            updates.append(accept(token, logprobs: logprobs, for: request))
        }
        return updates
    }

    private func recordPromptLogprobs(_ result: ModelRunner.Result) {
        let request = result.request
        guard let top = request.params.promptLogprobs, result.firstPromptPosition == request.promptLogprobs.count else { return }
        for (i, logits) in result.promptLogits.enumerated() {
            let next = request.tokenIDs[result.firstPromptPosition + i + 1]
            request.promptLogprobs.append(Sampler.positionLogprobs(Sampler.logSoftmax(logits), chosen: next, top: top))
        }
    }

    private func accept(_ token: Int, logprobs: PositionLogprobs?, for request: Request) -> SequenceUpdate {
        request.append(token)
        counters.generationTokens += 1
        if let logprobs {
            request.logprobs.append(logprobs)
            request.cumulativeLogprob += Double(logprobs.chosen.logprob)
        }
        let params = request.params
        var finish: FinishReason?
        var stopToken = false
        if request.numOutputTokens >= params.minTokens {
            if params.stopTokenIDs.contains(token) {
                (finish, stopToken, request.stopReason) = (.stop, true, .token(token))
            } else if !params.ignoreEOS, sampler.eosTokenIDs.contains(token) {
                (finish, stopToken) = (.stop, true)
            }
        }
        if !stopToken || params.includeStopStringInOutput, let stop = texts[request.id]!.append(token) {
            (finish, request.stopReason) = (.stop, .string(stop))
        }
        if finish == nil, request.numOutputTokens >= request.maxOutputTokens { finish = .length }
        var result = update(request, tokens: [token], logprobs: logprobs.map { [$0] } ?? [])
        if let finish {
            scheduler.finish(request, reason: finish)
            result = close(request, update: result)
        }
        return result
    }

    private func update(_ request: Request, tokens: [Int], logprobs: [PositionLogprobs] = []) -> SequenceUpdate {
        let finishReason: FinishReason? = if case .finished(let reason) = request.status { reason } else { nil }
        let promptLogprobs: [PositionLogprobs?]? =
            request.params.promptLogprobs != nil && request.numOutputTokens <= 1 ? [nil] + request.promptLogprobs : nil
        return SequenceUpdate(
            requestID: request.id, newTokenIDs: tokens,
            newText: texts[request.id]!.takeDelta(finished: finishReason != nil), newLogprobs: logprobs,
            cumulativeLogprob: request.cumulativeLogprob, finishReason: finishReason, stopReason: request.stopReason,
            numCachedTokens: request.numCachedPromptTokens, promptLogprobs: promptLogprobs,
            queueTime: request.firstScheduledAt.map { ($0 - request.addedAt) / .seconds(1) })
    }

    private func close(_ request: Request, update: SequenceUpdate) -> SequenceUpdate {
        var update = update
        if case .finished(let reason) = request.status {
            update.finishReason = reason
            if reason != .stop || request.stopReason == nil { texts[request.id]!.flush() }
            update.newText += texts[request.id]!.takeDelta(finished: true)
        }
        requests[request.id] = nil
        texts[request.id] = nil
        return update
    }

    /// The engine's counters now.
    public var stats: EngineStats {
        var s = counters
        s.numRunning = scheduler.running.count
        s.numWaiting = scheduler.waiting.count
        s.kvCacheUsage = cache.usage
        s.prefixCacheQueries = cache.prefixCacheQueries
        s.prefixCacheHits = cache.prefixCacheHits
        s.numPreemptions = scheduler.numPreemptions
        return s
    }

    /// Free blocks in the pool (all of them once every request has ended).
    public var numFreeBlocks: Int { cache.numFreeBlocks }
}
