import Foundation
import Testing

@testable import VLLMTokenizers

/// Every fixture written by scripts/make_tokenizer_fixtures.py, compared id for id and scalar for
/// scalar with what Hugging Face `tokenizers` produced.
let fixtureNames = [
    "gpt2", "llama2", "mistral-7b-v0.3", "phi3-mini", "smollm2-135m", "stories260K",
    "tiny-bert-wordpiece", "tiny-unigram", "tiny-llama3-bpe", "tiny-qwen2-bpe", "tiny-added-tokens",
    "tiny-spm-unigram", "tiny-roberta-bpe", "tiny-wordlevel-splits", "tiny-bpe-suffix", "tiny-bpe-prefix",
]

@Suite("Tokenizer fixtures")
struct TokenizerFixtureTests {
    @Test("encode matches tokenizers", arguments: fixtureNames)
    func encode(name: String) throws {
        let fixture = try Fixture.load(name)
        let tok = try TokenizerCache.shared.get(TestPaths.folder(forFixture: fixture.folder))
        #expect(tok.vocabularySize == fixture.vocab_size)
        var failures: [String] = []
        for c in fixture.cases {
            let ids = tok.encode(c.text, addSpecialTokens: true)
            if ids != c.ids { failures.append("with special tokens: \(debugString(c.text))\n got \(ids)\n want \(c.ids)") }
            let plain = tok.encode(c.text, addSpecialTokens: false)
            if plain != c.idsNoSpecial { failures.append("without special tokens: \(debugString(c.text))") }
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) mismatches, first: \(failures.prefix(3).joined(separator: "\n"))")
    }

    @Test("decode matches tokenizers", arguments: fixtureNames)
    func decode(name: String) throws {
        let fixture = try Fixture.load(name)
        let tok = try TokenizerCache.shared.get(TestPaths.folder(forFixture: fixture.folder))
        var failures: [String] = []
        let all =
            fixture.cases.map { ($0.ids, $0.decodedText, $0.decodedSkip) }
            + fixture.decode_only.map { ($0.ids, $0.decoded, $0.decoded_skip) }
        for (ids, decoded, decodedSkip) in all {
            let d = tok.decode(ids)
            if !sameScalars(d, decoded) { failures.append("decode \(ids):\n got \(debugString(d))\n want \(debugString(decoded))") }
            let s = tok.decode(ids, skipSpecialTokens: true)
            if !sameScalars(s, decodedSkip) {
                failures.append("decode skip \(ids):\n got \(debugString(s))\n want \(debugString(decodedSkip))")
            }
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) mismatches, first: \(failures.prefix(3).joined(separator: "\n"))")
    }
}
