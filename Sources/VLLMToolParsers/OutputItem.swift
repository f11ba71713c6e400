/// A decided piece of model output, in order. Formats split output into these; whole and streamed
/// parsing both come from the same list, which is why they always agree.
enum OutputItem: Equatable {
    case content(String)
    case reasoning(String)
    case call(name: String, arguments: String)
}

/// A model output format: reads the items that the text so far decides.
///
/// With `final == false` the text may still grow: a format returns only items that no later text
/// can change (holding back, for example, a suffix that could begin a call marker, or a call not yet
/// closed), so that the items for a longer text always begin with the items for a shorter one.
/// With `final == true` it decides everything; whatever is not a well-formed call is content.
/// While the text may grow, a format also reports the call it is inside (`Scan.partials`), so that
/// a stream can send its name and arguments as they come.
protocol OutputFormat: Sendable {
    func scan(_ text: Substring, final: Bool) -> Scan
}

/// What a format read from some text: the items, and where a stream may drop the text it has
/// sent and go on reading with another (or the same) format, so that each delta costs the same
/// however long the output grew.
struct Scan {
    var items: [OutputItem]
    /// Everything before `index` is covered by `items`; the text from `index` on, read with
    /// `next`, gives the items that follow. Nil when the whole text must be read again.
    var settled: (index: String.Index, next: any OutputFormat)?
    /// Calls begun after the items and not yet finished (only while the text may grow), in order.
    var partials: [PartialCall]

    /// The items, with no settled point unless given, and the calls begun after them.
    init(_ items: [OutputItem], settled: (index: String.Index, next: any OutputFormat)? = nil, partials: [PartialCall] = []) {
        self.items = items
        self.settled = settled
        self.partials = partials
    }

    /// Items followed by the rest of `text`, which is all content, as is everything after it.
    static func content(_ items: [OutputItem], rest text: Substring) -> Scan {
        var items = items
        items.appendContent(text)
        return Scan(items, settled: (text.endIndex, AllContentFormat()))
    }
}

/// Output that is all content (what a format becomes once it knows no call can follow).
struct AllContentFormat: OutputFormat {
    func scan(_ text: Substring, final: Bool) -> Scan { .content([], rest: text) }
}

extension Substring {
    /// The length of the longest suffix of the text that is a proper prefix of one of `markers`:
    /// text that must wait, because the next delta may complete a marker.
    func partialMarkerSuffixLength(_ markers: [String]) -> Int {
        var best = 0
        for marker in markers {
            var length = Swift.min(marker.count - 1, count)
            while length > best {
                if hasSuffix(marker.prefix(length)) {
                    best = length
                    break
                }
                length -= 1
            }
        }
        return best
    }

    /// The text without a trailing part that could begin one of `markers`, unless the text is final.
    func releasable(final: Bool, markers: [String]) -> Substring {
        final ? self : dropLast(partialMarkerSuffixLength(markers))
    }
}

extension Array where Element == OutputItem {
    /// Appends content unless it is empty.
    mutating func appendContent(_ text: Substring) {
        if !text.isEmpty { append(.content(String(text))) }
    }
}

extension Substring {
    /// Where `marker` first occurs, compared byte by byte over UTF-8 (Foundation's `range(of:)`
    /// converts the whole text at each call, which a stream reading an open call at every delta
    /// cannot afford). Markers are ASCII, so a byte match is a character match.
    func firstRange(ofMarker marker: String) -> Range<String.Index>? {
        let needle = Array(marker.utf8)
        let search = { (bytes: UnsafeBufferPointer<UInt8>) -> Int? in
            guard !needle.isEmpty, bytes.count >= needle.count else { return nil }
            var i = 0
            while i <= bytes.count - needle.count {
                if bytes[i] == needle[0] {
                    var j = 1
                    while j < needle.count, bytes[i + j] == needle[j] { j += 1 }
                    if j == needle.count { return i }
                }
                i += 1
            }
            return nil
        }
        let found = utf8.withContiguousStorageIfAvailable(search) ?? Array(utf8).withUnsafeBufferPointer(search)
        guard let offset = found else { return nil }
        let lower = utf8.index(utf8.startIndex, offsetBy: offset)
        return lower..<utf8.index(lower, offsetBy: needle.count)
    }
}
