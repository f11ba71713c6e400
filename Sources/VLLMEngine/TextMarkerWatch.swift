/// Watches a sequence's output, token by token, for a piece of text such as a reasoning model's
/// `</think>`, on the decoded text (special tokens included): one special token, `</` `think` `>`,
/// or any other split of the text all count, which a match on token ids would not.
struct TextMarkerWatch {
    private let marker: [UInt8]
    private var decoder: any IncrementalTextDecoder
    /// The end of the text so far: enough bytes to hold all but the last byte of the marker.
    private var tail: [UInt8] = []

    /// A watch for `marker` (not empty) over text decoded by `decoder`.
    init(marker: String, decoder: any IncrementalTextDecoder) {
        self.marker = Array(marker.utf8)
        self.decoder = decoder
    }

    /// Takes the next output token; true once the text has contained the marker (from the token
    /// that completes it on, which may hold more text after it).
    mutating func passes(_ token: Int) -> Bool {
        tail += decoder.append(token).utf8
        if tail.count >= marker.count {
            for start in 0...(tail.count - marker.count) where tail[start..<start + marker.count].elementsEqual(marker) {
                return true
            }
        }
        tail.removeFirst(max(0, tail.count - (marker.count - 1)))
        return false
    }
}
