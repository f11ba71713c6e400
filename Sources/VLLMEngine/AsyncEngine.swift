import Foundation
import VLLMCore
import VLLMStructuredOutputs
import VLLMTokenizers

/// The engine for servers: requests come from many tasks, one dedicated thread runs the engine
/// core's step loop, and each request's outputs flow back as an `AsyncStream`. Ending the stream
/// early (a client that hangs up) aborts the request and frees its blocks at once.
public final class AsyncEngine: @unchecked Sendable {
    /// What arrives from callers between steps.
    private enum Command {
        case add(
            id: String, prompt: String?, tokens: [Int], params: SamplingParams, priority: Int, delta: Bool,
            continuation: AsyncStream<Result<RequestOutput, Error>>.Continuation)
        case abort(String)
        case resetPrefixCache(CheckedContinuation<Bool, Never>)
        case embed(id: String, tokens: [Int], pooling: PoolingParams, continuation: CheckedContinuation<[Float], Error>)
    }

    private let core: EngineCore
    /// The model folder, when built from `EngineArgs`.
    public let folder: ModelFolder?
    /// The model's tokenizer, when the folder has one.
    public let tokenizer: Tokenizer?
    /// The structured-output grammar compiler of the engine (thread-safe), nil without a tokenizer.
    public var grammarCompiler: GrammarCompiler? { core.grammarCompiler }
    /// The engine core's settings (blocks, block size, limits).
    public var config: EngineCoreConfig { core.config }
    /// How many decode batch sizes were recorded as CUDA graphs at start, and in how many seconds.
    public var graphsRecorded: (count: Int, seconds: Double) { (core.graphsRecorded, core.graphRecordingSeconds) }
    /// Seconds of each start-up phase (load, KV cache, CUDA graphs).
    public var startupTimes: StartupTimes { core.startupTimes }
    private let condition = NSCondition()
    private var inbox: [Command] = []
    private var stopping = false
    private var latestStats = EngineStats()
    private var thread: Thread?

    /// Loads the model of `args` with its tokenizer on one of `platforms` and starts the step loop.
    public convenience init(args: EngineArgs, platforms: [any Platform], progress: ((Int, Int) -> Void)? = nil) throws {
        let loaded = try LoadedModel(args, platforms: platforms, progress: progress)
        let tokenizer = try loadTokenizer(loaded.folder, override: args.tokenizer)
        let core = try EngineCore(
            executor: loaded.executor, config: loaded.coreConfig, eosTokenIDs: loaded.eosTokenIDs,
            textDecoder: tokenizer.map(textDecoderFactory),
            grammarCompiler: tokenizer.map {
                makeGrammarCompiler($0, eosTokenIDs: loaded.eosTokenIDs, options: args.structuredOutputs.grammarOptions)
            },
            draftExecutor: loaded.draftExecutor, eagle3Head: loaded.eagle3Head)
        self.init(core: core, folder: loaded.folder, tokenizer: tokenizer)
    }

    /// Starts the step loop over `core`, which this engine now owns.
    public init(core: EngineCore, folder: ModelFolder? = nil, tokenizer: Tokenizer? = nil) {
        self.core = core
        self.folder = folder
        self.tokenizer = tokenizer
        // The thread holds the engine until its loop returns (after `shutdown()`), so that an
        // engine released right after `shutdown()` is never read after it is gone.
        let thread = Thread { [self] in self.loop() }
        thread.name = "vllm-engine"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Generates for one prompt. The stream yields cumulative outputs (or only the new part of each,
    /// when `delta`), the last one with `finished`; errors (such as invalid parameters) end it.
    public func generate(
        requestID: String, prompt: String? = nil, promptTokenIDs: [Int], params: SamplingParams, priority: Int = 0,
        delta: Bool = false
    ) -> AsyncStream<Result<RequestOutput, Error>> {
        let (stream, continuation) = AsyncStream<Result<RequestOutput, Error>>.makeStream()
        continuation.onTermination = { [weak self] reason in
            if case .cancelled = reason { self?.abort(requestID) }
        }
        send(
            .add(
                id: requestID, prompt: prompt, tokens: promptTokenIDs, params: params, priority: priority, delta: delta,
                continuation: continuation))
        return stream
    }

    /// Where the KV cache events of each step go (on the engine thread), when the engine records
    /// them (`EngineCoreConfig.recordsKVCacheEvents`); set it before requests arrive.
    public nonisolated(unsafe) var kvCacheEventSink: (@Sendable ([KVCacheEvent]) -> Void)?

    /// Forgets every cached prefix, as vLLM's `/reset_prefix_cache`: only while no request runs;
    /// returns whether it did.
    public func resetPrefixCache() async -> Bool {
        await withCheckedContinuation { send(.resetPrefixCache($0)) }
    }

    /// The embedding of one input, pooled as `pooling` says (`LLM.embed` describes the run);
    /// cancelling the task aborts the request.
    public func embed(requestID: String, promptTokenIDs: [Int], pooling: PoolingParams) async throws -> [Float] {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                send(.embed(id: requestID, tokens: promptTokenIDs, pooling: pooling, continuation: continuation))
            }
        } onCancel: {
            abort(requestID)
        }
    }

