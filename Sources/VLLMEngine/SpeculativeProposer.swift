import VLLMCore

/// One request's draft tokens for a step, and for drafts drawn from a distribution (a draft
/// model sampling) that distribution at each position; empty `probabilities` mean point masses
/// on the tokens (n-gram lookup, greedy drafts).
struct Drafts {
    var tokens: [Int] = []
    var probabilities: [[Float]] = []
}

/// Makes the draft tokens a step verifies (speculative decoding). The engine asks twice a step:
/// before scheduling, how much room each decoding request's drafts should get (the scheduler
/// reserves slots and budget for them); once the step is scheduled, the drafts themselves within
/// the room each request got. A proposer knows no backend: a draft model is a `ModelExecutor`.
protocol SpeculativeProposer: AnyObject {
    /// Draft tokens the next step should make room for after the request's last token (at most `limit`).
    func plannedDrafts(for request: Request, limit: Int) -> Int
    /// The drafts of a scheduled step, `counts[i]` of them for `step.requests[i]` (0: none; a draft
    /// model still computes the request's new known tokens to keep its cache in step).
    func propose(_ step: ScheduledStep, counts: [Int], cache: KVCacheManager, sampler: inout Sampler) -> [Drafts]
    /// Forgets a request that ended.
    func finish(_ request: Request)
    /// Called once the target has run a step (whose chunks include the drafts verified).
    func launched(_ step: StepRunner.LaunchedStep)
}

extension SpeculativeProposer {
    /// Default: nothing to take from the target's step.
    func launched(_ step: StepRunner.LaunchedStep) {}
}

extension Sampler {
    /// A draft token for `request` from the draft's `logits` over the target's vocabulary, at
    /// output `offset` past the request's next one: the argmax for greedy requests; otherwise a
    /// draw from the distribution after the request's sampling parameters, which comes back with
    /// it for the rejection rule.
    mutating func draft(from logits: [Float], for request: Request, offset: Int) -> (token: Int, probabilities: [Float]?) {
        var values = logits
        var row = samplingRow(for: request)
        guard row.temperature > 0 else { return (SamplingMath.argmax(values), nil) }
        row.outputIndex += offset
        let q = SamplingMath.probabilities(&values, row)
        let key = draftKey(for: request, outputIndex: row.outputIndex)
        return (SamplingMath.draw(from: q, key: key) ?? SamplingMath.argmax(values), q)
    }
}

/// Prompt lookup (`SpeculativeConfig.propose`): the drafts are known before the step, so the room
/// asked for is exactly what the lookup found.
final class NgramProposer: SpeculativeProposer {
    let config: SpeculativeConfig

    init(config: SpeculativeConfig) {
        self.config = config
    }

    func plannedDrafts(for request: Request, limit: Int) -> Int {
        config.propose(request.tokenIDs[...], limit: limit).count
    }

    /// A shorter limit gives a prefix of the same lookup, so the drafts are those planned, cut.
    func propose(_ step: ScheduledStep, counts: [Int], cache: KVCacheManager, sampler: inout Sampler) -> [Drafts] {
        zip(step.requests, counts).map { scheduled, count in
            count == 0 ? Drafts() : Drafts(tokens: config.propose(scheduled.request.tokenIDs[...], limit: count))
        }
    }

    func finish(_ request: Request) {}
}
