import Foundation
import VLLMStructuredOutputs

/// Parameters of beam search, as vLLM's `BeamSearchParams`.
public struct BeamSearchParams: Sendable, Equatable {
    /// Beams kept after each step, and sequences returned.
    public var beamWidth: Int
    /// The most tokens to generate for each beam.
    public var maxTokens: Int
    /// Go on past the end-of-sequence token (default false).
    public var ignoreEOS = false
    /// A finished beam's score is its summed log-probability divided by its length to this power (default 1).
    public var lengthPenalty = 1.0
    /// A grammar every beam follows (as `SamplingParams.structuredOutputs`): each beam is extended
    /// only by tokens its own grammar state allows, and a beam whose grammar ends stops with EOS.
    public var structuredOutputs: StructuredOutputSpec?
    /// As `SamplingParams.structuredOutputsAnyWhitespace`: false writes JSON grammars compact.
    public var structuredOutputsAnyWhitespace = true

    /// Parameters; the search refuses a `beamWidth` or `maxTokens` below 1.
    public init(
        beamWidth: Int, maxTokens: Int, ignoreEOS: Bool = false, lengthPenalty: Double = 1.0,
        structuredOutputs: StructuredOutputSpec? = nil
    ) {
        self.beamWidth = beamWidth
        self.maxTokens = maxTokens
        self.ignoreEOS = ignoreEOS
        self.lengthPenalty = lengthPenalty
        self.structuredOutputs = structuredOutputs
    }

    /// The request of one beam's next step: one token with the top `2 × beam_width`
    /// log-probabilities, under the grammar as far as the beam's `generated` tokens took it
    /// (masked tokens get no probability, so they are never among the top).
    public func stepParams(generated: Int) -> SamplingParams {
        var step = SamplingParams.greedy(maxTokens: 1)
        step.logprobs = 2 * beamWidth
        step.ignoreEOS = true
        step.structuredOutputs = structuredOutputs
        step.structuredOutputsAnyWhitespace = structuredOutputsAnyWhitespace
        step.structuredOutputsPromptTail = structuredOutputs == nil ? 0 : generated
        return step
    }

    /// Whether `token` ends a beam: EOS unless `ignore_eos`, and always under a grammar (the
    /// grammar allows EOS only where it has ended).
    public func ends(with token: Int, eos: (Int) -> Bool) -> Bool {
        (!ignoreEOS || structuredOutputs != nil) && eos(token)
    }

    func validate() throws {
        guard beamWidth >= 1 else {
            throw EngineError.invalidParameter(field: "beam_width", detail: "must be at least 1, got \(beamWidth)")
        }
        guard maxTokens >= 1 else {
            throw EngineError.invalidParameter(field: "max_tokens", detail: "must be at least 1, got \(maxTokens)")
        }
    }
}

/// One finished beam: prompt and generated tokens with their summed log-probability.
public struct BeamSequence: Sendable, Equatable {
    /// Prompt then generated token ids.
    public var tokens: [Int]
    /// The sum of the generated tokens' log-probabilities.
    public var cumulativeLogprob: Double
    /// The generated text (the prompt left out).
    public var text: String = ""
}

/// The best beams of one prompt, best first.
public struct BeamSearchOutput: Sendable, Equatable {
    /// The prompt's token ids.
    public var promptTokenIDs: [Int]
    /// The best `beamWidth` beams, best first.
    public var sequences: [BeamSequence]
}

/// Beam search as vLLM's `LLM.beam_search` runs it: each step asks the engine for one token of
/// every live beam with the top `2 × beam_width` log-probabilities, extends each beam with those
/// tokens, and keeps the `beam_width` best. Beams that share a prefix share its cached blocks
/// through prefix caching, so each step computes only the new tokens.
struct BeamSearch {
    let params: BeamSearchParams
    /// The ids that end a beam (the model's EOS ids, as the server's beam search and the grammar's
    /// stop tokens take them).
    let eosTokenIDs: Set<Int>

    /// vLLM's score: cumulative log-probability over length (without a final EOS) to the power `length_penalty`.
    func score(_ beam: BeamSequence) -> Double {
        var length = beam.tokens.count
        if let last = beam.tokens.last, eosTokenIDs.contains(last) { length -= 1 }
        return beam.cumulativeLogprob / pow(Double(length), params.lengthPenalty)
    }

    /// Runs the search for `prompts`; `step` returns for each beam (its tokens and how many of
    /// them were generated) its top log-probabilities.
    func run(prompts: [[Int]], step: ([(tokens: [Int], generated: Int)]) throws -> [[TokenLogprob]]) rethrows -> [BeamSearchOutput] {
        var live = prompts.map { [BeamSequence(tokens: $0, cumulativeLogprob: 0)] }
        var done = prompts.map { _ in [BeamSequence]() }
        for _ in 0..<params.maxTokens {
            let flat = live.indices.flatMap { p in live[p].map { ($0.tokens, $0.tokens.count - prompts[p].count) } }
            guard !flat.isEmpty else { break }
            let candidates = try step(flat)
            var offset = 0
            for p in live.indices {
                var extended: [BeamSequence] = []
                for (i, beam) in live[p].enumerated() {
                    for entry in candidates[offset + i] where entry.logprob.isFinite {
                        let next = BeamSequence(
                            tokens: beam.tokens + [entry.tokenID], cumulativeLogprob: beam.cumulativeLogprob + Double(entry.logprob))
                        if params.ends(with: entry.tokenID, eos: eosTokenIDs.contains) {
                            done[p].append(next)
                        } else {
                            extended.append(next)
                        }
                    }
                }
                offset += live[p].count
                live[p] = Array(extended.sorted { $0.cumulativeLogprob > $1.cumulativeLogprob }.prefix(params.beamWidth))
            }
        }
        return prompts.indices.map { p in
            BeamSearchOutput(
                promptTokenIDs: prompts[p], sequences: Array((done[p] + live[p]).sorted { score($0) > score($1) }.prefix(params.beamWidth)))
        }
    }
}

extension LLM {
    /// Beam search over token prompts (vLLM's `LLM.beam_search`).
    public func beamSearch(_ prompts: [Prompt], _ params: BeamSearchParams) throws -> [BeamSearchOutput] {
        try params.validate()
        let tokenized = try prompts.map(tokens)
        let search = BeamSearch(params: params, eosTokenIDs: Set(folder.eosTokenIDs))
        var outputs = try search.run(prompts: tokenized) { beams in
            try generate(
                beams.map { .tokens($0.tokens) }, params: beams.map { params.stepParams(generated: $0.generated) }, showProgress: false
            )
            .map { $0.outputs[0].logprobs![0].top }
        }
        if let tokenizer {
            for p in outputs.indices {
                for s in outputs[p].sequences.indices {
                    let generated = Array(outputs[p].sequences[s].tokens.dropFirst(tokenized[p].count))
                    outputs[p].sequences[s].text = tokenizer.decode(generated, skipSpecialTokens: true)
                }
            }
        }
        return outputs
    }
}
