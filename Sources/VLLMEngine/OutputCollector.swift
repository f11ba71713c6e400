/// Gathers the sequence updates of a request's `n` samples into vLLM-style `RequestOutput`s.
/// With `n > 1` each sample runs as its own engine request `"<index>_<id>"`; they share the
/// prompt's cached blocks through prefix caching.
struct OutputCollector {
    private struct Group {
        var prompt: String?
        var promptTokenIDs: [Int]
        var outputs: [CompletionOutput]
        var numCachedTokens = 0
        var promptLogprobs: [PositionLogprobs?]?
    }

    private var groups: [String: Group] = [:]
    /// Engine request id -> (request id, sample index).
    private var owners: [String: (String, Int)] = [:]

    /// Engine request ids of the samples of request `id`.
    static func sampleIDs(_ id: String, n: Int) -> [String] {
        n == 1 ? [id] : (0..<n).map { "\($0)_\(id)" }
    }

    mutating func register(id: String, prompt: String?, promptTokenIDs: [Int], n: Int, wantsLogprobs: Bool) {
        let empty = CompletionOutput(
            index: 0, text: "", tokenIDs: [], cumulativeLogprob: wantsLogprobs ? 0 : nil,
            logprobs: wantsLogprobs ? [] : nil, finishReason: nil, stopReason: nil)
        groups[id] = Group(
            prompt: prompt, promptTokenIDs: promptTokenIDs,
            outputs: (0..<n).map {
                var o = empty; o.index = $0; return o
            })
        for (index, sample) in Self.sampleIDs(id, n: n).enumerated() { owners[sample] = (id, index) }
    }

    /// The request that an engine request id belongs to.
    func requestID(of sampleID: String) -> String? { owners[sampleID]?.0 }

    /// Forgets a request that could not be started.
    mutating func drop(_ id: String) -> Bool {
        owners = owners.filter { $0.value.0 != id }
        return groups.removeValue(forKey: id) != nil
    }

    /// Applies an update; returns the request's cumulative output and, when `delta`, the output of this
    /// update alone. Finished requests are forgotten.
    mutating func apply(_ update: SequenceUpdate, delta: Bool = false) -> RequestOutput? {
        guard let (id, index) = owners[update.requestID], var group = groups[id] else { return nil }
        var output = group.outputs[index]
        output.text += update.newText
        output.tokenIDs += update.newTokenIDs
        if output.logprobs != nil {
            output.logprobs! += update.newLogprobs
            output.cumulativeLogprob = update.cumulativeLogprob
        }
        output.finishReason = update.finishReason
        output.stopReason = update.stopReason
        output.queueTime = update.queueTime ?? output.queueTime
        group.outputs[index] = output
        group.numCachedTokens = max(group.numCachedTokens, update.numCachedTokens)
        if group.promptLogprobs == nil { group.promptLogprobs = update.promptLogprobs }
        let finished = group.outputs.allSatisfy(\.finished)
        if update.finishReason != nil { owners[update.requestID] = nil }
        groups[id] = finished ? nil : group
        var outputs = group.outputs
        if delta {
            var piece = output
            piece.text = update.newText
            piece.tokenIDs = update.newTokenIDs
            piece.logprobs = output.logprobs == nil ? nil : update.newLogprobs
            outputs = [piece]
        }
        return RequestOutput(
            requestID: id, prompt: group.prompt, promptTokenIDs: group.promptTokenIDs, promptLogprobs: group.promptLogprobs,
            outputs: outputs, finished: finished, numCachedTokens: group.numCachedTokens)
    }
}

extension EngineCore {
    /// Adds the `n` samples of request `id` as engine requests (sample `i` seeded `seed + i`, so
    /// seeded samples differ). If one cannot be added, the ones already added are aborted.
    func addSamples(id: String, promptTokenIDs: [Int], params: SamplingParams, priority: Int = 0) throws {
        let samples = OutputCollector.sampleIDs(id, n: params.n)
        do {
            for (index, sample) in samples.enumerated() {
                var sampleParams = params
                if let seed = params.seed, index > 0 { sampleParams.seed = seed &+ UInt64(index) }
                try addRequest(id: sample, promptTokenIDs: promptTokenIDs, params: sampleParams, priority: priority)
            }
        } catch {
            for sample in samples { abort(sample) }
            throw error
        }
    }
}
