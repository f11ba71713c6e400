/// A loaded model on a backend, as the engine sees it: it owns the weights and the KV cache, and
/// turns one flat batch into the logits or the samples of the requested tokens. `ModelRunner` is
/// the implementation for one backend; `TensorParallelExecutor` drives several ranks as one.
public protocol ModelExecutor: AnyObject {
    /// The model's configuration.
    var config: ModelConfig { get }
    /// The backend's name ("cpu", "cuda").
    var backendName: String { get }
    /// Bytes one KV cache block of `blockSize` tokens takes over all layers.
    func kvCacheBytesPerBlock(blockSize: Int) -> Int
    /// Makes the paged KV cache; must be called before `execute`.
    func allocateKVCache(numBlocks: Int, blockSize: Int)
    /// Runs the model over `batch` and returns float32 logits, `[batch.logitIndices.count, vocabSize]`.
    func execute(_ batch: ForwardBatch) -> [Float]
    /// Whether `launch` samples rows beyond plain greedy on the device (else such rows copy the
    /// logits to the host).
    var samplesOnDevice: Bool { get }
    /// Whether `launch` takes placeholder token ids (`ForwardBatch.placeholder(row:)`) for the
    /// tokens of the step launched before, so that the engine may schedule and launch a step before
    /// the previous one's tokens are back on the host.
    var launchesAhead: Bool { get }
    /// Runs the model over `batch` and samples each requested row as `rows` says (one row each),
    /// returning at once where the device works on its own. At most one launch may be in flight
    /// beyond the one waited for next: a launch's samples must be waited for (or dropped unread)
    /// before the launch after next.
    func launch(_ batch: ForwardBatch, rows: [DeviceSamplingRow]) -> PendingSamples
    /// `launch` in two parts: runs the model over `batch` now and returns the sampling, to be
    /// queued once the rows are known (a grammar's masks need the tokens of the step launched
    /// before, which come back after this launch). The returned function must be called once,
    /// before the next launch.
    func launchForward(_ batch: ForwardBatch) -> (_ rows: [DeviceSamplingRow]) -> PendingSamples
    /// Records the uniform steps `plan` takes (CUDA graphs) so that later such steps replay them,
    /// each padded to the next of its batch sizes: decode steps of the small sizes now, the others
    /// (and steps verifying the same number of drafts for every sequence) at their first step;
    /// call after `allocateKVCache`. Returns how many sizes were recorded now (0 where the backend
    /// cannot record).
    func captureGraphs(_ plan: StepRecordingPlan) -> Int
    /// Runs the largest step the engine will schedule (`tokens` prompt tokens over up to
    /// `sequences` sequences) once on a temporary KV cache, then frees that cache: activation
    /// memory reaches its high-water mark before the real cache is sized from what is left.
    func profileRun(tokens: Int, sequences: Int, blockSize: Int)
    /// Whether `embed` works: the model exposes its hidden states (an `EmbeddingModel` on one rank).
    var embeds: Bool { get }
    /// Whether the model only embeds (an encoder without a language-model head).
    var onlyEmbeds: Bool { get }
    /// Runs the model over `batch`, whose every sequence holds its whole input (no cached
    /// tokens), and pools each sequence's hidden states as `pooling` says (one each).
    func embed(_ batch: ForwardBatch, pooling: [PoolingParams]) -> [[Float]]
    /// Makes every later forward pass keep the hidden states entering `layers` (each token's, side
    /// by side in the order given) for `takeAuxiliaryHiddenStates` (EAGLE-3's target); call it
    /// before `captureGraphs`, whose recordings then keep them too. Throws where the model or the
    /// executor cannot.
    func captureAuxiliaryHiddenStates(layers: [Int]) throws
    /// The hidden states the last forward pass kept, `[numTokens, layers.count * hiddenSize]`
    /// row-major, once; nil when none were kept.
    func takeAuxiliaryHiddenStates() -> [Float]?
}

extension ModelExecutor {
    /// Default: records nothing and returns 0.
    public func captureGraphs(_ plan: StepRecordingPlan) -> Int { 0 }

    /// Records decode steps of `batchSizes` only.
    public func captureGraphs(batchSizes: [Int]) -> Int { captureGraphs(StepRecordingPlan(batchSizes: batchSizes)) }

    /// Default: does nothing.
    public func profileRun(tokens: Int, sequences: Int, blockSize: Int) {}

    /// Default: false.
    public var samplesOnDevice: Bool { false }

    /// Default: false.
    public var launchesAhead: Bool { false }

    /// Default: false.
    public var embeds: Bool { false }

    /// Default: false.
    public var onlyEmbeds: Bool { false }

    /// Default: throws, the executor keeps no hidden states.
    public func captureAuxiliaryHiddenStates(layers: [Int]) throws {
        throw ModelLoadError.unsupportedOperation(
            operations: ["auxiliary hidden states (EAGLE-3)"], model: config.architecture, backend: backendName)
    }

    /// Default: nil.
    public func takeAuxiliaryHiddenStates() -> [Float]? { nil }

    /// Default: traps; callers check `embeds` first.
    public func embed(_ batch: ForwardBatch, pooling: [PoolingParams]) -> [[Float]] {
        preconditionFailure("\(backendName): this executor does not embed (check `embeds` first)")
    }

    /// Samples on the host from `execute`'s logits.
    public func launch(_ batch: ForwardBatch, rows: [DeviceSamplingRow]) -> PendingSamples {
        PendingSamples(ready: SamplingMath.sampleRows(execute(batch), rows: rows))
    }

    /// Default: the whole `launch` happens when the rows are given.
    public func launchForward(_ batch: ForwardBatch) -> (_ rows: [DeviceSamplingRow]) -> PendingSamples {
        { rows in self.launch(batch, rows: rows) }
    }

    /// `launch`, waited for.
    public func executeSampled(_ batch: ForwardBatch, rows: [DeviceSamplingRow]) -> [DeviceSample] {
        launch(batch, rows: rows).wait()
    }

    /// The index of the largest logit of each requested row (the first on ties): greedy sampling
    /// without copying the logits to the host where the backend can avoid it.
    public func executeGreedy(_ batch: ForwardBatch) -> [Int32] {
        let rows = [DeviceSamplingRow](repeating: DeviceSamplingRow(), count: batch.logitIndices.count)
        return executeSampled(batch, rows: rows).map { Int32($0.token) }
    }
}
