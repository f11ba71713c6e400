import Foundation
import VLLMCore
import VLLMStructuredOutputs
import VLLMTokenizers

extension IncrementalDetokenizer: IncrementalTextDecoder {}

/// A factory of incremental detokenizers over `tokenizer`, for the engine core.
public func textDecoderFactory(_ tokenizer: Tokenizer) -> TextDecoderFactory {
    { prompt, skipSpecialTokens in
        IncrementalDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens, promptTokenIDs: prompt)
    }
}

/// The tokenizer of a model folder; nil when the folder has no tokenizer.json.
public func loadTokenizer(folder: String) throws -> Tokenizer? {
    guard FileManager.default.fileExists(atPath: folder + "/tokenizer.json") else { return nil }
    return try Tokenizer.load(folder: URL(fileURLWithPath: folder))
}

/// The tokenizer of a model: the tokenizer folder `override` when given, else the model folder's
/// tokenizer.json, or the tokenizer a GGUF file's metadata describes (nil when there is none).
public func loadTokenizer(_ model: ModelFolder, override: String? = nil) throws -> Tokenizer? {
    if let override {
        guard let tokenizer = try loadTokenizer(folder: override) else {
            throw TokenizerError.missingFile(path: override + "/tokenizer.json")
        }
        return tokenizer
    }
    guard let gguf = model.gguf else { return try loadTokenizer(folder: model.path) }
    let m = gguf.metadata
    guard let kind = m["tokenizer.ggml.model"]?.string, let tokens = m["tokenizer.ggml.tokens"]?.array else { return nil }
    var metadata = GGUFTokenizerMetadata(path: gguf.path, model: kind, tokens: tokens.map { $0.string ?? "" })
    metadata.pre = m["tokenizer.ggml.pre"]?.string
    metadata.tokenTypes = m["tokenizer.ggml.token_type"]?.array?.map { $0.int ?? 1 } ?? []
    metadata.merges = m["tokenizer.ggml.merges"]?.array?.map { $0.string ?? "" } ?? []
    metadata.bosTokenID = m["tokenizer.ggml.bos_token_id"]?.int
    metadata.eosTokenID = m["tokenizer.ggml.eos_token_id"]?.int
    metadata.unknownTokenID = m["tokenizer.ggml.unknown_token_id"]?.int
    metadata.paddingTokenID = m["tokenizer.ggml.padding_token_id"]?.int
    metadata.scores = m["tokenizer.ggml.scores"]?.array?.map { $0.double ?? 0 } ?? []
    metadata.addSpacePrefix = m["tokenizer.ggml.add_space_prefix"]?.bool
    metadata.addBOS = m["tokenizer.ggml.add_bos_token"]?.bool
    metadata.chatTemplate = m["tokenizer.chat_template"]?.string
    return try Tokenizer.fromGGUF(metadata)
}

/// The structured-output grammar compiler of `tokenizer`'s vocabulary: special tokens are never
/// allowed, the end-of-sequence ids end a grammar; every grammar follows `options` (the
/// engine's `--structured-outputs-config`).
public func makeGrammarCompiler(_ tokenizer: Tokenizer, eosTokenIDs: [Int], options: GrammarOptions = GrammarOptions()) -> GrammarCompiler {
    let threads = min(4, ProcessInfo.processInfo.activeProcessorCount)
    return GrammarCompiler(
        vocabulary: TokenVocabulary(tokenizer: tokenizer, stopTokenIDs: eosTokenIDs), threads: threads, defaults: options)
}
