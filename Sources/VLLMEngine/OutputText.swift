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
    private let stops: StopStringAutomaton?
    private var stopState = StopStringAutomaton.State()
    private let includeStop: Bool
    private(set) var text = ""
    /// UTF-8 bytes of `text` already released.
    private var released = 0

    /// `stops` is the automaton of `params.stop` (shared by the samples of a request), nil for none.
    init(decoder: (any IncrementalTextDecoder)?, params: SamplingParams, stops: StopStringAutomaton?) {
        self.decoder = decoder
        self.stops = params.stop.isEmpty ? nil : stops
        includeStop = params.includeStopStringInOutput
    }

    /// Adds a token's text; returns the stop string it completed, if any (the text is then cut there).
    mutating func append(_ tokenID: Int) -> String? {
        guard decoder != nil else { return nil }
        let piece = decoder!.append(tokenID)
        text += piece
        guard let stops, let match = stops.feed(piece.utf8, &stopState) else { return nil }
        // The automaton has seen exactly the bytes of `text`, so its offsets are offsets into it.
        let cut = includeStop ? match.end : match.start
        text = String(decoding: text.utf8.prefix(cut), as: UTF8.self)
        released = min(released, cut)
        return stops.patterns[match.patternIndex]
    }

    /// Takes what the decoder still held back, at the end of the sequence.
    mutating func flush() {
        guard decoder != nil else { return }
        text += decoder!.finish()
    }

    /// Text not yet released; when `finished` all of it, else all but the bytes that could still
    /// be the beginning of a stop string.
    mutating func takeDelta(finished: Bool) -> String {
        let held = finished ? 0 : (stops.map { $0.pendingBytes(stopState) } ?? 0)
        let end = max(0, text.utf8.count - held)
        guard end > released else { return "" }
        let bytes = text.utf8.dropFirst(released).prefix(end - released)
        released = end
        return String(decoding: bytes, as: UTF8.self)
    }
}
