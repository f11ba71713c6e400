import Dispatch
import VLLMCore
import VLLMStructuredOutputs

/// Settings of the engine core, with vLLM's names.
public struct EngineCoreConfig: Sendable, Equatable {
    /// Tokens per KV cache block.
    public var blockSize: Int
    /// KV cache blocks per layer.
    public var numBlocks: Int
    /// Reuse the KV cache blocks of prompt prefixes that earlier requests computed.
    public var enablePrefixCaching: Bool
    /// The scheduler's limits and policy.
    public var scheduler: SchedulerConfig
    /// Decode batch sizes to record as CUDA graphs after the KV cache is made (empty: every step
    /// runs eagerly; backends that cannot record ignore it).
    public var graphBatchSizes: [Int]
    /// Schedule and launch each step before the tokens of the step before are back, so that the
    /// host's work of one step overlaps the device's work of the next (vLLM's async scheduling).
    public var asyncScheduling: Bool
    /// Bytes of the model's weights as loaded (quantized weights count as stored), for logs.
    public var weightBytes = 0
    /// How the KV cache stores keys and values (`--kv-cache-dtype`), for logs.
    public var kvCacheFormat: KVCacheFormat = .auto
    /// Seconds of the load's phases (device and kernels, weights, profile run), for logs; the core
    /// adds its own (`EngineCore.startupTimes`).
    public var loadTimes = StartupTimes()
    /// Draft tokens proposed for each decode and verified in the same step (speculative decoding);
    /// steps then run one at a time, since drafts come from the tokens known on the host.
    public var speculative: SpeculativeConfig?
    /// How full blocks are hashed for the prefix cache.
    public var prefixCachingHashAlgorithm: PrefixCachingHashAlgorithm = .builtin
    /// The seed of sha256_cbor block hashes (vLLM reads `PYTHONHASHSEED`); random when nil.
    public var hashSeed: String?
    /// Keep KV cache events for `takeKVCacheEvents()` (routers learn what each replica caches).
    public var recordsKVCacheEvents = false

    /// A configuration; `weightBytes`, `kvCacheFormat`, the prefix-cache hashing and `recordsKVCacheEvents` keep their
    /// defaults until set.
    public init(
        blockSize: Int, numBlocks: Int, enablePrefixCaching: Bool, scheduler: SchedulerConfig, graphBatchSizes: [Int] = [],
        asyncScheduling: Bool = true, speculative: SpeculativeConfig? = nil
    ) {
        self.blockSize = blockSize
        self.numBlocks = numBlocks
        self.enablePrefixCaching = enablePrefixCaching
        self.scheduler = scheduler
        self.graphBatchSizes = graphBatchSizes
        self.asyncScheduling = asyncScheduling
        self.speculative = speculative
    }

