import Foundation

/// Finds the matches of a pattern in UTF-8 text.
///
/// Ranges are in the index space of the slice passed in, non-overlapping and in order, like a
/// regex engine's `find_iter`.
protocol PatternMatcher: Sendable {
    func matches(in text: ArraySlice<UInt8>) -> [Range<Int>]
}

/// The `pattern` field of Split pre-tokenizers and Replace normalizers/decoders.
enum PatternSpec: Sendable {
    /// A literal string, matched as is.
    case string([UInt8])
    /// A regular expression.
    case regex(PatternMatcher)

    static func parse(_ json: JSONReader) throws -> PatternSpec {
        if let s = try json.optionalString("String") { return .string(Array(s.utf8)) }
        if let r = try json.optionalString("Regex") { return .regex(try RegexFactory.make(r, file: json.file, field: json.field("Regex"))) }
        throw json.fail("String", "a pattern needs a 'String' or a 'Regex' key")
    }

    func matches(in text: ArraySlice<UInt8>) -> [Range<Int>] {
        switch self {
        case .regex(let m): return m.matches(in: text)
        case .string(let s):
            guard !s.isEmpty else { return [] }
            var out: [Range<Int>] = []
            var i = text.startIndex
            let last = text.endIndex - s.count
            while i <= last {
                var j = 0
                while j < s.count && text[i + j] == s[j] { j += 1 }
                if j == s.count {
                    out.append(i..<(i + s.count)); i += s.count
                } else {
                    i += 1
                }
            }
            return out
        }
    }
}

/// Chooses a hand-written splitter for the pre-tokenizer regexes that real models use and falls
/// back to `NSRegularExpression` for any other pattern.
enum RegexFactory {
    static let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3 =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    static func make(_ pattern: String, file: String, field: String) throws -> PatternMatcher {
        switch pattern {
        case gpt2: return GPT2Splitter()
        case llama3: return Llama3Splitter(maxDigits: 3)
        case qwen2: return Llama3Splitter(maxDigits: 1)
        default:
            do {
                return try FoundationRegexMatcher(pattern: pattern)
            } catch {
                throw TokenizerError.invalidField(file: file, field: field, reason: "cannot compile regex \(pattern): \(error)")
            }
        }
    }
}

/// Reads scalars and their classes straight from UTF-8, so the hand-written splitters need no
/// decoded copy of the text (a 1 MB prompt would otherwise cost 13 MB of temporary arrays).
@usableFromInline
enum ByteScan {
    /// The scalar at `i` and its length in bytes (input is valid UTF-8).
    @inline(__always)
    static func scalar(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> (UInt32, Int) {
        let b0 = UInt32(p[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0, i + 1 < end { return ((b0 & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F), 2) }
        if b0 < 0xF0, i + 2 < end { return ((b0 & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F), 3) }
        if i + 3 < end {
            return ((b0 & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6 | UInt32(p[i + 3] & 0x3F), 4)
        }
        return (0xFFFD, end - i)
    }

    /// `table` is `UnicodeSupport.asciiClassTable`, passed in so that hot loops do not pay for
    /// the lazy-global check on every character.
    @inline(__always)
    static func classAt(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, _ table: UnsafeBufferPointer<ScalarClass>) -> (
        ScalarClass, Int
    ) {
        let b0 = p[i]
        if b0 < 0x80 { return (table[Int(b0)], 1) }
        let (v, n) = scalar(p, i, end)
        return (UnicodeSupport.classify(v), n)
    }
}

/// A pre-tokenizer pattern that can report its matches as byte ranges of a buffer.
protocol ByteRangeMatcher: PatternMatcher {
    /// Appends the matches inside `range` of `p`; together they cover the range exactly.
    func appendMatches(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>])
}

/// A split written out as code: every position starts a match, which `matchEnd` ends, so the
/// matches tile the text one after the other.
protocol SequentialSplitter: ByteRangeMatcher {
    /// The end of the match that starts at `i` (after `i`, at most `end`); `t` classifies ASCII bytes.
    func matchEnd(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, _ t: UnsafeBufferPointer<ScalarClass>) -> Int
}

extension SequentialSplitter {
    func appendMatches(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>]) {
        var i = range.lowerBound
        let end = range.upperBound
        let t = UnicodeSupport.asciiClassTable
        while i < end {
            let e = matchEnd(p, i, end, t)
            out.append(i..<e)
            i = e
        }
    }
}

extension ByteRangeMatcher {
    func matches(in text: ArraySlice<UInt8>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        text.withUnsafeBufferPointer { p in
            // The buffer of a slice starts at its startIndex; shift the ranges back.
            var local: [Range<Int>] = []
            appendMatches(p, 0..<p.count, into: &local)
            out = local.map { ($0.lowerBound + text.startIndex)..<($0.upperBound + text.startIndex) }
        }
        return out
    }
}

/// The GPT-2 split `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// written out as the alternatives a backtracking engine would try, in order.
struct GPT2Splitter: SequentialSplitter {
    @inline(__always)
    func matchEnd(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, _ t: UnsafeBufferPointer<ScalarClass>) -> Int {
        let c = p[i]
        if c == 0x27 && i + 1 < end {  // '
            let a = p[i + 1]
            if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }  // s t m d
            if i + 2 < end {
                let b = p[i + 2]
                if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }
            }
        }
        var k = i
        if c == 0x20 && i + 1 < end && ByteScan.classAt(p, i + 1, end, t).0 != .whitespace { k = i + 1 }
        let (kc, klen) = ByteScan.classAt(p, k, end, t)
        if kc != .whitespace {
            // ` ?\p{L}+`, ` ?\p{N}+` and ` ?[^\s\p{L}\p{N}]+` all take a run of one class.
            var j = k + klen
            while j < end {
                let (cc, l) = ByteScan.classAt(p, j, end, t)
                if cc != kc { break }
                j += l
            }
            return j
        }
        // Whitespace: `\s+(?!\S)` leaves the last space to prefix the next word; else `\s+`.
        var j = i + klen
        var lastStart = i
        var count = 1
        while j < end {
            let (cc, l) = ByteScan.classAt(p, j, end, t)
            if cc != .whitespace { break }
            lastStart = j
            j += l
            count += 1
        }
        if j == end || count == 1 { return j }
        return lastStart
    }
}

