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
    /// Sizes recorded (first use of a key) and replayed (later uses).
    var recordedKeys: [Int] = [], replayedKeys: [Int] = []
    /// Sequences of each step that reached `recorded`.
    var sequencesPerStep: [Int] = []

    var name: String { "recording-cpu" }

    var recordsSteps: Bool { true }

    func recorded(_ key: Int, batch: CPUBatch, _ forward: () -> CPUTensor) -> CPUTensor {
        if recordedKeys.contains(key) { replayedKeys.append(key) } else { recordedKeys.append(key) }
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
        let padded = decode.paddedDecodes(to: 8)
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
}
