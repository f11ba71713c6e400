import Foundation

/// jinja2's compile-time constant folding, reproduced because it is observable.
///
/// jinja2's optimizer replaces every sub-expression made only of literals by its value when that
/// value is a plain Python literal (`has_safe_repr`), and its code generator prints an all-literal
/// `{{ ... }}` at compile time whatever the value. Compile-time evaluation goes through the
/// sandbox's getitem even for slices, so `(1)[::-1] is mapping` folds to `False` where the same
/// slice at run time raises a TypeError. Folding runs once, before the template is shared.
enum JinjaConstantFolder {
    static func fold(_ body: [JinjaStmt], _ interp: JinjaInterpreter) {
        for stmt in body { fold(stmt, interp) }
    }

    private static func fold(_ stmt: JinjaStmt, _ interp: JinjaInterpreter) {
        switch stmt.kind {
        case .text, .breakLoop, .continueLoop: break
        case .output(let e):
            fold(e, interp)
            e.outputConstant = interp.constantValue(e)
        case .ifChain(let branches, let otherwise):
            for (test, body) in branches {
                fold(test, interp)
                fold(body, interp)
            }
            fold(otherwise, interp)
        case .forLoop(let loop):
            fold(loop.iterable, interp)
            if let c = loop.condition { fold(c, interp) }
            fold(loop.body, interp)
            fold(loop.elseBody, interp)
        case .assign(_, let e): fold(e, interp)
        case .assignBlock(_, let filters, let body):
            for f in filters { fold(f.args, interp) }
            fold(body, interp)
        case .macro(let def):
            for case (_, let d?) in def.parameters { fold(d, interp) }
            fold(def.body, interp)
        case .callBlock(let call, let caller):
            fold(call, interp)
            for case (_, let d?) in caller.parameters { fold(d, interp) }
            fold(caller.body, interp)
        case .filterBlock(let filters, let body):
            for f in filters { fold(f.args, interp) }
            fold(body, interp)
        case .with(let assignments, let body):
            for (_, e) in assignments { fold(e, interp) }
            fold(body, interp)
        case .scoped(let body): fold(body, interp)
        }
    }

    private static func fold(_ args: JinjaCallArgs, _ interp: JinjaInterpreter) {
        for e in args.positional { fold(e, interp) }
        for (_, e) in args.keywords { fold(e, interp) }
        if let e = args.starArgs { fold(e, interp) }
        if let e = args.starKwargs { fold(e, interp) }
    }

    /// Bottom-up, like jinja2's NodeTransformer: children first, then the node itself.
    private static func fold(_ e: JinjaExpr, _ interp: JinjaInterpreter) {
        switch e.kind {
        case .literal, .name: return
        case .list(let items), .tuple(let items), .concat(let items): items.forEach { fold($0, interp) }
        case .dict(let pairs):
            for (k, v) in pairs {
                fold(k, interp)
                fold(v, interp)
            }
        case .getattr(let o, _): fold(o, interp)
        case .getitem(let o, let i):
            fold(o, interp)
            fold(i, interp)
        case .slice(let a, let b, let c):
            // A slice object is not a literal, so it is never replaced itself.
            for x in [a, b, c] { if let x { fold(x, interp) } }
            return
        case .call(let f, let args):
            fold(f, interp)
            fold(args, interp)
            return
        case .filter(let input, let f):
            fold(input, interp)
            fold(f.args, interp)
        case .test(let input, _, let args, _):
            fold(input, interp)
            fold(args, interp)
        case .neg(let x), .pos(let x), .not(let x): fold(x, interp)
        case .binary(_, let l, let r), .and(let l, let r), .or(let l, let r):
            fold(l, interp)
            fold(r, interp)
        case .compare(let first, let ops):
            fold(first, interp)
            for (_, x) in ops { fold(x, interp) }
        case .condition(let test, let then, let otherwise):
            fold(test, interp)
            fold(then, interp)
            if let otherwise { fold(otherwise, interp) }
        }
        if let v = interp.constantValue(e), isPlainLiteral(v) { e.kind = .literal(v) }
    }

    /// jinja2's `has_safe_repr`: values that can be written back into the template as literals.
    static func isPlainLiteral(_ v: JinjaValue) -> Bool {
        switch v {
        case .none, .bool, .int, .float, .string: return true
        case .list(let a), .tuple(let a): return a.allSatisfy(isPlainLiteral)
        case .dict(let d): return d.keys.allSatisfy(isPlainLiteral) && d.values.allSatisfy(isPlainLiteral)
        case .undefined, .object: return false
        }
    }
}
