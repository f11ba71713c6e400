import Foundation
import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// Embedding models against sentence-transformers / transformers (scripts/make_embedding_fixtures.py):
/// a random-weight BERT, the real all-MiniLM-L6-v2 when scripts/fetch_test_models.sh has cached
/// it, and the qwen3 fixture used as a Qwen3-Embedding-style model (last token, normalized).
@Suite struct EmbeddingModelTests {
    static let embeddings = RepositoryFiles.path("Tests/Fixtures/embeddings")
    static let miniLM = RepositoryFiles.path("Tests/Fixtures/external/all-MiniLM-L6-v2")

    /// Each input alone and all of them in one step, pooled as `pooling` says.
    static func embed(folder: String, _ inputs: [[Int]], pooling: PoolingParams) throws -> (alone: [[Float]], together: [[Float]]) {
        let model = try ModelFolder(path: folder)
        let runner = try ModelRegistry.load(
            config: model.config, weights: model.weights(format: .auto), backend: CPUBackend(), maxPositions: 128)
        runner.allocateKVCache(numBlocks: 8 * inputs.count, blockSize: 16)
        func batch(_ items: [(Int, [Int])]) -> ForwardBatch {
            ForwardBatch(
                chunks: items.map { slot, ids in
                    SequenceChunk(tokenIDs: ids.map(Int32.init), numCached: 0, blockTable: (0..<8).map { Int32(slot * 8 + $0) })
                }, blockSize: 16)
        }
        let alone = inputs.enumerated().map { runner.embed(batch([($0.offset, $0.element)]), pooling: [pooling])[0] }
        let together = runner.embed(batch(Array(inputs.enumerated())), pooling: Array(repeating: pooling, count: inputs.count))
        return (alone, together)
    }

    static func cosine(_ a: [Float], _ b: [Double]) -> Double {
        let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * $1.1 }
        let na = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot(), nb = b.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        return dot / (na * nb)
    }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    static func vectors(_ value: Any?) -> [[Double]] { (value as! [[NSNumber]]).map { $0.map(\.doubleValue) } }

    /// Expects every embedding within 1e-5 (relative to its largest value) of the reference and a
    /// cosine similarity above 0.99999, alone and batched.
    static func expectClose(_ got: (alone: [[Float]], together: [[Float]]), _ want: [[Double]], _ name: String) {
        for (i, expected) in want.enumerated() {
            for (label, vector) in [("alone", got.alone[i]), ("together", got.together[i])] {
                #expect(vector.count == expected.count, "\(name) \(i) \(label)")
                let scale = expected.map(abs).max()!
                let worst = zip(vector, expected).map { abs(Double($0) - $1) }.max()! / scale
                let similarity = cosine(vector, expected)
                #expect(similarity > 0.99999 && worst < 1e-4, "\(name) input \(i) \(label): cosine \(similarity), worst \(worst)")
            }
        }
    }

    @Test func randomBertMatchesSentenceTransformers() throws {
        let folder = TestPaths.fixtureModels + "/bert"
        let reference = try Self.json(folder + "/reference.json")
        let inputs = reference["inputs"] as! [[Int]]
        let settings = try EmbeddingSettings(folder: folder, config: try ModelConfig(contentsOf: folder + "/config.json"))
        #expect(settings.pooling == PoolingParams(type: .mean, normalize: true))
        Self.expectClose(
            try Self.embed(folder: folder, inputs, pooling: settings.pooling), Self.vectors(reference["mean_normalized"]), "mean normalized"
        )
        Self.expectClose(
            try Self.embed(folder: folder, inputs, pooling: .init(type: .mean, normalize: false)), Self.vectors(reference["mean"]), "mean")
        Self.expectClose(
            try Self.embed(folder: folder, inputs, pooling: .init(type: .cls, normalize: false)), Self.vectors(reference["cls"]), "cls")
    }

    @Test(
        .enabled(
            if: FileManager.default.fileExists(atPath: miniLM + "/model.safetensors"),
            "scripts/fetch_test_models.sh caches all-MiniLM-L6-v2"))
    func miniLMMatchesSentenceTransformers() throws {
        let reference = try Self.json(Self.embeddings + "/minilm.json")
        let settings = try EmbeddingSettings(folder: Self.miniLM, config: try ModelConfig(contentsOf: Self.miniLM + "/config.json"))
        let got = try Self.embed(folder: Self.miniLM, reference["input_ids"] as! [[Int]], pooling: settings.pooling)
        Self.expectClose(got, Self.vectors(reference["embeddings"]), "all-MiniLM-L6-v2")
        let similarity = (0..<got.alone.count).map { Self.cosine(got.alone[$0], Self.vectors(reference["embeddings"])[$0]) }
        print("all-MiniLM-L6-v2 cosine similarities with sentence-transformers: \(similarity)")
    }

    @Test func qwen3LastTokenAndMeanPoolingMatchTransformers() throws {
        let reference = try Self.json(Self.embeddings + "/qwen3.json")
        let inputs = reference["inputs"] as! [[Int]]
        let folder = TestPaths.fixtureModels + "/qwen3"
        Self.expectClose(
            try Self.embed(folder: folder, inputs, pooling: .init(type: .last)), Self.vectors(reference["last_normalized"]), "last")
        Self.expectClose(
            try Self.embed(folder: folder, inputs, pooling: .init(type: .mean, normalize: false)), Self.vectors(reference["mean"]), "mean")
    }

    @Test func dimensionsKeepTheLeadingValuesRenormalized() {
        let states: [Float] = [3, 4, 12, 0, 0, 0]
        #expect(PoolingParams(type: .cls, normalize: true, dimensions: 2).pool(states[...], tokens: 2, hidden: 3) == [0.6, 0.8])
        #expect(PoolingParams(type: .mean, normalize: false).pool(states[...], tokens: 2, hidden: 3) == [1.5, 2, 6])
        #expect(PoolingParams(type: .last, normalize: false).pool(states[...], tokens: 2, hidden: 3) == [0, 0, 0])
    }
}
