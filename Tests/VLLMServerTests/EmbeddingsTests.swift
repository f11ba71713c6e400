import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import VLLMEngine
import VLLMTestSupport

@testable import VLLMServer

/// `POST /v1/embeddings` on the random-weight BERT fixture (no tokenizer: token-id inputs).
@Suite struct EmbeddingsTests {
    static let folder = RepositoryFiles.path("Tests/Fixtures/models/bert")

    static func withEmbeddingServer(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        var args = EngineArgs(model: folder)
        args.maxModelLength = 64
        args.cpuKVCacheBytes = 8 << 20
        let engine = try AsyncEngine(args: args)
        var options = ServerOptions()
        options.logRequests = false
        options.statsLogInterval = 0
        let serving = try OpenAIServing(engine: engine, options: options)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let app = OpenAIRoutes.application(serving, host: "127.0.0.1", port: 0, logger: logger)
        try await app.test(.live) { client in try await body(client) }
        engine.shutdown()
    }

    static var reference: [String: Any] {
        let data = try! Data(contentsOf: URL(fileURLWithPath: folder + "/reference.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    @Test func batchOfTokenInputsInFloatAndBase64() async throws {
        let inputs = Self.reference["inputs"] as! [[Int]]
        let expected = (Self.reference["mean_normalized"] as! [[NSNumber]]).map { $0.map(\.floatValue) }
        try await Self.withEmbeddingServer { client in
            let plain = try await client.post("/v1/embeddings", ["input": inputs])
            #expect(plain.status == .ok)
            let data = plain.json["data"] as! [[String: Any]]
            #expect(data.map { $0["index"] as! Int } == Array(0..<inputs.count))
            for (item, want) in zip(data, expected) {
                let got = (item["embedding"] as! [NSNumber]).map(\.floatValue)
                #expect(zip(got, want).allSatisfy { abs($0 - $1) < 1e-5 })
            }
            let usage = plain.json["usage"] as! [String: Any]
            #expect(usage["prompt_tokens"] as? Int == inputs.reduce(0) { $0 + $1.count })
            #expect(plain.json["object"] as? String == "list")

            let encoded = try await client.post("/v1/embeddings", ["input": inputs[1], "encoding_format": "base64"])
            #expect(encoded.status == .ok)
            let text = ((encoded.json["data"] as! [[String: Any]])[0]["embedding"] as! String)
            let bytes = Data(base64Encoded: text)!
            let floats = stride(from: 0, to: bytes.count, by: 4).map { i in
                Float(bitPattern: bytes[i..<(i + 4)].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) })
            }
            let floatAnswer = (data[1]["embedding"] as! [NSNumber]).map(\.floatValue)
            #expect(floats == floatAnswer)
        }
    }

    @Test func badRequestsAreClearErrors() async throws {
        try await Self.withEmbeddingServer { client in
            for body: [String: Any] in [
                ["input": [1, 2], "dimensions": 8], ["input": [1, 2], "encoding_format": "int8"], ["input": "no tokenizer"],
                ["input": [Int]()], ["input": [1, 100_000]], ["input": Array(repeating: 5, count: 65)], ["input": [[Int]]()],
            ] {
                let response = try await client.post("/v1/embeddings", body)
                #expect(response.status == .badRequest, "\(body): \(response.text)")
                #expect((response.json["error"] as? [String: Any])?["message"] is String)
            }
            let completion = try await client.post("/v1/completions", ["prompt": [1, 2], "max_tokens": 2])
            #expect(completion.status == .badRequest, "\(completion.text)")
        }
    }
}
