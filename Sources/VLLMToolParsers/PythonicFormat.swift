/// Python call syntax (Llama 3.2/4, pythonic): the output is a list `[f(a=1, b="x"), g()]` whose
/// keyword arguments are Python literals (strings, numbers, True/False/None, lists, tuples,
/// dicts). Output that does not begin with `[` is all content; text after the list is content.
struct PythonicFormat: OutputFormat {
    func scan(_ text: Substring, final: Bool) -> Scan {
        var body = text.droppingLeadingWhitespace
        if body.isEmpty { return final ? .content([], rest: text) : Scan([]) }
        guard body.first == "[" else { return .content([], rest: text) }
        body = body.dropFirst()
        var items: [OutputItem] = []
        var fallback = text.startIndex
        while true {
            var reader = PythonLiteralReader(text: body)
            switch reader.call() {
            case .read(let call, let rest):
                items.append(call)
                var after = PythonLiteralReader(text: rest)
                after.skipWhitespace()
                if after.consume(",") {
                    fallback = rest.startIndex
                    body = after.text
                } else if after.consume("]") {
                    return .content(items, rest: after.text)
                } else if after.text.isEmpty && !final {
                    return Scan(items)
                } else {
                    return .content(items, rest: rest)
                }
            case .incomplete where !final:
                var open = PythonLiteralReader(text: body)
                return Scan(items, partials: open.partialCall().map { [$0] } ?? [])
            default:
                return .content(items, rest: text[fallback...])
            }
        }
    }
}

/// Reads Python calls and literals from the front of some text, as JSON values.
struct PythonLiteralReader {
    private(set) var text: Substring
    private var depth = 0

    init(text: Substring) { self.text = text }

    mutating func skipWhitespace() { text = text.droppingLeadingWhitespace }

    mutating func consume(_ s: String) -> Bool {
        guard text.hasPrefix(s) else { return false }
        text = text.dropFirst(s.count)
        return true
    }

    /// `name(key=literal, ...)`, as a call item.
    mutating func call() -> ReadStep<OutputItem> {
        skipWhitespace()
        let name = text.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        guard let first = name.first, !first.isNumber else { return text.isEmpty ? .incomplete : .invalid }
        text = text.dropFirst(name.count)
        if text.isEmpty { return .incomplete }
        guard consume("(") else { return .invalid }
        var members: [(key: String, value: JSONValue)] = []
        while true {
            skipWhitespace()
            if consume(")") { return .read(.call(name: String(name), arguments: JSONValue.object(members).serialized), rest: text) }
            let key = text.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            text = text.dropFirst(key.count)
            skipWhitespace()
            if text.isEmpty { return .incomplete }
            guard !key.isEmpty, consume("=") else { return .invalid }
            switch literal() {
            case .read(let value, let rest):
                text = rest
                members.append((String(key), value))
            case .incomplete: return .incomplete
            case .invalid: return .invalid
            }
            skipWhitespace()
            if text.isEmpty { return .incomplete }
            if !consume(","), !text.hasPrefix(")") { return .invalid }
        }
    }

    /// The call at the front of the text as far as it has come: nil until its `(` is read, then
    /// the keyword arguments that are whole and a string argument as far as it has come.
    mutating func partialCall() -> PartialCall? {
        skipWhitespace()
        let name = text.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        guard let first = name.first, !first.isNumber else { return nil }
        text = text.dropFirst(name.count)
        guard consume("(") else { return nil }
        var prefix = ArgumentsPrefix()
        while true {
            skipWhitespace()
            let key = text.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            text = text.dropFirst(key.count)
            skipWhitespace()
            guard !key.isEmpty, consume("=") else { break }
            skipWhitespace()
            if let quote = text.first, quote == "\"" || quote == "'" {
                let (step, sofar) = string(quote: quote)
                if case .incomplete = step {
                    return PartialCall(name: String(name), arguments: prefix.withOpenString(key: String(key), value: sofar))
                }
            }
            guard case .read(let value, let rest) = literal() else { break }
            text = rest
            prefix.append(key: String(key), value: value)
            skipWhitespace()
            guard consume(",") else { break }
        }
        return PartialCall(name: String(name), arguments: prefix.text)
    }

