/// JSON's backslash escapes in strings: decoded for the tokenizer.json reader (`JSON.swift`) and the
/// chat templates' order-preserving reader (`JinjaJSON.swift`), which differ in what they build;
/// written for every JSON writer above this module (`tojson`, the token lines of `vllm
/// detokenize`, the structured outputs' literals), which differ only in what else they escape.
public enum JSONEscape {
    enum Failure: Error {
        /// Fewer than four characters after `\u`.
        case truncatedUnicode
        /// `\u` not followed by four hex digits.
        case invalidUnicode
        /// A backslash followed by a letter JSON does not define.
        case invalidEscape
    }

    /// Decodes the escape whose letter is `bytes[i]` (the byte after the backslash), appends its
    /// UTF-8 to `out` and moves `i` past it. A `\u` high surrogate takes a following `\u` low
    /// surrogate; a surrogate left alone becomes U+FFFD (Swift strings cannot hold one).
    static func decode<Bytes: RandomAccessCollection>(
        _ bytes: Bytes, at i: inout Int, into out: inout [UInt8]
    ) throws(Failure) where Bytes.Element == UInt8, Bytes.Index == Int {
        let e = bytes[i]
        i += 1
        switch e {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var v = try hex4(bytes, at: &i)
            if v >= 0xD800 && v < 0xDC00 {
                let high = v
                v = 0xFFFD
                if i + 6 <= bytes.endIndex && bytes[i] == UInt8(ascii: "\\") && bytes[i + 1] == UInt8(ascii: "u") {
                    var j = i + 2
                    let low = try hex4(bytes, at: &j)
                    // Not a low surrogate: it stays for the next escape to read.
                    if low >= 0xDC00 && low < 0xE000 {
                        v = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                        i = j
                    }
                }
            } else if v >= 0xDC00 && v < 0xE000 {
                v = 0xFFFD
            }
            UnicodeSupport.appendUTF8(v, to: &out)
        default: throw .invalidEscape
        }
    }

    /// `s` as a JSON string literal (see `write`).
    public static func quoted(_ s: String, alsoEscaping extra: (Unicode.Scalar) -> Bool = { _ in false }) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count + 2)
        write(s, into: &out, alsoEscaping: extra)
        return out
    }

    /// Appends `s` as a JSON string literal: quotes and backslashes escaped, control characters as
    /// `\n`-style escapes or `\u00xx`, the scalars `extra` picks as lowercase `\uxxxx` (a surrogate
    /// pair above U+FFFF, as Python's `json.dumps` writes them), the rest as they are.
    public static func write(
        _ s: String, into out: inout String, alsoEscaping extra: (Unicode.Scalar) -> Bool = { _ in false }
    ) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 || extra(u) {
                    if u.value > 0xFFFF {
                        let v = u.value - 0x10000
                        appendUnicodeEscape(0xD800 + (v >> 10), to: &out)
                        appendUnicodeEscape(0xDC00 + (v & 0x3FF), to: &out)
                    } else {
                        appendUnicodeEscape(u.value, to: &out)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    /// `\u` and four lowercase hex digits of a UTF-16 code unit.
    private static func appendUnicodeEscape(_ v: UInt32, to out: inout String) {
        let h = String(v, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
    }

    /// Four hex digits at `i`, as a number; `i` moves past them.
    private static func hex4<Bytes: RandomAccessCollection>(
        _ bytes: Bytes, at i: inout Int
    ) throws(Failure) -> UInt32 where Bytes.Element == UInt8, Bytes.Index == Int {
        guard i + 4 <= bytes.endIndex else { throw .truncatedUnicode }
        var v: UInt32 = 0
        for c in bytes[i..<(i + 4)] {
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw .invalidUnicode
            }
            v = v << 4 | d
        }
        i += 4
        return v
    }
}
