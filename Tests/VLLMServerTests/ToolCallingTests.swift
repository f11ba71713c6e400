import Foundation
import HummingbirdTesting
import XCTest

@testable import VLLMServer

/// The chat template of the tool tests: the tools' names, each message with its calls and the id
/// a tool message answers, and a closed think block when `enable_thinking` is false.
func toolTemplate() throws -> String {
    let url = Bundle.module.url(forResource: "Fixtures/tool_chat", withExtension: "jinja")!
    return try String(contentsOf: url, encoding: .utf8)
}

/// Options for a server on the tool template, with `configure` applied.
func toolServerOptions(_ configure: (inout ServerOptions) -> Void = { _ in }) throws -> ServerOptions {
    var options = ServerOptions()
    options.chatTemplate = try toolTemplate()
    configure(&options)
    return options
}

/// Two tools whose arguments are bounded (enums, small integer ranges), so that even a random
/// model's constrained output finishes.
nonisolated(unsafe) let weatherTools: [[String: Any]] = [
    [
        "type": "function",
        "function": [
            "name": "get_weather", "description": "Weather forecast",
            "parameters": [
                "type": "object",
                "properties": [
                    "city": ["type": "string", "enum": ["Paris", "Tokyo", "Lima"]],
                    "days": ["type": "integer", "minimum": 1, "maximum": 7],
                ],
                "required": ["city", "days"],
            ],
        ],
    ],
    [
        "type": "function",
        "function": [
            "name": "get_time",
            "parameters": ["type": "object", "properties": ["zone": ["type": "string", "enum": ["UTC", "CET"]]], "required": ["zone"]],
        ],
    ],
]

/// Checks that `arguments` (JSON text) fits the parameters of tool `name` of `weatherTools`.
func checkArguments(_ name: String, _ arguments: String, file: StaticString = #filePath, line: UInt = #line) {
    guard let object = try? JSONSerialization.jsonObject(with: Data(arguments.utf8)) as? [String: Any] else {
        return XCTFail("arguments are not a JSON object: \(arguments)", file: file, line: line)
    }
    switch name {
    case "get_weather":
        XCTAssertTrue(["Paris", "Tokyo", "Lima"].contains(object["city"] as? String ?? ""), arguments, file: file, line: line)
        XCTAssertTrue((1...7).contains(object["days"] as? Int ?? 0), arguments, file: file, line: line)
        XCTAssertEqual(object.count, 2, arguments, file: file, line: line)
    case "get_time":
        XCTAssertTrue(["UTC", "CET"].contains(object["zone"] as? String ?? ""), arguments, file: file, line: line)
    default:
        XCTFail("unknown tool \(name)", file: file, line: line)
    }
}

/// A chat request body asking about the weather with the tools.
func toolRequest(_ extra: [String: Any]) -> [String: Any] {
    var body: [String: Any] = ["messages": [["role": "user", "content": "Weather in Paris?"]], "tools": weatherTools, "max_tokens": 120]
    for (key, value) in extra { body[key] = value }
    return body
}

extension TestClientProtocol {
    /// POSTs `json` serialised with sorted keys, so that two requests list schema properties alike.
    func postSorted(_ uri: String, _ json: [String: Any]) async throws -> TestResponse {
        let data = try JSONSerialization.data(withJSONObject: json, options: .sortedKeys)
        return try await postRaw(uri, String(decoding: data, as: UTF8.self))
    }
}

extension TestResponse {
    /// The choices of a chat response.
    var choices: [[String: Any]] { json["choices"] as? [[String: Any]] ?? [] }

    /// The first choice (empty when there is none, so that a failing test fails rather than traps).
    var choice0: [String: Any] { choices.first ?? [:] }
}

/// A choice's message.
func messageOf(_ choice: [String: Any]) -> [String: Any] { choice["message"] as? [String: Any] ?? [:] }

/// A message's calls as (name, arguments), checking their id and type.
func calls(_ message: [String: Any], file: StaticString = #filePath, line: UInt = #line) -> [(name: String, arguments: String)] {
    (message["tool_calls"] as? [[String: Any]] ?? []).map { call in
        XCTAssertTrue((call["id"] as? String ?? "").hasPrefix("chatcmpl-tool-"), "\(call)", file: file, line: line)
        XCTAssertEqual(call["type"] as? String, "function", file: file, line: line)
        let function = call["function"] as? [String: Any] ?? [:]
        return (function["name"] as? String ?? "", function["arguments"] as? String ?? "")
    }
}

