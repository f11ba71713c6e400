import Foundation

/// The filters of jinja2 (`x|name(args)`), with transformers' `tojson` in place of jinja2's.
///
/// Each follows the Python implementation in jinja2/filters.py, including its quirks: `unique`,
/// `sort` and `dictsort` ignore case by default, `map`/`select`/`reverse` return one-shot
/// iterators, `safe` and `string` turn their input into a string, `indent` leaves blank lines alone.
enum JinjaFilters {
    typealias Filter = @Sendable (JinjaValue, JinjaArguments, JinjaInterpreter) throws -> JinjaValue

    /// jinja2's `soft_str`.
    static func text(_ v: JinjaValue) -> String { v.pyStr }

    static func ignoreCase(_ v: JinjaValue) -> JinjaValue {
        if case .string(let s) = v { return .string(JinjaPyString.lower(s)) }
        return v
    }

    /// Python's `sorted(items, key=..., reverse=...)`: stable in both directions.
    static func sorted(_ items: [JinjaValue], reverse: Bool, key: (JinjaValue) throws -> JinjaValue) throws -> [JinjaValue] {
        let keys = try items.map(key)
        var failure: Error?
        let order = Array(items.indices).sorted { a, b in
            do {
                if reverse {
                    if try keys[b].pyLess(keys[a]) { return true }
                    if try keys[a].pyLess(keys[b]) { return false }
                } else {
                    if try keys[a].pyLess(keys[b]) { return true }
                    if try keys[b].pyLess(keys[a]) { return false }
                }
            } catch {
                failure = error
            }
            return a < b
        }
        if let failure { throw failure }
        return order.map { items[$0] }
    }

    /// jinja2's `make_attrgetter`: dotted attribute paths, optional default for undefined results.
    static func attrGetter(
        _ interp: JinjaInterpreter, _ attribute: JinjaValue, default fallback: JinjaValue? = nil,
        lowercase: Bool = false
    ) -> (JinjaValue) throws -> JinjaValue {
        return { item in
            var v = item
            if case .none = attribute {
            } else if case .string(let path) = attribute {
                for part in path.split(separator: ".", omittingEmptySubsequences: false) {
                    let key: JinjaValue = part.allSatisfy(\.isNumber) && !part.isEmpty ? .int(Int(part)!) : .string(String(part))
                    v = try interp.getitem(v, key)
                    if let fallback, v.isUndefined { v = fallback }
                }
            } else {
                v = try interp.getitem(v, attribute)
                if let fallback, v.isUndefined { v = fallback }
            }
            return lowercase ? ignoreCase(v) : v
        }
    }

    /// The test used by select/reject/selectattr/rejectattr: a named test, or truthiness.
    private static func selector(_ args: ArraySlice<JinjaValue>, _ kwargs: [(String, JinjaValue)], _ interp: JinjaInterpreter) throws -> (
        JinjaValue
    ) throws -> Bool {
        guard let first = args.first else { return { $0.truthy } }
        guard case .string(let name) = first else { throw JinjaError.type("test name must be a string") }
        let rest = JinjaArguments(Array(args.dropFirst()), kwargs)
        return { try interp.runTest(name, $0, rest) }
    }

    private static func selectFilter(attribute: Bool, keep: Bool) -> Filter {
        return { value, args, interp in
            var positional = args.positional[...]
            var getter: (JinjaValue) throws -> JinjaValue = { $0 }
            if attribute {
                guard let attr = positional.popFirst() else { throw JinjaError.type("Missing parameter for attribute name") }
                getter = attrGetter(interp, attr)
            }
            let test = try selector(positional, args.keywords, interp)
            // jinja2 only iterates a truthy value (`if seq:`), so False, 0 and None give nothing.
            guard value.truthy else { return .object(JinjaGenerator([])) }
            let items = try value.pyIterate().filter { try test(try getter($0)) == keep }
            return .object(JinjaGenerator(items))
        }
    }

    private static func firstOrLast(_ value: JinjaValue, last: Bool) throws -> JinjaValue {
        let items = try value.pyIterate()
        if let v = last ? items.last : items.first { return v }
        return .undefined(JinjaUndefined(name: nil, hint: "No \(last ? "last" : "first") item, sequence was empty."))
    }

