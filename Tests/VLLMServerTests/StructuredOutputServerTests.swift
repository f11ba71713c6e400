import Foundation
import HummingbirdTesting
import VLLMEngine
import XCTest

@testable import VLLMServer

/// `response_format` and `structured_outputs` through the server: whatever the model prefers, the
/// output follows the constraint.
final class StructuredOutputServerTests: XCTestCase {
    func testResponseFormatJSONSchemaAndStructuredOutputs() async throws {
        try await withServer { client, _ in
            let schema: [String: Any] = [
                "type": "object",
                "properties": [
                    "answer": ["type": "string", "enum": ["yes", "no"]], "n": ["type": "integer", "minimum": 0, "maximum": 9],
                ],
                "required": ["answer", "n"], "additionalProperties": false,
            ]
            let chat = try await client.post(
                "/v1/chat/completions",
                [
                    "messages": [["role": "user", "content": "Hi"]], "max_tokens": 200, "temperature": 0,
                    "response_format": ["type": "json_schema", "json_schema": ["name": "reply", "schema": schema, "strict": true]],
                ])
            XCTAssertEqual(chat.status, .ok, chat.text)
            let choice = (chat.json["choices"] as! [[String: Any]])[0]
            let content = (choice["message"] as! [String: Any])["content"] as! String
            if choice["finish_reason"] as? String == "stop" {
                let object = try JSONSerialization.jsonObject(with: Data(content.utf8)) as! [String: Any]
                XCTAssertTrue(["yes", "no"].contains(object["answer"] as! String))
                XCTAssertTrue((0...9).contains(object["n"] as! Int))
            } else {
                XCTAssertTrue(content.hasPrefix("{"), content)
            }

            let pick = try await client.post(
                "/v1/completions",
                ["prompt": "Once upon a time", "max_tokens": 20, "n": 3, "structured_outputs": ["choice": ["red", "green", "blue"]]])
            XCTAssertEqual(pick.status, .ok, pick.text)
            for c in pick.json["choices"] as! [[String: Any]] { XCTAssertTrue(["red", "green", "blue"].contains(c["text"] as! String)) }

            let regex = try await client.post(
                "/v1/completions",
                ["prompt": "Once", "max_tokens": 20, "temperature": 0, "structured_outputs": ["regex": "[0-9]{3}-[a-z]{2}"]])
            let text = (regex.json["choices"] as! [[String: Any]])[0]["text"] as! String
            XCTAssertNotNil(text.range(of: "^[0-9]{3}-[a-z]{2}$", options: .regularExpression), text)
        }
    }

    func testBadConstraintsAreA400NamingTheFeature() async throws {
        try await withServer { client, _ in
            let bad = try await client.post(
                "/v1/chat/completions",
                [
                    "messages": [["role": "user", "content": "Hi"]],
                    "response_format": [
                        "type": "json_schema", "json_schema": ["name": "x", "schema": ["type": "object", "not": ["type": "null"]]],
                    ],
                ])
            XCTAssertEqual(bad.status, .badRequest)
            XCTAssertEqual(bad.error["param"] as? String, "response_format")
            XCTAssertTrue((bad.error["message"] as? String ?? "").contains("not"), bad.text)
            let both = try await client.post(
                "/v1/completions", ["prompt": "Hi", "structured_outputs": ["regex": "a", "choice": ["b"]]])
            XCTAssertEqual(both.status, .badRequest)
        }
    }

    /// `structured_outputs.disable_any_whitespace` (vLLM's) makes a `response_format` schema
    /// compact JSON: with bounded values even sampled outputs of a random model finish.
    func testDisableAnyWhitespaceWritesCompactJSON() async throws {
        try await withServer { client, _ in
            let schema: [String: Any] = [
                "type": "object",
                "properties": [
                    "answer": ["type": "string", "enum": ["yes", "no"]], "n": ["type": "integer", "minimum": 0, "maximum": 9],
                ],
                "required": ["answer", "n"],
            ]
            let response = try await client.postSorted(
                "/v1/chat/completions",
                [
                    "messages": [["role": "user", "content": "Hi"]], "max_tokens": 60, "n": 4, "temperature": 1,
                    "response_format": ["type": "json_schema", "json_schema": ["name": "reply", "schema": schema]],
                    "structured_outputs": ["disable_any_whitespace": true],
                ])
            XCTAssertEqual(response.status, .ok, response.text)
            for choice in response.json["choices"] as! [[String: Any]] {
                let content = (choice["message"] as! [String: Any])["content"] as! String
                XCTAssertEqual(choice["finish_reason"] as? String, "stop", content)
                XCTAssertNotNil(content.range(of: #"^\{"answer": "(yes|no)", "n": [0-9]\}$"#, options: .regularExpression), content)
            }
            let bad = try await client.post(
                "/v1/chat/completions",
                ["messages": [["role": "user", "content": "Hi"]], "structured_outputs": ["disable_any_whitespace": "yes"]])
            XCTAssertEqual(bad.status, .badRequest)
        }
    }

    /// `--structured-outputs-config` reaches every request: with `disable_any_whitespace` a schema
    /// without the request's own flag is compact, and with `disable_additional_properties` an
    /// object whose `properties` is empty can only be `{}` (sampled from a random model, which
    /// would otherwise write members).
    func testStructuredOutputsConfigAppliesToRequests() async throws {
        let config = try StructuredOutputsConfig(
            json: #"{"backend": "auto", "disable_any_whitespace": true, "disable_additional_properties": true}"#)
        let useConfig: (inout EngineArgs) -> Void = { $0.structuredOutputs = config }
        try await withServer(configure: useConfig) { client, _ in
            let schema: [String: Any] = [
                "type": "object",
                "properties": ["answer": ["type": "string", "enum": ["yes", "no"]], "more": ["type": "object", "properties": [:]]],
                "required": ["answer", "more"],
            ]
            let response = try await client.postSorted(
                "/v1/completions",
                [
                    "prompt": "Once upon a time", "max_tokens": 60, "n": 4, "temperature": 1,
                    "response_format": ["type": "json_schema", "json_schema": ["name": "reply", "schema": schema]],
                ])
            XCTAssertEqual(response.status, .ok, response.text)
            for choice in response.json["choices"] as! [[String: Any]] {
                let text = choice["text"] as! String
                XCTAssertEqual(choice["finish_reason"] as? String, "stop", text)
                XCTAssertNotNil(text.range(of: #"^\{"answer": "(yes|no)", "more": \{\}\}$"#, options: .regularExpression), text)
            }
        }
    }
}