/// What the chunks of a streamed chat response add up to, for choice 0: content, reasoning, the
/// calls (index -> name, arguments; each call's id, type and name only on its first piece), and
/// the finish reason.
struct StreamedChoice {
    var content = ""
    var reasoning = ""
    var calls: [Int: (name: String, arguments: String)] = [:]
    var finishReason: String?

    init(_ events: [String], file: StaticString = #filePath, line: UInt = #line) {
        for event in events where event != "[DONE]" {
            for choice in jsonObject(event)["choices"] as? [[String: Any]] ?? [] {
                if let reason = choice["finish_reason"] as? String { finishReason = reason }
                let delta = choice["delta"] as? [String: Any] ?? [:]
                content += delta["content"] as? String ?? ""
                reasoning += delta["reasoning_content"] as? String ?? ""
                XCTAssertEqual(delta["reasoning_content"] as? String, delta["reasoning"] as? String, file: file, line: line)
                for piece in delta["tool_calls"] as? [[String: Any]] ?? [] {
                    let index = piece["index"] as! Int
                    let function = piece["function"] as? [String: Any] ?? [:]
                    if let name = function["name"] as? String {
                        XCTAssertNil(calls[index], "a call's name comes once", file: file, line: line)
                        XCTAssertTrue((piece["id"] as? String ?? "").hasPrefix("chatcmpl-tool-"), file: file, line: line)
                        XCTAssertEqual(piece["type"] as? String, "function", file: file, line: line)
                        calls[index] = (name, "")
                    } else {
                        XCTAssertNil(piece["id"], file: file, line: line)
                    }
                    calls[index]?.arguments += function["arguments"] as? String ?? ""
                }
            }
        }
    }

    /// The calls in index order.
    var orderedCalls: [(name: String, arguments: String)] { calls.keys.sorted().map { calls[$0]! } }
}

final class ToolCallingTests: XCTestCase {
    func testNamedToolChoiceAlwaysGivesTheFunctionsArguments() async throws {
        try await withServer(options: try toolServerOptions()) { client, _ in
            let named: [String: Any] = ["type": "function", "function": ["name": "get_weather"]]
            let response = try await client.post("/v1/chat/completions", toolRequest(["tool_choice": named, "n": 6, "temperature": 1]))
            XCTAssertEqual(response.status, .ok, response.text)
            XCTAssertEqual(response.choices.count, 6)
            for choice in response.choices {
                let message = messageOf(choice)
                XCTAssertTrue(message["content"] is NSNull, "\(message)")
                let made = calls(message)
                XCTAssertEqual(made.map(\.name), ["get_weather"], "\(message)")
                for call in made { checkArguments(call.name, call.arguments) }
                XCTAssertEqual(choice["finish_reason"] as? String, "stop")
            }
        }
    }

    /// Beam search follows the named function's grammar too: every beam is a call that fits.
    func testNamedToolChoiceWithBeamSearch() async throws {
        try await withServer(options: try toolServerOptions()) { client, _ in
            let named: [String: Any] = ["type": "function", "function": ["name": "get_weather"]]
            let response = try await client.post(
                "/v1/chat/completions", toolRequest(["tool_choice": named, "n": 2, "use_beam_search": true, "max_tokens": 60]))
            XCTAssertEqual(response.status, .ok, response.text)
            XCTAssertEqual(response.choices.count, 2)
            for choice in response.choices where choice["finish_reason"] as? String == "stop" {
                let made = calls(messageOf(choice))
                XCTAssertEqual(made.map(\.name), ["get_weather"], "\(choice)")
                for call in made { checkArguments(call.name, call.arguments) }
            }
            XCTAssertTrue(response.choices.contains { $0["finish_reason"] as? String == "stop" }, "\(response.choices)")
        }
    }

