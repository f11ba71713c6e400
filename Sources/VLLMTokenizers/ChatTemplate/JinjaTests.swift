import Foundation

/// The tests of jinja2 (`x is name`, `x is not name(args)`), following jinja2/tests.py.
enum JinjaTests {
    typealias Test = @Sendable (JinjaValue, JinjaArguments, JinjaInterpreter) throws -> Bool

    private static func one(_ args: JinjaArguments, _ name: String) throws -> JinjaValue {
        try args.bind(name, [("other", nil)])[0]
    }

    private static func compare(_ op: String) -> Test {
        return { v, args, _ in try v.pyCompare(op, try one(args, op)) }
    }

    /// Tests that take no argument besides the value.
    static let unary: Set<String> = [
        "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string", "mapping",
        "iterable", "sequence", "callable", "escaped", "odd", "even", "lower", "upper", "filter", "test",
    ]

    static let table: [String: Test] = {
        var t: [String: Test] = [:]
        t["defined"] = { v, _, _ in !v.isUndefined }
        t["undefined"] = { v, _, _ in v.isUndefined }
        t["none"] = { v, _, _ in
            if case .none = v { return true }; return false
        }
        t["boolean"] = { v, _, _ in
            if case .bool = v { return true }; return false
        }
        t["true"] = { v, _, _ in
            if case .bool(true) = v { return true }; return false
        }
        t["false"] = { v, _, _ in
            if case .bool(false) = v { return true }; return false
        }
        t["integer"] = { v, _, _ in
            if case .int = v { return true }; return false
        }
        t["float"] = { v, _, _ in
            if case .float = v { return true }; return false
        }
        t["number"] = { v, _, _ in v.number != nil }
        t["string"] = { v, _, _ in
            if case .string = v { return true }; return false
        }
        t["mapping"] = { v, _, _ in
            if case .dict = v { return true }; return false
        }
        t["iterable"] = { v, _, _ in
            switch v {
            case .undefined, .string, .list, .tuple, .dict: return true
            case .object(let o): return o is JinjaGenerator
            default: return false
            }
        }
        t["sequence"] = { v, _, _ in
            // Python checks for __len__ and __getitem__; jinja2's Undefined has both.
            switch v {
            case .undefined, .string, .list, .tuple, .dict: return true
            default: return false
            }
        }
        t["callable"] = { v, _, _ in
            switch v {
            case .object(let o): return o.isCallable
            case .undefined: return true  // jinja2's Undefined defines __call__ (which raises)
            default: return false
            }
        }
        t["sameas"] = { v, args, _ in
            let other = try one(args, "sameas")
            switch (v, other) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.object(let a), .object(let b)): return a === b
            case (.int(let a), .int(let b)): return a == b && a >= -5 && a <= 256
            case (.undefined, .undefined): return false
            default: return false
            }
        }
        t["escaped"] = { _, _, _ in false }
        t["odd"] = { v, _, _ in try JinjaOperators.binary("%", v, .int(2)).pyEquals(.int(1)) }
        t["even"] = { v, _, _ in try JinjaOperators.binary("%", v, .int(2)).pyEquals(.int(0)) }
        t["divisibleby"] = { v, args, _ in
            let n = try args.bind("divisibleby", [("num", nil)])[0]
            return try JinjaOperators.binary("%", v, n).pyEquals(.int(0))
        }
        t["lower"] = { v, _, _ in JinjaPyString.isLower(v.pyStr) }
        t["upper"] = { v, _, _ in JinjaPyString.isUpper(v.pyStr) }
        t["in"] = { v, args, _ in try args.bind("in", [("seq", nil)])[0].pyContains(v) }
        for name in ["eq", "equalto", "=="] { t[name] = compare("eq") }
        for name in ["ne", "!="] { t[name] = compare("ne") }
        for name in ["lt", "lessthan", "<"] { t[name] = compare("lt") }
        for name in ["le", "<="] { t[name] = compare("lteq") }
        for name in ["gt", "greaterthan", ">"] { t[name] = compare("gt") }
        for name in ["ge", ">="] { t[name] = compare("gteq") }
        t["filter"] = { v, _, _ in
            guard case .string(let s) = v else { return false }
            return JinjaFilters.table[s] != nil
        }
        t["test"] = { v, _, _ in
            guard case .string(let s) = v else { return false }
            return JinjaTests.table[s] != nil
        }
        return t
    }()
}
