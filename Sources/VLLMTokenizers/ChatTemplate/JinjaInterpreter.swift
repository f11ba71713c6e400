import Foundation

/// Walks the statement tree and renders it, with the semantics of jinja2's sandboxed,
/// immutable environment as transformers configures it.
final class JinjaInterpreter {
    /// The clock behind `strftime_now`; replaceable so that renders can be reproduced.
    let now: () -> Date
    let timeZone: TimeZone
    /// Guards against runaway recursion (recursive loops, macros calling themselves).
    private var depth = 0
    /// True while evaluating an output expression the way jinja2's compiler does at compile time
    /// (`as_const`): only literals, no variables or calls, and slices go through the sandbox's
    /// getitem, which turns a TypeError into an undefined value.
    private var folding = false
    /// Deep enough for any real template (Python's own limit stops jinja2 at a few hundred
    /// nested macro calls) and shallow enough for the 512 KiB stacks of Swift concurrency threads.
    static let maxDepth = 120

    /// Raised when an expression is not a compile-time constant (jinja2's `Impossible`).
    private struct NotConstant: Error {}

    /// filters that need the render context, which jinja2 never evaluates at compile time.
    private static let contextFilters: Set<String> = ["map", "select", "reject", "selectattr", "rejectattr"]

    /// The value jinja2's compiler computes for `e` (`as_const`), or nil when the expression
    /// depends on the context or fails (in which case jinja2 also defers to run time).
    func constantValue(_ e: JinjaExpr) -> JinjaValue? {
        folding = true
        defer { folding = false }
        return try? eval(e, JinjaScope(parent: nil))
    }

    /// What this render may still spend; every statement, expression and loop iteration takes a step.
    private var meter: JinjaBudgetMeter

    init(now: @escaping () -> Date, timeZone: TimeZone, budget: JinjaRenderBudget) {
        self.now = now
        self.timeZone = timeZone
        meter = JinjaBudgetMeter(budget)
    }

    /// Appends rendered text to the output, paying for its bytes.
    private func emit(_ text: String, _ out: inout String) throws {
        try meter.charge(bytes: text.utf8.count)
        out += text
    }

    enum Flow { case normal, breakLoop, continueLoop }

    // MARK: statements

    /// Runs `body` in `scope`, appending its output to `out`; a `break`/`continue` stops early.
    @discardableResult
    func execute(_ body: [JinjaStmt], _ scope: JinjaScope, _ out: inout String) throws -> Flow {
        for stmt in body {
            try meter.step()
            do {
                let flow = try executeOne(stmt, scope, &out)
                if flow != .normal { return flow }
            } catch let e as JinjaError {
                throw e.at(stmt.line)
            }
        }
        return .normal
    }

