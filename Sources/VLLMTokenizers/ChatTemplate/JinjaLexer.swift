import Foundation

/// One lexical token of a template.
struct JinjaToken: Equatable {
    enum Kind: Equatable {
        /// Literal template text, already trimmed by whitespace control.
        case data(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        /// An operator or punctuation: `+`, `//`, `(`, `|`, ...
        case op(String)
        case eof
    }

    var kind: Kind
    var line: Int
}

/// Splits a template into tokens exactly like jinja2's lexer configured as in transformers
/// (`trim_blocks=True`, `lstrip_blocks=True`).
///
/// Whitespace control happens here, as in jinja2: `{%-`/`-%}` strip all whitespace on that side,
/// `trim_blocks` drops the first newline after a block or comment tag, and `lstrip_blocks`
/// removes spaces and tabs between the start of a line and a block or comment tag (`{%+`
/// disables that, `+%}` disables trimming). The source's newlines are normalised to `\n` and a
/// single trailing newline is dropped (`keep_trailing_newline=False`).
struct JinjaLexer {
    private var src: [Unicode.Scalar]
    private var pos = 0
    private var line = 1
    /// jinja2's `line_starting`: the previous match ended with a newline (or nothing came yet).
    private var lineStarting = true
    private var tokens: [JinjaToken] = []

    init(_ source: String) {
        // Normalise \r\n and \r to \n, then drop one trailing newline, as jinja2's tokeniter does.
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var it = source.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = it.next()
        while let c = pending {
            pending = it.next()
            if c == "\r" {
                scalars.append("\n")
                if pending == "\n" { pending = it.next() }
            } else {
                scalars.append(c)
            }
        }
        if scalars.last == "\n" { scalars.removeLast() }
        src = scalars
    }

    static func tokenize(_ source: String) throws -> [JinjaToken] {
        var lexer = JinjaLexer(source)
        try lexer.run()
        return lexer.tokens
    }

    private enum TagKind { case variable, block, comment, raw }

    private func at(_ p: Int, _ s: String) -> Bool {
        var k = p
        for c in s.unicodeScalars {
            if k >= src.count || src[k] != c { return false }
            k += 1
        }
        return true
    }

    private func fail(_ message: String) -> JinjaError { JinjaError(.syntax, message, line: line) }

    private mutating func emit(_ kind: JinjaToken.Kind, line: Int? = nil) {
        tokens.append(JinjaToken(kind: kind, line: line ?? self.line))
    }

    /// Moves `pos` to `to`, counting newlines for line numbers.
    private mutating func advance(to: Int) {
        while pos < to {
            if src[pos] == "\n" { line += 1 }
            pos += 1
        }
    }

    /// Skips `\s*` (Python's Unicode whitespace) and records whether the match ended on a newline.
    private mutating func skipTrailingWhitespace() {
        var k = pos
        while k < src.count && JinjaPyString.isSpace(src[k]) { k += 1 }
        if k > pos { lineStarting = src[k - 1] == "\n" }
        advance(to: k)
    }

    /// `{%(-|+|)\s*raw\s*(-%}\s*|%})` at `p`: returns the end of the tag (before any `\s*`) and
    /// whether it strips.
    private func matchRawBegin(_ p: Int) -> (end: Int, strip: Bool)? {
        var k = p + 2
        if k < src.count && (src[k] == "-" || src[k] == "+") { k += 1 }
        while k < src.count && JinjaPyString.isSpace(src[k]) { k += 1 }
        guard at(k, "raw") else { return nil }
        k += 3
        while k < src.count && JinjaPyString.isSpace(src[k]) { k += 1 }
        if at(k, "-%}") { return (k + 3, true) }
        if at(k, "%}") { return (k + 2, false) }
        return nil
    }

