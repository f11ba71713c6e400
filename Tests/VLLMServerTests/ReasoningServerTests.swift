import Foundation
import HummingbirdTesting
import VLLMToolParsers
import XCTest

@testable import VLLMServer

/// `--reasoning-parser` through the server, and the parsing of scripted outputs (what a model
/// that thinks and calls tools writes) into messages and stream deltas.
final class ReasoningServerTests: XCTestCase {
    /// deepseek_r1 reads output that never closes the block as all reasoning (R1's templates open
    /// it in the prompt): the built-in model's whole answer is `reasoning_content`, and a grammar
    /// waits for `</think>`, so it does not touch that text.
    func testReasoningIsSplitOffAndTheGrammarWaitsForTheEndOfThinking() async throws {
        let options = try toolServerOptions { $0.reasoningParser = "deepseek_r1" }
        try await withServer(options: options) { client, _ in
            let hi: [[String: Any]] = [["role": "user", "content": "Hello"]]
            let plain = try await client.post("/v1/chat/completions", ["messages": hi, "max_tokens": 12, "temperature": 0])
            let message = messageOf(plain.choice0)
            let reasoning = message["reasoning_content"] as? String ?? ""
            XCTAssertFalse(reasoning.isEmpty, plain.text)
            XCTAssertEqual(message["reasoning"] as? String, reasoning)
            XCTAssertTrue(message["content"] is NSNull, plain.text)

            let constrained = try await client.post(
                "/v1/chat/completions", ["messages": hi, "max_tokens": 12, "temperature": 0, "structured_outputs": ["regex": "[0-9]{3}"]])
            XCTAssertEqual(
                messageOf(constrained.choice0)["reasoning_content"] as? String, reasoning, "the grammar must not constrain thinking")

            let stream = try await client.post(
                "/v1/chat/completions", ["messages": hi, "max_tokens": 12, "temperature": 0, "stream": true])
            let streamed = StreamedChoice(stream.events)
            XCTAssertEqual(streamed.reasoning, reasoning)
            XCTAssertEqual(streamed.content, "")
        }
    }

    /// A prompt that closes the block (thinking off) leaves nothing to wait for: the grammar
    /// applies from the first token and the output is content.
    func testAPromptThatClosesThinkingConstrainsAtOnce() async throws {
        let options = try toolServerOptions { $0.reasoningParser = "deepseek_r1" }
        try await withServer(options: options) { client, _ in
            let response = try await client.post(
                "/v1/chat/completions",
                [
                    "messages": [["role": "user", "content": "Hello"]], "max_tokens": 12, "temperature": 0,
                    "chat_template_kwargs": ["enable_thinking": false], "structured_outputs": ["regex": "[0-9]{3}"],
                ])
            let message = messageOf(response.choice0)
            let content = message["content"] as? String ?? ""
            XCTAssertNotNil(content.range(of: "^[0-9]{3}$", options: .regularExpression), response.text)
            XCTAssertNil(message["reasoning_content"])
        }
    }

    /// Fixed ids, so that whole and streamed parses compare.
    static let ids = ToolCallIDs { "chatcmpl-tool-\($0)" }

    static func parsing(_ calls: ChatOutputParsing.Calls, reasoning: String? = "qwen3", parallel: Bool = true) throws -> ChatOutputParsing {
        ChatOutputParsing(reasoning: try reasoning.map { try ReasoningParser(named: $0) }, calls: calls, parallel: parallel, ids: ids)
    }

    /// Feeds `text` one character per delta and adds the deltas up.
    static func streamed(_ parsing: ChatOutputParsing, _ text: String) -> (message: ChatOutputParsing.Message, sentCalls: Bool) {
        var stream = parsing.makeStream()
        var total = OutputDelta()
        for character in text { total.append(stream.feed(String(character))) }
        total.append(stream.finish())
        var calls: [ToolCall] = []
        for piece in total.toolCalls {
            if let name = piece.name { calls.append(ToolCall(id: piece.id!, name: name, arguments: "")) }
            calls[piece.index].arguments += piece.arguments
        }
        let message = ChatOutputParsing.Message(
            reasoning: total.reasoning.isEmpty ? nil : total.reasoning, content: total.content.isEmpty ? nil : total.content,
            toolCalls: calls)
        return (message, stream.sentCalls)
    }

