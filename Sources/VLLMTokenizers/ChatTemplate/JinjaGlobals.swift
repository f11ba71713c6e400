import Foundation

/// The global functions of the environment: jinja2's defaults (`range`, `dict`, `namespace`,
/// `cycler`, `joiner`) and the two transformers adds (`raise_exception`, `strftime_now`).
enum JinjaGlobals {
    /// jinja2's sandbox refuses ranges longer than this (`MAX_RANGE`).
    static let maxRange = 100_000

    static func lookup(_ name: String) -> JinjaValue? { table[name] }

    private static let table: [String: JinjaValue] = {
        var t: [String: JinjaValue] = [:]
        func fn(_ name: String, _ body: @escaping (JinjaArguments, JinjaInterpreter) throws -> JinjaValue) {
            t[name] = .object(JinjaFunction(name, body))
        }
        fn("range") { args, _ in
            let a = try args.positionalOnly("range", min: 1, max: 3)
            let ints = try a.map { v -> Int in
                guard let i = v.integer else { throw JinjaError.type("'\(v.typeName)' object cannot be interpreted as an integer") }
                return i
            }
            let (start, stop, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count > 2 ? ints[2] : 1)
            if step == 0 { throw JinjaError(.runtime, "range() arg 3 must not be zero") }
            let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
            if count > maxRange {
                throw JinjaError(.runtime, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(maxRange)).")
            }
            return .list(stride(from: start, to: stop, by: step).map { .int($0) })
        }
        fn("dict") { args, _ in
            var d = JinjaDict()
            if args.positional.count > 1 { throw JinjaError.type("dict expected at most 1 argument, got \(args.positional.count)") }
            if let source = args.positional.first {
                if case .dict(let other) = source {
                    d = other
                } else {
                    for pair in try source.pyIterate() {
                        let kv = try pair.pyIterate()
                        guard kv.count == 2 else {
                            throw JinjaError.type("dictionary update sequence element has length \(kv.count); 2 is required")
                        }
                        try d.set(kv[0], kv[1])
                    }
                }
            }
            for (k, v) in args.keywords { d[k] = v }
            return .dict(d)
        }
        fn("namespace") { args, interp in
            let ns = JinjaNamespace()
            if case .dict(let d) = try interp.call(lookup("dict")!, args) { ns.attributes = d }
            return .object(ns)
        }
        fn("cycler") { args, _ in .object(JinjaCycler(args.positional)) }
        fn("joiner") { args, _ in
            let b = try args.bind("joiner", [("sep", .string(", "))])
            return .object(JinjaJoiner(b[0].pyStr))
        }
        fn("raise_exception") { args, _ in
            let a = try args.bind("raise_exception", [("message", nil)])
            throw JinjaError(.raised, a[0].pyStr)
        }
        fn("strftime_now") { args, interp in
            let a = try args.bind("strftime_now", [("format", nil)])
            return .string(JinjaStrftime.format(a[0].pyStr, date: interp.now(), timeZone: interp.timeZone))
        }
        return t
    }()
}