    /// Aborts a request (all of its samples); unknown ids are ignored.
    public func abort(_ requestID: String) { send(.abort(requestID)) }

    /// The engine's counters as of the last step.
    public var stats: EngineStats {
        condition.lock()
        defer { condition.unlock() }
        return latestStats
    }

    /// Stops the loop after aborting every request in flight. The engine runs (and stays in
    /// memory) until this is called.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func send(_ command: Command) {
        condition.lock()
        inbox.append(command)
        condition.signal()
        condition.unlock()
    }

    // MARK: The step loop (engine thread only)

    private var streams: [String: (continuation: AsyncStream<Result<RequestOutput, Error>>.Continuation, delta: Bool, n: Int)] = [:]
    private var collector = OutputCollector()
    private var embeddings: [String: CheckedContinuation<[Float], Error>] = [:]

    private func loop() {
        while true {
            condition.lock()
            while inbox.isEmpty && !core.hasUnfinishedRequests && !stopping { condition.wait() }
            let commands = inbox
            inbox.removeAll()
            let stop = stopping
            condition.unlock()
            for command in commands { handle(command) }
            if stop {
                for id in Array(streams.keys) + Array(embeddings.keys) { abortAll(id) }
                publishStats()
                return
            }
            for update in core.step() { deliver(update) }
            publishEvents()
            publishStats()
        }
    }

    private func publishEvents() {
        let events = core.takeKVCacheEvents()
        if !events.isEmpty { kvCacheEventSink?(events) }
    }

    private func publishStats() {
        let stats = core.stats
        condition.lock()
        latestStats = stats
        condition.unlock()
    }

    private func handle(_ command: Command) {
        switch command {
        case .add(let id, let prompt, let tokens, let params, let priority, let delta, let continuation):
            guard streams[id] == nil else {
                continuation.yield(.failure(EngineError.duplicateRequestID(id)))
                continuation.finish()
                return
            }
            collector.register(id: id, prompt: prompt, promptTokenIDs: tokens, n: params.n, wantsLogprobs: params.logprobs != nil)
            do {
                try core.addSamples(id: id, promptTokenIDs: tokens, params: params, priority: priority)
                streams[id] = (continuation, delta, params.n)
            } catch {
                _ = collector.drop(id)
                continuation.yield(.failure(error))
                continuation.finish()
            }
        case .abort(let id):
            abortAll(id)
        case .resetPrefixCache(let continuation):
            continuation.resume(returning: core.resetPrefixCache())
            publishEvents()
        case .embed(let id, let tokens, let pooling, let continuation):
            guard embeddings[id] == nil, streams[id] == nil else {
                return continuation.resume(throwing: EngineError.duplicateRequestID(id))
            }
            do {
                try core.addEmbeddingRequest(id: id, promptTokenIDs: tokens, pooling: pooling)
                embeddings[id] = continuation
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    private func abortAll(_ id: String) {
        if embeddings[id] != nil, let update = core.abort(id) { deliver(update) }
        guard let entry = streams[id] else { return }
        for sample in OutputCollector.sampleIDs(id, n: entry.n) {
            if let update = core.abort(sample) { deliver(update) }
        }
    }

    private func deliver(_ update: SequenceUpdate) {
        if let continuation = embeddings.removeValue(forKey: update.requestID) {
            if let vector = update.embedding {
                continuation.resume(returning: vector)
            } else {
                continuation.resume(throwing: CancellationError())
            }
            return
        }
        let id = collector.requestID(of: update.requestID)
        guard let id, let entry = streams[id], let output = collector.apply(update, delta: entry.delta) else { return }
        entry.continuation.yield(.success(output))
        if output.finished {
            entry.continuation.finish()
            streams[id] = nil
        }
    }
}