    /// One literal: string, number, True/False/None, list, tuple or dict (string keys).
    mutating func literal() -> ReadStep<JSONValue> {
        skipWhitespace()
        guard let c = text.first, depth < 256 else { return text.isEmpty ? .incomplete : .invalid }
        let value: JSONValue?
        switch c {
        case "\"", "'": return string(quote: c).step
        case "[": return sequence(close: "]")
        case "(": return sequence(close: ")")
        case "{": return dict()
        default:
            let word = text.prefix { $0.isLetter || $0.isNumber || "+-._".contains($0) }
            if word.count == text.count { return .incomplete }  // the word may go on
            text = text.dropFirst(word.count)
            switch word {
            case "True": value = .bool(true)
            case "False": value = .bool(false)
            case "None": value = .null
            default: value = pythonNumber(String(word))
            }
        }
        return value.map { .read($0, rest: text) } ?? .invalid
    }

    private func pythonNumber(_ word: String) -> JSONValue? {
        let cleaned = word.replacingOccurrences(of: "_", with: "")
        if case .number? = JSONValue.parse(cleaned) { return .number(cleaned) }
        if let d = Double(cleaned), d.isFinite { return .number(String(d)) }  // e.g. "1." or ".5"
        return nil
    }

    private mutating func sequence(close: Character) -> ReadStep<JSONValue> {
        text = text.dropFirst()
        depth += 1
        defer { depth -= 1 }
        var items: [JSONValue] = []
        while true {
            skipWhitespace()
            if text.isEmpty { return .incomplete }
            if text.first == close {
                text = text.dropFirst()
                return .read(.array(items), rest: text)
            }
            switch literal() {
            case .read(let value, let rest):
                text = rest
                items.append(value)
            case .incomplete: return .incomplete
            case .invalid: return .invalid
            }
            skipWhitespace()
            if text.isEmpty { return .incomplete }
            if !consume(","), text.first != close { return .invalid }
        }
    }

    private mutating func dict() -> ReadStep<JSONValue> {
        text = text.dropFirst()
        depth += 1
        defer { depth -= 1 }
        var members: [(key: String, value: JSONValue)] = []
        while true {
            skipWhitespace()
            if text.isEmpty { return .incomplete }
            if consume("}") { return .read(.object(members), rest: text) }
            let key: String
            switch literal() {
            case .read(.string(let s), let rest):
                key = s
                text = rest
            case .incomplete: return .incomplete
            default: return .invalid
            }
            skipWhitespace()
            if text.isEmpty { return .incomplete }
            guard consume(":") else { return .invalid }
            switch literal() {
            case .read(let value, let rest):
                text = rest
                members.append((key, value))
            case .incomplete: return .incomplete
            case .invalid: return .invalid
            }
            skipWhitespace()
            if text.isEmpty { return .incomplete }
            if !consume(","), text.first != "}" { return .invalid }
        }
    }

    /// A quoted string with Python's common escapes; when it has not ended, also the text read
    /// so far (an escape not yet whole left out).
    private func string(quote: Character) -> (step: ReadStep<JSONValue>, sofar: String) {
        var result = ""
        let step = readString(quote: quote, into: &result)
        return (step, result)
    }

    private func readString(quote: Character, into result: inout String) -> ReadStep<JSONValue> {
        var i = text.index(after: text.startIndex)
        while i < text.endIndex {
            let c = text[i]
            if c == quote { return .read(.string(result), rest: text[text.index(after: i)...]) }
            if c == "\n" { return .invalid }
            if c != "\\" {
                result.append(c)
                i = text.index(after: i)
                continue
            }
            let next = text.index(after: i)
            guard next < text.endIndex else { return .incomplete }
            switch text[next] {
            case "n": result.append("\n")
            case "t": result.append("\t")
            case "r": result.append("\r")
            case "0": result.append("\0")
            case "\\", "'", "\"": result.append(text[next])
            case "u":
                let hex = text[text.index(after: next)...].prefix(4)
                guard hex.count == 4 else { return .incomplete }
                guard let v = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(v) else { return .invalid }
                result.unicodeScalars.append(scalar)
                i = text.index(next, offsetBy: 5)
                continue
            default: result.append("\\"); result.append(text[next])
            }
            i = text.index(after: next)
        }
        return .incomplete
    }
}
