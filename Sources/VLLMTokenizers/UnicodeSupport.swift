/// Character classes used by the pre-tokenizer regexes of real models, computed once per scalar.
///
/// Hugging Face `tokenizers` runs Oniguruma with Unicode semantics: `\s` is the White_Space
/// property, `\p{L}` the letter categories and `\p{N}` the number categories. Classifying each
/// scalar once lets the hand-written splitters avoid a regex engine altogether.
enum ScalarClass: UInt8 {
    case letter, number, whitespace, other
}

/// Lookups on Unicode scalars that are hot in pre-tokenization; ASCII is served by tables.
enum UnicodeSupport {
    /// `asciiClass` as a never-freed buffer, for bounds-check-free lookups in hot loops.
    nonisolated(unsafe) static let asciiClassTable: UnsafeBufferPointer<ScalarClass> = {
        let p = UnsafeMutableBufferPointer<ScalarClass>.allocate(capacity: 128)
        _ = p.initialize(from: asciiClass)
        return UnsafeBufferPointer(p)
    }()

    static let asciiClass: [ScalarClass] = (0..<128).map { i -> ScalarClass in
        let s = Unicode.Scalar(UInt8(i))
        if (0x41...0x5A).contains(i) || (0x61...0x7A).contains(i) { return .letter }
        if (0x30...0x39).contains(i) { return .number }
        if s.properties.isWhitespace { return .whitespace }
        return .other
    }

    @inline(__always)
    static func classify(_ v: UInt32) -> ScalarClass {
        if v < 128 { return asciiClass[Int(v)] }
        guard let s = Unicode.Scalar(v) else { return .other }
        let p = s.properties
        if p.isWhitespace { return .whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    static func isWhitespace(_ v: UInt32) -> Bool {
        if v < 128 { return asciiClass[Int(v)] == .whitespace }
        return Unicode.Scalar(v)?.properties.isWhitespace ?? false
    }

    /// Rust's `char::is_numeric`: any of the N* general categories.
    static func isNumeric(_ v: UInt32) -> Bool {
        if v < 128 { return v >= 0x30 && v <= 0x39 }
        guard let s = Unicode.Scalar(v) else { return false }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Rust's `char::is_alphanumeric`, used by BERT-style splitting.
    static func isAlphanumeric(_ v: UInt32) -> Bool {
        if v < 128 { return asciiClass[Int(v)] == .letter || asciiClass[Int(v)] == .number }
        guard let s = Unicode.Scalar(v) else { return false }
        return s.properties.isAlphabetic || isNumeric(v)
    }

    /// Unicode punctuation (P* categories) or ASCII punctuation, as `tokenizers` defines it.
    static func isPunctuation(_ v: UInt32) -> Bool {
        if v < 128 {
            return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v)
                || (0x7B...0x7E).contains(v)
        }
        guard let s = Unicode.Scalar(v) else { return false }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    /// The regex `\w` of Rust's `regex` and Oniguruma: letters, marks, decimal digits and
    /// connector punctuation.
    static func isWordCharacter(_ v: UInt32) -> Bool {
        if v < 128 { return asciiClass[Int(v)] == .letter || asciiClass[Int(v)] == .number || v == 0x5F }
        guard let s = Unicode.Scalar(v) else { return false }
        if s.properties.isAlphabetic { return true }
        switch s.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return v == 0x200C || v == 0x200D
        }
    }

    /// Decodes valid UTF-8 (our buffers always come from Swift strings) into scalar values and
    /// the byte offset at which each scalar starts; a final sentinel offset equals the length.
    static func decode<C: Collection>(_ bytes: C) -> (scalars: [UInt32], offsets: [Int])
    where C.Element == UInt8, C.Index == Int {
        var scalars: [UInt32] = []
        var offsets: [Int] = []
        scalars.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var i = bytes.startIndex
        let end = bytes.endIndex
        let base = bytes.startIndex
        while i < end {
            let b0 = UInt32(bytes[i])
            offsets.append(i - base)
            if b0 < 0x80 {
                scalars.append(b0); i += 1
            } else if b0 < 0xE0 {
                scalars.append((b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F)); i += 2
            } else if b0 < 0xF0 {
                scalars.append((b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F)); i += 3
            } else {
                scalars.append(
                    (b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6
                        | UInt32(bytes[i + 3] & 0x3F))
                i += 4
            }
        }
        offsets.append(end - base)
        return (scalars, offsets)
    }

    /// Length of the UTF-8 sequence that starts with this lead byte.
    @inline(__always)
    static func sequenceLength(_ b0: UInt8) -> Int {
        if b0 < 0x80 { return 1 }
        if b0 < 0xE0 { return 2 }
        if b0 < 0xF0 { return 3 }
        return 4
    }

    static func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
        if v < 0x80 {
            out.append(UInt8(v))
        } else if v < 0x800 {
            out.append(UInt8(0xC0 | (v >> 6))); out.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            out.append(UInt8(0xE0 | (v >> 12))); out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            out.append(UInt8(0xF0 | (v >> 18))); out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// Finds `needle` in `hay` starting at `from`; a naive scan is fine for the short patterns
    /// tokenizers use (a space, `▁`, a token).
    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        let n = needle.count
        guard n > 0, hay.count >= n else { return nil }
        let first = needle[0]
        var i = from
        let last = hay.count - n
        while i <= last {
            if hay[i] == first {
                var j = 1
                while j < n && hay[i + j] == needle[j] { j += 1 }
                if j == n { return i }
            }
            i += 1
        }
        return nil
    }

    /// Replaces every non-overlapping occurrence of `pattern` with `content`.
    static func replace(_ pattern: [UInt8], with content: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        guard !pattern.isEmpty, var next = find(pattern, in: bytes, from: 0) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        var start = 0
        while true {
            out.append(contentsOf: bytes[start..<next])
            out.append(contentsOf: content)
            start = next + pattern.count
            guard let n = find(pattern, in: bytes, from: start) else { break }
            next = n
        }
        out.append(contentsOf: bytes[start...])
        return out
    }
}
