/// Translates a regular expression (the JSON Schema / ECMAScript subset: alternation, groups,
/// quantifiers, classes, `.`, escapes) into a grammar expression over UTF-8 bytes that matches
/// whole strings. Anchors are accepted only at the ends; backreferences and lookaround are errors.
struct RegexParser {
    private let scalars: [Unicode.Scalar]
    private var i = 0
    private let source: String

    /// Parses `pattern`; errors name the position and the construct.
    static func parse(_ pattern: String) throws -> GrammarExpr {
        var p = RegexParser(pattern)
        if p.peek == "^" { p.i += 1 }
        let e = try p.alternation()
        if p.i < p.scalars.count { throw p.fail("unexpected '\(p.scalars[p.i])'") }
        return e
    }

    private init(_ pattern: String) {
        scalars = Array(pattern.unicodeScalars)
        source = pattern
    }

    private var peek: Unicode.Scalar? { i < scalars.count ? scalars[i] : nil }

    private func fail(_ what: String) -> StructuredOutputError {
        StructuredOutputError("regular expression \(source): \(what) at position \(i)")
    }

    private mutating func alternation() throws -> GrammarExpr {
        var alts = [try concatenation()]
        while peek == "|" {
            i += 1
            alts.append(try concatenation())
        }
        return alts.count == 1 ? alts[0] : .choice(alts)
    }

    private mutating func concatenation() throws -> GrammarExpr {
        var parts: [GrammarExpr] = []
        while let c = peek, c != "|", c != ")" {
            if c == "$" && i == scalars.count - 1 { i += 1; break }
            var atom = try self.atom()
            atom = try quantified(atom)
            parts.append(atom)
        }
        return parts.count == 1 ? parts[0] : .sequence(parts)
    }

    private mutating func quantified(_ atom: GrammarExpr) throws -> GrammarExpr {
        var e = atom
        while let c = peek {
            var lo = 0, hi: Int? = nil
            switch c {
            case "*": i += 1
            case "+": i += 1; lo = 1
            case "?": i += 1; hi = 1
            case "{":
                guard let (a, b) = try bounds() else { return e }
                lo = a; hi = b
            default: return e
            }
            if peek == "?" || peek == "+" { i += 1 }  // lazy and possessive forms match the same strings
            e = .repeated(e, min: lo, max: hi)
        }
        return e
    }

    /// `{n}`, `{n,}`, `{n,m}`; nil (and no input used) when the brace is a literal.
    private mutating func bounds() throws -> (Int, Int?)? {
        let save = i
        i += 1
        func number() -> Int? {
            var n: Int? = nil
            while let c = peek, let d = Int(String(c)), c.isASCII { n = (n ?? 0) * 10 + d; i += 1 }
            return n
        }
        guard let lo = number() else { i = save; return nil }
        var hi: Int? = lo
        if peek == "," {
            i += 1
            hi = number()
        }
        guard peek == "}" else { i = save; return nil }
        i += 1
        if let hi, hi < lo { throw fail("bad repetition {\(lo),\(hi)}") }
        return (lo, hi)
    }

    private mutating func atom() throws -> GrammarExpr {
        let c = scalars[i]
        i += 1
        switch c {
        case "(":
            if peek == "?" {
                i += 1
                guard peek == ":" else { throw fail("lookaround and named groups are not supported") }
                i += 1
            }
            let e = try alternation()
            guard peek == ")" else { throw fail("missing ')'") }
            i += 1
            return e
        case "[": return UTF8Ranges.expr(try classBody())
        case ".": return UTF8Ranges.expr(UTF8Ranges.complement([0x0A...0x0A, 0x0D...0x0D]))
        case "\\": return UTF8Ranges.expr(try escape(inClass: false))
        case "^", "$": throw fail("anchors are only supported at the ends")
        case "*", "+", "?": throw fail("nothing to repeat")
        default: return .literal(String(c))
        }
    }

    private mutating func classBody() throws -> UTF8Ranges.ScalarRanges {
        var negated = false
        if peek == "^" { negated = true; i += 1 }
        var ranges: UTF8Ranges.ScalarRanges = []
        var first = true
        while let c = peek, c != "]" || first {
            first = false
            let lo = try classAtom()
            if peek == "-", i + 1 < scalars.count, scalars[i + 1] != "]", lo.count == 1, lo[0].lowerBound == lo[0].upperBound {
                i += 1
                let hi = try classAtom()
                guard hi.count == 1, hi[0].lowerBound == hi[0].upperBound, hi[0].lowerBound >= lo[0].lowerBound else {
                    throw fail("bad class range")
                }
                ranges.append(lo[0].lowerBound...hi[0].lowerBound)
            } else {
                ranges += lo
            }
        }
        guard peek == "]" else { throw fail("missing ']'") }
        i += 1
        return negated ? UTF8Ranges.complement(ranges) : ranges
    }

    private mutating func classAtom() throws -> UTF8Ranges.ScalarRanges {
        let c = scalars[i]
        i += 1
        if c == "\\" { return try escape(inClass: true) }
        return [c.value...c.value]
    }

    private mutating func escape(inClass: Bool) throws -> UTF8Ranges.ScalarRanges {
        guard let c = peek else { throw fail("trailing backslash") }
        i += 1
        let digit: UTF8Ranges.ScalarRanges = [0x30...0x39]
        let word: UTF8Ranges.ScalarRanges = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
        let space: UTF8Ranges.ScalarRanges = [
            0x09...0x0D, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029, 0x202F...0x202F, 0x205F...0x205F,
            0x3000...0x3000, 0xFEFF...0xFEFF,
        ]
        switch c {
        case "d": return digit
        case "D": return UTF8Ranges.complement(digit)
        case "w": return word
        case "W": return UTF8Ranges.complement(word)
        case "s": return space
        case "S": return UTF8Ranges.complement(space)
        case "n": return [0x0A...0x0A]
        case "r": return [0x0D...0x0D]
        case "t": return [0x09...0x09]
        case "f": return [0x0C...0x0C]
        case "v": return [0x0B...0x0B]
        case "0": return [0...0]
        case "b" where inClass: return [0x08...0x08]
        case "x": let v = try hex(2); return [v...v]
        case "u":
            if peek == "{" {
                i += 1
                var v: UInt32 = 0
                while let h = peek, h != "}" {
                    guard let d = UInt32(String(h), radix: 16) else { throw fail("bad \\u{}") }; v = v * 16 + d; i += 1
                }
                i += 1
                return [v...v]
            }
            let v = try hex(4); return [v...v]
        default:
            if c.properties.isAlphabetic || ("1"..."9").contains(c) { throw fail("unsupported escape \\\(c)") }
            return [c.value...c.value]
        }
    }

    private mutating func hex(_ n: Int) throws -> UInt32 {
        guard i + n <= scalars.count, let v = UInt32(String(String.UnicodeScalarView(scalars[i..<i + n])), radix: 16) else {
            throw fail("bad hex escape")
        }
        i += n
        return v
    }
}