    func testRequiredToolChoiceAlwaysGivesCallsOfTheTools() async throws {
        try await withServer(options: try toolServerOptions()) { client, _ in
            // One call per response bounds the list, so every sample finishes within max_tokens.
            let response = try await client.post(
                "/v1/chat/completions", toolRequest(["tool_choice": "required", "n": 6, "temperature": 1, "parallel_tool_calls": false]))
            XCTAssertEqual(response.status, .ok, response.text)
            for choice in response.choices {
                let made = calls(messageOf(choice))
                XCTAssertEqual(made.count, 1, "\(choice)")
                for call in made { checkArguments(call.name, call.arguments) }
                XCTAssertEqual(choice["finish_reason"] as? String, "tool_calls")
                XCTAssertTrue(messageOf(choice)["content"] is NSNull)
            }
            // Parallel calls: the list may go on until max_tokens; a list cut short is no calls,
            // its text is the content and the finish reason says so.
            let parallel = try await client.post(
                "/v1/chat/completions", toolRequest(["tool_choice": "required", "temperature": 0, "max_tokens": 40]))
            let choice = parallel.choice0
            let content = messageOf(choice)["content"] as? String ?? ""
            if choice["finish_reason"] as? String == "tool_calls" {
                for call in calls(messageOf(choice)) { checkArguments(call.name, call.arguments) }
            } else {
                XCTAssertEqual(choice["finish_reason"] as? String, "length")
                XCTAssertTrue(content.hasPrefix(#"[{"name": "#), content)
                XCTAssertEqual((messageOf(choice)["tool_calls"] as? [Any])?.count, 0)
            }
        }
    }

    func testStreamedCallsAddUpToTheWholeResponse() async throws {
        try await withServer(options: try toolServerOptions()) { client, _ in
            let choices: [Any] = ["required", ["type": "function", "function": ["name": "get_time"]]]
            for choice in choices {
                let fields: [String: Any] = ["tool_choice": choice, "temperature": 0, "parallel_tool_calls": false]
                // Keys sorted: the schema's property order (the order arguments are written in) must
                // be the same in both requests.
                let whole = try await client.postSorted("/v1/chat/completions", toolRequest(fields))
                let stream = try await client.postSorted("/v1/chat/completions", toolRequest(fields.merging(["stream": true]) { $1 }))
                let streamed = StreamedChoice(stream.events)
                let expected = calls(messageOf(whole.choice0))
                XCTAssertFalse(expected.isEmpty)
                XCTAssertEqual(streamed.orderedCalls.map(\.name), expected.map(\.name))
                XCTAssertEqual(streamed.orderedCalls.map(\.arguments), expected.map(\.arguments))
                XCTAssertEqual(streamed.content, "")
                XCTAssertEqual(streamed.finishReason, whole.choice0["finish_reason"] as? String)
            }
        }
    }

    func testAutoToolChoiceParsesHermesCallsOutOfTheOutput() async throws {
        let options = try toolServerOptions {
            $0.enableAutoToolChoice = true
            $0.toolCallParser = "hermes"
        }
        try await withServer(options: options) { client, _ in
            // The regex makes the random model write a hermes call; the parser must find it.
            let regex =
                #"I will check\. <tool_call>\{"name": "get_weather", "arguments": \{"city": "(Paris|Lima)", "days": [1-7]\}\}</tool_call>"#
            let body = toolRequest(["temperature": 0, "structured_outputs": ["regex": regex]])
            let whole = try await client.post("/v1/chat/completions", body)
            XCTAssertEqual(whole.status, .ok, whole.text)
            let made = calls(messageOf(whole.choice0))
            XCTAssertEqual(made.map(\.name), ["get_weather"], whole.text)
            for call in made { checkArguments(call.name, call.arguments) }
            XCTAssertEqual(messageOf(whole.choice0)["content"] as? String, "I will check. ")
            XCTAssertEqual(whole.choice0["finish_reason"] as? String, "tool_calls")

            var streamBody = body
            streamBody["stream"] = true
            let streamed = StreamedChoice(try await client.post("/v1/chat/completions", streamBody).events)
            XCTAssertEqual(streamed.content, "I will check. ")
            XCTAssertEqual(streamed.orderedCalls.map(\.name), made.map(\.name))
            XCTAssertEqual(streamed.orderedCalls.map(\.arguments), made.map(\.arguments))
            XCTAssertEqual(streamed.finishReason, "tool_calls")

            // Plain text stays content; tool_choice none parses nothing.
            let plain = try await client.post("/v1/chat/completions", toolRequest(["temperature": 0, "max_tokens": 8]))
            XCTAssertEqual(plain.choice0["finish_reason"] as? String, "length")
            XCTAssertEqual((messageOf(plain.choice0)["tool_calls"] as? [Any])?.count, 0)
            XCTAssertFalse((messageOf(plain.choice0)["content"] as? String ?? "").isEmpty)
            let none = try await client.post(
                "/v1/chat/completions", toolRequest(["tool_choice": "none", "temperature": 0, "structured_outputs": ["regex": regex]]))
            XCTAssertEqual((messageOf(none.choice0)["tool_calls"] as? [Any])?.count, 0)
            XCTAssertTrue((messageOf(none.choice0)["content"] as? String ?? "").contains("<tool_call>"))
        }
    }

    func testTheTemplateSeesToolsCallsWithParsedArgumentsAndToolMessages() async throws {
        try await withServer(options: try toolServerOptions()) { client, _ in
            let messages: [[String: Any]] = [
                ["role": "user", "content": "Weather in Paris?"],
                [
                    "role": "assistant", "content": NSNull(),
                    "tool_calls": [
                        [
                            "id": "call_1", "type": "function",
                            "function": ["name": "get_weather", "arguments": #"{"city": "Paris", "days": 2}"#],
                        ]
                    ],
                ],
                ["role": "tool", "tool_call_id": "call_1", "content": "sunny"],
            ]
            let tokens = try await client.post("/tokenize", ["messages": messages, "tools": weatherTools])
            XCTAssertEqual(tokens.status, .ok, tokens.text)
            let text = try await client.post("/detokenize", ["tokens": tokens.json["tokens"] as! [Int]]).json["prompt"] as? String ?? ""
            XCTAssertTrue(
                text.contains(#"<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}</tool_call>"#), text)
            XCTAssertTrue(text.contains("tool: sunny (answers call_1)"), text)
            XCTAssertTrue(text.hasPrefix("tools: get_weather get_time\n"), text)

            var bad = messages
            bad[1]["tool_calls"] = [["id": "call_1", "type": "function", "function": ["name": "get_weather", "arguments": "{city"]]]
            let refused = try await client.post("/v1/chat/completions", ["messages": bad, "tools": weatherTools, "tool_choice": "none"])
            XCTAssertEqual(refused.status, .badRequest)
            XCTAssertEqual(refused.error["param"] as? String, "messages[1].tool_calls[0].function.arguments")
        }
    }

    func testToolChoiceErrorsAreClear400s() async throws {
        try await withServer(options: try toolServerOptions()) { client, _ in
            let hi: [[String: Any]] = [["role": "user", "content": "Hi"]]
            let cases: [([String: Any], String)] = [
                (["tool_choice": "required"], "`tools` must be set"),
                (["tool_choice": ["type": "function", "function": ["name": "get_weather"]]], "`tools` must be set"),
                (
                    ["tools": weatherTools, "tool_choice": ["type": "function", "function": ["name": "nope"]]],
                    "does not match any of the specified `tools`"
                ),
                (["tools": weatherTools, "tool_choice": ["type": "function"]], "Invalid value for `function`"),
                (["tools": weatherTools, "tool_choice": "sometimes"], "Invalid value for `tool_choice`"),
                (["tools": weatherTools], "--enable-auto-tool-choice"),
                (["tools": weatherTools, "tool_choice": "auto"], "--enable-auto-tool-choice"),
                (["tools": [["type": "function"]], "tool_choice": "none"], "tools[0]"),
                (["tools": weatherTools, "tool_choice": "required", "response_format": ["type": "json_object"]], "cannot be combined"),
                (["tools": weatherTools, "tool_choice": "required", "parallel_tool_calls": "yes"], "parallel_tool_calls"),
            ]
            for (fields, expected) in cases {
                var body: [String: Any] = ["messages": hi]
                for (key, value) in fields { body[key] = value }
                let response = try await client.post("/v1/chat/completions", body)
                XCTAssertEqual(response.status, .badRequest, "\(fields)")
                XCTAssertTrue((response.error["message"] as? String ?? "").contains(expected), "\(fields): \(response.text)")
            }
            // Required with an empty list is none (OpenAI's behaviour, as vLLM has it).
            let empty = try await client.post(
                "/v1/chat/completions", ["messages": hi, "tools": [Any](), "tool_choice": "required", "max_tokens": 3])
            XCTAssertEqual(empty.status, .ok, empty.text)
            // The server goes on serving.
            let after = try await client.post("/v1/chat/completions", ["messages": hi, "max_tokens": 3])
            XCTAssertEqual(after.status, .ok)
        }
    }

    func testUnknownParserNamesAreRefusedAtStart() async throws {
        try await withServer(options: try toolServerOptions()) { _, serving in
            var options = ServerOptions()
            options.toolCallParser = "hermes2"
            XCTAssertThrowsError(try OpenAIServing(engine: serving.engine, options: options)) { error in
                XCTAssertTrue("\(error)".contains("known parsers: hermes"), "\(error)")
            }
            options.toolCallParser = nil
            options.reasoningParser = "r1"
            XCTAssertThrowsError(try OpenAIServing(engine: serving.engine, options: options))
        }
    }
}
