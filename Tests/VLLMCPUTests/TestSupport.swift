import Foundation
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// Paths of the model folders the tests run, inside the repository (`RepositoryFiles`).
enum TestPaths {
    static let builtinModel = RepositoryFiles.path("Models/stories260K")
    static let fixtureModels = RepositoryFiles.path("Tests/Fixtures/models")
}

/// Runs sequences through a model with the simplest block tables (block i of sequence s is
/// `s * blocksPerSequence + i`), so that tests can drive the model without the engine.
final class DirectRunner {
    let model: any ModelExecutor
    let blockSize: Int
    let blocksPerSequence: Int

    init(
        folder: String, blockSize: Int = 16, maxSequences: Int = 8, maxLength: Int = 256, backend: CPUBackend = CPUBackend(),
        quantization: String? = nil, kvCacheFormat: KVCacheFormat = .auto
    ) throws {
        let folder = try ModelFolder(path: folder)
        let runner = try ModelRegistry.load(
            config: folder.config, weights: folder.weights(format: .auto, quantization: quantization), backend: backend,
            maxPositions: maxLength)
        runner.kvCacheFormat = kvCacheFormat
        model = runner
        self.blockSize = blockSize
        blocksPerSequence = (maxLength + blockSize - 1) / blockSize
        model.allocateKVCache(numBlocks: blocksPerSequence * maxSequences, blockSize: blockSize)
    }

    func table(_ sequence: Int, length: Int) -> [Int32] {
        (0..<((length + blockSize - 1) / blockSize)).map { Int32(sequence * blocksPerSequence + $0) }
    }

    /// Logits of every position of `prompt`, as one prefill of sequence slot `slot`.
    func promptLogits(_ prompt: [Int], slot: Int = 0) -> [[Float]] {
        let n = prompt.count
        var batch = ForwardBatch(
            chunks: [SequenceChunk(tokenIDs: prompt.map(Int32.init), numCached: 0, blockTable: table(slot, length: n))],
            blockSize: blockSize)
        batch.logitIndices = (0..<n).map(Int32.init)
        let flat = model.execute(batch)
        let vocab = model.config.vocabSize
        return (0..<n).map { Array(flat[($0 * vocab)..<(($0 + 1) * vocab)]) }
    }

    /// The logits of the last token of `tokens` computed as a decode step (one token) after the
    /// others as a prefill, in sequence slot 0.
    func secondStepLogits(_ tokens: [Int]) -> [Float] {
        let table = table(0, length: tokens.count)
        let prefill = SequenceChunk(tokenIDs: tokens.dropLast().map(Int32.init), numCached: 0, blockTable: table)
        _ = model.execute(ForwardBatch(chunks: [prefill], blockSize: blockSize))
        let step = SequenceChunk(tokenIDs: [Int32(tokens.last!)], numCached: tokens.count - 1, blockTable: table)
        return model.execute(ForwardBatch(chunks: [step], blockSize: blockSize))
    }

    /// Greedy continuation of `prompt` for `count` tokens, no stopping.
    func greedy(_ prompt: [Int], count: Int, slot: Int = 0) -> [Int] {
        var tokens = prompt
        var cached = 0
        var generated: [Int] = []
        for _ in 0..<count {
            let chunk = SequenceChunk(
                tokenIDs: tokens[cached...].map(Int32.init), numCached: cached, blockTable: table(slot, length: tokens.count))
            let logits = model.execute(ForwardBatch(chunks: [chunk], blockSize: blockSize))
            cached = tokens.count
            let next = argmax(logits)
            generated.append(next)
            tokens.append(next)
        }
        return generated
    }

    /// Greedy continuations of `prompts` decoded together (sequence i in slot i), `count` tokens
    /// each, no stopping: one batched step per token, as the engine runs them.
    func greedyBatch(_ prompts: [[Int]], count: Int) -> [[Int]] {
        var tokens = prompts
        var cached = [Int](repeating: 0, count: prompts.count)
        var generated = [[Int]](repeating: [], count: prompts.count)
        let vocab = model.config.vocabSize
        for _ in 0..<count {
            let chunks = tokens.indices.map { s in
                SequenceChunk(
                    tokenIDs: tokens[s][cached[s]...].map(Int32.init), numCached: cached[s],
                    blockTable: table(s, length: tokens[s].count))
            }
            let logits = model.execute(ForwardBatch(chunks: chunks, blockSize: blockSize))
            for s in tokens.indices {
                cached[s] = tokens[s].count
                let next = argmax(logits[(s * vocab)..<((s + 1) * vocab)])
                generated[s].append(next)
                tokens[s].append(next)
            }
        }
        return generated
    }
}

func argmax(_ values: some Collection<Float>) -> Int {
    var best = 0, bestValue = -Float.infinity
    for (i, v) in values.enumerated() where v > bestValue { (best, bestValue) = (i, v) }
    return best
}
