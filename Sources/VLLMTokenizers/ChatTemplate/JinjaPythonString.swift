import Foundation

/// Python `str` operations on Swift strings.
///
/// Python indexes and compares strings by Unicode code point, while Swift works on grapheme
/// clusters and canonical equivalence, so everything here goes through `unicodeScalars` or UTF-8.
enum JinjaPyString {
    /// `str.isspace()` for one character (Unicode White_Space plus the ASCII separators 0x1C-0x1F).
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default: return false
        }
    }

    static func scalars(_ s: String) -> [Unicode.Scalar] { Array(s.unicodeScalars) }

    static func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars)
        return String(out)
    }

    static func length(_ s: String) -> Int { s.unicodeScalars.count }

    static func equal(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    /// Code-point order; UTF-8 byte order is the same order.
    static func less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    // MARK: strip

    static func strip(_ s: String, _ chars: String?, left: Bool = true, right: Bool = true) -> String {
        let cs = scalars(s)
        let set = chars.map { Set($0.unicodeScalars) }
        func drop(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? isSpace(c) }
        var lo = 0, hi = cs.count
        if left { while lo < hi, drop(cs[lo]) { lo += 1 } }
        if right { while hi > lo, drop(cs[hi - 1]) { hi -= 1 } }
        return string(cs[lo..<hi])
    }

    // MARK: find / replace / split on substrings, done on UTF-8 bytes (code point exact).

    static func find(_ hay: [UInt8], _ needle: [UInt8], from: Int = 0) -> Int? {
        if needle.isEmpty { return from <= hay.count ? from : nil }
        if needle.count > hay.count { return nil }
        var i = from
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == needle[0] {
                var j = 1
                while j < needle.count && hay[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    static func rfind(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        if needle.count > hay.count { return nil }
        var i = hay.count - needle.count
        while i >= 0 {
            if Array(hay[i..<(i + needle.count)]) == needle { return i }
            i -= 1
        }
        return nil
    }

    static func contains(_ hay: String, _ needle: String) -> Bool {
        find(Array(hay.utf8), Array(needle.utf8)) != nil
    }

    static func count(_ hay: String, _ needle: String) -> Int {
        if needle.isEmpty { return length(hay) + 1 }
        let h = Array(hay.utf8), n = Array(needle.utf8)
        var c = 0, i = 0
        while let f = find(h, n, from: i) { c += 1; i = f + n.count }
        return c
    }

    /// `str.find` returning a code point index.
    static func findIndex(_ hay: String, _ needle: String, reverse: Bool) -> Int {
        let h = Array(hay.utf8), n = Array(needle.utf8)
        guard let b = reverse ? rfind(h, n) : find(h, n) else { return -1 }
        return String(decoding: h[0..<b], as: UTF8.self).unicodeScalars.count
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int = -1) -> String {
        if old.isEmpty {
            // Python inserts `new` between every code point (and at both ends).
            var out = "", n = 0
            for c in s.unicodeScalars {
                if count < 0 || n < count { out += new; n += 1 }
                out.unicodeScalars.append(c)
            }
            if count < 0 || n < count { out += new }
            return out
        }
        let h = Array(s.utf8), o = Array(old.utf8), nw = Array(new.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(h.count)
        var i = 0, done = 0
        while count < 0 || done < count, let f = find(h, o, from: i) {
            out.append(contentsOf: h[i..<f])
            out.append(contentsOf: nw)
            i = f + o.count
            done += 1
        }
        out.append(contentsOf: h[i...])
        return String(decoding: out, as: UTF8.self)
    }

    /// `str.split(sep, maxsplit)`.
    static func split(_ s: String, _ sep: String?, maxsplit: Int = -1) throws -> [String] {
        guard let sep else {
            var parts: [String] = []
            let cs = scalars(s)
            var i = 0
            while i < cs.count {
                while i < cs.count && isSpace(cs[i]) { i += 1 }
                if i == cs.count { break }
                if maxsplit >= 0 && parts.count == maxsplit {
                    var end = cs.count
                    while end > i && isSpace(cs[end - 1]) { end -= 1 }
                    parts.append(string(cs[i..<end]))
                    return parts
                }
                let start = i
                while i < cs.count && !isSpace(cs[i]) { i += 1 }
                parts.append(string(cs[start..<i]))
            }
            return parts
        }
        if sep.isEmpty { throw JinjaError(.runtime, "empty separator") }
        let h = Array(s.utf8), n = Array(sep.utf8)
        var parts: [String] = []
        var i = 0
        while maxsplit < 0 || parts.count < maxsplit, let f = find(h, n, from: i) {
            parts.append(String(decoding: h[i..<f], as: UTF8.self))
            i = f + n.count
        }
        parts.append(String(decoding: h[i...], as: UTF8.self))
        return parts
    }

    /// `str.rsplit(sep, maxsplit)`.
    static func rsplit(_ s: String, _ sep: String?, maxsplit: Int = -1) throws -> [String] {
        if maxsplit < 0 { return try split(s, sep) }
        guard let sep else {
            var parts: [String] = []
            let cs = scalars(s)
            var i = cs.count
            while i > 0 {
                while i > 0 && isSpace(cs[i - 1]) { i -= 1 }
                if i == 0 { break }
                if parts.count == maxsplit {
                    var start = 0
                    while start < i && isSpace(cs[start]) { start += 1 }
                    parts.append(string(cs[start..<i]))
                    break
                }
                let end = i
                while i > 0 && !isSpace(cs[i - 1]) { i -= 1 }
                parts.append(string(cs[i..<end]))
            }
            return parts.reversed()
        }
        if sep.isEmpty { throw JinjaError(.runtime, "empty separator") }
        var h = Array(s.utf8)
        let n = Array(sep.utf8)
        var parts: [String] = []
        while parts.count < maxsplit, let f = rfind(h, n) {
            parts.append(String(decoding: h[(f + n.count)...], as: UTF8.self))
            h = Array(h[0..<f])
        }
        parts.append(String(decoding: h, as: UTF8.self))
        return parts.reversed()
    }

    static func isLineBreak(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    /// `str.splitlines(keepends)`.
    static func splitlines(_ s: String, keepends: Bool = false) -> [String] {
        let cs = scalars(s)
        var lines: [String] = []
        var i = 0, start = 0
        while i < cs.count {
            if isLineBreak(cs[i]) {
                var end = i + 1
                if cs[i] == "\r" && i + 1 < cs.count && cs[i + 1] == "\n" { end = i + 2 }
                lines.append(string(cs[start..<(keepends ? end : i)]))
                i = end
                start = end
            } else {
                i += 1
            }
        }
        if start < cs.count { lines.append(string(cs[start...])) }
        return lines
    }

    // MARK: case

    static func isCased(_ c: Unicode.Scalar) -> Bool {
        let p = c.properties
        return p.isUppercase || p.isLowercase || p.generalCategory == .titlecaseLetter
    }

    static func upper(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars { out += c.properties.uppercaseMapping }
        return out
    }

    static func lower(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars { out += c.properties.lowercaseMapping }
        return out
    }

    /// `str.title()`: a cased character after an uncased one is title-cased, the others lowered.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            out += previousCased ? c.properties.lowercaseMapping : c.properties.titlecaseMapping
            previousCased = isCased(c)
        }
        return out
    }

    /// `str.capitalize()`: first character title-cased, the rest lowered.
    static func capitalize(_ s: String) -> String {
        var out = ""
        var first = true
        for c in s.unicodeScalars {
            out += first ? c.properties.titlecaseMapping : c.properties.lowercaseMapping
            first = false
        }
        return out
    }

    static func swapcase(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            if c.properties.isUppercase {
                out += c.properties.lowercaseMapping
            } else if c.properties.isLowercase {
                out += c.properties.uppercaseMapping
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// `str.islower()` / `str.isupper()`: some cased character, and none of the other case.
    static func isLower(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            if c.properties.isUppercase || c.properties.generalCategory == .titlecaseLetter { return false }
            if c.properties.isLowercase { cased = true }
        }
        return cased
    }

    static func isUpper(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            if c.properties.isLowercase || c.properties.generalCategory == .titlecaseLetter { return false }
            if c.properties.isUppercase { cased = true }
        }
        return cased
    }

    // MARK: repr

    /// Python's `str.isprintable()` for one character.
    static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        if c == " " { return true }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
            .spaceSeparator:
            return false
        default: return true
        }
    }

    /// Python's `repr(str)`.
    static func repr(_ s: String) -> String {
        let hasSingle = s.unicodeScalars.contains("'")
        let hasDouble = s.unicodeScalars.contains("\"")
        let quote: Unicode.Scalar = (hasSingle && !hasDouble) ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        func hex(_ v: UInt32, _ width: Int) -> String {
            let h = String(v, radix: 16)
            return String(repeating: "0", count: max(0, width - h.count)) + h
        }
        for c in s.unicodeScalars {
            switch c {
            case quote, "\\":
                out.append("\\")
                out.append(c)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default:
                if c.value < 0x20 || c.value == 0x7F {
                    out.append(contentsOf: ("\\x" + hex(c.value, 2)).unicodeScalars)
                } else if c.value < 0x7F || isPrintable(c) {
                    out.append(c)
                } else if c.value <= 0xFF {
                    out.append(contentsOf: ("\\x" + hex(c.value, 2)).unicodeScalars)
                } else if c.value <= 0xFFFF {
                    out.append(contentsOf: ("\\u" + hex(c.value, 4)).unicodeScalars)
                } else {
                    out.append(contentsOf: ("\\U" + hex(c.value, 8)).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }

    // MARK: numbers from strings

    /// Python's `int(str, base)`; nil where Python raises ValueError.
    static func parseInt(_ s: String, base: Int = 10) -> Int? {
        var t = strip(s, nil).replacingOccurrences(of: "_", with: "")
        var negative = false
        if t.hasPrefix("-") { negative = true; t.removeFirst() } else if t.hasPrefix("+") { t.removeFirst() }
        var b = base
        let lower = t.lowercased()
        if base == 0 || base == 16, lower.hasPrefix("0x") {
            t = String(t.dropFirst(2)); b = 16
        } else if base == 0 || base == 8, lower.hasPrefix("0o") {
            t = String(t.dropFirst(2)); b = 8
        } else if base == 0 || base == 2, lower.hasPrefix("0b") {
            t = String(t.dropFirst(2)); b = 2
        } else if base == 0 {
            b = 10
        }
        guard !t.isEmpty, let v = Int(t, radix: b) else { return nil }
        return negative ? -v : v
    }

    /// Python's `float(str)`; nil where Python raises ValueError.
    static func parseFloat(_ s: String) -> Double? {
        let t = strip(s, nil).replacingOccurrences(of: "_", with: "")
        let l = t.lowercased()
        var body = l
        var sign = 1.0
        if body.hasPrefix("-") { sign = -1; body.removeFirst() } else if body.hasPrefix("+") { body.removeFirst() }
        if body == "inf" || body == "infinity" { return sign * .infinity }
        if body == "nan" { return .nan }
        guard !body.isEmpty, body.allSatisfy({ "0123456789.e+-".contains($0) }) else { return nil }
        return Double(t)
    }
}
