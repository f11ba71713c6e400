import Foundation
import HummingbirdTesting
import SwiftVLLM
import XCTest

@testable import VLLMServer

final class StreamingTests: XCTestCase {
    func testChatStreamFraming() async throws {
        try await withServer { client, _ in
            let response = try await client.post(
                "/v1/chat/completions",
                [
                    "messages": [["role": "user", "content": "Once upon a time"]], "max_tokens": 8, "temperature": 0, "stream": true,
                    "stream_options": ["include_usage": true],
                ])
            XCTAssertEqual(response.status, .ok)
            XCTAssertEqual(response.headers[.contentType], "text/event-stream; charset=utf-8")
            XCTAssertTrue(response.text.hasSuffix("data: [DONE]\n\n"))
            let events = response.events
            XCTAssertEqual(events.last, "[DONE]")
            let chunks = events.dropLast().map(jsonObject)
            XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
            XCTAssertEqual(Set(chunks.map { $0["id"] as! String }).count, 1)
            // First: the role, with empty content.
            let first = (chunks[0]["choices"] as! [[String: Any]])[0]
            XCTAssertEqual((first["delta"] as! [String: Any])["role"] as? String, "assistant")
            XCTAssertTrue(first["finish_reason"] is NSNull)
            // Last: usage only, with no choices.
            let usageChunk = chunks.last!
            XCTAssertEqual((usageChunk["choices"] as! [Any]).count, 0)
            XCTAssertEqual((usageChunk["usage"] as! [String: Int])["completion_tokens"], 8)
            // Before it: the finish reason.
            let finish = (chunks[chunks.count - 2]["choices"] as! [[String: Any]])[0]
            XCTAssertEqual(finish["finish_reason"] as? String, "length")
            // The deltas add up to the non-streamed text.
            let streamed = chunks.dropFirst().compactMap { chunk -> String? in
                ((chunk["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
            }.joined()
            let whole = try await client.post(
                "/v1/chat/completions", ["messages": [["role": "user", "content": "Once upon a time"]], "max_tokens": 8, "temperature": 0])
            XCTAssertEqual(streamed, ((whole.json["choices"] as! [[String: Any]])[0]["message"] as! [String: Any])["content"] as? String)

            // Without include_usage there is no usage chunk.
            let plain = try await client.post(
                "/v1/chat/completions", ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 3, "stream": true])
            XCTAssertTrue(plain.events.dropLast().map(jsonObject).allSatisfy { $0["usage"] == nil })

            // continuous_usage_stats: every chunk has the usage so far.
            let continuous = try await client.post(
                "/v1/chat/completions",
                [
                    "messages": [["role": "user", "content": "Hi"]], "max_tokens": 3, "stream": true, "ignore_eos": true,
                    "stream_options": ["include_usage": true, "continuous_usage_stats": true],
                ])
            let counts = continuous.events.dropLast().map { (jsonObject($0)["usage"] as? [String: Int])?["completion_tokens"] }
            XCTAssertTrue(counts.allSatisfy { $0 != nil })
            XCTAssertEqual(counts.last!, 3)
        }
    }

    func testCompletionStreamWithN() async throws {
        try await withServer { client, _ in
            let response = try await client.post(
                "/v1/completions",
                [
                    "prompt": "Once upon a time", "max_tokens": 5, "n": 2, "seed": 1, "stream": true, "logprobs": 1,
                    "stream_options": ["include_usage": true],
                ])
            XCTAssertEqual(response.status, .ok)
            let events = response.events
            XCTAssertEqual(events.last, "[DONE]")
            let chunks = events.dropLast().map(jsonObject)
            var finishes: [Int: String] = [:]
            var tokens: [Int: Int] = [:]
            for chunk in chunks.dropLast() {
                XCTAssertEqual(chunk["object"] as? String, "text_completion")
                for choice in chunk["choices"] as! [[String: Any]] {
                    let index = choice["index"] as! Int
                    if let reason = choice["finish_reason"] as? String { finishes[index] = reason }
                    tokens[index, default: 0] += ((choice["logprobs"] as? [String: Any])?["tokens"] as? [String])?.count ?? 0
                }
            }
            XCTAssertEqual(finishes, [0: "length", 1: "length"])
            XCTAssertEqual(tokens, [0: 5, 1: 5])
            XCTAssertEqual((chunks.last!["usage"] as! [String: Int])["completion_tokens"], 10)
        }
    }

    /// A client's request_id only names the response: two requests reusing one both run to the end
    /// (the engine ids are the server's own), and each response echoes it.
    func testDuplicateRequestIDsDoNotInterfere() async throws {
        try await withServer { client, _ in
            async let first = client.post(
                "/v1/completions", ["prompt": "Once", "max_tokens": 30, "ignore_eos": true, "stream": true, "request_id": "dup"])
            try await Task.sleep(for: .milliseconds(5))
            let second = try await client.post(
                "/v1/completions", ["prompt": "Once", "max_tokens": 30, "ignore_eos": true, "stream": true, "request_id": "dup"])
            for response in [try await first, second] {
                let events = response.events
                XCTAssertEqual(events.last, "[DONE]")
                let chunks = events.dropLast().map(jsonObject)
                XCTAssertTrue(chunks.allSatisfy { $0["id"] as? String == "cmpl-dup" && $0["error"] == nil })
                let finish = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
                XCTAssertEqual(finish, ["length"])
            }
        }
    }
}
