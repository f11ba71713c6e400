import Foundation
import VLLMEngine

/// What a running request reports to the handler that serves it.
enum RunEvent: Sendable {
    /// A delta output of one sample of prompt `prompt`.
    case output(prompt: Int, RequestOutput)
    /// The engine refused or failed prompt `prompt`.
    case failure(prompt: Int, any Error)
}

/// The engine requests of one HTTP request (one per prompt, each with `n` samples) merged into one
/// event stream. Timing metrics are taken here, as outputs arrive, so that they do not depend on how
/// fast the client reads. `abort()` (a client that hung up) stops every engine request at once;
/// `onComplete` runs once all of them have ended, however they ended.
final class GenerationRun: @unchecked Sendable {
    let engineIDs: [String]
    let events: AsyncStream<RunEvent>
    private let engine: AsyncEngine

    init(
        engine: AsyncEngine, baseID: String, prompts: [(text: String?, tokens: [Int])], params: [SamplingParams], priority: Int,
        metrics: ServerMetrics, onComplete: @escaping @Sendable () -> Void
    ) {
        self.engine = engine
        let ids = prompts.count == 1 ? [baseID] : prompts.indices.map { "\(baseID)-\($0)" }
        engineIDs = ids
        let (stream, continuation) = AsyncStream<RunEvent>.makeStream()
        events = stream
        let arrival = ContinuousClock.now
        let streams = prompts.indices.map { i in
            engine.generate(
                requestID: ids[i], prompt: prompts[i].text, promptTokenIDs: prompts[i].tokens, params: params[i], priority: priority,
                delta: true)
        }
        let promptLengths = prompts.map(\.tokens.count)
        Task {
            await withTaskGroup(of: Void.self) { group in
                for (i, stream) in streams.enumerated() {
                    group.addTask {
                        var last: [Int: ContinuousClock.Instant] = [:]
                        var generated: [Int: Int] = [:]
                        for await result in stream {
                            switch result {
                            case .success(let output):
                                let now = ContinuousClock.now
                                for piece in output.outputs {
                                    if let previous = last[piece.index] {
                                        if !piece.tokenIDs.isEmpty { metrics.recordInterTokenLatency(seconds: (now - previous).seconds) }
                                    } else {
                                        metrics.recordFirstToken(seconds: (now - arrival).seconds)
                                    }
                                    if !piece.tokenIDs.isEmpty { last[piece.index] = now }
                                    generated[piece.index, default: 0] += piece.tokenIDs.count
                                    if let reason = piece.finishReason {
                                        metrics.recordFinished(
                                            reason: reason, e2eSeconds: (now - arrival).seconds, queueSeconds: piece.queueTime,
                                            promptTokenCount: promptLengths[i], generatedTokenCount: generated[piece.index] ?? 0)
                                    }
                                }
                                continuation.yield(.output(prompt: i, output))
                            case .failure(let error):
                                continuation.yield(.failure(prompt: i, error))
                            }
                        }
                    }
                }
            }
            continuation.finish()
            onComplete()
        }
    }

    /// Every sample's whole output for a response that is not streamed, prompt by prompt (`n`
    /// samples each). The first failure aborts the run and is thrown; a sample that ended by abort
    /// (the server shutting down) is a 503.
    func collect(prompts: Int, samplesPerPrompt n: Int) async throws -> [SampleAccumulator] {
        var samples = [SampleAccumulator](repeating: SampleAccumulator(), count: prompts * n)
        for await event in events {
            switch event {
            case .failure(_, let error):
                abort()
                throw APIError.from(error)
            case .output(let p, let output):
                for piece in output.outputs { samples[p * n + piece.index].add(piece) }
            }
        }
        if samples.contains(where: { $0.finishReason == .abort }) {
            throw APIError(status: .serviceUnavailable, message: "the request was aborted before it finished")
        }
        return samples
    }

    /// Aborts every engine request of this run; ids that already finished are ignored by the engine.
    func abort() {
        for id in engineIDs { engine.abort(id) }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// The whole output of one sample, built from its delta outputs.
struct SampleAccumulator {
    var text = ""
    var tokenIDs: [Int] = []
    var logprobs: [PositionLogprobs] = []
    var finishReason: FinishReason?
    var stopReason: StopReason?

    mutating func add(_ piece: CompletionOutput) {
        text += piece.text
        tokenIDs += piece.tokenIDs
        if let more = piece.logprobs { logprobs += more }
        if piece.finishReason != nil {
            finishReason = piece.finishReason
            stopReason = piece.stopReason
        }
    }
}