    /// The steps runners record: decode steps of `graphBatchSizes`, and with drafts, steps
    /// verifying the same number of them for every request, within the token budget.
    public var recordingPlan: StepRecordingPlan {
        StepRecordingPlan(
            batchSizes: graphBatchSizes, maxTokensPerSequence: 1 + (speculative?.numSpeculativeTokens ?? 0),
            maxTokens: scheduler.maxNumBatchedTokens)
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
    /// The id the sequence was added with (`k_id` for sample `k` of a request of `n > 1` samples).
    public var requestID: String
    /// The tokens this step generated for the sequence (several when speculative drafts were accepted).
    public var newTokenIDs: [Int]
    /// The text those tokens added (held back while it may still turn into a stop string).
    public var newText: String
    /// The new tokens' log-probabilities, when the request asked for them.
    public var newLogprobs: [PositionLogprobs]
    /// The sum of the log-probabilities of all tokens generated so far.
    public var cumulativeLogprob: Double
    /// Why the sequence ended; nil while it goes on.
    public var finishReason: FinishReason?
    /// The stop token id or stop string that ended it, if one did.
    public var stopReason: StopReason?
    /// Prompt tokens whose KV cache came from the prefix cache.
    public var numCachedTokens: Int
    /// Log-probabilities of the prompt tokens (nil for the first), with the first update of a
    /// request that asked for them.
    public var promptLogprobs: [PositionLogprobs?]?
    /// Seconds between the request's arrival and its first scheduling, once it has been scheduled.
    public var queueTime: Double? = nil
    /// The pooled embedding of a finished embedding request.
    public var embedding: [Float]? = nil
}

/// Counters and gauges of the engine, with the meanings of vLLM's metrics.
public struct EngineStats: Sendable, Equatable {
    /// Requests being computed.
    public var numRunning = 0
    /// Requests waiting to be scheduled (preempted ones included).
    public var numWaiting = 0
    /// The fraction of KV cache blocks in use, 0 to 1.
    public var kvCacheUsage = 0.0
    /// Prompt tokens looked up in the prefix cache, since the start.
    public var prefixCacheQueries = 0
    /// Prompt tokens found in the prefix cache, since the start.
    public var prefixCacheHits = 0
    /// Requests preempted (their blocks taken back), since the start.
    public var numPreemptions = 0
    /// Prompt tokens computed, since the start.
    public var promptTokens = 0
    /// Tokens generated, since the start.
    public var generationTokens = 0
    /// Steps run, since the start.
    public var numSteps = 0
    /// Speculative decoding's counters (all zero without it).
    public var speculative = SpeculativeStats()
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
    /// The settings the core was made with.
    public let config: EngineCoreConfig
    private let scheduler: Scheduler
    private let cache: KVCacheManager
    let runner: StepRunner
    private var sampler: Sampler
    private let textDecoder: TextDecoderFactory?
    private let vocabularySize: Int
    /// Compiles and caches the grammars of structured-output requests (nil without a tokenizer).
    /// Thread-safe: a server compiles a request's grammar on its own thread before adding it, so
    /// that errors come back at once and the step loop finds the grammar in the cache.
    public let grammarCompiler: GrammarCompiler?
    private var requests: [String: Request] = [:]
    private var texts: [String: OutputText] = [:]
    /// The stop strings of the request added last, built once for all its samples.
    private var lastStops: StopStringAutomaton?
    private var arrivals = 0
    private var counters = EngineStats()
    /// The step launched last, whose tokens the next `step()` processes.
    private var inFlight: StepRunner.LaunchedStep?
    /// Embedding requests finished while launching a step, reported by the next `step()`.
    private var pooled: [SequenceUpdate] = []
    /// Makes the draft tokens of speculative decoding (nil without it).
    private let proposer: (any SpeculativeProposer)?

    /// A core over `executor`, whose KV cache it allocates with `config.numBlocks` blocks.
    /// `draftExecutor` is the draft model of `config.speculative`'s `draft_model` method, `eagle3Head`
    /// the head of its `eagle3` method; either gets a KV cache of as many blocks.
    public init(
        executor: any ModelExecutor, config: EngineCoreConfig, eosTokenIDs: [Int], textDecoder: TextDecoderFactory? = nil,
        grammarCompiler: GrammarCompiler? = nil, draftExecutor: (any ModelExecutor)? = nil,
        eagle3Head: (any Eagle3HeadExecutor)? = nil
    ) throws {
        let capacity = config.numBlocks * config.blockSize
        guard capacity >= config.scheduler.maxModelLength else {
            throw EngineError.notEnoughCache(
                detail:
                    "\(config.numBlocks) blocks of \(config.blockSize) tokens hold \(capacity) tokens, fewer than max_model_len \(config.scheduler.maxModelLength); lower max_model_len or give the cache more memory"
            )
        }
        self.config = config
        cache = KVCacheManager(
            numBlocks: config.numBlocks, blockSize: config.blockSize, prefixCaching: config.enablePrefixCaching,
            hashAlgorithm: config.prefixCachingHashAlgorithm, hashSeed: config.hashSeed,
            recordsEvents: config.recordsKVCacheEvents)
        scheduler = Scheduler(config: config.scheduler, cache: cache)
        var times = config.loadTimes
        times.measure(\.kvCache) { executor.allocateKVCache(numBlocks: config.numBlocks, blockSize: config.blockSize) }
        // The proposer first: an EAGLE-3 head makes the target keep hidden states, which its
        // recorded steps must hand out too.
        proposer = try Self.proposer(config, target: executor, draft: draftExecutor, head: eagle3Head)
        graphsRecorded = times.measure(\.graphs) { executor.captureGraphs(config.recordingPlan) }
        graphRecordingSeconds = times.graphs
        startupTimes = times
        runner = StepRunner(executor: executor, blockSize: config.blockSize)
        sampler = Sampler(eosTokenIDs: Set(eosTokenIDs))
        self.textDecoder = textDecoder
        self.grammarCompiler = grammarCompiler
        vocabularySize = executor.config.vocabSize
    }

