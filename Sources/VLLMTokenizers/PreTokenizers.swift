/// The words of one piece of text while pre-tokenizers run over it.
struct PreTokenizedWords {
    /// The words so far, as slices of UTF-8 buffers (splits share storage with their source).
    var words: [ArraySlice<UInt8>]
    /// Whether `words[0]` starts at the very beginning of the input text; Metaspace's
    /// `prepend_scheme: first` only adds its `▁` there.
    var firstAtOrigin: Bool
    /// Set by the ByteLevel pre-tokenizer: the words are raw bytes that the model must read in
    /// GPT-2's byte alphabet. Mapping lazily lets byte-level BPE skip building mapped strings.
    var byteLevelPending: Bool = false

    /// Applies the byte-level mapping for consumers that need the mapped text itself.
    mutating func materializeByteLevel() {
        guard byteLevelPending else { return }
        words = words.map { ArraySlice(ByteLevelAlphabet.encode($0)) }
        byteLevelPending = false
    }

    /// Replaces every word by its splits, keeping track of which word starts at the origin.
    mutating func split(_ body: (ArraySlice<UInt8>) -> [ArraySlice<UInt8>]) {
        var out: [ArraySlice<UInt8>] = []
        out.reserveCapacity(words.count)
        var newFirst = false
        for (k, w) in words.enumerated() {
            let parts = body(w)
            if k == 0, firstAtOrigin, let p = parts.first, p.startIndex == w.startIndex { newFirst = true }
            out.append(contentsOf: parts)
        }
        words = out
        firstAtOrigin = newFirst
    }
}

/// A `tokenizer.json` pre-tokenizer: splits normalized text into the words the model sees.
protocol PreTokenizer: Sendable {
    func preTokenize(_ words: inout PreTokenizedWords)
    /// For pre-tokenizers that only cut text (no rewriting): a splitter over byte ranges, and
    /// whether the words come out byte-level. The encoder then hands the model ranges of one
    /// buffer instead of building a list of slices, which is most of the work for GPT-2-style
    /// tokenizers.
    var rangeSplitter: (splitter: RangeSplitter, byteLevel: Bool)? { get }
}

extension PreTokenizer {
    var rangeSplitter: (splitter: RangeSplitter, byteLevel: Bool)? { nil }
}

/// Cuts a byte range of a buffer into consecutive sub-ranges.
protocol RangeSplitter: Sendable {
    func split(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>])
}

/// A pattern whose matches tile the text (the hand-written GPT-2 / Llama-3 splits).
struct TilingSplitter: RangeSplitter {
    let matcher: ByteRangeMatcher
    func split(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>]) {
        matcher.appendMatches(p, range, into: &out)
    }
}

/// Leaves the range whole (ByteLevel without its regex).
struct WholeSplitter: RangeSplitter {
    func split(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>]) {
        if !range.isEmpty { out.append(range) }
    }
}

/// Splitters applied one after the other.
struct ChainedSplitter: RangeSplitter {
    let items: [RangeSplitter]
    func split(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>]) {
        var current = [range]
        for item in items {
            var next: [Range<Int>] = []
            next.reserveCapacity(current.count * 2)
            for r in current { item.split(p, r, into: &next) }
            current = next
        }
        out.append(contentsOf: current)
    }
}

/// Digits as their own words (each digit, or each run of digits).
struct DigitSplitter: RangeSplitter {
    let individual: Bool
    func split(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>]) {
        var start = range.lowerBound
        var i = range.lowerBound
        let end = range.upperBound
        var inDigits = false
        while i < end {
            let b = p[i]
            var len = 1
            var isDigit: Bool
            if b < 0x80 {
                isDigit = b >= 0x30 && b <= 0x39
            } else {
                let (v, l) = ByteScan.scalar(p, i, end)
                len = l
                isDigit = UnicodeSupport.isNumeric(v)
            }
            if isDigit {
                if i > start && (individual || !inDigits) { out.append(start..<i); start = i }
                if individual {
                    out.append(i..<(i + len))
                    start = i + len
                }
                inDigits = true
            } else {
                if inDigits && i > start { out.append(start..<i); start = i }
                inDigits = false
            }
            i += len
        }
        if start < end { out.append(start..<end) }
    }
}

