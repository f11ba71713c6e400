import Foundation

/// Evaluated call arguments, bound to parameters the way Python binds a function call.
struct JinjaArguments {
    var positional: [JinjaValue]
    var keywords: [(String, JinjaValue)]

    init(_ positional: [JinjaValue] = [], _ keywords: [(String, JinjaValue)] = []) {
        self.positional = positional
        self.keywords = keywords
    }

    /// Binds to `params` (name, default; nil default = required) and returns one value per
    /// parameter, raising Python's `TypeError`s for surplus or unknown arguments.
    func bind(_ function: String, _ params: [(String, JinjaValue?)]) throws -> [JinjaValue] {
        if positional.count > params.count {
            throw JinjaError.type("\(function)() takes at most \(params.count) argument(s) (\(positional.count) given)")
        }
        var out: [JinjaValue?] = params.map { _ in nil }
        for (n, v) in positional.enumerated() { out[n] = v }
        for (k, v) in keywords {
            guard let n = params.firstIndex(where: { $0.0 == k }) else {
                throw JinjaError.type("\(function)() got an unexpected keyword argument '\(k)'")
            }
            if out[n] != nil { throw JinjaError.type("\(function)() got multiple values for argument '\(k)'") }
            out[n] = v
        }
        return try out.enumerated().map { n, v in
            if let v { return v }
            if let d = params[n].1 { return d }
            throw JinjaError.type("\(function)() missing required argument '\(params[n].0)'")
        }
    }

    /// Only positional arguments are accepted (methods of Python built-in types).
    func positionalOnly(_ function: String, min: Int, max: Int) throws -> [JinjaValue] {
        if !keywords.isEmpty { throw JinjaError.type("\(function)() takes no keyword arguments") }
        if positional.count < min || positional.count > max {
            throw JinjaError.type("\(function)() takes from \(min) to \(max) positional arguments but \(positional.count) were given")
        }
        return positional
    }
}

/// A variable scope. jinja2 gives `for` iterations, macros, `with` and call blocks their own
/// scope, so a `set` inside them is not visible outside (hence `namespace()`); `if` does not.
final class JinjaScope {
    var vars: [String: JinjaValue] = [:]
    let parent: JinjaScope?

    init(parent: JinjaScope?) { self.parent = parent }

    func lookup(_ name: String) -> JinjaValue? {
        var s: JinjaScope? = self
        while let cur = s {
            if let v = cur.vars[name] { return v }
            s = cur.parent
        }
        return nil
    }
}

/// A built-in function or bound method.
final class JinjaFunction: JinjaObject, @unchecked Sendable {
    let name: String
    let body: (JinjaArguments, JinjaInterpreter) throws -> JinjaValue

    init(_ name: String, _ body: @escaping (JinjaArguments, JinjaInterpreter) throws -> JinjaValue) {
        self.name = name
        self.body = body
    }

    override var typeName: String { "builtin_function_or_method" }
    override var isCallable: Bool { true }
    override func call(_ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue { try body(args, interp) }
    override var repr: String { "<built-in function \(name)>" }
}

/// `namespace(...)`: the one mutable object, so loops can carry state out of their scope.
final class JinjaNamespace: JinjaObject, @unchecked Sendable {
    var attributes = JinjaDict()

    override var typeName: String { "Namespace" }
    override func attribute(_ name: String, _ interp: JinjaInterpreter) throws -> JinjaValue? { attributes[name] }
    override var repr: String { "<Namespace " + JinjaValue.dict(attributes).pyRepr + ">" }
}

/// A `{% macro %}` (or the `caller` of a call block), closed over the scope it was defined in.
final class JinjaMacro: JinjaObject, @unchecked Sendable {
    let definition: JinjaMacroDefinition
    let closure: JinjaScope
    let caller: JinjaMacro?

    init(_ definition: JinjaMacroDefinition, closure: JinjaScope, caller: JinjaMacro? = nil) {
        self.definition = definition
        self.closure = closure
        self.caller = caller
    }

    override var typeName: String { "Macro" }
    override var isCallable: Bool { true }
    override var repr: String { "<Macro '\(definition.name)'>" }

    override func attribute(_ name: String, _ interp: JinjaInterpreter) throws -> JinjaValue? {
        switch name {
        case "name": return .string(definition.name)
        case "arguments": return .tuple(definition.parameters.map { .string($0.0) })
        default: return nil
        }
    }