    private static func minOrMax(_ value: JinjaValue, _ args: JinjaArguments, _ interp: JinjaInterpreter, max: Bool) throws -> JinjaValue {
        let b = try args.bind(max ? "do_max" : "do_min", [("case_sensitive", .bool(false)), ("attribute", JinjaValue.none)])
        let items = try value.pyIterate()
        guard var best = items.first else {
            return .undefined(JinjaUndefined(name: nil, hint: "No aggregated item, sequence was empty."))
        }
        let key = attrGetter(interp, b[1], lowercase: !b[0].truthy)
        var bestKey = try key(best)
        for item in items.dropFirst() {
            let k = try key(item)
            if max ? try bestKey.pyLess(k) : try k.pyLess(bestKey) { best = item; bestKey = k }
        }
        return best
    }

    /// Python's `int(float)`. Python integers are unbounded; beyond 64 bits the value stays a
    /// float here (printed differently, but never a crash).
    static func truncatedInteger(_ d: Double) -> JinjaValue {
        let t = d.rounded(.towardZero)
        return Swift.abs(t) < 9.2e18 ? .int(Int(t)) : .float(t)
    }

    static let table: [String: Filter] = {
        var t: [String: Filter] = [:]
        t["abs"] = { v, _, _ in
            switch v {
            case .int(let i): return i == Int.min ? .float(-Double(i)) : .int(Swift.abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .float(let d): return .float(Swift.abs(d))
            default: throw JinjaError.type("bad operand type for abs(): '\(v.typeName)'")
            }
        }
        t["attr"] = { v, args, interp in
            let b = try args.bind("do_attr", [("name", nil)])
            let name = b[0].pyStr
            if case .undefined(let u) = v { throw u.error }
            if let a = try JinjaMethods.attribute(v, name, interp) { return a }
            return .undefined(JinjaUndefined(name: name, owner: v.ownerDescription))
        }
        t["batch"] = { v, args, _ in
            let b = try args.bind("do_batch", [("linecount", nil), ("fill_with", JinjaValue.none)])
            guard let n = b[0].integer, n > 0 else { throw JinjaError.type("linecount must be a positive integer") }
            var out: [JinjaValue] = []
            var tmp: [JinjaValue] = []
            for item in try v.pyIterate() {
                if tmp.count == n { out.append(.list(tmp)); tmp = [] }
                tmp.append(item)
            }
            if !tmp.isEmpty {
                if case .none = b[1] {} else { while tmp.count < n { tmp.append(b[1]) } }
                out.append(.list(tmp))
            }
            return .object(JinjaGenerator(out))
        }
        t["capitalize"] = { v, _, _ in .string(JinjaPyString.capitalize(text(v))) }
        t["center"] = { v, args, interp in
            let b = try args.bind("do_center", [("width", .int(80))])
            let m = try JinjaMethods.attribute(.string(text(v)), "center", interp)!
            return try interp.call(m, JinjaArguments([b[0]]))
        }
        let length: Filter = { v, _, _ in .int(try v.pyLength()) }
        t["length"] = length
        t["count"] = length
        let defaultFilter: Filter = { v, args, _ in
            let b = try args.bind("do_default", [("default_value", .string("")), ("boolean", .bool(false))])
            if v.isUndefined || (b[1].truthy && !v.truthy) { return b[0] }
            return v
        }
        t["default"] = defaultFilter
        t["d"] = defaultFilter
        t["dictsort"] = { v, args, _ in
            let b = try args.bind("do_dictsort", [("case_sensitive", .bool(false)), ("by", .string("key")), ("reverse", .bool(false))])
            if case .undefined(let u) = v { throw u.error }
            guard case .dict(let d) = v else { throw JinjaError.type("'\(v.typeName)' object has no attribute 'items'") }
            let pos: Int
            switch b[1].pyStr {
            case "key": pos = 0
            case "value": pos = 1
            default: throw JinjaError(.runtime, "You can only sort by either \"key\" or \"value\"")
            }
            let pairs = zip(d.keys, d.values).map { JinjaValue.tuple([$0, $1]) }
            return .list(
                try sorted(pairs, reverse: b[2].truthy) { pair in
                    guard case .tuple(let kv) = pair else { return pair }
                    return b[0].truthy ? kv[pos] : ignoreCase(kv[pos])
                })
        }
        let escape: Filter = { v, _, _ in
            var s = ""
            for c in text(v).unicodeScalars {
                switch c {
                case "&": s += "&amp;"
                case "<": s += "&lt;"
                case ">": s += "&gt;"
                case "\"": s += "&#34;"
                case "'": s += "&#39;"
                default: s.unicodeScalars.append(c)
                }
            }
            return .string(s)
        }
        t["escape"] = escape
        t["e"] = escape
        t["forceescape"] = escape
        t["first"] = { v, _, _ in try firstOrLast(v, last: false) }
        t["last"] = { v, _, _ in try firstOrLast(v, last: true) }
        t["float"] = { v, args, _ in
            let b = try args.bind("do_float", [("default", .float(0))])
            switch v {
            case .undefined(let u): throw u.error
            case .int, .bool, .float: return .float(v.number!)
            case .string(let s): return JinjaPyString.parseFloat(s).map { .float($0) } ?? b[0]
            default: return b[0]
            }
        }
        t["format"] = { v, args, _ in
            if !args.positional.isEmpty && !args.keywords.isEmpty {
                throw JinjaError.type("can't handle positional and keyword arguments at the same time")
            }
            let operand: JinjaValue = args.keywords.isEmpty ? .tuple(args.positional) : .dict(JinjaDict(pairs: args.keywords))
            return .string(try JinjaPyFormat.percent(text(v), operand))
        }
        t["indent"] = { v, args, _ in
            let b = try args.bind("do_indent", [("width", .int(4)), ("first", .bool(false)), ("blank", .bool(false))])
            let s: String
            switch v {
            case .string(let x): s = x
            case .undefined(let u): throw u.error
            default: throw JinjaError.type("unsupported operand type(s) for +=: '\(v.typeName)' and 'str'")
            }
            let indention: String
            if case .string(let w) = b[0] {
                indention = w
            } else {
                try JinjaError.checkSize(b[0].integer ?? 0)
                indention = String(repeating: " ", count: max(0, b[0].integer ?? 0))
            }
            // jinja2 appends a newline first so that splitlines() keeps a trailing empty line.
            let lines = JinjaPyString.splitlines(s + "\n")
            var rv: String
            if b[2].truthy {
                rv = lines.joined(separator: "\n" + indention)
            } else {
                rv = lines.first ?? ""
                let rest = lines.dropFirst()
                if !rest.isEmpty { rv += "\n" + rest.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n") }
            }
            if b[1].truthy { rv = indention + rv }
            return .string(rv)
        }
        t["int"] = { v, args, _ in
            let b = try args.bind("do_int", [("default", .int(0)), ("base", .int(10))])
            switch v {
            case .undefined(let u): throw u.error
            case .int, .bool: return .int(v.integer!)
            case .float(let d):
                guard d.isFinite else { throw JinjaError(.runtime, "cannot convert float infinity or NaN to integer") }
                return truncatedInteger(d)
            case .string(let s):
                if let i = JinjaPyString.parseInt(s, base: b[1].integer ?? 10) { return .int(i) }
                if let d = JinjaPyString.parseFloat(s), d.isFinite { return truncatedInteger(d) }
                return b[0]
            default: return b[0]
            }
        }
        t["items"] = { v, _, _ in
            switch v {
            case .undefined: return .object(JinjaGenerator([]))
            case .dict(let d): return .object(JinjaGenerator(zip(d.keys, d.values).map { .tuple([$0, $1]) }))
            default: throw JinjaError.type("Can only get item pairs from a mapping.")
            }
        }
        t["join"] = { v, args, interp in
            let b = try args.bind("do_join", [("d", .string("")), ("attribute", JinjaValue.none)])
            var items = try v.pyIterate()
            if case .none = b[1] {} else { items = try items.map(attrGetter(interp, b[1])) }
            return .string(items.map(\.pyStr).joined(separator: text(b[0])))
        }
        t["list"] = { v, _, _ in .list(try v.pyIterate()) }
        t["lower"] = { v, _, _ in .string(JinjaPyString.lower(text(v))) }
        t["upper"] = { v, _, _ in .string(JinjaPyString.upper(text(v))) }
        t["map"] = { v, args, interp in
            // Like select, map skips a falsy input without trying to iterate it.
            let items = v.truthy ? try v.pyIterate() : []
            if args.positional.isEmpty, let attr = args.keywords.first(where: { $0.0 == "attribute" })?.1 {
                let fallback = args.keywords.first(where: { $0.0 == "default" })?.1
                if args.keywords.contains(where: { $0.0 != "attribute" && $0.0 != "default" }) {
                    throw JinjaError.type("Unexpected keyword argument for map")
                }
                let getter = attrGetter(interp, attr, default: fallback)
                return .object(JinjaGenerator(try items.map(getter)))
            }
            guard case .string(let name)? = args.positional.first else { throw JinjaError.type("map requires a filter argument") }
            guard let filter = table[name] else { throw JinjaError(.runtime, "No filter named '\(name)' found.") }
            let rest = JinjaArguments(Array(args.positional.dropFirst()), args.keywords)
            return .object(JinjaGenerator(try items.map { try filter($0, rest, interp) }))
        }
        t["max"] = { v, args, interp in try minOrMax(v, args, interp, max: true) }
        t["min"] = { v, args, interp in try minOrMax(v, args, interp, max: false) }
        t["select"] = selectFilter(attribute: false, keep: true)
        t["reject"] = selectFilter(attribute: false, keep: false)
        t["selectattr"] = selectFilter(attribute: true, keep: true)
        t["rejectattr"] = selectFilter(attribute: true, keep: false)
        t["replace"] = { v, args, _ in
            let b = try args.bind("do_replace", [("old", nil), ("new", nil), ("count", JinjaValue.none)])
            let count: Int
            if case .none = b[2] { count = -1 } else { count = b[2].integer ?? -1 }
            return .string(JinjaPyString.replace(text(v), text(b[0]), text(b[1]), count: count))
        }
        t["reverse"] = { v, _, _ in
            switch v {
            case .string(let s): return .string(JinjaPyString.string(s.unicodeScalars.reversed()))
            case .list(let a): return .object(JinjaGenerator(a.reversed(), kind: "list_reverseiterator"))
            case .tuple(let a): return .object(JinjaGenerator(a.reversed(), kind: "reversed"))
            case .dict(let d): return .object(JinjaGenerator(d.keys.reversed(), kind: "dict_reversekeyiterator"))
            default:
                do { return .list(try v.pyIterate().reversed()) } catch { throw JinjaError.type("argument to reverse must be a sequence") }
            }
        }
        t["round"] = { v, args, _ in
            let b = try args.bind("do_round", [("precision", .int(0)), ("method", .string("common"))])
            let precision = b[0].integer ?? 0
            let method = text(b[1])
            guard ["common", "ceil", "floor"].contains(method) else {
                throw JinjaError(.runtime, "method must be common, ceil or floor")
            }
            guard let x = v.number else { throw JinjaError.type("type \(v.typeName) doesn't define __round__ method") }
            if method == "common" {
                if let i = v.integer, precision >= 0 { return .int(i) }
                // Python rounds the exact binary value half-to-even; printf does the same.
                if precision == 0 { return .float(x.rounded(.toNearestOrEven)) }
                if precision > 0, x.isFinite { return .float(Double(String(format: "%.\(precision)f", x)) ?? x) }
                let scale = pow(10.0, Double(-precision))
                return .float((x / scale).rounded(.toNearestOrEven) * scale)
            }
            let scale = pow(10.0, Double(precision))
            return .float((method == "ceil" ? (x * scale).rounded(.up) : (x * scale).rounded(.down)) / scale)
        }
        t["safe"] = { v, _, _ in .string(text(v)) }
        t["string"] = { v, _, _ in .string(text(v)) }
        t["slice"] = { v, args, _ in
            let b = try args.bind("do_slice", [("slices", nil), ("fill_with", JinjaValue.none)])
            let seq = try v.pyIterate()
            guard let slices = b[0].integer, slices > 0 else { throw JinjaError.type("slices must be a positive integer") }
            try JinjaError.checkSize(slices)
            let per = seq.count / slices, extra = seq.count % slices
            var offset = 0
            var out: [JinjaValue] = []
            for n in 0..<slices {
                let start = offset + n * per
                if n < extra { offset += 1 }
                let end = offset + (n + 1) * per
                var tmp = Array(seq[start..<end])
                if case .none = b[1] {} else if n >= extra { tmp.append(b[1]) }
                out.append(.list(tmp))
            }
            return .object(JinjaGenerator(out))
        }
        t["sort"] = { v, args, interp in
            let b = try args.bind("do_sort", [("reverse", .bool(false)), ("case_sensitive", .bool(false)), ("attribute", JinjaValue.none)])
            let lower = !b[1].truthy
            // jinja2's make_multi_attrgetter returns a list of keys; list comparison checks `==`
            // before `<`, which is why equal undefined keys sort without raising.
            var key: (JinjaValue) throws -> JinjaValue = { .list([lower ? ignoreCase($0) : $0]) }
            if case .string(let attrs) = b[2] {
                let getters = attrs.split(separator: ",").map { attrGetter(interp, .string(String($0)), lowercase: lower) }
                key = { item in .list(try getters.map { try $0(item) }) }
            } else if case .none = b[2] {
            } else {
                let getter = attrGetter(interp, b[2], lowercase: lower)
                key = { .list([try getter($0)]) }
            }
            return .list(try sorted(try v.pyIterate(), reverse: b[0].truthy, key: key))
        }
        t["sum"] = { v, args, interp in
            let b = try args.bind("sync_do_sum", [("attribute", JinjaValue.none), ("start", .int(0))])
            var items = try v.pyIterate()
            if case .none = b[0] {} else { items = try items.map(attrGetter(interp, b[0])) }
            var total = b[1]
            for item in items { total = try JinjaOperators.binary("+", total, item) }
            return total
        }
        t["title"] = { v, _, _ in
            // jinja2 splits before runs of `-`, whitespace and opening brackets, then upper-cases
            // the first character of every piece and lower-cases the rest.
            var out = ""
            var piece = String.UnicodeScalarView()
            var inSeparator = false
            func flush() {
                guard let first = piece.first else { return }
                out += JinjaPyString.upper(String(first)) + JinjaPyString.lower(JinjaPyString.string(piece.dropFirst()))
                piece = String.UnicodeScalarView()
            }
            for c in text(v).unicodeScalars {
                let sep = c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || JinjaPyString.isSpace(c)
                if sep != inSeparator { flush(); inSeparator = sep }
                piece.append(c)
            }
            flush()
            return .string(out)
        }
        t["tojson"] = { v, args, _ in
            let b = try args.bind(
                "tojson",
                [("ensure_ascii", .bool(false)), ("indent", JinjaValue.none), ("separators", JinjaValue.none), ("sort_keys", .bool(false))])
            var indent: String?
            switch b[1] {
            case .none: indent = nil
            case .string(let s): indent = s
            default:
                guard let n = b[1].integer else { throw JinjaError.type("indent must be an int or a string") }
                try JinjaError.checkSize(n)
                indent = String(repeating: " ", count: max(0, n))
            }
            var separators: (String, String)?
            switch b[2] {
            case .none: separators = nil
            case .list(let p), .tuple(let p):
                guard p.count == 2, case .string(let a) = p[0], case .string(let c) = p[1] else {
                    throw JinjaError.type("separators must be a pair of strings")
                }
                separators = (a, c)
            default: throw JinjaError.type("separators must be a pair of strings")
            }
            let encoder = JinjaJSONEncoder(indent: indent, separators: separators, sortKeys: b[3].truthy, ensureASCII: b[0].truthy)
            return .string(try encoder.encode(v))
        }
        t["trim"] = { v, args, _ in
            let b = try args.bind("do_trim", [("chars", JinjaValue.none)])
            var chars: String?
            if case .none = b[0] {} else { chars = text(b[0]) }
            return .string(JinjaPyString.strip(text(v), chars))
        }
        t["truncate"] = { v, args, _ in
            let b = try args.bind(
                "do_truncate", [("length", .int(255)), ("killwords", .bool(false)), ("end", .string("...")), ("leeway", JinjaValue.none)])
            let length = b[0].integer ?? 255
            let end = text(b[2])
            let leeway: Int
            if case .none = b[3] { leeway = 5 } else { leeway = b[3].integer ?? 5 }
            // jinja2 measures and returns the value itself, not its string form.
            if try v.pyLength() <= length + leeway { return v }
            guard case .string(let s) = v else {
                throw JinjaError.type("'\(v.typeName)' object has no attribute 'rsplit'")
            }
            let cs = Array(s.unicodeScalars)
            let head = JinjaPyString.string(cs.prefix(max(0, length - JinjaPyString.length(end))))
            if b[1].truthy { return .string(head + end) }
            return .string((try JinjaPyString.rsplit(head, " ", maxsplit: 1).first ?? head) + end)
        }
        t["unique"] = { v, args, interp in
            let b = try args.bind("do_unique", [("case_sensitive", .bool(false)), ("attribute", JinjaValue.none)])
            let key = attrGetter(interp, b[1], lowercase: !b[0].truthy)
            var seen = Set<JinjaHashKey>()
            var out: [JinjaValue] = []
            for item in try v.pyIterate() where seen.insert(try JinjaHashKey(try key(item))).inserted {
                out.append(item)
            }
            return .object(JinjaGenerator(out))
        }
        t["groupby"] = { v, args, interp in
            let b = try args.bind("sync_do_groupby", [("attribute", nil), ("default", JinjaValue.none), ("case_sensitive", .bool(false))])
            let fallback: JinjaValue? = {
                if case .none = b[1] { return nil }; return b[1]
            }()
            let key = attrGetter(interp, b[0], default: fallback, lowercase: !b[2].truthy)
            let original = attrGetter(interp, b[0], default: fallback)
            let items = try sorted(try v.pyIterate(), reverse: false, key: key)
            // itertools.groupby: runs of consecutive items with equal keys.
            var groups: [JinjaValue] = []
            var runKey: JinjaValue?
            var run: [JinjaValue] = []
            func flush() throws {
                guard let first = run.first else { return }
                let grouper = b[2].truthy ? runKey! : try original(first)
                groups.append(.tuple([grouper, .list(run)]))
            }
            for item in items {
                let k = try key(item)
                if let rk = runKey, rk.pyEquals(k) { run.append(item); continue }
                try flush()
                runKey = k
                run = [item]
            }
            try flush()
            return .list(groups)
        }
        t["striptags"] = { v, _, _ in
            // markupsafe: drop comments and tags, collapse whitespace, then unescape entities.
            var s = Array(text(v).unicodeScalars)
            var out: [Unicode.Scalar] = []
            var i = 0
            func at(_ p: Int, _ lit: String) -> Bool {
                Array(lit.unicodeScalars).enumerated().allSatisfy { p + $0.offset < s.count && s[p + $0.offset] == $0.element }
            }
            while i < s.count {
                if at(i, "<!--"), let end = (i + 4..<max(i + 4, s.count)).first(where: { at($0, "-->") }) { i = end + 3; continue }
                if s[i] == "<", let end = (i + 1..<s.count).first(where: { s[$0] == ">" }) { i = end + 1; continue }
                out.append(s[i])
                i += 1
            }
            s = out
            let collapsed = try JinjaPyString.split(JinjaPyString.string(s), nil).joined(separator: " ")
            var result = collapsed
            for (entity, char) in [
                ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#34;", "\""), ("&#39;", "'"), ("&nbsp;", "\u{A0}"), ("&amp;", "&"),
            ] {
                result = JinjaPyString.replace(result, entity, char)
            }
            return .string(result)
        }
        t["filesizeformat"] = { v, args, _ in
            let b = try args.bind("do_filesizeformat", [("binary", .bool(false))])
            let bytes: Double
            switch v {
            case .string(let s):
                guard let d = JinjaPyString.parseFloat(s) else { throw JinjaError(.runtime, "could not convert string to float") };
                bytes = d
            default: guard let d = v.number else { throw JinjaError.type("float() argument must be a string or a real number") }; bytes = d
            }
            let binary = b[0].truthy
            let base = binary ? 1024.0 : 1000.0
            let prefixes =
                binary ? ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"] : ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
            if bytes == 1 { return .string("1 Byte") }
            if bytes < base { return .string("\(Int(bytes.rounded(.towardZero))) Bytes") }
            var unit = base
            for (n, prefix) in prefixes.enumerated() {
                unit = pow(base, Double(n + 2))
                if bytes < unit || n == prefixes.count - 1 {
                    return .string(String(format: "%.1f", base * bytes / unit) + " " + prefix)
                }
            }
            return .string("")
        }
        t["urlencode"] = { v, _, _ in
            func quote(_ s: String, query: Bool) -> String {
                var out = ""
                for byte in s.utf8 {
                    let c = Character(Unicode.Scalar(byte))
                    if byte < 128 && (c.isLetter || c.isNumber || "_.-~".contains(c) || (!query && c == "/")) {
                        out.append(c)
                    } else {
                        out += String(format: "%%%02X", byte)
                    }
                }
                return query ? out.replacingOccurrences(of: "%20", with: "+") : out
            }
            switch v {
            case .string(let s): return .string(quote(s, query: false))
            case .dict(let d):
                return .string(
                    zip(d.keys, d.values).map { quote($0.pyStr, query: true) + "=" + quote($1.pyStr, query: true) }.joined(separator: "&"))
            case .list, .tuple:
                let pairs = try v.pyIterate().map { pair -> String in
                    let kv = try pair.pyIterate()
                    guard kv.count == 2 else { throw JinjaError.type("urlencode needs pairs") }
                    return quote(kv[0].pyStr, query: true) + "=" + quote(kv[1].pyStr, query: true)
                }
                return .string(pairs.joined(separator: "&"))
            default: return .string(quote(v.pyStr, query: false))
            }
        }
        t["xmlattr"] = { v, args, interp in
            let b = try args.bind("do_xmlattr", [("autospace", .bool(true))])
            guard case .dict(let d) = v else { throw JinjaError.type("'\(v.typeName)' object has no attribute 'items'") }
            var items: [String] = []
            for (k, val) in zip(d.keys, d.values) {
                if case .none = val { continue }
                if case .undefined = val { continue }
                let key = k.pyStr
                if key.contains(where: { $0 == " " || $0 == "/" || $0 == ">" || $0 == "=" || $0.isWhitespace }) {
                    throw JinjaError(.runtime, "Invalid character in attribute name: \(k.pyRepr)")
                }
                let escapedKey = try table["escape"]!(.string(key), JinjaArguments(), interp).pyStr
                let escapedValue = try table["escape"]!(val, JinjaArguments(), interp).pyStr
                items.append("\(escapedKey)=\"\(escapedValue)\"")
            }
            let rv = items.joined(separator: " ")
            return .string(b[0].truthy && !rv.isEmpty ? " " + rv : rv)
        }
        // pprint is pformat(): the repr for anything that fits in 80 columns.
        t["pprint"] = { v, _, _ in .string(v.pyRepr) }
        t["random"] = { v, _, _ in
            let items = try v.pyIterate()
            guard let pick = items.randomElement() else { throw JinjaError(.runtime, "Cannot choose from an empty sequence") }
            return pick
        }
        // Known to jinja2 (so templates that merely mention them must parse) but not implemented.
        for name in ["wordwrap", "urlize"] {
            t[name] = { _, _, _ in throw JinjaError(.runtime, "the '\(name)' filter is not supported") }
        }
        t["wordcount"] = { v, _, _ in
            var count = 0
            var inWord = false
            for c in text(v).unicodeScalars {
                let w = c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
                if w && !inWord { count += 1 }
                inWord = w
            }
            return .int(count)
        }
        return t
    }()
}
