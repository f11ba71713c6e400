import Foundation
import Testing
import VLLMTokenizers

@testable import VLLMStructuredOutputs

/// A vocabulary of every single byte (ids 0-255), a few multi-byte tokens, and a stop token.
private let byteVocabulary: TokenVocabulary = {
    var tokens: [[UInt8]?] = (0..<256).map { [UInt8($0)] }
    for word in ["true", "null", "\",", "\"}", "{\"", "12", "ab", "cat", "dog", " and"] { tokens.append(Array(word.utf8)) }
    tokens.append(nil)
    return TokenVocabulary(tokenBytes: tokens, stopTokenIDs: [tokens.count - 1])
}()

private func matcher(_ spec: StructuredOutputSpec) throws -> GrammarMatcher {
    GrammarMatcher(grammar: try CompiledGrammar(try spec.grammar(), vocabulary: byteVocabulary))
}

/// Whether the whole text is a sentence of the grammar.
private func accepts(_ spec: StructuredOutputSpec, _ text: String) throws -> Bool {
    var m = try matcher(spec)
    return m.acceptString(text) && m.canEnd
}

@Suite struct GrammarEngineTests {
    @Test func choiceAcceptsExactlyItsOptions() throws {
        let spec = StructuredOutputSpec.choice(["cat", "dog", "cats"])
        for s in ["cat", "dog", "cats"] { #expect(try accepts(spec, s)) }
        for s in ["ca", "do", "catss", "bird", ""] { #expect(try !accepts(spec, s)) }
        var m = try matcher(spec)
        let first = allowedIDs(m.nextTokenBitmask(), size: byteVocabulary.size)
        _ = m
        #expect(first == [Int(UInt8(ascii: "c")), Int(UInt8(ascii: "d")), 256 + 7, 256 + 8])
    }

    @Test func regexMatchesWholeStrings() throws {
        let phone = StructuredOutputSpec.regex(#"\(\d{3}\) \d{3}-\d{4}"#)
        #expect(try accepts(phone, "(555) 123-4567"))
        #expect(try !accepts(phone, "(555) 123-456"))
        #expect(try !accepts(phone, "555 123-4567"))
        let words = StructuredOutputSpec.regex("(cat|dog)s?( and (cat|dog))*")
        #expect(try accepts(words, "cats and dog and cat"))
        #expect(try !accepts(words, "cats and"))
        let unicode = StructuredOutputSpec.regex("[^a-z]é{2}")
        #expect(try accepts(unicode, "Xéé"))
        #expect(try accepts(unicode, "жéé"))
        #expect(try !accepts(unicode, "xéé"))
    }

    @Test func integerRangesAreExact() throws {
        let spec = StructuredOutputSpec.jsonSchema(#"{"type":"integer","minimum":-25,"maximum":1234}"#)
        let grammar = try CompiledGrammar(try spec.grammar(), vocabulary: byteVocabulary)
        for n in -40...1300 {
            var m = GrammarMatcher(grammar: grammar)
            let ok = m.acceptString(String(n)) && m.canEnd
            #expect(ok == (-25...1234).contains(n), "\(n)")
        }
        #expect(try !accepts(spec, "007"))
        #expect(try !accepts(spec, "-0"))
        let open = StructuredOutputSpec.jsonSchema(#"{"type":"integer","exclusiveMinimum":99}"#)
        #expect(try accepts(open, "100") && accepts(open, "123456789"))
        #expect(try !accepts(open, "99") || accepts(open, "-1"))
    }

    @Test func objectPropertiesFollowSchemaOrderAndRequired() throws {
        let spec = StructuredOutputSpec.jsonSchema(
            #"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"},"c":{"type":"boolean"}},"required":["b"]}"#)
        #expect(try accepts(spec, #"{"b":1}"#))
        #expect(try accepts(spec, #"{ "a" : "x\"y" ,"b":2, "c":true }"#))
        #expect(try !accepts(spec, #"{"a":"x"}"#))
        #expect(try !accepts(spec, #"{"b":1,"a":"x"}"#))
        #expect(try !accepts(spec, #"{"b":1,"d":1}"#))
        #expect(try !accepts(spec, #"{"b":1,}"#))
    }

    @Test func refsArraysAndAnyOf() throws {
        let tree = StructuredOutputSpec.jsonSchema(
            ##"{"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/n"},"maxItems":2}},"required":["v","kids"]}},"$ref":"#/$defs/n"}"##
        )
        #expect(try accepts(tree, #"{"v":1,"kids":[{"v":2,"kids":[]},{"v":3,"kids":[{"v":4,"kids":[]}]}]}"#))
        #expect(try !accepts(tree, #"{"v":1,"kids":[{"v":2,"kids":[]},{"v":3,"kids":[]},{"v":5,"kids":[]}]}"#))
        let either = StructuredOutputSpec.jsonSchema(
            #"{"anyOf":[{"type":"null"},{"type":"array","items":{"type":"number"},"minItems":2}]}"#)
        #expect(try accepts(either, "null") && accepts(either, "[1.5e3, -0.25]"))
        #expect(try !accepts(either, "[1]"))
    }

    @Test func ebnfGrammars() throws {
        let arith = StructuredOutputSpec.grammar(
            """
            root ::= expr
            expr ::= term (("+" | "-") term)*
            term ::= [0-9]+ | "(" expr ")"
            """)
        #expect(try accepts(arith, "1+(23-4)+5"))
        #expect(try !accepts(arith, "1+"))
        #expect(try !accepts(arith, "(1"))
        #expect(throws: StructuredOutputError.self) {
            try StructuredOutputSpec.grammar("root ::= root \"a\" | \"b\"").grammar().compiledForTest()
        }
        do {
            _ = try StructuredOutputSpec.grammar("root ::= x").grammar()
            Issue.record("undefined rule accepted")
        } catch let e as StructuredOutputError {
            #expect(e.message.contains("x is used but not defined"))
        }
    }

    @Test func unsupportedFeaturesAreNamed() throws {
        for (schema, feature) in [
            (#"{"type":"string","format":"idn-email"}"#, "format idn-email"), (#"{"not":{"type":"string"}}"#, "not"),
            (#"{"type":"array","uniqueItems":true}"#, "uniqueItems"), (#"{"type":"number","minimum":1.5}"#, "minimum on a number"),
        ] {
            do {
                _ = try StructuredOutputSpec.jsonSchema(schema).grammar()
                Issue.record("\(schema) compiled")
            } catch let e as StructuredOutputError {
                #expect(e.message.contains(feature), "\(e.message)")
            }
        }
        #expect(throws: StructuredOutputError.self) { try StructuredOutputSpec.jsonSchema("{not json").grammar() }
    }

    @Test func stopTokenOnlyAtTheEndAndRejectedTokensChangeNothing() throws {
        var m = try matcher(.choice(["ab"]))
        let stop = byteVocabulary.size - 1
        let a = Int(UInt8(ascii: "a")), b = Int(UInt8(ascii: "b"))
        let atStart = allowedIDs(m.nextTokenBitmask(), size: byteVocabulary.size)
        #expect(atStart == [a, 256 + 6])
        let results = [m.acceptToken(stop), m.acceptToken(b), m.acceptToken(a), m.acceptToken(b)]
        #expect(results == [false, false, true, true])
        let atEnd = allowedIDs(m.nextTokenBitmask(), size: byteVocabulary.size)
        #expect(atEnd == [stop])
        let stopped = m.acceptToken(stop)
        #expect(stopped && m.isTerminated)
        let afterStop = allowedIDs(m.nextTokenBitmask(), size: byteVocabulary.size)
        #expect(afterStop.isEmpty)
    }

    @Test func randomWalksOverTheFixtureVocabularyGiveParsableJSON() throws {
        let fixture = XGrammarFixture.shared
        let compiler = GrammarCompiler(vocabulary: fixture.vocabulary, threads: 2)
        var rng = SystemRandomNumberGenerator()
        var finished = 0
        for name in ["person", "nested", "openai_strict", "recursive_tree", "json_object", "unicode_keys"] {
            let grammar = try compiler.compile(XGrammarFixture.cases[name]!)
            #expect(try compiler.compile(XGrammarFixture.cases[name]!) === grammar)
            for _ in 0..<5 {
                var m = GrammarMatcher(grammar: grammar)
                var bytes: [UInt8] = []
                for _ in 0..<400 where !m.isTerminated {
                    let allowed = Array(allowedIDs(m.nextTokenBitmask(), size: fixture.vocabulary.size))
                    try #require(!allowed.isEmpty, "\(name): dead end after \(String(decoding: bytes, as: UTF8.self))")
                    let stops = allowed.filter { fixture.vocabulary.stopTokenIDs.contains(Int32($0)) }
                    let short = allowed.filter {
                        (fixture.vocabulary.bytes(of: $0)?.count ?? 9) == 1 && "\"}]".utf8.contains(fixture.vocabulary.bytes(of: $0)![0])
                    }
                    let id =
                        stops.first
                        ?? (short.isEmpty || Bool.random(using: &rng)
                            ? allowed.randomElement(using: &rng)! : short.randomElement(using: &rng)!)
                    let accepted = m.acceptToken(id)
                    #expect(accepted)
                    bytes += fixture.vocabulary.bytes(of: id) ?? []
                }
                guard m.isTerminated else { continue }
                finished += 1
                #expect((try? JSONParser.parse(Data(bytes))) != nil, "\(name): \(String(decoding: bytes, as: UTF8.self))")
            }
        }
        #expect(finished >= 15)
    }

    @Test func tokenBytesOfAByteLevelTokenizerRebuildTheText() throws {
        let folder = GrammarTestPaths.repoRoot.appendingPathComponent("Tests/VLLMTokenizersTests/Fixtures/tokenizers/tiny-llama3-bpe")
        let tokenizer = try Tokenizer.load(folder: folder)
        let text = "Hello {\"naïve\": [1, 2]}\n\tend"
        let ids = tokenizer.encode(text, addSpecialTokens: false)
        #expect(ids.flatMap { tokenizer.tokenBytes(forID: $0) ?? [] } == Array(text.utf8))
        let vocabulary = TokenVocabulary(tokenizer: tokenizer)
        #expect(vocabulary.size == tokenizer.vocabularySize)
    }
}

extension Grammar {
    /// Compiles against a one-byte vocabulary (for tests of compile-time errors).
    func compiledForTest() throws -> CompiledGrammar {
        try CompiledGrammar(self, vocabulary: TokenVocabulary(tokenBytes: [[0x61]], stopTokenIDs: []))
    }
}

@Suite struct GrammarLimitTests {
    @Test func hugeRepetitionsAreAnErrorNotAnAllocation() throws {
        for spec in [StructuredOutputSpec.regex("a{999999999}"), .jsonSchema(#"{"type":"string","maxLength":2000000000}"#)] {
            #expect(throws: StructuredOutputError.self) { try spec.grammar().compiledForTest() }
        }
    }
}
