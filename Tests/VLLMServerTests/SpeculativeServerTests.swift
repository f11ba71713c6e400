import Foundation
import HummingbirdTesting
import SwiftVLLM
import VLLMTestSupport
import XCTest

@testable import VLLMServer

/// A server with a draft model or an EAGLE-3 head: the same greedy text as without, streamed or
/// not, and vLLM's speculative decoding counters on /metrics.
final class SpeculativeServerTests: XCTestCase {
    static var request: [String: Any] { ["prompt": "Once upon a time", "max_tokens": 40, "temperature": 0, "ignore_eos": true] }

    func testDraftModelServesThePlainTextAndCountsDrafts() async throws {
        let draft = RepositoryFiles.path("Tests/Fixtures/speculative/stories260K-without-layer-2")
        try await checkServesThePlainText(SpeculativeConfig(draftModel: draft, numSpeculativeTokens: 3), accepts: true)
    }

    /// The random EAGLE-3 head's drafts are almost never accepted: only drafts are counted.
    func testEagle3HeadServesThePlainTextAndCountsDrafts() async throws {
        let head = RepositoryFiles.path("Tests/Fixtures/speculative/eagle3-random-512")
        try await checkServesThePlainText(SpeculativeConfig(eagle3Head: head, numSpeculativeTokens: 3), accepts: false)
    }

    private func checkServesThePlainText(_ speculative: SpeculativeConfig, accepts: Bool) async throws {
        let plain = PlainText()
        try await withServer { client, _ in
            plain.value = try await Self.completion(client)
        }
        try await withServer(
            configure: { $0.speculative = speculative },
            { client, _ in
                let text = try await Self.completion(client)
                XCTAssertFalse(plain.value.isEmpty)
                XCTAssertEqual(text, plain.value)
                var streaming = Self.request
                streaming["stream"] = true
                let events = try await client.post("/v1/completions", streaming).events.dropLast().map(jsonObject)
                let streamed = events.compactMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }.joined()
                XCTAssertEqual(streamed, plain.value)
                let metrics = try await client.execute(uri: "/metrics", method: .get).text
                for name in ["num_drafts", "num_draft_tokens"] + (accepts ? ["num_accepted_tokens"] : []) {
                    let line = metrics.split(separator: "\n").first { $0.hasPrefix("vllm:spec_decode_\(name)_total{") }
                    let value = line.flatMap { Double($0.split(separator: " ").last!) } ?? 0
                    XCTAssertGreaterThan(value, 0, "vllm:spec_decode_\(name)_total in\n\(metrics)")
                }
                XCTAssertTrue(metrics.contains("vllm:spec_decode_num_accepted_tokens_per_pos_total{"), metrics)
            })
    }

    private static func completion(_ client: any TestClientProtocol) async throws -> String {
        let response = try await client.post("/v1/completions", request)
        XCTAssertEqual(response.status, .ok)
        return ((response.json["choices"] as! [[String: Any]])[0]["text"] as? String) ?? ""
    }
}

/// The plain server's text, carried to the speculating one.
private final class PlainText: @unchecked Sendable {
    var value = ""
}