    /// The proposer `config.speculative` asks for; a draft model must share the target's vocabulary,
    /// an EAGLE-3 head its vocabulary and hidden size.
    private static func proposer(
        _ config: EngineCoreConfig, target: any ModelExecutor, draft: (any ModelExecutor)?, head: (any Eagle3HeadExecutor)?
    ) throws -> (any SpeculativeProposer)? {
        guard let speculative = config.speculative else { return nil }
        switch speculative.method {
        case .ngram:
            return NgramProposer(config: speculative)
        case .draftModel:
            guard let draft else {
                throw EngineError.invalidParameter(field: "speculative_config", detail: "method draft_model needs the draft model loaded")
            }
            try checkDraftVocabulary(draft.config, target: target.config)
            return DraftModelProposer(
                executor: draft, numSpeculativeTokens: speculative.numSpeculativeTokens, numBlocks: config.numBlocks,
                blockSize: config.blockSize, recordingPlan: config.recordingPlan)
        case .eagle3:
            guard let head else {
                throw EngineError.invalidParameter(field: "speculative_config", detail: "method eagle3 needs the EAGLE-3 head loaded")
            }
            try checkEagle3Head(head.config, target: target.config)
            do {
                return try Eagle3Proposer(
                    target: target, head: head, numSpeculativeTokens: speculative.numSpeculativeTokens, numBlocks: config.numBlocks,
                    blockSize: config.blockSize, recordingPlan: config.recordingPlan)
            } catch let error as ModelLoadError {
                throw EngineError.invalidParameter(field: "speculative_config", detail: "eagle3: \(error)")
            }
        }
    }

    /// How many decode batch sizes were recorded as CUDA graphs at start, and how long that took.
    public private(set) var graphsRecorded = 0
    /// Seconds that recording took.
    public private(set) var graphRecordingSeconds = 0.0
    /// Seconds of each start-up phase: the load's (`config.loadTimes`), then the KV cache and the
    /// CUDA graphs.
    public private(set) var startupTimes = StartupTimes()

    /// Whether any request is waiting or running (a step in flight holds no other request).
    public var hasUnfinishedRequests: Bool { scheduler.hasWork || !pooled.isEmpty }

