import Foundation
import Testing
import VLLMTestSupport
import VLLMTokenizers

@testable import VLLMToolParsers

/// The recorded outputs as a server streams them: token by token through a real tokenizer's
/// incremental detokenizer (Mistral's for its format, whose markers are special tokens; SmolLM2's
/// byte-level BPE, the kind Llama 3 and Qwen use, for the others).
@Suite struct TokenStreamingTests {
    static let tokenizers: [String: Tokenizer] = {
        var loaded: [String: Tokenizer] = [:]
        for name in ["mistral-7b-v0.3", "smollm2-135m"] {
            loaded[name] = try! Tokenizer.load(folder: RepositoryFiles.url("Tests/Fixtures/data/tokenizers/\(name)"))
        }
        return loaded
    }()

    /// The text deltas a server sends for `output`, one per token.
    static func tokenDeltas(_ output: String, parser: String) -> [String] {
        let tokenizer = tokenizers[parser == "mistral" ? "mistral-7b-v0.3" : "smollm2-135m"]!
        var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer, skipSpecialTokens: false)
        var deltas = tokenizer.encode(output, addSpecialTokens: false).map { detokenizer.append($0) }
        deltas.append(detokenizer.finish())
        return deltas
    }

    @Test(arguments: Fixtures.toolCases)
    func tokenByToken(_ c: ToolCallCase) throws {
        let deltas = Self.tokenDeltas(c.output, parser: c.parser)
        #expect(deltas.joined() == c.output, "the tokenizer gives the text back")
        let parser = try ToolCallParser(named: c.parser, tools: Fixtures.tools, ids: indexIDs)
        let s = streamed(parser.makeStream(), pieces: deltas)
        expectSame(s, parser.parse(c.output), malformed: c.malformed, "token by token")
        // The arguments come as the model writes them, not in one piece when the call ends (a
        // string of JSON in place of the arguments object is the exception: it is sent whole).
        guard !c.malformed, !c.name.contains("as a string") else { return }
        for (call, fragments) in zip(s.calls, s.fragments) where call.arguments.count > 2 {
            #expect(fragments >= 3, "\(call.name): \(call.arguments) in \(fragments) fragments")
        }
    }
}
