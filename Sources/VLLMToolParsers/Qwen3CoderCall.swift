/// A qwen3_coder block body:
/// `<function=NAME><parameter=P>value</parameter>…</function>`, whitespace between tags allowed.
/// Values are written as plain text; the tool's schema gives each its JSON type.
func qwen3CoderCall(_ body: Substring, tools: [ToolDefinition]) -> OutputItem? {
    var rest = body.drop { $0.isWhitespace }
    guard rest.hasPrefix("<function="), let nameEnd = rest.firstIndex(of: ">") else { return nil }
    let name = rest[rest.index(rest.startIndex, offsetBy: 10)..<nameEnd].trimmingWhitespace()
    guard !name.isEmpty else { return nil }
    let tool = tools.first { $0.name == name }
    rest = rest[rest.index(after: nameEnd)...]
    var members: [(key: String, value: JSONValue)] = []
    while true {
        rest = rest.drop { $0.isWhitespace }
        if rest.hasPrefix("</function>") {
            guard rest.dropFirst(11).allSatisfy(\.isWhitespace) else { return nil }
            break
        }
        if rest.isEmpty { break }  // an unclosed function at the end of the output
        guard rest.hasPrefix("<parameter="), let keyEnd = rest.firstIndex(of: ">") else { return nil }
        let key = String(rest[rest.index(rest.startIndex, offsetBy: 11)..<keyEnd].trimmingWhitespace())
        let valueStart = rest.index(after: keyEnd)
        guard !key.isEmpty, let close = rest[valueStart...].firstRange(ofMarker: "</parameter>") else { return nil }
        let raw = rest[valueStart..<close.lowerBound].droppingOneNewline()
        members.append((key, typedValue(raw, type: tool?.parameterType(key))))
        rest = rest[close.upperBound...]
    }
    return .call(name: String(name), arguments: JSONValue.object(members).serialized)
}

/// The body of an open qwen3_coder block as far as it has come: nil until the function's name is
/// whole, then the parameters that have closed, and a string parameter's text as it comes (a
/// newline at its end is held back: it may be the one dropped before `</parameter>`). Other
/// types are sent when their parameter closes.
func partialQwen3CoderCall(_ body: Substring, tools: [ToolDefinition]) -> PartialCall? {
    var rest = body.drop { $0.isWhitespace }
    guard rest.hasPrefix("<function="), let nameEnd = rest.firstIndex(of: ">") else { return nil }
    let name = rest[rest.index(rest.startIndex, offsetBy: 10)..<nameEnd].trimmingWhitespace()
    guard !name.isEmpty else { return nil }
    let tool = tools.first { $0.name == name }
    rest = rest[rest.index(after: nameEnd)...]
    var prefix = ArgumentsPrefix()
    while true {
        rest = rest.drop { $0.isWhitespace }
        guard rest.hasPrefix("<parameter="), let keyEnd = rest.firstIndex(of: ">") else { break }
        let key = String(rest[rest.index(rest.startIndex, offsetBy: 11)..<keyEnd].trimmingWhitespace())
        let valueStart = rest.index(after: keyEnd)
        guard !key.isEmpty else { break }
        let type = tool?.parameterType(key)
        guard let close = rest[valueStart...].firstRange(ofMarker: "</parameter>") else {
            guard type == nil || type == "string" else { break }
            var value = rest[valueStart...].releasable(final: false, markers: ["</parameter>"])
            if value.last?.isNewline == true { value = value.dropLast() }
            let text = String(value.droppingOneNewline())
            return PartialCall(name: String(name), arguments: prefix.withOpenString(key: key, value: text))
        }
        prefix.append(key: key, value: typedValue(rest[valueStart..<close.lowerBound].droppingOneNewline(), type: type))
        rest = rest[close.upperBound...]
    }
    return PartialCall(name: String(name), arguments: prefix.text)
}

/// A parameter's text as the JSON type its schema names; text that does not fit stays a string.
private func typedValue(_ raw: Substring, type: String?) -> JSONValue {
    let text = raw.trimmingWhitespace()
    switch type {
    case "string"?, nil:
        return .string(String(raw))
    case _ where text == "null":
        return .null
    case "integer"?:
        return Int(text) != nil ? .number(String(text)) : .string(String(raw))
    case "number"?:
        if case .number? = JSONValue.parse(text) { return JSONValue.parse(text)! }
        return .string(String(raw))
    case "boolean"?:
        switch text.lowercased() {
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: return .string(String(raw))
        }
    case "null"?:
        return text == "null" || text == "None" ? .null : .string(String(raw))
    default:  // object, array, or a type this reader does not know: JSON when it parses
        return JSONValue.parse(text) ?? .string(String(raw))
    }
}

extension Substring {
    /// The text without whitespace at either end.
    func trimmingWhitespace() -> Substring {
        var s = self
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return s
    }

    /// The text without one newline at each end: the model writes the value on its own line.
    func droppingOneNewline() -> Substring {
        var s = self
        if s.hasPrefix("\n") { s = s.dropFirst() }
        if s.hasSuffix("\n") { s = s.dropLast() }
        return s
    }
}
