/// Turns a sequence's generated token ids into text one token at a time.
public protocol IncrementalTextDecoder {
    /// Takes the next token and returns the text it completes (possibly empty, never half a character).
    mutating func append(_ tokenID: Int) -> String
    /// Ends the sequence: returns any text held back (bytes that never completed a character).
    mutating func finish() -> String
}

/// Makes a decoder for a sequence from its prompt ids and `skip_special_tokens`.
public typealias TextDecoderFactory = @Sendable (_ promptTokenIDs: [Int], _ skipSpecialTokens: Bool) -> any IncrementalTextDecoder

/// The text of one sequence: detokenized incrementally, checked for stop strings, and released to
/// the caller only once no stop string can still begin in it.
struct OutputText {
    private var decoder: (any IncrementalTextDecoder)?
    private let stops: [String]
    private let includeStop: Bool
    /// Characters held back while a stop string could still be completing.
    private let holdBack: Int
    private(set) var text = ""
    /// UTF-8 bytes of `text` already released.
    private var released = 0

    init(decoder: (any IncrementalTextDecoder)?, params: SamplingParams) {
        self.decoder = decoder
        stops = params.stop
        includeStop = params.includeStopStringInOutput
        holdBack = max(0, (params.stop.map(\.count).max() ?? 0) - 1)
    }

    /// Adds a token's text; returns the stop string it completed, if any (the text is then cut there).
    mutating func append(_ tokenID: Int) -> String? {
        guard decoder != nil else { return nil }
        let before = text.utf8.count
        text += decoder!.append(tokenID)
        guard !stops.isEmpty else { return nil }
        // A stop string that ends in the new text starts at most (its length - 1) characters earlier.
        let searchFrom = text.utf8.index(text.startIndex, offsetBy: before)
        let start = text.index(searchFrom, offsetBy: -holdBack, limitedBy: text.startIndex) ?? text.startIndex
        var earliest: (Range<String.Index>, String)?
        for stop in stops {
            if let range = text.range(of: stop, range: start..<text.endIndex),
                earliest == nil || range.lowerBound < earliest!.0.lowerBound
            {
                earliest = (range, stop)
            }
        }
        guard let (range, stop) = earliest else { return nil }
        text = String(text[..<(includeStop ? range.upperBound : range.lowerBound)])
        released = min(released, text.utf8.count)
        return stop
    }

    /// Takes what the decoder still held back, at the end of the sequence.
    mutating func flush() {
        guard decoder != nil else { return }
        text += decoder!.finish()
    }

    /// Text not yet released; when `finished` all of it, else all but the held-back tail.
    mutating func takeDelta(finished: Bool) -> String {
        var end = text.endIndex
        if !finished, holdBack > 0 {
            end = text.index(text.endIndex, offsetBy: -holdBack, limitedBy: text.startIndex) ?? text.startIndex
        }
        let endOffset = text.utf8.distance(from: text.startIndex, to: end)
        guard endOffset > released else { return "" }
        let from = text.utf8.index(text.startIndex, offsetBy: released)
        released = endOffset
        return String(text[from..<end])
    }
}

extension String {
    /// Finds `needle` in `range` (Foundation-free, works on Unicode scalars).
    func range(of needle: String, range: Range<String.Index>) -> Range<String.Index>? {
        let haystack = self[range]
        guard let first = needle.first else { return nil }
        var index = haystack.startIndex
        while let found = haystack[index...].firstIndex(of: first) {
            if haystack[found...].hasPrefix(needle) {
                return found..<haystack.index(found, offsetBy: needle.count)
            }
            index = haystack.index(after: found)
        }
        return nil
    }
}
