/// Reads a grammar in EBNF/GBNF (as llama.cpp, xgrammar and vLLM take it): `name ::= body`
/// rules, `"literals"` with escapes, `[classes]`, `.`, `( )`, `|`, `* + ?` and `{m,n}`,
/// comments after `#`. The start rule is `root`.
struct EBNFParser {
    private let s: [Unicode.Scalar]
    private var i = 0
    private var grammar = Grammar()
    private var ruleIndex: [String: Int] = [:]
    private var defined: Set<String> = []

    /// Parses `text`; errors name the line and what is wrong.
    static func parse(_ text: String) throws -> Grammar {
        var p = EBNFParser(s: Array(text.unicodeScalars))
        _ = p.rule("root")
        p.skipSpace(newlines: true)
        while p.i < p.s.count {
            let name = try p.name()
            p.skipSpace(newlines: false)
            guard p.consume("::=") else { throw p.fail("expected ::= after \(name)") }
            if p.defined.contains(name) { throw p.fail("rule \(name) is defined twice") }
            p.defined.insert(name)
            let body = try p.alternation()
            p.grammar.define(p.rule(name), body)
            p.skipSpace(newlines: true)
        }
        for (name, _) in p.ruleIndex where !p.defined.contains(name) {
            throw StructuredOutputError("grammar: rule \(name) is used but not defined")
        }
        return p.grammar
    }

    private mutating func rule(_ name: String) -> Int {
        if let r = ruleIndex[name] { return r }
        let r = grammar.declare(name)
        ruleIndex[name] = r
        return r
    }

    private func fail(_ what: String) -> StructuredOutputError {
        let line = s[0..<min(i, s.count)].filter { $0 == "\n" }.count + 1
        return StructuredOutputError("grammar line \(line): \(what)")
    }

    private mutating func consume(_ text: String) -> Bool {
        let t = Array(text.unicodeScalars)
        guard i + t.count <= s.count, Array(s[i..<i + t.count]) == t else { return false }
        i += t.count
        return true
    }

    /// Skips blanks and comments; a newline ends a rule unless the next line continues it
    /// (starts with `|` or is indented), so inside a body newlines count as space only then.
    private mutating func skipSpace(newlines: Bool) {
        while i < s.count {
            let c = s[i]
            if c == "#" {
                while i < s.count && s[i] != "\n" { i += 1 }
            } else if c == " " || c == "\t" || c == "\r" {
                i += 1
            } else if c == "\n" {
                if newlines || continuesRule(after: i) { i += 1 } else { return }
            } else {
                return
            }
        }
    }

    private func continuesRule(after k: Int) -> Bool {
        var j = k + 1
        while j < s.count && (s[j] == " " || s[j] == "\t" || s[j] == "\r" || s[j] == "\n") { j += 1 }
        guard j < s.count else { return false }
        // The next non-blank text starts a new rule when it is `name ::=`.
        var e = j
        while e < s.count
            && (s[e].properties.isAlphabetic || s[e].properties.numericType != nil || s[e] == "_" || s[e] == "-" || s[e] == ".")
        { e += 1 }
        if e == j { return true }
        while e < s.count && (s[e] == " " || s[e] == "\t") { e += 1 }
        return !(e + 2 < s.count && s[e] == ":" && s[e + 1] == ":" && s[e + 2] == "=")
    }

    private mutating func name() throws -> String {
        let start = i
        while i < s.count
            && (s[i].properties.isAlphabetic || s[i].properties.numericType != nil || s[i] == "_" || s[i] == "-" || s[i] == ".")
        { i += 1 }
        guard i > start else { throw fail("expected a rule name") }
        return String(String.UnicodeScalarView(s[start..<i]))
    }

    private mutating func alternation() throws -> GrammarExpr {
        var alts = [try sequence()]
        while i < s.count && s[i] == "|" {
            i += 1
            alts.append(try sequence())
        }
        return alts.count == 1 ? alts[0] : .choice(alts)
    }

