/// The shape a step shares with every step a recording of it serves (CUDA graphs): the same
/// number of sequences, each with the same number of new tokens and of logit rows.
public struct UniformStepShape: Hashable, Sendable {
    /// Sequences in the step.
    public var sequences: Int
    /// New tokens of every sequence (1 for a decode step, 1 + drafts for a verifying step).
    public var tokensPerSequence: Int
    /// Logit rows of every sequence: 1 (its last token) or `tokensPerSequence` (every token).
    public var logitsPerSequence: Int

    /// A shape as described on each property.
    public init(sequences: Int, tokensPerSequence: Int, logitsPerSequence: Int) {
        self.sequences = sequences
        self.tokensPerSequence = tokensPerSequence
        self.logitsPerSequence = logitsPerSequence
    }

    /// Tokens in the step.
    public var tokens: Int { sequences * tokensPerSequence }
}

/// What a backend keys a recorded step by: the runner it belongs to (a draft model or an EAGLE-3
/// head may share the target's backend), which of the runner's passes it is, and its shape.
public struct RecordedStep: Hashable, Sendable {
    /// The runner that records and replays the step.
    public var model: ObjectIdentifier
    /// Which of the runner's passes (an EAGLE-3 head's from the target's states or from its own
    /// output); 0 for a model runner.
    public var pass: Int
    /// The step's shape, padding included.
    public var shape: UniformStepShape

    /// A key as described on each property.
    public init(model: ObjectIdentifier, pass: Int = 0, shape: UniformStepShape) {
        self.model = model
        self.pass = pass
        self.shape = shape
    }
}

/// Which uniform steps a runner replays from recordings (CUDA graphs), and the batch size each is
/// padded to.
public struct StepRecordingPlan: Sendable, Equatable {
    /// Batch sizes steps are padded to, ascending; empty: every step runs eagerly.
    public var batchSizes: [Int]
    /// Most tokens a sequence may bring (1: decode steps only; 1 + the drafts with speculation).
    public var maxTokensPerSequence: Int
    /// Most tokens of a padded step of several tokens a sequence (the largest step activation
    /// memory was sized for, `max_num_batched_tokens`).
    public var maxTokens: Int

    /// A plan as described on each property (sizes deduplicated and sorted).
    public init(batchSizes: [Int], maxTokensPerSequence: Int = 1, maxTokens: Int = 0) {
        self.batchSizes = Set(batchSizes.filter { $0 > 0 }).sorted()
        self.maxTokensPerSequence = max(1, maxTokensPerSequence)
        self.maxTokens = maxTokens
    }

    /// No recordings.
    public static let none = StepRecordingPlan(batchSizes: [])

    /// The number of sequences a uniform step of `shape` is padded to and replayed at: the first
    /// batch size that holds its sequences; for a step of several tokens a sequence (verifying
    /// drafts), only up to `maxTokensPerSequence` and while the padded step stays within
    /// `maxTokens`. Nil: the step runs eagerly.
    func paddedSize(for shape: UniformStepShape) -> Int? {
        let q = shape.tokensPerSequence
        guard q <= maxTokensPerSequence, let size = batchSizes.first(where: { $0 >= shape.sequences }), q == 1 || size * q <= maxTokens
        else { return nil }
        return size
    }

    /// Where `batch` runs: padded to its recorded size, with the key its recording is kept under
    /// (`model`'s pass `pass`); or as it is, with no key, when `recording` is off (the backend
    /// does not record, or stopped) or the plan does not take the step's shape.
    public func placement(
        of batch: ForwardBatch, recording: Bool, model: AnyObject, pass: Int = 0
    ) -> (batch: ForwardBatch, key: RecordedStep?) {
        guard recording, let shape = batch.uniformShape, let size = paddedSize(for: shape) else { return (batch, nil) }
        var padded = shape
        padded.sequences = size
        return (batch.padded(to: size), RecordedStep(model: ObjectIdentifier(model), pass: pass, shape: padded))
    }
}
