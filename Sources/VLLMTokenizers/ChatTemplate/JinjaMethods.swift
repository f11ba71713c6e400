import Foundation

/// Python methods of `str`, `dict` and `list` reachable from templates (`s.strip()`,
/// `d.items()`, ...), plus object attributes. The sandbox is immutable, as in transformers: the
/// mutating methods (`append`, `update`, `pop`, ...) come back as an undefined value that raises a
/// security error when called.
enum JinjaMethods {
    private static let mutatingList: Set<String> = ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"]
    private static let mutatingDict: Set<String> = ["clear", "pop", "popitem", "setdefault", "update"]

    private static func unsafe(_ obj: JinjaValue, _ name: String) -> JinjaValue {
        .undefined(
            JinjaUndefined(
                name: name, owner: obj.ownerDescription,
                hint: "access to attribute '\(name)' of '\(obj.typeName)' object is unsafe.", isSecurity: true))
    }

    private static func method(_ name: String, _ body: @escaping (JinjaArguments, JinjaInterpreter) throws -> JinjaValue) -> JinjaValue {
        .object(JinjaFunction(name, body))
    }

    /// `getattr(obj, name)`, or nil when Python would raise `AttributeError`.
    static func attribute(_ obj: JinjaValue, _ name: String, _ interp: JinjaInterpreter) throws -> JinjaValue? {
        if name.hasPrefix("_") {
            return nil
        }
        switch obj {
        case .string(let s): return stringMethod(s, name)
        case .dict(let d):
            if mutatingDict.contains(name) { return unsafe(obj, name) }
            return dictMethod(d, name)
        case .list(let a):
            if mutatingList.contains(name) { return unsafe(obj, name) }
            return sequenceMethod(a, name, obj)
        case .tuple(let a):
            // groupby's _GroupTuple(grouper, list); other tuples never ask for these names.
            if a.count == 2, name == "grouper" { return a[0] }
            if a.count == 2, name == "list" { return a[1] }
            return sequenceMethod(a, name, obj)
        case .object(let o): return try o.attribute(name, interp)
        case .float(let d):
            switch name {
            case "real": return obj
            case "imag": return .float(0)
            case "is_integer": return method(name) { _, _ in .bool(d == d.rounded() && d.isFinite) }
            default: return nil
            }
        case .int, .bool:
            switch name {
            case "real", "numerator": return .int(obj.integer!)
            case "imag": return .int(0)
            case "denominator": return .int(1)
            default: return nil
            }
        default: return nil
        }
    }

    private static func str(_ v: JinjaValue, _ what: String) throws -> String {
        guard case .string(let s) = v else { throw JinjaError.type("\(what) must be str, not \(v.typeName)") }
        return s
    }

    private static func optionalStr(_ v: JinjaValue?, _ what: String) throws -> String? {
        guard let v else { return nil }
        if case .none = v { return nil }
        return try str(v, what)
    }

    private static func intArg(_ v: JinjaValue?, _ fallback: Int) throws -> Int {
        guard let v else { return fallback }
        if case .none = v { return fallback }
        guard let i = v.integer else { throw JinjaError.type("'\(v.typeName)' object cannot be interpreted as an integer") }
        return i
    }

    /// `startswith`/`endswith` with a string or a tuple of strings, and optional start/end.
    private static func affix(_ s: String, _ args: JinjaArguments, _ name: String, suffix: Bool) throws -> JinjaValue {
        let a = try args.positionalOnly(name, min: 1, max: 3)
        var cs = Array(s.unicodeScalars)
        let n = cs.count
        func clamp(_ i: Int) -> Int { i < 0 ? max(0, i + n) : min(i, n) }
        let lo = a.count > 1 ? clamp(try intArg(a[1], 0)) : 0
        let hi = a.count > 2 ? clamp(try intArg(a[2], n)) : n
        cs = lo <= hi ? Array(cs[lo..<hi]) : []
        let sub = JinjaPyString.string(cs)
        let candidates: [JinjaValue]
        if case .tuple(let t) = a[0] { candidates = t } else { candidates = [a[0]] }
        for c in candidates {
            guard case .string(let p) = c else {
                throw JinjaError.type("\(name) first arg must be str or a tuple of str, not \(c.typeName)")
            }
            if lo > n { continue }
            let ok = suffix ? sub.utf8.reversed().starts(with: p.utf8.reversed()) : sub.utf8.starts(with: p.utf8)
            if ok { return .bool(true) }
        }
        return .bool(false)
    }

