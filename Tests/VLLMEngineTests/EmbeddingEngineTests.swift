import Foundation
import SwiftVLLM
import Testing
import VLLMCore
import VLLMTestSupport

@testable import VLLMEngine

/// `LLM.embed` through the scheduler: the fixtures' reference embeddings (sentence-transformers,
/// transformers) however the inputs are batched, no blocks kept, and clear errors.
@Suite struct EmbeddingEngineTests {
    static func llm(_ model: String, _ configure: (inout EngineArgs) -> Void = { _ in }) throws -> LLM {
        var args = EngineArgs(model: EnginePaths.fixtureModels + "/" + model)
        args.maxModelLength = 64
        args.cpuKVCacheBytes = 8 << 20
        configure(&args)
        return try LLM(args: args)
    }

    static func reference(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: RepositoryFiles.url(String(path.drop { $0 == "/" })))) as! [String: Any]
    }

    static func expectMatches(_ outputs: [EmbeddingOutput], _ expected: [[NSNumber]]) {
        #expect(outputs.count == expected.count)
        for (output, want) in zip(outputs, expected) {
            let worst = zip(output.embedding, want).map { abs(Double($0) - $1.doubleValue) }.max() ?? .infinity
            #expect(output.embedding.count == want.count && worst < 1e-5, "worst difference \(worst)")
        }
    }

    /// BERT (mean pooling, normalized, from modules.json): all inputs at once, and with a token
    /// budget of 40 so that the scheduler spreads them over steps without ever splitting one.
    @Test func bertEmbeddingsMatchSentenceTransformersHoweverBatched() throws {
        let reference = try Self.reference("/Tests/Fixtures/models/bert/reference.json")
        let inputs = (reference["inputs"] as! [[Int]]).map(Prompt.tokens)
        let expected = reference["mean_normalized"] as! [[NSNumber]]
        for budget in [2048, 64] {
            let llm = try Self.llm("bert") { $0.maxNumBatchedTokens = budget }
            Self.expectMatches(try llm.embed(inputs), expected)
            #expect(llm.engine.numFreeBlocks == llm.engine.config.numBlocks)
        }
        let llm = try Self.llm("bert")
        Self.expectMatches(try llm.embed(inputs, pooling: PoolingParams(type: .cls, normalize: false)), reference["cls"] as! [[NSNumber]])
    }

    /// A decoder as an embedding model: last token, normalized, by default; each input alone or batched.
    @Test func qwen3LastTokenEmbeddings() throws {
        let reference = try Self.reference("/Tests/Fixtures/embeddings/qwen3.json")
        let inputs = (reference["inputs"] as! [[Int]]).map(Prompt.tokens)
        let llm = try Self.llm("qwen3")
        Self.expectMatches(try llm.embed(inputs), reference["last_normalized"] as! [[NSNumber]])
        Self.expectMatches(try [llm.embed([inputs[2]])[0]], [(reference["last_normalized"] as! [[NSNumber]])[2]])
        #expect(llm.engine.numFreeBlocks == llm.engine.config.numBlocks)
    }

    static let miniLM = RepositoryFiles.path("Tests/Fixtures/external/all-MiniLM-L6-v2")

    /// all-MiniLM-L6-v2 end to end from text: our WordPiece tokenizer gives sentence-transformers'
    /// ids, and `LLM.embed` its embeddings (cosine similarity above 0.99999).
    @Test(
        .enabled(
            if: FileManager.default.fileExists(atPath: miniLM + "/model.safetensors"),
            "scripts/fetch_test_models.sh caches all-MiniLM-L6-v2"))
    func miniLMFromText() throws {
        let reference = try Self.reference("/Tests/Fixtures/embeddings/minilm.json")
        var args = EngineArgs(model: Self.miniLM)
        args.maxModelLength = 256
        args.cpuKVCacheBytes = 8 << 20
        let llm = try LLM(args: args)
        let texts = reference["texts"] as! [String]
        #expect(texts.map { llm.tokenizer!.encode($0) } == reference["input_ids"] as! [[Int]])
        let outputs = try llm.embed(texts.map(Prompt.text))
        for (output, want) in zip(outputs, reference["embeddings"] as! [[NSNumber]]) {
            let w = want.map(\.doubleValue)
            let dot = zip(output.embedding, w).reduce(0.0) { $0 + Double($1.0) * $1.1 }
            let norms = output.embedding.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot() * w.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
            #expect(dot / norms > 0.99999)
        }
    }

    @Test func errorsAreClear() throws {
        let bert = try Self.llm("bert")
        #expect(throws: EngineError.self) { try bert.generate([.tokens([1, 2])], greedyParams(2), showProgress: false) }
        #expect(throws: EngineError.self) { try bert.embed([.tokens([1, 2])], dimensions: 8) }
        #expect(throws: EngineError.self) { try bert.embed([.tokens([1, 9999])]) }
        #expect(throws: EngineError.self) { try bert.embed([.tokens([])]) }
        #expect(bert.engine.numFreeBlocks == bert.engine.config.numBlocks)
    }
}
