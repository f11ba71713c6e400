import Foundation

/// Arguments written at a call site: `f(a, b, key=c, *rest, **more)`.
struct JinjaCallArgs {
    var positional: [JinjaExpr] = []
    var keywords: [(String, JinjaExpr)] = []
    var starArgs: JinjaExpr?
    var starKwargs: JinjaExpr?
}

/// A filter application `|name(args)`. An unknown name only gets here from inside an `if` or an
/// inline `if`, where jinja2 defers the error until the filter actually runs.
struct JinjaFilterCall {
    var name: String
    var args: JinjaCallArgs
    var line: Int
}

/// An expression node with the line it starts on (for error messages).
final class JinjaExpr {
    indirect enum Kind {
        case literal(JinjaValue)
        case name(String)
        case list([JinjaExpr])
        case tuple([JinjaExpr])
        case dict([(JinjaExpr, JinjaExpr)])
        case getattr(JinjaExpr, String)
        case getitem(JinjaExpr, JinjaExpr)
        case slice(JinjaExpr?, JinjaExpr?, JinjaExpr?)
        case call(JinjaExpr, JinjaCallArgs)
        case filter(JinjaExpr, JinjaFilterCall)
        case test(JinjaExpr, name: String, args: JinjaCallArgs, negated: Bool)
        case neg(JinjaExpr)
        case pos(JinjaExpr)
        case not(JinjaExpr)
        case binary(String, JinjaExpr, JinjaExpr)
        case concat([JinjaExpr])
        case and(JinjaExpr, JinjaExpr)
        case or(JinjaExpr, JinjaExpr)
        case compare(JinjaExpr, [(String, JinjaExpr)])
        case condition(test: JinjaExpr, then: JinjaExpr, otherwise: JinjaExpr?)
    }

    /// Replaced by a literal when the constant folder proves the value (only before rendering).
    var kind: Kind
    let line: Int
    /// For `{{ e }}`: the value jinja2's compiler computes for an all-literal expression.
    var outputConstant: JinjaValue?

    init(_ kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
    }
}

/// Where `set`, `for` and `with` store values.
indirect enum JinjaAssignTarget {
    case name(String)
    case tuple([JinjaAssignTarget])
    /// `ns.attr`: only namespace objects accept attribute assignment.
    case namespaceAttribute(String, String)
}

/// A macro definition (also used for the anonymous `caller` of a call block).
final class JinjaMacroDefinition {
    let name: String
    let parameters: [(String, JinjaExpr?)]
    let body: [JinjaStmt]
    /// Which of the implicit names the body reads. jinja2 only accepts extra positional
    /// arguments, extra keyword arguments and a call block's `caller` when the body uses
    /// `varargs`, `kwargs` and `caller` respectively; otherwise the call is a TypeError.
    let usesCaller: Bool
    let usesVarargs: Bool
    let usesKwargs: Bool

    init(name: String, parameters: [(String, JinjaExpr?)], body: [JinjaStmt]) {
        self.name = name
        self.parameters = parameters
        self.body = body
        var names = Set<String>()
        JinjaNameScanner.collect(body, into: &names)
        for (_, d) in parameters { if let d { JinjaNameScanner.collect(d, into: &names) } }
        usesCaller = names.contains("caller")
        usesVarargs = names.contains("varargs")
        usesKwargs = names.contains("kwargs")
    }
}

