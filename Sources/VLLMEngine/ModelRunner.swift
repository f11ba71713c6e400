import VLLMCore

/// Lays out a scheduled step as one flat batch, runs the model and hands back the logits of each
/// request that has reached the end of its known tokens (and so samples one now).
final class ModelRunner {
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
        /// The token (and its logprobs), when the backend sampled the whole step.
        var deviceSample: DeviceSample?
    }

    /// Runs the step; one result per scheduled request, in step order. `sampler` describes each
    /// sampling request as a backend row.
    func run(_ step: ScheduledStep, cache: KVCacheManager, sampler: Sampler) -> [Result] {
        var chunks: [SequenceChunk] = []
        for (request, numTokens) in step.requests {
            let start = request.numComputedTokens
            chunks.append(SequenceChunk(
                tokenIDs: request.tokenIDs[start..<(start + numTokens)].map(Int32.init), numCached: start,
                blockTable: cache.blocks(of: request).map(Int32.init), wantsLogits: start + numTokens == request.numTokens,
                leadingLogits: Self.promptPositions(request, start: start, count: numTokens)))
        }
        let batch = ForwardBatch(chunks: chunks, blockSize: blockSize)
        // When the backend can sample every row, the logits never leave the device (on a GPU,
        // copying and scanning them costs more than the forward pass at large batches).
        if let rows = backendRows(step, chunks, sampler) {
            var samples = (rows.allSatisfy(\.isPlainGreedy)
                ? executor.executeGreedy(batch).map { DeviceSample(token: Int($0)) }
                : executor.executeSampled(batch, rows: rows)).makeIterator()
            return zip(step.requests, chunks).map { scheduled, chunk in
                var result = Result(request: scheduled.request)
                result.firstPromptPosition = chunk.numCached
                if chunk.wantsLogits { result.deviceSample = samples.next() }
                return result
            }
        }
        let logits = executor.execute(batch)
        let vocab = executor.config.vocabSize
        var row = 0
        func next() -> [Float] {
            defer { row += 1 }
            return Array(logits[(row * vocab)..<((row + 1) * vocab)])
        }
        return zip(step.requests, chunks).map { scheduled, chunk in
            let request = scheduled.request
            var result = Result(request: request)
            let rows = (0..<chunk.leadingLogits).map { _ in next() }
            // Positions recomputed after a preemption were reported before.
            let skip = max(0, request.promptLogprobs.count - chunk.numCached)
            result.promptLogits = Array(rows.dropFirst(skip))
            result.firstPromptPosition = chunk.numCached + skip
            if chunk.wantsLogits { result.sampleLogits = next() }
            return result
        }
    }

    /// The backend rows of the step's sampling requests, or nil when the host samples: prompt
    /// logprobs need the logits, as does a row that only the host sampler can do; and unless the
    /// backend samples on the device, any row beyond the argmax of the raw logits.
    private func backendRows(_ step: ScheduledStep, _ chunks: [SequenceChunk], _ sampler: Sampler) -> [DeviceSamplingRow]? {
        guard chunks.allSatisfy({ $0.leadingLogits == 0 }) else { return nil }
        var rows: [DeviceSamplingRow] = []
        for (scheduled, chunk) in zip(step.requests, chunks) where chunk.wantsLogits {
            guard let row = sampler.deviceRow(for: scheduled.request) else { return nil }
            rows.append(row)
        }
        guard samplesOnBackend ?? executor.samplesOnDevice || rows.allSatisfy(\.isPlainGreedy) else { return nil }
        return rows
    }

    /// Leading positions of a chunk whose logits give prompt logprobs.
    private static func promptPositions(_ request: Request, start: Int, count: Int) -> Int {
        guard request.params.promptLogprobs != nil else { return 0 }
        return max(0, min(start + count, request.numPromptTokens - 1) - start)
    }
}
