import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwiftVLLM
import XCTest

@testable import VLLMServer

/// Checks the OpenAI error object and its status.
private func assertError(
    _ response: TestResponse, _ status: HTTPResponse.Status, param: String? = nil, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(response.status, status, response.text, file: file, line: line)
    let error = response.error
    XCTAssertNotNil(error["message"] as? String, response.text, file: file, line: line)
    XCTAssertNotNil(error["type"] as? String, file: file, line: line)
    XCTAssertEqual(error["code"] as? Int, Int(status.code), file: file, line: line)
    XCTAssertTrue(error.keys.contains("param"), file: file, line: line)
    if let param { XCTAssertEqual(error["param"] as? String, param, response.text, file: file, line: line) }
    XCTAssertEqual(response.headers[.contentType], "application/json", file: file, line: line)
}

final class ErrorTests: XCTestCase {
    func testBadRequests() async throws {
        try await withServer { client, _ in
            assertError(try await client.postRaw("/v1/completions", "{not json"), .badRequest)
            assertError(try await client.postRaw("/v1/completions", "[1, 2]"), .badRequest)
            assertError(try await client.post("/v1/completions", ["max_tokens": 3]), .badRequest, param: "prompt")
            assertError(try await client.post("/v1/completions", ["prompt": "Hi", "model": "gpt-4"]), .badRequest, param: "model")
            assertError(try await client.post("/v1/completions", ["prompt": "Hi", "temperature": -1]), .badRequest, param: "temperature")
            assertError(
                try await client.post("/v1/completions", ["prompt": "Hi", "temperature": "hot"]), .badRequest, param: "temperature")
            assertError(try await client.post("/v1/completions", ["prompt": "Hi", "top_p": 0]), .badRequest, param: "top_p")
            assertError(try await client.post("/v1/completions", ["prompt": "Hi", "n": 0]), .badRequest, param: "n")
            assertError(try await client.post("/v1/completions", ["prompt": "Hi", "max_tokens": 0]), .badRequest, param: "max_tokens")
            assertError(try await client.post("/v1/completions", ["prompt": "Hi", "max_tokens": 100000]), .badRequest, param: "max_tokens")
            assertError(try await client.post("/v1/completions", ["prompt": "Hi", "suffix": "x"]), .badRequest, param: "suffix")
            assertError(try await client.post("/v1/completions", ["prompt": "Hi", "best_of": 3]), .badRequest, param: "best_of")
            assertError(try await client.post("/v1/completions", ["prompt": "Hi", "logprobs": 50]), .badRequest, param: "logprobs")
            assertError(
                try await client.post("/v1/completions", ["prompt": "Hi", "stop_token_ids": [99999]]), .badRequest, param: "stop_token_ids")
            assertError(try await client.post("/v1/completions", ["prompt": [1, 99999]]), .badRequest, param: "prompt")
            assertError(try await client.post("/v1/completions", ["prompt": []]), .badRequest, param: "prompt")
            assertError(
                try await client.post("/v1/completions", ["prompt": "Hi", "use_beam_search": true, "stream": true]), .badRequest,
                param: "use_beam_search")
            // A prompt longer than max_model_len (512).
            let long = Array(repeating: 5, count: 600)
            assertError(try await client.post("/v1/completions", ["prompt": long]), .badRequest, param: "prompt")
            assertError(
                try await client.post(
                    "/v1/chat/completions", ["messages": [["role": "user", "content": String(repeating: "Once upon a time ", count: 200)]]]),
                .badRequest, param: "messages")
            // The server still answers.
            let after = try await client.post("/v1/completions", ["prompt": "Hi", "max_tokens": 2])
            XCTAssertEqual(after.status, .ok)
        }
    }

    func testRoutesAndBodyLimit() async throws {
        var options = ServerOptions()
        options.maxRequestBodyBytes = 1000
        try await withServer(options: options) { client, _ in
            assertError(try await client.execute(uri: "/nope", method: .get), .notFound)
            assertError(try await client.execute(uri: "/v1/completions", method: .get), .methodNotAllowed)
            assertError(try await client.execute(uri: "/v1/models", method: .delete), .methodNotAllowed)
            let before = try await client.post("/v1/completions", ["prompt": "Hi", "max_tokens": 1])
            XCTAssertEqual(before.status, .ok)
            // Refused from its Content-Length alone; the server then closes the connection, so last.
            assertError(try await client.post("/v1/completions", ["prompt": String(repeating: "x", count: 5000)]), .contentTooLarge)
        }
    }

