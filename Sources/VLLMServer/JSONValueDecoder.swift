import Foundation
import VLLMTokenizers

/// Decodes the typed request structs from a request body parsed once into a `JinjaValue` (the same
/// tree the chat template receives), so that a body is never parsed twice. Errors are the
/// `DecodingError`s `JSONDecoder` throws, with the coding path naming the field.
struct JSONValueDecoder: Decoder {
    let value: JinjaValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: JinjaValue, codingPath: [any CodingKey] = []) {
        self.value = value
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .dict(let dict) = value else { throw mismatch([String: Any].self, codingPath) }
        return KeyedDecodingContainer(Keyed<Key>(dict: dict, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch value {
        case .list(let items), .tuple(let items): return Unkeyed(items: items, codingPath: codingPath)
        default: throw mismatch([Any].self, codingPath)
        }
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(value: value, codingPath: codingPath) }

    /// The error for a value of the wrong JSON type.
    static func mismatch(_ type: Any.Type, _ path: [any CodingKey], _ detail: String? = nil) -> DecodingError {
        DecodingError.typeMismatch(type, .init(codingPath: path, debugDescription: detail ?? "wrong type"))
    }

    private func mismatch(_ type: Any.Type, _ path: [any CodingKey]) -> DecodingError { Self.mismatch(type, path) }

    /// Decodes a primitive or nested value at `path`.
    static func decode<T: Decodable>(_ type: T.Type, from value: JinjaValue, at path: [any CodingKey]) throws -> T {
        if case .none = value, !(T.self is any ExpressibleByNilLiteral.Type) {
            throw DecodingError.valueNotFound(T.self, .init(codingPath: path, debugDescription: "null"))
        }
        switch T.self {
        case is String.Type:
            guard case .string(let s) = value else { throw mismatch(T.self, path) }
            return s as! T
        case is Bool.Type:
            guard case .bool(let b) = value else { throw mismatch(T.self, path) }
            return b as! T
        case is Int.Type:
            return try integer(value, at: path) as! T
        case is any FixedWidthInteger.Type, is Float.Type:
            // No request field has these types; refusing them keeps `T(from:)` from coming back here.
            throw DecodingError.typeMismatch(T.self, .init(codingPath: path, debugDescription: "unsupported number type"))
        case is Double.Type:
            switch value {
            case .int(let i): return Double(i) as! T
            case .float(let d): return d as! T
            default: throw mismatch(T.self, path)
            }
        default:
            return try T(from: JSONValueDecoder(value, codingPath: path))
        }
    }

    /// An integer: a JSON integer, or a number with no fraction inside Int's range (as pydantic
    /// accepts `2.0`). Anything larger is refused here, before any arithmetic can overflow.
    private static func integer(_ value: JinjaValue, at path: [any CodingKey]) throws -> Int {
        switch value {
        case .int(let i): return i
        case .float(let d):
            guard d.rounded() == d else { throw mismatch(Int.self, path, "expected an integer, got \(d)") }
            // An integer literal outside Int64 arrives here as the nearest double: -2^63 - 1 rounds
            // to -2^63, which Int holds. Refusing that double keeps every such literal out
            // (only the spelling -9223372036854775808.0 of Int.min is refused with them).
            guard d > -9223372036854775808.0, let i = Int(exactly: d) else {
                throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "\(d) is outside the integer range"))
            }
            return i
        default: throw mismatch(Int.self, path)
        }
    }

    private struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let dict: JinjaDict
        let codingPath: [any CodingKey]
        var allKeys: [Key] { dict.keys.compactMap { if case .string(let s) = $0 { Key(stringValue: s) } else { nil } } }

        func contains(_ key: Key) -> Bool { dict[key.stringValue] != nil }

        private func value(_ key: Key) throws -> JinjaValue {
            guard let v = dict[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
            }
            return v
        }

        func decodeNil(forKey key: Key) throws -> Bool {
            if case .none = try value(key) { return true }
            return false
        }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try JSONValueDecoder.decode(T.self, from: try value(key), at: codingPath + [key])
        }

        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            guard let v = dict[key.stringValue] else { return nil }
            if case .none = v { return nil }
            return try JSONValueDecoder.decode(T.self, from: v, at: codingPath + [key])
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<
            NestedKey
        > {
            try JSONValueDecoder(try value(key), codingPath: codingPath + [key]).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try JSONValueDecoder(try value(key), codingPath: codingPath + [key]).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder { JSONValueDecoder(.dict(dict), codingPath: codingPath) }
        func superDecoder(forKey key: Key) throws -> any Decoder { JSONValueDecoder(try value(key), codingPath: codingPath + [key]) }
    }

    private struct Unkeyed: UnkeyedDecodingContainer {
        let items: [JinjaValue]
        let codingPath: [any CodingKey]
        var currentIndex = 0
        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        private struct Index: CodingKey {
            var intValue: Int?
            var stringValue: String { "\(intValue ?? 0)" }
            init(_ i: Int) { intValue = i }
            init?(stringValue: String) { nil }
            init?(intValue: Int) { self.intValue = intValue }
        }

        private mutating func next() throws -> (JinjaValue, [any CodingKey]) {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "no more items"))
            }
            defer { currentIndex += 1 }
            return (items[currentIndex], codingPath + [Index(currentIndex)])
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, case .none = items[currentIndex] else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (v, path) = try next()
            return try JSONValueDecoder.decode(T.self, from: v, at: path)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let (v, path) = try next()
            return try JSONValueDecoder(v, codingPath: path).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (v, path) = try next()
            return try JSONValueDecoder(v, codingPath: path).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder {
            let (v, path) = try next()
            return JSONValueDecoder(v, codingPath: path)
        }
    }

    private struct Single: SingleValueDecodingContainer {
        let value: JinjaValue
        let codingPath: [any CodingKey]

        func decodeNil() -> Bool {
            if case .none = value { return true }
            return false
        }

        func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONValueDecoder.decode(T.self, from: value, at: codingPath) }
    }
}
