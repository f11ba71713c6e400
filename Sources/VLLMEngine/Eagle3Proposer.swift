import VLLMCore

/// vLLM's `eagle3` proposer: an EAGLE-3 head drafts from the target's own hidden states.
///
/// The target keeps, for every token it computes, the hidden states entering a few of its layers
/// (`ModelExecutor.captureAuxiliaryHiddenStates`); `launched` takes them by position after each
/// step. The head's position `p` reads token `p + 1` beside the target's states of position `p`,
/// so it can compute a position once the target has and the next token is known: right after the
/// target's step for the positions whose next token was known then (a prefill chunk but its last
/// position), and in the first pass before the next step's drafts for the rest (that position,
/// the last token's and the accepted drafts'), where the last of a decoding request's positions
/// gives its first draft. Each further pass feeds the previous draft back with the
/// head's own output state for the next.
///
/// Like `DraftModelProposer`'s, the head's paged KV cache has as many blocks as the target's and
/// is indexed by the target's block tables; the keys and values it writes at draft positions are
/// overwritten when the target's states of those positions come in. A request new to the head
/// takes the keys and values of a prefix-cache hit as they are: the head computes a prompt's
/// positions in the step the target does (a chunk's last one step later), but the request that
/// filled those blocks may have ended before its head caught up on the positions of its last step (drafts there are only less likely
/// to be accepted; outputs are the target's either way).
final class Eagle3Proposer: SpeculativeProposer {
    let target: any ModelExecutor
    let head: any Eagle3HeadExecutor
    let numSpeculativeTokens: Int
    let blockSize: Int
    /// Floats of one token's target states.
    private let width: Int

    /// Per request: leading positions whose head keys and values come from the target's states,
    /// and the target's states the head has not read yet, of positions `statesStart` on.
    private struct Progress {
        var headComputed: Int
        var statesStart: Int
        var states: [Float] = []
    }

    private var progress: [String: Progress] = [:]

    /// Makes the target keep the hidden states the head reads and allocates the head's cache:
    /// `numBlocks` blocks of `blockSize`, as the target's; the head's passes replay recordings as
    /// `recordingPlan` says (every pass after the first feeds one draft back per request).
    init(
        target: any ModelExecutor, head: any Eagle3HeadExecutor, numSpeculativeTokens: Int, numBlocks: Int, blockSize: Int,
        recordingPlan: StepRecordingPlan = .none
    ) throws {
        self.target = target
        self.head = head
        self.numSpeculativeTokens = numSpeculativeTokens
        self.blockSize = blockSize
        width = head.targetLayers.count * head.config.targetHiddenSize
        try target.captureAuxiliaryHiddenStates(layers: head.targetLayers)
        head.allocateKVCache(numBlocks: numBlocks, blockSize: blockSize)
        head.recordSteps(recordingPlan)
    }

    func plannedDrafts(for request: Request, limit: Int) -> Int { min(numSpeculativeTokens, limit) }

    func finish(_ request: Request) { progress[request.id] = nil }

    /// Keeps the target's states of the step's tokens by position (replacing those kept of the
    /// step's positions or later: rejected drafts, tokens recomputed after a preemption), then
    /// runs the head over the positions whose next token is known but the last, so that a
    /// prompt's blocks hold the head's keys and values from the step that computes them (their
    /// last position from the next), as the target's.
    func launched(_ step: StepRunner.LaunchedStep) {
        guard let states = target.takeAuxiliaryHiddenStates() else { return }
        var row = 0
        for (scheduled, chunk) in zip(step.step.requests, step.chunks) {
            let count = chunk.tokenIDs.count
            let rows = states[(row * width)..<((row + count) * width)]
            row += count
            let first = chunk.numCached
            var known = progress[scheduled.request.id] ?? Progress(headComputed: first, statesStart: first)
            // The target computes these positions again (after a preemption): so does the head.
            known.headComputed = min(known.headComputed, first)
            let kept = first - known.statesStart
            if kept >= 0, kept * width <= known.states.count {
                known.states.removeLast(known.states.count - kept * width)
                known.states += rows
            } else {
                (known.statesStart, known.states) = (first, Array(rows))
            }
            progress[scheduled.request.id] = known
        }
        var chunks: [SequenceChunk] = []
        var hidden: [Float] = []
        for (scheduled, chunk) in zip(step.step.requests, step.chunks) {
            // The last position waits for the next step's first pass: its row gives the first draft
            // of a request whose one remaining token is drafted after (the end of a prompt).
            let computed = chunk.numCached + chunk.tokenIDs.count - 1
            guard let caught = catchUp(scheduled.request, computed: computed, table: chunk.blockTable, wantsDrafts: false)
            else { continue }
            chunks.append(caught.chunk)
            hidden += caught.states
        }
        if !chunks.isEmpty { _ = pass(chunks, hidden: hidden, fromTarget: true) }
    }

