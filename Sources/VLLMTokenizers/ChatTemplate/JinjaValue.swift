import Foundation

/// A value inside a Jinja template, modelled on the Python objects jinja2 works with.
///
/// Rendering must match Python byte for byte, so the cases keep the distinctions Python makes
/// when printing: `int` versus `float` (`1` versus `1.0`), `list` versus `tuple`, `None`, and
/// jinja2's `Undefined`. Dictionaries keep insertion order, like Python's `dict`.
public enum JinjaValue: Sendable {
    /// jinja2's `Undefined`: a missing variable, attribute or item. Prints as the empty string.
    case undefined(JinjaUndefined)
    /// Python's `None`.
    case none
    /// Python's `bool`.
    case bool(Bool)
    /// Python's `int` (64-bit here).
    case int(Int)
    /// Python's `float`.
    case float(Double)
    /// Python's `str`.
    case string(String)
    /// Python's `list`.
    case list([JinjaValue])
    /// Python's `tuple`.
    case tuple([JinjaValue])
    /// Python's `dict`, insertion-ordered.
    case dict(JinjaDict)
    /// Anything else: functions, macros, `namespace()` objects, the `loop` variable.
    case object(JinjaObject)

    /// A plain undefined value with no name attached.
    public static let undefinedValue = JinjaValue.undefined(JinjaUndefined())

    /// Whether this is jinja2's `Undefined`.
    public var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// The string payload, if this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// The payload of an undefined value: enough to build jinja2's error message when it is misused.
public struct JinjaUndefined: Sendable {
    /// The variable or attribute name that was missing.
    var name: String?
    /// Python's description of the object that lacked the attribute (e.g. `dict object`).
    var owner: String?
    /// An explicit message that overrides the generated one.
    var hint: String?
    /// Whether misuse is a sandbox violation rather than an undefined error.
    var isSecurity = false

    /// Creates an undefined with no information attached.
    public init() {}

    init(name: String?, owner: String? = nil, hint: String? = nil, isSecurity: Bool = false) {
        self.name = name
        self.owner = owner
        self.hint = hint
        self.isSecurity = isSecurity
    }

    /// The error raised when the undefined value is used where a real value is needed.
    var error: JinjaError {
        if let hint { return JinjaError(isSecurity ? .security : .undefined, hint) }
        if let owner, let name { return JinjaError(.undefined, "'\(owner)' has no attribute '\(name)'") }
        if let name { return JinjaError(.undefined, "'\(name)' is undefined") }
        return JinjaError(.undefined, "value is undefined")
    }
}

/// An insertion-ordered dictionary with Python key semantics (`1`, `1.0` and `True` are the same key).
public struct JinjaDict: Sendable {
    /// The keys, in insertion order.
    public private(set) var keys: [JinjaValue] = []
    /// The values, parallel to `keys`.
    public private(set) var values: [JinjaValue] = []
    private var index: [JinjaHashKey: Int] = [:]

    /// An empty dictionary.
    public init() {}

    /// A dictionary from string keys, in the order given.
    public init(_ pairs: KeyValuePairs<String, JinjaValue>) {
        for (k, v) in pairs { self[k] = v }
    }

