import Foundation
import Testing

@testable import VLLMToolParsers

/// A long answer streamed in small deltas stays cheap: each delta costs about the same however
/// much text came before it.
@Suite struct StreamCostTests {
    @Test(arguments: ToolCallParser.names)
    func longPlainAnswer(_ name: String) throws {
        var stream = try ToolCallParser(named: name).makeStream()
        let word = "token "
        let start = Date()
        var sent = ""
        for _ in 0..<4000 { sent += stream.feed(word).content }
        sent += stream.finish().content
        let seconds = Date().timeIntervalSince(start)
        #expect(sent.count == 4000 * word.count)
        print("\(name): 4000 deltas in \(seconds) s")
        #expect(seconds < 10, "quadratic re-reading took 15-30 s here in a debug build; settled streaming takes under 1 s")
    }
}

/// A long call (a file written through a tool) streamed in small deltas: the open block is read
/// again at each delta until it closes, which must stay affordable at this size.
@Suite struct LongCallStreamCostTests {
    @Test func longHermesCall() throws {
        var stream = try ToolCallParser(named: "hermes", ids: indexIDs).makeStream()
        let body = String(repeating: "let x = 1\\n", count: 1600)
        let output = "<tool_call>{\"name\": \"write_file\", \"arguments\": {\"text\": \"" + body + "\"}}</tool_call>"
        let start = Date()
        var calls: [ToolCallDelta] = []
        var index = output.startIndex
        while index < output.endIndex {
            let end = output.index(index, offsetBy: 4, limitedBy: output.endIndex) ?? output.endIndex
            calls += stream.feed(String(output[index..<end])).toolCalls
            index = end
        }
        calls += stream.finish().toolCalls
        let seconds = Date().timeIntervalSince(start)
        print("hermes: \(output.count) characters of call in 4-character deltas: \(seconds) s")
        #expect(calls.first?.name == "write_file")
        #expect(calls.map(\.arguments).joined() == "{\"text\": \"" + body + "\"}")
        #expect(calls.count > 1000, "the text streams as it comes")
        #expect(seconds < 10)
    }
}