/// Collects the variable names an AST reads (like jinja2's `find_undeclared`, without scoping).
enum JinjaNameScanner {
    static func collect(_ body: [JinjaStmt], into names: inout Set<String>) {
        for stmt in body {
            switch stmt.kind {
            case .text, .breakLoop, .continueLoop: break
            case .output(let e), .assign(_, let e): collect(e, into: &names)
            case .ifChain(let branches, let otherwise):
                for (t, b) in branches {
                    collect(t, into: &names)
                    collect(b, into: &names)
                }
                collect(otherwise, into: &names)
            case .forLoop(let loop):
                collect(loop.iterable, into: &names)
                if let c = loop.condition { collect(c, into: &names) }
                collect(loop.body, into: &names)
                collect(loop.elseBody, into: &names)
            case .assignBlock(_, let filters, let b), .filterBlock(let filters, let b):
                for f in filters { collect(f.args, into: &names) }
                collect(b, into: &names)
            case .macro(let def):
                collect(def.body, into: &names)
            case .callBlock(let call, let caller):
                collect(call, into: &names)
                collect(caller.body, into: &names)
            case .with(let assignments, let b):
                for (_, e) in assignments { collect(e, into: &names) }
                collect(b, into: &names)
            case .scoped(let b): collect(b, into: &names)
            }
        }
    }

    static func collect(_ args: JinjaCallArgs, into names: inout Set<String>) {
        for e in args.positional { collect(e, into: &names) }
        for (_, e) in args.keywords { collect(e, into: &names) }
        if let e = args.starArgs { collect(e, into: &names) }
        if let e = args.starKwargs { collect(e, into: &names) }
    }

    static func collect(_ e: JinjaExpr, into names: inout Set<String>) {
        switch e.kind {
        case .literal: break
        case .name(let n): names.insert(n)
        case .list(let items), .tuple(let items), .concat(let items): for x in items { collect(x, into: &names) }
        case .dict(let pairs):
            for (k, v) in pairs {
                collect(k, into: &names)
                collect(v, into: &names)
            }
        case .getattr(let o, _): collect(o, into: &names)
        case .getitem(let o, let i):
            collect(o, into: &names)
            collect(i, into: &names)
        case .slice(let a, let b, let c): for x in [a, b, c] { if let x { collect(x, into: &names) } }
        case .call(let f, let args):
            collect(f, into: &names)
            collect(args, into: &names)
        case .filter(let input, let f):
            collect(input, into: &names)
            collect(f.args, into: &names)
        case .test(let input, _, let args, _):
            collect(input, into: &names)
            collect(args, into: &names)
        case .neg(let x), .pos(let x), .not(let x): collect(x, into: &names)
        case .binary(_, let l, let r), .and(let l, let r), .or(let l, let r):
            collect(l, into: &names)
            collect(r, into: &names)
        case .compare(let first, let ops):
            collect(first, into: &names)
            for (_, x) in ops { collect(x, into: &names) }
        case .condition(let t, let a, let b):
            collect(t, into: &names)
            collect(a, into: &names)
            if let b { collect(b, into: &names) }
        }
    }
}

/// A `for` loop.
final class JinjaForLoop {
    let target: JinjaAssignTarget
    let iterable: JinjaExpr
    let condition: JinjaExpr?
    let body: [JinjaStmt]
    let elseBody: [JinjaStmt]
    let recursive: Bool

    init(target: JinjaAssignTarget, iterable: JinjaExpr, condition: JinjaExpr?, body: [JinjaStmt], elseBody: [JinjaStmt], recursive: Bool) {
        self.target = target
        self.iterable = iterable
        self.condition = condition
        self.body = body
        self.elseBody = elseBody
        self.recursive = recursive
    }
}

/// A statement node.
struct JinjaStmt {
    indirect enum Kind {
        case text(String)
        case output(JinjaExpr)
        case ifChain([(JinjaExpr, [JinjaStmt])], otherwise: [JinjaStmt])
        case forLoop(JinjaForLoop)
        case assign(JinjaAssignTarget, JinjaExpr)
        case assignBlock(JinjaAssignTarget, [JinjaFilterCall], [JinjaStmt])
        case macro(JinjaMacroDefinition)
        case callBlock(call: JinjaExpr, caller: JinjaMacroDefinition)
        case filterBlock([JinjaFilterCall], [JinjaStmt])
        case with([(JinjaAssignTarget, JinjaExpr)], [JinjaStmt])
        /// A body rendered in its own scope: `{% block %}` and transformers' `{% generation %}`.
        case scoped([JinjaStmt])
        case breakLoop
        case continueLoop
    }

    let kind: Kind
    let line: Int
}
