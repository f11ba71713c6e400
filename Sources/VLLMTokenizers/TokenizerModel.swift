/// The model stage of a tokenizer (BPE, WordPiece, Unigram): turns one pre-tokenized word into
/// ids and maps between ids and token strings.
protocol TokenizerModel: Sendable {
    /// Appends the ids of `word` to `ids`. `byteLevel` says that the word is raw bytes still to
    /// be read in GPT-2's byte alphabet (models that cannot do this never receive it set).
    func tokenize(_ word: ArraySlice<UInt8>, byteLevel: Bool, scratch: inout ModelScratch, into ids: inout [Int])
    /// The same on a word given as bytes in a buffer, which spares the caller an ArraySlice.
    func tokenize(bytes: UnsafeBufferPointer<UInt8>, byteLevel: Bool, scratch: inout ModelScratch, into ids: inout [Int])
    /// Whether `tokenize` can take byte-level words unmapped.
    var acceptsUnmappedByteLevel: Bool { get }
    func tokenToID(_ token: String) -> Int?
    func idToToken(_ id: Int) -> String?
    /// One more than the largest id of the model's vocabulary.
    var vocabularySize: Int { get }
}

extension TokenizerModel {
    func tokenize(bytes: UnsafeBufferPointer<UInt8>, byteLevel: Bool, scratch: inout ModelScratch, into ids: inout [Int]) {
        tokenize(Array(bytes)[...], byteLevel: byteLevel, scratch: &scratch, into: &ids)
    }
}

/// Per-`encode` working memory: buffers reused across words and the BPE word cache.
///
/// It lives on the caller's stack for one call, which keeps `Tokenizer` free of locks while
/// long inputs (where most words repeat) still hit the cache.
struct ModelScratch {
    var symbols: [Int32] = []
    var ranks: [UInt64] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var heap: [UInt64] = []
    /// A lock-free cache for this call, worth its setup only for long inputs (short ones go to
    /// the model's shared cache directly).
    var useLocalCache: Bool
    // (Not `lazy`: mutating through a lazy property copies the table on every insert.)
    var cache = ByteStringTable(capacity: 16)
    var ranges: [Range<Int>] = []

    init(inputBytes: Int) { useLocalCache = inputBytes > 8192 }
}
