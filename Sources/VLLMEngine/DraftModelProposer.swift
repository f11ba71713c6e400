import VLLMCore

/// vLLM's `draft_model` proposer: a smaller model with the target's vocabulary runs k
/// autoregressive steps, batched over the speculating requests, from each one's last token.
///
/// The draft has its own paged KV cache with as many blocks as the target's, indexed by the
/// target's block tables: a request's draft blocks are its target blocks, so they are allocated,
/// shared through the prefix cache, trimmed on rejection, freed and preempted with them. The draft
/// computes every known token the target computes, in the same step (its prefill runs alongside
/// the target's), so a cached block holds the draft's keys and values too. Tokens the draft has
/// not computed (the last accepted draft, the token the target sampled) are caught up in the
/// first draft pass of the next step.
///
/// Greedy requests get the draft's argmax; sampled requests draw from the draft's own
/// distribution after their sampling parameters, which goes to the target's rejection rule.
final class DraftModelProposer: SpeculativeProposer {
    let executor: any ModelExecutor
    let numSpeculativeTokens: Int
    let blockSize: Int

    /// Per request: tokens whose draft keys and values are in the draft's cache, and the drafts
    /// whose keys and values follow them (still valid where they match the tokens accepted).
    private struct Progress {
        var numComputed: Int
        var drafts: [Int]
    }

    private var progress: [String: Progress] = [:]

    /// Allocates the draft's cache: `numBlocks` blocks of `blockSize`, as the target's; its passes
    /// replay recordings as `recordingPlan` says, as the target's do (each feeds one draft back,
    /// and a first pass that catches up the same few tokens for every request is uniform too).
    init(executor: any ModelExecutor, numSpeculativeTokens: Int, numBlocks: Int, blockSize: Int, recordingPlan: StepRecordingPlan = .none) {
        self.executor = executor
        self.numSpeculativeTokens = numSpeculativeTokens
        self.blockSize = blockSize
        executor.allocateKVCache(numBlocks: numBlocks, blockSize: blockSize)
        _ = executor.captureGraphs(recordingPlan)
    }

    func plannedDrafts(for request: Request, limit: Int) -> Int { min(numSpeculativeTokens, limit) }

    func finish(_ request: Request) { progress[request.id] = nil }

    /// The first pass computes each request's known tokens the draft lacks (with the target's
    /// chunk of this step) and samples the first draft of those that want drafts; each further
    /// pass feeds the previous draft back for the next.
    func propose(_ step: ScheduledStep, counts: [Int], cache: KVCacheManager, sampler: inout Sampler) -> [Drafts] {
        var drafts = [Drafts](repeating: Drafts(), count: counts.count)
        let tables = step.requests.map { cache.blocks(of: $0.request).map(Int32.init) }
        var chunks: [SequenceChunk] = []
        var sampling: [Int] = []
        for (i, (request, numTokens)) in step.requests.enumerated() {
            let start = validTokens(request)
            let end = min(request.numComputedTokens + numTokens, request.numTokens)
            progress[request.id] = Progress(numComputed: max(start, end), drafts: [])
            guard end > start else { continue }
            chunks.append(
                SequenceChunk(
                    tokenIDs: request.tokenIDs[start..<end].map(Int32.init), numCached: start, blockTable: tables[i],
                    wantsLogits: counts[i] > 0))
            if counts[i] > 0 { sampling.append(i) }
        }
        var position = 0
        while !chunks.isEmpty {
            let tokens = sample(chunks, rows: sampling.map { step.requests[$0].request }, offset: position, sampler: &sampler)
            for (i, token) in zip(sampling, tokens) {
                drafts[i].tokens.append(token.token)
                if let q = token.probabilities { drafts[i].probabilities.append(q) }
            }
            position += 1
            sampling = sampling.filter { counts[$0] > position }
            chunks = sampling.map { i in
                let request = step.requests[i].request
                progress[request.id]!.drafts.append(drafts[i].tokens[position - 1])
                return SequenceChunk(
                    tokenIDs: [Int32(drafts[i].tokens[position - 1])], numCached: request.numTokens + position - 1,
                    blockTable: tables[i])
            }
        }
        return drafts
    }

    /// Leading tokens of the request whose draft keys and values are in the cache: those computed
    /// last time and the drafts since accepted, no more than the target has (fewer after a
    /// preemption); for a request new to the draft, what the target has (its cached prefix).
    private func validTokens(_ request: Request) -> Int {
        guard let known = progress[request.id] else { return request.numComputedTokens }
        let tokens = request.tokenIDs
        var valid = known.numComputed
        for draft in known.drafts {
            guard valid < tokens.count, tokens[valid] == draft else { break }
            valid += 1
        }
        return min(valid, request.numComputedTokens)
    }

    /// One draft token of each sampling chunk's request (`rows`, in chunk order), at output
    /// `offset` past the request's next one. Greedy rows take the argmax on the executor; sampled
    /// rows draw on the host from the processed draft distribution, which comes back with them.
    private func sample(
        _ chunks: [SequenceChunk], rows: [Request], offset: Int, sampler: inout Sampler
    ) -> [(token: Int, probabilities: [Float]?)] {
        var chunks = chunks
        // A pass that only catches up still needs one row of logits to run the model.
        if rows.isEmpty, !chunks.isEmpty { chunks[chunks.count - 1].wantsLogits = true }
        let batch = ForwardBatch(chunks: chunks, blockSize: blockSize)
        if rows.allSatisfy(\.params.isGreedy) {
            return executor.executeGreedy(batch).prefix(rows.count).map { (Int($0), nil) }
        }
        let logits = executor.execute(batch)
        let vocab = executor.config.vocabSize
        return rows.enumerated().map { r, request in
            sampler.draft(from: Array(logits[(r * vocab)..<((r + 1) * vocab)]), for: request, offset: offset)
        }
    }
}
