import Testing

@testable import VLLMToolParsers

/// What a stream sends and when: text goes out as soon as it cannot be part of a marker, a call
/// goes out as its header (index, id, name) and then its arguments, and bad input never crashes.
@Suite struct StreamingBehaviourTests {
    @Test func contentIsHeldOnlyWhileItCouldStartAMarker() throws {
        var stream = try ToolCallParser(named: "hermes", ids: indexIDs).makeStream()
        #expect(stream.feed("Hello <tool").content == "Hello ")
        #expect(stream.feed("box>").content == "<toolbox>")
        #expect(stream.feed("<tool_call>{\"name\": \"f\", ").isEmpty)
        let delta = stream.feed("\"arguments\": {\"a\": 1}}</tool_call>")
        #expect(
            delta.toolCalls == [
                ToolCallDelta(index: 0, id: "call_0", name: "f", arguments: ""),
                ToolCallDelta(index: 0, id: nil, name: nil, arguments: "{\"a\": 1}"),
            ])
        #expect(stream.feed(" bye").content == " bye")
        #expect(stream.finish().isEmpty)
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
                #expect(s.content == whole.content && s.calls == whole.toolCalls, "\(parserName): \(text)")
            }
        }
    }
}
