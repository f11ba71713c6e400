import Foundation

/// A Hugging Face tokenizer loaded from a model folder (`tokenizer.json` and, when present,
/// `tokenizer_config.json`), giving the same ids and text as the `tokenizers` library.
///
/// Immutable after loading, so one instance serves every request thread: encoding keeps its
/// working memory local to the call, and the one shared structure (the BPE word cache, as in
/// `tokenizers`) is behind a lock. The `truncation` and `padding` sections of tokenizer.json
/// are ignored, as transformers (and so vLLM) ignores them; the engine manages lengths itself.
public final class Tokenizer: Sendable {
    private let model: TokenizerModel
    private let normalizer: Normalizer?
    private let preTokenizer: PreTokenizer?
    /// The pre-tokenizer as a pure range splitter when it is one (see `PreTokenizer.rangeSplitter`).
    private let fastSplitter: (splitter: RangeSplitter, byteLevel: Bool)?
    private let postProcessor: PostProcessor?
    private let decoder: Decoder?
    private let hasByteFallbackDecoder: Bool
    /// The string each added token decodes to: its content.
    ///
    /// `tokenizers` 0.23 decodes a `normalized` added token as its normalized form (Llama-2's
    /// `<s>` as `▁<s>`, so "<s> <s> Hello") and then fails to skip it as special; 0.21 and
    /// transformers 5 decode the content and skip it. We follow the latter, which is what vLLM
    /// users see (scripts/make_tokenizer_fixtures.py records decode references that way).
    private let addedDecodeContent: [Int: String]
    /// Ids that `skipSpecialTokens` drops: `tokenizers` decides by token string, so a model
    /// token spelled like a special added token is dropped too.
    private let skippableIDs: Set<Int>
    private let addedByContent: [[UInt8]: Int]
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher

    /// The `tokenizer_config.json` settings (empty when the folder has none).
    public let config: TokenizerConfig
    /// The added tokens of `tokenizer.json`, in file order.
    public let addedTokens: [AddedToken]
    /// Ids of the added tokens marked special, plus the ids of the special tokens named in
    /// `tokenizer_config.json`: what a server treats as control tokens.
    public let specialTokenIDs: Set<Int>
    /// One more than the largest id (model vocabulary and added tokens together): the size
    /// the model's embedding and logits must cover.
    public let vocabularySize: Int

    /// Loads `tokenizer.json` (required) and `tokenizer_config.json` (optional) from a folder.
    /// Errors name the file and what is wrong with it.
    public static func load(folder: URL) throws -> Tokenizer {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else {
            throw TokenizerError.missingFile(path: folder.path + " (model folder)")
        }
        let tokURL = folder.appendingPathComponent("tokenizer.json")
        guard fm.fileExists(atPath: tokURL.path) else {
            if fm.fileExists(atPath: folder.appendingPathComponent("tokenizer.model").path) {
                throw TokenizerError.unreadableFile(
                    path: tokURL.path,
                    reason:
                        "missing; the folder only has a SentencePiece tokenizer.model, which is not supported (save the tokenizer with transformers to get tokenizer.json)"
                )
            }
            throw TokenizerError.missingFile(path: tokURL.path)
        }
        let data: Data
        do { data = try Data(contentsOf: tokURL) } catch {
            throw TokenizerError.unreadableFile(path: tokURL.path, reason: error.localizedDescription)
        }
        let cfgURL = folder.appendingPathComponent("tokenizer_config.json")
        var config = TokenizerConfig()
        if fm.fileExists(atPath: cfgURL.path) {
            let cdata: Data
            do { cdata = try Data(contentsOf: cfgURL) } catch {
                throw TokenizerError.unreadableFile(path: cfgURL.path, reason: error.localizedDescription)
            }
            config = try TokenizerConfig(data: cdata, file: cfgURL.path)
        }
        return try Tokenizer(tokenizerJSON: data, config: config, file: tokURL.path)
    }