    /// Applies `{%-` / lstrip_blocks to the text in front of a tag.
    private func controlled(_ text: ArraySlice<Unicode.Scalar>, sign: Unicode.Scalar?, kind: TagKind) -> ArraySlice<Unicode.Scalar> {
        if sign == "-" {
            var end = text.endIndex
            while end > text.startIndex && JinjaPyString.isSpace(text[end - 1]) { end -= 1 }
            return text[text.startIndex..<end]
        }
        if sign != "+" && kind != .variable {
            let lpos = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? text.startIndex
            if lpos > text.startIndex || lineStarting {
                // jinja2 3.1 checks `\s+` here, so any Unicode whitespace counts, not only spaces and tabs.
                if lpos < text.endIndex && text[lpos...].allSatisfy(JinjaPyString.isSpace) { return text[text.startIndex..<lpos] }
            }
        }
        return text
    }

    private mutating func run() throws {
        while pos < src.count {
            // The earliest `{{`, `{%` or `{#`, like jinja2's non-greedy `(.*?)(?:tags)`.
            var k = pos
            var found: (Int, TagKind)?
            while k + 1 < src.count {
                if src[k] == "{" {
                    let n = src[k + 1]
                    if n == "{" { found = (k, .variable); break }
                    if n == "%" { found = (k, matchRawBegin(k) != nil ? .raw : .block); break }
                    if n == "#" { found = (k, .comment); break }
                }
                k += 1
            }
            guard let (tagPos, kind) = found else {
                emit(.data(JinjaPyString.string(src[pos...])))
                advance(to: src.count)
                break
            }
            let signPos = tagPos + 2
            let sign: Unicode.Scalar? = signPos < src.count && (src[signPos] == "-" || src[signPos] == "+") ? src[signPos] : nil
            let text = controlled(src[pos..<tagPos], sign: sign, kind: kind)
            if !text.isEmpty { emit(.data(JinjaPyString.string(text))) }
            advance(to: tagPos)
            lineStarting = false
            switch kind {
            case .comment:
                advance(to: signPos + (sign == nil ? 0 : 1))
                try lexComment()
            case .raw:
                let (end, strip) = matchRawBegin(tagPos)!
                advance(to: end)
                if strip { skipTrailingWhitespace() }
                try lexRaw()
            case .variable:
                emit(.variableBegin)
                advance(to: signPos + (sign == nil ? 0 : 1))
                try lexInside(block: false)
            case .block:
                emit(.blockBegin)
                advance(to: signPos + (sign == nil ? 0 : 1))
                try lexInside(block: true)
            }
        }
        emit(.eof)
    }

    private mutating func lexComment() throws {
        var k = pos
        while k + 1 < src.count {
            if src[k] == "+" && at(k + 1, "#}") {
                advance(to: k + 3)
                return
            }
            if src[k] == "-" && at(k + 1, "#}") {
                advance(to: k + 3)
                skipTrailingWhitespace()
                return
            }
            if src[k] == "#" && src[k + 1] == "}" {
                advance(to: k + 2)
                if pos < src.count && src[pos] == "\n" { advance(to: pos + 1); lineStarting = true }
                return
            }
            k += 1
        }
        throw fail("Missing end of comment tag")
    }

    private mutating func lexRaw() throws {
        var k = pos
        while k + 1 < src.count {
            if src[k] == "{" && src[k + 1] == "%" {
                var m = k + 2
                let sign: Unicode.Scalar? = m < src.count && (src[m] == "-" || src[m] == "+") ? src[m] : nil
                if sign != nil { m += 1 }
                while m < src.count && JinjaPyString.isSpace(src[m]) { m += 1 }
                if at(m, "endraw") {
                    m += 6
                    while m < src.count && JinjaPyString.isSpace(src[m]) { m += 1 }
                    var end: Int?
                    var mode = 0
                    if at(m, "+%}") {
                        end = m + 3; mode = 1
                    } else if at(m, "-%}") {
                        end = m + 3; mode = 2
                    } else if at(m, "%}") {
                        end = m + 2; mode = 3
                    }
                    if let end {
                        let text = controlled(src[pos..<k], sign: sign, kind: .block)
                        if !text.isEmpty { emit(.data(JinjaPyString.string(text))) }
                        advance(to: end)
                        lineStarting = false
                        if mode == 2 { skipTrailingWhitespace() }
                        if mode == 3, pos < src.count, src[pos] == "\n" { advance(to: pos + 1); lineStarting = true }
                        return
                    }
                }
            }
            k += 1
        }
        throw fail("Missing end of raw directive")
    }

