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

    /// Logits rows, one per request that samples this step, in the order of `step.requests`.
    func run(_ step: ScheduledStep, cache: KVCacheManager) -> [(request: Request, logits: [Float])] {
        var chunks: [SequenceChunk] = []
        var sampling: [Request] = []
        for (request, numTokens) in step.requests {
            let start = request.numComputedTokens
            let samples = start + numTokens == request.numTokens
            chunks.append(SequenceChunk(
                tokenIDs: request.tokenIDs[start..<(start + numTokens)].map(Int32.init), numCached: start,
                blockTable: cache.blocks(of: request).map(Int32.init), wantsLogits: samples))
            if samples { sampling.append(request) }
        }
        let batch = ForwardBatch(chunks: chunks, blockSize: blockSize)
        let logits = executor.execute(batch)
        let vocab = executor.config.vocabSize
        return sampling.enumerated().map { i, request in (request, Array(logits[(i * vocab)..<((i + 1) * vocab)])) }
    }
}