/// The Llama-3 split (and Qwen2's, which takes digits one at a time instead of up to three):
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
struct Llama3Splitter: SequentialSplitter {
    let maxDigits: Int

    @inline(__always) private func isNewline(_ v: UInt8) -> Bool { v == 0x0A || v == 0x0D }
    @inline(__always) private func lower(_ v: UInt8) -> UInt8 { (v >= 0x41 && v <= 0x5A) ? v + 32 : v }

    func matchEnd(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, _ t: UnsafeBufferPointer<ScalarClass>) -> Int {
        let c = p[i]
        if c == 0x27 && i + 1 < end {
            let a = lower(p[i + 1])
            if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }
            if i + 2 < end {
                let b = lower(p[i + 2])
                if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }
            }
        }
        let (cc, clen) = ByteScan.classAt(p, i, end, t)
        @inline(__always) func letters(from start: Int) -> Int {
            var j = start
            while j < end {
                let (x, l) = ByteScan.classAt(p, j, end, t)
                if x != .letter { break }
                j += l
            }
            return j
        }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if cc == .letter { return letters(from: i + clen) }
        if cc != .number && !isNewline(c) && i + clen < end {
            let (nc, nlen) = ByteScan.classAt(p, i + clen, end, t)
            if nc == .letter { return letters(from: i + clen + nlen) }
        }
        // `\p{N}{1,3}`
        if cc == .number {
            var j = i + clen
            var n = 1
            while j < end && n < maxDigits {
                let (x, l) = ByteScan.classAt(p, j, end, t)
                if x != .number { break }
                j += l
                n += 1
            }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var k = i
        var kc = cc
        var klen = clen
        if c == 0x20 && i + 1 < end {
            let (nc, nlen) = ByteScan.classAt(p, i + 1, end, t)
            if nc == .other { k = i + 1; kc = nc; klen = nlen }
        }
        if kc == .other {
            var j = k + klen
            while j < end {
                let (x, l) = ByteScan.classAt(p, j, end, t)
                if x != .other { break }
                j += l
            }
            while j < end && isNewline(p[j]) { j += 1 }
            return j
        }
        // Whitespace: `\s*[\r\n]+` ends after the run's last newline; then `\s+(?!\S)`, `\s+`.
        var j = i + clen
        var lastStart = i
        var count = 1
        var afterNewline = isNewline(c) ? i + 1 : -1
        while j < end {
            let (x, l) = ByteScan.classAt(p, j, end, t)
            if x != .whitespace { break }
            if isNewline(p[j]) { afterNewline = j + 1 }
            lastStart = j
            j += l
            count += 1
        }
        if afterNewline >= 0 { return afterNewline }
        if j == end || count == 1 { return j }
        return lastStart
    }
}

/// Any other regex, run by Foundation. ICU's `\s` is narrower than Oniguruma's (it leaves out
/// U+000B and U+0085), so `\s`/`\S` are rewritten to the White_Space set first.
struct FoundationRegexMatcher: PatternMatcher, @unchecked Sendable {
    // NSRegularExpression is immutable and documented thread-safe for matching.
    let regex: NSRegularExpression

    init(pattern: String) throws {
        regex = try NSRegularExpression(pattern: FoundationRegexMatcher.rewrite(pattern), options: [])
    }

    static func rewrite(_ p: String) -> String {
        let ws = #"\t\n\x{0B}\f\r\x{85}\p{Z}"#
        var out = ""
        var inClass = 0
        var it = Array(p)
        var i = 0
        while i < it.count {
            let ch = it[i]
            if ch == "\\" && i + 1 < it.count {
                let nx = it[i + 1]
                if nx == "s" {
                    out += inClass > 0 ? ws : "[\(ws)]"
                } else if nx == "S" && inClass == 0 {
                    out += "[^\(ws)]"
                } else {
                    out.append(ch); out.append(nx)
                }
                i += 2
                continue
            }
            if ch == "[" { inClass += 1 } else if ch == "]" && inClass > 0 { inClass -= 1 }
            out.append(ch)
            i += 1
        }
        it.removeAll()
        return out
    }

    func matches(in text: ArraySlice<UInt8>) -> [Range<Int>] {
        let str = String(decoding: text, as: UTF8.self)
        // Map UTF-16 offsets (what NSRegularExpression reports) back to byte offsets.
        var u16ToByte: [Int] = []
        u16ToByte.reserveCapacity(text.count + 1)
        var byte = text.startIndex
        for sc in str.unicodeScalars {
            let u16 = sc.value > 0xFFFF ? 2 : 1
            let len = sc.value < 0x80 ? 1 : sc.value < 0x800 ? 2 : sc.value < 0x10000 ? 3 : 4
            for _ in 0..<u16 { u16ToByte.append(byte) }
            byte += len
        }
        u16ToByte.append(byte)
        let ns = str as NSString
        var out: [Range<Int>] = []
        regex.enumerateMatches(in: str, options: [], range: NSRange(location: 0, length: ns.length)) { m, _, _ in
            guard let r = m?.range, r.location != NSNotFound, r.length > 0 else { return }
            out.append(u16ToByte[r.location]..<u16ToByte[r.location + r.length])
        }
        return out
    }
}
