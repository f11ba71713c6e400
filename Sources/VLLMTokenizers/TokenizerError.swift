import Foundation

/// Everything that can go wrong while loading a tokenizer folder.
///
/// Each case names the file and the problem so that a user pointing the engine at the wrong
/// folder (or at a half-downloaded one) sees what to fix rather than a bare decoding failure.
public enum TokenizerError: Error, CustomStringConvertible, Sendable {
    /// A file the tokenizer needs does not exist.
    case missingFile(path: String)
    /// A file exists but could not be read or parsed as JSON.
    case unreadableFile(path: String, reason: String)
    /// The JSON is valid but a field is missing, has the wrong type or an unsupported value.
    case invalidField(file: String, field: String, reason: String)
    /// A component (model, normalizer, ...) type is not implemented.
    case unsupported(file: String, component: String, type: String)

    /// A one-line, human-readable message naming the file and the problem.
    public var description: String {
        switch self {
        case .missingFile(let path):
            return "tokenizer file not found: \(path)"
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .invalidField(let file, let field, let reason):
            return "\(file): field '\(field)': \(reason)"
        case .unsupported(let file, let component, let type):
            return "\(file): unsupported \(component) type '\(type)'"
        }
    }
}

/// Typed access to parsed JSON, carrying the file name and the field path so that every
/// failure becomes a precise `TokenizerError`.
struct JSONReader {
    let file: String
    let path: String
    let object: JSONObject

    init(file: String, path: String, object: JSONObject) {
        self.file = file
        self.path = path
        self.object = object
    }

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
            guard let id = pair.value.intValue, id >= 0 else { throw fail(key, "token \(pair.key) has no valid id") }
            return (pair.key, id)
        }
    }
}
