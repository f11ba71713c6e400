import SwiftVLLM
import Testing
import VLLMCPU
import VLLMCore

@testable import VLLMEngine

/// The CPU backend behind a backend that says it records steps, as CUDA graphs do: it counts which
/// step sizes the model hands to `recorded` and runs them eagerly, so that the model's side of
/// recorded decode steps (padding to a recorded size, dropping the padding rows) runs on the CPU.
final class RecordingCPUBackend: CPUWrappingBackend {
    let cpu = CPUBackend()
    /// Shapes recorded (first use of a key) and replayed (later uses).
    var recordedShapes: [UniformStepShape] = [], replayedShapes: [UniformStepShape] = []
    /// Keys seen, with the model runner they name.
    private(set) var keys: Set<RecordedStep> = []
    /// Sizes (sequences) recorded and replayed.
    var recordedKeys: [Int] { recordedShapes.map(\.sequences) }
    var replayedKeys: [Int] { replayedShapes.map(\.sequences) }

    var name: String { "recording-cpu" }

    var recordsSteps: Bool { true }

    func recorded(_ key: RecordedStep, batch: CPUBatch, _ forward: () -> [CPUTensor]) -> [CPUTensor] {
        if keys.insert(key).inserted { recordedShapes.append(key.shape) } else { replayedShapes.append(key.shape) }
        return forward()
    }
}

@Suite struct RecordedDecodeTests {
    /// Padding a decode step with dummy decodes leaves the real rows' logits as they were and writes
    /// nothing to the cache for the dummies.
    @Test func paddedDecodeStepKeepsRealRows() throws {
        let folder = try ModelFolder(path: EnginePaths.builtinModel)
        let model = try ModelRegistry.load(
            config: folder.config, weights: folder.weights(format: .auto), backend: CPUBackend(), maxPositions: 64)
        model.allocateKVCache(numBlocks: 16, blockSize: 8)
        let prompts: [[Int32]] = [[1, 50, 60, 70], [1, 9, 8, 7, 6, 5, 4, 3, 2, 10], [1, 300]]
        let tables: [[Int32]] = [[0], [1, 2], [3]]
        _ = model.execute(
            ForwardBatch(
                chunks: zip(prompts, tables).map { SequenceChunk(tokenIDs: $0, numCached: 0, blockTable: $1) }, blockSize: 8))
        let decode = ForwardBatch(
            chunks: zip(prompts, tables).map { SequenceChunk(tokenIDs: [42], numCached: $0.count, blockTable: $1) }, blockSize: 8)
        #expect(decode.isDecodeOnly)
        let padded = decode.padded(to: 8)
        #expect(padded.numSequences == 8 && padded.logitIndices == (0..<8).map(Int32.init))
        #expect(padded.slotMapping.suffix(5).allSatisfy { $0 == -1 })
        let plain = model.execute(decode)
        let wide = model.execute(padded)
        let vocab = folder.config.vocabSize
        let error = zip(plain, wide.prefix(3 * vocab)).map { abs($0 - $1) }.max() ?? 1
        #expect(error < 1e-5, "padding changed the real rows by \(error)")
        // The dummies wrote no keys: the same decode again still matches.
        #expect(model.execute(decode) == plain)
    }