    /// A dictionary from ordered string-keyed pairs.
    public init(pairs: [(String, JinjaValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    /// The number of entries.
    public var count: Int { keys.count }

    /// The entries in insertion order.
    public var entries: [(key: JinjaValue, value: JinjaValue)] {
        Array(zip(keys, values)).map { (key: $0.0, value: $0.1) }
    }

    /// Reads or writes the entry under a string key; writing `nil` is not supported.
    public subscript(key: String) -> JinjaValue? {
        get { index[.string(JinjaStringKey(key))].map { values[$0] } }
        set {
            guard let newValue else { return }
            let h = JinjaHashKey.string(JinjaStringKey(key))
            if let i = index[h] {
                values[i] = newValue
            } else {
                index[h] = keys.count
                keys.append(.string(key))
                values.append(newValue)
            }
        }
    }

    /// Looks a key up with Python semantics; throws `TypeError` for unhashable keys.
    func lookup(_ key: JinjaValue) throws -> JinjaValue? {
        let h = try JinjaHashKey(key)
        return index[h].map { values[$0] }
    }

    /// Inserts or replaces an entry, keeping the original position of an existing key like Python.
    mutating func set(_ key: JinjaValue, _ value: JinjaValue) throws {
        let h = try JinjaHashKey(key)
        if let i = index[h] {
            values[i] = value
        } else {
            index[h] = keys.count
            keys.append(key)
            values.append(value)
        }
    }
}

/// A string compared and hashed by its Unicode scalars, as Python does; Swift's own `String`
/// equality treats canonically equivalent strings as equal, which Python does not.
struct JinjaStringKey: Hashable {
    let s: String
    init(_ s: String) { self.s = s }
    static func == (a: JinjaStringKey, b: JinjaStringKey) -> Bool { a.s.utf8.elementsEqual(b.s.utf8) }
    func hash(into hasher: inout Hasher) {
        var copy = s
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// Python's hash identity for dictionary keys.
enum JinjaHashKey: Hashable {
    case none
    case int(Int)
    case float(UInt64)
    case string(JinjaStringKey)
    case tuple([JinjaHashKey])
    case object(ObjectIdentifier)
    case undefined

    init(_ value: JinjaValue) throws {
        switch value {
        case .none: self = .none
        case .bool(let b): self = .int(b ? 1 : 0)
        case .int(let i): self = .int(i)
        case .float(let d):
            // Python makes equal numbers hash alike, so 1.0 finds the key 1.
            if d == d.rounded(), abs(d) < 9.2e18 { self = .int(Int(d)) } else { self = .float(d.bitPattern) }
        case .string(let s): self = .string(JinjaStringKey(s))
        case .tuple(let items): self = .tuple(try items.map(JinjaHashKey.init))
        case .object(let o): self = .object(ObjectIdentifier(o))
        case .undefined: self = .undefined
        case .list: throw JinjaError.type("unhashable type: 'list'")
        case .dict: throw JinjaError.type("unhashable type: 'dict'")
        }
    }
}

/// A non-data object living in a template: functions, macros, namespaces, the loop context.
///
/// Subclasses live in this module; the class is public only because `JinjaValue.object` is.
public class JinjaObject: @unchecked Sendable {
    init() {}
    /// Python's type name, used in error messages.
    var typeName: String { "object" }
    /// `getattr(obj, name)`, or nil when the attribute does not exist.
    func attribute(_ name: String, _ interp: JinjaInterpreter) throws -> JinjaValue? { nil }
    /// Whether `obj(...)` is allowed.
    var isCallable: Bool { false }
    /// `obj(*args, **kwargs)`.
    func call(_ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue {
        throw JinjaError.type("'\(typeName)' object is not callable")
    }
    /// Python's `repr(obj)`.
    var repr: String { "<\(typeName) object>" }
}

// MARK: - Literals, so that Swift callers and tests can write contexts naturally.

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// A string value.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An integer value.
    public init(integerLiteral value: Int) { self = .int(value) }
    /// A float value.
    public init(floatLiteral value: Double) { self = .float(value) }
    /// A boolean value.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// A list of the elements.
    public init(arrayLiteral elements: JinjaValue...) { self = .list(elements) }
    /// A dict with the pairs in the order written.
    public init(dictionaryLiteral elements: (String, JinjaValue)...) { self = .dict(JinjaDict(pairs: elements)) }
}

extension JinjaValue {
    /// Converts the output of `JSONSerialization` (or plain Swift values) into a template value.
    ///
    /// `JSONSerialization` does not keep object key order; use `JinjaValue(jsonString:)` or
    /// `JinjaValue(jsonData:)` when the order matters (it does for `tojson` output).
    public init(json: Any) {
        switch json {
        case let v as JinjaValue: self = v
        case is NSNull: self = .none
        case let s as String: self = .string(s)
        case let n as NSNumber:
            // JSONSerialization boxes booleans, integers and doubles alike; tell them apart by the
            // boxed type so that `1` stays an int and `1.0` a float, as in Python's json module.
            let t = String(cString: n.objCType)
            if t == "c" || t == "B" {
                self = .bool(n.boolValue)
            } else if t == "d" || t == "f" {
                self = .float(n.doubleValue)
            } else {
                self = .int(n.intValue)
            }
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .int(i)
        case let d as Double: self = .float(d)
        case let a as [Any]: self = .list(a.map(JinjaValue.init(json:)))
        case let d as [String: Any]:
            var dict = JinjaDict()
            for k in d.keys.sorted() { dict[k] = JinjaValue(json: d[k]!) }
            self = .dict(dict)
        default: self = .string(String(describing: json))
        }
    }

    /// Parses JSON text the way Python's `json.loads` does: key order kept, `1` an int, `1.0` a float.
    public init(jsonString: String) throws {
        self = try JinjaJSONParser.parse(jsonString)
    }

    /// Parses UTF-8 JSON data; see `init(jsonString:)`.
    public init(jsonData: Data) throws {
        self = try JinjaJSONParser.parse(String(decoding: jsonData, as: UTF8.self))
    }

    /// Parses a request body as strict RFC 8259 JSON: no trailing commas, no `NaN` or `Infinity`,
    /// no number too large for a double, at most `maxDepth` levels of nesting. Integers stay ints.
    public init(strictJSON bytes: [UInt8], maxDepth: Int) throws {
        self = try JinjaJSONParser.parse(bytes, strict: true, maxDepth: maxDepth)
    }

    /// The value as JSON, formatted like Python's `json.dumps(value, ensure_ascii=False)`.
    public func jsonString(indent: Int? = nil, sortKeys: Bool = false) throws -> String {
        try JinjaJSONEncoder(indent: indent.map { String(repeating: " ", count: $0) }, sortKeys: sortKeys).encode(self)
    }
}
