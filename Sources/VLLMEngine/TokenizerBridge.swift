import Foundation
import VLLMStructuredOutputs
import VLLMTokenizers

extension IncrementalDetokenizer: IncrementalTextDecoder {}

/// A factory of incremental detokenizers over `tokenizer`, for the engine core.
public func textDecoderFactory(_ tokenizer: Tokenizer) -> TextDecoderFactory {
    { prompt, skipSpecialTokens in IncrementalDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens, promptTokenIDs: prompt) }
}

/// The tokenizer of a model folder; nil when the folder has no tokenizer.json.
public func loadTokenizer(folder: String) throws -> Tokenizer? {
    guard FileManager.default.fileExists(atPath: folder + "/tokenizer.json") else { return nil }
    return try Tokenizer.load(folder: URL(fileURLWithPath: folder))
}

/// The structured-output grammar compiler of `tokenizer`'s vocabulary: special tokens are never
/// allowed, the end-of-sequence ids end a grammar.
public func makeGrammarCompiler(_ tokenizer: Tokenizer, eosTokenIDs: [Int]) -> GrammarCompiler {
    let threads = min(4, ProcessInfo.processInfo.activeProcessorCount)
    return GrammarCompiler(vocabulary: TokenVocabulary(tokenizer: tokenizer, stopTokenIDs: eosTokenIDs), threads: threads)
}