    /// Builds a tokenizer from the bytes of a `tokenizer.json`; `file` names it in errors.
    public init(tokenizerJSON data: Data, config: TokenizerConfig = TokenizerConfig(), file: String = "tokenizer.json") throws {
        let json = try JSONReader.parse(data, file: file)
        let modelJSON = try json.object("model")
        model = try Tokenizer.makeModel(modelJSON)
        normalizer = try json.optionalObject("normalizer").map { try NormalizerFactory.make($0) }
        preTokenizer = try json.optionalObject("pre_tokenizer").map { try PreTokenizerFactory.make($0) }
        if let pt = preTokenizer {
            if let fs = pt.rangeSplitter, !fs.byteLevel || model.acceptsUnmappedByteLevel { fastSplitter = fs } else { fastSplitter = nil }
        } else {
            fastSplitter = (WholeSplitter(), false)
        }
        postProcessor = try json.optionalObject("post_processor").map { try PostProcessorFactory.make($0) }
        decoder = try json.optionalObject("decoder").map { try DecoderFactory.make($0) }
        hasByteFallbackDecoder = Tokenizer.containsByteFallback(decoder)

        var added: [AddedToken] = []
        if json.has("added_tokens") {
            added = try json.objects("added_tokens").map { try AddedToken(json: $0) }
        }
        addedTokens = added
        var byContent: [[UInt8]: Int] = [:]
        for t in added { byContent[Array(t.content.utf8)] = t.id }
        addedByContent = byContent
        let normalizer = self.normalizer
        var decodeContent: [Int: String] = [:]
        for t in added { decodeContent[t.id] = t.content }
        addedDecodeContent = decodeContent
        // `tokenizers` decides by the token string, so model tokens spelled like a special
        // added token are dropped too.
        let specialContents = Set(added.filter { $0.special }.map { Array($0.content.utf8) })
        var skippable = Set(added.filter { specialContents.contains(Array(decodeContent[$0.id]!.utf8)) }.map { $0.id })
        if !specialContents.isEmpty {
            for id in 0..<model.vocabularySize where decodeContent[id] == nil {
                if let t = model.idToToken(id), specialContents.contains(Array(t.utf8)) { skippable.insert(id) }
            }
        }
        skippableIDs = skippable
        rawMatcher = AddedTokenMatcher(added.filter { !$0.normalized }.map { ($0, Array($0.content.utf8)) })
        normalizedMatcher = AddedTokenMatcher(
            added.filter { $0.normalized }.map { t in
                let bytes = Array(t.content.utf8)
                return (t, normalizer?.normalize(bytes) ?? bytes)
            })
        self.config = config

        var special = Set(added.filter { $0.special }.map { $0.id })
        for name in ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"] {
            if let s = config.specialTokens[name], let id = byContent[Array(s.utf8)] ?? model.tokenToID(s) { special.insert(id) }
        }
        specialTokenIDs = special
        vocabularySize = max(model.vocabularySize, (added.map { $0.id }.max() ?? -1) + 1)
    }

    private static func makeModel(_ json: JSONReader) throws -> TokenizerModel {
        var type = try json.optionalString("type")
        if type == nil {
            // Files written by old versions of `tokenizers` omit the model type.
            if json.has("merges") {
                type = "BPE"
            } else if json["vocab"]?.arrayValue != nil {
                type = "Unigram"
            } else if json.has("continuing_subword_prefix") {
                type = "WordPiece"
            } else {
                type = "WordLevel"
            }
        }
        switch type! {
        case "BPE": return try BPEModel(json: json)
        case "WordPiece": return try WordPieceModel(json: json)
        case "Unigram": return try UnigramModel(json: json)
        case "WordLevel": return try WordLevelModel(json: json)
        default: throw TokenizerError.unsupported(file: json.file, component: "model", type: type!)
        }
    }

    /// Whether `id` is a `<0xNN>` token that a ByteFallback decoder turns into a raw byte. Such
    /// bytes are decoded as a run (an invalid run becomes one U+FFFD per byte), so streaming
    /// must see a run whole.
    func isByteFallbackToken(_ id: Int) -> Bool {
        guard hasByteFallbackDecoder, addedDecodeContent[id] == nil, let t = model.idToToken(id) else { return false }
        return ByteFallbackDecoder.byteValue(t) != nil
    }

    /// The bytes that an id stands for in generated text, as a grammar must see them: a
    /// byte-level token mapped back from GPT-2's alphabet, a `<0xNN>` token as its one byte, a
    /// SentencePiece token with `▁` as a space, an added token as its content; nil for an id
    /// outside the vocabulary. (Unlike `decode`, no leading space is stripped.)
    public func tokenBytes(forID id: Int) -> [UInt8]? {
        if let added = addedDecodeContent[id] { return Array(added.utf8) }
        guard let t = model.idToToken(id) else { return nil }
        if Tokenizer.contains(decoder, ByteLevelDecoder.self) { return ByteLevelAlphabet.decode(t) ?? Array(t.utf8) }
        if hasByteFallbackDecoder, let b = ByteFallbackDecoder.byteValue(t) { return [b] }
        return UnicodeSupport.replace(Array("\u{2581}".utf8), with: [0x20], in: Array(t.utf8))
    }

    private static func contains<T: Decoder>(_ d: Decoder?, _ type: T.Type) -> Bool {
        if d is T { return true }
        if let s = d as? SequenceDecoder { return s.items.contains { contains($0, type) } }
        return false
    }

    private static func containsByteFallback(_ d: Decoder?) -> Bool {
        if d is ByteFallbackDecoder { return true }
        if let s = d as? SequenceDecoder { return s.items.contains { containsByteFallback($0) } }
        return false
    }

    // MARK: - Vocabulary

    /// The id of a token string (added tokens first, then the model vocabulary).
    public func id(forToken token: String) -> Int? {
        addedByContent[Array(token.utf8)] ?? model.tokenToID(token)
    }

    /// The token string of an id, as stored in the vocabulary (e.g. `Ġthe`, `▁the`).
    public func token(forID id: Int) -> String? {
        addedDecodeContent[id] ?? model.idToToken(id)
    }

    /// `bos_token`, `eos_token`, ... of `tokenizer_config.json` as strings (chat templates use them).
    public var specialTokens: [String: String] { config.specialTokens }
    /// Chat templates by name ("default" for a single template string).
    public var chatTemplates: [String: String] { config.chatTemplates }
    /// `model_max_length` of `tokenizer_config.json`, when it is a real limit.
    public var modelMaxLength: Int? { config.modelMaxLength }
    /// Id of `bos_token`.
    public var bosTokenID: Int? { config.specialTokens["bos_token"].flatMap { id(forToken: $0) } }
    /// Id of `eos_token`.
    public var eosTokenID: Int? { config.specialTokens["eos_token"].flatMap { id(forToken: $0) } }
    /// Id of `pad_token`.
    public var padTokenID: Int? { config.specialTokens["pad_token"].flatMap { id(forToken: $0) } }
    /// Id of `unk_token`.
    public var unkTokenID: Int? { config.specialTokens["unk_token"].flatMap { id(forToken: $0) } }
    /// Whether `decode(skipSpecialTokens: true)` drops this id.
    public func isSkippedWhenSkippingSpecialTokens(_ id: Int) -> Bool { skippableIDs.contains(id) }

    // MARK: - Encoding

    /// Encodes text to ids. Added tokens in the text (such as `<|im_start|>`) are always
    /// recognised; `addSpecialTokens` controls only the post-processor's BOS/EOS/CLS/SEP.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var bytes = Array(text.utf8)
        var ids: [Int] = []
        ids.reserveCapacity(bytes.count / 3 + 4)
        var scratch = ModelScratch(inputBytes: bytes.count)
        encodeBytes(&bytes, into: &ids, scratch: &scratch)
        if addSpecialTokens, let pp = postProcessor { return pp.process(ids) }
        return ids
    }

    private func encodeBytes(_ bytes: inout [UInt8], into ids: inout [Int], scratch: inout ModelScratch) {
        for seg in rawMatcher.split(bytes, range: 0..<bytes.count) {
            if let id = seg.tokenID { ids.append(id); continue }
            let atOrigin = seg.range.lowerBound == 0
            if let normalizer {
                let normalized = normalizer.normalize(Array(bytes[seg.range]))
                encodeNormalized(normalized, range: 0..<normalized.count, atOrigin: atOrigin, into: &ids, scratch: &scratch)
            } else {
                encodeNormalized(bytes, range: seg.range, atOrigin: atOrigin, into: &ids, scratch: &scratch)
            }
        }
    }

    private func encodeNormalized(_ buf: [UInt8], range: Range<Int>, atOrigin: Bool, into ids: inout [Int], scratch: inout ModelScratch) {
        for seg in normalizedMatcher.split(buf, range: range) {
            if let id = seg.tokenID { ids.append(id); continue }
            if let (splitter, byteLevel) = fastSplitter {
                buf.withUnsafeBufferPointer { p in
                    scratch.ranges.removeAll(keepingCapacity: true)
                    splitter.split(p, seg.range, into: &scratch.ranges)
                    let ranges = scratch.ranges
                    for r in ranges where !r.isEmpty {
                        model.tokenize(bytes: UnsafeBufferPointer(rebasing: p[r]), byteLevel: byteLevel, scratch: &scratch, into: &ids)
                    }
                }
                continue
            }
            var words = PreTokenizedWords(words: [buf[seg.range]], firstAtOrigin: atOrigin && seg.range.lowerBound == range.lowerBound)
            preTokenizer?.preTokenize(&words)
            if words.byteLevelPending && !model.acceptsUnmappedByteLevel { words.materializeByteLevel() }
            let byteLevel = words.byteLevelPending
            for w in words.words {
                model.tokenize(w, byteLevel: byteLevel, scratch: &scratch, into: &ids)
            }
        }
    }

    // MARK: - Decoding

    /// Decodes ids to text as `tokenizers` does: unknown ids are ignored, special added tokens
    /// are dropped when `skipSpecialTokens`, and the decoder chain rebuilds the text.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if skipSpecialTokens && skippableIDs.contains(id) { continue }
            if let added = addedDecodeContent[id] {
                tokens.append(added)
            } else if let t = model.idToToken(id) {
                tokens.append(t)
            }
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }
}
