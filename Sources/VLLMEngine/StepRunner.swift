import VLLMCore

/// Lays out a scheduled step as one flat batch, launches the model on it and hands back, once the
/// step is done, the sample or the logits of each request that has reached the end of its tokens
/// (and so samples one now).
final class StepRunner {
    let executor: any ModelExecutor
    let blockSize: Int

    /// Overrides `executor.samplesOnDevice` (tests run the backend sampling path on the CPU).
    var samplesOnBackend: Bool?

    init(executor: any ModelExecutor, blockSize: Int) {
        self.executor = executor
        self.blockSize = blockSize
    }

    /// What one request gets back from a step.
    struct Result {
        let request: Request
        /// Logits of the prompt positions not reported yet, from `firstPromptPosition` on; position
        /// `p` predicts prompt token `p + 1` (for prompt logprobs).
        var promptLogits: [[Float]] = []
        var firstPromptPosition = 0
        /// Logits to sample the next token from, when the request has computed all its tokens.
        var sampleLogits: [Float]?
        /// Logits that verify the request's draft tokens, one row per draft (row i decides the
        /// token at draft position i); `sampleLogits` then follows the last draft.
        var draftLogits: [[Float]] = []
        /// The token (and its logprobs), when the backend sampled the whole step.
        var deviceSample: DeviceSample?
        /// The backend's argmax at each draft position (row i decides the token at draft position
        /// i), when it sampled a plain greedy request's drafts; `deviceSample` follows the last.
        var draftSamples: [DeviceSample] = []
        /// Whether this step samples a token of the request (on the backend or from `sampleLogits`).
        var samples: Bool { sampleLogits != nil || deviceSample != nil }
    }

    /// A step given to the executor. With samples on the backend it may still be computing;
    /// `results()` waits for it.
    struct LaunchedStep {
        enum Output {
            /// The backend samples every sampling row.
            case samples(PendingSamples)
            /// The backend computes the logits and samples once `queueSampling` gives it the rows
            /// with their grammar masks (a step launched ahead with constrained rows).
            case forward((_ rows: [DeviceSamplingRow]) -> PendingSamples, rows: [DeviceSamplingRow])
            /// The logits of the requested rows, on the host (the host samples).
            case logits([Float])
        }

        let step: ScheduledStep
        let chunks: [SequenceChunk]
        private(set) var output: Output

        /// Whether the backend samples the step (else the host does, once `results()` are in).
        var samplesOnBackend: Bool { if case .logits = output { false } else { true } }

        /// Queues the sampling of a step launched with `.forward`: the grammar masks of its rows
        /// are filled now, from the tokens that came back since the launch, while the device
        /// computes the step's forward pass.
        mutating func queueSampling() {
            guard case .forward(let sample, var rows) = output else { return }
            StepRunner.addMasks(&rows, samplingRequests)
            output = .samples(sample(rows))
        }

        /// The requests that sample a token in this step, in row order.
        var samplingRequests: [Request] {
            zip(step.requests, chunks).filter { $0.1.wantsLogits }.map(\.0.request)
        }

        /// Each sampling request with the row of its sampled token: on the backend a request's
        /// draft positions take the rows before it.
        var sampledRows: [(request: Request, row: Int)] {
            var row = -1
            return zip(step.requests, chunks).filter { $0.1.wantsLogits }.map { scheduled, chunk in
                row += samplesOnBackend ? chunk.leadingLogits + 1 : 1
                return (scheduled.request, row)
            }
        }

        /// One result per scheduled request, in step order, once the step is done.
        func results(vocabularySize vocab: Int) -> [Result] {
            switch output {
            case .forward:
                preconditionFailure("queueSampling() must come before results()")
            case .samples(let pending):
                var samples = pending.wait().makeIterator()
                return zip(step.requests, chunks).map { scheduled, chunk in
                    var result = Result(request: scheduled.request)
                    result.firstPromptPosition = chunk.numCached
                    guard chunk.wantsLogits else { return result }
                    // A chunk's leading rows on the backend are its drafts' (`backendRows`).
                    result.draftSamples = (0..<chunk.leadingLogits).compactMap { _ in samples.next() }
                    result.deviceSample = samples.next()
                    return result
                }
            case .logits(let logits):
                var row = 0
                func next() -> [Float] {
                    defer { row += 1 }
                    return Array(logits[(row * vocab)..<((row + 1) * vocab)])
                }
                return zip(step.requests, chunks).map { scheduled, chunk in
                    let request = scheduled.request
                    var result = Result(request: request)
                    let rows = (0..<chunk.leadingLogits).map { _ in next() }
                    if chunk.wantsLogits, !request.draftTokenIDs.isEmpty {
                        result.draftLogits = rows
                        result.sampleLogits = next()
                        return result
                    }
                    // Positions recomputed after a preemption were reported before.
                    let skip = max(0, request.promptLogprobs.count - chunk.numCached)
                    result.promptLogits = Array(rows.dropFirst(skip))
                    result.firstPromptPosition = chunk.numCached + skip
                    if chunk.wantsLogits { result.sampleLogits = next() }
                    return result
                }
            }
        }
    }

