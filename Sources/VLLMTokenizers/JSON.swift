import Foundation

/// A parsed JSON value.
///
/// `tokenizer.json` is parsed by hand rather than with `JSONSerialization`: Foundation returns
/// dictionaries keyed by `String`, whose equality is canonical equivalence, so two vocabulary
/// entries such as "ί" (U+03AF) and "ί" (U+1F77) would collapse into one, and on Linux it also
/// drops U+FEFF from strings. Objects here keep every key, in file order.
public indirect enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// Whether the value is `null`.
    public var isNull: Bool { if case .null = self { return true } else { return false } }
    /// The string, or nil for any other kind.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The array's elements, or nil for any other kind.
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    /// The object, or nil for any other kind.
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    /// The number, or nil for any other kind.
    public var doubleValue: Double? { if case .number(let d) = self { return d } else { return nil } }
    /// The number when it is a whole number of magnitude below 1e15, else nil.
    public var intValue: Int? {
        guard case .number(let d) = self, d.rounded() == d, abs(d) < 1e15 else { return nil }
        return Int(d)
    }
    /// The boolean, or nil for any other kind.
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
}

/// A JSON object with its keys in file order (duplicates and canonically equivalent keys kept).
public struct JSONObject: Sendable {
    /// The key-value pairs in file order.
    public var pairs: [(key: String, value: JSONValue)]

    /// The value of the first pair whose key has exactly these bytes.
    public subscript(key: String) -> JSONValue? {
        let k = Array(key.utf8)
        for p in pairs where p.key.utf8.count == k.count && p.key.utf8.elementsEqual(k) { return p.value }
        return nil
    }
}

/// Where and why parsing failed, to be wrapped in a `TokenizerError` that names the file.
public struct JSONParseError: Error, CustomStringConvertible {
    /// Byte offset of the failure.
    public let offset: Int
    /// Line number of the failure (from 1).
    public let line: Int
    /// What is wrong.
    public let message: String
    /// Line, message and offset.
    public var description: String { "line \(line): \(message) (byte \(offset))" }
}

/// A strict recursive-descent JSON parser over UTF-8 bytes.
public struct JSONParser {
    private let p: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var depth = 0

    /// Parses one JSON value (the whole input); throws `JSONParseError`.
    public static func parse(_ data: Data) throws -> JSONValue {
        try data.withUnsafeBytes { raw in
            var parser = JSONParser(p: raw.bindMemory(to: UInt8.self))
            parser.skipBOM()
            let v = try parser.value()
            parser.skipWhitespace()
            if parser.i != parser.p.count { throw parser.error("unexpected data after the JSON value") }
            return v
        }
    }

    private init(p: UnsafeBufferPointer<UInt8>) { self.p = p }

    private func error(_ message: String) -> JSONParseError {
        var line = 1
        for k in 0..<min(i, p.count) where p[k] == 0x0A { line += 1 }
        return JSONParseError(offset: i, line: line, message: message)
    }

    private mutating func skipBOM() {
        if p.count >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { i = 3 }
    }

