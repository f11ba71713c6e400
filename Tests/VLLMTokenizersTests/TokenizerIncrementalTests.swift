import Foundation
import Testing
import VLLMTestSupport

@testable import VLLMTokenizers

@Suite("Incremental detokenizer")
struct IncrementalDetokenizerTests {
    /// Streaming every fixture's ids one at a time gives exactly `decode(ids)`, for both
    /// settings of skipSpecialTokens, and never emits U+FFFD that the full text does not have.
    @Test(arguments: fixtureNames)
    func deltasConcatenateToDecode(name: String) throws {
        let fixture = try Fixture.load(name)
        let tok = try TokenizerCache.shared.get(TestPaths.folder(forFixture: fixture.folder))
        let sequences = fixture.cases.map { $0.ids } + fixture.decode_only.map { $0.ids }
        var failures: [String] = []
        for ids in sequences {
            for skip in [false, true] {
                var detok = IncrementalDetokenizer(tokenizer: tok, skipSpecialTokens: skip)
                var joined = ""
                var sawReplacement = false
                for id in ids {
                    let d = detok.append(id)
                    if d.unicodeScalars.contains("\u{FFFD}") { sawReplacement = true }
                    joined += d
                }
                joined += detok.finish()
                let full = tok.decode(ids, skipSpecialTokens: skip)
                if !sameScalars(joined, full) || !sameScalars(detok.text, full) {
                    failures.append("skip=\(skip) \(ids):\n got \(debugString(joined))\n want \(debugString(full))")
                }
                if sawReplacement && !full.unicodeScalars.contains("\u{FFFD}") {
                    failures.append("U+FFFD emitted mid-stream for \(ids)")
                }
            }
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) failures, first: \(failures.prefix(2).joined(separator: "\n"))")
    }

    /// A character split over byte-level tokens (GPT-2) or byte-fallback tokens (Llama-2) is
    /// held back until complete.
    @Test(arguments: ["gpt2", "llama2"])
    func splitCharactersAreHeldBack(folder: String) throws {
        let tok = try TokenizerCache.shared.get(TestPaths.data("tokenizers/\(folder)"))
        let ids = tok.encode("a 😀 b 𝔘", addSpecialTokens: false)
        var detok = IncrementalDetokenizer(tokenizer: tok, skipSpecialTokens: true)
        var deltas: [String] = []
        for id in ids { deltas.append(detok.append(id)) }
        deltas.append(detok.finish())
        #expect(ids.count > 5)  // the emoji really is split over several tokens
        #expect(!deltas.contains { $0.unicodeScalars.contains("\u{FFFD}") })
        #expect(deltas.contains { $0.contains("😀") })
        #expect(detok.text == tok.decode(ids, skipSpecialTokens: true))
    }

    /// With prompt context, the first generated SentencePiece token keeps its leading space.
    @Test func promptContextKeepsLeadingSpace() throws {
        let tok = try TokenizerCache.shared.get(TestPaths.data("tokenizers/llama2"))
        let prompt = tok.encode("Hello")
        let generated = tok.encode("world, again", addSpecialTokens: false)
        var detok = IncrementalDetokenizer(tokenizer: tok, skipSpecialTokens: true, promptTokenIDs: prompt)
        var text = ""
        for id in generated { text += detok.append(id) }
        text += detok.finish()
        #expect(text == " world, again")

        var bare = IncrementalDetokenizer(tokenizer: tok, skipSpecialTokens: true)
        #expect(bare.append(contentsOf: generated) + bare.finish() == "world, again")
    }

    @Test func longStreamStaysExact() throws {
        let tok = try TokenizerCache.shared.get(TestPaths.data("tokenizers/mistral-7b-v0.3"))
        let text = try String(contentsOf: TestPaths.data("corpus/tinyshakespeare-excerpt.txt"), encoding: .utf8)
        let ids = tok.encode(String(text.prefix(20000)), addSpecialTokens: false)
        var detok = IncrementalDetokenizer(tokenizer: tok, skipSpecialTokens: false)
        for id in ids { _ = detok.append(id) }
        _ = detok.finish()
        #expect(sameScalars(detok.text, tok.decode(ids)))
    }
}
