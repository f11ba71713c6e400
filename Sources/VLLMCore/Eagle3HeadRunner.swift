/// A loaded EAGLE-3 draft head as the engine sees it (no backend): its paged KV cache and one
/// pass at a time, hidden states in and out through the host.
public protocol Eagle3HeadExecutor: AnyObject {
    /// The head's configuration.
    var config: Eagle3HeadConfig { get }
    /// The target layers whose input hidden states the head reads, in `fc`'s order.
    var targetLayers: [Int] { get }
    /// For each draft token id, the target's id.
    var draftToTarget: [Int] { get }
    /// Bytes one KV cache block of `blockSize` tokens takes.
    func kvCacheBytesPerBlock(blockSize: Int) -> Int
    /// Makes the paged KV cache; must be called before `execute`.
    func allocateKVCache(numBlocks: Int, blockSize: Int)
    /// Replays the uniform passes `plan` takes from recordings (CUDA graphs), each recorded at its
    /// first pass; nothing where the backend cannot record.
    func recordSteps(_ plan: StepRecordingPlan)
    /// Runs the head over `batch`, whose token `i` reads row `i` of `hidden` (row-major): the
    /// target's auxiliary hidden states side by side when `fromTarget`, else the head's own
    /// earlier output. Returns, for `batch.logitIndices`, the draft-vocabulary logits
    /// `[rows, draftVocabSize]` and the hidden states to feed back `[rows, hiddenSize]`.
    func execute(_ batch: ForwardBatch, hidden: [Float], fromTarget: Bool) -> (logits: [Float], hidden: [Float])
}

/// Runs an `Eagle3Head` on its backend: the KV cache, and the hidden states moved between the
/// host and the backend.
public final class Eagle3HeadRunner<B: Backend>: Eagle3HeadExecutor {
    /// The head's weights and forward pass.
    public let head: Eagle3Head<B>
    /// The target layers the head reads.
    public let targetLayers: [Int]
    private let backend: B
    private var cache: B.KVCache?
    private var recordingPlan = StepRecordingPlan.none

    /// Runs `head`, which reads the target's `targetLayers`, on `backend`.
    public init(head: Eagle3Head<B>, targetLayers: [Int], backend: B) {
        self.head = head
        self.targetLayers = targetLayers
        self.backend = backend
    }

    /// The head's configuration.
    public var config: Eagle3HeadConfig { head.config }

    /// The head's map from draft to target token ids.
    public var draftToTarget: [Int] { head.draftToTarget }

    /// Bytes of one block of the head's one layer.
    public func kvCacheBytesPerBlock(blockSize: Int) -> Int {
        backend.kvCacheBytesPerBlock(head.kvCacheShape(numBlocks: 1, blockSize: blockSize))
    }

    /// Makes the head's cache (replacing any earlier one).
    public func allocateKVCache(numBlocks: Int, blockSize: Int) {
        cache = backend.makeKVCache(head.kvCacheShape(numBlocks: numBlocks, blockSize: blockSize))
    }

    /// Takes `plan` for the passes to replay (on a backend that records).
    public func recordSteps(_ plan: StepRecordingPlan) {
        recordingPlan = backend.recordsSteps ? plan : .none
    }

    /// Uploads `hidden`, runs the head (a uniform pass padded and replayed as `recordSteps` says)
    /// and copies the requested rows back.
    public func execute(_ batch: ForwardBatch, hidden: [Float], fromTarget: Bool) -> (logits: [Float], hidden: [Float]) {
        guard let cache else { preconditionFailure("allocateKVCache must be called before execute") }
        let width = fromTarget ? targetLayers.count * config.targetHiddenSize : config.model.hiddenSize
        precondition(hidden.count == batch.numTokens * width, "\(hidden.count) hidden values for \(batch.numTokens) tokens of \(width)")
        let (run, key) = recordingPlan.placement(
            of: batch, recording: backend.recordsSteps, model: self, pass: fromTarget ? 1 : 0)
        // Preparing a step starts the backend's memory of the step: the states come after it, at
        // the same place for every pass of a shape (where a recording reads them).
        let step = backend.prepare(run)
        let padding = (run.numTokens - batch.numTokens) * width
        let states = backend.activation(
            padding == 0 ? hidden : hidden + [Float](repeating: 0, count: padding), rows: run.numTokens, columns: width)
        func forward() -> [B.Tensor] {
            let (logits, out) = head.forward(step, hidden: states, fromTarget: fromTarget, cache: cache)
            return [logits, out]
        }
        let outputs = key.map { backend.recorded($0, batch: step, forward) } ?? forward()
        // A padded pass's dummy rows come last.
        let rows = batch.logitIndices.count
        return (
            Array(backend.toHost(outputs[0]).prefix(rows * config.draftVocabSize)),
            Array(backend.toHost(outputs[1]).prefix(rows * config.model.hiddenSize))
        )
    }
}
