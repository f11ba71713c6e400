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

    init(name: String, parameters: [(String, JinjaExpr?)], body: [JinjaStmt]) {
        self.name = name
        self.parameters = parameters
        self.body = body
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
