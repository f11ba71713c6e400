import Foundation
import Testing
import VLLMCore
import VLLMEngine
import VLLMTestSupport
import VLLMTokenizers

/// A SentencePiece-style ("llama") tokenizer from GGUF metadata against transformers' tokenizer
/// loaded from the same file (Tests/Fixtures/gguf/tokenizer-llama.*, made by
/// scripts/make_gguf_tokenizer_fixture.py from the built-in model's vocabulary).
@Suite struct GGUFLlamaTokenizerTests {
    @Test func idsAndTextMatchTransformers() throws {
        let fixtures = RepositoryFiles.path("Tests/Fixtures/gguf") + "/"
        let folder = try ModelFolder(path: fixtures + "tokenizer-llama.gguf")
        let tokenizer = try #require(try loadTokenizer(folder))
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "tokenizer-llama.json"))
        for entry in try JSONSerialization.jsonObject(with: data) as! [[String: Any]] {
            let text = entry["text"] as! String
            let ids = tokenizer.encode(text)
            #expect(ids == entry["ids"] as! [Int], "\(text.debugDescription)")
            #expect(tokenizer.decode(ids, skipSpecialTokens: true) == entry["decoded"] as! String, "\(text.debugDescription)")
        }
    }
}
