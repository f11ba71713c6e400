/// Mistral calls: `[TOOL_CALLS]` then a JSON list of call objects (`[{"name": ..., "arguments":
/// {...}}, ...]`), or, from the v11 tokenizer on, `[TOOL_CALLS]NAME[ARGS]{...}`. Text before the
/// marker and after the calls is content.
struct MistralFormat: OutputFormat {
    private let marker = "[TOOL_CALLS]"
    private let argsMarker = "[ARGS]"

    func scan(_ text: Substring, final: Bool) -> Scan {
        var items: [OutputItem] = []
        var rest = text
        var settled = text.startIndex
        reading: while !rest.isEmpty {
            guard let open = rest.firstRange(ofMarker: marker) else {
                let released = rest.releasable(final: final, markers: [marker])
                items.appendContent(released)
                settled = released.endIndex
                break
            }
            items.appendContent(rest[..<open.lowerBound])
            settled = open.lowerBound
            switch readCalls(rest[open.upperBound...].droppingLeadingWhitespace, final: final) {
            case .read(let calls, let after):
                items += calls
                rest = after
                settled = after.startIndex
            case .incomplete where !final:
                let partials = partialCalls(rest[open.upperBound...].droppingLeadingWhitespace)
                return Scan(items, settled: (settled, self), partials: partials)
            default:
                // Not calls: everything from the marker on is content.
                return .content(items, rest: rest[open.lowerBound...])
            }
        }
        return Scan(items, settled: (settled, self))
    }

    private func readCalls(_ text: Substring, final: Bool) -> ReadStep<[OutputItem]> {
        if text.isEmpty { return .incomplete }
        if text.first == "[" || text.first == "{" { return readJSONCalls(text) }
        guard let bracket = text.firstIndex(of: "[") else {
            return text.allSatisfy(isNameCharacter) ? .incomplete : .invalid
        }
        let name = text[..<bracket]
        let afterName = text[bracket...]
        guard !name.isEmpty, name.allSatisfy(isNameCharacter) else { return .invalid }
        guard afterName.hasPrefix(argsMarker) else {
            return argsMarker.hasPrefix(afterName) ? .incomplete : .invalid
        }
        let arguments = afterName.dropFirst(argsMarker.count).droppingLeadingWhitespace
        if arguments.isEmpty { return .incomplete }
        guard arguments.first == "{" else { return .invalid }
        guard case .complete(let end) = bracketExtent(of: arguments, from: arguments.startIndex) else { return .incomplete }
        guard let value = JSONValue.parse(arguments[..<end]), case .object = value else { return .invalid }
        return .read([.call(name: String(name), arguments: value.serialized)], rest: arguments[end...])
    }

    /// The calls after a marker as far as they have come: a JSON list or object, or `NAME[ARGS]{…`.
    private func partialCalls(_ text: Substring) -> [PartialCall] {
        if text.first == "[" || text.first == "{" { return partialJSONCalls(text) }
        guard let bracket = text.firstIndex(of: "["), text[bracket...].hasPrefix(argsMarker) else { return [] }
        let name = text[..<bracket]
        let arguments = text[bracket...].dropFirst(argsMarker.count).droppingLeadingWhitespace
        guard !name.isEmpty, name.allSatisfy(isNameCharacter) else { return [] }
        var reader = JSONReader(Array(arguments.utf8))
        let prefix = arguments.first == "{" ? reader.partialObject().prefix : ""
        return [PartialCall(name: String(name), arguments: prefix)]
    }

    private func isNameCharacter(_ c: Character) -> Bool {
        c.isLetter || c.isNumber || c == "_" || c == "-" || c == "."
    }
}
