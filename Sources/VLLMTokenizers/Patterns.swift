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
    static let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
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

/// The GPT-2 split `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// written out as the alternatives a backtracking engine would try, in order.
struct GPT2Splitter: PatternMatcher {
    func matches(in text: ArraySlice<UInt8>) -> [Range<Int>] {
        let (s, off) = UnicodeSupport.decode(text)
        let base = text.startIndex
        let n = s.count
        var out: [Range<Int>] = []
        out.reserveCapacity(n / 3 + 1)
        var cls = [ScalarClass](repeating: .other, count: n)
        for k in 0..<n { cls[k] = UnicodeSupport.classify(s[k]) }
        var i = 0
        while i < n {
            let end = gpt2Match(s, cls, i, n)
            out.append((base + off[i])..<(base + off[end]))
            i = end
        }
        return out
    }

    @inline(__always)
    private func gpt2Match(_ s: [UInt32], _ cls: [ScalarClass], _ i: Int, _ n: Int) -> Int {
        let c = s[i]
        if c == 0x27 && i + 1 < n {  // '
            let a = s[i + 1]
            if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }  // s t m d
            if i + 2 < n {
                let b = s[i + 2]
                if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }
            }
        }
        var k = i
        if c == 0x20 && i + 1 < n && cls[i + 1] != .whitespace { k = i + 1 }
        let kc = cls[k]
        if kc != .whitespace {
            // ` ?\p{L}+`, ` ?\p{N}+` and ` ?[^\s\p{L}\p{N}]+` all take a run of one class.
            var j = k + 1
            while j < n && cls[j] == kc { j += 1 }
            return j
        }
        // Whitespace: `\s+(?!\S)` leaves the last space to prefix the next word; else `\s+`.
        var j = i + 1
        while j < n && cls[j] == .whitespace { j += 1 }
        if j == n || j - i == 1 { return j }
        return j - 1
    }
}

/// The Llama-3 split (and Qwen2's, which takes digits one at a time instead of up to three):
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
struct Llama3Splitter: PatternMatcher {
    let maxDigits: Int

    func matches(in text: ArraySlice<UInt8>) -> [Range<Int>] {
        let (s, off) = UnicodeSupport.decode(text)
        let base = text.startIndex
        let n = s.count
        var out: [Range<Int>] = []
        out.reserveCapacity(n / 3 + 1)
        var cls = [ScalarClass](repeating: .other, count: n)
        for k in 0..<n { cls[k] = UnicodeSupport.classify(s[k]) }
        var i = 0
        while i < n {
            let end = match(s, cls, i, n)
            out.append((base + off[i])..<(base + off[end]))
            i = end
        }
        return out
    }

    @inline(__always) private func isNewline(_ v: UInt32) -> Bool { v == 0x0A || v == 0x0D }
    @inline(__always) private func lower(_ v: UInt32) -> UInt32 { (v >= 0x41 && v <= 0x5A) ? v + 32 : v }

    private func match(_ s: [UInt32], _ cls: [ScalarClass], _ i: Int, _ n: Int) -> Int {
        let c = s[i]
        if c == 0x27 && i + 1 < n {
            let a = lower(s[i + 1])
            if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }
            if i + 2 < n {
                let b = lower(s[i + 2])
                if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }
            }
        }
        let cc = cls[i]
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if cc == .letter {
            var j = i + 1
            while j < n && cls[j] == .letter { j += 1 }
            return j
        }
        if cc != .number && !isNewline(c) && i + 1 < n && cls[i + 1] == .letter {
            var j = i + 2
            while j < n && cls[j] == .letter { j += 1 }
            return j
        }
        // `\p{N}{1,3}`
        if cc == .number {
            var j = i + 1
            while j < n && j - i < maxDigits && cls[j] == .number { j += 1 }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var k = i
        if c == 0x20 && i + 1 < n && cls[i + 1] == .other { k = i + 1 }
        if cls[k] == .other {
            var j = k + 1
            while j < n && cls[j] == .other { j += 1 }
            while j < n && isNewline(s[j]) { j += 1 }
            return j
        }
        // Whitespace from here on.
        var j = i + 1
        while j < n && cls[j] == .whitespace { j += 1 }
        // `\s*[\r\n]+`: up to and including the last newline of the run.
        var lastNewline = -1
        var p = j - 1
        while p >= i {
            if isNewline(s[p]) { lastNewline = p; break }
            p -= 1
        }
        if lastNewline >= 0 { return lastNewline + 1 }
        if j == n || j - i == 1 { return j }
        return j - 1
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
