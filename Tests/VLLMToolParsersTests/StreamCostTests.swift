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
