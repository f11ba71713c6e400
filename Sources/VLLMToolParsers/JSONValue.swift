import Foundation

/// A JSON value that keeps the order of object members and the text of numbers as written, so
/// that tool-call arguments come back in the order the model wrote them.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's text as it appeared (already checked to be a JSON number).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// Equal values with members in the same order (tuples keep `==` from being synthesised).
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// The member named `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members.first { $0.key == key }?.value }
        return nil
    }

    /// The string of a `.string`, or nil.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Parses `text` as exactly one JSON value (whitespace around it allowed); nil when it is not JSON.
    public static func parse(_ text: Substring) -> JSONValue? {
        var reader = JSONReader(Array(text.utf8))
        guard let value = reader.value() else { return nil }
        reader.skipWhitespace()
        return reader.atEnd ? value : nil
    }

    /// Parses `text` as exactly one JSON value; nil when it is not JSON.
    public static func parse(_ text: String) -> JSONValue? { parse(text[...]) }

    /// The value as JSON text in the style of Python's `json.dumps(..., ensure_ascii=False)`
    /// (`{"a": 1, "b": [true, null]}`), which is how vLLM writes tool-call arguments.
    public var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, member) in members.enumerated() {
                if i > 0 { out += ", " }
                JSONValue.writeString(member.key, to: &out)
                out += ": "
                member.value.write(to: &out)
            }
            out += "}"
        }
    }

    /// Writes `s` as a JSON string. Runs of characters that need no escape are copied whole (a
    /// stream writes an open call's arguments again at every delta).
    static func writeString(_ s: String, to out: inout String) {
        var s = s
        s.makeContiguousUTF8()
        out += "\""
        _ = s.utf8.withContiguousStorageIfAvailable { bytes in
            var run = 0
            for (i, b) in bytes.enumerated() where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                out += String(decoding: UnsafeBufferPointer(rebasing: bytes[run..<i]), as: UTF8.self)
                switch b {
                case UInt8(ascii: "\""): out += "\\\""
                case UInt8(ascii: "\\"): out += "\\\\"
                case 0x0A: out += "\\n"
                case 0x0D: out += "\\r"
                case 0x09: out += "\\t"
                case 0x08: out += "\\b"
                case 0x0C: out += "\\f"
                default: out += String(format: "\\u%04x", UInt32(b))
                }
                run = i + 1
            }
            out += String(decoding: UnsafeBufferPointer(rebasing: bytes[run...]), as: UTF8.self)
        }
        out += "\""
    }
}

