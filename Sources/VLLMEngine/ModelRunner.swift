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
        if chunks.allSatisfy({ $0.leadingLogits == 0 }),
           zip(step.requests, chunks).allSatisfy({ !$1.wantsLogits || Self.isPlainGreedy($0.request) }) {
            var tokens = executor.executeGreedy(batch).makeIterator()
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

    /// Whether sampling `request` now is the argmax of the raw logits: greedy, and nothing that
    /// changes or reports the logits (logprobs, bias, penalties, a min_tokens ban).
    private static func isPlainGreedy(_ request: Request) -> Bool {
        let p = request.params
        return p.isGreedy && p.logprobs == nil && p.logitBias.isEmpty && p.repetitionPenalty == 1
            && p.frequencyPenalty == 0 && p.presencePenalty == 0 && request.numOutputTokens >= p.minTokens
    }

    /// Leading positions of a chunk whose logits give prompt logprobs.
    private static func promptPositions(_ request: Request, start: Int, count: Int) -> Int {
        guard request.params.promptLogprobs != nil else { return 0 }
        return max(0, min(start + count, request.numPromptTokens - 1) - start)
    }
}
