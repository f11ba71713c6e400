import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import XCTest

@testable import VLLMServer

private func schema(_ spec: [String: Any], _ name: String) -> [String: Any] {
    ((spec["components"] as! [String: Any])["schemas"] as! [String: Any])[name] as! [String: Any]
}

/// The nullable form's first branch: `{"anyOf": [schema, {"type": "null"}]}`.
private func nonNull(_ property: Any?) -> [String: Any] {
    let p = property as! [String: Any]
    return (p["anyOf"] as? [[String: Any]])?.first ?? p
}

/// `/openapi.json` states the server's real limits, and the server refuses what the document calls
/// invalid (schemathesis' negative_data_rejection) and takes what it calls valid.
final class OpenAPIDocumentTests: XCTestCase {
    func testDocumentStatesTheServersLimits() async throws {
        var options = ServerOptions()
        options.apiKey = "k"
        options.maxQueuedSequences = 4
        try await withServer(options: options, maxNumSeqs: 8) { client, serving in
            let response = try await client.execute(uri: "/openapi.json", method: .get)
            XCTAssertEqual(response.status, .ok)
            let spec = response.json
            let limits = (spec["info"] as! [String: Any])["x-vllm-limits"] as! [String: Any]
            XCTAssertEqual(limits["max_model_len"] as? Int, 512)
            XCTAssertEqual(limits["max_sequences"] as? Int, 12)
            XCTAssertEqual(limits["max_n"] as? Int, 12)
            let completion = schema(spec, "CompletionRequest")["properties"] as! [String: Any]
            XCTAssertEqual(nonNull(completion["n"])["maximum"] as? Int, 12)
            XCTAssertEqual(nonNull(completion["max_tokens"])["maximum"] as? Int, 511)
            XCTAssertEqual(nonNull(completion["seed"])["minimum"] as? Int, Int.min)
            XCTAssertEqual(nonNull(completion["logprobs"])["maximum"] as? Int, serving.options.maxLogprobs)
            // Protected by the key, except the probes and the document itself.
            XCTAssertEqual((spec["security"] as? [[String: Any]])?.map { Array($0.keys) }, [["bearer"]])
            let paths = spec["paths"] as! [String: [String: [String: Any]]]
            XCTAssertEqual((paths["/health"]!["get"]!["security"] as? [Any])?.count, 0)
            XCTAssertNil(paths["/v1/completions"]!["post"]!["security"])
            for (path, methods) in OpenAIRoutes.table where path != "/v1/embeddings" {
                XCTAssertEqual(Set(paths[path]?.keys.map { $0.uppercased() } ?? []), Set(methods.map(\.rawValue)), path)
            }
            let capacity = (paths["/v1/completions"]!["post"]!["responses"] as! [String: [String: Any]])["503"]!
            XCTAssertNotNil((capacity["headers"] as? [String: Any])?["Retry-After"])
        }
    }

