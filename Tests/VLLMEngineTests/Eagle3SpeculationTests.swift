import Foundation
import SwiftVLLM
import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

@testable import VLLMEngine

/// `eagle3` speculative decoding on the built-in model with a random-weight head in the published
/// layout (scripts/make_eagle3_fixture.py): the target's auxiliary hidden states and the head's
/// forward pass against PyTorch, then greedy tokens identical to plain decoding however requests
/// are batched, chunked, cached or preempted, and clear errors for heads that do not fit.
@Suite struct Eagle3SpeculationTests {
    static let head = RepositoryFiles.path("Tests/Fixtures/speculative/eagle3-random-512")
    static let reference = RepositoryFiles.path("Tests/Fixtures/speculative/eagle3-reference.safetensors")

    static func drafted(k: Int = 4) -> SpeculativeConfig { SpeculativeConfig(eagle3Head: head, numSpeculativeTokens: k) }

    static func tensor(_ name: String) throws -> [Float] { try SafetensorsFile(path: reference).tensor(name).floats() }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "\(a.count) values against \(b.count)")
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// The hidden states entering layers 0, 2 and 4 of every prompt token, as transformers'
    /// `hidden_states` has them (float64 there).
    @Test func theTargetHandsOutTheHiddenStatesEnteringItsLayers() throws {
        let folder = try ModelFolder(path: EnginePaths.builtinModel)
        let target = try ModelRegistry.load(
            config: folder.config, weights: folder.weights(format: .auto), backend: CPUBackend(), maxPositions: 64)
        target.allocateKVCache(numBlocks: 4, blockSize: 16)
        let prompt = try Self.tensor("prompt").map { Int32($0) }
        let batch = ForwardBatch(chunks: [SequenceChunk(tokenIDs: prompt, numCached: 0, blockTable: [0])], blockSize: 16)
        let plain = target.execute(batch)
        #expect(target.takeAuxiliaryHiddenStates() == nil)
        try target.captureAuxiliaryHiddenStates(layers: [0, 2, 4])
        #expect(target.execute(batch) == plain)
        let states = try #require(target.takeAuxiliaryHiddenStates())
        #expect(Self.maxDifference(states, try Self.tensor("auxiliary")) < 1e-4)
        #expect(target.takeAuxiliaryHiddenStates() == nil)
    }

    /// The head's logits and pre-norm outputs over the prompt's positions from the target's states,
    /// then at the next position from its own output (reading the first pass's keys and values),
    /// against the float64 PyTorch rendering of the published head.
    @Test func theHeadsForwardPassIsThePublishedOne() throws {
        let config = try Eagle3HeadConfig(folder: Self.head)
        #expect(config.draftVocabSize == 256 && config.auxiliaryLayers == [0, 2, 4])
        let backend = CPUBackend()
        let head = try Eagle3Head(
            config, weights: SafetensorsWeights(folder: Self.head), targetWeights: SafetensorsWeights(folder: EnginePaths.builtinModel),
            backend: backend, maxPositions: 64, auxiliaryLayers: 3)
        let runner = Eagle3HeadRunner(head: head, targetLayers: [0, 2, 4], backend: backend)
        runner.allocateKVCache(numBlocks: 4, blockSize: 16)
        let prompt = try Self.tensor("prompt").map { Int32($0) }
        let n = prompt.count
        let auxiliary = try Self.tensor("auxiliary")
        // Position i reads token i + 1; every position's row comes back.
        let first = SequenceChunk(tokenIDs: Array(prompt[1...]), numCached: 0, blockTable: [1, 3], leadingLogits: n - 2)
        let (logits, hidden) = runner.execute(
            ForwardBatch(chunks: [first], blockSize: 16), hidden: Array(auxiliary[..<((n - 1) * 192)]), fromTarget: true)
        #expect(Self.maxDifference(logits, try Self.tensor("logits")) < 1e-4)
        #expect(Self.maxDifference(hidden, try Self.tensor("prenorm")) < 1e-4)
        let draft = try Self.tensor("draft").map { Int32($0) }
        let second = SequenceChunk(tokenIDs: draft, numCached: n - 1, blockTable: [1, 3])
        let (logits2, hidden2) = runner.execute(
            ForwardBatch(chunks: [second], blockSize: 16), hidden: Array(hidden.suffix(64)), fromTarget: false)
        #expect(Self.maxDifference(logits2, try Self.tensor("logits2")) < 1e-4)
        #expect(Self.maxDifference(hidden2, try Self.tensor("prenorm2")) < 1e-4)
        // d2t: target id = draft id + offset; the special tokens keep their ids.
        #expect(runner.draftToTarget.prefix(3) == [0, 1, 2] && runner.draftToTarget == runner.draftToTarget.sorted())
    }

    @Test func greedyTokensAreThoseOfPlainDecoding() throws {
        let plain = try makeLLM()
        let prompts = try SpeculativeDecodingTests.repeatingPrompts(plain, count: 8) + mixedPrompts(count: 12)
        let reference = try SpeculativeDecodingTests.greedy(plain, prompts).map(\.tokenIDs)
        for configure in [
            { (a: inout EngineArgs) in a.speculative = Self.drafted() },
            {
                $0.speculative = Self.drafted(k: 2); $0.maxNumSeqs = 3
            },
            {
                $0.speculative = Self.drafted(); $0.maxNumBatchedTokens = 7
            },
            {
                $0.speculative = Self.drafted(k: 5); $0.numGPUBlocksOverride = 12
            },
        ] {
            let llm = try makeLLM(configure)
            #expect(llm.engine.config.speculative?.method == .eagle3)
            #expect(try SpeculativeDecodingTests.greedy(llm, prompts).map(\.tokenIDs) == reference)
            // Rejected drafts' slots went back with every request's blocks.
            #expect(llm.engine.numFreeBlocks == llm.engine.config.numBlocks)
            let stats = llm.engine.stats.speculative
            #expect(stats.numDrafts > 0 && stats.numDraftTokens > stats.numAcceptedTokens)
            if llm.engine.config.numBlocks == 12 { #expect(llm.engine.stats.numPreemptions > 0) }
        }
    }

    /// The proposer's bookkeeping over chunked prefills, batches and rejected drafts: every pass
    /// of the head from the target's states gives position p token p + 1 and the target's states
    /// of position p as one pass over the whole sequence computes them, and covers each prompt
    /// position; every later pass reads an output of the pass before.
    @Test func theHeadReadsEachPositionsNextTokenAndTheTargetsStates() throws {
        var args = EngineArgs(model: EnginePaths.builtinModel)
        args.maxModelLength = 128
        args.cpuKVCacheBytes = 64 << 20
        args.maxNumBatchedTokens = 16
        args.speculative = Self.drafted(k: 3)
        let loaded = try LoadedModel(args)
        let head = RecordingHead(try #require(loaded.eagle3Head))
        let engine = try EngineCore(
            executor: loaded.executor, config: loaded.coreConfig, eosTokenIDs: loaded.eosTokenIDs, eagle3Head: head)
        let prompts = mixedPrompts(count: 3, seed: 5, maxLength: 30)
        for (i, prompt) in prompts.enumerated() { try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: greedyParams(12)) }
        let outputs = engine.generatedTokensUntilDone()
        let sequences = prompts.indices.map { prompts[$0] + outputs["r\($0)"]! }
        let folder = try ModelFolder(path: EnginePaths.builtinModel)
        let target = try ModelRegistry.load(
            config: folder.config, weights: folder.weights(format: .auto), backend: CPUBackend(), maxPositions: 64)
        target.allocateKVCache(numBlocks: 8, blockSize: 16)
        try target.captureAuxiliaryHiddenStates(layers: [0, 2, 4])
        let states = try sequences.map { sequence in
            let chunk = SequenceChunk(tokenIDs: sequence.map(Int32.init), numCached: 0, blockTable: Array(0..<8))
            _ = target.execute(ForwardBatch(chunks: [chunk], blockSize: 16))
            return try #require(target.takeAuxiliaryHiddenStates())
        }
        let width = 3 * 64
        var covered = sequences.map { _ in Set<Int>() }
        var previous: [Float] = []
        for pass in head.passes {
            let batch = pass.batch
            for s in 0..<batch.numSequences {
                let rows = Int(batch.queryStart[s])..<Int(batch.queryStart[s + 1])
                let positions = rows.map { Int(batch.positions[$0]) }
                guard pass.fromTarget else {
                    let row = Array(pass.hidden[(rows.lowerBound * 64)..<(rows.upperBound * 64)])
                    #expect(stride(from: 0, to: previous.count, by: 64).contains { Array(previous[$0..<($0 + 64)]) == row })
                    continue
                }
                let owner = sequences.indices.first { i in
                    zip(rows, positions).allSatisfy { sequences[i].count > $1 + 1 && Int(batch.tokenIDs[$0]) == sequences[i][$1 + 1] }
                }
                guard let i = owner else {
                    Issue.record("a chunk at positions \(positions) whose tokens follow no sequence")
                    continue
                }
                let given = Array(pass.hidden[(rows.lowerBound * width)..<(rows.upperBound * width)])
                let expected = Array(states[i][(positions[0] * width)..<((positions.last! + 1) * width)])
                #expect(Self.maxDifference(given, expected) < 1e-4, "sequence \(i) positions \(positions)")
                covered[i].formUnion(positions)
            }
            previous = pass.output
        }
        for (i, prompt) in prompts.enumerated() { #expect(covered[i].isSuperset(of: 0..<prompt.count), "sequence \(i)") }
        #expect(engine.stats.speculative.numDrafts > 0 && engine.numFreeBlocks == engine.config.numBlocks)
    }

    /// A prompt's blocks get the head's keys and values in the step that computes them: a request
    /// that ended at its first token leaves blocks from which the same prompt later drafts as a
    /// fresh one does (the head's outputs of every drafting pass the same).
    @Test func prefixCachedBlocksHoldTheHeadsKeysAndValues() throws {
        let prompt = [1] + (0..<39).map { 3 + $0 * 37 % 509 }
        func draftingOutputs(warm: Bool) throws -> (outputs: [[Float]], hits: Int) {
            var args = EngineArgs(model: EnginePaths.builtinModel)
            args.maxModelLength = 128
            args.cpuKVCacheBytes = 64 << 20
            args.speculative = Self.drafted(k: 3)
            let loaded = try LoadedModel(args)
            let head = RecordingHead(try #require(loaded.eagle3Head))
            let engine = try EngineCore(
                executor: loaded.executor, config: loaded.coreConfig, eosTokenIDs: loaded.eosTokenIDs, eagle3Head: head)
            if warm {
                try engine.addRequest(id: "first", promptTokenIDs: prompt, params: greedyParams(1))
                _ = engine.generatedTokensUntilDone()
            }
            let passes = head.passes.count
            try engine.addRequest(id: "second", promptTokenIDs: prompt, params: greedyParams(12))
            _ = engine.generatedTokensUntilDone()
            return (head.passes[passes...].filter { !$0.fromTarget }.map(\.output), engine.stats.prefixCacheHits)
        }
        let fresh = try draftingOutputs(warm: false)
        let cached = try draftingOutputs(warm: true)
        #expect(cached.hits > fresh.hits)
        #expect(cached.outputs.count == fresh.outputs.count && !fresh.outputs.isEmpty)
        for (a, b) in zip(cached.outputs, fresh.outputs) { #expect(Self.maxDifference(a, b) < 1e-4) }
    }

    /// A head named as a draft model is taken as `eagle3` from its architecture, as vLLM does.
    @Test func aHeadGivenAsADraftModelIsRecognised() throws {
        let llm = try makeLLM { $0.speculative = SpeculativeConfig(draftModel: Self.head, numSpeculativeTokens: 3) }
        #expect(llm.engine.config.speculative?.method == .eagle3)
        let json = try SpeculativeConfig(json: #"{"method": "eagle3", "model": "h", "num_speculative_tokens": 3}"#)
        #expect(json == SpeculativeConfig(eagle3Head: "h", numSpeculativeTokens: 3))
        #expect(throws: EngineError.self) { try SpeculativeConfig(json: #"{"method": "eagle3", "num_speculative_tokens": 3}"#) }
    }

    @Test func prefixCachingLogprobsStopsAndSamplesAreThoseOfPlainDecoding() throws {
        try PrefixCachedSpeculation.expectSameOutputs(with: Self.drafted())
    }

    /// Requests that speculate beside some that do not (a grammar, one token, prompt logprobs,
    /// sampled ones): the greedy ones come out as without speculation.
    @Test func mixedBatchesKeepEveryRequestsOutput() throws {
        try MixedSpeculationBatch.expectSameOutputs(with: Self.drafted(), as: MixedSpeculationBatch.reference())
    }

    /// The head's KV blocks come out of the same budget as the target's.
    @Test func theHeadsCacheSharesTheBlockBudget() throws {
        let budget = 8 << 20
        let plain = try makeLLM { $0.cpuKVCacheBytes = budget }
        let llm = try makeLLM {
            $0.cpuKVCacheBytes = budget; $0.speculative = Self.drafted()
        }
        let target = plain.engine.runner.executor.kvCacheBytesPerBlock(blockSize: 16)
        // One layer of 2 KV heads of 16 values: a fifth of the target's 5 layers of 4 heads of 8.
        #expect(llm.engine.config.numBlocks == budget / (target + target / 5))
    }

    @Test func headsThatDoNotFitTheTargetAreRejectedClearly() throws {
        func message(_ configure: (inout EngineArgs) -> Void) -> String {
            do {
                _ = try makeLLM(configure)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        let missing = message { $0.speculative = SpeculativeConfig(eagle3Head: "/nonexistent/head", numSpeculativeTokens: 3) }
        #expect(missing.contains("/nonexistent/head"), "\(missing)")
        let notAHead = message {
            $0.speculative = SpeculativeConfig(eagle3Head: DraftModelSpeculationTests.randomDraft, numSpeculativeTokens: 3)
        }
        #expect(notAHead.contains("LlamaForCausalLM") && notAHead.contains("not an EAGLE-3 head"), "\(notAHead)")
        let otherTarget = message {
            $0.model = RepositoryFiles.path("Tests/Fixtures/models/llama2")
            $0.speculative = Self.drafted()
        }
        #expect(otherTarget.contains("vocab_size is 512") && otherTarget.contains("311"), "\(otherTarget)")
        // The same head told that it reads hidden states of 32 values.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("eagle3-narrow-\(getpid())").path
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.head + "/config.json"))) as! [String: Any]
        config["target_hidden_size"] = 32
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        try FileManager.default.copyItem(atPath: Self.head + "/model.safetensors", toPath: folder + "/model.safetensors")
        let narrow = message { $0.speculative = SpeculativeConfig(eagle3Head: folder, numSpeculativeTokens: 3) }
        #expect(narrow.contains("32") && narrow.contains("hidden_size is 64"), "\(narrow)")
        // Layers the target does not have.
        config["target_hidden_size"] = nil
        config["eagle_config"] = ["eagle_aux_hidden_state_layer_ids": [1, 2, 9]]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        let deep = message { $0.speculative = SpeculativeConfig(eagle3Head: folder, numSpeculativeTokens: 3) }
        #expect(deep.contains("[1, 2, 9]") && deep.contains("5 layers"), "\(deep)")
        // A later variant of the head.
        config["eagle_config"] = nil
        config["norm_before_residual"] = true
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        let variant = message { $0.speculative = SpeculativeConfig(eagle3Head: folder, numSpeculativeTokens: 3) }
        #expect(variant.contains("norm_before_residual") && variant.contains("not supported"), "\(variant)")
    }
}

/// A head that records every pass it runs: the batch, the hidden states given and those returned.
final class RecordingHead: Eagle3HeadExecutor {
    let base: any Eagle3HeadExecutor
    private(set) var passes: [(batch: ForwardBatch, hidden: [Float], fromTarget: Bool, output: [Float])] = []

    init(_ base: any Eagle3HeadExecutor) { self.base = base }

    var config: Eagle3HeadConfig { base.config }
    var targetLayers: [Int] { base.targetLayers }
    var draftToTarget: [Int] { base.draftToTarget }
    func kvCacheBytesPerBlock(blockSize: Int) -> Int { base.kvCacheBytesPerBlock(blockSize: blockSize) }
    func allocateKVCache(numBlocks: Int, blockSize: Int) { base.allocateKVCache(numBlocks: numBlocks, blockSize: blockSize) }
    func recordSteps(_ plan: StepRecordingPlan) { base.recordSteps(plan) }

    func execute(_ batch: ForwardBatch, hidden: [Float], fromTarget: Bool) -> (logits: [Float], hidden: [Float]) {
        let result = base.execute(batch, hidden: hidden, fromTarget: fromTarget)
        passes.append((batch, hidden, fromTarget, result.hidden))
        return result
    }
}
