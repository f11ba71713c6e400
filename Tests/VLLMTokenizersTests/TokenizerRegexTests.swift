import Foundation
import Testing

@testable import VLLMTokenizers

/// The general regex path (NSRegularExpression, used for patterns we have no hand-written
/// splitter for) gives the same words as the hand-written GPT-2 and Llama-3/Qwen2 splitters.
/// Wrapping a pattern in `(?:...)` keeps its meaning but sends it down the general path.
@Suite("General regex path")
struct TokenizerRegexTests {
    static func texts() throws -> [String] {
        try Fixture.load("gpt2").cases.map { $0.text }
    }

    func compare(_ pattern: String, _ hand: PatternMatcher) throws {
        let general = try FoundationRegexMatcher(pattern: "(?:" + pattern + ")")
        for t in try Self.texts() + ["  \u{0B}x\u{85}y\u{A0}z \n\n\t a", "I'M A'S 'Ll"] {
            let bytes = Array(t.utf8)
            let a = hand.matches(in: bytes[...]).map { Array(bytes[$0]) }
            let b = general.matches(in: bytes[...]).map { Array(bytes[$0]) }
            #expect(a == b, "\(debugString(t))")
        }
    }

    @Test func gpt2() throws { try compare(RegexFactory.gpt2, GPT2Splitter()) }
    @Test func llama3() throws { try compare(RegexFactory.llama3, Llama3Splitter(maxDigits: 3)) }
    @Test func qwen2() throws { try compare(RegexFactory.qwen2, Llama3Splitter(maxDigits: 1)) }

    /// A whole tokenizer whose Split pattern is not one we recognise still encodes exactly.
    @Test func tokenizerWithUnknownPattern() throws {
        let fixture = try Fixture.load("tiny-llama3-bpe")
        let url = TestPaths.fixtures.appendingPathComponent("tiny-llama3-bpe/tokenizer.json")
        var text = try String(contentsOf: url, encoding: .utf8)
        let escaped = RegexFactory.llama3.replacingOccurrences(of: "\\", with: "\\\\")
        #expect(text.contains(escaped))
        text = text.replacingOccurrences(of: escaped, with: "(?:" + escaped + ")")
        let tok = try Tokenizer(tokenizerJSON: Data(text.utf8))
        for c in fixture.cases {
            #expect(tok.encode(c.text) == c.ids, "\(debugString(c.text))")
        }
    }
}