    private mutating func skipWhitespace() {
        while i < p.count {
            let c = p[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { break }
        }
    }

    private mutating func value() throws -> JSONValue {
        skipWhitespace()
        guard i < p.count else { throw error("unexpected end of input") }
        switch p[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= p.count else { throw error("unexpected end of input") }
        for k in 0..<n where p[i + k] != word.utf8Start[k] { throw error("invalid literal") }
        i += n
    }

    private mutating func object() throws -> JSONValue {
        depth += 1
        if depth > 512 { throw error("nesting too deep") }
        defer { depth -= 1 }
        i += 1
        var pairs: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if i < p.count && p[i] == UInt8(ascii: "}") { i += 1; return .object(JSONObject(pairs: pairs)) }
        while true {
            skipWhitespace()
            guard i < p.count, p[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let k = try string()
            skipWhitespace()
            guard i < p.count, p[i] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            i += 1
            let v = try value()
            pairs.append((k, v))
            skipWhitespace()
            guard i < p.count else { throw error("unexpected end of input in an object") }
            if p[i] == UInt8(ascii: ",") { i += 1; continue }
            if p[i] == UInt8(ascii: "}") { i += 1; break }
            throw error("expected ',' or '}' in an object")
        }
        return .object(JSONObject(pairs: pairs))
    }

    private mutating func array() throws -> JSONValue {
        depth += 1
        if depth > 512 { throw error("nesting too deep") }
        defer { depth -= 1 }
        i += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if i < p.count && p[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            items.append(try value())
            skipWhitespace()
            guard i < p.count else { throw error("unexpected end of input in an array") }
            if p[i] == UInt8(ascii: ",") { i += 1; continue }
            if p[i] == UInt8(ascii: "]") { i += 1; break }
            throw error("expected ',' or ']' in an array")
        }
        return .array(items)
    }

    private mutating func string() throws -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < p.count {
            let c = p[i]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character in a string") }
            i += 1
        }
        var out = [UInt8](UnsafeBufferPointer(rebasing: p[start..<i]))
        while i < p.count {
            let c = p[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < p.count else { break }
                do {
                    try JSONEscape.decode(p, at: &i, into: &out)
                } catch {
                    switch error {
                    case .truncatedUnicode: throw self.error("truncated \\u escape")
                    case .invalidUnicode: throw self.error("invalid \\u escape")
                    case .invalidEscape: throw self.error("invalid escape")
                    }
                }
                continue
            }
            if c < 0x20 { throw error("control character in a string") }
            out.append(c)
            i += 1
        }
        throw error("unterminated string")
    }

    private mutating func number() throws -> Double {
        let start = i
        if i < p.count && p[i] == UInt8(ascii: "-") { i += 1 }
        var intPart: Int = 0
        var digits = 0
        var simple = true
        while i < p.count, p[i] >= 0x30 && p[i] <= 0x39 {
            if digits < 15 { intPart = intPart * 10 + Int(p[i] - 0x30) } else { simple = false }
            digits += 1
            i += 1
        }
        if digits == 0 { throw error("invalid value") }
        if i < p.count && (p[i] == UInt8(ascii: ".") || p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) {
            simple = false
            if p[i] == UInt8(ascii: ".") {
                i += 1
                while i < p.count, p[i] >= 0x30 && p[i] <= 0x39 { i += 1 }
            }
            if i < p.count && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) {
                i += 1
                if i < p.count && (p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-")) { i += 1 }
                while i < p.count, p[i] >= 0x30 && p[i] <= 0x39 { i += 1 }
            }
        }
        if simple { return p[start] == UInt8(ascii: "-") ? -Double(intPart) : Double(intPart) }
        let text = String(decoding: UnsafeBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
        guard let d = Double(text) else { throw error("invalid number \(text)") }
        return d
    }
}

/// Typed access to parsed JSON, carrying the file name and the field path so that every
/// failure becomes a precise `TokenizerError`.
struct JSONReader {
    let file: String
    let path: String
    let object: JSONObject

    /// Parses a whole file's bytes; the top level must be an object.
    static func parse(_ data: Data, file: String) throws -> JSONReader {
        let v: JSONValue
        do { v = try JSONParser.parse(data) } catch let e as JSONParseError {
            throw TokenizerError.unreadableFile(path: file, reason: "invalid JSON at \(e.description)")
        }
        guard let o = v.objectValue else {
            throw TokenizerError.unreadableFile(path: file, reason: "the top level is not a JSON object")
        }
        return JSONReader(file: file, path: "", object: o)
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    subscript(key: String) -> JSONValue? { object[key] }

    func has(_ key: String) -> Bool {
        guard let v = object[key] else { return false }
        return !v.isNull
    }

    func fail(_ key: String, _ reason: String) -> TokenizerError {
        .invalidField(file: file, field: field(key), reason: reason)
    }

    func string(_ key: String) throws -> String {
        guard let v = object[key] else { throw fail(key, "missing") }
        guard let s = v.stringValue else { throw fail(key, "expected a string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard let v = object[key], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw fail(key, "expected a string") }
        return s
    }

    func bool(_ key: String, default def: Bool) throws -> Bool {
        guard let v = object[key], !v.isNull else { return def }
        guard let b = v.boolValue else { throw fail(key, "expected a boolean") }
        return b
    }

    func int(_ key: String) throws -> Int {
        guard let v = object[key], !v.isNull else { throw fail(key, "missing") }
        guard let n = v.intValue else { throw fail(key, "expected an integer") }
        return n
    }

    /// Token ids index per-token tables (id to text, decode content): a corrupt id of 10^12 would
    /// allocate terabytes and a negative one would trap. Released vocabularies stay below 2^22.
    static let tokenIDLimit = 1 << 24

    /// A token id in `0..<tokenIDLimit`.
    func tokenID(_ key: String) throws -> Int {
        let id = try int(key)
        guard id >= 0, id < Self.tokenIDLimit else { throw fail(key, "\(id) is not a token id (0..<\(Self.tokenIDLimit))") }
        return id
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let v = object[key], !v.isNull else { return nil }
        guard let n = v.intValue else { throw fail(key, "expected an integer") }
        return n
    }

    func object(_ key: String) throws -> JSONReader {
        guard let v = object[key] else { throw fail(key, "missing") }
        guard let o = v.objectValue else { throw fail(key, "expected an object") }
        return JSONReader(file: file, path: field(key), object: o)
    }

    func optionalObject(_ key: String) throws -> JSONReader? {
        guard let v = object[key], !v.isNull else { return nil }
        guard let o = v.objectValue else { throw fail(key, "expected an object") }
        return JSONReader(file: file, path: field(key), object: o)
    }

    func array(_ key: String) throws -> [JSONValue] {
        guard let v = object[key] else { throw fail(key, "missing") }
        guard let a = v.arrayValue else { throw fail(key, "expected an array") }
        return a
    }

    func objects(_ key: String) throws -> [JSONReader] {
        let a = try array(key)
        return try a.enumerated().map { i, v in
            guard let o = v.objectValue else { throw fail("\(key)[\(i)]", "expected an object") }
            return JSONReader(file: file, path: "\(field(key))[\(i)]", object: o)
        }
    }

    /// A `token -> id` object such as a BPE or WordPiece vocabulary, every entry kept.
    func vocabulary(_ key: String) throws -> [(String, Int)] {
        guard let v = object[key], let o = v.objectValue else { throw fail(key, "expected an object of token to id") }
        return try o.pairs.map { pair in
            guard let id = pair.value.intValue, id >= 0, id < Self.tokenIDLimit else {
                throw fail(key, "token \(pair.key) has no valid id (0..<\(Self.tokenIDLimit))")
            }
            return (pair.key, id)
        }
    }
}