    /// The profiling run of the largest step leaves no cache behind, and the model runs as before
    /// once the real cache is made.
    @Test func profileRunLeavesModelUsable() throws {
        let folder = try ModelFolder(path: EnginePaths.builtinModel)
        let model = try ModelRegistry.load(
            config: folder.config, weights: folder.weights(format: .auto), backend: CPUBackend(), maxPositions: 32)
        model.profileRun(tokens: 100, sequences: 3, blockSize: 8)
        model.allocateKVCache(numBlocks: 8, blockSize: 8)
        let batch = ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1, 5, 9], numCached: 0, blockTable: [0])], blockSize: 8)
        let first = model.execute(batch)
        #expect(first.count == folder.config.vocabSize && first.allSatisfy(\.isFinite))
    }

    /// Through the engine, decode steps go through recordings padded to the recorded sizes (the
    /// larger ones recorded at their first step), and the tokens are those of eager steps; prefill
    /// steps never do.
    @Test func engineOutputsEqualEagerSteps() throws {
        let folder = try ModelFolder(path: EnginePaths.builtinModel)
        let prompts = mixedPrompts(count: 11, maxLength: 20)
        func run(graphSizes: [Int]) throws -> (tokens: [[Int]], backend: RecordingCPUBackend, recorded: Int) {
            let backend = RecordingCPUBackend()
            let model = try ModelRegistry.load(
                config: folder.config, weights: folder.weights(format: .auto), backend: backend, maxPositions: 128)
            let config = EngineCoreConfig(
                blockSize: 8, numBlocks: 256, enablePrefixCaching: true,
                scheduler: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 11, maxModelLength: 128),
                graphBatchSizes: graphSizes)
            let engine = try EngineCore(executor: model, config: config, eosTokenIDs: [])
            for (i, prompt) in prompts.enumerated() {
                try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: greedyParams(12))
            }
            let tokens = engine.generatedTokensUntilDone()
            return ((0..<prompts.count).map { tokens["r\($0)"] ?? [] }, backend, engine.graphsRecorded)
        }
        let eager = try run(graphSizes: [])
        let graphs = try run(graphSizes: EngineCoreConfig.graphBatchSizes(maxNumSeqs: 11))
        #expect(EngineCoreConfig.graphBatchSizes(maxNumSeqs: 11) == [1, 2, 4, 8, 16])
        #expect(eager.backend.recordedKeys.isEmpty && eager.recorded == 0)
        // 1 to 8 at start; 16 at the first decode step of more than 8 sequences.
        #expect(graphs.recorded == 4)
        #expect(Set(graphs.backend.recordedKeys) == [1, 2, 4, 8, 16])
        #expect(!graphs.backend.replayedKeys.isEmpty, "no decode step replayed a recording")
        #expect(graphs.tokens == eager.tokens)
        #expect(graphs.tokens.allSatisfy { $0.count == 12 })
    }

    /// A step verifying the same number of drafts for every sequence, padded with dummy
    /// sequences of as many tokens, keeps the real rows' logits and writes nothing for the dummies.
    @Test func paddedVerifyingStepKeepsRealRows() throws {
        let folder = try ModelFolder(path: EnginePaths.builtinModel)
        let model = try ModelRegistry.load(
            config: folder.config, weights: folder.weights(format: .auto), backend: CPUBackend(), maxPositions: 64)
        model.allocateKVCache(numBlocks: 16, blockSize: 8)
        let prompts: [[Int32]] = [[1, 50, 60, 70], [1, 9, 8, 7, 6, 5, 4, 3, 2, 10]]
        let tables: [[Int32]] = [[0, 4], [1, 2]]
        _ = model.execute(
            ForwardBatch(
                chunks: zip(prompts, tables).map { SequenceChunk(tokenIDs: $0, numCached: 0, blockTable: $1) }, blockSize: 8))
        // The sampled token and two drafts each, every position wanting its logits.
        let verify = ForwardBatch(
            chunks: zip(prompts, tables).map {
                SequenceChunk(tokenIDs: [42, 43, 44], numCached: $0.count, blockTable: $1, leadingLogits: 2)
            }, blockSize: 8)
        #expect(verify.uniformShape == UniformStepShape(sequences: 2, tokensPerSequence: 3, logitsPerSequence: 3))
        #expect(!verify.isDecodeOnly)
        let padded = verify.padded(to: 4)
        #expect(padded.uniformShape == UniformStepShape(sequences: 4, tokensPerSequence: 3, logitsPerSequence: 3))
        #expect(padded.positions.suffix(6) == [0, 1, 2, 0, 1, 2] && padded.slotMapping.suffix(6).allSatisfy { $0 == -1 })
        let plain = model.execute(verify)
        let wide = model.execute(padded)
        let error = zip(plain, wide.prefix(plain.count)).map { abs($0 - $1) }.max() ?? 1
        #expect(error < 1e-5, "padding changed the real rows by \(error)")
        #expect(model.execute(verify) == plain)
    }

    /// Which steps are uniform: equal tokens a sequence, and the logits of every token or of each
    /// last one; prompt logprobs beside a decode, or unequal chunks, are not.
    @Test func uniformShapesOfSteps() {
        func batch(_ lengths: [Int], leading: [Int]) -> ForwardBatch {
            ForwardBatch(
                chunks: zip(lengths, leading).map {
                    SequenceChunk(tokenIDs: .init(repeating: 5, count: $0), numCached: 3, blockTable: [0], leadingLogits: $1)
                },
                blockSize: 16)
        }
        #expect(
            batch([1, 1, 1], leading: [0, 0, 0]).uniformShape == UniformStepShape(sequences: 3, tokensPerSequence: 1, logitsPerSequence: 1))
        #expect(batch([2, 2], leading: [0, 0]).uniformShape == UniformStepShape(sequences: 2, tokensPerSequence: 2, logitsPerSequence: 1))
        #expect(batch([5, 5], leading: [4, 4]).uniformShape == UniformStepShape(sequences: 2, tokensPerSequence: 5, logitsPerSequence: 5))
        #expect(batch([5, 5], leading: [4, 0]).uniformShape == nil)
        #expect(batch([5, 3], leading: [4, 2]).uniformShape == nil)
        #expect(ForwardBatch.dummyDecodes(3).uniformShape == UniformStepShape(sequences: 3, tokensPerSequence: 1, logitsPerSequence: 1))
        let lastOnly = batch([2, 2], leading: [0, 0]).padded(to: 4)
        #expect(lastOnly.logitIndices == [1, 3, 5, 7] && lastOnly.queryStart == [0, 2, 4, 6, 8])
    }

    /// With speculative decoding (n-gram, a draft model on the same backend, or an EAGLE-3 head
    /// whose target keeps hidden states), steps that verify the same number of drafts for every
    /// request replay recordings too, the draft's passes under keys of their own, and the tokens
    /// are those of plain decoding.
    @Test(arguments: [SpeculativeConfig.Method.ngram, .draftModel, .eagle3])
    func verifyingStepsReplayRecordings(method: SpeculativeConfig.Method) throws {
        let prompts = try SpeculativeDecodingTests.repeatingPrompts(makeLLM(), count: 6)
        let speculative =
            switch method {
            case .ngram: SpeculativeDecodingTests.ngram
            case .draftModel: DraftModelSpeculationTests.drafted(by: DraftModelSpeculationTests.layerDraft)
            case .eagle3: Eagle3SpeculationTests.drafted()
            }
        let plain = try runRecording(prompts, graphSizes: [], speculative: nil)
        let eager = try runRecording(prompts, graphSizes: [], speculative: speculative)
        let graphs = try runRecording(prompts, graphSizes: EngineCoreConfig.graphBatchSizes(maxNumSeqs: 2), speculative: speculative)
        #expect(eager.tokens == plain.tokens && graphs.tokens == plain.tokens)
        #expect(eager.backend.keys.isEmpty)
        let verifying = { (shape: UniformStepShape) in shape.tokensPerSequence > 1 && shape.logitsPerSequence == shape.tokensPerSequence }
        #expect(graphs.backend.recordedShapes.contains(where: verifying), "no verifying step was recorded")
        #expect(graphs.backend.replayedShapes.contains(where: verifying), "no verifying step replayed a recording")
        #expect(graphs.backend.keys.allSatisfy { $0.shape.tokensPerSequence <= 1 + speculative.numSpeculativeTokens })
        // The draft model's or the head's passes under keys of their own (the head's passes from
        // its own output as pass 0, from the target's states as pass 1).
        #expect(Set(graphs.backend.keys.map(\.model)).count == (method == .ngram ? 1 : 2))
        if method == .eagle3 { #expect(graphs.backend.keys.contains { $0.pass == 1 } && graphs.backend.replayedShapes.count > 10) }
    }

    /// Greedy tokens of `prompts` through an engine on a `RecordingCPUBackend` (a draft model or
    /// an EAGLE-3 head on the same backend), two requests at a time.
    private func runRecording(
        _ prompts: [[Int]], graphSizes: [Int], speculative: SpeculativeConfig?
    ) throws -> (tokens: [[Int]], backend: RecordingCPUBackend) {
        let backend = RecordingCPUBackend()
        func load(_ path: String) throws -> ModelRunner<RecordingCPUBackend> {
            let folder = try ModelFolder(path: path)
            return try ModelRegistry.load(
                config: folder.config, weights: folder.weights(format: .auto), backend: backend, maxPositions: 128)
        }
        let config = EngineCoreConfig(
            blockSize: 8, numBlocks: 256, enablePrefixCaching: true,
            scheduler: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 2, maxModelLength: 128),
            graphBatchSizes: graphSizes, speculative: speculative)
        var head: Eagle3HeadRunner<RecordingCPUBackend>?
        if speculative?.method == .eagle3 {
            let headConfig = try Eagle3HeadConfig(folder: Eagle3SpeculationTests.head)
            let layers = try headConfig.targetLayers(numLayers: ModelFolder(path: EnginePaths.builtinModel).config.numLayers)
            let weights = try Eagle3Head(
                headConfig, weights: SafetensorsWeights(folder: Eagle3SpeculationTests.head),
                targetWeights: SafetensorsWeights(folder: EnginePaths.builtinModel), backend: backend, maxPositions: 128,
                auxiliaryLayers: layers.count)
            head = Eagle3HeadRunner(head: weights, targetLayers: layers, backend: backend)
        }
        let engine = try EngineCore(
            executor: load(EnginePaths.builtinModel), config: config, eosTokenIDs: [],
            draftExecutor: speculative?.method == .draftModel ? load(DraftModelSpeculationTests.layerDraft) : nil, eagle3Head: head)
        for (i, prompt) in prompts.enumerated() {
            try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: greedyParams(16))
        }
        let tokens = engine.generatedTokensUntilDone()
        return ((0..<prompts.count).map { tokens["r\($0)"] ?? [] }, backend)
    }
}