    func testScriptedReasoningAndHermesCallsWholeAndStreamed() throws {
        let parsing = try Self.parsing(.parser(try ToolCallParser(named: "hermes", ids: Self.ids)))
        let text =
            #"<think>The user wants weather.</think>Checking. <tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}</tool_call><tool_call>{"name": "get_time", "arguments": {"zone": "UTC"}}</tool_call>"#
        let whole = parsing.parse(text)
        XCTAssertEqual(whole.reasoning, "The user wants weather.")
        XCTAssertEqual(whole.content, "Checking. ")
        XCTAssertEqual(whole.toolCalls.map(\.name), ["get_weather", "get_time"])
        XCTAssertEqual(whole.toolCalls[0].arguments, #"{"city": "Paris", "days": 2}"#)
        let streamed = Self.streamed(parsing, text)
        XCTAssertEqual(streamed.message, whole)
        XCTAssertTrue(streamed.sentCalls)
        XCTAssertEqual(parsing.finishReason(.stop, madeCalls: true), "tool_calls")
        XCTAssertEqual(parsing.finishReason(.length, madeCalls: true), "length")

        let single = try Self.parsing(.parser(try ToolCallParser(named: "hermes", ids: Self.ids)), parallel: false)
        XCTAssertEqual(single.parse(text).toolCalls.map(\.name), ["get_weather"])
        XCTAssertEqual(Self.streamed(single, text).message.toolCalls.map(\.name), ["get_weather"])
    }

    func testScriptedRequiredAndNamedOutputs() throws {
        let required = try Self.parsing(.parser(.callList(ids: Self.ids)), reasoning: nil)
        let list =
            #"[{"name": "get_time", "parameters": {"zone": "CET"}}, {"name": "get_weather", "parameters": {"city": "Lima", "days": 7}}]"#
        let whole = required.parse(list)
        XCTAssertEqual(whole.toolCalls.map(\.name), ["get_time", "get_weather"])
        XCTAssertEqual(whole.toolCalls[1].arguments, #"{"city": "Lima", "days": 7}"#)
        XCTAssertNil(whole.content)
        XCTAssertEqual(Self.streamed(required, list).message, whole)
        // Cut short by max_tokens: not calls, the text is content.
        XCTAssertEqual(required.parse(String(list.prefix(30))).content, String(list.prefix(30)))

        let named = try Self.parsing(.named("get_weather"))
        let thought = #"<think>hmm</think>{"city": "Tokyo", "days": 1}"#
        let call = named.parse(thought)
        XCTAssertEqual(call.reasoning, "hmm")
        XCTAssertEqual(call.toolCalls, [ToolCall(id: "chatcmpl-tool-0", name: "get_weather", arguments: #"{"city": "Tokyo", "days": 1}"#)])
        XCTAssertNil(call.content)
        XCTAssertEqual(Self.streamed(named, thought).message, call)
        XCTAssertEqual(named.finishReason(.stop, madeCalls: true), "stop", "a named function finishes with stop, as OpenAI's")
    }

    func testWithoutParsersTheTextIsTheContent() throws {
        let parsing = try Self.parsing(.none, reasoning: nil)
        XCTAssertEqual(parsing.parse("<think>a</think>b"), ChatOutputParsing.Message(reasoning: nil, content: "<think>a</think>b"))
        XCTAssertEqual(parsing.parse(""), ChatOutputParsing.Message(reasoning: nil, content: ""))
        XCTAssertEqual(Self.streamed(parsing, "<think>a</think>b").message.content, "<think>a</think>b")
    }
}
