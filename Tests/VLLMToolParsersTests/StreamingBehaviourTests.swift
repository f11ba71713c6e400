import Testing

@testable import VLLMToolParsers

/// What a stream sends and when: text goes out as soon as it cannot be part of a marker, a call
/// goes out as its header (index, id, name) once the name is known, then its arguments as they
/// come, and bad input never crashes.
@Suite struct StreamingBehaviourTests {
    @Test func contentIsHeldOnlyWhileItCouldStartAMarker() throws {
        var stream = try ToolCallParser(named: "hermes", ids: indexIDs).makeStream()
        #expect(stream.feed("Hello <tool").content == "Hello ")
        #expect(stream.feed("box>").content == "<toolbox>")
        #expect(stream.feed("<tool_call>{\"name\": \"f").isEmpty)
        #expect(stream.feed("\", ").toolCalls == [ToolCallDelta(index: 0, id: "call_0", name: "f", arguments: "")])
        #expect(
            stream.feed("\"arguments\": {\"a\": 1").toolCalls == [ToolCallDelta(index: 0, id: nil, name: nil, arguments: "{")],
            "the object has opened; the number may go on")
        #expect(stream.feed(", \"b\": \"x").toolCalls == [ToolCallDelta(index: 0, id: nil, name: nil, arguments: "\"a\": 1, \"b\": \"x")])
        #expect(
            stream.feed("y\\u00").toolCalls == [ToolCallDelta(index: 0, id: nil, name: nil, arguments: "y")], "an escape is sent once whole"
        )
        #expect(stream.feed("e9\"}").toolCalls == [ToolCallDelta(index: 0, id: nil, name: nil, arguments: "é\"")])
        #expect(stream.feed("}</tool_call>").toolCalls == [ToolCallDelta(index: 0, id: nil, name: nil, arguments: "}")])
        #expect(stream.feed(" bye").content == " bye")
        #expect(stream.finish().isEmpty)
    }

    /// A call begun and then broken stays as sent, never closed; its text comes as content, as the
    /// whole parse has it, and the next call takes the next index.
    @Test func aBrokenCallStaysUnclosedAndItsTextIsContent() throws {
        let parser = try ToolCallParser(named: "hermes", ids: indexIDs)
        let broken = "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": oops}}</tool_call>"
        let good = "<tool_call>{\"name\": \"g\", \"arguments\": {}}</tool_call>"
        let s = streamed(parser.makeStream(), broken + good, cuts: Array(1..<(broken + good).count))
        #expect(s.content == broken)
        #expect(s.calls == [ToolCall(id: "call_0", name: "f", arguments: "{\"a\": 1"), ToolCall(id: "call_1", name: "g", arguments: "{}")])
        #expect(parser.parse(broken + good).toolCalls == [ToolCall(id: "call_0", name: "g", arguments: "{}")])
    }

    /// Each format's open call, cut after a few characters of a string argument.
    @Test func everyFormatStreamsAnOpenStringArgument() throws {
        let open = [
            "hermes": "<tool_call>{\"name\": \"f\", \"arguments\": {\"city\": \"Pa",
            "llama3_json": "{\"name\": \"f\", \"parameters\": {\"city\": \"Pa",
            "mistral": "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"city\": \"Pa",
            "qwen3_coder": "<tool_call>\n<function=f>\n<parameter=city>\nPa",
            "pythonic": "[f(city='Pa",
        ]
        for (name, text) in open {
            var stream = try ToolCallParser(named: name, ids: indexIDs).makeStream()
            let calls = stream.feed(text).toolCalls
            #expect(
                calls == [
                    ToolCallDelta(index: 0, id: "call_0", name: "f", arguments: ""),
                    ToolCallDelta(index: 0, id: nil, name: nil, arguments: "{\"city\": \"Pa"),
                ], "\(name)")
        }
        var v11 = try ToolCallParser(named: "mistral", ids: indexIDs).makeStream()
        #expect(v11.feed("[TOOL_CALLS]f[ARGS]{\"city\": \"Pa").toolCalls.last?.arguments == "{\"city\": \"Pa")
        var required = ToolCallParser.callList(ids: indexIDs).makeStream()
        #expect(required.feed("[{\"name\": \"f\", \"parameters\": {\"city\": \"Pa").toolCalls.last?.arguments == "{\"city\": \"Pa")
    }

    @Test func reasoningStreamsBeforeTheBlockCloses() throws {
        var stream = try ReasoningParser(named: "deepseek_r1").makeStream()
        #expect(stream.feed("First, ").reasoning == "First, ")
        #expect(stream.feed("add.</th").reasoning == "add.")
        let delta = stream.feed("ink>4")
        #expect(delta.reasoning.isEmpty && delta.content == "4")
    }

    @Test func llama3PlainAnswerStreamsAtOnce() throws {
        var stream = try ToolCallParser(named: "llama3_json").makeStream()
        #expect(stream.feed("The").content == "The")
    }

    @Test func unknownNamesAreErrors() {
        #expect(throws: ParserError.unknownParser("hermes2", known: ToolCallParser.names)) {
            try ToolCallParser(named: "hermes2")
        }
        #expect(throws: ParserError.self) { try ReasoningParser(named: "granite") }
    }

    /// Random garbage made of the formats' own marker pieces: no crash, and with no call found the
    /// whole text comes back as content.
    @Test func garbageNeverCrashesOrLosesText() throws {
        let pieces = [
            "<tool_call>", "</tool_call>", "{", "}", "[", "]", "\"", "\\", "name", ":", ",", ";", "(", ")",
            "=", "'", "[TOOL_CALLS]", "[ARGS]", "<|python_tag|>", "<function=", "<parameter=", "</parameter>", "</function>", ">", " ", "é",
        ]
        var rng = SplitMix(seed: 7)
        for parserName in ToolCallParser.names {
            let parser = try ToolCallParser(named: parserName, ids: indexIDs)
            for _ in 0..<150 {
                let text = (0..<Int(rng.next() % 14)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
                let whole = parser.parse(text)
                if whole.toolCalls.isEmpty { #expect(whole.content == text, "\(parserName): \(text)") }
                let s = streamed(parser.makeStream(), text, cuts: Array(1..<max(text.count, 1)))
                #expect(s.content == whole.content, "\(parserName): \(text)")
                #expect(
                    s.wholeCalls.map { [$0.name, $0.arguments] } == whole.toolCalls.map { [$0.name, $0.arguments] },
                    "\(parserName): \(text)")
            }
        }
    }
}
