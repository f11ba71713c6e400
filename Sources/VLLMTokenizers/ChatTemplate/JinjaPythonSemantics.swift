import Foundation

/// Python's printing, truthiness, equality, ordering and iteration for `JinjaValue`.
///
/// Chat templates print values with `{{ }}` and compare them with `==`; what comes out has to be
/// what CPython would produce, so these follow CPython's rules rather than Swift's.
extension JinjaValue {
    /// Python's `type(x).__name__`.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .object(let o): return o.typeName
        }
    }

    /// jinja2's `object_type_repr`: how error messages name the object that lacked an attribute.
    var ownerDescription: String {
        if case .none = self { return "None" }
        return "\(typeName) object"
    }

    /// Python's `bool(x)`.
    public var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .float(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let a), .tuple(let a): return !a.isEmpty
        case .dict(let d): return d.count > 0
        case .object: return true
        }
    }

    /// Python's `str(x)`, which is what `{{ x }}` prints.
    public var pyStr: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return pyRepr
        }
    }

    /// Python's `repr(x)`, used for items inside printed lists and dicts.
    public var pyRepr: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .float(let d): return pyFloatRepr(d)
        case .string(let s): return JinjaPyString.repr(s)
        case .list(let a): return "[" + a.map(\.pyRepr).joined(separator: ", ") + "]"
        case .tuple(let a):
            if a.count == 1 { return "(" + a[0].pyRepr + ",)" }
            return "(" + a.map(\.pyRepr).joined(separator: ", ") + ")"
        case .dict(let d):
            return "{" + zip(d.keys, d.values).map { $0.pyRepr + ": " + $1.pyRepr }.joined(separator: ", ") + "}"
        case .object(let o): return o.repr
        }
    }

    /// The numeric value when this is a bool, int or float (Python's bool is an int).
    var number: Double? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(i)
        case .float(let d): return d
        default: return nil
        }
    }

    /// The integer value when this is a bool or int.
    var integer: Int? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return i
        default: return nil
        }
    }

    /// Python `==`.
    func pyEquals(_ other: JinjaValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined): return true
        case (.undefined, _), (_, .undefined): return false
        case (.none, .none): return true
        case (.string(let a), .string(let b)): return JinjaPyString.equal(a, b)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pyEquals($1) }
        case (.dict(let a), .dict(let b)):
            guard a.count == b.count else { return false }
            for (k, v) in zip(a.keys, a.values) {
                guard let w = try? b.lookup(k), v.pyEquals(w) else { return false }
            }
            return true
        case (.object(let a), .object(let b)): return a === b
        default:
            if let i = integer, let j = other.integer { return i == j }
            if let x = number, let y = other.number { return x == y }
            return false
        }
    }

    /// Python `<` (and friends through `pyCompare`): numbers, strings, and same-kind sequences.
    func pyLess(_ other: JinjaValue, _ op: String = "<") throws -> Bool {
        switch (self, other) {
        case (.undefined(let u), _), (_, .undefined(let u)): throw u.error
        case (.string(let a), .string(let b)): return JinjaPyString.less(a, b)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) where !x.pyEquals(y) { return try x.pyLess(y, op) }
            return a.count < b.count
        default:
            if let i = integer, let j = other.integer { return i < j }
            if let x = number, let y = other.number { return x < y }
            throw JinjaError.type("'\(op)' not supported between instances of '\(typeName)' and '\(other.typeName)'")
        }
    }

    /// A Python rich comparison by operator name (`eq`, `ne`, `lt`, `lteq`, `gt`, `gteq`).
    func pyCompare(_ op: String, _ other: JinjaValue) throws -> Bool {
        switch op {
        case "eq": return pyEquals(other)
        case "ne": return !pyEquals(other)
        case "lt": return try pyLess(other, "<")
        case "gt": return try other.pyLess(self, ">")
        case "lteq": return try !other.pyLess(self, "<=")
        case "gteq": return try !pyLess(other, ">=")
        default: throw JinjaError.type("unknown comparison \(op)")
        }
    }

    /// Python's `iter(x)` drained into an array: lists and tuples, dict keys, string characters;
    /// undefined iterates as empty, as jinja2's `Undefined.__iter__` does.
    func pyIterate() throws -> [JinjaValue] {
        switch self {
        case .undefined: return []
        case .list(let a), .tuple(let a): return a
        case .dict(let d): return d.keys
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .object(let g as JinjaGenerator): return g.drain()
        default: throw JinjaError.type("'\(typeName)' object is not iterable")
        }
    }

    /// Python's `len(x)`; undefined has length 0 in jinja2.
    func pyLength() throws -> Int {
        switch self {
        case .undefined: return 0
        case .string(let s): return JinjaPyString.length(s)
        case .list(let a), .tuple(let a): return a.count
        case .dict(let d): return d.count
        default: throw JinjaError.type("object of type '\(typeName)' has no len()")
        }
    }

    /// Python's `x in container`.
    func pyContains(_ item: JinjaValue) throws -> Bool {
        switch self {
        case .undefined: return false
        case .string(let s):
            guard case .string(let sub) = item else {
                throw JinjaError.type("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return JinjaPyString.contains(s, sub)
        case .list(let a), .tuple(let a): return a.contains { $0.pyEquals(item) }
        case .dict(let d): return try d.lookup(item) != nil
        case .object(let g as JinjaGenerator): return g.drain().contains { $0.pyEquals(item) }
        default: throw JinjaError.type("argument of type '\(typeName)' is not iterable")
        }
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, fixed notation for exponents
/// from -4 to 15 and scientific notation outside, always with a `.0` or an exponent.
func pyFloatRepr(_ x: Double) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x < 0 ? "-inf" : "inf" }
    if x == 0 { return x.sign == .minus ? "-0.0" : "0.0" }
    // Swift's description also gives the shortest round-trip digits; only the layout differs.
    var s = "\(Swift.abs(x))"
    var exp = 0
    if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        exp = Int(s[s.index(after: e)...])!
        s = String(s[..<e])
    }
    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
    let intPart = String(parts[0])
    let fracPart = parts.count > 1 ? String(parts[1]) : ""
    var digits = Array(intPart + fracPart)
    var decpt = intPart.count + exp
    while digits.first == "0" { digits.removeFirst(); decpt -= 1 }
    while digits.last == "0" { digits.removeLast() }
    if digits.isEmpty { return x.sign == .minus ? "-0.0" : "0.0" }
    let sign = x < 0 ? "-" : ""
    if decpt > -4 && decpt <= 16 {
        if decpt <= 0 { return sign + "0." + String(repeating: "0", count: -decpt) + String(digits) }
        if decpt >= digits.count {
            return sign + String(digits) + String(repeating: "0", count: decpt - digits.count) + ".0"
        }
        return sign + String(digits[0..<decpt]) + "." + String(digits[decpt...])
    }
    let e = decpt - 1
    let mantissa = digits.count > 1 ? String(digits[0]) + "." + String(digits[1...]) : String(digits[0])
    let es = String(Swift.abs(e))
    return sign + mantissa + "e" + (e < 0 ? "-" : "+") + (es.count < 2 ? "0" + es : es)
}