    override func call(_ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue {
        let scope = JinjaScope(parent: closure)
        let params = definition.parameters
        var extra: [JinjaValue] = []
        for (n, v) in args.positional.enumerated() {
            if n < params.count { scope.vars[params[n].0] = v } else { extra.append(v) }
        }
        var kwargs = JinjaDict()
        for (k, v) in args.keywords {
            if k == "caller", caller == nil, definition.usesCaller { scope.vars["caller"] = v; continue }
            if let n = params.firstIndex(where: { $0.0 == k }) {
                if n < args.positional.count {
                    throw JinjaError.type("macro '\(definition.name)' got multiple values for argument '\(k)'")
                }
                scope.vars[k] = v
            } else {
                kwargs[k] = v
            }
        }
        // jinja2 only tolerates what the body can reach through varargs/kwargs/caller.
        if !definition.usesKwargs, let first = kwargs.keys.first {
            if first.pyStr == "caller" {
                throw JinjaError.type(
                    "macro '\(definition.name)' was invoked with two values for the special caller argument. This is most likely a bug.")
            }
            throw JinjaError.type("macro '\(definition.name)' takes no keyword argument \(first.pyRepr)")
        }
        if !definition.usesVarargs, !extra.isEmpty {
            throw JinjaError.type("macro '\(definition.name)' takes not more than \(params.count) argument(s)")
        }
        // Defaults are evaluated at call time in the macro's scope, so they can see earlier parameters.
        for (name, def) in params where scope.vars[name] == nil {
            if let def {
                scope.vars[name] = try interp.eval(def, scope)
            } else {
                scope.vars[name] = .undefined(JinjaUndefined(name: name, hint: "parameter '\(name)' was not provided"))
            }
        }
        scope.vars["varargs"] = .tuple(extra)
        scope.vars["kwargs"] = .dict(kwargs)
        if let caller { scope.vars["caller"] = .object(caller) }
        var out = ""
        try interp.execute(definition.body, scope, &out)
        return .string(out)
    }
}

/// The `loop` variable of a `for` statement.
final class JinjaLoop: JinjaObject, @unchecked Sendable {
    let items: [JinjaValue]
    var index0 = 0
    let depth0: Int
    let recurse: ((JinjaValue) throws -> JinjaValue)?
    private var lastChanged: [JinjaValue]?

    init(items: [JinjaValue], depth0: Int, recurse: ((JinjaValue) throws -> JinjaValue)?) {
        self.items = items
        self.depth0 = depth0
        self.recurse = recurse
    }

    override var typeName: String { "LoopContext" }
    override var isCallable: Bool { recurse != nil }
    override var repr: String { "<LoopContext \(index0 + 1)/\(items.count)>" }

    override func call(_ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue {
        guard let recurse else {
            throw JinjaError.type("The loop must have the 'recursive' marker to be called recursively.")
        }
        let a = try args.positionalOnly("loop", min: 1, max: 1)
        return try recurse(a[0])
    }

    override func attribute(_ name: String, _ interp: JinjaInterpreter) throws -> JinjaValue? {
        let n = items.count
        switch name {
        case "index": return .int(index0 + 1)
        case "index0": return .int(index0)
        case "revindex": return .int(n - index0)
        case "revindex0": return .int(n - index0 - 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(index0 == n - 1)
        case "length": return .int(n)
        case "depth": return .int(depth0 + 1)
        case "depth0": return .int(depth0)
        case "previtem":
            return index0 > 0 ? items[index0 - 1] : .undefined(JinjaUndefined(name: "previtem", hint: "there is no previous item"))
        case "nextitem":
            return index0 + 1 < n ? items[index0 + 1] : .undefined(JinjaUndefined(name: "nextitem", hint: "there is no next item"))
        case "cycle":
            return .object(
                JinjaFunction("cycle") { [unowned self] args, _ in
                    guard !args.positional.isEmpty else { throw JinjaError.type("no items for cycling given") }
                    return args.positional[self.index0 % args.positional.count]
                })
        case "changed":
            return .object(
                JinjaFunction("changed") { [unowned self] args, _ in
                    let value = args.positional
                    if let last = self.lastChanged, JinjaValue.tuple(last).pyEquals(.tuple(value)) { return .bool(false) }
                    self.lastChanged = value
                    return .bool(true)
                })
        default: return nil
        }
    }
}

/// `cycler(...)` from jinja2's default globals.
final class JinjaCycler: JinjaObject, @unchecked Sendable {
    let items: [JinjaValue]
    var position = 0

    init(_ items: [JinjaValue]) { self.items = items }

    override var typeName: String { "Cycler" }

    override func attribute(_ name: String, _ interp: JinjaInterpreter) throws -> JinjaValue? {
        switch name {
        case "current": return items.isEmpty ? JinjaValue.none : items[position]
        case "next":
            return .object(
                JinjaFunction("next") { [unowned self] _, _ in
                    let v = self.items[self.position]
                    self.position = (self.position + 1) % self.items.count
                    return v
                })
        case "reset":
            return .object(
                JinjaFunction("reset") { [unowned self] _, _ in
                    self.position = 0
                    return .none
                })
        default: return nil
        }
    }
}

/// `joiner(sep)`: returns "" the first time it is called and `sep` afterwards.
final class JinjaJoiner: JinjaObject, @unchecked Sendable {
    let separator: String
    var used = false

    init(_ separator: String) { self.separator = separator }

    override var typeName: String { "Joiner" }
    override var isCallable: Bool { true }
    override func call(_ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue {
        if !used { used = true; return .string("") }
        return .string(separator)
    }
}

/// A one-shot iterator, as returned by jinja2's `map`, `select`, `selectattr`, `unique`,
/// `reverse`, `batch` and `items` filters. Python semantics matter here: it is always truthy,
/// has no `len()`, and a second iteration yields nothing.
final class JinjaGenerator: JinjaObject, @unchecked Sendable {
    private var items: [JinjaValue]?
    private let kind: String

    init(_ items: [JinjaValue], kind: String = "generator") {
        self.items = items
        self.kind = kind
    }

    override var typeName: String { kind }
    override var repr: String { "<\(kind) object>" }

    /// Drains the iterator.
    func drain() -> [JinjaValue] {
        defer { items = [] }
        return items ?? []
    }
}
