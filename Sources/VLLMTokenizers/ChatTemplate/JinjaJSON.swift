import Foundation

/// A JSON reader that behaves like Python's `json.loads`: object keys keep their order (Python
/// dicts are ordered, and `tojson` prints them in that order), integers stay ints and numbers with
/// a fraction or exponent become floats. `NaN`, `Infinity` and `-Infinity` are accepted too,
/// unless `strict` (RFC 8259 only: no such words, no number that overflows to infinity).
struct JinjaJSONParser {
    private let b: [UInt8]
    private var i = 0
    /// Nesting depth, bounded so that hostile input cannot overflow the stack.
    private var depth = 0
    private let maxDepth: Int
    private let strict: Bool

    static func parse(_ text: String) throws -> JinjaValue {
        try parse(Array(text.utf8), strict: false, maxDepth: 512)
    }

    static func parse(_ bytes: [UInt8], strict: Bool, maxDepth: Int) throws -> JinjaValue {
        var p = JinjaJSONParser(b: bytes, maxDepth: maxDepth, strict: strict)
        p.skipSpace()
        let v = try p.value()
        p.skipSpace()
        if p.i != p.b.count { throw p.fail("extra data") }
        return v
    }

    private init(b: [UInt8], maxDepth: Int, strict: Bool) {
        self.b = b
        self.maxDepth = maxDepth
        self.strict = strict
    }

    private func fail(_ what: String) -> JinjaError {
        let line = b[0..<min(i, b.count)].filter { $0 == 10 }.count + 1
        return JinjaError(.runtime, "invalid JSON: \(what) at line \(line), offset \(i)")
    }

    private mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    private mutating func literal(_ word: String, _ v: JinjaValue) throws -> JinjaValue {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { throw fail("unexpected character") }
        i += w.count
        return v
    }

    private mutating func value() throws -> JinjaValue {
        guard i < b.count else { throw fail("unexpected end") }
        depth += 1
        defer { depth -= 1 }
        if depth > maxDepth { throw fail("nested more than \(maxDepth) levels deep") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var d = JinjaDict()
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .dict(d) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected key") }
                let k = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                d[k] = try value()
                skipSpace()
                guard i < b.count else { throw fail("unexpected end") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .dict(d) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var a: [JinjaValue] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .list(a) }
            while true {
                skipSpace()
                a.append(try value())
                skipSpace()
                guard i < b.count else { throw fail("unexpected end") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .list(a) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .none)
        case UInt8(ascii: "N") where !strict: return try literal("NaN", .float(.nan))
        case UInt8(ascii: "I") where !strict: return try literal("Infinity", .float(.infinity))
        default: return try number()
        }
    }

    private mutating func number() throws -> JinjaValue {
        let start = i
        if i < b.count, b[i] == UInt8(ascii: "-") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "I"), !strict { return try literal("Infinity", .float(-.infinity)) }
        }
        var isFloat = false
        let digitsStart = i
        while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
        if i == digitsStart { throw fail("unexpected character") }
        if strict, b[digitsStart] == UInt8(ascii: "0"), i - digitsStart > 1 { throw fail("leading zero in a number") }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            isFloat = true
            i += 1
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            isFloat = true
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
        }
        let text = String(decoding: b[start..<i], as: UTF8.self)
        if !isFloat, let v = Int(text) { return .int(v) }
        guard let d = Double(text) else { throw fail("bad number") }
        if strict, !d.isFinite { throw fail("number out of range") }
        return .float(d)
    }

    private mutating func string() throws -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { throw fail("unterminated string") }
            do {
                try JSONEscape.decode(b, at: &i, into: &out)
            } catch {
                throw fail(error == .invalidEscape ? "bad escape" : "bad \\u escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Python's `json.dumps(x, ensure_ascii=..., indent=..., separators=..., sort_keys=...)`, which is
/// what transformers installs as the `tojson` filter.
struct JinjaJSONEncoder {
    var indent: String?
    var itemSeparator: String
    var keySeparator: String
    var sortKeys: Bool
    var ensureASCII: Bool

    init(indent: String?, separators: (String, String)? = nil, sortKeys: Bool = false, ensureASCII: Bool = false) {
        self.indent = indent
        // Python switches the default item separator to "," when indenting, to avoid trailing spaces.
        let defaults = indent == nil ? (", ", ": ") : (",", ": ")
        self.itemSeparator = separators?.0 ?? defaults.0
        self.keySeparator = separators?.1 ?? defaults.1
        self.sortKeys = sortKeys
        self.ensureASCII = ensureASCII
    }

    func encode(_ v: JinjaValue) throws -> String {
        var out = ""
        try write(v, level: 0, into: &out)
        return out
    }

    private func write(_ v: JinjaValue, level: Int, into out: inout String) throws {
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .float(let d): out += floatText(d)
        case .string(let s): writeString(s, into: &out)
        case .list(let a), .tuple(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            let (sep, close) = separators(level)
            out += close.isEmpty ? "" : String(sep.dropFirst(itemSeparator.count))
            for (n, item) in a.enumerated() {
                if n > 0 { out += sep }
                try write(item, level: level + 1, into: &out)
            }
            out += close + "]"
        case .dict(let d):
            if d.count == 0 { out += "{}"; return }
            var pairs: [(String, JinjaValue, JinjaValue)] = []
            for (k, val) in zip(d.keys, d.values) { pairs.append((try keyText(k), k, val)) }
            if sortKeys {
                // Python sorts the original keys, which must be mutually comparable.
                var err: Error?
                pairs.sort { a, b in
                    do { return try a.1.pyLess(b.1) } catch { err = error; return false }
                }
                if let err { throw err }
            }
            out += "{"
            let (sep, close) = separators(level)
            out += close.isEmpty ? "" : String(sep.dropFirst(itemSeparator.count))
            for (n, (k, _, val)) in pairs.enumerated() {
                if n > 0 { out += sep }
                writeString(k, into: &out)
                out += keySeparator
                try write(val, level: level + 1, into: &out)
            }
            out += close + "}"
        case .undefined:
            throw JinjaError.type("Object of type Undefined is not JSON serializable")
        case .object(let o):
            throw JinjaError.type("Object of type \(o.typeName) is not JSON serializable")
        }
    }

    /// The separator between items and the text before the closing bracket at this depth.
    private func separators(_ level: Int) -> (String, String) {
        guard let indent else { return (itemSeparator, "") }
        let inner = "\n" + String(repeating: indent, count: level + 1)
        let outer = "\n" + String(repeating: indent, count: level)
        return (itemSeparator + inner, outer)
    }

    private func floatText(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return pyFloatRepr(d)
    }

    private func keyText(_ k: JinjaValue) throws -> String {
        switch k {
        case .string(let s): return s
        case .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .float(let d): return floatText(d)
        default: throw JinjaError.type("keys must be str, int, float, bool or None, not \(k.typeName)")
        }
    }

    /// Python's `ensure_ascii` writes everything past ASCII's printable range as `\u` escapes.
    private func writeString(_ s: String, into out: inout String) {
        JSONEscape.write(s, into: &out, alsoEscaping: { [ensureASCII] in ensureASCII && $0.value > 0x7E })
    }
}
