import Foundation

/// Builds the statement tree from tokens, following jinja2's grammar and operator precedence:
/// `if-else` < `or` < `and` < `not` < comparisons and `in` < `+ -` < `~` < `* / // %` < `**`
/// < unary `- +` < postfix (`.attr`, `[item]`, calls) < filters `|` and tests `is`.
struct JinjaParser {
    private var tokens: [JinjaToken]
    private var i = 0
    /// >0 inside `if` statements and inline `if` expressions, where jinja2 lets an unknown
    /// filter or test slide until it actually runs ("soft" frames in its compiler).
    private var softDepth = 0
    /// Nesting of expressions and blocks; bounded so that a hostile template gets a syntax
    /// error instead of overflowing the stack (jinja2 hits Python's recursion limit instead).
    private var nesting = 0
    private static let maxNesting = 100

    private mutating func enter() throws {
        nesting += 1
        if nesting > Self.maxNesting { throw fail("template nested too deeply") }
    }

    static func parse(_ source: String) throws -> [JinjaStmt] {
        var p = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let body = try p.subparse(until: [])
        guard case .eof = p.current.kind else { throw p.fail("unexpected \(p.describe(p.current))") }
        return body
    }

    private init(tokens: [JinjaToken]) { self.tokens = tokens }

    // MARK: token stream

    private var current: JinjaToken { tokens[i] }
    private func look(_ n: Int = 1) -> JinjaToken { tokens[min(i + n, tokens.count - 1)] }
    private mutating func next() -> JinjaToken {
        let t = tokens[i]
        if i < tokens.count - 1 { i += 1 }
        return t
    }

    private func fail(_ message: String, line: Int? = nil) -> JinjaError {
        JinjaError(.syntax, message, line: line ?? current.line)
    }

    private func describe(_ t: JinjaToken) -> String {
        switch t.kind {
        case .data: return "template data"
        case .variableBegin: return "begin of print statement"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "begin of statement block"
        case .blockEnd: return "end of statement block"
        case .name(let n): return "'\(n)'"
        case .string: return "string"
        case .integer: return "integer"
        case .float: return "float"
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }

    private func isOp(_ o: String, _ t: JinjaToken? = nil) -> Bool {
        if case .op(let x) = (t ?? current).kind { return x == o }
        return false
    }

    private func isName(_ n: String, _ t: JinjaToken? = nil) -> Bool {
        if case .name(let x) = (t ?? current).kind { return x == n }
        return false
    }

    private mutating func skipOp(_ o: String) -> Bool {
        if isOp(o) { _ = next(); return true }
        return false
    }

    private mutating func skipName(_ n: String) -> Bool {
        if isName(n) { _ = next(); return true }
        return false
    }

    private mutating func expectOp(_ o: String) throws {
        guard skipOp(o) else { throw fail("expected token '\(o)', got \(describe(current))") }
    }

    private mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else { throw fail("expected token 'name', got \(describe(current))") }
        _ = next()
        return n
    }

    private mutating func expectBlockEnd() throws {
        guard case .blockEnd = current.kind else { throw fail("expected token 'end of statement block', got \(describe(current))") }
        _ = next()
    }

    // MARK: statements

    /// Parses template contents until a `{% name %}` whose name is in `until` (left unconsumed,
    /// positioned on the name) or the end of the template.
    private mutating func subparse(until: Set<String>) throws -> [JinjaStmt] {
        var body: [JinjaStmt] = []
        while true {
            let t = current
            switch t.kind {
            case .data(let s):
                _ = next()
                body.append(JinjaStmt(kind: .text(s), line: t.line))
            case .variableBegin:
                _ = next()
                let e = try parseTuple()
                guard case .variableEnd = current.kind else {
                    throw fail("expected token 'end of print statement', got \(describe(current))")
                }
                _ = next()
                body.append(JinjaStmt(kind: .output(e), line: t.line))
            case .blockBegin:
                _ = next()
                if case .name(let n) = current.kind, until.contains(n) { return body }
                body.append(contentsOf: try parseStatement())
                try expectBlockEnd()
            case .eof:
                if !until.isEmpty {
                    let wanted = until.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw fail("Unexpected end of template. Jinja was looking for the following tags: \(wanted).")
                }
                return body
            default:
                throw fail("unexpected \(describe(t))")
            }
        }
    }

