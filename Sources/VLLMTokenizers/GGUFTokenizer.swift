import Foundation

/// The `tokenizer.*` metadata of a GGUF file (llama.cpp's description of a tokenizer), as the
/// model loader reads it.
public struct GGUFTokenizerMetadata: Sendable {
    /// The file, for errors.
    public var path: String
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE) or "llama" (SentencePiece).
    public var model: String
    /// `tokenizer.ggml.pre`: which pre-tokenizer the merges were learned with.
    public var pre: String?
    /// `tokenizer.ggml.tokens`, by id.
    public var tokens: [String]
    /// `tokenizer.ggml.token_type`, by id (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
    public var tokenTypes: [Int]
    /// `tokenizer.ggml.merges`: "left right" pairs, best first (byte-level BPE).
    public var merges: [String]
    /// `tokenizer.ggml.scores`, by id (SentencePiece: higher merges first).
    public var scores: [Double] = []
    /// `tokenizer.ggml.add_space_prefix` (SentencePiece: a space before the text).
    public var addSpacePrefix: Bool?
    /// `tokenizer.ggml.bos_token_id`.
    public var bosTokenID: Int?
    /// `tokenizer.ggml.eos_token_id`.
    public var eosTokenID: Int?
    /// `tokenizer.ggml.unknown_token_id`.
    public var unknownTokenID: Int?
    /// `tokenizer.ggml.padding_token_id`.
    public var paddingTokenID: Int?
    /// `tokenizer.ggml.add_bos_token`.
    public var addBOS: Bool?
    /// `tokenizer.chat_template`.
    public var chatTemplate: String?

    /// Collects the metadata; the loader fills the fields it finds.
    public init(path: String, model: String, tokens: [String]) {
        self.path = path
        self.model = model
        self.tokens = tokens
        tokenTypes = []
        merges = []
    }
}

extension Tokenizer {
    /// The split patterns of llama.cpp's byte-level pre-tokenizers (`tokenizer.ggml.pre`), each
    /// applied before byte-level mapping as transformers' tokenizer.json files of those models do.
    static let ggufSplitPatterns: [String: String] = {
        let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        var table: [String: String] = [:]
        for name in ["llama3", "llama-v3", "llama-bpe", "falcon3", "smaug-bpe", "dbrx"] { table[name] = llama3 }
        for name in ["qwen2", "deepseek-r1-qwen", "megrez"] { table[name] = qwen2 }
        return table
    }()

