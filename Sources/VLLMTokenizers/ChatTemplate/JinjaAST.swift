import Foundation

/// Arguments written at a call site: `f(a, b, key=c, *rest, **more)`.
struct CallArgs {
    var positional: [Expr] = []
    var keywords: [(String, Expr)] = []
    var starArgs: Expr?
    var starKwargs: Expr?
}

/// A filter application `|name(args)`. An unknown name only gets here from inside an `if` or an
/// inline `if`, where jinja2 defers the error until the filter actually runs.
struct FilterCall {
    var name: String
    var args: CallArgs
    var line: Int
}

/// An expression node with the line it starts on (for error messages).
final class Expr {
    indirect enum Kind {
        case literal(JinjaValue)
        case name(String)
        case list([Expr])
        case tuple([Expr])
        case dict([(Expr, Expr)])
        case getattr(Expr, String)
        case getitem(Expr, Expr)
        case slice(Expr?, Expr?, Expr?)
        case call(Expr, CallArgs)
        case filter(Expr, FilterCall)
        case test(Expr, name: String, args: CallArgs, negated: Bool)
        case neg(Expr)
        case pos(Expr)
        case not(Expr)
        case binary(String, Expr, Expr)
        case concat([Expr])
        case and(Expr, Expr)
        case or(Expr, Expr)
        case compare(Expr, [(String, Expr)])
        case condition(test: Expr, then: Expr, otherwise: Expr?)
    }

    let kind: Kind
    let line: Int

    init(_ kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
    }
}

/// Where `set`, `for` and `with` store values.
indirect enum AssignTarget {
    case name(String)
    case tuple([AssignTarget])
    /// `ns.attr`: only namespace objects accept attribute assignment.
    case namespaceAttribute(String, String)
}

/// A macro definition (also used for the anonymous `caller` of a call block).
final class MacroDefinition {
    let name: String
    let parameters: [(String, Expr?)]
    let body: [Stmt]

    init(name: String, parameters: [(String, Expr?)], body: [Stmt]) {
        self.name = name
        self.parameters = parameters
        self.body = body
    }
}

/// A `for` loop.
final class ForLoop {
    let target: AssignTarget
    let iterable: Expr
    let condition: Expr?
    let body: [Stmt]
    let elseBody: [Stmt]
    let recursive: Bool

    init(target: AssignTarget, iterable: Expr, condition: Expr?, body: [Stmt], elseBody: [Stmt], recursive: Bool) {
        self.target = target
        self.iterable = iterable
        self.condition = condition
        self.body = body
        self.elseBody = elseBody
        self.recursive = recursive
    }
}

/// A statement node.
struct Stmt {
    indirect enum Kind {
        case text(String)
        case output(Expr)
        case ifChain([(Expr, [Stmt])], otherwise: [Stmt])
        case forLoop(ForLoop)
        case assign(AssignTarget, Expr)
        case assignBlock(AssignTarget, [FilterCall], [Stmt])
        case macro(MacroDefinition)
        case callBlock(call: Expr, caller: MacroDefinition)
        case filterBlock([FilterCall], [Stmt])
        case with([(AssignTarget, Expr)], [Stmt])
        /// A body rendered in its own scope: `{% block %}` and transformers' `{% generation %}`.
        case scoped([Stmt])
        case breakLoop
        case continueLoop
    }

    let kind: Kind
    let line: Int
}