    private static func stringMethod(_ s: String, _ name: String) -> JinjaValue? {
        switch name {
        case "strip", "lstrip", "rstrip":
            return method(name) { args, _ in
                let a = try args.positionalOnly(name, min: 0, max: 1)
                let chars = try optionalStr(a.first, "\(name) arg")
                return .string(JinjaPyString.strip(s, chars, left: name != "rstrip", right: name != "lstrip"))
            }
        case "split", "rsplit":
            return method(name) { args, _ in
                let b = try args.bind(name, [("sep", JinjaValue.none), ("maxsplit", .int(-1))])
                let sep = try optionalStr(b[0], "sep")
                let max = try intArg(b[1], -1)
                let parts =
                    name == "split" ? try JinjaPyString.split(s, sep, maxsplit: max) : try JinjaPyString.rsplit(s, sep, maxsplit: max)
                return .list(parts.map { .string($0) })
            }
        case "splitlines":
            return method(name) { args, _ in
                let b = try args.bind(name, [("keepends", .bool(false))])
                return .list(JinjaPyString.splitlines(s, keepends: b[0].truthy).map { .string($0) })
            }
        case "startswith": return method(name) { args, _ in try affix(s, args, name, suffix: false) }
        case "endswith": return method(name) { args, _ in try affix(s, args, name, suffix: true) }
        case "upper": return method(name) { _, _ in .string(JinjaPyString.upper(s)) }
        case "lower", "casefold": return method(name) { _, _ in .string(JinjaPyString.lower(s)) }
        case "title": return method(name) { _, _ in .string(JinjaPyString.title(s)) }
        case "capitalize": return method(name) { _, _ in .string(JinjaPyString.capitalize(s)) }
        case "swapcase": return method(name) { _, _ in .string(JinjaPyString.swapcase(s)) }
        case "replace":
            return method(name) { args, _ in
                let a = try args.positionalOnly(name, min: 2, max: 3)
                let count = a.count > 2 ? try intArg(a[2], -1) : -1
                return .string(
                    JinjaPyString.replace(s, try str(a[0], "replace() argument 1"), try str(a[1], "replace() argument 2"), count: count))
            }
        case "find", "rfind", "index", "rindex":
            return method(name) { args, _ in
                let a = try args.positionalOnly(name, min: 1, max: 1)
                let i = JinjaPyString.findIndex(s, try str(a[0], "must be str"), reverse: name.hasPrefix("r"))
                if i < 0 && name.hasSuffix("index") { throw JinjaError(.runtime, "substring not found") }
                return .int(i)
            }
        case "count":
            return method(name) { args, _ in
                let a = try args.positionalOnly(name, min: 1, max: 1)
                return .int(JinjaPyString.count(s, try str(a[0], "must be str")))
            }
        case "join":
            return method(name) { args, _ in
                let a = try args.positionalOnly(name, min: 1, max: 1)
                var parts: [String] = []
                for (n, item) in try a[0].pyIterate().enumerated() {
                    guard case .string(let p) = item else {
                        throw JinjaError.type("sequence item \(n): expected str instance, \(item.typeName) found")
                    }
                    parts.append(p)
                }
                return .string(parts.joined(separator: s))
            }
        case "format":
            return method(name) { args, interp in .string(try JinjaPyFormat.format(s, args, interp)) }
        case "isdigit", "isnumeric", "isdecimal":
            return method(name) { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil }) }
        case "isalpha":
            return method(name) { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic }) }
        case "isalnum":
            return method(name) { _, _ in
                .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
            }
        case "isspace": return method(name) { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(JinjaPyString.isSpace)) }
        case "islower": return method(name) { _, _ in .bool(JinjaPyString.isLower(s)) }
        case "isupper": return method(name) { _, _ in .bool(JinjaPyString.isUpper(s)) }
        case "istitle":
            return method(name) { _, _ in
                .bool(!s.isEmpty && JinjaPyString.title(s) == s && s.unicodeScalars.contains(where: JinjaPyString.isCased))
            }
        case "removeprefix", "removesuffix":
            return method(name) { args, _ in
                let a = try args.positionalOnly(name, min: 1, max: 1)
                let p = try str(a[0], "argument")
                if name == "removeprefix", s.utf8.starts(with: p.utf8) {
                    return .string(String(decoding: Array(s.utf8).dropFirst(p.utf8.count), as: UTF8.self))
                }
                if name == "removesuffix", !p.isEmpty, s.utf8.reversed().starts(with: p.utf8.reversed()) {
                    return .string(String(decoding: Array(s.utf8).dropLast(p.utf8.count), as: UTF8.self))
                }
                return .string(s)
            }
        case "partition", "rpartition":
            return method(name) { args, _ in
                let a = try args.positionalOnly(name, min: 1, max: 1)
                let sep = try str(a[0], "argument")
                if sep.isEmpty { throw JinjaError(.runtime, "empty separator") }
                let parts =
                    name == "partition" ? try JinjaPyString.split(s, sep, maxsplit: 1) : try JinjaPyString.rsplit(s, sep, maxsplit: 1)
                if parts.count == 2 { return .tuple([.string(parts[0]), .string(sep), .string(parts[1])]) }
                return name == "partition" ? .tuple([.string(s), "", ""]) : .tuple(["", "", .string(s)])
            }
        case "center", "ljust", "rjust":
            return method(name) { args, _ in
                let a = try args.positionalOnly(name, min: 1, max: 2)
                let width = try intArg(a[0], 0)
                try JinjaError.checkSize(width)
                let fill = a.count > 1 ? try str(a[1], "fill character") : " "
                let n = JinjaPyString.length(s)
                if width <= n { return .string(s) }
                let marg = width - n
                let left: Int
                switch name {
                case "ljust": left = 0
                case "rjust": left = marg
                default: left = marg / 2 + (marg & width & 1)
                }
                return .string(String(repeating: fill, count: left) + s + String(repeating: fill, count: marg - left))
            }
        case "zfill":
            return method(name) { args, _ in
                let a = try args.positionalOnly(name, min: 1, max: 1)
                let width = try intArg(a[0], 0)
                try JinjaError.checkSize(width)
                let n = JinjaPyString.length(s)
                if width <= n { return .string(s) }
                var body = s
                var sign = ""
                if let f = body.unicodeScalars.first, f == "+" || f == "-" {
                    sign = String(f); body = String(body.unicodeScalars.dropFirst())
                }
                return .string(sign + String(repeating: "0", count: width - n) + body)
            }
        default: return nil
        }
    }

    private static func dictMethod(_ d: JinjaDict, _ name: String) -> JinjaValue? {
        switch name {
        case "items": return method(name) { _, _ in .list(zip(d.keys, d.values).map { .tuple([$0, $1]) }) }
        case "keys": return method(name) { _, _ in .list(d.keys) }
        case "values": return method(name) { _, _ in .list(d.values) }
        case "get":
            return method(name) { args, _ in
                let a = try args.positionalOnly(name, min: 1, max: 2)
                return try d.lookup(a[0]) ?? (a.count > 1 ? a[1] : JinjaValue.none)
            }
        case "copy": return method(name) { _, _ in .dict(d) }
        default: return nil
        }
    }

    private static func sequenceMethod(_ a: [JinjaValue], _ name: String, _ obj: JinjaValue) -> JinjaValue? {
        switch name {
        case "index":
            return method(name) { args, _ in
                let x = try args.positionalOnly(name, min: 1, max: 1)
                guard let i = a.firstIndex(where: { $0.pyEquals(x[0]) }) else {
                    throw JinjaError(.runtime, "\(x[0].pyRepr) is not in list")
                }
                return .int(i)
            }
        case "count":
            return method(name) { args, _ in
                let x = try args.positionalOnly(name, min: 1, max: 1)
                return .int(a.filter { $0.pyEquals(x[0]) }.count)
            }
        case "copy":
            if case .tuple = obj { return nil }
            return method(name) { _, _ in obj }
        default: return nil
        }
    }
}