/// How a Split keeps the delimiters it finds (the `behavior` field).
enum SplitBehavior: Sendable {
    case removed, isolated, mergedWithPrevious, mergedWithNext, contiguous

    static func parse(_ json: JSONReader, key: String = "behavior") throws -> SplitBehavior {
        let s = try json.optionalString(key) ?? "Isolated"
        switch s {
        case "Removed": return .removed
        case "Isolated": return .isolated
        case "MergedWithPrevious": return .mergedWithPrevious
        case "MergedWithNext": return .mergedWithNext
        case "Contiguous": return .contiguous
        default: throw json.fail(key, "unknown split behavior '\(s)'")
        }
    }
}

enum Splitting {
    /// Applies a split behaviour to the matches found in `word`, as `tokenizers` does: the word
    /// is cut into alternating match / non-match spans, then spans are merged or dropped and
    /// empty ones discarded.
    static func split(_ word: ArraySlice<UInt8>, matches: [Range<Int>], behavior: SplitBehavior, invert: Bool = false)
        -> [ArraySlice<UInt8>]
    {
        if word.isEmpty { return [] }
        var spans: [(Range<Int>, Bool)] = []
        spans.reserveCapacity(matches.count * 2 + 1)
        var prev = word.startIndex
        for m in matches {
            if m.lowerBound > prev { spans.append((prev..<m.lowerBound, invert)) }
            spans.append((m, !invert))
            prev = m.upperBound
        }
        if prev < word.endIndex { spans.append((prev..<word.endIndex, invert)) }

        var result: [Range<Int>] = []
        result.reserveCapacity(spans.count)
        switch behavior {
        case .isolated:
            result = spans.map { $0.0 }
        case .removed:
            result = spans.filter { !$0.1 }.map { $0.0 }
        case .mergedWithPrevious:
            var previousMatch = false
            for (r, isMatch) in spans {
                if isMatch && !previousMatch, let last = result.last {
                    result[result.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    result.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for (r, isMatch) in spans.reversed() {
                if isMatch && !previousMatch, let last = result.last {
                    result[result.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    result.append(r)
                }
                previousMatch = isMatch
            }
            result.reverse()
        case .contiguous:
            var previousMatch = false
            for (k, (r, isMatch)) in spans.enumerated() {
                if k > 0 && isMatch == previousMatch, let last = result.last {
                    result[result.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    result.append(r)
                }
                previousMatch = isMatch
            }
        }
        return result.compactMap { $0.isEmpty ? nil : word[$0] }
    }

    /// Each scalar satisfying the predicate is a match of its own (a `Fn(char) -> bool` pattern).
    static func charMatches(_ word: ArraySlice<UInt8>, _ predicate: (UInt32) -> Bool) -> [Range<Int>] {
        let (s, off) = UnicodeSupport.decode(word)
        let base = word.startIndex
        var out: [Range<Int>] = []
        for k in 0..<s.count where predicate(s[k]) {
            out.append((base + off[k])..<(base + off[k + 1]))
        }
        return out
    }
}

enum PreTokenizerFactory {
    static func make(_ json: JSONReader) throws -> PreTokenizer {
        let type = try json.string("type")
        switch type {
        case "Sequence":
            return SequencePreTokenizer(items: try json.objects("pretokenizers").map { try make($0) })
        case "ByteLevel":
            return ByteLevelPreTokenizer(
                addPrefixSpace: try json.bool("add_prefix_space", default: true),
                useRegex: try json.bool("use_regex", default: true))
        case "Split":
            return SplitPreTokenizer(
                pattern: try PatternSpec.parse(json.object("pattern")),
                behavior: try SplitBehavior.parse(json),
                invert: try json.bool("invert", default: false))
        case "Metaspace":
            let replacement = try json.optionalString("replacement") ?? "▁"
            var scheme = Metaspace.PrependScheme.always
            if let s = try json.optionalString("prepend_scheme") {
                switch s {
                case "always": scheme = .always
                case "first": scheme = .first
                case "never": scheme = .never
                default: throw json.fail("prepend_scheme", "unknown value '\(s)'")
                }
            } else if json.has("add_prefix_space") {
                scheme = try json.bool("add_prefix_space", default: true) ? .always : .never
            }
            return Metaspace(replacement: replacement, prependScheme: scheme, split: try json.bool("split", default: true))
        case "Whitespace": return WhitespacePreTokenizer()
        case "WhitespaceSplit": return WhitespaceSplitPreTokenizer()
        case "BertPreTokenizer": return BertPreTokenizer()
        case "Punctuation": return PunctuationPreTokenizer(behavior: try SplitBehavior.parse(json))
        case "Digits": return DigitsPreTokenizer(individualDigits: try json.bool("individual_digits", default: false))
        case "CharDelimiterSplit":
            let d = try json.string("delimiter")
            guard let v = d.unicodeScalars.first?.value, d.unicodeScalars.count == 1 else {
                throw json.fail("delimiter", "expected one character")
            }
            return CharDelimiterSplit(delimiter: v)
        default:
            throw TokenizerError.unsupported(file: json.file, component: "pre_tokenizer", type: type)
        }
    }
}

struct SequencePreTokenizer: PreTokenizer {
    let items: [PreTokenizer]
    func preTokenize(_ words: inout PreTokenizedWords) {
        for p in items { p.preTokenize(&words) }
    }

    var rangeSplitter: (splitter: RangeSplitter, byteLevel: Bool)? {
        var splitters: [RangeSplitter] = []
        for (k, item) in items.enumerated() {
            guard let (s, byteLevel) = item.rangeSplitter else { return nil }
            // Anything after the byte-level mapping would have to see mapped text.
            if byteLevel && k != items.count - 1 { return nil }
            splitters.append(s)
        }
        return (ChainedSplitter(items: splitters), items.last?.rangeSplitter?.byteLevel ?? false)
    }
}

/// GPT-2's pre-tokenizer: optional leading space, the GPT-2 regex, then the byte alphabet.
struct ByteLevelPreTokenizer: PreTokenizer {
    let addPrefixSpace: Bool
    let useRegex: Bool
    static let splitter = GPT2Splitter()

    var rangeSplitter: (splitter: RangeSplitter, byteLevel: Bool)? {
        if addPrefixSpace { return nil }
        return (useRegex ? TilingSplitter(matcher: ByteLevelPreTokenizer.splitter) : WholeSplitter(), true)
    }

    func preTokenize(_ words: inout PreTokenizedWords) {
        words.materializeByteLevel()
        if addPrefixSpace {
            words.words = words.words.map { w in
                // Like `NormalizedString::prepend`, nothing is added to an empty string.
                if w.first == 0x20 || w.isEmpty { return w }
                var a: [UInt8] = [0x20]
                a.append(contentsOf: w)
                return a[...]
            }
        }
        if useRegex {
            words.split { w in ByteLevelPreTokenizer.splitter.matches(in: w).map { w[$0] } }
        }
        words.byteLevelPending = true
    }
}

struct SplitPreTokenizer: PreTokenizer {
    let pattern: PatternSpec
    let behavior: SplitBehavior
    let invert: Bool

    var rangeSplitter: (splitter: RangeSplitter, byteLevel: Bool)? {
        // Isolated matches of a tiling pattern are exactly its matches.
        guard behavior == .isolated, !invert, case .regex(let m) = pattern, let tiling = m as? ByteRangeMatcher else { return nil }
        return (TilingSplitter(matcher: tiling), false)
    }
    func preTokenize(_ words: inout PreTokenizedWords) {
        words.materializeByteLevel()
        words.split { w in Splitting.split(w, matches: pattern.matches(in: w), behavior: behavior, invert: invert) }
    }
}

/// SentencePiece's whitespace handling: spaces become `▁`, one is prepended as the scheme says,
/// and (when `split`) words start at each `▁`.
struct Metaspace: PreTokenizer {
    enum PrependScheme: Sendable { case always, first, never }
    let replacement: String
    let prependScheme: PrependScheme
    let split: Bool

    func preTokenize(_ words: inout PreTokenizedWords) {
        words.materializeByteLevel()
        let rep = Array(replacement.utf8)
        let repScalar = replacement.unicodeScalars.first?.value ?? 0x2581
        var out: [ArraySlice<UInt8>] = []
        out.reserveCapacity(words.words.count)
        for (k, w) in words.words.enumerated() {
            var t = UnicodeSupport.replace([0x20], with: rep, in: Array(w))
            // An empty piece stays empty: `tokenizers` prepends by extending the first character.
            let startsWithRep = t.starts(with: rep) || t.isEmpty
            switch prependScheme {
            case .always: if !startsWithRep { t = rep + t }
            case .first: if !startsWithRep && k == 0 && words.firstAtOrigin { t = rep + t }
            case .never: break
            }
            if split {
                out.append(
                    contentsOf: Splitting.split(
                        t[...], matches: Splitting.charMatches(t[...]) { $0 == repScalar }, behavior: .mergedWithNext))
            } else if !t.isEmpty {
                out.append(t[...])
            }
        }
        // Rewritten words are new buffers, so the origin flag is carried over explicitly.
        words.words = out
    }
}

/// `\w+|[^\w\s]+`, keeping only the matches.
struct WhitespacePreTokenizer: PreTokenizer {
    func preTokenize(_ words: inout PreTokenizedWords) {
        words.materializeByteLevel()
        words.split { w in
            let (s, off) = UnicodeSupport.decode(w)
            let base = w.startIndex
            var out: [ArraySlice<UInt8>] = []
            var i = 0
            while i < s.count {
                if UnicodeSupport.isWhitespace(s[i]) { i += 1; continue }
                let isWord = UnicodeSupport.isWordCharacter(s[i])
                var j = i + 1
                while j < s.count && !UnicodeSupport.isWhitespace(s[j]) && UnicodeSupport.isWordCharacter(s[j]) == isWord { j += 1 }
                out.append(w[(base + off[i])..<(base + off[j])])
                i = j
            }
            return out
        }
    }
}

struct WhitespaceSplitPreTokenizer: PreTokenizer {
    func preTokenize(_ words: inout PreTokenizedWords) {
        words.materializeByteLevel()
        words.split { w in Splitting.split(w, matches: Splitting.charMatches(w, UnicodeSupport.isWhitespace), behavior: .removed) }
    }
}

struct BertPreTokenizer: PreTokenizer {
    func preTokenize(_ words: inout PreTokenizedWords) {
        words.materializeByteLevel()
        words.split { w in Splitting.split(w, matches: Splitting.charMatches(w, UnicodeSupport.isWhitespace), behavior: .removed) }
        words.split { w in Splitting.split(w, matches: Splitting.charMatches(w, UnicodeSupport.isPunctuation), behavior: .isolated) }
    }
}

struct PunctuationPreTokenizer: PreTokenizer {
    let behavior: SplitBehavior
    func preTokenize(_ words: inout PreTokenizedWords) {
        words.materializeByteLevel()
        words.split { w in Splitting.split(w, matches: Splitting.charMatches(w, UnicodeSupport.isPunctuation), behavior: behavior) }
    }
}

struct DigitsPreTokenizer: PreTokenizer {
    let individualDigits: Bool
    var rangeSplitter: (splitter: RangeSplitter, byteLevel: Bool)? { (DigitSplitter(individual: individualDigits), false) }
    func preTokenize(_ words: inout PreTokenizedWords) {
        words.materializeByteLevel()
        let behavior: SplitBehavior = individualDigits ? .isolated : .contiguous
        words.split { w in
            // ASCII words without digits are the common case; skip the scalar decoding for them.
            if !w.contains(where: { $0 >= 0x30 && $0 <= 0x39 || $0 >= 0x80 }) { return [w] }
            return Splitting.split(w, matches: Splitting.charMatches(w, UnicodeSupport.isNumeric), behavior: behavior)
        }
    }
}

struct CharDelimiterSplit: PreTokenizer {
    let delimiter: UInt32
    func preTokenize(_ words: inout PreTokenizedWords) {
        words.materializeByteLevel()
        words.split { w in Splitting.split(w, matches: Splitting.charMatches(w) { $0 == delimiter }, behavior: .removed) }
    }
}