    /// Parses a body up to one of `ends`; returns it with the end tag's name, consumed.
    private mutating func parseBody(_ ends: Set<String>, soft: Bool = false) throws -> ([JinjaStmt], String) {
        try enter()
        defer { nesting -= 1 }
        _ = skipOp(":")
        try expectBlockEnd()
        let saved = softDepth
        softDepth = soft ? softDepth + 1 : 0
        defer { softDepth = saved }
        let body = try subparse(until: ends)
        let end = try expectName()
        return (body, end)
    }

    private mutating func parseStatement() throws -> [JinjaStmt] {
        let t = current
        guard case .name(let tag) = t.kind else { throw fail("tag name expected") }
        let line = t.line
        switch tag {
        case "if": return [try parseIf()]
        case "for": return [try parseFor()]
        case "set": return [try parseSet()]
        case "macro": return [try parseMacro()]
        case "call": return [try parseCallBlock()]
        case "filter":
            _ = next()
            let filters = try parseFilterChain(first: true)
            let (body, _) = try parseBody(["endfilter"])
            return [JinjaStmt(kind: .filterBlock(filters, body), line: line)]
        case "with":
            _ = next()
            var assignments: [(JinjaAssignTarget, JinjaExpr)] = []
            while true {
                if case .blockEnd = current.kind { break }
                if !assignments.isEmpty { try expectOp(",") }
                let target = try parseAssignTarget()
                try expectOp("=")
                assignments.append((target, try parseExpression()))
            }
            let (body, _) = try parseBody(["endwith"])
            return [JinjaStmt(kind: .with(assignments, body), line: line)]
        case "print":
            _ = next()
            return [JinjaStmt(kind: .output(try parseTuple()), line: line)]
        case "break":
            _ = next()
            return [JinjaStmt(kind: .breakLoop, line: line)]
        case "continue":
            _ = next()
            return [JinjaStmt(kind: .continueLoop, line: line)]
        case "generation":
            // transformers' AssistantTracker tag: renders its body unchanged.
            _ = next()
            let (body, _) = try parseBody(["endgeneration"])
            return [JinjaStmt(kind: .scoped(body), line: line)]
        case "block":
            _ = next()
            let name = try expectName()
            _ = skipName("scoped")
            _ = skipName("required")
            let (body, _) = try parseBody(["endblock"])
            if case .name(let n) = current.kind, n == name { _ = next() }
            return [JinjaStmt(kind: .scoped(body), line: line)]
        case "extends", "include", "import", "from":
            throw fail("the '\(tag)' tag needs a template loader, which chat templates do not have")
        default:
            throw fail("Encountered unknown tag '\(tag)'.")
        }
    }

    private mutating func parseIf() throws -> JinjaStmt {
        let line = next().line
        var branches: [(JinjaExpr, [JinjaStmt])] = []
        var otherwise: [JinjaStmt] = []
        softDepth += 1
        defer { softDepth -= 1 }
        while true {
            let test = try parseTuple(withCondition: false)
            let (body, end) = try parseBody(["elif", "else", "endif"], soft: true)
            branches.append((test, body))
            if end == "elif" { continue }
            if end == "else" { (otherwise, _) = try parseBody(["endif"], soft: true) }
            break
        }
        return JinjaStmt(kind: .ifChain(branches, otherwise: otherwise), line: line)
    }

    private mutating func parseFor() throws -> JinjaStmt {
        let line = next().line
        let target = try parseAssignTarget(extraEnd: ["in"])
        guard skipName("in") else { throw fail("expected token 'in', got \(describe(current))") }
        let iterable = try parseTuple(withCondition: false, extraEnd: ["recursive"])
        var condition: JinjaExpr?
        if skipName("if") { condition = try parseExpression() }
        let recursive = skipName("recursive")
        let (body, end) = try parseBody(["endfor", "else"])
        var elseBody: [JinjaStmt] = []
        if end == "else" { (elseBody, _) = try parseBody(["endfor"]) }
        let loop = JinjaForLoop(
            target: target, iterable: iterable, condition: condition, body: body, elseBody: elseBody, recursive: recursive)
        return JinjaStmt(kind: .forLoop(loop), line: line)
    }

    private mutating func parseSet() throws -> JinjaStmt {
        let line = next().line
        let target = try parseAssignTarget(withNamespace: true)
        if skipOp("=") { return JinjaStmt(kind: .assign(target, try parseTuple()), line: line) }
        let filters = isOp("|") ? try parseFilterChain(first: false) : []
        let (body, _) = try parseBody(["endset"])
        return JinjaStmt(kind: .assignBlock(target, filters, body), line: line)
    }