    /// Client numbers are range-checked before any arithmetic (Int.max once crashed the server by
    /// overflowing prompt length + max_tokens); each refusal names its field.
    func testExtremeNumbersAreRefusedByName() async throws {
        try await withServer { client, _ in
            let chat: [String: Any] = ["messages": [["role": "user", "content": "Hi"]]]
            for (field, value) in [
                ("max_tokens", Int.max), ("max_tokens", Int.min), ("n", 1 << 62), ("logprobs", Int.max), ("min_tokens", Int.max),
            ] {
                assertError(try await client.post("/v1/completions", ["prompt": "Hi", field: value]), .badRequest, param: field)
            }
            for field in ["max_completion_tokens", "max_tokens", "n"] {
                assertError(try await client.post("/v1/chat/completions", chat.merging([field: Int.max]) { $1 }), .badRequest, param: field)
            }
            assertError(
                try await client.postRaw("/v1/completions", #"{"prompt": "Hi", "max_tokens": 1e300}"#), .badRequest, param: "max_tokens")
            assertError(
                try await client.postRaw("/v1/completions", #"{"prompt": "Hi", "seed": 18446744073709551616}"#), .badRequest, param: "seed")
            assertError(try await client.postRaw("/v1/completions", #"{"prompt": "Hi", "temperature": 1e400}"#), .badRequest)
            assertError(
                try await client.post("/v1/completions", ["prompt": "Hi", "temperature": 1e300]), .badRequest, param: "temperature")
            assertError(
                try await client.post("/v1/completions", ["prompt": "Hi", "logit_bias": ["99999999999999999999": 1]]), .badRequest,
                param: "logit_bias")
            assertError(try await client.post("/detokenize", ["tokens": [Int.max]]), .badRequest, param: "tokens")
            let after = try await client.post("/v1/completions", ["prompt": "Hi", "max_tokens": 2])
            XCTAssertEqual(after.status, .ok)
        }
    }

    /// Strict JSON, JSON bodies only, bounded stop strings and ids, and no request templates
    /// unless the server trusts them.
    func testHostileBodies() async throws {
        try await withServer { client, _ in
            assertError(try await client.postRaw("/v1/completions", #"{"prompt": "Hi",}"#), .badRequest)
            assertError(try await client.postRaw("/v1/completions", #"{"prompt": ["Hi",]}"#), .badRequest)
            assertError(try await client.postRaw("/v1/completions", #"{"prompt": "Hi", "top_p": NaN}"#), .badRequest)
            assertError(try await client.postRaw("/v1/completions", String(repeating: "[", count: 10000)), .badRequest)
            assertError(
                try await client.postRaw("/v1/completions", #"{"prompt": "Hi"}"#, headers: [.contentType: "text/plain"]),
                .unsupportedMediaType)
            assertError(
                try await client.post("/v1/completions", ["prompt": "Hi", "stop": Array(repeating: "ab", count: 1025)]), .badRequest,
                param: "stop")
            assertError(try await client.post("/v1/completions", ["prompt": "Hi", "stop": [""]]), .badRequest, param: "stop")
            assertError(
                try await client.post("/v1/completions", ["prompt": "Hi", "request_id": String(repeating: "x", count: 300)]), .badRequest,
                param: "request_id")
            let chat: [String: Any] = ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 2]
            assertError(
                try await client.post("/v1/chat/completions", chat.merging(["chat_template": "{{ 'x' }}"]) { $1 }), .badRequest,
                param: "chat_template")
            assertError(
                try await client.post(
                    "/v1/chat/completions", chat.merging(["chat_template_kwargs": ["chat_template": "{{ 'x' }}"]]) { $1 }),
                .badRequest, param: "chat_template_kwargs")
            assertError(
                try await client.post("/v1/chat/completions", ["messages": [["role": "user", "content": [["type": "text"]]]]]), .badRequest,
                param: "messages[0].content[0].text")
        }
        var options = ServerOptions()
        options.chatTemplate = try fixtureTemplate()
        options.trustRequestChatTemplate = true
        try await withServer(options: options) { client, _ in
            let chat: [String: Any] = ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 2]
            let loops = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
            assertError(try await client.post("/v1/chat/completions", chat.merging(["chat_template": loops]) { $1 }), .badRequest)
            let ok = try await client.post("/v1/chat/completions", chat.merging(["chat_template": "{{ messages[0]['content'] }}:"]) { $1 })
            XCTAssertEqual(ok.status, .ok, ok.text)
        }
    }

    func testBearerSchemeIsCaseInsensitive() {
        XCTAssertEqual(APIKeyMiddleware<BasicRequestContext>.bearerToken("bearer k"), "k")
        XCTAssertEqual(APIKeyMiddleware<BasicRequestContext>.bearerToken("BEARER  k "), "k")
        XCTAssertNil(APIKeyMiddleware<BasicRequestContext>.bearerToken("Basic k"))
        XCTAssertNil(APIKeyMiddleware<BasicRequestContext>.bearerToken("Bearer"))
    }

    func testAPIKey() async throws {
        var options = ServerOptions()
        options.apiKey = "secret"
        try await withServer(options: options) { client, _ in
            assertError(try await client.post("/v1/completions", ["prompt": "Hi"]), .unauthorized)
            assertError(
                try await client.post("/v1/completions", ["prompt": "Hi"], headers: [.authorization: "Bearer wrong"]), .unauthorized)
            assertError(try await client.execute(uri: "/v1/models", method: .get), .unauthorized)
            assertError(try await client.post("/tokenize", ["prompt": "Hi"]), .unauthorized)
            let ok = try await client.post(
                "/v1/completions", ["prompt": "Hi", "max_tokens": 2], headers: [.authorization: "Bearer secret"])
            XCTAssertEqual(ok.status, .ok)
            for path in ["/health", "/metrics", "/version"] {
                let open = try await client.execute(uri: path, method: .get)
                XCTAssertEqual(open.status, .ok, path)
            }
        }
    }

    /// Hundreds of malformed requests: each gets a 4xx error object and the server goes on serving.
    func testManyMalformedRequests() async throws {
        try await withServer { client, _ in
            var random = SystemRandomNumberGenerator()
            let fields = ["prompt", "messages", "max_tokens", "temperature", "n", "stop", "logprobs", "top_p", "seed", "stream", "model"]
            let values: [Any] = [
                NSNull(), -1, 0, 1e308, "x", [], [NSNull()], ["a": 1], [[1, -5]], true, 3.5, [String(repeating: "y", count: 10)],
                Int.max, Int.min,
            ]
            var statuses: [Int: Int] = [:]
            for i in 0..<300 {
                let response: TestResponse
                switch i % 3 {
                case 0:
                    let bytes = (0..<Int.random(in: 0..<64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                    response = try await client.execute(
                        uri: i % 2 == 0 ? "/v1/completions" : "/v1/chat/completions", method: .post, body: ByteBuffer(bytes: bytes))
                default:
                    var body: [String: Any] = [:]
                    for _ in 0..<Int.random(in: 1...4, using: &random) {
                        body[fields.randomElement(using: &random)!] = values.randomElement(using: &random)!
                    }
                    if body["max_tokens"] == nil { body["max_tokens"] = 2 }
                    response = try await client.post(i % 3 == 1 ? "/v1/completions" : "/v1/chat/completions", body)
                }
                statuses[Int(response.status.code), default: 0] += 1
                XCTAssertLessThan(response.status.code, 500, response.text)
                if response.status != .ok {
                    XCTAssertNotNil(response.error["message"] as? String, response.text)
                }
            }
            XCTAssertGreaterThan(statuses[400] ?? 0, 100)
            let after = try await client.post("/v1/completions", ["prompt": "Hi", "max_tokens": 2])
            XCTAssertEqual(after.status, .ok)
        }
    }
}