    /// Launches the step; `sampler` describes each sampling request as a backend row. When the
    /// host samples, the logits are copied back before this returns. With `deferMasks` (a step
    /// launched before the tokens of the step in flight are in), a step with grammar rows is
    /// launched `.forward`, its sampling queued by `LaunchedStep.queueSampling()`.
    func launch(_ step: ScheduledStep, cache: KVCacheManager, sampler: Sampler, deferMasks: Bool = false) -> LaunchedStep {
        let chunks = step.requests.map { chunk($0.request, numTokens: $0.numTokens, cache: cache) }
        let batch = ForwardBatch(chunks: chunks, blockSize: blockSize)
        let sampling = zip(step.requests, chunks).filter { $0.1.wantsLogits }.map(\.0.request)
        // When the backend can sample every row, the logits never leave the device (on a GPU,
        // copying and scanning them costs more than the forward pass at large batches).
        if var (rows, rowRequests) = backendRows(step, chunks, sampler) {
            if deferMasks, sampling.contains(where: { $0.grammar != nil }) {
                return LaunchedStep(step: step, chunks: chunks, output: .forward(executor.launchForward(batch), rows: rows))
            }
            Self.addMasks(&rows, rowRequests)
            return LaunchedStep(step: step, chunks: chunks, output: .samples(executor.launch(batch, rows: rows)))
        }
        // The host sampler finds the masks filled (in parallel, here) when it samples.
        Sampler.fillMasks(sampling)
        // The engine schedules ahead only requests that `canLaunchAhead`, so no placeholder gets here.
        precondition(!batch.hasPlaceholders, "a step with tokens still coming needs the host to sample")
        return LaunchedStep(step: step, chunks: chunks, output: .logits(executor.execute(batch)))
    }

    /// Gives each row its request's grammar mask, the masks filled in parallel over the requests.
    static func addMasks(_ rows: inout [DeviceSamplingRow], _ requests: [Request]) {
        Sampler.fillMasks(requests)
        for (i, request) in requests.enumerated() { rows[i].tokenMask = Sampler.tokenMask(for: request) }
    }

    /// The request's part of the step: its next `numTokens` tokens, the last of which may be the
    /// one the step launched before is still sampling (a placeholder), then as many of its draft
    /// tokens as fit, each of whose positions wants logits to verify the next.
    private func chunk(_ request: Request, numTokens: Int, cache: KVCacheManager) -> SequenceChunk {
        let start = request.numComputedTokens
        let known = min(numTokens, request.numTokensWithPending - start)
        let end = start + known
        precondition(end <= request.numTokens + min(request.numPendingTokens, 1), "only the first pending token can be computed")
        var tokens = request.tokenIDs[start..<min(end, request.numTokens)].map(Int32.init)
        if end > request.numTokens { tokens.append(ForwardBatch.placeholder(row: request.pendingRow)) }
        // Drafts the token budget cut off are not verified.
        request.draftTokenIDs = Array(request.draftTokenIDs.prefix(numTokens - known))
        tokens += request.draftTokenIDs.map(Int32.init)
        return SequenceChunk(
            tokenIDs: tokens, numCached: start, blockTable: cache.blocks(of: request).map(Int32.init),
            wantsLogits: end == request.numTokensWithPending,
            leadingLogits: Self.promptPositions(request, start: start, count: known) + request.draftTokenIDs.count)
    }

    /// Whether a step of `request` can be launched before the tokens of the step before are on the
    /// host: the backend samples its row, the row needs no prompt logprobs (their logits must come
    /// to the host) and no token history (the repetition, frequency and presence penalties read
    /// it, and its last token would still be unknown). A grammar's mask, which needs that token,
    /// is added when the token is in (`LaunchedStep.queueSampling`).
    func canLaunchAhead(_ request: Request, sampler: Sampler) -> Bool {
        let p = request.params
        guard request.draftTokenIDs.isEmpty, p.promptLogprobs == nil, p.repetitionPenalty == 1, p.frequencyPenalty == 0,
            p.presencePenalty == 0
        else {
            return false
        }
        return backendRow(for: request, sampler: sampler) != nil
    }

    /// The backend rows of the step's sampling requests, each with its request, or nil when the
    /// host samples: prompt logprobs need the logits, as does any row the backend does not sample.
    /// A plain greedy request's drafts are verified by the argmax of each draft position, so they
    /// take rows of their own before the request's; other drafts need the logits on the host
    /// (the rejection rule reads the whole distribution).
    private func backendRows(
        _ step: ScheduledStep, _ chunks: [SequenceChunk], _ sampler: Sampler
    ) -> (rows: [DeviceSamplingRow], requests: [Request])? {
        var rows: [DeviceSamplingRow] = [], requests: [Request] = []
        for (scheduled, chunk) in zip(step.requests, chunks) {
            let request = scheduled.request
            guard chunk.wantsLogits else {
                if chunk.leadingLogits > 0 { return nil }
                continue
            }
            guard let row = backendRow(for: request, sampler: sampler) else { return nil }
            let drafts = request.draftTokenIDs.count
            guard chunk.leadingLogits == drafts, drafts == 0 || row.isPlainGreedy else { return nil }
            rows += [DeviceSamplingRow](repeating: row, count: drafts + 1)
            requests += [Request](repeating: request, count: drafts + 1)
        }
        return (rows, requests)
    }

    /// The one decision of what the backend samples: a row the sampler can describe for a
    /// backend, and unless the backend samples on the device, only the argmax of the raw logits
    /// (so no grammar's mask).
    private func backendRow(for request: Request, sampler: Sampler) -> DeviceSamplingRow? {
        guard let row = sampler.deviceRow(for: request),
            row.isPlainGreedy && request.grammar == nil || samplesOnBackend ?? executor.samplesOnDevice
        else { return nil }
        return row
    }

    /// Leading positions of a chunk whose logits give prompt logprobs.
    private static func promptPositions(_ request: Request, start: Int, count: Int) -> Int {
        guard request.params.promptLogprobs != nil else { return 0 }
        return max(0, min(start + count, request.numPromptTokens - 1) - start)
    }
}