    private mutating func sequence() throws -> GrammarExpr {
        var parts: [GrammarExpr] = []
        while true {
            skipSpace(newlines: false)
            guard i < s.count, s[i] != "|", s[i] != ")", s[i] != "\n" else { break }
            parts.append(try postfix(try primary()))
        }
        return parts.count == 1 ? parts[0] : .sequence(parts)
    }

    private mutating func primary() throws -> GrammarExpr {
        let c = s[i]
        switch c {
        case "\"":
            i += 1
            var bytes: [UInt8] = []
            while i < s.count && s[i] != "\"" {
                var v = s[i].value
                i += 1
                if v == 0x5C { v = try escape() }
                bytes += Array(String(Unicode.Scalar(v) ?? "?").utf8)
            }
            guard i < s.count else { throw fail("unterminated string") }
            i += 1
            return .literal(bytes)
        case "[":
            i += 1
            var negated = false
            if i < s.count && s[i] == "^" { negated = true; i += 1 }
            var ranges: UTF8Ranges.ScalarRanges = []
            while i < s.count && s[i] != "]" {
                let lo = try classChar()
                if i + 1 < s.count && s[i] == "-" && s[i + 1] != "]" {
                    i += 1
                    let hi = try classChar()
                    guard hi >= lo else { throw fail("bad class range") }
                    ranges.append(lo...hi)
                } else {
                    ranges.append(lo...lo)
                }
            }
            guard i < s.count else { throw fail("unterminated character class") }
            i += 1
            return UTF8Ranges.expr(negated ? UTF8Ranges.complement(ranges) : ranges)
        case "(":
            i += 1
            skipSpace(newlines: true)
            let e = try alternation()
            skipSpace(newlines: true)
            guard i < s.count && s[i] == ")" else { throw fail("missing )") }
            i += 1
            return e
        case ".":
            i += 1
            return UTF8Ranges.expr(UTF8Ranges.complement([]))
        default:
            let n = try name()
            return .rule(rule(n))
        }
    }

    private mutating func classChar() throws -> UInt32 {
        let v = s[i].value
        i += 1
        return v == 0x5C ? try escape() : v
    }

    private mutating func escape() throws -> UInt32 {
        guard i < s.count else { throw fail("trailing backslash") }
        let c = s[i]
        i += 1
        switch c {
        case "n": return 0x0A
        case "r": return 0x0D
        case "t": return 0x09
        case "0": return 0
        case "x", "u", "U":
            let n = c == "x" ? 2 : c == "u" ? 4 : 8
            guard i + n <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<i + n])), radix: 16) else {
                throw fail("bad \\\(c) escape")
            }
            i += n
            return v
        default: return c.value
        }
    }

    private mutating func postfix(_ atom: GrammarExpr) throws -> GrammarExpr {
        var e = atom
        while i < s.count {
            switch s[i] {
            case "*": i += 1; e = .star(e)
            case "+": i += 1; e = .repeated(e, min: 1, max: nil)
            case "?": i += 1; e = .optional(e)
            case "{":
                i += 1
                func number() -> Int? {
                    skipSpace(newlines: false)
                    let start = i
                    while i < s.count, s[i].value >= 0x30 && s[i].value <= 0x39 { i += 1 }
                    return i > start ? Int(String(String.UnicodeScalarView(s[start..<i]))) : nil
                }
                guard let lo = number() else { throw fail("bad repetition") }
                var hi: Int? = lo
                skipSpace(newlines: false)
                if i < s.count && s[i] == "," {
                    i += 1
                    hi = number()
                }
                skipSpace(newlines: false)
                guard i < s.count && s[i] == "}" else { throw fail("bad repetition") }
                i += 1
                e = .repeated(e, min: lo, max: hi)
            default: return e
            }
        }
        return e
    }
}
