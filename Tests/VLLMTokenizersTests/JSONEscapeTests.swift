import Foundation
import Testing

@testable import VLLMTokenizers

/// Both JSON readers (tokenizer.json and the chat templates' order-preserving one) decode string
/// escapes through `JSONEscape`: surrogate pairs combine, lone surrogates become U+FFFD, and bad
/// escapes are errors that each reader names in its own words. The writers escape through it too.
@Suite struct JSONEscapeTests {
    static let cases: [(json: String, text: String)] = [
        (#""a\"b\\c\/d\b\f\n\r\t""#, "a\"b\\c/d\u{8}\u{C}\n\r\t"),
        (#""\u00e9\u4e2d""#, "é中"),
        (#""\ud83d\ude00!""#, "😀!"),
        (#""\ud83d!""#, "\u{FFFD}!"),
        (#""\ude00""#, "\u{FFFD}"),
        (#""\ud83d\u0041""#, "\u{FFFD}A"),
    ]

    static func tokenizerReader(_ json: String) throws -> String? {
        try JSONParser.parse(Data(json.utf8)).stringValue
    }

    static func templateReader(_ json: String) throws -> String? {
        try JinjaJSONParser.parse(json).stringValue
    }

    @Test func bothReadersDecodeTheSameEscapes() throws {
        for (json, text) in Self.cases {
            #expect(try Self.tokenizerReader(json) == text, "\(json)")
            #expect(try Self.templateReader(json) == text, "\(json)")
        }
    }

    @Test func badEscapesAreErrors() {
        for json in [#""\x""#, #""\u12""#, #""\u12g4""#, #""\ud83d\uzzzz""#] {
            #expect(throws: (any Error).self, "\(json)") { try Self.tokenizerReader(json) }
            #expect(throws: (any Error).self, "\(json)") { try Self.templateReader(json) }
        }
    }

    @Test func writerEscapesControlsAndWhatTheCallerPicks() throws {
        let text = "a\"b\\c\u{8}\u{C}\n\r\t\u{1}\u{7F}é😀"
        #expect(JSONEscape.quoted(text) == #""a\"b\\c\b\f\n\r\t\u0001\#u{7F}é😀""#)
        #expect(
            JSONEscape.quoted(text, alsoEscaping: { $0.value > 0x7E })
                == #""a\"b\\c\b\f\n\r\t\u0001\u007f\u00e9\ud83d\ude00""#)
        #expect(try Self.tokenizerReader(JSONEscape.quoted(text, alsoEscaping: { $0.value > 0x7E })) == text)
    }
}
