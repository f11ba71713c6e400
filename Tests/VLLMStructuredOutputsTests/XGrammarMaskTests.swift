import Testing

@testable import VLLMStructuredOutputs

/// Our masks against xgrammar's, recorded on random paths (scripts/compare_grammar_masks.py).
@Suite struct XGrammarMaskTests {
    @Test func masksEqualXGrammarOnRecordedPaths() throws {
        let fixture = XGrammarFixture.shared
        let compiler = GrammarCompiler(vocabulary: fixture.vocabulary, threads: 2)
        var steps = 0
        for walk in fixture.walks {
            var matcher = GrammarMatcher(grammar: try compiler.compile(walk.spec))
            for (k, expected) in walk.masks.enumerated() {
                let ours = allowedIDs(matcher.nextTokenBitmask(), size: fixture.vocabulary.size)
                let theirs = allowedIDs(expected, size: fixture.vocabulary.size)
                // Known difference: xgrammar lets raw control characters (invalid JSON) into
                // length-limited strings; we leave them out. Anything else must be equal.
                let onlyTheirs = theirs.subtracting(ours)
                let controlOnly = onlyTheirs.allSatisfy { fixture.vocabulary.bytes(of: $0)?.contains { $0 < 0x20 } ?? false }
                #expect(
                    ours.isSubset(of: theirs) && controlOnly,
                    "\(walk.name) step \(k): only ours \(ours.subtracting(theirs).sorted().prefix(5)), only xgrammar \(onlyTheirs.sorted().prefix(5))"
                )
                steps += 1
                if k < walk.path.count {
                    let accepted = matcher.acceptToken(walk.path[k])
                    #expect(accepted, "\(walk.name) step \(k)")
                }
            }
        }
        #expect(fixture.walks.count >= 80 && steps >= 1000)
    }
}