    /// The pre-tokenizer of `tokenizer.ggml.pre` as tokenizer.json describes one.
    static func ggufPreTokenizer(_ pre: String?, path: String) throws -> [String: Any] {
        let byteLevel: (Bool) -> [String: Any] = { useRegex in
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": useRegex]
        }
        if let pattern = ggufSplitPatterns[pre ?? ""] {
            return [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false], byteLevel(false),
                ],
            ]
        }
        switch pre {
        case nil, "default", "gpt2", "gpt-2": return byteLevel(true)
        // SmolLM: GPT-2's split after every digit on its own (its tokenizer.json: Digits, then ByteLevel).
        case "smollm": return ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel(true)]]
        case let other?:
            throw TokenizerError.unsupported(file: path, component: "tokenizer.ggml.pre", type: other)
        }
    }

    /// The tokenizer that a GGUF file's metadata describes, built as transformers builds it from
    /// the same file: "gpt2" is byte-level BPE with the file's merges and the pre-tokenizer that
    /// `tokenizer.ggml.pre` names; "llama" is SentencePiece-style BPE with byte fallback, its merges
    /// recovered from the token scores. Other models are an error that names them (a Hugging Face
    /// tokenizer folder can be given instead).
    public static func fromGGUF(_ m: GGUFTokenizerMetadata) throws -> Tokenizer {
        let byteLevel = m.model == "gpt2"
        guard byteLevel || m.model == "llama" else {
            throw TokenizerError.unsupported(file: m.path, component: "tokenizer.ggml.model", type: m.model)
        }
        // These ids name tokens (the unknown one is looked up by index): one past the vocabulary is a
        // corrupt file. The padding id is left out: converters write placeholders there.
        for (key, id) in [("bos_token_id", m.bosTokenID), ("eos_token_id", m.eosTokenID), ("unknown_token_id", m.unknownTokenID)] {
            if let id, !m.tokens.indices.contains(id) {
                throw TokenizerError.invalidField(
                    file: m.path, field: "tokenizer.ggml." + key, reason: "\(id) is not a token id (the vocabulary has \(m.tokens.count))")
            }
        }
        var vocab: [String: Int] = [:]
        var added: [[String: Any]] = []
        for (id, token) in m.tokens.enumerated() {
            // Byte-level tokens are spelled in the byte alphabet; one that is not is spelled by its UTF-8 bytes.
            let spelled =
                !byteLevel || ByteLevelAlphabet.decode(token) != nil
                ? token
                : String(decoding: ByteLevelAlphabet.encode(Array(token.utf8)[...]), as: UTF8.self)
            vocab[spelled] = id
            let type = id < m.tokenTypes.count ? m.tokenTypes[id] : 1
            // Control tokens (3) are special; user-defined ones (4) are matched whole but not special.
            if type == 3 || type == 4, spelled == token {
                added.append([
                    "id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": type == 3,
                ])
            }
        }
        var json: [String: Any] = ["version": "1.0", "added_tokens": added, "normalizer": NSNull()]
        if byteLevel {
            json["pre_tokenizer"] = try ggufPreTokenizer(m.pre, path: m.path)
            json["decoder"] = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true]
            let merges = m.merges.map { $0.split(separator: " ", maxSplits: 1).map(String.init) }
            json["model"] = bpeModel(vocab: vocab, merges: merges, unknown: nil)
        } else {
            let prefix = m.addSpacePrefix ?? true
            json["pre_tokenizer"] = [
                "type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": prefix ? "first" : "never", "split": false,
            ]
            json["decoder"] = [
                "type": "Sequence",
                "decoders": [
                    ["type": "Replace", "pattern": ["String": "\u{2581}"], "content": " "], ["type": "ByteFallback"], ["type": "Fuse"],
                ] + (prefix ? [["type": "Strip", "content": " ", "start": 1, "stop": 0]] : []),
            ]
            let merges =
                m.merges.isEmpty
                ? sentencePieceMerges(m.tokens, scores: m.scores)
                : m.merges.map { $0.split(separator: " ", maxSplits: 1).map(String.init) }
            json["model"] = bpeModel(vocab: vocab, merges: merges, unknown: m.unknownTokenID.map { m.tokens[$0] })
        }
        var config = TokenizerConfig()
        for (name, id) in [
            ("bos_token", m.bosTokenID), ("eos_token", m.eosTokenID), ("unk_token", m.unknownTokenID),
            ("pad_token", m.paddingTokenID),
        ] {
            if let id, m.tokens.indices.contains(id) { config.specialTokens[name] = m.tokens[id] }
        }
        // transformers adds BOS to a SentencePiece vocabulary unless the file says otherwise (as llama.cpp does).
        let addBOS = m.addBOS ?? !byteLevel
        config.addBosToken = addBOS
        if let template = m.chatTemplate { config.chatTemplates["default"] = template }
        if addBOS, let bos = m.bosTokenID, m.tokens.indices.contains(bos) {
            let token = m.tokens[bos]
            json["post_processor"] = [
                "type": "TemplateProcessing",
                "single": [["SpecialToken": ["id": token, "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                "pair": [
                    ["SpecialToken": ["id": token, "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]],
                    ["Sequence": ["id": "B", "type_id": 1]],
                ],
                "special_tokens": [token: ["id": token, "ids": [bos], "tokens": [token]]],
            ]
        }
        let data = try JSONSerialization.data(withJSONObject: json)
        return try Tokenizer(tokenizerJSON: data, config: config, file: m.path + " (tokenizer metadata)")
    }

    /// A tokenizer.json BPE model; SentencePiece vocabularies (with an unknown token) fall back to bytes.
    private static func bpeModel(vocab: [String: Int], merges: [[String]], unknown: String?) -> [String: Any] {
        [
            "type": "BPE", "dropout": NSNull(), "unk_token": unknown ?? NSNull(), "continuing_subword_prefix": NSNull(),
            "end_of_word_suffix": NSNull(), "fuse_unk": unknown != nil, "byte_fallback": unknown != nil, "ignore_merges": false,
            "vocab": vocab, "merges": merges,
        ]
    }

    /// The merges a SentencePiece BPE vocabulary implies, best first, as transformers derives them
    /// (`generate_merges`): every split of every token into two tokens, ranked by the token's
    /// score, then by the lengths of the halves (longer first), ties in vocabulary order.
    static func sentencePieceMerges(_ tokens: [String], scores: [Double]) -> [[String]] {
        var ids: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where ids[token] == nil { ids[token] = id }
        var merges: [(left: String, right: String, score: Double, leftLength: Int, rightLength: Int)] = []
        for (id, token) in tokens.enumerated() {
            let scalars = Array(token.unicodeScalars)
            var local: [(String, String, Int, Int)] = []
            for cut in scalars.indices.dropFirst() {
                let left = String(String.UnicodeScalarView(scalars[..<cut])), right = String(String.UnicodeScalarView(scalars[cut...]))
                if let l = ids[left], let r = ids[right] { local.append((left, right, l, r)) }
            }
            local.sort { ($0.2, $0.3) < ($1.2, $1.3) }
            let score = id < scores.count ? scores[id] : 0
            merges += local.map { ($0.0, $0.1, score, $0.0.unicodeScalars.count, $0.1.unicodeScalars.count) }
        }
        let order = merges.indices.sorted { a, b in
            let (x, y) = (merges[a], merges[b])
            if x.score != y.score { return x.score > y.score }
            if x.leftLength != y.leftLength { return x.leftLength > y.leftLength }
            if x.rightLength != y.rightLength { return x.rightLength > y.rightLength }
            return a < b
        }
        return order.map { [merges[$0].left, merges[$0].right] }
    }
}