    func testServerRefusesWhatTheDocumentCallsInvalid() async throws {
        try await withServer { client, _ in
            func expect(
                _ body: [String: Any], _ status: HTTPResponse.Status, _ param: String? = nil, file: StaticString = #filePath,
                line: UInt = #line
            ) async throws {
                let base: [String: Any] = ["prompt": "Hi", "max_tokens": 1]
                let response = try await client.post("/v1/completions", base.merging(body) { $1 })
                XCTAssertEqual(response.status, status, response.text, file: file, line: line)
                if let param { XCTAssertEqual(response.error["param"] as? String, param, response.text, file: file, line: line) }
            }
            // logit_bias keys as the document's pattern writes them: digits, no sign or leading zero.
            try await expect(["logit_bias": ["7": 1]], .ok)
            for key in ["+7", "007", "-0", " 7"] { try await expect(["logit_bias": [key: 1]], .badRequest, "logit_bias") }
            // Structured-output fields of the wrong type are refused, not ignored.
            try await expect(["structured_outputs": ["regex": 5]], .badRequest, "structured_outputs.regex")
            try await expect(["structured_outputs": ["json_object": "yes"]], .badRequest, "structured_outputs.json_object")
            try await expect(["structured_outputs": ["json": true]], .badRequest, "structured_outputs.json")
            try await expect(["structured_outputs": ["json_object": false, "regex": NSNull()]], .ok)
            try await expect(["response_format": ["type": "text", "json_schema": [1]]], .badRequest, "response_format.json_schema")
            try await expect(
                ["response_format": ["type": "text", "json_schema": ["name": NSNull()]]], .badRequest, "response_format.json_schema.name")
            try await expect(
                ["response_format": ["type": "json_schema", "json_schema": ["name": "x", "schema": NSNull()]]], .badRequest,
                "response_format")
            // structured_outputs beside response_format may only carry disable_any_whitespace.
            try await expect(["response_format": ["type": "text"], "structured_outputs": ["disable_any_whitespace": true]], .ok)
            try await expect(
                ["response_format": ["type": "text"], "structured_outputs": ["json_object": false]], .badRequest, "structured_outputs")
            // Tool fields of the wrong shape are refused, not handed to the template.
            func expectChat(_ body: [String: Any], _ param: String, file: StaticString = #filePath, line: UInt = #line) async throws {
                let base: [String: Any] = ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 1]
                let response = try await client.post("/v1/chat/completions", base.merging(body) { $1 })
                XCTAssertEqual(response.status, .badRequest, response.text, file: file, line: line)
                XCTAssertEqual(response.error["param"] as? String, param, response.text, file: file, line: line)
            }
            let tool: [String: Any] = ["type": "function", "function": ["name": "f"]]
            try await expectChat(["messages": [["role": "assistant", "tool_calls": 5]]], "messages[0].tool_calls")
            try await expectChat(
                ["messages": [["role": "assistant", "tool_calls": [["function": ["name": "f"]]]]]], "messages[0].tool_calls[0]")
            try await expectChat(["messages": [["role": "tool", "content": "x", "tool_call_id": 5]]], "messages[0].tool_call_id")
            try await expectChat(
                ["tools": [["type": "function", "function": ["name": "f", "description": 5]]], "tool_choice": "none"], "tools")
            try await expectChat(["tools": [tool], "tool_choice": ["type": "other", "function": ["name": "f"]]], "tool_choice")
            // Without --enable-auto-tool-choice, tools need a tool_choice other than auto.
            try await expectChat(["tools": [tool]], "tool_choice")
            try await expectChat(["tools": [tool], "tool_choice": NSNull()], "tool_choice")
            // An integer literal just below Int64 rounds to Int64.min as a double: still refused.
            let below = try await client.postRaw("/v1/completions", #"{"prompt": "Hi", "max_tokens": 1, "seed": -9223372036854775809}"#)
            XCTAssertEqual(below.status, .badRequest, below.text)
            let lowest = try await client.postRaw("/v1/completions", #"{"prompt": "Hi", "max_tokens": 1, "seed": -9223372036854775808}"#)
            XCTAssertEqual(lowest.status, .ok, lowest.text)
            // Stop strings and request ids are limited in characters, as JSON Schema counts them.
            try await expect(["stop": String(repeating: "é", count: 40000)], .ok)
            try await expect(["stop": [String(repeating: "é", count: 40000), String(repeating: "é", count: 30000)]], .badRequest, "stop")
            try await expect(["request_id": String(repeating: "é", count: 256)], .ok)
            try await expect(["request_id": String(repeating: "é", count: 257)], .badRequest, "request_id")
            // max_tokens must fit the context even when max_completion_tokens decides the length.
            let chat = try await client.post(
                "/v1/chat/completions", ["messages": [["role": "user", "content": "Hi"]], "max_completion_tokens": 1, "max_tokens": 600])
            XCTAssertEqual(chat.status, .badRequest, chat.text)
            XCTAssertEqual(chat.error["param"] as? String, "max_tokens")
            // /tokenize checks tools and chat_template_kwargs even for a plain prompt.
            let tokenize = try await client.post("/tokenize", ["prompt": "Hi", "tools": [NSNull()]])
            XCTAssertEqual(tokenize.status, .badRequest, tokenize.text)
            XCTAssertEqual(tokenize.error["param"] as? String, "tools")
        }
    }
}