    /// The first pass computes each request's positions the head lacks and samples the first
    /// draft of those that want drafts; each further pass feeds the previous draft back.
    func propose(_ step: ScheduledStep, counts: [Int], cache: KVCacheManager, sampler: inout Sampler) -> [Drafts] {
        var drafts = [Drafts](repeating: Drafts(), count: counts.count)
        let tables = step.requests.map { cache.blocks(of: $0.request).map(Int32.init) }
        var chunks: [SequenceChunk] = []
        var hidden: [Float] = []
        var sampling: [Int] = []
        for (i, (request, _)) in step.requests.enumerated() {
            guard
                let caught = catchUp(request, computed: request.numComputedTokens, table: tables[i], wantsDrafts: counts[i] > 0)
            else { continue }
            chunks.append(caught.chunk)
            hidden += caught.states
            if caught.chunk.wantsLogits { sampling.append(i) }
        }
        var position = 0
        while !chunks.isEmpty {
            let (logits, states) = pass(chunks, hidden: hidden, fromTarget: position == 0)
            let vocabulary = head.config.draftVocabSize
            let size = head.config.model.hiddenSize
            var next: [Int] = []
            (chunks, hidden) = ([], [])
            for (r, i) in sampling.enumerated() {
                let request = step.requests[i].request
                let row = targetLogits(logits[(r * vocabulary)..<((r + 1) * vocabulary)])
                let token = sampler.draft(from: row, for: request, offset: position)
                drafts[i].tokens.append(token.token)
                if let q = token.probabilities { drafts[i].probabilities.append(q) }
                guard counts[i] > position + 1 else { continue }
                next.append(i)
                chunks.append(
                    SequenceChunk(tokenIDs: [Int32(token.token)], numCached: request.numComputedTokens + position, blockTable: tables[i]))
                hidden += states[(r * size)..<((r + 1) * size)]
            }
            sampling = next
            position += 1
        }
        // The engine counts a request's scheduled draft slots as computed: each request gets all
        // its drafts. A decoding request always has its last position to catch up on (the target
        // computed it in the request's last step, whose states `launched` kept).
        assert(zip(drafts, counts).allSatisfy { $0.tokens.count == $1 }, "EAGLE-3 drafts fewer than scheduled")
        return drafts
    }

    /// One pass of the head; a pass that only catches up still needs a row of logits to run.
    private func pass(_ chunks: [SequenceChunk], hidden: [Float], fromTarget: Bool) -> (logits: [Float], hidden: [Float]) {
        var chunks = chunks
        if !chunks.contains(where: \.wantsLogits) { chunks[chunks.count - 1].wantsLogits = true }
        return head.execute(ForwardBatch(chunks: chunks, blockSize: blockSize), hidden: hidden, fromTarget: fromTarget)
    }

    /// The head's chunk of `request` catching up, with the target's states it reads: the positions
    /// it lacks whose next token is known, up to the `computed` tokens of the target. Wants logits
    /// when the request wants drafts and the chunk reaches its last token. Consumes the states read.
    private func catchUp(_ request: Request, computed: Int, table: [Int32], wantsDrafts: Bool) -> (
        chunk: SequenceChunk, states: ArraySlice<Float>
    )? {
        guard var known = progress[request.id] else { return nil }
        let available = known.statesStart + known.states.count / width
        let start = max(min(known.headComputed, computed), known.statesStart)
        let end = min(computed, request.numTokens - 1, available)
        guard end > start else { return nil }
        let states = known.states[((start - known.statesStart) * width)..<((end - known.statesStart) * width)]
        known.states.removeFirst((end - known.statesStart) * width)
        (known.statesStart, known.headComputed) = (end, end)
        progress[request.id] = known
        let chunk = SequenceChunk(
            tokenIDs: request.tokenIDs[(start + 1)...end].map(Int32.init), numCached: start, blockTable: table,
            wantsLogits: wantsDrafts && end == request.numTokens - 1)
        return (chunk, states)
    }

    /// A row of draft-vocabulary logits spread over the target's vocabulary; tokens outside the
    /// draft vocabulary get minus infinity (vLLM's `compute_logits` of the head).
    private func targetLogits(_ draft: ArraySlice<Float>) -> [Float] {
        var row = [Float](repeating: -.infinity, count: head.config.model.vocabSize)
        for (d, value) in zip(head.draftToTarget, draft) { row[d] = value }
        return row
    }
}
