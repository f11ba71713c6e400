/// A qwen3_coder block body:
/// `<function=NAME><parameter=P>value</parameter>…</function>`, whitespace between tags allowed.
/// Values are written as plain text; the tool's schema gives each its JSON type.
func qwen3CoderCall(_ body: Substring, tools: [ToolDefinition]) -> OutputItem? {
    guard let (name, tool, afterTag) = qwen3CoderFunction(body, tools: tools) else { return nil }
    var rest = afterTag
    var members: [(key: String, value: JSONValue)] = []
    while true {
        rest = rest.drop { $0.isWhitespace }
        if rest.hasPrefix("</function>") {
            guard rest.dropFirst(11).allSatisfy(\.isWhitespace) else { return nil }
            break
        }
        if rest.isEmpty { break }  // an unclosed function at the end of the output
        guard let (key, valueStart) = qwen3CoderParameter(rest), let close = rest[valueStart...].firstRange(ofMarker: "</parameter>") else {
            return nil
        }
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
    guard let (name, tool, afterTag) = qwen3CoderFunction(body, tools: tools) else { return nil }
    var rest = afterTag
    var prefix = ArgumentsPrefix()
    while true {
        rest = rest.drop { $0.isWhitespace }
        guard let (key, valueStart) = qwen3CoderParameter(rest) else { break }
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

/// The `<function=NAME>` tag that opens a block body (whitespace before it allowed): the name, the
/// declared tool of that name if any, and the text after the tag; nil while the tag is not whole,
/// or when it names nothing.
private func qwen3CoderFunction(_ body: Substring, tools: [ToolDefinition]) -> (
    name: Substring, tool: ToolDefinition?, rest: Substring
)? {
    let text = body.drop { $0.isWhitespace }
    guard text.hasPrefix("<function="), let nameEnd = text.firstIndex(of: ">") else { return nil }
    let name = text[text.index(text.startIndex, offsetBy: 10)..<nameEnd].trimmingWhitespace()
    guard !name.isEmpty else { return nil }
    return (name, tools.first { $0.name == name }, text[text.index(after: nameEnd)...])
}

/// The `<parameter=KEY>` tag at the start of `text`: the key and where its value starts; nil while
/// the tag is not whole, or when it names nothing.
private func qwen3CoderParameter(_ text: Substring) -> (key: String, valueStart: Substring.Index)? {
    guard text.hasPrefix("<parameter="), let keyEnd = text.firstIndex(of: ">") else { return nil }
    let key = String(text[text.index(text.startIndex, offsetBy: 11)..<keyEnd].trimmingWhitespace())
    return key.isEmpty ? nil : (key, text.index(after: keyEnd))
}
