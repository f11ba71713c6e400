/// Turns generated ids into text deltas while streaming, the way vLLM does.
///
/// Each step decodes a short window of ids twice, with and without the newest ones, and emits
/// the difference. Decoding a window that starts a few tokens back (rather than each token
/// alone) keeps SentencePiece's leading-space handling right: `▁world` is " world" after
/// "Hello" but "world" at the start of the text. A delta is held back while the window ends in
/// U+FFFD, so a character split over byte-fallback or byte-level tokens is emitted whole, and
/// a run of byte-fallback tokens is held until it ends, because `tokenizers` turns a whole run
/// into U+FFFDs when any byte of it is invalid (so no part of it can be emitted early).
public struct IncrementalDetokenizer: Sendable {
    /// How many prompt tokens are kept as context for the first generated token (as vLLM).
    static let promptContext = 5

    private let tokenizer: Tokenizer
    private let skipSpecialTokens: Bool
    private var ids: [Int]
    private var prefixOffset: Int
    private var readOffset: Int
    /// The text emitted so far: the concatenation of every delta.
    public private(set) var text: String = ""

    /// Starts a stream. `promptTokenIDs` gives context so that the first generated token gets
    /// the leading space it has after the prompt; without it, deltas concatenate to exactly
    /// `decode(generatedIDs, skipSpecialTokens:)`.
    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool, promptTokenIDs: [Int] = []) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
        ids = Array(promptTokenIDs.suffix(IncrementalDetokenizer.promptContext + 1))
        readOffset = ids.count
        prefixOffset = max(ids.count - IncrementalDetokenizer.promptContext, 0)
    }

    /// Adds one generated id and returns the text it completes (possibly empty).
    public mutating func append(_ id: Int) -> String {
        ids.append(id)
        // A skipped special token adds no text and does not end a byte run either (the bytes
        // on both sides of it decode as one run).
        if tokenizer.isByteFallbackToken(id) || (skipSpecialTokens && tokenizer.isSkippedWhenSkippingSpecialTokens(id)) {
            return ""
        }
        let prefixText = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let newText = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        let newScalars = newText.unicodeScalars
        guard newScalars.count > prefixText.unicodeScalars.count, newScalars.last != "\u{FFFD}" else { return "" }
        let delta = IncrementalDetokenizer.difference(newText, prefixText)
        prefixOffset = readOffset
        readOffset = ids.count
        compact()
        text += delta
        return delta
    }

    /// Adds several ids; returns the combined delta.
    public mutating func append<S: Sequence>(contentsOf newIDs: S) -> String where S.Element == Int {
        var out = ""
        for id in newIDs { out += append(id) }
        return out
    }

    /// Ends the stream: returns whatever was held back (such as U+FFFD for bytes that never
    /// formed a character), so that `text` then equals the full decode.
    public mutating func finish() -> String {
        let prefixText = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let newText = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        guard newText.unicodeScalars.count > prefixText.unicodeScalars.count else { return "" }
        let delta = IncrementalDetokenizer.difference(newText, prefixText)
        prefixOffset = readOffset
        readOffset = ids.count
        text += delta
        return delta
    }

    /// `new` minus its prefix `old`: byte-wise when `old` is a true prefix, otherwise by scalar
    /// count as vLLM does.
    static func difference(_ new: String, _ old: String) -> String {
        let n = Array(new.utf8)
        let o = Array(old.utf8)
        if n.starts(with: o) { return String(decoding: n[o.count...], as: UTF8.self) }
        let scalars = new.unicodeScalars
        let start = scalars.index(scalars.startIndex, offsetBy: old.unicodeScalars.count)
        return String(scalars[start...])
    }

    /// Drops ids that no window will read again, so long generations use constant memory.
    private mutating func compact() {
        if prefixOffset > 256 {
            ids.removeFirst(prefixOffset)
            readOffset -= prefixOffset
            prefixOffset = 0
        }
    }
}
