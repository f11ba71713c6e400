/// Runs a model on its backend, the same way for every architecture: it owns the paged KV cache,
/// the profile run, the recorded decode and draft-verifying steps (CUDA graphs) and the padding
/// that replays them, the placeholder token ids of async scheduling, and launching and waiting
/// for samples.
public final class ModelRunner<B: Backend>: ModelExecutor {
    /// The model's weights and forward pass.
    public let model: any CausalModel<B>
    private let backend: B
    private let shard: TensorParallelShard
    private let maxPositions: Int
    private var cache: B.KVCache?
    /// The samples of the last `launch`, which placeholder token ids of the next batch stand for.
    private var lastSamples: PendingSamples?
    /// The uniform steps replayed from recordings and their padded sizes; `.none` when steps run
    /// eagerly.
    public private(set) var recordingPlan = StepRecordingPlan.none
    /// Target layers whose input hidden states each forward pass keeps (EAGLE-3); empty: none.
    private var auxiliaryLayers: [Int] = []
    /// The hidden states the last forward pass kept.
    private var auxiliaryStates: [Float]?
    /// How the KV cache stores keys and values (`--kv-cache-dtype` and the checkpoint's scales);
    /// set before `kvCacheBytesPerBlock` and `allocateKVCache`.
    public var kvCacheFormat: KVCacheFormat = .auto

    /// Runs `model` on `backend`; `maxPositions` bounds the sequences of the profile run.
    public init(model: any CausalModel<B>, backend: B, maxPositions: Int, shard: TensorParallelShard = .whole) {
        self.model = model
        self.backend = backend
        self.maxPositions = maxPositions
        self.shard = shard
    }

    /// The model's configuration.
    public var config: ModelConfig { model.config }

    /// The backend's name (`"cpu"`, `"cuda"`).
    public var backendName: String { backend.name }

    /// Bytes of one block of `blockSize` tokens over all layers, in `kvCacheFormat`.
    public func kvCacheBytesPerBlock(blockSize: Int) -> Int {
        backend.kvCacheBytesPerBlock(kvCacheShape(numBlocks: 1, blockSize: blockSize))
    }

    /// Makes the paged KV cache (replacing any earlier one) in `kvCacheFormat`.
    public func allocateKVCache(numBlocks: Int, blockSize: Int) {
        cache = backend.makeKVCache(kvCacheShape(numBlocks: numBlocks, blockSize: blockSize))
    }

    /// The model's cache shape in `kvCacheFormat`.
    private func kvCacheShape(numBlocks: Int, blockSize: Int) -> KVCacheShape {
        var shape = model.kvCacheShape(numBlocks: numBlocks, blockSize: blockSize)
        shape.format = kvCacheFormat
        return shape
    }

    /// The forward pass, then the logits of the batch's `logitIndices` rows copied to the host (padding rows of a replayed step dropped).
    public func execute(_ batch: ForwardBatch) -> [Float] {
        let (logits, rows) = self.logits(batch)
        let values = backend.toHost(logits)
        let wanted = batch.logitIndices.count
        return rows == wanted ? values : Array(values.prefix(wanted * config.vocabSize))
    }

    /// True when the backend samples on the device and there is one rank.
    public var samplesOnDevice: Bool { shard.worldSize == 1 && backend.samplesOnDevice }

    /// True on one rank: the backend resolves placeholder token ids from the samples it keeps.
    public var launchesAhead: Bool { shard.worldSize == 1 }

    /// Runs the step and queues its sampling, padding the rows of a replayed step (padding rows are sampled greedily and dropped).
    public func launch(_ batch: ForwardBatch, rows: [DeviceSamplingRow]) -> PendingSamples {
        let (logits, count) = self.logits(batch)
        return queueSampling(logits, count: count, rows: rows)
    }

    /// Runs the step now and queues its sampling when the rows come (before the next launch).
    public func launchForward(_ batch: ForwardBatch) -> (_ rows: [DeviceSamplingRow]) -> PendingSamples {
        let (logits, count) = self.logits(batch)
        return { rows in self.queueSampling(logits, count: count, rows: rows) }
    }

    /// Queues the sampling of the step's `count` logits rows, the last `count - rows.count` of
    /// them padding; keeps the samples for the next step's placeholders.
    private func queueSampling(_ logits: B.Tensor, count: Int, rows: [DeviceSamplingRow]) -> PendingSamples {
        // Padding rows of a recorded step are sampled greedily and dropped.
        let padded = rows + [DeviceSamplingRow](repeating: DeviceSamplingRow(), count: count - rows.count)
        let samples = backend.launchSampling(logits, rows: padded)
        lastSamples = samples
        return samples.map { Array($0.prefix(rows.count)) }
    }

    /// Keeps the hidden states entering `layers` from now on; throws for a model that cannot hand
    /// them out, several ranks, or a backend without the copies.
    public func captureAuxiliaryHiddenStates(layers: [Int]) throws {
        guard shard.worldSize == 1, model is any AuxiliaryHiddenStatesModel<B> else {
            throw ModelLoadError.unsupportedOperation(
                operations: ["auxiliary hidden states (EAGLE-3)"],
                model: shard.worldSize == 1 ? config.architecture : "\(config.architecture) over \(shard.worldSize) ranks",
                backend: backend.name)
        }
        try backend.requireFamilyOperations(.hiddenStates, model: config.architecture)
        precondition(recordingPlan.batchSizes.isEmpty, "hidden states must be asked for before steps are recorded")
        auxiliaryLayers = layers
    }

    /// The hidden states of the last forward pass, handed out once.
    public func takeAuxiliaryHiddenStates() -> [Float]? {
        defer { auxiliaryStates = nil }
        return auxiliaryStates
    }