    /// Queues an embedding request: its whole prompt runs in one step (never chunked, no prefix
    /// cache: an encoder's states depend on every token), its hidden states are pooled as
    /// `pooling` says, and it ends in that step, its blocks freed.
    public func addEmbeddingRequest(id: String, promptTokenIDs: [Int], pooling: PoolingParams, priority: Int = 0) throws {
        guard runner.executor.embeds else {
            throw EngineError.invalidPrompt(
                "\(runner.executor.config.architecture) on this executor gives no hidden states to pool (embedding needs one rank)")
        }
        guard requests[id] == nil else { throw EngineError.duplicateRequestID(id) }
        guard !promptTokenIDs.isEmpty else { throw EngineError.invalidPrompt("the input is empty") }
        if let bad = promptTokenIDs.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw EngineError.invalidPrompt("token id \(bad) is outside the vocabulary (size \(vocabularySize))")
        }
        let maxLength = min(config.scheduler.maxModelLength, config.scheduler.maxNumBatchedTokens)
        guard promptTokenIDs.count <= maxLength else {
            throw EngineError.promptTooLong(length: promptTokenIDs.count, maxModelLength: maxLength)
        }
        if let dimensions = pooling.dimensions, !(1...runner.executor.config.hiddenSize).contains(dimensions) {
            throw EngineError.invalidPrompt("dimensions \(dimensions) is outside 1...\(runner.executor.config.hiddenSize)")
        }
        let request = Request(
            id: id, promptTokenIDs: promptTokenIDs, params: .greedy(maxTokens: 1), arrival: arrivals, priority: priority,
            maxModelLength: promptTokenIDs.count + 1, pooling: pooling)
        arrivals += 1
        requests[id] = request
        texts[id] = OutputText(decoder: nil, params: request.params, stops: nil)
        scheduler.add(request)
    }

    /// Queues a request; throws for invalid parameters, ids outside the vocabulary or a prompt that cannot fit.
    public func addRequest(
        id: String, promptTokenIDs: [Int], params: SamplingParams, priority: Int = 0, cacheSalt: String? = nil
    ) throws {
        try params.validate()
        try params.validate(vocabularySize: vocabularySize)
        guard !runner.executor.onlyEmbeds else {
            throw EngineError.invalidPrompt("\(runner.executor.config.architecture) is an embedding model and generates nothing: use embed")
        }
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
        if let spec = params.structuredOutputs {
            try startGrammar(spec, of: request)
        }
        arrivals += 1
        requests[id] = request
        if !params.stop.isEmpty, lastStops?.patterns != params.stop { lastStops = StopStringAutomaton(params.stop) }
        texts[id] = OutputText(decoder: textDecoder?(promptTokenIDs, params.skipSpecialTokens), params: params, stops: lastStops)
        scheduler.add(request)
    }

    /// Gives `request` its grammar, waiting for `structuredOutputsStartAfter` and already advanced
    /// through the prompt's last `structuredOutputsPromptTail` tokens (a beam's output so far).
    private func startGrammar(_ spec: StructuredOutputSpec, of request: Request) throws {
        let params = request.params
        let tail = params.structuredOutputsPromptTail
        guard tail >= 0, tail < request.promptTokenIDs.count else {
            throw EngineError.invalidParameter(
                field: "structured_outputs_prompt_tail", detail: "must be in 0..<\(request.promptTokenIDs.count), got \(tail)")
        }
        request.grammar = try grammarMatcher(spec, anyWhitespace: params.structuredOutputsAnyWhitespace)
        let head = Array(request.promptTokenIDs.dropLast(tail))
        if let marker = params.structuredOutputsStartAfter, !marker.isEmpty, let textDecoder {
            request.grammarWait = TextMarkerWatch(marker: marker, decoder: textDecoder(head, false))
        }
        for token in request.promptTokenIDs.suffix(tail) where advanceGrammar(request, with: token) {
            throw EngineError.invalidParameter(
                field: "structured_outputs_prompt_tail", detail: "token \(token) of the prompt's tail does not follow the grammar")
        }
    }