    private func executeOne(_ stmt: JinjaStmt, _ scope: JinjaScope, _ out: inout String) throws -> Flow {
        switch stmt.kind {
        case .text(let s):
            try emit(s, &out)
        case .output(let e):
            if let constant = e.outputConstant {
                try emit(constant.pyStr, &out)
            } else {
                try emit(try eval(e, scope).pyStr, &out)
            }
        case .ifChain(let branches, let otherwise):
            for (test, body) in branches where try eval(test, scope).truthy {
                return try execute(body, scope, &out)
            }
            return try execute(otherwise, scope, &out)
        case .forLoop(let loop):
            try runFor(loop, iterable: try eval(loop.iterable, scope), scope, &out, depth0: 0)
        case .assign(let target, let e):
            try assign(target, try eval(e, scope), scope)
        case .assignBlock(let target, let filters, let body):
            var captured = ""
            try execute(body, JinjaScope(parent: scope), &captured)
            var value = JinjaValue.string(captured)
            for f in filters { value = try applyFilter(f, value, scope) }
            try assign(target, value, scope)
        case .macro(let def):
            scope.vars[def.name] = .object(JinjaMacro(def, closure: scope))
        case .callBlock(let callExpr, let callerDef):
            guard case .call(let fnExpr, let args) = callExpr.kind else { break }
            let caller = JinjaMacro(callerDef, closure: scope)
            let fn = try eval(fnExpr, scope)
            var evaluated = try evalArgs(args, scope)
            if case .object(let m as JinjaMacro) = fn, m.definition.usesCaller {
                // The macro sees the call block's body as `caller`.
                let bound = JinjaMacro(m.definition, closure: m.closure, caller: caller)
                try emit(try bound.call(evaluated, self).pyStr, &out)
            } else {
                evaluated.keywords.append(("caller", .object(caller)))
                try emit(try call(fn, evaluated).pyStr, &out)
            }
        case .filterBlock(let filters, let body):
            var captured = ""
            try execute(body, JinjaScope(parent: scope), &captured)
            var value = JinjaValue.string(captured)
            for f in filters { value = try applyFilter(f, value, scope) }
            try emit(value.pyStr, &out)
        case .with(let assignments, let body):
            let inner = JinjaScope(parent: scope)
            for (target, e) in assignments { try assign(target, try eval(e, scope), inner) }
            return try execute(body, inner, &out)
        case .scoped(let body):
            return try execute(body, JinjaScope(parent: scope), &out)
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    private func runFor(_ loop: JinjaForLoop, iterable: JinjaValue, _ scope: JinjaScope, _ out: inout String, depth0: Int) throws {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth { throw JinjaError(.runtime, "maximum recursion depth exceeded") }
        var items = try iterable.pyIterate()
        if let condition = loop.condition {
            // The filter sees the loop variable but not `loop`; filtered-out items do not count.
            items = try items.filter { item in
                let s = JinjaScope(parent: scope)
                try assign(loop.target, item, s)
                return try eval(condition, s).truthy
            }
        }
        var recurse: ((JinjaValue) throws -> JinjaValue)?
        if loop.recursive {
            recurse = { [unowned self] inner in
                var text = ""
                try self.runFor(loop, iterable: inner, scope, &text, depth0: depth0 + 1)
                return .string(text)
            }
        }
        let context = JinjaLoop(items: items, depth0: depth0, recurse: recurse)
        // jinja2 clears its "no iteration happened" flag at the end of the loop body, so the else
        // block also runs when every iteration left through break or continue.
        var completedAnIteration = false
        for (n, item) in items.enumerated() {
            try meter.step()
            context.index0 = n
            let s = JinjaScope(parent: scope)
            s.vars["loop"] = .object(context)
            try assign(loop.target, item, s)
            let flow = try execute(loop.body, s, &out)
            if flow == .normal { completedAnIteration = true }
            if flow == .breakLoop { break }
        }
        if !completedAnIteration { try execute(loop.elseBody, JinjaScope(parent: scope), &out) }
    }

    private func assign(_ target: JinjaAssignTarget, _ value: JinjaValue, _ scope: JinjaScope) throws {
        switch target {
        case .name(let n):
            scope.vars[n] = value
        case .tuple(let targets):
            let items: [JinjaValue]
            do { items = try value.pyIterate() } catch { throw JinjaError.type("cannot unpack non-iterable \(value.typeName) object") }
            if items.count < targets.count {
                throw JinjaError.type("not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            if items.count > targets.count { throw JinjaError.type("too many values to unpack (expected \(targets.count))") }
            for (t, v) in zip(targets, items) { try assign(t, v, scope) }
        case .namespaceAttribute(let name, let attr):
            guard case .object(let ns as JinjaNamespace)? = scope.lookup(name) else {
                throw JinjaError(.runtime, "Can only set attributes on namespace objects")
            }
            ns.attributes[attr] = value
        }
    }

    // MARK: expressions

    func eval(_ e: JinjaExpr, _ scope: JinjaScope) throws -> JinjaValue {
        do {
            try meter.step()
            let value = try evalKind(e, scope)
            if Self.builds(e.kind) { try meter.charge(value) }
            return value
        } catch let err as JinjaError {
            throw err.at(e.line)
        }
    }

    /// Whether an expression makes a new value (whose size the budget pays) rather than reading one.
    private static func builds(_ kind: JinjaExpr.Kind) -> Bool {
        switch kind {
        case .list, .tuple, .dict, .concat, .filter, .call: true
        case .binary(let op, _, _): op != "*"
        case .getitem(_, let index): if case .slice = index.kind { true } else { false }
        default: false
        }
    }

    private func evalKind(_ e: JinjaExpr, _ scope: JinjaScope) throws -> JinjaValue {
        switch e.kind {
        case .literal(let v): return v
        case .name(let n):
            if folding { throw NotConstant() }
            if let v = scope.lookup(n) { return v }
            if let g = JinjaGlobals.lookup(n) { return g }
            return .undefined(JinjaUndefined(name: n))
        case .list(let items): return .list(try items.map { try eval($0, scope) })
        case .tuple(let items): return .tuple(try items.map { try eval($0, scope) })
        case .dict(let pairs):
            var d = JinjaDict()
            for (k, v) in pairs { try d.set(try eval(k, scope), try eval(v, scope)) }
            return .dict(d)
        case .getattr(let obj, let name):
            return try getattr(try eval(obj, scope), name)
        case .getitem(let obj, let index):
            let o = try eval(obj, scope)
            if case .slice(let a, let b, let c) = index.kind {
                let bounds = (try a.map { try eval($0, scope) }, try b.map { try eval($0, scope) }, try c.map { try eval($0, scope) })
                if folding {
                    if case .undefined = o { throw NotConstant() }
                    do {
                        return try slice(o, bounds.0, bounds.1, bounds.2)
                    } catch let e as JinjaError where e.kind == .runtime && !e.message.contains("step cannot be zero") {
                        return .undefined(JinjaUndefined(name: "slice", owner: o.ownerDescription))
                    }
                }
                return try slice(o, bounds.0, bounds.1, bounds.2)
            }
            return try getitem(o, try eval(index, scope))
        case .slice:
            throw JinjaError.type("slice outside of a subscript")
        case .call(let fnExpr, let args):
            if folding { throw NotConstant() }
            let fn = try eval(fnExpr, scope)
            return try call(fn, try evalArgs(args, scope))
        case .filter(let input, let f):
            if folding && Self.contextFilters.contains(f.name) { throw NotConstant() }
            return try applyFilter(f, try eval(input, scope), scope)
        case .test(let input, let name, let args, let negated):
            let v = try eval(input, scope)
            let result = try runTest(name, v, try evalArgs(args, scope))
            return .bool(negated ? !result : result)
        case .neg(let x): return try JinjaOperators.negate(try eval(x, scope))
        case .pos(let x): return try JinjaOperators.plus(try eval(x, scope))
        case .not(let x): return .bool(!(try eval(x, scope).truthy))
        case .binary(let op, let l, let r):
            if op == "**", !folding, case .literal(let base) = l.kind, let x = base.number, x.sign == .minus,
                !{
                    if case .literal = r.kind { return true }; return false
                }()
            {
                // jinja2 writes a folded negative constant without parentheses into the Python
                // code it generates, so `-2 ** y` runs as Python's `-2 ** y`, i.e. -(2 ** y).
                let magnitude: JinjaValue = base.integer.map { .int(-$0) } ?? .float(-x)
                return try JinjaOperators.negate(try JinjaOperators.binary(op, magnitude, try eval(r, scope)))
            }
            let (a, b) = (try eval(l, scope), try eval(r, scope))
            // Paid before it is built: `'x' * 60000000` must not allocate first and fail after.
            if op == "*" { try meter.charge(bytes: JinjaOperators.repetitionSize(a, b)) }
            return try JinjaOperators.binary(op, a, b)
        case .concat(let items):
            var s = ""
            for item in items { s += try eval(item, scope).pyStr }
            return .string(s)
        case .and(let l, let r):
            let a = try eval(l, scope)
            return a.truthy ? try eval(r, scope) : a
        case .or(let l, let r):
            let a = try eval(l, scope)
            return a.truthy ? a : try eval(r, scope)
        case .compare(let first, let ops):
            var left = try eval(first, scope)
            for (op, rightExpr) in ops {
                let right = try eval(rightExpr, scope)
                let ok: Bool
                switch op {
                case "in": ok = try right.pyContains(left)
                case "notin": ok = try !right.pyContains(left)
                default:
                    if case .undefined(let u) = left, op != "eq" && op != "ne" { throw u.error }
                    if case .undefined(let u) = right, op != "eq" && op != "ne" { throw u.error }
                    ok = try left.pyCompare(op, right)
                }
                if !ok { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .condition(let test, let then, let otherwise):
            if try eval(test, scope).truthy { return try eval(then, scope) }
            if let otherwise { return try eval(otherwise, scope) }
            if folding { throw NotConstant() }
            return .undefined(
                JinjaUndefined(name: nil, hint: "the inline if-expression evaluated to false and no else section was defined."))
        }
    }

    func evalArgs(_ args: JinjaCallArgs, _ scope: JinjaScope) throws -> JinjaArguments {
        var out = JinjaArguments(try args.positional.map { try eval($0, scope) }, try args.keywords.map { ($0.0, try eval($0.1, scope)) })
        if let star = args.starArgs { out.positional += try eval(star, scope).pyIterate() }
        if let star = args.starKwargs {
            guard case .dict(let d) = try eval(star, scope) else { throw JinjaError.type("argument after ** must be a mapping") }
            for (k, v) in zip(d.keys, d.values) {
                guard case .string(let name) = k else { throw JinjaError.type("keywords must be strings") }
                out.keywords.append((name, v))
            }
        }
        return out
    }

    func call(_ fn: JinjaValue, _ args: JinjaArguments) throws -> JinjaValue {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth { throw JinjaError(.runtime, "maximum recursion depth exceeded") }
        switch fn {
        case .object(let o) where o.isCallable: return try o.call(args, self)
        case .undefined(let u): throw u.error
        default: throw JinjaError.type("'\(fn.typeName)' object is not callable")
        }
    }

    func applyFilter(_ f: JinjaFilterCall, _ value: JinjaValue, _ scope: JinjaScope) throws -> JinjaValue {
        guard let filter = JinjaFilters.table[f.name] else {
            throw JinjaError(.runtime, "No filter named '\(f.name)' found.", line: f.line)
        }
        do {
            return try filter(value, try evalArgs(f.args, scope), self)
        } catch let err as JinjaError {
            throw err.at(f.line)
        }
    }

    func runTest(_ name: String, _ value: JinjaValue, _ args: JinjaArguments) throws -> Bool {
        guard let test = JinjaTests.table[name] else { throw JinjaError(.runtime, "No test named '\(name)' found.") }
        // Python checks arity: `x is none foo` passes `foo` to test_none, which takes no argument.
        if JinjaTests.unary.contains(name), !args.positional.isEmpty || !args.keywords.isEmpty {
            throw JinjaError.type(
                "test_\(name)() takes 1 positional argument but \(1 + args.positional.count + args.keywords.count) were given")
        }
        return try test(value, args, self)
    }

    // MARK: attribute and item access (jinja2's sandboxed getattr / getitem)

    /// `obj.name`: a Python attribute first (dict methods win over keys), then the item.
    func getattr(_ obj: JinjaValue, _ name: String) throws -> JinjaValue {
        if case .undefined(let u) = obj { throw u.error }
        if let a = try JinjaMethods.attribute(obj, name, self) { return a }
        if let v = try item(obj, .string(name)) { return v }
        return .undefined(JinjaUndefined(name: name, owner: obj.ownerDescription))
    }

    /// `obj[key]`: the item first, then (for string keys) a Python attribute.
    func getitem(_ obj: JinjaValue, _ key: JinjaValue) throws -> JinjaValue {
        if case .undefined(let u) = obj { throw u.error }
        if let v = try item(obj, key) { return v }
        if case .string(let name) = key, let a = try JinjaMethods.attribute(obj, name, self) { return a }
        if case .string(let name) = key { return .undefined(JinjaUndefined(name: name, owner: obj.ownerDescription)) }
        return .undefined(
            JinjaUndefined(
                name: key.pyRepr, owner: obj.ownerDescription,
                hint: "'\(obj.ownerDescription)' has no element \(key.pyRepr)"))
    }

    /// Python's `obj[key]`, or nil where Python raises `TypeError`/`LookupError`.
    private func item(_ obj: JinjaValue, _ key: JinjaValue) throws -> JinjaValue? {
        switch obj {
        case .dict(let d): return (try? d.lookup(key)) ?? nil
        case .list(let a), .tuple(let a):
            guard let i = key.integer else { return nil }
            let j = i < 0 ? i + a.count : i
            return j >= 0 && j < a.count ? a[j] : nil
        case .string(let s):
            guard let i = key.integer else { return nil }
            let cs = Array(s.unicodeScalars)
            let j = i < 0 ? i + cs.count : i
            return j >= 0 && j < cs.count ? .string(String(cs[j])) : nil
        default: return nil
        }
    }

    /// `obj[a:b:c]` with Python's slice rules.
    func slice(_ obj: JinjaValue, _ a: JinjaValue?, _ b: JinjaValue?, _ c: JinjaValue?) throws -> JinjaValue {
        if case .undefined(let u) = obj { throw u.error }
        func bound(_ v: JinjaValue?) throws -> Int?? {
            guard let v else { return .some(nil) }
            if case .none = v { return .some(nil) }
            guard let i = v.integer else { return nil }
            return .some(i)
        }
        // jinja2 compiles slices to a plain Python subscript (no sandbox getitem), so every
        // failure is a Python TypeError rather than an undefined value.
        switch obj {
        case .list, .tuple, .string: break
        case .dict: throw JinjaError.type("unhashable type: 'slice'")
        default: throw JinjaError.type("'\(obj.typeName)' object is not subscriptable")
        }
        guard let start = try bound(a), let stop = try bound(b), let step = try bound(c) else {
            throw JinjaError.type("slice indices must be integers or None or have an __index__ method")
        }
        let st = step ?? 1
        if st == 0 { throw JinjaError.type("slice step cannot be zero") }
        func indices(_ n: Int) -> [Int] {
            var lo: Int, hi: Int
            if st > 0 {
                lo = start.map { $0 < 0 ? max(0, $0 + n) : min($0, n) } ?? 0
                hi = stop.map { $0 < 0 ? max(0, $0 + n) : min($0, n) } ?? n
                return lo < hi ? Array(stride(from: lo, to: hi, by: st)) : []
            }
            lo = start.map { $0 < 0 ? max(-1, $0 + n) : min($0, n - 1) } ?? n - 1
            hi = stop.map { $0 < 0 ? max(-1, $0 + n) : min($0, n - 1) } ?? -1
            return lo > hi ? Array(stride(from: lo, to: hi, by: st)) : []
        }
        switch obj {
        case .list(let x): return .list(indices(x.count).map { x[$0] })
        case .tuple(let x): return .tuple(indices(x.count).map { x[$0] })
        case .string(let s):
            let cs = Array(s.unicodeScalars)
            return .string(JinjaPyString.string(indices(cs.count).map { cs[$0] }))
        default:
            throw JinjaError.type("'\(obj.typeName)' object is not subscriptable")
        }
    }

    /// jinja2's attribute getter for filters like `map(attribute=...)`: dotted paths, with
    /// integer parts used as indexes.
    func attributePath(_ obj: JinjaValue, _ path: JinjaValue) throws -> JinjaValue {
        guard case .string(let p) = path else { return try getitem(obj, path) }
        var v = obj
        for part in p.split(separator: ".", omittingEmptySubsequences: false) {
            let key: JinjaValue = Int(part).map { .int($0) } ?? .string(String(part))
            v = try getitem(v, key)
        }
        return v
    }
}