    /// True on one rank for a model that exposes its hidden states.
    public var embeds: Bool { shard.worldSize == 1 && model is any EmbeddingModel<B> }

    /// True for an encoder-only model (no language-model head).
    public var onlyEmbeds: Bool { config.encoder != nil }

    /// Runs the encoder over `batch` and pools each sequence's hidden states; traps without an embedding model or a KV cache.
    public func embed(_ batch: ForwardBatch, pooling: [PoolingParams]) -> [[Float]] {
        guard let cache, let model = model as? any EmbeddingModel<B> else {
            preconditionFailure("embed needs an embedding model and allocateKVCache first")
        }
        let states = backend.toHost(model.hiddenStates(backend.prepare(batch), cache: cache))
        let hidden = config.hiddenSize
        return pooling.enumerated().map { s, params in
            let (start, end) = (Int(batch.queryStart[s]), Int(batch.queryStart[s + 1]))
            return params.pool(states[(start * hidden)..<(end * hidden)], tokens: end - start, hidden: hidden)
        }
    }

    /// Runs a greedy step of `tokens` prompt tokens split evenly over up to `sequences` sequences (each shorter than `maxPositions`) on a
    /// temporary KV cache, then frees it.
    public func profileRun(tokens: Int, sequences: Int, blockSize: Int) {
        let perSequence = max(1, min(maxPositions - 1, (tokens + max(1, sequences) - 1) / max(1, sequences)))
        let count = (tokens + perSequence - 1) / perSequence
        let blocksPerSequence = (perSequence + blockSize - 1) / blockSize
        allocateKVCache(numBlocks: count * blocksPerSequence, blockSize: blockSize)
        let chunks = (0..<count).map { s in
            SequenceChunk(
                tokenIDs: [Int32](repeating: 0, count: min(perSequence, tokens - s * perSequence)), numCached: 0,
                blockTable: (0..<blocksPerSequence).map { Int32(s * blocksPerSequence + $0) })
        }
        runGreedy(ForwardBatch(chunks: chunks, blockSize: blockSize))
        cache = nil
    }

    /// Decode batch sizes up to this one are recorded at start; larger ones at their first decode
    /// step (`logits` pads the step to its size and the backend records what it lacks), so that a
    /// server answers sooner and sizes its load never reaches cost nothing. Each recording costs
    /// an eager step, the recording and a replay (about 25 ms for an 8B model on an H100).
    public static var graphBatchSizesRecordedAtStart: Int { 8 }

    /// Takes `plan` for the uniform steps to replay and records one dummy decode step per batch
    /// size up to `graphBatchSizesRecordedAtStart`, largest first; returns how many were recorded:
    /// 0 on a backend that cannot record, with several ranks, an encoder, or before
    /// `allocateKVCache`.
    public func captureGraphs(_ plan: StepRecordingPlan) -> Int {
        guard backend.recordsSteps, shard.worldSize == 1, cache != nil, !onlyEmbeds else { return 0 }
        recordingPlan = plan
        let atStart = plan.batchSizes.filter { $0 <= Self.graphBatchSizesRecordedAtStart }
        // Largest first, as vLLM does; each dummy step records its size.
        for size in atStart.reversed() { runGreedy(.dummyDecodes(size)) }
        // A backend that failed to record stops recording; the steps then run eagerly.
        if !backend.recordsSteps { recordingPlan = .none }
        return recordingPlan.batchSizes.isEmpty ? 0 : atStart.count
    }

    /// Runs a step whose tokens nobody reads (profile and recording runs) through the argmax, so
    /// that it touches neither the samples that placeholders stand for nor the sampling buffers.
    private func runGreedy(_ batch: ForwardBatch) {
        if onlyEmbeds, let cache, let model = model as? any EmbeddingModel<B> {
            _ = backend.toHost(model.hiddenStates(backend.prepare(batch), cache: cache))
            return
        }
        let (logits, rows) = self.logits(batch)
        _ = backend.argmaxRows(logits, rows: rows)
    }

    /// The logits of `batch`'s requested rows on the backend, and how many rows there are: more
    /// than requested when a decode step was padded to a recorded size.
    private func logits(_ batch: ForwardBatch) -> (B.Tensor, rows: Int) {
        guard let cache else { preconditionFailure("allocateKVCache must be called before execute") }
        var batch = batch
        if batch.hasPlaceholders {
            guard let last = lastSamples else { preconditionFailure("placeholder token ids before any launch") }
            // Tokens already on the host are put in here; the others the backend reads on the device.
            if last.isReady { batch = batch.resolvingPlaceholders(last.wait().map { Int32($0.token) }) }
        }
        let (run, key) = recordingPlan.placement(of: batch, recording: backend.recordsSteps, model: self)
        let step = backend.prepare(run)
        let outputs = key.map { backend.recorded($0, batch: step) { forward(step, cache: cache) } } ?? forward(step, cache: cache)
        // The kept hidden states are copied once the pass is done (a recording copies nothing);
        // a padded step's dummy rows come last.
        if outputs.count > 1 {
            let width = auxiliaryLayers.count * config.hiddenSize
            auxiliaryStates = Array(backend.toHost(outputs[1]).prefix(batch.numTokens * width))
        }
        return (outputs[0], run.logitIndices.count)
    }

    /// The forward pass: the logits, then the hidden states kept for EAGLE-3 if any are asked for.
    private func forward(_ step: B.Batch, cache: B.KVCache) -> [B.Tensor] {
        guard !auxiliaryLayers.isEmpty, let model = model as? any AuxiliaryHiddenStatesModel<B> else {
            return [model.forward(step, cache: cache)]
        }
        let (logits, auxiliary) = model.forward(step, cache: cache, capturing: auxiliaryLayers)
        return [logits, auxiliary]
    }
}