    /// A fresh matcher of `spec` (the compiled grammar comes from the cache after the first time).
    private func grammarMatcher(_ spec: StructuredOutputSpec, anyWhitespace: Bool) throws -> GrammarMatcher {
        guard let grammarCompiler else {
            throw EngineError.invalidParameter(field: "structured_outputs", detail: "needs the model's tokenizer, and this model has none")
        }
        do {
            return GrammarMatcher(grammar: try grammarCompiler.compile(spec, anyWhitespace: anyWhitespace))
        } catch let error as StructuredOutputError {
            throw EngineError.invalidParameter(field: "structured_outputs", detail: error.message)
        }
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
        var ahead = canScheduleAhead ? launchNextStep(deferMasks: true) : nil
        var updates = pooled
        pooled = []
        guard let current = inFlight else { return updates }
        updates += process(current)
        // Grammar masks of the step ahead follow the tokens just taken in; the device computes
        // that step's forward pass meanwhile.
        ahead?.queueSampling()
        inFlight = ahead
        return updates
    }

    /// Whether the next step may be scheduled before the tokens of the one in flight are known:
    /// the executor takes placeholders for them, the step in flight samples on the backend, and no
    /// request needs the host or its full token history to sample (`StepRunner.canLaunchAhead`;
    /// a grammar's mask is filled once the token before it is in, while the step computes).
    /// Otherwise the step in flight is drained first and the next one runs as before.
    private var canScheduleAhead: Bool {
        guard config.asyncScheduling, config.speculative == nil, runner.executor.launchesAhead, let inFlight, inFlight.samplesOnBackend
        else { return false }
        let launchable = { (request: Request) in self.runner.canLaunchAhead(request, sampler: self.sampler) }
        return scheduler.running.allSatisfy(launchable) && scheduler.waiting.allSatisfy(launchable)
    }

    /// Schedules the next step and launches it; nil when nothing can run. `deferMasks`: the step
    /// is launched ahead, and grammar rows get their masks from `queueSampling()`.
    private func launchNextStep(deferMasks: Bool = false) -> StepRunner.LaunchedStep? {
        if let proposer { planDrafts(proposer) }
        var step = scheduler.schedule()
        let embedding = step.requests.filter { $0.request.pooling != nil }
        if !embedding.isEmpty {
            step.requests.removeAll { $0.request.pooling != nil }
            runEmbeddings(embedding.map(\.request))
        }
        guard !step.requests.isEmpty else { return nil }
        if let proposer { proposeDrafts(step, proposer) }
        counters.numSteps += 1
        for (request, _) in step.requests where request.firstScheduledAt == nil { request.firstScheduledAt = .now }
        for (request, numTokens) in step.requests where request.numComputedTokens < request.numPromptTokens {
            counters.promptTokens += min(numTokens, request.numPromptTokens - request.numComputedTokens)
        }
        let launched = runner.launch(step, cache: cache, sampler: sampler, deferMasks: deferMasks)
        proposer?.launched(launched)
        for (request, numTokens) in step.requests { request.numComputedTokens += numTokens }
        for (request, row) in launched.sampledRows {
            request.numPendingTokens += 1
            request.pendingRow = row
        }
        return launched
    }

    /// Runs the scheduled embedding requests (each with its whole prompt) in one forward pass and
    /// finishes them; their updates wait in `pooled` for `step()`.
    private func runEmbeddings(_ batch: [Request]) {
        counters.numSteps += 1
        let chunks = batch.map { request in
            request.firstScheduledAt = request.firstScheduledAt ?? .now
            counters.promptTokens += request.numPromptTokens
            return SequenceChunk(
                tokenIDs: request.promptTokenIDs.map(Int32.init), numCached: 0, blockTable: cache.blocks(of: request).map(Int32.init),
                wantsLogits: false)
        }
        let vectors = runner.executor.embed(ForwardBatch(chunks: chunks, blockSize: config.blockSize), pooling: batch.map { $0.pooling! })
        for (request, vector) in zip(batch, vectors) {
            request.numComputedTokens = request.numPromptTokens
            scheduler.finish(request, reason: .stop)
            var result = update(request, tokens: [])
            result.embedding = vector
            pooled.append(close(request, update: result))
        }
    }

