import Foundation
import SwiftVLLM
import Testing
import VLLMCore
import VLLMTestSupport

@testable import VLLMEngine

/// `draft_model` speculative decoding on the built-in model: greedy tokens identical to plain
/// decoding whatever the draft (the target itself, accepted almost always; a random-weight model
/// of the same vocabulary, mostly rejected) and however requests are batched, cached or preempted.
@Suite struct DraftModelSpeculationTests {
    /// A one-layer random-weight Llama with the built-in model's vocabulary (scripts/make_draft_fixture.py).
    static let randomDraft = RepositoryFiles.path("Tests/Fixtures/speculative/draft-random-512")

    /// The built-in model without its middle layer: a related draft, accepted in part.
    static let layerDraft = RepositoryFiles.path("Tests/Fixtures/speculative/stories260K-without-layer-2")

    static func drafted(by model: String, k: Int = 4) -> SpeculativeConfig {
        SpeculativeConfig(draftModel: model, numSpeculativeTokens: k)
    }

    /// The target itself, the target without its middle layer, and random weights.
    static let drafts = [EnginePaths.builtinModel, layerDraft, randomDraft]

    @Test(arguments: drafts) func greedyTokensAreThoseOfPlainDecoding(draft: String) throws {
        let plain = try makeLLM()
        let prompts = try SpeculativeDecodingTests.repeatingPrompts(plain, count: 8) + mixedPrompts(count: 12)
        let reference = try SpeculativeDecodingTests.greedy(plain, prompts).map(\.tokenIDs)
        for configure in [
            { (a: inout EngineArgs) in a.speculative = Self.drafted(by: draft) },
            {
                $0.speculative = Self.drafted(by: draft, k: 2); $0.maxNumSeqs = 3
            },
            {
                $0.speculative = Self.drafted(by: draft); $0.maxNumBatchedTokens = 7
            },
            {
                $0.speculative = Self.drafted(by: draft, k: 5); $0.numGPUBlocksOverride = 12
            },
        ] {
            let llm = try makeLLM(configure)
            #expect(try SpeculativeDecodingTests.greedy(llm, prompts).map(\.tokenIDs) == reference)
            #expect(llm.engine.numFreeBlocks == llm.engine.config.numBlocks)
            #expect(llm.engine.stats.speculative.numDrafts > 0)
            // Twelve blocks cannot hold the batch: requests are preempted, their draft blocks with them.
            if llm.engine.config.numBlocks == 12 { #expect(llm.engine.stats.numPreemptions > 0) }
        }
    }

    @Test func theTargetAsItsOwnDraftIsAlmostAlwaysAcceptedAndARandomOneRarely() throws {
        let prompts = mixedPrompts(count: 8)
        var rates: [Double] = []
        for draft in Self.drafts {
            let llm = try makeLLM { $0.speculative = Self.drafted(by: draft) }
            _ = try SpeculativeDecodingTests.greedy(llm, prompts)
            let stats = llm.engine.stats.speculative
            rates.append(stats.acceptanceRate)
            #expect(stats.acceptedPerPosition.count == 4)
            // A draft position is kept only after every one before it.
            #expect(stats.acceptedPerPosition == stats.acceptedPerPosition.sorted(by: >))
            #expect(stats.numDraftTokens <= 4 * stats.numDrafts)
        }
        #expect(rates[0] > 0.95, "self-draft acceptance \(rates[0])")
        #expect(rates[1] > rates[2] && rates[1] < rates[0], "four-layer draft acceptance \(rates[1])")
        #expect(rates[2] < 0.2, "random draft acceptance \(rates[2])")
        let llm = try makeLLM { $0.speculative = Self.drafted(by: EnginePaths.builtinModel) }
        _ = try SpeculativeDecodingTests.greedy(llm, prompts)
        // Close to five tokens a step: fewer steps than a tenth of plain decoding's 8 × 24 over four.
        #expect(llm.engine.stats.speculative.meanAcceptedLength > 4.5)
    }

    @Test(arguments: drafts) func prefixCachingLogprobsStopsAndSamplesAreThoseOfPlainDecoding(draft: String) throws {
        try PrefixCachedSpeculation.expectSameOutputs(with: Self.drafted(by: draft))
    }

    /// Requests that speculate beside some that do not: a grammar, a single token, prompt logprobs
    /// (prefilled with the others), sampled ones; the greedy ones come out as without speculation.
    @Test func mixedBatchesKeepEveryRequestsOutput() throws {
        let reference = try MixedSpeculationBatch.reference()
        for draft in Self.drafts {
            try MixedSpeculationBatch.expectSameOutputs(with: Self.drafted(by: draft), as: reference)
        }
    }

    /// The draft's KV blocks come out of the same memory: a block costs the target's bytes plus
    /// the draft's, so the target as its own draft halves the blocks of a budget.
    @Test func theDraftsCacheSharesTheBlockBudget() throws {
        let budget = 8 << 20
        let plain = try makeLLM { $0.cpuKVCacheBytes = budget }
        let llm = try makeLLM {
            $0.cpuKVCacheBytes = budget; $0.speculative = Self.drafted(by: EnginePaths.builtinModel)
        }
        let perBlock = plain.engine.runner.executor.kvCacheBytesPerBlock(blockSize: 16)
        #expect(plain.engine.config.numBlocks == budget / perBlock)
        #expect(llm.engine.config.numBlocks == budget / (2 * perBlock))
    }

    @Test func configurationsAndVocabularyMismatchesAreRejectedClearly() throws {
        let inferred = try SpeculativeConfig(json: #"{"model": "some/draft", "num_speculative_tokens": 3}"#)
        #expect(inferred == SpeculativeConfig(draftModel: "some/draft", numSpeculativeTokens: 3))
        let explicit = try SpeculativeConfig(json: #"{"method": "draft_model", "model": "d", "num_speculative_tokens": 2}"#)
        #expect(explicit.method == .draftModel && explicit.model == "d")
        let pinned = try SpeculativeConfig(
            json: #"{"model": "o/d", "revision": "v1", "draft_tensor_parallel_size": 1, "num_speculative_tokens": 2}"#)
        #expect(pinned.revision == "v1")
        for bad in [
            #"{"method": "draft_model", "num_speculative_tokens": 3}"#,
            #"{"method": "ngram", "model": "d", "num_speculative_tokens": 3}"#,
            #"{"model": 5, "num_speculative_tokens": 3}"#,
            #"{"model": "d", "draft_tensor_parallel_size": 2, "num_speculative_tokens": 3}"#,
        ] {
            #expect(throws: EngineError.self, "\(bad)") { try SpeculativeConfig(json: bad) }
        }
        let other = RepositoryFiles.path("Tests/Fixtures/models/llama2")
        do {
            _ = try makeLLM { $0.speculative = Self.drafted(by: other) }
            Issue.record("a draft with 311 tokens was accepted for a target of 512")
        } catch let error as EngineError {
            #expect("\(error)".contains("311") && "\(error)".contains("512"), "\(error)")
        }
    }
}
