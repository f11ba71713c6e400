import VLLMCore

/// Lays out a scheduled step as one flat batch, runs the model and hands back the logits of each
/// request that has reached the end of its known tokens (and so samples one now).
final class ModelRunner {
    let executor: any ModelExecutor
    let blockSize: Int

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
        /// The token itself, when the whole step was sampled greedily on the backend.
        var greedyToken: Int?
    }

    /// Runs the step; one result per scheduled request, in step order.
    func run(_ step: ScheduledStep, cache: KVCacheManager) -> [Result] {
        var chunks: [SequenceChunk] = []
        for (request, numTokens) in step.requests {
            let start = request.numComputedTokens
            chunks.append(SequenceChunk(
                tokenIDs: request.tokenIDs[start..<(start + numTokens)].map(Int32.init), numCached: start,
                blockTable: cache.blocks(of: request).map(Int32.init), wantsLogits: start + numTokens == request.numTokens,
                leadingLogits: Self.promptPositions(request, start: start, count: numTokens)))
        }
        let batch = ForwardBatch(chunks: chunks, blockSize: blockSize)
        // When every sampling request only wants the argmax, the backend picks the tokens and the
        // logits never leave the device (on a GPU, copying and scanning them costs more than the
        // forward pass at large batches).
        let onDevice = executor.samplesOnDevice
        let temperatures = zip(step.requests, chunks).compactMap { $1.wantsLogits ? Self.deviceTemperature($0.request, onDevice) : 0 }
        if chunks.allSatisfy({ $0.leadingLogits == 0 }), temperatures.count == chunks.count {
            let sampled = zip(temperatures, chunks).filter { $1.wantsLogits }.map(\.0)
            var tokens = (sampled.allSatisfy { $0 == 0 }
                ? executor.executeGreedy(batch) : executor.executeSampled(batch, temperatures: sampled)).makeIterator()
            return zip(step.requests, chunks).map { scheduled, chunk in
                var result = Result(request: scheduled.request)
                result.firstPromptPosition = chunk.numCached
                if chunk.wantsLogits { result.greedyToken = tokens.next().map(Int.init) }
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

    /// The temperature to sample `request` with on the backend (0: argmax), or nil when the host
    /// sampler must do it: anything that changes or reports the logits (logprobs, bias, penalties,
    /// a min_tokens ban), and, unless the backend draws on the device, any temperature above 0;
    /// a draw on the device also needs no seed and no top-k, top-p or min-p.
    private static func deviceTemperature(_ request: Request, _ onDevice: Bool) -> Float? {
        let p = request.params
        guard p.logprobs == nil, p.logitBias.isEmpty, p.repetitionPenalty == 1, p.frequencyPenalty == 0,
              p.presencePenalty == 0, request.numOutputTokens >= p.minTokens else { return nil }
        if p.isGreedy { return 0 }
        guard onDevice, p.seed == nil, p.topK <= 0, p.topP >= 1, p.minP <= 0 else { return nil }
        return Float(p.temperature)
    }

    /// Leading positions of a chunk whose logits give prompt logprobs.
    private static func promptPositions(_ request: Request, start: Int, count: Int) -> Int {
        guard request.params.promptLogprobs != nil else { return 0 }
        return max(0, min(start + count, request.numPromptTokens - 1) - start)
    }
}