    /// Waits for a launched step and takes in its tokens.
    private func process(_ launched: StepRunner.LaunchedStep) -> [SequenceUpdate] {
        var updates: [SequenceUpdate] = []
        for result in launched.results(vocabularySize: vocabularySize) {
            let request = result.request
            if result.samples { request.numPendingTokens -= 1 }
            // Finished or aborted after the step was launched: its token is dropped.
            guard !request.isFinished else { continue }
            recordPromptLogprobs(result)
            if let sample = result.deviceSample {
                if !result.draftSamples.isEmpty {
                    // Plain greedy drafts: each position's argmax decides, as plain decoding's would.
                    let argmax = result.draftSamples + [sample]
                    updates.append(contentsOf: verifyDrafts(for: request) { i, _ in (argmax[i].token, nil) })
                    continue
                }
                let logprobs = sample.logprobs.map { PositionLogprobs($0, chosen: sample.token) }
                updates.append(accept(sample.token, logprobs: logprobs, for: request))
                continue
            }
            guard var row = result.sampleLogits else { continue }
            if !result.draftLogits.isEmpty {
                let rows = result.draftLogits + [row]
                updates.append(
                    contentsOf: verifyDrafts(for: request) { i, draft in
                        var logits = rows[i]
                        return draft.map { self.sampler.verify(&logits, for: request, draft: $0.token, draftProbabilities: $0.q) }
                            ?? self.sampler.sample(&logits, for: request)
                    })
                continue
            }
            let (token, logprobs) = sampler.sample(&row, for: request)
            updates.append(accept(token, logprobs: logprobs, for: request))
        }
        return updates
    }

    /// Asks for room for draft tokens after each decoding request whose tokens are all known.
    private func planDrafts(_ proposer: any SpeculativeProposer) {
        // A grammar's mask for each draft position would need its matcher advanced over the drafts
        // before they are verified; requests with one are not drafted for.
        for request in scheduler.running
        where request.grammar == nil && request.numPendingTokens == 0 && request.numComputedTokens == request.numTokens - 1 {
            let room = request.maxOutputTokens - request.numOutputTokens - 1
            request.numDraftSlots = room > 0 ? proposer.plannedDrafts(for: request, limit: room) : 0
        }
    }

    /// Fills the drafts of the scheduled step, each request's within the room the scheduler gave
    /// it (the token budget may have cut the slots planned).
    private func proposeDrafts(_ step: ScheduledStep, _ proposer: any SpeculativeProposer) {
        let counts = step.requests.map { request, numTokens in
            max(0, min(request.numDraftSlots, numTokens - (request.numTokensWithPending - request.numComputedTokens)))
        }
        let drafts = proposer.propose(step, counts: counts, cache: cache, sampler: &sampler)
        for ((request, _), draft) in zip(step.requests, drafts) {
            request.numDraftSlots = 0
            request.draftTokenIDs = draft.tokens
            request.draftProbabilities = draft.probabilities
        }
    }

    /// Takes in a verifying step's tokens: the drafts up to the first one rejected, then the
    /// token sampled in its place (or after the last draft), each checked for stops as usual.
    /// `choose(i, draft)` gives position i's token: the verdict on draft i (with its draft
    /// probabilities, if any), or with no draft the token after the last one. The slots of
    /// rejected drafts are given back; their keys and values are overwritten later.
    private func verifyDrafts(
        for request: Request, choose: (Int, (token: Int, q: [Float]?)?) -> (Int, PositionLogprobs?)
    ) -> [SequenceUpdate] {
        let drafts = request.draftTokenIDs
        let probabilities = request.draftProbabilities
        request.draftTokenIDs = []
        request.draftProbabilities = []
        var updates: [SequenceUpdate] = []
        var accepted = 0
        for i in 0...drafts.count {
            let draft = i < drafts.count ? drafts[i] : nil
            let (token, logprobs) = choose(i, draft.map { ($0, i < probabilities.count ? probabilities[i] : nil) })
            updates.append(accept(token, logprobs: logprobs, for: request))
            guard token == draft else { break }
            accepted += 1
            if request.isFinished { break }
        }
        counters.speculative.record(drafted: drafts.count, accepted: accepted)
        if !request.isFinished {
            request.numComputedTokens = request.numTokens - 1
            cache.trim(request, toTokens: request.numComputedTokens)
        }
        return updates
    }

