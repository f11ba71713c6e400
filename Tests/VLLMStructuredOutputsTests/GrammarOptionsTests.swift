import Testing
import VLLMTokenizers

@testable import VLLMStructuredOutputs

/// A vocabulary of every single byte and a stop token (enough to spell any text).
private let bytes: TokenVocabulary = {
    var tokens: [[UInt8]?] = (0..<256).map { [UInt8($0)] }
    tokens.append(nil)
    return TokenVocabulary(tokenBytes: tokens, stopTokenIDs: [256])
}()

/// Whether the grammar `compiler` builds for `spec` takes the whole of `text`.
private func accepts(_ compiler: GrammarCompiler, _ spec: StructuredOutputSpec, _ text: String, anyWhitespace: Bool = true) throws -> Bool {
    var m = GrammarMatcher(grammar: try compiler.compile(spec, anyWhitespace: anyWhitespace))
    return m.acceptString(text) && m.canEnd
}

/// `GrammarOptions` (vLLM's `--structured-outputs-config` `disable_any_whitespace` and
/// `disable_additional_properties`) change which strings a compiled grammar accepts.
@Suite struct GrammarOptionsTests {
    let person = StructuredOutputSpec.jsonSchema(#"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}"#)

    @Test func disableAnyWhitespaceAllowsOnlyCompactJSON() throws {
        let plain = GrammarCompiler(vocabulary: bytes)
        let compact = GrammarCompiler(vocabulary: bytes, defaults: GrammarOptions(anyWhitespace: false))
        #expect(try accepts(plain, person, "{ \"a\" :\n 1 }"))
        #expect(try accepts(plain, person, #"{"a":1}"#))
        #expect(try !accepts(compact, person, "{ \"a\" :\n 1 }"))
        #expect(try !accepts(compact, person, #"{"a":1}"#))
        #expect(try accepts(compact, person, #"{"a": 1}"#))
        // A request cannot turn whitespace back on where the engine's options turn it off.
        #expect(try !accepts(compact, person, "{ \"a\": 1}", anyWhitespace: true))
        // A request's own disable_any_whitespace on a compiler without the option.
        #expect(try !accepts(plain, person, "{ \"a\": 1}", anyWhitespace: false))
        #expect(try accepts(plain, StructuredOutputSpec.jsonObject, "{ }"))
        #expect(try !accepts(compact, StructuredOutputSpec.jsonObject, "{ }"))
    }

    @Test func disableAdditionalPropertiesClosesObjectsThatListProperties() throws {
        let plain = GrammarCompiler(vocabulary: bytes)
        let closed = GrammarCompiler(vocabulary: bytes, defaults: GrammarOptions(disableAdditionalProperties: true))
        let emptyProperties = StructuredOutputSpec.jsonSchema(#"{"type":"object","properties":{}}"#)
        #expect(try accepts(plain, emptyProperties, #"{"x":1}"#))
        #expect(try accepts(plain, emptyProperties, "{}"))
        #expect(try !accepts(closed, emptyProperties, #"{"x":1}"#))
        #expect(try accepts(closed, emptyProperties, "{}"))
        // As vLLM's rewrite: a schema without `properties`, or one that allows more, stays open.
        let bare = StructuredOutputSpec.jsonSchema(#"{"type":"object"}"#)
        #expect(try accepts(closed, bare, #"{"x":1}"#))
        let open = StructuredOutputSpec.jsonSchema(#"{"type":"object","properties":{},"additionalProperties":true}"#)
        #expect(try accepts(closed, open, #"{"x":1}"#))
        // Listed properties are closed by default already (xgrammar's strict mode).
        #expect(try !accepts(plain, person, #"{"a":1,"b":2}"#))
    }

    @Test func theCacheKeepsGrammarsOfDifferentOptionsApart() throws {
        let compiler = GrammarCompiler(vocabulary: bytes)
        _ = try compiler.compile(person)
        _ = try compiler.compile(person, anyWhitespace: false)
        #expect(compiler.cachedCount == 2)
        #expect(try !accepts(compiler, person, "{ \"a\": 1}", anyWhitespace: false))
        #expect(try accepts(compiler, person, "{ \"a\": 1}"))
    }
}