    private static let operators2: Set<String> = ["//", "**", "==", "!=", ">=", "<="]
    private static let operators1: Set<Unicode.Scalar> = [
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
    ]

    private static func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }
    private static func isNameStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || (c.value < 128 ? ((c.value | 0x20) >= 97 && (c.value | 0x20) <= 122) : c.properties.isAlphabetic)
    }
    private static func isNameContinue(_ c: Unicode.Scalar) -> Bool {
        isNameStart(c) || isDigit(c) || (c.value >= 128 && c.properties.numericType != nil)
    }

    /// Lexes the inside of `{{ }}` or `{% %}` up to its closing delimiter. Closing delimiters only
    /// count while brackets are balanced, so `{{ {'a': {'b': 1}} }}` works as in jinja2.
    private mutating func lexInside(block: Bool) throws {
        var brackets: [Unicode.Scalar] = []
        while true {
            guard pos < src.count else { throw fail("unexpected end of template") }
            if brackets.isEmpty {
                if block {
                    if at(pos, "+%}") { advance(to: pos + 3); emit(.blockEnd); lineStarting = false; return }
                    if at(pos, "-%}") {
                        emit(.blockEnd)
                        advance(to: pos + 3)
                        lineStarting = false
                        skipTrailingWhitespace()
                        return
                    }
                    if at(pos, "%}") {
                        emit(.blockEnd)
                        advance(to: pos + 2)
                        lineStarting = false
                        if pos < src.count && src[pos] == "\n" { advance(to: pos + 1); lineStarting = true }
                        return
                    }
                } else {
                    if at(pos, "-}}") {
                        emit(.variableEnd)
                        advance(to: pos + 3)
                        lineStarting = false
                        skipTrailingWhitespace()
                        return
                    }
                    if at(pos, "}}") { emit(.variableEnd); advance(to: pos + 2); lineStarting = false; return }
                }
            }
            let c = src[pos]
            if JinjaPyString.isSpace(c) {
                var k = pos
                while k < src.count && JinjaPyString.isSpace(src[k]) { k += 1 }
                advance(to: k)
                continue
            }
            if Self.isDigit(c) {
                try lexNumber()
                continue
            }
            if Self.isNameStart(c) {
                var k = pos + 1
                while k < src.count && Self.isNameContinue(src[k]) { k += 1 }
                emit(.name(JinjaPyString.string(src[pos..<k])))
                advance(to: k)
                continue
            }
            if c == "'" || c == "\"" {
                try lexString(quote: c)
                continue
            }
            if pos + 1 < src.count, Self.operators2.contains(String(String.UnicodeScalarView([c, src[pos + 1]]))) {
                emit(.op(JinjaPyString.string([c, src[pos + 1]])))
                advance(to: pos + 2)
                continue
            }
            if Self.operators1.contains(c) {
                switch c {
                case "(", "[", "{": brackets.append(c)
                case ")", "]", "}":
                    guard let open = brackets.popLast() else { throw fail("unexpected '\(c)'") }
                    let expected: Unicode.Scalar = open == "(" ? ")" : open == "[" ? "]" : "}"
                    if expected != c { throw fail("unexpected '\(c)', expected '\(expected)'") }
                default: break
                }
                emit(.op(String(c)))
                advance(to: pos + 1)
                continue
            }
            throw fail("unexpected char '\(c)' at \(pos)")
        }
    }

    /// Digits with optional `_` separators, as in jinja2's integer and float patterns.
    private func digitRun(_ p: Int, hex: Bool = false) -> Int {
        var k = p
        func ok(_ c: Unicode.Scalar) -> Bool {
            hex ? (Self.isDigit(c) || ("a"..."f").contains(c) || ("A"..."F").contains(c)) : Self.isDigit(c)
        }
        guard k < src.count, ok(src[k]) else { return p }
        k += 1
        while k < src.count {
            if ok(src[k]) { k += 1; continue }
            if src[k] == "_", k + 1 < src.count, ok(src[k + 1]) { k += 2; continue }
            break
        }
        return k
    }

    private mutating func lexNumber() throws {
        let start = pos
        // A float never starts right after a dot, so `foo.0.1` is two item lookups.
        let afterDot = start > 0 && src[start - 1] == "."
        let intEnd = digitRun(start)
        if !afterDot {
            var k = intEnd
            var isFloat = false
            if k < src.count, src[k] == ".", k + 1 < src.count, Self.isDigit(src[k + 1]) {
                k = digitRun(k + 1)
                isFloat = true
            }
            if k < src.count, src[k] == "e" || src[k] == "E" {
                var m = k + 1
                if m < src.count, src[m] == "+" || src[m] == "-" { m += 1 }
                let e = digitRun(m)
                if e > m { k = e; isFloat = true }
            }
            if isFloat {
                let text = JinjaPyString.string(src[start..<k]).replacingOccurrences(of: "_", with: "")
                emit(.float(Double(text) ?? 0))
                advance(to: k)
                return
            }
        }
        // Integers: 0b / 0o / 0x prefixes, decimal without leading zeros, or a run of zeros.
        if src[start] == "0", start + 1 < src.count {
            let p = src[start + 1]
            let radix: Int? = (p == "b" || p == "B") ? 2 : (p == "o" || p == "O") ? 8 : (p == "x" || p == "X") ? 16 : nil
            if let radix {
                var k = start + 2
                while k < src.count {
                    let c = src[k]
                    if c == "_" { k += 1; continue }
                    if Int(String(c), radix: radix) != nil { k += 1; continue }
                    break
                }
                if k > start + 2 {
                    let text = JinjaPyString.string(src[(start + 2)..<k]).replacingOccurrences(of: "_", with: "")
                    emit(.integer(Int(text, radix: radix) ?? 0))
                    advance(to: k)
                    return
                }
            }
        }
        var k: Int
        if src[start] == "0" {
            k = start + 1
            while k < src.count {
                if src[k] == "0" { k += 1 } else if src[k] == "_", k + 1 < src.count, src[k + 1] == "0" { k += 2 } else { break }
            }
        } else {
            k = intEnd
        }
        let text = JinjaPyString.string(src[start..<k]).replacingOccurrences(of: "_", with: "")
        guard let v = Int(text) else { throw fail("integer literal too large: \(text)") }
        emit(.integer(v))
        advance(to: k)
    }

    /// A quoted string, with escapes decoded like Python's `unicode-escape` codec (which jinja2 uses).
    private mutating func lexString(quote: Unicode.Scalar) throws {
        let startLine = line
        var k = pos + 1
        var out = String.UnicodeScalarView()
        while true {
            guard k < src.count else { throw fail("unexpected char '\(quote)' at \(pos)") }
            let c = src[k]
            if c == quote { k += 1; break }
            if c != "\\" { out.append(c); k += 1; continue }
            guard k + 1 < src.count else { throw fail("unexpected char '\(quote)' at \(pos)") }
            let e = src[k + 1]
            k += 2
            func hexEscape(_ n: Int) throws {
                guard k + n <= src.count, let v = UInt32(JinjaPyString.string(src[k..<(k + n)]), radix: 16),
                    src[k..<(k + n)].allSatisfy({ $0.properties.isASCIIHexDigit }), let s = Unicode.Scalar(v)
                else { throw fail("truncated \\\(e) escape in string literal") }
                out.append(s)
                k += n
            }
            switch e {
            case "\n": break
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "x": try hexEscape(2)
            case "u": try hexEscape(4)
            case "U": try hexEscape(8)
            case "0"..."7":
                var v = e.value - 48
                var n = 1
                while n < 3, k < src.count, ("0"..."7").contains(src[k]) {
                    v = v * 8 + src[k].value - 48
                    k += 1
                    n += 1
                }
                out.append(Unicode.Scalar(v)!)
            default:
                // Unknown escapes keep their backslash, as Python's codec does.
                out.append("\\")
                out.append(e)
            }
        }
        emit(.string(String(out)), line: startLine)
        advance(to: k)
    }
}