/// A recursive-descent JSON reader over UTF-8 bytes.
struct JSONReader {
    let bytes: [UInt8]
    var position = 0
    private var depth = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }

    mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[position]) { position += 1 }
    }

    mutating func value() -> JSONValue? {
        skipWhitespace()
        guard position < bytes.count, depth < 512 else { return nil }
        switch bytes[position] {
        case UInt8(ascii: "{"): return object()
        case UInt8(ascii: "["): return array()
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default: return number()
        }
    }

    private mutating func literal(_ word: String, _ value: JSONValue) -> JSONValue? {
        let w = Array(word.utf8)
        guard position + w.count <= bytes.count, Array(bytes[position..<position + w.count]) == w else { return nil }
        position += w.count
        return value
    }

    private mutating func object() -> JSONValue? {
        position += 1
        depth += 1
        defer { depth -= 1 }
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), let key = string() else { return nil }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
            position += 1
            guard let v = value() else { return nil }
            members.append((key, v))
            skipWhitespace()
            guard position < bytes.count else { return nil }
            position += 1
            if bytes[position - 1] == UInt8(ascii: "}") { return .object(members) }
            if bytes[position - 1] != UInt8(ascii: ",") { return nil }
        }
    }

    private mutating func array() -> JSONValue? {
        position += 1
        depth += 1
        defer { depth -= 1 }
        var items: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(items)
        }
        while true {
            guard let v = value() else { return nil }
            items.append(v)
            skipWhitespace()
            guard position < bytes.count else { return nil }
            position += 1
            if bytes[position - 1] == UInt8(ascii: "]") { return .array(items) }
            if bytes[position - 1] != UInt8(ascii: ",") { return nil }
        }
    }

    private mutating func number() -> JSONValue? {
        let start = position
        func digits() -> Int {
            let s = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
            return position - s
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        let intStart = position
        guard digits() > 0 else { return nil }
        if bytes[intStart] == UInt8(ascii: "0"), position - intStart > 1 { return nil }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { return nil }
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { return nil }
        }
        return .number(String(decoding: bytes[start..<position], as: UTF8.self))
    }

    /// Reads a string starting at its opening quote; nil when it does not close.
    mutating func string() -> String? {
        let (text, closed) = stringPrefix(waitingForEscapes: false)
        return closed ? text : nil
    }

    /// A string from its opening quote: the whole string and true when it closed, else the text
    /// decoded up to what stopped it (the end, a control character, a bad escape, or with
    /// `waitingForEscapes` an escape that has not fully arrived, such as a high surrogate whose
    /// low half may still come) and false. One pass: a stream reads an open call again at every
    /// delta.
    mutating func stringPrefix(waitingForEscapes: Bool) -> (text: String, closed: Bool) {
        position += 1
        var scalars = String.UnicodeScalarView()
        var run = position
        func flush(_ end: Int) { scalars.append(contentsOf: String(decoding: bytes[run..<end], as: UTF8.self).unicodeScalars) }
        while position < bytes.count {
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                flush(position)
                position += 1
                return (String(scalars), true)
            }
            if b < 0x20 { break }
            if b != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            flush(position)
            run = position
            guard !waitingForEscapes || escapeHasArrived(), let scalar = escape() else {
                position = run
                break
            }
            scalars.append(scalar)
            run = position
        }
        flush(position)
        return (String(scalars), false)
    }

    /// Whether the escape at the reading position is all there, so that reading it now gives
    /// what reading the finished text will.
    private func escapeHasArrived() -> Bool {
        guard position + 1 < bytes.count else { return false }
        guard bytes[position + 1] == UInt8(ascii: "u") else { return true }
        guard position + 6 <= bytes.count else { return false }
        var probe = self
        probe.position += 2
        guard let high = probe.hex4(), (0xD800..<0xDC00).contains(high) else { return true }
        return position + 12 <= bytes.count
    }

    /// Reads one escape after a backslash; a lone surrogate becomes U+FFFD as JSON readers do.
    mutating func escape() -> Unicode.Scalar? {
        guard position + 1 < bytes.count else { return nil }
        let c = bytes[position + 1]
        position += 2
        switch c {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{8}"
        case UInt8(ascii: "f"): return "\u{C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            guard let high = hex4() else { return nil }
            if (0xD800..<0xDC00).contains(high), position + 1 < bytes.count,
                bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
            {
                let save = position
                position += 2
                if let low = hex4(), (0xDC00..<0xE000).contains(low) {
                    return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
                }
                position = save
            }
            return Unicode.Scalar(high) ?? "\u{FFFD}"
        default: return nil
        }
    }

    mutating func hex4() -> UInt32? {
        guard position + 4 <= bytes.count,
            let v = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16)
        else { return nil }
        position += 4
        return v
    }
}

/// Where a JSON object or array that starts at `start` ends, counting brackets outside strings;
/// `.incomplete` when the text ends first. Used to tell a finished call from one still streaming.
enum BracketExtent: Equatable {
    case complete(end: String.Index)
    case incomplete
}

func bracketExtent(of text: Substring, from start: String.Index) -> BracketExtent {
    var depth = 0
    var inString = false
    var escaped = false
    var i = start
    while i < text.endIndex {
        let c = text[i]
        if inString {
            if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
        } else if c == "\"" {
            inString = true
        } else if c == "{" || c == "[" {
            depth += 1
        } else if c == "}" || c == "]" {
            depth -= 1
            if depth <= 0 { return .complete(end: text.index(after: i)) }
        }
        i = text.index(after: i)
    }
    return .incomplete
}
