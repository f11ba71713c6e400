/// One piece of a context-free grammar over bytes: what every structured-output format (JSON
/// Schema, regular expression, choice, EBNF) is translated into before compilation.
public indirect enum GrammarExpr: Hashable, Sendable {
    /// One byte from any of these ranges.
    case bytes([ClosedRange<UInt8>])
    /// The parts one after another (empty: the empty string).
    case sequence([GrammarExpr])
    /// Any one of the alternatives (empty: nothing matches).
    case choice([GrammarExpr])
    /// The rule with this index in the grammar.
    case rule(Int)
    /// The expression `min` to `max` times (`max` nil: unbounded).
    case repeated(GrammarExpr, min: Int, max: Int?)

    /// The empty string.
    public static let empty = GrammarExpr.sequence([])

    /// These bytes, literally.
    public static func literal(_ bytes: [UInt8]) -> GrammarExpr {
        bytes.count == 1 ? .bytes([bytes[0]...bytes[0]]) : .sequence(bytes.map { .bytes([$0...$0]) })
    }

    /// This text's UTF-8, literally.
    public static func literal(_ text: String) -> GrammarExpr { literal(Array(text.utf8)) }

    /// The expression or nothing.
    public static func optional(_ e: GrammarExpr) -> GrammarExpr { .repeated(e, min: 0, max: 1) }

    /// Zero or more times.
    public static func star(_ e: GrammarExpr) -> GrammarExpr { .repeated(e, min: 0, max: nil) }
}

/// A context-free grammar over bytes: named rules, rule 0 the start.
public struct Grammar: Sendable {
    /// Rule names (for error messages and printing), by index.
    public internal(set) var names: [String] = []
    /// Rule bodies, by index.
    public internal(set) var bodies: [GrammarExpr] = []

    /// An empty grammar; add the start rule first.
    public init() {}

    /// Adds a rule with a placeholder body (so that it can be referred to before it is defined,
    /// for recursion) and returns its index.
    public mutating func declare(_ name: String) -> Int {
        names.append(name)
        bodies.append(.choice([]))
        return names.count - 1
    }

    /// Sets the body of a declared rule.
    public mutating func define(_ rule: Int, _ body: GrammarExpr) { bodies[rule] = body }

    /// Declares and defines a rule in one go.
    @discardableResult
    public mutating func add(_ name: String, _ body: GrammarExpr) -> Int {
        let r = declare(name)
        define(r, body)
        return r
    }
}
