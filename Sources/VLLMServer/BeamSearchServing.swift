import Foundation
import VLLMEngine

/// A finished beam, as the endpoints report it.
struct BeamResult {
    var tokenIDs: [Int]
    var text: String
    var finishReason: FinishReason
}

/// Something a disconnect watcher can stop.
protocol Abortable: AnyObject, Sendable {
    func abort()
}

extension GenerationRun: Abortable {}

/// The cancel switch of a beam search: set when the client hangs up, checked between steps.
final class BeamCancel: Abortable, @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    func abort() {
        lock.lock()
        cancelled = true
        lock.unlock()
    }
    var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }
}

extension OpenAIServing {
    /// Beam search as vLLM's server runs it (`use_beam_search`, beam width `n`): each step asks the
    /// engine for one token of every live beam with its top `2 × width` log-probabilities, keeps the
    /// `width` best extensions, and moves beams that end in EOS aside; the best `width` sequences by
    /// vLLM's length-penalised score come back. Beams share their prompt blocks through prefix caching.
    ///
    /// With a structured output in `params`, each beam follows the grammar from where its own
    /// tokens took it (`BeamSearchParams.stepParams`): tokens the grammar masks are never chosen.
    func beamSearch(
        prompt: [Int], width: Int, params: SamplingParams, lengthPenalty: Double, baseID: String, cancel: BeamCancel
    ) async throws -> [BeamResult] {
        let eos = Set(engine.folder?.eosTokenIDs ?? [])
        let maxTokens = params.maxTokens ?? 16
        let ignoreEOS = params.ignoreEOS
        var search = BeamSearchParams(
            beamWidth: width, maxTokens: maxTokens, ignoreEOS: ignoreEOS, lengthPenalty: lengthPenalty,
            structuredOutputs: params.structuredOutputs)
        search.structuredOutputsAnyWhitespace = params.structuredOutputsAnyWhitespace
        struct Beam {
            var tokens: [Int]
            var logprob: Double
        }
        var live = [Beam(tokens: prompt, logprob: 0)]
        var done: [Beam] = []
        for index in 0..<maxTokens where !live.isEmpty {
            if cancel.isCancelled { throw APIError(status: .serviceUnavailable, message: "the request was aborted before it finished") }
            let tops = try await withThrowingTaskGroup(of: (Int, [TokenLogprob]).self) { group in
                for (b, beam) in live.enumerated() {
                    var step = search.stepParams(generated: beam.tokens.count - prompt.count)
                    step.structuredOutputsStartAfter = params.structuredOutputsStartAfter
                    let stream = engine.generate(requestID: "\(baseID)-\(index)-\(b)", promptTokenIDs: beam.tokens, params: step)
                    group.addTask {
                        var top: [TokenLogprob] = []
                        for await result in stream {
                            let output = try result.get()
                            if output.finished { top = output.outputs.first?.logprobs?.first?.top ?? [] }
                        }
                        return (b, top)
                    }
                }
                var tops = [[TokenLogprob]](repeating: [], count: live.count)
                for try await (b, top) in group { tops[b] = top }
                return tops
            }
            var extended: [Beam] = []
            for (b, beam) in live.enumerated() {
                for entry in tops[b] where entry.logprob.isFinite {
                    let next = Beam(tokens: beam.tokens + [entry.tokenID], logprob: beam.logprob + Double(entry.logprob))
                    if search.ends(with: entry.tokenID, eos: eos.contains) { done.append(next) } else { extended.append(next) }
                }
            }
            live = Array(extended.sorted { $0.logprob > $1.logprob }.prefix(width))
            if live.first.map({ $0.tokens.count >= maxModelLength }) == true { break }
        }
        func score(_ beam: Beam) -> Double {
            var length = beam.tokens.count
            if let last = beam.tokens.last, eos.contains(last) { length -= 1 }
            return beam.logprob / pow(Double(max(length, 1)), lengthPenalty)
        }
        let best = (done + live).sorted { score($0) > score($1) }.prefix(width)
        return best.map { beam in
            let generated = Array(beam.tokens.dropFirst(prompt.count))
            let endsInEOS = generated.last.map { search.ends(with: $0, eos: eos.contains) } ?? false
            return BeamResult(
                tokenIDs: generated, text: tokenizer?.decode(generated, skipSpecialTokens: true) ?? "",
                finishReason: endsInEOS ? .stop : .length)
        }
    }
}