    private mutating func parseSignature() throws -> [(String, JinjaExpr?)] {
        try expectOp("(")
        var params: [(String, JinjaExpr?)] = []
        var sawDefault = false
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try expectName()
            if skipOp("=") {
                params.append((name, try parseExpression()))
                sawDefault = true
            } else {
                if sawDefault { throw fail("non-default argument follows default argument") }
                params.append((name, nil))
            }
        }
        try expectOp(")")
        return params
    }

    private mutating func parseMacro() throws -> JinjaStmt {
        let line = next().line
        let name = try expectName()
        let params = try parseSignature()
        let (body, _) = try parseBody(["endmacro"])
        return JinjaStmt(kind: .macro(JinjaMacroDefinition(name: name, parameters: params, body: body)), line: line)
    }

    private mutating func parseCallBlock() throws -> JinjaStmt {
        let line = next().line
        let params = isOp("(") ? try parseSignature() : []
        let call = try parseExpression()
        guard case .call = call.kind else { throw fail("expected call", line: line) }
        let (body, _) = try parseBody(["endcall"])
        return JinjaStmt(
            kind: .callBlock(call: call, caller: JinjaMacroDefinition(name: "caller", parameters: params, body: body)), line: line)
    }

    private mutating func parseAssignTarget(extraEnd: Set<String> = [], withNamespace: Bool = false) throws -> JinjaAssignTarget {
        if withNamespace, case .name(let n) = current.kind, isOp(".", look()) {
            _ = next()
            _ = next()
            return .namespaceAttribute(n, try expectName())
        }
        func primary(_ p: inout JinjaParser) throws -> JinjaAssignTarget {
            if case .name(let n) = p.current.kind {
                if ["true", "false", "True", "False", "none", "None"].contains(n) { throw p.fail("can't assign to '\(n)'") }
                _ = p.next()
                return .name(n)
            }
            if p.skipOp("(") {
                let t = try p.parseTargetTuple(extraEnd: [], primary: primary)
                try p.expectOp(")")
                return t
            }
            throw p.fail("can't assign to \(p.describe(p.current))")
        }
        return try parseTargetTuple(extraEnd: extraEnd, primary: primary)
    }

    private mutating func parseTargetTuple(extraEnd: Set<String>, primary: (inout JinjaParser) throws -> JinjaAssignTarget) throws
        -> JinjaAssignTarget
    {
        var items: [JinjaAssignTarget] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(try primary(&self))
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple, let first = items.first { return first }
        return .tuple(items)
    }

    // MARK: expressions

    private func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd: return true
        case .op(")"): return true
        case .name(let n): return extraEnd.contains(n)
        default: return false
        }
    }

    /// jinja2's `parse_tuple`: a comma-separated list becomes a tuple, a single item stays itself.
    private mutating func parseTuple(withCondition: Bool = true, extraEnd: Set<String> = [], explicitParens: Bool = false) throws
        -> JinjaExpr
    {
        let line = current.line
        var items: [JinjaExpr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(withCondition ? try parseExpression() : try parseOr())
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let first = items.first { return first }
            if !explicitParens { throw fail("Expected an expression, got \(describe(current))") }
        }
        return JinjaExpr(.tuple(items), line: line)
    }

    private mutating func parseExpression() throws -> JinjaExpr {
        try enter()
        defer { nesting -= 1 }
        var e = try parseOr()
        while isName("if") {
            let line = next().line
            softDepth += 1
            defer { softDepth -= 1 }
            let test = try parseOr()
            var otherwise: JinjaExpr?
            if skipName("else") { otherwise = try parseExpression() }
            e = JinjaExpr(.condition(test: test, then: e, otherwise: otherwise), line: line)
        }
        return e
    }

    private mutating func parseOr() throws -> JinjaExpr {
        var left = try parseAnd()
        while isName("or") {
            let line = next().line
            left = JinjaExpr(.or(left, try parseAnd()), line: line)
        }
        return left
    }

    private mutating func parseAnd() throws -> JinjaExpr {
        var left = try parseNot()
        while isName("and") {
            let line = next().line
            left = JinjaExpr(.and(left, try parseNot()), line: line)
        }
        return left
    }

    private mutating func parseNot() throws -> JinjaExpr {
        try enter()
        defer { nesting -= 1 }
        if isName("not") {
            let line = next().line
            return JinjaExpr(.not(try parseNot()), line: line)
        }
        return try parseCompare()
    }

    private static let comparisons: [String: String] = ["==": "eq", "!=": "ne", "<": "lt", "<=": "lteq", ">": "gt", ">=": "gteq"]

    private mutating func parseCompare() throws -> JinjaExpr {
        let line = current.line
        let left = try parseMath1()
        var ops: [(String, JinjaExpr)] = []
        while true {
            if case .op(let o) = current.kind, let name = Self.comparisons[o] {
                _ = next()
                ops.append((name, try parseMath1()))
            } else if skipName("in") {
                ops.append(("in", try parseMath1()))
            } else if isName("not"), isName("in", look()) {
                _ = next()
                _ = next()
                ops.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? left : JinjaExpr(.compare(left, ops), line: line)
    }

    private mutating func parseMath1() throws -> JinjaExpr {
        var left = try parseConcat()
        while isOp("+") || isOp("-") {
            let t = next()
            guard case .op(let o) = t.kind else { break }
            left = JinjaExpr(.binary(o, left, try parseConcat()), line: t.line)
        }
        return left
    }

    private mutating func parseConcat() throws -> JinjaExpr {
        let line = current.line
        var items = [try parseMath2()]
        while skipOp("~") { items.append(try parseMath2()) }
        return items.count == 1 ? items[0] : JinjaExpr(.concat(items), line: line)
    }

    private mutating func parseMath2() throws -> JinjaExpr {
        var left = try parsePow()
        while isOp("*") || isOp("/") || isOp("//") || isOp("%") {
            let t = next()
            guard case .op(let o) = t.kind else { break }
            left = JinjaExpr(.binary(o, left, try parsePow()), line: t.line)
        }
        return left
    }

    private mutating func parsePow() throws -> JinjaExpr {
        var left = try parseUnary()
        while isOp("**") {
            let line = next().line
            left = JinjaExpr(.binary("**", left, try parseUnary()), line: line)
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> JinjaExpr {
        try enter()
        defer { nesting -= 1 }
        let line = current.line
        var node: JinjaExpr
        if skipOp("-") {
            node = JinjaExpr(.neg(try parseUnary(withFilter: false)), line: line)
        } else if skipOp("+") {
            node = JinjaExpr(.pos(try parseUnary(withFilter: false)), line: line)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpr(node) }
        return node
    }

    private mutating func parsePrimary() throws -> JinjaExpr {
        let t = current
        switch t.kind {
        case .name(let n):
            _ = next()
            switch n {
            case "true", "True": return JinjaExpr(.literal(.bool(true)), line: t.line)
            case "false", "False": return JinjaExpr(.literal(.bool(false)), line: t.line)
            case "none", "None": return JinjaExpr(.literal(.none), line: t.line)
            default: return JinjaExpr(.name(n), line: t.line)
            }
        case .string(let s):
            _ = next()
            // Adjacent string literals concatenate, as in Python.
            var text = s
            while case .string(let more) = current.kind {
                text += more
                _ = next()
            }
            return JinjaExpr(.literal(.string(text)), line: t.line)
        case .integer(let v):
            _ = next()
            return JinjaExpr(.literal(.int(v)), line: t.line)
        case .float(let v):
            _ = next()
            return JinjaExpr(.literal(.float(v)), line: t.line)
        case .op("("):
            _ = next()
            let e = try parseTuple(explicitParens: true)
            try expectOp(")")
            return e
        case .op("["):
            _ = next()
            var items: [JinjaExpr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return JinjaExpr(.list(items), line: t.line)
        case .op("{"):
            _ = next()
            var items: [(JinjaExpr, JinjaExpr)] = []
            while !isOp("}") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let k = try parseExpression()
                try expectOp(":")
                items.append((k, try parseExpression()))
            }
            try expectOp("}")
            return JinjaExpr(.dict(items), line: t.line)
        default:
            throw fail("unexpected \(describe(t))")
        }
    }

    private mutating func parsePostfix(_ start: JinjaExpr) throws -> JinjaExpr {
        var node = start
        while true {
            if isOp(".") || isOp("[") {
                node = try parseSubscript(node)
            } else if isOp("(") {
                node = JinjaExpr(.call(node, try parseCallArgs()), line: current.line)
            } else {
                return node
            }
        }
    }

    private mutating func parseFilterExpr(_ start: JinjaExpr) throws -> JinjaExpr {
        var node = start
        while true {
            if isOp("|") {
                for f in try parseFilterChain(first: false) { node = JinjaExpr(.filter(node, f), line: f.line) }
            } else if isName("is") {
                node = try parseTest(node)
            } else if isOp("(") {
                node = JinjaExpr(.call(node, try parseCallArgs()), line: current.line)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ node: JinjaExpr) throws -> JinjaExpr {
        let t = next()
        if isOp(".", t) {
            let a = next()
            switch a.kind {
            case .name(let n): return JinjaExpr(.getattr(node, n), line: t.line)
            case .integer(let v): return JinjaExpr(.getitem(node, JinjaExpr(.literal(.int(v)), line: a.line)), line: t.line)
            default: throw fail("expected name or number", line: a.line)
            }
        }
        var args: [JinjaExpr] = []
        while !isOp("]") {
            if !args.isEmpty { try expectOp(",") }
            args.append(try parseSubscribed())
        }
        try expectOp("]")
        let arg = args.count == 1 ? args[0] : JinjaExpr(.tuple(args), line: t.line)
        return JinjaExpr(.getitem(node, arg), line: t.line)
    }

    private mutating func parseSubscribed() throws -> JinjaExpr {
        let line = current.line
        var parts: [JinjaExpr?] = []
        if skipOp(":") {
            parts.append(nil)
        } else {
            let e = try parseExpression()
            if !skipOp(":") { return e }
            parts.append(e)
        }
        if isOp(":") {
            parts.append(nil)
        } else if !isOp("]") && !isOp(",") {
            parts.append(try parseExpression())
        } else {
            parts.append(nil)
        }
        if skipOp(":") {
            if !isOp("]") && !isOp(",") { parts.append(try parseExpression()) } else { parts.append(nil) }
        } else {
            parts.append(nil)
        }
        return JinjaExpr(.slice(parts[0], parts[1], parts[2]), line: line)
    }

    private mutating func parseCallArgs() throws -> JinjaCallArgs {
        let open = current.line
        try expectOp("(")
        var args = JinjaCallArgs()
        var requireComma = false
        while !isOp(")") {
            if requireComma {
                try expectOp(",")
                if isOp(")") { break }
            }
            if skipOp("*") {
                guard args.starArgs == nil, args.starKwargs == nil else {
                    throw fail("invalid syntax for function call expression", line: open)
                }
                args.starArgs = try parseExpression()
            } else if skipOp("**") {
                guard args.starKwargs == nil else { throw fail("invalid syntax for function call expression", line: open) }
                args.starKwargs = try parseExpression()
            } else if case .name(let key) = current.kind, isOp("=", look()) {
                guard args.starKwargs == nil else { throw fail("invalid syntax for function call expression", line: open) }
                _ = next()
                _ = next()
                args.keywords.append((key, try parseExpression()))
            } else {
                guard args.starArgs == nil, args.starKwargs == nil, args.keywords.isEmpty else {
                    throw fail("invalid syntax for function call expression", line: open)
                }
                args.positional.append(try parseExpression())
            }
            requireComma = true
        }
        try expectOp(")")
        return args
    }

    /// `|a|b(x)`; with `first`, the leading pipe is absent (as in `{% filter a|b %}`).
    private mutating func parseFilterChain(first: Bool) throws -> [JinjaFilterCall] {
        var filters: [JinjaFilterCall] = []
        var inline = first
        while isOp("|") || inline {
            if !inline { _ = next() }
            inline = false
            let line = current.line
            var name = try expectName()
            while skipOp(".") { name += "." + (try expectName()) }
            if softDepth == 0 && JinjaFilters.table[name] == nil {
                throw fail("No filter named '\(name)'.", line: line)
            }
            let args = isOp("(") ? try parseCallArgs() : JinjaCallArgs()
            filters.append(JinjaFilterCall(name: name, args: args, line: line))
        }
        return filters
    }

    private mutating func parseTest(_ node: JinjaExpr) throws -> JinjaExpr {
        let line = next().line
        let negated = skipName("not")
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        if softDepth == 0 && JinjaTests.table[name] == nil {
            throw fail("No test named '\(name)'.", line: line)
        }
        var args = JinjaCallArgs()
        if isOp("(") {
            args = try parseCallArgs()
        } else {
            var startsPrimary = false
            switch current.kind {
            case .name(let n): startsPrimary = !["else", "or", "and"].contains(n)
            case .string, .integer, .float: startsPrimary = true
            case .op(let o): startsPrimary = o == "(" || o == "[" || o == "{"
            default: break
            }
            if startsPrimary {
                if isName("is") { throw fail("You cannot chain multiple tests with is") }
                args.positional = [try parsePostfix(try parsePrimary())]
            }
        }
        return JinjaExpr(.test(node, name: name, args: args, negated: negated), line: line)
    }
}