    private func recordPromptLogprobs(_ result: StepRunner.Result) {
        let request = result.request
        guard let top = request.params.promptLogprobs, result.firstPromptPosition == request.promptLogprobs.count else { return }
        for (i, logits) in result.promptLogits.enumerated() {
            let next = request.tokenIDs[result.firstPromptPosition + i + 1]
            request.promptLogprobs.append(Sampler.positionLogprobs(SamplingMath.logSoftmax(logits), chosen: next, top: top))
        }
    }

    private func accept(_ token: Int, logprobs: PositionLogprobs?, for request: Request) -> SequenceUpdate {
        request.append(token)
        // The mask allowed only this grammar's tokens; a rejection means every allowed token was
        // banned (min_tokens against a finished grammar), and the sequence stops there.
        let grammarRejected = advanceGrammar(request, with: token)
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
        if finish == nil, grammarRejected { finish = .stop }
        if finish == nil, request.numOutputTokens >= request.maxOutputTokens { finish = .length }
        var result = update(request, tokens: [token], logprobs: logprobs.map { [$0] } ?? [])
        if let finish {
            scheduler.finish(request, reason: finish)
            result = close(request, update: result)
        }
        return result
    }

    /// Advances the request's grammar with its newest token; true when the grammar refused it. A
    /// waiting grammar starts after the token whose text completes `structuredOutputsStartAfter`.
    private func advanceGrammar(_ request: Request, with token: Int) -> Bool {
        guard request.grammar != nil else { return false }
        guard var wait = request.grammarWait else { return !request.grammar!.acceptToken(token) }
        request.grammarWait = wait.passes(token) ? nil : wait
        return false
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
        proposer?.finish(request)
        return update
    }

    /// The KV cache events since the last call (none unless `config.recordsKVCacheEvents`).
    public func takeKVCacheEvents() -> [KVCacheEvent] { cache.takeEvents() }

    /// Forgets every cached prefix while no request runs; returns whether it did.
    public func resetPrefixCache() -> Bool {
        guard !scheduler.hasWork else { return false }
        return cache.resetPrefixCache()
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

/// Refuses an EAGLE-3 head made for another target: its vocabulary or the width of the hidden
/// states it reads differs from the target's.
func checkEagle3Head(_ head: Eagle3HeadConfig, target: ModelConfig) throws {
    let fail = { (detail: String) in EngineError.invalidParameter(field: "speculative_config", detail: detail) }
    guard head.model.vocabSize == target.vocabSize else {
        throw fail(
            "the EAGLE-3 head's vocab_size is \(head.model.vocabSize) and the target's \(target.vocabSize); the head was trained for another target"
        )
    }
    guard head.targetHiddenSize == target.hiddenSize else {
        throw fail(
            "the EAGLE-3 head reads hidden states of \(head.targetHiddenSize) values (target_hidden_size, else hidden_size) and the target's hidden_size is \(target.hiddenSize); the head was trained for another target"
        )
    }
}

/// Refuses a draft model whose vocabulary differs from the target's: its tokens would mean other text.
func checkDraftVocabulary(_ draft: ModelConfig, target: ModelConfig) throws {
    guard draft.vocabSize == target.vocabSize else {
        throw EngineError.invalidParameter(
            field: "speculative_config",
            detail:
                "the draft model's vocabulary has \(draft.vocabSize) tokens and the target's \(target.vocabSize); draft_model needs a draft with the target's tokenizer and vocabulary"
        )
    }
}
